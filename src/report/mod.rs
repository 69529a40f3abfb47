//! Reports people read: charts, a self-contained HTML page, CSV and
//! Markdown, rendered from a finished run or sweep, or again later from its
//! saved files (`inferload report INPUT`).
//!
//! Every renderer reads one [`Document`]: built from the live
//! [`RunReport`] at the end of a run, from the sweep's `--json` document at
//! the end of a sweep, or from a saved file (a run or sweep `--json`
//! document, or a `--records` JSONL file). The per-request charts read the
//! document's bounded [`Series`](series::Series), which the run document
//! also saves (its `series` section) whenever the run kept its records.
//!
//! - [`charts`]: PNG and SVG with plotters, fonts embedded (`--plot DIR`);
//! - [`html`]: one self-contained page, inline SVG and CSS, no script (`--html`);
//! - [`csvfile`]: one row per request or per level (`--csv`);
//! - [`markdown`]: the summary as tables for pull requests (`--markdown`).
//!
//! Every file is written atomically. Text from outside (model names, error
//! messages, settings) is escaped by each renderer for its format.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::app::Exit;
use crate::cli::ReportCmdArgs;
use crate::export::{ExportError, Exporter, RunReport};
use crate::plan::ReportPaths as ReportArgs;

pub mod charts;
pub mod compare;
pub mod csvfile;
pub mod document;
pub mod html;
pub mod markdown;
pub mod series;

pub use document::{Document, RunDoc, SweepDoc};

/// True when the reports asked for need every request's record (the
/// per-request CSV, the charts and the HTML page).
pub fn needs_records(args: &ReportArgs) -> bool {
    args.plot.is_some() || args.html.is_some() || args.csv.is_some()
}

/// One report format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Plot,
    Html,
    Csv,
    Markdown,
}

impl Format {
    fn flag(self) -> &'static str {
        match self {
            Format::Plot => "--plot",
            Format::Html => "--html",
            Format::Csv => "--csv",
            Format::Markdown => "--markdown",
        }
    }
}

/// The formats asked for, each with its path, in a fixed order.
fn asked(args: &ReportArgs) -> Vec<(Format, PathBuf)> {
    [
        (Format::Plot, &args.plot),
        (Format::Html, &args.html),
        (Format::Csv, &args.csv),
        (Format::Markdown, &args.markdown),
    ]
    .into_iter()
    .filter_map(|(f, p)| Some((f, p.clone()?)))
    .collect()
}

/// Writes one format of a document.
pub fn render(doc: &Document, format: Format, path: &Path) -> anyhow::Result<()> {
    let ctx = || format!("{} {}", format.flag(), path.display());
    match format {
        Format::Plot => write_plots(doc, path).map(|_| ()).with_context(ctx),
        Format::Html => write(path, html::render(doc).as_bytes()).with_context(ctx),
        Format::Csv => {
            let bytes = csvfile::render(doc).map_err(anyhow::Error::msg).with_context(ctx)?;
            write(path, &bytes).with_context(ctx)
        }
        Format::Markdown => write(path, markdown::render(doc).as_bytes()).with_context(ctx),
    }
}

fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    crate::files::write_atomic(path, bytes)?;
    Ok(())
}

/// Draws every chart of the document into `dir` as `NAME.png` and
/// `NAME.svg`; returns the files written.
pub fn write_plots(doc: &Document, dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let charts = match doc {
        Document::Run(r) => charts::run_charts(r),
        Document::Sweep(s) => charts::sweep_charts(s),
        Document::Compare(c) => charts::compare_charts(c),
    };
    let mut written = Vec::new();
    for c in &charts {
        let png = dir.join(format!("{}.png", c.name));
        write(&png, &c.png().map_err(anyhow::Error::msg).with_context(|| c.name)?)?;
        let svg = dir.join(format!("{}.svg", c.name));
        write(
            &svg,
            c.svg().map_err(anyhow::Error::msg).with_context(|| c.name)?.as_bytes(),
        )?;
        written.extend([png, svg]);
    }
    Ok(written)
}

