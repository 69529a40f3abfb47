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
//! strategy's figures are the mean over its repeats. Each run keeps its
//! own figures in the document (summary, the monitor's summary, the trust
//! verdict, stages and sessions, as `run` has them), so a strategy's
//! system figures (load generator, host, GPU memory) and its tables by
//! stage and by turn are aggregated from them (`doc::compare`), and a
//! run the load generator shaped is named as it happens.
//!
//! The efficiency score (`docs/COMPARE.md`): throughput normalised to the
//! best strategy's (weight 0.5), response time normalised to the fastest
//! (0.3) and GPU utilisation as a fraction (0.2) when every strategy has
//! GPU figures; without them the first two are renormalised to 0.625 and
//! 0.375 and the output says so. The JSON document is rewritten after every
//! measurement, so an interrupted comparison keeps what it measured.
//!
//! Split by concern: [`plan`] (strategies and settings), [`score`] (means,
//! changes, the score and the best), [`document`] (the `--json` document);
//! this file measures, on the harness's sessions (one per strategy; the
//! machine's samplers and live exporters are the harness's, once).

use crate::doc::compare::RunResult;
use crate::harness::outputs;
use crate::harness::{Harness, Level, Session, Sinks};
use crate::outcome::Outcome;
use crate::report::Document;

pub mod document;
pub mod plan;
pub mod score;

pub use crate::export::compare_table::table;
pub use plan::{CompareOptions, ComparePlan, StrategyPlan};
pub use score::{efficiency_scores, judge, Best, ScoreInput, StrategyResult};

/// `inferload compare`. The outcome: success, or interrupted.
pub async fn run(h: &Harness, plan: &ComparePlan) -> anyhow::Result<Outcome> {
    // Connect every strategy first: a bad URL fails before any load.
    let mut sessions: Vec<(Session, Level)> = Vec::new();
    let mut results = Vec::new();
    for s in &plan.strategies {
        let session = h
            .connect(&s.plan, crate::harness::pool_size(&s.plan.schedule))
            .await
            .map_err(|e| anyhow::anyhow!("strategy `{}`: {e:#}", s.name))?;
        results.push(StrategyResult {
            name: s.name.clone(),
            url: session.base_url.clone(),
            api: s.plan.target.api.name().to_string(),
            endpoint: s.plan.target.endpoint.clone(),
            model: session.model.clone(),
            ..Default::default()
        });
        sessions.push((session, Level::of_plan(&s.plan)));
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
    let tail = plan.tail_percentile();
    let started_at = chrono::Local::now();
    let signals = h.signals();
    let mut interrupted = false;
    for (i, k) in plan.order() {
        if signals.interrupt.is_cancelled() {
            interrupted = true;
            break;
        }
        let (session, level) = &sessions[i];
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
            bounds: plan.strategies[i].plan.request_bounds(),
            percentiles: plan.strategies[i].plan.percentiles(),
        };
        let m = session.measure(level, sinks, signals).await?;
        interrupted |= m.interrupted;
        let gpu = m.mean_gpu_utilization();
        let hit = m.monitor.as_ref().and_then(|r| r.summary.prefix_cache_hit_pct());
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
        if s.failed > 0 {
            println!("  {}", crate::stats::errors::digest(s, 3));
        }
        // A run the load generator (or the cap) shaped is less comparable:
        // say so where it happened, not only in the system table.
        if !m.trust.is_ok() {
            println!("  {}", m.trust.line);
        }
        let strategy = &plan.strategies[i].plan;
        let stages = m
            .stages
            .map(|split| crate::harness::stages::section(split, strategy, &m.summary, m.goodput.is_some()));
        results[i].runs.push(RunResult {
            repeat: k + 1,
            summary: m.summary,
            gpu_util_pct: gpu,
            connections: Some(m.connections),
            prefix_cache_hit_pct: hit,
            started_at: Some(m.started_at.to_rfc3339()),
            monitor: m.monitor.map(|r| r.summary),
            trust: Some(m.trust),
            sessions: m.sessions,
            stages,
        });
        let (best, with_gpu) = judge(&mut results, tail);
        let doc = document::document(plan, started_at, interrupted, &results, best.as_ref(), with_gpu);
        outputs::save_progress(plan.json.as_deref(), &doc);
        if m.interrupted {
            break;
        }
    }
    let (best, with_gpu) = judge(&mut results, tail);
    let doc = document::document(plan, started_at, interrupted, &results, best.as_ref(), with_gpu);
    print!("{}", crate::export::compare_table::compare_text(&doc));
    let mut files = Vec::new();
    if let Some(path) = &plan.json {
        files.push(outputs::json(path, &doc));
    }
    files.extend(outputs::reports(&plan.reports, Document::Compare(&doc)));
    outputs::write_all("compare", &doc, files)?;
    let dead: Vec<&str> = results
        .iter()
        .filter(|r| r.requests > 0 && r.runs.iter().all(|x| x.summary.successful == 0))
        .map(|r| r.name.as_str())
        .collect();
    Ok(if interrupted {
        Outcome::Interrupted
    } else if !dead.is_empty() {
        eprintln!("error: no request succeeded for strategy {}", dead.join(", "));
        Outcome::NothingSucceeded
    } else {
        Outcome::Success
    })
}
