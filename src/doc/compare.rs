//! The comparison document (`compare --json FILE`), described by
//! `docs/schema/compare.schema.json`: the shared settings and each
//! strategy's own, the score's formula, one [`StrategyResult`] per strategy
//! (its runs and their means, its score, its change against the first)
//! and the [`Best`] strategy.
//!
//! Each run keeps its own figures ([`RunResult`]: the summary, the
//! monitor's summary, the trust verdict, per-stage and per-turn figures,
//! as a run document has them); a strategy's figures are those runs taken
//! together, by the functions here ([`SystemFigures::of`],
//! [`stages_over_runs`], [`sessions_over_runs`]) so every exporter renders
//! the same numbers. A figure nobody measured (GPU memory without NVML or
//! `nvidia-smi`) is `None`, never 0.
//!
//! `inferload compare` rewrites it after every measurement, so an
//! interrupted comparison keeps what it measured.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::monitor::{MonitorSummary, TrustVerdict};
use crate::stats::sessions::{Sessions, TurnFigures};
use crate::stats::{Percentile, Summary};

use super::stages::{StageFigures, StagesSection};

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

/// The TTFT percentile shown beside the mean unless `--metric-percentiles`
/// chose another.
pub fn default_tail() -> Percentile {
    Percentile::new(99.0).expect("99 is a percentile")
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
    /// The percentile of `strategies[].ttft_tail_ms` (99 unless
    /// `--metric-percentiles` named others: then the highest of them).
    #[serde(default = "default_tail")]
    pub tail_percentile: Percentile,
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
    /// The settings in which the strategies differ, with this strategy's
    /// value: dotted keys into `target` (`target.base_url`,
    /// `schedule.concurrency`), `null` where this strategy has none. Every
    /// key of `target` not listed here is shared by all the strategies.
    #[serde(default)]
    pub own: BTreeMap<String, serde_json::Value>,
}

/// Each strategy's own settings (see [`StrategySettings::own`]): the
/// leaves of the settings whose values are not the same for every
/// strategy. Arrays are compared whole.
pub fn own_settings(all: &[RunSettings]) -> Vec<BTreeMap<String, serde_json::Value>> {
    fn walk(prefix: &str, v: &serde_json::Value, out: &mut BTreeMap<String, serde_json::Value>) {
        match v {
            serde_json::Value::Object(m) if !m.is_empty() => {
                for (k, v) in m {
                    let key = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(&key, v, out);
                }
            }
            other => {
                out.insert(prefix.to_string(), other.clone());
            }
        }
    }
    let flat: Vec<BTreeMap<String, serde_json::Value>> = all
        .iter()
        .map(|s| {
            let mut out = BTreeMap::new();
            walk("", &serde_json::to_value(s).unwrap_or_default(), &mut out);
            out
        })
        .collect();
    let keys: std::collections::BTreeSet<&String> = flat.iter().flat_map(|m| m.keys()).collect();
    let differing: Vec<&String> = keys
        .into_iter()
        .filter(|k| flat.windows(2).any(|w| w[0].get(*k) != w[1].get(*k)))
        .collect();
    flat.iter()
        .map(|m| {
            differing
                .iter()
                .map(|k| ((*k).clone(), m.get(*k).cloned().unwrap_or(serde_json::Value::Null)))
                .collect()
        })
        .collect()
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
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
    /// Wall-clock start of the run's measured phase (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// The monitor's figures over the run (load generator, host, GPUs,
    /// server), as a run document's `monitor.summary`; absent with
    /// `--no-monitor`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub monitor: Option<MonitorSummary>,
    /// Whether the load generator kept up during the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust: Option<TrustVerdict>,
    /// Per-turn and per-session figures (`--turns`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<Sessions>,
    /// Each stage's figures (a load over time: `--stages` and the like).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stages: Option<StagesSection>,
}

/// A strategy's load generator, host and GPU figures over its runs. CPU
/// means are the mean of the runs' means; peaks are the highest of the
/// runs' peaks. `None`: no run measured it (GPU memory without NVML or
/// `nvidia-smi`; everything but the client's mean CPU with
/// `--no-monitor`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SystemFigures {
    /// The load generator's CPU, percent of one core (the trust verdict's
    /// figure when the monitor did not run).
    pub client_cpu_mean_pct: Option<f64>,
    pub client_cpu_peak_pct: Option<f64>,
    /// The load generator's resident memory at its peak, bytes.
    pub client_memory_peak_bytes: Option<f64>,
    /// The host's CPU, percent of all its cores.
    pub host_cpu_mean_pct: Option<f64>,
    pub host_cpu_peak_pct: Option<f64>,
    /// The host's used memory at its peak, bytes.
    pub host_memory_peak_bytes: Option<f64>,
    /// GPU memory used at its peak (summed over GPUs), bytes, and the
    /// fullest GPU's share, percent.
    pub gpu_memory_peak_bytes: Option<f64>,
    pub gpu_memory_peak_pct: Option<f64>,
    /// Runs whose trust verdict was a warning (the load generator or the
    /// concurrency cap shaped the load).
    pub trust_warnings: u32,
}

