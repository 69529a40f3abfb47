//! The sweep's searches — the ladder, `--find-concurrency` and
//! `--max-rate-under-slo` — written against [`MeasureLevel`], one measured
//! and judged load level, so they are tested with a fake server model in
//! milliseconds and the real sweep only supplies the measuring.
//!
//! Each search decides which level to measure next from the judged levels
//! so far and ends with a [`Verdict`] whose reason states what was found
//! and why the search stopped.

use std::future::Future;

use crate::doc::fmt_rate;
use crate::doc::sweep::{Level as LevelResult, Trip, Verdict};

/// The share of the target rate a level must achieve to count as sustained.
pub const RATE_ATTAINMENT: f64 = 0.95;

/// One level's load.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Load {
    Concurrency(usize),
    Rate { rate: f64, cap: Option<usize> },
}

impl Load {
    pub fn label(&self) -> String {
        match self {
            Load::Concurrency(c) => format!("concurrency {c}"),
            Load::Rate { rate, cap: None } => format!("rate {} req/s", fmt_rate(*rate)),
            Load::Rate { rate, cap: Some(c) } => format!("rate {} req/s, cap {c}", fmt_rate(*rate)),
        }
    }
}

/// Measures one level and judges it against the objectives and stop rules
/// (its `trip` says which rule it failed, if any).
pub trait MeasureLevel {
    /// `previous_throughput`: the last passing concurrency level's request
    /// throughput, for the gain rule.
    fn measure(
        &mut self,
        load: Load,
        previous_throughput: Option<f64>,
    ) -> impl Future<Output = anyhow::Result<LevelResult>>;

    /// True once the user interrupted the sweep.
    fn interrupted(&self) -> bool;

    /// True when `r` tripped the throughput-gain rule within noise of its
    /// threshold (see `rules::GAIN_NOISE`) against `previous_throughput`.
    fn gain_marginal(&self, r: &LevelResult, previous_throughput: Option<f64>) -> bool;
}

/// True when `r` stopped on the throughput-gain rule.
fn gain_trip(r: &LevelResult) -> bool {
    r.trip.as_ref().is_some_and(|t| t.rule == "throughput_gain")
}

/// A rate level passes when it trips no rule (objectives, success rate,
/// mean TTFT, `--stop-when`) and achieves 95 % of its target.
pub fn reaches(r: &LevelResult, rate: f64) -> bool {
    let due = super::judge::due_rate(rate, r.offered_rate);
    r.trip.is_none() && r.achieved_rate.is_some_and(|a| a >= RATE_ATTAINMENT * due)
}

/// Runs levels in order until one trips a rule; the last level before it
/// is the maximum stable load and `headroom` of it the recommendation.
pub async fn ladder(m: &mut impl MeasureLevel, loads: &[Load], headroom: f64) -> anyhow::Result<Verdict> {
    let mut previous: Option<f64> = None;
    let mut last_good: Option<(Load, LevelResult)> = None;
    for &load in loads {
        let mut r = m.measure(load, previous).await?;
        // A gain trip within noise of its threshold is a knife edge: one
        // measurement cannot tell a saturated server from a noisy one, so
        // the level is measured again and stops the sweep only when the
        // second measurement trips too.
        if !m.interrupted() && gain_trip(&r) && m.gain_marginal(&r, previous) {
            let again = m.measure(load, previous).await?;
            r = match (&r.trip, &again.trip) {
                (Some(first), Some(second)) if gain_trip(&again) => {
                    let mut confirmed = again.clone();
                    confirmed.trip = Some(Trip::new(
                        "throughput_gain",
                        format!(
                            "{} (confirmed by measuring the level again: {})",
                            first.detail, second.detail
                        ),
                    ));
                    confirmed
                }
                _ => again,
            };
        }
        if m.interrupted() {
            let mut v = ladder_verdict(headroom, last_good.clone(), None);
            // The limit was not looked for above the interrupted level: say
            // what passed, never that every level did.
            v.reason = match &last_good {
                Some((g, _)) => format!(
                    "The sweep was interrupted during {}; the last level that passed every rule was {}. The limit was not found: run the sweep again to find it.",
                    load.label(),
                    g.label()
                ),
                None => format!(
                    "The sweep was interrupted during {}, before any level passed.",
                    load.label()
                ),
            };
            return Ok(v);
        }
        if let Some(trip) = r.trip.clone() {
            return Ok(ladder_verdict(headroom, last_good, Some((load, trip))));
        }
        // The gain rule compares concurrency levels; a rate level is
        // judged against its own target instead.
        if matches!(load, Load::Concurrency(_)) {
            previous = Some(r.request_throughput);
        }
        last_good = Some((load, r));
    }
    Ok(ladder_verdict(headroom, last_good, None))
}

