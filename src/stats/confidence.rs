//! Confidence intervals and the knee of a throughput curve: how sure a
//! figure is, and where adding load stops paying.
//!
//! Two interval methods, both at [`LEVEL`] (95 %):
//! - **over repeats** ([`t_interval`]): when the same plan ran N ≥ 2 times,
//!   a figure's interval is the Student-t interval of the N per-repeat
//!   values (mean ± t·s/√N). With the handful of repeats a benchmark can
//!   afford, a bootstrap over repeats under-covers badly (its interval
//!   from 3 values is far too narrow); the t interval is the standard
//!   small-sample answer.
//! - **over requests** ([`bootstrap_ratio`]): within one run, a latency
//!   mean's interval is the percentile bootstrap over requests
//!   ([`RESAMPLES`] resamples, seeded so the same run gives the same
//!   interval). A request is the resampled unit, so the ITL mean (pooled
//!   over every gap) is resampled as a ratio of sums, gaps staying with
//!   their request. Cost stays bounded: [`RequestSamples`] keeps a uniform
//!   reservoir of at most [`MAX_SAMPLES`] requests, and a bootstrap over a
//!   subsample gives a wider interval than the full set would (never a
//!   falsely narrow one).
//!
//! [`knee`] finds the knee of a concave curve with the offline Kneedle
//! rule (Satopää, Albrecht, Irwin, Raghavan, "Finding a 'Kneedle' in a
//! Haystack", ICDCS workshops 2011), sensitivity 1.

use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::record::RequestRecord;

/// The confidence level of every interval.
pub const LEVEL: f64 = 0.95;
/// Bootstrap resamples per figure.
pub const RESAMPLES: usize = 1000;
/// Most requests a run keeps for its bootstrap.
pub const MAX_SAMPLES: usize = 10_000;

/// A figure and its confidence interval (`low <= mean <= high`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    pub mean: f64,
    pub low: f64,
    pub high: f64,
}

impl Interval {
    /// A figure known exactly (one value): an interval of width zero.
    pub fn exact(v: f64) -> Self {
        Self {
            mean: v,
            low: v,
            high: v,
        }
    }

    /// Whether the two intervals share any value.
    pub fn overlaps(&self, other: &Interval) -> bool {
        self.low <= other.high && other.low <= self.high
    }

    pub fn contains(&self, v: f64) -> bool {
        self.low <= v && v <= self.high
    }

    /// Half the width relative to the mean (0 when the mean is 0).
    pub fn relative_half_width(&self) -> f64 {
        if self.mean == 0.0 {
            0.0
        } else {
            (self.high - self.low) / 2.0 / self.mean.abs()
        }
    }

    /// `51.2 (95 % CI 50.8–51.6)` with `decimals` places.
    pub fn text(&self, decimals: usize) -> String {
        format!(
            "{:.d$} (95 % CI {:.d$}–{:.d$})",
            self.mean,
            self.low,
            self.high,
            d = decimals
        )
    }
}

/// How the intervals were computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Student-t over the repeats' figures.
    TOverRepeats,
    /// Percentile bootstrap over requests, within one run.
    BootstrapOverRequests,
}

impl Method {
    pub fn describe(self) -> &'static str {
        match self {
            Method::TOverRepeats => "Student-t over repeats",
            Method::BootstrapOverRequests => "bootstrap over requests",
        }
    }
}

/// A run's (or a sweep level's) figures with their intervals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Confidence {
    pub method: Method,
    /// The confidence level, 0.95.
    pub level: f64,
    /// Measurements combined (1 without `--repeats`).
    pub repeats: u32,
    /// Bootstrap only: resamples, and the requests resampled (a uniform
    /// subsample of at most 10,000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resamples: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<u64>,
    /// By figure name (`request_throughput`, `mean_ttft_ms`, …).
    pub metrics: BTreeMap<String, Interval>,
}

