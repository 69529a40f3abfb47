//! The efficiency score and the judging of a comparison: each strategy's
//! means over its repeats, its change against the first strategy, and the
//! best strategy with the reason (`docs/COMPARE.md`).

use crate::doc::compare::{sessions_over_runs, stages_over_runs, SystemFigures};
use crate::export::compare_table::signed;
use crate::stats::Percentile;

pub use crate::doc::compare::{Best, StrategyResult};

/// Weights of the efficiency score with GPU figures.
pub const W_THROUGHPUT: f64 = 0.5;
pub const W_RESPONSE: f64 = 0.3;
pub const W_GPU: f64 = 0.2;

/// One strategy's inputs to the score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreInput {
    /// Work per second (images/s for image services, else req/s).
    pub throughput: f64,
    /// Mean response time (ms); `None` when nothing succeeded.
    pub response_ms: Option<f64>,
    /// Mean GPU utilisation in percent, when monitored.
    pub gpu_pct: Option<f64>,
}

/// The efficiency scores (0–1) of every strategy, and whether GPU
/// utilisation took part (only when every strategy has it).
///
/// ```text
/// throughput_score = throughput / max(throughput)
/// response_score   = min(response) / response      (0 without a response)
/// gpu_score        = gpu_pct / 100
/// score = 0.5·throughput_score + 0.3·response_score + 0.2·gpu_score
///       = 0.625·throughput_score + 0.375·response_score   (no GPU figures)
/// ```
pub fn efficiency_scores(inputs: &[ScoreInput]) -> (Vec<f64>, bool) {
    let max_tp = inputs.iter().map(|i| i.throughput).fold(0.0, f64::max);
    let min_rt = inputs
        .iter()
        .filter_map(|i| i.response_ms)
        .filter(|r| *r > 0.0)
        .fold(f64::INFINITY, f64::min);
    let with_gpu = !inputs.is_empty() && inputs.iter().all(|i| i.gpu_pct.is_some());
    let scores = inputs
        .iter()
        .map(|i| {
            let tp = if max_tp > 0.0 { i.throughput / max_tp } else { 0.0 };
            let rt = match i.response_ms {
                Some(r) if r > 0.0 && min_rt.is_finite() => min_rt / r,
                _ => 0.0,
            };
            if with_gpu {
                let gpu = (i.gpu_pct.unwrap_or(0.0) / 100.0).clamp(0.0, 1.0);
                W_THROUGHPUT * tp + W_RESPONSE * rt + W_GPU * gpu
            } else {
                (W_THROUGHPUT * tp + W_RESPONSE * rt) / (W_THROUGHPUT + W_RESPONSE)
            }
        })
        .collect();
    (scores, with_gpu)
}

fn mean(v: impl Iterator<Item = f64>) -> Option<f64> {
    let (mut s, mut n) = (0.0, 0usize);
    for x in v {
        s += x;
        n += 1;
    }
    (n > 0).then(|| s / n as f64)
}

fn pct_change(new: f64, old: f64) -> Option<f64> {
    (old > 0.0 && new.is_finite()).then(|| (new / old - 1.0) * 100.0)
}

