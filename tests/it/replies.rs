//! Replies that must not turn into false figures: empty replies, tokens
//! that arrive as reasoning or tool calls, servers that ignore `stream:
//! true`, usages that make no sense, compressed bodies. Each against the
//! simulator's fault modes or a small hostile server on 127.0.0.1, through
//! the engine (records and summary) and, where the console speaks, the
//! binary.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderMap};
use axum::response::IntoResponse;
use axum::routing::post;
use axum::Router;
use inferload::api::ApiAdapter;
use inferload::engine::{self, client, Event, Phase, RequestContext, Signals, Stop};
use inferload::record::RequestRecord;
use inferload::schedule::ScheduleSpec;
use inferload::sim::{Fault, OutputKind};
use inferload::stats::{Summary, SummaryBuilder};
use inferload::workload::{DatasetSpec, RequestParams, Workload, WorkloadSpec};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::args;
use crate::common::*;

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// The class of every failed record, in order.
fn classes(records: &[RequestRecord]) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| r.error.as_ref().map(|e| e.class.to_string()))
        .collect()
}

fn messages(records: &[RequestRecord]) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| r.error.as_ref().map(|e| e.message.clone()))
        .collect()
}

/// An engine target: `adapter` at `url`, streamed or not, 6 tokens a reply.
struct Target {
    ctx: Arc<RequestContext>,
    workload: Arc<Workload>,
}

fn target(url: String, adapter: Box<dyn ApiAdapter>, stream: bool) -> Target {
    target_with(url, adapter, stream, |_| {})
}

