//! A summary's mergeable form: everything a [`SummaryBuilder`] holds,
//! saved in the run document of a shard (`--shard K/N`) so that
//! `inferload merge` rebuilds the builders and merges them — counts and
//! token totals exact, and percentiles from the merged HDR histograms,
//! exactly what one histogram of every request would give.
//!
//! Histograms are saved in the HDR format's standard V2 encoding,
//! DEFLATE-compressed and base64, as other HDR tools read them. Times are
//! on the shard's own clock; [`SummaryBuilder::from_state`] shifts them onto
//! the merge's. The one figure not kept exactly is the peak concurrency
//! (its intervals would cost 16 bytes a request): a merge adds the shards'
//! peaks, an upper bound.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer, V2DeflateSerializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use super::{nanos, peak_overlap, Dist, ErrorAcc, KindCounts, SummaryBuilder};
use crate::record::ErrorClass;

/// One latency distribution, mergeable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DistState {
    pub count: u64,
    pub sum_ns: u128,
    pub sum_sq_ns: u128,
    pub min_ns: u64,
    pub max_ns: u64,
    /// Microseconds, V2 + DEFLATE, base64.
    pub hdr: String,
}

/// One error class's count and its earliest example.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorState {
    pub class: ErrorClass,
    pub count: u64,
    pub example_index: u64,
    pub example: String,
}

/// Everything a summary is computed from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryState {
    pub successful: u64,
    pub failed: u64,
    pub first_sent_ns: Option<u64>,
    pub last_ended_ns: Option<u64>,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub tokens_estimated: bool,
    pub speed_sum: u128,
    pub speed_count: u64,
    /// Output tokens per whole second of the run clock.
    pub tokens_per_second: BTreeMap<u64, u64>,
    pub peak_concurrency: u64,
    pub dists: BTreeMap<String, DistState>,
    pub errors: Vec<ErrorState>,
    pub images: u64,
    pub response_bytes: u64,
    #[serde(default)]
    pub output_kinds: KindCounts,
    #[serde(default)]
    pub stream_ignored: u64,
    #[serde(default)]
    pub usage_invalid: u64,
}

/// A saved state that cannot be read back.
#[derive(Debug, Error)]
pub enum StateError {
    #[error("distribution `{name}`: {why}")]
    Histogram { name: String, why: String },
    #[error("unknown distribution `{0}`")]
    Unknown(String),
}

impl Dist {
    fn state(&self) -> DistState {
        let mut bytes = Vec::new();
        // Serializing into memory fails only on histograms past the
        // format's limits, which a run's microsecond latencies never reach;
        // an empty histogram is then kept rather than a failed run.
        let _ = V2DeflateSerializer::new().serialize(&self.hist, &mut bytes);
        DistState {
            count: self.count,
            sum_ns: self.sum_ns,
            sum_sq_ns: self.sum_sq_ns,
            min_ns: self.min_ns,
            max_ns: self.max_ns,
            hdr: base64::engine::general_purpose::STANDARD.encode(bytes),
        }
    }

