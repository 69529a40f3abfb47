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
    let offered = rate.and_then(|_| offered_rate(&m.records));
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
            let due = due_rate(target, offered);
            if got < RATE_ATTAINMENT * due {
                let of = if due < target {
                    format!("the {due:.2} req/s the schedule offered (target {})", fmt_rate(target))
                } else {
                    format!("the {} req/s target", fmt_rate(target))
                };
                trip = Some(Trip::new(
                    "target_rate",
                    format!("achieved {got:.2} req/s, {:.0}% of {of} (needs 95%)", got / due * 100.0),
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
        offered_rate: offered,
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
        connections: Some(m.connections),
        sessions: m.sessions,
        confidence: None,
        repeats: Vec::new(),
    }
}

/// The rate a level must achieve: its target, or the rate its arrivals
/// were actually due at when the random schedule offered less (a Poisson
/// level of a few seconds offers its target only within ±20 %; the
/// server is judged on keeping up with what it was sent).
pub fn due_rate(target: f64, offered: Option<f64>) -> f64 {
    offered.map_or(target, |o| o.min(target))
}

/// The rate the level's arrivals were due at: the least-squares slope of
/// the count of arrivals over their intended send times.
pub fn offered_rate(records: &[crate::record::RequestRecord]) -> Option<f64> {
    slope(records.iter().map(|r| r.scheduled_at).collect())
}

/// The rate the server sustained: the least-squares slope of the count of
/// successful completions over their times, so over the window in which
/// the level's requests completed and not diluted by the start-up or the
/// drain. A slope, unlike (completions − 1) / (last − first), is not
/// inflated when completions come in batches (a continuous-batching server
/// finishing a whole batch at once), so it never exceeds the pace at which
/// the server completed requests; when the server keeps up it is the
/// arrivals' own rate, and when it falls behind it is the server's pace.
pub fn achieved_rate(records: &[crate::record::RequestRecord]) -> f64 {
    let ends: Vec<Duration> = records
        .iter()
        .filter(|r| r.succeeded())
        .filter_map(|r| r.finished_at)
        .collect();
    slope(ends).unwrap_or(0.0)
}

/// Events per second: the slope of the cumulative count over the event
/// times (`None` with fewer than two events or all at one instant).
fn slope(mut times: Vec<Duration>) -> Option<f64> {
    if times.len() < 2 {
        return None;
    }
    times.sort_unstable();
    let n = times.len() as f64;
    let t: Vec<f64> = times.iter().map(Duration::as_secs_f64).collect();
    let t_mean = t.iter().sum::<f64>() / n;
    let y_mean = (n + 1.0) / 2.0;
    let (mut cov, mut var) = (0.0, 0.0);
    for (i, ti) in t.iter().enumerate() {
        let dt = ti - t_mean;
        cov += dt * ((i + 1) as f64 - y_mean);
        var += dt * dt;
    }
    (var > 0.0).then(|| cov / var)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::RequestRecord;

    fn rec(i: u64, scheduled_ms: u64, finished_ms: u64) -> RequestRecord {
        RequestRecord {
            index: i,
            scheduled_at: Duration::from_millis(scheduled_ms),
            sent_at: Duration::from_millis(scheduled_ms),
            finished_at: Some(Duration::from_millis(finished_ms)),
            ended_at: Duration::from_millis(finished_ms),
            status: Some(200),
            ..Default::default()
        }
    }

    #[test]
    fn a_server_keeping_up_achieves_the_arrivals_rate_whatever_its_latency() {
        // 10 req/s for 3 s, each request taking 400 ms: the start-up and the
        // drain do not dilute the rate.
        let records: Vec<_> = (0..30).map(|i| rec(i, 100 * i, 100 * i + 400)).collect();
        let a = achieved_rate(&records);
        assert!((a - 10.0).abs() < 1e-6, "{a}");
        assert!((offered_rate(&records).unwrap() - 10.0).abs() < 1e-6);
    }

    #[test]
    fn batched_completions_do_not_exceed_the_servers_pace() {
        // 40 arrivals at 400 req/s into 16 slots that finish a batch every
        // 100 ms: the server completes 160 req/s at most.
        let records: Vec<_> = (0..40u64).map(|i| rec(i, (i * 5) / 2, 100 * (i / 16 + 1))).collect();
        let a = achieved_rate(&records);
        let first_to_last = 39.0 / 0.2;
        assert!(first_to_last > 160.0, "the old measure: {first_to_last}");
        assert!(a <= 160.0, "{a}");
        assert!(a > 100.0, "{a}");
    }

    #[test]
    fn a_level_is_judged_on_the_rate_it_was_offered() {
        assert_eq!(due_rate(20.0, Some(18.0)), 18.0);
        assert_eq!(due_rate(20.0, Some(25.0)), 20.0);
        assert_eq!(due_rate(20.0, None), 20.0);
        assert_eq!(achieved_rate(&[]), 0.0);
    }
}
