//! One finished request, as measured: the source of truth for every figure.
//!
//! A [`RequestRecord`] holds the raw timestamps of one request, each a
//! [`Duration`] since the run's single monotonic origin (see
//! [`crate::engine::clock`]). Everything users see — TTFT, ITL, TPOT, E2E,
//! queue delay, throughput — is derived from these fields by the methods
//! below, so a summary can always be recomputed from saved records.
//!
//! Where each timestamp is taken:
//! - `scheduled_at`: when the schedule meant to send the request (open loop);
//!   equal to `sent_at` in closed loop.
//! - `sent_at`: just before the request is handed to the HTTP client.
//! - `token_times`: arrival of every chunk carrying generated text —
//!   content, reasoning or a tool call's name or arguments (see
//!   [`OutputKinds`]); the first of them is `first_token_at`. A role-only or
//!   empty delta is not generated text.
//! - `finished_at`: arrival of the last chunk carrying `choices` (the trailing
//!   usage chunk and `[DONE]` do not move it); for a non-streaming request,
//!   the end of the body.
//! - `ended_at`: when the client stopped reading: the end of the response
//!   body, or the moment a failure was observed. Kept apart from
//!   `finished_at`; the run's duration ends at the last `ended_at`.
//!
//! `http-async` requests (submit, poll, fetch) are one record: `sent_at` is
//! the submit, `finished_at` the end of the result's body, so E2E runs from
//! submit to result; `submit_latency` and `queue_wait` split its start.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Why a request failed, grouped the way the summary reports errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorClass {
    /// The request did not finish within `--timeout`.
    Timeout,
    /// The connection could not be made (refused, DNS, TLS handshake).
    Connect,
    /// The server answered with a non-success HTTP status.
    Http(u16),
    /// The stream or body was cut before it finished (reset, premature end).
    StreamBroken,
    /// The reply could not be understood (malformed JSON or SSE, error event).
    BadPayload,
    /// A successful status with nothing generated: an empty body, a stream
    /// of only `[DONE]` or without any text, an image reply without an image.
    EmptyReply,
    /// The reply used an HTTP feature inferload does not read: a compressed
    /// body (`Content-Encoding`).
    Protocol,
    /// Sent, and still running when the run stopped (its `--grace` ran
    /// out, or a second Ctrl-C): a failure like any other, never left out,
    /// so a server that hangs cannot pass.
    Unfinished,
    /// Anything else the HTTP client reported.
    Request,
}

impl ErrorClass {
    /// Parses the name written by `Display` (`timeout`, `http_503`, ...).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "timeout" => Self::Timeout,
            "connect" => Self::Connect,
            "stream_broken" => Self::StreamBroken,
            "bad_payload" => Self::BadPayload,
            "empty_reply" => Self::EmptyReply,
            "protocol" => Self::Protocol,
            // Older records files called it `cancelled`.
            "unfinished" | "cancelled" => Self::Unfinished,
            "request" => Self::Request,
            other => Self::Http(other.strip_prefix("http_")?.parse().ok()?),
        })
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Timeout => f.write_str("timeout"),
            Self::Connect => f.write_str("connect"),
            Self::Http(status) => write!(f, "http_{status}"),
            Self::StreamBroken => f.write_str("stream_broken"),
            Self::BadPayload => f.write_str("bad_payload"),
            Self::EmptyReply => f.write_str("empty_reply"),
            Self::Protocol => f.write_str("protocol"),
            Self::Unfinished => f.write_str("unfinished"),
            Self::Request => f.write_str("request"),
        }
    }
}

impl Serialize for ErrorClass {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ErrorClass {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s).ok_or_else(|| serde::de::Error::custom(format!("unknown error class `{s}`")))
    }
}