fn mean_of(v: impl Iterator<Item = f64>) -> Option<f64> {
    let (mut s, mut n) = (0.0, 0usize);
    for x in v {
        s += x;
        n += 1;
    }
    (n > 0).then(|| s / n as f64)
}

fn max_of(v: impl Iterator<Item = f64>) -> Option<f64> {
    v.reduce(f64::max)
}

impl SystemFigures {
    /// The figures of these runs together; `None` when no run has a
    /// monitor summary or a trust verdict.
    pub fn of<'a>(runs: impl IntoIterator<Item = &'a RunResult>) -> Option<Self> {
        let runs: Vec<&RunResult> = runs.into_iter().collect();
        if runs.iter().all(|r| r.monitor.is_none() && r.trust.is_none()) {
            return None;
        }
        let all: &[&RunResult] = &runs;
        let stat = move |f: fn(&MonitorSummary) -> Option<crate::monitor::Stat>| {
            all.iter().filter_map(move |r| r.monitor.as_ref().and_then(f))
        };
        // One source per run for the client's mean CPU: the monitor's (set
        // from the trust verdict's process CPU time), else the verdict's.
        let client_mean = runs.iter().filter_map(|r| {
            r.monitor
                .as_ref()
                .and_then(|m| m.client_cpu_pct)
                .map(|s| s.mean)
                .or_else(|| r.trust.as_ref().map(|t| t.client_cpu_cores * 100.0))
        });
        Some(Self {
            client_cpu_mean_pct: mean_of(client_mean),
            client_cpu_peak_pct: max_of(stat(|m| m.client_cpu_pct).map(|s| s.peak)),
            client_memory_peak_bytes: max_of(stat(|m| m.client_rss_bytes).map(|s| s.peak)),
            host_cpu_mean_pct: mean_of(stat(|m| m.host_cpu_pct).map(|s| s.mean)),
            host_cpu_peak_pct: max_of(stat(|m| m.host_cpu_pct).map(|s| s.peak)),
            host_memory_peak_bytes: max_of(stat(|m| m.host_memory_used_bytes).map(|s| s.peak)),
            gpu_memory_peak_bytes: max_of(stat(|m| m.gpu_memory_used_bytes).map(|s| s.peak)),
            gpu_memory_peak_pct: max_of(stat(|m| m.gpu_memory_pct).map(|s| s.peak)),
            trust_warnings: runs
                .iter()
                .filter(|r| r.trust.as_ref().is_some_and(|t| !t.is_ok()))
                .count() as u32,
        })
    }
}

/// A strategy's figures per stage over its runs, aligned by stage number:
/// requests and successes summed, the success rate of the sum, the window,
/// targets, percentiles, throughputs and mean in flight averaged over the
/// runs that had the stage. Per-stage objectives stay with each run.
/// `None` when no run had stages.
pub fn stages_over_runs<'a>(runs: impl IntoIterator<Item = &'a StagesSection>) -> Option<Vec<StageFigures>> {
    let runs: Vec<&StagesSection> = runs.into_iter().collect();
    let n = runs.iter().map(|s| s.stages.len()).max()?;
    let stages = (0..n)
        .map(|i| {
            let of: Vec<&StageFigures> = runs.iter().filter_map(|s| s.stages.get(i)).collect();
            let avg = |f: fn(&StageFigures) -> f64| mean_of(of.iter().map(|s| f(s))).unwrap_or(0.0);
            let avg_opt = |f: fn(&StageFigures) -> Option<f64>| mean_of(of.iter().filter_map(|s| f(s)));
            let requests: u64 = of.iter().map(|s| s.requests).sum();
            let successful: u64 = of.iter().map(|s| s.successful).sum();
            StageFigures {
                stage: i + 1,
                start_s: avg(|s| s.start_s),
                end_s: avg(|s| s.end_s),
                from: avg(|s| s.from),
                to: avg(|s| s.to),
                requests,
                successful,
                success_rate: if requests > 0 {
                    successful as f64 / requests as f64
                } else {
                    0.0
                },
                ttft_p50_ms: avg_opt(|s| s.ttft_p50_ms),
                ttft_p99_ms: avg_opt(|s| s.ttft_p99_ms),
                itl_p50_ms: avg_opt(|s| s.itl_p50_ms),
                itl_p99_ms: avg_opt(|s| s.itl_p99_ms),
                request_throughput: avg(|s| s.request_throughput),
                output_throughput: avg(|s| s.output_throughput),
                mean_in_flight: avg(|s| s.mean_in_flight),
                // Averaged over separate runs: nothing here to merge later.
                state: None,
                slos: Vec::new(),
            }
        })
        .collect();
    Some(stages)
}

