//! Trace replay end to end: requests leave at the trace's own times (over
//! `--trace-speed`, within `--trace-window`), carry its lengths, and the
//! lateness of every send is in the records and the trust figures.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::args;
use crate::common::*;

/// A Mooncake trace, generated here: `(timestamp ms, input, output, ids)`.
fn write_mooncake(path: &Path, lines: &[(u64, u64, u64, &[u64])]) {
    let text: String = lines
        .iter()
        .map(|(t, i, o, ids)| {
            format!(
                "{}\n",
                serde_json::json!({"timestamp": t, "input_length": i, "output_length": o, "hash_ids": ids})
            )
        })
        .collect();
    std::fs::write(path, text).unwrap();
}

/// The records file's lines, ordered by request index.
fn records(path: &Path) -> Vec<Value> {
    let mut lines: Vec<Value> = std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    lines.sort_by_key(|l| l["index"].as_u64().unwrap());
    lines
}

fn secs(v: &Value, key: &str) -> f64 {
    v[key].as_f64().unwrap_or_else(|| panic!("{key} missing in {v}"))
}

/// Lateness of a send on a loaded two-core machine: far below the trace's
/// gaps (hundreds of milliseconds), so the order and pacing are the trace's.
const LATE_LIMIT_S: f64 = 0.25;

/// Every record's `scheduled_at` is its trace time over the speed, exactly;
/// its `sent_at` follows within the lateness limit; the lengths are the
/// trace's; the document names the dataset and the replay, and the trust
/// figures count every arrival.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mooncake_trace_is_sent_at_its_times_over_the_speed() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(2), Duration::from_millis(1))).await;
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("mooncake.jsonl");
    // Out of order on purpose: the replay sorts by time.
    let lines: &[(u64, u64, u64, &[u64])] = &[
        (0, 20, 3, &[1]),
        (600, 30, 4, &[1, 2]),
        (300, 12, 2, &[1]),
        (300, 8, 5, &[3]),
        (1200, 40, 6, &[1, 2, 4]),
    ];
    write_mooncake(&trace, lines);
    let (json, recs) = (dir.path().join("run.json"), dir.path().join("records.jsonl"));
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "--dataset",
        format!("mooncake:{}", trace.display()),
        "--trace-block-size",
        16,
        "--trace-speed",
        2,
        "--json",
        json.display(),
        "--records",
        recs.display(),
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let r = records(&recs);
    assert_eq!(r.len(), 5, "the trace's lines, not the default request count");
    // Sorted by time (ties keep the file's order), over speed 2.
    let want = [
        (0.0, 20, 3),
        (0.150, 12, 2),
        (0.150, 8, 5),
        (0.300, 30, 4),
        (0.600, 40, 6),
    ];
    for (rec, (at, input, output)) in r.iter().zip(want) {
        assert!((secs(rec, "scheduled_at") - at).abs() < 1e-6, "{rec}");
        let late = secs(rec, "sent_at") - secs(rec, "scheduled_at");
        assert!((0.0..LATE_LIMIT_S).contains(&late), "sent {late}s late: {rec}");
        assert_eq!(rec["input_tokens"], input, "{rec}");
        assert_eq!(rec["output_tokens"], output, "{rec}");
        assert!(rec["error"].is_null(), "{rec}");
    }
    let v = read_json(&json);
    let dataset = &v["settings"]["workload"]["dataset"];
    assert_eq!(dataset["kind"], "trace", "{dataset}");
    assert_eq!(dataset["format"], "mooncake");
    assert_eq!(dataset["block_size"], 16);
    let schedule = &v["settings"]["schedule"];
    assert_eq!(schedule["mode"], "open", "{schedule}");
    assert_eq!(schedule["arrival"], serde_json::json!({"kind": "trace", "speed": 2.0}));
    assert!(
        (schedule["rate"].as_f64().unwrap() - 5.0 / 0.6).abs() < 1e-9,
        "{schedule}"
    );
    let trust = &v["trust"];
    assert_eq!(trust["arrivals"], 5, "every arrival's lateness is measured: {trust}");
    assert!(
        trust["max_send_lateness_ms"].as_f64().unwrap() < LATE_LIMIT_S * 1e3,
        "{trust}"
    );
    assert!(schema_errors(&v).is_empty(), "{:?}", schema_errors(&v));
    assert_eq!(sim.stats().prompt_tokens_total, 110);
    sim.shutdown().await;
}

