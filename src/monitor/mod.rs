//! The monitor: samplers that watch the system under test beside a
//! measurement — the local host and the load generator itself ([`host`]),
//! the GPUs ([`gpu`]: NVML, else `nvidia-smi`), and the server's own
//! Prometheus metrics or a node/DCGM exporter ([`scrape`]) — and the
//! trust verdict on the load generator ([`trust`]).
//!
//! Each source is one [`Sampler`]. The machine's own samplers (host, GPUs)
//! are found once per process ([`local_samplers`]) and lent by the harness
//! to each measurement; a target's scrapes belong to its session
//! ([`target_samplers`]). A [`Monitor`] holds the samplers of one
//! measurement; [`Monitor::start`] runs them every `--monitor-interval` on
//! the runtime until [`Running::finish`], which hands back the monitor (its
//! samplers return to their owners) and a [`MonitorReport`]: bounded time
//! series and a [`MonitorSummary`] of the figures the console, the sweep's
//! stop rule and `compare` read.
//!
//! Timing: a sample's time `t_s` is taken when its tick fires, in seconds
//! since the monitor started, which is just before the engine's clock starts
//! the measured phase — so sample times and the run's own times (records,
//! the throughput buckets of `doc::series`) share an origin to within
//! microseconds. Warm-up is not monitored.
//!
//! The server's prefix-cache counters are totals, not samples: each
//! scrape reports how many prompt tokens the server looked up in its prefix
//! cache, and found there, since the previous scrape of the same
//! measurement ([`Role::PrefixCacheQueries`], [`Role::PrefixCacheHits`]);
//! a baseline scrape is taken before the measured phase sends anything
//! ([`Running::ready`]) and a last one when it ends, so the summary's hit
//! rate covers exactly the measured phase, not a warm-up or the previous
//! sweep level.
//!
//! Invariants: a sampler that fails is reported once (a note) and sampled
//! again at the next tick, never fatal to the run; every series keeps at
//! most [`MAX_POINTS`] points (neighbours are averaged when it would grow
//! past that), while the summary's means and peaks stay exact.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

pub mod gpu;
pub mod host;
pub mod scrape;
pub mod trust;

pub use trust::TrustVerdict;

/// Most points kept per series.
pub const MAX_POINTS: usize = 1200;

pub use crate::plan::MonitorPlan;

/// What a reading counts towards in the [`MonitorSummary`]; readings of one
/// role in one tick are combined first (summed, averaged or maxed, see
/// [`Role::combine`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// GPU utilisation, percent (mean over GPUs).
    GpuUtil,
    /// GPU memory used, percent of total (the fullest GPU).
    GpuMemory,
    /// GPU memory used, bytes (sum over GPUs).
    GpuMemoryUsed,
    /// Host CPU utilisation, percent of all cores.
    HostCpu,
    /// Host memory used, bytes.
    HostMemory,
    /// The load generator's CPU, percent of one core.
    ClientCpu,
    /// The load generator's resident memory, bytes.
    ClientRss,
    /// Requests the server is running (sum over models).
    ServerRunning,
    /// Requests waiting in the server's queue (sum over models).
    ServerWaiting,
    /// KV-cache use, percent (the fullest cache).
    KvCache,
    /// Prompt tokens looked up in the server's prefix cache since the
    /// previous scrape (a total, not a sample: see the module docs).
    PrefixCacheQueries,
    /// Of those, tokens found in the cache.
    PrefixCacheHits,
}

enum Combine {
    Sum,
    Mean,
    Max,
}

impl Role {
    fn combine(self) -> Combine {
        match self {
            Role::GpuUtil => Combine::Mean,
            Role::GpuMemory | Role::KvCache | Role::HostCpu | Role::HostMemory => Combine::Max,
            Role::ClientCpu | Role::ClientRss => Combine::Max,
            Role::GpuMemoryUsed | Role::ServerRunning | Role::ServerWaiting => Combine::Sum,
            Role::PrefixCacheQueries | Role::PrefixCacheHits => Combine::Sum,
        }
    }
}