/// Which kinds of generated text a reply carried. Every kind is text the
/// model produced and the user waits for, so each is timed as content:
/// its chunks are `token_times` (TTFT, ITL, TPOT) and its words count when
/// tokens are estimated.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct OutputKinds {
    /// `content` (chat), `text` (completions), a TGI token.
    pub content: bool,
    /// `reasoning_content` or `reasoning`.
    pub reasoning: bool,
    /// A tool call's function name or arguments (`tool_calls`, or the older
    /// `function_call`).
    pub tool_calls: bool,
}

impl OutputKinds {
    const NAMES: [&'static str; 3] = ["content", "reasoning", "tool_calls"];

    pub fn any(self) -> bool {
        self.content || self.reasoning || self.tool_calls
    }

    /// The kinds of either.
    pub fn union(self, other: Self) -> Self {
        Self {
            content: self.content || other.content,
            reasoning: self.reasoning || other.reasoning,
            tool_calls: self.tool_calls || other.tool_calls,
        }
    }

    fn flags(self) -> [bool; 3] {
        [self.content, self.reasoning, self.tool_calls]
    }

    /// The names of the kinds carried (`content`, `reasoning`, `tool_calls`).
    pub fn names(self) -> impl Iterator<Item = &'static str> {
        Self::NAMES
            .into_iter()
            .zip(self.flags())
            .filter_map(|(name, on)| on.then_some(name))
    }
}

// Written as the list of the kinds carried: `["reasoning", "content"]`.
impl Serialize for OutputKinds {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.names())
    }
}

impl<'de> Deserialize<'de> for OutputKinds {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut kinds = Self::default();
        for name in Vec::<String>::deserialize(d)? {
            match name.as_str() {
                "content" => kinds.content = true,
                "reasoning" => kinds.reasoning = true,
                "tool_calls" => kinds.tool_calls = true,
                other => {
                    return Err(serde::de::Error::custom(format!(
                        "unknown output kind `{other}` (expected content, reasoning or tool_calls)"
                    )))
                }
            }
        }
        Ok(kinds)
    }
}

/// A failed request's class and a one-line message (secrets already redacted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestError {
    pub class: ErrorClass,
    pub message: String,
}

/// One request from send to finish. Timestamps are offsets from the run's
/// origin; see the module docs for where each is taken.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestRecord {
    /// Position of the request in the workload (0-based, warm-up excluded).
    pub index: u64,
    pub scheduled_at: Duration,
    pub sent_at: Duration,
    /// Arrival of every content-bearing chunk; empty for non-streaming replies.
    pub token_times: Vec<Duration>,
    pub finished_at: Option<Duration>,
    pub ended_at: Duration,
    /// Prompt tokens: the server's `usage`, else the client's estimate.
    pub input_tokens: u64,
    /// Generated tokens: the server's `usage`, else the count of content chunks.
    pub output_tokens: u64,
    /// The kinds of generated text the reply carried.
    pub output_kinds: OutputKinds,
    /// True when the token counts are the client's estimate: neither
    /// `usage` nor the tokenizer's (the collector clears it when it counts).
    pub tokens_estimated: bool,
    /// The client's count of the prompt sent (the workload's), kept when
    /// the server's `usage` replaces `input_tokens`. Not saved.
    pub sent_input_tokens: u64,
    /// `output_tokens` is the server's `usage.completion_tokens` (else the
    /// client counted it: content chunks, words, or the tokenizer's count
    /// of the text, made by the collector). Not saved.
    pub output_from_usage: bool,
    /// The reply carried a `usage` that is not counts (e.g. a negative
    /// `completion_tokens`): it was ignored and the tokens estimated.
    pub usage_invalid: bool,
    /// The reply was read as a stream (`text/event-stream` to a streamed
    /// request); false for a whole body.
    pub streamed: bool,
    /// `stream: true` was asked and the server answered with a whole body
    /// (measured as not streamed: no TTFT, ITL or TPOT).
    pub stream_ignored: bool,
    /// HTTP status of the reply, when one arrived.
    pub status: Option<u16>,
    pub error: Option<RequestError>,
    /// The generated text, kept only when a sample or a detailed export asks.
    pub text: Option<String>,
    /// The scenario task this request belongs to (a weighted task mix only).
    pub task: Option<String>,
    /// The model this request asked for, when a task chose it.
    pub model: Option<String>,
    /// Images in the reply (image APIs: `http`, `openai-images`, `http-async`).
    pub images: Option<u64>,
    /// Bytes of the reply body (of the result, for `http-async`), when counted.
    pub response_bytes: Option<u64>,
    /// `http-async`: from `sent_at` to the end of the submit reply.
    pub submit_latency: Option<Duration>,
    /// `http-async`: from the end of the submit reply to the first poll
    /// that saw the job out of its queued state (resolution: the poll interval).
    pub queue_wait: Option<Duration>,
    /// The session and turn of a conversation run (`--turns`).
    pub session: Option<SessionTurn>,
}

