//! The documents of a sweep and a comparison, from real runs against the
//! simulator on loopback: each matches its committed JSON Schema
//! (`docs/schema/`), reads back as the library's own type unchanged, and
//! prints again through `inferload report`. (The run document's schema is
//! checked in `exports.rs`.)

use std::path::Path;
use std::time::Duration;

use inferload::doc::{CompareDocument, RunDocument, SweepDocument};
use serde_json::Value;

use crate::args;
use crate::common::*;
use crate::exports::assert_json_close;

const BASE: &str = "https://github.com/inferload/inferload/docs/schema/";

/// Serves the committed schemas by their `$id`, so the sweep and compare
/// schemas' references into `run.schema.json` resolve without a network.
struct LocalSchemas;

impl jsonschema::Retrieve for LocalSchemas {
    fn retrieve(&self, uri: &jsonschema::Uri<String>) -> Result<Value, Box<dyn std::error::Error + Send + Sync>> {
        let name = uri
            .as_str()
            .strip_prefix(BASE)
            .ok_or_else(|| format!("not a committed schema: {}", uri.as_str()))?;
        Ok(load_schema(name))
    }
}

fn load_schema(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/schema").join(name);
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap()
}

pub(crate) fn schema_errors(name: &str, doc: &Value) -> Vec<String> {
    let validator = jsonschema::options()
        .should_validate_formats(true)
        .with_retriever(LocalSchemas)
        .build(&load_schema(name))
        .expect("the committed schema compiles");
    validator
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect()
}

/// The document read as `T` and written again is the document.
pub(crate) fn round_trips<T: serde::de::DeserializeOwned + serde::Serialize>(v: &Value) -> T {
    let typed: T = serde_json::from_value(v.clone()).expect("reads as the library's type");
    assert_json_close(&serde_json::to_value(&typed).unwrap(), v, "");
    typed
}