/// One report of a run, as an exporter of the run's output loop.
struct ReportExporter {
    format: Format,
    path: PathBuf,
}

impl Exporter for ReportExporter {
    fn export(&self, report: &RunReport) -> Result<(), ExportError> {
        let doc = Document::Run(Box::new(RunDoc::of(report)));
        render(&doc, self.format, &self.path)
            .map_err(|e| ExportError::io(&self.path, std::io::Error::other(format!("{e:#}"))))
    }
}

/// The report exporters a run's plan asks for (`--plot`, `--html`, `--csv`,
/// `--markdown`), each with the path it writes, for the run's output loop.
pub fn run_exporters(report: &RunReport) -> Vec<(PathBuf, Box<dyn Exporter>)> {
    asked(&report.plan.outputs.reports)
        .into_iter()
        .map(|(format, path)| {
            let e: Box<dyn Exporter> = Box::new(ReportExporter {
                format,
                path: path.clone(),
            });
            (path, e)
        })
        .collect()
}

/// Renders a finished sweep (its `--json` document) into every report asked
/// for; returns the paths written.
pub fn write_sweep_reports(args: &ReportArgs, sweep: &serde_json::Value) -> anyhow::Result<Vec<PathBuf>> {
    let wanted = asked(args);
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let doc = Document::of_sweep_value(sweep).map_err(|e| anyhow::anyhow!("the sweep document: {e}"))?;
    let doc = Document::Sweep(Box::new(doc));
    let mut written = Vec::new();
    for (format, path) in wanted {
        render(&doc, format, &path)?;
        written.push(path);
    }
    Ok(written)
}

/// Renders a finished comparison (its `--json` document) into every report
/// asked for (`--plot`: the radar and the grouped bars); returns the paths.
pub fn write_compare_reports(args: &ReportArgs, doc: &serde_json::Value) -> anyhow::Result<Vec<PathBuf>> {
    let wanted = asked(args);
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let doc = compare::CompareDoc::of_value(doc).map_err(|e| anyhow::anyhow!("the comparison document: {e}"))?;
    let doc = Document::Compare(Box::new(doc));
    let mut written = Vec::new();
    for (format, path) in wanted {
        render(&doc, format, &path)?;
        written.push(path);
    }
    Ok(written)
}

/// `inferload report INPUT`.
pub fn report_cli(args: &ReportCmdArgs) -> anyhow::Result<Exit> {
    let doc = Document::load(&args.input)?;
    // Written, not print!ed: a closed pipe (`| head`) is not a panic.
    let mut stdout = std::io::stdout().lock();
    if !args.quiet {
        let _ = write!(stdout, "{}", console(&doc));
    }
    for (format, path) in asked(&args.reports.paths()) {
        render(&doc, format, &path)?;
        let _ = writeln!(stdout, "Report written to {}", path.display());
    }
    Ok(Exit::Success)
}

/// The console summary of a document: the run's summary as `inferload run`
/// prints it, or the sweep's level table and verdict.
pub fn console(doc: &Document) -> String {
    match doc {
        Document::Run(r) => run_console(r),
        Document::Sweep(s) => sweep_console(s),
        Document::Compare(c) => compare::console(c),
    }
}

