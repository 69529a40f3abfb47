//! The dashboard's live state and the snapshot a frame is drawn from.
//!
//! [`LiveStats`] is fed by the collector, one event at a time, and must stay
//! cheap: a counter or two, an O(1) HDR histogram record, a per-second bucket.
//! The draw thread takes a [`Snapshot`] of it (percentiles, rates, histogram
//! bins, already computed) under the lock, then renders without holding it.
//!
//! Time here is the dashboard's own wall clock (`at`, elapsed since the view
//! opened, taken when the collector sees the event), not the records'
//! timestamps: throughput is "requests and tokens that finished in this
//! second", which is what the final summary averages over the run too.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::stats::quantile;

use crate::record::{ErrorClass, RequestRecord};

/// Seconds of per-second throughput kept (the sparkline's longest span).
const KEEP_SECONDS: usize = 300;
/// Seconds averaged for the "now" rates.
const RATE_WINDOW: u64 = 5;
/// Largest latency the histograms hold: one hour, in microseconds.
const MAX_US: u64 = 3_600_000_000;

/// Who asked the run to stop from the dashboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserStop {
    /// `q` or Ctrl-C once: no new requests, in-flight ones get the grace period.
    Interrupt,
    /// Pressed again: in-flight requests are cancelled now.
    Abort,
}

/// What the run is expected to do, for the progress gauge and the ETA.
#[derive(Debug, Clone, Default)]
pub struct Goal {
    pub requests: Option<u64>,
    pub duration: Option<Duration>,
    /// A load over time: the gauge says which stage runs and its target.
    pub profile: Option<std::sync::Arc<crate::schedule::stages::Profile>>,
}

impl Goal {
    /// `stage 2/3 · target 4 → 8 workers (now 5.2)` at `elapsed`.
    pub fn stage_text(&self, elapsed: Duration) -> Option<String> {
        let p = self.profile.as_ref()?;
        let t = elapsed.as_secs_f64();
        let windows = p.windows(self.duration.map_or(f64::INFINITY, |d| d.as_secs_f64()));
        let i = windows
            .iter()
            .position(|w| t < w.end_s)
            .unwrap_or(windows.len().saturating_sub(1));
        let w = windows.get(i)?;
        let unit = match p.kind() {
            "concurrency" => "workers",
            "users" => "users",
            _ => "req/s",
        };
        let now = match p.as_ref() {
            crate::schedule::stages::Profile::RampUp { over_s: None, .. } => String::new(),
            _ => format!(" (now {:.1})", w.at(t)),
        };
        Some(format!(
            "stage {}/{} · target {} → {} {unit}{now}",
            i + 1,
            windows.len(),
            w.from,
            w.to
        ))
    }
}

/// Counters and histograms of the measured phase so far.
pub struct LiveStats {
    pub goal: Goal,
    sent: u64,
    done: u64,
    failed: u64,
    output_tokens: u64,
    ttft_us: Histogram<u64>,
    e2e_us: Histogram<u64>,
    errors: BTreeMap<ErrorClass, u64>,
    /// Finished requests and output tokens per second; `first_second` is
    /// the second of the front entry.
    per_second: VecDeque<(u64, u64)>,
    first_second: u64,
    pub user_stop: Option<UserStop>,
}

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, 3).expect("valid HDR histogram bounds")
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).clamp(1, MAX_US)
}

impl LiveStats {
    pub fn new(goal: Goal) -> Self {
        Self {
            goal,
            sent: 0,
            done: 0,
            failed: 0,
            output_tokens: 0,
            ttft_us: histogram(),
            e2e_us: histogram(),
            errors: BTreeMap::new(),
            per_second: VecDeque::new(),
            first_second: 0,
            user_stop: None,
        }
    }

    pub fn on_sent(&mut self) {
        self.sent += 1;
    }

    /// A request ended, `at` after the view opened.
    pub fn on_finished(&mut self, rec: &RequestRecord, at: Duration) {
        self.done += 1;
        match &rec.error {
            Some(e) => {
                self.failed += 1;
                *self.errors.entry(e.class).or_default() += 1;
            }
            None => {
                self.output_tokens += rec.output_tokens;
                if let Some(t) = rec.ttft() {
                    self.ttft_us.saturating_record(micros(t));
                }
                if let Some(t) = rec.e2e() {
                    self.e2e_us.saturating_record(micros(t));
                }
            }
        }
        let tokens = if rec.succeeded() { rec.output_tokens } else { 0 };
        if let Some(slot) = self.bucket_mut(at.as_secs()) {
            slot.0 += 1;
            slot.1 += tokens;
        }
    }

