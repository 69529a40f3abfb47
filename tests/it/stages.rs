//! Load that changes over time, against the embedded simulator: closed-loop
//! stages (the workers in flight never exceed the target's whole part
//! while it rises), open-loop rate stages (arrivals per stage are the
//! integral of the rate: exact for constant arrivals, within four standard
//! deviations for Poisson), vLLM's ramp-up (the schedule and the rate
//! changes it records), objectives per stage failing at the stage where the
//! batching simulator starts to queue, and shards that together send what
//! one run would.

use std::time::Duration;

use inferload::sim::model::BatchingProfile;
use inferload::sim::SimConfig;
use serde_json::Value;

use crate::args;
use crate::common::*;

/// `(scheduled, sent, ended)` of every request in a records file.
fn spans(path: &std::path::Path) -> Vec<(f64, f64, f64)> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let f = |k: &str| v[k].as_f64().unwrap();
            (f("scheduled_at"), f("sent_at"), f("ended_at"))
        })
        .collect()
}

/// Requests in flight at `t` (sent at or before, not yet ended).
fn in_flight_at(spans: &[(f64, f64, f64)], t: f64) -> usize {
    spans.iter().filter(|s| s.1 <= t && t < s.2).count()
}

/// Time-weighted requests in flight over `[a, b)`.
fn mean_in_flight(spans: &[(f64, f64, f64)], a: f64, b: f64) -> f64 {
    spans.iter().map(|s| (s.2.min(b) - s.1.max(a)).max(0.0)).sum::<f64>() / (b - a)
}

fn base(url: &str, dir: &std::path::Path, name: &str) -> Vec<String> {
    args![
        "run",
        "--url",
        url,
        "--warmup",
        0,
        "--output-len",
        8,
        "--records",
        dir.join(format!("{name}.jsonl")).display(),
        "--json",
        dir.join(format!("{name}.json")).display(),
        "--no-monitor",
        "--no-history",
        "--quiet"
    ]
}

