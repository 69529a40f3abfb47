//! Integration tests: percentiles chosen by the user against the simulator
//! on loopback — vLLM's `--percentile-metrics`/`--metric-percentiles` in the
//! console block and the result file, objectives on any percentile and
//! their exit status, and the mean-TTFT rating line.

use std::time::Duration;

use crate::args;
use crate::common::*;

/// The value printed on a vLLM block line (`{:<40} {:<10.2}`).
fn block_value(stdout: &str, label: &str) -> Option<f64> {
    let line = stdout.lines().find(|l| l.starts_with(label))?;
    assert_eq!(&line[40..41], " ", "`{line}`: label padded to 40 columns");
    line[41..].trim().parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chosen_metrics_and_percentiles_shape_the_block_and_the_result_file() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(10), Duration::from_millis(2))).await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "-c",
        3,
        "-n",
        24,
        "--output-len",
        6,
        "--percentile-metrics",
        "ttft,itl,e2el",
        "--metric-percentiles",
        "25,50,90,99,99.9",
        "--save-result",
        "--result-dir",
        dir.path().display(),
        "--result-filename",
        "vllm.json",
        "--json",
        json.display(),
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());

    // The console: vLLM's labels, one P-line per percentile, in vLLM's order.
    let labels: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.len() > 40 && l.contains(" (ms):"))
        .map(|l| l[..40].trim_end())
        .collect();
    let mut expected = Vec::new();
    for m in ["TTFT", "ITL", "E2EL"] {
        expected.push(format!("Mean {m} (ms):"));
        expected.push(format!("Median {m} (ms):"));
        for p in ["25", "50", "90", "99", "99.9"] {
            expected.push(format!("P{p} {m} (ms):"));
        }
    }
    assert_eq!(labels, expected, "{}", out.stdout);
    assert!(!out.stdout.contains("TPOT (ms):"), "TPOT not selected: {}", out.stdout);
    let ladder: Vec<f64> = ["P25", "P50", "P90", "P99", "P99.9"]
        .iter()
        .map(|p| block_value(&out.stdout, &format!("{p} TTFT (ms):")).unwrap())
        .collect();
    assert!(ladder.windows(2).all(|w| w[0] <= w[1]), "{ladder:?}");
    assert!(ladder[0] >= 10.0, "TTFT includes the simulator's 10 ms: {ladder:?}");
    assert_eq!(
        block_value(&out.stdout, "P50 TTFT (ms):"),
        block_value(&out.stdout, "Median TTFT (ms):")
    );

    // inferload's own table takes the extra percentiles as columns.
    let head = out.stdout.lines().find(|l| l.starts_with("Latency (ms)")).unwrap();
    let cols: Vec<&str> = head.split_whitespace().skip(2).collect();
    assert_eq!(cols, ["mean", "p25", "p50", "p90", "p95", "p99", "p99.9", "min", "max"]);

    // vLLM's file: its keys for the selection, nothing for the rest.
    let v = read_json(&dir.path().join("vllm.json"));
    for m in ["ttft", "itl", "e2el"] {
        for stat in ["mean", "median", "std", "p25", "p50", "p90", "p99", "p99.9"] {
            let key = format!("{stat}_{m}_ms");
            assert!(v[&key].is_f64(), "`{key}` missing: {v:#}");
        }
    }
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert!(!keys.iter().any(|k| k.contains("tpot")), "{keys:?}");
    assert!(!keys.iter().any(|k| k.contains("client_queue")), "{keys:?}");
    assert_eq!(v["queue_times"].as_array().map(Vec::len), Some(24));
    // Each request's wait for a slot, in seconds (a closed loop waits none to speak of).
    let waits: Vec<f64> = v["queue_times"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| q.as_f64().unwrap())
        .collect();
    assert!(waits.iter().all(|w| (0.0..1.0).contains(w)), "{waits:?}");
    assert_eq!(v["rtfx"], 0.0);
    // NumPy's interpolation: p50 is the median.
    assert_eq!(v["p50_itl_ms"], v["median_itl_ms"]);

    // The run document carries the extra percentiles, schema-valid.
    let doc = read_json(&json);
    let errors = schema_errors(&doc);
    assert!(errors.is_empty(), "{errors:#?}");
    let ttft = &doc["summary"]["ttft_ms"];
    assert!(ttft["percentiles"]["p25"].is_f64(), "{ttft:#}");
    assert_eq!(ttft["percentiles"].get("p99.9"), None, "p99.9 is the fixed p999");
    assert_eq!(
        doc["settings"]["outputs"]["metric_percentiles"],
        serde_json::json!([25.0, 50.0, 90.0, 99.0, 99.9])
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objectives_on_any_percentile_pass_and_fail_with_the_exit_status() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(10), Duration::from_millis(2))).await;
    let dir = tempfile::tempdir().unwrap();
    let run = |slo: &'static str, json: std::path::PathBuf| {
        let url = sim.url();
        async move {
            run_async(args![
                "run",
                "--url",
                url,
                "-c",
                2,
                "-n",
                12,
                "--output-len",
                5,
                "--slo",
                slo,
                "--json",
                json.display(),
                "--quiet"
            ])
            .await
        }
    };
    let pass = dir.path().join("pass.json");
    let out = run("ttft_p42<10s,itl_p99.9<10s,p0.5_e2e<10s", pass.clone()).await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let v = read_json(&pass);
    assert!(schema_errors(&v).is_empty(), "{:#?}", schema_errors(&v));
    let slos = v["slos"].as_array().unwrap();
    assert_eq!(slos[0]["slo"]["stat"], "percentile");
    assert_eq!(slos[0]["slo"]["percentile"], 42.0);
    assert_eq!(slos[1]["slo"]["stat"], "p999");
    assert_eq!(slos[1]["slo"]["percentile"], 99.9);
    assert_eq!(slos[2]["slo"]["percentile"], 0.5);
    for s in slos {
        assert_eq!(s["passed"], true, "{s:#}");
        assert!(s["measured"].as_f64().is_some_and(|m| m > 0.0), "{s:#}");
    }
    // The measured p42 is the document's own p42.
    assert_eq!(slos[0]["measured"], v["summary"]["ttft_ms"]["percentiles"]["p42"]);

    let fail = dir.path().join("fail.json");
    let out = run("ttft_p42<1ms", fail.clone()).await;
    assert_eq!(out.code, Some(3), "an objective failed: {}", out.all());
    let v = read_json(&fail);
    assert_eq!(v["slos"][0]["passed"], false);
    assert!(v["slos"][0]["measured"].as_f64().unwrap() >= 10.0);
    assert!(out.stdout.contains("ttft_p42<1ms"), "{}", out.stdout);

    // A percentile that is none: one line, before any load.
    let before = sim.stats().requests_total;
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "-n",
        2,
        "--slo",
        "itl_p101<5ms",
        "--quiet"
    ])
    .await;
    assert_ne!(out.code, Some(0));
    assert!(
        out.stderr.contains("percentile `101` is outside 0..100"),
        "{}",
        out.stderr
    );
    assert_eq!(sim.stats().requests_total, before, "nothing sent");
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_mean_ttft_is_rated_when_there_is_one() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(5), Duration::from_millis(1))).await;
    let base = |extra: &[&str]| {
        let mut a = args![
            "run",
            "--url",
            sim.url(),
            "-c",
            2,
            "-n",
            6,
            "--output-len",
            3,
            "--quiet"
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        a
    };
    let out = run_async(base(&[])).await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let lines: Vec<&str> = out.stdout.lines().filter(|l| l.starts_with("TTFT rating: ")).collect();
    assert_eq!(lines.len(), 1, "{}", out.stdout);
    let mean = block_value(&out.stdout, "Mean TTFT (ms):").unwrap();
    let rating = if mean < 200.0 {
        "excellent"
    } else if mean < 500.0 {
        "good"
    } else if mean < 1000.0 {
        "acceptable"
    } else {
        "slow"
    };
    assert!(
        lines[0].starts_with(&format!("TTFT rating: {rating} (mean {mean:.2} ms;")),
        "{}",
        lines[0]
    );

    // Bounds below the simulator's 5 ms first token: slow.
    let out = run_async(base(&["--ttft-rating", "1us,2us,3us"])).await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(out.stdout.contains("TTFT rating: slow (mean "), "{}", out.stdout);

    // No stream, no TTFT, no rating.
    let out = run_async(base(&["--no-stream"])).await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(!out.stdout.contains("TTFT rating"), "{}", out.stdout);

    let before = sim.stats().requests_total;
    let out = run_async(base(&["--ttft-rating", "500ms,200ms,1s"])).await;
    assert_ne!(out.code, Some(0));
    assert!(
        out.stderr.contains("--ttft-rating") && out.stderr.contains("increasing"),
        "{}",
        out.stderr
    );
    assert_eq!(sim.stats().requests_total, before, "nothing sent");
    sim.shutdown().await;
}