/// One value read by a sampler.
#[derive(Debug, Clone, PartialEq)]
pub struct Reading {
    /// Series name, labels included (`gpu0.utilization`, `vllm:num_requests_running{model_name="m"}`).
    pub name: String,
    /// `percent`, `bytes`, `watts`, `celsius`, `/s` (a counter's rate), or empty.
    pub unit: &'static str,
    pub value: f64,
    pub role: Option<Role>,
}

impl Reading {
    pub fn new(name: impl Into<String>, unit: &'static str, value: f64, role: Option<Role>) -> Self {
        Self {
            name: name.into(),
            unit,
            value,
            role,
        }
    }
}

/// One source of readings. `sample` is called once per tick; it may take
/// up to the interval (a scrape), and an error is noted once and retried.
pub trait Sampler: Send {
    /// Where the readings come from (`host`, `gpu (nvidia-smi)`, a URL).
    fn source(&self) -> String;
    fn sample(&mut self) -> BoxFuture<'_, Result<Vec<Reading>, String>>;
    /// A measurement is about to start: totals count from now (a scrape
    /// takes its baseline; most samplers have nothing to do).
    fn begin(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
    /// The measurement ends: the totals since the last sample (only
    /// [`Role::PrefixCacheQueries`]/[`Role::PrefixCacheHits`] readings
    /// count). Most samplers have none.
    fn last(&mut self) -> BoxFuture<'_, Result<Vec<Reading>, String>> {
        Box::pin(async { Ok(Vec::new()) })
    }
}

/// Mean and peak of one figure over the run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Stat {
    pub mean: f64,
    pub peak: f64,
}

impl MonitorSummary {
    /// Sets the load generator's mean CPU (percent of a core) to the
    /// phase's whole figure — the trust verdict's, from the same process
    /// CPU time — so a run too short for the samples to show it does not
    /// print 0 % beside a trust line that says otherwise.
    pub fn set_client_cpu_mean(&mut self, pct_of_a_core: f64) {
        let peak = self.client_cpu_pct.map_or(pct_of_a_core, |s| s.peak.max(pct_of_a_core));
        self.client_cpu_pct = Some(Stat {
            mean: pct_of_a_core,
            peak,
        });
    }
}

/// The figures the console, the sweep and `compare` read; a field is
/// `None` when no sampler measured it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MonitorSummary {
    /// Ticks sampled.
    pub samples: u64,
    /// GPUs seen (local or through a DCGM exporter).
    pub gpus: u32,
    pub gpu_util_pct: Option<Stat>,
    pub gpu_memory_pct: Option<Stat>,
    pub gpu_memory_used_bytes: Option<Stat>,
    pub host_cpu_pct: Option<Stat>,
    pub host_memory_used_bytes: Option<Stat>,
    pub client_cpu_pct: Option<Stat>,
    pub client_rss_bytes: Option<Stat>,
    pub server_running: Option<Stat>,
    pub server_waiting: Option<Stat>,
    pub kv_cache_pct: Option<Stat>,
    /// Prompt tokens the server looked up in its prefix cache during the
    /// measurement (vLLM's `prefix_cache_queries` counter), and those it
    /// found there (`prefix_cache_hits`); `None` when it exports neither.
    #[serde(default)]
    pub prefix_cache_queries: Option<f64>,
    #[serde(default)]
    pub prefix_cache_hits: Option<f64>,
}

impl MonitorSummary {
    /// Hits over queries, percent; `None` when nothing was looked up.
    pub fn prefix_cache_hit_pct(&self) -> Option<f64> {
        match (self.prefix_cache_queries, self.prefix_cache_hits) {
            (Some(q), Some(h)) if q > 0.0 => Some(h / q * 100.0),
            _ => None,
        }
    }
}

impl MonitorSummary {
    /// The mean/peak figure of a sampled role (`None` for totals).
    fn slot(&mut self, role: Role) -> Option<&mut Option<Stat>> {
        Some(match role {
            Role::GpuUtil => &mut self.gpu_util_pct,
            Role::GpuMemory => &mut self.gpu_memory_pct,
            Role::GpuMemoryUsed => &mut self.gpu_memory_used_bytes,
            Role::HostCpu => &mut self.host_cpu_pct,
            Role::HostMemory => &mut self.host_memory_used_bytes,
            Role::ClientCpu => &mut self.client_cpu_pct,
            Role::ClientRss => &mut self.client_rss_bytes,
            Role::ServerRunning => &mut self.server_running,
            Role::ServerWaiting => &mut self.server_waiting,
            Role::KvCache => &mut self.kv_cache_pct,
            Role::PrefixCacheQueries | Role::PrefixCacheHits => return None,
        })
    }
}