/// Where a request stands in its conversation (`--turns`): the session
/// (0-based, in the order sessions started), its turn (1 is the first) and
/// the turns the session was to have, so a records file alone tells a
/// completed session from one that ended early.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionTurn {
    pub session: u64,
    pub turn: u32,
    pub turns: u32,
}

impl RequestRecord {
    pub fn succeeded(&self) -> bool {
        self.error.is_none()
    }

    pub fn first_token_at(&self) -> Option<Duration> {
        self.token_times.first().copied()
    }

    /// Time to first token; defined for successful streaming requests, and
    /// kept for an unfinished one that got its first token (its partial
    /// timing; the summary's distribution is of successful requests).
    pub fn ttft(&self) -> Option<Duration> {
        let unfinished = self.error.as_ref().is_some_and(|e| e.class == ErrorClass::Unfinished);
        if !self.streamed || !(self.succeeded() || unfinished) {
            return None;
        }
        Some(self.first_token_at()?.saturating_sub(self.sent_at))
    }

    /// End-to-end latency: `finished_at - sent_at`, successful requests only.
    pub fn e2e(&self) -> Option<Duration> {
        if !self.succeeded() {
            return None;
        }
        Some(self.finished_at?.saturating_sub(self.sent_at))
    }

    /// Time per output token after the first: `(E2E - TTFT) / (tokens - 1)`.
    pub fn tpot(&self) -> Option<Duration> {
        let (e2e, ttft) = (self.e2e()?, self.ttft()?);
        if self.output_tokens < 2 {
            return None;
        }
        let tokens = u32::try_from(self.output_tokens - 1).unwrap_or(u32::MAX);
        Some(e2e.saturating_sub(ttft) / tokens)
    }

