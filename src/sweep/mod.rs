//! Capacity search: a sweep runs a ladder of load levels against one target
//! and answers "how many concurrent users, and how many requests per second,
//! can this deployment serve?".
//!
//! Modes:
//! - concurrency ladder (closed loop): stop at the first level that trips a
//!   stop rule ([`rules`]); the level before it is the **maximum stable
//!   concurrency**, and `--headroom` of it the recommended production setting;
//! - rate ladder (open loop): each level's achieved rate against its target;
//!   the first level under 95 % of target, or tripping a rule, ends it;
//! - `--find-concurrency`: for one target rate, the smallest concurrency cap
//!   that reaches 95 % of it (doubling, then bisection);
//! - `--max-rate-under-slo`: the highest rate that meets every objective,
//!   found by doubling then bisection to `--precision`, in at most
//!   `--max-runs` runs.
//!
//! The module is split by concern: [`plan`] (the resolved settings),
//! [`search`] (the searches, against a one-level measuring trait),
//! [`judge`] and [`rules`] (what makes a level pass), [`document`] (the
//! `--json` document). This file measures: every level is one
//! [`Session::measure`](crate::harness::Session::measure) on a shared
//! session, so preflight and connections are paid once, and the JSON
//! output is rewritten after every level, so an interrupted sweep keeps
//! the levels it finished.

use anyhow::Context;

use crate::doc::fmt_rate;
use crate::export::records::RecordsWriter;
use crate::export::sweep_table::{level_line, level_table, verdict_block};
use crate::harness::outputs;
use crate::harness::{Harness, Level, Session, Sinks};
use crate::outcome::Outcome;
use crate::plan::Stop;
use crate::report::Document;
use crate::schedule::ScheduleSpec;

pub mod confidence;
pub mod document;
pub mod judge;
pub mod ladder;
pub mod plan;
pub mod rules;
pub mod search;

pub use judge::achieved_rate;
pub use plan::{Mode, SweepOptions, SweepPlan};
pub use search::{Load, RATE_ATTAINMENT};

/// One measured level and the sweep's answer: the document's own types,
/// produced here by the judging code and saved, printed and charted as is.
pub use crate::doc::sweep::{Level as LevelResult, Verdict};

/// The measuring side of a sweep: the session, and the levels so far.
struct Sweep<'a> {
    plan: &'a SweepPlan,
    harness: &'a Harness,
    session: Session,
    levels: Vec<LevelResult>,
    started_at: chrono::DateTime<chrono::Local>,
    interrupted: bool,
}

/// `inferload sweep`. The outcome: success with a verdict, objectives
/// failed when no level met them, interrupted.
pub async fn run(h: &Harness, plan: &SweepPlan) -> anyhow::Result<Outcome> {
    if let Some(dir) = &plan.records_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("--records {}", dir.display()))?;
    }
    let pool = match &plan.mode {
        Mode::Concurrency { levels } => levels.iter().copied().max().unwrap_or(1),
        Mode::Rate { cap, .. } | Mode::MaxRateUnderSlo { cap, .. } => cap.unwrap_or(256),
        Mode::FindConcurrency { max_concurrency, .. } => *max_concurrency,
    };
    let session = h.connect(&plan.base, pool).await?;
    println!(
        "Sweep: {}{}, model {}, {}",
        session.base_url,
        plan.base.target.endpoint,
        session.model,
        describe_mode(&plan.mode)
    );
    let mut sweep = Sweep {
        plan,
        harness: h,
        session,
        levels: Vec::new(),
        started_at: chrono::Local::now(),
        interrupted: false,
    };
    let verdict = match &plan.mode {
        Mode::Concurrency { levels } => {
            let loads: Vec<Load> = levels.iter().map(|&c| Load::Concurrency(c)).collect();
            search::ladder(&mut sweep, &loads, plan.headroom).await?
        }
        Mode::Rate { rates, cap } => {
            let loads: Vec<Load> = rates.iter().map(|&rate| Load::Rate { rate, cap: *cap }).collect();
            search::ladder(&mut sweep, &loads, plan.headroom).await?
        }
        Mode::FindConcurrency { rate, max_concurrency } => {
            search::find_concurrency(&mut sweep, *rate, *max_concurrency, plan.max_runs).await?
        }
        Mode::MaxRateUnderSlo { start, cap, precision } => {
            let s = search::RateSearch {
                start: *start,
                cap: *cap,
                precision: *precision,
                max_runs: plan.max_runs,
                headroom: plan.headroom,
            };
            search::max_rate(&mut sweep, s).await?
        }
    };
    let rates = matches!(plan.mode, Mode::Rate { .. } | Mode::MaxRateUnderSlo { .. });
    let mut verdict = verdict;
    confidence::assess(
        &mut verdict,
        &sweep.levels,
        rates,
        matches!(plan.mode, Mode::Concurrency { .. } | Mode::Rate { .. }),
    );
    print!("{}", level_table(&sweep.levels));
    print!("{}", verdict_block(&verdict, rates));
    let document = sweep.document(Some(&verdict));
    let mut files = Vec::new();
    if let Some(path) = &plan.json {
        files.push(outputs::json(path, &document));
    }
    files.extend(outputs::reports(&plan.base.outputs.reports, Document::Sweep(&document)));
    let written = outputs::write_all("sweep", &document, files);
    outputs::record_history(plan.base.outputs.history.as_deref(), |db| {
        crate::history::record_sweep(db, &document, &plan.base.redactor().secrets())
    });
    written?;
    let nothing = sweep.levels.iter().all(|l| l.summary.successful == 0);
    Ok(if sweep.interrupted {
        Outcome::Interrupted
    } else if nothing && sweep.levels.iter().any(|l| l.summary.requests_total > 0) {
        eprintln!("error: no request succeeded at any level");
        Outcome::NothingSucceeded
    } else if !plan.base.slos.is_empty() && !sweep.levels.iter().any(|l| l.slos.iter().all(|r| r.passed)) {
        Outcome::ObjectivesFailed
    } else {
        Outcome::Success
    })
}

