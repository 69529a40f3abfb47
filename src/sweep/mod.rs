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
use crate::server::{ServerPlan, StartError};

use crate::doc::server::{ColdStart, SettingResult, SettingsSweep};

pub mod confidence;
pub mod document;
pub mod judge;
pub mod ladder;
pub mod plan;
pub mod rules;
pub mod search;
pub mod settings;

pub use judge::achieved_rate;
pub use plan::{Mode, SweepOptions, SweepPlan};
pub use search::{Load, RATE_ATTAINMENT};
pub use settings::Setting;

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
    /// The started server's cold start (`--server-cmd`).
    cold_start: Option<ColdStart>,
    /// The settings finished before this one (a sweep over settings), so
    /// the JSON rewritten after each level keeps them.
    earlier: Option<SettingsSweep>,
}

/// What a sweep measures: one setting (the plain sweep), or every
/// combination of `--server-param` and `--bench-param` values, each with
/// its own plan (bench parameters layered into it) and, with
/// `--server-cmd`, its own server.
pub struct SettingsPlan {
    pub server: Option<ServerPlan>,
    pub points: Vec<(Setting, SweepPlan)>,
}

impl SettingsPlan {
    /// A plain sweep: one setting, no server started.
    pub fn single(plan: SweepPlan) -> Self {
        Self {
            server: None,
            points: vec![(
                Setting {
                    server: Vec::new(),
                    bench: Vec::new(),
                },
                plan,
            )],
        }
    }

    /// More than one setting: the sweep over settings, with its table.
    pub fn is_multi(&self) -> bool {
        self.points.len() > 1
    }
}

/// The objective that picks the best setting, in words.
pub const SETTINGS_OBJECTIVE: &str =
    "the highest maximum stable level (concurrency, else rate), ties broken by the higher request throughput";

/// `inferload sweep` over one plan.
pub async fn run(h: &Harness, plan: &SweepPlan) -> anyhow::Result<Outcome> {
    run_settings(h, &SettingsPlan::single(plan.clone())).await
}

/// One setting measured: its document and how it ended.
struct Finished {
    doc: crate::doc::SweepDocument,
    result: SettingResult,
    outcome: Outcome,
}

/// `inferload sweep`: every setting in turn (a server started for each
/// with `--server-cmd`), the ladder against each, then the outputs. The
/// outcome: success with a verdict, objectives failed when no level met
/// them, interrupted.
pub async fn run_settings(h: &Harness, s: &SettingsPlan) -> anyhow::Result<Outcome> {
    let multi = s.is_multi();
    let count = s.points.len();
    let mut sweep_settings = SettingsSweep {
        objective: SETTINGS_OBJECTIVE.into(),
        ..SettingsSweep::default()
    };
    let mut finished: Vec<Finished> = Vec::new();
    for (i, (setting, plan)) in s.points.iter().enumerate() {
        if h.signals().interrupt.is_cancelled() {
            break;
        }
        if multi {
            println!("\nSetting {}/{count}: {}", i + 1, setting.label());
        }
        let mut plan = plan.clone();
        if multi {
            if let Some(dir) = &plan.records_dir {
                plan.records_dir = Some(dir.join(format!("setting-{:02}", i + 1)));
            }
        }
        let earlier = multi.then(|| sweep_settings.clone());
        let server = s.server.as_ref().map(|sp| (sp, sp.log_for(i, count)));
        match measure_setting(h, &plan, setting, server, earlier).await {
            Ok(f) => {
                sweep_settings.settings.push(f.result.clone());
                let stop = f.outcome == Outcome::Interrupted;
                finished.push(f);
                if stop {
                    break;
                }
            }
            // One setting's server failing to start does not end a sweep
            // over settings: it is reported in its row.
            Err(e)
                if multi
                    && e.downcast_ref::<StartError>()
                        .is_some_and(|e| !matches!(e, StartError::Interrupted)) =>
            {
                eprintln!("error: setting {}: {e:#}", setting.label());
                sweep_settings.settings.push(SettingResult {
                    label: setting.label(),
                    params: setting.params(),
                    cold_start: None,
                    levels: Vec::new(),
                    verdict: None,
                    interrupted: false,
                    error: Some(format!("{e:#}").lines().next().unwrap_or_default().to_string()),
                });
            }
            Err(e) => return Err(e),
        }
    }
    if finished.is_empty() {
        if h.signals().interrupt.is_cancelled() {
            return Ok(Outcome::Interrupted);
        }
        anyhow::bail!("no setting could be measured (see the errors above)");
    }
    let interrupted = finished.iter().any(|f| f.outcome == Outcome::Interrupted);
    let (mut document, outcome, plan) = if multi {
        sweep_settings.best = SettingsSweep::choose_best(&sweep_settings.settings);
        print!("{}", crate::export::settings_table::table(&sweep_settings));
        let best_label = sweep_settings.best.map(|b| sweep_settings.settings[b].label.clone());
        let pick = best_label
            .as_ref()
            .and_then(|l| finished.iter().position(|f| &f.result.label == l))
            .unwrap_or(finished.len() - 1);
        let outcome = combined_outcome(&finished);
        let plan = s
            .points
            .iter()
            .find(|(st, _)| st.label() == finished[pick].result.label)
            .map(|(_, p)| p);
        let f = finished.swap_remove(pick);
        (f.doc, outcome, plan.unwrap_or(&s.points[0].1))
    } else {
        let f = finished.pop().expect("one setting");
        (f.doc, f.outcome, &s.points[0].1)
    };
    if multi {
        document.settings_sweep = Some(sweep_settings);
        document.interrupted = interrupted;
    }
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
    Ok(outcome)
}

