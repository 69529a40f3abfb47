//! How sure a sweep's answer is, and where adding load stops paying.
//!
//! Each level carries its figures' intervals ([`attach`]): over its
//! repeats (`--repeats N`: throughput, latency means and every objective's
//! measured figure), else the bootstrap over its requests (latency means).
//! Once the search is over, [`assess`] adds to the verdict the interval of
//! the deciding figure (request throughput) at the maximum stable level, a
//! warning for every pair of adjacent levels whose throughput intervals
//! overlap (noise cannot tell them apart), and the "best efficiency"
//! level: the knee of the throughput curve by the offline Kneedle rule
//! ([`crate::stats::confidence::knee`]), among the levels up to the
//! maximum stable one.

use crate::doc::fmt_rate;
use crate::doc::run::Repeat;
use crate::doc::sweep::{Knee, Level, Verdict, VerdictConfidence};
use crate::slo::SloResult;
use crate::stats::confidence::{t_interval, Confidence, Method};

/// The figure that decides a level's place on the throughput curve.
pub const DECIDING: &str = "request_throughput";

/// The rule of [`Knee`], as printed and saved.
pub const KNEE_RULE: &str = "Kneedle (Satopää et al., 2011; sensitivity 1): request throughput against load, \
     both scaled to 0..1; the knee is the level farthest above the straight line from the first level to \
     the last, once a later level falls back below it by the mean load step";

/// Gives the level its confidence: `confidence` from the repeats or the
/// bootstrap, plus (over repeats) each objective's measured figure under
/// the name `slo: EXPR`.
pub fn attach(level: &mut Level, confidence: Option<Confidence>, repeats: Vec<Repeat>, slos: &[Vec<SloResult>]) {
    let mut confidence = confidence;
    if let Some(c) = confidence.as_mut().filter(|c| c.method == Method::TOverRepeats) {
        for (i, first) in slos.first().map(Vec::as_slice).unwrap_or_default().iter().enumerate() {
            let values: Option<Vec<f64>> = slos.iter().map(|each| each.get(i).and_then(|r| r.measured)).collect();
            if let Some(interval) = values.as_deref().and_then(t_interval) {
                c.metrics.insert(format!("slo: {}", first.slo), interval);
            }
        }
    }
    level.confidence = confidence;
    level.repeats = repeats;
}

/// The x of a level: its concurrency, or its rate on a rate sweep.
fn load_of(l: &Level, rates: bool) -> Option<f64> {
    if rates {
        l.rate
    } else {
        l.concurrency.map(|c| c as f64)
    }
}

fn label(x: f64, rates: bool) -> String {
    if rates {
        fmt_rate(x)
    } else {
        format!("{x:.0}")
    }
}

/// The levels by load, one per load (a level measured again counts once:
/// its last measurement, the one the search decided on).
fn curve(levels: &[Level], rates: bool) -> Vec<(f64, &Level)> {
    let mut by: Vec<(f64, &Level)> = Vec::new();
    for l in levels {
        let Some(x) = load_of(l, rates) else { continue };
        match by.iter_mut().find(|(bx, _)| *bx == x) {
            Some(slot) => slot.1 = l,
            None => by.push((x, l)),
        }
    }
    by.sort_by(|a, b| a.0.total_cmp(&b.0));
    by
}

/// Adds how sure the verdict is and the best-efficiency level. `rates`:
/// the levels differ by rate; `ladder`: a ladder (the knee needs one).
pub fn assess(v: &mut Verdict, levels: &[Level], rates: bool, ladder: bool) {
    let curve = curve(levels, rates);
    let stable = if rates {
        v.max_stable_rate.or(v.max_rate_under_slo)
    } else {
        v.max_stable_concurrency.or(v.required_concurrency).map(|c| c as f64)
    };
    let at = stable.and_then(|x| curve.iter().find(|(cx, _)| *cx == x).map(|(_, l)| *l));
    let unit = "req/s";
    let mut warnings = Vec::new();
    for pair in curve.windows(2) {
        let ((xa, a), (xb, b)) = (pair[0], pair[1]);
        if let (Some(ia), Some(ib)) = (a.interval(DECIDING), b.interval(DECIDING)) {
            if ia.overlaps(ib) {
                warnings.push(format!(
                    "levels {} and {} are within noise of each other on throughput (95 % CI {:.2}–{:.2} vs {:.2}–{:.2} {unit})",
                    label(xa, rates),
                    label(xb, rates),
                    ia.low,
                    ia.high,
                    ib.low,
                    ib.high
                ));
            }
        }
    }
    let interval = at.and_then(|l| l.interval(DECIDING)).copied();
    let method = match at.and_then(|l| l.confidence.as_ref()) {
        Some(c) if interval.is_some() => c.method_text(),
        _ => "no interval: one measurement per level gives throughput no interval (use --repeats N)".into(),
    };
    v.confidence = Some(VerdictConfidence {
        metric: DECIDING.into(),
        interval,
        method,
        warnings,
    });
    if ladder {
        v.best_efficiency = Some(best_efficiency(&curve, stable, rates));
    }
}