fn describe_mode(mode: &Mode) -> String {
    match mode {
        Mode::Concurrency { levels } => format!(
            "concurrency ladder {}",
            levels.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
        ),
        Mode::Rate { rates, cap } => format!(
            "rate ladder {} req/s{}",
            rates.iter().map(|r| fmt_rate(*r)).collect::<Vec<_>>().join(","),
            cap.map(|c| format!(", concurrency cap {c}")).unwrap_or_default()
        ),
        Mode::FindConcurrency { rate, .. } => {
            format!("finding the concurrency needed for {} req/s", fmt_rate(*rate))
        }
        Mode::MaxRateUnderSlo { start, precision, .. } => format!(
            "searching the highest rate under the objectives from {} req/s, to ±{:.0}%",
            fmt_rate(*start),
            precision * 100.0
        ),
    }
}

impl search::MeasureLevel for Sweep<'_> {
    /// Measures one level and judges it; prints a line; rewrites the JSON.
    async fn measure(&mut self, load: Load, previous_throughput: Option<f64>) -> anyhow::Result<LevelResult> {
        let plan = self.plan;
        let (schedule, default_requests, default_warmup) = match load {
            Load::Concurrency(c) => (
                ScheduleSpec::Closed { concurrency: c },
                (10 * c as u64).max(20),
                c as u64,
            ),
            Load::Rate { rate, cap } => (
                ScheduleSpec::Open {
                    rate,
                    arrival: plan.arrival,
                    cap,
                },
                ((10.0 * rate).ceil() as u64).max(20),
                rate.ceil() as u64,
            ),
        };
        let requests = match (plan.requests_per_level, plan.duration_per_level) {
            (Some(n), _) => Some(n),
            (None, Some(_)) => None,
            (None, None) => Some(default_requests),
        };
        let n = self.levels.len() + 1;
        let level = Level {
            schedule,
            stop: Stop {
                requests,
                duration: plan.duration_per_level,
            },
            warmup: plan.warmup_per_level.unwrap_or(default_warmup),
            seed: plan.base.seed.wrapping_add(n as u64),
        };
        let records = match &plan.records_dir {
            Some(dir) => {
                let name = match load {
                    Load::Concurrency(c) => format!("level-{n:02}-concurrency-{c}.jsonl"),
                    Load::Rate { rate, .. } => format!("level-{n:02}-rate-{}.jsonl", fmt_rate(rate)),
                };
                Some(RecordsWriter::create(&dir.join(name))?)
            }
            None => None,
        };
        // With --repeats the level's records file gets every repeat's
        // records, on the pooled clock, once they are combined.
        let repeats = plan.base.repeats;
        let (mut records, mut pooled_records) = if repeats > 1 { (None, records) } else { (records, None) };
        let keep_records = matches!(load, Load::Rate { .. }) || pooled_records.is_some();
        let sinks = |_| Sinks {
            records: records.take(),
            show_samples: 0,
            capture_all_text: false,
            keep_records,
            quiet: plan.quiet,
            bounds: plan.base.request_bounds(),
            percentiles: plan
                .base
                .percentiles()
                .into_iter()
                .chain(crate::slo::percentiles(&plan.rules.stop_when))
                .collect(),
        };
        println!("Level {n}: {} ...", load.label());
        let mut slos_each = Vec::new();
        let r = crate::harness::measure_repeats(
            &self.session,
            &level,
            repeats,
            sinks,
            self.harness.signals(),
            crate::plan::TuiMode::Off,
            |_, m| slos_each.push(crate::slo::evaluate(&plan.base.slos, &m.summary, m.goodput)),
        )
        .await?;
        if let Some(w) = pooled_records.as_mut() {
            for rec in &r.combined.records {
                w.write(rec)?;
            }
        }
        if r.combined.interrupted {
            self.interrupted = true;
        }
        let mut result = judge::judge(plan, load, r.combined, previous_throughput);
        confidence::attach(&mut result, r.confidence, r.repeats, &slos_each);
        println!("  {}", level_line(&result));
        if result.summary.failed > 0 {
            println!("  {}", crate::stats::errors::digest(&result.summary, 3));
        }
        if let Some(t) = result.trust.as_ref().filter(|t| !t.is_ok()) {
            println!("  {}", t.line);
        }
        self.levels.push(result.clone());
        outputs::save_progress(plan.json.as_deref(), &self.document(None));
        Ok(result)
    }

    fn interrupted(&self) -> bool {
        self.interrupted
    }

    fn gain_marginal(&self, r: &LevelResult, previous_throughput: Option<f64>) -> bool {
        previous_throughput.is_some_and(|p| self.plan.rules.gain_is_marginal(p, r.request_throughput))
    }
}

impl Sweep<'_> {
    fn document(&self, verdict: Option<&Verdict>) -> crate::doc::SweepDocument {
        document::document(
            self.plan,
            &self.session,
            self.started_at,
            self.interrupted,
            &self.levels,
            verdict,
        )
    }
}
