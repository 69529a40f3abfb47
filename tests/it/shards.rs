//! Sharded runs: N processes that together send exactly what one run with
//! the same flags would — every request index once, in closed loop, open
//! loop and with users — each labelled with its shard.

use std::collections::BTreeSet;
use std::time::Duration;

use inferload::sim::SimConfig;
use serde_json::Value;

use crate::args;
use crate::common::*;

/// The request indices in a records file.
fn indices(path: &std::path::Path) -> Vec<u64> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap()["index"].as_u64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shards_partition_the_requests_of_one_run() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(2), Duration::from_millis(1))).await;
    let loads: [&[&str]; 3] = [
        &["-c", "6"],
        &["--rate", "400", "-c", "8"],
        &["--users", "6", "--spawn-rate", "1000"],
    ];
    let mut sent = 0;
    for load in loads {
        let dir = tempfile::tempdir().unwrap();
        let mut all = BTreeSet::new();
        for k in 0..4u64 {
            let records = dir.path().join(format!("shard-{k}.jsonl"));
            let json = dir.path().join(format!("shard-{k}.json"));
            let mut argv = args![
                "run",
                "--url",
                sim.url(),
                "-n",
                41,
                "--warmup",
                0,
                "--output-len",
                4,
                "--shard",
                format!("{k}/4"),
                "--records",
                records.display(),
                "--json",
                json.display(),
                "--no-monitor",
                "--no-history",
                "--quiet"
            ];
            argv.extend(load.iter().map(ToString::to_string));
            let out = run_async(argv).await;
            assert_eq!(out.code, Some(0), "{load:?} shard {k}: {}", out.all());
            let mine = indices(&records);
            assert!(mine.iter().all(|i| i % 4 == k), "{load:?} shard {k}: {mine:?}");
            for i in mine {
                assert!(all.insert(i), "{load:?}: index {i} sent twice");
            }
            let doc = read_json(&json);
            assert_eq!(doc["settings"]["shard"], serde_json::json!({"index": k, "count": 4}));
        }
        assert_eq!(all, (0..41).collect::<BTreeSet<u64>>(), "{load:?}");
        sent += 41;
    }
    assert_eq!(sim.stats().requests_total, sent, "the server saw each request once");
    sim.shutdown().await;
}

/// Four shards run as separate processes against one simulator, then
/// merged: totals equal one run's, the percentiles equal those of one
/// histogram of every shard's records, and the server saw each request once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merged_shards_equal_one_run() {
    use inferload::stats::SummaryBuilder;
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(3), Duration::from_millis(1))).await;
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| dir.path().join(n);
    let mut children = Vec::new();
    for k in 0..4 {
        children.push(spawn(&[
            "run",
            "--url",
            &sim.url(),
            "-n",
            "80",
            "-c",
            "8",
            "--warmup",
            "0",
            "--output-len",
            "6",
            "--shard",
            &format!("{k}/4"),
            "--records",
            &d(&format!("s{k}.jsonl")).display().to_string(),
            "--json",
            &d(&format!("s{k}.json")).display().to_string(),
            "--no-monitor",
            "--no-history",
            "--quiet",
        ]));
    }
    for c in children {
        let out = tokio::task::spawn_blocking(move || wait(c, Duration::from_secs(60)))
            .await
            .unwrap();
        assert_eq!(out.code, Some(0), "{}", out.all());
    }
    let mut argv = args!["merge"];
    argv.extend((0..4).map(|k| d(&format!("s{k}.json")).display().to_string()));
    argv.extend(args!["--json", d("total.json").display(), "--no-history", "--quiet"]);
    let out = run_async(argv).await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let total = read_json(&d("total.json"));
    assert!(schema_errors(&total).is_empty(), "{:?}", schema_errors(&total));
    let s = &total["summary"];
    assert_eq!(s["requests_total"], 80);
    assert_eq!(s["successful"], 80);
    assert_eq!(s["total_output_tokens"], 80 * 6);
    assert_eq!(sim.stats().requests_total, 80);

    // One histogram of all the shards' records gives the same percentiles.
    let mut records = Vec::new();
    for k in 0..4 {
        let text = std::fs::read(d(&format!("s{k}.jsonl"))).unwrap();
        records.extend(inferload::export::records::parse_records(&text, &d("x")).unwrap());
    }
    let one = serde_json::to_value(SummaryBuilder::from_records(&records).finish()).unwrap();
    for key in ["ttft_ms", "itl_ms", "tpot_ms", "e2e_ms"] {
        for q in ["p50", "p90", "p99", "min", "max", "mean"] {
            let (a, b) = (&one[key][q], &s[key][q]);
            let close = (a.as_f64().unwrap() - b.as_f64().unwrap()).abs() < 1e-9;
            assert!(close, "{key}.{q}: one histogram {a}, merged {b}");
        }
    }
    assert_eq!(total["merged"]["missing"], serde_json::json!([]));

    // With the records, the merged document has the time series of all.
    let mut argv = args!["merge"];
    argv.extend((0..4).map(|k| d(&format!("s{k}.json")).display().to_string()));
    argv.push("--records".into());
    argv.extend((0..4).map(|k| d(&format!("s{k}.jsonl")).display().to_string()));
    argv.extend(args!["--json", d("total2.json").display(), "--no-history", "--quiet"]);
    let out = run_async(argv).await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let series = &read_json(&d("total2.json"))["series"];
    assert_eq!(series["points"].as_array().map(Vec::len), Some(80), "{series}");

    // A missing shard is named and the result called partial.
    let out = run_async(args![
        "merge",
        d("s0.json").display(),
        d("s2.json").display(),
        "--no-history",
        "--quiet"
    ])
    .await;
    assert!(
        out.stderr.contains("partial") && out.stderr.contains("1/4, 3/4"),
        "{}",
        out.all()
    );
    sim.shutdown().await;
}

