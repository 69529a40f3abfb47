//! API adapters: one per wire protocol. An adapter builds the request body
//! for a [`WorkItem`] and interprets what the server sends back — one
//! streamed event at a time, or a whole body — without knowing about time.
//! Timing, transport and error classes belong to [`crate::engine`], so every
//! adapter is measured the same way.
//!
//! Adapters: OpenAI chat and completions (`openai.rs`), TGI's native API
//! (`tgi.rs`), and plain JSON HTTP APIs — templated bodies, JSON-pointer
//! checks, image counting, and submit-then-poll jobs (`http.rs`). An
//! adapter with a [`JobApi`] is driven through the engine's polling loop
//! (`engine::poll`): the adapter reads ids and statuses, the engine times
//! and sends.

use serde_json::Value;
use thiserror::Error;

use std::time::Duration;

use crate::record::OutputKinds;
use crate::workload::{WorkItem, WorkloadSpec};

pub mod http;
mod json_scan;
pub mod openai;
#[cfg(test)]
mod proptests;
pub mod sse;
pub mod tgi;

/// Wire protocol of the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApiKind {
    OpenaiChat,
    OpenaiCompletions,
    Tgi,
    Http,
    OpenaiImages,
    HttpAsync,
}

impl crate::units::Choice for ApiKind {
    const ALL: &'static [Self] = &[
        Self::OpenaiChat,
        Self::OpenaiCompletions,
        Self::Tgi,
        Self::Http,
        Self::OpenaiImages,
        Self::HttpAsync,
    ];
    fn name(self) -> &'static str {
        match self {
            Self::OpenaiChat => "openai-chat",
            Self::OpenaiCompletions => "openai-completions",
            Self::Tgi => "tgi",
            Self::Http => "http",
            Self::OpenaiImages => "openai-images",
            Self::HttpAsync => "http-async",
        }
    }
    fn help(self) -> &'static str {
        match self {
            Self::OpenaiChat => "OpenAI chat completions (/v1/chat/completions)",
            Self::OpenaiCompletions => "OpenAI text completions (/v1/completions)",
            Self::Tgi => "Text Generation Inference's native API (/generate_stream, or /generate with --no-stream)",
            Self::Http => "any JSON HTTP API: the --url is the endpoint, the body a template (--body-template)",
            Self::OpenaiImages => "OpenAI image generation (/v1/images/generations)",
            Self::HttpAsync => "submit a job (the --url), poll --status-url until done, fetch the result",
        }
    }
}

impl ApiKind {
    /// The name users type (`openai-chat`).
    pub fn name(self) -> &'static str {
        crate::units::Choice::name(self)
    }

    /// The request path of the API when none is given; empty for the
    /// templated APIs, whose `--url` is the endpoint.
    pub fn default_endpoint(self) -> &'static str {
        match self {
            Self::OpenaiChat => "/v1/chat/completions",
            Self::OpenaiCompletions => "/v1/completions",
            Self::Tgi => "/generate_stream",
            Self::OpenaiImages => "/v1/images/generations",
            Self::Http | Self::HttpAsync => "",
        }
    }
}

impl std::fmt::Display for ApiKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl serde::Serialize for ApiKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.name())
    }
}

impl<'de> serde::Deserialize<'de> for ApiKind {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::units::de_choice(d)?.ok_or_else(|| serde::de::Error::custom("an API name"))
    }
}

/// Token counts the server reported.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub prompt_tokens: Option<u64>,
    pub completion_tokens: Option<u64>,
}

/// A value where a token count belongs that is not one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotACount;

/// A token count as a server wrote it: `Ok(None)` when absent or null,
/// `Err` when it is not a count — negative, fractional, a string — which a
/// reply's usage must not pass off as a figure. An integral float (`7.0`)
/// is a count.
pub fn token_count(v: Option<&Value>) -> Result<Option<u64>, NotACount> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => match (n.as_u64(), n.as_f64()) {
            (Some(u), _) => Ok(Some(u)),
            // Below 2^53 every integral float is exact.
            (None, Some(f)) if f >= 0.0 && f.fract() == 0.0 && f < 9_007_199_254_740_992.0 => Ok(Some(f as u64)),
            _ => Err(NotACount),
        },
        Some(_) => Err(NotACount),
    }
}

/// An OpenAI-style `usage` object (`prompt_tokens`, `completion_tokens`):
/// `(None, false)` when absent or null; `(None, true)` when present but
/// not an object of counts — ignored as a whole, and counted by the caller.
pub fn read_usage(v: Option<&Value>) -> (Option<Usage>, bool) {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return (None, false);
    };
    let Value::Object(o) = v else {
        return (None, true);
    };
    match (
        token_count(o.get("prompt_tokens")),
        token_count(o.get("completion_tokens")),
    ) {
        (Ok(prompt_tokens), Ok(completion_tokens)) => (
            Some(Usage {
                prompt_tokens,
                completion_tokens,
            }),
            false,
        ),
        _ => (None, true),
    }
}

/// What one streamed event carried.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct StreamEvent {
    /// The event carried a non-empty `choices` array (it moves `finished_at`).
    pub has_choices: bool,
    /// Generated text in this event, of every kind (reasoning, content,
    /// tool-call names and arguments, in that order); empty for role-only
    /// or empty deltas.
    pub content: String,
    /// The kinds of generated text in `content`.
    pub kinds: OutputKinds,
    /// The event carried a `finish_reason`.
    pub finished: bool,
    pub usage: Option<Usage>,
    /// The event carried a usage that is not counts (then `usage` is None).
    pub usage_invalid: bool,
    /// The server reported an error inside the stream.
    pub error: Option<String>,
}

