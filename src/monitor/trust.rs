//! Can this result be trusted? The load generator judges itself: when the
//! client is the bottleneck, latencies include the client's own delays and
//! the offered load is not what was asked. Four signals, measured over the
//! measured phase:
//!
//! - **CPU**: this process's user + system CPU time (`getrusage`) over the
//!   wall time, against the runtime's worker threads. At or above
//!   [`CPU_LIMIT`] of them, responses wait for a thread to be read.
//! - **Scheduling lag**: a probe task asks to wake every [`PROBE_EVERY`] and
//!   records how late it woke (taken right after the wake-up, against the
//!   deadline it slept until). A p99 at or above [`LAG_LIMIT_MS`] means tasks
//!   — stream reads, sends — waited that long for the runtime.
//! - **Late sends** (open loop at a finite rate): how late the dispatcher
//!   handed each arrival off against its intended send time
//!   (`engine::DispatchStats`); more than [`LATE_SHARE_LIMIT`] of arrivals
//!   over `engine::LATE_SEND` late is a distorted schedule.
//! - **Cap waits** (open loop at a finite rate with a concurrency cap):
//!   arrivals that found every slot taken and waited; more than
//!   [`CAP_SHARE_LIMIT`] of them means the cap, not the rate, set the load.
//!
//! - **Starvation**: the lag is also weighed against the latencies the run
//!   reports. Each timestamp is taken when the request's task runs after its
//!   bytes arrived, so a mean lag of a few milliseconds moves a mean TTFT of
//!   50 ms by as much, although it is far below [`LAG_LIMIT_MS`] (a client
//!   sharing its core with CPU-bound processes reads 116 ms against a truth
//!   of 51 ms at a lag p99 of 25 ms). The mean lag, less half of the timer's
//!   1 ms tick that I/O wake-ups do not pay, is the estimate of that shift;
//!   over the figures' precision ([`PRECISION_MS`], or [`PRECISION_SHARE`]
//!   of the smallest mean latency, whichever is larger) it is a warning
//!   that says by how much. How long the process's threads waited on the
//!   kernel's run queue (`/proc/self/task/*/schedstat`) says whether other
//!   processes took the CPU.
//!
//! CPU, lag, starvation or late sends over their limit make the verdict `WARNING —
//! client-limited`: the load generator itself distorted the run. Cap waits
//! are not the client's fault but the user's own `--concurrency` cap: they
//! make the verdict `WARNING — offered load limited by --concurrency N`, with
//! the arrivals that waited and those never sent (`cap_unsent`, also saved
//! in the result). Each warning says what to change. `INFERLOAD_TEST_STALL_MS=N` (tests
//! only) makes a task busy-spin N ms at a time on the runtime, to produce a
//! client-limited run on purpose.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::engine::{DispatchStats, LATE_SEND};
use crate::schedule::ScheduleSpec;

/// Share of the worker threads' time the client may use.
pub const CPU_LIMIT: f64 = 0.90;
/// Scheduling-lag p99 at which the client counts as limited.
pub const LAG_LIMIT_MS: f64 = 50.0;
/// Share of open-loop arrivals that may leave late.
pub const LATE_SHARE_LIMIT: f64 = 0.05;
/// Share of open-loop arrivals that may wait for the concurrency cap.
pub const CAP_SHARE_LIMIT: f64 = 0.10;
/// The precision the latency figures claim, in absolute terms...
pub const PRECISION_MS: f64 = 1.0;
/// ...and as a share of the smallest mean latency reported.
pub const PRECISION_SHARE: f64 = 0.02;
/// Half of tokio's 1 ms timer tick: the probe's sleeps are rounded up to the
/// tick, I/O wake-ups are not, so this much of the probe's lag is the timer's.
const TIMER_ROUNDING_MS: f64 = 0.5;
/// Share of the time waiting for a CPU from which the advice names other
/// processes as the cause.
const STARVED_WAIT_PCT: f64 = 20.0;
/// How often the lag probe wakes.
pub const PROBE_EVERY: Duration = Duration::from_millis(10);
/// Shorter phases give too few CPU figures to judge by.
const MIN_WALL: Duration = Duration::from_millis(500);

/// The verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trust {
    Ok,
    Warning,
}

