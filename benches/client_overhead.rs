//! Client overhead benchmark: how much does inferload itself cost while it
//! measures, and how close are its figures to what the server really did?
//!
//! Run with `cargo bench --bench client_overhead` (add `-- --quick` for a
//! shorter pass, `-- --only 1k` for one scenario: `50`, `1k`, `10`, `10k`;
//! `-- --no-pin` to leave both processes free to use any core). With
//! `INFERLOAD_BIN=/path/to/copy` the binary under test (simulator and
//! client) is that copy of this build; with
//! `INFERLOAD_BASELINE_BIN=/path/to/older/inferload` every scenario also
//! runs that client against the same simulator, for ratios taken under the
//! same conditions. Each scenario starts `inferload sim` with the `fixed`
//! profile as its own process, runs `inferload run` against it as another
//! process, and reports:
//! - streamed content chunks per second the client sustained (the fixed
//!   profile sends one token per chunk),
//! - the client's CPU time (user + system, from `wait4`'s rusage) per 1,000
//!   chunks the simulator streamed to it (warm-up included, like the CPU
//!   time) and as a share of one core over the run's wall time,
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

/// The binary under test: this build, or a copy of it named by
/// `INFERLOAD_BIN` (so that a build running meanwhile cannot replace it).
fn this_build() -> String {
    std::env::var("INFERLOAD_BIN").unwrap_or_else(|_| BIN.to_string())
}

struct Scenario {
    /// Short name for `--only`.
    key: &'static str,
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

impl Scenario {
    /// Tokens per second the simulator offers when every stream is busy.
    fn offered(&self) -> f64 {
        let per_request_ms = self.ttft_ms as f64 + (self.output_len.saturating_sub(1) * self.itl_ms) as f64;
        self.concurrency as f64 * self.output_len as f64 * 1e3 / per_request_ms
    }
}

struct Measured {
    wall_s: f64,
    cpu_s: f64,
    max_rss_kib: i64,
    /// Tokens of the measured phase (the rate's numerator).
    chunks: f64,
    /// Tokens the simulator streamed to the client over the whole process
    /// (warm-up included): the CPU figure's denominator, since the CPU time
    /// covers the whole process too.
    chunks_all: f64,
    duration_s: f64,
    ttft_ms: f64,
    itl_ms: f64,
    truth_ttft_ms: f64,
    truth_itl_ms: f64,
    successful: u64,
}

impl Measured {
    fn cpu_per_k(&self) -> f64 {
        self.cpu_s * 1e3 / (self.chunks_all / 1e3).max(1e-9)
    }

