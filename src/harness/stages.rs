//! Each stage's figures, gathered by the collector as requests finish: a
//! request goes to the stage its intended send time falls in (one
//! `SummaryBuilder` and good-request count per stage), and its time in
//! flight is spread over the stages it overlaps, for the active concurrency
//! of each. At the end the objectives are judged per stage when
//! `--slo-per-stage` asks, and the first failing stage of each is named.
//! [`figures`] turns accumulated stages into the section, for the collector
//! and for `inferload merge` (the shards' stages merged) alike.

use crate::doc::stages::{FirstFailure, StageFigures, StageState, StagesSection};
use crate::record::RequestRecord;
use crate::schedule::stages::{Profile, StageWindow};
use crate::slo::{Goodput, Slo};
use crate::stats::{Summary, SummaryBuilder};

/// The collector's per-stage state.
#[derive(Debug)]
pub struct StageSplit {
    profile: Profile,
    windows: Vec<StageWindow>,
    builders: Vec<SummaryBuilder>,
    good: Vec<u64>,
    /// Request-seconds in flight per stage.
    busy_s: Vec<f64>,
    /// The latest end of a request (seconds): a counted ramp-up's one stage
    /// lasts until then.
    last_end_s: f64,
    /// Measurements pooled here (`--repeats`): each stage then lasted this
    /// many times its window, which its per-second figures divide by.
    repeats: u32,
}

impl StageSplit {
    pub fn new(profile: &Profile) -> Self {
        // A counted ramp-up's length is known at the end: one open stage.
        let windows = profile.windows(f64::INFINITY);
        let n = windows.len();
        Self {
            profile: profile.clone(),
            windows,
            builders: (0..n).map(|_| SummaryBuilder::new()).collect(),
            good: vec![0; n],
            busy_s: vec![0.0; n],
            last_end_s: 0.0,
            repeats: 1,
        }
    }

    /// Pools another measurement of the same profile (a repeat) into this
    /// one: stage k gathers every repeat's stage k, so its counts add up,
    /// its percentiles are those of all its requests, and its rates are
    /// per second of all the repeats' time in it.
    pub fn absorb(&mut self, other: StageSplit) {
        debug_assert_eq!(self.windows.len(), other.windows.len(), "one profile");
        for (acc, b) in self.builders.iter_mut().zip(&other.builders) {
            acc.merge(b);
        }
        for (g, o) in self.good.iter_mut().zip(&other.good) {
            *g += o;
        }
        for (busy, o) in self.busy_s.iter_mut().zip(&other.busy_s) {
            *busy += o;
        }
        self.last_end_s = self.last_end_s.max(other.last_end_s);
        self.repeats += other.repeats;
    }

    /// The stage `t` seconds falls in (the last one after the end).
    fn stage_of(&self, t: f64) -> usize {
        self.windows
            .iter()
            .position(|w| t < w.end_s)
            .unwrap_or(self.windows.len().saturating_sub(1))
    }

    /// The 1-based stage a record counts in (its intended send time's).
    pub fn stage_number(&self, rec: &RequestRecord) -> usize {
        self.stage_of(rec.scheduled_at.as_secs_f64()) + 1
    }

    pub fn add(&mut self, rec: &RequestRecord, good: bool) {
        let i = self.stage_of(rec.scheduled_at.as_secs_f64());
        self.builders[i].add(rec);
        self.good[i] += u64::from(good);
        let (from, to) = (rec.sent_at.as_secs_f64(), rec.ended_at.as_secs_f64());
        self.last_end_s = self.last_end_s.max(to);
        for (w, busy) in self.windows.iter().zip(self.busy_s.iter_mut()) {
            *busy += (to.min(w.end_s) - from.max(w.start_s)).max(0.0);
        }
    }

    /// The section: each stage's figures, and with `per_stage` the
    /// objectives judged in each. `run_s` is the measured phase's length;
    /// with `keep_state` each stage keeps its mergeable state (a shard's).
    pub fn finish(
        mut self,
        slos: &[Slo],
        per_stage: bool,
        judge_goodput: bool,
        run_s: f64,
        keep_state: bool,
    ) -> StagesSection {
        if let Profile::RampUp { over_s: None, .. } = self.profile {
            if let Some(w) = self.windows.first_mut() {
                w.end_s = run_s.max(self.last_end_s.min(run_s.max(0.0)));
            }
        }
        let stages = self
            .windows
            .into_iter()
            .zip(self.builders)
            .zip(self.good.into_iter().zip(self.busy_s))
            .map(|((window, builder), (good, busy_s))| StageAcc {
                window,
                builder,
                good,
                busy_s,
                repeats: self.repeats,
            })
            .collect();
        figures(self.profile, stages, slos, per_stage, judge_goodput, keep_state)
    }
}

