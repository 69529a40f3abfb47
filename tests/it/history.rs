//! The run history end to end: runs and sweeps recorded into a database in
//! a temporary directory, listed, shown and compared; damaged or newer
//! files refused untouched; interrupted runs kept; no key in the file.

use std::path::Path;
use std::time::Duration;

use crate::args;
use crate::common::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A short closed-loop run against `url`, recorded in `db`.
async fn quick_run(url: &str, db: &Path, extra: &[&str]) -> Output {
    let mut a = args![
        "run",
        "--url",
        url,
        "-c",
        2,
        "-n",
        12,
        "--input-len",
        8,
        "--output-len",
        8,
        "--show-samples",
        0,
        "--quiet",
        "--db",
        db.display()
    ];
    a.extend(extra.iter().map(ToString::to_string));
    run_async(a).await
}

fn db_arg(db: &Path) -> String {
    db.display().to_string()
}

/// Data lines of `inferload history` (header and footnote left out).
fn listed(out: &Output) -> Vec<String> {
    out.stdout
        .lines()
        .skip(1)
        .filter(|l| !l.starts_with('*') && !l.trim().is_empty())
        .map(str::to_string)
        .collect()
}

fn contains_bytes(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_are_listed_newest_first_and_shown_without_their_key() {
    let sim = start_sim(SimConfig::fixed(ms(5), ms(1))).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sub").join("history.db");
    let key = "sk-history-secret-4321";
    let out = quick_run(
        &sim.url(),
        &db,
        &[
            "--api-key",
            key,
            "--header",
            "X-Api-Key: hdr-secret-8765",
            // Keeps the records, so they are stored too.
            "--save-result",
            "--result-dir",
            &dir.path().display().to_string(),
        ],
    )
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(out.stdout.contains("Recorded as run 1 in"), "{}", out.stdout);
    let mut second = args![
        "run",
        "--url",
        sim.url(),
        "--rate",
        50,
        "-n",
        10,
        "--output-len",
        4,
        "--quiet",
        "--show-samples",
        0,
        "--db",
        db_arg(&db)
    ];
    second.push("--api-key".into());
    second.push(key.into());
    let out = run_async(second).await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(out.stdout.contains("Recorded as run 2 in"), "{}", out.stdout);

    let out = run_async(args!["history", "--db", db_arg(&db)]).await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(out.stdout.starts_with("ID"), "{}", out.stdout);
    let rows = listed(&out);
    assert_eq!(rows.len(), 2, "{}", out.stdout);
    assert!(
        rows[0].trim_start().starts_with("2 ") && rows[0].contains("rate 50 req/s"),
        "{}",
        out.stdout
    );
    assert!(
        rows[1].trim_start().starts_with("1 ") && rows[1].contains("concurrency 2"),
        "{}",
        out.stdout
    );
    assert!(rows[1].contains("100.0%"), "{}", out.stdout);
    let limited = run_async(args!["history", "--db", db_arg(&db), "-n", 1]).await;
    assert_eq!(listed(&limited).len(), 1, "{}", limited.stdout);

    let out = run_async(args!["show", 1, "--db", db_arg(&db)]).await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    for want in [
        "Run 1",
        "concurrency 2",
        "12 successful",
        "TTFT",
        "E2E",
        "Records:    12 of 12",
    ] {
        assert!(out.stdout.contains(want), "{want} missing in\n{}", out.stdout);
    }
    let out = run_async(args!["show", 2, "--json", "--db", db_arg(&db)]).await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).expect("show --json prints JSON");
    assert_eq!(doc["schema"], "inferload/run");
    assert_eq!(doc.pointer("/summary/successful").unwrap(), 10);
    assert_eq!(doc.pointer("/settings/target/api_key").unwrap(), "***");

    let out = run_async(args!["show", 99, "--db", db_arg(&db)]).await;
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert_eq!(out.stderr.trim().lines().count(), 1, "{}", out.stderr);
    assert!(out.stderr.contains("no run 99 in"), "{}", out.stderr);

    // The key is nowhere in the file, in any encoding SQLite would keep it.
    let bytes = std::fs::read(&db).unwrap();
    assert!(!contains_bytes(&bytes, key), "the API key reached the database");
    assert!(
        !contains_bytes(&bytes, "hdr-secret-8765"),
        "the header secret reached the database"
    );
    assert!(!contains_bytes(&bytes, "history-secret"));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_without_db_go_to_the_environment_path_and_no_history_skips() {
    let sim = start_sim(SimConfig::fixed(ms(2), ms(1))).await;
    let out = run_async(args!["run", "--url", sim.url(), "-n", 3, "--output-len", 2, "--quiet"]).await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    // bin() points INFERLOAD_DB into the test's scratch directory.
    let line = format!("in {}", test_db().display());
    assert!(out.stdout.contains(&line), "{}", out.stdout);
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "-n",
        3,
        "--output-len",
        2,
        "--quiet",
        "--no-history"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(!out.stdout.contains("Recorded as"), "{}", out.stdout);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_finds_a_slower_run_worse_and_fails_past_the_threshold() {
    // Far apart, so a loaded test machine cannot close the gap: E2E about
    // 10 ms against 375 ms.
    let fast = start_sim(SimConfig::fixed(ms(2), ms(1))).await;
    let slow = start_sim(SimConfig::fixed(ms(200), ms(25))).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    for sim in [&fast, &slow] {
        let out = quick_run(&sim.url(), &db, &[]).await;
        assert_eq!(out.code, Some(0), "{}", out.all());
    }
    let verdict = |out: &Output, metric: &str| -> String {
        out.stdout
            .lines()
            .find(|l| l.starts_with(metric))
            .unwrap_or_else(|| panic!("{metric} missing in\n{}", out.stdout))
            .to_string()
    };

    let out = run_async(args!["diff", 1, 2, "--db", db_arg(&db)]).await;
    assert_eq!(out.code, Some(0), "no threshold, no failure: {}", out.all());
    for metric in [
        "TTFT p90 (ms)",
        "TTFT mean (ms)",
        "E2E p99 (ms)",
        "E2E mean (ms)",
        "TPOT p50 (ms)",
    ] {
        assert!(verdict(&out, metric).contains("worse"), "{}", out.stdout);
    }
    assert!(
        verdict(&out, "Request throughput (req/s)").contains("worse"),
        "{}",
        out.stdout
    );
    assert!(verdict(&out, "Success rate").contains("within noise"), "{}", out.stdout);
    assert!(!out.stdout.contains("REGRESSION"), "{}", out.stdout);

    let out = run_async(args!["diff", 1, 2, "--db", db_arg(&db), "--fail-on-regression", "10%"]).await;
    assert_eq!(out.code, Some(4), "{}", out.all());
    assert!(verdict(&out, "TTFT p90 (ms)").contains("REGRESSION"), "{}", out.stdout);
    assert!(out.stdout.contains("regressed by more than 10%"), "{}", out.stdout);

    // The other way round everything improved: nothing regressed.
    let out = run_async(args!["diff", 2, 1, "--db", db_arg(&db), "--fail-on-regression", "10%"]).await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(verdict(&out, "E2E p99 (ms)").contains("better"), "{}", out.stdout);
    assert!(out.stdout.contains("No metric regressed"), "{}", out.stdout);

    let out = run_async(args!["diff", 1, 7, "--db", db_arg(&db)]).await;
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(out.stderr.contains("no run 7"), "{}", out.stderr);
    fast.shutdown().await;
    slow.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_is_recorded_with_its_levels_and_verdict() {
    let sim = start_sim(SimConfig::fixed(ms(3), ms(1))).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    let out = run_async(args![
        "sweep",
        "--url",
        sim.url(),
        "-c",
        "1,2,4",
        "--requests-per-level",
        6,
        "--warmup-per-level",
        0,
        "--output-len",
        4,
        "--min-gain",
        "off",
        "--quiet",
        "--api-key",
        "sk-sweep-secret-2468",
        "--db",
        db_arg(&db)
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(out.stdout.contains("Recorded as run 1 in"), "{}", out.stdout);
    assert!(!contains_bytes(&std::fs::read(&db).unwrap(), "sk-sweep-secret-2468"));
    let out = run_async(args!["history", "--db", db_arg(&db)]).await;
    let rows = listed(&out);
    assert_eq!(rows.len(), 1, "{}", out.stdout);
    assert!(rows[0].contains("sweep 1..4x2"), "{}", out.stdout);
    let out = run_async(args!["show", 1, "--db", db_arg(&db)]).await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    for want in ["Sweep 1", "concurrency 1", "concurrency 4", "Verdict:"] {
        assert!(out.stdout.contains(want), "{want} missing in\n{}", out.stdout);
    }
    // A sweep is not a run to diff.
    let out = run_async(args!["diff", 1, 1, "--db", db_arg(&db)]).await;
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(out.stderr.contains("is a sweep"), "{}", out.stderr);
    sim.shutdown().await;
}

/// Asserts a one-line error naming the file, no panic.
fn assert_clear_error(out: &Output, path: &Path, what: &str) {
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(!out.stderr.contains("panicked"), "{}", out.stderr);
    assert_eq!(out.stderr.trim().lines().count(), 1, "one line: {}", out.stderr);
    assert!(out.stderr.contains(&path.display().to_string()), "{}", out.stderr);
    assert!(out.stderr.contains(what), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_and_newer_databases_are_refused_and_left_untouched() {
    let sim = start_sim(SimConfig::fixed(ms(2), ms(1))).await;
    let dir = tempfile::tempdir().unwrap();

    let corrupt = dir.path().join("corrupt.db");
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&corrupt, &garbage).unwrap();
    for cmd in [args!["history"], args!["show", 1], args!["diff", 1, 2]] {
        let mut a = cmd;
        a.extend(args!["--db", db_arg(&corrupt)]);
        assert_clear_error(&run_async(a).await, &corrupt, "not a SQLite database");
    }
    // A run still succeeds, with a warning, and does not overwrite the file.
    let out = quick_run(&sim.url(), &corrupt, &[]).await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(
        out.stderr.contains("warning: not recorded in the history"),
        "{}",
        out.stderr
    );
    assert_eq!(std::fs::read(&corrupt).unwrap(), garbage);

    let newer = dir.path().join("newer.db");
    let out = quick_run(&sim.url(), &newer, &[]).await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    rusqlite::Connection::open(&newer)
        .unwrap()
        .execute_batch(&format!(
            "PRAGMA user_version = {}",
            inferload::history::SCHEMA_VERSION + 1
        ))
        .unwrap();
    let before = std::fs::read(&newer).unwrap();
    for cmd in [args!["history"], args!["show", 1]] {
        let mut a = cmd;
        a.extend(args!["--db", db_arg(&newer)]);
        assert_clear_error(&run_async(a).await, &newer, "newer than this inferload reads");
    }
    let out = quick_run(&sim.url(), &newer, &[]).await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let newer_version = format!("schema version {}", inferload::history::SCHEMA_VERSION + 1);
    assert!(out.stderr.contains(&newer_version), "{}", out.stderr);
    assert_eq!(std::fs::read(&newer).unwrap(), before);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_run_is_still_recorded() {
    let sim = start_sim(SimConfig::fixed(ms(5), ms(2))).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("history.db");
    let records = dir.path().join("rec.jsonl");
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
        "--quiet",
        "--records",
        &records.display().to_string(),
        "--db",
        &db_arg(&db),
    ]);
    // Wait until requests have really finished, then interrupt.
    let out = interrupt_when(child, move || lines_in(&records) >= 8).await;
    assert_eq!(out.code, Some(130), "{}", out.all());
    assert!(out.stdout.contains("Recorded as run 1 in"), "{}", out.stdout);
    let out = run_async(args!["history", "--db", db_arg(&db)]).await;
    let rows = listed(&out);
    assert_eq!(rows.len(), 1, "{}", out.stdout);
    assert!(rows[0].contains("run*"), "{}", out.stdout);
    assert!(out.stdout.contains("* interrupted"), "{}", out.stdout);
    let out = run_async(args!["show", 1, "--db", db_arg(&db)]).await;
    assert!(out.stdout.contains("(interrupted)"), "{}", out.stdout);
    sim.shutdown().await;
}
