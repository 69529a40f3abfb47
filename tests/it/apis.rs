//! The non-OpenAI APIs end to end: TGI's native API (against a small
//! TGI-shaped axum server in this file: the simulator's `/generate` is its
//! image service), and the `http`, `openai-images` and `http-async` APIs
//! against the simulator's image service, including the replica pool and
//! batching setups users compare.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use inferload::sim::image::ImageConfig;
use serde_json::{json, Value};

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

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// The simulator with an image service of `workers` replicas and steps of `step`.
async fn image_sim(workers: usize, step: Duration) -> SimHandle {
    let mut config = SimConfig::fixed(ms(10), ms(5));
    config.image = ImageConfig {
        workers,
        step_time: step,
        batch_efficiency: 0.5,
    };
    start_sim(config).await
}

/// Runs `inferload run` with `extra` arguments, `--json` into a temporary
/// directory; returns the document and the printed output.
async fn run_json(extra: Vec<String>) -> (Value, Output) {
    run_json_exiting(extra, 0).await
}

/// [`run_json`], expecting exit status `code` (5: nothing succeeded).
async fn run_json_exiting(extra: Vec<String>, code: i32) -> (Value, Output) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let mut a = args!["run", "--json", json.display(), "--quiet", "--no-history"];
    a.extend(extra);
    let out = run_async(a).await;
    assert_eq!(out.code, Some(code), "{}", out.all());
    (read_json(&json), out)
}

// ---------------------------------------------------------------- TGI

/// `max_new_tokens` of a TGI body (default 20, as TGI's).
fn max_new_tokens(body: &[u8]) -> u64 {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v.pointer("/parameters/max_new_tokens").and_then(Value::as_u64))
        .unwrap_or(20)
}

/// `/generate_stream`: n token events 3 ms apart, the last one the special
/// end-of-sequence token with `generated_text` and `details` (as TGI sends).
async fn tgi_stream(body: Bytes) -> Response {
    let n = max_new_tokens(&body);
    let events = futures_util::stream::unfold(0u64, move |k| async move {
        if k >= n {
            return None;
        }
        tokio::time::sleep(ms(3)).await;
        let last = k + 1 == n;
        let event = if last {
            json!({"index": k + 1, "token": {"id": 2, "text": "</s>", "logprob": 0.0, "special": true},
                   "generated_text": "w".repeat(n as usize - 1),
                   "details": {"finish_reason": "eos_token", "generated_tokens": n, "seed": null}})
        } else {
            json!({"index": k + 1, "token": {"id": 7, "text": " w", "logprob": -0.1, "special": false},
                   "generated_text": null, "details": null})
        };
        let chunk = Bytes::from(format!("data:{event}\n\n"));
        Some((Ok::<_, std::io::Error>(chunk), k + 1))
    });
    ([(header::CONTENT_TYPE, "text/event-stream")], Body::from_stream(events)).into_response()
}

/// `/generate`: one list-shaped reply, as TGI's `/` route and gateways give.
async fn tgi_generate(body: Bytes) -> Response {
    let n = max_new_tokens(&body);
    tokio::time::sleep(ms(5)).await;
    Json(json!([{"generated_text": " w".repeat(n as usize),
                 "details": {"finish_reason": "length", "generated_tokens": n}}]))
    .into_response()
}

