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
