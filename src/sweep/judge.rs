//! Judging one measured level: its objectives, the stop rules
//! ([`super::rules`]), the resource limits, and for a rate level whether the
//! server sustained the target rate.

use std::time::Duration;

use super::plan::SweepPlan;
use super::search::{Load, RATE_ATTAINMENT};
use crate::doc::fmt_rate;
use crate::doc::sweep::{Level as LevelResult, Trip};
use crate::harness::Measurement;
use crate::slo;

/// Judges a measured level against the objectives and the stop rules.
pub fn judge(plan: &SweepPlan, load: Load, m: Measurement, previous_throughput: Option<f64>) -> LevelResult {
    let summary = m.summary;
    let slos = slo::evaluate(&plan.base.slos, &summary, m.goodput);
    let (concurrency, rate, achieved) = match load {
        Load::Concurrency(c) => (Some(c), None, None),
        Load::Rate { rate, cap } => (cap, Some(rate), Some(achieved_rate(&m.records))),
    };
    let mut trip = if m.interrupted {
        Some(Trip::new("interrupted", "the sweep was interrupted".into()))
    } else {
        plan.rules.check(&summary, &slos, previous_throughput)
    };
    if trip.is_none() {
        trip = plan.rules.check_resources(m.monitor.as_ref().map(|r| &r.summary));
    }
    if trip.is_none() {
        if let (Some(target), Some(got)) = (rate, achieved) {
            if got < RATE_ATTAINMENT * target {
                trip = Some(Trip::new(
                    "target_rate",
                    format!(
                        "achieved {got:.2} req/s, {:.0}% of the {} req/s target (needs 95%)",
                        got / target * 100.0,
                        fmt_rate(target)
                    ),
                ));
            }
        }
    }
    let in_flight = concurrency
        .map(|c| c as f64)
        .unwrap_or(summary.peak_concurrency as f64)
        .max(1.0);
    LevelResult {
        concurrency,
        rate,
        achieved_rate: achieved,
        requests: summary.requests_total,
        success_rate: summary.success_rate,
        request_throughput: summary.request_throughput,
        output_throughput: summary.output_throughput,
        efficiency: summary.request_throughput / in_flight,
        goodput: m.goodput,
        slos,
        trip,
        summary,
        monitor: m.monitor.map(|r| r.summary),
        trust: Some(m.trust),
    }
}

/// The rate the server sustained: successful completions per second between
/// the first and the last one. Unlike completions over the whole run, it is
/// not dragged down by the last request's latency, and when the server falls
/// behind it measures the server's pace, not the schedule's.
pub fn achieved_rate(records: &[crate::record::RequestRecord]) -> f64 {
    let mut ends: Vec<Duration> = records
        .iter()
        .filter(|r| r.succeeded())
        .filter_map(|r| r.finished_at)
        .collect();
    if ends.len() < 2 {
        return 0.0;
    }
    ends.sort_unstable();
    let span = (ends[ends.len() - 1] - ends[0]).as_secs_f64();
    if span <= 0.0 {
        return f64::INFINITY;
    }
    (ends.len() - 1) as f64 / span
}
