//! Conversation runs (`--turns`) end to end: sessions of several turns
//! against the simulator (exact counts, prompts growing by the replies,
//! failed turns ending sessions) and against a recording server (what each
//! turn's body holds).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::args;
use crate::common::*;

fn u(v: &Value, ptr: &str) -> u64 {
    v.pointer(ptr)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("{ptr} missing in {v}"))
}

fn records(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `(session, turn, turns, input_tokens, succeeded)` of every record, in
/// session and turn order.
fn turns_of(recs: &[Value]) -> Vec<(u64, u64, u64, u64, bool)> {
    let mut rows: Vec<_> = recs
        .iter()
        .map(|r| {
            (
                r["session"].as_u64().expect("session"),
                r["turn"].as_u64().expect("turn"),
                r["session_turns"].as_u64().expect("session_turns"),
                r["input_tokens"].as_u64().unwrap(),
                r["error"].is_null(),
            )
        })
        .collect();
    rows.sort_unstable();
    rows
}

/// Four turns in each of three sessions, two at a time: each turn's prompt
/// is every earlier message and reply plus 10 new words, so the server
/// counts 10, 25, 40, 55 prompt tokens (replies are exactly 5 tokens).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_turn_sends_the_conversation_so_far() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(5), Duration::from_millis(1))).await;
    let dir = tempfile::tempdir().unwrap();
    let (json, recs) = (dir.path().join("run.json"), dir.path().join("r.jsonl"));
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "--turns",
        4,
        "--sessions",
        3,
        "-c",
        2,
        "--input-len",
        10,
        "--output-len",
        5,
        "--turn-think-time",
        "1ms..5ms",
        "--json",
        json.display(),
        "--records",
        recs.display(),
        "--no-history",
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let rows = turns_of(&records(&recs));
    let want: Vec<_> = (0..3)
        .flat_map(|s| (1..=4).map(move |t| (s, t, 4, 10 * t + 5 * (t - 1), true)))
        .collect();
    assert_eq!(rows, want);
    let v = read_json(&json);
    assert_eq!(schema_errors(&v), Vec::<String>::new());
    crate::documents::round_trips::<inferload::doc::RunDocument>(&v);
    assert_eq!(u(&v, "/summary/requests_total"), 12);
    assert_eq!(sim.stats().requests_total, 12, "no turn sent twice, none more");
    let s = &v["sessions"];
    assert_eq!(
        (u(s, "/started"), u(s, "/completed"), u(s, "/failed"), u(s, "/cut")),
        (3, 3, 0, 0)
    );
    assert_eq!(s["turns_completed_mean"], 4.0);
    let by_turn: Vec<(u64, u64, f64)> = s["by_turn"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                u(t, "/turn"),
                u(t, "/requests"),
                t["mean_input_tokens"].as_f64().unwrap(),
            )
        })
        .collect();
    assert_eq!(by_turn, [(1, 3, 10.0), (2, 3, 25.0), (3, 3, 40.0), (4, 3, 55.0)]);
    assert!(s["duration_p50_s"].as_f64().unwrap() > 0.0);
    assert_eq!(v.pointer("/settings/conversation/turns"), Some(&json!("4")));
    // The records file alone gives the same session figures.
    let again = run_async(args!["report", recs.display()]).await;
    assert!(
        again.stdout.contains("Sessions: 3 started, 3 completed"),
        "{}",
        again.all()
    );
    sim.shutdown().await;
}