/// The verdict with its figures, as printed and saved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrustVerdict {
    pub verdict: Trust,
    /// The console line (`Result trust: OK …` or `Result trust: WARNING — client-limited: …`).
    pub line: String,
    /// Each signal over its limit, with its figure.
    pub issues: Vec<String>,
    /// What to change, when limited.
    pub advice: Option<String>,
    /// CPU cores this process used on average.
    pub client_cpu_cores: f64,
    pub runtime_workers: usize,
    /// `client_cpu_cores` over the worker threads, percent.
    pub client_cpu_pct: f64,
    pub lag_samples: u64,
    pub lag_mean_ms: f64,
    pub lag_p99_ms: f64,
    pub lag_max_ms: f64,
    /// Open-loop arrivals handed off, those that left late, the worst lateness.
    pub arrivals: u64,
    pub late_sends: u64,
    pub max_send_lateness_ms: f64,
    /// Open-loop arrivals that waited for the concurrency cap.
    pub cap_waits: u64,
    /// Of those, the arrivals never sent: the phase ended before a slot
    /// of the cap freed.
    #[serde(default)]
    pub cap_unsent: u64,
    /// The concurrency cap of an open-loop run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cap: Option<usize>,
    /// How far the load generator's own delays may have moved the mean
    /// latencies (ms): the mean scheduling lag less the timer's rounding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_shift_ms: Option<f64>,
    /// The precision the latency figures claim (ms), against which the
    /// shift is judged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub precision_ms: Option<f64>,
    /// Share of the runtime's worker time its threads spent runnable but
    /// waiting for a CPU (percent), where the kernel reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_wait_pct: Option<f64>,
}

impl TrustVerdict {
    pub fn is_ok(&self) -> bool {
        self.verdict == Trust::Ok
    }
}

/// Scheduling lag seen by the probe.
#[derive(Debug, Clone, Copy, Default)]
pub struct Lag {
    pub samples: u64,
    pub mean_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

/// The mean latencies the run reports (ms), against which the load
/// generator's own delays are weighed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Latencies {
    pub ttft_mean_ms: Option<f64>,
    pub itl_mean_ms: Option<f64>,
    pub e2e_mean_ms: Option<f64>,
}

impl Latencies {
    pub fn of(summary: &crate::stats::Summary) -> Self {
        Self {
            ttft_mean_ms: summary.ttft_ms.as_ref().map(|l| l.mean),
            itl_mean_ms: summary.itl_ms.as_ref().map(|l| l.mean),
            e2e_mean_ms: summary.e2e_ms.as_ref().map(|l| l.mean),
        }
    }

