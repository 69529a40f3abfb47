//! Connections against servers that close them: the simulator playing
//! llama.cpp's `llama-server` (a streamed reply announces keep-alive, then
//! the connection is closed) must cost no request, in closed and open loop.

use std::time::Duration;

use serde_json::Value;

use crate::args;
use crate::common::*;

fn u(v: &Value, ptr: &str) -> u64 {
    v.pointer(ptr)
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("{ptr} missing in {v}"))
}

/// The simulator as llama-server: every streamed reply closes its
/// connection although its headers say keep-alive.
fn llama_like() -> SimConfig {
    let mut c = SimConfig::fixed(Duration::from_millis(2), Duration::from_millis(1));
    c.connections = sim::ConnectionMode::CloseAfterStream;
    c
}

/// Runs `inferload run` against `sim` with `load` and returns its JSON.
async fn run_json(sim: &SimHandle, load: &[&str], requests: u64) -> Value {
    let dir = tempfile::tempdir().unwrap();
    run_saved(sim, load, requests, dir.path()).await.0
}

/// Runs `inferload run` against `sim` with `load`, saving its JSON as
/// `dir/run.json` and its history in `dir/history.db`; returns the JSON
/// and what the run printed.
async fn run_saved(sim: &SimHandle, load: &[&str], requests: u64, dir: &std::path::Path) -> (Value, Output) {
    let json = dir.join("run.json");
    let mut a = args![
        "run",
        "--url",
        sim.url(),
        "-n",
        requests,
        "--output-len",
        6,
        "--json",
        json.display(),
        "--db",
        dir.join("history.db").display(),
        "--quiet",
        "--no-monitor"
    ];
    a.extend(load.iter().map(|s| s.to_string()));
    let out = run_async(a).await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    (read_json(&json), out)
}

fn f(v: &Value, ptr: &str) -> f64 {
    v.pointer(ptr)
        .and_then(Value::as_f64)
        .unwrap_or_else(|| panic!("{ptr} missing in {v}"))
}

fn flag(v: &Value, ptr: &str) -> bool {
    v.pointer(ptr)
        .and_then(Value::as_bool)
        .unwrap_or_else(|| panic!("{ptr} missing in {v}"))
}

/// The line of `text` starting with `Connections:`.
fn connections_line(text: &str) -> &str {
    text.lines()
        .find(|l| l.starts_with("Connections:"))
        .unwrap_or_else(|| panic!("no connection figures in\n{text}"))
}

const HANDSHAKE_NOTE: &str = "opened a new connection: their TTFT includes the TCP (and TLS) handshake.";