fn ladder_verdict(headroom: f64, good: Option<(Load, LevelResult)>, tripped: Option<(Load, Trip)>) -> Verdict {
    let mut v = Verdict::default();
    if let Some((load, r)) = &good {
        v.request_throughput = Some(r.request_throughput);
        v.output_throughput = Some(r.output_throughput);
        match *load {
            Load::Concurrency(c) => {
                v.max_stable_concurrency = Some(c);
                v.recommended_concurrency = Some(((c as f64 * headroom).floor() as usize).max(1));
            }
            Load::Rate { rate, .. } => {
                v.max_stable_rate = Some(rate);
                v.recommended_rate = Some(rate * headroom);
            }
        }
    }
    let good_label = good.as_ref().map(|(l, _)| l.label());
    v.reason = match (&tripped, good_label) {
        (Some((load, trip)), Some(g)) => format!(
            "Stopped at {}: {}. The last level that passed every rule was {g}.",
            load.label(),
            trip.detail
        ),
        (Some((load, trip)), None) => format!(
            "The first level, {}, already failed: {}. Try lower levels.",
            load.label(),
            trip.detail
        ),
        (None, Some(g)) => format!(
            "Every level passed; the limit lies above the highest level tried ({g}). Extend the ladder to find it."
        ),
        (None, None) => "No level was measured.".into(),
    };
    if let Some((load, trip)) = tripped {
        v.stopped_at = Some(load.label());
        v.stopped_by = Some(trip);
    }
    v
}

/// The smallest concurrency cap that reaches 95 % of `rate`: doubling
/// from 1, then bisection, in at most `max_runs` levels.
pub async fn find_concurrency(
    m: &mut impl MeasureLevel,
    rate: f64,
    max: usize,
    max_runs: u32,
) -> anyhow::Result<Verdict> {
    let mut runs = 0u32;
    let mut fail: usize = 0;
    let mut pass: Option<(usize, LevelResult)> = None;
    let mut c = 1usize;
    while pass.is_none() && runs < max_runs && !m.interrupted() {
        let r = m.measure(Load::Rate { rate, cap: Some(c) }, None).await?;
        runs += 1;
        if reaches(&r, rate) {
            pass = Some((c, r));
        } else {
            fail = c;
            if c >= max {
                break;
            }
            c = (c * 2).min(max);
        }
    }
    while let Some((p, _)) = &pass {
        let p = *p;
        if p - fail <= 1 || runs >= max_runs || m.interrupted() {
            break;
        }
        let mid = fail + (p - fail) / 2;
        let r = m.measure(Load::Rate { rate, cap: Some(mid) }, None).await?;
        runs += 1;
        if reaches(&r, rate) {
            pass = Some((mid, r));
        } else {
            fail = mid;
        }
    }
    let mut v = Verdict::default();
    match pass {
        Some((c, r)) => {
            v.required_concurrency = Some(c);
            v.request_throughput = Some(r.request_throughput);
            v.output_throughput = Some(r.output_throughput);
            v.reason = if c - fail <= 1 {
                format!(
                    "A cap of {c} reaches {:.2} of {} req/s (≥ 95%); a cap of {fail} does not.",
                    r.achieved_rate.unwrap_or_default(),
                    fmt_rate(rate)
                )
            } else {
                format!("A cap of {c} reaches the rate; the search stopped after {runs} runs (--max-runs) with {fail} failing.")
            };
        }
        None => {
            v.reason = format!(
                "No cap up to {c} reached 95% of {} req/s in {runs} runs: the server cannot sustain this rate, or the cap must be larger (--max-concurrency-search).",
                fmt_rate(rate)
            );
        }
    }
    Ok(v)
}

