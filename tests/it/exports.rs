//! Integration tests: the files and console output of `inferload run`
//! against the simulator on loopback — the JSON document against its
//! committed schema, the records file back to the same summary, vLLM's
//! result file and its default name, vLLM's console block.

use std::path::Path;
use std::time::Duration;

use inferload::export::records::read_records;
use inferload::stats::SummaryBuilder;
use serde_json::Value;

use crate::args;
use crate::common::*;

/// Numbers equal to 1e-9 relative (JSON float parsing may differ by an ULP).
pub(crate) fn assert_json_close(a: &Value, b: &Value, at: &str) {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            let (x, y) = (x.as_f64().unwrap(), y.as_f64().unwrap());
            assert!((x - y).abs() <= 1e-9 * x.abs().max(y.abs()), "{at}: {x} != {y}");
        }
        (Value::Object(x), Value::Object(y)) => {
            assert_eq!(x.keys().collect::<Vec<_>>(), y.keys().collect::<Vec<_>>(), "{at}: keys");
            for (k, v) in x {
                assert_json_close(v, &y[k], &format!("{at}/{k}"));
            }
        }
        (Value::Array(x), Value::Array(y)) => {
            assert_eq!(x.len(), y.len(), "{at}: length");
            for (i, (v, w)) in x.iter().zip(y).enumerate() {
                assert_json_close(v, w, &format!("{at}/{i}"));
            }
        }
        _ => assert_eq!(a, b, "{at}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_output_of_real_runs_matches_the_committed_schema() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(20), Duration::from_millis(2))).await;
    let dir = tempfile::tempdir().unwrap();

    let streamed = dir.path().join("streamed.json");
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "-c",
        2,
        "-n",
        12,
        "--output-len",
        5,
        "--json",
        streamed.display(),
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(
        out.stdout
            .contains(&format!("Results written to {}", streamed.display())),
        "{}",
        out.stdout
    );
    let v = read_json(&streamed);
    let errors = schema_errors(&v);
    assert!(errors.is_empty(), "{errors:#?}\n{v:#}");
    assert_eq!(v["schema"], "inferload/run");
    assert_eq!(v.pointer("/summary/successful"), Some(&Value::from(12)));
    assert_eq!(v.pointer("/summary/failed"), Some(&Value::from(0)));
    assert!(v.pointer("/summary/ttft_ms/mean").unwrap().as_f64().unwrap() >= 19.0);
    assert!(v.pointer("/summary/itl_ms/mean").unwrap().as_f64().unwrap() >= 1.5);
    assert_eq!(v["interrupted"], false);
    assert_eq!(v["embedded_sim"], false);

    // Not streamed, with objectives and goodput, open loop.
    let plain = dir.path().join("plain.json");
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "--rate",
        50,
        "-c",
        4,
        "-n",
        10,
        "--output-len",
        4,
        "--no-stream",
        "--slo",
        "e2e_p99<10s,error_rate<50%",
        "--goodput",
        "e2el:10000",
        "--json",
        plain.display(),
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let v = read_json(&plain);
    let errors = schema_errors(&v);
    assert!(errors.is_empty(), "{errors:#?}\n{v:#}");
    assert_eq!(v.pointer("/summary/ttft_ms"), Some(&Value::Null));
    // `--goodput` bounds define goodput; only `--slo` objectives are judged.
    assert_eq!(v.pointer("/slos").and_then(Value::as_array).map(Vec::len), Some(2));
    assert_eq!(v.pointer("/goodput/good_requests"), Some(&Value::from(10)));
    assert!(out.stdout.contains("Request goodput (req/s):"), "{}", out.stdout);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_records_file_recomputes_the_same_summary() {
    let mut cfg = SimConfig::fixed(Duration::from_millis(5), Duration::from_millis(1));
    cfg.error_rate = 0.2;
    let sim = start_sim(cfg).await;
    let dir = tempfile::tempdir().unwrap();
    let (json, records) = (dir.path().join("run.json"), dir.path().join("rec.jsonl"));
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "-c",
        3,
        "-n",
        30,
        "--output-len",
        6,
        "--json",
        json.display(),
        "--records",
        records.display(),
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let recs = read_records(&records).expect("read the records back");
    assert_eq!(recs.len(), 30);
    let recomputed = serde_json::to_value(SummaryBuilder::from_records(&recs).finish()).unwrap();
    let written = read_json(&json);
    assert_json_close(&recomputed, &written["summary"], "summary");
    assert!(
        written.pointer("/summary/failed").and_then(Value::as_u64).unwrap() > 0,
        "20% injected errors: the comparison covers failures too"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vllm_result_file_gets_vllms_default_name_and_keys() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(5), Duration::from_millis(1))).await;
    let dir = tempfile::tempdir().unwrap();
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "--max-concurrency",
        3,
        "--num-prompts",
        7,
        "--output-len",
        4,
        "--save-result",
        "--save-detailed",
        "--label",
        "mylabel",
        "--result-dir",
        dir.path().display(),
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let files: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = &files[0];
    // {label}-{rate}qps-concurrency{N}-{model basename}-{YYYYMMDD-HHMMSS}.json
    let stem = name
        .strip_prefix("mylabel-infqps-concurrency3-")
        .and_then(|s| s.strip_suffix(".json"))
        .unwrap_or_else(|| panic!("unexpected name {name}"));
    let (model, date) = stem.split_at(stem.len() - 15);
    assert!(model.ends_with('-') && model.len() > 1, "{name}");
    assert!(
        date.chars()
            .enumerate()
            .all(|(i, c)| if i == 8 { c == '-' } else { c.is_ascii_digit() }),
        "{name}"
    );
    let path = dir.path().join(name);
    assert!(
        out.stdout.contains(&format!("Results written to {}", path.display())),
        "{}",
        out.stdout
    );
    let v = read_json(&path);
    assert_eq!(v["label"], "mylabel");
    assert_eq!(v["date"], date);
    assert_eq!(v["completed"], 7);
    assert_eq!(v["num_prompts"], 7);
    assert_eq!(v["request_rate"], "inf");
    assert_eq!(v["max_concurrency"], 3);
    assert_eq!(v["generated_texts"].as_array().map(Vec::len), Some(7));
    assert!(v["generated_texts"][0].as_str().is_some_and(|t| !t.is_empty()));
    assert_eq!(v["errors"][0], "");
    assert_eq!(v["itls"].as_array().map(Vec::len), Some(7));
    assert!(v["mean_ttft_ms"].as_f64().unwrap() >= 4.0);
    sim.shutdown().await;
}