    /// Gaps between consecutive content chunks (a chunk carrying several
    /// tokens counts as one gap, as vLLM counts it). Successful requests only.
    pub fn itls(&self) -> impl Iterator<Item = Duration> + '_ {
        let times: &[Duration] = if self.streamed && self.succeeded() {
            &self.token_times
        } else {
            &[]
        };
        times.windows(2).map(|w| w[1].saturating_sub(w[0]))
    }

    /// Moves every timestamp `by` later (onto another clock's origin).
    pub fn shift(&mut self, by: Duration) {
        self.scheduled_at += by;
        self.sent_at += by;
        self.ended_at += by;
        for t in &mut self.token_times {
            *t += by;
        }
        if let Some(f) = self.finished_at.as_mut() {
            *f += by;
        }
    }

    /// Client-side backlog: how late the request left against its schedule.
    pub fn queue_delay(&self) -> Duration {
        self.sent_at.saturating_sub(self.scheduled_at)
    }

    /// What the user felt in open loop: `finished_at - scheduled_at`.
    pub fn user_latency(&self) -> Option<Duration> {
        Some(self.e2e()? + self.queue_delay())
    }

    /// Per-request output speed in tokens per second (`output_tokens / E2E`).
    pub fn output_speed(&self) -> Option<f64> {
        let e2e = self.e2e()?.as_secs_f64();
        (e2e > 0.0).then(|| self.output_tokens as f64 / e2e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    /// vLLM's worked example: two 40 ms chunk gaps, five tokens, TTFT 100 ms,
    /// E2E 180 ms → mean ITL 40 ms, TPOT 20 ms/token.
    #[test]
    fn itl_and_tpot_follow_the_vllm_worked_example() {
        let rec = RequestRecord {
            sent_at: ms(1000),
            scheduled_at: ms(990),
            token_times: vec![ms(1100), ms(1140), ms(1180)],
            finished_at: Some(ms(1180)),
            output_tokens: 5,
            streamed: true,
            ..Default::default()
        };
        assert_eq!(rec.ttft(), Some(ms(100)));
        assert_eq!(rec.e2e(), Some(ms(180)));
        assert_eq!(rec.tpot(), Some(ms(20)));
        assert_eq!(rec.itls().collect::<Vec<_>>(), vec![ms(40), ms(40)]);
        assert_eq!(rec.queue_delay(), ms(10));
        assert_eq!(rec.user_latency(), Some(ms(190)));
    }

    #[test]
    fn failed_requests_define_no_latency() {
        let rec = RequestRecord {
            token_times: vec![ms(5)],
            finished_at: Some(ms(9)),
            streamed: true,
            output_tokens: 3,
            error: Some(RequestError {
                class: ErrorClass::StreamBroken,
                message: "cut".into(),
            }),
            ..Default::default()
        };
        assert_eq!(rec.ttft(), None);
        assert_eq!(rec.e2e(), None);
        assert_eq!(rec.itls().count(), 0);
    }

    #[test]
    fn an_unfinished_request_keeps_its_ttft_and_nothing_else() {
        let mut rec = RequestRecord {
            sent_at: ms(10),
            token_times: vec![ms(50), ms(60)],
            ended_at: ms(900),
            streamed: true,
            output_tokens: 2,
            error: Some(RequestError {
                class: ErrorClass::Unfinished,
                message: "still running".into(),
            }),
            ..RequestRecord::default()
        };
        assert_eq!(rec.ttft(), Some(ms(40)));
        assert_eq!((rec.e2e(), rec.tpot(), rec.itls().count()), (None, None, 0));
        rec.token_times.clear();
        assert_eq!(rec.ttft(), None, "no first token, no TTFT");
        assert_eq!(
            ErrorClass::parse("cancelled"),
            Some(ErrorClass::Unfinished),
            "older files"
        );
    }

    #[test]
    fn output_kinds_are_written_as_a_list_of_names() {
        let kinds = OutputKinds {
            reasoning: true,
            tool_calls: true,
            ..OutputKinds::default()
        };
        let text = serde_json::to_string(&kinds).unwrap();
        assert_eq!(text, r#"["reasoning","tool_calls"]"#);
        assert_eq!(serde_json::from_str::<OutputKinds>(&text).unwrap(), kinds);
        assert!(serde_json::from_str::<OutputKinds>(r#"["audio"]"#).is_err());
        assert!(!OutputKinds::default().any());
        assert!(
            kinds
                .union(OutputKinds {
                    content: true,
                    ..Default::default()
                })
                .content
        );
    }

    #[test]
    fn error_class_names_round_trip() {
        for class in [
            ErrorClass::Timeout,
            ErrorClass::Connect,
            ErrorClass::Http(429),
            ErrorClass::StreamBroken,
            ErrorClass::BadPayload,
            ErrorClass::EmptyReply,
            ErrorClass::Protocol,
            ErrorClass::Unfinished,
            ErrorClass::Request,
        ] {
            assert_eq!(ErrorClass::parse(&class.to_string()), Some(class));
        }
        assert_eq!(ErrorClass::parse("http_x"), None);
    }
}