/// What bounds `--max-rate-under-slo`.
#[derive(Debug, Clone, Copy)]
pub struct RateSearch {
    pub start: f64,
    pub cap: Option<usize>,
    /// Stop when the bracket is within this fraction of its low end.
    pub precision: f64,
    pub max_runs: u32,
    pub headroom: f64,
}

/// The highest rate meeting every objective: doubling from `start` until
/// a rate fails (halving while the first ones fail), then bisection to
/// the precision.
pub async fn max_rate(m: &mut impl MeasureLevel, s: RateSearch) -> anyhow::Result<Verdict> {
    let RateSearch {
        start,
        cap,
        precision,
        max_runs,
        headroom,
    } = s;
    let mut runs = 0u32;
    let mut lo: Option<(f64, LevelResult)> = None;
    let mut hi: Option<(f64, LevelResult)> = None;
    let mut rate = start;
    // Bracket: double while passing; halve while failing before any pass.
    while runs < max_runs && !m.interrupted() {
        let r = m.measure(Load::Rate { rate, cap }, None).await?;
        runs += 1;
        if reaches(&r, rate) {
            lo = Some((rate, r));
            if hi.is_some() {
                break;
            }
            rate *= 2.0;
        } else {
            hi = Some((rate, r));
            if lo.is_some() {
                break;
            }
            rate /= 2.0;
        }
    }
    // Bisect until the bracket is within the precision.
    while let (Some((l, _)), Some((h, _))) = (&lo, &hi) {
        let (l, h) = (*l, *h);
        if (h - l) / l <= precision || runs >= max_runs || m.interrupted() {
            break;
        }
        let mid = (l + h) / 2.0;
        let r = m.measure(Load::Rate { rate: mid, cap }, None).await?;
        runs += 1;
        if reaches(&r, mid) {
            lo = Some((mid, r));
        } else {
            hi = Some((mid, r));
        }
    }
    let mut v = Verdict::default();
    match (&lo, &hi) {
        (Some((l, r)), Some((h, fail))) => {
            v.max_rate_under_slo = Some(*l);
            v.max_stable_rate = Some(*l);
            v.recommended_rate = Some(l * headroom);
            v.request_throughput = Some(r.request_throughput);
            v.output_throughput = Some(r.output_throughput);
            let within = (h - l) / l <= precision;
            v.reason = format!(
                "{} req/s meets every objective and {} req/s does not ({}){}.",
                fmt_rate(*l),
                fmt_rate(*h),
                why_failed(fail, *h),
                if within {
                    format!("; the limit is known to ±{:.0}%", precision * 100.0)
                } else {
                    format!("; the search stopped after {runs} runs (--max-runs) before reaching the precision")
                }
            );
        }
        (Some((l, r)), None) => {
            v.max_stable_rate = Some(*l);
            v.request_throughput = Some(r.request_throughput);
            v.reason = if m.interrupted() {
                format!(
                    "The sweep was interrupted after {runs} runs; {} req/s met the objectives and the limit was not found.",
                    fmt_rate(*l)
                )
            } else {
                format!(
                    "Every rate up to {} req/s met the objectives in {runs} runs; raise --max-runs or the starting --rate.",
                    fmt_rate(*l)
                )
            };
        }
        (None, Some((h, fail))) => {
            v.reason = format!(
                "No rate down to {} req/s met the objectives ({}).",
                fmt_rate(*h),
                why_failed(fail, *h)
            );
        }
        (None, None) => v.reason = "No level was measured.".into(),
    }
    Ok(v)
}