/// Against a server closing after each stream, the run's JSON and console
/// say that about one connection was opened per request and that TTFT
/// therefore includes a handshake; `report` and `show` print the same
/// block from the saved document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_reports_one_connection_per_request_against_a_server_closing_them() {
    let sim = start_sim(llama_like()).await;
    let dir = tempfile::tempdir().unwrap();
    let (v, out) = run_saved(&sim, &["-c", "4"], 100, dir.path()).await;
    assert_eq!(u(&v, "/summary/failed"), 0, "{}", v["summary"]["errors"]);
    let c = &v["connections"];
    assert_eq!(u(c, "/requests"), 100, "{c}");
    let opened = u(c, "/connections_opened");
    let retries = u(c, "/stale_retries");
    assert!((96..=100 + retries).contains(&opened), "about one per request: {c}");
    // Besides the run's, the server accepted the preflight's connection.
    let accepted = sim.stats().connections_accepted;
    assert!((opened..=opened + 2).contains(&accepted), "{accepted} accepted: {c}");
    assert!(f(c, "/requests_per_connection") <= 1.05, "{c}");
    assert!(flag(c, "/mostly_new_connections"), "{c}");
    assert!(flag(c, "/reuse_stopped"), "{c}");
    assert_eq!(u(c, "/connect_ms/count"), opened, "{c}");
    assert!(f(c, "/connect_ms/mean") > 0.0, "{c}");
    assert!(f(c, "/connect_ms/p99") > 0.0, "{c}");

    let line = connections_line(&out.stdout);
    assert!(
        line.starts_with(&format!("Connections: {opened} opened for 100 requests, ")),
        "{line}"
    );
    assert!(
        line.contains(&format!("{retries} stale-connection retr")) && line.contains("connect time mean "),
        "{line}"
    );
    assert!(out.stdout.contains(HANDSHAKE_NOTE), "{}", out.stdout);
    let trust = out.stdout.find("Result trust:").expect("the trust line");
    assert!(out.stdout.find("Connections:").unwrap() > trust, "under the trust line");

    let block = |text: &str| -> String {
        let start = text.find("Connections:").expect("connection figures");
        text[start..]
            .lines()
            .take_while(|l| l.starts_with("Connections:") || l.starts_with("  "))
            .collect::<Vec<_>>()
            .join("\n")
    };
    let printed = block(&out.stdout);
    let json = dir.path().join("run.json");
    let report = run_async(args!["report", json.display()]).await;
    assert_eq!(report.code, Some(0), "{}", report.all());
    assert_eq!(block(&report.stdout), printed, "report prints the saved block");
    let show = run_async(args!["show", 1, "--db", dir.path().join("history.db").display()]).await;
    assert_eq!(show.code, Some(0), "{}", show.all());
    assert_eq!(block(&show.stdout), printed, "show prints the saved block");
    assert!(show.stdout.contains("Result trust:"), "{}", show.stdout);
    sim.shutdown().await;
}

/// With keep-alive, connections carry many requests and the run does not
/// say that TTFT includes handshakes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_with_kept_connections_reports_many_requests_per_connection() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(2), Duration::from_millis(1))).await;
    let dir = tempfile::tempdir().unwrap();
    let (v, out) = run_saved(&sim, &["-c", "4"], 100, dir.path()).await;
    let c = &v["connections"];
    assert_eq!(u(c, "/requests"), 100, "{c}");
    let opened = u(c, "/connections_opened");
    assert!((1..=4).contains(&opened), "{c}");
    assert!(f(c, "/requests_per_connection") >= 25.0, "{c}");
    assert!(!flag(c, "/mostly_new_connections") && !flag(c, "/reuse_stopped"), "{c}");
    assert_eq!(u(c, "/stale_retries"), 0, "{c}");
    let line = connections_line(&out.stdout);
    assert!(
        line.starts_with(&format!("Connections: {opened} opened for 100 requests, ")),
        "{line}"
    );
    assert!(
        line.contains(" requests per connection, 0 stale-connection retries"),
        "{line}"
    );
    assert!(!out.stdout.contains(HANDSHAKE_NOTE), "{}", out.stdout);
    sim.shutdown().await;
}

/// `--connect-rate`: 10 connections at 40 per second take about 225 ms to
/// open; the settings carry the rate, and the wait is queue delay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connect_rate_flag_ramps_connections_and_waits_as_queue_delay() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(2), Duration::from_millis(1))).await;
    let dir = tempfile::tempdir().unwrap();
    let (v, out) = run_saved(&sim, &["-c", "10", "--connect-rate", "40"], 10, dir.path()).await;
    assert!(out.stdout.contains("\nQueue delay "), "{}", out.stdout);
    assert_eq!(u(&v, "/summary/failed"), 0, "{}", v["summary"]["errors"]);
    assert_eq!(f(&v, "/settings/target/connect_rate"), 40.0);
    assert_eq!(u(&v, "/connections/connections_opened"), 10);
    let queue_max = f(&v, "/summary/queue_delay_ms/max");
    assert!(
        queue_max >= 200.0,
        "the last connection waited {queue_max} ms as queue delay"
    );
    let ttft_max = f(&v, "/summary/ttft_ms/max");
    assert!(ttft_max < queue_max - 100.0, "TTFT {ttft_max} ms excludes the ramp");

    let out = run_async(args!["run", "--url", sim.url(), "-n", 1, "--connect-rate", 0]).await;
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(
        out.stderr
            .contains("--connect-rate must be a positive number of connections per second"),
        "{}",
        out.stderr
    );
    sim.shutdown().await;
}