/// `--trace-window` replays a slice rebased to zero, `--requests` takes the
/// first N of it, and a BurstGPT CSV's failed rows are skipped and said.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burstgpt_window_is_rebased_and_failed_rows_are_skipped() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(2), Duration::from_millis(1))).await;
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("burst.csv");
    std::fs::write(
        &trace,
        "Timestamp,Model,Request tokens,Response tokens,Total tokens,Log Type\n\
         0,ChatGPT,10,2,12,Conversation log\n\
         60.2,ChatGPT,11,3,14,Conversation log\n\
         60.5,GPT-4,12,0,12,API log\n\
         60.7,ChatGPT,13,4,17,API log\n\
         61.1,GPT-4,14,5,19,API log\n\
         61.2,ChatGPT,15,6,21,API log\n\
         130,ChatGPT,16,7,23,API log\n",
    )
    .unwrap();
    let recs = dir.path().join("records.jsonl");
    let json = dir.path().join("run.json");
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "--dataset",
        format!("burstgpt:{}", trace.display()),
        "--trace-window",
        "60s..120s",
        "-n",
        3,
        "--records",
        recs.display(),
        "--json",
        json.display()
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(
        out.stdout.contains("4 requests over 1.2s, window 60s..120s")
            && out.stdout.contains("1 rows with 0 response tokens skipped"),
        "the skipped rows are said once: {}",
        out.stdout
    );
    assert_eq!(out.stdout.matches("rows with 0 response tokens skipped").count(), 1);
    let r = records(&recs);
    let times: Vec<f64> = r.iter().map(|rec| secs(rec, "scheduled_at")).collect();
    let want = [0.2, 0.7, 1.1];
    assert_eq!(times.len(), 3, "--requests 3 takes the window's first three");
    for (t, w) in times.iter().zip(want) {
        assert!((t - w).abs() < 1e-6, "{times:?}");
    }
    let inputs: Vec<u64> = r.iter().map(|rec| rec["input_tokens"].as_u64().unwrap()).collect();
    assert_eq!(inputs, vec![11, 13, 14]);
    let v = read_json(&json);
    assert_eq!(v["settings"]["workload"]["dataset"]["format"], "burstgpt");
    assert_eq!(
        v["settings"]["workload"]["dataset"]["window"],
        serde_json::json!({"start_s": 60.0, "end_s": 120.0})
    );
    sim.shutdown().await;
}

/// A bad trace line stops the run before any traffic, naming file and line.
#[test]
fn a_bad_trace_names_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("bad.jsonl");
    std::fs::write(
        &trace,
        "{\"timestamp\": 0, \"input_length\": 4}\n{\"timestamp\": -5, \"input_length\": 4}\n",
    )
    .unwrap();
    let out = run(&["run", "--dataset", &format!("mooncake:{}", trace.display()), "--quiet"]);
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(
        out.stderr.contains("bad.jsonl:2: `timestamp` is negative (-5)"),
        "{}",
        out.stderr
    );
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
}

/// A scenario file carries the trace options, and a comparison replays one
/// trace at two speeds, each strategy recording its own; a sweep refuses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scenario_compares_one_trace_at_two_speeds() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(2), Duration::from_millis(1))).await;
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace.jsonl");
    let lines: String = (0..6)
        .map(|i| {
            format!(
                "{{\"timestamp\": {}, \"prompt\": \"p{i} a b\", \"output_length\": 2}}\n",
                100 + i * 100
            )
        })
        .collect();
    std::fs::write(&trace, lines).unwrap();
    let scenario = dir.path().join("speeds.toml");
    std::fs::write(
        &scenario,
        format!(
            "[workload]\ndataset = \"trace:{}\"\ntrace_window = \"200ms..\"\n\n\
             [[strategy]]\nname = \"recorded\"\n\n[[strategy]]\nname = \"double\"\ntrace_speed = 2\n",
            trace.display()
        ),
    )
    .unwrap();
    let json = dir.path().join("compare.json");
    let out = run_async(args![
        "compare",
        "--scenario",
        scenario.display(),
        "--url",
        sim.url(),
        "--json",
        json.display(),
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let v = read_json(&json);
    let s = v["strategies"].as_array().unwrap();
    assert_eq!(s.len(), 2);
    for (i, speed) in [1.0, 2.0].into_iter().enumerate() {
        let run = &s[i]["runs"][0];
        let settings = &v["settings"]["strategies"][i]["target"];
        assert_eq!(
            settings["schedule"]["arrival"],
            serde_json::json!({"kind": "trace", "speed": speed}),
            "{settings}"
        );
        assert_eq!(settings["workload"]["dataset"]["window"]["start_s"], 0.2);
        assert_eq!(run["summary"]["requests_total"], 5, "the window's five lines");
    }
    // A sweep refuses a trace and says what to do instead.
    let out = run_async(args![
        "sweep",
        "--dataset",
        format!("trace:{}", trace.display()),
        "--url",
        sim.url(),
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(out.stderr.contains("sweep does not replay traces"), "{}", out.stderr);
    sim.shutdown().await;
}

/// `--concurrency` caps a replay as it caps any open loop: requests the
/// trace sends at once wait for the one slot, and the wait is queue delay
/// against the trace time, not a shifted schedule.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capped_replay_shows_the_wait_as_queue_delay() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(30), Duration::from_millis(1))).await;
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("burst.jsonl");
    write_mooncake(
        &trace,
        &[(0, 5, 2, &[]), (0, 5, 2, &[]), (0, 5, 2, &[]), (0, 5, 2, &[])],
    );
    let (json, recs) = (dir.path().join("run.json"), dir.path().join("records.jsonl"));
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "--dataset",
        format!("mooncake:{}", trace.display()),
        "--concurrency",
        1,
        "--json",
        json.display(),
        "--records",
        recs.display(),
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let r = records(&recs);
    assert_eq!(r.len(), 4);
    assert!(
        r.iter().all(|rec| secs(rec, "scheduled_at") == 0.0),
        "the trace's times stay"
    );
    let mut delays: Vec<f64> = r
        .iter()
        .map(|rec| secs(rec, "sent_at") - secs(rec, "scheduled_at"))
        .collect();
    delays.sort_by(f64::total_cmp);
    // One slot: the last waits for three replies of at least 30 ms each.
    assert!(delays[3] >= 0.09, "{delays:?}");
    let v = read_json(&json);
    assert_eq!(v["trust"]["cap"], 1, "{}", v["trust"]);
    assert_eq!(v["trust"]["arrivals"], 4);
    sim.shutdown().await;
}
