//! The summary of a run: counters, rates and latency distributions derived
//! from [`RequestRecord`]s, and nothing else.
//!
//! [`SummaryBuilder`] consumes records one at a time in bounded memory per
//! request: each latency goes into an HDR histogram (microsecond
//! resolution, 3 significant digits) plus exact nanosecond sums, minimum and
//! maximum; token counts and rates are plain counters. Two builders fed
//! disjoint sets of records [`merge`](SummaryBuilder::merge) into exactly the
//! builder that one pass over both sets gives, so shard summaries combine
//! without loss and a summary can always be recomputed from a records file.
//!
//! Every figure is derived through `RequestRecord`'s methods (`ttft`, `e2e`,
//! `tpot`, `itls`, `queue_delay`, `user_latency`, `output_speed`), so the
//! definitions live in one place (see `docs/METRICS.md`):
//! - latency statistics: `mean`, `stddev` (population), `min` and `max` are
//!   exact (from nanosecond sums); percentiles are HDR nearest-rank values
//!   (the value at or below which the given share of samples lies), at
//!   3 significant digits, clamped into `[min, max]`. All in milliseconds.
//!   A distribution without samples is `None`, never zeros.
//! - `duration_s` = last `ended_at` − first `sent_at` over every record.
//! - throughputs divide successful requests and their tokens by that duration.
//! - `peak_output_throughput`: output tokens of successful requests counted in
//!   1-second buckets of the run clock (whose zero is the start of the
//!   measured phase); a streamed request's tokens are spread over its content
//!   chunks, a non-streamed request's all land at `finished_at`.
//! - image APIs: `images_total` and reply bytes of successful requests,
//!   per second of that duration; `http-async`'s submit latency and queue
//!   wait are distributions like the others.
//! - `output_kinds`: successful requests whose reply carried content,
//!   reasoning or tool calls (each kind is timed as content);
//!   `stream_ignored`: requests, failed ones included, that asked for a
//!   stream and got a whole body; `usage_invalid`: requests, failed ones
//!   included, whose usage was not counts and was ignored.
//! - `peak_concurrency`: exact sweep line over `[sent_at, ended_at)` of every
//!   record; a request ending at the instant another starts does not overlap it.
//!
//! Every record counts: one still running when the run stopped is a
//! failure of class `unfinished` like any other, so a server that hangs
//! shows in the success rate and the objectives instead of dropping out.
//! Nothing here produces NaN or infinity: an undefined ratio is 0.0.

use std::borrow::Borrow;
use std::collections::BTreeMap;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use crate::record::{ErrorClass, OutputKinds, RequestRecord};
pub use quantile::Percentile;

pub mod breakdown;
pub mod confidence;
pub mod errors;
pub mod quantile;
pub mod sessions;
pub mod state;

/// One latency distribution, in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyStats {
    /// Number of samples (requests; chunk gaps for ITL).
    pub count: u64,
    pub mean: f64,
    /// Population standard deviation.
    pub stddev: f64,
    pub min: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
    /// Percentiles asked for beyond the fixed ones (`--metric-percentiles`,
    /// objectives such as `ttft_p42<1s`), by name: `p42`, `p99.99`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub percentiles: BTreeMap<String, f64>,
}

/// The fixed percentiles every distribution carries, by value.
const FIXED: [f64; 5] = [50.0, 90.0, 95.0, 99.0, 99.9];

impl LatencyStats {
    /// The `p`-th percentile, nearest rank (`stats::quantile`): p0 is the
    /// minimum, p100 the maximum; `None` for a percentile this summary
    /// was not asked to compute.
    pub fn percentile(&self, p: Percentile) -> Option<f64> {
        let fixed = [
            (0.0, self.min),
            (50.0, self.p50),
            (90.0, self.p90),
            (95.0, self.p95),
            (99.0, self.p99),
            (99.9, self.p999),
            (100.0, self.max),
        ];
        match fixed.iter().find(|(v, _)| *v == p.value()) {
            Some(&(_, x)) => Some(x),
            None => self.percentiles.get(&percentile_key(p)).copied(),
        }
    }
}

/// The key of an extra percentile in [`LatencyStats::percentiles`]: `p42`.
pub fn percentile_key(p: Percentile) -> String {
    format!("p{}", p.word())
}

/// Whether a percentile needs computing beyond the fixed fields.
fn is_extra(p: Percentile) -> bool {
    let v = p.value();
    v != 0.0 && v != 100.0 && !FIXED.contains(&v)
}

/// Failed requests of one class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorGroup {
    pub class: ErrorClass,
    pub count: u64,
    /// The message of the earliest request (lowest index) of this class.
    pub example: String,
}

