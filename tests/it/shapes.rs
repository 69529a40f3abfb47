//! Production-shaped runs in the history and in merges: `show` of a staged
//! run prints its by-stage table, `diff` of two staged runs compares them
//! stage by stage (and says when their stages differ), `history` lists each
//! run's shape; the shards of a staged run merge into the by-stage section
//! one run would have, and shards whose stages differ are refused.

use std::path::Path;
use std::time::Duration;

use inferload::sim::SimConfig;
use serde_json::Value;

use crate::args;
use crate::common::*;

/// A short staged closed-loop run recorded in `db`.
async fn staged_run(url: &str, db: &Path, stages: &str, extra: &[&str]) -> Output {
    let mut a = args![
        "run",
        "--url",
        url,
        "--stages",
        stages,
        "--warmup",
        0,
        "--output-len",
        6,
        "--no-monitor",
        "--quiet",
        "--db",
        db.display()
    ];
    a.extend(extra.iter().map(ToString::to_string));
    run_async(a).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staged_runs_are_shown_by_stage_and_diffed_stage_by_stage() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(5), Duration::from_millis(2))).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let json = dir.path().join("one.json");
    let out = staged_run(&sim.url(), &db, "1s:2,1s:4", &["--json", &json.display().to_string()]).await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let out = staged_run(&sim.url(), &db, "1s:2,1s:4", &[]).await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let out = staged_run(&sim.url(), &db, "1s:3", &[]).await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    // A plain run: no shape.
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "-n",
        4,
        "-c",
        1,
        "--output-len",
        4,
        "--no-monitor",
        "--quiet",
        "--db",
        db.display()
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());

    // The list has a shape column: staged runs say so, the plain one not.
    let out = run_async(args!["history", "--db", db.display()]).await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert!(lines[0].contains("Shape"), "{}", out.stdout);
    let row = |id: &str| {
        *lines
            .iter()
            .find(|l| l.split_whitespace().next() == Some(id))
            .unwrap_or_else(|| panic!("no row {id}: {}", out.stdout))
    };
    for id in ["1", "2", "3"] {
        assert!(row(id).contains("stages"), "{}", out.stdout);
    }
    assert!(!row("4").contains("stages"), "{}", out.stdout);

    // `show` prints the by-stage table with each stage and its counts.
    let doc: Value = read_json(&json);
    let stages = doc["stages"]["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 2);
    let out = run_async(args!["show", 1, "--db", db.display()]).await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(out.stdout.contains("By stage"), "{}", out.stdout);
    for st in stages {
        let window = format!(
            "{:.1}s-{:.1}s",
            st["start_s"].as_f64().unwrap(),
            st["end_s"].as_f64().unwrap()
        );
        let requests = st["requests"].to_string();
        let line = out
            .stdout
            .lines()
            .find(|l| l.contains(&window))
            .unwrap_or_else(|| panic!("no stage {window}: {}", out.stdout));
        assert!(
            line.split_whitespace().any(|c| c == requests),
            "stage {window} requests {}: {line}",
            st["requests"]
        );
    }

    // `diff` of two runs with the same stages: a table per stage.
    let out = run_async(args!["diff", 1, 2, "--db", db.display()]).await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(out.stdout.contains("By stage:"), "{}", out.stdout);
    for k in 1..=2 {
        assert!(out.stdout.contains(&format!("Stage {k} (")), "{}", out.stdout);
    }
    assert_eq!(out.stdout.matches("TTFT p99 (ms)").count(), 1 + 2, "{}", out.stdout);
    // Different stages: said, and not compared stage by stage.
    let out = run_async(args!["diff", 1, 3, "--db", db.display()]).await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(out.stdout.contains("stages differ"), "{}", out.stdout);
    assert!(!out.stdout.contains("By stage:"), "{}", out.stdout);
    let out = run_async(args!["diff", 1, 4, "--db", db.display()]).await;
    assert!(
        out.stdout.contains("only the baseline run had stages"),
        "{}",
        out.stdout
    );
    sim.shutdown().await;
}

/// `(scheduled_at, record)` of every record of the named shards.
fn shard_records(dir: &Path, names: &[String]) -> Vec<inferload::record::RequestRecord> {
    names
        .iter()
        .flat_map(|n| {
            let path = dir.join(format!("{n}.jsonl"));
            let text = std::fs::read(&path).unwrap();
            inferload::export::records::parse_records(&text, &path).unwrap()
        })
        .collect()
}