/// Closed loop, 4 in flight, 300 requests: every reply closes its
/// connection, so every request after the first four would reuse a closed
/// one if the client pooled them blindly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_against_a_server_closing_after_each_stream_loses_nothing() {
    let sim = start_sim(llama_like()).await;
    let v = run_json(&sim, &["-c", "4"], 300).await;
    assert_eq!(u(&v, "/summary/failed"), 0, "{}", v["summary"]["errors"]);
    assert_eq!(u(&v, "/summary/successful"), 300);
    let stats = sim.stats();
    assert_eq!(stats.requests_succeeded, 300, "the server served each request once");
    assert!(
        stats.connections_accepted >= 300,
        "every request needed a new connection: {} accepted",
        stats.connections_accepted
    );
    sim.shutdown().await;
}

/// Open loop at 150 requests/s, 300 requests, the same server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_against_a_server_closing_after_each_stream_loses_nothing() {
    let sim = start_sim(llama_like()).await;
    let v = run_json(&sim, &["--request-rate", "150"], 300).await;
    assert_eq!(u(&v, "/summary/failed"), 0, "{}", v["summary"]["errors"]);
    assert_eq!(u(&v, "/summary/successful"), 300);
    assert_eq!(sim.stats().requests_succeeded, 300);
    sim.shutdown().await;
}

/// One engine phase run in process against `url`: its records and end.
mod engine_phase {
    use std::sync::Arc;
    use std::time::Duration;

    use inferload::engine::{self, client, Event, Phase, PhaseEnd, RequestContext, Signals, Stop};
    use inferload::record::RequestRecord;
    use inferload::schedule::{Arrival, ScheduleSpec};
    use inferload::workload::{DatasetSpec, RequestParams, Workload, WorkloadSpec};
    use tokio::sync::mpsc;

    pub struct Target {
        pub ctx: Arc<RequestContext>,
        pub workload: Arc<Workload>,
    }

    /// A chat target at `base` (streamed, 6 tokens a reply) on a client
    /// keeping `pool` idle slots, its configuration changed by `tweak`.
    pub fn target(base: &str, pool: usize, tweak: impl FnOnce(&mut engine::ClientConfig)) -> Target {
        let spec = WorkloadSpec {
            dataset: DatasetSpec::Random {
                input_len: 8,
                output_len: 6,
                range_ratio: 0.0,
            },
            max_tokens: Some(6),
            stream: true,
            ignore_eos: true,
            extra_body: None,
            seed: 1,
            random_prefix_len: 0,
            system_prompt: None,
            request_id_prefix: None,
            tokenizer: None,
            params: RequestParams::default(),
        };
        let mut config = engine::ClientConfig::new(Duration::from_secs(20));
        tweak(&mut config);
        let client = client::build_client(&config, pool).expect("client");
        let ctx = RequestContext {
            client,
            url: format!("{base}/v1/chat/completions"),
            headers: client::request_headers(&config),
            adapter: Box::new(inferload::api::openai::OpenAi::chat()),
            model: inferload::sim::DEFAULT_MODEL.to_string(),
            workload_spec: spec.clone(),
            redactor: inferload::redact::Redactor::new([]),
            tasks: Vec::new(),
        };
        Target {
            ctx: Arc::new(ctx),
            workload: Arc::new(Workload::load(&spec).expect("workload")),
        }
    }

    pub fn closed(concurrency: usize) -> ScheduleSpec {
        ScheduleSpec::Closed { concurrency }
    }

    pub fn open(rate: f64) -> ScheduleSpec {
        ScheduleSpec::Open {
            rate,
            arrival: Arrival::Constant,
            cap: None,
        }
    }