    /// The bucket of `second`, opening buckets up to it and dropping the
    /// oldest beyond [`KEEP_SECONDS`]. `None` for a second already dropped.
    fn bucket_mut(&mut self, second: u64) -> Option<&mut (u64, u64)> {
        if second < self.first_second {
            return None;
        }
        let end = self.first_second + self.per_second.len() as u64;
        if second >= end {
            let missing = second - end + 1;
            if missing as usize >= KEEP_SECONDS {
                self.per_second.clear();
                self.first_second = second;
                self.per_second.push_back((0, 0));
            } else {
                self.per_second.resize(self.per_second.len() + missing as usize, (0, 0));
            }
            while self.per_second.len() > KEEP_SECONDS {
                self.per_second.pop_front();
                self.first_second += 1;
            }
        }
        let i = usize::try_from(second - self.first_second).ok()?;
        self.per_second.get_mut(i)
    }

    fn bucket(&self, second: u64) -> (u64, u64) {
        second
            .checked_sub(self.first_second)
            .and_then(|i| self.per_second.get(usize::try_from(i).ok()?))
            .copied()
            .unwrap_or_default()
    }

    /// Everything a frame shows, `elapsed` after the view opened, with at
    /// most `spark_len` seconds of sparkline and `bins` histogram bins.
    pub fn snapshot(&self, elapsed: Duration, spark_len: usize, bins: usize) -> Snapshot {
        let secs = elapsed.as_secs_f64().max(1e-9);
        let now = elapsed.as_secs();
        // The current second is partial: rates and the sparkline use the
        // complete seconds before it.
        let window = now.min(RATE_WINDOW);
        let (req_now, tok_now) = if window == 0 {
            (self.done as f64 / secs, self.output_tokens as f64 / secs)
        } else {
            let (r, t) = (now - window..now).fold((0, 0), |acc, s| {
                let b = self.bucket(s);
                (acc.0 + b.0, acc.1 + b.1)
            });
            (r as f64 / window as f64, t as f64 / window as f64)
        };
        let spark_from = now.saturating_sub(spark_len as u64);
        let mut errors: Vec<(String, u64)> = self.errors.iter().map(|(c, n)| (c.to_string(), *n)).collect();
        errors.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        Snapshot {
            elapsed,
            goal: self.goal.clone(),
            sent: self.sent,
            done: self.done,
            failed: self.failed,
            in_flight: self.sent.saturating_sub(self.done),
            req_rate_avg: self.done as f64 / secs,
            tok_rate_avg: self.output_tokens as f64 / secs,
            req_rate_now: req_now,
            tok_rate_now: tok_now,
            ttft: Percentiles::of(&self.ttft_us),
            e2e: Percentiles::of(&self.e2e_us),
            spark: (spark_from..now).map(|s| self.bucket(s).1).collect(),
            e2e_bins: latency_bins(&self.e2e_us, bins),
            errors,
            user_stop: self.user_stop,
        }
    }
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Percentiles {
    pub count: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub max: u64,
}

impl Percentiles {
    fn of(h: &Histogram<u64>) -> Option<Self> {
        (!h.is_empty()).then(|| Self {
            count: h.len(),
            mean: h.mean(),
            p50: quantile::hdr(h, 0.50),
            p90: quantile::hdr(h, 0.90),
            p99: quantile::hdr(h, 0.99),
            max: h.max(),
        })
    }
}

/// One bar of the latency histogram: requests from `from_us` up to the next
/// bin's start (the last bin also holds everything above the p99).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bin {
    pub from_us: u64,
    pub count: u64,
}

