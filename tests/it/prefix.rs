//! Shared prefixes and the simulator's prefix cache end to end: TTFT falls
//! as more of each prompt is a cached prefix, the hit rate inferload reads
//! from the server's counters is what the workload implies, turning the
//! cache off gives no hits, and a cache too small for two prompts keeps
//! only the last one's blocks.

use std::time::Duration;

use inferload::sim::BatchingProfile;
use inferload::workload::{DatasetSpec, Prompt, RequestParams, Workload, WorkloadSpec};
use serde_json::Value;

use crate::args;
use crate::common::*;

fn profile(kv_cache_tokens: u64, prefill_per_token: Duration) -> BatchingProfile {
    BatchingProfile {
        max_num_seqs: 16,
        kv_cache_tokens,
        prefill_per_token,
        decode_base: Duration::from_millis(2),
        decode_per_seq: Duration::ZERO,
    }
}

/// The monitor's prefix-cache totals of a run document: (queries, hits).
fn prefix_totals(doc: &Value) -> (u64, u64) {
    let s = &doc["monitor"]["summary"];
    let n = |k: &str| {
        s[k].as_f64()
            .unwrap_or_else(|| panic!("monitor.summary.{k} missing in {s}")) as u64
    };
    (n("prefix_cache_queries"), n("prefix_cache_hits"))
}

async fn run_json(sim: &SimHandle, extra: Vec<String>) -> (Output, Value) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let mut a = args!["run", "--url", sim.url(), "--json", json.display()];
    a.extend(extra);
    let out = run_async(a).await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let doc = read_json(&json);
    (out, doc)
}

/// The same total prompt length (2,112 tokens) with 0, 512 and 2,048 of
/// them a shared random prefix: after the warm-up request has filled the
/// cache, each request prefills only its own part, so TTFT is at least
/// `decode_base + own tokens × prefill_per_token` and falls as the prefix
/// grows. Without the prefix cache, the longest prefix gains nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttft_falls_as_the_shared_prefix_grows() {
    let per_token = Duration::from_micros(100);
    let p = profile(200_000, per_token);
    let sim = start_sim(SimConfig::batching(p)).await;
    let total = 2112u64;
    let predicted = |own: u64| (p.decode_base + per_token * own as u32).as_secs_f64() * 1000.0;
    let mut ttft = Vec::new();
    for prefix in [0u64, 512, 2048] {
        let (_, doc) = run_json(
            &sim,
            args![
                "--quiet",
                "-c",
                1,
                "-n",
                8,
                "--warmup",
                1,
                "--input-len",
                total - prefix,
                "--random-prefix-len",
                prefix,
                "--output-len",
                2
            ],
        )
        .await;
        let mean = doc["summary"]["ttft_ms"]["mean"].as_f64().unwrap();
        // The server computes the prompt's own part at least; a timer may
        // wake a millisecond early at most.
        assert!(mean >= predicted(total - prefix) - 1.0, "prefix {prefix}: {mean} ms");
        ttft.push(mean);
    }
    assert!(ttft[0] > ttft[1] && ttft[1] > ttft[2], "{ttft:?}");
    // The longest prefix is far nearer its cached cost than the uncached one.
    assert!(ttft[2] < (predicted(64) + predicted(total)) / 2.0, "{ttft:?}");
    sim.shutdown().await;

    let mut off = SimConfig::batching(p);
    off.prefix_cache = false;
    let sim = start_sim(off).await;
    let (_, doc) = run_json(
        &sim,
        args![
            "--quiet",
            "-c",
            1,
            "-n",
            4,
            "--warmup",
            1,
            "--input-len",
            64,
            "--random-prefix-len",
            2048,
            "--output-len",
            2
        ],
    )
    .await;
    let mean = doc["summary"]["ttft_ms"]["mean"].as_f64().unwrap();
    assert!(
        mean >= predicted(total) - 1.0,
        "without the cache every token is prefilled: {mean} ms"
    );
    sim.shutdown().await;
}

