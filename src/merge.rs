//! `inferload merge`: the shards of one run (`--shard K/N`, one document
//! each) joined into one run document, as if one process had sent every
//! request. Counts and token totals add up exactly; percentiles come from
//! the merged HDR histograms each shard saved (`summary_state`), so they
//! are exactly those of one histogram of every request; throughput is over
//! the union of the shards' measured windows, aligned on their wall-clock
//! start times; objectives are judged on the merged result. A shard that
//! is missing is named and the result called partial.
//!
//! A staged run's shards (`--stages` with `--shard K/N`, from one
//! `--start-at`) each carry their stages' mergeable state; the merged
//! document's by-stage section is rebuilt from it the same way, and shards
//! whose stages differ are refused. A conversation run's (`--turns`)
//! session and per-turn figures are joined from their mergeable state too.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};

use crate::doc::run::Merged;
use crate::doc::stages::StagesSection;
use crate::doc::RunDocument;
use crate::export::RunReport;
use crate::harness::outputs;
use crate::harness::stages::{figures, StageAcc};
use crate::outcome::Outcome;
use crate::plan::ReportPaths;
use crate::report::Document;
use crate::schedule::stages::{Profile, StageWindow};
use crate::stats::sessions::{merge_states, Sessions};
use crate::stats::SummaryBuilder;

/// What to merge and where the result goes.
#[derive(Debug, Clone, Default)]
pub struct MergePlan {
    pub inputs: Vec<PathBuf>,
    /// The shards' records files: with them the merged document gets its
    /// time series and per-request charts, aligned on the shards' starts.
    pub records: Vec<PathBuf>,
    pub json: Option<PathBuf>,
    pub reports: ReportPaths,
    pub history: Option<PathBuf>,
    pub quiet: bool,
}

/// One shard's document.
struct Part {
    path: PathBuf,
    doc: RunDocument,
    started: chrono::DateTime<chrono::FixedOffset>,
}

fn load(path: &Path) -> anyhow::Result<Part> {
    let text = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let doc: RunDocument =
        serde_json::from_slice(&text).with_context(|| format!("{}: not a run document", path.display()))?;
    if doc.summary_state.is_none() {
        bail!(
            "{}: not a shard's document (it has no summary_state; run the shards with --shard K/N --json FILE)",
            path.display()
        );
    }
    let started = doc
        .started_at
        .as_deref()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .with_context(|| format!("{}: no valid started_at", path.display()))?;
    Ok(Part {
        path: path.to_path_buf(),
        doc,
        started,
    })
}