impl Confidence {
    pub fn get(&self, name: &str) -> Option<&Interval> {
        self.metrics.get(name)
    }

    /// `95 % CI, Student-t over 3 repeats` or `95 % CI, bootstrap over 812 requests (1000 resamples)`.
    pub fn method_line(&self) -> String {
        format!("95 % CI, {}", self.method_text())
    }

    /// `Student-t over 3 repeats` or `bootstrap over 812 requests (1000 resamples)`.
    pub fn method_text(&self) -> String {
        match self.method {
            Method::TOverRepeats => format!("Student-t over {} repeats", self.repeats),
            Method::BootstrapOverRequests => format!(
                "bootstrap over {} requests ({} resamples)",
                self.samples.unwrap_or(0),
                self.resamples.unwrap_or(0)
            ),
        }
    }
}

/// The figures every repeat reports, in the order they are printed: the
/// name in [`Confidence::metrics`], the console label, decimals.
/// The labels differ from vLLM's block's (`Mean TTFT (ms):`), so a script
/// that greps vLLM's lines finds each once.
pub const FIGURES: [(&str, &str, usize); 7] = [
    ("request_throughput", "Throughput, requests/s", 2),
    ("output_throughput", "Throughput, output tokens/s", 2),
    ("success_rate", "Success rate (share)", 4),
    ("mean_ttft_ms", "TTFT mean, ms", 2),
    ("mean_tpot_ms", "TPOT mean, ms", 2),
    ("mean_itl_ms", "ITL mean, ms", 2),
    ("mean_e2e_ms", "E2E latency mean, ms", 2),
];

/// One summary's figures by name (a latency without samples is absent).
pub fn figures(s: &super::Summary) -> BTreeMap<String, f64> {
    let mut m = BTreeMap::new();
    m.insert("request_throughput".into(), s.request_throughput);
    m.insert("output_throughput".into(), s.output_throughput);
    m.insert("success_rate".into(), s.success_rate);
    for (name, d) in [
        ("mean_ttft_ms", &s.ttft_ms),
        ("mean_tpot_ms", &s.tpot_ms),
        ("mean_itl_ms", &s.itl_ms),
        ("mean_e2e_ms", &s.e2e_ms),
    ] {
        if let Some(d) = d {
            m.insert(name.into(), d.mean);
        }
    }
    m
}

/// Student-t intervals of per-repeat figures (a figure missing from any
/// repeat is left out). `None` with fewer than two repeats.
pub fn over_repeats(each: &[BTreeMap<String, f64>]) -> Option<Confidence> {
    if each.len() < 2 {
        return None;
    }
    let mut metrics = BTreeMap::new();
    for name in each[0].keys() {
        let values: Option<Vec<f64>> = each.iter().map(|f| f.get(name).copied()).collect();
        if let Some(mut i) = values.as_deref().and_then(t_interval) {
            // Every figure is a rate, a share or a time: the interval is
            // cut where the figure cannot go (below 0, a share above 1).
            i.low = i.low.max(0.0);
            if name == "success_rate" {
                i.high = i.high.min(1.0);
            }
            metrics.insert(name.clone(), i);
        }
    }
    Some(Confidence {
        method: Method::TOverRepeats,
        level: LEVEL,
        repeats: each.len() as u32,
        resamples: None,
        samples: None,
        metrics,
    })
}

/// Two-sided 97.5 % quantiles of Student's t for 1..=30 degrees of freedom.
const T975: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120,
    2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
];

/// The t quantile for a 95 % two-sided interval with `df` degrees of freedom.
fn t_quantile(df: usize) -> f64 {
    match df {
        0 => f64::INFINITY,
        1..=30 => T975[df - 1],
        // Beyond the table the quantile approaches the normal's 1.96;
        // 2.042 at 30 to 1.96 at infinity, within 0.01 by 60 degrees.
        _ => 1.96 + 2.5 / df as f64,
    }
}

