//! The simulator over real HTTP on 127.0.0.1: its API surface in vLLM's exact
//! shape, its performance model (fixed truth, batching queues), faults,
//! credentials, metrics, and the `inferload sim` binary's lifecycle.

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use inferload::sim::BatchingProfile;
use inferload::workload::tokens::count_tokens;
use serde_json::{json, Value};

use crate::common::*;

const MODEL: &str = "inferload-sim";

fn client() -> reqwest::Client {
    http_client().timeout(Duration::from_secs(30)).build().expect("client")
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v)
}

/// One SSE `data:` payload and when its bytes arrived.
#[derive(Debug)]
struct Event {
    at: Instant,
    data: String,
}

/// Reads a response's SSE events as they arrive. `Err` when the body breaks.
async fn read_events(mut resp: reqwest::Response) -> (Vec<Event>, Result<(), String>) {
    let mut out = Vec::new();
    let mut buf = String::new();
    loop {
        match resp.chunk().await {
            Ok(Some(bytes)) => {
                let at = Instant::now();
                buf.push_str(std::str::from_utf8(&bytes).expect("utf-8"));
                while let Some(end) = buf.find("\n\n") {
                    let event: String = buf.drain(..end + 2).collect();
                    let data = event
                        .strip_prefix("data: ")
                        .unwrap_or_else(|| panic!("not an SSE data line: {event:?}"))
                        .trim_end_matches('\n')
                        .to_string();
                    out.push(Event { at, data });
                }
            }
            Ok(None) => {
                assert!(buf.is_empty(), "trailing bytes {buf:?}");
                return (out, Ok(()));
            }
            Err(e) => return (out, Err(e.to_string())),
        }
    }
}

async fn post(url: &str, path: &str, body: Value) -> reqwest::Response {
    client()
        .post(format!("{url}{path}"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .expect("send")
}

/// A reply body as JSON (reqwest is built without its `json` feature).
async fn json_of(resp: reqwest::Response) -> Value {
    let bytes = resp.bytes().await.expect("body");
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&bytes)))
}

fn parse(e: &Event) -> Value {
    serde_json::from_str(&e.data).unwrap_or_else(|err| panic!("bad chunk {:?}: {err}", e.data))
}

async fn metrics_text(url: &str) -> String {
    let resp = client().get(format!("{url}/metrics")).send().await.expect("metrics");
    assert_eq!(resp.status(), 200);
    resp.text().await.expect("metrics body")
}