/// Merges the shards, prints the result like a run and writes its outputs.
pub fn merge(plan: &MergePlan) -> anyhow::Result<Outcome> {
    if plan.inputs.is_empty() {
        bail!("merge needs the shards' --json documents");
    }
    let parts = plan
        .inputs
        .iter()
        .map(|p| load(p))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let shard_of = |p: &Part| p.doc.settings.as_ref().and_then(|s| s.shard);
    let count = shard_of(&parts[0]).map_or(parts.len() as u64, |s| s.count);
    let mut seen = BTreeSet::new();
    for p in &parts {
        match shard_of(p) {
            Some(s) if s.count != count => bail!(
                "{}: shard {s} is not one of {count} shards like {}",
                p.path.display(),
                parts[0].path.display()
            ),
            Some(s) if !seen.insert(s.index) => bail!("{}: shard {s} is given twice", p.path.display()),
            _ => {}
        }
    }
    let missing: Vec<String> = (0..count)
        .filter(|k| !seen.contains(k) && seen.len() as u64 == parts.len() as u64)
        .map(|k| format!("{k}/{count}"))
        .collect();

    // Every shard's clock moves onto the earliest start's.
    let origin = parts.iter().map(|p| p.started).min().expect("at least one part");
    let shift_of = |p: &Part| (p.started - origin).to_std().unwrap_or(Duration::ZERO);
    // The percentiles the runs were asked for (objectives, --metric-percentiles).
    let asked = parts[0]
        .doc
        .settings
        .as_ref()
        .map(|s| s.percentiles())
        .unwrap_or_default();
    let mut builder = SummaryBuilder::new().with_percentiles(asked);
    let mut good = 0u64;
    let mut has_goodput = false;
    for p in &parts {
        let shift = shift_of(p);
        let state = p.doc.summary_state.as_ref().expect("checked when loaded");
        builder.merge(&SummaryBuilder::from_state(state, shift).with_context(|| format!("{}", p.path.display()))?);
        if let Some(g) = p.doc.goodput {
            has_goodput = true;
            good += g.good_requests;
        }
    }
    let summary = builder.finish();
    let goodput = has_goodput.then(|| crate::slo::Goodput::of(good, summary.requests_total, summary.duration_s));
    let first = &parts[0].doc;
    let mut settings = first.settings.clone();
    if let Some(s) = settings.as_mut() {
        s.shard = None;
    }
    let slos = settings
        .as_ref()
        .map(|s| crate::slo::evaluate(&s.slos, &summary, goodput))
        .unwrap_or_default();
    let objectives = settings.as_ref().map(|s| s.slos.clone()).unwrap_or_default();
    let stages = merge_stages(&parts, &shift_of, &objectives, has_goodput)?;
    let sessions = merge_sessions(&parts, &shift_of)?;
    let doc = RunDocument {
        started_at: Some(origin.to_rfc3339()),
        target_url: first.target_url.clone(),
        embedded_sim: first.embedded_sim,
        model: first.model.clone(),
        interrupted: parts.iter().any(|p| p.doc.interrupted),
        unfinished: parts.iter().map(|p| p.doc.unfinished).sum(),
        settings,
        goodput,
        slos,
        merged: Some(Merged {
            inputs: plan.inputs.iter().map(|p| p.display().to_string()).collect(),
            missing: missing.clone(),
        }),
        stages,
        sessions,
        ..RunDocument::new(summary)
    };
    // The records move onto the merged clock by their shard (index mod N).
    let mut records = Vec::new();
    for path in &plan.records {
        for mut r in crate::export::records::read_records(path)? {
            let shift = parts
                .iter()
                .find(|p| shard_of(p).is_some_and(|s| s.owns(r.index)))
                .map_or(Duration::ZERO, shift_of);
            r.shift(shift);
            records.push(r);
        }
    }
    records.sort_by_key(|r| r.sent_at);
    let report = RunReport::new(doc, records);
    let doc = &report.doc;
    if !plan.quiet {
        print!("{}", crate::export::console_summary(&report));
        if let Some(s) = &doc.sessions {
            print!("{}", s.table());
        }
        if let Some(s) = &doc.stages {
            print!("{}", crate::export::stages_table::table(s));
        }
        print!("{}", crate::ui::slo_block(&doc.slos, doc.goodput));
        if let Some(s) = &doc.stages {
            for line in s.failure_lines() {
                println!("{line}");
            }
        }
    }
    println!("Merged {} shard document(s) of {count}.", parts.len());
    if !missing.is_empty() {
        eprintln!(
            "warning: the result is partial: shard(s) {} missing",
            missing.join(", ")
        );
    }
    let mut files = Vec::new();
    if let Some(path) = &plan.json {
        files.push(outputs::json(path, doc));
    }
    files.extend(outputs::reports(&plan.reports, Document::Run(&report)));
    let written = outputs::write_all("merge", doc, files);
    outputs::record_history(plan.history.as_deref(), |db| {
        crate::history::record_run(db, &report, &[])
    });
    written?;
    Ok(if doc.interrupted {
        Outcome::Interrupted
    } else if doc.summary.requests_total > 0 && doc.summary.successful == 0 {
        eprintln!(
            "error: no request succeeded ({})",
            crate::stats::errors::digest(&doc.summary, 3)
        );
        Outcome::NothingSucceeded
    } else if doc.slos.iter().any(|r| !r.passed) {
        Outcome::ObjectivesFailed
    } else {
        Outcome::Success
    })
}