/// A strategy's conversation figures over its runs: session counts summed,
/// turns completed per started session over all of them, the most turns of
/// one session, durations averaged over the runs that completed one; per
/// turn index, requests and successes summed, input tokens weighted by
/// requests, percentiles averaged over the runs that had the turn. `None`
/// when no run had sessions.
pub fn sessions_over_runs<'a>(runs: impl IntoIterator<Item = &'a Sessions>) -> Option<Sessions> {
    let runs: Vec<&Sessions> = runs.into_iter().collect();
    if runs.is_empty() {
        return None;
    }
    let started: u64 = runs.iter().map(|s| s.started).sum();
    let turns_done: f64 = runs.iter().map(|s| s.turns_completed_mean * s.started as f64).sum();
    let turns = runs.iter().map(|s| s.by_turn.len()).max().unwrap_or(0);
    let by_turn = (0..turns)
        .map(|i| {
            let of: Vec<&TurnFigures> = runs.iter().filter_map(|s| s.by_turn.get(i)).collect();
            let avg_opt = |f: fn(&TurnFigures) -> Option<f64>| mean_of(of.iter().filter_map(|t| f(t)));
            let requests: u64 = of.iter().map(|t| t.requests).sum();
            let tokens: f64 = of.iter().map(|t| t.mean_input_tokens * t.requests as f64).sum();
            TurnFigures {
                turn: of.first().map_or(i as u32 + 1, |t| t.turn),
                requests,
                successful: of.iter().map(|t| t.successful).sum(),
                mean_input_tokens: if requests > 0 { tokens / requests as f64 } else { 0.0 },
                ttft_p50_ms: avg_opt(|t| t.ttft_p50_ms),
                ttft_p99_ms: avg_opt(|t| t.ttft_p99_ms),
                e2e_p50_ms: avg_opt(|t| t.e2e_p50_ms),
            }
        })
        .collect();
    Some(Sessions {
        started,
        completed: runs.iter().map(|s| s.completed).sum(),
        failed: runs.iter().map(|s| s.failed).sum(),
        cut: runs.iter().map(|s| s.cut).sum(),
        turns_completed_mean: if started > 0 { turns_done / started as f64 } else { 0.0 },
        turns_completed_max: runs.iter().map(|s| s.turns_completed_max).max().unwrap_or(0),
        duration_p50_s: mean_of(runs.iter().filter_map(|s| s.duration_p50_s)),
        duration_p99_s: mean_of(runs.iter().filter_map(|s| s.duration_p99_s)),
        duration_mean_s: mean_of(runs.iter().filter_map(|s| s.duration_mean_s)),
        by_turn,
        state: None,
    })
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
    /// Mean TTFT (ms) over the runs, and the mean of their
    /// [`CompareDocument::tail_percentile`]; `None` without a first token
    /// (non-streaming, images).
    #[serde(default)]
    pub ttft_mean_ms: Option<f64>,
    #[serde(default)]
    pub ttft_tail_ms: Option<f64>,
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
    /// The load generator's, the host's and the GPUs' figures over the runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system: Option<SystemFigures>,
    /// Figures per stage over the runs (a load over time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stages: Option<Vec<StageFigures>>,
    /// Figures per turn and per session over the runs (`--turns`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sessions: Option<Sessions>,
    /// 95 % Student-t intervals of the figures over the strategy's runs
    /// (`--repeats N`, N ≥ 2); `None` with one run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<crate::stats::confidence::Confidence>,
}