    fn chunks_per_s(&self) -> f64 {
        self.chunks / self.duration_s
    }
}

/// The clients measured: this build, and the one named by
/// `INFERLOAD_BASELINE_BIN` (an older build) when set, run against the
/// same simulator build one after the other so their ratio is taken under
/// the same conditions.
fn clients() -> Vec<(&'static str, String)> {
    let mut v = vec![("this build", this_build())];
    if let Ok(old) = std::env::var("INFERLOAD_BASELINE_BIN") {
        v.push(("baseline", old));
    }
    v
}

fn main() {
    raise_fd_limit();
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick");
    let only: Vec<&str> = args
        .windows(2)
        .filter(|w| w[0] == "--only")
        .map(|w| w[1].as_str())
        .collect();
    let scale = if quick { 1 } else { 3 };
    // 50 warm streams: timing accuracy where nothing is saturated.
    let streams_50 = Scenario {
        key: "50",
        name: "50 streams, TTFT 50 ms, ITL 10 ms",
        concurrency: 50,
        requests: 50 * scale,
        output_len: 128,
        ttft_ms: 50,
        itl_ms: 10,
        warmup: 50,
    };
    // 1,000 warm streams, one token per chunk every 10 ms: about 97,000
    // tokens/s offered, the CPU-per-token and rate figure.
    let streams_1k = Scenario {
        key: "1k",
        name: "1,000 streams, TTFT 50 ms, ITL 10 ms",
        concurrency: 1000,
        requests: 1000 * (scale + 1),
        output_len: 128,
        ttft_ms: 50,
        itl_ms: 10,
        warmup: 1000,
    };
    let baseline = Scenario {
        key: "10",
        name: "10 streams (memory baseline)",
        concurrency: 10,
        requests: 10,
        output_len: 20,
        ttft_ms: 100,
        itl_ms: 200,
        warmup: 0,
    };
    let streams_10k = Scenario {
        key: "10k",
        name: "10,000 streams, ITL 200 ms",
        concurrency: 10_000,
        requests: 10_000,
        output_len: 20,
        ttft_ms: 100,
        itl_ms: 200,
        warmup: 0,
    };

    let pin = cores() >= 2 && !args.iter().any(|a| a == "--no-pin");
    println!(
        "inferload client overhead benchmark ({} cores{})",
        cores(),
        if pin {
            "; simulator pinned to CPU 0, client to CPU 1"
        } else {
            ""
        }
    );
    let wanted = |s: &Scenario| only.is_empty() || only.contains(&s.key);
    let mut results: Vec<(&Scenario, &str, Measured)> = Vec::new();
    for s in [&streams_50, &streams_1k, &baseline, &streams_10k] {
        if !wanted(s) {
            continue;
        }
        for (label, bin) in clients() {
            let m = measure(bin.as_str(), s, pin);
            report(s, label, &m);
            results.push((s, label, m));
        }
    }
    let find = |key: &str, label: &str| {
        results
            .iter()
            .find(|(s, l, _)| s.key == key && *l == label)
            .map(|r| &r.2)
    };

    if let (Some(a), Some(b)) = (find("1k", "this build"), find("1k", "baseline")) {
        println!("\n1,000 streams, this build against the baseline:");
        println!(
            "  CPU per 1k chunks: {:.2} / {:.2} ms = {:.2}x",
            a.cpu_per_k(),
            b.cpu_per_k(),
            a.cpu_per_k() / b.cpu_per_k()
        );
        println!("  chunks/s:          {:.0} / {:.0}", a.chunks_per_s(), b.chunks_per_s());
    }
    if let (Some(a), Some(b)) = (find("10k", "this build"), find("10k", "baseline")) {
        println!(
            "10,000 streams, peak RSS: {:.1} / {:.1} MiB",
            a.max_rss_kib as f64 / 1024.0,
            b.max_rss_kib as f64 / 1024.0
        );
    }
    for label in ["this build", "baseline"] {
        if let (Some(base), Some(b)) = (find("10", label), find("10k", label)) {
            let per_stream_kib =
                (b.max_rss_kib - base.max_rss_kib) as f64 / (streams_10k.concurrency - baseline.concurrency) as f64;
            println!("Resident memory per in-flight stream ({label}): {per_stream_kib:.1} KiB");
        }
    }

    println!("\nTargets (this build):");
    if let Some(a) = find("1k", "this build") {
        check(
            "1,000 streams sustain >= 95% of the offered token rate",
            a.chunks_per_s() >= 0.95 * streams_1k.offered(),
            format!("{:.0}/s of {:.0}/s offered", a.chunks_per_s(), streams_1k.offered()),
        );
        check(
            "CPU per 1,000 tokens at 1,000 streams <= 1.5 ms",
            a.cpu_per_k() <= 1.5,
            format!("{:.2} ms", a.cpu_per_k()),
        );
    }
    for key in ["50", "1k"] {
        if let Some(m) = find(key, "this build") {
            let ttft_gap = m.ttft_ms - m.truth_ttft_ms;
            let itl_gap = m.itl_ms - m.truth_itl_ms;
            check(
                &format!("{key} streams: mean TTFT and ITL within 1 ms of the truth"),
                ttft_gap.abs() < 1.0 && itl_gap.abs() < 1.0,
                format!("TTFT {ttft_gap:+.3} ms, ITL {itl_gap:+.3} ms"),
            );
        }
    }
    if let Some(b) = find("10k", "this build") {
        let rss_mb = b.max_rss_kib as f64 / 1024.0;
        check(
            "10,000 streams under 150 MB resident",
            rss_mb < 150.0,
            format!("{rss_mb:.0} MiB"),
        );
    }
}

fn check(what: &str, ok: bool, value: String) {
    println!("  [{}] {what}: {value}", if ok { "ok" } else { "MISSED" });
}

fn report(s: &Scenario, label: &str, m: &Measured) {
    println!(
        "\n== {} ({} requests, {} tokens each) — {label}",
        s.name, s.requests, s.output_len
    );
    println!("  successful requests:      {}", m.successful);
    println!(
        "  streamed chunks/s:        {:.0} ({:.1}% of {:.0} offered)",
        m.chunks_per_s(),
        100.0 * m.chunks_per_s() / s.offered(),
        s.offered()
    );
    println!(
        "  client CPU:               {:.2} s over {:.2} s wall = {:.2} cores",
        m.cpu_s,
        m.wall_s,
        m.cpu_s / m.wall_s
    );
    println!("  client CPU per 1k chunks: {:.2} ms", m.cpu_per_k());
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
fn measure(bin: &str, s: &Scenario, pin: bool) -> Measured {
    let (mut sim, addr) = start_sim(s, pin);
    let dir = std::env::temp_dir().join(format!("inferload-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let json = dir.join("run.json");
    let started = Instant::now();
    let mut client = Command::new(bin);
    if pin {
        pin_to(&mut client, 1);
    }
    let client = client
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
        chunks_all: num(&truth, "/generation_tokens_total"),
        duration_s: num(&v, "/summary/duration_s"),
        ttft_ms: num(&v, "/summary/ttft_ms/mean"),
        itl_ms: num(&v, "/summary/itl_ms/mean"),
        truth_ttft_ms: num(&truth, "/ttft_truth_ms/mean"),
        truth_itl_ms: num(&truth, "/itl_truth_ms/mean"),
        successful: num(&v, "/summary/successful") as u64,
    }
}

fn start_sim(s: &Scenario, pin: bool) -> (Child, String) {
    let mut sim = Command::new(this_build());
    if pin {
        pin_to(&mut sim, 0);
    }
    let mut sim = sim
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

/// Runs the child on one CPU only, so the simulator and the client do
/// not take each other's core.
fn pin_to(cmd: &mut Command, cpu: usize) {
    use std::os::unix::process::CommandExt;
    // SAFETY: sched_setaffinity on the child itself, between fork and exec,
    // with a zeroed and then filled cpu_set_t; no allocation.
    unsafe {
        cmd.pre_exec(move || {
            let mut set: libc::cpu_set_t = std::mem::zeroed();
            libc::CPU_SET(cpu, &mut set);
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
            Ok(())
        });
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
