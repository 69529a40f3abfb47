//! Client overhead benchmark: how much does inferload itself cost while it
//! measures, and how close are its figures to what the server really did?
//!
//! Run with `cargo bench --bench client_overhead` (add `-- --quick` for a
//! shorter pass). Each scenario starts `inferload sim` with the `fixed`
//! profile as its own process, runs `inferload run` against it as another
//! process, and reports:
//! - streamed content chunks per second the client sustained (the fixed
//!   profile sends one token per chunk),
//! - the client's CPU time (user + system, from `wait4`'s rusage) per 1,000
//!   chunks and as a share of one core over the run's wall time,
//! - the client's peak resident memory, and per in-flight stream against a
//!   10-stream baseline,
//! - mean TTFT and ITL as the client measured them minus the simulator's
//!   server-side truth (`/sim/stats`).
//!
//! Only loopback traffic; every run is bounded by its request count and a
//! wall-clock limit.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_inferload");

struct Scenario {
    name: &'static str,
    concurrency: u64,
    requests: u64,
    output_len: u64,
    ttft_ms: u64,
    itl_ms: u64,
    /// Warm-up requests: a full round opens every connection before the
    /// measured phase, so TTFT compares the same thing on both sides (the
    /// simulator's clock starts when a request reaches its handler, after
    /// any TCP handshake).
    warmup: u64,
}

struct Measured {
    wall_s: f64,
    cpu_s: f64,
    max_rss_kib: i64,
    chunks: f64,
    duration_s: f64,
    ttft_ms: f64,
    itl_ms: f64,
    truth_ttft_ms: f64,
    truth_itl_ms: f64,
    successful: u64,
}

fn main() {
    raise_fd_limit();
    let quick = std::env::args().any(|a| a == "--quick");
    let scale = if quick { 1 } else { 3 };
    // ITL 15 ms offers 66,700 tokens/s from 1,000 streams: more than the
    // 50,000/s target, so the figure shows what the client sustains rather
    // than what the server offers.
    let streams_1k = Scenario {
        name: "1,000 streams, ITL 15 ms",
        concurrency: 1000,
        requests: 1000 * scale,
        output_len: 200,
        ttft_ms: 50,
        itl_ms: 15,
        warmup: 1000,
    };
    let baseline = Scenario {
        name: "10 streams (memory baseline)",
        concurrency: 10,
        requests: 10,
        output_len: 20,
        ttft_ms: 100,
        itl_ms: 200,
        warmup: 0,
    };
    let streams_10k = Scenario {
        name: "10,000 streams, ITL 200 ms",
        concurrency: 10_000,
        requests: 10_000,
        output_len: 20,
        ttft_ms: 100,
        itl_ms: 200,
        warmup: 0,
    };

    println!("inferload client overhead benchmark ({} cores)", cores());
    let a = measure(&streams_1k);
    report(&streams_1k, &a);
    let base = measure(&baseline);
    report(&baseline, &base);
    let b = measure(&streams_10k);
    report(&streams_10k, &b);
    let per_stream_kib =
        (b.max_rss_kib - base.max_rss_kib) as f64 / (streams_10k.concurrency - baseline.concurrency) as f64;
    println!("\nResident memory per in-flight stream: {per_stream_kib:.1} KiB");
    println!("\nTargets:");
    let chunks_per_s = a.chunks / a.duration_s;
    let cores_used = a.cpu_s / a.wall_s;
    check(
        "1,000 streams at >= 50,000 tokens/s",
        chunks_per_s >= 50_000.0,
        format!("{chunks_per_s:.0}/s"),
    );
    check(
        "client under half a core at 1,000 streams",
        cores_used < 0.5,
        format!("{cores_used:.2} cores"),
    );
    let ttft_gap = a.ttft_ms - a.truth_ttft_ms;
    let itl_gap = a.itl_ms - a.truth_itl_ms;
    check(
        "mean TTFT within 1 ms of the truth",
        ttft_gap.abs() < 1.0,
        format!("{ttft_gap:+.3} ms"),
    );
    check(
        "mean ITL within 1 ms of the truth",
        itl_gap.abs() < 1.0,
        format!("{itl_gap:+.3} ms"),
    );
    let rss_mb = b.max_rss_kib as f64 / 1024.0;
    check(
        "10,000 streams under 300 MB resident",
        rss_mb < 300.0,
        format!("{rss_mb:.0} MiB"),
    );
}

fn check(what: &str, ok: bool, value: String) {
    println!("  [{}] {what}: {value}", if ok { "ok" } else { "MISSED" });
}

