//! `inferload compare`: named strategies — targets or configurations of one
//! service — measured one after another with the same workload and load,
//! then set side by side: a table per strategy, each one's change against
//! the first in percent, an efficiency score, and the best strategy with
//! the reason.
//!
//! Strategies come from the command line (`NAME=URL`, each overriding the
//! shared `--url`) or from a scenario file's `[[strategy]]` list (which may
//! also override the API, endpoint, model, load and request parameters).
//! Every strategy is connected (client and preflight) before any load, so a
//! typo fails before minutes of measurement. With `--repeat N` each is
//! measured N times; `--interleave` runs them round-robin (A B C A B C)
//! rather than in blocks (A A B B C C), so slow drift of the machine or the
//! service spreads over every strategy instead of favouring one. A
//! strategy's figures are the mean over its repeats.
//!
//! The efficiency score (`docs/COMPARE.md`): throughput normalised to the
//! best strategy's (weight 0.5), response time normalised to the fastest
//! (0.3) and GPU utilisation as a fraction (0.2) when every strategy has
//! GPU figures; without them the first two are renormalised to 0.625 and
//! 0.375 and the output says so. The JSON document is rewritten after every
//! measurement, so an interrupted comparison keeps what it measured.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use serde::Serialize;

use crate::doc::compare::{CompareDocument, CompareSettings, Score, StrategySettings, Weights};
use crate::doc::settings::{Schedule, StopSettings, WorkloadSettings};
use crate::doc::RunSettings;
use crate::export::compare_table::signed;

/// The comparison's results: the document's own types, filled in here and
/// saved, printed and charted as they are.
pub use crate::doc::compare::{Best, RunResult, StrategyResult};
use crate::engine::Signals;
pub use crate::export::compare_table::table;
use crate::plan::{RunOptions, RunPlan};
use crate::runner::{self, Level, Session, Sinks};
use crate::sim::SimHandle;

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