    /// Runs `requests` requests on `schedule` and returns the records and
    /// how the phase ended.
    pub async fn run(t: &Target, schedule: ScheduleSpec, requests: u64) -> (Vec<RequestRecord>, PhaseEnd) {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let phase = Phase {
            schedule,
            stop: Stop {
                requests: Some(requests),
                duration: None,
            },
            seed: 7,
            first_index: 0,
            capture_text_below: 0,
            grace: Duration::from_secs(5),
            abort_after: None,
            shard: None,
            conversation: None,
            profile: None,
        };
        let collect = tokio::spawn(async move {
            let mut records = Vec::new();
            while let Some(ev) = rx.recv().await {
                if let Event::Finished(r) = ev {
                    records.push(*r);
                }
            }
            records
        });
        let end = engine::run_phase(t.ctx.clone(), t.workload.clone(), phase, tx, &Signals::default()).await;
        (collect.await.expect("collector"), end)
    }

    pub fn failures(records: &[RequestRecord]) -> Vec<String> {
        records
            .iter()
            .filter_map(|r| r.error.as_ref().map(|e| e.message.clone()))
            .collect()
    }
}

/// Against llama-server's behaviour the engine opens about one connection
/// per request, stops reusing them after a few closed ones, and says that
/// most requests opened a connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_figures_against_a_server_closing_after_each_stream() {
    let sim = start_sim(llama_like()).await;
    let t = engine_phase::target(&sim.url(), 4, |_| {});
    let (records, end) = engine_phase::run(&t, engine_phase::closed(4), 200).await;
    assert_eq!(engine_phase::failures(&records), Vec::<String>::new());
    assert_eq!(records.len(), 200);
    let c = &end.connections;
    assert_eq!(c.requests, 200);
    assert!(c.reuse_stopped, "{c:?}");
    assert!(c.mostly_new_connections, "{c:?}");
    // Until reuse stops, each of the 4 slots may find its kept connection
    // closed (noticed before use, or retried): a handful, never one each.
    assert!(c.stale_retries <= 8, "{c:?}");
    assert!(c.closed_by_server >= 3 && c.closed_by_server <= 12, "{c:?}");
    assert!(
        (196..=200 + c.stale_retries).contains(&c.connections_opened),
        "about one connection per request: {c:?}"
    );
    assert_eq!(c.connections_opened, sim.stats().connections_accepted, "{c:?}");
    assert!(c.requests_per_connection <= 1.03, "{c:?}");
    assert_eq!(c.connect_ms.count, c.connections_opened);
    assert!(
        c.connect_ms.mean > 0.0 && c.connect_ms.p99 >= c.connect_ms.mean * 0.5,
        "{c:?}"
    );
    assert_eq!(c.connect_failures, 0);
    sim.shutdown().await;
}

/// With keep-alive, a closed loop of 4 opens at most 4 connections and
/// keeps them: a second phase on the same client opens none and reuses
/// the first phase's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_figures_with_keep_alive_and_connections_kept_across_phases() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(2), Duration::from_millis(1))).await;
    let t = engine_phase::target(&sim.url(), 4, |_| {});
    let (records, end) = engine_phase::run(&t, engine_phase::closed(4), 120).await;
    assert_eq!(engine_phase::failures(&records), Vec::<String>::new());
    let c = &end.connections;
    assert_eq!(c.requests, 120);
    assert!((1..=4).contains(&c.connections_opened), "{c:?}");
    assert_eq!(c.requests_on_new_connections, c.connections_opened, "{c:?}");
    assert!(!c.mostly_new_connections && !c.reuse_stopped, "{c:?}");
    assert_eq!((c.stale_retries, c.closed_by_server), (0, 0), "{c:?}");
    assert!(c.requests_per_connection >= 30.0, "{c:?}");

    let (records, end) = engine_phase::run(&t, engine_phase::closed(4), 40).await;
    assert_eq!(engine_phase::failures(&records), Vec::<String>::new());
    let c2 = &end.connections;
    assert_eq!(c2.connections_opened, 0, "the warm connections are kept: {c2:?}");
    assert_eq!(c2.connections_used, c.connections_opened, "{c2:?}");
    assert_eq!(sim.stats().connections_accepted, c.connections_opened);
    sim.shutdown().await;
}