/// One sampled series.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeSeries {
    pub name: String,
    pub source: String,
    pub unit: String,
    pub role: Option<Role>,
    pub mean: f64,
    pub max: f64,
    /// `[t_s, value]` pairs, at most [`MAX_POINTS`].
    pub points: Vec<[f64; 2]>,
}

/// What the monitor saw during one measurement.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MonitorReport {
    pub interval_s: f64,
    /// The samplers that ran.
    pub sources: Vec<String>,
    /// What could not be measured, and why (each said once).
    pub notes: Vec<String>,
    /// How many of the first `notes` were already printed at setup.
    #[serde(skip)]
    pub notes_shown: usize,
    pub summary: MonitorSummary,
    pub series: Vec<TimeSeries>,
}

impl MonitorReport {
    /// Mean GPU utilisation in percent over the measurement, when a GPU was
    /// monitored (for `compare`'s efficiency score).
    pub fn mean_gpu_utilization(&self) -> Option<f64> {
        self.summary.gpu_util_pct.map(|s| s.mean)
    }

    /// The series of one role, in source order.
    pub fn series_of(&self, role: Role) -> impl Iterator<Item = &TimeSeries> {
        self.series.iter().filter(move |s| s.role == Some(role))
    }
}

/// Running sum, count and max.
#[derive(Debug, Clone, Copy, Default)]
struct Acc {
    n: u64,
    sum: f64,
    max: f64,
}

impl Acc {
    fn add(&mut self, v: f64) {
        if self.n == 0 || v > self.max {
            self.max = v;
        }
        self.n += 1;
        self.sum += v;
    }

    fn stat(&self) -> Option<Stat> {
        (self.n > 0).then(|| Stat {
            mean: self.sum / self.n as f64,
            peak: self.max,
        })
    }
}

struct SeriesBuf {
    source: String,
    unit: &'static str,
    role: Option<Role>,
    acc: Acc,
    points: Vec<[f64; 2]>,
}

impl SeriesBuf {
    fn push(&mut self, t: f64, v: f64) {
        self.acc.add(v);
        if self.points.len() >= MAX_POINTS {
            // Halve the resolution: average neighbours.
            self.points = self
                .points
                .chunks(2)
                .map(|c| {
                    let n = c.len() as f64;
                    [c[0][0], c.iter().map(|p| p[1]).sum::<f64>() / n]
                })
                .collect();
        }
        self.points.push([t, v]);
    }
}

/// Accumulates the readings of one measurement.
#[derive(Default)]
struct Recorder {
    order: Vec<String>,
    series: BTreeMap<String, SeriesBuf>,
    roles: BTreeMap<Role, Acc>,
    gpus: u32,
    samples: u64,
    prefix_queries: Option<f64>,
    prefix_hits: Option<f64>,
}

impl Recorder {
    /// Adds a total reading (module docs); false for any other.
    fn total(&mut self, r: &Reading) -> bool {
        let sum = match r.role {
            Some(Role::PrefixCacheQueries) => &mut self.prefix_queries,
            Some(Role::PrefixCacheHits) => &mut self.prefix_hits,
            _ => return false,
        };
        *sum.get_or_insert(0.0) += r.value;
        true
    }

    /// The totals a measurement's end brought; nothing else is recorded.
    fn last(&mut self, batches: Vec<(String, Vec<Reading>)>) {
        for r in batches.iter().flat_map(|(_, rs)| rs) {
            if r.value.is_finite() {
                self.total(r);
            }
        }
    }

