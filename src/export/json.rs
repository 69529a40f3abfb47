//! The native run document (`--json FILE`), versioned and described by the
//! JSON Schema committed at `docs/schema/run.schema.json`.
//!
//! ```text
//! { "schema": "inferload/run", "schema_version": 1,
//!   "tool": {"name", "version"}, "started_at": RFC 3339,
//!   "target_url", "embedded_sim", "model", "interrupted", "cancelled",
//!   "settings": the RunPlan (secrets as "***"),
//!   "summary": the Summary (latencies in ms, null when undefined),
//!   "goodput": {good_requests, goodput, good_share} or null,
//!   "slos": [{slo, measured, passed}],
//!   "series": charts' bounded data (only when the run kept its records;
//!             see `crate::report::series`),
//!   "users": {peak, final, series: [[t_s, active]]} (`--users` only),
//!   "breakdown": {by_task, by_model: [{label, summary}]} (task mixes only) }
//! ```
//!
//! Adding a field is compatible; renaming, removing or changing the meaning
//! or unit of one bumps `schema_version`.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::plan::RunPlan;
use crate::report::series::Series;
use crate::slo::{Goodput, SloResult};
use crate::stats::Summary;

use super::{write_json, ExportError, Exporter, RunReport};

/// The `schema` value of the run document.
pub const SCHEMA: &str = "inferload/run";
/// Bumped on any incompatible change of the document.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Serialize)]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
}

/// The document, borrowing from the report.
#[derive(Debug, Serialize)]
pub struct RunDocument<'a> {
    pub schema: &'static str,
    pub schema_version: u32,
    pub tool: Tool,
    pub started_at: String,
    pub target_url: &'a str,
    pub embedded_sim: bool,
    pub model: &'a str,
    pub interrupted: bool,
    /// Requests cut off by the stop (in the records file, not the summary).
    pub cancelled: u64,
    /// The plan (see [`Settings`]).
    pub settings: Settings<'a>,
    pub summary: &'a Summary,
    pub goodput: Option<Goodput>,
    pub slos: &'a [SloResult],
    /// The charts' data, when the run kept its records (a report was asked
    /// for); lets `inferload report run.json` draw them again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series: Option<Series>,
    /// Users active over time (`--users`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub users: Option<&'a crate::schedule::UsersActivity>,
    /// Per-task and per-model summaries (a scenario's task mix).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breakdown: Option<&'a crate::stats::breakdown::Breakdown>,
    /// What the monitor saw: sources, notes, summary, time series.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monitor: Option<&'a crate::monitor::MonitorReport>,
    /// Whether the load generator kept up, with its figures.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trust: Option<&'a crate::monitor::TrustVerdict>,
}

impl<'a> RunDocument<'a> {
    pub fn of(report: &'a RunReport) -> Self {
        Self {
            schema: SCHEMA,
            schema_version: SCHEMA_VERSION,
            tool: Tool {
                name: env!("CARGO_PKG_NAME"),
                version: env!("CARGO_PKG_VERSION"),
            },
            started_at: report.started_at.to_rfc3339(),
            target_url: &report.target_url,
            embedded_sim: report.embedded_sim,
            model: &report.model,
            interrupted: report.interrupted,
            cancelled: report.cancelled,
            settings: Settings::of(&report.plan),
            summary: &report.summary,
            goodput: report.goodput,
            slos: &report.slo_results,
            series: (!report.records.is_empty()).then(|| Series::from_records(&report.records)),
            users: report.users.as_ref(),
            breakdown: report.breakdown.as_ref(),
            monitor: report.monitor.as_ref(),
            trust: report.trust.as_ref(),
        }
    }
}

/// The plan as written in the document (secrets are `***`): the plan
/// itself, in its field order; or, should part of it fail to serialize,
/// [`settings_fallback`], so the measured results are still written.
#[derive(Debug, Serialize)]
#[serde(untagged)]
pub enum Settings<'a> {
    Plan(&'a RunPlan),
    Fallback(serde_json::Value),
}

impl<'a> Settings<'a> {
    pub fn of(plan: &'a RunPlan) -> Self {
        match serde_json::to_value(plan) {
            Ok(_) => Self::Plan(plan),
            Err(_) => Self::Fallback(settings_fallback(plan)),
        }
    }
}

/// The plan field by field; a field that cannot be serialized becomes
/// `{"unserializable": error, "debug": its Debug form}`.
pub fn settings_fallback(plan: &RunPlan) -> serde_json::Value {
    fn put<T: Serialize + std::fmt::Debug>(m: &mut serde_json::Map<String, serde_json::Value>, key: &str, v: &T) {
        let value = serde_json::to_value(v)
            .unwrap_or_else(|e| serde_json::json!({ "unserializable": e.to_string(), "debug": format!("{v:?}") }));
        m.insert(key.to_string(), value);
    }
    let mut m = serde_json::Map::new();
    put(&mut m, "target", &plan.target);
    put(&mut m, "schedule", &plan.schedule);
    put(&mut m, "stop", &plan.stop);
    put(&mut m, "warmup", &plan.warmup);
    put(&mut m, "seed", &plan.seed);
    m.insert("grace".into(), plan.grace.as_secs_f64().into());
    put(&mut m, "workload", &plan.workload);
    put(&mut m, "slos", &plan.slos);
    put(&mut m, "outputs", &plan.outputs);
    put(&mut m, "monitor", &plan.monitor);
    serde_json::Value::Object(m)
}