/// Open loop against the closing server: nothing lost, and a resent
/// request is timed from its own send (never before its first attempt).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_engine_against_a_server_closing_after_each_stream() {
    let sim = start_sim(llama_like()).await;
    let t = engine_phase::target(&sim.url(), 64, |_| {});
    let (records, end) = engine_phase::run(&t, engine_phase::open(200.0), 200).await;
    assert_eq!(engine_phase::failures(&records), Vec::<String>::new());
    assert_eq!(records.len(), 200);
    assert!(records.iter().all(|r| r.sent_at >= r.scheduled_at));
    let c = &end.connections;
    assert!(c.mostly_new_connections && c.stale_retries <= 8, "{c:?}");
    assert_eq!(sim.stats().requests_succeeded, 200);
    sim.shutdown().await;
}

/// The connection ramp spaces new connections: 20 at 100 per second take
/// about 190 ms to open, and that wait is queue delay, not TTFT.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_connection_ramp_spaces_new_connections() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(2), Duration::from_millis(1))).await;
    let t = engine_phase::target(&sim.url(), 20, |c| c.connect_rate = Some(100.0));
    let (records, end) = engine_phase::run(&t, engine_phase::closed(20), 20).await;
    assert_eq!(engine_phase::failures(&records), Vec::<String>::new());
    assert_eq!(end.connections.connections_opened, 20);
    let mut sent: Vec<Duration> = records.iter().map(|r| r.sent_at).collect();
    sent.sort();
    let spread = sent[19] - sent[0];
    assert!(spread >= Duration::from_millis(180), "sends spread over {spread:?}");
    let waited = records
        .iter()
        .map(|r| r.sent_at - r.scheduled_at)
        .max()
        .unwrap_or_default();
    assert!(
        waited >= Duration::from_millis(180),
        "the last waited {waited:?} as queue delay"
    );
    let ttft_max = records
        .iter()
        .filter_map(|r| r.token_times.first().map(|f| *f - r.sent_at))
        .max()
        .unwrap_or_default();
    assert!(
        ttft_max < Duration::from_millis(150),
        "TTFT {ttft_max:?} excludes the ramp"
    );
    sim.shutdown().await;
}

/// A bare HTTP/1.1 server on 127.0.0.1 whose connections each answer their
/// first request in full (keep-alive announced) and then do `second` to
/// the next request. Counts the requests it read.
mod scripted {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};

    #[derive(Clone, Copy)]
    pub enum Second {
        /// Close without a byte of reply (the request never answered).
        CloseSilently,
        /// Start the reply's status line, then close.
        CloseMidHead,
        /// Not used: every reply says `Connection: close`, is HTTP/1.0-style
        /// framed by the end of the connection, and follows a 100 Continue.
        NeverAsked,
    }

    pub struct Server {
        pub url: String,
        pub requests: Arc<AtomicU64>,
        task: tokio::task::JoinHandle<()>,
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    const BODY: &str = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" hi\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";

    pub async fn start(second: Second) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let requests = Arc::new(AtomicU64::new(0));
        let counted = requests.clone();
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(serve(tcp, second, counted.clone()));
            }
        });
        Server { url, requests, task }
    }

    async fn serve(mut tcp: TcpStream, second: Second, requests: Arc<AtomicU64>) {
        let mut buf = Vec::new();
        for n in 0.. {
            if !read_request(&mut tcp, &mut buf).await {
                return;
            }
            requests.fetch_add(1, Ordering::Relaxed);
            if let Second::NeverAsked = second {
                let reply = format!(
                    "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n{BODY}"
                );
                let _ = tcp.write_all(reply.as_bytes()).await;
                let _ = tcp.shutdown().await;
                return;
            }
            if n == 0 {
                let head = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: keep-alive\r\ncontent-length: {}\r\n\r\n",
                    BODY.len()
                );
                let _ = tcp.write_all(format!("{head}{BODY}").as_bytes()).await;
                continue;
            }
            if let Second::CloseMidHead = second {
                let _ = tcp.write_all(b"HTTP/1.1 200").await;
                let _ = tcp.flush().await;
            }
            return;
        }
    }

    /// Reads one request (head and `content-length` body) into `buf`,
    /// keeping any bytes past it; false at end of stream.
    async fn read_request(tcp: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
        loop {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .and_then(|v| v.trim().parse().ok())
                    .unwrap_or(0);
                if buf.len() >= end + 4 + len {
                    buf.drain(..end + 4 + len);
                    return true;
                }
            }
            let mut chunk = [0u8; 4096];
            match tcp.read(&mut chunk).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
    }
}

