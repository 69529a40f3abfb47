//! Reports people read: charts, a self-contained HTML page, CSV and
//! Markdown, rendered from a finished run, sweep or comparison, or again
//! later from its saved files (`inferload report INPUT`).
//!
//! Every renderer reads one [`Document`]: a run (its document and, when
//! kept, its records), a sweep or a comparison document — the same
//! [`crate::doc`] types the commands write — built at the end of a command
//! or loaded from a saved file (any `--json` document, or a `--records`
//! JSONL file). The per-request charts read the run document's bounded
//! [`Series`](crate::doc::Series), which it saves whenever the run kept its
//! records.
//!
//! The module is divided by output format, one file each; every format
//! renders all three document kinds:
//!
//! - [`charts`]: PNG and SVG with plotters, fonts embedded (`--plot DIR`);
//!   the largest format, itself split by document kind;
//! - [`html`]: one self-contained page, inline SVG and CSS, no script (`--html`);
//! - [`csvfile`]: one row per request, level or strategy (`--csv`);
//! - [`markdown`]: the summary as tables for pull requests (`--markdown`);
//! - [`document`]: the [`Document`] and the rows several formats share.
//!
//! Every file is written atomically. Text from outside (model names, error
//! messages, settings) is escaped by each renderer for its format.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::doc::settings::ReportPaths;
use crate::export::RunReport;
use crate::outcome::Outcome;

pub mod charts;
pub mod csvfile;
pub mod document;
pub mod html;
pub mod markdown;

pub use document::{Document, Loaded};

/// True when the reports asked for need every request's record (the
/// per-request CSV, the charts and the HTML page).
pub fn needs_records(paths: &ReportPaths) -> bool {
    paths.plot.is_some() || paths.html.is_some() || paths.csv.is_some()
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
pub fn asked(paths: &ReportPaths) -> Vec<(Format, PathBuf)> {
    [
        (Format::Plot, &paths.plot),
        (Format::Html, &paths.html),
        (Format::Csv, &paths.csv),
        (Format::Markdown, &paths.markdown),
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

/// `inferload report INPUT`: prints the document as its command did
/// (unless `quiet`) and renders every report asked for.
pub fn report_command(input: &Path, paths: &ReportPaths, quiet: bool) -> anyhow::Result<Outcome> {
    let loaded = Loaded::load(input)?;
    let doc = loaded.document();
    // Written, not print!ed: a closed pipe (`| head`) is not a panic.
    let mut stdout = std::io::stdout().lock();
    if !quiet {
        let _ = write!(stdout, "{}", console(&doc));
    }
    for (format, path) in asked(paths) {
        render(&doc, format, &path)?;
        let _ = writeln!(stdout, "Report written to {}", path.display());
    }
    Ok(Outcome::Success)
}

/// The console text of a document, as its command printed it: the run's
/// summary (with its per-task and per-model tables and objectives), the
/// sweep's level table and verdict, or the comparison table.
pub fn console(doc: &Document) -> String {
    match doc {
        Document::Run(r) => run_console(r),
        Document::Sweep(s) => {
            let mut out = crate::export::sweep_table::sweep_text(s);
            if let Some(c) = &s.cold_start {
                for line in c.lines() {
                    out.push_str(&line);
                    out.push('\n');
                }
            }
            if let Some(settings) = &s.settings_sweep {
                out.push_str(&crate::export::settings_table::table(settings));
            }
            out
        }
        Document::Compare(c) => crate::export::compare_table::compare_text(c),
    }
}

fn run_console(r: &RunReport) -> String {
    let d = &r.doc;
    let mut out = crate::export::console_summary(r);
    if let Some(b) = &d.breakdown {
        out.push_str(&crate::stats::breakdown::breakdown_table(b, d.summary.requests_total));
    }
    if let Some(s) = &d.sessions {
        out.push_str(&s.table());
    }
    if let Some(u) = &d.users {
        out.push_str(&u.line());
        out.push('\n');
    }
    if d.unfinished > 0 {
        out.push_str(&format!("{}\n", crate::doc::run::unfinished_line(d.unfinished)));
    }
    if !d.slos.is_empty() {
        out.push_str("Objectives:\n");
        for s in &d.slos {
            let mark = if s.passed { "PASS" } else { "FAIL" };
            out.push_str(&format!("  {mark}  {}  (measured {})\n", s.slo.expr, s.measured_text()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_that_cannot_be_written_names_its_flag_path_and_cause_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("missing").join("r.md");
        let doc = crate::doc::CompareDocument::new(None);
        let e = render(&Document::Compare(&doc), Format::Markdown, &path).unwrap_err();
        let text = format!("{e:#}");
        assert!(text.starts_with("--markdown "), "{text}");
        assert_eq!(text.matches("r.md").count(), 1, "{text}");
        assert_eq!(text.matches("os error 2").count(), 1, "{text}");
    }
}
