//! `inferload compare` as a fair comparison, against simulators on
//! loopback: each strategy's row carries the load generator's and the
//! host's CPU and memory (GPU memory shown as not measured where there is
//! no GPU), an LLM comparison shows TTFT and token throughput and an image
//! comparison does not, the document holds the configuration and every
//! run's own figures and matches its schema, and the new load shapes
//! (stages, multi-turn sessions, shared prefixes) get their per-strategy
//! tables in every output.

use std::time::Duration;

use inferload::doc::CompareDocument;

use crate::args;
use crate::common::*;
use crate::documents::{round_trips, schema_errors};

/// The lines of the console table titled `title`, header first.
fn section<'a>(stdout: &'a str, title: &str) -> Vec<&'a str> {
    let lines: Vec<&str> = stdout.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains(title))
        .unwrap_or_else(|| panic!("no `{title}` in:\n{stdout}"));
    lines[at + 1..].iter().take_while(|l| !l.is_empty()).copied().collect()
}

/// The cell under `column` in the row of `strategy` (cells are separated
/// by two spaces or more).
fn cell<'a>(table: &[&'a str], column: &str, strategy: &str) -> &'a str {
    let split = |l: &'a str| -> Vec<&'a str> { l.split("  ").map(str::trim).filter(|c| !c.is_empty()).collect() };
    let header = split(table[0]);
    let i = header
        .iter()
        .position(|h| *h == column)
        .unwrap_or_else(|| panic!("no column `{column}` in {header:?}"));
    let row = table
        .iter()
        .map(|l| split(l))
        .find(|r| r.first() == Some(&strategy))
        .unwrap_or_else(|| panic!("no row `{strategy}` in {table:?}"));
    row[i]
}