fn why_failed(r: &LevelResult, rate: f64) -> String {
    match &r.trip {
        Some(t) => t.detail.clone(),
        None => format!(
            "achieved {:.2} req/s of {}",
            r.achieved_rate.unwrap_or_default(),
            fmt_rate(rate)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server model: it sustains `max_concurrency` streams and
    /// `max_rate` requests per second, each stream serving `per_stream`
    /// req/s; beyond that a concurrency level fails its objectives and a
    /// rate level falls short of its target.
    struct Fake {
        max_concurrency: usize,
        max_rate: f64,
        per_stream: f64,
        /// Interrupted after this many levels.
        interrupt_after: Option<usize>,
        measured: Vec<Load>,
        /// Streams served at once: throughput is flat beyond them.
        slots: usize,
        /// The gain rule (`--min-gain`), off by default.
        min_gain: Option<f64>,
        /// Measurement noise: each concurrency level's throughput is
        /// multiplied by the next factor (1 once they run out).
        noise: std::collections::VecDeque<f64>,
    }

    impl Fake {
        fn new(max_concurrency: usize, max_rate: f64) -> Self {
            Self {
                max_concurrency,
                max_rate,
                per_stream: 10.0,
                interrupt_after: None,
                measured: Vec::new(),
                slots: usize::MAX,
                min_gain: None,
                noise: Default::default(),
            }
        }
    }

    fn level(throughput: f64, achieved: Option<f64>, trip: Option<Trip>) -> LevelResult {
        LevelResult {
            concurrency: None,
            rate: None,
            achieved_rate: achieved,
            offered_rate: None,
            requests: 100,
            success_rate: 1.0,
            request_throughput: throughput,
            output_throughput: throughput * 100.0,
            efficiency: 1.0,
            goodput: None,
            slos: Vec::new(),
            trip,
            summary: Default::default(),
            monitor: None,
            trust: None,
            connections: None,
            sessions: None,
            confidence: None,
            repeats: Vec::new(),
        }
    }

    impl MeasureLevel for Fake {
        async fn measure(&mut self, load: Load, previous: Option<f64>) -> anyhow::Result<LevelResult> {
            self.measured.push(load);
            Ok(match load {
                Load::Concurrency(c) => {
                    let factor = self.noise.pop_front().unwrap_or(1.0);
                    let throughput = c.min(self.max_concurrency).min(self.slots) as f64 * self.per_stream * factor;
                    let gain = |min: f64, prev: f64| {
                        let g = throughput / prev - 1.0;
                        (g < min).then(|| Trip::new("throughput_gain", format!("throughput grew {:+.1}%", g * 100.0)))
                    };
                    let trip = (c > self.max_concurrency)
                        .then(|| Trip::new("slo", format!("p99 TTFT over at {c}")))
                        .or_else(|| self.min_gain.zip(previous).and_then(|(min, prev)| gain(min, prev)));
                    level(throughput, None, trip)
                }
                Load::Rate { rate, cap } => {
                    let by_cap = cap.map_or(f64::INFINITY, |c| c as f64 * self.per_stream);
                    let achieved = rate.min(self.max_rate).min(by_cap);
                    let trip = (rate > self.max_rate).then(|| Trip::new("slo", format!("p99 TTFT over at {rate}")));
                    level(achieved, Some(achieved), trip)
                }
            })
        }

        fn interrupted(&self) -> bool {
            self.interrupt_after.is_some_and(|n| self.measured.len() >= n)
        }

        fn gain_marginal(&self, r: &LevelResult, previous: Option<f64>) -> bool {
            let rules = super::super::rules::StopRules {
                min_success_rate: None,
                max_mean_ttft_ms: None,
                min_gain: self.min_gain,
                stop_when: Vec::new(),
                slos_stop: false,
                max_gpu_memory: None,
                max_kv_cache: None,
            };
            previous.is_some_and(|p| rules.gain_is_marginal(p, r.request_throughput))
        }
    }

    fn run<T>(f: impl Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
            .block_on(f)
    }

    fn conc(levels: &[usize]) -> Vec<Load> {
        levels.iter().map(|&c| Load::Concurrency(c)).collect()
    }

    #[test]
    fn the_ladder_stops_at_the_first_failing_level() {
        let mut fake = Fake::new(12, 100.0);
        let v = run(ladder(&mut fake, &conc(&[1, 2, 4, 8, 16, 32]), 0.8)).unwrap();
        assert_eq!(fake.measured, conc(&[1, 2, 4, 8, 16]), "no level after the failing one");
        assert_eq!(v.max_stable_concurrency, Some(8));
        assert_eq!(v.recommended_concurrency, Some(6));
        assert_eq!(v.request_throughput, Some(80.0));
        assert_eq!(v.stopped_at.as_deref(), Some("concurrency 16"));
        assert_eq!(v.stopped_by.as_ref().map(|t| t.rule.as_str()), Some("slo"));
        assert!(
            v.reason.contains("last level that passed every rule was concurrency 8"),
            "{}",
            v.reason
        );
    }

    #[test]
    fn a_ladder_that_never_fails_says_the_limit_is_above_it() {
        let mut fake = Fake::new(1000, 100.0);
        let v = run(ladder(&mut fake, &conc(&[1, 2]), 0.8)).unwrap();
        assert_eq!(v.max_stable_concurrency, Some(2));
        assert!(v.stopped_by.is_none());
        assert!(v.reason.contains("limit lies above"), "{}", v.reason);
    }

    #[test]
    fn a_ladder_failing_at_once_recommends_nothing() {
        let mut fake = Fake::new(0, 100.0);
        let v = run(ladder(&mut fake, &conc(&[1, 2]), 0.8)).unwrap();
        assert_eq!(fake.measured.len(), 1);
        assert_eq!(v.max_stable_concurrency, None);
        assert_eq!(v.recommended_concurrency, None);
        assert!(v.reason.contains("Try lower levels"), "{}", v.reason);
    }

    #[test]
    fn an_interrupted_ladder_stops_and_says_so() {
        let mut fake = Fake::new(1000, 100.0);
        fake.interrupt_after = Some(2);
        let v = run(ladder(&mut fake, &conc(&[1, 2, 4, 8]), 0.8)).unwrap();
        assert_eq!(fake.measured.len(), 2);
        assert_eq!(
            v.max_stable_concurrency,
            Some(1),
            "the interrupted level is not trusted"
        );
        assert!(
            v.reason.starts_with("The sweep was interrupted during concurrency 2"),
            "{}",
            v.reason
        );
        assert!(!v.reason.contains("Every level passed"), "{}", v.reason);
        assert!(!v.reason.contains("Extend the ladder"), "{}", v.reason);
        assert!(
            v.reason.contains("last level that passed every rule was concurrency 1"),
            "{}",
            v.reason
        );
    }

    /// 64 slots at 10 req/s each: throughput doubles up to 64, flat after.
    fn sixty_four_slots(noise: &[f64]) -> Fake {
        // No objective fails: only the gain rule can stop the ladder.
        let mut fake = Fake::new(usize::MAX, 1e9);
        fake.slots = 64;
        fake.min_gain = Some(0.2);
        fake.noise = noise.iter().copied().collect();
        fake
    }

    #[test]
    fn a_knife_edge_gain_trip_is_measured_again_before_it_stops_the_ladder() {
        // 16 → 160, 32 → 320, then 64 measures +19.9% by noise (a real +100%);
        // measured again it passes, and 128 (no gain at all) stops at once.
        let mut fake = sixty_four_slots(&[1.0, 1.0, 1.199 / 2.0]);
        let v = run(ladder(&mut fake, &conc(&[16, 32, 64, 128]), 0.75)).unwrap();
        assert_eq!(fake.measured, conc(&[16, 32, 64, 64, 128]));
        assert_eq!(v.max_stable_concurrency, Some(64), "{}", v.reason);
        assert_eq!(v.stopped_at.as_deref(), Some("concurrency 128"));
        assert!(
            !v.reason.contains("confirmed"),
            "a clear trip is not re-measured: {}",
            v.reason
        );
    }

    #[test]
    fn a_knife_edge_gain_trip_seen_twice_stops_the_ladder() {
        let edge = 1.199 / 2.0;
        let mut fake = sixty_four_slots(&[1.0, 1.0, edge, edge]);
        let v = run(ladder(&mut fake, &conc(&[16, 32, 64, 128]), 0.75)).unwrap();
        assert_eq!(fake.measured, conc(&[16, 32, 64, 64]));
        assert_eq!(v.max_stable_concurrency, Some(32));
        assert!(
            v.reason.contains("confirmed by measuring the level again"),
            "{}",
            v.reason
        );
    }

    #[test]
    fn find_concurrency_doubles_then_bisects_to_the_smallest_cap() {
        // 10 req/s per stream: 95 % of 55 req/s needs 6 streams (5.225 → 6).
        let mut fake = Fake::new(1000, 1000.0);
        let v = run(find_concurrency(&mut fake, 55.0, 64, 20)).unwrap();
        let caps: Vec<usize> = fake
            .measured
            .iter()
            .map(|l| match l {
                Load::Rate { cap: Some(c), .. } => *c,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(caps, vec![1, 2, 4, 8, 6, 5]);
        assert_eq!(v.required_concurrency, Some(6));
        assert!(v.reason.contains("a cap of 5 does not"), "{}", v.reason);
    }

    #[test]
    fn find_concurrency_respects_max_runs_and_the_largest_cap() {
        let mut fake = Fake::new(1000, 1000.0);
        let v = run(find_concurrency(&mut fake, 55.0, 64, 4)).unwrap();
        assert_eq!(fake.measured.len(), 4);
        assert_eq!(v.required_concurrency, Some(8));
        assert!(v.reason.contains("--max-runs"), "{}", v.reason);

        let mut fake = Fake::new(1000, 30.0); // can never reach 55 req/s
        let v = run(find_concurrency(&mut fake, 55.0, 16, 20)).unwrap();
        assert_eq!(fake.measured.len(), 5, "1, 2, 4, 8, 16 and no further");
        assert_eq!(v.required_concurrency, None);
        assert!(v.reason.contains("No cap up to 16"), "{}", v.reason);
    }

    #[test]
    fn max_rate_brackets_then_bisects_to_the_precision() {
        let mut fake = Fake::new(1000, 37.0);
        let search = RateSearch {
            start: 10.0,
            cap: None,
            precision: 0.05,
            max_runs: 20,
            headroom: 0.8,
        };
        let v = run(max_rate(&mut fake, search)).unwrap();
        let best = v.max_rate_under_slo.expect("a rate under the objectives");
        assert!((37.0 / 1.05..=37.0).contains(&best), "{best}");
        assert_eq!(v.recommended_rate, Some(best * 0.8));
        assert!(v.reason.contains("known to ±5%"), "{}", v.reason);
        // 10, 20, 40 bracket it; then bisection.
        assert!(
            matches!(fake.measured[..3], [Load::Rate { rate: a, .. }, Load::Rate { rate: b, .. }, Load::Rate { rate: c, .. }] if a == 10.0 && b == 20.0 && c == 40.0)
        );
    }

    #[test]
    fn max_rate_halves_when_the_start_fails_and_reports_an_unbounded_search() {
        let mut fake = Fake::new(1000, 3.0);
        let search = RateSearch {
            start: 10.0,
            cap: None,
            precision: 0.5,
            max_runs: 20,
            headroom: 0.8,
        };
        let v = run(max_rate(&mut fake, search)).unwrap();
        assert!(matches!(fake.measured[1], Load::Rate { rate, .. } if rate == 5.0));
        assert!(v.max_rate_under_slo.is_some_and(|r| r <= 3.0));

        let mut fake = Fake::new(1000, 1e9);
        let v = run(max_rate(&mut fake, RateSearch { max_runs: 3, ..search })).unwrap();
        assert_eq!(v.max_rate_under_slo, None);
        assert_eq!(v.max_stable_rate, Some(40.0));
        assert!(v.reason.contains("raise --max-runs"), "{}", v.reason);

        let mut fake = Fake::new(1000, 0.0);
        let v = run(max_rate(&mut fake, RateSearch { max_runs: 3, ..search })).unwrap();
        assert_eq!(v.max_stable_rate, None);
        assert!(v.reason.starts_with("No rate down to 2.5 req/s"), "{}", v.reason);
    }
}
