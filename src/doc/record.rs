//! One line of the records file (`--records FILE.jsonl`), and of the
//! records the history keeps: the same type is written, stored and read.
//!
//! A line carries the raw timestamps of a [`RequestRecord`] as seconds
//! since the run clock's zero (the start of the measured phase), as f64 with
//! serde_json's shortest round-trip form: under ~10⁶ s (11 days) that holds
//! every nanosecond, and [`RecordLine::into_record`] rounds back to the
//! exact nanosecond. Derived figures (`first_token_at`, `ttft_ms`,
//! `tpot_ms`, `e2e_ms`, `queue_delay_ms`) are written for readers'
//! convenience and ignored when reading: a summary is always recomputed
//! from the raw fields.
//!
//! Fields, in order: `index`, `scheduled_at`, `sent_at`, `first_token_at`,
//! `finished_at`, `ended_at` (seconds; null where none), `token_times`
//! (seconds), `ttft_ms`, `tpot_ms`, `e2e_ms`, `queue_delay_ms`,
//! `input_tokens`, `output_tokens`, `tokens_estimated`, `streamed`,
//! `status`, `error` (`{class, message}` or null); then, only when present:
//! `output_kinds` (the kinds of generated text the reply carried, a list of
//! `content`, `reasoning`, `tool_calls`), `stream_ignored` (true: `stream:
//! true` was asked and a whole body came), `usage_invalid` (true: the
//! reply's usage was not counts and was ignored),
//! `text` (when the text was captured), `task` and `model` (a scenario's
//! task mix), `images` and `response_bytes` (image APIs), `submit_latency`
//! and `queue_wait` (seconds, `http-async`), `session`, `turn` and
//! `session_turns` (a conversation run, `--turns`: the 0-based session,
//! the 1-based turn, the turns the session was to have), `stage` (a load
//! over time: the 1-based stage of the intended send time). Lines without the optional
//! fields, or without the derived ones, still read.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::record::{OutputKinds, RequestError, RequestRecord, SessionTurn};

/// One request as a line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordLine {
    pub index: u64,
    pub scheduled_at: f64,
    pub sent_at: f64,
    #[serde(default)]
    pub first_token_at: Option<f64>,
    #[serde(default)]
    pub finished_at: Option<f64>,
    pub ended_at: f64,
    #[serde(default)]
    pub token_times: Vec<f64>,
    #[serde(default)]
    pub ttft_ms: Option<f64>,
    #[serde(default)]
    pub tpot_ms: Option<f64>,
    #[serde(default)]
    pub e2e_ms: Option<f64>,
    #[serde(default)]
    pub queue_delay_ms: Option<f64>,
    #[serde(default)]
    pub input_tokens: u64,
    #[serde(default)]
    pub output_tokens: u64,
    #[serde(default)]
    pub tokens_estimated: bool,
    #[serde(default)]
    pub streamed: bool,
    #[serde(default)]
    pub status: Option<u16>,
    #[serde(default)]
    pub error: Option<RequestError>,
    #[serde(default, skip_serializing_if = "no_kinds")]
    pub output_kinds: OutputKinds,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub stream_ignored: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub usage_invalid: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submit_latency: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_wait: Option<f64>,
    /// The conversation session (`--turns`), 0-based.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<u64>,
    /// The turn within the session, 1 for the first.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn: Option<u32>,
    /// The turns the session was to have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_turns: Option<u32>,
    /// The stage (1-based) of a load over time (`--stages`, ...) the
    /// request's intended send time fell in; derived, as the document's
    /// by-stage section counts it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<usize>,
}

fn no_kinds(k: &OutputKinds) -> bool {
    !k.any()
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Seconds back to a duration, rounded to the nanosecond.
fn from_secs(field: &str, v: f64) -> Result<Duration, String> {
    if !(v.is_finite() && v >= 0.0) {
        return Err(format!(
            "`{field}` must be a number of seconds of zero or more, not {v}"
        ));
    }
    let ns = (v * 1e9).round();
    if ns >= u64::MAX as f64 {
        return Err(format!("`{field}` is too large: {v}"));
    }
    Ok(Duration::from_nanos(ns as u64))
}

impl RecordLine {
    /// The line of a record, derived figures included.
    pub fn of(r: &RequestRecord) -> Self {
        Self {
            index: r.index,
            scheduled_at: secs(r.scheduled_at),
            sent_at: secs(r.sent_at),
            first_token_at: r.first_token_at().map(secs),
            finished_at: r.finished_at.map(secs),
            ended_at: secs(r.ended_at),
            token_times: r.token_times.iter().copied().map(secs).collect(),
            ttft_ms: r.ttft().map(millis),
            tpot_ms: r.tpot().map(millis),
            e2e_ms: r.e2e().map(millis),
            queue_delay_ms: Some(millis(r.queue_delay())),
            input_tokens: r.input_tokens,
            output_tokens: r.output_tokens,
            tokens_estimated: r.tokens_estimated,
            streamed: r.streamed,
            status: r.status,
            error: r.error.clone(),
            output_kinds: r.output_kinds,
            stream_ignored: r.stream_ignored,
            usage_invalid: r.usage_invalid,
            text: r.text.clone(),
            task: r.task.clone(),
            model: r.model.clone(),
            images: r.images,
            response_bytes: r.response_bytes,
            submit_latency: r.submit_latency.map(secs),
            queue_wait: r.queue_wait.map(secs),
            session: r.session.map(|s| s.session),
            turn: r.session.map(|s| s.turn),
            session_turns: r.session.map(|s| s.turns),
            stage: None,
        }
    }

    /// The record back from its raw fields (derived ones are ignored);
    /// the error names the field that is not a time.
    pub fn into_record(self) -> Result<RequestRecord, String> {
        let token_times = self
            .token_times
            .iter()
            .map(|&t| from_secs("token_times", t))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(RequestRecord {
            index: self.index,
            scheduled_at: from_secs("scheduled_at", self.scheduled_at)?,
            sent_at: from_secs("sent_at", self.sent_at)?,
            token_times,
            finished_at: self.finished_at.map(|t| from_secs("finished_at", t)).transpose()?,
            ended_at: from_secs("ended_at", self.ended_at)?,
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            tokens_estimated: self.tokens_estimated,
            // Not saved: used by the collector only, while the run goes.
            sent_input_tokens: 0,
            output_from_usage: false,
            streamed: self.streamed,
            status: self.status,
            error: self.error,
            output_kinds: self.output_kinds,
            stream_ignored: self.stream_ignored,
            usage_invalid: self.usage_invalid,
            text: self.text,
            task: self.task,
            model: self.model,
            images: self.images,
            response_bytes: self.response_bytes,
            submit_latency: self
                .submit_latency
                .map(|t| from_secs("submit_latency", t))
                .transpose()?,
            queue_wait: self.queue_wait.map(|t| from_secs("queue_wait", t)).transpose()?,
            session: match (self.session, self.turn) {
                (Some(session), Some(turn)) => Some(SessionTurn {
                    session,
                    turn,
                    turns: self.session_turns.unwrap_or(turn),
                }),
                (None, None) => None,
                _ => return Err("`session` and `turn` go together".into()),
            },
        })
    }
}