/// Successful requests whose reply carried each kind of generated text
/// (a reply may carry several: reasoning, then content).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KindCounts {
    #[serde(default)]
    pub content: u64,
    #[serde(default)]
    pub reasoning: u64,
    #[serde(default)]
    pub tool_calls: u64,
}

impl KindCounts {
    fn add(&mut self, k: OutputKinds) {
        self.content += u64::from(k.content);
        self.reasoning += u64::from(k.reasoning);
        self.tool_calls += u64::from(k.tool_calls);
    }

    fn merge(&mut self, o: &Self) {
        self.content += o.content;
        self.reasoning += o.reasoning;
        self.tool_calls += o.tool_calls;
    }

    /// Some reply carried reasoning or tool calls: the figures time more
    /// than plain content.
    pub fn beyond_content(&self) -> bool {
        self.reasoning > 0 || self.tool_calls > 0
    }
}

/// The figures of one run (or one sweep level).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Last `ended_at` − first `sent_at`, in seconds.
    pub duration_s: f64,
    /// Successful + failed (unfinished requests are failed).
    pub requests_total: u64,
    pub successful: u64,
    pub failed: u64,
    /// successful / requests_total; 0 without requests.
    pub success_rate: f64,
    /// Successful requests per second.
    pub request_throughput: f64,
    /// Input tokens of successful requests per second.
    pub input_throughput: f64,
    /// Output tokens of successful requests per second.
    pub output_throughput: f64,
    /// Input + output tokens of successful requests per second.
    pub total_token_throughput: f64,
    /// Most output tokens that arrived in one 1-second bucket.
    pub peak_output_throughput: f64,
    /// Most requests in flight at one instant.
    pub peak_concurrency: u64,
    /// Input tokens of successful requests.
    pub total_input_tokens: u64,
    /// Output tokens of successful requests.
    pub total_output_tokens: u64,
    /// True when any successful request's token counts are the client's estimate.
    pub tokens_estimated: bool,
    pub mean_input_tokens: f64,
    pub mean_output_tokens: f64,
    /// Mean over successful requests of `output_tokens / E2E`, tokens per second.
    pub mean_output_speed: f64,
    pub ttft_ms: Option<LatencyStats>,
    pub tpot_ms: Option<LatencyStats>,
    /// Every gap between consecutive content chunks, pooled over requests.
    pub itl_ms: Option<LatencyStats>,
    pub e2e_ms: Option<LatencyStats>,
    pub queue_delay_ms: Option<LatencyStats>,
    pub user_latency_ms: Option<LatencyStats>,
    /// Failed requests by class, most frequent first.
    pub errors: Vec<ErrorGroup>,
    /// Images in the replies of successful requests (image APIs; 0 otherwise).
    #[serde(default)]
    pub images_total: u64,
    /// images_total / duration_s.
    #[serde(default)]
    pub images_per_s: f64,
    /// Reply bytes of successful requests that counted them, per second.
    #[serde(default)]
    pub bytes_per_s: f64,
    /// `http-async`: submit to the end of the submit reply.
    #[serde(default)]
    pub submit_latency_ms: Option<LatencyStats>,
    /// `http-async`: submit reply to the first poll that saw the job leave its queue.
    #[serde(default)]
    pub queue_wait_ms: Option<LatencyStats>,
    /// Successful requests by the kinds of generated text their replies
    /// carried; TTFT, ITL and TPOT time every kind.
    #[serde(default)]
    pub output_kinds: KindCounts,
    /// Requests (successful or failed) that asked for a stream and got a
    /// whole body: measured as not streamed.
    #[serde(default)]
    pub stream_ignored: u64,
    /// Requests (successful or failed) whose reply carried a usage that is
    /// not counts: ignored, their tokens estimated.
    #[serde(default)]
    pub usage_invalid: u64,
}

/// HDR histogram resolution: 3 significant digits.
const SIGFIG: u8 = 3;

/// Fixed-point scale for summing per-request output speeds exactly
/// (nano-tokens per second), so merged sums equal single-pass sums.
const SPEED_SCALE: f64 = 1e9;

/// A latency distribution under construction: an HDR histogram of
/// microseconds for percentiles, exact nanosecond moments for the rest.
#[derive(Debug, Clone)]
struct Dist {
    hist: Histogram<u64>,
    count: u64,
    sum_ns: u128,
    sum_sq_ns: u128,
    min_ns: u64,
    max_ns: u64,
}

impl Dist {
    fn new() -> Self {
        Self {
            // 3 significant digits is always a valid precision; the
            // histogram grows as larger values arrive.
            hist: Histogram::new(SIGFIG).expect("valid HDR histogram precision"),
            count: 0,
            sum_ns: 0,
            sum_sq_ns: 0,
            min_ns: u64::MAX,
            max_ns: 0,
        }
    }

