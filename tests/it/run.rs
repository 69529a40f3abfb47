//! `inferload run` end to end against the simulator on loopback: measured
//! figures against the simulator's ground truth, outputs, faults, bad input.

use std::time::Duration;

use serde_json::Value;

use crate::args;
use crate::common::*;

fn f(v: &Value, ptr: &str) -> f64 {
    v.pointer(ptr)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("{ptr} missing in {v}"))
}

fn u(v: &Value, ptr: &str) -> u64 {
    v.pointer(ptr)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("{ptr} missing in {v}"))
}

/// Measured TTFT and ITL against the `fixed` profile. The simulator's chat
/// stream sends a role-only chunk at once; a client that took it for the
/// first token would report a TTFT near zero.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttft_and_itl_match_the_fixed_profile() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(60), Duration::from_millis(10))).await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "-c",
        4,
        "-n",
        24,
        "--output-len",
        20,
        "--json",
        json.display(),
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let v = read_json(&json);
    let ttft = f(&v, "/summary/ttft_ms/mean");
    let itl = f(&v, "/summary/itl_ms/mean");
    let tpot = f(&v, "/summary/tpot_ms/mean");
    // Timer slop on a busy 2-core machine only ever adds delay.
    assert!((59.0..80.0).contains(&ttft), "mean TTFT {ttft} ms, expected ~60");
    assert!((9.0..13.0).contains(&itl), "mean ITL {itl} ms, expected ~10");
    assert!((9.0..13.0).contains(&tpot), "mean TPOT {tpot} ms, expected ~10");
    assert_eq!(u(&v, "/summary/successful"), 24);
    // And the client's TTFT against what the simulator really produced.
    let truth = sim.stats();
    let gap = ttft - truth.ttft_truth_ms.mean;
    assert!(
        (-1.0..5.0).contains(&gap),
        "client TTFT {ttft} vs server truth {}",
        truth.ttft_truth_ms.mean
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_never_exceeds_its_concurrency() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(20), Duration::from_millis(2))).await;
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "-c",
        5,
        "-n",
        60,
        "--output-len",
        8,
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let stats = sim.stats();
    assert_eq!(stats.requests_total, 60);
    assert!(
        stats.peak_in_flight <= 5,
        "server saw {} in flight",
        stats.peak_in_flight
    );
    assert_eq!(stats.peak_in_flight, 5, "the closed loop should keep 5 in flight");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_poisson_reaches_its_rate() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(10), Duration::from_millis(2))).await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "--rate",
        40,
        "-n",
        120,
        "--output-len",
        5,
        "--json",
        json.display(),
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let v = read_json(&json);
    let achieved = f(&v, "/summary/request_throughput");
    assert!(
        (achieved - 40.0).abs() / 40.0 < 0.05,
        "achieved {achieved} req/s for a 40 req/s target"
    );
    assert!(
        out.stdout.contains("Request rate configured (RPS):           40.00"),
        "{}",
        out.stdout
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_counts_equal_the_servers_usage() {
    let sim = start_sim(SimConfig::default_loopback()).await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "-c",
        8,
        "-n",
        30,
        "--input-len",
        40,
        "--output-len",
        24,
        "--range-ratio",
        0.5,
        "--json",
        json.display(),
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let v = read_json(&json);
    let stats = sim.stats();
    assert_eq!(u(&v, "/summary/total_input_tokens"), stats.prompt_tokens_total);
    assert_eq!(u(&v, "/summary/total_output_tokens"), stats.generation_tokens_total);
    assert_eq!(v.pointer("/summary/tokens_estimated"), Some(&Value::Bool(false)));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_api_and_non_streaming() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(30), Duration::from_millis(3))).await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "--backend",
        "vllm",
        "-c",
        2,
        "-n",
        6,
        "--output-len",
        10,
        "--no-stream",
        "--json",
        json.display(),
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let v = read_json(&json);
    assert_eq!(u(&v, "/summary/successful"), 6);
    assert_eq!(
        v.pointer("/summary/ttft_ms"),
        Some(&Value::Null),
        "TTFT is undefined without streaming"
    );
    let e2e = f(&v, "/summary/e2e_ms/mean");
    assert!(
        e2e >= 30.0 + 9.0 * 3.0 - 1.0,
        "E2E {e2e} ms covers the whole generation"
    );
    assert_eq!(u(&v, "/summary/total_output_tokens"), 60);
    assert_eq!(
        v.pointer("/settings/target/endpoint").and_then(Value::as_str),
        Some("/v1/completions")
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_counted_by_class_and_the_run_goes_on() {
    let mut cfg = SimConfig::fixed(Duration::from_millis(5), Duration::from_millis(1));
    cfg.error_rate = 0.2;
    cfg.disconnect_rate = 0.2;
    let sim = start_sim(cfg).await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "-c",
        4,
        "-n",
        100,
        "--output-len",
        10,
        "--json",
        json.display(),
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let v = read_json(&json);
    let stats = sim.stats();
    let failed = u(&v, "/summary/failed");
    assert_eq!(
        failed,
        stats.errors_injected + stats.disconnects_injected,
        "every injected fault is a failure"
    );
    assert!(
        (15..=60).contains(&failed),
        "{failed} of 100 failed with 40% faults injected"
    );
    let errors = v.pointer("/summary/errors").and_then(Value::as_array).expect("errors");
    let count = |class: &str| {
        errors
            .iter()
            .find(|e| e["class"] == class)
            .and_then(|e| e["count"].as_u64())
            .unwrap_or(0)
    };
    assert_eq!(count("http_500"), stats.errors_injected);
    assert_eq!(count("stream_broken"), stats.disconnects_injected);
    let rate = f(&v, "/summary/success_rate");
    assert!((rate - (100 - failed) as f64 / 100.0).abs() < 1e-9);
    assert!(
        out.stdout.contains("http_500"),
        "errors table in the console:\n{}",
        out.stdout
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_have_one_line_per_request_and_vllm_json_its_keys() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(5), Duration::from_millis(1))).await;
    let dir = tempfile::tempdir().unwrap();
    let records = dir.path().join("records.jsonl");
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "-c",
        3,
        "-n",
        17,
        "--warmup",
        3,
        "--output-len",
        6,
        "--records",
        records.display(),
        "--save-result",
        "--result-dir",
        dir.path().display(),
        "--result-filename",
        "vllm.json",
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let text = std::fs::read_to_string(&records).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(lines.len(), 17, "warm-up requests are not recorded");
    let mut indices: Vec<u64> = lines.iter().map(|l| l["index"].as_u64().unwrap()).collect();
    indices.sort_unstable();
    assert_eq!(indices, (0..17).collect::<Vec<_>>());
    assert_eq!(sim.stats().requests_total, 20, "3 warm-up + 17 measured");
    let v = read_json(&dir.path().join("vllm.json"));
    for key in [
        "date",
        "backend",
        "model_id",
        "num_prompts",
        "request_rate",
        "max_concurrency",
        "duration",
        "completed",
        "total_input_tokens",
        "total_output_tokens",
        "request_throughput",
        "output_throughput",
        "total_token_throughput",
        "mean_ttft_ms",
        "median_ttft_ms",
        "std_ttft_ms",
        "p99_ttft_ms",
        "mean_tpot_ms",
        "p99_itl_ms",
        "input_lens",
        "output_lens",
        "ttfts",
        "itls",
    ] {
        assert!(v.get(key).is_some(), "vLLM result JSON lacks `{key}`");
    }
    assert_eq!(v["completed"], 17);
    assert_eq!(v["request_rate"], "inf");
    assert_eq!(v["max_concurrency"], 3);
    assert_eq!(v["output_lens"].as_array().map(Vec::len), Some(17));
    assert_eq!(v["queue_times"].as_array().map(Vec::len), Some(17));
    assert!(v.get("mean_e2el_ms").is_none(), "vLLM's default metrics: ttft,tpot,itl");
    sim.shutdown().await;
}

