//! Exporters: one per output format, each behind [`Exporter`] (interface stub).

use std::path::PathBuf;

use thiserror::Error;

use crate::plan::RunPlan;
use crate::record::RequestRecord;
use crate::stats::Summary;

pub mod records;

/// Everything a finished run hands to the exporters.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub plan: RunPlan,
    /// The base URL actually benchmarked (the simulator's when embedded).
    pub target_url: String,
    pub embedded_sim: bool,
    /// The model actually benchmarked.
    pub model: String,
    /// Wall-clock time the measured phase started.
    pub started_at: chrono::DateTime<chrono::Local>,
    pub summary: Summary,
    /// True when Ctrl-C stopped the run before its stop condition.
    pub interrupted: bool,
    /// Every measured record, kept only when an exporter needs them all
    /// (vLLM's result JSON carries per-request arrays).
    pub records: Vec<RequestRecord>,
}

#[derive(Debug, Error)]
pub enum ExportError {
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

pub trait Exporter {
    fn export(&self, report: &RunReport) -> Result<(), ExportError>;
}

/// The console summary printed at the end of a run.
pub fn console_summary(_report: &RunReport) -> String {
    String::new()
}
