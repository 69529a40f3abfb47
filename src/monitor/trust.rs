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
//! CPU, lag or late sends over their limit make the verdict `WARNING —
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
    if i.lag.samples > 0 && i.lag.p99_ms >= LAG_LIMIT_MS {
        issues.push(format!(
            "scheduling lag p99 {:.1} ms (max {:.1} ms)",
            i.lag.p99_ms, i.lag.max_ms
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
    }
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
    stop: CancellationToken,
    lag: tokio::task::JoinHandle<Lag>,
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
            stop,
            lag,
        }
    }

    /// Stops the probe and judges the phase.
    pub async fn finish(self, dispatch: DispatchStats, schedule: &ScheduleSpec) -> TrustVerdict {
        let wall = self.started.elapsed();
        let cpu_seconds = (process_cpu_seconds() - self.cpu0).max(0.0);
        self.stop.cancel();
        let lag = self.lag.await.unwrap_or_default();
        let workers = tokio::runtime::Handle::current().metrics().num_workers();
        let paced = matches!(schedule, ScheduleSpec::Open { rate, .. } if rate.is_finite());
        let cap = match schedule {
            ScheduleSpec::Open { cap, .. } => *cap,
            _ => None,
        };
        judge(&Inputs {
            cpu_seconds,
            wall,
            workers,
            lag,
            dispatch,
            paced,
            cap,
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
            .await;
        assert!(v.lag_samples >= 5, "{v:?}");
        assert_eq!(v.runtime_workers, 2);
    }
}