/// The summary block keeps `vllm bench serve`'s lines, so scripts that grep
/// and awk its output keep working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_keeps_vllms_lines_for_grep_and_awk() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(5), Duration::from_millis(1))).await;
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "-c",
        2,
        "-n",
        10,
        "--output-len",
        4,
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let field = |label: &str, n: usize| -> String {
        let line = out
            .stdout
            .lines()
            .find(|l| l.contains(label))
            .unwrap_or_else(|| panic!("no `{label}` line in\n{}", out.stdout));
        line.split_whitespace().nth(n).unwrap_or_default().to_string()
    };
    assert_eq!(field("Successful requests:", 2), "10");
    assert!(field("Request throughput", 3).parse::<f64>().unwrap() > 0.0);
    assert!(field("Mean TTFT", 3).parse::<f64>().unwrap() >= 4.0);
    assert!(out
        .stdout
        .contains("============ Serving Benchmark Result ============"));
    assert!(
        out.stdout.contains("Sample 1 (request"),
        "samples are shown:\n{}",
        out.stdout
    );
    sim.shutdown().await;
}

const KEY: &str = "sk-inferload-test-9f8e7d6c5b4a";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_key_appears_in_no_output() {
    let mut cfg = SimConfig::fixed(Duration::from_millis(5), Duration::from_millis(1));
    cfg.api_key = Some(KEY.to_string());
    cfg.error_rate = 0.1;
    let sim = start_sim(cfg).await;
    let dir = tempfile::tempdir().unwrap();
    let (json, records) = (dir.path().join("run.json"), dir.path().join("rec.jsonl"));
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "--api-key",
        KEY,
        "--header",
        format!("X-Api-Key: {KEY}-2"),
        "-c",
        2,
        "-n",
        20,
        "--output-len",
        4,
        "--json",
        json.display(),
        "--records",
        records.display(),
        "--save-result",
        "--result-dir",
        dir.path().display(),
        "--result-filename",
        "v.json"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(!out.all().contains(KEY), "key in console output");
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains(KEY), "key in {}", path.display());
    }
    assert!(
        std::fs::read_to_string(&json).unwrap().contains("***"),
        "settings show the key redacted"
    );

    // A wrong key: the server echoes it back in its 401; we must not.
    let wrong = "sk-wrong-key-0123456789abcdef";
    let out = run_async(args!["run", "--url", sim.url(), "-n", 5]).await;
    assert_eq!(out.code, Some(1), "{}", out.all());
    let mut cmd = bin();
    cmd.env("OPENAI_API_KEY", wrong)
        .args(["run", "--url", &sim.url(), "-n", "5"]);
    let out = tokio::task::spawn_blocking(move || wait(cmd.spawn().unwrap(), Duration::from_secs(30)))
        .await
        .unwrap();
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(out.stderr.contains("401"), "{}", out.stderr);
    assert!(!out.all().contains(wrong), "the wrong key leaked: {}", out.all());
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupt_stops_the_run_and_still_writes_outputs() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(5), Duration::from_millis(20))).await;
    let dir = tempfile::tempdir().unwrap();
    let (json, records) = (dir.path().join("run.json"), dir.path().join("rec.jsonl"));
    let child = spawn(&[
        "run",
        "--url",
        &sim.url(),
        "-c",
        "4",
        "-n",
        "100000",
        "--output-len",
        "10",
        "--grace",
        "2s",
        "--json",
        &json.display().to_string(),
        "--records",
        &records.display().to_string(),
    ]);
    // Wait until requests have really finished, then interrupt.
    let out = interrupt_when(child, move || lines_in(&records) >= 8).await;
    assert_eq!(out.code, Some(130), "{}", out.all());
    let v = read_json(&json);
    assert_eq!(v["interrupted"], true);
    let done = u(&v, "/summary/successful");
    assert!((8..100000).contains(&done), "{done} requests measured");
    assert!(out.stdout.contains("Serving Benchmark Result"));
    sim.shutdown().await;
}