/// A share of the replies are empty (failed turns). One session at a time,
/// so the simulator numbers the turns in order and which fail is known in
/// advance: each failed turn ends its session, the rest of it is never sent.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_turn_ends_its_session_and_the_counts_are_exact() {
    let mut cfg = SimConfig::fixed(Duration::from_millis(2), Duration::from_millis(1));
    cfg.fault = Some(inferload::sim::Fault::Empty);
    cfg.fault_rate = 0.3;
    cfg.seed = 11;
    let sim = start_sim(cfg).await;
    let (sessions, turns) = (12u64, 3u64);
    let (mut number, mut completed, mut failed) = (0u64, 0u64, 0u64);
    let mut want = Vec::new();
    for s in 0..sessions {
        for t in 1..=turns {
            let fails = inferload::sim::faults::strikes(11, number, 0.3);
            number += 1;
            want.push((s, t, turns, !fails));
            if fails {
                failed += 1;
                break;
            }
            if t == turns {
                completed += 1;
            }
        }
    }
    assert!(failed >= 2 && completed >= 2, "the seed gives both: {failed} failed");
    let dir = tempfile::tempdir().unwrap();
    let (json, recs) = (dir.path().join("run.json"), dir.path().join("r.jsonl"));
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "--turns",
        turns,
        "--sessions",
        sessions,
        "-c",
        1,
        "--input-len",
        4,
        "--output-len",
        3,
        "--json",
        json.display(),
        "--records",
        recs.display(),
        "--no-history",
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let got: Vec<_> = turns_of(&records(&recs))
        .into_iter()
        .map(|(s, t, n, _, ok)| (s, t, n, ok))
        .collect();
    assert_eq!(got, want);
    let v = read_json(&json);
    assert_eq!(schema_errors(&v), Vec::<String>::new());
    assert_eq!(
        u(&v, "/summary/requests_total"),
        number,
        "unsent turns are not requests"
    );
    assert_eq!(u(&v, "/summary/failed"), failed);
    assert_eq!(sim.stats().requests_total, number);
    let s = &v["sessions"];
    assert_eq!(
        (u(s, "/started"), u(s, "/completed"), u(s, "/failed"), u(s, "/cut")),
        (sessions, completed, failed, 0)
    );
    sim.shutdown().await;
}

/// `--requests` counts turns: with one session at a time and 3 turns each,
/// 7 requests are two whole sessions and the first turn of a third, cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_request_count_counts_turns_and_cuts_the_last_session() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(2), Duration::from_millis(1))).await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "--turns",
        3,
        "-n",
        7,
        "-c",
        1,
        "--output-len",
        3,
        "--input-len",
        4,
        "--json",
        json.display(),
        "--no-history",
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let v = read_json(&json);
    assert_eq!(u(&v, "/summary/requests_total"), 7);
    let s = &v["sessions"];
    assert_eq!(
        (u(s, "/started"), u(s, "/completed"), u(s, "/failed"), u(s, "/cut")),
        (3, 2, 0, 1)
    );
    assert_eq!(u(&s["by_turn"][0], "/requests"), 3);
    assert_eq!(u(&s["by_turn"][2], "/requests"), 2);
    sim.shutdown().await;
}

/// Open loop: `--rate` is sessions per second and each session's turns
/// follow it; users run sessions one after another.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_arrive_at_a_rate_and_users_run_them() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(2), Duration::from_millis(1))).await;
    for schedule in [args!["--rate", 50], args!["--users", 2]] {
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("run.json");
        let mut a = args![
            "run",
            "--url",
            sim.url(),
            "--turns",
            "2..3",
            "--sessions",
            6,
            "--output-len",
            3,
            "--input-len",
            4,
            "--json",
            json.display(),
            "--no-history",
            "--quiet"
        ];
        a.extend(schedule.clone());
        let out = run_async(a).await;
        assert_eq!(out.code, Some(0), "{schedule:?}: {}", out.all());
        let v = read_json(&json);
        let s = &v["sessions"];
        assert_eq!((u(s, "/started"), u(s, "/completed")), (6, 6), "{schedule:?}");
        let total = u(&v, "/summary/requests_total");
        assert!((12..=18).contains(&total), "{schedule:?}: {total}");
        assert_eq!(
            s["by_turn"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| u(t, "/requests"))
                .sum::<u64>(),
            total
        );
    }
    sim.shutdown().await;
}

/// What a recording server saw: every request body, in order.
type Seen = Arc<Mutex<Vec<Value>>>;

/// Answers each request with a reply naming its number (`reply-N`).
async fn reply(State(seen): State<Seen>, body: Bytes) -> Response {
    let v: Value = serde_json::from_slice(&body).unwrap();
    let n = {
        let mut seen = seen.lock().unwrap();
        seen.push(v.clone());
        seen.len()
    };
    let text = format!("reply-{n} done");
    let chunk = if v.get("messages").is_some() {
        json!({"choices": [{"index": 0, "delta": {"content": text}}]})
    } else {
        json!({"choices": [{"index": 0, "text": text}]})
    };
    let body = format!("data: {chunk}\n\ndata: [DONE]\n\n");
    ([(header::CONTENT_TYPE, "text/event-stream")], Body::from(body)).into_response()
}

async fn recording_server() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let app = Router::new()
        .route("/v1/models", get(|| async { Json(json!({"data": [{"id": "rec"}]})) }))
        .route("/v1/chat/completions", post(reply))
        .route("/v1/completions", post(reply))
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}"), seen)
}

