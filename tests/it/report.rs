//! Integration tests of the reports (`--plot`, `--html`, `--csv`,
//! `--markdown`, `inferload report`): real runs and sweeps against the
//! simulator, every format written and checked — PNG signatures and sizes,
//! SVG text, CSV rows, Markdown tables — and the HTML page loaded in a real
//! headless Chromium (installed by `scripts/test`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::args;
use crate::common::*;

const RUN_CHARTS: [&str; 5] = ["ttft", "e2e", "itl", "timeline", "latency_over_time"];
const SWEEP_CHARTS: [&str; 3] = ["sweep_throughput", "sweep_efficiency", "sweep_latency"];

/// A PNG file: the signature, then an IHDR chunk with the expected size.
fn check_png(path: &Path, size: Option<(u32, u32)>) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(bytes.len() > 1000, "{}: {} bytes", path.display(), bytes.len());
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}: PNG signature", path.display());
    assert_eq!(&bytes[12..16], b"IHDR", "{}", path.display());
    let w = u32::from_be_bytes(bytes[16..20].try_into().unwrap());
    let h = u32::from_be_bytes(bytes[20..24].try_into().unwrap());
    assert!(w >= 800 && h >= 400, "{}: {w}x{h}", path.display());
    if let Some(s) = size {
        assert_eq!((w, h), s, "{}", path.display());
    }
    assert_eq!(&bytes[bytes.len() - 8..bytes.len() - 4], b"IEND", "{}", path.display());
}

/// An SVG file: one root element, closed, with balanced text elements and
/// the expected text.
fn check_svg(path: &Path, expect: &[&str]) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let body = text.trim();
    assert!(
        body.starts_with("<svg") || body.starts_with("<?xml"),
        "{}",
        path.display()
    );
    assert!(body.ends_with("</svg>"), "{}", path.display());
    assert_eq!(text.matches("<svg").count(), 1, "{}", path.display());
    assert_eq!(
        text.matches("<text").count(),
        text.matches("</text>").count(),
        "{}",
        path.display()
    );
    for e in expect {
        assert!(text.contains(e), "{} lacks {e:?}", path.display());
    }
    text
}

fn check_charts(dir: &Path, names: &[&str], expect: &[&str]) {
    for name in names {
        check_png(&dir.join(format!("{name}.png")), None);
        check_svg(&dir.join(format!("{name}.svg")), expect);
    }
}

fn csv_rows(path: &Path) -> Vec<csv::StringRecord> {
    let mut r = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    r.records().map(|r| r.expect("a CSV row")).collect()
}

fn csv_header(path: &Path) -> Vec<String> {
    let mut r = csv::Reader::from_path(path).unwrap();
    r.headers().unwrap().iter().map(String::from).collect()
}

/// Chromium, or a failure saying how to get it.
fn chromium() -> PathBuf {
    for name in ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"] {
        if let Some(p) = std::env::var_os("PATH")
            .iter()
            .flat_map(std::env::split_paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
        {
            return p;
        }
    }
    panic!(
        "the HTML report is checked in a real headless Chromium, and none is on PATH: \
         install it (`apt-get install -y chromium`; scripts/test does this)"
    );
}

struct Browser {
    stdout: String,
    stderr: String,
}

/// Runs headless Chromium on a local file with `mode` (`--dump-dom` or
/// `--screenshot=…`), killing it after 90 s.
fn browse(html: &Path, mode: &str) -> Browser {
    let profile = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (out_path, err_path) = (dir.path().join("out"), dir.path().join("err"));
    let mut child = Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &format!("--user-data-dir={}", profile.path().display()),
            "--enable-logging=stderr",
            "--v=0",
            "--window-size=1280,2000",
            mode,
            &format!("file://{}", html.display()),
        ])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .expect("start chromium");
    let start = Instant::now();
    loop {
        if child.try_wait().expect("wait for chromium").is_some() {
            break;
        }
        if start.elapsed() > Duration::from_secs(90) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within 90 s on {}", html.display());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Browser {
        stdout: std::fs::read_to_string(&out_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&err_path).unwrap_or_default(),
    }
}

