//! Reports people read: charts, a self-contained HTML page, CSV and
//! Markdown, rendered from a finished run or sweep, or again later from its
//! saved files (`inferload report`). (Interface stub.)

use std::path::PathBuf;

use crate::app::Exit;
use crate::cli::{ReportArgs, ReportCmdArgs};
use crate::export::{Exporter, RunReport};

/// True when the reports asked for need every request's record (the
/// per-request CSV, the charts and the HTML page).
pub fn needs_records(args: &ReportArgs) -> bool {
    args.plot.is_some() || args.html.is_some() || args.csv.is_some()
}

/// The report exporters a run's plan asks for (`--plot`, `--html`, `--csv`,
/// `--markdown`), each with the path it writes, for the run's output loop.
pub fn run_exporters(_report: &RunReport) -> Vec<(PathBuf, Box<dyn Exporter>)> {
    Vec::new()
}

/// Renders a finished sweep (its `--json` document) into every report asked
/// for; returns the paths written.
pub fn write_sweep_reports(_args: &ReportArgs, _sweep: &serde_json::Value) -> anyhow::Result<Vec<PathBuf>> {
    Ok(Vec::new())
}

/// `inferload report INPUT`.
pub fn report_cli(_args: &ReportCmdArgs) -> anyhow::Result<Exit> {
    anyhow::bail!("inferload report is not available yet")
}
