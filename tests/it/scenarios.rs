//! Integration tests: scenario files (a weighted two-model mix, errors that
//! name file, line and key), user-based load, and `inferload compare`
//! against simulators on loopback.

use std::time::Duration;

use serde_json::Value;

use crate::args;
use crate::common::*;

fn fast_sim(models: &[&str]) -> SimConfig {
    let mut c = SimConfig::fixed(Duration::from_millis(5), Duration::from_millis(2));
    c.models = models.iter().map(|m| m.to_string()).collect();
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_two_model_scenario_breaks_down_per_model_and_task() {
    let sim = start_sim(fast_sim(&["model-a", "model-b"])).await;
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("mix.toml");
    std::fs::write(
        &scenario,
        format!(
            r#"description = "two models, 50/50"
[target]
url = "{url}"
[load]
concurrency = 4
requests = 200
[workload]
output_len = 4
seed = 3

[[task]]
name = "qa"
model = "model-a"
weight = 50
prompts = ["What is TCP?", "Why is the sky blue?"]

[[task]]
name = "rewrite"
model = "model-b"
weight = 50
prompt = "Rewrite: the cat sat on the mat."
max_tokens = 6
params = {{ temperature = 0.7 }}
"#,
            url = sim.url()
        ),
    )
    .unwrap();
    let json = dir.path().join("run.json");
    let out = run_async(args![
        "run",
        "--scenario",
        scenario.display(),
        "--json",
        json.display(),
        "--no-history",
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(
        out.stdout.contains("Per model:") && out.stdout.contains("Per task:"),
        "{}",
        out.stdout
    );
    let v = read_json(&json);
    assert_eq!(schema_errors(&v), Vec::<String>::new());
    let total = v["summary"]["requests_total"].as_u64().unwrap();
    assert_eq!(total, 200);
    let by_model = v["breakdown"]["by_model"].as_array().unwrap();
    let labels: Vec<&str> = by_model.iter().map(|m| m["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["model-a", "model-b"]);
    let counts: Vec<u64> = by_model
        .iter()
        .map(|m| m["summary"]["requests_total"].as_u64().unwrap())
        .collect();
    assert_eq!(counts.iter().sum::<u64>(), total, "the models partition the requests");
    for c in &counts {
        // 200 fair coin flips: 100 ± 30 is more than four standard deviations.
        assert!((70..=130).contains(c), "{counts:?}");
    }
    let by_task = v["breakdown"]["by_task"].as_array().unwrap();
    assert_eq!(
        by_task
            .iter()
            .map(|t| t["summary"]["requests_total"].as_u64().unwrap())
            .sum::<u64>(),
        total
    );
    // Each task's own output limit reached the server (the simulator ends
    // a reply at a length up to max_tokens: 4 for qa, 6 for rewrite).
    let mean_out = |name: &str| {
        by_task.iter().find(|t| t["label"] == name).unwrap()["summary"]["mean_output_tokens"]
            .as_f64()
            .unwrap()
    };
    assert!(mean_out("qa") <= 4.0 && mean_out("rewrite") <= 6.0);
    assert!(
        mean_out("rewrite") > mean_out("qa") + 0.4,
        "{} vs {}",
        mean_out("rewrite"),
        mean_out("qa")
    );
    assert_eq!(v["settings"]["tasks"].as_array().unwrap().len(), 2);
    sim.shutdown().await;
}

#[test]
fn scenario_errors_name_the_file_line_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    for (body, needle) in [
        (
            "[load]\nrequests = 5\nconcurency = 4\n",
            ":3: load.concurency: unknown field",
        ),
        ("[load]\nrequests = 5\nduration = \"soon\"\n", ":3: load.duration:"),
        (
            "[target]\nurl = \"http://127.0.0.1:9\"\n[[task]]\nmodel = \"a\"\ndataset = \"missing.jsonl\"\n",
            ":5: task[1].dataset: dataset file",
        ),
    ] {
        std::fs::write(&path, body).unwrap();
        let out = run(&["run", "--scenario", path.to_str().unwrap(), "--no-history"]);
        assert_eq!(out.code, Some(1), "{}", out.all());
        let want = format!("{}{needle}", path.display());
        assert!(out.stderr.contains(&want), "{} lacks {want}", out.stderr);
    }
    let out = run(&["run", "--scenario", dir.path().join("nope.toml").to_str().unwrap()]);
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr.contains("nope.toml") && out.stderr.contains("cannot read"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_users_ramp_up_think_and_repeat() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(20), Duration::from_millis(5))).await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("users.json");
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "--users",
        6,
        "--spawn-rate",
        3,
        "--think-time",
        "50ms..100ms",
        "--duration",
        "3s",
        "--output-len",
        8,
        "--json",
        json.display(),
        "--no-history",
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(out.stdout.contains("Users: peak 6"), "{}", out.stdout);
    let v = read_json(&json);
    assert_eq!(schema_errors(&v), Vec::<String>::new());
    assert_eq!(v["settings"]["schedule"]["mode"], "users");
    let users = &v["users"];
    assert_eq!(users["peak"], 6);
    assert_eq!(users["final"], 6);
    let series: Vec<(f64, u64)> = users["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p[0].as_f64().unwrap(), p[1].as_u64().unwrap()))
        .collect();
    // The ramp: 1, 2, … 6 users, about 1/3 s apart.
    let ramp: Vec<u64> = series.iter().take(6).map(|p| p.1).collect();
    assert_eq!(ramp, [1, 2, 3, 4, 5, 6], "{series:?}");
    assert!(
        series[5].0 > 1.5 && series[5].0 < 2.2,
        "the sixth user starts near 5/3 s: {series:?}"
    );
    // User k runs from k/3 s to 3 s: 13 user-seconds in all; each cycle is
    // a reply (measured) plus a think time of 75 ms on average.
    let e2e_s = v["summary"]["e2e_ms"]["mean"].as_f64().unwrap() / 1e3;
    let expected = 13.0 / (e2e_s + 0.075);
    let got = v["summary"]["requests_total"].as_f64().unwrap();
    assert!(
        got > 0.6 * expected && got < 1.25 * expected,
        "{got} requests, expected about {expected:.0}"
    );
    sim.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_picks_the_faster_simulator() {
    let slow = start_sim(SimConfig::fixed(Duration::from_millis(60), Duration::from_millis(15))).await;
    let fast = start_sim(SimConfig::fixed(Duration::from_millis(5), Duration::from_millis(2))).await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("compare.json");
    let plots = dir.path().join("plots");
    let html = dir.path().join("compare.html");
    let out = run_async(args![
        "compare",
        format!("slow={}", slow.url()),
        format!("fast={}", fast.url()),
        "--concurrency",
        2,
        "--requests",
        16,
        "--output-len",
        6,
        "--repeat",
        2,
        "--interleave",
        "--json",
        json.display(),
        "--plot",
        plots.display(),
        "--html",
        html.display(),
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(out.stdout.contains("Best strategy: fast\n"), "{}", out.stdout);
    assert!(out.stdout.contains("fast: throughput +"), "{}", out.stdout);
    let v = read_json(&json);
    assert_eq!(v["kind"], "compare");
    assert_eq!(v["best"]["name"], "fast");
    let s = v["strategies"].as_array().unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!(s[0]["runs"].as_array().unwrap().len(), 2, "two repeats each");
    assert!(s[1]["throughput_change_pct"].as_f64().unwrap() > 50.0, "{}", s[1]);
    assert!(s[1]["latency_change_pct"].as_f64().unwrap() < -50.0, "{}", s[1]);
    assert!(s[1]["score"].as_f64().unwrap() > s[0]["score"].as_f64().unwrap());
    for f in [
        "compare_radar.png",
        "compare_radar.svg",
        "compare_bars.png",
        "compare_bars.svg",
    ] {
        assert!(plots.join(f).metadata().unwrap().len() > 1000, "{f}");
    }
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("Best strategy: fast") && page.contains("chart-compare_radar"));
    // The saved document renders again.
    let again = run(&["report", json.to_str().unwrap()]);
    assert!(again.stdout.contains("Best strategy: fast"), "{}", again.all());
    slow.shutdown().await;
    fast.shutdown().await;
}

/// The serving strategies of an image service, compared as users of the
/// image tester compare them: one model behind a lock (baseline), a pool of
/// four replicas, batched prompts, and asynchronous submission.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compare_shows_what_image_serving_strategies_do() {
    let image = |workers: usize| {
        let mut c = SimConfig::default_loopback();
        c.image.workers = workers;
        c.image.step_time = Duration::from_millis(10);
        c.image.batch_efficiency = 0.5;
        c
    };
    let one = start_sim(image(1)).await;
    let four = start_sim(image(4)).await;
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("strategies.toml");
    std::fs::write(
        &scenario,
        format!(
            r#"[target]
api = "http"
[load]
concurrency = 4
requests = 12
[workload]
prompt = "a red fox in the snow"

[[strategy]]
name = "baseline"
url = "{one}/generate"

[[strategy]]
name = "pool"
url = "{four}/generate"

[[strategy]]
name = "batch"
url = "{one}/batch-generate"
body_template = '{{"prompts": [{{{{ prompt }}}}, {{{{ prompt }}}}, {{{{ prompt }}}}, {{{{ prompt }}}}], "num_inference_steps": {{{{ steps }}}}}}'

[[strategy]]
name = "async"
url = "{one}/async-generate"
api = "http-async"
"#,
            one = one.url(),
            four = four.url()
        ),
    )
    .unwrap();
    let json = dir.path().join("strategies.json");
    let out = run_async(args![
        "compare",
        "--scenario",
        scenario.display(),
        "--steps",
        10,
        "--json",
        json.display(),
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(out.stdout.contains("Best strategy: pool\n"), "{}", out.stdout);
    let v = read_json(&json);
    let s: Vec<&Value> = v["strategies"].as_array().unwrap().iter().collect();
    let by = |n: &str| *s.iter().find(|x| x["name"] == n).unwrap();
    let images = |n: &str| by(n)["images_per_s"].as_f64().unwrap();
    let (base, pool, batch) = (images("baseline"), images("pool"), images("batch"));
    // 100 ms an image. A pool of 4 at concurrency 4: about 4× the baseline.
    assert!((2.8..=4.5).contains(&(pool / base)), "pool {pool} vs baseline {base}");
    // Batches of 4 take 2.5 images' time: 1.6× the images, less than the pool.
    assert!(
        (1.25..=2.0).contains(&(batch / base)),
        "batch {batch} vs baseline {base}"
    );
    assert!(batch < pool);
    // Async: the client waits for the submit only, far less than a generation.
    let submit = by("async")["submit_mean_ms"].as_f64().unwrap();
    let base_latency = by("baseline")["latency_mean_ms"].as_f64().unwrap();
    assert!(
        submit < 0.2 * base_latency,
        "submit {submit} ms vs baseline {base_latency} ms"
    );
    assert!(by("pool")["throughput_change_pct"].as_f64().unwrap() > 180.0);
    one.shutdown().await;
    four.shutdown().await;
}