/// The shards' `stages` sections joined into the one a single process
/// would have written: each stage's summaries merged from their HDR state
/// (counts exact), good requests and time in flight added, the objectives
/// judged per stage again when the shards judged them. Shards of a staged
/// run must share their stages (one `--stages`, one `--start-at`); any
/// difference is refused.
fn merge_stages(
    parts: &[Part],
    shift_of: &dyn Fn(&Part) -> Duration,
    slos: &[crate::slo::Slo],
    judge_goodput: bool,
) -> anyhow::Result<Option<StagesSection>> {
    let first = &parts[0];
    let Some(base) = parts.iter().find_map(|p| p.doc.stages.as_ref()) else {
        return Ok(None);
    };
    for p in parts {
        let Some(st) = &p.doc.stages else {
            bail!(
                "{} has no stages but {} has ({}): not shards of one staged run",
                p.path.display(),
                parts
                    .iter()
                    .find(|q| q.doc.stages.is_some())
                    .map_or(first, |q| q)
                    .path
                    .display(),
                base.profile.describe()
            );
        };
        if let Some(why) = stages_differ(base, st) {
            bail!(
                "{}: its stages differ from {}'s ({why}); the shards of a staged run share one --stages and one --start-at",
                p.path.display(),
                first.path.display()
            );
        }
    }
    if let Some(p) = parts
        .iter()
        .find(|p| p.doc.stages.iter().flat_map(|s| &s.stages).any(|s| s.state.is_none()))
    {
        eprintln!(
            "warning: {}: its stages carry no mergeable state (not written by a shard of this version); the merged document has no by-stage section",
            p.path.display()
        );
        return Ok(None);
    }
    let per_stage = parts
        .iter()
        .flat_map(|p| p.doc.stages.iter().flat_map(|s| &s.stages))
        .any(|s| !s.slos.is_empty());
    let mut accs = Vec::with_capacity(base.stages.len());
    for (i, st) in base.stages.iter().enumerate() {
        let mut acc = StageAcc {
            window: StageWindow {
                start_s: st.start_s,
                end_s: st.end_s,
                from: st.from,
                to: st.to,
            },
            builder: SummaryBuilder::new(),
            good: 0,
            busy_s: 0.0,
            // Shards run side by side: the stage lasted its window once.
            repeats: 1,
        };
        for p in parts {
            let figures = &p.doc.stages.as_ref().expect("checked above").stages[i];
            let state = figures.state.as_ref().expect("checked above");
            // A counted ramp-up's one stage lasts until the longest shard's end.
            acc.window.end_s = acc.window.end_s.max(figures.end_s);
            acc.builder.merge(
                &SummaryBuilder::from_state(&state.summary, shift_of(p))
                    .with_context(|| format!("{}: stage {}", p.path.display(), i + 1))?,
            );
            acc.good += state.good_requests;
            acc.busy_s += state.busy_s;
        }
        accs.push(acc);
    }
    Ok(Some(figures(
        base.profile.clone(),
        accs,
        slos,
        per_stage,
        judge_goodput,
        false,
    )))
}

/// How two shards' stages differ, if they do (a counted ramp-up's end may:
/// it is where each shard's last request ended).
fn stages_differ(a: &StagesSection, b: &StagesSection) -> Option<String> {
    if a.profile != b.profile {
        return Some(format!("{} vs {}", a.profile.describe(), b.profile.describe()));
    }
    if a.stages.len() != b.stages.len() {
        return Some(format!("{} vs {} stages", a.stages.len(), b.stages.len()));
    }
    let open_end = matches!(a.profile, Profile::RampUp { over_s: None, .. });
    let close = |x: f64, y: f64| (x - y).abs() <= 1e-6 * x.abs().max(1.0);
    a.stages.iter().zip(&b.stages).find_map(|(x, y)| {
        let same = close(x.start_s, y.start_s)
            && close(x.from, y.from)
            && close(x.to, y.to)
            && (open_end || close(x.end_s, y.end_s));
        (!same).then(|| {
            format!(
                "stage {}: {:.1}s-{:.1}s vs {:.1}s-{:.1}s",
                x.stage, x.start_s, x.end_s, y.start_s, y.end_s
            )
        })
    })
}

/// The shards' per-session and per-turn figures joined (a session belongs
/// to one shard): counts added, durations pooled, each turn's summary
/// merged from its HDR state.
fn merge_sessions(parts: &[Part], shift_of: &dyn Fn(&Part) -> Duration) -> anyhow::Result<Option<Sessions>> {
    let with: Vec<&Part> = parts.iter().filter(|p| p.doc.sessions.is_some()).collect();
    if with.is_empty() {
        return Ok(None);
    }
    let mut states = Vec::new();
    for p in &with {
        match p.doc.sessions.as_ref().and_then(|s| s.state.as_ref()) {
            Some(s) => states.push((s, shift_of(p))),
            None => {
                eprintln!(
                    "warning: {}: its session figures carry no mergeable state (not written by a shard of this version); the merged document has no session figures",
                    p.path.display()
                );
                return Ok(None);
            }
        }
    }
    Ok(Some(merge_states(&states).context("the shards' session figures")?))
}
