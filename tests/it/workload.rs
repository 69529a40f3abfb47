//! Workloads end to end: what the files say is what the server receives.

use std::time::Duration;

use serde_json::Value;

use crate::args;
use crate::common::*;

fn total(v: &Value, key: &str) -> u64 {
    v.pointer(&format!("/summary/{key}"))
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

/// A JSONL file with text prompts, chat turns and per-line `max_tokens`:
/// the server sees exactly those prompt lengths and produces exactly those
/// output lengths, cycling through the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jsonl_dataset_is_sent_as_written() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(2), Duration::from_millis(1))).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("prompts.jsonl");
    std::fs::write(
        &data,
        concat!(
            "{\"prompt\": \"one two three four\", \"max_tokens\": 3}\n",
            "{\"messages\": [{\"role\": \"system\", \"content\": \"be brief\"}, {\"role\": \"user\", \"content\": \"hello there friend\"}], \"max_tokens\": 7}\n",
        ),
    )
    .unwrap();
    let json = dir.path().join("run.json");
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "--dataset",
        data.display(),
        "--ignore-eos",
        "-c",
        2,
        "-n",
        6,
        "--json",
        json.display(),
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let v = read_json(&json);
    // Three of each line: 3 × (4 + 5) prompt tokens, 3 × (3 + 7) generated.
    assert_eq!(total(&v, "total_input_tokens"), 27);
    assert_eq!(total(&v, "total_output_tokens"), 30);
    let stats = sim.stats();
    assert_eq!(stats.prompt_tokens_total, 27);
    assert_eq!(stats.generation_tokens_total, 30);
    sim.shutdown().await;
}

/// vLLM's spelling (`--dataset-name sharegpt --dataset-path F`) and ours
/// (`--dataset sharegpt:F`) read the same file: the first human turn is the
/// prompt and the reply's length the output length.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharegpt_files_in_both_spellings() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(2), Duration::from_millis(1))).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("sharegpt.json");
    std::fs::write(
        &data,
        r#"[{"id": "x", "conversations": [
              {"from": "human", "value": "what is a token"},
              {"from": "gpt", "value": "a piece of text the model reads or writes"}]}]"#,
    )
    .unwrap();
    for spelling in [
        args!["--dataset", format!("sharegpt:{}", data.display())],
        args!["--dataset-name", "sharegpt", "--dataset-path", data.display()],
    ] {
        let json = dir.path().join("run.json");
        let mut argv = args![
            "run",
            "--url",
            sim.url(),
            "--ignore-eos",
            "-c",
            1,
            "-n",
            2,
            "--json",
            json.display(),
            "--quiet"
        ];
        argv.extend(spelling);
        let out = run_async(argv).await;
        assert_eq!(out.code, Some(0), "{}", out.all());
        let v = read_json(&json);
        assert_eq!(total(&v, "total_input_tokens"), 2 * 4);
        assert_eq!(total(&v, "total_output_tokens"), 2 * 9);
    }
    sim.shutdown().await;
}

/// A fixed prompt with `--max-tokens`, and `--extra-body` merged into every
/// request (here the simulator's own `min_tokens`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_prompt_with_max_tokens_and_extra_body() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(2), Duration::from_millis(1))).await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "--prompt",
        "Explain TCP in one line",
        "--max-tokens",
        12,
        "--extra-body",
        r#"{"min_tokens": 12}"#,
        "-c",
        2,
        "-n",
        4,
        "--json",
        json.display(),
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let v = read_json(&json);
    assert_eq!(total(&v, "total_input_tokens"), 4 * 5);
    assert_eq!(
        total(&v, "total_output_tokens"),
        4 * 12,
        "min_tokens = max_tokens fixes the length"
    );
    sim.shutdown().await;
}