/// A run in which no request succeeded fails a CI job: exit status 5, with
/// the outputs still written and a line saying why.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_where_nothing_succeeds_exits_with_status_5() {
    let mut cfg = SimConfig::fixed(Duration::from_millis(5), Duration::from_millis(1));
    cfg.error_rate = 1.0;
    let sim = start_sim(cfg).await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "-n",
        6,
        "--output-len",
        4,
        "--json",
        json.display(),
        "--no-history"
    ])
    .await;
    assert_eq!(out.code, Some(5), "{}", out.all());
    assert!(out.stderr.contains("no request succeeded"), "{}", out.stderr);
    assert_eq!(u(&read_json(&json), "/summary/failed"), 6);

    // One success is enough to be judged on the figures instead.
    let mut cfg = SimConfig::fixed(Duration::from_millis(5), Duration::from_millis(1));
    cfg.error_rate = 0.5;
    let sim = start_sim(cfg).await;
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "-n",
        20,
        "--output-len",
        4,
        "--no-history"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
}

/// SIGTERM (what `timeout`, Kubernetes and CI cancellation send) stops a
/// run like Ctrl-C: in-flight requests get the grace period, then every
/// output asked for is written, consistent with each other, and the exit
/// status is 143.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_run_and_writes_every_output() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(5), Duration::from_millis(20))).await;
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| dir.path().join(n);
    let records = d("rec.jsonl");
    let child = spawn(&[
        "run",
        "--url",
        &sim.url(),
        "-c",
        "4",
        "-n",
        "100000",
        "--output-len",
        "10",
        "--grace",
        "2s",
        "--json",
        &d("run.json").display().to_string(),
        "--records",
        &records.display().to_string(),
        "--save-result",
        "--result-dir",
        &d("vllm").display().to_string(),
        "--html",
        &d("run.html").display().to_string(),
        "--csv",
        &d("run.csv").display().to_string(),
        "--markdown",
        &d("run.md").display().to_string(),
        "--db",
        &d("history.db").display().to_string(),
    ]);
    let watched = records.clone();
    let out = signal_when(child, libc::SIGTERM, move || lines_in(&watched) >= 8).await;
    assert_eq!(out.code, Some(143), "{}", out.all());
    let v = read_json(&d("run.json"));
    assert_eq!(v["interrupted"], true);
    // The records file and the document count the same requests: those
    // still running at the stop are in both, as failed.
    let total = u(&v, "/summary/requests_total");
    assert_eq!(lines_in(&records) as u64, total, "{}", out.all());
    assert!(u(&v, "/unfinished") <= u(&v, "/summary/failed"));
    assert!(u(&v, "/summary/successful") >= 8);
    let csv_rows = std::fs::read_to_string(d("run.csv")).unwrap().lines().count() as u64;
    assert!(csv_rows > u(&v, "/summary/successful"), "the CSV has every request");
    for f in ["run.html", "run.md"] {
        assert!(d(f).is_file(), "{f} was not written: {}", out.all());
    }
    let vllm: Vec<_> = std::fs::read_dir(d("vllm")).unwrap().collect();
    assert_eq!(vllm.len(), 1, "the vLLM result file");
    let shown = bin()
        .args(["history", "--db", &d("history.db").display().to_string()])
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&shown.stdout).contains("interrupted"),
        "{shown:?}"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preflight_fails_fast_on_a_dead_server_or_a_wrong_model() {
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = run_async(args!["run", "--url", format!("http://127.0.0.1:{port}"), "-n", 5]).await;
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(out.stderr.contains("cannot reach"), "{}", out.stderr);
    assert_eq!(out.stderr.trim().lines().count(), 1, "one line: {}", out.stderr);

    let sim = start_sim(SimConfig::fixed(Duration::from_millis(5), Duration::from_millis(1))).await;
    let out = run_async(args!["run", "--url", sim.url(), "--model", "no-such-model", "-n", 5]).await;
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(
        out.stderr.contains("no-such-model") && out.stderr.contains("not served"),
        "{}",
        out.stderr
    );
    assert_eq!(
        sim.stats().requests_total,
        0,
        "no load is sent after a failed preflight"
    );
    sim.shutdown().await;
}

