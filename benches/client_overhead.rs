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
    /// The kernel's part of `cpu_s` (rusage's system time).
    sys_s: f64,
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

    /// The kernel's part of [`Measured::cpu_per_k`].
    fn sys_per_k(&self) -> f64 {
        self.sys_s * 1e3 / (self.chunks_all / 1e3).max(1e-9)
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
    if let Some(i) = args.iter().position(|a| a == "--floor-client") {
        floor::client(&args[i + 1..]);
        return;
    }
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
        if s.key == "1k" {
            let m = measure_floor(s, pin);
            println!("\n== {} — floor (epoll + one recv per chunk, nothing parsed)", s.name);
            println!(
                "  client CPU:               {:.2} s over {:.2} s wall",
                m.cpu_s, m.wall_s
            );
            println!(
                "  client CPU per 1k chunks: {:.2} ms (kernel {:.2}, user {:.2})",
                m.cpu_per_k(),
                m.sys_per_k(),
                m.cpu_per_k() - m.sys_per_k()
            );
            results.push((s, "floor", m));
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
    if let (Some(a), Some(f)) = (find("1k", "this build"), find("1k", "floor")) {
        println!(
            "1,000 streams, this build against the floor: {:.2} / {:.2} ms per 1k chunks ({:.2} ms above it)",
            a.cpu_per_k(),
            f.cpu_per_k(),
            a.cpu_per_k() - f.cpu_per_k()
        );
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

    // Many streams, opt-in: `--only 50k` (4 shards of 12,500 streams, each
    // shard a process with its own simulator) and `--only 19k` (one
    // process, as many streams as this machine's file limit allows).
    for (key, total, shards) in [("50k", 50_000u64, 4u64), ("19k", 19_000, 1)] {
        if only.contains(&key) {
            many_streams(&this_build(), total, shards);
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
    println!(
        "  client CPU per 1k chunks: {:.2} ms (kernel {:.2}, user {:.2})",
        m.cpu_per_k(),
        m.sys_per_k(),
        m.cpu_per_k() - m.sys_per_k()
    );
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
        sys_s: tv(usage.ru_stime),
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

/// The floor client (see [`floor`]) over the scenario's connections and
/// requests (warm-up included), against its own simulator.
#[allow(clippy::zombie_processes)]
fn measure_floor(s: &Scenario, pin: bool) -> Measured {
    let (mut sim, addr) = start_sim(s, pin);
    let started = Instant::now();
    let mut client = Command::new(std::env::current_exe().expect("the benchmark's path"));
    if pin {
        pin_to(&mut client, 1);
    }
    let client = client
        .arg("--floor-client")
        .args([
            addr.clone(),
            s.concurrency.to_string(),
            (s.requests + s.warmup).to_string(),
            s.output_len.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn the floor client");
    let (code, usage) = wait4(&client, Duration::from_secs(600));
    let wall_s = started.elapsed().as_secs_f64();
    assert_eq!(code, 0, "the floor client exited with {code}");
    let truth: serde_json::Value = serde_json::from_str(&http_get(&addr, "/sim/stats")).expect("sim stats");
    let _ = sim.kill();
    let _ = sim.wait();
    let tokens = truth
        .pointer("/generation_tokens_total")
        .and_then(serde_json::Value::as_f64)
        .unwrap_or(f64::NAN);
    Measured {
        wall_s,
        cpu_s: tv(usage.ru_utime) + tv(usage.ru_stime),
        sys_s: tv(usage.ru_stime),
        max_rss_kib: usage.ru_maxrss,
        chunks: tokens,
        chunks_all: tokens,
        duration_s: wall_s,
        ttft_ms: f64::NAN,
        itl_ms: f64::NAN,
        truth_ttft_ms: f64::NAN,
        truth_itl_ms: f64::NAN,
        successful: 0,
    }
}

/// Long-lived streams for the many-stream runs: every stream stays open
/// about 19 s (TTFT 1 s, then 9 more tokens 2 s apart), so all of them are
/// in flight at once while they cost little CPU.
const MANY: Scenario = Scenario {
    key: "many",
    name: "many streams",
    concurrency: 0,
    requests: 0,
    output_len: 10,
    ttft_ms: 1000,
    itl_ms: 2000,
    warmup: 0,
};

/// `total` streams as `shards` processes (`run --shard K/N`), each against
/// its own simulator process on its own port, so that no process needs
/// more file descriptors than this machine allows one (its hard limit)
/// and no (address, port) pair more ephemeral ports than there are. Prints
/// each shard's peak resident memory, the memory per stream against a
/// 10-stream run of the same shape, and what the simulators saw in flight
/// at once.
#[allow(clippy::zombie_processes)]
fn many_streams(bin: &str, total: u64, shards: u64) {
    let per_shard = total / shards;
    println!(
        "\n== {total} streams: {shards} process(es) of {per_shard} streams, each against its own simulator \
         (TTFT {} ms, ITL {} ms, {} tokens)",
        MANY.ttft_ms, MANY.itl_ms, MANY.output_len
    );
    let (open_files, hard) = open_files();
    println!("  open-file limit of this process (inherited): {open_files} (hard {hard})");
    let dir = std::env::temp_dir().join(format!("inferload-bench-many-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let start = |streams: u64, shard: Option<(u64, u64)>, addr: &str, json: &std::path::Path| {
        let mut cmd = Command::new(bin);
        cmd.args([
            "run",
            "--url",
            &format!("http://{addr}"),
            "--quiet",
            "--show-samples",
            "0",
        ])
        .args(["-c", &streams.to_string(), "-n", &streams.to_string(), "--no-history"])
        .args(["--output-len", &MANY.output_len.to_string(), "--input-len", "32"])
        .args(["--timeout", "300s", "--json", &json.display().to_string()]);
        if let Some((k, n)) = shard {
            cmd.args(["--shard", &format!("{k}/{n}")]);
        }
        cmd.stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn client")
    };
    // The 10-stream baseline of the same shape.
    let (mut sim, addr) = start_sim(&MANY, false);
    let json = dir.join("base.json");
    let (code, base) = wait4(&start(10, None, &addr, &json), Duration::from_secs(600));
    assert_eq!(code, 0, "the 10-stream client exited with {code}");
    let _ = sim.kill();
    let _ = sim.wait();
    let base_kib = base.ru_maxrss;
    println!("  10 streams: peak RSS {:.1} MiB", base_kib as f64 / 1024.0);

    let sims: Vec<(Child, String)> = (0..shards).map(|_| start_sim(&MANY, false)).collect();
    let started = Instant::now();
    let clients: Vec<(Child, std::path::PathBuf)> = sims
        .iter()
        .enumerate()
        .map(|(k, (_, addr))| {
            let json = dir.join(format!("shard{k}.json"));
            let shard = (shards > 1).then_some((k as u64, shards));
            (start(total, shard, addr, &json), json)
        })
        .collect();
    let mut ok = 0u64;
    let mut failed = 0u64;
    let mut in_flight = 0u64;
    let mut per_stream = Vec::new();
    for (k, ((client, json), (sim, addr))) in clients.into_iter().zip(sims).enumerate() {
        let (code, usage) = wait4(&client, Duration::from_secs(900));
        let v: serde_json::Value = std::fs::read(&json)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        let truth: serde_json::Value = serde_json::from_str(&http_get(&addr, "/sim/stats")).expect("sim stats");
        let sim_kib = peak_rss_kib(sim.id());
        let mut sim = sim;
        let _ = sim.kill();
        let _ = sim.wait();
        let num = |v: &serde_json::Value, p: &str| v.pointer(p).and_then(serde_json::Value::as_u64).unwrap_or(0);
        let (s_ok, s_failed) = (num(&v, "/summary/successful"), num(&v, "/summary/failed"));
        let peak = num(&truth, "/peak_in_flight");
        let streams = if shards > 1 { total / shards } else { total };
        let kib = usage.ru_maxrss;
        let per = (kib - base_kib) as f64 / (streams - 10) as f64;
        per_stream.push(per);
        println!(
            "  process {k}: exit {code}, {s_ok} successful, {s_failed} failed; simulator peak in flight {peak}; \
             client peak RSS {:.1} MiB ({per:.1} KiB per stream over the 10-stream run), CPU {:.2} s; \
             simulator peak RSS {:.1} MiB",
            kib as f64 / 1024.0,
            tv(usage.ru_utime) + tv(usage.ru_stime),
            sim_kib as f64 / 1024.0
        );
        ok += s_ok;
        failed += s_failed;
        in_flight += peak;
    }
    println!(
        "  all: {ok} successful, {failed} failed of {total}; {in_flight} streams in flight at the simulators' peaks; \
         {:.0} s wall; resident memory per stream {:.1} KiB (mean of the processes)",
        started.elapsed().as_secs_f64(),
        per_stream.iter().sum::<f64>() / per_stream.len().max(1) as f64
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A process's peak resident set (`VmHWM`), KiB; 0 if unknown.
fn peak_rss_kib(pid: u32) -> i64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// This process's soft and hard open-file limits.
fn open_files() -> (u64, u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into a valid, owned struct.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    (lim.rlim_cur, lim.rlim_max)
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

/// The floor: what one streamed token costs a client that does nothing
/// but the unavoidable — one `recv` per network chunk on a non-blocking
/// socket woken by `epoll`, and a look at the chunk's last bytes for the
/// reply's end — with the same connections, requests and simulator as the
/// 1,000-stream scenario. Its CPU time is mostly the kernel's (the `recv`,
/// the ACK sent from inside it, the loopback delivery of that ACK,
/// `epoll_wait`), which no client on this machine can avoid while it reads
/// each token when it arrives. Run by the benchmark as a child process
/// (`--floor-client`), so its CPU time comes from `wait4` like inferload's.
mod floor {
    use std::io::Write;
    use std::net::TcpStream;
    use std::os::fd::AsRawFd;

    /// `--floor-client ADDR CONNECTIONS REQUESTS OUTPUT_LEN`: sends
    /// REQUESTS streamed chat requests over CONNECTIONS kept connections,
    /// each as soon as the connection's previous reply ended.
    pub fn client(args: &[String]) {
        let addr = &args[0];
        let conns: usize = args[1].parse().expect("connections");
        let requests: usize = args[2].parse().expect("requests");
        let output_len: usize = args[3].parse().expect("output length");
        let body = format!(
            r#"{{"model":"inferload-sim","messages":[{{"role":"user","content":"{}"}}],"max_tokens":{output_len},"stream":true,"stream_options":{{"include_usage":true}},"ignore_eos":true}}"#,
            "word ".repeat(32).trim_end()
        );
        let request = format!(
            "POST /v1/chat/completions HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\naccept: text/event-stream\r\ncontent-length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes();
        // SAFETY: plain epoll calls on descriptors this process owns.
        let ep = unsafe { libc::epoll_create1(0) };
        assert!(ep >= 0, "epoll_create1");
        let mut streams: Vec<TcpStream> = Vec::with_capacity(conns);
        // The last bytes seen on each connection, to find the end of a
        // chunked body (`0\r\n\r\n`) split across reads.
        let mut tails: Vec<[u8; 5]> = vec![[0; 5]; conns];
        let mut sent = 0;
        for i in 0..conns.min(requests) {
            let mut s = TcpStream::connect(addr.as_str()).expect("connect");
            s.set_nodelay(true).expect("nodelay");
            s.write_all(&request).expect("send");
            sent += 1;
            s.set_nonblocking(true).expect("nonblocking");
            let mut ev = libc::epoll_event {
                events: libc::EPOLLIN as u32,
                u64: i as u64,
            };
            // SAFETY: a valid epoll descriptor, socket and event.
            let r = unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, s.as_raw_fd(), &mut ev) };
            assert_eq!(r, 0, "epoll_ctl");
            streams.push(s);
        }
        let mut done = 0;
        let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
        let mut buf = vec![0u8; 16 * 1024];
        while done < requests {
            // SAFETY: `events` is a live buffer of its length.
            let n = unsafe { libc::epoll_wait(ep, events.as_mut_ptr(), events.len() as i32, 60_000) };
            assert!(n > 0, "no progress for 60 s");
            for ev in &events[..n as usize] {
                let i = ev.u64 as usize;
                let fd = streams[i].as_raw_fd();
                // SAFETY: reading into an owned buffer of its length.
                let got = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
                if got < 0 {
                    continue; // EAGAIN: a spurious wake-up.
                }
                assert!(got > 0, "the simulator closed a connection");
                let got = got as usize;
                let tail = &mut tails[i];
                let keep = got.min(5);
                tail.copy_within(keep.., 0);
                tail[5 - keep..].copy_from_slice(&buf[got - keep..got]);
                if tail == b"0\r\n\r\n" {
                    done += 1;
                    *tail = [0; 5];
                    if sent < requests {
                        sent += 1;
                        // A short request into an empty socket buffer:
                        // one non-blocking send takes it whole.
                        streams[i].write_all(&request).expect("send");
                    }
                }
            }
        }
    }
}