    fn tick(&mut self, t: f64, batches: Vec<(String, Vec<Reading>)>) {
        self.samples += 1;
        let mut per_role: BTreeMap<Role, (f64, f64, u32)> = BTreeMap::new();
        let mut gpus = 0u32;
        for (source, readings) in batches {
            for r in readings {
                if !r.value.is_finite() || self.total(&r) {
                    continue;
                }
                if let Some(role) = r.role {
                    let e = per_role.entry(role).or_insert((0.0, f64::MIN, 0));
                    e.0 += r.value;
                    e.1 = e.1.max(r.value);
                    e.2 += 1;
                    if role == Role::GpuUtil {
                        gpus += 1;
                    }
                }
                let key = format!("{source}\u{0}{}", r.name);
                let buf = self.series.entry(key.clone()).or_insert_with(|| {
                    self.order.push(key);
                    SeriesBuf {
                        source: source.clone(),
                        unit: r.unit,
                        role: r.role,
                        acc: Acc::default(),
                        points: Vec::new(),
                    }
                });
                buf.push(t, r.value);
            }
        }
        self.gpus = self.gpus.max(gpus);
        for (role, (sum, max, n)) in per_role {
            let v = match role.combine() {
                Combine::Sum => sum,
                Combine::Mean => sum / f64::from(n.max(1)),
                Combine::Max => max,
            };
            self.roles.entry(role).or_default().add(v);
        }
    }

    fn report(self, interval: Duration, sources: Vec<String>, notes: Vec<String>, notes_shown: usize) -> MonitorReport {
        let mut summary = MonitorSummary {
            samples: self.samples,
            gpus: self.gpus,
            prefix_cache_queries: self.prefix_queries,
            prefix_cache_hits: self.prefix_hits,
            ..Default::default()
        };
        for (role, acc) in &self.roles {
            if let Some(slot) = summary.slot(*role) {
                *slot = acc.stat();
            }
        }
        let mut series = Vec::with_capacity(self.order.len());
        let mut bufs = self.series;
        for key in self.order {
            if let Some(b) = bufs.remove(&key) {
                let name = key.split_once('\u{0}').map_or(key.as_str(), |(_, n)| n).to_string();
                series.push(TimeSeries {
                    name,
                    source: b.source,
                    unit: b.unit.into(),
                    role: b.role,
                    mean: b.acc.stat().map_or(0.0, |s| s.mean),
                    max: b.acc.max,
                    points: b.points,
                });
            }
        }
        MonitorReport {
            interval_s: interval.as_secs_f64(),
            sources,
            notes,
            notes_shown,
            summary,
            series,
        }
    }
}

/// The samplers of one measurement: the process's own (host, GPUs), lent
/// by the harness, and the target's scrapes.
pub struct Monitor {
    samplers: Vec<Box<dyn Sampler>>,
    interval: Duration,
    /// Said once, at setup (e.g. no GPU found), and repeated in every report.
    setup_notes: Vec<String>,
    /// Sources whose failure was already noted.
    failed: Vec<String>,
}

/// The samplers of this machine — the host and its GPUs — found once per
/// process, with a note for each that could not be set up (no GPU).
pub async fn local_samplers() -> (Vec<Box<dyn Sampler>>, Vec<String>) {
    let mut samplers: Vec<Box<dyn Sampler>> = Vec::new();
    let mut notes = Vec::new();
    match host::HostSampler::new() {
        Ok(s) => samplers.push(Box::new(s)),
        Err(note) => notes.push(note),
    }
    match gpu::detect().await {
        Ok(s) => samplers.push(s),
        Err(note) => notes.push(note),
    }
    (samplers, notes)
}

/// The samplers of one target: the `--scrape` URLs, or the target's
/// `/metrics` when it answers.
pub async fn target_samplers(
    plan: &MonitorPlan,
    client: &reqwest::Client,
    base_url: &str,
    query: Option<&str>,
) -> Vec<Box<dyn Sampler>> {
    let urls: Vec<String> = if plan.scrape.is_empty() {
        let url = crate::url::join_url(base_url, "/metrics", query);
        if scrape::answers(client, &url).await {
            vec![url]
        } else {
            Vec::new()
        }
    } else {
        plan.scrape.clone()
    };
    urls.into_iter()
        .map(|url| {
            Box::new(scrape::ScrapeSampler::new(
                client.clone(),
                url,
                plan.scrape_metrics.clone(),
                plan.interval,
            )) as Box<dyn Sampler>
        })
        .collect()
}

impl Monitor {
    pub fn new(samplers: Vec<Box<dyn Sampler>>, interval: Duration, setup_notes: Vec<String>) -> Self {
        Self {
            samplers,
            interval,
            setup_notes,
            failed: Vec::new(),
        }
    }