/// The 95 % Student-t interval of the mean of `values` (at least two).
pub fn t_interval(values: &[f64]) -> Option<Interval> {
    let n = values.len();
    if n < 2 || values.iter().any(|v| !v.is_finite()) {
        return None;
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let var = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
    let half = t_quantile(n - 1) * (var / n as f64).sqrt();
    Some(Interval {
        mean,
        low: mean - half,
        high: mean + half,
    })
}

/// The percentile bootstrap interval of the mean of `values`.
pub fn bootstrap_mean(values: &[f64], resamples: usize, seed: u64) -> Option<Interval> {
    let ones = vec![1.0; values.len()];
    bootstrap_ratio(values, &ones, resamples, seed)
}

/// The percentile bootstrap interval of `Σ num / Σ den` over units
/// resampled with replacement (a unit's numerator and denominator move
/// together). `mean` is the statistic on the data itself. `None` without
/// units or with a zero denominator.
pub fn bootstrap_ratio(num: &[f64], den: &[f64], resamples: usize, seed: u64) -> Option<Interval> {
    let n = num.len();
    let total_den: f64 = den.iter().sum();
    if n == 0 || den.len() != n || total_den <= 0.0 {
        return None;
    }
    let mean = num.iter().sum::<f64>() / total_den;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut stats = Vec::with_capacity(resamples);
    for _ in 0..resamples.max(1) {
        let (mut a, mut b) = (0.0, 0.0);
        for _ in 0..n {
            let k = rng.random_range(0..n);
            a += num[k];
            b += den[k];
        }
        if b > 0.0 {
            stats.push(a / b);
        }
    }
    if stats.is_empty() {
        return None;
    }
    stats.sort_by(f64::total_cmp);
    let at = |q: f64| stats[((q * stats.len() as f64).floor() as usize).min(stats.len() - 1)];
    let (low, high) = (at((1.0 - LEVEL) / 2.0), at(1.0 - (1.0 - LEVEL) / 2.0));
    // The statistic on the data lies inside its own interval (a skewed
    // resampling distribution could otherwise leave it just outside).
    Some(Interval {
        mean,
        low: low.min(mean),
        high: high.max(mean),
    })
}

/// One request's latencies for the bootstrap (successful requests only,
/// as the summary's distributions are).
#[derive(Debug, Clone, Copy, Default)]
struct Sample {
    ttft_ms: Option<f64>,
    tpot_ms: Option<f64>,
    e2e_ms: Option<f64>,
    itl_sum_ms: f64,
    itl_count: u32,
}

/// A uniform reservoir (Vitter's algorithm R) of at most [`MAX_SAMPLES`]
/// successful requests' latencies, seeded: the same run keeps the same ones.
#[derive(Debug)]
pub struct RequestSamples {
    kept: Vec<Sample>,
    seen: u64,
    capacity: usize,
    rng: StdRng,
    seed: u64,
}

impl RequestSamples {
    pub fn new(seed: u64) -> Self {
        Self::with_capacity(seed, MAX_SAMPLES)
    }

    pub fn with_capacity(seed: u64, capacity: usize) -> Self {
        Self {
            kept: Vec::new(),
            seen: 0,
            capacity: capacity.max(1),
            rng: StdRng::seed_from_u64(seed ^ 0x5eed_c0de),
            seed,
        }
    }

    pub fn add(&mut self, rec: &RequestRecord) {
        if !rec.succeeded() {
            return;
        }
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1e3;
        let (mut itl_sum_ms, mut itl_count) = (0.0, 0u32);
        for gap in rec.itls() {
            itl_sum_ms += ms(gap);
            itl_count += 1;
        }
        let s = Sample {
            ttft_ms: rec.ttft().map(ms),
            tpot_ms: rec.tpot().map(ms),
            e2e_ms: rec.e2e().map(ms),
            itl_sum_ms,
            itl_count,
        };
        self.seen += 1;
        if self.kept.len() < self.capacity {
            self.kept.push(s);
        } else {
            let k = self.rng.random_range(0..self.seen);
            if (k as usize) < self.capacity {
                self.kept[k as usize] = s;
            }
        }
    }

    /// Successful requests seen, and kept.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    pub fn kept(&self) -> usize {
        self.kept.len()
    }

    /// The latency means' bootstrap intervals; `None` without a
    /// successful request.
    pub fn confidence(&self) -> Option<Confidence> {
        if self.kept.is_empty() {
            return None;
        }
        let mut metrics = BTreeMap::new();
        let seed = self.seed;
        let mut one = |name: &str, pick: fn(&Sample) -> Option<f64>, salt: u64| {
            let v: Vec<f64> = self.kept.iter().filter_map(pick).collect();
            if let Some(i) = bootstrap_mean(&v, RESAMPLES, seed.wrapping_add(salt)) {
                metrics.insert(name.to_string(), i);
            }
        };
        one("mean_ttft_ms", |s| s.ttft_ms, 1);
        one("mean_tpot_ms", |s| s.tpot_ms, 2);
        one("mean_e2e_ms", |s| s.e2e_ms, 3);
        let (num, den): (Vec<f64>, Vec<f64>) = self.kept.iter().map(|s| (s.itl_sum_ms, f64::from(s.itl_count))).unzip();
        if let Some(i) = bootstrap_ratio(&num, &den, RESAMPLES, seed.wrapping_add(4)) {
            metrics.insert("mean_itl_ms".into(), i);
        }
        Some(Confidence {
            method: Method::BootstrapOverRequests,
            level: LEVEL,
            repeats: 1,
            resamples: Some(RESAMPLES as u32),
            samples: Some(self.kept.len() as u64),
            metrics,
        })
    }
}