/// `--sharegpt-output-len` replaces the reply's length as the output
/// length, and `--random-prefix-len` lengthens every random prompt by the
/// shared prefix, as the server counts them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vllms_sharegpt_output_len_and_random_prefix_len() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(2), Duration::from_millis(1))).await;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("sharegpt.json");
    std::fs::write(
        &data,
        r#"[{"id": "x", "conversations": [
              {"from": "human", "value": "what is a token"},
              {"from": "gpt", "value": "a piece of text the model reads or writes"}]}]"#,
    )
    .unwrap();
    let json = dir.path().join("run.json");
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "--ignore-eos",
        "-c",
        1,
        "-n",
        2,
        "--json",
        json.display(),
        "--quiet",
        "--dataset-name",
        "sharegpt",
        "--dataset-path",
        data.display(),
        "--sharegpt-output-len",
        5
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert_eq!(total(&read_json(&json), "total_output_tokens"), 2 * 5);
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "--api",
        "openai-completions",
        "-c",
        1,
        "-n",
        3,
        "--input-len",
        8,
        "--output-len",
        2,
        "--random-prefix-len",
        4,
        "--json",
        json.display(),
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let v = read_json(&json);
    assert_eq!(total(&v, "total_input_tokens"), 3 * (4 + 8), "{v}");
    assert_eq!(v.pointer("/settings/workload/random_prefix_len"), Some(&Value::from(4)));
    sim.shutdown().await;
}

// ------------------------------------------------------------ tokenizers

/// A byte-level BPE trained in the test, saved as a `tokenizer.json`.
fn bpe_file(dir: &std::path::Path) -> (std::path::PathBuf, inferload::workload::Tokenizer) {
    let file = dir.join("tokenizer.json");
    inferload::workload::tokenizer::testing::byte_level_bpe(2_000)
        .save(&file, false)
        .unwrap();
    let tok = inferload::workload::Tokenizer::from_file(&file).unwrap();
    (file, tok)
}

/// The reply every request gets from [`serve_text`].
const REPLY: &str = "Hello world, streamed tokens!";

/// A completions server that keeps every prompt and streams [`REPLY`]
/// without `usage` — for model `split` in chunks that cut words
/// ("Hel" | "lo wor" | ...), for `whole` in one chunk — or, for model
/// `usage`, in one chunk with a usage whose prompt count is the
/// tokenizer's plus a quarter (as a chat template would add).
fn serve_text(
    listener: tokio::net::TcpListener,
    seen: Arc<Mutex<Vec<String>>>,
    tok: Arc<inferload::workload::Tokenizer>,
) {
    use axum::routing::{get, post};
    use axum::{Json, Router};
    let app = Router::new()
        .route(
            "/v1/models",
            get(|| async { Json(serde_json::json!({"data": [{"id": "split"}, {"id": "whole"}, {"id": "usage"}]})) }),
        )
        .route(
            "/v1/completions",
            post(move |Json(body): Json<Value>| {
                let (seen, tok) = (seen.clone(), tok.clone());
                async move {
                    let prompt = body["prompt"].as_str().unwrap_or_default().to_string();
                    let prompt_tokens = tok.count(&prompt);
                    seen.lock().unwrap().push(prompt);
                    let pieces: Vec<&str> = match body["model"].as_str() {
                        Some("split") => vec!["Hel", "lo wor", "ld, str", "eamed tok", "ens!"],
                        _ => vec![REPLY],
                    };
                    let mut sse = String::new();
                    for p in pieces {
                        let ev = serde_json::json!({"choices": [{"index": 0, "text": p, "finish_reason": null}]});
                        sse.push_str(&format!("data: {ev}\n\n"));
                    }
                    let end = serde_json::json!({"choices": [{"index": 0, "text": "", "finish_reason": "length"}]});
                    sse.push_str(&format!("data: {end}\n\n"));
                    if body["model"] == "usage" {
                        let usage = serde_json::json!({"choices": [], "usage": {
                            "prompt_tokens": prompt_tokens + prompt_tokens / 4 + 1,
                            "completion_tokens": 9, "total_tokens": 0}});
                        sse.push_str(&format!("data: {usage}\n\n"));
                    }
                    sse.push_str("data: [DONE]\n\n");
                    ([(axum::http::header::CONTENT_TYPE, "text/event-stream")], sse)
                }
            }),
        );
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
}

use std::sync::{Arc, Mutex};