    /// The smallest mean reported, with its name.
    fn smallest(&self) -> Option<(&'static str, f64)> {
        [
            ("TTFT", self.ttft_mean_ms),
            ("ITL", self.itl_mean_ms),
            ("end-to-end latency", self.e2e_mean_ms),
        ]
        .into_iter()
        .filter_map(|(name, v)| v.filter(|v| *v > 0.0).map(|v| (name, v)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
    }
}

/// What the judgement reads.
#[derive(Debug, Clone, Copy)]
pub struct Inputs {
    pub cpu_seconds: f64,
    pub wall: Duration,
    pub workers: usize,
    pub lag: Lag,
    pub dispatch: DispatchStats,
    /// Open loop at a finite rate (late sends and cap waits apply).
    pub paced: bool,
    /// The open loop's concurrency cap (`--concurrency` with `--rate`).
    pub cap: Option<usize>,
    /// The run's mean latencies.
    pub latencies: Latencies,
    /// Time the process's threads waited for a CPU over the phase, seconds
    /// (`None` where the kernel does not say).
    pub cpu_wait_seconds: Option<f64>,
}

/// Judges the figures.
pub fn judge(i: &Inputs) -> TrustVerdict {
    let wall = i.wall.as_secs_f64().max(f64::MIN_POSITIVE);
    let workers = i.workers.max(1);
    let cores = i.cpu_seconds / wall;
    let cpu_pct = cores / workers as f64 * 100.0;
    let d = &i.dispatch;
    let mut issues = Vec::new();
    let threads = if workers == 1 { "thread" } else { "threads" };
    if i.wall >= MIN_WALL && cpu_pct >= CPU_LIMIT * 100.0 {
        issues.push(format!(
            "load generator CPU {cpu_pct:.0}% of {workers} worker {threads} ({cores:.2} cores)"
        ));
    }
    let cpu_wait_pct = i
        .cpu_wait_seconds
        .map(|w| (w / (wall * workers as f64) * 100.0).clamp(0.0, 100.0));
    let waited = cpu_wait_pct
        .filter(|p| *p >= 1.0)
        .map(|p| format!("; its threads waited for a CPU {p:.0}% of the time, taken by other processes"))
        .unwrap_or_default();
    let smallest = i.latencies.smallest();
    let precision = smallest.map_or(PRECISION_MS, |(_, v)| (v * PRECISION_SHARE).max(PRECISION_MS));
    let shift = (i.lag.samples > 0).then(|| (i.lag.mean_ms - TIMER_ROUNDING_MS).max(0.0));
    let starved = shift.filter(|s| *s > precision);
    if i.lag.samples > 0 && i.lag.p99_ms >= LAG_LIMIT_MS {
        issues.push(format!(
            "scheduling lag p99 {:.1} ms (max {:.1} ms){}",
            i.lag.p99_ms,
            i.lag.max_ms,
            if starved.is_some() { "" } else { waited.as_str() }
        ));
    }
    if let Some(s) = starved {
        let against = smallest
            .map(|(name, v)| format!(" against a mean {name} of {v:.1} ms"))
            .unwrap_or_default();
        issues.push(format!(
            "its own delays may have raised the reported latencies by about {s:.1} ms (scheduling lag mean {:.1} ms, p99 {:.1} ms), more than their precision of {precision:.1} ms{against}{waited}",
            i.lag.mean_ms, i.lag.p99_ms
        ));
    }
    if i.paced && d.arrivals > 0 {
        let late = d.late_sends as f64 / d.arrivals as f64;
        if late > LATE_SHARE_LIMIT {
            issues.push(format!(
                "{} of {} arrivals ({:.1}%) left more than {} ms after their intended time (worst {:.1} ms)",
                d.late_sends,
                d.arrivals,
                late * 100.0,
                LATE_SEND.as_millis(),
                d.max_lateness.as_secs_f64() * 1e3
            ));
        }
    }
    // The cap is the user's setting, not a limit of the load generator:
    // said apart, so "client-limited" keeps meaning CPU or scheduling lag.
    let cap_limited = (i.paced && d.arrivals > 0 && d.cap_waits as f64 / d.arrivals as f64 > CAP_SHARE_LIMIT).then(|| {
        let cap = i.cap.map(|c| format!(" {c}")).unwrap_or_default();
        let unsent = if d.cap_unsent > 0 {
            format!(", {} never sent", d.cap_unsent)
        } else {
            String::new()
        };
        format!(
            "offered load limited by --concurrency{cap}: {} of {} arrivals waited ({:.1}%) because the concurrency cap was full{unsent}",
            d.cap_waits,
            d.arrivals,
            d.cap_waits as f64 / d.arrivals as f64 * 100.0
        )
    });
    let client_limited = !issues.is_empty();
    let verdict = if client_limited || cap_limited.is_some() {
        Trust::Warning
    } else {
        Trust::Ok
    };
    let mut changes = Vec::new();
    if client_limited {
        if cpu_wait_pct.is_some_and(|p| p >= STARVED_WAIT_PCT) {
            changes.push("give the load generator a core of its own (stop or move the processes sharing it)");
        }
        changes.push(
            "fewer streams per process (split the load over several inferload processes), a lower rate, or more cores",
        );
    }
    if cap_limited.is_some() {
        changes.push("raise --concurrency (the cap) or lower --rate");
    }
    let advice = (!changes.is_empty()).then(|| changes.join("; "));
    let line = match verdict {
        Trust::Ok => {
            let mut s = format!(
                "Result trust: OK (load generator CPU {cpu_pct:.0}% of {workers} worker {threads}, scheduling lag p99 {:.1} ms",
                i.lag.p99_ms
            );
            if i.paced {
                s.push_str(&format!(", {} of {} sends late", d.late_sends, d.arrivals));
            }
            s.push(')');
            s
        }
        Trust::Warning => {
            let mut what = Vec::new();
            if client_limited {
                what.push(format!("client-limited: {}", issues.join("; ")));
            }
            if let Some(c) = &cap_limited {
                what.push(c.clone());
            }
            format!(
                "Result trust: WARNING — {}. Change: {}.",
                what.join("; "),
                advice.as_deref().unwrap_or_default()
            )
        }
    };
    issues.extend(cap_limited);
    TrustVerdict {
        verdict,
        line,
        issues,
        advice,
        client_cpu_cores: cores,
        runtime_workers: workers,
        client_cpu_pct: cpu_pct,
        lag_samples: i.lag.samples,
        lag_mean_ms: i.lag.mean_ms,
        lag_p99_ms: i.lag.p99_ms,
        lag_max_ms: i.lag.max_ms,
        arrivals: d.arrivals,
        late_sends: d.late_sends,
        max_send_lateness_ms: d.max_lateness.as_secs_f64() * 1e3,
        cap_waits: d.cap_waits,
        cap_unsent: d.cap_unsent,
        cap: i.cap,
        latency_shift_ms: shift,
        precision_ms: shift.map(|_| precision),
        cpu_wait_pct,
    }
}

/// Time this process's threads have spent runnable, waiting for a CPU,
/// per thread id, from `/proc/self/task/*/schedstat` (its second field,
/// `run_delay` in nanoseconds). Empty where the kernel has no schedstat.
fn run_queue_waits() -> std::collections::HashMap<u64, u64> {
    let mut waits = std::collections::HashMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return waits;
    };
    for task in tasks.flatten() {
        let Some(tid) = task.file_name().to_str().and_then(|t| t.parse::<u64>().ok()) else {
            continue;
        };
        let Ok(text) = std::fs::read_to_string(task.path().join("schedstat")) else {
            continue;
        };
        if let Some(ns) = text.split_whitespace().nth(1).and_then(|v| v.parse::<u64>().ok()) {
            waits.insert(tid, ns);
        }
    }
    waits
}

/// The wait accumulated since `before`, seconds: threads born since count
/// whole, threads gone since are lost (the runtime's workers live through
/// the phase).
fn run_queue_wait_since(before: &std::collections::HashMap<u64, u64>) -> Option<f64> {
    let now = run_queue_waits();
    if now.is_empty() {
        return None;
    }
    let ns: u64 = now
        .iter()
        .map(|(tid, ns)| ns.saturating_sub(before.get(tid).copied().unwrap_or(0)))
        .sum();
    Some(ns as f64 / 1e9)
}

/// This process's CPU time so far, user + system, in seconds: the one
/// source of the load generator's CPU, for the trust verdict and the
/// monitor's samples alike.
pub fn process_cpu_seconds() -> f64 {
    // SAFETY: getrusage on this process with a valid, owned struct.
    unsafe {
        let mut ru: libc::rusage = std::mem::zeroed();
        if libc::getrusage(libc::RUSAGE_SELF, &mut ru) != 0 {
            return 0.0;
        }
        let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
        tv(ru.ru_utime) + tv(ru.ru_stime)
    }
}

/// The measurements behind the verdict, running beside a measured phase.
pub struct Probe {
    started: Instant,
    cpu0: f64,
    waits0: std::collections::HashMap<u64, u64>,
    stop: CancellationToken,
    lag: tokio::task::JoinHandle<Lag>,
}

/// A stopped probe's figures, judged once the run's latencies are known.
#[derive(Debug, Clone, Copy)]
pub struct Readings(Inputs);

impl Readings {
    /// The load generator's CPU over the phase, in cores.
    pub fn client_cpu_cores(&self) -> f64 {
        self.0.cpu_seconds / self.0.wall.as_secs_f64().max(f64::MIN_POSITIVE)
    }

