//! The comparison document (`compare --json FILE`), described by
//! `docs/schema/compare.schema.json`: the shared settings and each
//! strategy's own, the score's formula, one [`StrategyResult`] per strategy
//! (its runs and their means, its score, its change against the first)
//! and the [`Best`] strategy.
//!
//! `inferload compare` rewrites it after every measurement, so an
//! interrupted comparison keeps what it measured.

use serde::{Deserialize, Serialize};

use crate::stats::Summary;

use super::settings::{RunSettings, Schedule, StopSettings, WorkloadSettings};
use super::Tool;

/// The `schema` value of the comparison document.
pub const SCHEMA: &str = "inferload/compare";
/// Bumped on any incompatible change of the document.
pub const SCHEMA_VERSION: u32 = 1;

fn schema() -> String {
    SCHEMA.into()
}

fn version() -> u32 {
    SCHEMA_VERSION
}

fn kind() -> String {
    "compare".into()
}

/// A whole comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareDocument {
    #[serde(default = "schema")]
    pub schema: String,
    #[serde(default = "version")]
    pub schema_version: u32,
    /// `"compare"`, as documents told themselves apart before `schema`.
    #[serde(default = "kind")]
    pub kind: String,
    #[serde(default)]
    pub tool: Tool,
    #[serde(default)]
    pub started_at: Option<String>,
    #[serde(default)]
    pub interrupted: bool,
    #[serde(default, deserialize_with = "super::lenient")]
    pub settings: Option<CompareSettings>,
    #[serde(default)]
    pub score: Score,
    pub strategies: Vec<StrategyResult>,
    #[serde(default)]
    pub best: Option<Best>,
}

/// What the comparison was asked to do.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompareSettings {
    pub repeat: u32,
    pub interleave: bool,
    /// The first strategy's load and workload (the shared ones unless a
    /// strategy overrides them).
    pub schedule: Schedule,
    pub stop: StopSettings,
    pub warmup: u64,
    pub workload: WorkloadSettings,
    pub strategies: Vec<StrategySettings>,
}

/// One strategy's name and full settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrategySettings {
    pub name: String,
    /// Everything this strategy's runs were asked to do.
    pub target: RunSettings,
}

/// How the efficiency score was computed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Score {
    /// The formula in words.
    pub formula: String,
    /// True when GPU utilisation took part (every strategy had it).
    pub gpu: bool,
    pub weights: Weights,
}

/// The weights of the score's terms.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Weights {
    pub throughput: f64,
    pub response_time: f64,
    pub gpu: f64,
}

/// One measurement of one strategy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    pub repeat: u32,
    pub summary: Summary,
    pub gpu_util_pct: Option<f64>,
    /// The connections the run opened and used, as a run document has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<crate::engine::ConnectionStats>,
    /// The server's prefix-cache hit rate over the run, percent of the
    /// prompt tokens it looked up (when it exports vLLM's counters).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_cache_hit_pct: Option<f64>,
}

/// A strategy's connection figures over all its runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct StrategyConnections {
    /// Connections opened, summed over the runs.
    pub opened: u64,
    /// Requests over the connections that carried them, all runs together.
    pub requests_per_connection: f64,
    /// Requests resent on a fresh connection because the server had closed
    /// the kept one, summed over the runs.
    pub stale_retries: u64,
    /// Mean time to open a connection (TCP and TLS), ms, over every
    /// connection opened; `None` when none was.
    pub connect_mean_ms: Option<f64>,
}

impl StrategyConnections {
    /// The figures of these runs together; `None` when none recorded any.
    pub fn of<'a>(runs: impl IntoIterator<Item = &'a crate::engine::ConnectionStats>) -> Option<Self> {
        let mut any = false;
        let (mut opened, mut used, mut requests, mut stale, mut n, mut sum) = (0u64, 0u64, 0u64, 0u64, 0u64, 0.0);
        for c in runs {
            any = true;
            opened += c.connections_opened;
            used += c.connections_used;
            requests += c.requests;
            stale += c.stale_retries;
            n += c.connect_ms.count;
            sum += c.connect_ms.mean * c.connect_ms.count as f64;
        }
        any.then(|| Self {
            opened,
            requests_per_connection: if used > 0 { requests as f64 / used as f64 } else { 0.0 },
            stale_retries: stale,
            connect_mean_ms: (n > 0).then(|| sum / n as f64),
        })
    }
}