    /// The samplers back, in the order given to [`Monitor::new`], for the
    /// next measurement.
    pub fn into_samplers(self) -> Vec<Box<dyn Sampler>> {
        self.samplers
    }

    /// The sources, for the settings line.
    pub fn sources(&self) -> Vec<String> {
        self.samplers.iter().map(|s| s.source()).collect()
    }

    /// Starts sampling on the runtime.
    pub fn start(mut self) -> Running {
        let stop = CancellationToken::new();
        let token = stop.clone();
        let (ready_tx, ready) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(async move {
            let limit = self.interval.max(Duration::from_millis(500));
            futures_util::future::join_all(
                self.samplers
                    .iter_mut()
                    .map(|s| async move { tokio::time::timeout(limit, s.begin()).await }),
            )
            .await;
            let _ = ready_tx.send(());
            let started = Instant::now();
            let mut rec = Recorder::default();
            let mut notes = self.setup_notes.clone();
            let mut tick = tokio::time::interval(self.interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    biased;
                    _ = token.cancelled() => break,
                    _ = tick.tick() => {}
                }
                let t = started.elapsed().as_secs_f64();
                let results = futures_util::future::join_all(self.samplers.iter_mut().map(|s| async move {
                    let source = s.source();
                    let r = match tokio::time::timeout(limit, s.sample()).await {
                        Ok(r) => r,
                        Err(_) => Err(format!("no answer within {}", crate::units::format_duration(limit))),
                    };
                    (source, r)
                }))
                .await;
                let mut batches = Vec::new();
                for (source, r) in results {
                    match r {
                        Ok(readings) => batches.push((source, readings)),
                        Err(e) if !self.failed.contains(&source) => {
                            notes.push(format!("{source}: {e}"));
                            self.failed.push(source);
                        }
                        Err(_) => {}
                    }
                }
                rec.tick(t, batches);
            }
            // The totals since the last tick (a source that failed this
            // measurement is not asked again).
            let failed = &self.failed;
            let last =
                futures_util::future::join_all(self.samplers.iter_mut().filter(|s| !failed.contains(&s.source())).map(
                    |s| async move {
                        let source = s.source();
                        (source, tokio::time::timeout(limit, s.last()).await)
                    },
                ))
                .await;
            rec.last(
                last.into_iter()
                    .filter_map(|(source, r)| match r {
                        Ok(Ok(readings)) => Some((source, readings)),
                        _ => None,
                    })
                    .collect(),
            );
            let sources = self.sources();
            let shown = self.setup_notes.len();
            let report = rec.report(self.interval, sources, notes, shown);
            (self, report)
        });
        Running {
            stop,
            task,
            ready: Some(ready),
        }
    }
}

/// A monitor sampling beside a measurement.
pub struct Running {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<(Monitor, MonitorReport)>,
    ready: Option<tokio::sync::oneshot::Receiver<()>>,
}

impl Running {
    /// Returns once the samplers have taken their baselines (a scrape
    /// each, bounded by the interval's timeout), so what the measurement
    /// sends after this is counted in the totals.
    pub async fn ready(&mut self) {
        if let Some(r) = self.ready.take() {
            let _ = r.await;
        }
    }

    /// Stops sampling; the monitor comes back for the next measurement.
    pub async fn finish(self) -> Option<(Monitor, MonitorReport)> {
        self.stop.cancel();
        self.task.await.ok()
    }
}

fn pct(v: f64) -> String {
    format!("{v:.1}%")
}

/// Bytes in binary units (`12.3 GiB`).
pub fn bytes(v: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = v;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < UNITS.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", UNITS[i])
    }
}

