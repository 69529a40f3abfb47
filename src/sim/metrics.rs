//! What the simulator counts about itself: the [`SimStats`] ground truth
//! that tests compare a client's figures against, and the Prometheus
//! registry behind `GET /metrics`.
//!
//! Two sets of books, on purpose:
//! - [`SimStats`] counts what a *client* can check. Token totals and the
//!   TTFT/ITL truth cover successful requests only (a client summing
//!   `usage` over its successful requests gets exactly these totals), and a
//!   request adds to them when its last token's chunk is produced.
//! - The Prometheus metrics behave like vLLM's: `vllm:prompt_tokens_total`
//!   grows when a prompt is prefilled and `vllm:generation_tokens_total`
//!   with every token produced, faulty requests included, so a scraper sees
//!   throughput live during a run. `vllm:prefix_cache_queries_total` and
//!   `vllm:prefix_cache_hits_total` count prompt tokens looked up in the
//!   prefix cache and those found there, when a sequence is admitted (as
//!   vLLM counts them: in tokens). The fixed profile has no queue and no
//!   KV cache: its `running` is the requests in flight, `waiting` and the
//!   cache usage stay 0, a prompt counts as prefilled on arrival, and it
//!   has no prefix cache, so the prefix-cache counters stay 0.
//!
//! Everything on a hot path is an atomic. The truth accumulators sit behind
//! one mutex, but a stream keeps its own and merges it once, when it ends,
//! so the lock is taken once per request, not once per token.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use serde::{Deserialize, Serialize};

/// A snapshot of the simulator's counters (also `GET /sim/stats`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SimStats {
    /// Generation requests accepted (valid, authorised, known model),
    /// including those then given an injected fault.
    pub requests_total: u64,
    /// Requests that ended with their complete reply.
    pub requests_succeeded: u64,
    /// Generation requests being served now.
    pub in_flight: u64,
    /// The most generation requests ever served at once.
    pub peak_in_flight: u64,
    /// Sum of `usage.prompt_tokens` over successful requests.
    pub prompt_tokens_total: u64,
    /// Sum of `usage.completion_tokens` over successful requests.
    pub generation_tokens_total: u64,
    /// Requests answered with an injected HTTP 500.
    pub errors_injected: u64,
    /// Requests whose reply was cut on purpose.
    pub disconnects_injected: u64,
    /// Requests given the configured `--fault` (empty, ignore-stream, stall, bad-usage).
    #[serde(default)]
    pub faults_injected: u64,
    /// TCP connections accepted.
    #[serde(default)]
    pub connections_accepted: u64,
    /// Server-side TTFT of successful streamed requests: from the handler
    /// receiving the request to the first content chunk handed to the body.
    pub ttft_truth_ms: Truth,
    /// Server-side gaps between consecutive content chunks handed to the
    /// body, over successful streamed requests.
    pub itl_truth_ms: Truth,
}

/// Count, mean and range of a set of durations in milliseconds (all 0 when
/// empty).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Truth {
    pub count: u64,
    pub mean: f64,
    pub min: f64,
    pub max: f64,
}

/// A running count/sum/min/max, mergeable.
#[derive(Debug, Clone, Copy)]
pub struct Acc {
    count: u64,
    sum: f64,
    min: f64,
    max: f64,
}

