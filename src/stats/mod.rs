//! The summary of a run (interface stub).

use serde::{Deserialize, Serialize};

use crate::record::{ErrorClass, RequestRecord};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LatencyStats {
    pub count: u64,
    pub mean: f64,
    pub stddev: f64,
    pub min: f64,
    pub p50: f64,
    pub p90: f64,
    pub p95: f64,
    pub p99: f64,
    pub p999: f64,
    pub max: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ErrorGroup {
    pub class: ErrorClass,
    pub count: u64,
    pub example: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub duration_s: f64,
    pub requests_total: u64,
    pub successful: u64,
    pub failed: u64,
    pub success_rate: f64,
    pub request_throughput: f64,
    pub input_throughput: f64,
    pub output_throughput: f64,
    pub total_token_throughput: f64,
    pub peak_output_throughput: f64,
    pub peak_concurrency: u64,
    pub total_input_tokens: u64,
    pub total_output_tokens: u64,
    pub tokens_estimated: bool,
    pub mean_input_tokens: f64,
    pub mean_output_tokens: f64,
    pub mean_output_speed: f64,
    pub ttft_ms: Option<LatencyStats>,
    pub tpot_ms: Option<LatencyStats>,
    pub itl_ms: Option<LatencyStats>,
    pub e2e_ms: Option<LatencyStats>,
    pub queue_delay_ms: Option<LatencyStats>,
    pub user_latency_ms: Option<LatencyStats>,
    pub errors: Vec<ErrorGroup>,
}

#[derive(Debug, Default)]
pub struct SummaryBuilder {
    n: u64,
}

impl SummaryBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, _rec: &RequestRecord) {
        self.n += 1;
    }

    pub fn finish(&self) -> Summary {
        Summary {
            requests_total: self.n,
            ..Default::default()
        }
    }
}
