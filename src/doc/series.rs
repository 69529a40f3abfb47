//! The bounded data behind the charts: distributions and time series of a
//! run, computed from its records and saved in the run document's `series`
//! section, so `inferload report run.json` draws the same charts without the
//! records file.
//!
//! Bounds, whatever the run's size: each distribution is 40 histogram bins
//! plus 102 quantiles; the time series has at most [`MAX_BUCKETS`] buckets
//! (1 s wide, wider for long runs); the per-request scatter keeps at most
//! [`MAX_POINTS`] requests (every k-th by index when there are more).
//!
//! Times are seconds on the run clock (zero = start of the measured phase);
//! latencies are milliseconds. Every record counts, as in the summary (an
//! unfinished request is a failure; its TTFT, if it had one, is drawn).

use serde::{Deserialize, Serialize};

use crate::record::RequestRecord;

/// Most time buckets kept.
pub const MAX_BUCKETS: usize = 600;
/// Most per-request points kept.
pub const MAX_POINTS: usize = 2000;
/// Histogram bins per distribution.
pub const BINS: usize = 40;

/// A latency distribution: histogram and quantiles, milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Distribution {
    pub count: u64,
    /// Lower edge of the first bin.
    pub bin_start_ms: f64,
    pub bin_width_ms: f64,
    /// Samples per bin; the last bin includes the maximum.
    pub bins: Vec<u64>,
    /// `[q, value]` pairs, q from 0 to 1 (nearest rank, `stats::quantile`).
    pub quantiles: Vec<[f64; 2]>,
}

impl Distribution {
    /// Builds from unsorted samples (sorted in place).
    pub fn of(values: &mut [f64]) -> Option<Self> {
        if values.is_empty() {
            return None;
        }
        values.sort_by(f64::total_cmp);
        let n = values.len();
        let (min, max) = (values[0], values[n - 1]);
        let width = if max > min { (max - min) / BINS as f64 } else { 1.0 };
        let mut bins = vec![0u64; BINS];
        for v in values.iter() {
            let i = (((v - min) / width) as usize).min(BINS - 1);
            bins[i] += 1;
        }
        // Never None: `values` is not empty.
        let rank = |q: f64| crate::stats::quantile::nearest_rank(values, q).unwrap_or(min);
        let mut quantiles: Vec<[f64; 2]> = (0..=100).map(|i| i as f64 / 100.0).map(|q| [q, rank(q)]).collect();
        quantiles.insert(100, [0.999, rank(0.999)]);
        quantiles[0] = [0.0, min];
        Some(Self {
            count: n as u64,
            bin_start_ms: min,
            bin_width_ms: width,
            bins,
            quantiles,
        })
    }
}

/// One time bucket `[t_s, t_s + interval)`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    pub t_s: f64,
    /// Successful requests that finished in the bucket.
    pub completed: u64,
    /// Failed requests that ended in the bucket.
    pub failed: u64,
    /// Output tokens of successful requests that arrived in the bucket.
    pub output_tokens: u64,
    /// Time-weighted mean of requests in flight over the bucket.
    pub in_flight: f64,
}

/// One request of the scatter: when it was sent and how long it took.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub index: u64,
    pub sent_s: f64,
    pub ttft_ms: Option<f64>,
    pub e2e_ms: Option<f64>,
    pub ok: bool,
}

/// Everything the charts of a run draw.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Series {
    pub ttft_ms: Option<Distribution>,
    pub tpot_ms: Option<Distribution>,
    pub itl_ms: Option<Distribution>,
    pub e2e_ms: Option<Distribution>,
    pub interval_s: f64,
    /// The last `ended_at`: where the last bucket is cut short.
    #[serde(default)]
    pub end_s: f64,
    pub buckets: Vec<Bucket>,
    /// Requests measured (successful and failed).
    pub requests: u64,
    /// At most [`MAX_POINTS`], by index.
    pub points: Vec<Point>,
    /// Where each stage after the first began (seconds), for a load that
    /// changed over the run: the charts mark them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stage_starts_s: Vec<f64>,
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