    fn record(&mut self, d: Duration) {
        let ns = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        let us = ns / 1000 + u64::from(ns % 1000 >= 500);
        if self.hist.record(us).is_err() {
            self.hist.saturating_record(us);
        }
        self.count += 1;
        self.sum_ns += u128::from(ns);
        self.sum_sq_ns = self.sum_sq_ns.saturating_add(u128::from(ns) * u128::from(ns));
        self.min_ns = self.min_ns.min(ns);
        self.max_ns = self.max_ns.max(ns);
    }

    fn merge(&mut self, other: &Dist) {
        if other.count == 0 {
            return;
        }
        if self.hist.add(&other.hist).is_err() {
            // Only possible past u64 counts; keep what can be kept.
            for v in other.hist.iter_recorded() {
                self.hist.saturating_record_n(v.value_iterated_to(), v.count_at_value());
            }
        }
        self.count += other.count;
        self.sum_ns += other.sum_ns;
        self.sum_sq_ns = self.sum_sq_ns.saturating_add(other.sum_sq_ns);
        self.min_ns = self.min_ns.min(other.min_ns);
        self.max_ns = self.max_ns.max(other.max_ns);
    }

    fn stats(&self, extra: &[Percentile]) -> Option<LatencyStats> {
        if self.count == 0 {
            return None;
        }
        let n = self.count;
        let mean_ns = self.sum_ns as f64 / n as f64;
        // Population variance, exactly in integers when it fits:
        // (n·Σx² − (Σx)²) / n².
        let var_ns2 = match (
            u128::from(n).checked_mul(self.sum_sq_ns),
            self.sum_ns.checked_mul(self.sum_ns),
        ) {
            (Some(a), Some(b)) => a.saturating_sub(b) as f64 / (n as f64 * n as f64),
            _ => (self.sum_sq_ns as f64 / n as f64 - mean_ns * mean_ns).max(0.0),
        };
        let (min, max) = (self.min_ns as f64 / 1e6, self.max_ns as f64 / 1e6);
        let pct = |q: f64| (quantile::hdr(&self.hist, q) as f64 / 1e3).clamp(min, max);
        Some(LatencyStats {
            count: n,
            mean: mean_ns / 1e6,
            stddev: var_ns2.sqrt() / 1e6,
            min,
            p50: pct(0.50),
            p90: pct(0.90),
            p95: pct(0.95),
            p99: pct(0.99),
            p999: pct(0.999),
            max,
            percentiles: extra.iter().map(|&p| (percentile_key(p), pct(p.quantile()))).collect(),
        })
    }
}

#[derive(Debug, Clone)]
struct ErrorAcc {
    count: u64,
    example_index: u64,
    example: String,
}