/// One stage's accumulated figures before judging: what the collector
/// gathered, or the shards' stages merged.
#[derive(Debug)]
pub struct StageAcc {
    pub window: StageWindow,
    pub builder: SummaryBuilder,
    /// Requests within the objectives' bounds.
    pub good: u64,
    /// Request-seconds in flight during the stage.
    pub busy_s: f64,
    /// Measurements of the stage pooled one after the other (`--repeats`;
    /// 1 otherwise, and for shards, which run side by side).
    pub repeats: u32,
}

/// The section from each stage's accumulated figures: the figures, the
/// objectives per stage with `per_stage`, the first failing stage of each;
/// with `keep_state` each stage's mergeable state.
pub fn figures(
    profile: Profile,
    stages: Vec<StageAcc>,
    slos: &[Slo],
    per_stage: bool,
    judge_goodput: bool,
    keep_state: bool,
) -> StagesSection {
    let mut first_failures: Vec<FirstFailure> = Vec::new();
    let stages = stages
        .into_iter()
        .enumerate()
        .map(|(i, acc)| {
            let w = acc.window;
            let mut s = acc.builder.finish();
            // The stage's time: its window, once per pooled repeat.
            let d = (w.end_s - w.start_s) * f64::from(acc.repeats.max(1));
            per_second(&mut s, d);
            let goodput = judge_goodput.then(|| Goodput::of(acc.good, s.requests_total, d));
            let results = if per_stage && s.requests_total > 0 {
                crate::slo::evaluate(slos, &s, goodput)
            } else {
                Vec::new()
            };
            for r in results.iter().filter(|r| !r.passed) {
                if !first_failures.iter().any(|f| f.objective == r.slo.expr) {
                    first_failures.push(FirstFailure {
                        objective: r.slo.expr.clone(),
                        stage: i + 1,
                        measured: r.measured_text(),
                    });
                }
            }
            StageFigures {
                stage: i + 1,
                start_s: w.start_s,
                end_s: w.end_s,
                from: w.from,
                to: w.to,
                requests: s.requests_total,
                successful: s.successful,
                success_rate: s.success_rate,
                ttft_p50_ms: s.ttft_ms.as_ref().map(|l| l.p50),
                ttft_p99_ms: s.ttft_ms.as_ref().map(|l| l.p99),
                itl_p50_ms: s.itl_ms.as_ref().map(|l| l.p50),
                itl_p99_ms: s.itl_ms.as_ref().map(|l| l.p99),
                request_throughput: s.request_throughput,
                output_throughput: s.output_throughput,
                mean_in_flight: if d > 0.0 { acc.busy_s / d } else { 0.0 },
                slos: results,
                state: keep_state.then(|| StageState {
                    summary: acc.builder.state(),
                    good_requests: acc.good,
                    busy_s: acc.busy_s,
                }),
            }
        })
        .collect();
    StagesSection {
        profile,
        stages,
        rate_changes: Vec::new(),
        first_failures,
    }
}

/// A stage's rates are per second of the stage, not of its requests' span.
fn per_second(s: &mut Summary, d: f64) {
    let rate = |n: u64| if d > 0.0 { n as f64 / d } else { 0.0 };
    s.duration_s = d.max(0.0);
    s.request_throughput = rate(s.successful);
    s.output_throughput = rate(s.total_output_tokens);
    s.input_throughput = rate(s.total_input_tokens);
    s.total_token_throughput = rate(s.total_input_tokens + s.total_output_tokens);
}

/// The run document's section from the collector's split: figures per
/// stage, the objectives per stage when the plan asks, and the whole rates
/// a changing rate reached (an unsharded run's: a shard sends only part of
/// the arrivals).
pub fn section(
    split: StageSplit,
    plan: &crate::plan::RunPlan,
    summary: &Summary,
    judge_goodput: bool,
) -> StagesSection {
    let mut s = split.finish(
        &plan.slos,
        plan.slo_per_stage,
        judge_goodput,
        summary.duration_s,
        plan.shard.is_some(),
    );
    if let (crate::schedule::ScheduleSpec::Open { arrival, .. }, None) = (plan.schedule, plan.shard) {
        s.rate_changes = s
            .profile
            .rate_changes(arrival, plan.seed, plan.stop.requests, summary.requests_total);
    }
    s
}