/// Two chat servers compared twice each: system figures per strategy,
/// TTFT and token columns, the configuration and each run in the JSON,
/// and the same tables in Markdown, CSV and HTML.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_comparison_carries_system_figures_ttft_and_every_run() {
    let slow = start_sim(SimConfig::fixed(Duration::from_millis(40), Duration::from_millis(4))).await;
    let fast = start_sim(SimConfig::fixed(Duration::from_millis(8), Duration::from_millis(1))).await;
    let dir = tempfile::tempdir().unwrap();
    let (json, md, csv, html) = (
        dir.path().join("c.json"),
        dir.path().join("c.md"),
        dir.path().join("c.csv"),
        dir.path().join("c.html"),
    );
    let out = run_async(args![
        "compare",
        format!("slow={}", slow.url()),
        format!("fast={}", fast.url()),
        "--concurrency",
        2,
        "--duration",
        "1s",
        "--output-len",
        8,
        "--repeat",
        2,
        "--monitor-interval",
        "100ms",
        "--api-key",
        "sk-compare-fair-secret",
        "--json",
        json.display(),
        "--markdown",
        md.display(),
        "--csv",
        csv.display(),
        "--html",
        html.display(),
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let stdout = &out.stdout;
    assert!(!out.all().contains("sk-compare-fair-secret"));

    // The console: TTFT and token throughput beside the latencies.
    let main = section(stdout, "== Comparison ==");
    for s in ["slow", "fast"] {
        let ttft: f64 = cell(&main, "TTFT mean", s).parse().unwrap();
        let tail: f64 = cell(&main, "TTFT p99", s).parse().unwrap();
        let tokens: f64 = cell(&main, "out tok/s", s).parse().unwrap();
        assert!(ttft > 0.0 && tail >= ttft && tokens > 0.0, "{s}: {main:?}");
    }
    let ttft = |s| cell(&main, "TTFT mean", s).parse::<f64>().unwrap();
    assert!(
        ttft("slow") > ttft("fast") * 2.0,
        "40 ms against 8 ms to the first token: {main:?}"
    );
    // The intervals over each strategy's two runs.
    let ci = section(stdout, "Confidence, each strategy over its runs");
    for s in ["slow", "fast"] {
        let c = cell(&ci, "req/s", s);
        assert!(c.contains('(') && c.contains('–'), "{s}: {ci:?}");
    }
    // System figures per strategy: real CPU and memory, GPU not measured.
    let system = section(stdout, "System, over each strategy's runs");
    for s in ["slow", "fast"] {
        let cpu = cell(&system, "client CPU mean", s);
        assert!(
            cpu.trim_end_matches('%').parse::<f64>().unwrap() > 0.0,
            "{s}: {system:?}"
        );
        for c in ["client mem peak", "host mem peak"] {
            let m = cell(&system, c, s);
            assert!(m.ends_with("iB") && !m.starts_with("0.0"), "{s} {c}: {m}");
        }
        assert_eq!(cell(&system, "GPU mem peak", s), "—", "no GPU here: {system:?}");
        // The verdict of each run (a loaded machine may warn: it says so).
        let trust = cell(&system, "trust", s);
        assert!(trust == "OK" || trust.ends_with("of 2 WARNING"), "{system:?}");
    }

    // The document: configuration, system figures, every run.
    let v = read_json(&json);
    assert_eq!(schema_errors("compare.schema.json", &v), Vec::<String>::new());
    let doc: CompareDocument = round_trips(&v);
    assert!(!v.to_string().contains("sk-compare-fair-secret"));
    assert_eq!(
        v.pointer("/settings/strategies/0/target/target/api_key").unwrap(),
        "***"
    );
    assert_eq!(v.pointer("/settings/repeat").unwrap(), 2);
    let own = &v["settings"]["strategies"][1]["own"];
    assert_eq!(own["target.base_url"], fast.url(), "{own}");
    assert!(
        own.get("target.api_key").is_none(),
        "shared settings are not a strategy's own: {own}"
    );
    assert_eq!(v["tail_percentile"], 99.0);
    for s in &doc.strategies {
        let y = s.system.expect("system figures");
        assert!(y.client_cpu_mean_pct.unwrap() > 0.0, "{y:?}");
        assert!(
            y.client_cpu_peak_pct.unwrap() >= y.client_cpu_mean_pct.unwrap() * 0.5,
            "{y:?}"
        );
        assert!(y.client_memory_peak_bytes.unwrap() > 1e6, "{y:?}");
        assert!(
            y.host_cpu_mean_pct.is_some() && y.host_memory_peak_bytes.unwrap() > 1e7,
            "{y:?}"
        );
        assert_eq!((y.gpu_memory_peak_bytes, y.gpu_memory_peak_pct), (None, None));
        assert_eq!(s.runs.len(), 2, "each repeat kept");
        // Each run's own figures, not only the mean.
        for (k, r) in s.runs.iter().enumerate() {
            assert_eq!(r.repeat as usize, k + 1);
            assert!(r.summary.requests_total > 0 && r.started_at.is_some());
            assert!(
                r.trust.is_some() && r.monitor.as_ref().is_some_and(|m| m.samples > 0),
                "{r:?}"
            );
        }
        let mean = (s.runs[0].summary.request_throughput + s.runs[1].summary.request_throughput) / 2.0;
        assert!((s.request_throughput - mean).abs() < 1e-9);
        // The mean's 95 % interval over the two runs.
        let c = s.confidence.as_ref().expect("two runs give an interval");
        assert_eq!(c.repeats, 2);
        let tp = c.get("request_throughput").unwrap();
        assert!((tp.mean - mean).abs() < 1e-9, "{tp:?}");
        assert!(tp.low <= tp.mean && tp.mean <= tp.high, "{tp:?}");
        let ttft = c.get("mean_ttft_ms").unwrap();
        assert!(
            ttft.low <= ttft.mean && ttft.mean <= ttft.high && ttft.mean > 0.0,
            "{ttft:?}"
        );
        assert!(s.ttft_tail_ms.unwrap() >= s.ttft_mean_ms.unwrap());
    }
    for s in &doc.strategies {
        // The count of warnings is that of the runs' own verdicts.
        let warned = s.runs.iter().filter(|r| !r.trust.as_ref().unwrap().is_ok()).count();
        assert_eq!(s.system.unwrap().trust_warnings as usize, warned);
    }
    assert!(v
        .pointer("/strategies/0/system/gpu_memory_peak_bytes")
        .unwrap()
        .is_null());

    // Markdown, CSV and HTML show the same tables.
    let md = std::fs::read_to_string(&md).unwrap();
    for want in [
        "### Strategies",
        "TTFT mean",
        "out tok/s",
        "### System",
        "### Confidence, each strategy over its runs",
        "GPU mem peak",
        "| — |",
    ] {
        assert!(md.contains(want), "{want}: {md}");
    }
    let mut rows = csv::Reader::from_path(&csv).unwrap();
    let header = rows.headers().unwrap().clone();
    let col = |n: &str| {
        header
            .iter()
            .position(|h| h == n)
            .unwrap_or_else(|| panic!("{n}: {header:?}"))
    };
    let records: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), 2);
    for r in &records {
        assert!(r[col("client_cpu_mean_pct")].parse::<f64>().unwrap() > 0.0);
        assert!(r[col("ttft_p99_ms")].parse::<f64>().unwrap() > 0.0);
        assert!(r[col("output_tok_per_s")].parse::<f64>().unwrap() > 0.0);
        let (lo, hi) = (
            r[col("request_throughput_ci_low")].parse::<f64>().unwrap(),
            r[col("request_throughput_ci_high")].parse::<f64>().unwrap(),
        );
        assert!(lo <= hi, "{lo} {hi}");
        assert_eq!(&r[col("gpu_memory_peak_bytes")], "", "not measured: empty, not 0");
    }
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("id=\"system\"") && page.contains("TTFT mean"), "{page}");
    // The saved document prints the same tables again.
    let again = run_async(args!["report", json.display()]).await;
    assert!(
        again.stdout.contains("System, over each strategy's runs"),
        "{}",
        again.all()
    );
    assert!(again.stdout.contains("TTFT p99"), "{}", again.all());
    slow.shutdown().await;
    fast.shutdown().await;
}