/// `--start-at +1s` waits for the wall-clock time before the measured
/// phase and says how far the target's clock is from this machine's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_at_waits_for_the_wall_clock() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(2), Duration::from_millis(1))).await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let before = chrono::Utc::now();
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "-n",
        4,
        "--output-len",
        4,
        "--start-at",
        "+1s",
        "--json",
        json.display(),
        "--no-monitor",
        "--no-history",
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(out.stdout.contains("(--start-at)"), "{}", out.stdout);
    assert!(
        out.stdout.contains("Clock:     the target's clock is"),
        "{}",
        out.stdout
    );
    let started = read_json(&json)["started_at"].as_str().unwrap().to_string();
    let started = chrono::DateTime::parse_from_rfc3339(&started).unwrap();
    assert!(started.with_timezone(&chrono::Utc) - before >= chrono::Duration::milliseconds(900));
    sim.shutdown().await;
}

/// A shard holds only its share of the run's connections, so a run too
/// large for one process's file limit fits as shards (what the refusal
/// advises): under a limit of 256 files, 2,000 streams are refused in one
/// line that names the shards needed, and shard 0 of 16 (125 streams) runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shard_needs_files_only_for_its_share_of_the_streams() {
    use std::os::unix::process::CommandExt;
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(5), Duration::from_millis(1))).await;
    let url = sim.url();
    let run_limited = |extra: &'static [&'static str]| {
        let url = url.clone();
        tokio::task::spawn_blocking(move || {
            let mut cmd = bin();
            cmd.args([
                "run",
                "--url",
                &url,
                "-c",
                "2000",
                "-n",
                "32",
                "--no-monitor",
                "--no-history",
            ])
            .args(extra);
            // SAFETY: setrlimit only, between fork and exec of our own child.
            unsafe {
                cmd.pre_exec(|| {
                    let lim = libc::rlimit {
                        rlim_cur: 256,
                        rlim_max: 256,
                    };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            wait(cmd.spawn().expect("spawn"), Duration::from_secs(60))
        })
    };
    let out = run_limited(&[]).await.unwrap();
    assert_eq!(out.code, Some(1), "{}", out.all());
    let err = out.stderr.trim();
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains("hard limit 256") && err.contains("--shard K/11"), "{err}");
    assert_eq!(sim.stats().requests_total, 0, "no load was sent");

    let out = run_limited(&["--shard", "0/16"]).await.unwrap();
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert_eq!(sim.stats().requests_total, 2, "shard 0 of 16 sends indices 0 and 16");
    sim.shutdown().await;
}