#[test]
fn every_schema_is_valid_draft_2020_12() {
    for name in ["run.schema.json", "sweep.schema.json", "compare.schema.json"] {
        let s = load_schema(name);
        assert_eq!(s["$schema"], "https://json-schema.org/draft/2020-12/schema", "{name}");
        assert_eq!(s["$id"], format!("{BASE}{name}"), "{name}");
        jsonschema::meta::validate(&s).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    // A document of the wrong kind is refused: the schemas are not vacuous.
    let not_a_sweep = serde_json::json!({"schema": "inferload/run", "levels": []});
    assert!(!schema_errors("sweep.schema.json", &not_a_sweep).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_documents_match_their_schema_and_read_back() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(10), Duration::from_millis(1))).await;
    let dir = tempfile::tempdir().unwrap();
    for (name, load) in [
        ("ladder.json", args!["--concurrency", "1,2", "--slo", "ttft_p90<5s"]),
        (
            "rates.json",
            args!["--rate", "20,40", "--concurrency", 4, "--arrival", "constant"],
        ),
    ] {
        let json = dir.path().join(name);
        let mut a = args![
            "sweep",
            "--url",
            sim.url(),
            "--requests-per-level",
            10,
            "--output-len",
            4,
            "--api-key",
            "sk-sweep-secret-9",
            "--json",
            json.display(),
            "--no-history",
            "--quiet"
        ];
        a.extend(load);
        let out = run_async(a).await;
        assert_eq!(out.code, Some(0), "{}", out.all());
        let v = read_json(&json);
        assert_eq!(schema_errors("sweep.schema.json", &v), Vec::<String>::new(), "{name}");
        // The shared definitions are checked too (through run.schema.json).
        let mut bad = v.clone();
        bad["levels"][0]["summary"]["successful"] = Value::from(-1);
        let errors = schema_errors("sweep.schema.json", &bad);
        assert!(
            errors.iter().any(|e| e.ends_with("/levels/0/summary/successful")),
            "{errors:?}"
        );
        assert_eq!(v["schema"], "inferload/sweep");
        assert_eq!(v["schema_version"], 1);
        assert_eq!(v.pointer("/settings/base/target/api_key").unwrap(), "***");
        assert!(!v.to_string().contains("sk-sweep-secret-9"));
        let doc: SweepDocument = round_trips(&v);
        assert_eq!(doc.levels.len(), 2, "{name}");
        assert!(doc.verdict.is_some());

        // `inferload report` prints the sweep's own table and verdict again.
        let again = run_async(args!["report", json.display()]).await;
        assert_eq!(again.code, Some(0), "{}", again.all());
        assert!(again.stdout.contains("== Sweep =="), "{}", again.stdout);
        let verdict_line = if name == "rates.json" {
            "Maximum sustainable rate:"
        } else {
            "Maximum stable concurrency:"
        };
        assert!(again.stdout.contains(verdict_line), "{}", again.stdout);
        assert!(out.stdout.contains(verdict_line), "{}", out.stdout);
    }
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_documents_match_their_schema_and_read_back() {
    let slow = start_sim(SimConfig::fixed(Duration::from_millis(30), Duration::from_millis(2))).await;
    let fast = start_sim(SimConfig::fixed(Duration::from_millis(5), Duration::from_millis(1))).await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("compare.json");
    let out = run_async(args![
        "compare",
        format!("slow={}", slow.url()),
        format!("fast={}", fast.url()),
        "--concurrency",
        2,
        "--requests",
        8,
        "--output-len",
        4,
        "--header",
        "Authorization: Bearer hdr-compare-secret",
        "--json",
        json.display(),
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let v = read_json(&json);
    assert_eq!(schema_errors("compare.schema.json", &v), Vec::<String>::new());
    let mut bad = v.clone();
    bad["settings"]["strategies"][0]["target"]["target"]["api_key"] = Value::from("sk-leak");
    let errors = schema_errors("compare.schema.json", &bad);
    assert!(errors.iter().any(|e| e.contains("api_key")), "{errors:?}");
    assert_eq!(v["schema"], "inferload/compare");
    assert!(!v.to_string().contains("hdr-compare-secret"));
    assert_eq!(
        v.pointer("/settings/strategies/1/target/target/headers/0/value")
            .unwrap(),
        "***"
    );
    let doc: CompareDocument = round_trips(&v);
    assert_eq!(doc.strategies.len(), 2);
    assert_eq!(doc.best.as_ref().map(|b| b.name.as_str()), Some("fast"));
    // Each strategy carries the connection figures of its runs: two
    // workers, 8 requests, kept-alive connections to a local simulator.
    for s in &doc.strategies {
        let run = s.runs[0].connections.as_ref().expect("the run's connections");
        assert_eq!(run.requests, 8, "{run:?}");
        let c = s.connections.expect("the strategy's connections");
        assert!((1..=8).contains(&c.opened), "{c:?}");
        assert!(c.requests_per_connection >= 1.0, "{c:?}");
    }
    assert!(out.stdout.contains("req/conn"), "{}", out.stdout);
    let again = run_async(args!["report", json.display()]).await;
    assert_eq!(again.code, Some(0), "{}", again.all());
    assert!(again.stdout.contains("Best strategy: fast\n"), "{}", again.stdout);
    assert!(again.stdout.contains("req/conn"), "{}", again.stdout);
    slow.shutdown().await;
    fast.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_document_reads_back_as_written() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(5), Duration::from_millis(1))).await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "--rate",
        50,
        "--arrival",
        "gamma",
        "--burstiness",
        "0.5",
        "-n",
        10,
        "--output-len",
        4,
        "--slo",
        "ttft_p90<5s,error_rate<1%",
        "--goodput",
        "e2el:5000",
        "--json",
        json.display(),
        "--plot",
        dir.path().join("plots").display(),
        "--no-history",
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let v = read_json(&json);
    let doc: RunDocument = round_trips(&v);
    assert_eq!(doc.slos.len(), 2);
    assert!(
        doc.series.is_some(),
        "a report kept the records: the charts' data is saved"
    );
    assert_eq!(v.pointer("/settings/schedule/arrival/kind").unwrap(), "gamma");
    sim.shutdown().await;
}