/// [`target`] with its client's configuration changed by `tweak`.
fn target_with(
    url: String,
    adapter: Box<dyn ApiAdapter>,
    stream: bool,
    tweak: impl FnOnce(&mut engine::ClientConfig),
) -> Target {
    let spec = WorkloadSpec {
        dataset: DatasetSpec::Random {
            input_len: 8,
            output_len: 6,
            range_ratio: 0.0,
        },
        max_tokens: Some(6),
        stream,
        ignore_eos: true,
        extra_body: None,
        seed: 1,
        random_prefix_len: 0,
        system_prompt: None,
        request_id_prefix: None,
        tokenizer: None,
        params: RequestParams::default(),
    };
    let mut config = engine::ClientConfig::new(Duration::from_secs(10));
    tweak(&mut config);
    let ctx = RequestContext {
        client: client::build_client(&config, 4).expect("client"),
        url,
        headers: client::request_headers(&config),
        adapter,
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

fn chat(base: &str, stream: bool) -> Target {
    target(
        format!("{base}/v1/chat/completions"),
        Box::new(inferload::api::openai::OpenAi::chat()),
        stream,
    )
}

fn completions(base: &str, stream: bool) -> Target {
    target(
        format!("{base}/v1/completions"),
        Box::new(inferload::api::openai::OpenAi::completions()),
        stream,
    )
}

/// Runs `requests` requests two at a time; the records, in finishing order.
async fn run(t: &Target, requests: u64) -> Vec<RequestRecord> {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let phase = Phase {
        schedule: ScheduleSpec::Closed { concurrency: 2 },
        stop: Stop {
            requests: Some(requests),
            duration: None,
        },
        seed: 7,
        first_index: 0,
        capture_text_below: requests,
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
    engine::run_phase(t.ctx.clone(), t.workload.clone(), phase, tx, &Signals::default()).await;
    collect.await.expect("collector")
}

fn summary(records: &[RequestRecord]) -> Summary {
    SummaryBuilder::from_records(records).finish()
}

fn sim_with(tweak: impl FnOnce(&mut SimConfig)) -> SimConfig {
    let mut cfg = SimConfig::fixed(ms(5), ms(2));
    tweak(&mut cfg);
    cfg
}

/// Runs the binary against `url` with `extra` arguments and `--json`;
/// returns the document and the output. Any exit status is accepted (a run
/// whose every request failed may end non-zero); the document must exist.
async fn run_binary(url: &str, extra: Vec<String>) -> (Value, Output) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let mut a = args!["run", "--url", url, "--json", json.display(), "--no-history", "-c", 2];
    a.extend(extra);
    let out = run_async(a).await;
    assert!(json.exists(), "no document written:\n{}", out.all());
    (read_json(&json), out)
}

// ------------------------------------------------------- a hostile server

/// What the hostile server answers on each path (any method POST):
/// - `/empty-sse`: `text/event-stream`, an empty body;
/// - `/role-only`: a chat stream with the role chunk, a finish_reason with
///   empty content, and `[DONE]` (no text of any kind);
/// - `/no-image`: an images reply whose `data` is empty;
/// - `/gzip-sse`: a stream marked `Content-Encoding: gzip` (the bytes are
///   a real gzip header followed by junk: only the marking matters);
/// - `/gzip-json`: a whole reply marked `Content-Encoding: br`;
/// - `/echo-headers`: a chat reply whose content is the request's
///   `accept-encoding` header (or `none`).
async fn start_hostile() -> SocketAddr {
    let sse = |body: &'static str| ([(header::CONTENT_TYPE, "text/event-stream")], Body::from(body)).into_response();
    let app = Router::new()
        .route("/empty-sse", post(move || async move { sse("") }))
        .route(
            "/role-only",
            post(move || async move {
                sse(concat!(
                    "data: {\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"finish_reason\":null}]}\n\n",
                    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"\"},\"finish_reason\":\"stop\"}]}\n\n",
                    "data: [DONE]\n\n"
                ))
            }),
        )
        .route(
            "/no-image",
            post(|| async { ([(header::CONTENT_TYPE, "application/json")], r#"{"created":1,"data":[]}"#) }),
        )
        .route(
            "/gzip-sse",
            post(|| async {
                let junk: &'static [u8] = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xab\xae\x05\x00";
                (
                    [(header::CONTENT_TYPE, "text/event-stream"), (header::CONTENT_ENCODING, "gzip")],
                    Body::from(junk),
                )
                    .into_response()
            }),
        )
        .route(
            "/gzip-json",
            post(|| async {
                (
                    [(header::CONTENT_TYPE, "application/json"), (header::CONTENT_ENCODING, "br")],
                    Body::from(&b"\x0b\x02\x80{}\x03"[..]),
                )
                    .into_response()
            }),
        )
        .route(
            "/echo-headers",
            post(|headers: HeaderMap| async move {
                let seen = headers
                    .get(header::ACCEPT_ENCODING)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("none")
                    .to_string();
                let body = serde_json::json!({"choices": [{"message": {"role": "assistant", "content": seen}}]});
                ([(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    addr
}

// ------------------------------------------------------------ empty replies

/// A stream of only `[DONE]`, an empty whole body, an empty event stream,
/// a stream with no text, and an image reply with no image are all
/// failures of class `empty_reply`, never successes with 0 tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_replies_are_failures_not_zero_token_successes() {
    let sim = start_sim(sim_with(|c| c.fault = Some(Fault::Empty))).await;
    for t in [chat(&sim.url(), true), completions(&sim.url(), false)] {
        let records = run(&t, 4).await;
        assert_eq!(records.len(), 4);
        assert_eq!(classes(&records), vec!["empty_reply"; 4], "{:?}", messages(&records));
        let s = summary(&records);
        assert_eq!((s.successful, s.failed, s.total_output_tokens), (0, 4, 0));
    }
    sim.shutdown().await;

    let hostile = format!("http://{}", start_hostile().await);
    let openai = || Box::new(inferload::api::openai::OpenAi::chat());
    for path in ["/empty-sse", "/role-only"] {
        let records = run(&target(format!("{hostile}{path}"), openai(), true), 2).await;
        assert_eq!(
            classes(&records),
            vec!["empty_reply"; 2],
            "{path}: {:?}",
            messages(&records)
        );
    }
    let images = inferload::api::for_api(
        inferload::api::ApiKind::OpenaiImages,
        None,
        &format!("{hostile}/no-image"),
    )
    .expect("adapter");
    let records = run(&target(format!("{hostile}/no-image"), images, false), 2).await;
    assert_eq!(classes(&records), vec!["empty_reply"; 2], "{:?}", messages(&records));
    assert!(messages(&records)[0].contains("no image"), "{:?}", messages(&records));
}

/// The binary reports them as such, and the document still matches its schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn empty_replies_are_reported_by_class() {
    let sim = start_sim(sim_with(|c| c.fault = Some(Fault::Empty))).await;
    let (v, out) = run_binary(&sim.url(), args!["-n", 4, "--output-len", 5]).await;
    assert_eq!(v.pointer("/summary/successful"), Some(&Value::from(0)), "{}", out.all());
    assert_eq!(v.pointer("/summary/errors/0/class").unwrap(), "empty_reply");
    assert!(out.stdout.contains("empty_reply"), "{}", out.stdout);
    assert_eq!(schema_errors(&v), Vec::<String>::new());
    sim.shutdown().await;
}

// ------------------------------------------- reasoning and tool-call tokens

/// Tokens that arrive as tool-call arguments or as reasoning are generated
/// text: every chunk is a token time, so TTFT, ITL and TPOT are measured
/// as for content, and the summary counts which kinds were seen.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tool_call_and_reasoning_tokens_are_timed_like_content() {
    for (output, kind) in [
        (OutputKind::ToolCalls, "tool_calls"),
        (OutputKind::Reasoning, "reasoning"),
        (OutputKind::ReasoningContent, "reasoning"),
    ] {
        let sim = start_sim(sim_with(|c| c.output = output)).await;
        let records = run(&chat(&sim.url(), true), 4).await;
        assert_eq!(
            classes(&records),
            Vec::<String>::new(),
            "{output:?}: {:?}",
            messages(&records)
        );
        for r in &records {
            assert_eq!(r.token_times.len(), 6, "{output:?}: one token time per chunk");
            assert!(r.ttft().is_some_and(|t| t >= ms(5)), "{output:?}: {:?}", r.ttft());
        }
        let s = summary(&records);
        assert!(s.ttft_ms.is_some() && s.tpot_ms.is_some(), "{output:?}");
        assert_eq!(s.itl_ms.as_ref().map(|l| l.count), Some(4 * 5), "{output:?}");
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["output_kinds"][kind], 4, "{output:?}: {}", v["output_kinds"]);
        let content = if kind == "reasoning" { 4 } else { 0 };
        assert_eq!(
            v["output_kinds"]["content"], content,
            "{output:?}: {}",
            v["output_kinds"]
        );
        // The kinds are saved with each record.
        let line = serde_json::to_value(inferload::doc::record::RecordLine::of(&records[0])).unwrap();
        assert!(
            line["output_kinds"]
                .as_array()
                .is_some_and(|a| a.contains(&Value::from(kind))),
            "{line}"
        );

        // Not streamed: the whole message's reasoning or tool calls count.
        let records = run(&chat(&sim.url(), false), 2).await;
        assert_eq!(
            classes(&records),
            Vec::<String>::new(),
            "{output:?}: {:?}",
            messages(&records)
        );
        assert!(records.iter().all(|r| r.output_tokens == 6 && !r.tokens_estimated));
        let v = serde_json::to_value(summary(&records)).unwrap();
        assert_eq!(v["output_kinds"][kind], 2, "{output:?}: {}", v["output_kinds"]);
        sim.shutdown().await;
    }
}

/// The console says which kinds of text were timed when it is not plain
/// content, and vLLM's block shows real TTFT figures for tool calls.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_names_the_kinds_of_text_it_timed() {
    let sim = start_sim(sim_with(|c| c.output = OutputKind::ToolCalls)).await;
    let (v, out) = run_binary(&sim.url(), args!["-n", 4, "--output-len", 5]).await;
    assert_eq!(v.pointer("/summary/successful"), Some(&Value::from(4)), "{}", out.all());
    assert_eq!(v.pointer("/summary/output_kinds/tool_calls"), Some(&Value::from(4)));
    assert!(
        out.stdout.contains("tool-call arguments in 4 replies"),
        "{}",
        out.stdout
    );
    let mean_ttft: f64 = out
        .stdout
        .lines()
        .find(|l| l.starts_with("Mean TTFT (ms):"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|x| x.parse().ok())
        .unwrap_or_else(|| panic!("no Mean TTFT line:\n{}", out.stdout));
    assert!(mean_ttft >= 5.0, "{}", out.stdout);
    assert_eq!(schema_errors(&v), Vec::<String>::new());
    sim.shutdown().await;

    // Plain content: no such note.
    let sim = start_sim(sim_with(|_| {})).await;
    let (_, out) = run_binary(&sim.url(), args!["-n", 2, "--output-len", 3]).await;
    assert!(!out.stdout.contains("Generated text"), "{}", out.stdout);
    sim.shutdown().await;
}

// ------------------------------------------------ servers ignoring stream

/// A server that answers `stream: true` with one whole body is measured as
/// not streamed (E2E only), counted, and the console says so once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_not_streamed_despite_stream_true_are_counted_and_noted() {
    let sim = start_sim(sim_with(|c| {
        c.fault = Some(Fault::IgnoreStream);
        c.fault_rate = 0.5;
    }))
    .await;
    let records = run(&chat(&sim.url(), true), 8).await;
    assert_eq!(classes(&records), Vec::<String>::new(), "{:?}", messages(&records));
    let whole = records.iter().filter(|r| !r.streamed).count() as u64;
    assert_eq!(whole, sim.stats().faults_injected);
    assert!(whole > 0 && whole < 8, "{whole} of 8 at 50%");
    for r in records.iter().filter(|r| !r.streamed) {
        assert!(r.ttft().is_none() && r.e2e().is_some() && r.output_tokens == 6);
    }
    let v = serde_json::to_value(summary(&records)).unwrap();
    assert_eq!(v["stream_ignored"], whole, "{v}");
    // A run that asked for no stream has nothing to note.
    let records = run(&chat(&sim.url(), false), 2).await;
    assert_eq!(serde_json::to_value(summary(&records)).unwrap()["stream_ignored"], 0);
    sim.shutdown().await;

    let sim = start_sim(sim_with(|c| c.fault = Some(Fault::IgnoreStream))).await;
    let (v, out) = run_binary(&sim.url(), args!["-n", 4, "--output-len", 5]).await;
    assert_eq!(
        v.pointer("/summary/stream_ignored"),
        Some(&Value::from(4)),
        "{}",
        out.all()
    );
    let note = "4 of 4 replies were not streamed although stream: true was asked";
    assert_eq!(out.stdout.matches(note).count(), 1, "{}", out.stdout);
    assert_eq!(schema_errors(&v), Vec::<String>::new());
    sim.shutdown().await;
}

// ------------------------------------------------------- invalid usage

/// A usage that is present but makes no sense (`completion_tokens: -1`)
/// is ignored and counted; the reply is still measured, its tokens
/// estimated from the content.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_usage_is_ignored_and_counted_not_a_failure() {
    let sim = start_sim(sim_with(|c| c.fault = Some(Fault::BadUsage))).await;
    for stream in [true, false] {
        let records = run(&chat(&sim.url(), stream), 4).await;
        assert_eq!(
            classes(&records),
            Vec::<String>::new(),
            "stream {stream}: {:?}",
            messages(&records)
        );
        for r in &records {
            assert_eq!((r.output_tokens, r.tokens_estimated), (6, true), "stream {stream}");
            assert_eq!(r.input_tokens, 8, "the workload's own count");
        }
        let s = summary(&records);
        assert_eq!(s.ttft_ms.is_some(), stream);
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["usage_invalid"], 4, "stream {stream}: {v}");
    }
    sim.shutdown().await;

    let sim = start_sim(sim_with(|c| c.fault = Some(Fault::BadUsage))).await;
    let (v, out) = run_binary(&sim.url(), args!["-n", 3, "--output-len", 5]).await;
    assert_eq!(v.pointer("/summary/successful"), Some(&Value::from(3)), "{}", out.all());
    assert_eq!(v.pointer("/summary/usage_invalid"), Some(&Value::from(3)));
    assert!(
        out.stdout.contains("3 of 3 replies carried an invalid usage"),
        "{}",
        out.stdout
    );
    assert_eq!(schema_errors(&v), Vec::<String>::new());
    sim.shutdown().await;
}

// ------------------------------------------------------ compressed replies

/// inferload asks for uncompressed replies unless the user's own header
/// says otherwise, and a compressed reply is refused with a message naming
/// its encoding (class `protocol`), never read as an empty stream.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compressed_replies_are_refused_by_name_and_identity_is_asked() {
    let hostile = format!("http://{}", start_hostile().await);
    let openai = || Box::new(inferload::api::openai::OpenAi::chat());

    let records = run(&target(format!("{hostile}/echo-headers"), openai(), false), 1).await;
    assert_eq!(classes(&records), Vec::<String>::new(), "{:?}", messages(&records));
    assert_eq!(records[0].text.as_deref(), Some("identity"));
    let asked_gzip = |c: &mut engine::ClientConfig| {
        c.headers.push(engine::HeaderSpec {
            name: "Accept-Encoding".into(),
            value: "gzip".into(),
            sensitive: false,
        })
    };
    let records = run(
        &target_with(format!("{hostile}/echo-headers"), openai(), false, asked_gzip),
        1,
    )
    .await;
    assert_eq!(records[0].text.as_deref(), Some("gzip"), "the user's header wins");

    for (path, stream, encoding) in [("/gzip-sse", true, "gzip"), ("/gzip-json", false, "br")] {
        let records = run(&target(format!("{hostile}{path}"), openai(), stream), 2).await;
        assert_eq!(
            classes(&records),
            vec!["protocol"; 2],
            "{path}: {:?}",
            messages(&records)
        );
        let m = &messages(&records)[0];
        assert!(
            m.contains(&format!("Content-Encoding: {encoding}")) && m.contains("Accept-Encoding"),
            "{path}: {m}"
        );
    }
}

// ---------------------------------------------------------------- stalls

/// The simulator's stalls hang a share of requests until the client gives
/// up: inferload's `--timeout` ends them (class `timeout`), the others
/// succeed, and the simulator frees every stalled request once its client
/// has gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_replies_end_at_the_timeout_and_free_the_server() {
    let sim = start_sim(sim_with(|c| {
        c.fault = Some(Fault::Stall { after_tokens: 2 });
        c.fault_rate = 0.5;
    }))
    .await;
    let short = |c: &mut engine::ClientConfig| c.timeout = ms(400);
    for stream in [true, false] {
        let t = target_with(
            format!("{}/v1/chat/completions", sim.url()),
            Box::new(inferload::api::openai::OpenAi::chat()),
            stream,
            short,
        );
        let records = run(&t, 8).await;
        let timeouts = classes(&records);
        assert!(timeouts.iter().all(|c| c == "timeout"), "{:?}", messages(&records));
        let ok = records.iter().filter(|r| r.succeeded()).count();
        assert_eq!(ok + timeouts.len(), 8);
        assert!(
            !timeouts.is_empty() && ok > 0,
            "stream {stream}: {} stalled of 8 at 50%",
            timeouts.len()
        );
        if stream {
            // The tokens before the stall were seen.
            let stalled = records.iter().find(|r| !r.succeeded()).unwrap();
            assert_eq!(stalled.token_times.len(), 2, "{stalled:?}");
        }
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while sim.stats().in_flight > 0 {
        assert!(std::time::Instant::now() < deadline, "{:?}", sim.stats());
        tokio::time::sleep(ms(10)).await;
    }
    sim.shutdown().await;
}