    /// Judges the phase against the latencies it measured.
    pub fn judge(self, latencies: Latencies) -> TrustVerdict {
        judge(&Inputs { latencies, ..self.0 })
    }
}

impl Probe {
    /// Starts the CPU clock and the lag probe (and the test-only stall).
    pub fn start() -> Self {
        let stop = CancellationToken::new();
        let token = stop.clone();
        let lag = tokio::spawn(async move {
            let mut h = hdrhistogram::Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3)
                .expect("static histogram bounds are valid");
            let mut sum = 0u128;
            let mut next = tokio::time::Instant::now() + PROBE_EVERY;
            loop {
                tokio::select! {
                    biased;
                    _ = token.cancelled() => break,
                    _ = tokio::time::sleep_until(next) => {}
                }
                let late = tokio::time::Instant::now().saturating_duration_since(next);
                let us = (late.as_micros() as u64).max(1);
                h.saturating_record(us);
                sum += u128::from(us);
                next = tokio::time::Instant::now() + PROBE_EVERY;
            }
            let n = h.len();
            if n == 0 {
                return Lag::default();
            }
            Lag {
                samples: n,
                mean_ms: sum as f64 / n as f64 / 1e3,
                p99_ms: crate::stats::quantile::hdr(&h, 0.99) as f64 / 1e3,
                max_ms: h.max() as f64 / 1e3,
            }
        });
        if let Some(ms) = std::env::var("INFERLOAD_TEST_STALL_MS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
        {
            let token = stop.clone();
            let spin = Duration::from_millis(ms);
            tokio::spawn(async move {
                while !token.is_cancelled() {
                    let t = Instant::now();
                    while t.elapsed() < spin {
                        std::hint::spin_loop();
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            });
        }
        Self {
            started: Instant::now(),
            cpu0: process_cpu_seconds(),
            waits0: run_queue_waits(),
            stop,
            lag,
        }
    }

    /// Stops the probe; [`Readings::judge`] gives the verdict.
    pub async fn finish(self, dispatch: DispatchStats, schedule: &ScheduleSpec) -> Readings {
        let wall = self.started.elapsed();
        let cpu_seconds = (process_cpu_seconds() - self.cpu0).max(0.0);
        let cpu_wait_seconds = run_queue_wait_since(&self.waits0);
        self.stop.cancel();
        let lag = self.lag.await.unwrap_or_default();
        let workers = tokio::runtime::Handle::current().metrics().num_workers();
        let paced = matches!(schedule, ScheduleSpec::Open { rate, .. } if rate.is_finite());
        let cap = match schedule {
            ScheduleSpec::Open { cap, .. } => *cap,
            _ => None,
        };
        Readings(Inputs {
            cpu_seconds,
            wall,
            workers,
            lag,
            dispatch,
            paced,
            cap,
            latencies: Latencies::default(),
            cpu_wait_seconds,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs() -> Inputs {
        Inputs {
            cpu_seconds: 0.2,
            wall: Duration::from_secs(2),
            workers: 2,
            lag: Lag {
                samples: 200,
                mean_ms: 0.2,
                p99_ms: 1.0,
                max_ms: 3.0,
            },
            dispatch: DispatchStats {
                arrivals: 100,
                late_sends: 1,
                max_lateness: Duration::from_millis(12),
                cap_waits: 0,
                cap_unsent: 0,
            },
            paced: true,
            cap: Some(2),
            latencies: Latencies {
                ttft_mean_ms: Some(51.0),
                itl_mean_ms: Some(10.0),
                e2e_mean_ms: Some(200.0),
            },
            cpu_wait_seconds: Some(0.01),
        }
    }

    #[test]
    fn a_quiet_client_is_trusted() {
        let v = judge(&inputs());
        assert!(v.is_ok(), "{v:?}");
        assert_eq!(
            v.line,
            "Result trust: OK (load generator CPU 5% of 2 worker threads, scheduling lag p99 1.0 ms, 1 of 100 sends late)"
        );
        assert!(v.advice.is_none());
    }

    #[test]
    fn each_signal_makes_a_warning_with_its_figure() {
        let mut i = inputs();
        i.cpu_seconds = 3.8;
        let v = judge(&i);
        assert!(!v.is_ok());
        assert!(
            v.line
                .starts_with("Result trust: WARNING — client-limited: load generator CPU 95% of 2 worker threads"),
            "{}",
            v.line
        );
        assert!(v.line.contains("fewer streams per process"), "{}", v.line);

        let mut i = inputs();
        i.lag.p99_ms = 80.0;
        assert!(judge(&i).issues[0].contains("scheduling lag p99 80.0 ms"));

        let mut i = inputs();
        i.dispatch.late_sends = 30;
        assert!(judge(&i).issues[0].contains("30 of 100 arrivals (30.0%) left more than 10 ms"));

        let mut i = inputs();
        i.dispatch.cap_waits = 50;
        let v = judge(&i);
        assert!(v.issues[0].contains("concurrency cap was full"));
        assert!(v.advice.unwrap().contains("raise --concurrency"));

        // Late sends and cap waits do not apply to closed loop or rate inf.
        i.paced = false;
        assert!(judge(&i).is_ok());
    }

    #[test]
    fn a_full_cap_is_the_offered_load_not_the_client() {
        let mut i = inputs();
        i.dispatch.arrivals = 321;
        i.dispatch.cap_waits = 307;
        i.dispatch.cap_unsent = 12;
        let v = judge(&i);
        assert!(!v.is_ok());
        assert!(
            v.line.starts_with(
                "Result trust: WARNING — offered load limited by --concurrency 2: 307 of 321 arrivals waited (95.6%)"
            ),
            "{}",
            v.line
        );
        assert!(v.line.contains("12 never sent"), "{}", v.line);
        assert!(!v.line.contains("client-limited"), "{}", v.line);
        assert!(!v.line.contains("more cores"), "{}", v.line);
        assert_eq!(v.cap_unsent, 12);
        assert_eq!(v.cap, Some(2));

        // Both at once: each named for what it is.
        i.lag.p99_ms = 80.0;
        let v = judge(&i);
        assert!(
            v.line.contains("client-limited: scheduling lag p99 80.0 ms"),
            "{}",
            v.line
        );
        assert!(v.line.contains("offered load limited by --concurrency 2"), "{}", v.line);
    }

    /// A client sharing its core with CPU-bound processes: a lag p99 far
    /// below the absolute limit, but a mean lag that moves a 51 ms TTFT by
    /// several milliseconds. Flagged, with by how much and why.
    #[test]
    fn a_starved_client_is_flagged_with_the_shift_it_may_have_caused() {
        let mut i = inputs();
        i.lag = Lag {
            samples: 300,
            mean_ms: 6.5,
            p99_ms: 25.0,
            max_ms: 31.0,
        };
        i.cpu_wait_seconds = Some(2.8); // of 2 s × 2 workers
        let v = judge(&i);
        assert!(!v.is_ok(), "{v:?}");
        assert!(
            v.line.contains(
                "client-limited: its own delays may have raised the reported latencies by about 6.0 ms (scheduling lag mean 6.5 ms, p99 25.0 ms), more than their precision of 1.0 ms against a mean ITL of 10.0 ms; its threads waited for a CPU 70% of the time"
            ),
            "{}",
            v.line
        );
        assert!(v.line.contains("a core of its own"), "{}", v.line);
        assert_eq!(v.latency_shift_ms, Some(6.0));
        assert_eq!(v.precision_ms, Some(1.0));
        assert_eq!(v.cpu_wait_pct, Some(70.0));
    }

    /// The same lag against latencies of seconds is within their precision
    /// (2 % of the smallest mean); a quiet lag is within 1 ms whatever the
    /// latencies.
    #[test]
    fn the_shift_is_weighed_against_the_latencies_measured() {
        let mut i = inputs();
        i.lag.mean_ms = 6.5;
        i.latencies = Latencies {
            ttft_mean_ms: Some(2_000.0),
            itl_mean_ms: None,
            e2e_mean_ms: Some(9_000.0),
        };
        let v = judge(&i);
        assert!(v.is_ok(), "{}", v.line);
        assert_eq!(v.precision_ms, Some(40.0));

        let mut i = inputs();
        i.lag.mean_ms = 1.2;
        assert!(judge(&i).is_ok());
        i.lag.mean_ms = 1.6;
        assert!(!judge(&i).is_ok());
        // No latency at all (nothing succeeded): the absolute precision.
        i.latencies = Latencies::default();
        assert!(
            judge(&i).issues[0].contains("more than their precision of 1.0 ms;")
                || judge(&i).issues[0].ends_with("more than their precision of 1.0 ms"),
            "{:?}",
            judge(&i).issues
        );
    }

    #[test]
    fn short_phases_are_not_judged_on_cpu() {
        let mut i = inputs();
        i.wall = Duration::from_millis(100);
        i.cpu_seconds = 0.2;
        assert!(judge(&i).is_ok());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_probe_measures_an_idle_runtime() {
        let p = Probe::start();
        tokio::time::sleep(Duration::from_millis(120)).await;
        let v = p
            .finish(DispatchStats::default(), &ScheduleSpec::Closed { concurrency: 1 })
            .await
            .judge(Latencies::default());
        assert!(v.lag_samples >= 5, "{v:?}");
        assert_eq!(v.runtime_workers, 2);
        if std::path::Path::new("/proc/self/task").exists() {
            assert!(v.cpu_wait_pct.is_some(), "{v:?}");
        }
    }
}
