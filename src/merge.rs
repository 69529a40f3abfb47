//! `inferload merge`: the shards of one run (`--shard K/N`, one document
//! each) joined into one run document, as if one process had sent every
//! request. Counts and token totals add up exactly; percentiles come from
//! the merged HDR histograms each shard saved (`summary_state`), so they
//! are exactly those of one histogram of every request; throughput is over
//! the union of the shards' measured windows, aligned on their wall-clock
//! start times; objectives are judged on the merged result. A shard that
//! is missing is named and the result called partial.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context};

use crate::doc::run::Merged;
use crate::doc::RunDocument;
use crate::export::RunReport;
use crate::harness::outputs;
use crate::outcome::Outcome;
use crate::plan::ReportPaths;
use crate::report::Document;
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
    let goodput = has_goodput.then(|| crate::slo::Goodput {
        good_requests: good,
        goodput: if summary.duration_s > 0.0 {
            good as f64 / summary.duration_s
        } else {
            0.0
        },
        good_share: if summary.requests_total > 0 {
            good as f64 / summary.requests_total as f64
        } else {
            0.0
        },
    });
    let first = &parts[0].doc;
    let mut settings = first.settings.clone();
    if let Some(s) = settings.as_mut() {
        s.shard = None;
    }
    let slos = settings
        .as_ref()
        .map(|s| crate::slo::evaluate(&s.slos, &summary, goodput))
        .unwrap_or_default();
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
        print!("{}", crate::ui::slo_block(&doc.slos, doc.goodput));
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
