//! The server under test started by inferload (`--server-cmd`): the
//! simulator itself is the server command, with a startup delay (its port
//! closed while it "loads") and a slow first request. Checked: time to
//! ready and the cold first request, the server gone after a run, after
//! an interrupted run and after a failed start, a clear error for a server
//! that exits at once, and sweeps over server and workload settings.

use std::path::Path;
use std::time::Duration;

use inferload::server::process::group_alive;
use serde_json::Value;

use crate::common::*;
use crate::documents::schema_errors as doc_schema_errors;

/// `inferload sim …` as a shell command (the test binary's path quoted).
fn sim_cmd(extra: &str) -> String {
    format!("'{}' sim --port {{port}} {extra}", env!("CARGO_BIN_EXE_inferload"))
}

/// The server's pid from the console line `Server: ready in … (pid N)`.
fn server_pids(stdout: &str) -> Vec<u32> {
    stdout
        .lines()
        .filter_map(|l| {
            l.strip_prefix("Server: ready in ")?
                .split("(pid ")
                .nth(1)?
                .strip_suffix(')')?
                .parse()
                .ok()
        })
        .collect()
}

/// Waits (bounded) until no live process of the group is left: the
/// server's stop is complete when inferload exits, so this is immediate
/// unless something is wrong.
fn assert_gone(pgid: u32) {
    let start = std::time::Instant::now();
    while group_alive(pgid) {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "server process group {pgid} still running"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_started_server_reports_its_cold_start_and_is_stopped_after_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let cmd = sim_cmd("--startup-delay 1s --cold-first-request 600ms");
    let out = wait(
        spawn(&[
            "run",
            "--server-cmd",
            &cmd,
            "-n",
            "20",
            "-c",
            "4",
            "--output-len",
            "8",
            "--json",
            json.to_str().unwrap(),
        ]),
        Duration::from_secs(90),
    );
    assert_eq!(out.code, Some(0), "{}", out.all());
    let doc = read_json(&json);
    assert_eq!(schema_errors(&doc), Vec::<String>::new());
    let cold = &doc["cold_start"];
    let ready = cold["time_to_ready_s"].as_f64().unwrap();
    assert!(ready >= 1.0, "ready after {ready} s, before the 1 s startup delay");
    let ttft = cold["first_request"]["ttft_ms"].as_f64().unwrap();
    assert!(ttft >= 600.0, "cold TTFT {ttft} ms below the 600 ms extra");
    // The run's own requests are warm: far below the cold one.
    let run_ttft = doc["summary"]["ttft_ms"]["mean"].as_f64().unwrap();
    assert!(run_ttft < ttft / 2.0, "run TTFT {run_ttft} ms vs cold {ttft} ms");
    assert_eq!(doc["summary"]["successful"], 20);
    // The log is beside --json and holds the simulator's banner.
    let log = dir.path().join("inferload-server.log");
    assert_eq!(cold["log"].as_str().unwrap(), log.to_str().unwrap());
    assert!(std::fs::read_to_string(&log)
        .unwrap()
        .contains("inferload sim listening on"));
    assert!(
        out.stdout.contains(&format!("output in {}", log.display())),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("Cold start: first request TTFT"), "{}", out.stdout);
    let pids = server_pids(&out.stdout);
    assert_eq!(pids.len(), 1, "{}", out.stdout);
    assert_gone(pids[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_run_stops_its_server() {
    interrupted_run_stops_its_server(libc::SIGINT, 130).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminated_run_stops_its_server() {
    interrupted_run_stops_its_server(libc::SIGTERM, 143).await;
}

/// `signal` to inferload mid-run: it ends with `code` and its server is gone.
async fn interrupted_run_stops_its_server(signal: i32, code: i32) {
    let dir = tempfile::tempdir().unwrap();
    let records = dir.path().join("records.jsonl");
    let cmd = sim_cmd("");
    let child = spawn(&[
        "run",
        "--server-cmd",
        &cmd,
        "--server-log",
        dir.path().join("server.log").to_str().unwrap(),
        "--duration",
        "120s",
        "-c",
        "2",
        "--output-len",
        "8",
        "--records",
        records.to_str().unwrap(),
    ]);
    let watched = records.clone();
    let out = signal_when(child, signal, move || lines_in(&watched) > 5).await;
    assert_eq!(out.code, Some(code), "{}", out.all());
    assert!(out.stdout.contains("Server: stopped"), "{}", out.stdout);
    let pids = server_pids(&out.stdout);
    assert_eq!(pids.len(), 1, "{}", out.stdout);
    assert_gone(pids[0]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_while_the_server_loads_stops_it() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let cmd = sim_cmd("--startup-delay 60s");
    let child = spawn(&[
        "run",
        "--server-cmd",
        &cmd,
        "--server-log",
        log.to_str().unwrap(),
        "-n",
        "5",
    ]);
    let watched = log.clone();
    let out = interrupt_when(child, move || {
        std::fs::read_to_string(&watched).is_ok_and(|t| t.contains("loading for"))
    })
    .await;
    assert_eq!(out.code, Some(130), "{}", out.all());
    assert!(
        out.stderr.contains("Interrupted while the server was starting"),
        "{}",
        out.all()
    );
    // The server is the only other process that wrote to the log: no
    // process of inferload's making may hold it open any more.
    assert!(!any_process_has_open(&log), "a process still holds {}", log.display());
}

/// Whether a live process has `path` open (its stdout: the server).
fn any_process_has_open(path: &Path) -> bool {
    let target = std::fs::canonicalize(path).unwrap();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return false;
    };
    procs.flatten().any(|p| {
        std::fs::read_dir(p.path().join("fd"))
            .map(|fds| {
                fds.flatten()
                    .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|l| l == target))
            })
            .unwrap_or(false)
    })
}

#[test]
fn a_server_that_exits_at_once_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("s.log");
    let out = run(&[
        "run",
        "--server-cmd",
        "echo 'loading model'; echo 'CUDA error: out of memory' >&2; exit 7",
        "--server-log",
        log.to_str().unwrap(),
        "--url",
        "http://127.0.0.1:9",
        "-n",
        "5",
    ]);
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(
        out.stderr
            .contains("the server exited before it was ready (exit status 7)"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("CUDA error: out of memory"), "{}", out.stderr);
}

#[test]
fn server_flag_errors_are_one_line() {
    let out = run(&["run", "--ready-timeout", "1m", "-n", "1"]);
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr.contains("--ready-timeout needs --server-cmd"),
        "{}",
        out.stderr
    );
    let cmd = sim_cmd("--max-num-seqs {seqs}");
    let out = run(&["sweep", "--server-cmd", &cmd, "-c", "1"]);
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr
            .contains("--server-cmd uses {seqs} but no --server-param seqs="),
        "{}",
        out.stderr
    );
    let out = run(&["sweep", "--bench-param", "no-such-thing=1,2", "-c", "1"]);
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr.contains("--bench-param no-such-thing: not a run option"),
        "{}",
        out.stderr
    );
}