    fn from_state(name: &str, s: &DistState) -> Result<Self, StateError> {
        let bad = |why: String| StateError::Histogram {
            name: name.to_string(),
            why,
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(&s.hdr)
            .map_err(|e| bad(e.to_string()))?;
        let hist: Histogram<u64> = Deserializer::new()
            .deserialize(&mut bytes.as_slice())
            .map_err(|e| bad(format!("{e:?}")))?;
        let mut d = Dist::new();
        // Into a histogram of this crate's precision, growing as needed.
        d.hist.add(&hist).map_err(|e| bad(format!("{e:?}")))?;
        d.count = s.count;
        d.sum_ns = s.sum_ns;
        d.sum_sq_ns = s.sum_sq_ns;
        d.min_ns = s.min_ns;
        d.max_ns = s.max_ns;
        Ok(d)
    }
}

impl SummaryBuilder {
    fn dists(&self) -> [(&'static str, &Dist); 8] {
        [
            ("ttft", &self.ttft),
            ("tpot", &self.tpot),
            ("itl", &self.itl),
            ("e2e", &self.e2e),
            ("queue_delay", &self.queue_delay),
            ("user_latency", &self.user_latency),
            ("submit_latency", &self.submit_latency),
            ("queue_wait", &self.queue_wait),
        ]
    }

    fn dist_mut(&mut self, name: &str) -> Option<&mut Dist> {
        Some(match name {
            "ttft" => &mut self.ttft,
            "tpot" => &mut self.tpot,
            "itl" => &mut self.itl,
            "e2e" => &mut self.e2e,
            "queue_delay" => &mut self.queue_delay,
            "user_latency" => &mut self.user_latency,
            "submit_latency" => &mut self.submit_latency,
            "queue_wait" => &mut self.queue_wait,
            _ => return None,
        })
    }

    /// The builder's mergeable state.
    pub fn state(&self) -> SummaryState {
        SummaryState {
            successful: self.successful,
            failed: self.failed,
            first_sent_ns: self.first_sent.map(nanos),
            last_ended_ns: self.last_ended.map(nanos),
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
            tokens_estimated: self.tokens_estimated,
            speed_sum: self.speed_sum,
            speed_count: self.speed_count,
            tokens_per_second: self.tokens_per_second.clone(),
            peak_concurrency: peak_overlap(&self.intervals) + self.merged_peaks,
            dists: self
                .dists()
                .into_iter()
                .filter(|(_, d)| d.count > 0)
                .map(|(n, d)| (n.to_string(), d.state()))
                .collect(),
            errors: self
                .errors
                .iter()
                .map(|(class, e)| ErrorState {
                    class: *class,
                    count: e.count,
                    example_index: e.example_index,
                    example: e.example.clone(),
                })
                .collect(),
            images: self.images,
            response_bytes: self.response_bytes,
            output_kinds: self.output_kinds,
            stream_ignored: self.stream_ignored,
            usage_invalid: self.usage_invalid,
        }
    }

    /// A builder from a saved state whose clock started `shift` after the
    /// merge's origin (its times move by `shift`; its per-second token
    /// counts by whole seconds).
    pub fn from_state(s: &SummaryState, shift: Duration) -> Result<Self, StateError> {
        let mut b = SummaryBuilder::new();
        b.successful = s.successful;
        b.failed = s.failed;
        b.first_sent = s.first_sent_ns.map(|t| Duration::from_nanos(t) + shift);
        b.last_ended = s.last_ended_ns.map(|t| Duration::from_nanos(t) + shift);
        b.input_tokens = s.input_tokens;
        b.output_tokens = s.output_tokens;
        b.tokens_estimated = s.tokens_estimated;
        b.speed_sum = s.speed_sum;
        b.speed_count = s.speed_count;
        let secs = shift.as_secs_f64().round() as u64;
        b.tokens_per_second = s.tokens_per_second.iter().map(|(k, v)| (k + secs, *v)).collect();
        b.merged_peaks = s.peak_concurrency;
        for (name, d) in &s.dists {
            let dist = Dist::from_state(name, d)?;
            *b.dist_mut(name).ok_or_else(|| StateError::Unknown(name.clone()))? = dist;
        }
        b.errors = s
            .errors
            .iter()
            .map(|e| {
                (
                    e.class,
                    ErrorAcc {
                        count: e.count,
                        example_index: e.example_index,
                        example: e.example.clone(),
                    },
                )
            })
            .collect();
        b.images = s.images;
        b.response_bytes = s.response_bytes;
        b.output_kinds = s.output_kinds;
        b.stream_ignored = s.stream_ignored;
        b.usage_invalid = s.usage_invalid;
        Ok(b)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{RequestError, RequestRecord};

    fn rec(i: u64) -> RequestRecord {
        let ms = Duration::from_millis;
        let sent = ms(i * 7);
        let first = sent + ms(20 + (i * 37) % 300);
        RequestRecord {
            index: i,
            scheduled_at: sent,
            sent_at: sent,
            token_times: (0..5).map(|k| first + ms(k * (3 + i % 11))).collect(),
            finished_at: Some(first + ms(4 * (3 + i % 11) + 1)),
            ended_at: first + ms(4 * (3 + i % 11) + 1),
            input_tokens: 100 + i,
            output_tokens: 5,
            streamed: true,
            error: i.is_multiple_of(13).then(|| RequestError {
                class: ErrorClass::Http(503),
                message: format!("busy {i}"),
            }),
            ..RequestRecord::default()
        }
    }

    #[test]
    fn shards_saved_and_merged_give_one_pass_exactly() {
        let all: Vec<RequestRecord> = (0..400).map(rec).collect();
        let one = SummaryBuilder::from_records(&all).finish();
        let mut merged = SummaryBuilder::new();
        for k in 0..4 {
            let shard = SummaryBuilder::from_records(all.iter().filter(|r| r.index % 4 == k));
            let text = serde_json::to_string(&shard.state()).unwrap();
            let state: SummaryState = serde_json::from_str(&text).unwrap();
            merged.merge(&SummaryBuilder::from_state(&state, Duration::ZERO).unwrap());
        }
        let merged = merged.finish();
        for ((name, a), (_, b)) in one.latencies().iter().zip(merged.latencies().iter()) {
            assert_eq!(a, b, "{name}");
        }
        assert_eq!(
            (
                one.requests_total,
                one.successful,
                one.total_output_tokens,
                one.total_input_tokens
            ),
            (
                merged.requests_total,
                merged.successful,
                merged.total_output_tokens,
                merged.total_input_tokens
            )
        );
        assert_eq!(one.errors, merged.errors);
        assert_eq!(one.duration_s, merged.duration_s);
        assert!(merged.peak_concurrency >= one.peak_concurrency, "an upper bound");
    }

    #[test]
    fn a_damaged_histogram_is_named() {
        let mut s = SummaryBuilder::from_records((0..10).map(rec)).state();
        s.dists.get_mut("ttft").unwrap().hdr = "not base64!".into();
        let e = SummaryBuilder::from_state(&s, Duration::ZERO).unwrap_err();
        assert!(e.to_string().starts_with("distribution `ttft`"), "{e}");
    }
}
