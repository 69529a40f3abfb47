//! The run document (`run --json FILE`), described by
//! `docs/schema/run.schema.json`.
//!
//! ```text
//! { "schema": "inferload/run", "schema_version": 1,
//!   "tool": {"name", "version"}, "started_at": RFC 3339,
//!   "target_url", "embedded_sim", "model", "interrupted", "unfinished",
//!   "settings": RunSettings (secrets as "***"),
//!   "summary": the Summary (latencies in ms, null when undefined),
//!   "goodput": {good_requests, goodput, good_share} or null,
//!   "slos": [{slo, measured, passed}],
//!   "series": charts' bounded data (only when the run kept its records),
//!   "users": {peak, final, series: [[t_s, active]]} (`--users` only),
//!   "breakdown": {by_task, by_model: [{label, summary}]} (task mixes only),
//!   "sessions": {started, completed, failed, cut, turns_completed_mean,
//!   duration_p50_s, ..., by_turn: [{turn, requests, ttft_p50_ms, ...}]}
//!   (conversation runs, `--turns`, only),
//!   "monitor": what the monitor saw, "trust": whether the client kept up,
//!   "connections": connections opened, requests per connection, stale
//!   retries, connect times,
//!   "confidence": {method, level, repeats, resamples, samples,
//!   metrics: {name: {mean, low, high}}} (95 % intervals),
//!   "repeats": [{repeat, requests_total, successful, figures}] (`--repeats`),
//!   "cold_start": {command, log, ready_url, time_to_ready_s,
//!   first_request: {succeeded, ttft_ms, e2e_ms, error}} (`--server-cmd`) }
//! ```
//!
//! The same type is read back from a saved file, and built from a records
//! file (`inferload report records.jsonl`): then what a records file does
//! not know (target, model, start, settings) is `None`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::engine::ConnectionStats;
use crate::monitor::{MonitorReport, TrustVerdict};
use crate::schedule::UsersActivity;
use crate::slo::{Goodput, SloResult};
use crate::stats::breakdown::Breakdown;
pub use crate::stats::confidence::{Confidence, Interval};
use crate::stats::sessions::Sessions;
use crate::stats::Summary;

use super::series::Series;
use super::settings::{RunSettings, Schedule};
use super::Tool;

/// The `schema` value of the run document.
pub const SCHEMA: &str = "inferload/run";
/// Bumped on any incompatible change of the document.
pub const SCHEMA_VERSION: u32 = 1;

fn schema() -> String {
    SCHEMA.into()
}

fn version() -> u32 {
    SCHEMA_VERSION
}

/// One finished run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunDocument {
    #[serde(default = "schema")]
    pub schema: String,
    #[serde(default = "version")]
    pub schema_version: u32,
    #[serde(default)]
    pub tool: Tool,
    /// Wall-clock start of the measured phase (RFC 3339, local offset).
    #[serde(default)]
    pub started_at: Option<String>,
    /// The base URL actually benchmarked (the simulator's when embedded).
    #[serde(default)]
    pub target_url: Option<String>,
    #[serde(default)]
    pub embedded_sim: bool,
    /// The model actually benchmarked.
    #[serde(default)]
    pub model: Option<String>,
    /// True when Ctrl-C stopped the run before its stop condition.
    #[serde(default)]
    pub interrupted: bool,
    /// Requests still running when the run stopped: failed, class
    /// `unfinished`, counted in the summary. (Older documents called them
    /// `cancelled` and left them out of it.)
    #[serde(default, alias = "cancelled")]
    pub unfinished: u64,
    /// Why the run stopped before its end, when it gave up on its own
    /// (`--abort-after`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped_early: Option<String>,
    /// A shard's summary in mergeable form (HDR histograms and counters)
    /// for `inferload merge`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary_state: Option<crate::stats::state::SummaryState>,
    /// A merged run: the shard documents it was made from, and the shards
    /// that were missing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub merged: Option<Merged>,
    /// What the run was asked to do; `None` from a records file.
    #[serde(default, deserialize_with = "super::lenient")]
    pub settings: Option<RunSettings>,
    pub summary: Summary,
    /// Good requests per second, when the run had latency objectives.
    #[serde(default)]
    pub goodput: Option<Goodput>,
    /// Every objective, judged.
    #[serde(default)]
    pub slos: Vec<SloResult>,
    /// The charts' data, when the run kept its records (a report was asked
    /// for); lets `inferload report run.json` draw them again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<Series>,
    /// Users active over time (`--users`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<UsersActivity>,
    /// Per-task and per-model summaries (a scenario's task mix).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub breakdown: Option<Breakdown>,
    /// Per-turn and per-session figures (a conversation run, `--turns`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<Sessions>,
    /// What the monitor saw: sources, notes, summary, time series.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor: Option<MonitorReport>,
    /// Whether the load generator kept up, with its figures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust: Option<TrustVerdict>,
    /// The connections the measured phase opened and used (`None` from a
    /// records file and from documents written before they were saved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<ConnectionStats>,
    /// A load that changed over the run: each stage's figures, the rate
    /// changes, the objectives per stage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stages: Option<super::stages::StagesSection>,
    /// The figures' 95 % confidence intervals: over the repeats
    /// (`--repeats N`), else the latency means' bootstrap over requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<Confidence>,
    /// Each repeat's own figures (`--repeats N`, N ≥ 2); the summary
    /// pools every repeat's requests.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repeats: Vec<Repeat>,
    /// The server inferload started (`--server-cmd`): time to ready and
    /// the first, cold request, measured apart from the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cold_start: Option<super::server::ColdStart>,
}