async fn shard(url: &str, dir: &Path, name: &str, k: u64, n: u64, load: &[&str]) -> Output {
    let mut a = args![
        "run",
        "--url",
        url,
        "--warmup",
        0,
        "--output-len",
        6,
        "--shard",
        format!("{k}/{n}"),
        "--records",
        dir.join(format!("{name}.jsonl")).display(),
        "--json",
        dir.join(format!("{name}.json")).display(),
        "--no-monitor",
        "--no-history",
        "--quiet"
    ];
    a.extend(load.iter().map(ToString::to_string));
    run_async(a).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn merged_shards_of_a_staged_run_have_its_stages() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(4), Duration::from_millis(2))).await;
    let url = sim.url();
    let dir = tempfile::tempdir().unwrap();
    let d = |n: &str| dir.path().join(n);
    let load = ["--rate-stages", "1s:12,1s:12,1s:4", "--arrival", "constant"];
    // One run of the load, for the stage counts.
    let mut a = args![
        "run",
        "--url",
        sim.url(),
        "--warmup",
        0,
        "--output-len",
        6,
        "--json",
        d("one.json").display(),
        "--no-monitor",
        "--no-history",
        "--quiet"
    ];
    a.extend(load.iter().map(ToString::to_string));
    let out = run_async(a).await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let one = read_json(&d("one.json"));
    let one_counts: Vec<u64> = one["stages"]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["requests"].as_u64().unwrap())
        .collect();

    for n in [2u64, 3, 4] {
        let names: Vec<String> = (0..n).map(|k| format!("n{n}s{k}")).collect();
        let runs = names
            .iter()
            .enumerate()
            .map(|(k, name)| shard(&url, dir.path(), name, k as u64, n, &load));
        for out in futures_util::future::join_all(runs).await {
            assert_eq!(out.code, Some(0), "{}", out.all());
        }
        let mut argv = args!["merge"];
        argv.extend(names.iter().map(|s| d(&format!("{s}.json")).display().to_string()));
        let total = d(&format!("total{n}.json"));
        argv.extend(args!["--json", total.display(), "--no-history"]);
        let out = run_async(argv).await;
        assert_eq!(out.code, Some(0), "{}", out.all());
        assert!(out.stdout.contains("By stage"), "{}", out.stdout);
        let total = read_json(&total);
        assert!(schema_errors(&total).is_empty(), "{:?}", schema_errors(&total));
        let stages = total["stages"]["stages"].as_array().unwrap();
        assert_eq!(stages.len(), 3);
        // Counts: the sum of the shards', and a single run's.
        for (i, st) in stages.iter().enumerate() {
            let sum: u64 = names
                .iter()
                .map(|s| {
                    read_json(&d(&format!("{s}.json")))["stages"]["stages"][i]["requests"]
                        .as_u64()
                        .unwrap()
                })
                .sum();
            assert_eq!(st["requests"].as_u64(), Some(sum), "stage {}", i + 1);
            assert_eq!(
                st["requests"].as_u64(),
                Some(one_counts[i]),
                "stage {} of one run",
                i + 1
            );
            assert!(st.get("state").is_none(), "a merged document is not a shard's");
        }
        // Each record line names its stage, as the section counts it.
        for name in &names {
            let text = std::fs::read_to_string(d(&format!("{name}.jsonl"))).unwrap();
            let mut per_stage = [0u64; 3];
            for line in text.lines() {
                let v: Value = serde_json::from_str(line).unwrap();
                let stage = v["stage"].as_u64().expect("a stage on every line");
                per_stage[stage as usize - 1] += 1;
            }
            let doc = read_json(&d(&format!("{name}.json")));
            let want: Vec<u64> = (0..3)
                .map(|i| doc["stages"]["stages"][i]["requests"].as_u64().unwrap())
                .collect();
            assert_eq!(per_stage.to_vec(), want, "{name}");
        }
        // Percentiles: those of one histogram of the stage's requests.
        let records = shard_records(dir.path(), &names);
        for st in stages {
            let (a, b) = (st["start_s"].as_f64().unwrap(), st["end_s"].as_f64().unwrap());
            let last = st["stage"].as_u64() == Some(3);
            let mine: Vec<_> = records
                .iter()
                .filter(|r| {
                    let t = r.scheduled_at.as_secs_f64();
                    t >= a && (t < b || last)
                })
                .cloned()
                .collect();
            let s = inferload::stats::SummaryBuilder::from_records(&mine).finish();
            for (key, want) in [
                ("ttft_p50_ms", s.ttft_ms.as_ref().map(|l| l.p50)),
                ("ttft_p99_ms", s.ttft_ms.as_ref().map(|l| l.p99)),
                ("itl_p99_ms", s.itl_ms.as_ref().map(|l| l.p99)),
            ] {
                let got = st[key].as_f64();
                let close = match (got, want) {
                    (Some(g), Some(w)) => (g - w).abs() < 1e-9,
                    (g, w) => g == w,
                };
                assert!(
                    close,
                    "stage {} {key}: merged {got:?}, one histogram {want:?}",
                    st["stage"]
                );
            }
        }
    }

    // Shards whose stages differ are refused, naming the files.
    let out = shard(
        &sim.url(),
        dir.path(),
        "other",
        1,
        2,
        &["--rate-stages", "1s:12,1s:6", "--arrival", "constant"],
    )
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let out = run_async(args![
        "merge",
        d("n2s0.json").display(),
        d("other.json").display(),
        "--no-history",
        "--quiet"
    ])
    .await;
    assert_ne!(out.code, Some(0), "{}", out.all());
    assert!(
        out.stderr.contains("stages differ") && out.stderr.contains("other.json"),
        "{}",
        out.all()
    );
    sim.shutdown().await;
}