/// Each turn's body holds every earlier user message and the reply the
/// server gave to it, then the new message; on the completions API the
/// same conversation as text. A JSONL `turns` line gives the messages.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_turn_carries_the_replies_received() {
    let (url, seen) = recording_server().await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("chat.jsonl");
    std::fs::write(&data, "{\"turns\": [\"first question\", \"second one\", \"third\"]}\n").unwrap();
    let out = run_async(args![
        "run",
        "--url",
        url,
        "--dataset",
        data.display(),
        "--turns",
        3,
        "--sessions",
        1,
        "-c",
        1,
        "--no-history",
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let bodies = seen.lock().unwrap().clone();
    assert_eq!(bodies.len(), 3);
    let conv = |b: &Value| -> Vec<(String, String)> {
        b["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["role"].as_str().unwrap().into(),
                    m["content"].as_str().unwrap().into(),
                )
            })
            .collect()
    };
    let m = |r: &str, c: &str| (r.to_string(), c.to_string());
    assert_eq!(conv(&bodies[0]), [m("user", "first question")]);
    assert_eq!(
        conv(&bodies[2]),
        [
            m("user", "first question"),
            m("assistant", "reply-1 done"),
            m("user", "second one"),
            m("assistant", "reply-2 done"),
            m("user", "third")
        ]
    );

    seen.lock().unwrap().clear();
    let out = run_async(args![
        "run",
        "--url",
        url,
        "--api",
        "openai-completions",
        "--dataset",
        data.display(),
        "--turns",
        2,
        "--sessions",
        1,
        "-c",
        1,
        "--no-history",
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let bodies = seen.lock().unwrap().clone();
    assert_eq!(bodies.len(), 2, "--turns 2 takes two of the line's three turns");
    assert_eq!(bodies[1]["prompt"], "first question\nreply-1 done\nsecond one");
}

#[test]
fn conversation_flags_that_cannot_work_are_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let plain = dir.path().join("plain.jsonl");
    std::fs::write(&plain, "{\"prompt\": \"one\"}\n").unwrap();
    let plain = plain.display().to_string();
    for (a, needle) in [
        (vec!["--turns", "0"], "a session has at least 1 turn"),
        (vec!["--turns", "5..2"], "the minimum is above the maximum"),
        (vec!["--turns", "x"], "not a number of turns"),
        (vec!["--turn-think-time", "1s"], "--turn-think-time needs --turns"),
        (vec!["--turns", "2", "--sessions", "3", "-n", "9"], "not both"),
        (vec!["--turns", "2", "--prompt", "hi"], "fixed --prompt"),
        (vec!["--turns", "2", "--dataset", &plain], "holds no conversation"),
        (vec!["--turns", "2", "--shard", "0/2"], "--shard"),
    ] {
        let mut args = vec!["run", "--no-history"];
        args.extend(&a);
        let out = run(&args);
        assert!(matches!(out.code, Some(c) if c != 0), "{a:?}: {}", out.all());
        assert!(out.stderr.contains(needle), "{a:?}: {}", out.stderr);
        assert!(!out.all().contains("panicked"), "{}", out.all());
    }
}