/// Every line of vLLM's block is `{label:<40} {value:<10}`, so scripts that
/// split on whitespace find the value where they find it in vLLM's output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_block_has_vllms_layout() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(5), Duration::from_millis(1))).await;
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "--rate",
        40,
        "-n",
        12,
        "--output-len",
        4,
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let lines: Vec<&str> = out
        .stdout
        .lines()
        .skip_while(|l| *l != "============ Serving Benchmark Result ============")
        .skip(1)
        .take_while(|l| *l != "==================================================")
        .collect();
    assert!(lines.len() >= 20, "{}", out.stdout);
    let mut labels = Vec::new();
    for line in &lines {
        if line.starts_with('-') {
            assert_eq!(line.chars().count(), 50, "section title `{line}`");
            continue;
        }
        assert!(line.len() >= 51, "`{line}`");
        let (label, value) = line.split_at(40);
        assert!(label.trim_end().ends_with(':'), "`{line}`");
        assert!(value.starts_with(' ') && value.len() >= 11, "`{line}`");
        assert!(value.trim().parse::<f64>().is_ok(), "`{line}`");
        labels.push(label.trim_end());
    }
    assert_eq!(
        labels[..3],
        [
            "Successful requests:",
            "Failed requests:",
            "Request rate configured (RPS):"
        ]
    );
    assert!(out.stdout.contains("Request rate configured (RPS):           40.00"));
    assert!(out.stdout.contains("Successful requests:                     12"));
    let field = |label: &str, n: usize| -> f64 {
        let line = lines.iter().find(|l| l.starts_with(label)).unwrap();
        line.split_whitespace().nth(n).unwrap().parse().unwrap()
    };
    assert_eq!(field("Successful requests:", 2), 12.0);
    assert!(field("Request throughput (req/s):", 3) > 0.0);
    assert!(field("Mean TTFT (ms):", 3) >= 4.0);
    // inferload's own tables follow.
    assert!(out.stdout.contains("Latency (ms)") && out.stdout.contains("success rate 100.00%"));
    sim.shutdown().await;
}

/// One unwritable output does not cost the others, nor the results.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_output_does_not_lose_the_others() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(5), Duration::from_millis(1))).await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "-n",
        4,
        "--output-len",
        3,
        "--save-result",
        "--result-dir",
        dir.path().display(),
        "--result-filename",
        "no-such-dir/v.json",
        "--json",
        json.display(),
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(out.stderr.contains("no-such-dir/v.json"), "{}", out.stderr);
    assert_eq!(read_json(&json).pointer("/summary/successful"), Some(&Value::from(4)));
    let rescue = out
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("The measured results were saved to "))
        .and_then(|l| l.strip_suffix(" instead."))
        .unwrap_or_else(|| panic!("no rescue file named in {}", out.stderr));
    let rescued = read_json(Path::new(rescue));
    assert_eq!(rescued.pointer("/summary/successful"), Some(&Value::from(4)));
    let _ = std::fs::remove_file(rescue);
    sim.shutdown().await;
}

/// `--metadata` lands in vLLM's file after `num_prompts`, and
/// `--append-result` adds one JSON line per run to the same file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vllm_result_file_takes_metadata_and_appends_one_line_per_run() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(2), Duration::from_millis(1))).await;
    let dir = tempfile::tempdir().unwrap();
    for run in 0..2 {
        let out = run_async(args![
            "run",
            "--url",
            sim.url(),
            "--num-prompts",
            3,
            "--output-len",
            2,
            "--save-result",
            "--result-filename",
            "all.jsonl",
            "--result-dir",
            dir.path().display(),
            "--metadata",
            "gpu=H100",
            format!("run={run}"),
            "--append-result",
            "--quiet"
        ])
        .await;
        assert_eq!(out.code, Some(0), "{}", out.all());
    }
    let text = std::fs::read_to_string(dir.path().join("all.jsonl")).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    for (run, line) in lines.iter().enumerate() {
        let v: Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["gpu"], "H100");
        assert_eq!(v["run"], run.to_string());
        assert_eq!(v["completed"], 3);
        let at = |k: &str| line.find(&format!("\"{k}\"")).unwrap();
        assert!(
            at("num_prompts") < at("gpu") && at("gpu") < at("request_rate"),
            "{line}"
        );
    }
    sim.shutdown().await;
}
