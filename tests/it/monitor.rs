//! Watching the system under test: the simulator's /metrics scraped during
//! a run, GPU figures from a fake `nvidia-smi` (and one note without any),
//! StatsD packets and the Prometheus endpoint while a run goes, the trust
//! verdict both ways, and the sweep's resource stop rule.

use std::io::{BufRead, BufReader};
use std::net::UdpSocket;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use inferload::sim::BatchingProfile;
use serde_json::Value;

use crate::args;
use crate::common::*;

/// Runs the binary with extra environment variables, off the runtime.
async fn run_env(args: Vec<String>, env: Vec<(&'static str, String)>) -> Output {
    tokio::task::spawn_blocking(move || {
        let mut cmd = bin();
        cmd.args(&args);
        for (k, v) in env {
            cmd.env(k, v);
        }
        wait(cmd.spawn().expect("spawn inferload"), Duration::from_secs(60))
    })
    .await
    .expect("join")
}

/// A directory holding an executable `nvidia-smi` that prints `csv`.
fn fake_nvidia_smi(dir: &Path, csv: &str) {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join("nvidia-smi");
    std::fs::write(&path, format!("#!/bin/sh\ncat <<'EOF'\n{csv}EOF\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn series<'a>(doc: &'a Value, prefix: &str) -> Vec<&'a Value> {
    doc["monitor"]["series"]
        .as_array()
        .expect("monitor series")
        .iter()
        .filter(|s| s["name"].as_str().unwrap().starts_with(prefix))
        .collect()
}

fn fast() -> SimConfig {
    SimConfig::fixed(Duration::from_millis(5), Duration::from_millis(2))
}

/// The simulator's vLLM-named metrics, scraped by default from the target:
/// running, waiting and KV-cache series during the run, counters as rates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_targets_metrics_are_scraped_during_a_run() {
    let sim = start_sim(SimConfig::batching(BatchingProfile {
        max_num_seqs: 4,
        kv_cache_tokens: 100_000,
        prefill_per_token: Duration::ZERO,
        decode_base: Duration::from_millis(4),
        decode_per_seq: Duration::ZERO,
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "-c",
        8,
        "--duration",
        "1500ms",
        "--input-len",
        16,
        "--output-len",
        32,
        "--monitor-interval",
        "100ms",
        "--json",
        json.display(),
        "--quiet",
        "--no-history"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let v = read_json(&json);
    let url = format!("{}/metrics", sim.url());
    assert!(
        v["monitor"]["sources"].as_array().unwrap().iter().any(|s| s == &url),
        "{:#}",
        v["monitor"]["sources"]
    );
    let running = series(&v, "vllm:num_requests_running");
    assert_eq!(running.len(), 1);
    assert_eq!(running[0]["role"], "server_running");
    assert!(running[0]["points"].as_array().unwrap().len() >= 5);
    // 8 clients on 4 slots: 4 run, 4 wait.
    assert_eq!(v.pointer("/monitor/summary/server_running/peak").unwrap(), 4.0);
    assert!(
        v.pointer("/monitor/summary/server_waiting/peak")
            .unwrap()
            .as_f64()
            .unwrap()
            >= 1.0
    );
    let kv = series(&v, "vllm:kv_cache_usage_perc");
    assert_eq!(kv[0]["unit"], "percent");
    assert!(kv[0]["max"].as_f64().unwrap() > 0.0);
    // Counters become rates: tokens per second, about the run's own figure.
    let gen = series(&v, "vllm:generation_tokens_total");
    assert_eq!(gen[0]["unit"], "/s");
    let server_rate = gen[0]["max"].as_f64().unwrap();
    let client_rate = v.pointer("/summary/output_throughput").unwrap().as_f64().unwrap();
    assert!(
        server_rate > 0.5 * client_rate && server_rate < 3.0 * client_rate,
        "server {server_rate} tok/s, client {client_rate} tok/s"
    );
    // The host and the client itself.
    assert!(
        v.pointer("/monitor/summary/client_rss_bytes/peak")
            .unwrap()
            .as_f64()
            .unwrap()
            > 0.0
    );
    assert!(!series(&v, "host.cpu{core=").is_empty());
    for line in [
        "------------------ System under test -------------------",
        "Server requests running, mean / peak:",
        "Server queue (waiting), mean / peak:",
        "KV cache use, mean / peak:",
        "Load generator CPU, mean / peak:",
    ] {
        let line = line.trim_start_matches('-').trim_end_matches('-');
        assert!(out.stdout.contains(line), "{line}\n{}", out.stdout);
    }
}

/// `nvidia-smi` first on PATH (and NVML skipped): per-GPU figures in the
/// JSON and the console; `--scrape` replaces the default target scrape.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fake_nvidia_smi_gives_gpu_figures() {
    let sim = start_sim(fast()).await;
    let dir = tempfile::tempdir().unwrap();
    fake_nvidia_smi(
        dir.path(),
        "0, 87, 40960, 81920, 301.50, 66\n1, 43, 20480, 81920, [N/A], 55\n",
    );
    let json = dir.path().join("run.json");
    let path = format!("{}:/usr/bin:/bin", dir.path().display());
    let out = run_env(
        args![
            "run",
            "--url",
            sim.url(),
            "-n",
            30,
            "-c",
            2,
            "--monitor-interval",
            "100ms",
            "--scrape",
            format!("{}/metrics", sim.url()),
            "--json",
            json.display(),
            "--quiet",
            "--no-history"
        ],
        vec![("PATH", path), ("INFERLOAD_NO_NVML", "1".into())],
    )
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let v = read_json(&json);
    assert!(v["monitor"]["sources"]
        .as_array()
        .unwrap()
        .iter()
        .any(|s| s == "gpu (nvidia-smi)"));
    let s = &v["monitor"]["summary"];
    assert_eq!(s["gpus"], 2);
    // Mean over the two GPUs in every sample: (87 + 43) / 2.
    assert_eq!(s["gpu_util_pct"]["mean"], 65.0);
    assert_eq!(s["gpu_util_pct"]["peak"], 65.0);
    assert_eq!(s["gpu_memory_pct"]["peak"], 50.0);
    assert_eq!(s["gpu_memory_used_bytes"]["peak"], 60.0 * 1024.0 * 1024.0 * 1024.0);
    assert_eq!(series(&v, "gpu0.power")[0]["max"], 301.5);
    assert!(series(&v, "gpu1.power").is_empty(), "[N/A] is no value");
    for (label, value) in [
        ("GPU utilisation, mean / peak (2 GPUs):", "65.0% / 65.0%"),
        ("GPU memory, peak:", "50.0% (60.0 GiB)"),
    ] {
        let line = format!("{label:<40} {value}\n");
        assert!(out.stdout.contains(&line), "{line}\n{}", out.stdout);
    }
    assert!(!out.stdout.contains("GPU use is not measured"), "{}", out.stdout);
}

/// No NVML and no nvidia-smi: one note, and the run succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_gpu_the_run_says_so_once_and_succeeds() {
    let sim = start_sim(fast()).await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let out = run_env(
        args![
            "run",
            "--url",
            sim.url(),
            "-n",
            20,
            "--json",
            json.display(),
            "--quiet",
            "--no-history"
        ],
        vec![
            ("PATH", dir.path().display().to_string()),
            ("INFERLOAD_NO_NVML", "1".into()),
        ],
    )
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert_eq!(out.all().matches("GPU use is not measured").count(), 1, "{}", out.all());
    let v = read_json(&json);
    assert!(v["monitor"]["notes"][0]
        .as_str()
        .unwrap()
        .contains("no nvidia-smi on PATH"));
    assert!(v.pointer("/monitor/summary/gpu_util_pct").unwrap().is_null());
    assert_eq!(v.pointer("/summary/successful").unwrap(), 20);
}

/// Every documented StatsD name arrives on a UDP socket, with the prefix,
/// and the counts add up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statsd_packets_carry_the_documented_names() {
    let mut cfg = fast();
    cfg.error_rate = 0.3;
    cfg.seed = 7;
    let sim = start_sim(cfg).await;
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
    let addr = socket.local_addr().unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let receiver = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut lines = Vec::new();
            let mut buf = [0u8; 65536];
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                match socket.recv(&mut buf) {
                    Ok(n) => lines.extend(String::from_utf8_lossy(&buf[..n]).lines().map(String::from)),
                    // Read on until the run is over and the socket is quiet.
                    Err(_) if done.load(Ordering::SeqCst) || Instant::now() > deadline => break,
                    Err(_) => {}
                }
            }
            lines
        })
    };
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "-n",
        40,
        "-c",
        4,
        "--statsd",
        addr,
        "--statsd-prefix",
        "lt",
        "--no-monitor",
        "--quiet",
        "--no-history"
    ])
    .await;
    done.store(true, Ordering::SeqCst);
    let lines = receiver.join().unwrap();
    assert_eq!(out.code, Some(0), "{}", out.all());
    let count = |name: &str| -> u64 {
        lines
            .iter()
            .filter_map(|l| l.strip_prefix(&format!("{name}:")))
            .map(|v| {
                v.strip_suffix("|c")
                    .unwrap_or_else(|| panic!("{name}: {v}"))
                    .parse::<u64>()
                    .unwrap()
            })
            .sum()
    };
    assert_eq!(count("lt.requests.total"), 40, "{lines:#?}");
    assert_eq!(count("lt.requests.model.inferload-sim"), 40);
    let errors = count("lt.requests.errors.http_500");
    assert!(errors > 0 && errors < 40, "{errors}");
    let ok = 40 - errors;
    assert_eq!(
        count("lt.requests.model.inferload-sim.input_tokens"),
        ok * 256,
        "input tokens of the successful requests"
    );
    assert_eq!(count("lt.requests.model.inferload-sim.output_tokens"), ok * 128);
    for timer in ["lt.request.latency:", "lt.request.ttft:"] {
        let n = lines
            .iter()
            .filter(|l| l.starts_with(timer) && l.ends_with("|ms"))
            .count() as u64;
        assert_eq!(n, ok, "{timer}");
    }
}