#[test]
fn bad_flags_and_files_get_one_line_and_status_1() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"prompt\": \"ok\"}\n{\"prompt\": 3}\n").unwrap();
    let missing = dir.path().join("missing.jsonl");
    let cases: Vec<(Vec<String>, &str)> = vec![
        (args!["run", "--concurrency", "lots"], "--concurrency"),
        (args!["run", "--timeout", "soon"], "--timeout"),
        (args!["run", "--rate", "0"], "--rate"),
        (args!["run", "--concurrency", "0"], "--concurrency"),
        (args!["run", "--extra-body", "{oops"], "--extra-body"),
        (args!["run", "--url", "ftp://example"], "--url"),
        (args!["run", "--burstiness", "2"], "--burstiness"),
        (args!["run", "--dataset", missing.display()], "missing.jsonl"),
        (args!["run", "--dataset", bad.display()], "bad.jsonl:2"),
    ];
    for (argv, needle) in cases {
        let argv: Vec<&str> = argv.iter().map(String::as_str).collect();
        let out = run(&argv);
        assert_eq!(out.code, Some(1), "{argv:?}: {}", out.all());
        assert!(
            out.stderr.contains(needle),
            "{argv:?}: expected `{needle}` in: {}",
            out.stderr
        );
        assert!(!out.stderr.contains("panicked"), "{argv:?}: {}", out.stderr);
    }
}