fn report(s: &Scenario, m: &Measured) {
    let per_k = m.cpu_s * 1e3 / (m.chunks / 1e3).max(1e-9);
    println!(
        "\n== {} ({} requests, {} tokens each)",
        s.name, s.requests, s.output_len
    );
    println!("  successful requests:      {}", m.successful);
    println!("  streamed chunks/s:        {:.0}", m.chunks / m.duration_s);
    println!(
        "  client CPU:               {:.2} s over {:.2} s wall = {:.2} cores",
        m.cpu_s,
        m.wall_s,
        m.cpu_s / m.wall_s
    );
    println!("  client CPU per 1k chunks: {per_k:.2} ms");
    println!("  client peak RSS:          {:.1} MiB", m.max_rss_kib as f64 / 1024.0);
    println!(
        "  mean TTFT client/server:  {:.3} / {:.3} ms (gap {:+.3} ms)",
        m.ttft_ms,
        m.truth_ttft_ms,
        m.ttft_ms - m.truth_ttft_ms
    );
    println!(
        "  mean ITL client/server:   {:.3} / {:.3} ms (gap {:+.3} ms)",
        m.itl_ms,
        m.truth_itl_ms,
        m.itl_ms - m.truth_itl_ms
    );
}

// The client is reaped by `wait4`, which also hands back its rusage.
#[allow(clippy::zombie_processes)]
fn measure(s: &Scenario) -> Measured {
    let (mut sim, addr) = start_sim(s);
    let dir = std::env::temp_dir().join(format!("inferload-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let json = dir.join("run.json");
    let started = Instant::now();
    let client = Command::new(BIN)
        .args([
            "run",
            "--url",
            &format!("http://{addr}"),
            "--quiet",
            "--show-samples",
            "0",
        ])
        .args(["-c", &s.concurrency.to_string(), "-n", &s.requests.to_string()])
        .args(["--warmup", &s.warmup.to_string(), "--no-history"])
        .args([
            "--output-len",
            &s.output_len.to_string(),
            "--input-len",
            "32",
            "--timeout",
            "120s",
        ])
        .args(["--json", &json.display().to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn client");
    let (code, usage) = wait4(&client, Duration::from_secs(600));
    let wall_s = started.elapsed().as_secs_f64();
    assert_eq!(code, 0, "client exited with {code}");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).expect("read json")).expect("parse json");
    let truth: serde_json::Value = serde_json::from_str(&http_get(&addr, "/sim/stats")).expect("sim stats");
    let _ = sim.kill();
    let _ = sim.wait();
    let _ = std::fs::remove_dir_all(&dir);
    let num = |v: &serde_json::Value, p: &str| v.pointer(p).and_then(serde_json::Value::as_f64).unwrap_or(f64::NAN);
    Measured {
        wall_s,
        cpu_s: tv(usage.ru_utime) + tv(usage.ru_stime),
        max_rss_kib: usage.ru_maxrss,
        chunks: num(&v, "/summary/total_output_tokens"),
        duration_s: num(&v, "/summary/duration_s"),
        ttft_ms: num(&v, "/summary/ttft_ms/mean"),
        itl_ms: num(&v, "/summary/itl_ms/mean"),
        truth_ttft_ms: num(&truth, "/ttft_truth_ms/mean"),
        truth_itl_ms: num(&truth, "/itl_truth_ms/mean"),
        successful: num(&v, "/summary/successful") as u64,
    }
}

fn start_sim(s: &Scenario) -> (Child, String) {
    let mut sim = Command::new(BIN)
        .args(["sim", "--port", "0", "--profile", "fixed"])
        .args([
            "--ttft",
            &format!("{}ms", s.ttft_ms),
            "--itl",
            &format!("{}ms", s.itl_ms),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn sim");
    let mut line = String::new();
    BufReader::new(sim.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("sim first line");
    let addr = line
        .trim()
        .rsplit("http://")
        .next()
        .expect("listening line")
        .to_string();
    (sim, addr)
}

/// A bare HTTP/1.0 GET, so the benchmark itself stays free of client stacks.
fn http_get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").expect("write");
    let mut resp = String::new();
    s.read_to_string(&mut resp).expect("read");
    resp.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default()
}

fn wait4(child: &Child, limit: Duration) -> (i32, libc::rusage) {
    let pid = child.id() as libc::pid_t;
    let start = Instant::now();
    loop {
        let mut status = 0;
        // SAFETY: an all-zero rusage is a valid value; wait4 fills it.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: pid is our own child; pointers are to live locals.
        let r = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
        if r == pid {
            return (libc::WEXITSTATUS(status), usage);
        }
        assert!(start.elapsed() < limit, "client did not finish within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn tv(t: libc::timeval) -> f64 {
    t.tv_sec as f64 + t.tv_usec as f64 / 1e6
}

fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit on our own process with a valid struct.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}
