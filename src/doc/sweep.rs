//! The sweep document (`sweep --json FILE`), described by
//! `docs/schema/sweep.schema.json`: the target, the settings, one
//! [`Level`] per measured load level and the [`Verdict`].
//!
//! The sweep writes it after every level (without a verdict until the
//! end), so an interrupted sweep keeps what it measured. The sweep's
//! judging code produces [`Level`] and [`Verdict`] directly: there is one
//! result type, printed, saved, charted and stored in the history.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::monitor::{MonitorSummary, TrustVerdict};
use crate::slo::{Goodput, Slo, SloResult};
pub use crate::stats::confidence::{Confidence, Interval};
use crate::stats::Summary;

use super::settings::{Arrival, RunSettings};
use super::Tool;

/// The `schema` value of the sweep document.
pub const SCHEMA: &str = "inferload/sweep";
/// Bumped on any incompatible change of the document.
pub const SCHEMA_VERSION: u32 = 1;

fn schema() -> String {
    SCHEMA.into()
}

fn version() -> u32 {
    SCHEMA_VERSION
}

fn kind() -> String {
    "sweep".into()
}

/// A whole sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepDocument {
    #[serde(default = "schema")]
    pub schema: String,
    #[serde(default = "version")]
    pub schema_version: u32,
    /// `"sweep"`, as documents before `schema` told themselves apart.
    #[serde(default = "kind")]
    pub kind: String,
    #[serde(default)]
    pub tool: Tool,
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub interrupted: bool,
    #[serde(default)]
    pub target: SweepTarget,
    #[serde(default, deserialize_with = "super::lenient")]
    pub settings: Option<SweepSettings>,
    pub levels: Vec<Level>,
    /// `None` until the sweep finished (or when it was interrupted early).
    #[serde(default)]
    pub verdict: Option<Verdict>,
    /// The server inferload started (`--server-cmd`) for a one-setting sweep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cold_start: Option<super::server::ColdStart>,
    /// A sweep over settings (`--server-param`, `--bench-param`): every
    /// setting with its own levels and verdict. `levels` and `verdict`
    /// above are then the best setting's (the last measured one's until
    /// the sweep has finished).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings_sweep: Option<super::server::SettingsSweep>,
}

/// What the sweep measured.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SweepTarget {
    pub url: Option<String>,
    pub api: Option<String>,
    pub endpoint: Option<String>,
    pub model: Option<String>,
    pub embedded_sim: bool,
}

/// What the sweep was asked to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SweepSettings {
    /// Target, workload, objectives and timing shared by every level.
    pub base: RunSettings,
    pub mode: SweepMode,
    pub arrival: Arrival,
    pub requests_per_level: Option<u64>,
    /// Seconds.
    pub duration_per_level: Option<f64>,
    pub warmup_per_level: Option<u64>,
    pub rules: StopRuleSettings,
    pub headroom: f64,
    pub max_runs: u32,
    pub json: Option<PathBuf>,
    pub records_dir: Option<PathBuf>,
    pub quiet: bool,
}

/// What the sweep searched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SweepMode {
    /// A concurrency ladder (closed loop).
    Concurrency { levels: Vec<usize> },
    /// A rate ladder (open loop), with an optional cap.
    Rate { rates: Vec<f64>, cap: Option<usize> },
    /// The smallest cap reaching one rate.
    FindConcurrency { rate: f64, max_concurrency: usize },
    /// The highest rate meeting every objective.
    MaxRateUnderSlo {
        start: f64,
        cap: Option<usize>,
        precision: f64,
    },
}

/// The stop rules as configured (`off` is `null`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StopRuleSettings {
    pub min_success_rate: Option<f64>,
    pub max_mean_ttft_ms: Option<f64>,
    pub min_gain: Option<f64>,
    pub stop_when: Vec<Slo>,
    pub slos_stop: bool,
    pub max_gpu_memory: Option<f64>,
    pub max_kv_cache: Option<f64>,
}

/// One measured level.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Level {
    /// Closed-loop concurrency, or the cap of a rate level.
    pub concurrency: Option<usize>,
    /// Target rate of an open-loop level.
    pub rate: Option<f64>,
    /// Successful completions per second, the slope of their count over
    /// their times: the rate the server sustained (open-loop levels).
    pub achieved_rate: Option<f64>,
    /// The rate the level's arrivals were due at (the slope of their count
    /// over their intended times); a random schedule offers its target
    /// only approximately (open-loop levels).
    #[serde(default)]
    pub offered_rate: Option<f64>,
    pub requests: u64,
    pub success_rate: f64,
    pub request_throughput: f64,
    pub output_throughput: f64,
    /// Requests per second per unit of concurrency.
    pub efficiency: f64,
    pub goodput: Option<Goodput>,
    #[serde(default)]
    pub slos: Vec<SloResult>,
    /// The rule this level tripped, if any.
    pub trip: Option<Trip>,
    pub summary: Summary,
    /// Resource use during the level (GPU, KV cache, queue, CPU), when monitored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor: Option<MonitorSummary>,
    /// Whether the load generator kept up during the level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust: Option<TrustVerdict>,
    /// The connections the level opened and used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<crate::engine::ConnectionStats>,
    /// Per-turn and per-session figures of the level (`--turns`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<crate::stats::sessions::Sessions>,
    /// The level's figures' 95 % confidence intervals: over its repeats
    /// (`--repeats N`, throughput and the objectives' figures included),
    /// else the latency means' bootstrap over its requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<Confidence>,
    /// Each repeat's own figures (`--repeats N`, N ≥ 2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub repeats: Vec<super::run::Repeat>,
}

