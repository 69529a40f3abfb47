//! A dead or overloaded target: the closed loop must not spin against a
//! server that resets every request, and a run with no successful request
//! for `--abort-after` stops with a clear message instead of measuring an
//! outage for its whole duration.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::args;
use crate::common::*;

/// Reads a request's head; false when the client went away first.
async fn read_head(tcp: &mut tokio::net::TcpStream) -> Option<Vec<u8>> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match tcp.read(&mut chunk).await {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    Some(buf)
}

/// Answers the preflight's `GET /v1/models` with one model; true if that
/// was the request.
async fn answer_models(tcp: &mut tokio::net::TcpStream, head: &[u8]) -> bool {
    if !head.starts_with(b"GET /v1/models") {
        return false;
    }
    let body = r#"{"object":"list","data":[{"id":"m","object":"model"}]}"#;
    let reply = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = tcp.write_all(reply.as_bytes()).await;
    true
}

/// Answers `GET /v1/models` (so the preflight passes) and closes every
/// other request's connection at once, without a byte of reply: the
/// engine sees a reset or an empty reply every time. Counts the requests.
async fn resetting_server() -> (String, Arc<AtomicU64>, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let posts = Arc::new(AtomicU64::new(0));
    let counted = posts.clone();
    let task = tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let counted = counted.clone();
            tokio::spawn(async move {
                let Some(head) = read_head(&mut tcp).await else {
                    return;
                };
                if answer_models(&mut tcp, &head).await {
                    return;
                }
                counted.fetch_add(1, Ordering::Relaxed);
                // Dropped: closed with the request unanswered.
            });
        }
    });
    (url, posts, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_loop_against_a_resetting_server_backs_off_and_gives_up() {
    let (url, posts, server) = resetting_server().await;
    let dir = tempfile::tempdir().unwrap();
    let (json, records) = (dir.path().join("run.json"), dir.path().join("rec.jsonl"));
    let started = Instant::now();
    let out = run_async(args![
        "run",
        "--url",
        url,
        "-c",
        4,
        "--duration",
        "60s",
        "--abort-after",
        "2s",
        "--json",
        json.display(),
        "--records",
        records.display(),
        "--no-monitor",
        "--no-history",
        "--quiet"
    ])
    .await;
    server.abort();
    let took = started.elapsed();
    assert_eq!(out.code, Some(5), "{}", out.all());
    assert!(took < Duration::from_secs(30), "the run went on for {took:?}");
    assert!(
        out.stderr.contains("no request succeeded") && out.stderr.contains("--abort-after"),
        "{}",
        out.stderr
    );
    // Paced: 4 workers backing off from 10 ms to 1 s send a few dozen
    // requests in 2 s, not the tens of thousands of a spinning loop.
    let sent = posts.load(Ordering::Relaxed);
    assert!(sent < 200, "{sent} requests reached the dead server");
    let v = read_json(&json);
    assert_eq!(v["summary"]["successful"], 0);
    assert_eq!(
        lines_in(&records) as u64,
        v["summary"]["requests_total"].as_u64().unwrap()
    );
    assert!(
        v["stopped_early"]
            .as_str()
            .unwrap_or("")
            .contains("no successful request"),
        "{v:#}"
    );
}

/// A file-descriptor limit too low for the concurrency asked for is refused
/// before any load, in one line saying what is needed and how to raise it,
/// instead of blaming the target for "Too many open files".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_limit_too_low_for_the_concurrency_is_refused_before_load() {
    use std::os::unix::process::CommandExt;
    let sim = start_sim(inferload::sim::SimConfig::fixed(
        Duration::from_millis(5),
        Duration::from_millis(1),
    ))
    .await;
    let url = sim.url();
    let out = tokio::task::spawn_blocking(move || {
        let mut cmd = bin();
        cmd.args([
            "run",
            "--url",
            &url,
            "-c",
            "2000",
            "-n",
            "4000",
            "--no-monitor",
            "--no-history",
        ]);
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
    .await
    .unwrap();
    assert_eq!(out.code, Some(1), "{}", out.all());
    let err = out.stderr.trim();
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("2000") && err.contains("256") && err.contains("ulimit -n"),
        "{err}"
    );
    assert_eq!(sim.stats().requests_total, 0, "no load was sent");
    sim.shutdown().await;
}

/// A server on which every `hang_every`-th streamed request sends its first
/// token and then never finishes (the rest finish at once). Answers
/// `GET /v1/models` for the preflight.
async fn hanging_server(hang_every: u64) -> (String, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    let posts = Arc::new(AtomicU64::new(0));
    let task = tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let posts = posts.clone();
            tokio::spawn(async move {
                let Some(head) = read_head(&mut tcp).await else {
                    return;
                };
                if answer_models(&mut tcp, &head).await {
                    return;
                }
                let mut chunk = [0u8; 64];
                let n = posts.fetch_add(1, Ordering::Relaxed);
                let event = |text: &str| {
                    format!("data: {{\"choices\":[{{\"index\":0,\"delta\":{{\"content\":\"{text}\"}}}}]}}\n\n")
                };
                let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";
                let _ = tcp.write_all(format!("{head}{}", event(" one")).as_bytes()).await;
                if n.is_multiple_of(hang_every) {
                    // Hold the connection until the client gives up on it.
                    let _ = tcp.read(&mut chunk).await;
                    return;
                }
                let _ = tcp
                    .write_all(format!("{}data: [DONE]\n\n", event(" two")).as_bytes())
                    .await;
            });
        }
    });
    (url, task)
}

/// Requests still in flight when a duration run ends (after `--grace`)
/// are outcomes: counted as failed (`unfinished`) in the success rate and
/// the objectives, never left out so that a hang becomes a pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_that_never_finish_fail_the_run() {
    for (hang_every, code) in [(2u64, 3), (1, 5)] {
        let (url, server) = hanging_server(hang_every).await;
        let dir = tempfile::tempdir().unwrap();
        let json = dir.path().join("run.json");
        let out = run_async(args![
            "run",
            "--url",
            url,
            "--rate",
            10,
            "--duration",
            "2s",
            "--grace",
            "500ms",
            "--slo",
            "error_rate<1%",
            "--json",
            json.display(),
            "--no-monitor",
            "--no-history",
            "--quiet"
        ])
        .await;
        server.abort();
        assert_eq!(out.code, Some(code), "hang every {hang_every}: {}", out.all());
        let v = read_json(&json);
        let s = &v["summary"];
        let (ok, failed) = (s["successful"].as_u64().unwrap(), s["failed"].as_u64().unwrap());
        assert!(failed >= 8, "hang every {hang_every}: {failed} failed, {ok} ok");
        assert_eq!(s["errors"][0]["class"], "unfinished", "{s:#}");
        assert_eq!(v["slos"][0]["passed"], false);
        if hang_every == 2 {
            assert!(ok >= 8 && s["success_rate"].as_f64().unwrap() < 0.7, "{s:#}");
        }
    }
}
