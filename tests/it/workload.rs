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