/// Interrupted if any setting was, else success if any setting succeeded,
/// else the first setting's failure.
fn combined_outcome(finished: &[Finished]) -> Outcome {
    if finished.iter().any(|f| f.outcome == Outcome::Interrupted) {
        Outcome::Interrupted
    } else if finished.iter().any(|f| f.outcome == Outcome::Success) {
        Outcome::Success
    } else {
        finished.first().map(|f| f.outcome).unwrap_or(Outcome::Success)
    }
}

/// One setting: its server started (and stopped on every path: the
/// process guard's drop is the last resort), the session, the cold first
/// request, the ladder, the verdict.
async fn measure_setting(
    h: &Harness,
    plan: &SweepPlan,
    setting: &Setting,
    server: Option<(&ServerPlan, std::path::PathBuf)>,
    earlier: Option<SettingsSweep>,
) -> anyhow::Result<Finished> {
    let mut plan = plan.clone();
    let started = match server {
        Some((sp, log)) => {
            let inst = sp.instance(&setting.server, plan.base.target.base_url.as_deref(), log)?;
            match crate::server::start(inst, &plan.base, h.signals()).await {
                Ok(st) => {
                    plan.base.target.base_url = Some(st.instance.url.clone());
                    Some(st)
                }
                Err(StartError::Interrupted) => {
                    eprintln!("Interrupted while the server was starting.");
                    let mut doc = crate::doc::SweepDocument::new(Default::default(), None);
                    doc.interrupted = true;
                    return Ok(Finished {
                        result: SettingResult {
                            label: setting.label(),
                            params: setting.params(),
                            cold_start: None,
                            levels: Vec::new(),
                            verdict: None,
                            interrupted: true,
                            error: None,
                        },
                        doc,
                        outcome: Outcome::Interrupted,
                    });
                }
                Err(e) => return Err(e.into()),
            }
        }
        None => None,
    };
    let plan = &plan;
    let measured = measure_ladder(h, plan, started.as_ref(), earlier).await;
    if let Some(st) = started {
        let status = st.process.stop(crate::server::STOP_GRACE).await;
        println!(
            "Server: stopped{}",
            status
                .map(|s| format!(" ({})", crate::server::process::describe_status(s)))
                .unwrap_or_default()
        );
    }
    let (doc, outcome) = measured?;
    let result = SettingResult {
        label: setting.label(),
        params: setting.params(),
        cold_start: doc.cold_start.clone(),
        levels: doc.levels.clone(),
        verdict: doc.verdict.clone(),
        interrupted: doc.interrupted,
        error: None,
    };
    Ok(Finished { doc, result, outcome })
}

/// The ladder of one setting on a fresh session: its document (with the
/// verdict) and outcome; nothing written but the progress JSON.
async fn measure_ladder(
    h: &Harness,
    plan: &SweepPlan,
    started: Option<&crate::server::Started>,
    earlier: Option<SettingsSweep>,
) -> anyhow::Result<(crate::doc::SweepDocument, Outcome)> {
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
    let cold_start = match started {
        Some(st) => {
            let first = crate::server::first_request(&session, &plan.base, h.signals()).await?;
            let cold = crate::server::cold_start(st, first, &plan.base);
            for line in cold.lines() {
                println!("{line}");
            }
            Some(cold)
        }
        None => None,
    };
    let mut sweep = Sweep {
        plan,
        harness: h,
        session,
        levels: Vec::new(),
        started_at: chrono::Local::now(),
        interrupted: h.signals().interrupt.is_cancelled(),
        cold_start,
        earlier,
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
    let mut document = sweep.document(Some(&verdict));
    // The progress file's earlier settings are the caller's to write.
    document.settings_sweep = None;
    let nothing = sweep.levels.iter().all(|l| l.summary.successful == 0);
    let outcome = if sweep.interrupted {
        Outcome::Interrupted
    } else if nothing && sweep.levels.iter().any(|l| l.summary.requests_total > 0) {
        eprintln!("error: no request succeeded at any level");
        Outcome::NothingSucceeded
    } else if !plan.base.slos.is_empty() && !sweep.levels.iter().any(|l| l.slos.iter().all(|r| r.passed)) {
        Outcome::ObjectivesFailed
    } else {
        Outcome::Success
    };
    Ok((document, outcome))
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
        let mut doc = document::document(
            self.plan,
            &self.session,
            self.started_at,
            self.interrupted,
            &self.levels,
            verdict,
        );
        doc.cold_start.clone_from(&self.cold_start);
        // A sweep over settings: the progress file keeps the finished ones.
        doc.settings_sweep.clone_from(&self.earlier);
        doc
    }
}