impl Default for Acc {
    fn default() -> Self {
        Self {
            count: 0,
            sum: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

impl Acc {
    pub fn add(&mut self, v: f64) {
        self.count += 1;
        self.sum += v;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
    }

    pub fn merge(&mut self, o: &Acc) {
        self.count += o.count;
        self.sum += o.sum;
        self.min = self.min.min(o.min);
        self.max = self.max.max(o.max);
    }

    fn truth(&self) -> Truth {
        if self.count == 0 {
            return Truth::default();
        }
        Truth {
            count: self.count,
            mean: self.sum / self.count as f64,
            min: self.min,
            max: self.max,
        }
    }
}

/// The TTFT and ITL truth of one request, merged when it succeeds.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestTruth {
    pub ttft_ms: Acc,
    pub itl_ms: Acc,
}

/// The server-wide counters behind [`SimStats`].
#[derive(Debug, Default)]
pub struct Counters {
    requests: AtomicU64,
    succeeded: AtomicU64,
    in_flight: AtomicU64,
    peak_in_flight: AtomicU64,
    prompt_tokens: AtomicU64,
    generation_tokens: AtomicU64,
    errors: AtomicU64,
    disconnects: AtomicU64,
    faults: AtomicU64,
    connections: AtomicU64,
    truth: Mutex<RequestTruth>,
}

impl Counters {
    /// Counts an accepted request and returns its 0-based number; the guard
    /// keeps it in flight until dropped or released. `running` is a gauge
    /// to hold up by one meanwhile (the fixed profile's
    /// `vllm:num_requests_running`; a batching engine sets its own).
    pub fn accept(self: &Arc<Self>, running: Option<Gauge>) -> (u64, InFlight) {
        let n = self.requests.fetch_add(1, Ordering::Relaxed);
        let now = self.in_flight.fetch_add(1, Ordering::AcqRel) + 1;
        self.peak_in_flight.fetch_max(now, Ordering::AcqRel);
        if let Some(g) = &running {
            g.inc();
        }
        (
            n,
            InFlight {
                counters: Some(self.clone()),
                running,
            },
        )
    }

    pub fn error_injected(&self) {
        self.errors.fetch_add(1, Ordering::Relaxed);
    }

    pub fn connection_accepted(&self) {
        self.connections.fetch_add(1, Ordering::Relaxed);
    }

    pub fn disconnect_injected(&self) {
        self.disconnects.fetch_add(1, Ordering::Relaxed);
    }

    pub fn fault_injected(&self) {
        self.faults.fetch_add(1, Ordering::Relaxed);
    }

    /// A request's complete reply was produced.
    pub fn succeeded(&self, prompt_tokens: u64, completion_tokens: u64, truth: Option<&RequestTruth>) {
        self.succeeded.fetch_add(1, Ordering::Relaxed);
        self.prompt_tokens.fetch_add(prompt_tokens, Ordering::Relaxed);
        self.generation_tokens.fetch_add(completion_tokens, Ordering::Relaxed);
        if let Some(t) = truth {
            let mut all = self.truth.lock().unwrap_or_else(PoisonError::into_inner);
            all.ttft_ms.merge(&t.ttft_ms);
            all.itl_ms.merge(&t.itl_ms);
        }
    }

    pub fn snapshot(&self) -> SimStats {
        let truth = *self.truth.lock().unwrap_or_else(PoisonError::into_inner);
        SimStats {
            requests_total: self.requests.load(Ordering::Relaxed),
            requests_succeeded: self.succeeded.load(Ordering::Relaxed),
            in_flight: self.in_flight.load(Ordering::Acquire),
            peak_in_flight: self.peak_in_flight.load(Ordering::Acquire),
            prompt_tokens_total: self.prompt_tokens.load(Ordering::Relaxed),
            generation_tokens_total: self.generation_tokens.load(Ordering::Relaxed),
            errors_injected: self.errors.load(Ordering::Relaxed),
            disconnects_injected: self.disconnects.load(Ordering::Relaxed),
            faults_injected: self.faults.load(Ordering::Relaxed),
            connections_accepted: self.connections.load(Ordering::Relaxed),
            ttft_truth_ms: truth.ttft_ms.truth(),
            itl_truth_ms: truth.itl_ms.truth(),
        }
    }
}

/// Holds one request in the in-flight count. Released explicitly just
/// before the reply's last bytes are handed over — a client that starts its
/// next request on reading them must never see one more in flight than it
/// sent — or on drop when the reply is abandoned.
#[derive(Debug)]
pub struct InFlight {
    counters: Option<Arc<Counters>>,
    running: Option<Gauge>,
}

impl InFlight {
    pub fn release(&mut self) {
        if let Some(c) = self.counters.take() {
            c.in_flight.fetch_sub(1, Ordering::AcqRel);
        }
        if let Some(g) = self.running.take() {
            g.dec();
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.release();
    }
}

type Labels = Vec<(&'static str, String)>;
type FloatGauge = Gauge<f64, AtomicU64>;

/// One model's Prometheus series (cheap clones of shared atomics).
#[derive(Debug, Clone)]
pub struct ModelMetrics {
    pub running: Gauge,
    pub waiting: Gauge,
    gpu_cache_usage: FloatGauge,
    kv_cache_usage: FloatGauge,
    pub prompt_tokens: Counter,
    pub generation_tokens: Counter,
    /// Prompt tokens looked up in the prefix cache, and those found
    /// (vLLM counts both in tokens).
    pub prefix_cache_queries: Counter,
    pub prefix_cache_hits: Counter,
    success_length: Counter,
    success_stop: Counter,
}

impl ModelMetrics {
    /// Both of vLLM's names for the KV-cache fill (the older
    /// `gpu_cache_usage_perc` and its successor), 0..1 despite "perc".
    pub fn set_kv_usage(&self, fraction: f64) {
        self.gpu_cache_usage.set(fraction);
        self.kv_cache_usage.set(fraction);
    }

    pub fn success(&self, finish_reason: &str) {
        match finish_reason {
            "stop" => self.success_stop.inc(),
            _ => self.success_length.inc(),
        };
    }
}

/// The registry and every model's series, in `SimConfig::models` order.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    models: Vec<ModelMetrics>,
}

impl Metrics {
    pub fn new(models: &[String]) -> Self {
        let mut registry = Registry::default();
        let running = Family::<Labels, Gauge>::default();
        let waiting = Family::<Labels, Gauge>::default();
        let gpu_cache = Family::<Labels, FloatGauge>::default();
        let kv_cache = Family::<Labels, FloatGauge>::default();
        let prompt = Family::<Labels, Counter>::default();
        let generation = Family::<Labels, Counter>::default();
        let success = Family::<Labels, Counter>::default();
        let queries = Family::<Labels, Counter>::default();
        let hits = Family::<Labels, Counter>::default();
        let series = models
            .iter()
            .map(|m| {
                let l: Labels = vec![("model_name", m.clone())];
                let reason = |r: &str| {
                    let mut l = l.clone();
                    l.push(("finished_reason", r.to_string()));
                    success.get_or_create_owned(&l)
                };
                ModelMetrics {
                    running: running.get_or_create_owned(&l),
                    waiting: waiting.get_or_create_owned(&l),
                    gpu_cache_usage: gpu_cache.get_or_create_owned(&l),
                    kv_cache_usage: kv_cache.get_or_create_owned(&l),
                    prompt_tokens: prompt.get_or_create_owned(&l),
                    generation_tokens: generation.get_or_create_owned(&l),
                    prefix_cache_queries: queries.get_or_create_owned(&l),
                    prefix_cache_hits: hits.get_or_create_owned(&l),
                    success_length: reason("length"),
                    success_stop: reason("stop"),
                }
            })
            .collect();
        // Counters are registered without `_total`: the encoder appends it.
        registry.register(
            "vllm:num_requests_running",
            "Number of requests currently running on GPU",
            running,
        );
        registry.register(
            "vllm:num_requests_waiting",
            "Number of requests waiting to be processed",
            waiting,
        );
        registry.register(
            "vllm:gpu_cache_usage_perc",
            "GPU KV-cache usage. 1 means 100 percent usage",
            gpu_cache,
        );
        registry.register(
            "vllm:kv_cache_usage_perc",
            "KV-cache usage. 1 means 100 percent usage",
            kv_cache,
        );
        registry.register("vllm:prompt_tokens", "Number of prefill tokens processed", prompt);
        registry.register(
            "vllm:generation_tokens",
            "Number of generation tokens processed",
            generation,
        );
        registry.register(
            "vllm:prefix_cache_queries",
            "Prefix cache queries, in terms of number of queried tokens.",
            queries,
        );
        registry.register(
            "vllm:prefix_cache_hits",
            "Prefix cache hits, in terms of number of cached tokens.",
            hits,
        );
        registry.register(
            "vllm:request_success",
            "Count of successfully processed requests",
            success,
        );
        Self {
            registry,
            models: series,
        }
    }

    pub fn model(&self, index: usize) -> &ModelMetrics {
        &self.models[index]
    }

    /// The exposition text (OpenMetrics, which Prometheus scrapes natively).
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

/// The content type of [`Metrics::render`]'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposition_has_vllm_names_and_model_labels() {
        let m = Metrics::new(&["a".to_string(), "b\"c".to_string()]);
        m.model(0).running.set(3);
        m.model(0).set_kv_usage(0.25);
        m.model(1).generation_tokens.inc_by(7);
        m.model(1).success("stop");
        m.model(0).prefix_cache_queries.inc_by(576);
        m.model(0).prefix_cache_hits.inc_by(512);
        let text = m.render();
        for line in [
            "# TYPE vllm:num_requests_running gauge",
            "vllm:num_requests_running{model_name=\"a\"} 3",
            "vllm:kv_cache_usage_perc{model_name=\"a\"} 0.25",
            "vllm:gpu_cache_usage_perc{model_name=\"a\"} 0.25",
            "# TYPE vllm:generation_tokens counter",
            "vllm:generation_tokens_total{model_name=\"b\\\"c\"} 7",
            "vllm:request_success_total{model_name=\"b\\\"c\",finished_reason=\"stop\"} 1",
            "vllm:prompt_tokens_total{model_name=\"a\"} 0",
            "vllm:num_requests_waiting{model_name=\"b\\\"c\"} 0",
            "# TYPE vllm:prefix_cache_queries counter",
            "vllm:prefix_cache_queries_total{model_name=\"a\"} 576",
            "vllm:prefix_cache_hits_total{model_name=\"a\"} 512",
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in\n{text}");
        }
    }

    #[test]
    fn in_flight_peak_and_release_once() {
        let c = Arc::new(Counters::default());
        let g = Gauge::default();
        let (n0, mut a) = c.accept(Some(g.clone()));
        let (n1, b) = c.accept(None);
        assert_eq!(g.get(), 1);
        assert_eq!((n0, n1), (0, 1));
        a.release();
        a.release();
        drop(a);
        assert_eq!(c.snapshot().in_flight, 1);
        assert_eq!(g.get(), 0);
        drop(b);
        let s = c.snapshot();
        assert_eq!((s.in_flight, s.peak_in_flight, s.requests_total), (0, 2, 2));
    }

    #[test]
    fn truth_merges_and_reports_zero_when_empty() {
        let c = Counters::default();
        assert_eq!(c.snapshot().ttft_truth_ms, Truth::default());
        let mut t = RequestTruth::default();
        t.ttft_ms.add(10.0);
        t.itl_ms.add(2.0);
        t.itl_ms.add(4.0);
        c.succeeded(5, 3, Some(&t));
        c.succeeded(5, 3, Some(&t));
        let s = c.snapshot();
        assert_eq!(s.ttft_truth_ms.count, 2);
        assert_eq!(
            s.itl_truth_ms,
            Truth {
                count: 4,
                mean: 3.0,
                min: 2.0,
                max: 4.0
            }
        );
        assert_eq!((s.prompt_tokens_total, s.generation_tokens_total), (10, 6));
    }
}