/// Fills a strategy's means from its runs; `tail` is the TTFT percentile
/// shown beside the mean.
fn aggregate(r: &mut StrategyResult, tail: Percentile) {
    let runs = &r.runs;
    r.requests = runs.iter().map(|x| x.summary.requests_total).sum();
    r.success_rate = mean(runs.iter().map(|x| x.summary.success_rate)).unwrap_or(0.0);
    r.request_throughput = mean(runs.iter().map(|x| x.summary.request_throughput)).unwrap_or(0.0);
    r.output_throughput = mean(runs.iter().map(|x| x.summary.output_throughput)).unwrap_or(0.0);
    r.images_per_s = runs
        .iter()
        .any(|x| x.summary.images_total > 0)
        .then(|| mean(runs.iter().map(|x| x.summary.images_per_s)).unwrap_or(0.0));
    r.latency_mean_ms = mean(runs.iter().filter_map(|x| x.summary.e2e_ms.as_ref().map(|l| l.mean)));
    r.latency_p95_ms = mean(runs.iter().filter_map(|x| x.summary.e2e_ms.as_ref().map(|l| l.p95)));
    r.latency_p99_ms = mean(runs.iter().filter_map(|x| x.summary.e2e_ms.as_ref().map(|l| l.p99)));
    r.submit_mean_ms = mean(
        runs.iter()
            .filter_map(|x| x.summary.submit_latency_ms.as_ref().map(|l| l.mean)),
    );
    r.gpu_util_pct = mean(runs.iter().filter_map(|x| x.gpu_util_pct));
    r.connections = crate::doc::compare::StrategyConnections::of(runs.iter().filter_map(|x| x.connections.as_ref()));
    r.prefix_cache_hit_pct = mean(runs.iter().filter_map(|x| x.prefix_cache_hit_pct));
    r.ttft_mean_ms = mean(runs.iter().filter_map(|x| x.summary.ttft_ms.as_ref().map(|l| l.mean)));
    r.ttft_tail_ms = mean(
        runs.iter()
            .filter_map(|x| x.summary.ttft_ms.as_ref().and_then(|l| l.percentile(tail))),
    );
    r.system = SystemFigures::of(runs);
    r.stages = stages_over_runs(runs.iter().filter_map(|x| x.stages.as_ref()));
    r.sessions = sessions_over_runs(runs.iter().filter_map(|x| x.sessions.as_ref()));
    let images = r.images_per_s.is_some();
    let each: Vec<_> = runs
        .iter()
        .map(|x| {
            let mut f = crate::stats::confidence::figures(&x.summary);
            if images {
                f.insert("images_per_s".into(), x.summary.images_per_s);
            }
            f
        })
        .collect();
    r.confidence = crate::stats::confidence::over_repeats(&each);
}