/// The knee among the levels up to the maximum stable one.
fn best_efficiency(curve: &[(f64, &Level)], stable: Option<f64>, rates: bool) -> Knee {
    let x: Vec<f64> = curve.iter().map(|(x, _)| *x).collect();
    let y: Vec<f64> = curve.iter().map(|(_, l)| l.request_throughput).collect();
    let mut k = Knee {
        rule: KNEE_RULE.into(),
        ..Default::default()
    };
    let what = if rates { "rate" } else { "concurrency" };
    match crate::stats::confidence::knee(&x, &y) {
        Some(i) if stable.is_some_and(|s| x[i] <= s) => {
            let l = curve[i].1;
            k.concurrency = if rates { l.concurrency } else { Some(x[i] as usize) };
            k.rate = rates.then_some(x[i]);
            k.request_throughput = Some(l.request_throughput);
            k.detail = format!(
                "{what} {}{}: {:.2} req/s; more load than this buys little more throughput",
                label(x[i], rates),
                if rates { " req/s" } else { "" },
                l.request_throughput
            );
        }
        Some(i) => {
            k.detail = format!(
                "the knee ({what} {}) lies past the maximum stable level: none recommended",
                label(x[i], rates)
            );
        }
        None if x.len() < 3 => k.detail = "none: the knee needs at least three levels".into(),
        None => {
            k.detail = "none: throughput grew about in proportion to load over the levels measured".into();
        }
    }
    k
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::confidence::Interval;

    fn level(c: usize, rps: f64, half: Option<f64>) -> Level {
        let mut l: Level = serde_json::from_value(serde_json::json!({
            "concurrency": c, "rate": null, "achieved_rate": null, "requests": 10,
            "success_rate": 1.0, "request_throughput": rps, "output_throughput": 0.0,
            "efficiency": 0.0, "goodput": null, "trip": null, "summary": crate::stats::Summary::default(),
        }))
        .unwrap();
        l.confidence = half.map(|h| Confidence {
            method: Method::TOverRepeats,
            level: 0.95,
            repeats: 2,
            resamples: None,
            samples: None,
            metrics: [(
                DECIDING.to_string(),
                Interval {
                    mean: rps,
                    low: rps - h,
                    high: rps + h,
                },
            )]
            .into(),
        });
        l
    }

    #[test]
    fn the_verdict_states_its_interval_the_overlaps_and_the_knee() {
        let levels: Vec<Level> = [1, 2, 4, 8, 16, 32]
            .iter()
            .map(|&c| level(c, (c.min(8) as f64) * 10.0 + if c > 8 { 0.5 } else { 0.0 }, Some(1.0)))
            .collect();
        let mut v = Verdict {
            max_stable_concurrency: Some(16),
            ..Default::default()
        };
        assess(&mut v, &levels, false, true);
        let c = v.confidence.unwrap();
        assert_eq!(c.interval.unwrap().mean, 80.5);
        assert!(c.method.contains("Student-t over 2 repeats"), "{}", c.method);
        // 8 → 80, 16 → 80.5, 32 → 80.5: the last two pairs overlap.
        assert_eq!(c.warnings.len(), 2, "{:?}", c.warnings);
        assert!(c.warnings[0].starts_with("levels 8 and 16 are within noise of each other on throughput"));
        let k = v.best_efficiency.unwrap();
        assert_eq!(k.concurrency, Some(8), "{k:?}");
        assert!(k.rule.starts_with("Kneedle"));
    }

    #[test]
    fn without_intervals_the_verdict_says_so_and_a_straight_curve_has_no_knee() {
        let levels: Vec<Level> = [1, 2, 3, 4].iter().map(|&c| level(c, c as f64 * 5.0, None)).collect();
        let mut v = Verdict {
            max_stable_concurrency: Some(4),
            ..Default::default()
        };
        assess(&mut v, &levels, false, true);
        let c = v.confidence.unwrap();
        assert!(c.interval.is_none() && c.warnings.is_empty());
        assert!(c.method.contains("--repeats"), "{}", c.method);
        let k = v.best_efficiency.unwrap();
        assert_eq!(k.concurrency, None);
        assert!(k.detail.contains("in proportion to load"), "{}", k.detail);
    }

    #[test]
    fn a_knee_past_the_stable_level_is_not_recommended() {
        let levels: Vec<Level> = [1, 2, 4, 8, 16]
            .iter()
            .map(|&c| level(c, c.min(4) as f64, None))
            .collect();
        let mut v = Verdict {
            max_stable_concurrency: Some(2),
            ..Default::default()
        };
        assess(&mut v, &levels, false, true);
        let k = v.best_efficiency.unwrap();
        assert_eq!(k.concurrency, None);
        assert!(k.detail.contains("past the maximum stable level"), "{}", k.detail);
    }

    #[test]
    fn each_objectives_figure_gets_its_interval_over_repeats() {
        let slo = crate::slo::parse_all(&["ttft_p99<500ms".to_string()]).unwrap();
        let each: Vec<Vec<SloResult>> = [100.0, 110.0, 120.0]
            .iter()
            .map(|&m| {
                vec![SloResult {
                    slo: slo[0].clone(),
                    measured: Some(m),
                    passed: true,
                }]
            })
            .collect();
        let mut l = level(4, 10.0, Some(1.0));
        let c = l.confidence.clone();
        attach(&mut l, c, Vec::new(), &each);
        let i = l.interval("slo: ttft_p99<500ms").unwrap();
        assert!(i.low < 110.0 && 110.0 < i.high, "{i:?}");
    }
}