/// The value of the sample `name{labels}` in an exposition text.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.trim().parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn models_health_and_metrics_endpoints() {
    let mut cfg = SimConfig::fixed(ms(1), ms(1));
    cfg.models = vec!["a".into(), "b".into()];
    let sim = start_sim(cfg).await;
    let url = sim.url();
    let c = client();

    let models = json_of(c.get(format!("{url}/v1/models")).send().await.unwrap()).await;
    assert_eq!(models["object"], "list");
    let ids: Vec<&str> = models["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["a", "b"]);
    for m in models["data"].as_array().unwrap() {
        assert_eq!(m["object"], "model");
        assert_eq!(m["owned_by"], "inferload");
        assert!(m["created"].as_u64().is_some());
    }
    assert_eq!(c.get(format!("{url}/health")).send().await.unwrap().status(), 200);

    let before = metrics_text(&url).await;
    for name in [
        "vllm:num_requests_running",
        "vllm:num_requests_waiting",
        "vllm:gpu_cache_usage_perc",
        "vllm:kv_cache_usage_perc",
        "vllm:prompt_tokens",
        "vllm:generation_tokens",
        "vllm:request_success",
    ] {
        assert!(
            before.contains(&format!("# HELP {name} ")),
            "HELP for {name}:\n{before}"
        );
        assert!(
            before.contains(&format!("# TYPE {name} ")),
            "TYPE for {name}:\n{before}"
        );
    }
    assert_eq!(
        sample(&before, "vllm:generation_tokens_total{model_name=\"b\"}"),
        Some(0.0)
    );
    assert_eq!(
        sample(&before, "vllm:num_requests_waiting{model_name=\"a\"}"),
        Some(0.0)
    );

    let resp = post(
        &url,
        "/v1/completions",
        json!({"model": "b", "prompt": "one two three", "max_tokens": 5, "ignore_eos": true}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let after = metrics_text(&url).await;
    assert_eq!(sample(&after, "vllm:prompt_tokens_total{model_name=\"b\"}"), Some(3.0));
    assert_eq!(
        sample(&after, "vllm:generation_tokens_total{model_name=\"b\"}"),
        Some(5.0)
    );
    assert_eq!(
        sample(
            &after,
            "vllm:request_success_total{model_name=\"b\",finished_reason=\"length\"}"
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&after, "vllm:generation_tokens_total{model_name=\"a\"}"),
        Some(0.0)
    );

    // Only the generation request counts.
    let stats = sim.stats();
    assert_eq!(stats.requests_total, 1);
    assert_eq!(stats.generation_tokens_total, 5);
    // The same figures as JSON, for tools outside the process.
    let json = json_of(c.get(format!("{url}/sim/stats")).send().await.unwrap()).await;
    assert_eq!(json["requests_total"], 1);
    assert!(json.pointer("/ttft_truth_ms/mean").is_some());
    assert!(json.pointer("/itl_truth_ms/mean").is_some());
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_stream_has_vllm_shape() {
    let sim = start_sim(SimConfig::fixed(ms(5), ms(1))).await;
    let url = sim.url();
    let prompt = "tell me about the sea";
    let resp = post(
        &url,
        "/v1/chat/completions",
        json!({
            "model": MODEL,
            "messages": [
                {"role": "system", "content": [{"type": "text", "text": "be brief"}]},
                {"role": "user", "content": prompt},
            ],
            "max_tokens": 12,
            "ignore_eos": true,
            "stream": true,
            "stream_options": {"include_usage": true},
        }),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let (events, end) = read_events(resp).await;
    end.expect("complete stream");

    assert_eq!(events.last().unwrap().data, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1].iter().map(parse).collect();
    let id = chunks[0]["id"].as_str().unwrap();
    assert!(id.starts_with("chatcmpl-"), "{id}");
    for c in &chunks {
        assert_eq!(c["object"], "chat.completion.chunk");
        assert_eq!(c["model"], MODEL);
        assert_eq!(c["id"], id);
    }
    // Role first, with empty content.
    assert_eq!(
        chunks[0]["choices"][0]["delta"],
        json!({"role": "assistant", "content": ""})
    );
    assert!(chunks[0]["choices"][0]["finish_reason"].is_null());
    // One token per content chunk, finish_reason on the last only.
    let content = &chunks[1..chunks.len() - 1];
    assert_eq!(content.len(), 12);
    let mut text = String::new();
    for (i, c) in content.iter().enumerate() {
        let piece = c["choices"][0]["delta"]["content"].as_str().unwrap();
        assert!(piece.starts_with(' '), "{piece:?}");
        assert_eq!(count_tokens(piece), 1, "{piece:?}");
        text.push_str(piece);
        let finish = &c["choices"][0]["finish_reason"];
        if i + 1 == content.len() {
            assert_eq!(finish, "length");
        } else {
            assert!(finish.is_null(), "chunk {i}: {c}");
        }
    }
    // Usage last, with no choices.
    let usage_chunk = chunks.last().unwrap();
    assert_eq!(usage_chunk["choices"], json!([]));
    let usage = &usage_chunk["usage"];
    assert_eq!(usage["completion_tokens"].as_u64(), Some(count_tokens(&text)));
    assert_eq!(
        usage["prompt_tokens"].as_u64(),
        Some(count_tokens("be brief") + count_tokens(prompt))
    );
    assert_eq!(
        usage["total_tokens"].as_u64(),
        Some(usage["prompt_tokens"].as_u64().unwrap() + 12)
    );

    // Without include_usage: no usage chunk.
    let resp = post(
        &url,
        "/v1/chat/completions",
        json!({"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 3, "ignore_eos": true, "stream": true}),
    )
    .await;
    let (events, end) = read_events(resp).await;
    end.expect("complete stream");
    assert_eq!(events.len(), 1 + 3 + 1, "{events:?}");
    assert!(events.iter().all(|e| !e.data.contains("usage")), "{events:?}");

    let stats = sim.stats();
    assert_eq!(stats.generation_tokens_total, 15);
    assert_eq!(stats.prompt_tokens_total, 7 + 1);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_stream_has_vllm_shape() {
    let sim = start_sim(SimConfig::default_loopback()).await;
    let url = sim.url();
    let resp = post(
        &url,
        "/v1/completions",
        json!({"model": MODEL, "prompt": ["a b c d"], "max_tokens": 6, "ignore_eos": true, "stream": true, "stream_options": {"include_usage": true}}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    let (events, end) = read_events(resp).await;
    end.expect("complete stream");
    assert_eq!(events.len(), 6 + 2);
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let chunks: Vec<Value> = events[..7].iter().map(parse).collect();
    let mut text = String::new();
    for (i, c) in chunks[..6].iter().enumerate() {
        assert_eq!(c["object"], "text_completion");
        assert!(c["id"].as_str().unwrap().starts_with("cmpl-"));
        let piece = c["choices"][0]["text"].as_str().unwrap();
        assert_eq!(count_tokens(piece), 1);
        text.push_str(piece);
        assert_eq!(c["choices"][0]["finish_reason"].is_null(), i < 5);
    }
    assert_eq!(chunks[6]["choices"], json!([]));
    assert_eq!(
        chunks[6]["usage"]["completion_tokens"].as_u64(),
        Some(count_tokens(&text))
    );
    assert_eq!(chunks[6]["usage"]["prompt_tokens"], 4);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_streaming_replies_carry_text_and_usage() {
    let sim = start_sim(SimConfig::fixed(ms(2), ms(1))).await;
    let url = sim.url();
    let v = json_of(post(
        &url,
        "/v1/chat/completions",
        json!({"model": MODEL, "messages": [{"role": "user", "content": "x y z"}], "max_completion_tokens": 9, "ignore_eos": true}),
    ).await).await;
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(v["choices"][0]["message"]["role"], "assistant");
    let text = v["choices"][0]["message"]["content"].as_str().unwrap();
    assert_eq!(count_tokens(text), 9);
    assert_eq!(v["choices"][0]["finish_reason"], "length");
    assert_eq!(
        v["usage"],
        json!({"prompt_tokens": 3, "completion_tokens": 9, "total_tokens": 12})
    );

    let v = json_of(
        post(
            &url,
            "/v1/completions",
            json!({"model": MODEL, "prompt": "one two", "max_tokens": 4, "ignore_eos": true}),
        )
        .await,
    )
    .await;
    assert_eq!(v["object"], "text_completion");
    assert_eq!(count_tokens(v["choices"][0]["text"].as_str().unwrap()), 4);
    assert_eq!(v["usage"]["prompt_tokens"], 2);
    assert_eq!(v["usage"]["completion_tokens"], 4);
    let stats = sim.stats();
    assert_eq!((stats.prompt_tokens_total, stats.generation_tokens_total), (5, 13));
    sim.shutdown().await;
}

/// Without `ignore_eos` a reply may stop early, never below `min_tokens`,
/// and says so in `finish_reason`; usage still matches the text.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_stop_respects_min_tokens_and_reports_its_reason() {
    let sim = start_sim(SimConfig::fixed(Duration::ZERO, Duration::ZERO)).await;
    let url = sim.url();
    let mut reasons = std::collections::BTreeSet::new();
    let mut sum = 0;
    for _ in 0..30 {
        let v = json_of(
            post(
                &url,
                "/v1/completions",
                json!({"model": MODEL, "prompt": "p", "max_tokens": 8, "min_tokens": 3}),
            )
            .await,
        )
        .await;
        let n = count_tokens(v["choices"][0]["text"].as_str().unwrap());
        assert!((3..=8).contains(&n), "{n} tokens");
        assert_eq!(v["usage"]["completion_tokens"].as_u64(), Some(n));
        let reason = v["choices"][0]["finish_reason"].as_str().unwrap().to_string();
        assert_eq!(reason == "length", n == 8, "{reason} with {n} tokens");
        reasons.insert(reason);
        sum += n;
    }
    assert_eq!(reasons.len(), 2, "both reasons in 30 draws: {reasons:?}");
    assert_eq!(sim.stats().generation_tokens_total, sum);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_openai_error_bodies() {
    let sim = start_sim(SimConfig::fixed(ms(1), ms(1))).await;
    let url = sim.url();
    let c = client();
    let raw = |path: &'static str, body: &'static str| {
        c.post(format!("{url}{path}"))
            .header("content-type", "application/json")
            .body(body)
            .send()
    };

    let resp = raw("/v1/chat/completions", "{\"model\": ").await.unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = json_of(resp).await;
    assert_eq!(v["error"]["code"], 400);
    assert!(
        v["error"]["message"].as_str().unwrap().contains("Invalid request body"),
        "{v}"
    );

    let resp = raw("/v1/chat/completions", "{\"model\": \"inferload-sim\"}")
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let v: Value = json_of(resp).await;
    assert!(v["error"]["message"].as_str().unwrap().contains("messages"), "{v}");

    let resp = raw(
        "/v1/completions",
        "{\"model\": \"inferload-sim\", \"prompt\": \"a\", \"max_tokens\": 0}",
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 400);

    let resp = raw("/v1/completions", "{\"model\": \"gpt-9\", \"prompt\": \"a\"}")
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let v: Value = json_of(resp).await;
    assert_eq!(
        v,
        json!({"error": {"message": "The model `gpt-9` does not exist.", "type": "NotFoundError", "param": null, "code": 404}})
    );

    let resp = c.get(format!("{url}/v1/nothing")).send().await.unwrap();
    assert_eq!(resp.status(), 404);
    assert!(json_of(resp).await["error"]["message"].is_string());

    assert_eq!(sim.stats().requests_total, 0, "rejected requests are not counted");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_key_is_required_on_v1_routes() {
    const KEY: &str = "sk-sim-right";
    let mut cfg = SimConfig::fixed(ms(1), ms(1));
    cfg.api_key = Some(KEY.to_string());
    let sim = start_sim(cfg).await;
    let url = sim.url();
    let c = client();
    let body = json!({"model": MODEL, "prompt": "a", "max_tokens": 2});

    let resp = c
        .post(format!("{url}/v1/completions"))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert!(json_of(resp).await["error"]["message"].is_string());

    let resp = c
        .post(format!("{url}/v1/completions"))
        .bearer_auth("sk-wrong-key")
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let v: Value = json_of(resp).await;
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("Incorrect API key provided: sk-wrong-key"), "{msg}");

    let resp = c.get(format!("{url}/v1/models")).send().await.unwrap();
    assert_eq!(resp.status(), 401);
    let resp = c.get(format!("{url}/v1/models")).bearer_auth(KEY).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    let resp = c
        .post(format!("{url}/v1/completions"))
        .bearer_auth(KEY)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    // Outside /v1 no key is needed.
    assert_eq!(c.get(format!("{url}/health")).send().await.unwrap().status(), 200);
    assert_eq!(c.get(format!("{url}/metrics")).send().await.unwrap().status(), 200);
    assert_eq!(sim.stats().requests_total, 1);
    sim.shutdown().await;
}

/// The fixed profile's server-side truth is what was configured, at any
/// concurrency, and a client sees the same gaps (each chunk is its own
/// write, not buffered).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_profile_truth_matches_the_configuration() {
    let sim = start_sim(SimConfig::fixed(ms(40), ms(10))).await;
    let url = sim.url();
    let mut tasks = Vec::new();
    // Every client is built before any clock starts: building one loads
    // the system's certificates, which blocks a runtime worker for tens of
    // milliseconds and would delay another task's timed request.
    let clients: Vec<_> = (0..6).map(|_| client()).collect();
    for c in clients {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let body = json!({"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 11, "ignore_eos": true, "stream": true});
            let sent = Instant::now();
            let resp = c
                .post(format!("{url}/v1/chat/completions"))
                .header("content-type", "application/json")
                .body(body.to_string())
                .send()
                .await
                .expect("send");
            let (events, end) = read_events(resp).await;
            end.expect("complete stream");
            // Content chunks: after the role chunk, before [DONE].
            let content = &events[1..events.len() - 1];
            assert_eq!(content.len(), 11);
            let ttft = content[0].at - sent;
            let span = content[10].at - content[0].at;
            (ttft, span / 10)
        }));
    }
    for t in tasks {
        let (ttft, itl) = t.await.unwrap();
        // Timers and a loaded machine only ever add delay.
        assert!(ttft >= ms(40) && ttft < ms(80), "client TTFT {ttft:?}");
        assert!(itl >= ms(8) && itl < ms(14), "client mean ITL {itl:?}");
    }
    let s = sim.stats();
    assert_eq!(s.ttft_truth_ms.count, 6);
    assert_eq!(s.itl_truth_ms.count, 60);
    assert!(
        s.ttft_truth_ms.min >= 40.0 && s.ttft_truth_ms.mean < 55.0,
        "{:?}",
        s.ttft_truth_ms
    );
    // Deadlines are absolute: a late token makes the next gap shorter.
    assert!((9.0..11.5).contains(&s.itl_truth_ms.mean), "{:?}", s.itl_truth_ms);
    assert_eq!(s.peak_in_flight, 6);
    assert_eq!(s.in_flight, 0);
    sim.shutdown().await;
}

/// With 4 slots and 8 concurrent requests, 4 wait: `num_requests_waiting`
/// shows them and their TTFT includes a whole generation of the first 4.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batching_queues_beyond_max_num_seqs() {
    let sim = start_sim(SimConfig::batching(BatchingProfile {
        max_num_seqs: 4,
        kv_cache_tokens: 100_000,
        prefill_per_token: Duration::ZERO,
        decode_base: ms(10),
        decode_per_seq: Duration::ZERO,
    }))
    .await;
    let url = sim.url();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let sent = Instant::now();
            let resp = post(
                &url,
                "/v1/completions",
                json!({"model": MODEL, "prompt": "a b", "max_tokens": 20, "ignore_eos": true, "stream": true}),
            )
            .await;
            let (events, end) = read_events(resp).await;
            end.expect("complete stream");
            assert_eq!(events.len(), 21);
            events[0].at - sent
        }));
    }
    // Poll until the queue shows, bounded: the first 4 take >= 200 ms.
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = None;
    while Instant::now() < deadline {
        let text = metrics_text(&url).await;
        let waiting = sample(&text, "vllm:num_requests_waiting{model_name=\"inferload-sim\"}").unwrap();
        if waiting > 0.0 {
            seen = Some(text);
            break;
        }
        tokio::time::sleep(ms(5)).await;
    }
    let text = seen.expect("vllm:num_requests_waiting never rose above 0");
    assert_eq!(
        sample(&text, "vllm:num_requests_running{model_name=\"inferload-sim\"}"),
        Some(4.0)
    );
    assert!(sample(&text, "vllm:kv_cache_usage_perc{model_name=\"inferload-sim\"}").unwrap() > 0.0);

    let mut ttfts = Vec::new();
    for t in tasks {
        ttfts.push(t.await.unwrap());
    }
    ttfts.sort();
    let (first, later) = ttfts.split_at(4);
    // The first 4 get a token at the end of their admission step; the
    // others wait for a slot, freed after 20 steps of 10 ms (less the
    // spread of the 8 arrivals).
    assert!(
        later[0] >= first[3] + ms(100) && later[0] >= ms(150),
        "first four TTFTs {first:?}, queued ones {later:?}"
    );
    let s = sim.stats();
    assert_eq!(s.peak_in_flight, 8);
    assert_eq!(s.generation_tokens_total, 160);
    sim.shutdown().await;
}

/// Throughput rises with concurrency: 8 requests at once finish in about
/// the time of one, when the batch has room.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batching_serves_concurrent_requests_together() {
    let profile = BatchingProfile {
        max_num_seqs: 16,
        kv_cache_tokens: 100_000,
        prefill_per_token: Duration::ZERO,
        decode_base: ms(5),
        decode_per_seq: Duration::ZERO,
    };
    let sim = start_sim(SimConfig::batching(profile)).await;
    let url = sim.url();
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let v = json_of(
                post(
                    &url,
                    "/v1/completions",
                    json!({"model": MODEL, "prompt": "a", "max_tokens": 40, "ignore_eos": true}),
                )
                .await,
            )
            .await;
            assert_eq!(v["usage"]["completion_tokens"], 40);
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let took = started.elapsed();
    // One request alone: 40 steps of 5 ms. Sequentially, 8 would take 1.6 s.
    assert!(took >= ms(200) && took < ms(800), "8 concurrent requests took {took:?}");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_rate_one_fails_every_request() {
    let mut cfg = SimConfig::fixed(ms(1), ms(1));
    cfg.error_rate = 1.0;
    let sim = start_sim(cfg).await;
    for stream in [false, true] {
        for _ in 0..5 {
            let resp = post(
                &sim.url(),
                "/v1/chat/completions",
                json!({"model": MODEL, "messages": [{"role": "user", "content": "a"}], "max_tokens": 3, "stream": stream}),
            )
            .await;
            assert_eq!(resp.status(), 500);
            let v: Value = json_of(resp).await;
            assert!(v["error"]["message"].is_string(), "{v}");
        }
    }
    let s = sim.stats();
    assert_eq!((s.requests_total, s.errors_injected), (10, 10));
    assert_eq!((s.generation_tokens_total, s.prompt_tokens_total), (0, 0));
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_rate_one_cuts_every_reply() {
    let mut cfg = SimConfig::default_loopback();
    cfg.disconnect_rate = 1.0;
    let sim = start_sim(cfg).await;
    let url = sim.url();
    for _ in 0..4 {
        let resp = post(
            &url,
            "/v1/chat/completions",
            json!({"model": MODEL, "messages": [{"role": "user", "content": "a"}], "max_tokens": 10, "ignore_eos": true, "stream": true, "stream_options": {"include_usage": true}}),
        )
        .await;
        assert_eq!(resp.status(), 200);
        let (events, end) = read_events(resp).await;
        assert!(end.is_err(), "the stream should break: {events:?}");
        assert!(events.iter().all(|e| e.data != "[DONE]"));
        // The role chunk, then about half the tokens: the sim cuts after
        // its fifth token, but on a loaded machine the cut may come before
        // hyper has flushed that last token, so the client can see one
        // fewer; never more, and never the end of the reply.
        assert!((1 + 4..=1 + 5).contains(&events.len()), "{events:?}");
    }
    // Not streamed: the connection drops half-way through the reply
    // (whether the headers made it out first is up to hyper's buffering).
    let sent = client()
        .post(format!("{url}/v1/completions"))
        .header("content-type", "application/json")
        .body(json!({"model": MODEL, "prompt": "a", "max_tokens": 10, "ignore_eos": true}).to_string())
        .send()
        .await;
    if let Ok(resp) = sent {
        assert_eq!(resp.status(), 200);
        assert!(resp.bytes().await.is_err(), "the body should break");
    }
    let s = sim.stats();
    assert_eq!((s.requests_total, s.disconnects_injected), (5, 5));
    assert_eq!((s.generation_tokens_total, s.requests_succeeded), (0, 0));
    // The engine notices the gone clients and frees their slots.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let text = metrics_text(&url).await;
        if sample(&text, "vllm:num_requests_running{model_name=\"inferload-sim\"}") == Some(0.0) {
            break;
        }
        assert!(Instant::now() < deadline, "cut requests still running:\n{text}");
        tokio::time::sleep(ms(10)).await;
    }
    sim.shutdown().await;
}

/// `inferload sim` prints its address first, serves, and exits 0 on SIGTERM.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_prints_its_address_first_and_stops_on_sigterm() {
    let mut child = spawn(&[
        "sim",
        "--port",
        "0",
        "--profile",
        "fixed",
        "--ttft",
        "5ms",
        "--itl",
        "1ms",
    ]);
    let stdout = child.stdout.take().expect("stdout");
    let (first, reader) = tokio::task::spawn_blocking(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        reader.read_line(&mut line).expect("first line");
        (line, reader)
    })
    .await
    .unwrap();
    let url = first
        .trim_end()
        .strip_prefix("inferload sim listening on ")
        .unwrap_or_else(|| panic!("first line: {first:?}"))
        .to_string();
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    assert_ne!(url, "http://127.0.0.1:0");
    let resp = post(
        &url,
        "/v1/completions",
        json!({"model": MODEL, "prompt": "a", "max_tokens": 2, "ignore_eos": true}),
    )
    .await;
    assert_eq!(resp.status(), 200);

    let pid = libc::pid_t::try_from(child.id()).expect("pid");
    // SAFETY: signalling a child process this test spawned and still owns.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let out = tokio::task::spawn_blocking(move || wait(child, Duration::from_secs(20)))
        .await
        .unwrap();
    assert_eq!(out.code, Some(0), "{}", out.all());
    let rest: Vec<String> = reader.lines().map_while(Result::ok).collect();
    assert!(
        rest.first().is_some_and(|l| l.starts_with("profile fixed:")),
        "{rest:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_names_the_address_it_cannot_bind() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = tokio::task::spawn_blocking(move || run(&["sim", "--port", &port]))
        .await
        .unwrap();
    assert_eq!(out.code, Some(1), "{}", out.all());
    let expected = format!("127.0.0.1:{}", taken.local_addr().unwrap().port());
    assert!(out.stderr.contains(&expected), "{}", out.stderr);
}

/// A chat request for `n` tokens, streamed or not, usage asked for.
fn chat_body(n: u64, stream: bool) -> Value {
    json!({"model": MODEL, "messages": [{"role": "user", "content": "a"}], "max_tokens": n, "ignore_eos": true,
           "stream": stream, "stream_options": {"include_usage": true}})
}

/// The deltas of a complete chat stream's token chunks (role and usage
/// chunks and `[DONE]` left out).
async fn token_deltas(url: &str, n: u64) -> Vec<Value> {
    let resp = post(url, "/v1/chat/completions", chat_body(n, true)).await;
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let (events, end) = read_events(resp).await;
    end.expect("complete stream");
    assert_eq!(events.last().unwrap().data, "[DONE]");
    let chunks: Vec<Value> = events[..events.len() - 1].iter().map(parse).collect();
    assert_eq!(chunks[0]["choices"][0]["delta"]["role"], "assistant");
    let usage = chunks.last().unwrap();
    assert_eq!(usage["usage"]["completion_tokens"], n);
    chunks[1..chunks.len() - 1]
        .iter()
        .map(|c| c["choices"][0]["delta"].clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_tokens_arrive_as_reasoning_or_tool_calls_when_asked() {
    for (output, field) in [
        (inferload::sim::OutputKind::Reasoning, "reasoning"),
        (inferload::sim::OutputKind::ReasoningContent, "reasoning_content"),
    ] {
        let mut cfg = SimConfig::fixed(ms(2), ms(1));
        cfg.output = output;
        let sim = start_sim(cfg).await;
        // Five tokens: three of reasoning, then two of content, one a chunk.
        let deltas = token_deltas(&sim.url(), 5).await;
        assert_eq!(deltas.len(), 5, "{deltas:?}");
        for d in &deltas[..3] {
            assert_eq!(count_tokens(d[field].as_str().unwrap()), 1, "{d}");
            assert!(d.get("content").is_none(), "{d}");
        }
        for d in &deltas[3..] {
            assert_eq!(count_tokens(d["content"].as_str().unwrap()), 1, "{d}");
        }
        let v = json_of(post(&sim.url(), "/v1/chat/completions", chat_body(5, false)).await).await;
        let message = &v["choices"][0]["message"];
        assert_eq!(count_tokens(message[field].as_str().unwrap()), 3, "{v}");
        assert_eq!(count_tokens(message["content"].as_str().unwrap()), 2, "{v}");
        sim.shutdown().await;
    }

    let mut cfg = SimConfig::fixed(ms(2), ms(1));
    cfg.output = inferload::sim::OutputKind::ToolCalls;
    let sim = start_sim(cfg).await;
    let deltas = token_deltas(&sim.url(), 4).await;
    assert_eq!(deltas.len(), 4, "{deltas:?}");
    // The first chunk names the call; every chunk carries one token of arguments.
    let first = &deltas[0]["tool_calls"][0];
    assert_eq!(
        (&first["type"], &first["function"]["name"]),
        (&json!("function"), &json!("lookup"))
    );
    assert!(first["id"].as_str().unwrap().starts_with("call_"), "{first}");
    for d in &deltas {
        assert!(d.get("content").is_none(), "{d}");
        let args = d["tool_calls"][0]["function"]["arguments"].as_str().unwrap();
        assert_eq!(count_tokens(args), 1, "{d}");
    }
    let v = json_of(post(&sim.url(), "/v1/chat/completions", chat_body(4, false)).await).await;
    let message = &v["choices"][0]["message"];
    assert!(message["content"].is_null(), "{v}");
    let args = message["tool_calls"][0]["function"]["arguments"].as_str().unwrap();
    assert_eq!(count_tokens(args), 4, "{v}");
    assert_eq!(sim.stats().generation_tokens_total, 8);
    sim.shutdown().await;
}

fn faulty(fault: inferload::sim::Fault) -> SimConfig {
    let mut cfg = SimConfig::fixed(ms(2), ms(1));
    cfg.fault = Some(fault);
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_empty_sends_only_done_or_an_empty_body() {
    let sim = start_sim(faulty(inferload::sim::Fault::Empty)).await;
    let resp = post(&sim.url(), "/v1/chat/completions", chat_body(5, true)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let (events, end) = read_events(resp).await;
    end.expect("complete stream");
    let data: Vec<&str> = events.iter().map(|e| e.data.as_str()).collect();
    assert_eq!(data, ["[DONE]"]);
    let resp = post(
        &sim.url(),
        "/v1/completions",
        json!({"model": MODEL, "prompt": "a", "max_tokens": 3}),
    )
    .await;
    assert_eq!(resp.status(), 200);
    assert!(resp.bytes().await.expect("body").is_empty());
    let s = sim.stats();
    assert_eq!((s.requests_total, s.faults_injected, s.requests_succeeded), (2, 2, 0));
    assert_eq!(s.in_flight, 0);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_ignore_stream_answers_with_a_whole_body() {
    let sim = start_sim(faulty(inferload::sim::Fault::IgnoreStream)).await;
    let resp = post(&sim.url(), "/v1/chat/completions", chat_body(6, true)).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let v = json_of(resp).await;
    assert_eq!(v["object"], "chat.completion");
    assert_eq!(count_tokens(v["choices"][0]["message"]["content"].as_str().unwrap()), 6);
    assert_eq!(v["usage"]["completion_tokens"], 6);
    assert_eq!(sim.stats().faults_injected, 1);
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_bad_usage_reports_minus_one_completion_tokens() {
    let sim = start_sim(faulty(inferload::sim::Fault::BadUsage)).await;
    let resp = post(&sim.url(), "/v1/chat/completions", chat_body(3, true)).await;
    let (events, end) = read_events(resp).await;
    end.expect("complete stream");
    let usage = parse(&events[events.len() - 2]);
    assert_eq!(usage["usage"]["completion_tokens"], -1, "{usage}");
    // The content itself is all there.
    assert_eq!(events.len(), 1 + 3 + 1 + 1, "{events:?}");
    let v = json_of(post(&sim.url(), "/v1/chat/completions", chat_body(3, false)).await).await;
    assert_eq!(v["usage"]["completion_tokens"], -1, "{v}");
    sim.shutdown().await;
}

/// A stall sends what it must (headers; the tokens before the stall) and
/// then nothing while tokens are due every millisecond, and the request
/// stays in flight until the client goes away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_stall_hangs_until_the_client_goes_away() {
    let mut cfg = faulty(inferload::sim::Fault::Stall { after_tokens: 2 });
    cfg.fault_rate = 1.0;
    let sim = start_sim(cfg).await;
    let mut resp = post(&sim.url(), "/v1/chat/completions", chat_body(10, true)).await;
    assert_eq!(resp.status(), 200);
    let mut text = String::new();
    // The role chunk and two tokens arrive...
    while text.matches("\n\n").count() < 3 {
        let chunk = tokio::time::timeout(Duration::from_secs(5), resp.chunk())
            .await
            .expect("the first chunks arrive")
            .expect("body")
            .expect("not the end");
        text.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    assert_eq!(text.matches("\"content\"").count(), 3, "{text}");
    // ...then nothing, where eight more tokens were due within 10 ms.
    let more = tokio::time::timeout(ms(300), resp.chunk()).await;
    assert!(more.is_err(), "the stream should hang: {more:?}");
    assert_eq!(sim.stats().in_flight, 1);
    drop(resp);

    // Not streamed: the headers, then nothing.
    let resp = post(&sim.url(), "/v1/chat/completions", chat_body(3, false)).await;
    assert_eq!(resp.status(), 200);
    let body = tokio::time::timeout(ms(300), resp.bytes()).await;
    assert!(body.is_err(), "the body should hang");

    // The client went away: nothing stays in flight.
    let deadline = Instant::now() + Duration::from_secs(5);
    while sim.stats().in_flight > 0 {
        assert!(
            Instant::now() < deadline,
            "stalled requests still in flight: {:?}",
            sim.stats()
        );
        tokio::time::sleep(ms(10)).await;
    }
    let s = sim.stats();
    assert_eq!((s.faults_injected, s.requests_succeeded), (2, 0));
    sim.shutdown().await;
}

/// `--fault-rate` gives the fault to that share of requests and leaves the
/// others alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fault_rate_picks_a_share_of_requests() {
    let mut cfg = faulty(inferload::sim::Fault::Empty);
    cfg.fault_rate = 0.5;
    let sim = start_sim(cfg).await;
    let mut empty = 0;
    for _ in 0..40 {
        let resp = post(
            &sim.url(),
            "/v1/completions",
            json!({"model": MODEL, "prompt": "a", "max_tokens": 2}),
        )
        .await;
        assert_eq!(resp.status(), 200);
        empty += usize::from(resp.bytes().await.expect("body").is_empty());
    }
    let s = sim.stats();
    assert_eq!(s.faults_injected, empty as u64);
    assert_eq!(s.requests_succeeded, 40 - empty as u64);
    assert!((8..=32).contains(&empty), "{empty} of 40 at 50%");
    sim.shutdown().await;
}