impl Series {
    pub fn from_records(records: &[RequestRecord]) -> Self {
        let recs: Vec<&RequestRecord> = records.iter().collect();
        let mut ttft: Vec<f64> = recs.iter().filter_map(|r| r.ttft()).map(ms).collect();
        let mut tpot: Vec<f64> = recs.iter().filter_map(|r| r.tpot()).map(ms).collect();
        let mut itl: Vec<f64> = recs.iter().flat_map(|r| r.itls()).map(ms).collect();
        let mut e2e: Vec<f64> = recs.iter().filter_map(|r| r.e2e()).map(ms).collect();

        let end = recs.iter().map(|r| r.ended_at.as_secs_f64()).fold(0.0, f64::max);
        let interval_s = (end / MAX_BUCKETS as f64).ceil().max(1.0);
        let n_buckets = if recs.is_empty() {
            0
        } else {
            ((end / interval_s).ceil() as usize).clamp(1, MAX_BUCKETS)
        };
        let mut buckets: Vec<Bucket> = (0..n_buckets)
            .map(|i| Bucket {
                t_s: i as f64 * interval_s,
                ..Default::default()
            })
            .collect();
        let slot = |t: f64| ((t / interval_s) as usize).min(n_buckets.saturating_sub(1));
        for r in &recs {
            if n_buckets == 0 {
                break;
            }
            let (start, stop) = (r.sent_at.as_secs_f64(), r.ended_at.as_secs_f64());
            let (first, last) = (slot(start), slot(stop));
            for (i, b) in buckets.iter_mut().enumerate().take(last + 1).skip(first) {
                let (lo, hi) = (i as f64 * interval_s, (i + 1) as f64 * interval_s);
                let overlap = stop.min(hi) - start.max(lo);
                let covered = end.min(hi) - lo;
                if overlap > 0.0 && covered > 0.0 {
                    b.in_flight += overlap / covered;
                }
            }
            if r.succeeded() {
                let done = r.finished_at.unwrap_or(r.ended_at).as_secs_f64();
                buckets[slot(done)].completed += 1;
                if r.streamed && !r.token_times.is_empty() {
                    // Spread the tokens over the content chunks, as the summary does.
                    let k = r.token_times.len() as u64;
                    for (j, t) in r.token_times.iter().enumerate() {
                        let share = r.output_tokens / k + u64::from((j as u64) < r.output_tokens % k);
                        buckets[slot(t.as_secs_f64())].output_tokens += share;
                    }
                } else {
                    buckets[slot(done)].output_tokens += r.output_tokens;
                }
            } else {
                buckets[slot(stop)].failed += 1;
            }
        }

        let mut sorted = recs.clone();
        sorted.sort_by_key(|r| r.index);
        let stride = sorted.len().div_ceil(MAX_POINTS).max(1);
        let points = sorted
            .iter()
            .step_by(stride)
            .map(|r| Point {
                index: r.index,
                sent_s: r.sent_at.as_secs_f64(),
                ttft_ms: r.ttft().map(ms),
                e2e_ms: r.e2e().map(ms),
                ok: r.succeeded(),
            })
            .collect();

        Self {
            ttft_ms: Distribution::of(&mut ttft),
            tpot_ms: Distribution::of(&mut tpot),
            itl_ms: Distribution::of(&mut itl),
            e2e_ms: Distribution::of(&mut e2e),
            interval_s,
            end_s: end,
            buckets,
            requests: recs.len() as u64,
            points,
            stage_starts_s: Vec::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::testing::records;

    #[test]
    fn series_are_bounded_and_count_every_request() {
        let s = Series::from_records(&records());
        assert_eq!(s.requests, 8);
        assert_eq!(s.points.len(), 8);
        let done: u64 = s.buckets.iter().map(|b| b.completed).sum();
        let failed: u64 = s.buckets.iter().map(|b| b.failed).sum();
        assert_eq!((done, failed), (6, 2));
        assert_eq!(s.buckets.iter().map(|b| b.output_tokens).sum::<u64>(), 30);
        let e2e = s.e2e_ms.unwrap();
        assert_eq!(e2e.count, 6);
        assert_eq!(e2e.bins.iter().sum::<u64>(), 6);
        assert_eq!(e2e.quantiles.len(), 102);
        assert_eq!(e2e.quantiles[0][1], 180.0);
        assert_eq!(e2e.quantiles[101][1], 185.0);
    }

    #[test]
    fn no_records_no_series() {
        let s = Series::from_records(&[]);
        assert!(s.buckets.is_empty() && s.points.is_empty() && s.e2e_ms.is_none());
    }
}