/// The summary as label/value rows (console block, HTML table).
pub fn summary_rows(r: &MonitorReport) -> Vec<(String, String)> {
    let s = &r.summary;
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut line = |label: &str, value: String| rows.push((label.to_string(), value));
    let mp = |st: &Option<Stat>, f: &dyn Fn(f64) -> String| st.map(|s| format!("{} / {}", f(s.mean), f(s.peak)));
    if let Some(v) = mp(&s.gpu_util_pct, &pct) {
        let gpus = s.gpus.max(1);
        line(
            &format!(
                "GPU utilisation, mean / peak ({gpus} GPU{}):",
                if gpus == 1 { "" } else { "s" }
            ),
            v,
        );
    }
    if let Some(m) = s.gpu_memory_pct {
        let used = s
            .gpu_memory_used_bytes
            .map(|u| format!(" ({})", bytes(u.peak)))
            .unwrap_or_default();
        line("GPU memory, peak:", format!("{}{used}", pct(m.peak)));
    }
    if let Some(v) = mp(&s.server_running, &|v| format!("{v:.1}")) {
        line("Server requests running, mean / peak:", v);
    }
    if let Some(v) = mp(&s.server_waiting, &|v| format!("{v:.1}")) {
        line("Server queue (waiting), mean / peak:", v);
    }
    if let Some(v) = mp(&s.kv_cache_pct, &pct) {
        line("KV cache use, mean / peak:", v);
    }
    if let (Some(q), Some(h)) = (s.prefix_cache_queries, s.prefix_cache_hits) {
        let v = match s.prefix_cache_hit_pct() {
            Some(p) => format!("{} ({h:.0} of {q:.0} prompt tokens)", pct(p)),
            None => "no prompt tokens looked up".to_string(),
        };
        line("Prefix cache hit rate:", v);
    }
    if let Some(v) = mp(&s.host_cpu_pct, &pct) {
        line("Host CPU, mean / peak:", v);
    }
    if let Some(m) = s.host_memory_used_bytes {
        line("Host memory used, peak:", bytes(m.peak));
    }
    if let Some(v) = mp(&s.client_cpu_pct, &|v| format!("{v:.1}% of a core")) {
        line("Load generator CPU, mean / peak:", v);
    }
    if let Some(m) = s.client_rss_bytes {
        line("Load generator memory (RSS), peak:", bytes(m.peak));
    }
    rows
}

/// The "System under test" block of the console summary (notes already
/// printed at setup are not repeated).
pub fn console_block(r: &MonitorReport) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "{:-^50}", " System under test ");
    for (label, value) in summary_rows(r) {
        let _ = writeln!(out, "{label:<40} {value}");
    }
    for n in r.notes.iter().skip(r.notes_shown) {
        let _ = writeln!(out, "Note: {n}");
    }
    out
}