/// A strategy's figures: the mean over its runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StrategyResult {
    pub name: String,
    pub url: String,
    pub api: String,
    pub endpoint: String,
    pub model: String,
    pub runs: Vec<RunResult>,
    pub requests: u64,
    pub success_rate: f64,
    pub request_throughput: f64,
    /// Images per second (image APIs), else `None`.
    pub images_per_s: Option<f64>,
    pub output_throughput: f64,
    /// Mean, p95 and p99 of the end-to-end latency (ms; until the result).
    pub latency_mean_ms: Option<f64>,
    pub latency_p95_ms: Option<f64>,
    pub latency_p99_ms: Option<f64>,
    /// `http-async`: mean latency of the submit alone (ms), what a client
    /// waits before it can move on.
    pub submit_mean_ms: Option<f64>,
    pub gpu_util_pct: Option<f64>,
    /// Mean over the runs of the server's prefix-cache hit rate (percent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix_cache_hit_pct: Option<f64>,
    pub score: f64,
    /// Change against the first strategy, in percent.
    pub throughput_change_pct: Option<f64>,
    pub latency_change_pct: Option<f64>,
    /// Connections over the runs (absent in documents written before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<StrategyConnections>,
}

impl StrategyResult {
    /// The throughput compared: images/s when measured, else req/s.
    pub fn work_throughput(&self) -> f64 {
        self.images_per_s.unwrap_or(self.request_throughput)
    }

    /// The response time compared: the mean end-to-end latency.
    pub fn response_ms(&self) -> Option<f64> {
        self.latency_mean_ms
    }
}

/// The best strategy and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Best {
    pub name: String,
    pub reason: String,
}

impl CompareDocument {
    /// A document of this version with nothing measured yet.
    pub fn new(settings: Option<CompareSettings>) -> Self {
        Self {
            schema: schema(),
            schema_version: SCHEMA_VERSION,
            kind: kind(),
            tool: Tool::default(),
            started_at: None,
            interrupted: false,
            settings,
            score: Score::default(),
            strategies: Vec::new(),
            best: None,
        }
    }

    /// "Comparison: a vs b".
    pub fn title(&self) -> String {
        let names: Vec<&str> = self.strategies.iter().map(|s| s.name.as_str()).collect();
        format!("Comparison: {}", names.join(" vs "))
    }

    /// True when the scores used GPU utilisation.
    pub fn with_gpu(&self) -> bool {
        self.score.gpu
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ConnectionStats;

    #[test]
    fn a_strategys_connections_add_up_over_its_runs() {
        assert_eq!(StrategyConnections::of([]), None);
        let mut one = ConnectionStats {
            requests: 100,
            connections_opened: 4,
            connections_used: 4,
            stale_retries: 1,
            ..Default::default()
        };
        one.connect_ms.count = 4;
        one.connect_ms.mean = 1.0;
        // A second run reuses two kept connections and opens two more.
        let mut two = ConnectionStats {
            requests: 100,
            connections_opened: 2,
            connections_used: 4,
            ..Default::default()
        };
        two.connect_ms.count = 2;
        two.connect_ms.mean = 4.0;
        let c = StrategyConnections::of([&one, &two]).unwrap();
        assert_eq!((c.opened, c.stale_retries), (6, 1));
        assert_eq!(c.requests_per_connection, 25.0);
        assert_eq!(c.connect_mean_ms, Some(2.0), "weighted by connections opened");
        let none = StrategyConnections::of([&ConnectionStats::default()]).unwrap();
        assert_eq!((none.requests_per_connection, none.connect_mean_ms), (0.0, None));
    }
}
