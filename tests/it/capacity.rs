//! Capacity answers against known ground truth: the simulator's batching
//! model has a capacity that follows from its parameters
//! (`BatchingProfile::capacity`), so the sweep's verdicts can be checked
//! against it. Short steps and few requests keep each test to seconds.

use std::time::Duration;

use inferload::sim::model::BatchingProfile;
use serde_json::Value;

use crate::args;
use crate::common::*;

/// 16 slots, a step of `step_ms` whatever the batch, no prefill cost, and a
/// cache large enough never to limit: capacity is exactly
/// `min(C, 16) / (output_len × step)` requests per second.
fn sixteen_slots(step_ms: u64) -> BatchingProfile {
    BatchingProfile {
        max_num_seqs: 16,
        kv_cache_tokens: 1 << 20,
        prefill_per_token: Duration::ZERO,
        decode_base: Duration::from_millis(step_ms),
        decode_per_seq: Duration::ZERO,
    }
}

fn level_rules(v: &Value) -> Vec<String> {
    v["levels"]
        .as_array()
        .expect("levels")
        .iter()
        .map(|l| l["trip"]["rule"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Throughput doubles with concurrency up to the 16 slots and is flat after:
/// the gain rule must stop the ladder at 32 and call 16 the maximum.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_concurrency_verdict_lands_on_the_batch_limit() {
    let profile = sixteen_slots(5);
    // The model's own answer: the first level whose gain over the previous
    // one is under 20% is the first beyond the batch limit.
    let ladder = [1u64, 2, 4, 8, 16, 32, 64];
    let cap = |c: u64| profile.capacity(c, 8, 8);
    let expected = ladder
        .windows(2)
        .find(|w| cap(w[1]) < 1.2 * cap(w[0]))
        .map(|w| w[0])
        .unwrap();
    assert_eq!(expected, 16);

    let sim = start_sim(SimConfig::batching(profile)).await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("sweep.json");
    let out = run_async(args![
        "sweep",
        "--url",
        sim.url(),
        "--concurrency",
        "1..64x2",
        "--input-len",
        8,
        "--output-len",
        8,
        "--json",
        json.display(),
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(
        out.stdout
            .contains(&format!("Maximum stable concurrency: {expected}\n")),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("Recommended concurrency: 12\n"), "{}", out.stdout);
    assert!(out.stdout.contains("Stopped at concurrency 32"), "{}", out.stdout);
    let v = read_json(&json);
    assert_eq!(v["verdict"]["max_stable_concurrency"], 16);
    assert_eq!(v["verdict"]["stopped_by"]["rule"], "throughput_gain");
    // Level 32's gain over 16 is 12.5 % by the model but ~15 % measured (16
    // clients lose a step boundary per request: ~345 req/s, not 355), at
    // the edge of the 5-point noise band under the 20 % threshold, so the
    // sweep may measure level 32 again to confirm; both are correct.
    let rules = level_rules(&v);
    let once = ["", "", "", "", "", "throughput_gain"];
    let confirmed = ["", "", "", "", "", "throughput_gain", "throughput_gain"];
    assert!(rules == once || rules == confirmed, "{rules:?}");
    // The measured throughput at the limit is the model's, less the wait
    // for step boundaries and the network.
    let measured = v["verdict"]["request_throughput"].as_f64().unwrap();
    let truth = cap(16);
    assert!(
        measured > 0.7 * truth && measured < 1.05 * truth,
        "{measured} req/s at 16 against a capacity of {truth}"
    );
    sim.shutdown().await;
}

/// A rate above what 16 slots can serve is flagged as not reached, with the
/// achieved rate near the server's capacity.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_above_capacity_is_flagged_unreachable() {
    let profile = sixteen_slots(10);
    let capacity = profile.capacity(16, 4, 10);
    assert!((capacity - 160.0).abs() < 1e-9);
    let sim = start_sim(SimConfig::batching(profile)).await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("sweep.json");
    let out = run_async(args![
        "sweep",
        "--url",
        sim.url(),
        "--rate",
        "50,100,400",
        "--arrival",
        "constant",
        "--requests-per-level",
        100,
        "--warmup-per-level",
        0,
        "--input-len",
        4,
        "--output-len",
        10,
        "--json",
        json.display(),
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let v = read_json(&json);
    assert_eq!(level_rules(&v), ["", "", "target_rate"]);
    let achieved = v["levels"][2]["achieved_rate"].as_f64().unwrap();
    assert!(
        achieved < 0.95 * 400.0 && achieved > 0.7 * capacity && achieved < 1.1 * capacity,
        "achieved {achieved} req/s at 400 offered; capacity {capacity}"
    );
    assert!(
        out.stdout.contains("Maximum sustainable rate: 100 req/s"),
        "{}",
        out.stdout
    );
    sim.shutdown().await;
}

/// Bisection on the rate converges on the capacity: below it, requests take
/// their service time (10 steps of 10 ms, plus up to a step waiting for
/// admission); above it, a queue builds and the E2E objective fails once the
/// 99th of 200 requests waits more than ~90 ms, which with constant arrivals
/// happens at about 1.08 × capacity. The objective leaves 90 ms of room so
/// that a busy machine's scheduling delays do not fail levels below it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_search_converges_on_the_capacity() {
    let profile = sixteen_slots(10);
    let capacity = profile.capacity(16, 4, 10);
    let sim = start_sim(SimConfig::batching(profile)).await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("sweep.json");
    let out = run_async(args![
        "sweep",
        "--url",
        sim.url(),
        "--max-rate-under-slo",
        "--slo",
        "e2e_p99<200ms",
        "--rate",
        100,
        "--precision",
        "5%",
        "--arrival",
        "constant",
        "--requests-per-level",
        200,
        "--warmup-per-level",
        0,
        "--input-len",
        4,
        "--output-len",
        10,
        "--json",
        json.display(),
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let v = read_json(&json);
    let found = v["verdict"]["max_rate_under_slo"].as_f64().expect("a rate was found");
    let runs = v["levels"].as_array().unwrap().len();
    assert!(runs <= 12, "{runs} runs");
    // The limit (~1.08 × capacity) to the search's 5%, plus room for a busy
    // machine on either side.
    assert!(
        found >= 0.85 * capacity && found <= 1.2 * capacity,
        "found {found} req/s; the model's capacity is {capacity}"
    );
    assert!(out.stdout.contains("Maximum rate under SLO:"), "{}", out.stdout);
    sim.shutdown().await;
}

/// Objectives on a run: PASS/FAIL per objective, goodput, exit status 3 when
/// one fails, and a malformed expression named before any load.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objectives_gate_the_exit_status() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(30), Duration::from_millis(2))).await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let base = args![
        "run",
        "--url",
        sim.url(),
        "-c",
        4,
        "-n",
        20,
        "--output-len",
        5,
        "--quiet"
    ];

    let mut argv = base.clone();
    argv.extend(args!["--slo", "ttft_p90<2s,error_rate<1%", "--goodput", "ttft:2000"]);
    let out = run_async(argv).await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(out.stdout.contains("All objectives met."), "{}", out.stdout);
    assert!(out.stdout.contains("Request goodput (req/s):"), "{}", out.stdout);

    let mut argv = base.clone();
    argv.extend(args![
        "--slo",
        "ttft_p90<5ms",
        "--slo",
        "success_rate>=99%",
        "--json",
        json.display()
    ]);
    let out = run_async(argv).await;
    assert_eq!(out.code, Some(3), "{}", out.all());
    let line = out
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("ttft_p90<5ms"))
        .unwrap_or_else(|| panic!("{}", out.stdout));
    assert!(line.ends_with("FAIL"), "{line}");
    let v = read_json(&json);
    let slos = v["slos"].as_array().unwrap();
    assert_eq!(slos.len(), 2);
    assert_eq!(slos[0]["passed"], false);
    assert!(slos[0]["measured"].as_f64().unwrap() >= 29.0);
    assert_eq!(slos[1]["passed"], true);

    // vLLM's --goodput bounds define goodput and fail nothing.
    let mut argv = base.clone();
    argv.extend(args!["--goodput", "ttft:1", "--json", json.display()]);
    let out = run_async(argv).await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let v = read_json(&json);
    assert_eq!(v["goodput"]["good_requests"], 0, "no request has a TTFT under 1 ms");
    assert_eq!(v["slos"].as_array().map(Vec::len), Some(0));

    let requests_before = sim.stats().requests_total;
    let mut argv = base.clone();
    argv.extend(args!["--slo", "ttft_p90<fast"]);
    let out = run_async(argv).await;
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(out.stderr.contains("ttft_p90<fast"), "{}", out.stderr);
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    assert_eq!(
        sim.stats().requests_total,
        requests_before,
        "no load after a bad objective"
    );
    sim.shutdown().await;
}

/// "How much concurrency do I need for 90 req/s?" With a fixed 50 ms per
/// request, Little's law says 4.5 in flight: a cap of 4 serves at most
/// 80 req/s (under 95% of 90), a cap of 5 up to 100.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn find_concurrency_lands_on_littles_law() {
    // TTFT 10 ms + 8 gaps of 5 ms = 50 ms for 9 tokens.
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(10), Duration::from_millis(5))).await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("sweep.json");
    let records = dir.path().join("levels");
    let out = run_async(args![
        "sweep",
        "--url",
        sim.url(),
        "--rate",
        90,
        "--find-concurrency",
        "--arrival",
        "constant",
        "--requests-per-level",
        60,
        "--warmup-per-level",
        0,
        "--output-len",
        9,
        "--json",
        json.display(),
        "--records",
        records.display(),
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let v = read_json(&json);
    let required = v["verdict"]["required_concurrency"].as_u64().expect("a cap was found");
    assert!(
        (5..=6).contains(&required),
        "required concurrency {required}\n{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&format!("Required concurrency: {required}\n")),
        "{}",
        out.stdout
    );
    // One records file per level, each with that level's requests.
    let levels = v["levels"].as_array().unwrap().len();
    let files: Vec<_> = std::fs::read_dir(&records)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), levels);
    for f in files {
        let lines = std::fs::read_to_string(&f).unwrap().lines().count();
        assert_eq!(lines, 60, "{}", f.display());
    }
    sim.shutdown().await;
}

