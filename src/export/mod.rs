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
//! Besides the file formats, the text renderers of the other documents
//! live here, below the commands that produce them: [`sweep_table`] (the
//! sweep's level table and verdict) and [`compare_table`] (the comparison
//! table), so `inferload report` prints a saved document exactly as the
//! command did, without the command's code.
//!
//! Exporters only read a finished [`RunReport`] (the run's
//! [`RunDocument`] and, when kept, its records); whole files are written
//! atomically (temporary file, then rename), so an interruption never leaves
//! half a file. None of them sees a secret: the document's settings hold
//! keys and sensitive headers as `***` and error messages are redacted when
//! recorded.

use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::doc::{RunDocument, RunSettings, Series};
use crate::record::RequestRecord;

pub mod compare_table;
pub mod console;
pub mod json;
pub mod records;
pub mod settings_table;
pub mod stages_table;
pub mod sweep_table;
pub mod vllm;

pub use console::console_summary;

/// A finished run as the exporters see it: its document, and the records
/// when the run kept them (an output needed every request: vLLM's arrays,
/// the per-request CSV, the charts) or they were read from a records file.
#[derive(Debug, Clone)]
pub struct RunReport {
    pub doc: RunDocument,
    /// Every measured record, in the order they finished; `None` when the
    /// run did not keep them or the source (a saved document) has none.
    pub records: Option<Vec<RequestRecord>>,
}

impl RunReport {
    /// A report of `doc`; kept `records` (when any) also give the
    /// document its chart data (`series`).
    pub fn new(mut doc: RunDocument, records: Vec<RequestRecord>) -> Self {
        if records.is_empty() {
            return Self { doc, records: None };
        }
        if doc.series.is_none() {
            doc.series = Some(Series::from_records(&records));
        }
        // The charts mark where each stage of a load over time began.
        if let (Some(series), Some(stages)) = (doc.series.as_mut(), doc.stages.as_ref()) {
            series.stage_starts_s = stages.boundaries();
        }
        Self {
            doc,
            records: Some(records),
        }
    }

    /// The records kept (empty when none were).
    pub fn records(&self) -> &[RequestRecord] {
        self.records.as_deref().unwrap_or_default()
    }

    pub fn settings(&self) -> Option<&RunSettings> {
        self.doc.settings.as_ref()
    }

    /// Whether the run streamed: from the settings, else from the records,
    /// else from whether any TTFT was measured.
    pub fn streamed(&self) -> bool {
        match (&self.doc.settings, &self.records) {
            (None, Some(recs)) => recs.iter().any(|r| r.streamed),
            _ => self.doc.streamed(),
        }
    }
}

#[derive(Debug, Error)]
pub enum ExportError {
    /// The OS cause is part of the message, not a source: a chain printed
    /// with `{:#}` would name it twice.
    #[error("cannot write {}: {cause}", path.display())]
    Io { path: PathBuf, cause: std::io::Error },
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
            cause: source,
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
    //! A hand-built run for the exporters' unit tests: eight records (one
    //! HTTP 500, one broken stream) and settings built directly, so these
    //! tests depend on the document's types alone, not on how a plan is
    //! made from flags.

    use std::time::Duration;

    use super::*;
    use crate::doc::settings::{
        Arrival, Dataset, MonitorSettings, OutputSettings, Schedule, StopSettings, TargetSettings, VllmResultSettings,
        WorkloadSettings,
    };
    use crate::record::{ErrorClass, RequestError};
    use crate::slo::{Goodput, Slo};
    use crate::stats::SummaryBuilder;

    /// `inferload run`'s defaults against a remote chat endpoint: closed
    /// loop at 10, 8 requests, streamed.
    pub fn settings() -> RunSettings {
        RunSettings {
            target: TargetSettings {
                base_url: Some("http://127.0.0.1:9".into()),
                api: "openai-chat".into(),
                endpoint: "/v1/chat/completions".into(),
                timeout: 600.0,
                ..Default::default()
            },
            schedule: Schedule::Closed { concurrency: 10 },
            stop: StopSettings {
                requests: Some(8),
                duration: None,
            },
            grace: 5.0,
            workload: WorkloadSettings {
                dataset: Dataset::Random {
                    input_len: 1024,
                    output_len: 128,
                    range_ratio: 0.0,
                },
                stream: true,
                ignore_eos: true,
                ..Default::default()
            },
            outputs: OutputSettings {
                tui: "off".into(),
                ..Default::default()
            },
            monitor: MonitorSettings {
                enabled: true,
                interval: 1.0,
                statsd_prefix: "inferload".into(),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    /// Closed loop at `c`.
    pub fn closed(c: usize) -> Schedule {
        Schedule::Closed { concurrency: c }
    }

    /// Poisson arrivals at `rate` (`None`: unbounded), with an optional cap.
    pub fn open(rate: Option<f64>, cap: Option<usize>) -> Schedule {
        Schedule::Open {
            rate,
            arrival: Arrival::Poisson,
            cap,
        }
    }

    /// `--save-result` with vLLM's defaults for the chat backend.
    pub fn save_result() -> VllmResultSettings {
        VllmResultSettings {
            label: "openai-chat".into(),
            backend: "openai-chat".into(),
            ..Default::default()
        }
    }

    /// Objectives as `--slo` would give them.
    pub fn slos(exprs: &str) -> Vec<Slo> {
        crate::slo::parse_all(&[exprs.to_string()]).expect("test objectives parse")
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

    /// The eight records judged under `settings` (objectives evaluated;
    /// five good requests when there are latency bounds).
    pub fn report_with(settings: RunSettings) -> RunReport {
        let records = records();
        let summary = SummaryBuilder::from_records(&records)
            .with_percentiles(settings.percentiles())
            .finish();
        let all: Vec<Slo> = settings.slos.iter().chain(&settings.goodput_bounds).cloned().collect();
        let goodput = (!crate::slo::RequestBounds::new(&all).is_empty()).then_some(Goodput {
            good_requests: 5,
            goodput: 5.0 / summary.duration_s,
            good_share: 5.0 / 8.0,
        });
        let slos = crate::slo::evaluate(&settings.slos, &summary, goodput);
        RunReport::new(
            RunDocument {
                started_at: Some(chrono::Local::now().to_rfc3339()),
                target_url: Some("http://127.0.0.1:9".into()),
                model: Some("org/some-model".into()),
                settings: Some(settings),
                goodput,
                slos,
                ..RunDocument::new(summary)
            },
            records,
        )
    }

    /// The eight records under [`settings`] with `change` applied.
    pub fn report(change: impl FnOnce(&mut RunSettings)) -> RunReport {
        let mut s = settings();
        change(&mut s);
        report_with(s)
    }
}
