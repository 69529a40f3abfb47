//! API adapters: one per wire protocol. An adapter builds the request body
//! for a [`WorkItem`] and interprets what the server sends back — one
//! streamed event at a time, or a whole body — without knowing about time.
//! Timing, transport and error classes belong to [`crate::engine`], so every
//! adapter is measured the same way.

use serde_json::Value;
use thiserror::Error;

use crate::cli::ApiKind;
use crate::workload::{WorkItem, WorkloadSpec};

pub mod openai;
pub mod sse;

/// Token counts the server reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
}

/// What one streamed event carried.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct StreamEvent {
    /// The event carried a non-empty `choices` array (it moves `finished_at`).
    pub has_choices: bool,
    /// Generated text in this event; empty for role-only or empty deltas.
    pub content: String,
    /// The event carried a `finish_reason`.
    pub finished: bool,
    pub usage: Option<Usage>,
    /// The server reported an error inside the stream.
    pub error: Option<String>,
}

/// What a complete (non-streamed) reply carried.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FullReply {
    pub content: String,
    pub usage: Option<Usage>,
}

/// The server sent something the adapter cannot read.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{0}")]
pub struct PayloadError(pub String);

/// One wire protocol.
pub trait ApiAdapter: Send + Sync {
    /// The request body for one work item.
    fn request_body(&self, item: &WorkItem, model: &str, spec: &WorkloadSpec) -> Value;
    /// Interprets the payload of one `data:` event (never `[DONE]`).
    fn parse_event(&self, data: &[u8]) -> Result<StreamEvent, PayloadError>;
    /// Interprets a complete non-streamed body.
    fn parse_body(&self, body: &[u8]) -> Result<FullReply, PayloadError>;
}

/// The adapter for an API kind.
pub fn adapter(kind: ApiKind) -> Box<dyn ApiAdapter> {
    match kind {
        ApiKind::OpenaiChat => Box::new(openai::OpenAi::chat()),
        ApiKind::OpenaiCompletions => Box::new(openai::OpenAi::completions()),
    }
}

/// The human-readable message of an error reply, whatever its shape:
/// OpenAI's `{"error": {"message"}}`, `{"error": "..."}`, `{"message"}`,
/// `{"detail"}` (FastAPI), or the raw text cut short.
pub fn error_message(body: &[u8]) -> String {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        let msg = v
            .pointer("/error/message")
            .or_else(|| v.get("error"))
            .or_else(|| v.get("message"))
            .or_else(|| v.get("detail"));
        if let Some(m) = msg {
            return match m {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
        }
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".into();
    }
    cut(text, 300)
}

/// Cuts a text to at most `max` characters, marking the cut.
pub fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_messages_of_every_shape() {
        assert_eq!(
            error_message(br#"{"error":{"message":"no such model"}}"#),
            "no such model"
        );
        assert_eq!(error_message(br#"{"error":"overloaded"}"#), "overloaded");
        assert_eq!(error_message(br#"{"detail":"Not Found"}"#), "Not Found");
        assert_eq!(error_message(b"  Bad Gateway \n"), "Bad Gateway");
        assert_eq!(error_message(b""), "(empty body)");
    }

    #[test]
    fn cut_marks_long_text() {
        assert_eq!(cut("abcdef", 3), "abc…");
        assert_eq!(cut("héé", 3), "héé");
    }
}