/// What a complete (non-streamed) reply carried.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FullReply {
    /// Generated text of every kind (for image APIs, a short description
    /// of the reply).
    pub content: String,
    /// The kinds of generated text in `content` (none for image APIs).
    pub kinds: OutputKinds,
    pub usage: Option<Usage>,
    /// The reply carried a usage that is not counts (then `usage` is None).
    pub usage_invalid: bool,
    /// Images in the reply; `Some` marks an API whose replies are counted
    /// in images and bytes rather than tokens.
    pub images: Option<u64>,
    /// The reply is well formed but carries nothing of what was asked (no
    /// text of any kind, no image): why, for an `empty_reply` failure.
    pub empty: Option<String>,
}

/// Where a submitted job stands, as its status reply says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobStatus {
    /// Still waiting for a worker.
    Queued,
    /// Out of the queue, not finished (any status not named done, failed or queued).
    Running,
    Done,
    /// The job failed; the server's message.
    Failed(String),
}

/// The submit-then-poll protocol of an asynchronous API: what to read from
/// its replies and where to ask next. The engine sends and times.
pub trait JobApi: Send + Sync {
    /// The job id in the submit reply.
    fn job_id(&self, submit_reply: &[u8]) -> Result<String, PayloadError>;
    /// The URL polled for the job's status.
    fn status_url(&self, job_id: &str) -> String;
    /// Where the result is fetched once done; `None`: the final status reply is the result.
    fn result_url(&self, job_id: &str) -> Option<String>;
    fn status(&self, status_reply: &[u8]) -> Result<JobStatus, PayloadError>;
    fn poll_interval(&self) -> Duration;
    /// The whole job, submit to result, must end within this.
    fn deadline(&self) -> Duration;
}

/// The server sent something the adapter cannot read.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{0}")]
pub struct PayloadError(pub String);

/// One wire protocol.
pub trait ApiAdapter: Send + Sync {
    /// The request body for one work item (`Err`: it cannot be built, e.g.
    /// a template refers to a field this item lacks).
    fn request_body(&self, item: &WorkItem, model: &str, spec: &WorkloadSpec) -> Result<Value, PayloadError>;
    /// Interprets the payload of one `data:` event (never `[DONE]`).
    fn parse_event(&self, data: &[u8]) -> Result<StreamEvent, PayloadError>;
    /// Interprets a complete non-streamed body.
    fn parse_body(&self, body: &[u8]) -> Result<FullReply, PayloadError>;
    /// The polling protocol, for submit-then-poll APIs (`http-async`).
    fn jobs(&self) -> Option<&dyn JobApi> {
        None
    }
}

/// The adapter for an API kind, with the defaults of `http` APIs.
pub fn adapter(kind: ApiKind) -> Box<dyn ApiAdapter> {
    let spec = match kind {
        ApiKind::OpenaiImages => http::HttpSpec::openai_images(),
        ApiKind::HttpAsync => http::HttpSpec {
            job: Some(http::JobSpec::defaults(Duration::from_secs(120))),
            ..http::HttpSpec::default_http()
        },
        _ => http::HttpSpec::default_http(),
    };
    // The built-in templates compile (a unit test renders each).
    for_api(kind, Some(&spec), "http://localhost").unwrap_or_else(|_| Box::new(openai::OpenAi::chat()))
}

/// The adapter for an API kind; `spec` configures the `http` kinds (their
/// defaults when `None`) and `url` is the full request URL (job URLs that
/// are paths are taken relative to its origin).
pub fn for_api(
    kind: ApiKind,
    spec: Option<&http::HttpSpec>,
    url: &str,
) -> Result<Box<dyn ApiAdapter>, http::TemplateError> {
    Ok(match kind {
        ApiKind::OpenaiChat => Box::new(openai::OpenAi::chat()),
        ApiKind::OpenaiCompletions => Box::new(openai::OpenAi::completions()),
        ApiKind::Tgi => Box::new(tgi::Tgi),
        ApiKind::Http | ApiKind::OpenaiImages | ApiKind::HttpAsync => {
            let spec = match (spec, kind) {
                (Some(s), _) => s.clone(),
                (None, ApiKind::OpenaiImages) => http::HttpSpec::openai_images(),
                (None, _) => http::HttpSpec::default_http(),
            };
            Box::new(http::HttpJson::new(spec, url)?)
        }
    })
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
    fn usages_that_are_not_counts_are_invalid() {
        let read = |t: &str| read_usage(serde_json::from_str::<Value>(t).ok().as_ref());
        let valid = |p, c| {
            (
                Some(Usage {
                    prompt_tokens: p,
                    completion_tokens: c,
                }),
                false,
            )
        };
        assert_eq!(
            read(r#"{"prompt_tokens":5,"completion_tokens":7}"#),
            valid(Some(5), Some(7))
        );
        assert_eq!(read(r#"{"completion_tokens":7.0}"#), valid(None, Some(7)));
        assert_eq!(read(r#"{"completion_tokens":null}"#), valid(None, None));
        assert_eq!(read("null"), (None, false));
        assert_eq!(read_usage(None), (None, false));
        for bad in [
            r#"{"prompt_tokens":5,"completion_tokens":-1}"#,
            r#"{"completion_tokens":"7"}"#,
            r#"{"completion_tokens":2.5}"#,
            r#"{"prompt_tokens":-3,"completion_tokens":7}"#,
            r#"{"completion_tokens":1e300}"#,
            r#""lots""#,
            "[]",
        ] {
            assert_eq!(read(bad), (None, true), "{bad}");
        }
    }

    #[test]
    fn cut_marks_long_text() {
        assert_eq!(cut("abcdef", 3), "abc…");
        assert_eq!(cut("héé", 3), "héé");
    }
}
