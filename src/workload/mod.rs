//! What is sent: prompts, their lengths and per-request parameters.
//! (Interface stub; the implementation replaces the bodies.)

use std::path::PathBuf;

use serde::Serialize;
use thiserror::Error;

pub mod tokens;
pub mod words;

/// Where the prompts come from.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DatasetSpec {
    Random {
        input_len: u64,
        output_len: u64,
        range_ratio: f64,
    },
    Prompt(String),
    Jsonl(PathBuf),
    ShareGpt(PathBuf),
}

#[derive(Debug, Clone, Serialize)]
pub struct WorkloadSpec {
    pub dataset: DatasetSpec,
    /// `--output-len`/`--max-tokens`: overrides every item's `max_tokens`.
    pub max_tokens: Option<u64>,
    pub stream: bool,
    pub ignore_eos: bool,
    pub extra_body: Option<serde_json::Map<String, serde_json::Value>>,
    pub seed: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prompt {
    Text(String),
    Chat(Vec<ChatMessage>),
}

/// One request's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkItem {
    pub index: u64,
    pub prompt: Prompt,
    /// The client's estimate of the prompt's tokens ([`tokens::count_tokens`]).
    pub input_tokens: u64,
    pub max_tokens: Option<u64>,
}

#[derive(Debug, Error)]
pub enum WorkloadError {
    #[error("{0}")]
    Other(String),
}

#[derive(Debug)]
pub struct Workload {
    _spec: WorkloadSpec,
}

impl Workload {
    pub fn load(spec: &WorkloadSpec) -> Result<Self, WorkloadError> {
        Ok(Self { _spec: spec.clone() })
    }

    pub fn item(&self, index: u64) -> WorkItem {
        WorkItem {
            index,
            prompt: Prompt::Text("hello".into()),
            input_tokens: 1,
            max_tokens: self._spec.max_tokens,
        }
    }

    pub fn describe(&self) -> String {
        "stub".into()
    }
}