async fn start_tgi() -> SocketAddr {
    let app = Router::new()
        .route("/info", get(|| async { Json(json!({"model_id": "tgi-test/model"})) }))
        .route("/generate", post(tgi_generate))
        .route("/generate_stream", post(tgi_stream));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tgi_streams_tokens_and_counts_them_from_details() {
    let addr = start_tgi().await;
    let url = format!("http://{addr}");
    let (v, _) = run_json(args!["--api", "tgi", "--url", url, "-n", 6, "-c", 3, "--output-len", 8]).await;
    assert_eq!(u(&v, "/summary/successful"), 6, "{v}");
    assert_eq!(v["model"], "tgi-test/model", "the model comes from /info");
    assert_eq!(v.pointer("/settings/target/endpoint").unwrap(), "/generate_stream");
    // 8 tokens per request from `details`, though 7 events carried text.
    assert_eq!(u(&v, "/summary/total_output_tokens"), 48);
    let ttft = f(&v, "/summary/ttft_ms/mean");
    let e2e = f(&v, "/summary/e2e_ms/mean");
    assert!(ttft >= 2.5 && e2e >= 8.0 * 3.0 - 1.0, "TTFT {ttft} ms, E2E {e2e} ms");
    // 7 content chunks per request (the special token is not one): 6 gaps each.
    assert_eq!(u(&v, "/summary/itl_ms/count"), 36);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tgi_without_streaming_uses_generate() {
    let addr = start_tgi().await;
    let url = format!("http://{addr}");
    let (v, _) = run_json(args![
        "--api",
        "tgi",
        "--url",
        url,
        "-n",
        4,
        "-c",
        2,
        "--output-len",
        5,
        "--no-stream",
        "--model",
        "label"
    ])
    .await;
    assert_eq!(v.pointer("/settings/target/endpoint").unwrap(), "/generate");
    assert_eq!(v["model"], "label", "--model is a label for TGI");
    assert_eq!(u(&v, "/summary/successful"), 4);
    assert_eq!(u(&v, "/summary/total_output_tokens"), 20);
    assert!(v.pointer("/summary/ttft_ms").unwrap().is_null());
    assert!(f(&v, "/summary/e2e_ms/min") >= 4.5);
}

// ---------------------------------------------------------------- http

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_against_the_sims_generate_needs_no_flags() {
    let sim = image_sim(2, ms(1)).await;
    let dir = tempfile::tempdir().unwrap();
    let records = dir.path().join("r.jsonl");
    let url = format!("{}/generate", sim.url());
    let (v, out) = run_json(args![
        "--api",
        "http",
        "--url",
        url,
        "-n",
        6,
        "-c",
        2,
        "--records",
        records.display()
    ])
    .await;
    assert_eq!(u(&v, "/summary/successful"), 6, "{v}");
    assert_eq!(u(&v, "/summary/images_total"), 6);
    assert!(f(&v, "/summary/images_per_s") > 0.0 && f(&v, "/summary/bytes_per_s") > 0.0);
    // 25 steps of 1 ms by default.
    assert!(f(&v, "/summary/e2e_ms/min") >= 24.0, "{}", f(&v, "/summary/e2e_ms/min"));
    assert_eq!(v["model"], "http");
    assert!(out.stdout.contains("Images: 6 generated"), "{}", out.stdout);
    let lines = std::fs::read_to_string(&records).unwrap();
    let first: Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    assert_eq!(first["images"], 1);
    assert!(first["response_bytes"].as_u64().unwrap() > 100);
    assert_eq!(sim.image_stats().images, 6);

    // What was counted is a real PNG of the asked size.
    let body = json!({"prompt": "a red fox", "num_inference_steps": 2, "width": 96, "height": 64});
    let reply = http_client()
        .build()
        .expect("client")
        .post(format!("{}/generate", sim.url()))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    let reply: Value = serde_json::from_slice(&reply).unwrap();
    let png = base64::engine::general_purpose::STANDARD
        .decode(reply["image"].as_str().unwrap())
        .unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    // IHDR: width and height, big-endian, right after the chunk header.
    assert_eq!(u32::from_be_bytes(png[16..20].try_into().unwrap()), 96);
    assert_eq!(u32::from_be_bytes(png[20..24].try_into().unwrap()), 64);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_templates_fill_parameters_and_checks_judge_replies() {
    let sim = image_sim(4, ms(1)).await;
    let dir = tempfile::tempdir().unwrap();
    let dataset = dir.path().join("prompts.jsonl");
    std::fs::write(
        &dataset,
        "{\"prompt\": \"a fox\", \"steps\": 3, \"style\": \"ink\"}\n{\"prompt\": \"a cat\", \"width\": 128, \"style\": \"oil\"}\n",
    )
    .unwrap();
    let template = dir.path().join("body.json");
    std::fs::write(
        &template,
        "{\n  \"prompt\": {{ prompt ~ \", \" ~ item.style }},\n  \"num_inference_steps\": {{ steps }},\n  \"width\": {{ width }},\n  \"height\": 64\n}\n",
    )
    .unwrap();
    let url = format!("{}/generate", sim.url());
    let base = args![
        "--api",
        "http",
        "--url",
        url,
        "-n",
        4,
        "-c",
        2,
        "--dataset",
        dataset.display(),
        "--body-template",
        format!("@{}", template.display()),
        "--steps",
        5,
        "--width",
        64
    ];
    let mut ok = base.clone();
    ok.extend(args![
        "--check",
        "/height=64",
        "--check",
        "/image",
        "--images-pointer",
        "/image"
    ]);
    let (v, _) = run_json(ok).await;
    assert_eq!(u(&v, "/summary/successful"), 4, "{v}");
    assert_eq!(u(&v, "/summary/images_total"), 4);
    assert_eq!(v.pointer("/settings/workload/params/steps").unwrap(), 5);

    // A failing check fails the request as a bad payload.
    let mut failing = base;
    failing.extend(args!["--check", "/num_inference_steps=4"]);
    let (v, _) = run_json_exiting(failing, 5).await;
    // Items alternate: 3 steps (the file's) and 5 (the flag's).
    assert_eq!(u(&v, "/summary/failed"), 4);
    assert_eq!(v.pointer("/summary/errors/0/class").unwrap(), "bad_payload");
    let example = v.pointer("/summary/errors/0/example").unwrap().as_str().unwrap();
    assert!(example.contains("check /num_inference_steps=4 failed"), "{example}");

    // A template that does not parse is refused before any load, by line.
    let out = run_async(args![
        "run",
        "--api",
        "http",
        "--url",
        sim.url(),
        "--no-history",
        "--quiet",
        "--body-template",
        "{\n  \"prompt\": {{ prompt }\n}"
    ])
    .await;
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(
        out.stderr.contains("--body-template") && out.stderr.contains("line 2"),
        "{}",
        out.stderr
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openai_images_counts_every_image_of_a_request() {
    let sim = image_sim(2, ms(1)).await;
    let (v, _) = run_json(args![
        "--api",
        "openai-images",
        "--url",
        sim.url(),
        "-n",
        3,
        "-c",
        1,
        "--image-n",
        2,
        "--size",
        "64x64",
        "--steps",
        4
    ])
    .await;
    assert_eq!(u(&v, "/summary/successful"), 3, "{v}");
    assert_eq!(u(&v, "/summary/images_total"), 6);
    assert_eq!(v["model"], "inferload-sim", "the model comes from /v1/models");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_async_reports_submit_latency_and_queue_wait() {
    // One replica, 100 ms an image: 4 jobs at once wait 0, 100, 200, 300 ms.
    let sim = image_sim(1, ms(10)).await;
    let url = format!("{}/async-generate", sim.url());
    let (v, out) = run_json(args![
        "--api",
        "http-async",
        "--url",
        url,
        "-n",
        4,
        "-c",
        4,
        "--steps",
        10,
        "--poll-interval",
        "10ms"
    ])
    .await;
    assert_eq!(u(&v, "/summary/successful"), 4, "{v}");
    assert_eq!(u(&v, "/summary/images_total"), 4);
    let e2e_min = f(&v, "/summary/e2e_ms/min");
    let submit_max = f(&v, "/summary/submit_latency_ms/max");
    let wait_max = f(&v, "/summary/queue_wait_ms/max");
    let wait_min = f(&v, "/summary/queue_wait_ms/min");
    assert!(e2e_min >= 100.0, "E2E {e2e_min} ms below the generation time");
    assert!(submit_max < 100.0, "the submit answers at once: {submit_max} ms");
    assert!(
        (250.0..600.0).contains(&wait_max),
        "last job waited {wait_max} ms (~300)"
    );
    assert!(wait_min < 60.0, "first job waited {wait_min} ms (~0)");
    assert!(out.stdout.contains("Queue wait"), "{}", out.stdout);
    assert_eq!(sim.image_stats().jobs, 4);
    // The new API, its empty endpoint and the image figures fit the schema.
    assert_eq!(schema_errors(&v), Vec::<String>::new());
    assert_eq!(
        v.pointer("/settings/target/http/job/status_url").unwrap(),
        "/jobs/{{ job_id }}"
    );
    sim.shutdown().await;
}

/// A 100 ms job behind a 1 s `--poll-interval`: polled adaptively (short
/// first, doubling), its result is in hand long before the interval, so an
/// async strategy is not measured as slow only because the client polls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_async_polls_short_jobs_soon() {
    let sim = image_sim(1, ms(10)).await;
    let url = format!("{}/async-generate", sim.url());
    let (v, _) = run_json(args![
        "--api",
        "http-async",
        "--url",
        url,
        "-n",
        2,
        "-c",
        1,
        "--steps",
        10,
        "--poll-interval",
        "1s"
    ])
    .await;
    assert_eq!(u(&v, "/summary/successful"), 2, "{v}");
    let e2e_max = f(&v, "/summary/e2e_ms/max");
    assert!(e2e_max >= 100.0, "E2E {e2e_max} ms below the generation time");
    // Polls at 62, 187, 437 ms: a fixed 1 s poll would read 1,000 ms or more.
    assert!(e2e_max < 600.0, "a 100 ms job took {e2e_max} ms to be seen done");
    sim.shutdown().await;
}

// ---------------------------------------------------- serving setups

/// 8 images of 100 ms at concurrency 4: images/s and mean E2E.
async fn measure(url: String, extra: Vec<String>) -> (f64, f64) {
    let mut a = args!["--api", "http", "--url", url, "--steps", 10];
    a.extend(extra);
    let (v, _) = run_json(a).await;
    assert_eq!(u(&v, "/summary/failed"), 0, "{v}");
    (f(&v, "/summary/images_per_s"), f(&v, "/summary/e2e_ms/mean"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_of_workers_serves_concurrent_requests_and_batching_sits_between() {
    let gen = 100.0; // ms: 10 steps of 10 ms
    let single = image_sim(1, ms(10)).await;
    let pool = image_sim(4, ms(10)).await;
    let (single_ips, single_e2e) = measure(format!("{}/generate", single.url()), args!["-n", 8, "-c", 4]).await;
    let (pool_ips, pool_e2e) = measure(format!("{}/generate", pool.url()), args!["-n", 8, "-c", 4]).await;
    // One replica: each request waits for the others (~4 generations once
    // the queue is full); a pool of 4 serves them side by side (~1).
    assert!(single_e2e >= 2.5 * gen, "1 worker: mean E2E {single_e2e} ms");
    assert!(pool_e2e <= 2.0 * gen, "4 workers: mean E2E {pool_e2e} ms");
    let ratio = pool_ips / single_ips;
    assert!(
        (2.5..5.0).contains(&ratio),
        "pool {pool_ips:.2} vs single {single_ips:.2} images/s"
    );
    assert!(pool.image_stats().peak_busy_workers >= 3);
    assert_eq!(single.image_stats().peak_busy_workers, 1);

    // 4 prompts in one call on the single replica: 2.5 generations for 4
    // images (efficiency 0.5): faster than one at a time, slower than the pool.
    let batch =
        "{\"prompts\": [{{ prompt }}, {{ prompt }}, {{ prompt }}, {{ prompt }}], \"num_inference_steps\": {{ steps }}}";
    let (batch_ips, _) = measure(
        format!("{}/batch-generate", single.url()),
        args![
            "-n",
            2,
            "-c",
            1,
            "--body-template",
            batch,
            "--images-pointer",
            "/images"
        ],
    )
    .await;
    assert!(
        batch_ips > 1.2 * single_ips && batch_ips < 0.8 * pool_ips,
        "batch {batch_ips:.2}, single {single_ips:.2}, pool {pool_ips:.2} images/s"
    );
    single.shutdown().await;
    pool.shutdown().await;
}

// ------------------------------------------------------------ flags

fn plan_error(extra: &[&str]) -> String {
    let mut argv = vec!["--url", "http://127.0.0.1:9/generate"];
    argv.extend_from_slice(extra);
    let options = inferload::cli::run_options(argv).expect("parses");
    match inferload::plan::RunPlan::resolve(&options) {
        Ok(_) => String::new(),
        Err(e) => e.to_string(),
    }
}

#[test]
fn api_flags_are_checked_by_name() {
    for (args, needle) in [
        (&["--steps", "4"][..], "--steps applies to --api http"),
        (&["--api", "tgi", "--check", "/x"], "--check applies to --api http"),
        (
            &["--api", "http", "--status-url", "/s/{{ job_id }}"],
            "--status-url applies to --api http-async",
        ),
        (
            &["--api", "http", "--check", "status=ok"],
            "--check `status=ok`: the JSON pointer must start with `/`",
        ),
        (&["--api", "http", "--steps", "0"], "--steps must be at least 1"),
        (&["--api", "http", "--size", "big"], "--size `big`"),
        (
            &["--api", "http", "--body-template", "no such file"],
            "neither a JSON template nor a file",
        ),
        (
            &["--api", "http", "--body-template", "@/nonexistent/body.json"],
            "cannot read /nonexistent/body.json",
        ),
        (&["--api", "http-async", "--status-url", "/s/{{ id }}"], "--status-url"),
        (
            &["--api", "http-async", "--poll-interval", "0s"],
            "--poll-interval must be greater than zero",
        ),
    ] {
        let e = plan_error(args);
        assert!(e.contains(needle), "{args:?}: `{e}` lacks `{needle}`");
    }
    assert_eq!(plan_error(&["--api", "http", "--steps", "4", "--check", "/image"]), "");
    assert_eq!(
        plan_error(&["--api", "http-async", "--done-value", "done,completed"]),
        ""
    );
}