/// A history written by the previous schema (no `shape` column, version
/// 1) is listed and shown as it is, and the next recorded run upgrades it
/// keeping every entry.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_1_history_still_opens_and_is_upgraded() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(3), Duration::from_millis(1))).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("h.db");
    let out = staged_run(&sim.url(), &db, "1s:2", &[]).await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    // Back to version 1's layout.
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("ALTER TABLE runs DROP COLUMN shape; PRAGMA user_version = 1;")
        .unwrap();
    drop(conn);
    let out = run_async(args!["history", "--db", db.display()]).await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(
        out.stdout.lines().nth(1).is_some_and(|l| l.contains("stages")),
        "{}",
        out.stdout
    );
    let out = run_async(args!["show", 1, "--db", db.display()]).await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(out.stdout.contains("By stage"), "{}", out.stdout);
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "-n",
        3,
        "-c",
        1,
        "--output-len",
        4,
        "--no-monitor",
        "--quiet",
        "--db",
        db.display()
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let conn = rusqlite::Connection::open(&db).unwrap();
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version, inferload::history::SCHEMA_VERSION);
    let shapes: Vec<String> = conn
        .prepare("SELECT shape FROM runs ORDER BY id")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(shapes, ["stages", ""], "both entries kept, the old one's shape filled");
    sim.shutdown().await;
}

/// A scenario file takes the production-shape options: stages with
/// objectives per stage, a shared random prefix and a system prompt; a bad
/// stage value in it names the file and the key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scenario_file_takes_stages_and_shared_prefixes() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(3), Duration::from_millis(1))).await;
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("shaped.toml");
    std::fs::write(
        &scenario,
        format!(
            "[target]\nurl = \"{}\"\n\
             [load]\nstages = \"500ms:2,500ms:2\"\nwarmup = 0\n\
             [workload]\ninput_len = 8\noutput_len = 3\nrandom_prefix_len = 16\nsystem_prompt_len = 5\n\
             [objectives]\nslo = [\"e2e_p99<10s\"]\nslo_per_stage = true\n",
            sim.url()
        ),
    )
    .unwrap();
    let json = dir.path().join("run.json");
    let out = run_async(args![
        "run",
        "--scenario",
        scenario.display(),
        "--json",
        json.display(),
        "--no-monitor",
        "--no-history",
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let v = read_json(&json);
    assert!(schema_errors(&v).is_empty(), "{:?}", schema_errors(&v));
    assert_eq!(
        v["settings"]["workload"]["random_prefix_len"], 16,
        "{}",
        v["settings"]["workload"]
    );
    assert!(
        !v["settings"]["workload"]["system_prompt"].is_null(),
        "{}",
        v["settings"]["workload"]
    );
    let stages = v["stages"]["stages"].as_array().unwrap();
    assert_eq!(stages.len(), 2);
    for st in stages {
        assert_eq!(st["slos"][0]["passed"], true, "{st}");
    }

    std::fs::write(&scenario, "[load]\nstages = \"1s:-1\"\n").unwrap();
    let out = run_async(args!["run", "--scenario", scenario.display(), "--no-history"]).await;
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("shaped.toml") && out.stderr.contains("stages") && !out.stderr.contains("panicked"),
        "{}",
        out.stderr
    );
    sim.shutdown().await;
}