/// Pairs of strategies whose throughput intervals overlap: with the
/// repeats measured, noise cannot tell them apart, so their order in the
/// table is not a finding. Each pair once, in table order.
pub fn within_noise(results: &[StrategyResult]) -> Vec<(usize, usize)> {
    let tp = |r: &StrategyResult| {
        let name = if r.images_per_s.is_some() {
            "images_per_s"
        } else {
            "request_throughput"
        };
        r.confidence.as_ref().and_then(|c| c.get(name)).copied()
    };
    let mut pairs = Vec::new();
    for (i, a) in results.iter().enumerate() {
        for (j, b) in results.iter().enumerate().skip(i + 1) {
            if let (Some(x), Some(y)) = (tp(a), tp(b)) {
                if x.overlaps(&y) {
                    pairs.push((i, j));
                }
            }
        }
    }
    pairs
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
            tail_percentile: default_tail(),
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
    fn strategies_whose_throughput_intervals_overlap_are_within_noise() {
        use crate::stats::confidence::{over_repeats, Interval};
        let with = |name: &str, runs: &[f64]| {
            let each: Vec<_> = runs
                .iter()
                .map(|v| BTreeMap::from([("request_throughput".to_string(), *v)]))
                .collect();
            StrategyResult {
                name: name.into(),
                confidence: over_repeats(&each),
                ..Default::default()
            }
        };
        // a and b overlap (10 ± noise against 10.5 ± noise); c is far above.
        let results = [
            with("a", &[9.0, 10.0, 11.0]),
            with("b", &[9.5, 10.5, 11.5]),
            with("c", &[50.0, 51.0, 52.0]),
            with("one run", &[30.0]),
        ];
        assert_eq!(within_noise(&results), vec![(0, 1)]);
        let a: Interval = *results[0]
            .confidence
            .as_ref()
            .unwrap()
            .get("request_throughput")
            .unwrap();
        assert!(a.low < 10.0 && a.high > 10.0 && (a.mean - 10.0).abs() < 1e-12);
        assert!(results[3].confidence.is_none(), "one run has no interval");
    }

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

    fn stat(mean: f64, peak: f64) -> Option<crate::monitor::Stat> {
        Some(crate::monitor::Stat { mean, peak })
    }

    fn verdict(cores: f64, ok: bool) -> TrustVerdict {
        serde_json::from_value(serde_json::json!({
            "verdict": if ok { "ok" } else { "warning" },
            "line": "Result trust: OK", "issues": [], "advice": null,
            "client_cpu_cores": cores, "runtime_workers": 2, "client_cpu_pct": cores * 50.0,
            "lag_samples": 0, "lag_mean_ms": 0.0, "lag_p99_ms": 0.0, "lag_max_ms": 0.0,
            "arrivals": 0, "late_sends": 0, "max_send_lateness_ms": 0.0, "cap_waits": 0
        }))
        .unwrap()
    }

    #[test]
    fn system_figures_average_the_means_and_keep_the_highest_peaks() {
        assert_eq!(SystemFigures::of(&[RunResult::default()]), None, "nothing measured");
        let run = |cpu: f64, peak: f64, rss: f64, ok: bool| RunResult {
            monitor: Some(MonitorSummary {
                client_cpu_pct: stat(cpu, peak),
                client_rss_bytes: stat(rss * 0.8, rss),
                host_cpu_pct: stat(cpu * 2.0, peak * 2.0),
                host_memory_used_bytes: stat(1e9, 2e9),
                ..Default::default()
            }),
            trust: Some(verdict(cpu / 100.0, ok)),
            ..Default::default()
        };
        let s = SystemFigures::of(&[run(10.0, 30.0, 4e7, true), run(20.0, 25.0, 5e7, false)]).unwrap();
        assert_eq!(s.client_cpu_mean_pct, Some(15.0));
        assert_eq!(s.client_cpu_peak_pct, Some(30.0));
        assert_eq!(s.client_memory_peak_bytes, Some(5e7));
        assert_eq!((s.host_cpu_mean_pct, s.host_cpu_peak_pct), (Some(30.0), Some(60.0)));
        assert_eq!(s.host_memory_peak_bytes, Some(2e9));
        assert_eq!(s.trust_warnings, 1);
        // No GPU sampled: absent, never zero.
        assert_eq!((s.gpu_memory_peak_bytes, s.gpu_memory_peak_pct), (None, None));
        // --no-monitor: the client's CPU still comes from the trust verdict.
        let bare = RunResult {
            trust: Some(verdict(0.25, true)),
            ..Default::default()
        };
        let s = SystemFigures::of([&bare]).unwrap();
        assert_eq!(s.client_cpu_mean_pct, Some(25.0));
        assert_eq!((s.client_cpu_peak_pct, s.host_cpu_mean_pct), (None, None));
    }

    fn stage(i: usize, requests: u64, ok: u64, ttft: Option<f64>, rps: f64) -> StageFigures {
        StageFigures {
            stage: i,
            start_s: 0.0,
            end_s: 2.0,
            from: 1.0,
            to: 1.0,
            requests,
            successful: ok,
            success_rate: ok as f64 / requests as f64,
            ttft_p50_ms: ttft,
            ttft_p99_ms: ttft.map(|t| t * 2.0),
            itl_p50_ms: None,
            itl_p99_ms: None,
            request_throughput: rps,
            output_throughput: rps * 10.0,
            mean_in_flight: rps / 2.0,
            slos: Vec::new(),
            state: None,
        }
    }

    fn section(stages: Vec<StageFigures>) -> StagesSection {
        serde_json::from_value(serde_json::json!({
            "profile": {"kind": "concurrency", "start": 0.0, "stages": [{"duration_s": 2.0, "target": 1.0}]},
            "stages": stages,
        }))
        .unwrap()
    }

    #[test]
    fn stages_line_up_by_number_over_the_runs() {
        assert_eq!(stages_over_runs([]), None);
        let a = section(vec![stage(1, 10, 10, Some(4.0), 5.0), stage(2, 10, 5, None, 3.0)]);
        let b = section(vec![stage(1, 30, 15, Some(8.0), 7.0)]);
        let s = stages_over_runs([&a, &b]).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].requests, s[0].successful), (40, 25));
        assert_eq!(s[0].success_rate, 25.0 / 40.0, "the rate of the sums");
        assert_eq!(s[0].ttft_p50_ms, Some(6.0));
        assert_eq!(s[0].request_throughput, 6.0);
        assert_eq!((s[1].stage, s[1].requests, s[1].ttft_p50_ms), (2, 10, None));
    }

    #[test]
    fn sessions_add_up_over_the_runs() {
        assert_eq!(sessions_over_runs([]), None);
        let turn = |n: u32, requests: u64, tokens: f64, ttft: f64| TurnFigures {
            turn: n,
            requests,
            successful: requests,
            mean_input_tokens: tokens,
            ttft_p50_ms: Some(ttft),
            ttft_p99_ms: Some(ttft),
            e2e_p50_ms: None,
        };
        let a = Sessions {
            started: 2,
            completed: 2,
            turns_completed_mean: 3.0,
            turns_completed_max: 3,
            duration_p50_s: Some(1.0),
            by_turn: vec![turn(1, 2, 10.0, 5.0), turn(2, 2, 30.0, 7.0)],
            ..Default::default()
        };
        let b = Sessions {
            started: 6,
            completed: 4,
            cut: 2,
            turns_completed_mean: 1.0,
            turns_completed_max: 2,
            duration_p50_s: None,
            by_turn: vec![turn(1, 6, 20.0, 9.0)],
            ..Default::default()
        };
        let s = sessions_over_runs([&a, &b]).unwrap();
        assert_eq!((s.started, s.completed, s.cut), (8, 6, 2));
        assert_eq!(s.turns_completed_mean, (2.0 * 3.0 + 6.0) / 8.0);
        assert_eq!(s.turns_completed_max, 3);
        assert_eq!(s.duration_p50_s, Some(1.0), "only runs that completed one");
        assert_eq!(s.by_turn.len(), 2);
        assert_eq!(s.by_turn[0].requests, 8);
        assert_eq!(s.by_turn[0].mean_input_tokens, (2.0 * 10.0 + 6.0 * 20.0) / 8.0);
        assert_eq!(s.by_turn[0].ttft_p50_ms, Some(7.0));
        assert_eq!((s.by_turn[1].turn, s.by_turn[1].requests), (2, 2));
    }

    #[test]
    fn own_settings_are_the_keys_the_strategies_differ_in() {
        let mut a = RunSettings::default();
        a.target.base_url = Some("http://127.0.0.1:1".into());
        a.target.api_key = Some(super::super::settings::MASK.into());
        let mut b = a.clone();
        b.target.base_url = Some("http://127.0.0.1:2".into());
        b.warmup = 3;
        let own = own_settings(&[a, b]);
        assert_eq!(own.len(), 2);
        let keys: Vec<&str> = own[0].keys().map(String::as_str).collect();
        assert_eq!(keys, ["target.base_url", "warmup"]);
        assert_eq!(own[1]["target.base_url"], "http://127.0.0.1:2");
        assert_eq!(own[0]["warmup"], 0);
        // One strategy: nothing is its own.
        assert!(own_settings(&[RunSettings::default()])[0].is_empty());
    }
}
