//! Confidence against the simulator: `--repeats` on `run` and on sweep
//! levels, the intervals in the documents (checked against their schemas),
//! the verdict's interval and overlap warnings, and the knee of the
//! throughput curve on a server whose capacity is known (16 slots, a fixed
//! step: throughput proportional to concurrency up to 16, flat after).

use std::time::Duration;

use inferload::sim::model::BatchingProfile;
use serde_json::Value;

use crate::args;
use crate::common::*;

fn sixteen_slots() -> BatchingProfile {
    BatchingProfile {
        max_num_seqs: 16,
        kv_cache_tokens: 1 << 20,
        prefill_per_token: Duration::ZERO,
        decode_base: Duration::from_millis(5),
        decode_per_seq: Duration::ZERO,
    }
}

/// Every interval of a confidence object is ordered: low <= mean <= high.
fn assert_ordered(c: &Value) -> usize {
    let metrics = c["metrics"].as_object().expect("metrics");
    for (name, i) in metrics {
        let (low, mean, high) = (
            i["low"].as_f64().unwrap(),
            i["mean"].as_f64().unwrap(),
            i["high"].as_f64().unwrap(),
        );
        assert!(low <= mean && mean <= high, "{name}: {i}");
    }
    metrics.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_with_three_repeats_pools_them_and_states_intervals() {
    let sim = start_sim(SimConfig::default_loopback()).await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let records = dir.path().join("records.jsonl");
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "-c",
        4,
        "-n",
        30,
        "--output-len",
        8,
        "--repeats",
        3,
        "--json",
        json.display(),
        "--records",
        records.display(),
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(out.stdout.contains("Repeat 2/3"), "{}", out.stdout);
    // The interval block comes after vLLM's block, which is unchanged.
    let block_end = out
        .stdout
        .find("==================================================")
        .unwrap();
    let at = out
        .stdout
        .find("Confidence (95 % CI, Student-t over 3 repeats):")
        .expect(&out.stdout);
    assert!(at > block_end, "{}", out.stdout);
    assert_eq!(out.stdout.matches("Mean TTFT (ms):").count(), 1, "{}", out.stdout);

    let v = read_json(&json);
    assert!(schema_errors(&v).is_empty(), "{:?}", schema_errors(&v));
    let repeats = v["repeats"].as_array().expect("repeats");
    assert_eq!(repeats.len(), 3);
    for (k, r) in repeats.iter().enumerate() {
        assert_eq!(r["repeat"], k as u64 + 1);
        assert_eq!(r["requests_total"], 30);
    }
    // Counts are pooled exactly; every request is in the records file.
    assert_eq!(v["summary"]["requests_total"], 90);
    assert_eq!(v["summary"]["successful"], 90);
    assert_eq!(lines_in(&records), 90);
    let c = &v["confidence"];
    assert_eq!(c["method"], "t_over_repeats");
    assert_eq!(c["level"], 0.95);
    assert_eq!(c["repeats"], 3);
    assert!(assert_ordered(c) >= 5, "{c}");
    // The interval is of the repeats' own figures: their mean is its centre.
    let each: Vec<f64> = repeats
        .iter()
        .map(|r| r["figures"]["request_throughput"].as_f64().unwrap())
        .collect();
    let mean = each.iter().sum::<f64>() / 3.0;
    let t = &c["metrics"]["request_throughput"];
    assert!((t["mean"].as_f64().unwrap() - mean).abs() < 1e-9, "{t} vs {each:?}");
    // The pooled throughput is within the repeats' range (throughput over
    // the measured windows, not diluted by the warm-ups between them).
    let pooled = v["summary"]["request_throughput"].as_f64().unwrap();
    let (lo, hi) = each.iter().fold((f64::MAX, 0.0f64), |(a, b), &x| (a.min(x), b.max(x)));
    assert!(pooled > 0.9 * lo && pooled < 1.1 * hi, "pooled {pooled} vs {each:?}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_run_gets_seeded_bootstrap_intervals_over_its_requests() {
    let sim = start_sim(SimConfig::default_loopback()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut docs = Vec::new();
    for name in ["a.json", "b.json"] {
        let json = dir.path().join(name);
        let out = run_async(args![
            "run",
            "--url",
            sim.url(),
            "-c",
            4,
            "-n",
            40,
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
                .contains("Confidence (95 % CI, bootstrap over 40 requests (1000 resamples)):"),
            "{}",
            out.stdout
        );
        let v = read_json(&json);
        assert!(schema_errors(&v).is_empty(), "{:?}", schema_errors(&v));
        docs.push(v);
    }
    let c = &docs[0]["confidence"];
    assert_eq!(c["method"], "bootstrap_over_requests");
    assert_eq!(c["samples"], 40);
    assert!(docs[0].get("repeats").is_none());
    assert!(
        c["metrics"].get("request_throughput").is_none(),
        "one run: no throughput interval"
    );
    assert_ordered(c);
    // The interval is of the run's own mean.
    let ttft = &c["metrics"]["mean_ttft_ms"];
    let mean = docs[0]["summary"]["ttft_ms"]["mean"].as_f64().unwrap();
    assert!((ttft["mean"].as_f64().unwrap() - mean).abs() < 0.01, "{ttft} vs {mean}");
    assert!(ttft["high"].as_f64().unwrap() > ttft["low"].as_f64().unwrap());
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_with_repeats_carries_intervals_and_finds_the_knee_at_the_slots() {
    let sim = start_sim(SimConfig::batching(sixteen_slots())).await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("sweep.json");
    let html = dir.path().join("sweep.html");
    let out = run_async(args![
        "sweep",
        "--url",
        sim.url(),
        "--concurrency",
        "2,4,8,16,32,64",
        "--input-len",
        8,
        "--output-len",
        8,
        // Every level is measured (16 → 32 gains ~15 %, at the gain rule's
        // knife edge): the knee is found on the whole curve.
        "--min-gain",
        "off",
        "--repeats",
        2,
        "--json",
        json.display(),
        "--html",
        html.display(),
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(
        out.stdout.contains("Maximum stable concurrency: 64\n"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("Throughput there, 95 % CI: ") && out.stdout.contains("(Student-t over 2 repeats)"),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains("Best efficiency: concurrency 16: "),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("(knee rule: Kneedle"), "{}", out.stdout);
    assert!(
        out.stdout.contains("req/s 95% CI"),
        "the table's interval column: {}",
        out.stdout
    );

    let v = read_json(&json);
    let errors = crate::documents::schema_errors("sweep.schema.json", &v);
    assert!(errors.is_empty(), "{errors:?}");
    for l in v["levels"].as_array().unwrap() {
        assert_eq!(l["repeats"].as_array().map(Vec::len), Some(2), "{}", l["concurrency"]);
        assert_eq!(l["confidence"]["method"], "t_over_repeats");
        assert_ordered(&l["confidence"]);
        assert!(l["confidence"]["metrics"].get("request_throughput").is_some());
    }
    let verdict = &v["verdict"];
    let i = &verdict["confidence"]["interval"];
    assert!(i["low"].as_f64().unwrap() <= i["high"].as_f64().unwrap(), "{i}");
    assert_eq!(verdict["confidence"]["metric"], "request_throughput");
    assert_eq!(
        verdict["best_efficiency"]["concurrency"], 16,
        "{}",
        verdict["best_efficiency"]
    );
    // (Two repeats give wide intervals — t(0.975, 1) = 12.7 — so on a loaded
    // machine even levels a factor of two apart may overlap: the warnings
    // are checked where the levels are truly the same, below.)
    assert!(verdict["confidence"]["warnings"].is_array());
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("Best efficiency: concurrency 16"),
        "the verdict in the report"
    );
    sim.shutdown().await;
}

/// Two levels far above the 16 slots serve the same throughput: the
/// verdict warns that noise cannot tell them apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn levels_within_noise_of_each_other_are_flagged() {
    let sim = start_sim(SimConfig::batching(sixteen_slots())).await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("sweep.json");
    let out = run_async(args![
        "sweep",
        "--url",
        sim.url(),
        "--concurrency",
        "32,64",
        "--requests-per-level",
        200,
        "--input-len",
        8,
        "--output-len",
        8,
        "--min-gain",
        "off",
        "--repeats",
        2,
        "--json",
        json.display(),
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(
        out.stdout
            .contains("Warning: levels 32 and 64 are within noise of each other on throughput"),
        "{}",
        out.stdout
    );
    let v = read_json(&json);
    let warnings = v["verdict"]["confidence"]["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    sim.shutdown().await;
}

#[test]
fn repeats_must_be_a_positive_number() {
    let out = run(&["run", "--repeats", "0", "-n", "1"]);
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(out.stderr.contains("--repeats must be at least 1"), "{}", out.stderr);
    assert_eq!(
        out.stderr.lines().filter(|l| !l.trim().is_empty()).count(),
        1,
        "{}",
        out.stderr
    );
    let out = run(&["sweep", "--repeats", "two"]);
    assert_ne!(out.code, Some(0));
    assert!(out.stderr.contains("--repeats"), "{}", out.stderr);
}

/// A load over time measured twice pools stage by stage: each stage holds
/// both repeats' requests (the stages add up to the pooled total), and its
/// rate is per second of both repeats' time in it, not twice the rate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_stages_pool_stage_by_stage() {
    let sim = start_sim(SimConfig::default_loopback()).await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "--rate-stages",
        "1s:10,1s:10",
        "--arrival",
        "constant",
        "--output-len",
        4,
        "--repeats",
        2,
        "--json",
        json.display(),
        "--quiet",
        "--no-history"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let v = read_json(&json);
    assert!(schema_errors(&v).is_empty(), "{:?}", schema_errors(&v));
    let total = v["summary"]["requests_total"].as_u64().unwrap();
    let each: Vec<u64> = v["repeats"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["requests_total"].as_u64().unwrap())
        .collect();
    assert_eq!(each.len(), 2);
    assert_eq!(total, each.iter().sum::<u64>());
    let stages = v["stages"]["stages"].as_array().expect("stages");
    assert_eq!(stages.len(), 2);
    let in_stages: u64 = stages.iter().map(|s| s["requests"].as_u64().unwrap()).sum();
    assert_eq!(in_stages, total, "every pooled request in a stage: {stages:#?}");
    // Stage 1 ramps from 0 to 10 req/s (5 a second on average), stage 2
    // holds 10: pooled, each stage keeps its rate, far from the double a
    // sum of two repeats over one window would give.
    for (s, rate, requests) in [(&stages[0], 5.0, 8), (&stages[1], 10.0, 16)] {
        let rps = s["request_throughput"].as_f64().unwrap();
        assert!(rps > rate * 0.5 && rps < rate * 1.5, "{s:#}");
        assert!(
            s["requests"].as_u64().unwrap() >= requests,
            "both repeats' arrivals: {s:#}"
        );
    }
}