/// Writes the run document to a file.
pub struct JsonExporter {
    pub path: PathBuf,
}

impl JsonExporter {
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
        }
    }
}

impl Exporter for JsonExporter {
    fn export(&self, report: &RunReport) -> Result<(), ExportError> {
        write_json(&self.path, &RunDocument::of(report))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::report;
    use super::*;

    fn schema() -> serde_json::Value {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/schema/run.schema.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn check(doc: &serde_json::Value) {
        let validator = jsonschema::options()
            .should_validate_formats(true)
            .build(&schema())
            .expect("the schema compiles");
        let errors: Vec<String> = validator
            .iter_errors(doc)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{errors:#?}\n{doc:#}");
    }

    #[test]
    fn the_schema_is_valid_draft_2020_12() {
        let s = schema();
        assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema");
        jsonschema::meta::validate(&s).expect("valid schema");
    }

    #[test]
    fn documents_of_every_shape_match_the_schema() {
        for args in [
            &["-c", "3", "-n", "8"][..],
            &[
                "--rate",
                "inf",
                "-n",
                "8",
                "--slo",
                "ttft_p90<500ms,error_rate<1%",
                "--goodput",
                "e2el:900",
            ],
            &[
                "--rate",
                "4",
                "--burstiness",
                "0.5",
                "-c",
                "2",
                "--duration",
                "3s",
                "--no-stream",
            ],
            &[
                "--rate",
                "4",
                "--arrival",
                "constant",
                "--api-key",
                "sk-secret-123456",
                "--header",
                "X-Api-Key: abc123456",
            ],
            &[
                "--extra-body",
                "{\"temperature\":0}",
                "--save-result",
                "--header",
                "X-Trace: 1",
            ],
        ] {
            let mut r = report(args);
            let doc = serde_json::to_value(RunDocument::of(&r)).unwrap();
            check(&doc);
            assert!(!doc.to_string().contains("sk-secret-123456"));
            // And without any request at all.
            r.summary = Summary::default();
            r.interrupted = true;
            check(&serde_json::to_value(RunDocument::of(&r)).unwrap());
        }
    }

    #[test]
    fn monitored_documents_match_the_schema() {
        use crate::monitor::trust::{judge, Inputs, Lag};
        let mut r = report(&["-c", "2", "-n", "8", "--scrape", "http://127.0.0.1:1/metrics"]);
        r.monitor = Some(crate::monitor::example_report());
        for cpu_seconds in [0.1, 10.0] {
            r.trust = Some(judge(&Inputs {
                cpu_seconds,
                wall: std::time::Duration::from_secs(2),
                workers: 2,
                lag: Lag::default(),
                dispatch: Default::default(),
                paced: false,
            }));
            let doc = serde_json::to_value(RunDocument::of(&r)).unwrap();
            check(&doc);
            assert_eq!(doc.pointer("/monitor/summary/gpu_util_pct/peak").unwrap(), 100.0);
            assert_eq!(
                doc.pointer("/settings/monitor/scrape/0").unwrap(),
                "http://127.0.0.1:1/metrics"
            );
        }
    }

    /// The measured results are written even if part of the plan cannot
    /// be serialized (as with a file dataset while `DatasetSpec`'s
    /// internally tagged newtype variants cannot be).
    #[test]
    fn settings_that_fail_to_serialize_do_not_lose_the_summary() {
        let r = report(&["--prompt", "Say hi", "-n", "8"]);
        let doc = serde_json::to_value(RunDocument::of(&r)).unwrap();
        assert_eq!(doc.pointer("/summary/successful").unwrap(), 6);
        assert_eq!(
            doc.pointer("/settings/target/endpoint").unwrap(),
            "/v1/chat/completions"
        );
        assert!(doc.pointer("/settings/workload").unwrap().is_object());
    }

    #[test]
    fn the_file_carries_the_documented_pointers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.json");
        let r = report(&["-c", "2", "-n", "8"]);
        JsonExporter::new(&path).export(&r).unwrap();
        let v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(v["schema"], "inferload/run");
        assert_eq!(v["schema_version"], 1);
        assert_eq!(v.pointer("/summary/ttft_ms/mean").unwrap(), 100.0);
        assert_eq!(v.pointer("/summary/successful").unwrap(), 6);
        assert_eq!(v.pointer("/summary/errors/0/class").unwrap(), "http_500");
        assert_eq!(v.pointer("/settings/target/endpoint").unwrap(), "/v1/chat/completions");
        assert_eq!(v["interrupted"], false);
        assert!(chrono::DateTime::parse_from_rfc3339(v["started_at"].as_str().unwrap()).is_ok());
    }
}