fn run_console(r: &RunDoc) -> String {
    use crate::schedule::ScheduleSpec;
    // The console summary reads a plan: rebuild the parts it reads (the
    // schedule and whether the run streamed) from the saved settings.
    let plan = |rate: Option<f64>| {
        let mut o = crate::plan::RunOptions::default();
        o.load.rate = rate;
        crate::plan::RunPlan::resolve(&o).ok()
    };
    let (Some(mut plan), Some(open)) = (plan(None), plan(Some(f64::INFINITY))) else {
        return String::new();
    };
    let arrival = match open.schedule {
        ScheduleSpec::Open { arrival, .. } => arrival,
        ScheduleSpec::Closed { .. } | ScheduleSpec::Users { .. } => return String::new(),
    };
    let saved = r.settings.as_ref().and_then(|s| s.get("schedule"));
    let num = |k: &str| saved.and_then(|s| s.get(k)).and_then(|v| v.as_f64());
    plan.schedule = match saved.and_then(|s| s.get("mode")).and_then(|m| m.as_str()) {
        Some("closed") => ScheduleSpec::Closed {
            concurrency: num("concurrency").unwrap_or(1.0) as usize,
        },
        Some("users") => ScheduleSpec::Users {
            users: num("users").unwrap_or(1.0) as usize,
            spawn_rate: num("spawn_rate").unwrap_or(1.0),
            think: (std::time::Duration::ZERO, std::time::Duration::ZERO),
        },
        Some("open") => ScheduleSpec::Open {
            // JSON has no infinity: an unbounded rate is saved as null.
            rate: num("rate").unwrap_or(f64::INFINITY),
            // The summary does not print the arrival process.
            arrival,
            cap: num("cap").map(|c| c as usize),
        },
        // A records file does not say: show neither a concurrency nor a rate.
        _ => ScheduleSpec::Open {
            rate: f64::INFINITY,
            arrival,
            cap: None,
        },
    };
    plan.workload.stream = r.stream;
    let report = RunReport {
        plan,
        target_url: r.target_url.clone().unwrap_or_default(),
        embedded_sim: r.embedded_sim,
        model: r.model.clone().unwrap_or_default(),
        started_at: chrono::Local::now(),
        summary: r.summary.clone(),
        goodput: r.goodput,
        slo_results: Vec::new(),
        cancelled: r.cancelled,
        interrupted: r.interrupted,
        records: Vec::new(),
        users: None,
        breakdown: None,
        monitor: r.monitor.clone(),
        trust: r.trust.clone(),
    };
    let mut out = crate::export::console_summary(&report);
    if !r.slos.is_empty() {
        out.push_str("Objectives:\n");
        for s in &r.slos {
            let mark = if s.passed { "PASS" } else { "FAIL" };
            out.push_str(&format!("  {mark}  {}  (measured {})\n", s.expr, s.measured));
        }
    }
    out
}

fn sweep_console(s: &SweepDoc) -> String {
    use crate::sweep::rules::Trip;
    use crate::sweep::{level_table, LevelResult};
    let trip = |t: &document::SavedTrip| Trip {
        rule: t.rule.clone(),
        detail: t.detail.clone(),
    };
    let levels: Vec<LevelResult> = s
        .levels
        .iter()
        .map(|l| LevelResult {
            concurrency: l.concurrency,
            rate: l.rate,
            achieved_rate: l.achieved_rate,
            requests: l.requests,
            success_rate: l.success_rate,
            request_throughput: l.request_throughput,
            output_throughput: l.output_throughput,
            efficiency: l.efficiency,
            goodput: l.goodput,
            slos: Vec::new(),
            trip: l.trip.as_ref().map(trip),
            summary: l.summary.clone(),
            monitor: l.monitor.clone(),
            trust: None,
        })
        .collect();
    let mut out = level_table(&levels);
    out.push_str(&verdict_text(s));
    out
}

/// The sweep's verdict as `inferload sweep` prints it.
pub fn verdict_text(s: &SweepDoc) -> String {
    use crate::sweep::rules::Trip;
    use crate::sweep::{verdict_block, Verdict};
    let Some(v) = &s.verdict else {
        return "\nNo verdict: the sweep was interrupted before it finished.\n".into();
    };
    let trip = |t: &document::SavedTrip| Trip {
        rule: t.rule.clone(),
        detail: t.detail.clone(),
    };
    verdict_block(&Verdict {
        max_stable_concurrency: v.max_stable_concurrency,
        recommended_concurrency: v.recommended_concurrency,
        max_stable_rate: v.max_stable_rate,
        recommended_rate: v.recommended_rate,
        required_concurrency: v.required_concurrency,
        max_rate_under_slo: v.max_rate_under_slo,
        request_throughput: v.request_throughput,
        output_throughput: v.output_throughput,
        stopped_by: v.stopped_by.as_ref().map(trip),
        stopped_at: v.stopped_at.clone(),
        reason: v.reason.clone(),
    })
}