/// A kept connection closed under the next request before any reply byte:
/// the request is sent again on a fresh connection and succeeds. After
/// three such closes the client stops reusing connections to the target.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_on_a_connection_closed_before_any_reply_is_resent_once() {
    use std::sync::atomic::Ordering;
    let server = scripted::start(scripted::Second::CloseSilently).await;
    let t = engine_phase::target(&server.url, 1, |_| {});
    let (records, end) = engine_phase::run(&t, engine_phase::closed(1), 10).await;
    assert_eq!(engine_phase::failures(&records), Vec::<String>::new());
    let c = &end.connections;
    assert_eq!(c.stale_retries, 3, "{c:?}");
    assert!(c.reuse_stopped, "{c:?}");
    assert_eq!(c.connections_opened, 10, "{c:?}");
    // 10 answered requests, and the 3 that met a closing connection.
    assert_eq!(server.requests.load(Ordering::Relaxed), 13);
}

/// Once any byte of the reply has arrived the request is never resent:
/// it fails, and the server saw it once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_whose_reply_had_begun_is_never_resent() {
    use std::sync::atomic::Ordering;
    let server = scripted::start(scripted::Second::CloseMidHead).await;
    let t = engine_phase::target(&server.url, 1, |_| {});
    let (records, end) = engine_phase::run(&t, engine_phase::closed(1), 2).await;
    let failures = engine_phase::failures(&records);
    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(failures[0].starts_with("request failed:"), "{failures:?}");
    assert_eq!(end.connections.stale_retries, 0);
    assert_eq!(server.requests.load(Ordering::Relaxed), 2);
}

/// A TLS server on 127.0.0.1 with a self-signed certificate, offering
/// `alpn` and answering every request with a short chat stream over
/// HTTP/1.1 or HTTP/2, as ALPN decided.
mod tls_server {
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use bytes::Bytes;
    use http_body_util::Full;
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use tokio::net::TcpListener;

    pub struct Server {
        pub url: String,
        pub connections: Arc<AtomicU64>,
        pub requests: Arc<AtomicU64>,
        task: tokio::task::JoinHandle<()>,
    }

    impl Drop for Server {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    const BODY: &str = "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" hi\"},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n";

    pub async fn start(alpn: &[&[u8]]) -> Server {
        let key = rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .expect("certificate");
        let cert = key.cert.der().clone();
        let private = rustls::pki_types::PrivateKeyDer::Pkcs8(key.signing_key.serialize_der().into());
        let mut config =
            rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("versions")
                .with_no_client_auth()
                .with_single_cert(vec![cert], private)
                .expect("server config");
        config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("https://{}", listener.local_addr().expect("addr"));
        let connections = Arc::new(AtomicU64::new(0));
        let requests = Arc::new(AtomicU64::new(0));
        let (conns, reqs) = (connections.clone(), requests.clone());
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                conns.fetch_add(1, Ordering::Relaxed);
                let (acceptor, reqs) = (acceptor.clone(), reqs.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                    let service = hyper::service::service_fn(move |_req| {
                        reqs.fetch_add(1, Ordering::Relaxed);
                        async move {
                            // A little service time, so requests overlap.
                            tokio::time::sleep(Duration::from_millis(20)).await;
                            let resp = hyper::Response::builder()
                                .header("content-type", "text/event-stream")
                                .body(Full::new(Bytes::from_static(BODY.as_bytes())))
                                .expect("response");
                            Ok::<_, Infallible>(resp)
                        }
                    });
                    let io = TokioIo::new(tls);
                    if h2 {
                        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                            .serve_connection(io, service)
                            .await;
                    } else {
                        let _ = hyper::server::conn::http1::Builder::new()
                            .serve_connection(io, service)
                            .await;
                    }
                });
            }
        });
        Server {
            url,
            connections,
            requests,
            task,
        }
    }
}