/// A report with every kind of series, for other modules' tests.
#[cfg(test)]
pub(crate) fn example_report() -> MonitorReport {
    let mut rec = Recorder::default();
    for t in 0..3 {
        let t = f64::from(t);
        rec.tick(
            t,
            vec![
                (
                    "host".into(),
                    vec![
                        Reading::new("host.cpu", "percent", 10.0 + t, Some(Role::HostCpu)),
                        Reading::new("client.rss", "bytes", 1e7, Some(Role::ClientRss)),
                    ],
                ),
                (
                    "gpu (nvidia-smi)".into(),
                    vec![
                        Reading::new("gpu0.utilization", "percent", 50.0 * t, Some(Role::GpuUtil)),
                        Reading::new("gpu0.memory", "percent", 40.0, Some(Role::GpuMemory)),
                        Reading::new("gpu0.power", "watts", 250.0, None),
                    ],
                ),
                (
                    "http://127.0.0.1:1/metrics".into(),
                    vec![
                        Reading::new(
                            "vllm:num_requests_waiting{model_name=\"m\"}",
                            "",
                            t,
                            Some(Role::ServerWaiting),
                        ),
                        Reading::new(
                            "vllm:kv_cache_usage_perc{model_name=\"m\"}",
                            "percent",
                            30.0 * t,
                            Some(Role::KvCache),
                        ),
                        Reading::new("vllm:generation_tokens_total{model_name=\"m\"}", "/s", 900.0, None),
                    ],
                ),
            ],
        );
    }
    rec.report(
        Duration::from_secs(1),
        vec![
            "host".into(),
            "gpu (nvidia-smi)".into(),
            "http://127.0.0.1:1/metrics".into(),
        ],
        vec!["a note".into()],
        0,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_cache_totals_add_up_to_the_hit_rate_and_stay_out_of_the_series() {
        let totals = |q: f64, h: f64| {
            vec![(
                "http://x/metrics".to_string(),
                vec![
                    Reading::new("prefix_cache.queries", "tokens", q, Some(Role::PrefixCacheQueries)),
                    Reading::new("prefix_cache.hits", "tokens", h, Some(Role::PrefixCacheHits)),
                ],
            )]
        };
        let mut rec = Recorder::default();
        rec.tick(0.0, vec![]);
        rec.tick(1.0, totals(1152.0, 512.0));
        rec.last(totals(576.0, 512.0));
        let r = rec.report(Duration::from_secs(1), vec![], vec![], 0);
        assert_eq!(r.summary.samples, 2, "the last totals are not a sample");
        assert!(r.series.is_empty());
        assert_eq!(
            (r.summary.prefix_cache_queries, r.summary.prefix_cache_hits),
            (Some(1728.0), Some(1024.0))
        );
        let pct = r.summary.prefix_cache_hit_pct().unwrap();
        assert!((pct - 1024.0 / 1728.0 * 100.0).abs() < 1e-9);
        let rows = summary_rows(&r);
        assert!(
            rows.contains(&(
                "Prefix cache hit rate:".to_string(),
                "59.3% (1024 of 1728 prompt tokens)".to_string()
            )),
            "{rows:?}"
        );
        // Counters present but nothing looked up (prefix caching off).
        let mut rec = Recorder::default();
        rec.tick(0.0, totals(0.0, 0.0));
        let r = rec.report(Duration::from_secs(1), vec![], vec![], 0);
        assert_eq!(r.summary.prefix_cache_hit_pct(), None);
        assert!(summary_rows(&r).contains(&(
            "Prefix cache hit rate:".to_string(),
            "no prompt tokens looked up".to_string()
        )));
        // No counters at all: no row.
        assert!(!summary_rows(&example_report())
            .iter()
            .any(|(k, _)| k.contains("Prefix")));
    }

    #[test]
    fn roles_combine_per_tick_then_summarise() {
        let mut rec = Recorder::default();
        for (t, a, b) in [(0.0, 10.0, 30.0), (1.0, 50.0, 70.0)] {
            rec.tick(
                t,
                vec![(
                    "gpu".into(),
                    vec![
                        Reading::new("gpu0.utilization", "percent", a, Some(Role::GpuUtil)),
                        Reading::new("gpu1.utilization", "percent", b, Some(Role::GpuUtil)),
                        Reading::new("gpu0.memory", "percent", a, Some(Role::GpuMemory)),
                        Reading::new("gpu1.memory", "percent", b, Some(Role::GpuMemory)),
                    ],
                )],
            );
        }
        let r = rec.report(Duration::from_secs(1), vec!["gpu".into()], vec![], 0);
        // Mean over GPUs per tick: 20 then 60.
        assert_eq!(r.summary.gpu_util_pct, Some(Stat { mean: 40.0, peak: 60.0 }));
        // The fullest GPU per tick: 30 then 70.
        assert_eq!(r.summary.gpu_memory_pct, Some(Stat { mean: 50.0, peak: 70.0 }));
        assert_eq!(r.summary.gpus, 2);
        assert_eq!(r.series.len(), 4);
        assert_eq!(r.series[1].points, vec![[0.0, 30.0], [1.0, 70.0]]);
        assert_eq!(r.mean_gpu_utilization(), Some(40.0));
    }

    #[test]
    fn long_series_stay_bounded_with_exact_summaries() {
        let mut rec = Recorder::default();
        for i in 0..(3 * MAX_POINTS) {
            rec.tick(
                i as f64,
                vec![(
                    "host".into(),
                    vec![Reading::new("cpu", "percent", i as f64, Some(Role::HostCpu))],
                )],
            );
        }
        let r = rec.report(Duration::from_secs(1), vec![], vec![], 0);
        assert!(r.series[0].points.len() <= MAX_POINTS);
        assert_eq!(r.summary.host_cpu_pct.unwrap().peak, (3 * MAX_POINTS - 1) as f64);
        assert_eq!(r.series[0].max, (3 * MAX_POINTS - 1) as f64);
    }

    #[test]
    fn bytes_read_well() {
        assert_eq!(bytes(512.0), "512 B");
        assert_eq!(bytes(1536.0 * 1024.0 * 1024.0), "1.5 GiB");
    }
}