/// `--prometheus-listen 127.0.0.1:0` prints where it serves; a scrape
/// during the run sees requests, histograms and in-flight requests.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_prometheus_endpoint_is_scraped_during_a_run() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(20), Duration::from_millis(20))).await;
    let mut child = bin()
        .args([
            "run",
            "--url",
            &sim.url(),
            "-c",
            "3",
            "--duration",
            "4s",
            "--output-len",
            "10",
            "--prometheus-listen",
            "127.0.0.1:0",
            "--no-monitor",
            "--quiet",
            "--no-history",
        ])
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let url = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(100)) {
                if let Some(u) = line.strip_prefix("Live metrics for Prometheus at ") {
                    return Some(u.to_string());
                }
            }
        }
        None
    })
    .await
    .unwrap()
    .expect("the endpoint's address is printed");
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/metrics"),
        "{url}"
    );
    let client = http_client().build().expect("client");
    let deadline = Instant::now() + Duration::from_secs(20);
    let text = loop {
        assert!(Instant::now() < deadline, "no successful request seen on {url}");
        if let Ok(r) = client.get(&url).send().await {
            let text = r.text().await.unwrap();
            if text.contains("inferload_requests_total{outcome=\"success\"}") {
                break text;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(text.contains("inferload_requests_in_flight "), "{text}");
    assert!(text.contains("inferload_request_latency_seconds_bucket{le="), "{text}");
    assert!(text.contains("inferload_ttft_seconds_count "), "{text}");
    assert!(text.contains("inferload_output_tokens_total "), "{text}");
    let out = tokio::task::spawn_blocking(move || wait(child, Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(out.code, Some(0), "{}", out.all());
}

/// A comparison serves one live endpoint for all its strategies: the
/// listener belongs to the process, not to each strategy's session (which
/// made the second strategy fail to bind the same address).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_comparison_serves_one_prometheus_endpoint() {
    let a = start_sim(fast()).await;
    let b = start_sim(fast()).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let out = run_async(args![
        "compare",
        format!("a={}", a.url()),
        format!("b={}", b.url()),
        "-n",
        10,
        "--output-len",
        8,
        "--prometheus-listen",
        addr,
        "--no-monitor",
        "--quiet"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let served = out.stdout.matches("Live metrics for Prometheus at ").count();
    assert_eq!(served, 1, "{}", out.stdout);
    assert_eq!(a.stats().requests_total + b.stats().requests_total, 20);
}

/// A normal run is trusted; the verdict is in the console and the JSON.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_normal_run_is_trusted() {
    let sim = start_sim(fast()).await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "--rate",
        50,
        "-n",
        50,
        "--output-len",
        16,
        "--json",
        json.display(),
        "--quiet",
        "--no-history"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(out.stdout.contains("\nResult trust: OK ("), "{}", out.stdout);
    let v = read_json(&json);
    assert_eq!(v["trust"]["verdict"], "ok");
    assert_eq!(v["trust"]["arrivals"], 50);
    assert!(v["trust"]["lag_samples"].as_u64().unwrap() > 10);
    assert!(v["trust"]["advice"].is_null());
    assert!(
        v["trust"]["latency_shift_ms"].as_f64().unwrap() <= v["trust"]["precision_ms"].as_f64().unwrap(),
        "{:#}",
        v["trust"]
    );
}

/// One worker thread kept busy on purpose (the test-only stall): the run is
/// flagged client-limited, with the figures and what to change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_limited_run_is_flagged() {
    let sim = start_sim(fast()).await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let out = run_env(
        args![
            "run",
            "--url",
            sim.url(),
            "-c",
            4,
            "--duration",
            "2s",
            "--output-len",
            16,
            "--json",
            json.display(),
            "--quiet",
            "--no-history"
        ],
        vec![
            ("TOKIO_WORKER_THREADS", "1".into()),
            ("INFERLOAD_TEST_STALL_MS", "100".into()),
        ],
    )
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(
        out.stdout.contains("\nResult trust: WARNING — client-limited: "),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("fewer streams per process"), "{}", out.stdout);
    let v = read_json(&json);
    assert_eq!(v["trust"]["verdict"], "warning");
    assert_eq!(v["trust"]["runtime_workers"], 1);
    assert!(v["trust"]["lag_p99_ms"].as_f64().unwrap() >= 50.0, "{:#}", v["trust"]);
}

/// Pins the calling thread (or, in `pre_exec`, the child process) to `cpu`.
fn pin_to(cpu: usize) -> std::io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET writes within it.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// The last CPU this process may run on.
fn last_cpu() -> usize {
    // SAFETY: sched_getaffinity fills the zeroed set it is given.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set);
        (0..libc::CPU_SETSIZE as usize)
            .rev()
            .find(|c| libc::CPU_ISSET(*c, &set))
            .unwrap_or(0)
    }
}

/// Busy threads pinned to one CPU until dropped (and at most 90 s).
struct Hogs(Arc<AtomicBool>, Vec<std::thread::JoinHandle<()>>);

impl Hogs {
    fn on(cpu: usize, n: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..n)
            .map(|_| {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    pin_to(cpu).expect("pin a hog");
                    let start = Instant::now();
                    while !stop.load(Ordering::Relaxed) && start.elapsed() < Duration::from_secs(90) {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        Self(stop, threads)
    }
}

impl Drop for Hogs {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
        for t in self.1.drain(..) {
            let _ = t.join();
        }
    }
}

/// The load generator shares its one core with three CPU-bound threads
/// (as under `taskset` beside other work) while 200 streams ask for more
/// of that core than it gets: every timestamp is taken milliseconds late.
/// The verdict must say so, and by how much, not "OK".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_starved_client_is_flagged_with_the_shift() {
    use std::os::unix::process::CommandExt;
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(50), Duration::from_millis(5))).await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let cpu = last_cpu();
    let hogs = Hogs::on(cpu, 3);
    let mut cmd = bin();
    cmd.args([
        "run",
        "--url",
        &sim.url(),
        "-c",
        "200",
        "--duration",
        "3s",
        "--output-len",
        "64",
        "--json",
        &json.display().to_string(),
        "--quiet",
        "--no-history",
    ]);
    // SAFETY: sched_setaffinity is async-signal-safe; nothing else runs
    // between fork and exec.
    unsafe {
        cmd.pre_exec(move || pin_to(cpu));
    }
    let out = tokio::task::spawn_blocking(move || wait(cmd.spawn().expect("spawn inferload"), Duration::from_secs(60)))
        .await
        .unwrap();
    drop(hogs);
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(
        out.stdout.contains("\nResult trust: WARNING — client-limited: ")
            && out
                .stdout
                .contains("its own delays may have raised the reported latencies by about"),
        "{}",
        out.stdout
    );
    let t = &read_json(&json)["trust"];
    assert_eq!(t["verdict"], "warning");
    let shift = t["latency_shift_ms"].as_f64().unwrap();
    assert!(shift > t["precision_ms"].as_f64().unwrap(), "{t:#}");
    // The hogs are another process: the kernel shares the core between
    // the two, so the client waits a good part of the time, not most of it.
    assert!(t["cpu_wait_pct"].as_f64().unwrap() > 5.0, "{t:#}");
}