/// The knee of a rising curve `y(x)` (throughput against load) by the
/// offline Kneedle rule, sensitivity 1: both axes are normalised to
/// [0, 1]; the difference curve `d = y' − x'` measures how far the curve
/// stands above the straight line from its first to its last point; a
/// local maximum of `d` is the knee once `d` later falls below
/// `d_max − 1 / (n − 1)` (the mean step of `x'`) before rising above it
/// again. A curve that never bends that much (still proportional to load)
/// has no knee, nor does one whose bend is its last point. Points must be
/// in increasing `x`; at least three; the index of the knee.
pub fn knee(x: &[f64], y: &[f64]) -> Option<usize> {
    let n = x.len();
    if n < 3 || y.len() != n || x.iter().chain(y).any(|v| !v.is_finite()) {
        return None;
    }
    let (x0, x1) = (x[0], x[n - 1]);
    let (y0, y1) = y
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), &v| (a.min(v), b.max(v)));
    if x1 <= x0 || y1 <= y0 {
        return None;
    }
    let d: Vec<f64> = (0..n)
        .map(|i| (y[i] - y0) / (y1 - y0) - (x[i] - x0) / (x1 - x0))
        .collect();
    let step = 1.0 / (n - 1) as f64;
    for i in 1..n - 1 {
        let local_max = d[i] > d[i - 1] && d[i] >= d[i + 1];
        if !local_max || d[i] <= 0.0 {
            continue;
        }
        let threshold = d[i] - step;
        for &later in &d[i + 1..] {
            if later > d[i] {
                break;
            }
            if later < threshold {
                return Some(i);
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand_distr::{Distribution, Exp, Normal};

    fn normal(n: usize, mean: f64, sd: f64, seed: u64) -> Vec<f64> {
        let mut rng = StdRng::seed_from_u64(seed);
        let d = Normal::new(mean, sd).unwrap();
        (0..n).map(|_| d.sample(&mut rng)).collect()
    }

    #[test]
    fn the_bootstrap_interval_covers_the_true_mean_about_95_times_in_100() {
        // Exponential latencies (skewed, like real ones) with mean 50.
        let d = Exp::new(1.0 / 50.0).unwrap();
        let mut covered = 0;
        for trial in 0..200u64 {
            let mut rng = StdRng::seed_from_u64(1000 + trial);
            let v: Vec<f64> = (0..200).map(|_| d.sample(&mut rng)).collect();
            let i = bootstrap_mean(&v, 400, trial).unwrap();
            assert!(i.low <= i.mean && i.mean <= i.high, "{i:?}");
            covered += usize::from(i.contains(50.0));
        }
        // 95 % nominal; the percentile bootstrap runs a little under on
        // skewed data: 85 %..100 % rules out a broken interval.
        assert!((170..=200).contains(&covered), "covered {covered} of 200");
    }

    #[test]
    fn the_bootstrap_interval_narrows_with_more_requests() {
        let small = bootstrap_mean(&normal(100, 50.0, 10.0, 1), RESAMPLES, 7).unwrap();
        let large = bootstrap_mean(&normal(10_000, 50.0, 10.0, 2), RESAMPLES, 7).unwrap();
        let (ws, wl) = (small.high - small.low, large.high - large.low);
        // Width goes as 1/√n: 100× the requests, about a tenth the width.
        assert!(wl < ws / 5.0 && wl > ws / 20.0, "widths {ws} and {wl}");
        // ±1.96·σ/√n = ±0.196 for n = 10,000.
        assert!((wl / 2.0 - 0.196).abs() < 0.04, "half width {}", wl / 2.0);
    }

    #[test]
    fn the_bootstrap_is_deterministic_for_a_seed() {
        let v = normal(500, 10.0, 3.0, 3);
        assert_eq!(bootstrap_mean(&v, RESAMPLES, 42), bootstrap_mean(&v, RESAMPLES, 42));
        assert_ne!(bootstrap_mean(&v, RESAMPLES, 42), bootstrap_mean(&v, RESAMPLES, 43));
        assert_eq!(bootstrap_mean(&[], RESAMPLES, 1), None);
        let one = bootstrap_mean(&[5.0], RESAMPLES, 1).unwrap();
        assert_eq!(one, Interval::exact(5.0));
    }

    #[test]
    fn a_ratio_keeps_a_units_parts_together() {
        // Two requests: one with 10 gaps of 1 ms, one with 1 gap of 100 ms.
        let i = bootstrap_ratio(&[10.0, 100.0], &[10.0, 1.0], RESAMPLES, 1).unwrap();
        assert!((i.mean - 110.0 / 11.0).abs() < 1e-9);
        // Resamples are {a,a}: 1, {b,b}: 100, {a,b}: 10: the interval spans them.
        assert_eq!((i.low, i.high), (1.0, 100.0));
        assert_eq!(bootstrap_ratio(&[1.0], &[0.0], 10, 1), None);
    }

    #[test]
    fn the_t_interval_matches_the_textbook_and_covers() {
        // 1, 2, 3: mean 2, s = 1, t(2) = 4.303: 2 ± 4.303/√3.
        let i = t_interval(&[1.0, 2.0, 3.0]).unwrap();
        assert!((i.mean - 2.0).abs() < 1e-12);
        assert!((i.high - (2.0 + 4.303 / 3f64.sqrt())).abs() < 1e-9, "{i:?}");
        assert_eq!(t_interval(&[1.0]), None);
        assert_eq!(t_interval(&[2.0, 2.0]), Some(Interval::exact(2.0)));
        let mut covered = 0;
        for trial in 0..400 {
            covered += usize::from(t_interval(&normal(5, 100.0, 5.0, trial)).unwrap().contains(100.0));
        }
        assert!((360..=395).contains(&covered), "covered {covered} of 400");
        let narrow = t_interval(&normal(50, 100.0, 5.0, 9)).unwrap();
        let wide = t_interval(&normal(5, 100.0, 5.0, 9)).unwrap();
        assert!(narrow.high - narrow.low < wide.high - wide.low);
    }

    #[test]
    fn the_reservoir_is_bounded_and_seeded() {
        let rec = |i: u64| RequestRecord {
            index: i,
            token_times: vec![std::time::Duration::from_millis(5)],
            finished_at: Some(std::time::Duration::from_millis(10 + i % 7)),
            output_tokens: 1,
            streamed: true,
            ..Default::default()
        };
        let mut a = RequestSamples::with_capacity(5, 100);
        let mut b = RequestSamples::with_capacity(5, 100);
        for i in 0..1000 {
            a.add(&rec(i));
            b.add(&rec(i));
        }
        assert_eq!((a.seen(), a.kept()), (1000, 100));
        let (ca, cb) = (a.confidence().unwrap(), b.confidence().unwrap());
        assert_eq!(ca, cb, "same seed, same interval");
        assert_eq!(ca.samples, Some(100));
        let e2e = ca.get("mean_e2e_ms").unwrap();
        assert!(
            e2e.low <= e2e.mean && e2e.mean <= e2e.high && e2e.contains(13.0),
            "{e2e:?}"
        );
    }

    #[test]
    fn over_repeats_gives_each_figure_its_interval() {
        let each: Vec<BTreeMap<String, f64>> = [10.0, 11.0, 12.0]
            .iter()
            .map(|&t| BTreeMap::from([("request_throughput".to_string(), t)]))
            .collect();
        let c = over_repeats(&each).unwrap();
        assert_eq!((c.method, c.repeats), (Method::TOverRepeats, 3));
        assert!(c.get("request_throughput").unwrap().contains(11.0));
        assert_eq!(over_repeats(&each[..1]), None);
        // Cut where the figure cannot go: no negative time, no share above 1.
        let each: Vec<BTreeMap<String, f64>> = [(1.0, 0.5), (30.0, 1.0)]
            .iter()
            .map(|&(t, s)| BTreeMap::from([("mean_ttft_ms".to_string(), t), ("success_rate".to_string(), s)]))
            .collect();
        let c = over_repeats(&each).unwrap();
        assert_eq!(c.get("mean_ttft_ms").unwrap().low, 0.0);
        assert_eq!(c.get("success_rate").unwrap().high, 1.0);
    }

    #[test]
    fn the_knee_is_where_a_linear_then_flat_curve_bends() {
        // A 64-slot server: throughput proportional to concurrency up to 64, then flat.
        let x = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];
        let y: Vec<f64> = x.iter().map(|&c: &f64| c.min(64.0) * 1.5).collect();
        assert_eq!(knee(&x, &y), Some(6), "the bend at 64");
        // Evenly spaced: linear to 5, flat after.
        let x: Vec<f64> = (1..=10).map(f64::from).collect();
        let y: Vec<f64> = x.iter().map(|&v| v.min(5.0)).collect();
        assert_eq!(knee(&x, &y), Some(4));
    }

    #[test]
    fn a_straight_or_short_curve_has_no_knee() {
        let x: Vec<f64> = (1..=8).map(f64::from).collect();
        let y: Vec<f64> = x.iter().map(|v| 3.0 * v).collect();
        assert_eq!(knee(&x, &y), None, "proportional to load throughout");
        // A few per cent of noise on a straight line is no knee either.
        let noisy: Vec<f64> = y
            .iter()
            .enumerate()
            .map(|(i, v)| v * if i % 2 == 0 { 1.03 } else { 0.97 })
            .collect();
        assert_eq!(knee(&x, &noisy), None);
        // Bending only at the last point: nothing after it confirms a knee.
        let y = [1.0, 2.0, 3.0, 3.2];
        assert_eq!(knee(&[1.0, 2.0, 3.0, 4.0], &y), None);
        assert_eq!(knee(&[1.0, 2.0], &[1.0, 2.0]), None);
        assert_eq!(knee(&[1.0, 2.0, 3.0], &[5.0, 5.0, 5.0]), None, "flat: no range");
    }
}