/// A sweep's concurrency levels are sessions at once; `--sessions` bounds
/// each level, whose records carry their session and turn; a comparison's
/// strategies and a scenario file's `[load]` run sessions the same way.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_compare_and_scenario_files_run_sessions() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(2), Duration::from_millis(1))).await;
    let dir = tempfile::tempdir().unwrap();
    let (json, recs) = (dir.path().join("sweep.json"), dir.path().join("levels"));
    let out = run_async(args![
        "sweep",
        "--url",
        sim.url(),
        "--concurrency",
        "1,2",
        "--turns",
        2,
        "--sessions",
        3,
        "--requests-per-level",
        100,
        "--warmup-per-level",
        0,
        "--input-len",
        4,
        "--output-len",
        3,
        "--json",
        json.display(),
        "--records",
        recs.display(),
        "--no-history",
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let v = read_json(&json);
    assert_eq!(
        crate::documents::schema_errors("sweep.schema.json", &v),
        Vec::<String>::new()
    );
    crate::documents::round_trips::<inferload::doc::sweep::SweepDocument>(&v);
    let levels = v["levels"].as_array().unwrap();
    assert_eq!(levels.len(), 2, "{v}");
    for l in levels {
        assert_eq!(u(l, "/summary/requests_total"), 6, "3 sessions of 2 turns: {l}");
        assert_eq!(u(l, "/sessions/completed"), 3, "{l}");
    }
    assert_eq!(v.pointer("/settings/base/conversation/sessions"), Some(&json!(3)));
    let files: Vec<_> = std::fs::read_dir(&recs).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(files.len(), 2);
    for f in files {
        let rows = turns_of(&records(&f));
        assert_eq!(rows.len(), 6);
        assert!(rows.iter().all(|r| r.2 == 2 && r.4), "{rows:?}");
    }

    let cjson = dir.path().join("compare.json");
    let out = run_async(args![
        "compare",
        format!("a={}", sim.url()),
        format!("b={}", sim.url()),
        "--turns",
        3,
        "--sessions",
        2,
        "-c",
        2,
        "--output-len",
        3,
        "--input-len",
        4,
        "--json",
        cjson.display(),
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let v = read_json(&cjson);
    for s in v["strategies"].as_array().unwrap() {
        assert_eq!(u(&s["runs"][0], "/summary/requests_total"), 6, "{s}");
    }

    let scenario = dir.path().join("chat.toml");
    std::fs::write(
        &scenario,
        format!(
            "[target]\nurl = \"{}\"\n[load]\nconcurrency = 2\nturns = \"2..2\"\nsessions = 4\nturn_think_time = \"1ms\"\n\
             [workload]\ninput_len = 4\noutput_len = 3\n",
            sim.url()
        ),
    )
    .unwrap();
    let rjson = dir.path().join("run.json");
    let out = run_async(args![
        "run",
        "--scenario",
        scenario.display(),
        "--json",
        rjson.display(),
        "--no-history",
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let v = read_json(&rjson);
    assert_eq!(u(&v, "/sessions/completed"), 4);
    assert_eq!(u(&v, "/summary/requests_total"), 8);
    std::fs::write(&scenario, "[load]\nturns = 0\n").unwrap();
    let out = run_async(args!["run", "--scenario", scenario.display(), "--no-history"]).await;
    assert_ne!(out.code, Some(0));
    assert!(out.stderr.contains("at least 1 turn"), "{}", out.stderr);
    sim.shutdown().await;
}

/// The HTML, Markdown and CSV reports show the sessions and turns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_show_sessions_and_turns() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(2), Duration::from_millis(1))).await;
    let dir = tempfile::tempdir().unwrap();
    let d = |f: &str| dir.path().join(f);
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "--turns",
        2,
        "--sessions",
        2,
        "-c",
        1,
        "--input-len",
        4,
        "--output-len",
        3,
        "--html",
        d("r.html").display(),
        "--markdown",
        d("r.md").display(),
        "--csv",
        d("r.csv").display(),
        "--no-history",
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let html = std::fs::read_to_string(d("r.html")).unwrap();
    assert!(html.contains("<h2 id=\"sessions\">Sessions</h2>"), "{html}");
    assert!(html.contains("2 started, 2 completed"));
    let md = std::fs::read_to_string(d("r.md")).unwrap();
    assert!(md.contains("### Sessions") && md.contains("| turn |"), "{md}");
    let csv = std::fs::read_to_string(d("r.csv")).unwrap();
    let mut lines = csv.lines();
    assert!(lines.next().unwrap().ends_with(",session,turn"));
    let mut cells: Vec<String> = lines
        .map(|l| l.rsplitn(3, ',').take(2).collect::<Vec<_>>().join(","))
        .collect();
    cells.sort();
    assert_eq!(cells, ["1,0", "1,1", "2,0", "2,1"], "turn,session of every row");
    sim.shutdown().await;
}

/// `--rate inf` with a request count: every session arrives at once and
/// the count, in turns, bounds the arrivals (each session takes at least
/// one request), so the run ends with exactly that many requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_at_once_sessions_end_at_the_request_count() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(2), Duration::from_millis(1))).await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "--turns",
        3,
        "--rate",
        "inf",
        "-n",
        10,
        "--input-len",
        4,
        "--output-len",
        3,
        "--json",
        json.display(),
        "--no-history",
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let v = read_json(&json);
    assert_eq!(u(&v, "/summary/requests_total"), 10);
    assert_eq!(sim.stats().requests_total, 10);
    let s = &v["sessions"];
    assert_eq!(u(s, "/started"), u(s, "/completed") + u(s, "/failed") + u(s, "/cut"));
    sim.shutdown().await;
}