/// `--rate 20 -c 2` against a server that takes about 200 ms a request:
/// the user's cap, not the load generator, limits the offered load. The
/// trust line says so with the arrivals that waited, and the arrivals never
/// sent are counted in the result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_cap_is_named_as_the_limit_not_the_client() {
    let sim = start_sim(SimConfig::fixed(Duration::from_millis(5), Duration::from_millis(20))).await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "--rate",
        20,
        "-c",
        2,
        "--duration",
        "2s",
        "--output-len",
        10,
        "--json",
        json.display(),
        "--quiet",
        "--no-history"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    assert!(
        out.stdout.contains("offered load limited by --concurrency 2: "),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("raise --concurrency"), "{}", out.stdout);
    let v = read_json(&json);
    let t = &v["trust"];
    assert_eq!(t["verdict"], "warning");
    assert_eq!(t["cap"], 2);
    assert!(t["cap_waits"].as_u64().unwrap() > 4, "{t:#}");
    assert!(t["cap_unsent"].as_u64().unwrap() > 0, "{t:#}");
    // "client-limited" only for the client's own signals (CPU, lag,
    // starvation, late sends), which a loaded machine may raise; never for
    // the full cap, which is the user's setting.
    let client = t["line"].as_str().unwrap().contains("client-limited");
    let issues: Vec<&str> = t["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap())
        .collect();
    let (cap, own): (Vec<&str>, Vec<&str>) = issues
        .iter()
        .partition(|i| i.starts_with("offered load limited by --concurrency 2"));
    assert_eq!(cap.len(), 1, "{t:#}");
    assert_eq!(client, !own.is_empty(), "{t:#}");
}