impl Summary {
    /// Every latency distribution with its display name, in display order:
    /// the one list the console, the reports and the history show. `None`
    /// where the run has no such figure (no TTFT without streaming).
    pub fn latencies(&self) -> [(&'static str, Option<&LatencyStats>); 8] {
        [
            ("TTFT", self.ttft_ms.as_ref()),
            ("TPOT", self.tpot_ms.as_ref()),
            ("ITL", self.itl_ms.as_ref()),
            ("E2E", self.e2e_ms.as_ref()),
            // http-async: the submit, and the wait in the server's queue.
            ("Submit", self.submit_latency_ms.as_ref()),
            ("Queue wait", self.queue_wait_ms.as_ref()),
            ("Queue delay", self.queue_delay_ms.as_ref()),
            ("User latency", self.user_latency_ms.as_ref()),
        ]
    }
}

/// Latencies measured against the schedule's intended send time: always
/// zero in a closed loop, which sends each request when it is scheduled.
pub fn is_schedule_latency(name: &str) -> bool {
    matches!(name, "Queue delay" | "User latency")
}

/// Accumulates records into a [`Summary`]; see the module docs.
#[derive(Debug, Clone)]
pub struct SummaryBuilder {
    successful: u64,
    failed: u64,
    first_sent: Option<Duration>,
    last_ended: Option<Duration>,
    input_tokens: u64,
    output_tokens: u64,
    tokens_estimated: bool,
    speed_sum: u128,
    speed_count: u64,
    /// Output tokens per whole second of the run clock.
    tokens_per_second: BTreeMap<u64, u64>,
    /// `[sent_at, ended_at)` of every record, nanoseconds (16 bytes each).
    intervals: Vec<(u64, u64)>,
    ttft: Dist,
    tpot: Dist,
    itl: Dist,
    e2e: Dist,
    queue_delay: Dist,
    user_latency: Dist,
    errors: BTreeMap<ErrorClass, ErrorAcc>,
    images: u64,
    response_bytes: u64,
    submit_latency: Dist,
    queue_wait: Dist,
    output_kinds: KindCounts,
    stream_ignored: u64,
    usage_invalid: u64,
    /// Peaks of summaries merged from their saved state, whose intervals
    /// are not kept: their sum bounds the merged peak from above.
    merged_peaks: u64,
    /// Percentiles each distribution computes beyond the fixed ones.
    extra_percentiles: Vec<Percentile>,
}

impl Default for SummaryBuilder {
    fn default() -> Self {
        Self::new()
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

impl SummaryBuilder {
    pub fn new() -> Self {
        Self {
            successful: 0,
            failed: 0,
            first_sent: None,
            last_ended: None,
            input_tokens: 0,
            output_tokens: 0,
            tokens_estimated: false,
            speed_sum: 0,
            speed_count: 0,
            tokens_per_second: BTreeMap::new(),
            intervals: Vec::new(),
            ttft: Dist::new(),
            tpot: Dist::new(),
            itl: Dist::new(),
            e2e: Dist::new(),
            queue_delay: Dist::new(),
            user_latency: Dist::new(),
            errors: BTreeMap::new(),
            images: 0,
            response_bytes: 0,
            submit_latency: Dist::new(),
            queue_wait: Dist::new(),
            output_kinds: KindCounts::default(),
            stream_ignored: 0,
            usage_invalid: 0,
            merged_peaks: 0,
            extra_percentiles: Vec::new(),
        }
    }

    /// Also computes these percentiles of every distribution (into
    /// [`LatencyStats::percentiles`]; the fixed ones are always there).
    pub fn with_percentiles(mut self, ps: impl IntoIterator<Item = Percentile>) -> Self {
        self.add_percentiles(ps);
        self
    }

    fn add_percentiles(&mut self, ps: impl IntoIterator<Item = Percentile>) {
        for p in ps {
            if is_extra(p) && !self.extra_percentiles.contains(&p) {
                self.extra_percentiles.push(p);
            }
        }
    }

    /// A builder fed every record of `records`.
    pub fn from_records<I>(records: I) -> Self
    where
        I: IntoIterator,
        I::Item: Borrow<RequestRecord>,
    {
        let mut b = Self::new();
        for r in records {
            b.add(r.borrow());
        }
        b
    }

    /// Counts one ended request (finished, failed, or unfinished).
    pub fn add(&mut self, rec: &RequestRecord) {
        self.first_sent = Some(self.first_sent.map_or(rec.sent_at, |t| t.min(rec.sent_at)));
        self.last_ended = Some(self.last_ended.map_or(rec.ended_at, |t| t.max(rec.ended_at)));
        self.intervals.push((nanos(rec.sent_at), nanos(rec.ended_at)));
        self.queue_delay.record(rec.queue_delay());
        self.stream_ignored += u64::from(rec.stream_ignored);
        self.usage_invalid += u64::from(rec.usage_invalid);

        match &rec.error {
            Some(err) => {
                self.failed += 1;
                let acc = self.errors.entry(err.class).or_insert_with(|| ErrorAcc {
                    count: 0,
                    example_index: rec.index,
                    example: err.message.clone(),
                });
                acc.count += 1;
                if rec.index < acc.example_index {
                    acc.example_index = rec.index;
                    acc.example.clone_from(&err.message);
                }
            }
            None => {
                self.successful += 1;
                self.input_tokens += rec.input_tokens;
                self.output_tokens += rec.output_tokens;
                self.tokens_estimated |= rec.tokens_estimated;
                if let Some(d) = rec.ttft() {
                    self.ttft.record(d);
                }
                if let Some(d) = rec.tpot() {
                    self.tpot.record(d);
                }
                for gap in rec.itls() {
                    self.itl.record(gap);
                }
                if let Some(d) = rec.e2e() {
                    self.e2e.record(d);
                }
                if let Some(d) = rec.user_latency() {
                    self.user_latency.record(d);
                }
                if let Some(speed) = rec.output_speed() {
                    self.speed_sum += (speed * SPEED_SCALE).round() as u128;
                    self.speed_count += 1;
                }
                self.count_token_arrivals(rec);
                self.images += rec.images.unwrap_or(0);
                self.response_bytes += rec.response_bytes.unwrap_or(0);
                if let Some(d) = rec.submit_latency {
                    self.submit_latency.record(d);
                }
                if let Some(d) = rec.queue_wait {
                    self.queue_wait.record(d);
                }
                self.output_kinds.add(rec.output_kinds);
            }
        }
    }

    /// Spreads a successful request's output tokens over the seconds in
    /// which they arrived: evenly over its content chunks when streamed
    /// (earlier chunks take the remainder), all at `finished_at` otherwise.
    fn count_token_arrivals(&mut self, rec: &RequestRecord) {
        if rec.output_tokens == 0 {
            return;
        }
        let chunks = if rec.streamed { rec.token_times.as_slice() } else { &[] };
        if chunks.is_empty() {
            let at = rec.finished_at.unwrap_or(rec.ended_at);
            *self.tokens_per_second.entry(at.as_secs()).or_default() += rec.output_tokens;
            return;
        }
        let n = chunks.len() as u64;
        let (each, extra) = (rec.output_tokens / n, rec.output_tokens % n);
        for (i, t) in chunks.iter().enumerate() {
            let k = each + u64::from((i as u64) < extra);
            if k > 0 {
                *self.tokens_per_second.entry(t.as_secs()).or_default() += k;
            }
        }
    }

    /// When the last record ended, on the run clock.
    pub fn last_ended(&self) -> Option<Duration> {
        self.last_ended
    }

    /// Moves every time `by` later, as if the run clock had started `by`
    /// earlier: repeats of a run placed one after another before they are
    /// merged (per-second token counts move by whole seconds).
    pub fn shift(&mut self, by: Duration) {
        self.first_sent = self.first_sent.map(|t| t + by);
        self.last_ended = self.last_ended.map(|t| t + by);
        let ns = nanos(by);
        for (a, b) in &mut self.intervals {
            *a = a.saturating_add(ns);
            *b = b.saturating_add(ns);
        }
        let secs = by.as_secs_f64().round() as u64;
        self.tokens_per_second = std::mem::take(&mut self.tokens_per_second)
            .into_iter()
            .map(|(k, v)| (k + secs, v))
            .collect();
    }

    /// Adds another builder's records, as if they had been added here.
    pub fn merge(&mut self, other: &SummaryBuilder) {
        self.successful += other.successful;
        self.failed += other.failed;
        self.first_sent = match (self.first_sent, other.first_sent) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.last_ended = match (self.last_ended, other.last_ended) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.tokens_estimated |= other.tokens_estimated;
        self.speed_sum += other.speed_sum;
        self.speed_count += other.speed_count;
        for (&s, &k) in &other.tokens_per_second {
            *self.tokens_per_second.entry(s).or_default() += k;
        }
        self.intervals.extend_from_slice(&other.intervals);
        self.ttft.merge(&other.ttft);
        self.tpot.merge(&other.tpot);
        self.itl.merge(&other.itl);
        self.e2e.merge(&other.e2e);
        self.queue_delay.merge(&other.queue_delay);
        self.user_latency.merge(&other.user_latency);
        self.images += other.images;
        self.response_bytes += other.response_bytes;
        self.submit_latency.merge(&other.submit_latency);
        self.queue_wait.merge(&other.queue_wait);
        self.output_kinds.merge(&other.output_kinds);
        self.stream_ignored += other.stream_ignored;
        self.usage_invalid += other.usage_invalid;
        self.merged_peaks += other.merged_peaks;
        self.add_percentiles(other.extra_percentiles.iter().copied());
        for (class, acc) in &other.errors {
            match self.errors.get_mut(class) {
                None => {
                    self.errors.insert(*class, acc.clone());
                }
                Some(mine) => {
                    mine.count += acc.count;
                    if acc.example_index < mine.example_index {
                        mine.example_index = acc.example_index;
                        mine.example.clone_from(&acc.example);
                    }
                }
            }
        }
    }

    /// Requests counted so far (successful + failed).
    pub fn requests(&self) -> u64 {
        self.successful + self.failed
    }

    /// The summary of every record added so far.
    pub fn finish(&self) -> Summary {
        let total = self.successful + self.failed;
        let duration_s = match (self.first_sent, self.last_ended) {
            (Some(first), Some(last)) => last.saturating_sub(first).as_secs_f64(),
            _ => 0.0,
        };
        let per_s = |x: f64| if duration_s > 0.0 { x / duration_s } else { 0.0 };
        let ratio = |a: f64, b: u64| if b > 0 { a / b as f64 } else { 0.0 };
        let mut errors: Vec<ErrorGroup> = self
            .errors
            .iter()
            .map(|(class, acc)| ErrorGroup {
                class: *class,
                count: acc.count,
                example: acc.example.clone(),
            })
            .collect();
        // Stable: equal counts stay in class order.
        errors.sort_by_key(|e| std::cmp::Reverse(e.count));
        let x = &self.extra_percentiles;
        Summary {
            duration_s,
            requests_total: total,
            successful: self.successful,
            failed: self.failed,
            success_rate: ratio(self.successful as f64, total),
            request_throughput: per_s(self.successful as f64),
            input_throughput: per_s(self.input_tokens as f64),
            output_throughput: per_s(self.output_tokens as f64),
            total_token_throughput: per_s((self.input_tokens + self.output_tokens) as f64),
            peak_output_throughput: self.tokens_per_second.values().copied().max().unwrap_or(0) as f64,
            peak_concurrency: peak_overlap(&self.intervals) + self.merged_peaks,
            total_input_tokens: self.input_tokens,
            total_output_tokens: self.output_tokens,
            tokens_estimated: self.tokens_estimated,
            mean_input_tokens: ratio(self.input_tokens as f64, self.successful),
            mean_output_tokens: ratio(self.output_tokens as f64, self.successful),
            mean_output_speed: ratio(self.speed_sum as f64 / SPEED_SCALE, self.speed_count),
            ttft_ms: self.ttft.stats(x),
            tpot_ms: self.tpot.stats(x),
            itl_ms: self.itl.stats(x),
            e2e_ms: self.e2e.stats(x),
            queue_delay_ms: self.queue_delay.stats(x),
            user_latency_ms: self.user_latency.stats(x),
            errors,
            images_total: self.images,
            images_per_s: per_s(self.images as f64),
            bytes_per_s: per_s(self.response_bytes as f64),
            submit_latency_ms: self.submit_latency.stats(x),
            queue_wait_ms: self.queue_wait.stats(x),
            output_kinds: self.output_kinds,
            stream_ignored: self.stream_ignored,
            usage_invalid: self.usage_invalid,
        }
    }
}

/// The most half-open intervals `[start, end)` that overlap at one instant.
fn peak_overlap(intervals: &[(u64, u64)]) -> u64 {
    let mut events: Vec<(u64, i8)> = Vec::with_capacity(intervals.len() * 2);
    for &(start, end) in intervals {
        events.push((start, 1));
        events.push((end.max(start), -1));
    }
    // At equal times ends (-1) sort before starts (+1).
    events.sort_unstable();
    let (mut now, mut peak) = (0i64, 0i64);
    for (_, delta) in events {
        now += i64::from(delta);
        peak = peak.max(now);
    }
    peak as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::RequestError;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    /// vLLM's worked example: chunks at 100, 140, 180 ms after the send,
    /// five tokens → TTFT 100 ms, E2E 180 ms, ITL 40 ms, TPOT 20 ms/token.
    fn worked_example(index: u64, sent: u64) -> RequestRecord {
        RequestRecord {
            index,
            scheduled_at: ms(sent),
            sent_at: ms(sent),
            token_times: vec![ms(sent + 100), ms(sent + 140), ms(sent + 180)],
            finished_at: Some(ms(sent + 180)),
            ended_at: ms(sent + 181),
            input_tokens: 10,
            output_tokens: 5,
            streamed: true,
            status: Some(200),
            ..Default::default()
        }
    }

    fn failure(index: u64, sent: u64, class: ErrorClass, msg: &str) -> RequestRecord {
        RequestRecord {
            index,
            scheduled_at: ms(sent),
            sent_at: ms(sent),
            ended_at: ms(sent + 5),
            streamed: true,
            input_tokens: 10,
            error: Some(RequestError {
                class,
                message: msg.into(),
            }),
            ..Default::default()
        }
    }

    /// Every f64 of a summary is finite (serde_json would write NaN as null).
    fn assert_finite(s: &Summary) {
        let v = serde_json::to_value(s).unwrap();
        fn walk(v: &serde_json::Value, path: &str) {
            match v {
                serde_json::Value::Number(n) => assert!(n.as_f64().unwrap().is_finite(), "{path}"),
                serde_json::Value::Object(m) => m.iter().for_each(|(k, v)| walk(v, &format!("{path}/{k}"))),
                serde_json::Value::Array(a) => a.iter().for_each(|v| walk(v, path)),
                _ => {}
            }
        }
        walk(&v, "");
        for f in [
            s.duration_s,
            s.success_rate,
            s.request_throughput,
            s.output_throughput,
            s.mean_output_speed,
            s.mean_input_tokens,
        ] {
            assert!(f.is_finite());
        }
    }

    #[test]
    fn the_worked_example_gives_vllms_figures() {
        let s = SummaryBuilder::from_records([worked_example(0, 1000)]).finish();
        let ttft = s.ttft_ms.as_ref().unwrap();
        assert_eq!(
            (ttft.count, ttft.mean, ttft.p50, ttft.p99, ttft.min, ttft.max),
            (1, 100.0, 100.0, 100.0, 100.0, 100.0)
        );
        assert_eq!(ttft.stddev, 0.0);
        let itl = s.itl_ms.as_ref().unwrap();
        assert_eq!((itl.count, itl.mean, itl.p50, itl.max), (2, 40.0, 40.0, 40.0));
        let tpot = s.tpot_ms.as_ref().unwrap();
        assert_eq!((tpot.count, tpot.mean), (1, 20.0));
        assert_eq!(s.e2e_ms.as_ref().unwrap().mean, 180.0);
        assert_eq!(s.queue_delay_ms.as_ref().unwrap().max, 0.0);
        assert_eq!(s.user_latency_ms.as_ref().unwrap().mean, 180.0);
        assert_eq!((s.requests_total, s.successful, s.failed), (1, 1, 0));
        assert_eq!(s.success_rate, 1.0);
        assert!((s.duration_s - 0.181).abs() < 1e-12);
        assert!((s.request_throughput - 1.0 / 0.181).abs() < 1e-9);
        assert!((s.output_throughput - 5.0 / 0.181).abs() < 1e-9);
        assert!((s.total_token_throughput - 15.0 / 0.181).abs() < 1e-9);
        assert!((s.mean_output_speed - 5.0 / 0.180).abs() < 1e-6);
        assert_eq!(s.peak_output_throughput, 5.0);
        assert_eq!(s.peak_concurrency, 1);
        assert_eq!((s.total_input_tokens, s.total_output_tokens), (10, 5));
        assert_eq!((s.mean_input_tokens, s.mean_output_tokens), (10.0, 5.0));
        assert!(s.errors.is_empty());
        assert_finite(&s);
    }

    #[test]
    fn zero_records_give_zeros_and_no_distributions() {
        let s = SummaryBuilder::new().finish();
        assert_eq!(s, Summary::default());
        assert!(s.ttft_ms.is_none() && s.e2e_ms.is_none() && s.queue_delay_ms.is_none());
        assert_finite(&s);
    }

    #[test]
    fn failures_only_are_safe() {
        let recs = [
            failure(0, 0, ErrorClass::Http(500), "boom 0"),
            failure(1, 1, ErrorClass::StreamBroken, "cut"),
            failure(2, 2, ErrorClass::Http(500), "boom 2"),
        ];
        let s = SummaryBuilder::from_records(&recs).finish();
        assert_eq!((s.requests_total, s.successful, s.failed), (3, 0, 3));
        assert_eq!(s.success_rate, 0.0);
        assert_eq!(s.request_throughput, 0.0);
        assert_eq!(s.total_input_tokens, 0, "tokens of failed requests are not counted");
        assert!(s.ttft_ms.is_none() && s.e2e_ms.is_none() && s.tpot_ms.is_none() && s.itl_ms.is_none());
        assert!(s.queue_delay_ms.is_some(), "failed requests were still sent");
        assert_eq!(s.errors.len(), 2);
        assert_eq!(
            s.errors[0],
            ErrorGroup {
                class: ErrorClass::Http(500),
                count: 2,
                example: "boom 0".into()
            }
        );
        assert_eq!(s.errors[1].class, ErrorClass::StreamBroken);
        assert_eq!(s.peak_concurrency, 3);
        assert_finite(&s);
    }

    #[test]
    fn non_streaming_defines_e2e_but_no_ttft() {
        let rec = RequestRecord {
            sent_at: ms(0),
            finished_at: Some(ms(50)),
            ended_at: ms(50),
            output_tokens: 7,
            streamed: false,
            ..Default::default()
        };
        let s = SummaryBuilder::from_records([&rec]).finish();
        assert!(s.ttft_ms.is_none() && s.itl_ms.is_none() && s.tpot_ms.is_none());
        assert_eq!(s.e2e_ms.unwrap().mean, 50.0);
        assert_eq!(s.peak_output_throughput, 7.0);
    }

    #[test]
    fn unfinished_records_are_failures() {
        let mut b = SummaryBuilder::from_records([worked_example(0, 0)]);
        let before = b.finish();
        b.add(&failure(1, 5000, ErrorClass::Unfinished, "still running"));
        let after = b.finish();
        assert_eq!(after.requests_total, before.requests_total + 1);
        assert_eq!(after.failed, 1);
        assert_eq!(after.success_rate, 0.5);
        assert_eq!(after.errors[0].class, ErrorClass::Unfinished);
        assert_eq!(after.ttft_ms, before.ttft_ms, "latencies stay those of successes");
    }

    #[test]
    fn peak_concurrency_is_an_exact_sweep_line() {
        let iv = |s: u64, e: u64| (s, e);
        assert_eq!(peak_overlap(&[]), 0);
        // Back to back: [0,10) and [10,20) never overlap.
        assert_eq!(peak_overlap(&[iv(0, 10), iv(10, 20)]), 1);
        assert_eq!(peak_overlap(&[iv(0, 10), iv(5, 20), iv(9, 30), iv(20, 40)]), 3);
        assert_eq!(peak_overlap(&[iv(0, 100), iv(1, 2), iv(3, 4), iv(5, 6)]), 2);
    }

    #[test]
    fn peak_output_throughput_spreads_tokens_over_chunks() {
        // 10 tokens over 4 chunks (3,3,2,2), two chunks in second 0, two in second 1.
        let rec = RequestRecord {
            sent_at: ms(0),
            token_times: vec![ms(100), ms(900), ms(1100), ms(1200)],
            finished_at: Some(ms(1200)),
            ended_at: ms(1200),
            output_tokens: 10,
            streamed: true,
            ..Default::default()
        };
        let s = SummaryBuilder::from_records([&rec]).finish();
        assert_eq!(s.peak_output_throughput, 6.0);
        let other = RequestRecord {
            sent_at: ms(1000),
            finished_at: Some(ms(1500)),
            ended_at: ms(1500),
            output_tokens: 3,
            ..Default::default()
        };
        let s = SummaryBuilder::from_records([&rec, &other]).finish();
        assert_eq!(s.peak_output_throughput, 7.0, "4 streamed + 3 non-streamed in second 1");
    }

    #[test]
    fn percentiles_are_nearest_rank_within_three_digits() {
        // 1..=1000 ms.
        let recs: Vec<RequestRecord> = (1..=1000u64)
            .map(|i| RequestRecord {
                index: i,
                sent_at: ms(0),
                finished_at: Some(ms(i)),
                ended_at: ms(i),
                ..Default::default()
            })
            .collect();
        let e2e = SummaryBuilder::from_records(&recs).finish().e2e_ms.unwrap();
        let close = |got: f64, want: f64| (got - want).abs() <= want * 1e-3 + 1e-9;
        assert!(close(e2e.p50, 500.0), "{}", e2e.p50);
        assert!(close(e2e.p90, 900.0), "{}", e2e.p90);
        assert!(close(e2e.p99, 990.0), "{}", e2e.p99);
        assert!(close(e2e.p999, 999.0), "{}", e2e.p999);
        assert_eq!((e2e.min, e2e.max, e2e.mean), (1.0, 1000.0, 500.5));
        // Population standard deviation of 1..=1000: sqrt((n²−1)/12).
        let want = ((1000.0f64 * 1000.0 - 1.0) / 12.0).sqrt();
        assert!((e2e.stddev - want).abs() < 1e-9, "{}", e2e.stddev);
    }

    #[test]
    fn merging_shards_equals_one_pass() {
        let mut recs = Vec::new();
        for i in 0..60u64 {
            let mut r = worked_example(i, i * 37 % 1000 + i * 3);
            r.output_tokens = 2 + i % 9;
            r.input_tokens = 5 + i % 4;
            r.token_times = (0..=(i % 5)).map(|k| ms(i * 40 + 50 + k * (7 + i % 3))).collect();
            r.sent_at = ms(i * 40);
            r.scheduled_at = ms(i * 40 - i % 3);
            r.finished_at = r.token_times.last().copied();
            r.ended_at = r.finished_at.unwrap() + ms(1);
            r.tokens_estimated = i == 41;
            r.stream_ignored = i % 11 == 0;
            r.usage_invalid = i % 7 == 3;
            r.output_kinds = OutputKinds {
                content: i % 3 != 0,
                reasoning: i % 3 == 1,
                tool_calls: i % 3 == 0,
            };
            if i % 4 == 0 {
                r.images = Some(i % 3 + 1);
                r.response_bytes = Some(100 * i);
                r.submit_latency = Some(ms(1 + i % 7));
                r.queue_wait = Some(ms(i % 5));
            }
            recs.push(r);
        }
        recs.push(failure(60, 100, ErrorClass::Timeout, "late 60"));
        recs.push(failure(61, 200, ErrorClass::Timeout, "late 61"));
        recs.push(failure(62, 300, ErrorClass::Http(503), "busy"));
        let whole = SummaryBuilder::from_records(&recs).finish();

        let (a, b) = recs.split_at(31);
        // Shards in reverse order, so the example message must not depend on order.
        let mut merged = SummaryBuilder::from_records(b);
        merged.merge(&SummaryBuilder::from_records(a));
        assert_eq!(merged.finish(), whole);

        let mut three = SummaryBuilder::new();
        for chunk in recs.chunks(17) {
            three.merge(&SummaryBuilder::from_records(chunk));
        }
        assert_eq!(three.finish(), whole);
        assert!(whole.tokens_estimated);
        assert!(whole.images_total > 0 && whole.submit_latency_ms.is_some() && whole.queue_wait_ms.is_some());
        assert_eq!((whole.stream_ignored, whole.usage_invalid), (6, 9));
        assert_eq!(
            whole.output_kinds,
            KindCounts {
                content: 40,
                reasoning: 20,
                tool_calls: 20
            }
        );
        assert_eq!(whole.errors[0].example, "late 60");
        assert_finite(&whole);
    }
}