/// At most `bins` equal-width bins from the smallest value to the p99; the
/// tail beyond the p99 goes into the last bin so one outlier does not
/// flatten every other bar. Bin widths are round (1, 2 or 5 × 10ⁿ µs) and
/// never finer than the labels can tell apart (see [`fmt_us_short`]), so
/// a narrow spread gets fewer, distinct bars.
fn latency_bins(h: &Histogram<u64>, bins: usize) -> Vec<Bin> {
    if h.is_empty() || bins == 0 {
        return Vec::new();
    }
    let (lo, hi) = (h.min(), quantile::hdr(h, 0.99));
    let width = nice_width((hi - lo).div_ceil(bins as u64).max(label_resolution(hi)));
    let start = lo / width * width;
    let count = usize::try_from((hi - start) / width + 1).unwrap_or(bins).min(bins);
    let mut out: Vec<Bin> = (0..count as u64)
        .map(|i| Bin {
            from_us: start + i * width,
            count: 0,
        })
        .collect();
    for v in h.iter_recorded() {
        let i = usize::try_from(v.value_iterated_to().saturating_sub(start) / width)
            .unwrap_or(usize::MAX)
            .min(count - 1);
        out[i].count += v.count_at_value();
    }
    out
}

/// The smallest step [`fmt_us_short`] shows at this magnitude.
fn label_resolution(us: u64) -> u64 {
    match us {
        0..10_000 => 100,
        10_000..1_000_000 => 1_000,
        1_000_000..10_000_000 => 10_000,
        10_000_000..100_000_000 => 100_000,
        _ => 1_000_000,
    }
}

/// The smallest of 1, 2, 5 × 10ⁿ that is at least `w`.
fn nice_width(w: u64) -> u64 {
    let mut decade = 1u64;
    loop {
        for step in [1, 2, 5] {
            if let Some(v) = decade.checked_mul(step) {
                if v >= w {
                    return v;
                }
            } else {
                return w;
            }
        }
        decade = match decade.checked_mul(10) {
            Some(d) => d,
            None => return w,
        };
    }
}

/// One frame's worth of figures, computed under the lock.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub elapsed: Duration,
    pub goal: Goal,
    pub sent: u64,
    pub done: u64,
    pub failed: u64,
    pub in_flight: u64,
    pub req_rate_avg: f64,
    pub tok_rate_avg: f64,
    /// Over the last few complete seconds.
    pub req_rate_now: f64,
    pub tok_rate_now: f64,
    pub ttft: Option<Percentiles>,
    pub e2e: Option<Percentiles>,
    /// Output tokens finished in each of the last complete seconds, oldest first.
    pub spark: Vec<u64>,
    pub e2e_bins: Vec<Bin>,
    /// Error classes by count, largest first.
    pub errors: Vec<(String, u64)>,
    pub user_stop: Option<UserStop>,
}

impl Snapshot {
    /// How far the run is towards its stop condition (the nearer of a
    /// request count and a duration) and the time left, when known.
    pub fn progress(&self) -> Option<(f64, Option<Duration>)> {
        let by_count = self.goal.requests.map(|n| {
            let ratio = (self.done as f64 / n.max(1) as f64).min(1.0);
            let eta = (self.done > 0).then(|| {
                let left = n.saturating_sub(self.done) as f64;
                Duration::from_secs_f64(self.elapsed.as_secs_f64() * left / self.done as f64)
            });
            (ratio, eta)
        });
        let by_time = self.goal.duration.map(|d| {
            let ratio = (self.elapsed.as_secs_f64() / d.as_secs_f64().max(1e-9)).min(1.0);
            (ratio, Some(d.saturating_sub(self.elapsed)))
        });
        match (by_count, by_time) {
            (Some(c), Some(t)) => {
                let eta = match (c.1, t.1) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                Some((c.0.max(t.0), eta))
            }
            (c, t) => c.or(t),
        }
    }
}

/// `1.2 ms`, `340 ms`, `2.35 s`: latency at a glance.
pub fn fmt_us(us: u64) -> String {
    let ms = us as f64 / 1e3;
    if ms < 10.0 {
        format!("{ms:.1} ms")
    } else if ms < 1000.0 {
        format!("{ms:.0} ms")
    } else if ms < 100_000.0 {
        format!("{:.2} s", ms / 1e3)
    } else {
        format!("{:.0} s", ms / 1e3)
    }
}