/// Ctrl-C during a sweep: exit 130, and the JSON holds the levels that
/// finished before it. Each level runs 2 s, so the interrupt, sent as soon as
/// the first level is in the file, lands inside the second.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_sweep_keeps_its_finished_levels() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(5), Duration::from_millis(20))).await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("sweep.json");
    let child = spawn(&[
        "sweep",
        "--url",
        &sim.url(),
        "--concurrency",
        "1,2,4",
        "--duration-per-level",
        "2s",
        "--warmup-per-level",
        "0",
        "--output-len",
        "5",
        "--json",
        &json.display().to_string(),
        "--grace",
        "1s",
        "--no-history",
    ]);
    // Interrupt as soon as the first level is in the file.
    let json_path = json.clone();
    let out = interrupt_when(child, move || {
        std::fs::read_to_string(&json_path)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| v["levels"].as_array().map(|l| !l.is_empty()))
            .unwrap_or(false)
    })
    .await;
    assert_eq!(out.code, Some(130), "{}", out.all());
    let v = read_json(&json);
    assert_eq!(v["interrupted"], true);
    // Level 1 finished; level 2 was cut short and says so.
    let levels = v["levels"].as_array().unwrap();
    assert_eq!(levels.len(), 2, "{v:#}");
    assert_eq!(levels[0]["concurrency"], 1);
    assert!(levels[0]["trip"].is_null());
    assert_eq!(levels[1]["trip"]["rule"], "interrupted");
    assert!(out.stdout.contains("interrupted"), "{}", out.stdout);
    // Level 2 was never finished: the limit was not found above it.
    assert!(!out.stdout.contains("Every level passed"), "{}", out.stdout);
    assert!(!out.stdout.contains("Extend the ladder"), "{}", out.stdout);
    sim.shutdown().await;
}