fn sweep_doc(args: &[&str], limit: Duration) -> (Output, Value) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("sweep.json");
    let md = dir.path().join("sweep.md");
    let csv = dir.path().join("sweep.csv");
    let html = dir.path().join("sweep.html");
    let mut all: Vec<&str> = vec!["sweep"];
    all.extend_from_slice(args);
    let (j, m, c, h) = (
        json.to_str().unwrap().to_string(),
        md.to_str().unwrap().to_string(),
        csv.to_str().unwrap().to_string(),
        html.to_str().unwrap().to_string(),
    );
    all.extend([
        "--json",
        j.as_str(),
        "--markdown",
        m.as_str(),
        "--csv",
        c.as_str(),
        "--html",
        h.as_str(),
    ]);
    let out = wait(spawn(&all), limit);
    assert_eq!(out.code, Some(0), "{}", out.all());
    let doc = read_json(&json);
    assert_eq!(doc_schema_errors("sweep.schema.json", &doc), Vec::<String>::new());
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(md.contains("### Settings") && md.contains("Best setting:"), "{md}");
    let csv = std::fs::read_to_string(&csv).unwrap();
    assert!(csv.starts_with("setting,verdict,capacity,"), "{csv}");
    let html = std::fs::read_to_string(&html).unwrap();
    assert!(
        html.contains("id=\"settings\"") && html.contains("chart-sweep_settings"),
        "no settings table or chart"
    );
    (out, doc)
}

#[test]
fn a_server_parameter_sweep_picks_the_setting_with_more_capacity() {
    let cmd = sim_cmd("--max-num-seqs {seqs}");
    let (out, doc) = sweep_doc(
        &[
            "--server-cmd",
            &cmd,
            "--server-param",
            "seqs=4,16",
            "-c",
            "4,8,16,32",
            "--output-len",
            "16",
        ],
        Duration::from_secs(240),
    );
    let s = &doc["settings_sweep"];
    let settings = s["settings"].as_array().unwrap();
    assert_eq!(settings.len(), 2);
    assert_eq!(settings[0]["label"], "seqs=4");
    assert_eq!(settings[1]["label"], "seqs=16");
    // A 4-slot server saturates at 4 (8 on a noisy machine: a level's
    // re-measurement may pass it); a 16-slot one at 16.
    let small = settings[0]["verdict"]["max_stable_concurrency"].as_u64().unwrap();
    assert!((4..=8).contains(&small), "{}", out.stdout);
    assert_eq!(settings[1]["verdict"]["max_stable_concurrency"], 16, "{}", out.stdout);
    assert_eq!(s["best"], 1);
    for st in settings {
        assert!(st["cold_start"]["time_to_ready_s"].as_f64().unwrap() > 0.0);
        assert!(!st["levels"].as_array().unwrap().is_empty());
    }
    // The document's own verdict is the best setting's.
    assert_eq!(doc["verdict"]["max_stable_concurrency"], 16);
    assert!(
        out.stdout.contains("Best setting: seqs=16 (concurrency 16;"),
        "{}",
        out.stdout
    );
    let pids = server_pids(&out.stdout);
    assert_eq!(pids.len(), 2, "{}", out.stdout);
    for p in pids {
        assert_gone(p);
    }
}

#[test]
fn a_bench_parameter_sweep_shows_the_shared_prefix_paying_off() {
    let (out, doc) = sweep_doc(
        &[
            "--bench-param",
            "random-prefix-len=0,1024",
            "-c",
            "4",
            "--input-len",
            "64",
            "--output-len",
            "4",
            "--requests-per-level",
            "40",
        ],
        Duration::from_secs(120),
    );
    let settings = doc["settings_sweep"]["settings"].as_array().unwrap();
    assert_eq!(settings.len(), 2, "{}", out.stdout);
    let hit = |s: &Value| {
        let m = &s["levels"][0]["monitor"];
        let q = m["prefix_cache_queries"]
            .as_f64()
            .unwrap_or_else(|| panic!("no prefix counters in {m}"));
        m["prefix_cache_hits"].as_f64().unwrap() / q
    };
    let (h0, h1) = (hit(&settings[0]), hit(&settings[1]));
    assert!(h0 < 0.2, "hit rate without a shared prefix: {h0}");
    assert!(h1 > 0.8, "hit rate with a 1024-token prefix before 64: {h1}");
    assert!(out.stdout.contains("random-prefix-len=1024"), "{}", out.stdout);
    assert!(out.stdout.contains("prefix hit"), "{}", out.stdout);
}