/// Short form for bar labels, at most 5 characters: `4.5ms`, `120ms`,
/// `1.25s`, `12.5s`, `340s`.
pub fn fmt_us_short(us: u64) -> String {
    let ms = us as f64 / 1e3;
    if ms < 10.0 {
        format!("{ms:.1}ms")
    } else if ms < 1000.0 {
        format!("{ms:.0}ms")
    } else if ms < 10_000.0 {
        format!("{:.2}s", ms / 1e3)
    } else if ms < 100_000.0 {
        format!("{:.1}s", ms / 1e3)
    } else {
        format!("{:.0}s", ms / 1e3)
    }
}

/// `mm:ss`, or `h:mm:ss` past an hour.
pub fn fmt_clock(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    } else {
        format!("{:02}:{:02}", s / 60, s % 60)
    }
}

/// A rate with a magnitude suffix: `12.3`, `4.56k`, `1.20M`.
pub fn fmt_rate(v: f64) -> String {
    if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else {
        format!("{v:.1}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::RequestError;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    pub(crate) fn ok(e2e_ms: u64, ttft_ms: u64, tokens: u64) -> RequestRecord {
        RequestRecord {
            sent_at: ms(1000),
            scheduled_at: ms(1000),
            token_times: vec![ms(1000 + ttft_ms)],
            finished_at: Some(ms(1000 + e2e_ms)),
            ended_at: ms(1000 + e2e_ms),
            output_tokens: tokens,
            streamed: true,
            ..Default::default()
        }
    }

    pub(crate) fn failed(class: ErrorClass) -> RequestRecord {
        RequestRecord {
            error: Some(RequestError {
                class,
                message: "x".into(),
            }),
            ..Default::default()
        }
    }

    #[test]
    fn rates_use_the_last_complete_seconds() {
        let mut s = LiveStats::new(Goal::default());
        // 10 requests of 50 tokens in each of seconds 0..10.
        for sec in 0..10 {
            for _ in 0..10 {
                s.on_sent();
                s.on_finished(&ok(200, 20, 50), Duration::from_secs(sec) + ms(500));
            }
        }
        // Second 10 has started with one request: partial, not counted "now".
        s.on_finished(&ok(200, 20, 50), Duration::from_secs(10) + ms(100));
        let snap = s.snapshot(Duration::from_secs(10) + ms(200), 60, 8);
        assert_eq!(snap.req_rate_now, 10.0);
        assert_eq!(snap.tok_rate_now, 500.0);
        assert_eq!(snap.spark, vec![500; 10]);
        assert_eq!(snap.done, 101);
        assert_eq!(snap.in_flight, 0);
    }

    #[test]
    fn percentiles_and_errors_count_what_they_should() {
        let mut s = LiveStats::new(Goal::default());
        for i in 1..=100 {
            s.on_sent();
            s.on_finished(&ok(i * 10, i, 10), ms(10));
        }
        for class in [ErrorClass::Http(503), ErrorClass::Http(503), ErrorClass::Timeout] {
            s.on_sent();
            s.on_finished(&failed(class), ms(20));
        }
        s.on_sent();
        let snap = s.snapshot(ms(500), 10, 10);
        let e2e = snap.e2e.expect("e2e");
        assert_eq!(e2e.count, 100);
        assert!((500_000..=501_000).contains(&e2e.p50), "{e2e:?}");
        assert!((990_000..=991_000).contains(&e2e.p99), "{e2e:?}");
        assert_eq!(snap.ttft.expect("ttft").count, 100);
        assert_eq!(
            snap.errors,
            vec![("http_503".to_string(), 2), ("timeout".to_string(), 1)]
        );
        assert_eq!((snap.failed, snap.in_flight), (3, 1));
        let binned: u64 = snap.e2e_bins.iter().map(|b| b.count).sum();
        assert_eq!(binned, 100, "every value lands in a bin");
        // 10 ms to 990 ms in at most 10 bins: 100 ms wide, from 0.
        let starts: Vec<u64> = snap.e2e_bins.iter().map(|b| b.from_us).collect();
        assert_eq!(starts, (0..10).map(|i| i * 100_000).collect::<Vec<_>>());
        assert!(
            snap.e2e_bins.iter().all(|b| (9..=11).contains(&b.count)),
            "{:?}",
            snap.e2e_bins
        );
    }

    #[test]
    fn old_seconds_roll_off_and_long_gaps_reset() {
        let mut s = LiveStats::new(Goal::default());
        s.on_finished(&ok(1, 1, 1), Duration::from_secs(0));
        s.on_finished(&ok(1, 1, 1), Duration::from_secs(100));
        s.on_finished(&ok(1, 1, 1), Duration::from_secs(KEEP_SECONDS as u64 + 50));
        assert_eq!(s.per_second.len(), KEEP_SECONDS);
        assert_eq!(s.first_second, 51);
        assert_eq!(s.bucket(100), (1, 1));
        s.on_finished(&ok(1, 1, 1), Duration::from_secs(10 * KEEP_SECONDS as u64));
        assert_eq!(s.per_second.len(), 1);
        // An event for a second already dropped is counted but not bucketed.
        s.on_finished(&ok(1, 1, 1), Duration::from_secs(3));
        assert_eq!(s.done, 5);
    }

    #[test]
    fn the_gauge_names_the_running_stage_and_its_target() {
        use crate::schedule::stages::{Profile, StageList};
        let goal = Goal {
            requests: None,
            duration: Some(Duration::from_secs(30)),
            profile: Some(std::sync::Arc::new(Profile::Concurrency(
                StageList::parse("10s:4,10s:8,10s:0").unwrap(),
            ))),
        };
        assert_eq!(
            goal.stage_text(Duration::from_secs(15)).as_deref(),
            Some("stage 2/3 · target 4 → 8 workers (now 6.0)")
        );
        assert_eq!(Goal::default().stage_text(Duration::from_secs(1)), None);
    }

    #[test]
    fn progress_takes_the_nearer_stop() {
        let mut s = LiveStats::new(Goal {
            requests: Some(100),
            duration: Some(Duration::from_secs(100)),
            profile: None,
        });
        for _ in 0..50 {
            s.on_finished(&ok(1, 1, 1), ms(1));
        }
        // Half the requests in 10 s: the count ends first, in 10 s.
        let (ratio, eta) = s.snapshot(Duration::from_secs(10), 1, 1).progress().expect("progress");
        assert_eq!(ratio, 0.5);
        assert_eq!(eta, Some(Duration::from_secs(10)));
        let unbounded = LiveStats::new(Goal::default()).snapshot(ms(5), 1, 1);
        assert_eq!(unbounded.progress(), None);
        let timed = LiveStats::new(Goal {
            requests: None,
            duration: Some(Duration::from_secs(60)),
            profile: None,
        })
        .snapshot(Duration::from_secs(15), 1, 1);
        assert_eq!(timed.progress(), Some((0.25, Some(Duration::from_secs(45)))));
    }

    #[test]
    fn a_narrow_spread_gets_fewer_bars_with_distinct_labels() {
        let mut s = LiveStats::new(Goal::default());
        for us in [117_200, 117_400, 118_100, 118_900, 119_300] {
            let rec = RequestRecord {
                finished_at: Some(Duration::from_micros(us)),
                ..Default::default()
            };
            s.on_finished(&rec, ms(1));
        }
        let bins = s.snapshot(ms(10), 1, 12).e2e_bins;
        let labels: Vec<String> = bins.iter().map(|b| fmt_us_short(b.from_us)).collect();
        assert_eq!(labels, ["117ms", "118ms", "119ms"]);
        assert_eq!(bins.iter().map(|b| b.count).collect::<Vec<_>>(), [2, 2, 1]);
        assert_eq!(nice_width(3), 5);
        assert_eq!(nice_width(101), 200);
        assert_eq!(nice_width(1_000), 1_000);
    }

    #[test]
    fn formats() {
        assert_eq!(fmt_us(1_234), "1.2 ms");
        assert_eq!(fmt_us(340_000), "340 ms");
        assert_eq!(fmt_us(2_345_000), "2.35 s");
        assert_eq!(fmt_us_short(1_400_000), "1.40s");
        assert_eq!(fmt_us_short(12_340_000), "12.3s");
        assert_eq!(fmt_us_short(340_000_000), "340s");
        assert_eq!(fmt_clock(Duration::from_secs(75)), "01:15");
        assert_eq!(fmt_clock(Duration::from_secs(3725)), "1:02:05");
        assert_eq!(fmt_rate(45_600.0), "45.6k");
        assert_eq!(fmt_rate(12.34), "12.3");
    }
}