/// The project's main job: `inferload run` with no target benchmarks the
/// embedded simulator.
#[test]
fn run_without_a_target_benchmarks_the_embedded_simulator() {
    let out = run(&["run", "-n", "20", "--quiet"]);
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(
        out.stdout.contains("embedded simulator at http://127.0.0.1:"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("Successful requests:                     20"),
        "{}",
        out.stdout
    );
}

/// What a small OpenAI-shaped server saw: each request's headers' ids and bodies.
/// One request as seen: its `x-request-id` and its body.
type SeenRequest = (Option<String>, Value);

#[derive(Clone, Default)]
struct Seen(std::sync::Arc<std::sync::Mutex<Vec<SeenRequest>>>);

/// A completions server on `listener` that answers without streaming,
/// lists the model `served`, and keeps what each request carried.
fn serve_capturing(listener: tokio::net::TcpListener, seen: Seen) {
    use axum::routing::{get, post};
    use axum::{Json, Router};
    let app = Router::new()
        .route(
            "/v1/models",
            get(|| async { Json(serde_json::json!({"data": [{"id": "served"}]})) }),
        )
        .route(
            "/v1/completions",
            post(move |headers: axum::http::HeaderMap, Json(body): Json<Value>| {
                let seen = seen.clone();
                async move {
                    let id = headers
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_string);
                    seen.0.lock().unwrap().push((id, body));
                    Json(serde_json::json!({
                        "choices": [{"index": 0, "text": " a b", "finish_reason": "length"}],
                        "usage": {"prompt_tokens": 4, "completion_tokens": 2, "total_tokens": 6}
                    }))
                }
            }),
        );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
}

/// A `vllm bench serve` command line runs as `inferload run`: the sampling
/// flags reach the body, the served name is the model sent while `--model`
/// labels vLLM's file, every request carries its id, the tokenizer is
/// used, and the flags accepted without effect say so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_takes_vllms_sampling_model_name_and_request_id_flags() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Seen::default();
    serve_capturing(listener, seen.clone());
    let dir = tempfile::tempdir().unwrap();
    let tokenizer = dir.path().join("tokenizer.json");
    inferload::workload::tokenizer::testing::word_level(inferload::workload::words::WORDS)
        .save(&tokenizer, false)
        .unwrap();
    let out = run_async(args![
        "run",
        "--backend",
        "openai",
        "--base-url",
        url,
        "--model",
        "org/label",
        "--served-model-name",
        "served",
        "--num-prompts",
        3,
        "--max-concurrency",
        1,
        "--temperature",
        0.5,
        "--top-p",
        0.9,
        "--top-k",
        -1,
        "--min-p",
        0.1,
        "--request-id-prefix",
        "bench",
        "--no-stream",
        "--disable-tqdm",
        "--verify-ssl",
        "--tokenizer",
        tokenizer.display(),
        "--tokenizer-mode",
        "auto",
        "--trust-remote-code",
        "--save-result",
        "--result-filename",
        "r.json",
        "--result-dir",
        dir.path().display(),
        "--no-history"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let seen = seen.0.lock().unwrap().clone();
    assert_eq!(seen.len(), 3, "{}", out.all());
    let mut ids: Vec<String> = seen.iter().filter_map(|(id, _)| id.clone()).collect();
    ids.sort();
    assert_eq!(ids, ["bench-0", "bench-1", "bench-2"]);
    for (_, body) in &seen {
        assert_eq!(body["model"], "served", "{body}");
        assert_eq!(body["temperature"], 0.5, "{body}");
        assert_eq!(body["top_p"], 0.9, "{body}");
        assert_eq!(body["top_k"], -1, "{body}");
        assert_eq!(body["min_p"], 0.1, "{body}");
    }
    assert!(
        out.stdout.contains(&format!("Tokenizer: {}", tokenizer.display())),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout
            .contains("--tokenizer-mode auto is accepted for compatibility"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("--trust-remote-code has no effect"),
        "{}",
        out.stdout
    );
    let v = read_json(&dir.path().join("r.json"));
    assert_eq!(v["model_id"], "org/label", "--model labels vLLM's file");
}

/// `--ready-check-timeout-sec` waits for a server that is not up yet
/// instead of failing at once; without it the run fails at the check.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_waits_for_a_starting_server_with_ready_check_timeout() {
    let addr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let url = format!("http://{addr}");
    let no_wait = run_async(args![
        "run",
        "--backend",
        "openai",
        "--url",
        url,
        "-n",
        1,
        "--quiet",
        "--no-history"
    ])
    .await;
    assert_ne!(no_wait.code, Some(0), "nothing listens yet: {}", no_wait.all());
    assert!(no_wait.all().contains("cannot reach"), "{}", no_wait.all());
    let seen = Seen::default();
    let server = {
        let seen = seen.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
            serve_capturing(listener, seen);
        })
    };
    let out = run_async(args![
        "run",
        "--backend",
        "openai",
        "--url",
        url,
        "-n",
        2,
        "--no-stream",
        "--quiet",
        "--no-history",
        "--ready-check-timeout-sec",
        20
    ])
    .await;
    server.await.unwrap();
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert_eq!(seen.0.lock().unwrap().len(), 2);
}