/// vLLM's prefix_repetition with one prefix of 512 tokens and suffixes of
/// 64, blocks of 16: the first request finds nothing; every later one finds
/// the prefix's whole blocks (its own suffix never), whatever the
/// concurrency, because blocks are shared from the step that admits them.
/// The console, the JSON and the server's own counters agree.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hit_rate_is_what_the_workload_implies() {
    let sim = start_sim(SimConfig::batching(profile(100_000, Duration::from_micros(2)))).await;
    let (n, prefix, suffix, block) = (40u64, 512u64, 64u64, 16u64);
    let (out, doc) = run_json(
        &sim,
        args![
            "-c",
            4,
            "-n",
            n,
            "--dataset-name",
            "prefix_repetition",
            "--prefix-repetition-prefix-len",
            prefix,
            "--prefix-repetition-suffix-len",
            suffix,
            "--prefix-repetition-num-prefixes",
            1,
            "--prefix-repetition-output-len",
            4
        ],
    )
    .await;
    let prompt = prefix + suffix;
    // Whole blocks of the prefix; never the prompt's last token.
    let hit_per_request = (prefix / block).min((prompt - 1) / block) * block;
    let (queries, hits) = (n * prompt, (n - 1) * hit_per_request);
    assert_eq!(doc["summary"]["total_input_tokens"], n * prompt);
    assert_eq!(prefix_totals(&doc), (queries, hits));
    let pct = hits as f64 / queries as f64 * 100.0;
    let line = format!("{pct:.1}% ({hits} of {queries} prompt tokens)");
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("Prefix cache hit rate:") && l.ends_with(&line)),
        "no `{line}` in\n{}",
        out.stdout
    );
    let metrics = http_client()
        .build()
        .unwrap()
        .get(format!("{}/metrics", sim.url()))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for want in [
        format!("vllm:prefix_cache_queries_total{{model_name=\"inferload-sim\"}} {queries}"),
        format!("vllm:prefix_cache_hits_total{{model_name=\"inferload-sim\"}} {hits}"),
    ] {
        assert!(metrics.lines().any(|l| l == want), "no `{want}` in\n{metrics}");
    }
    sim.shutdown().await;
}

/// `inferload sim --no-prefix-cache`: nothing is looked up, nothing hits,
/// and the console says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_prefix_cache_nothing_hits() {
    let mut config = SimConfig::batching(profile(100_000, Duration::from_micros(2)));
    config.prefix_cache = false;
    let sim = start_sim(config).await;
    let (out, doc) = run_json(
        &sim,
        args![
            "-c",
            2,
            "-n",
            10,
            "--dataset-name",
            "prefix_repetition",
            "--prefix-repetition-prefix-len",
            256,
            "--prefix-repetition-suffix-len",
            16,
            "--prefix-repetition-num-prefixes",
            1,
            "--output-len",
            2
        ],
    )
    .await;
    assert_eq!(prefix_totals(&doc), (0, 0));
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("Prefix cache hit rate:") && l.ends_with(" no prompt tokens looked up")),
        "{}",
        out.stdout
    );
    sim.shutdown().await;
}

/// Two prefixes of 256 tokens with suffixes of 16, one request at a time.
/// A cache of 100,000 tokens keeps both: every request after each prefix's
/// first hits its 256 tokens. A cache of 276 tokens holds one request
/// (272 prompt + 4 output) and no more, so admitting a request with the
/// other prefix evicts every free block: a request hits only when the one
/// before it had the same prefix. The expectations come from the prompts
/// the workload sends, in order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_cache_evicts_the_other_prefix() {
    let (n, prefix, suffix) = (20u64, 256u64, 16u64);
    let spec = WorkloadSpec {
        dataset: DatasetSpec::PrefixRepetition {
            prefix_len: prefix,
            suffix_len: suffix,
            num_prefixes: 2,
            output_len: 4,
        },
        max_tokens: None,
        stream: true,
        ignore_eos: true,
        extra_body: None,
        seed: 0,
        params: RequestParams::default(),
        random_prefix_len: 0,
        request_id_prefix: None,
        system_prompt: None,
        tokenizer: None,
    };
    let w = Workload::load(&spec).unwrap();
    let heads: Vec<String> = (0..n)
        .map(|i| match w.item(i).prompt {
            Prompt::Text(t) => t.split(' ').take(prefix as usize).collect::<Vec<_>>().join(" "),
            Prompt::Chat(_) => unreachable!("text prompts"),
        })
        .collect();
    let seen_before = (1..heads.len()).filter(|&i| heads[..i].contains(&heads[i])).count() as u64;
    let same_as_last = (1..heads.len()).filter(|&i| heads[i] == heads[i - 1]).count() as u64;
    assert_eq!(seen_before, n - 2);

    let flags = args![
        "--quiet",
        "-c",
        1,
        "-n",
        n,
        "--seed",
        0,
        "--dataset-name",
        "prefix_repetition",
        "--prefix-repetition-prefix-len",
        prefix,
        "--prefix-repetition-suffix-len",
        suffix,
        "--prefix-repetition-num-prefixes",
        2,
        "--output-len",
        4
    ];
    for (kv, hits) in [(100_000, seen_before * prefix), (276, same_as_last * prefix)] {
        let sim = start_sim(SimConfig::batching(profile(kv, Duration::from_micros(2)))).await;
        let (_, doc) = run_json(&sim, flags.clone()).await;
        assert_eq!(
            prefix_totals(&doc),
            (n * (prefix + suffix), hits),
            "KV cache of {kv} tokens"
        );
        sim.shutdown().await;
    }
    assert!(same_as_last < seen_before);
}

