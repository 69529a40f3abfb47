//! Exporters: one module per output format, each file format behind the
//! [`Exporter`] trait.
//!
//! - [`console`]: the summary printed at the end of a run (vLLM's block, then
//!   inferload's tables);
//! - [`json`]: the native, versioned run document (`--json`), described by
//!   `docs/schema/run.schema.json`;
//! - [`vllm`]: `vllm bench serve`'s result JSON (`--save-result`);
//! - [`records`]: the per-request JSONL file (`--records`), streamed while
//!   the run goes rather than exported at its end.
//!
//! Exporters only read a finished [`RunReport`]; whole files are written
//! atomically (temporary file, then rename), so an interruption never leaves
//! half a file. None of them sees a secret: the plan serializes keys and
//! sensitive headers as `***` and error messages are redacted when recorded.

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::plan::RunPlan;
use crate::record::RequestRecord;
use crate::slo::{Goodput, SloResult};
use crate::stats::Summary;

pub mod console;
pub mod json;
pub mod records;
pub mod vllm;

pub use console::console_summary;

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
    /// Good requests per second, when the plan has latency objectives.
    pub goodput: Option<Goodput>,
    /// Every objective of the plan, judged.
    pub slo_results: Vec<SloResult>,
    /// Requests cut off when the run stopped (not in the summary).
    pub cancelled: u64,
    /// True when Ctrl-C stopped the run before its stop condition.
    pub interrupted: bool,
    /// Every measured record, kept only when an exporter needs them all
    /// (vLLM's result JSON carries per-request arrays).
    pub records: Vec<RequestRecord>,
    /// Users active over time (the users schedule, `--users`).
    pub users: Option<crate::schedule::UsersActivity>,
    /// Per-task and per-model figures (a scenario's task mix).
    pub breakdown: Option<crate::stats::breakdown::Breakdown>,
    /// What the monitor saw of the system under test (`None` with
    /// `--no-monitor`, or from a file saved without it).
    pub monitor: Option<crate::monitor::MonitorReport>,
    /// Whether the load generator kept up (`None` from a file saved without it).
    pub trust: Option<crate::monitor::TrustVerdict>,
}

#[derive(Debug, Error)]
pub enum ExportError {
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file that was read back is not what was expected.
    #[error("{}:{line}: {message}", path.display())]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

impl ExportError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// One file output of a finished run.
pub trait Exporter {
    fn export(&self, report: &RunReport) -> Result<(), ExportError>;
}

/// Serializes `value` as pretty JSON and writes it atomically to `path`.
pub(crate) fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> Result<(), ExportError> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| ExportError::io(path, e.into()))?;
    bytes.push(b'\n');
    crate::files::write_atomic(path, &bytes).map_err(|e| ExportError::io(path, e))
}

#[cfg(test)]
pub(crate) mod testing {
    //! A hand-built report for the exporters' unit tests.

    use std::time::Duration;

    use super::*;
    use crate::record::{ErrorClass, RequestError};
    use crate::stats::SummaryBuilder;

    pub fn plan(args: &[&str]) -> RunPlan {
        let options = crate::cli::run_options(args.iter().copied()).expect("test flags parse");
        RunPlan::resolve(&options).expect("test plan")
    }

    pub fn records() -> Vec<RequestRecord> {
        let ms = Duration::from_millis;
        let mut recs: Vec<RequestRecord> = (0..8u64)
            .map(|i| {
                let sent = i * 50;
                RequestRecord {
                    index: i,
                    scheduled_at: ms(sent),
                    sent_at: ms(sent),
                    token_times: vec![ms(sent + 100), ms(sent + 140), ms(sent + 180 + i)],
                    finished_at: Some(ms(sent + 180 + i)),
                    ended_at: ms(sent + 181 + i),
                    input_tokens: 10 + i,
                    output_tokens: 5,
                    streamed: true,
                    status: Some(200),
                    text: Some(format!("reply {i}")),
                    ..Default::default()
                }
            })
            .collect();
        recs[6].error = Some(RequestError {
            class: ErrorClass::Http(500),
            message: "internal server error".into(),
        });
        recs[6].status = Some(500);
        recs[6].text = None;
        recs[7].error = Some(RequestError {
            class: ErrorClass::StreamBroken,
            message: "the stream ended early".into(),
        });
        recs
    }

    pub fn report(args: &[&str]) -> RunReport {
        let plan = plan(args);
        let records = records();
        let summary = SummaryBuilder::from_records(&records).finish();
        let goodput = (!plan.request_bounds().is_empty()).then_some(Goodput {
            good_requests: 5,
            goodput: 5.0 / summary.duration_s,
            good_share: 5.0 / 8.0,
        });
        let slo_results = crate::slo::evaluate(&plan.slos, &summary, goodput);
        RunReport {
            target_url: "http://127.0.0.1:9".into(),
            embedded_sim: false,
            model: "org/some-model".into(),
            started_at: chrono::Local::now(),
            summary,
            goodput,
            slo_results,
            cancelled: 0,
            interrupted: false,
            records,
            plan,
            users: None,
            breakdown: None,
            monitor: None,
            trust: None,
        }
    }
}