/// Scores, changes against the first, and the best strategy; `tail` is
/// the TTFT percentile the strategies show beside the mean.
pub fn judge(results: &mut [StrategyResult], tail: Percentile) -> (Option<Best>, bool) {
    for r in results.iter_mut() {
        aggregate(r, tail);
    }
    let inputs: Vec<ScoreInput> = results
        .iter()
        .map(|r| ScoreInput {
            throughput: r.work_throughput(),
            response_ms: r.response_ms(),
            gpu_pct: r.gpu_util_pct,
        })
        .collect();
    let (scores, with_gpu) = efficiency_scores(&inputs);
    let (base_tp, base_rt) = match results.first() {
        Some(b) => (b.work_throughput(), b.response_ms()),
        None => return (None, with_gpu),
    };
    for (r, s) in results.iter_mut().zip(&scores) {
        r.score = *s;
        r.throughput_change_pct = pct_change(r.work_throughput(), base_tp);
        r.latency_change_pct = match (r.response_ms(), base_rt) {
            (Some(a), Some(b)) => pct_change(a, b),
            _ => None,
        };
    }
    let measured: Vec<&StrategyResult> = results.iter().filter(|r| !r.runs.is_empty()).collect();
    let Some(best) = measured
        .iter()
        .copied()
        .reduce(|a, b| if b.score > a.score + 1e-12 { b } else { a })
    else {
        return (None, with_gpu);
    };
    let unit = if best.images_per_s.is_some() {
        "images/s"
    } else {
        "req/s"
    };
    let mut why = format!(
        "highest efficiency score ({:.3}{}): {:.3} {unit}",
        best.score,
        if with_gpu { "" } else { ", without GPU figures" },
        best.work_throughput()
    );
    if let Some(rt) = best.response_ms() {
        why.push_str(&format!(", mean response time {rt:.1} ms"));
    }
    if let Some(first) = results.first().filter(|f| f.name != best.name) {
        if let (Some(tp), lat) = (best.throughput_change_pct, best.latency_change_pct) {
            why.push_str(&format!(
                "; throughput {} and response time {} against {}",
                signed(tp),
                lat.map_or_else(|| "n/a".to_string(), signed),
                first.name
            ));
        }
    } else if results.len() > 1 {
        why.push_str("; no other strategy beat the first");
    }
    let runner_up = measured
        .iter()
        .filter(|r| r.name != best.name)
        .max_by(|a, b| a.score.total_cmp(&b.score));
    if let Some(r) = runner_up {
        why.push_str(&format!(" (next: {} with {:.3})", r.name, r.score));
    }
    (
        Some(Best {
            name: best.name.clone(),
            reason: why,
        }),
        with_gpu,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::compare::RunResult;
    use crate::export::compare_table::table;
    use crate::stats::Summary;

    fn input(tp: f64, rt: f64, gpu: Option<f64>) -> ScoreInput {
        ScoreInput {
            throughput: tp,
            response_ms: Some(rt),
            gpu_pct: gpu,
        }
    }

    #[test]
    fn the_score_weighs_throughput_response_time_and_gpu() {
        let (s, gpu) = efficiency_scores(&[input(1.0, 100.0, Some(50.0)), input(4.0, 80.0, Some(90.0))]);
        assert!(gpu);
        assert!((s[0] - (0.5 * 0.25 + 0.3 * 0.8 + 0.2 * 0.5)).abs() < 1e-12, "{s:?}");
        assert!((s[1] - (0.5 + 0.3 + 0.2 * 0.9)).abs() < 1e-12, "{s:?}");
        // One strategy without GPU figures: GPU leaves the score for all.
        let (s, gpu) = efficiency_scores(&[input(1.0, 100.0, Some(50.0)), input(4.0, 80.0, None)]);
        assert!(!gpu);
        assert!((s[1] - 1.0).abs() < 1e-12, "the best at both scores 1: {s:?}");
        assert!((s[0] - (0.625 * 0.25 + 0.375 * 0.8)).abs() < 1e-12, "{s:?}");
        // Nothing succeeded: no response time, no throughput, score 0.
        let (s, _) = efficiency_scores(&[
            input(2.0, 50.0, None),
            ScoreInput {
                throughput: 0.0,
                response_ms: None,
                gpu_pct: None,
            },
        ]);
        assert_eq!(s[1], 0.0);
        assert!(s.iter().all(|x| (0.0..=1.0).contains(x)));
    }

    #[test]
    fn judge_picks_the_best_and_states_changes_against_the_first() {
        let run = |tp: f64, e2e: f64| RunResult {
            repeat: 1,
            summary: Summary {
                requests_total: 10,
                successful: 10,
                success_rate: 1.0,
                request_throughput: tp,
                e2e_ms: Some(crate::stats::LatencyStats {
                    count: 10,
                    mean: e2e,
                    p95: e2e * 1.2,
                    p99: e2e * 1.5,
                    ..Default::default()
                }),
                ..Default::default()
            },
            gpu_util_pct: None,
            connections: None,
            prefix_cache_hit_pct: None,
            ..Default::default()
        };
        let mut rs = vec![
            StrategyResult {
                name: "baseline".into(),
                runs: vec![run(1.0, 1000.0), run(1.0, 1000.0)],
                ..Default::default()
            },
            StrategyResult {
                name: "pool".into(),
                runs: vec![run(3.8, 1050.0), run(4.2, 950.0)],
                ..Default::default()
            },
        ];
        let (best, gpu) = judge(&mut rs, crate::doc::compare::default_tail());
        let best = best.unwrap();
        assert!(!gpu);
        assert_eq!(best.name, "pool");
        assert!((rs[1].request_throughput - 4.0).abs() < 1e-12);
        assert!((rs[1].throughput_change_pct.unwrap() - 300.0).abs() < 1e-9);
        assert!(rs[1].latency_change_pct.unwrap().abs() < 1e-9);
        assert!(
            best.reason.contains("+300.0%") && best.reason.contains("baseline"),
            "{}",
            best.reason
        );
        let t = table(&rs, Some(&best), gpu, crate::doc::compare::default_tail());
        assert!(t.contains("Best strategy: pool\n"), "{t}");
        assert!(t.contains("pool: throughput +300.0%"), "{t}");
        assert!(t.contains("no GPU figures"), "{t}");
    }
}