/// Rate levels bounded by a duration, far below the simulator's capacity,
/// pass: a Poisson schedule of a few seconds offers its target only within
/// noise, and the achieved rate is judged against what was offered, over
/// the window in which the level's requests completed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duration_bounded_rate_levels_below_capacity_pass() {
    let sim = start_sim(SimConfig::default_loopback()).await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("sweep.json");
    let out = run_async(args![
        "sweep",
        "--url",
        sim.url(),
        "--rate",
        "10,20",
        "--output-len",
        32,
        "--duration-per-level",
        "2s",
        "--json",
        json.display(),
        "--no-history",
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let v = read_json(&json);
    assert_eq!(level_rules(&v), ["", ""], "{}", out.stdout);
    for l in v["levels"].as_array().unwrap() {
        let (achieved, offered) = (
            l["achieved_rate"].as_f64().unwrap(),
            l["offered_rate"].as_f64().unwrap(),
        );
        assert!(achieved >= 0.95 * offered, "achieved {achieved} of {offered} offered");
    }
    assert!(
        out.stdout.contains("Maximum sustainable rate: 20 req/s"),
        "{}",
        out.stdout
    );
    sim.shutdown().await;
}

/// A short burst above capacity: 16 slots finish their requests in
/// batches, and the achieved rate stays at or under what the server can
/// complete per second; a rate ladder whose first level fails answers in
/// rates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_never_achieves_more_than_the_server_completes() {
    let profile = sixteen_slots(10);
    let capacity = profile.capacity(16, 4, 10);
    let sim = start_sim(SimConfig::batching(profile)).await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("sweep.json");
    let out = run_async(args![
        "sweep",
        "--url",
        sim.url(),
        "--rate",
        "400",
        "--arrival",
        "constant",
        "--requests-per-level",
        40,
        "--warmup-per-level",
        0,
        "--input-len",
        4,
        "--output-len",
        10,
        "--json",
        json.display(),
        "--no-history",
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let v = read_json(&json);
    let achieved = v["levels"][0]["achieved_rate"].as_f64().unwrap();
    assert!(
        achieved <= 1.05 * capacity,
        "achieved {achieved} req/s; capacity {capacity}"
    );
    assert_eq!(level_rules(&v), ["target_rate"]);
    assert!(
        out.stdout.contains("Maximum sustainable rate: none\n"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("concurrency: none"), "{}", out.stdout);
    sim.shutdown().await;
}

/// A sweep whose requests fail says why at each level (the main error
/// classes with an example message), and one where nothing succeeded at
/// any level exits with status 5.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_sweep_says_why_and_exits_5() {
    let mut cfg = SimConfig::fixed(Duration::from_millis(2), Duration::from_millis(1));
    cfg.error_rate = 1.0;
    let sim = start_sim(cfg).await;
    let out = run_async(args![
        "sweep",
        "--url",
        sim.url(),
        "--concurrency",
        "1,2",
        "--requests-per-level",
        5,
        "--output-len",
        4,
        "--no-monitor",
        "--no-history"
    ])
    .await;
    assert_eq!(out.code, Some(5), "{}", out.all());
    assert!(out.stdout.contains("5 failed: http_500 ×5 (\""), "{}", out.stdout);
    assert!(out.stderr.contains("no request succeeded"), "{}", out.stderr);
}

/// A comparison in which one strategy's requests all failed exits with
/// status 5 and names it, after writing its table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_comparison_with_a_dead_strategy_exits_5() {
    let good = start_sim(SimConfig::fixed(Duration::from_millis(2), Duration::from_millis(1))).await;
    let mut cfg = SimConfig::fixed(Duration::from_millis(2), Duration::from_millis(1));
    cfg.error_rate = 1.0;
    let dead = start_sim(cfg).await;
    let out = run_async(args![
        "compare",
        format!("good={}", good.url()),
        format!("dead={}", dead.url()),
        "-n",
        5,
        "--output-len",
        4,
        "--no-monitor",
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(5), "{}", out.all());
    assert!(
        out.stderr.contains("no request succeeded for strategy dead"),
        "{}",
        out.stderr
    );
    assert!(out.stdout.contains("5 failed: http_500 ×5"), "{}", out.stdout);
}

/// `--use-case chat` sets the lengths and objectives of a chat service;
/// a typed flag overrides the preset's value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_use_case_sets_lengths_and_objectives() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(2), Duration::from_millis(1))).await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "--use-case",
        "chat",
        "-n",
        4,
        "--output-len",
        8,
        "--json",
        json.display(),
        "--no-monitor",
        "--no-history"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let v = read_json(&json);
    let s = &v["settings"];
    assert_eq!(s["use_case"], "chat");
    assert_eq!(s["workload"]["dataset"]["input_len"], 512, "{s:#}");
    assert_eq!(s["workload"]["dataset"]["output_len"], 8, "the typed flag wins");
    assert_eq!(v["slos"].as_array().map(Vec::len), Some(3), "{:#}", v["slos"]);
    assert!(out.stdout.contains("ttft_p90"), "{}", out.stdout);
    sim.shutdown().await;
}