/// One strategy as planned.
#[derive(Debug, Clone, Serialize)]
pub struct StrategyPlan {
    pub name: String,
    pub plan: RunPlan,
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

/// Fills a strategy's means from its runs.
fn aggregate(r: &mut StrategyResult) {
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
}

/// Scores, changes against the first, and the best strategy.
pub fn judge(results: &mut [StrategyResult]) -> (Option<Best>, bool) {
    for r in results.iter_mut() {
        aggregate(r);
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

/// A validated comparison: one run plan per strategy (each made by the
/// plan's one constructor) and what is the comparison's own.
#[derive(Debug, Clone)]
pub struct ComparePlan {
    pub strategies: Vec<StrategyPlan>,
    pub repeat: u32,
    pub interleave: bool,
    pub json: Option<PathBuf>,
    pub quiet: bool,
    pub reports: crate::plan::ReportPaths,
}

/// The comparison's own settings, as the user gave them.
#[derive(Debug, Clone, Default)]
pub struct CompareOptions {
    /// `NAME=URL` strategies typed on the command line.
    pub strategies: Vec<String>,
    /// `--repeat` (when given), else the file's, else 1.
    pub repeat: Option<u32>,
    /// `--interleave` (when given), else the file's.
    pub interleave: Option<bool>,
    pub json: Option<PathBuf>,
}

/// `NAME=URL` (the URL may be empty: the shared `--url`).
fn parse_strategy_arg(s: &str) -> Result<(String, Option<String>), String> {
    let (name, url) = s
        .split_once('=')
        .ok_or_else(|| format!("strategy `{s}` must look like NAME=URL (e.g. baseline=http://host:8000/generate)"))?;
    let name = name.trim();
    crate::scenario::check_strategy_name(name)?;
    let url = url.trim();
    Ok((name.to_string(), (!url.is_empty()).then(|| url.to_string())))
}

impl ComparePlan {
    /// The strategies: typed `NAME=URL`s, else the scenario file's
    /// `[[strategy]]` entries. Each strategy's settings go over the file's
    /// tables; what the user typed goes over everything (a typed strategy's
    /// URL over a typed `--url`).
    pub fn resolve(scenario: Option<&Path>, typed: &RunOptions, c: &CompareOptions) -> anyhow::Result<Self> {
        let scenario = scenario.map(crate::scenario::Scenario::load).transpose()?;
        let (file_repeat, file_interleave) = scenario.as_ref().map_or((None, None), |s| s.compare_settings());
        let repeat = c.repeat.or(file_repeat).unwrap_or(1);
        anyhow::ensure!(repeat >= 1, "--repeat must be at least 1");
        let interleave = c.interleave.or(file_interleave).unwrap_or(false);
        // Every strategy measures without samples, dashboard or history:
        // the comparison's own outputs stand for them.
        let mut typed = typed.clone();
        typed.output.show_samples = Some(0);
        typed.output.tui = Some(false);
        typed.output.no_history = Some(true);
        let plan_of = |under: &RunOptions, over: &RunOptions, place| match &scenario {
            Some(s) => s.plan_at(under, over, place),
            None => Ok(RunPlan::resolve(&under.clone().merged(over.clone()))?),
        };
        let mut strategies: Vec<StrategyPlan> = Vec::new();
        let mut add = |name: String, plan: RunPlan| -> anyhow::Result<()> {
            anyhow::ensure!(
                !strategies.iter().any(|s| s.name == name),
                "strategy `{name}` is given twice"
            );
            strategies.push(StrategyPlan { name, plan });
            Ok(())
        };
        for s in &c.strategies {
            let (name, url) = parse_strategy_arg(s).map_err(anyhow::Error::msg)?;
            let mut over = typed.clone();
            if let Some(u) = url {
                over.target.url = Some(u);
                over.target.host = None;
                over.target.port = None;
            }
            let plan = plan_of(&RunOptions::default(), &over, crate::scenario::Place::Tables)
                .map_err(|e| anyhow::anyhow!("strategy `{name}`: {e:#}"))?;
            add(name, plan)?;
        }
        if c.strategies.is_empty() {
            if let Some(sc) = &scenario {
                for (i, st) in sc.strategies().into_iter().enumerate() {
                    let plan = plan_of(&st.options, &typed, crate::scenario::Place::Strategy(i))?;
                    add(st.name, plan)?;
                }
            }
        }
        anyhow::ensure!(
            strategies.len() >= 2,
            "compare needs at least two strategies: NAME=URL NAME=URL ... (or [[strategy]] entries in --scenario)"
        );
        let outputs = &strategies[0].plan.outputs;
        Ok(Self {
            json: c.json.clone(),
            quiet: outputs.quiet,
            reports: outputs.reports.clone(),
            strategies,
            repeat,
            interleave,
        })
    }

    /// The order of measurements: `(strategy, repeat)`.
    pub fn order(&self) -> Vec<(usize, u32)> {
        let (n, r) = (self.strategies.len(), self.repeat);
        if self.interleave {
            (0..r).flat_map(|k| (0..n).map(move |s| (s, k))).collect()
        } else {
            (0..n).flat_map(|s| (0..r).map(move |k| (s, k))).collect()
        }
    }
}

struct Connected {
    session: Session,
    level: Level,
    plan: RunPlan,
}

/// `inferload compare`.
pub async fn run(plan: &ComparePlan) -> anyhow::Result<crate::app::Exit> {
    let mut sims: Vec<SimHandle> = Vec::new();
    let result = run_plan(plan, &mut sims).await;
    for h in sims {
        h.shutdown().await;
    }
    result
}

async fn run_plan(plan: &ComparePlan, sims: &mut Vec<SimHandle>) -> anyhow::Result<crate::app::Exit> {
    // Connect every strategy first: a bad URL fails before any load.
    let mut connected = Vec::new();
    let mut results = Vec::new();
    for s in &plan.strategies {
        let workload = Arc::new(crate::scenario::load_workload(&s.plan)?);
        let (base_url, sim) = runner::resolve_target(&s.plan).await?;
        let embedded = sim.is_some();
        sims.extend(sim);
        let pool = runner::pool_size(&s.plan.schedule);
        let session = Session::connect(&s.plan, workload, &base_url, embedded, pool)
            .await
            .with_context(|| format!("strategy `{}`", s.name))?;
        results.push(StrategyResult {
            name: s.name.clone(),
            url: base_url.clone(),
            api: serde_json::to_value(s.plan.target.api)
                .ok()
                .and_then(|v| v.as_str().map(String::from))
                .unwrap_or_default(),
            endpoint: s.plan.target.endpoint.clone(),
            model: session.model.clone(),
            ..Default::default()
        });
        connected.push(Connected {
            level: Level::of_plan(&s.plan),
            plan: s.plan.clone(),
            session,
        });
    }
    println!(
        "Comparing {} strategies: {}; {} run(s) each{}",
        plan.strategies.len(),
        plan.strategies
            .iter()
            .zip(&results)
            .map(|(s, r)| format!("{} ({}{})", s.name, r.url, r.endpoint))
            .collect::<Vec<_>>()
            .join(", "),
        plan.repeat,
        if plan.interleave && plan.repeat > 1 {
            ", interleaved"
        } else {
            ""
        }
    );
    let started_at = chrono::Local::now();
    let signals = Signals::default();
    let grace = plan.strategies[0].plan.grace;
    let ctrl_c = tokio::spawn(runner::watch_ctrl_c(signals.clone(), grace));
    let mut interrupted = false;
    for (i, k) in plan.order() {
        if signals.interrupt.is_cancelled() {
            interrupted = true;
            break;
        }
        let c = &connected[i];
        println!(
            "Strategy {} (run {}/{}) ...",
            plan.strategies[i].name,
            k + 1,
            plan.repeat
        );
        let sinks = Sinks {
            records: None,
            show_samples: 0,
            capture_all_text: false,
            keep_records: false,
            quiet: plan.quiet,
            bounds: c.plan.request_bounds(),
        };
        let m = c.session.measure(&c.level, sinks, &signals).await?;
        interrupted |= m.interrupted;
        let gpu = crate::monitor::mean_gpu_utilization(&m);
        let s = &m.summary;
        println!(
            "  {} requests, {:.1}% ok, {:.3} req/s{}, E2E mean {}",
            s.requests_total,
            s.success_rate * 100.0,
            s.request_throughput,
            if s.images_total > 0 {
                format!(", {:.3} images/s", s.images_per_s)
            } else {
                String::new()
            },
            s.e2e_ms
                .as_ref()
                .map_or_else(|| "-".to_string(), |l| format!("{:.1} ms", l.mean))
        );
        results[i].runs.push(RunResult {
            repeat: k + 1,
            summary: m.summary,
            gpu_util_pct: gpu,
        });
        let (best, with_gpu) = judge(&mut results);
        write_json(plan, started_at, interrupted, &results, best.as_ref(), with_gpu)?;
        if m.interrupted {
            break;
        }
    }
    ctrl_c.abort();
    let (best, with_gpu) = judge(&mut results);
    let document = document(plan, started_at, interrupted, &results, best.as_ref(), with_gpu);
    if let Some(path) = &plan.json {
        write_json(plan, started_at, interrupted, &results, best.as_ref(), with_gpu)?;
        println!("Results written to {}", path.display());
    }
    print!("{}", table(&results, best.as_ref(), with_gpu));
    let paths = crate::doc::settings::ReportPaths {
        plot: plan.reports.plot.clone(),
        html: plan.reports.html.clone(),
        csv: plan.reports.csv.clone(),
        markdown: plan.reports.markdown.clone(),
    };
    for path in crate::report::write_compare_reports(&paths, &document)? {
        println!("Report written to {}", path.display());
    }
    Ok(if interrupted {
        crate::app::Exit::Interrupted
    } else {
        crate::app::Exit::Success
    })
}

/// The comparison as its `--json` document.
fn document(
    plan: &ComparePlan,
    started_at: chrono::DateTime<chrono::Local>,
    interrupted: bool,
    results: &[StrategyResult],
    best: Option<&Best>,
    with_gpu: bool,
) -> CompareDocument {
    let first = &plan.strategies[0].plan;
    let settings = CompareSettings {
        repeat: plan.repeat,
        interleave: plan.interleave,
        schedule: Schedule::of(&first.schedule),
        stop: StopSettings {
            requests: first.stop.requests,
            duration: first.stop.duration.map(|d| d.as_secs_f64()),
        },
        warmup: first.warmup,
        workload: WorkloadSettings::of(&first.workload),
        strategies: plan
            .strategies
            .iter()
            .map(|s| StrategySettings {
                name: s.name.clone(),
                target: RunSettings::of(&s.plan),
            })
            .collect(),
    };
    let score = if with_gpu {
        Score {
            formula: "0.5 × throughput / best throughput + 0.3 × fastest mean response time / mean response time + 0.2 × GPU utilisation".into(),
            gpu: true,
            weights: Weights {
                throughput: W_THROUGHPUT,
                response_time: W_RESPONSE,
                gpu: W_GPU,
            },
        }
    } else {
        Score {
            formula: "0.625 × throughput / best throughput + 0.375 × fastest mean response time / mean response time (no GPU figures: weights 0.5 and 0.3 renormalised)".into(),
            gpu: false,
            weights: Weights {
                throughput: 0.625,
                response_time: 0.375,
                gpu: 0.0,
            },
        }
    };
    CompareDocument {
        started_at: Some(started_at.to_rfc3339()),
        interrupted,
        score,
        strategies: results.to_vec(),
        best: best.cloned(),
        ..CompareDocument::new(Some(settings))
    }
}

fn write_json(
    plan: &ComparePlan,
    started_at: chrono::DateTime<chrono::Local>,
    interrupted: bool,
    results: &[StrategyResult],
    best: Option<&Best>,
    with_gpu: bool,
) -> anyhow::Result<()> {
    let Some(path) = &plan.json else {
        return Ok(());
    };
    let text = serde_json::to_vec_pretty(&document(plan, started_at, interrupted, results, best, with_gpu))?;
    crate::files::write_atomic(path, &text).with_context(|| format!("--json {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let (best, gpu) = judge(&mut rs);
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
        let t = table(&rs, Some(&best), gpu);
        assert!(t.contains("Best strategy: pool\n"), "{t}");
        assert!(t.contains("pool: throughput +300.0%"), "{t}");
        assert!(t.contains("no GPU figures"), "{t}");
    }

    #[test]
    fn interleaving_runs_strategies_round_robin() {
        let mut p = ComparePlan {
            strategies: Vec::new(),
            repeat: 2,
            interleave: true,
            json: None,
            quiet: true,
            reports: Default::default(),
        };
        let plan = crate::plan::RunPlan::resolve(&crate::plan::RunOptions::default()).unwrap();
        for n in ["a", "b"] {
            p.strategies.push(StrategyPlan {
                name: n.into(),
                plan: plan.clone(),
            });
        }
        assert_eq!(p.order(), vec![(0, 0), (1, 0), (0, 1), (1, 1)]);
        p.interleave = false;
        assert_eq!(p.order(), vec![(0, 0), (0, 1), (1, 0), (1, 1)]);
    }

    #[test]
    fn strategy_arguments_parse() {
        assert_eq!(
            parse_strategy_arg("pool=http://h:1/generate").unwrap(),
            ("pool".into(), Some("http://h:1/generate".into()))
        );
        assert_eq!(parse_strategy_arg("a=").unwrap(), ("a".into(), None));
        assert!(parse_strategy_arg("nourl").is_err());
        assert!(parse_strategy_arg("bad name=x").is_err());
    }
}