async fn run_with(argv: Vec<String>, extra: &[&str]) -> Output {
    let mut argv = argv;
    argv.extend(extra.iter().map(ToString::to_string));
    run_async(argv).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_stages_keep_the_workers_under_the_target() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(5), Duration::from_millis(3))).await;
    let dir = tempfile::tempdir().unwrap();
    let out = run_with(base(&sim.url(), dir.path(), "c"), &["--stages", "1s:4,1s:4,1s:0"]).await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let doc = read_json(&dir.path().join("c.json"));
    assert!(schema_errors(&doc).is_empty(), "{:?}", schema_errors(&doc));
    let stages = doc["stages"]["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 3);
    let spans = spans(&dir.path().join("c.jsonl"));
    let total: u64 = stages.iter().map(|s| s["requests"].as_u64().unwrap()).sum();
    assert_eq!(total, spans.len() as u64, "every request is in one stage");
    // Worker k starts when the target (0 → 4 over 1 s) reaches k + 1, so
    // while it rises or holds, never more than floor(target) are in flight.
    let target = |t: f64| if t < 1.0 { 4.0 * t } else { 4.0 };
    for s in spans.iter().filter(|s| s.1 < 2.0) {
        let n = in_flight_at(&spans, s.1);
        assert!(
            n as f64 <= (target(s.1) + 1e-9).floor(),
            "{n} in flight at {:.3}s, target {:.2}",
            s.1,
            target(s.1)
        );
    }
    assert!(
        spans.iter().map(|s| s.0).fold(f64::INFINITY, f64::min) >= 0.25,
        "the first worker starts when the target reaches 1"
    );
    // The hold stage had all four workers in flight at once, and the
    // document's mean in flight is the records' own.
    let peak = spans
        .iter()
        .filter(|s| (1.0..2.0).contains(&s.1))
        .map(|s| in_flight_at(&spans, s.1))
        .max();
    assert_eq!(peak, Some(4));
    for s in stages {
        let (a, b) = (s["start_s"].as_f64().unwrap(), s["end_s"].as_f64().unwrap());
        let got = s["mean_in_flight"].as_f64().unwrap();
        assert!((got - mean_in_flight(&spans, a, b)).abs() < 1e-6, "{s}");
    }
    // Nothing is sent after the last stage ends.
    assert!(spans.iter().all(|s| s.0 < 3.0));
    assert!(out.stdout.contains("By stage"), "{}", out.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_stages_start_each_user_when_the_target_reaches_it() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(2), Duration::from_millis(1))).await;
    let dir = tempfile::tempdir().unwrap();
    let out = run_with(
        base(&sim.url(), dir.path(), "u"),
        &["--user-stages", "1s:3,1s:3", "--think-time", "10ms..20ms"],
    )
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let doc = read_json(&dir.path().join("u.json"));
    assert_eq!(doc["users"]["peak"], 3);
    // User k starts when the target (0 → 3 over 1 s) reaches k + 1, and
    // the users active never exceed floor(target) while it rises.
    let series = doc["users"]["series"].as_array().unwrap();
    for change in series {
        let (t, n) = (change[0].as_f64().unwrap(), change[1].as_u64().unwrap());
        if t < 2.0 {
            let target = if t < 1.0 { 3.0 * t } else { 3.0 };
            assert!(n as f64 <= (target + 1e-9).floor(), "{n} users at {t:.3}s");
        }
    }
    let starts: Vec<f64> = series.iter().take(3).map(|c| c[0].as_f64().unwrap()).collect();
    for (k, t) in starts.iter().enumerate() {
        assert!(*t >= (k + 1) as f64 / 3.0 - 1e-6, "user {k} started at {t}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rate_stages_send_the_integral_of_the_rate_in_each_stage() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(1), Duration::from_millis(1))).await;
    let dir = tempfile::tempdir().unwrap();
    // Λ = 7.5, 15, 10 per stage (cumulative 7.5, 22.5, 32.5): constant
    // unit gaps put arrival k at Λ⁻¹(k), so exactly 7, 15 and 10, and no
    // arrival falls on a boundary.
    let out = run_with(
        base(&sim.url(), dir.path(), "r"),
        &["--rate-stages", "1s:15,1s:15,1s:5", "--arrival", "constant"],
    )
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let doc = read_json(&dir.path().join("r.json"));
    let counts: Vec<u64> = doc["stages"]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["requests"].as_u64().unwrap())
        .collect();
    assert_eq!(counts, vec![7, 15, 10]);

    // Poisson: each stage's count is Poisson with mean Λ; four standard
    // deviations either side.
    let out = run_with(base(&sim.url(), dir.path(), "p"), &["--rate-stages", "2s:30,2s:30"]).await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let doc = read_json(&dir.path().join("p.json"));
    let stages = doc["stages"]["stages"].as_array().unwrap();
    for (s, lambda) in stages.iter().zip([30.0f64, 60.0]) {
        let n = s["requests"].as_u64().unwrap() as f64;
        assert!(
            (n - lambda).abs() <= 4.0 * lambda.sqrt(),
            "stage {s}: {n} vs Λ {lambda}"
        );
    }
    assert!(doc["stages"]["rate_changes"].as_array().is_some_and(|c| !c.is_empty()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_counted_ramp_up_is_vllms_schedule_and_records_its_rate_changes() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(1), Duration::from_millis(1))).await;
    let dir = tempfile::tempdir().unwrap();
    let out = run_with(
        base(&sim.url(), dir.path(), "v"),
        &[
            "--ramp-up-strategy",
            "linear",
            "--ramp-up-start-rps",
            "5",
            "--ramp-up-end-rps",
            "20",
            "-n",
            "40",
            "--arrival",
            "constant",
            "--save-result",
            "--result-dir",
            &dir.path().display().to_string(),
            "--result-filename",
            "vllm.json",
        ],
    )
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    // Request i's gap is 1/rate(i/39), rate(p) = 5 + 15p (vLLM's progress).
    let want: Vec<f64> = (0..40)
        .scan(0.0, |at, i| {
            *at += 1.0 / (5.0 + 15.0 * i as f64 / 39.0);
            Some(*at)
        })
        .collect();
    let mut got: Vec<f64> = spans(&dir.path().join("v.jsonl")).iter().map(|s| s.0).collect();
    got.sort_by(f64::total_cmp);
    assert_eq!(got.len(), 40);
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() < 1e-6, "{g} vs {w}");
    }
    let v = read_json(&dir.path().join("vllm.json"));
    assert_eq!(v["ramp_up_strategy"], "linear");
    assert_eq!(v["ramp_up_start_rps"], 5);
    assert_eq!(v["ramp_up_end_rps"], 20);
    assert_eq!(v["request_rate"], "inf");
    let events = v["rps_change_events"].as_array().unwrap();
    let rps: Vec<i64> = events.iter().map(|e| e["rps"].as_i64().unwrap()).collect();
    assert_eq!(rps, (5..=20).collect::<Vec<_>>());
    let stamps: Vec<&str> = events.iter().map(|e| e["timestamp"].as_str().unwrap()).collect();
    assert!(stamps.windows(2).all(|w| w[0] <= w[1]), "{stamps:?}");

    // Timed, exponential: Λ(2 s) = 4·2/ln 4·(4 − 1) ≈ 17.3, so 17 arrivals,
    // arrival k at T·ln(1 + k·ln q/(A·T))/ln q.
    let out = run_with(
        base(&sim.url(), dir.path(), "e"),
        &[
            "--ramp-up-strategy",
            "exponential",
            "--ramp-up-start-rps",
            "4",
            "--ramp-up-end-rps",
            "16",
            "--duration",
            "2s",
            "--arrival",
            "constant",
        ],
    )
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let mut got: Vec<f64> = spans(&dir.path().join("e.jsonl")).iter().map(|s| s.0).collect();
    got.sort_by(f64::total_cmp);
    let lq = 4f64.ln();
    let want: Vec<f64> = (1..=17).map(|k| 2.0 * (1.0 + k as f64 * lq / 8.0).ln() / lq).collect();
    assert_eq!(got.len(), want.len(), "{got:?}");
    for (g, w) in got.iter().zip(&want) {
        assert!((g - w).abs() < 1e-6, "{g} vs {w}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objectives_per_stage_fail_where_the_server_starts_to_queue() {
    // Two slots, 10 ms per step, 20 output tokens: a request takes ≥ 200 ms,
    // so with more than two in flight a request waits at least half of one
    // before its first token; with two or fewer it never waits.
    let profile = BatchingProfile {
        max_num_seqs: 2,
        kv_cache_tokens: 1 << 20,
        prefill_per_token: Duration::ZERO,
        decode_base: Duration::from_millis(10),
        decode_per_seq: Duration::ZERO,
    };
    let bound_ms = 20.0 * 10.0 / 2.0;
    let sim = start_sim(SimConfig::batching(profile)).await;
    let dir = tempfile::tempdir().unwrap();
    let slo = format!("ttft_p99<{bound_ms}ms");
    let mut argv = base(&sim.url(), dir.path(), "s");
    let at = argv.iter().position(|a| a == "--output-len").unwrap();
    argv[at + 1] = "20".into();
    let out = run_with(
        argv,
        &["--stages", "1s:2,1s:2,1s:8,1s:8", "--slo", &slo, "--slo-per-stage"],
    )
    .await;
    assert_eq!(out.code, Some(3), "{}", out.all());
    let doc = read_json(&dir.path().join("s.json"));
    assert!(schema_errors(&doc).is_empty(), "{:?}", schema_errors(&doc));
    let failures = doc["stages"]["first_failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert_eq!(failures[0]["stage"], 3);
    let passed: Vec<bool> = doc["stages"]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["slos"][0]["passed"].as_bool().unwrap())
        .collect();
    assert_eq!(passed, vec![true, true, false, false]);
    assert!(
        out.stdout.contains(&format!("Objective {slo} first failed at stage 3")),
        "{}",
        out.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_split_the_stages_as_one_run() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(5), Duration::from_millis(3))).await;
    let dir = tempfile::tempdir().unwrap();
    // Closed loop: 5 workers over two shards are 3 and 2, as --concurrency 5
    // splits; each shard's in flight stays under its share of floor(target).
    let shard_run = |k: u64, name: &str, load: &[&str]| {
        let mut argv = base(&sim.url(), dir.path(), name);
        argv.extend(["--shard".to_string(), format!("{k}/2")]);
        argv.extend(load.iter().map(ToString::to_string));
        run_async(argv)
    };
    let (a, b) = tokio::join!(
        shard_run(0, "c0", &["--stages", "1s:5,1s:5"]),
        shard_run(1, "c1", &["--stages", "1s:5,1s:5"])
    );
    assert_eq!((a.code, b.code), (Some(0), Some(0)), "{}\n{}", a.all(), b.all());
    for (k, name) in [(0usize, "c0"), (1, "c1")] {
        let spans = spans(&dir.path().join(format!("{name}.jsonl")));
        let share = |n: usize| n / 2 + usize::from(k < n % 2);
        for s in &spans {
            let target = if s.1 < 1.0 { 5.0 * s.1 } else { 5.0 };
            let n = in_flight_at(&spans, s.1);
            assert!(
                n <= share((target + 1e-9).floor() as usize),
                "shard {k}: {n} at {:.3}s",
                s.1
            );
        }
        let peak = spans.iter().map(|s| in_flight_at(&spans, s.1)).max();
        assert_eq!(peak, Some(share(5)), "shard {k}");
    }
    // Open loop: the shards' arrivals together are the single run's.
    let load = ["--rate-stages", "1s:15,1s:15,1s:5", "--arrival", "constant"];
    let single = run_with(base(&sim.url(), dir.path(), "one"), &load).await;
    assert_eq!(single.code, Some(0), "{}", single.all());
    let (a, b) = tokio::join!(shard_run(0, "r0", &load), shard_run(1, "r1", &load));
    assert_eq!((a.code, b.code), (Some(0), Some(0)), "{}\n{}", a.all(), b.all());
    let times = |names: &[&str]| {
        let mut t: Vec<i64> = names
            .iter()
            .flat_map(|n| spans(&dir.path().join(format!("{n}.jsonl"))))
            .map(|s| (s.0 * 1e6).round() as i64)
            .collect();
        t.sort_unstable();
        t
    };
    assert_eq!(times(&["r0", "r1"]), times(&["one"]));
    assert_eq!(times(&["one"]).len(), 32);
}

#[test]
fn bad_stage_values_are_one_clear_line() {
    for (argv, text) in [
        (vec!["--stages", "30s:-1"], "--stages: stage 1: bad target `-1`"),
        (vec!["--stages", "10s:5", "-n", "10"], "--requests does not apply"),
        (
            vec!["--ramp-up-strategy", "linear", "--ramp-up-start-rps", "1"],
            "needs both",
        ),
        (vec!["--slo-per-stage"], "--slo-per-stage needs --stages"),
    ] {
        let mut all = vec!["run", "--no-history"];
        all.extend(argv);
        let out = run(&all);
        assert_ne!(out.code, Some(0), "{all:?}");
        assert!(out.stderr.contains(text), "{all:?}: {}", out.stderr);
        assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
        assert!(!out.stderr.contains("panicked"));
    }
}