/// TLS is verified by default: a self-signed certificate is refused as a
/// connection failure naming the certificate; `--insecure` accepts it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_is_verified_unless_insecure() {
    let server = tls_server::start(&[b"http/1.1"]).await;
    let t = engine_phase::target(&server.url, 2, |_| {});
    let (records, end) = engine_phase::run(&t, engine_phase::closed(2), 2).await;
    let failures = engine_phase::failures(&records);
    assert_eq!(failures.len(), 2, "{failures:?}");
    assert!(
        failures
            .iter()
            .all(|f| f.starts_with("connection failed:") && f.contains("certificate")),
        "{failures:?}"
    );
    assert_eq!(end.connections.connect_failures, 2);

    let t = engine_phase::target(&server.url, 2, |c| c.insecure = true);
    let (records, end) = engine_phase::run(&t, engine_phase::closed(2), 20).await;
    assert_eq!(engine_phase::failures(&records), Vec::<String>::new());
    let c = &end.connections;
    assert_eq!((c.connections_opened, c.http2_connections), (2, 0), "{c:?}");
}

/// A target that picks HTTP/2 in ALPN gets multiplexed connections: 60
/// requests in flight share one connection (100 streams each).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_target_is_multiplexed_over_few_connections() {
    use std::sync::atomic::Ordering;
    let server = tls_server::start(&[b"h2", b"http/1.1"]).await;
    let t = engine_phase::target(&server.url, 60, |c| c.insecure = true);
    let (records, end) = engine_phase::run(&t, engine_phase::closed(60), 240).await;
    assert_eq!(engine_phase::failures(&records), Vec::<String>::new());
    assert_eq!(records.len(), 240);
    assert!(records
        .iter()
        .all(|r| r.output_tokens == 1 && !r.token_times.is_empty()));
    let c = &end.connections;
    assert_eq!(c.http2_connections, c.connections_opened, "{c:?}");
    assert!((1..=2).contains(&c.connections_opened), "{c:?}");
    assert!(c.requests_per_connection >= 120.0, "{c:?}");
    assert_eq!(server.connections.load(Ordering::Relaxed), c.connections_opened);
    assert_eq!(server.requests.load(Ordering::Relaxed), 240);
}

/// A server that says `Connection: close` and ends each body with the
/// connection (after an interim 100 Continue): every request gets its own
/// connection, none is retried, and none counts as closed under a request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_framed_by_the_close_are_read_and_never_reused() {
    use std::sync::atomic::Ordering;
    let server = scripted::start(scripted::Second::NeverAsked).await;
    let t = engine_phase::target(&server.url, 2, |_| {});
    let (records, end) = engine_phase::run(&t, engine_phase::closed(2), 12).await;
    assert_eq!(engine_phase::failures(&records), Vec::<String>::new());
    assert!(records.iter().all(|r| r.output_tokens == 1 && r.token_times.len() == 1));
    let c = &end.connections;
    assert_eq!(c.connections_opened, 12, "{c:?}");
    assert_eq!((c.stale_retries, c.closed_by_server), (0, 0), "{c:?}");
    assert_eq!(server.requests.load(Ordering::Relaxed), 12);
}