/// Loads the page in Chromium: the DOM has every expected string, no
/// console message was logged (the page has no script, so any is an
/// error), nothing was fetched from the network, and a screenshot is taken.
fn check_in_browser(html: &Path, expect: &[&str], shot: &Path) -> String {
    let page = std::fs::read_to_string(html).unwrap();
    assert!(!page.contains("<script"), "the report must not need a script");
    for attr in ["src=\"http", "href=\"http", "url(http", "@import"] {
        assert!(!page.contains(attr), "the report must not fetch anything: {attr}");
    }
    let b = browse(html, "--dump-dom");
    let dom = b.stdout;
    assert!(dom.contains("</html>"), "no DOM dumped; chromium said:\n{}", b.stderr);
    for e in expect {
        assert!(dom.contains(e), "the DOM lacks {e:?}");
    }
    let console: Vec<&str> = b
        .stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE") || l.contains("Uncaught") || l.contains("ERR_"))
        .collect();
    assert!(console.is_empty(), "console errors: {console:#?}");
    let b = browse(html, &format!("--screenshot={}", shot.display()));
    assert!(
        shot.is_file(),
        "no screenshot at {}; chromium said:\n{}",
        shot.display(),
        b.stderr
    );
    check_png(shot, Some((1280, 2000)));
    dom
}

