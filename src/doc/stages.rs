//! The `stages` section of a run document: a load that changed over the
//! run (`--stages`, `--rate-stages`, `--user-stages`, vLLM's ramp-up),
//! each stage's own figures, and the objectives judged per stage
//! (`--slo-per-stage`).
//!
//! A request belongs to the stage its intended send time (`scheduled_at`)
//! falls in; a ramp-up is one stage over the whole run. Throughputs are per
//! second of the stage's own duration; `mean_in_flight` is the time-weighted
//! mean of requests in flight over the stage (the active concurrency a
//! closed loop or users schedule reached).
//!
//! A shard's stages also carry their mergeable state ([`StageState`]), so
//! `inferload merge` joins the shards' stages into the one section a single
//! process would have given.

use serde::{Deserialize, Serialize};

use crate::schedule::stages::{Profile, RateChange};
use crate::slo::SloResult;
use crate::stats::state::SummaryState;

/// The load over time and what each stage measured.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StagesSection {
    /// What the targets count, and the stages or the ramp as given.
    pub profile: Profile,
    pub stages: Vec<StageFigures>,
    /// Each whole request rate reached (vLLM's `rps_change_events`), for a
    /// rate that changes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rate_changes: Vec<RateChange>,
    /// Each objective that failed in some stage, with the first such stage
    /// (`--slo-per-stage`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub first_failures: Vec<FirstFailure>,
}

/// One stage's figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageFigures {
    /// 1-based.
    pub stage: usize,
    pub start_s: f64,
    pub end_s: f64,
    /// The target at the stage's start and end.
    pub from: f64,
    pub to: f64,
    /// Requests whose intended send time fell in the stage.
    pub requests: u64,
    pub successful: u64,
    pub success_rate: f64,
    pub ttft_p50_ms: Option<f64>,
    pub ttft_p99_ms: Option<f64>,
    pub itl_p50_ms: Option<f64>,
    pub itl_p99_ms: Option<f64>,
    /// Successful requests per second of the stage.
    pub request_throughput: f64,
    /// Output tokens of successful requests per second of the stage.
    pub output_throughput: f64,
    /// Time-weighted mean of requests in flight during the stage.
    pub mean_in_flight: f64,
    /// The objectives judged on this stage alone (`--slo-per-stage`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub slos: Vec<SloResult>,
    /// A shard's (`--shard K/N`) stage in mergeable form, for
    /// `inferload merge`; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<StageState>,
}

/// What `inferload merge` needs of one shard's stage to rebuild it exactly
/// as one process would have measured it: the stage's summary in mergeable
/// form (HDR histograms and counters), its good requests and its
/// request-seconds in flight (both add up across shards).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageState {
    pub summary: SummaryState,
    pub good_requests: u64,
    pub busy_s: f64,
}

/// An objective's first failing stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FirstFailure {
    /// The objective as written.
    pub objective: String,
    /// 1-based.
    pub stage: usize,
    /// The measured value in that stage, formatted in the objective's unit.
    pub measured: String,
}

impl StagesSection {
    /// `Objective ttft_p99<200ms first failed at stage 3 (10s–20s, target 8 → 12): 412.00 ms`.
    pub fn failure_lines(&self) -> Vec<String> {
        self.first_failures
            .iter()
            .map(|f| {
                let at = self
                    .stages
                    .get(f.stage - 1)
                    .map(|s| format!(" ({:.0}s–{:.0}s, target {} → {})", s.start_s, s.end_s, s.from, s.to))
                    .unwrap_or_default();
                format!(
                    "Objective {} first failed at stage {}{at}: {}",
                    f.objective, f.stage, f.measured
                )
            })
            .collect()
    }

    /// Stage boundaries on the run's clock (seconds), the first start
    /// excluded: where charts draw their markers.
    pub fn boundaries(&self) -> Vec<f64> {
        self.stages.iter().skip(1).map(|s| s.start_s).collect()
    }
}