/// One measurement of a run with `--repeats`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Repeat {
    /// 1-based.
    pub repeat: u32,
    pub requests_total: u64,
    pub successful: u64,
    /// The figures the confidence block names (`request_throughput`,
    /// `mean_ttft_ms`, …), of this repeat alone.
    pub figures: BTreeMap<String, f64>,
}

impl RunDocument {
    /// A document of this version with `summary` and nothing else known;
    /// writers fill in the rest with struct update syntax.
    pub fn new(summary: Summary) -> Self {
        Self {
            schema: schema(),
            schema_version: SCHEMA_VERSION,
            tool: Tool::default(),
            started_at: None,
            target_url: None,
            embedded_sim: false,
            model: None,
            interrupted: false,
            unfinished: 0,
            stopped_early: None,
            summary_state: None,
            merged: None,
            settings: None,
            summary,
            goodput: None,
            slos: Vec::new(),
            series: None,
            users: None,
            breakdown: None,
            sessions: None,
            monitor: None,
            trust: None,
            connections: None,
            stages: None,
            confidence: None,
            repeats: Vec::new(),
            cold_start: None,
        }
    }

    /// The start time, when recorded and readable.
    pub fn started(&self) -> Option<chrono::DateTime<chrono::FixedOffset>> {
        chrono::DateTime::parse_from_rfc3339(self.started_at.as_deref()?).ok()
    }

    /// The schedule, when the settings were recorded.
    pub fn schedule(&self) -> Option<&Schedule> {
        self.settings.as_ref().map(|s| &s.schedule)
    }

    /// True when the schedule was open loop (unknown from a records file:
    /// then when any request left more than a millisecond late).
    pub fn open_loop(&self) -> bool {
        match self.schedule() {
            Some(s) => s.is_open(),
            None => self.summary.queue_delay_ms.as_ref().is_some_and(|q| q.max > 1.0),
        }
    }

    /// Whether the run streamed (TTFT, TPOT and ITL are defined): from the
    /// settings, else from whether any TTFT was measured.
    pub fn streamed(&self) -> bool {
        match &self.settings {
            Some(s) => s.workload.stream,
            None => self.summary.ttft_ms.is_some(),
        }
    }

    /// "Run: model @ url".
    pub fn title(&self) -> String {
        super::title("Run", self.target_url.as_deref(), self.model.as_deref())
    }
}

/// Where a merged run came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Merged {
    /// The shard documents merged, as given.
    pub inputs: Vec<String>,
    /// Shards of the run that no input held (`K/N`): the result is partial.
    #[serde(default)]
    pub missing: Vec<String>,
}

/// The console's sentence on requests still running at the stop.
pub fn unfinished_line(n: u64) -> String {
    format!(
        "{n} request(s) were still running when the run stopped (after --grace): counted above as failed (unfinished)."
    )
}