/// A model name that must be escaped everywhere.
const MODEL: &str = "acme/<b>tiny</b>&\"co\"";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_writes_every_report_and_report_renders_them_again() {
    let mut cfg = SimConfig::fixed(Duration::from_millis(20), Duration::from_millis(2));
    cfg.models = vec![MODEL.to_string()];
    let sim = start_sim(cfg).await;
    let dir = tempfile::tempdir().unwrap();
    let d = |name: &str| dir.path().join(name);
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "-c",
        4,
        "-n",
        40,
        "--output-len",
        8,
        "--slo",
        "ttft_p90<5s,error_rate<1%",
        "--json",
        d("run.json").display(),
        "--records",
        d("run.jsonl").display(),
        "--plot",
        d("plots").display(),
        "--html",
        d("run.html").display(),
        "--csv",
        d("run.csv").display(),
        "--markdown",
        d("run.md").display(),
        "--no-history",
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    for f in ["plots", "run.html", "run.csv", "run.md"] {
        let line = format!("Report written to {}", d(f).display());
        assert!(out.stdout.contains(&line), "{line}\n{}", out.stdout);
    }
    sim.shutdown().await;

    // Charts.
    check_charts(&d("plots"), &RUN_CHARTS, &["acme/&lt;b&gt;tiny&lt;/b&gt;&amp;"]);
    check_svg(
        &d("plots/ttft.svg"),
        &["Time to first token", "TTFT (ms)", "p50", "p90", "p99"],
    );
    check_svg(
        &d("plots/timeline.svg"),
        &["Output tokens per second", "time since start (s)"],
    );
    check_png(&d("plots/ttft.png"), Some((1200, 520)));

    // CSV: a header and one row per request.
    let rows = csv_rows(&d("run.csv"));
    assert_eq!(rows.len(), 40);
    let header = csv_header(&d("run.csv"));
    for col in [
        "index",
        "ttft_ms",
        "tpot_ms",
        "e2e_ms",
        "output_tokens",
        "status",
        "error_class",
    ] {
        assert!(header.iter().any(|h| h == col), "{col} in {header:?}");
    }
    let ttft_col = header.iter().position(|h| h == "ttft_ms").unwrap();
    for r in &rows {
        let ttft: f64 = r[ttft_col].parse().unwrap();
        assert!((19.0..1000.0).contains(&ttft), "{ttft}");
    }
    assert_eq!(std::fs::read_to_string(d("run.csv")).unwrap().lines().count(), 41);

    // Markdown.
    let md = std::fs::read_to_string(d("run.md")).unwrap();
    for e in [
        "### Key figures",
        "| Request throughput |",
        "| metric | mean | p50 | p90 | p95 | p99 | min | max |",
        "| TTFT |",
        "### Objectives",
        "`ttft_p90<5s`",
        "✅ pass",
        "acme/&lt;b&gt;tiny&lt;/b&gt;&amp;",
    ] {
        assert!(md.contains(e), "{e:?} in\n{md}");
    }

    // The run document carries the charts' data.
    let doc = read_json(&d("run.json"));
    assert_eq!(doc.pointer("/series/requests").unwrap(), 40);
    assert!(doc.pointer("/series/buckets/0/completed").is_some());

    // HTML, in a real browser.
    let html = std::fs::read_to_string(d("run.html")).unwrap();
    assert!(!html.contains("<b>tiny</b>"), "the model name is not escaped");
    // The run was monitored (the simulator's /metrics): one more chart.
    assert!(html.contains("id=\"chart-resources\""), "the resource chart");
    assert_eq!(html.matches("<svg").count(), RUN_CHARTS.len() + 1);
    let dom = check_in_browser(
        &d("run.html"),
        &[
            "<h2 id=\"summary\">Summary</h2>",
            "<h2 id=\"objectives\">Objectives</h2>",
            "<h2 id=\"charts\">Charts</h2>",
            "Time to first token",
            "Request throughput",
            "40 (40 successful, 0 failed)",
            "100.00%",
            "All 2 objectives passed",
            "PASS",
            "acme/&lt;b&gt;tiny&lt;/b&gt;&amp;\"co\"",
        ],
        &d("run-screenshot.png"),
    );
    assert!(!dom.contains("<b>tiny</b>"));
    let ttft_p50 = doc.pointer("/summary/ttft_ms/p50").unwrap().as_f64().unwrap();
    assert!(
        dom.contains(&format!("<td>{ttft_p50:.2}</td>")),
        "TTFT p50 {ttft_p50:.2} in the DOM"
    );

    // `inferload report` on the saved JSON: the console summary and the same charts.
    let out = run_async(args![
        "report",
        d("run.json").display(),
        "--plot",
        d("again").display(),
        "--html",
        d("again.html").display(),
        "--markdown",
        d("again.md").display()
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(out.stdout.contains("Serving Benchmark Result"), "{}", out.stdout);
    assert!(
        out.stdout.contains("Maximum request concurrency:             4"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("PASS  ttft_p90<5s"), "{}", out.stdout);
    check_charts(&d("again"), &RUN_CHARTS, &["acme/&lt;b&gt;tiny&lt;/b&gt;&amp;"]);
    assert_eq!(
        std::fs::read_to_string(d("again.md")).unwrap(),
        md,
        "the saved document renders the same Markdown"
    );
    let again = std::fs::read_to_string(d("again.html")).unwrap();
    assert!(again.contains("All 2 objectives passed"));

    // And on the records file: the per-request CSV again, quietly.
    let out = run_async(args![
        "report",
        d("run.jsonl").display(),
        "--csv",
        d("again.csv").display(),
        "--plot",
        d("again-records").display(),
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(!out.stdout.contains("Serving Benchmark Result"), "{}", out.stdout);
    assert_eq!(
        std::fs::read_to_string(d("again.csv")).unwrap(),
        std::fs::read_to_string(d("run.csv")).unwrap()
    );
    check_charts(&d("again-records"), &RUN_CHARTS, &[]);

    // The per-request CSV cannot come from the summary alone.
    let out = run_async(args!["report", d("run.json").display(), "--csv", d("no.csv").display()]).await;
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(out.stderr.contains("--records"), "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_where_every_request_fails_draws_no_successful_requests() {
    let mut cfg = SimConfig::fixed(Duration::from_millis(5), Duration::from_millis(1));
    cfg.error_rate = 1.0;
    let sim = start_sim(cfg).await;
    let dir = tempfile::tempdir().unwrap();
    let d = |name: &str| dir.path().join(name);
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "-c",
        2,
        "-n",
        10,
        "--output-len",
        4,
        "--json",
        d("run.json").display(),
        "--plot",
        d("plots").display(),
        "--html",
        d("run.html").display(),
        "--csv",
        d("run.csv").display(),
        "--markdown",
        d("run.md").display(),
        "--no-history",
        "--quiet"
    ])
    .await;
    assert!(!out.all().contains("panicked"), "{}", out.all());
    assert!(
        out.stdout
            .contains(&format!("Report written to {}", d("run.html").display())),
        "{}",
        out.all()
    );
    check_charts(&d("plots"), &RUN_CHARTS, &["no successful requests"]);
    assert_eq!(csv_rows(&d("run.csv")).len(), 10);
    let md = std::fs::read_to_string(d("run.md")).unwrap();
    assert!(md.contains("No successful requests"), "{md}");
    assert!(md.contains("| http_500 | 10 |"), "{md}");
    check_in_browser(
        &d("run.html"),
        &[
            "<h2 id=\"errors\">Errors</h2>",
            "http_500",
            "no successful requests",
            "0.00%",
        ],
        &d("fail-screenshot.png"),
    );
    // Re-rendered from the saved document too.
    let out = run_async(args!["report", d("run.json").display(), "--plot", d("again").display()]).await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    check_charts(&d("again"), &RUN_CHARTS, &["no successful requests"]);
    sim.shutdown().await;
}

fn sweep_args(sim: &SimHandle, dir: &Path, levels: &str) -> Vec<String> {
    let d = |name: &str| dir.join(name).display().to_string();
    args![
        "sweep",
        "--url",
        sim.url(),
        "--concurrency",
        levels,
        "--requests-per-level",
        12,
        "--output-len",
        6,
        "--json",
        d("sweep.json"),
        "--plot",
        d("plots"),
        "--html",
        d("sweep.html"),
        "--csv",
        d("sweep.csv"),
        "--markdown",
        d("sweep.md"),
        "--no-history",
        "--quiet"
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_writes_every_report() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(10), Duration::from_millis(2))).await;
    let dir = tempfile::tempdir().unwrap();
    let d = |name: &str| dir.path().join(name);
    let out = run_async(sweep_args(&sim, dir.path(), "1,2,4")).await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    for f in ["plots", "sweep.html", "sweep.csv", "sweep.md"] {
        let line = format!("Report written to {}", d(f).display());
        assert!(out.stdout.contains(&line), "{line}\n{}", out.stdout);
    }
    sim.shutdown().await;
    let doc = read_json(&d("sweep.json"));
    let levels = doc["levels"].as_array().unwrap().len();
    assert!(levels >= 2, "{doc:#}");

    check_charts(
        &d("plots"),
        &SWEEP_CHARTS,
        &["concurrency (requests in flight)", "inferload-sim"],
    );
    check_svg(
        &d("plots/sweep_throughput.svg"),
        &["successful req/s", "output tok/s", "maximum stable"],
    );
    check_svg(
        &d("plots/sweep_latency.svg"),
        &["TTFT (ms)", "TPOT (ms)", "E2E (ms)", "p99"],
    );
    check_svg(&d("plots/sweep_efficiency.svg"), &["req/s per concurrency"]);

    assert_eq!(csv_rows(&d("sweep.csv")).len(), levels);
    assert!(csv_header(&d("sweep.csv")).contains(&"ttft_p99_ms".to_string()));

    let md = std::fs::read_to_string(d("sweep.md")).unwrap();
    let max = doc.pointer("/verdict/max_stable_concurrency").unwrap();
    for e in [
        "### Verdict".to_string(),
        format!("- Maximum stable concurrency: {max}"),
        "| concurrency | requests | success |".to_string(),
        "| 1 | 12 | 100.0% |".to_string(),
    ] {
        assert!(md.contains(&e), "{e:?} in\n{md}");
    }

    let rps = doc.pointer("/levels/0/request_throughput").unwrap().as_f64().unwrap();
    let dom = check_in_browser(
        &d("sweep.html"),
        &[
            "<h2 id=\"verdict\">Verdict</h2>",
            "<h2 id=\"levels\">Levels</h2>",
            "<h2 id=\"charts\">Charts</h2>",
            &format!("Maximum stable concurrency: {max}"),
            &format!("<td>{rps:.2}</td>"),
            "Throughput by load",
        ],
        &d("sweep-screenshot.png"),
    );
    // The verdict comes before the levels.
    assert!(dom.find("id=\"verdict\"").unwrap() < dom.find("id=\"levels\"").unwrap());

    // `inferload report` on the sweep document prints the table and verdict.
    let out = run_async(args![
        "report",
        d("sweep.json").display(),
        "--markdown",
        d("again.md").display()
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(out.stdout.contains("Maximum stable concurrency:"), "{}", out.stdout);
    assert!(out.stdout.contains("Sweep"), "{}", out.stdout);
    assert_eq!(std::fs::read_to_string(d("again.md")).unwrap(), md);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sweep_of_one_level_draws_its_charts() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(5), Duration::from_millis(1))).await;
    let dir = tempfile::tempdir().unwrap();
    let out = run_async(sweep_args(&sim, dir.path(), "2")).await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    sim.shutdown().await;
    check_charts(
        &dir.path().join("plots"),
        &SWEEP_CHARTS,
        &["concurrency (requests in flight)"],
    );
    assert_eq!(csv_rows(&dir.path().join("sweep.csv")).len(), 1);
    let html = std::fs::read_to_string(dir.path().join("sweep.html")).unwrap();
    assert!(html.contains("1 levels") || html.contains("<h2 id=\"verdict\">"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn report_rejects_bad_input_with_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.jsonl");
    std::fs::write(&bad, "{\"index\": 0, \"sent_at\": 0.1}\nnot json\n").unwrap();
    let out = run_async(args!["report", bad.display(), "--quiet"]).await;
    assert_eq!(out.code, Some(1), "{}", out.all());
    let err = out.stderr.trim();
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.contains(&format!("{}:1", bad.display())), "{err}");

    let garbage = dir.path().join("garbage.json");
    std::fs::write(&garbage, "{\"a\": 1,\n oops}").unwrap();
    let out = run_async(args!["report", garbage.display()]).await;
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(
        out.stderr.contains(&format!("{}:2", garbage.display())),
        "{}",
        out.stderr
    );

    let missing = dir.path().join("missing.json");
    let out = run_async(args!["report", missing.display()]).await;
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(out.stderr.contains("missing.json"), "{}", out.stderr);
}

/// A scenario's task mix: the per-task and per-model figures appear in
/// every output that has the run — HTML, CSV (task and model columns),
/// Markdown, `inferload report` (of the document and of the records) and
/// `inferload show`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_task_and_per_model_figures_reach_every_output() {
    let mut cfg = SimConfig::fixed(Duration::from_millis(5), Duration::from_millis(1));
    cfg.models = vec!["model-a".into(), "model-b".into()];
    let sim = start_sim(cfg).await;
    let dir = tempfile::tempdir().unwrap();
    let d = |name: &str| dir.path().join(name);
    std::fs::write(
        d("mix.toml"),
        format!(
            r#"[target]
url = "{url}"
[load]
concurrency = 4
requests = 40
[workload]
output_len = 4

[[task]]
name = "qa"
model = "model-a"
weight = 50
prompt = "What is TCP?"

[[task]]
name = "rewrite"
model = "model-b"
weight = 50
prompt = "Rewrite: the cat sat on the mat."
"#,
            url = sim.url()
        ),
    )
    .unwrap();
    let out = run_async(args![
        "run",
        "--scenario",
        d("mix.toml").display(),
        "--json",
        d("run.json").display(),
        "--records",
        d("run.jsonl").display(),
        "--html",
        d("run.html").display(),
        "--csv",
        d("run.csv").display(),
        "--markdown",
        d("run.md").display(),
        "--db",
        d("h.db").display(),
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    sim.shutdown().await;
    let labels = ["qa", "rewrite", "model-a", "model-b"];

    let html = std::fs::read_to_string(d("run.html")).unwrap();
    assert!(html.contains("<h3>Per task</h3>") && html.contains("<h3>Per model</h3>"));
    for l in labels {
        assert!(html.contains(&format!("<td class=\"l\">{l}</td>")), "{l} in the HTML");
    }

    let md = std::fs::read_to_string(d("run.md")).unwrap();
    assert!(md.contains("### Per task") && md.contains("### Per model"), "{md}");
    for l in labels {
        assert!(md.contains(&format!("| {l} |")), "{l} in\n{md}");
    }

    // The CSV's rows carry their task and model; together they count every request.
    let header = csv_header(&d("run.csv"));
    let (task, model) = (
        header.iter().position(|h| h == "task").expect("a task column"),
        header.iter().position(|h| h == "model").expect("a model column"),
    );
    let rows = csv_rows(&d("run.csv"));
    assert_eq!(rows.len(), 40);
    let qa = rows.iter().filter(|r| &r[task] == "qa").count();
    let rewrite = rows.iter().filter(|r| &r[task] == "rewrite").count();
    assert_eq!(qa + rewrite, 40);
    assert!(rows.iter().all(|r| (&r[task] == "qa") == (&r[model] == "model-a")));

    // `inferload report`, of the document and of the records file.
    for input in ["run.json", "run.jsonl"] {
        let again = run_async(args!["report", d(input).display()]).await;
        assert_eq!(again.code, Some(0), "{}", again.all());
        assert!(
            again.stdout.contains("Per task:") && again.stdout.contains("Per model:"),
            "{input}: {}",
            again.stdout
        );
        for l in labels {
            assert!(
                again.stdout.lines().any(|line| line.starts_with(&format!("  {l} "))),
                "a row for {l} in {input}: {}",
                again.stdout
            );
        }
    }

    // `inferload show` of the recorded run.
    let shown = run_async(args!["show", 1, "--db", d("h.db").display()]).await;
    assert_eq!(shown.code, Some(0), "{}", shown.all());
    for want in ["Per task:", "Per model:", "rewrite", "model-b"] {
        assert!(shown.stdout.contains(want), "{want} in\n{}", shown.stdout);
    }
}