fn record_lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// With `--tokenizer`, every random prompt the server receives has exactly
/// the asked tokens — fixed lengths, ranges, a shared prefix — and the
/// records and the document say the counts are the tokenizer's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tokenizer_makes_random_prompts_token_exact() {
    let dir = tempfile::tempdir().unwrap();
    let (file, tok) = bpe_file(dir.path());
    let tok = Arc::new(tok);
    for (input_len, ratio, prefix) in [(64u64, 0.0, 0u64), (300, 0.0, 0), (100, 0.5, 0), (40, 0.0, 24)] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        serve_text(listener, seen.clone(), tok.clone());
        let (json, records) = (dir.path().join("run.json"), dir.path().join("r.jsonl"));
        let out = run_async(args![
            "run",
            "--url",
            url,
            "--api",
            "openai-completions",
            "--model",
            "whole",
            "--tokenizer",
            file.display(),
            "--input-len",
            input_len,
            "--range-ratio",
            ratio,
            "--random-prefix-len",
            prefix,
            "--output-len",
            8,
            "-c",
            2,
            "-n",
            12,
            "--warmup",
            0,
            "--json",
            json.display(),
            "--records",
            records.display(),
            "--no-history"
        ])
        .await;
        assert_eq!(out.code, Some(0), "{}", out.all());
        assert!(out.stdout.contains("Tokenizer: "), "{}", out.stdout);
        let prompts = seen.lock().unwrap().clone();
        assert_eq!(prompts.len(), 12);
        let lo = ((input_len as f64) * (1.0 - ratio)).floor() as u64 + prefix;
        let hi = ((input_len as f64) * (1.0 + ratio)).floor() as u64 + prefix;
        let mut lens: Vec<u64> = prompts.iter().map(|p| tok.count(p)).collect();
        for n in &lens {
            assert!(
                (lo..=hi).contains(n),
                "{n} tokens not in {lo}..={hi} ({input_len} ±{ratio} + {prefix})"
            );
        }
        if ratio == 0.0 {
            assert!(lens.iter().all(|&n| n == input_len + prefix), "{lens:?}");
        }
        // The client's records count the same prompts the same way.
        let mut recorded: Vec<u64> = record_lines(&records)
            .iter()
            .map(|r| r["input_tokens"].as_u64().unwrap())
            .collect();
        lens.sort_unstable();
        recorded.sort_unstable();
        assert_eq!(lens, recorded);
        let v = read_json(&json);
        assert_eq!(
            v.pointer("/settings/workload/tokens_exact"),
            Some(&Value::Bool(true)),
            "{v}"
        );
        assert_eq!(
            v.pointer("/settings/workload/tokenizer").and_then(Value::as_str),
            Some(file.display().to_string().as_str())
        );
        assert!(schema_errors(&v).is_empty(), "{:?}", schema_errors(&v));
    }
}

/// A reply without `usage` is counted by the tokenizer over its whole
/// text: chunks that cut words give the same count as one chunk, and not
/// the number of chunks. A server whose `usage` counts the prompt longer
/// (a chat template) is named once on the console with both numbers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_without_usage_are_counted_by_the_tokenizer() {
    let dir = tempfile::tempdir().unwrap();
    let (file, tok) = bpe_file(dir.path());
    let tok = Arc::new(tok);
    let want = tok.count(REPLY);
    assert_ne!(want, 5, "the count differs from the split reply's 5 chunks");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    serve_text(listener, Arc::new(Mutex::new(Vec::new())), tok.clone());
    let mut outputs = Vec::new();
    for model in ["split", "whole", "usage"] {
        let records = dir.path().join(format!("{model}.jsonl"));
        let out = run_async(args![
            "run",
            "--url",
            url,
            "--api",
            "openai-completions",
            "--model",
            model,
            "--tokenizer",
            file.display(),
            "--input-len",
            32,
            "-n",
            4,
            "--warmup",
            0,
            "--records",
            records.display(),
            "--no-history"
        ])
        .await;
        assert_eq!(out.code, Some(0), "{}", out.all());
        let lines = record_lines(&records);
        let counts: Vec<u64> = lines.iter().map(|r| r["output_tokens"].as_u64().unwrap()).collect();
        assert!(
            lines.iter().all(|r| r["tokens_estimated"] == false),
            "the tokenizer's counts are not estimates"
        );
        assert!(!out.stdout.contains("(estimated)"), "{}", out.stdout);
        outputs.push(counts);
        let notes = out.stdout.matches("Note:      the server counts").count();
        if model == "usage" {
            assert_eq!(notes, 1, "said once: {}", out.stdout);
            assert!(
                out.stdout.contains("prompt tokens where the tokenizer counted 32 (+"),
                "{}",
                out.stdout
            );
        } else {
            assert_eq!(notes, 0, "{}", out.stdout);
        }
    }
    assert_eq!(outputs[0], vec![want; 4], "split chunks");
    assert_eq!(outputs[1], vec![want; 4], "one chunk");
    assert_eq!(outputs[2], vec![9; 4], "the server's usage wins");
}
