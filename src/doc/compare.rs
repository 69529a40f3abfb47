//! The comparison document (`compare --json FILE`), described by
//! `docs/schema/compare.schema.json`: the shared settings and each
//! strategy's own, the score's formula, one [`StrategyResult`] per strategy
//! (its runs and their means, its score, its change against the first)
//! and the [`Best`] strategy.
//!
//! `inferload compare` rewrites it after every measurement, so an
//! interrupted comparison keeps what it measured.

use serde::{Deserialize, Serialize};

use crate::stats::Summary;

use super::settings::{RunSettings, Schedule, StopSettings, WorkloadSettings};
use super::Tool;

/// The `schema` value of the comparison document.
pub const SCHEMA: &str = "inferload/compare";
/// Bumped on any incompatible change of the document.
pub const SCHEMA_VERSION: u32 = 1;

fn schema() -> String {
    SCHEMA.into()
}

fn version() -> u32 {
    SCHEMA_VERSION
}

fn kind() -> String {
    "compare".into()
}

/// A whole comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareDocument {
    #[serde(default = "schema")]
    pub schema: String,
    #[serde(default = "version")]
    pub schema_version: u32,
    /// `"compare"`, as documents told themselves apart before `schema`.
    #[serde(default = "kind")]
    pub kind: String,
    #[serde(default)]
    pub tool: Tool,
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub interrupted: bool,
    #[serde(default, deserialize_with = "super::lenient")]
    pub settings: Option<CompareSettings>,
    #[serde(default)]
    pub score: Score,
    pub strategies: Vec<StrategyResult>,
    #[serde(default)]
    pub best: Option<Best>,
}

/// What the comparison was asked to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareSettings {
    pub repeat: u32,
    pub interleave: bool,
    /// The first strategy's load and workload (the shared ones unless a
    /// strategy overrides them).
    pub schedule: Schedule,
    pub stop: StopSettings,
    pub warmup: u64,
    pub workload: WorkloadSettings,
    pub strategies: Vec<StrategySettings>,
}

/// One strategy's name and full settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrategySettings {
    pub name: String,
    /// Everything this strategy's runs were asked to do.
    pub target: RunSettings,
}

/// How the efficiency score was computed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Score {
    /// The formula in words.
    pub formula: String,
    /// True when GPU utilisation took part (every strategy had it).
    pub gpu: bool,
    pub weights: Weights,
}

/// The weights of the score's terms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Weights {
    pub throughput: f64,
    pub response_time: f64,
    pub gpu: f64,
}

/// One measurement of one strategy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    pub repeat: u32,
    pub summary: Summary,
    pub gpu_util_pct: Option<f64>,
    /// The server's prefix-cache hit rate over the run, percent of the
    /// prompt tokens it looked up (when it exports vLLM's counters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_cache_hit_pct: Option<f64>,
}

/// A strategy's figures: the mean over its runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StrategyResult {
    pub name: String,
    pub url: String,
    pub api: String,
    pub endpoint: String,
    pub model: String,
    pub runs: Vec<RunResult>,
    pub requests: u64,
    pub success_rate: f64,
    pub request_throughput: f64,
    /// Images per second (image APIs), else `None`.
    pub images_per_s: Option<f64>,
    pub output_throughput: f64,
    /// Mean, p95 and p99 of the end-to-end latency (ms; until the result).
    pub latency_mean_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    /// `http-async`: mean latency of the submit alone (ms), what a client
    /// waits before it can move on.
    pub submit_mean_ms: Option<f64>,
    pub gpu_util_pct: Option<f64>,
    /// Mean over the runs of the server's prefix-cache hit rate (percent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_cache_hit_pct: Option<f64>,
    pub score: f64,
    /// Change against the first strategy, in percent.
    pub throughput_change_pct: Option<f64>,
    pub latency_change_pct: Option<f64>,
}

impl StrategyResult {
    /// The throughput compared: images/s when measured, else req/s.
    pub fn work_throughput(&self) -> f64 {
        self.images_per_s.unwrap_or(self.request_throughput)
    }

    /// The response time compared: the mean end-to-end latency.
    pub fn response_ms(&self) -> Option<f64> {
        self.latency_mean_ms
    }
}

/// The best strategy and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Best {
    pub name: String,
    pub reason: String,
}

impl CompareDocument {
    /// A document of this version with nothing measured yet.
    pub fn new(settings: Option<CompareSettings>) -> Self {
        Self {
            schema: schema(),
            schema_version: SCHEMA_VERSION,
            kind: kind(),
            tool: Tool::default(),
            started_at: None,
            interrupted: false,
            settings,
            score: Score::default(),
            strategies: Vec::new(),
            best: None,
        }
    }

    /// "Comparison: a vs b".
    pub fn title(&self) -> String {
        let names: Vec<&str> = self.strategies.iter().map(|s| s.name.as_str()).collect();
        format!("Comparison: {}", names.join(" vs "))
    }

    /// True when the scores used GPU utilisation.
    pub fn with_gpu(&self) -> bool {
        self.score.gpu
    }
}
