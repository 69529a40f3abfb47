//! `--prometheus-listen ADDR`: the load generator's own metrics, served at
//! `http://ADDR/metrics` (OpenMetrics text) while the run or sweep goes:
//!
//! - `inferload_requests_total{outcome="success"|"error",class=…}`;
//! - `inferload_request_latency_seconds` and `inferload_ttft_seconds`
//!   histograms (successful requests; TTFT of streamed ones);
//! - `inferload_output_tokens_total`, `inferload_input_tokens_total`;
//! - `inferload_requests_in_flight`.
//!
//! Port 0 picks a free port; the address actually bound is printed.

use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use tokio_util::sync::CancellationToken;

use crate::record::RequestRecord;

use super::LiveSink;

type Labels = Vec<(&'static str, String)>;

/// The load generator's live metrics.
pub struct PromSink {
    registry: Registry,
    requests: Family<Labels, Counter>,
    latency: Histogram,
    ttft: Histogram,
    output_tokens: Counter,
    input_tokens: Counter,
    in_flight: Gauge<i64, std::sync::atomic::AtomicI64>,
}

impl Default for PromSink {
    fn default() -> Self {
        Self::new()
    }
}

impl PromSink {
    pub fn new() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<Labels, Counter>::default();
        // 5 ms to about 160 s.
        let latency = Histogram::new(exponential_buckets(0.005, 2.0, 16));
        let ttft = Histogram::new(exponential_buckets(0.005, 2.0, 16));
        let output_tokens: Counter<u64, AtomicU64> = Counter::default();
        let input_tokens: Counter<u64, AtomicU64> = Counter::default();
        let in_flight = Gauge::<i64, std::sync::atomic::AtomicI64>::default();
        // Counters are registered without `_total`: the encoder appends it.
        registry.register("inferload_requests", "Finished requests by outcome", requests.clone());
        registry.register(
            "inferload_request_latency_seconds",
            "End-to-end latency of successful requests",
            latency.clone(),
        );
        registry.register(
            "inferload_ttft_seconds",
            "Time to first token of successful streamed requests",
            ttft.clone(),
        );
        registry.register(
            "inferload_output_tokens",
            "Output tokens of successful requests",
            output_tokens.clone(),
        );
        registry.register(
            "inferload_input_tokens",
            "Input tokens of successful requests",
            input_tokens.clone(),
        );
        registry.register("inferload_requests_in_flight", "Requests in flight", in_flight.clone());
        Self {
            registry,
            requests,
            latency,
            ttft,
            output_tokens,
            input_tokens,
            in_flight,
        }
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(4096);
        // Writing into a String cannot fail.
        let _ = encode(&mut out, &self.registry);
        out
    }
}

impl LiveSink for PromSink {
    fn on_sent(&self) {
        self.in_flight.inc();
    }

    fn on_finished(&self, rec: &RequestRecord, _model: &str) {
        self.in_flight.dec();
        match &rec.error {
            Some(e) => {
                self.requests
                    .get_or_create(&vec![("outcome", "error".into()), ("class", e.class.to_string())])
                    .inc();
            }
            None => {
                self.requests.get_or_create(&vec![("outcome", "success".into())]).inc();
                self.output_tokens.inc_by(rec.output_tokens);
                self.input_tokens.inc_by(rec.input_tokens);
                if let Some(d) = rec.e2e() {
                    self.latency.observe(d.as_secs_f64());
                }
                if let Some(d) = rec.ttft() {
                    self.ttft.observe(d.as_secs_f64());
                }
            }
        }
    }
}

/// Stops the server when dropped.
pub struct ServerGuard {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ServerGuard {
    fn drop(&mut self) {
        self.stop.cancel();
        self.task.abort();
    }
}

/// Binds `addr` and serves the metrics of a new [`PromSink`].
pub async fn serve(addr: &str) -> Result<(Arc<PromSink>, ServerGuard, String), String> {
    let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| e.to_string())?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let sink = Arc::new(PromSink::new());
    let for_route = sink.clone();
    let app = axum::Router::new().route(
        "/metrics",
        get(move || {
            let sink = for_route.clone();
            async move {
                (
                    [(
                        header::CONTENT_TYPE,
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                    )],
                    sink.render(),
                )
                    .into_response()
            }
        }),
    );
    let stop = CancellationToken::new();
    let token = stop.clone();
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app)
            .with_graceful_shutdown(async move { token.cancelled().await })
            .await;
    });
    Ok((sink, ServerGuard { stop, task }, format!("http://{bound}/metrics")))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::record::{ErrorClass, RequestError};

    #[test]
    fn outcomes_histograms_and_in_flight() {
        let p = PromSink::new();
        p.on_sent();
        p.on_sent();
        let ok = RequestRecord {
            sent_at: Duration::ZERO,
            token_times: vec![Duration::from_millis(50)],
            finished_at: Some(Duration::from_millis(200)),
            output_tokens: 7,
            streamed: true,
            status: Some(200),
            ..Default::default()
        };
        p.on_finished(&ok, "m");
        let bad = RequestRecord {
            error: Some(RequestError {
                class: ErrorClass::Timeout,
                message: "t".into(),
            }),
            ..Default::default()
        };
        p.on_finished(&bad, "m");
        p.on_sent();
        let text = p.render();
        assert!(
            text.contains("inferload_requests_total{outcome=\"success\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("inferload_requests_total{outcome=\"error\",class=\"timeout\"} 1"),
            "{text}"
        );
        assert!(text.contains("inferload_requests_in_flight 1"), "{text}");
        assert!(text.contains("inferload_output_tokens_total 7"), "{text}");
        assert!(text.contains("inferload_ttft_seconds_count 1"), "{text}");
        assert!(text.contains("inferload_request_latency_seconds_sum 0.2"), "{text}");
    }

    /// The Grafana dashboard plots only metrics this exporter serves.
    #[test]
    fn the_grafana_dashboard_names_served_metrics() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/grafana/inferload.json");
        let dash: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let p = PromSink::new();
        p.on_finished(
            &RequestRecord {
                token_times: vec![Duration::from_millis(5)],
                finished_at: Some(Duration::from_millis(9)),
                streamed: true,
                ..Default::default()
            },
            "m",
        );
        let served = p.render();
        let mut seen = 0;
        for panel in dash["panels"].as_array().unwrap() {
            for t in panel["targets"].as_array().unwrap() {
                let expr = t["expr"].as_str().unwrap();
                for (i, _) in expr.match_indices("inferload_") {
                    let name: String = expr[i..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    assert!(
                        served.contains(&format!("{name}{{")) || served.contains(&format!("{name} ")),
                        "{name}"
                    );
                    seen += 1;
                }
            }
        }
        assert!(seen >= 6);
    }
}