/// A random system prompt of 512 tokens before every chat request: one
/// `system` message shared by all, so every request after the first hits
/// its 512 tokens; the server counts them as prompt tokens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_system_prompt_is_cached() {
    let sim = start_sim(SimConfig::batching(profile(100_000, Duration::from_micros(2)))).await;
    let (_, doc) = run_json(
        &sim,
        args![
            "--quiet",
            "-c",
            2,
            "-n",
            10,
            "--input-len",
            64,
            "--output-len",
            2,
            "--system-prompt-len",
            512
        ],
    )
    .await;
    assert_eq!(doc["summary"]["total_input_tokens"], 10 * 576);
    assert_eq!(prefix_totals(&doc), (10 * 576, 9 * 512));
    assert_eq!(
        doc["settings"]["workload"]["system_prompt"],
        serde_json::json!({"source": "random", "tokens": 512, "as_message": true})
    );
    sim.shutdown().await;
}

/// Bad system prompts stop the run before any traffic with one line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_system_prompt_is_one_line() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(1), Duration::from_millis(1))).await;
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.txt");
    for (flags, want) in [
        (
            args!["--system-prompt", format!("@{}", missing.display())],
            format!("cannot read --system-prompt file {}", missing.display()),
        ),
        (
            args!["--api", "tgi", "--system-prompt-len", 0],
            "--system-prompt-len must be at least 1".to_string(),
        ),
    ] {
        let mut a = args!["run", "--url", sim.url(), "-n", 1, "--quiet"];
        a.extend(flags);
        let out = run_async(a).await;
        assert_eq!(out.code, Some(1), "{}", out.all());
        let err: Vec<&str> = out.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(err.len(), 1, "{}", out.stderr);
        assert!(err[0].contains(&want), "{}", out.stderr);
    }
    assert_eq!(sim.stats().requests_total, 0);
    sim.shutdown().await;
}

/// `compare` of a server with its prefix cache and one without: the first
/// strategy's hit rate is what the workload implies, the second has none,
/// and the cached server is faster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_comparison_shows_each_strategys_hit_rate() {
    let p = profile(100_000, Duration::from_micros(50));
    let cached = start_sim(SimConfig::batching(p)).await;
    let mut off = SimConfig::batching(p);
    off.prefix_cache = false;
    let uncached = start_sim(off).await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("compare.json");
    let n = 12u64;
    let out = run_async(args![
        "compare",
        format!("cache={}", cached.url()),
        format!("nocache={}", uncached.url()),
        "-c",
        2,
        "-n",
        n,
        "--json",
        json.display(),
        "--dataset-name",
        "prefix_repetition",
        "--prefix-repetition-prefix-len",
        512,
        "--prefix-repetition-suffix-len",
        64,
        "--prefix-repetition-num-prefixes",
        1,
        "--output-len",
        2
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(out.stdout.contains("prefix hit %"), "{}", out.stdout);
    let doc = read_json(&json);
    let s = doc["strategies"].as_array().unwrap();
    let want = ((n - 1) * 512) as f64 / (n * 576) as f64 * 100.0;
    let got = s[0]["prefix_cache_hit_pct"].as_f64().unwrap();
    assert!((got - want).abs() < 1e-9, "{got} vs {want}");
    assert!(
        s[1].get("prefix_cache_hit_pct").is_none(),
        "nothing looked up: {}",
        s[1]
    );
    assert!(
        s[0]["latency_mean_ms"].as_f64().unwrap() < s[1]["latency_mean_ms"].as_f64().unwrap(),
        "{doc}"
    );
    cached.shutdown().await;
    uncached.shutdown().await;
}