/// An image comparison has no first token and no output tokens: no TTFT
/// or token column, not even an empty one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_image_comparison_has_no_token_columns() {
    let image = |workers: usize| {
        let mut c = SimConfig::default_loopback();
        c.image.workers = workers;
        c.image.step_time = Duration::from_millis(2);
        c
    };
    let one = start_sim(image(1)).await;
    let pool = start_sim(image(2)).await;
    let dir = tempfile::tempdir().unwrap();
    let (json, csv) = (dir.path().join("c.json"), dir.path().join("c.csv"));
    let out = run_async(args![
        "compare",
        format!("one={}/generate", one.url()),
        format!("pool={}/generate", pool.url()),
        "--api",
        "http",
        "--prompt",
        "a red fox",
        "--steps",
        4,
        "-c",
        2,
        "-n",
        6,
        "--json",
        json.display(),
        "--csv",
        csv.display(),
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let main = section(&out.stdout, "== Comparison ==");
    assert!(main[0].contains("images/s"), "{main:?}");
    assert!(!main[0].contains("TTFT") && !main[0].contains("tok/s"), "{main:?}");
    // The system figures are there for images too.
    let system = section(&out.stdout, "System, over each strategy's runs");
    assert_eq!(cell(&system, "GPU mem peak", "one"), "—");
    let header = std::fs::read_to_string(&csv).unwrap();
    let header = header.lines().next().unwrap();
    assert!(!header.contains("ttft") && !header.contains("output_tok"), "{header}");
    let v = read_json(&json);
    assert_eq!(schema_errors("compare.schema.json", &v), Vec::<String>::new());
    assert!(v.pointer("/strategies/0/ttft_mean_ms").unwrap().is_null());
    one.shutdown().await;
    pool.shutdown().await;
}

/// Two strategies under a load that changes over time: each has its
/// figures per stage, lined up under each stage in every output.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_staged_comparison_shows_each_strategy_by_stage() {
    let a = start_sim(SimConfig::fixed(Duration::from_millis(5), Duration::from_millis(1))).await;
    let b = start_sim(SimConfig::fixed(Duration::from_millis(15), Duration::from_millis(1))).await;
    let dir = tempfile::tempdir().unwrap();
    let (json, md, csv) = (
        dir.path().join("c.json"),
        dir.path().join("c.md"),
        dir.path().join("c.csv"),
    );
    let out = run_async(args![
        "compare",
        format!("a={}", a.url()),
        format!("b={}", b.url()),
        "--stages",
        "500ms:2,500ms:2,500ms:4",
        "--output-len",
        4,
        "--json",
        json.display(),
        "--markdown",
        md.display(),
        "--csv",
        csv.display(),
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let table = section(&out.stdout, "By stage, each strategy over its runs");
    let keys: Vec<(String, String)> = table[2..]
        .iter()
        .take_while(|l| !l.starts_with("A request"))
        .map(|l| {
            let c: Vec<&str> = l.split_whitespace().collect();
            (c[0].to_string(), c[1].to_string())
        })
        .collect();
    let want: Vec<(String, String)> = [("1", "a"), ("1", "b"), ("2", "a"), ("2", "b"), ("3", "a"), ("3", "b")]
        .iter()
        .map(|(x, y)| (x.to_string(), y.to_string()))
        .collect();
    assert_eq!(keys, want, "{table:?}");
    let v = read_json(&json);
    assert_eq!(schema_errors("compare.schema.json", &v), Vec::<String>::new());
    let doc: CompareDocument = round_trips(&v);
    for s in &doc.strategies {
        let st = s.stages.as_ref().expect("stages per strategy");
        assert_eq!(st.len(), 3, "{}", s.name);
        assert!(st.iter().all(|x| x.requests > 0 && x.success_rate == 1.0), "{st:?}");
        // Two to four workers in the last stage, none to two in the first.
        assert!(st[2].mean_in_flight > st[0].mean_in_flight, "{st:?}");
        let total: u64 = st.iter().map(|x| x.requests).sum();
        assert_eq!(total, s.requests, "every request in one stage");
        assert!(s.runs[0].stages.is_some());
    }
    let md = std::fs::read_to_string(&md).unwrap();
    assert!(md.contains("### By stage, each strategy over its runs"), "{md}");
    let header = std::fs::read_to_string(&csv).unwrap();
    assert!(
        header.lines().next().unwrap().contains("stage3_ttft_p99_ms"),
        "{header}"
    );
    a.shutdown().await;
    b.shutdown().await;
}

/// Two strategies of three-turn conversations over a shared prefix: TTFT
/// by turn and the turns completed, for both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_comparison_shows_ttft_by_turn() {
    let a = start_sim(SimConfig::fixed(Duration::from_millis(3), Duration::from_millis(1))).await;
    let b = start_sim(SimConfig::fixed(Duration::from_millis(9), Duration::from_millis(1))).await;
    let dir = tempfile::tempdir().unwrap();
    let (json, html) = (dir.path().join("c.json"), dir.path().join("c.html"));
    let out = run_async(args![
        "compare",
        format!("a={}", a.url()),
        format!("b={}", b.url()),
        "--turns",
        3,
        "--sessions",
        4,
        "-c",
        2,
        "--input-len",
        8,
        "--random-prefix-len",
        16,
        "--output-len",
        3,
        "--json",
        json.display(),
        "--html",
        html.display(),
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let turns = section(&out.stdout, "By turn, each strategy over its runs");
    for t in ["1", "2", "3"] {
        for s in ["a", "b"] {
            let row = turns
                .iter()
                .find(|l| l.split_whitespace().take(2).eq([t, s]))
                .unwrap_or_else(|| panic!("turn {t} of {s}: {turns:?}"));
            let cells: Vec<&str> = row.split_whitespace().collect();
            assert_eq!(cells[2], "4", "4 sessions reach every turn: {row}");
            assert!(cells[5].parse::<f64>().unwrap() > 0.0, "TTFT p50: {row}");
        }
    }
    let sessions = section(&out.stdout, "Sessions, each strategy over its runs");
    assert_eq!(cell(&sessions, "completed", "a"), "4");
    assert_eq!(cell(&sessions, "turns done mean", "b"), "3.00");
    let v = read_json(&json);
    assert_eq!(schema_errors("compare.schema.json", &v), Vec::<String>::new());
    let doc: CompareDocument = round_trips(&v);
    for s in &doc.strategies {
        let x = s.sessions.as_ref().expect("sessions per strategy");
        assert_eq!((x.started, x.completed), (4, 4), "{x:?}");
        assert_eq!(x.by_turn.len(), 3);
        // Each turn resends the conversation so far: the prompt grows.
        assert!(x.by_turn[2].mean_input_tokens > x.by_turn[0].mean_input_tokens, "{x:?}");
        assert_eq!(s.requests, 12);
    }
    // The slower server is slower at every turn.
    let (sa, sb) = (&doc.strategies[0], &doc.strategies[1]);
    for t in 0..3 {
        let p50 =
            |s: &inferload::doc::compare::StrategyResult| s.sessions.as_ref().unwrap().by_turn[t].ttft_p50_ms.unwrap();
        assert!(p50(sb) > p50(sa), "turn {}", t + 1);
    }
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(
        page.contains("id=\"turns\"") && page.contains("id=\"sessions\""),
        "{page}"
    );
    a.shutdown().await;
    b.shutdown().await;
}