/// A run too short for the monitor's samples to show the load generator's
/// CPU: its figure is the trust verdict's, from one source.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_very_short_run_reports_one_client_cpu() {
    let sim = start_sim(fast()).await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("run.json");
    let out = run_async(args![
        "run",
        "--url",
        sim.url(),
        "-n",
        4,
        "--output-len",
        2,
        "--json",
        json.display(),
        "--quiet",
        "--no-history"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let v = read_json(&json);
    let cores = v["trust"]["client_cpu_cores"].as_f64().unwrap();
    assert!(cores > 0.0, "{:#}", v["trust"]);
    let monitored = v["monitor"]["summary"]["client_cpu_pct"]["mean"]
        .as_f64()
        .unwrap_or_else(|| panic!("{:#}", v["monitor"]["summary"]));
    assert!(
        (monitored - cores * 100.0).abs() < 1e-9,
        "monitor {monitored}% of a core, trust {cores} cores"
    );
}

/// A KV cache of 4 requests: concurrency 1 and 2 fill a quarter and a half
/// of it, 8 fills it — the resource rule stops the sweep there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_sweep_stops_when_the_kv_cache_is_full() {
    // Each request reserves 20 prompt + 20 output tokens.
    let sim = start_sim(SimConfig::batching(BatchingProfile {
        max_num_seqs: 64,
        kv_cache_tokens: 160,
        prefill_per_token: Duration::ZERO,
        decode_base: Duration::from_millis(5),
        decode_per_seq: Duration::ZERO,
    }))
    .await;
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("sweep.json");
    let out = run_async(args![
        "sweep",
        "--url",
        sim.url(),
        "--concurrency",
        "1,2,8",
        "--input-len",
        20,
        "--output-len",
        20,
        "--requests-per-level",
        24,
        "--min-gain",
        "off",
        "--monitor-interval",
        "50ms",
        "--json",
        json.display(),
        "--quiet",
        "--no-history"
    ])
    .await;
    assert_eq!(out.code, Some(0), "{}", out.all());
    let v = read_json(&json);
    let levels = v["levels"].as_array().unwrap();
    assert_eq!(levels.len(), 3, "{}", out.stdout);
    let kv: Vec<f64> = levels
        .iter()
        .map(|l| l.pointer("/monitor/kv_cache_pct/peak").unwrap().as_f64().unwrap())
        .collect();
    assert_eq!(kv, vec![25.0, 50.0, 100.0], "{}", out.stdout);
    assert_eq!(levels[2]["trip"]["rule"], "resource");
    assert_eq!(v["verdict"]["max_stable_concurrency"], 2);
    assert!(
        out.stdout
            .contains("Stopped at concurrency 8: KV-cache use peaked at 100.0%, at or above 99%."),
        "{}",
        out.stdout
    );
    // The per-level resource columns.
    assert!(out.stdout.contains("KV max"), "{}", out.stdout);
    assert!(out.stdout.contains("100.0%"), "{}", out.stdout);
}

/// Bad monitor flags fail before any traffic, naming the flag.
#[test]
fn bad_monitor_flags_name_the_flag() {
    for (flag, value, says) in [
        ("--statsd", "no-port", "--statsd `no-port` must be HOST:PORT"),
        (
            "--prometheus-listen",
            "localhost",
            "--prometheus-listen `localhost` must be IP:PORT",
        ),
        (
            "--scrape",
            "ftp://x/metrics",
            "--scrape `ftp://x/metrics` must be an http(s) URL",
        ),
        ("--monitor-interval", "1ms", "--monitor-interval must be at least 50ms"),
    ] {
        let out = run(&["run", "--url", "http://127.0.0.1:9", flag, value, "--no-history"]);
        assert_eq!(out.code, Some(1), "{flag}: {}", out.all());
        assert!(out.stderr.contains(says), "{flag}: {}", out.stderr);
    }
    let out = run(&[
        "run",
        "--no-monitor",
        "--scrape",
        "http://127.0.0.1:9/metrics",
        "--no-history",
    ]);
    assert_eq!(out.code, Some(1));
    assert!(out.stderr.contains("--no-monitor turns scraping off"), "{}", out.stderr);
}