impl Level {
    /// The interval of a figure (`request_throughput`, `mean_ttft_ms`, …),
    /// when the level has one.
    pub fn interval(&self, name: &str) -> Option<&Interval> {
        self.confidence.as_ref()?.get(name)
    }
}

/// How sure the verdict is: the interval of its deciding figure at the
/// maximum stable level, and the adjacent levels that noise cannot tell
/// apart.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VerdictConfidence {
    /// `request_throughput`.
    pub metric: String,
    /// Its interval at the maximum stable level (`None` when the level has
    /// none: a single measurement's throughput).
    pub interval: Option<Interval>,
    /// `Student-t over 3 repeats`, or why there is no interval.
    pub method: String,
    /// One line per pair of adjacent levels whose throughput intervals overlap.
    pub warnings: Vec<String>,
}

/// "Best efficiency": the knee of the throughput curve, where adding load
/// stops paying (see `docs/CAPACITY.md`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Knee {
    /// The knee's level (`None`: no knee by the rule).
    pub concurrency: Option<usize>,
    pub rate: Option<f64>,
    pub request_throughput: Option<f64>,
    /// The rule, stated.
    pub rule: String,
    /// A sentence on the result.
    pub detail: String,
}

/// Why a level ended the sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Trip {
    /// Short rule name: `success_rate`, `mean_ttft`, `throughput_gain`,
    /// `slo`, `stop_when`, `resource`, `target_rate`, `interrupted`.
    pub rule: String,
    /// A sentence with the rule and the measured value.
    pub detail: String,
}

impl Trip {
    pub fn new(rule: &str, detail: String) -> Self {
        Self {
            rule: rule.into(),
            detail,
        }
    }
}

/// The answer.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Verdict {
    pub max_stable_concurrency: Option<usize>,
    pub recommended_concurrency: Option<usize>,
    pub max_stable_rate: Option<f64>,
    pub recommended_rate: Option<f64>,
    /// Smallest cap reaching the target rate (`--find-concurrency`).
    pub required_concurrency: Option<usize>,
    /// Highest rate meeting every objective (`--max-rate-under-slo`).
    pub max_rate_under_slo: Option<f64>,
    /// Request and token throughput at the maximum stable level.
    pub request_throughput: Option<f64>,
    pub output_throughput: Option<f64>,
    /// The rule that ended the sweep, and at which level.
    pub stopped_by: Option<Trip>,
    pub stopped_at: Option<String>,
    /// One sentence saying why the sweep ended where it did.
    pub reason: String,
    /// How sure the answer is (ladders).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence: Option<VerdictConfidence>,
    /// The knee of the throughput curve (ladders).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub best_efficiency: Option<Knee>,
}

impl SweepDocument {
    /// A document of this version with nothing measured yet.
    pub fn new(target: SweepTarget, settings: Option<SweepSettings>) -> Self {
        Self {
            schema: schema(),
            schema_version: SCHEMA_VERSION,
            kind: kind(),
            tool: Tool::default(),
            started_at: None,
            interrupted: false,
            target,
            settings,
            levels: Vec::new(),
            verdict: None,
            cold_start: None,
            settings_sweep: None,
        }
    }

    /// True when the levels differ by rate (the x axis is the rate).
    pub fn rate_axis(&self) -> bool {
        let mut rates: Vec<f64> = self.levels.iter().filter_map(|l| l.rate).collect();
        rates.sort_by(f64::total_cmp);
        rates.dedup();
        rates.len() > 1
            || (self.levels.iter().all(|l| l.rate.is_some()) && self.levels.iter().all(|l| l.concurrency.is_none()))
    }

    /// The x value of a level on the charts.
    pub fn x_of(&self, l: &Level) -> Option<f64> {
        if self.rate_axis() {
            l.rate
        } else {
            l.concurrency.map(|c| c as f64)
        }
    }

    /// The x values of the maximum stable and the recommended level.
    pub fn marks(&self) -> (Option<f64>, Option<f64>) {
        let Some(v) = &self.verdict else {
            return (None, None);
        };
        if self.rate_axis() {
            (v.max_stable_rate.or(v.max_rate_under_slo), v.recommended_rate)
        } else {
            (
                v.max_stable_concurrency.or(v.required_concurrency).map(|c| c as f64),
                v.recommended_concurrency.map(|c| c as f64),
            )
        }
    }

    /// The x value of the best-efficiency level (the knee), when there is one.
    pub fn knee_x(&self) -> Option<f64> {
        let k = self.verdict.as_ref()?.best_efficiency.as_ref()?;
        if self.rate_axis() {
            k.rate
        } else {
            k.concurrency.map(|c| c as f64)
        }
    }

    /// The level the verdict's throughput comes from (its maximum stable
    /// level), when one matches.
    pub fn stable_level(&self) -> Option<&Level> {
        let rps = self.verdict.as_ref()?.request_throughput?;
        self.levels.iter().find(|l| l.request_throughput == rps)
    }

    /// "Sweep: model @ url".
    pub fn title(&self) -> String {
        super::title("Sweep", self.target.url.as_deref(), self.target.model.as_deref())
    }
}
