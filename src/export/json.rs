//! `--json FILE`: the run document ([`crate::doc::RunDocument`]) as
//! pretty JSON, described by the JSON Schema committed at
//! `docs/schema/run.schema.json`.

use std::path::{Path, PathBuf};

use super::{write_json, ExportError, Exporter, RunReport};

pub use crate::doc::run::{SCHEMA, SCHEMA_VERSION};

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
        write_json(&self.path, &report.doc)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{closed, open, report, save_result, slos};
    use super::*;
    use crate::doc::RunSettings;

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
        use crate::doc::settings::{Arrival, HeaderSetting, Schedule, MASK};
        type Shape = Box<dyn Fn(&mut RunSettings)>;
        let shapes: [Shape; 5] = [
            Box::new(|s| s.schedule = closed(3)),
            Box::new(|s| {
                s.schedule = open(None, None);
                s.slos = slos("ttft_p90<500ms,error_rate<1%");
                s.goodput_bounds = vec![crate::slo::parse_goodput("e2el:900").unwrap()];
            }),
            Box::new(|s| {
                s.schedule = Schedule::Open {
                    rate: Some(4.0),
                    arrival: Arrival::Gamma { shape: 0.5 },
                    cap: Some(2),
                };
                s.stop.requests = None;
                s.stop.duration = Some(3.0);
                s.workload.stream = false;
            }),
            Box::new(|s| {
                s.schedule = Schedule::Open {
                    rate: Some(4.0),
                    arrival: Arrival::Constant,
                    cap: None,
                };
                s.target.api_key = Some(MASK.into());
                s.target.headers = vec![HeaderSetting {
                    name: "X-Api-Key".into(),
                    value: MASK.into(),
                }];
            }),
            Box::new(|s| {
                let body = serde_json::json!({"temperature": 0});
                s.workload.extra_body = body.as_object().cloned();
                s.outputs.vllm_result = Some(save_result());
                s.target.headers = vec![HeaderSetting {
                    name: "X-Trace".into(),
                    value: "1".into(),
                }];
            }),
        ];
        for shape in shapes {
            let mut r = report(|s| shape(s));
            check(&serde_json::to_value(&r.doc).unwrap());
            // And without any request at all.
            r.doc.summary = crate::stats::Summary::default();
            r.doc.interrupted = true;
            check(&serde_json::to_value(&r.doc).unwrap());
        }
    }

    #[test]
    fn monitored_documents_match_the_schema() {
        use crate::monitor::trust::{judge, Inputs, Lag};
        let mut r = report(|s| {
            s.schedule = closed(2);
            s.monitor.scrape = vec!["http://127.0.0.1:1/metrics".into()];
        });
        r.doc.monitor = Some(crate::monitor::example_report());
        for cpu_seconds in [0.1, 10.0] {
            r.doc.trust = Some(judge(&Inputs {
                cpu_seconds,
                wall: std::time::Duration::from_secs(2),
                workers: 2,
                lag: Lag::default(),
                dispatch: Default::default(),
                paced: false,
                cap: Some(4),
                latencies: Default::default(),
                cpu_wait_seconds: Some(0.5),
            }));
            let doc = serde_json::to_value(&r.doc).unwrap();
            check(&doc);
            assert_eq!(doc.pointer("/monitor/summary/gpu_util_pct/peak").unwrap(), 100.0);
            assert_eq!(
                doc.pointer("/settings/monitor/scrape/0").unwrap(),
                "http://127.0.0.1:1/metrics"
            );
        }
    }

    /// A fixed prompt's settings are written whole beside the summary.
    #[test]
    fn a_prompt_runs_settings_are_written_with_the_summary() {
        let r = report(|s| {
            s.workload.dataset = crate::doc::settings::Dataset::Prompt { text: "Say hi".into() };
        });
        let doc = serde_json::to_value(&r.doc).unwrap();
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
        let r = report(|s| s.schedule = closed(2));
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
