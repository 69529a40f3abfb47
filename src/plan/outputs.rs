//! Where results go (files, reports, the history, the dashboard), and the
//! monitor and live exporters that run beside a measurement.
//!
//! Every path is checked before any load is sent ([`check_paths`]): an
//! output that cannot be written would otherwise fail only after the
//! whole benchmark, and two outputs naming one file (or an output naming
//! an input, such as the `--dataset`) would silently overwrite each other.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{bad_at, defaults, Backend, MonitorOptions, OutputOptions, PlanError, TargetOptions};
use crate::api::ApiKind;
use crate::stats::Percentile;

/// Where results go besides the console.
#[derive(Debug, Clone, Serialize)]
pub struct Outputs {
    pub show_samples: usize,
    pub json: Option<PathBuf>,
    pub records: Option<PathBuf>,
    /// vLLM's result JSON: directory and optional file name.
    pub vllm_result: Option<VllmResult>,
    pub quiet: bool,
    /// Charts, HTML, CSV and Markdown to render at the end.
    pub reports: ReportPaths,
    pub tui: TuiMode,
    /// The history database to record the run in; `None` with `--no-history`.
    pub history: Option<PathBuf>,
    /// `--percentile-metrics`: the latencies of vLLM's console block and
    /// result file; `None`: vLLM's default for the run (see [`VllmMetric::defaults`]).
    pub percentile_metrics: Option<Vec<VllmMetric>>,
    /// `--metric-percentiles`: the percentiles of those latencies, also
    /// added to inferload's own latency table when given.
    pub metric_percentiles: Option<Vec<Percentile>>,
    /// `--ttft-rating`: the bounds of the mean-TTFT rating line.
    pub ttft_rating: TtftRating,
}

/// A latency `vllm bench serve --percentile-metrics` can select, named as
/// vLLM names it (its keys are `mean_{name}_ms`, `p99_{name}_ms`, ...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VllmMetric {
    Ttft,
    Tpot,
    Itl,
    E2el,
    /// Time a request waited for a concurrency slot in the client
    /// (inferload's queue delay: `sent_at − scheduled_at`).
    ClientQueueTime,
    /// E2EL plus that wait.
    E2elIncludingClientQueue,
}

impl VllmMetric {
    pub const ALL: [Self; 6] = [
        Self::Ttft,
        Self::Tpot,
        Self::Itl,
        Self::E2el,
        Self::ClientQueueTime,
        Self::E2elIncludingClientQueue,
    ];

    /// vLLM's name: `ttft`, `client_queue_time`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Ttft => "ttft",
            Self::Tpot => "tpot",
            Self::Itl => "itl",
            Self::E2el => "e2el",
            Self::ClientQueueTime => "client_queue_time",
            Self::E2elIncludingClientQueue => "e2el_including_client_queue",
        }
    }

    /// vLLM's default selection: `ttft,tpot,itl` for generation; `e2el`
    /// where there is no first token to time (a run that did not stream,
    /// as vLLM's default for its pooling backends).
    pub fn defaults(streamed: bool) -> Vec<Self> {
        if streamed {
            vec![Self::Ttft, Self::Tpot, Self::Itl]
        } else {
            vec![Self::E2el]
        }
    }

    /// A comma-separated list (`ttft,tpot,itl,e2el`), repeats dropped.
    pub fn parse_list(text: &str) -> Result<Vec<Self>, String> {
        let mut out = Vec::new();
        for item in text.split(',').map(str::trim) {
            if item.is_empty() {
                return Err("lists no metric: name some of ttft, tpot, itl, e2el, client_queue_time, e2el_including_client_queue".into());
            }
            let m = Self::ALL.into_iter().find(|m| m.name() == item).ok_or_else(|| {
                format!("unknown metric `{item}` (use ttft, tpot, itl, e2el, client_queue_time or e2el_including_client_queue)")
            })?;
            if !out.contains(&m) {
                out.push(m);
            }
        }
        Ok(out)
    }
}

/// The bounds of the rating of the mean TTFT printed after a run: under
/// `excellent` it is excellent, under `good` good, under `acceptable`
/// acceptable, else slow. Milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TtftRating {
    pub excellent_ms: f64,
    pub good_ms: f64,
    pub acceptable_ms: f64,
}

impl Default for TtftRating {
    /// What endpoint benchmarks commonly read as excellent (< 200 ms),
    /// good (< 500 ms) and acceptable (< 1 s) for an interactive reply.
    fn default() -> Self {
        Self {
            excellent_ms: 200.0,
            good_ms: 500.0,
            acceptable_ms: 1000.0,
        }
    }
}

impl TtftRating {
    /// Three increasing durations: `200ms,500ms,1s` (a bare number is milliseconds).
    pub fn parse(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.split(',').map(str::trim).collect();
        if parts.len() != 3 {
            return Err(format!(
                "`{text}` must be three durations, excellent,good,acceptable, e.g. 200ms,500ms,1s"
            ));
        }
        let mut ms = [0.0; 3];
        for (slot, part) in ms.iter_mut().zip(&parts) {
            let d = if !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
                part.parse::<f64>()
                    .ok()
                    .map(|v| v / 1e3)
                    .and_then(|s| Duration::try_from_secs_f64(s).ok())
            } else {
                crate::units::parse_duration(part).ok()
            };
            let d = d.ok_or_else(|| format!("`{part}` is not a duration (e.g. 200ms, 1s)"))?;
            *slot = d.as_secs_f64() * 1e3;
        }
        if !(0.0 < ms[0] && ms[0] < ms[1] && ms[1] < ms[2]) {
            return Err(format!(
                "`{text}`: the three bounds must be above zero and increasing (excellent < good < acceptable)"
            ));
        }
        Ok(Self {
            excellent_ms: ms[0],
            good_ms: ms[1],
            acceptable_ms: ms[2],
        })
    }

    /// The rating of a mean TTFT in milliseconds.
    pub fn rate(&self, mean_ms: f64) -> &'static str {
        if mean_ms < self.excellent_ms {
            "excellent"
        } else if mean_ms < self.good_ms {
            "good"
        } else if mean_ms < self.acceptable_ms {
            "acceptable"
        } else {
            "slow"
        }
    }
}

/// The reports to render (`--plot DIR`, `--html`, `--csv`, `--markdown`);
/// saved as is in the documents' settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ReportPaths {
    pub plot: Option<PathBuf>,
    pub html: Option<PathBuf>,
    pub csv: Option<PathBuf>,
    pub markdown: Option<PathBuf>,
}

/// Whether the live dashboard is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TuiMode {
    /// On a terminal, for runs expected to last more than a few seconds.
    Auto,
    On,
    Off,
}

#[derive(Debug, Clone, Serialize)]
pub struct VllmResult {
    pub dir: Option<PathBuf>,
    pub filename: Option<String>,
    pub detailed: bool,
    /// `--label` (default: the backend name).
    pub label: String,
    /// vLLM's `--backend` value recorded in the file.
    pub backend: String,
    /// `--metadata KEY=VALUE` pairs, in order.
    pub metadata: Vec<(String, String)>,
    /// `--append-result`.
    pub append: bool,
    /// `--model` when `--served-model-name` names the model sent: the
    /// file's `model_id`.
    pub model_id: Option<String>,
}

/// What the monitor does during a run or sweep (from the monitor options).
#[derive(Debug, Clone, Serialize)]
pub struct MonitorPlan {
    /// False with `--no-monitor`: no sampler runs (the trust verdict and
    /// the live exporters still do).
    pub enabled: bool,
    #[serde(serialize_with = "super::ser_secs")]
    pub interval: Duration,
    /// `--scrape` URLs; when empty, the target's `/metrics` if it answers.
    pub scrape: Vec<String>,
    /// Extra metric names kept from every scrape (`--scrape-metric`).
    pub scrape_metrics: Vec<String>,
    /// `--statsd HOST:PORT`.
    pub statsd: Option<String>,
    pub statsd_prefix: String,
    /// `--prometheus-listen ADDR`.
    pub prometheus_listen: Option<String>,
}

impl Default for MonitorPlan {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: defaults::MONITOR_INTERVAL,
            scrape: Vec::new(),
            scrape_metrics: Vec::new(),
            statsd: None,
            statsd_prefix: defaults::STATSD_PREFIX.into(),
            prometheus_listen: None,
        }
    }
}

impl Outputs {
    /// Every file or directory the outputs name, with its flag.
    pub fn paths(&self) -> Vec<(&'static str, PathBuf)> {
        self.written()
            .into_iter()
            .filter(|o| o.role != PathRole::Named)
            .map(|o| (o.flag, o.path))
            .collect()
    }

    /// Every path the outputs write, with how it is written.
    pub fn written(&self) -> Vec<OutputPath> {
        let mut out = Vec::new();
        let mut add = |flag, key, p: &Option<PathBuf>, role| {
            out.extend(p.clone().map(|path| OutputPath { flag, key, path, role }))
        };
        add("--json", "output.json", &self.json, PathRole::File);
        add("--records", "output.records", &self.records, PathRole::File);
        add("--html", "output.html", &self.reports.html, PathRole::File);
        add("--csv", "output.csv", &self.reports.csv, PathRole::File);
        add("--markdown", "output.markdown", &self.reports.markdown, PathRole::File);
        add("--plot", "output.plot", &self.reports.plot, PathRole::Dir);
        // The vLLM file's name is known now only when given; its directory
        // is created at the start of the run.
        if let Some(v) = &self.vllm_result {
            let file = v.filename.as_ref().map(|f| v.dir.clone().unwrap_or_default().join(f));
            add("--result-filename", "output.result_filename", &file, PathRole::Named);
        }
        // Recording in the history never fails a run: its path is only
        // kept from naming another output's file.
        add("--db", "output.db", &self.history, PathRole::Named);
        out
    }
}

/// A path an output writes.
#[derive(Debug, Clone, PartialEq)]
pub struct OutputPath {
    /// The flag that named it (`--json`).
    pub flag: &'static str,
    /// The option's key (`output.json`), so a scenario file can point at its line.
    pub key: &'static str,
    pub path: PathBuf,
    pub role: PathRole,
}

/// How an output's path is written, which says what is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathRole {
    /// A file in a directory that must exist and take new files.
    File,
    /// A directory, created with its parents when written (`--plot`, a
    /// sweep's `--records`): not an existing file, under a writable one.
    Dir,
    /// Only kept from naming another path's file (the history, which
    /// creates its directory and never fails a run; the vLLM result file,
    /// whose `--result-dir` is created at the start).
    Named,
}

/// Checks the outputs before any load is sent: each can be written, no two
/// name one file, and none names an input (`read`: `--dataset`,
/// `--body-template`, a scenario file). The error is one line naming the
/// flags at fault.
pub fn check_paths(written: &[OutputPath], read: &[(&'static str, PathBuf)]) -> Result<(), PlanError> {
    for o in written {
        let checked = match o.role {
            PathRole::File => crate::files::check_file_writable(&o.path),
            PathRole::Dir => crate::files::check_dir_writable(&o.path),
            PathRole::Named => Ok(()),
        };
        checked.map_err(|e| bad_at(o.key, format!("{} {}: {e}", o.flag, o.path.display())))?;
    }
    let ids: Vec<PathBuf> = written.iter().map(|o| crate::files::identity(&o.path)).collect();
    for (i, o) in written.iter().enumerate() {
        if let Some(j) = (0..i).find(|&j| ids[j] == ids[i]) {
            let first = &written[j];
            return Err(bad_at(
                o.key,
                format!(
                    "{} and {} both name {}; give each output its own file",
                    first.flag,
                    o.flag,
                    shown(&first.path, &o.path)
                ),
            ));
        }
        for (flag, input) in read {
            if crate::files::identity(input) == ids[i] {
                return Err(bad_at(
                    o.key,
                    format!(
                        "{} {} is the {flag} file; writing it would destroy the input: choose another path",
                        o.flag,
                        o.path.display()
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// One path, or both spellings of one file.
fn shown(a: &Path, b: &Path) -> String {
    if a == b {
        a.display().to_string()
    } else {
        format!("{} ({})", a.display(), b.display())
    }
}

/// Where results go, from the output options.
pub(super) fn resolve(a: &OutputOptions, t: &TargetOptions, api: ApiKind) -> Result<Outputs, PlanError> {
    let save_result = a.save_result.unwrap_or(false) || a.result_filename.is_some() || a.result_dir.is_some();
    let backend = match (t.backend, api) {
        (Some(Backend::Vllm), _) => "vllm",
        (Some(Backend::Openai), _) | (None, ApiKind::OpenaiCompletions) => "openai",
        (Some(Backend::OpenaiChat), _) | (None, ApiKind::OpenaiChat) => "openai-chat",
        (None, other) => other.name(),
    };
    let quiet = a.quiet.unwrap_or(false);
    let metadata = resolve_metadata(a.metadata.as_deref().unwrap_or_default())?;
    if !save_result && !metadata.is_empty() {
        return Err(bad_at(
            "output.metadata",
            "--metadata goes into vLLM's result file; add --save-result",
        ));
    }
    let append = a.append_result.unwrap_or(false);
    if append && !save_result {
        return Err(bad_at(
            "output.append_result",
            "--append-result appends to vLLM's result file; add --save-result",
        ));
    }
    let percentile_metrics = a
        .percentile_metrics
        .as_deref()
        .map(VllmMetric::parse_list)
        .transpose()
        .map_err(|e| bad_at("output.percentile_metrics", format!("--percentile-metrics {e}")))?;
    let metric_percentiles = a
        .metric_percentiles
        .as_deref()
        .map(Percentile::parse_list)
        .transpose()
        .map_err(|e| bad_at("output.metric_percentiles", format!("--metric-percentiles: {e}")))?;
    let ttft_rating = a
        .ttft_rating
        .as_deref()
        .map(TtftRating::parse)
        .transpose()
        .map_err(|e| bad_at("output.ttft_rating", format!("--ttft-rating {e}")))?
        .unwrap_or_default();
    Ok(Outputs {
        percentile_metrics,
        metric_percentiles,
        ttft_rating,
        show_samples: a.show_samples.unwrap_or(defaults::SHOW_SAMPLES),
        json: a.json.clone(),
        records: a.records.clone(),
        vllm_result: save_result.then(|| VllmResult {
            dir: a.result_dir.clone(),
            filename: a.result_filename.clone(),
            detailed: a.save_detailed.unwrap_or(false),
            label: a.label.clone().unwrap_or_else(|| backend.to_string()),
            backend: backend.to_string(),
            metadata,
            append,
            model_id: t.served_model_name.as_ref().and(t.model.clone()),
        }),
        quiet,
        reports: ReportPaths {
            plot: a.plot.clone(),
            html: a.html.clone(),
            csv: a.csv.clone(),
            markdown: a.markdown.clone(),
        },
        tui: match (a.tui, quiet) {
            (_, true) | (Some(false), _) => TuiMode::Off,
            (Some(true), false) => TuiMode::On,
            (None, false) => TuiMode::Auto,
        },
        history: match a.no_history {
            Some(true) => None,
            _ => a.db.clone().or_else(crate::files::default_history_db),
        },
    })
}

/// `--metadata KEY=VALUE` pairs; a key may not repeat or name one of the
/// file's own keys.
fn resolve_metadata(items: &[String]) -> Result<Vec<(String, String)>, PlanError> {
    /// Keys vLLM's file writes itself: metadata must not shadow them.
    const OWN: &[&str] = &[
        "date",
        "endpoint_type",
        "backend",
        "label",
        "model_id",
        "tokenizer_id",
        "num_prompts",
        "request_rate",
        "burstiness",
        "max_concurrency",
        "duration",
        "completed",
        "failed",
        "total_input_tokens",
        "total_output_tokens",
        "request_throughput",
        "request_goodput",
        "output_throughput",
        "total_token_throughput",
        "max_output_tokens_per_s",
        "max_concurrent_requests",
        "input_lens",
        "output_lens",
        "ttfts",
        "itls",
        "start_times",
        "latencies",
        "queue_times",
        "generated_texts",
        "errors",
        "rtfx",
    ];
    let mut pairs: Vec<(String, String)> = Vec::new();
    for item in items {
        let Some((k, v)) = item.split_once('=').filter(|(k, _)| !k.trim().is_empty()) else {
            return Err(bad_at(
                "output.metadata",
                format!("--metadata `{item}` must look like KEY=VALUE"),
            ));
        };
        let k = k.trim();
        if OWN.contains(&k) || k.ends_with("_ms") || pairs.iter().any(|(p, _)| p == k) {
            return Err(bad_at(
                "output.metadata",
                format!("--metadata key `{k}` is given twice or is one of the file's own keys"),
            ));
        }
        pairs.push((k.to_string(), v.to_string()));
    }
    Ok(pairs)
}

/// The monitor and live exporters, from the monitor options (run and sweep).
pub(super) fn resolve_monitor(a: &MonitorOptions) -> Result<MonitorPlan, PlanError> {
    let interval = a.monitor_interval.unwrap_or(defaults::MONITOR_INTERVAL);
    if interval < Duration::from_millis(50) {
        return Err(bad_at(
            "monitor.monitor_interval",
            "--monitor-interval must be at least 50ms",
        ));
    }
    let scrape = a.scrape.clone().unwrap_or_default();
    let scrape_metrics = a.scrape_metric.clone().unwrap_or_default();
    for u in &scrape {
        match url::Url::parse(u) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => {}
            _ => {
                return Err(bad_at(
                    "monitor.scrape",
                    format!(
                        "--scrape `{}` must be an http(s) URL, e.g. http://gpu-host:9400/metrics",
                        crate::redact::redact_url(u)
                    ),
                ))
            }
        }
    }
    let no_monitor = a.no_monitor.unwrap_or(false);
    if no_monitor && (!scrape.is_empty() || !scrape_metrics.is_empty()) {
        return Err(bad_at(
            "monitor.no_monitor",
            "--no-monitor turns scraping off; drop --scrape/--scrape-metric or --no-monitor",
        ));
    }
    if let Some(s) = &a.statsd {
        let port = s.rsplit_once(':').and_then(|(h, p)| (!h.is_empty()).then_some(p));
        if port.and_then(|p| p.parse::<u16>().ok()).is_none() {
            return Err(bad_at(
                "monitor.statsd",
                format!("--statsd `{s}` must be HOST:PORT, e.g. 127.0.0.1:8125"),
            ));
        }
    }
    if let Some(l) = &a.prometheus_listen {
        if l.parse::<std::net::SocketAddr>().is_err() {
            return Err(bad_at(
                "monitor.prometheus_listen",
                format!("--prometheus-listen `{l}` must be IP:PORT, e.g. 127.0.0.1:9464 (port 0 picks one)"),
            ));
        }
    }
    let statsd_prefix = a
        .statsd_prefix
        .clone()
        .unwrap_or_else(|| defaults::STATSD_PREFIX.into());
    if statsd_prefix.contains([':', '|', '@']) {
        return Err(bad_at(
            "monitor.statsd_prefix",
            "--statsd-prefix must not contain `:`, `|` or `@`",
        ));
    }
    Ok(MonitorPlan {
        enabled: !no_monitor,
        interval,
        scrape,
        scrape_metrics,
        statsd: a.statsd.clone(),
        statsd_prefix,
        prometheus_listen: a.prometheus_listen.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn out(f: impl FnOnce(&mut OutputOptions)) -> Result<Outputs, PlanError> {
        let mut o = OutputOptions::default();
        f(&mut o);
        resolve(&o, &TargetOptions::default(), ApiKind::OpenaiChat)
    }

    fn mon(f: impl FnOnce(&mut MonitorOptions)) -> Result<MonitorPlan, PlanError> {
        let mut o = MonitorOptions::default();
        f(&mut o);
        resolve_monitor(&o)
    }

    #[test]
    fn percentile_metrics_and_percentiles_resolve() {
        let o = out(|_| {}).unwrap();
        assert_eq!(
            (o.percentile_metrics, o.metric_percentiles),
            (None, None),
            "vLLM's defaults, chosen by the run"
        );
        assert_eq!(
            VllmMetric::defaults(true),
            [VllmMetric::Ttft, VllmMetric::Tpot, VllmMetric::Itl]
        );
        assert_eq!(VllmMetric::defaults(false), [VllmMetric::E2el]);
        let o = out(|o| {
            o.percentile_metrics = Some("ttft,tpot,itl,e2el,client_queue_time,e2el_including_client_queue".into());
            o.metric_percentiles = Some("25,50,90,99,99.9".into());
        })
        .unwrap();
        assert_eq!(o.percentile_metrics.unwrap(), VllmMetric::ALL);
        let words: Vec<String> = o.metric_percentiles.unwrap().iter().map(|p| p.word()).collect();
        assert_eq!(words, ["25", "50", "90", "99", "99.9"]);
    }

    #[test]
    fn bad_percentile_flags_name_the_flag() {
        let err = |f: fn(&mut OutputOptions)| out(f).unwrap_err();
        let e = err(|o| o.percentile_metrics = Some("ttft,ttfb".into()));
        assert_eq!(e.key, Some("output.percentile_metrics"));
        assert!(e.message.contains("--percentile-metrics unknown metric `ttfb`"), "{e}");
        let e = err(|o| o.percentile_metrics = Some(String::new()));
        assert!(e.message.contains("lists no metric"), "{e}");
        let e = err(|o| o.metric_percentiles = Some("50,101".into()));
        assert_eq!(e.key, Some("output.metric_percentiles"));
        assert_eq!(e.message, "--metric-percentiles: percentile `101` is outside 0..100");
        let e = err(|o| o.metric_percentiles = Some("-5".into()));
        assert!(e.message.contains("outside 0..100"), "{e}");
        let e = err(|o| o.metric_percentiles = Some(String::new()));
        assert!(e.message.contains("no percentile given"), "{e}");
        let e = err(|o| o.metric_percentiles = Some("p99".into()));
        assert!(e.message.contains("`p99` is not a number"), "{e}");
    }

    #[test]
    fn ttft_rating_bounds_resolve_and_rate() {
        let r = out(|_| {}).unwrap().ttft_rating;
        assert_eq!(r, TtftRating::default());
        assert_eq!((r.excellent_ms, r.good_ms, r.acceptable_ms), (200.0, 500.0, 1000.0));
        assert_eq!(r.rate(199.9), "excellent");
        assert_eq!(r.rate(200.0), "good");
        assert_eq!(r.rate(499.0), "good");
        assert_eq!(r.rate(999.0), "acceptable");
        assert_eq!(r.rate(1000.0), "slow");
        let r = out(|o| o.ttft_rating = Some("100ms, 0.3s,800".into()))
            .unwrap()
            .ttft_rating;
        assert_eq!((r.excellent_ms, r.good_ms, r.acceptable_ms), (100.0, 300.0, 800.0));
        let err = |v: &str| {
            let v = v.to_string();
            let e = out(move |o| o.ttft_rating = Some(v)).unwrap_err();
            assert_eq!(e.key, Some("output.ttft_rating"));
            e.message
        };
        assert!(err("200ms,500ms").contains("must be three durations"));
        assert!(err("200ms,500ms,1s,2s").contains("must be three durations"));
        assert!(err("200ms,fast,1s").contains("`fast` is not a duration"));
        assert!(err("500ms,200ms,1s").contains("increasing"));
        assert!(err("0ms,200ms,1s").contains("above zero"));
    }

    #[test]
    fn metadata_and_append_go_with_the_vllm_file() {
        let v = out(|o| {
            o.save_result = Some(true);
            o.append_result = Some(true);
            o.metadata = Some(vec!["gpu=H100".into(), "note=a=b".into()])
        })
        .unwrap()
        .vllm_result
        .unwrap();
        assert!(v.append);
        assert_eq!(
            v.metadata,
            vec![("gpu".into(), "H100".into()), ("note".into(), "a=b".into())]
        );
        let cases = [
            (
                out(|o| o.metadata = Some(vec!["a=1".into()])).unwrap_err(),
                "--metadata goes into vLLM's result file",
            ),
            (
                out(|o| o.append_result = Some(true)).unwrap_err(),
                "--append-result appends to vLLM's result file",
            ),
            (
                out(|o| {
                    o.save_result = Some(true);
                    o.metadata = Some(vec!["novalue".into()])
                })
                .unwrap_err(),
                "must look like KEY=VALUE",
            ),
            (
                out(|o| {
                    o.save_result = Some(true);
                    o.metadata = Some(vec!["duration=1".into()])
                })
                .unwrap_err(),
                "one of the file's own keys",
            ),
            (
                out(|o| {
                    o.save_result = Some(true);
                    o.metadata = Some(vec!["a=1".into(), "a=2".into()])
                })
                .unwrap_err(),
                "given twice",
            ),
        ];
        for (e, text) in cases {
            assert!(e.message.contains(text), "`{e}` should contain `{text}`");
        }
    }

    #[test]
    fn outputs_vllm_result_tui_and_history() {
        let o = out(|o| o.result_dir = Some("r".into())).unwrap();
        let v = o.vllm_result.expect("--result-dir implies --save-result");
        assert_eq!((v.label.as_str(), v.backend.as_str()), ("openai-chat", "openai-chat"));
        assert_eq!(out(|_| {}).unwrap().tui, TuiMode::Auto);
        assert_eq!(out(|o| o.tui = Some(true)).unwrap().tui, TuiMode::On);
        assert_eq!(
            out(|o| {
                o.tui = Some(true);
                o.quiet = Some(true)
            })
            .unwrap()
            .tui,
            TuiMode::Off,
            "--quiet draws nothing"
        );
        assert_eq!(out(|o| o.no_history = Some(true)).unwrap().history, None);
        assert_eq!(
            out(|o| o.db = Some("h.db".into())).unwrap().history,
            Some(PathBuf::from("h.db"))
        );
        let o = out(|o| {
            o.json = Some("a.json".into());
            o.html = Some("a.html".into())
        })
        .unwrap();
        assert_eq!(o.paths().len(), 2);
    }

    /// A plan's path error: its key and message.
    fn path_err(f: impl FnOnce(&mut crate::plan::RunOptions)) -> PlanError {
        let mut o = crate::plan::RunOptions::default();
        o.output.no_history = Some(true);
        f(&mut o);
        crate::plan::RunPlan::resolve(&o).expect_err("the paths are refused")
    }

    #[test]
    fn an_output_that_cannot_be_written_is_refused_with_its_flag() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("file"), "").unwrap();
        let e = path_err(|o| o.output.html = Some(d.join("missing/r.html")));
        assert_eq!(e.key, Some("output.html"));
        assert_eq!(
            e.message,
            format!(
                "--html {}: the directory {} does not exist",
                d.join("missing/r.html").display(),
                d.join("missing").display()
            )
        );
        let e = path_err(|o| o.output.csv = Some(d.to_path_buf()));
        assert!(
            e.message.starts_with("--csv ") && e.message.ends_with("is a directory; give a file name"),
            "{e}"
        );
        let e = path_err(|o| o.output.records = Some(d.join("file/r.jsonl")));
        assert!(
            e.message.starts_with("--records ") && e.message.contains("is not a directory"),
            "{e}"
        );
        let e = path_err(|o| o.output.plot = Some(d.join("file")));
        assert_eq!(e.key, Some("output.plot"));
        assert!(e.message.ends_with("is a file, not a directory"), "{e}");
        assert_eq!(std::fs::read_dir(d).unwrap().count(), 1, "nothing written");
    }

    #[test]
    fn two_outputs_naming_one_file_are_refused_naming_both_flags() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let x = d.join("x.json");
        let e = path_err(|o| {
            o.output.json = Some(x.clone());
            o.output.records = Some(x.clone())
        });
        assert_eq!(e.key, Some("output.records"));
        assert_eq!(
            e.message,
            format!(
                "--json and --records both name {}; give each output its own file",
                x.display()
            )
        );
        std::fs::create_dir(d.join("sub")).unwrap();
        let e = path_err(|o| {
            o.output.json = Some(x.clone());
            o.output.markdown = Some(d.join("sub/../x.json"))
        });
        assert!(e.message.starts_with("--json and --markdown both name"), "{e}");
        let e = path_err(|o| {
            o.output.json = Some(x.clone());
            o.output.result_dir = Some(d.to_path_buf());
            o.output.result_filename = Some("x.json".into())
        });
        assert!(e.message.starts_with("--json and --result-filename both name"), "{e}");
        let e = path_err(|o| {
            o.output.plot = Some(x.clone());
            o.output.no_history = None;
            o.output.db = Some(x.clone())
        });
        assert!(e.message.starts_with("--plot and --db both name"), "{e}");
        // Each its own file: accepted, and the vLLM file's own subdirectory
        // is left to the run (its --result-dir is created then).
        let mut o = crate::plan::RunOptions::default();
        o.output.json = Some(x.clone());
        o.output.records = Some(d.join("x.jsonl"));
        o.output.plot = Some(d.join("plots"));
        o.output.db = Some(d.join("new/history.db"));
        o.output.result_dir = Some(d.join("results"));
        o.output.result_filename = Some("later/v.json".into());
        crate::plan::RunPlan::resolve(&o).expect("distinct, writable paths");
    }

    #[test]
    fn an_output_naming_an_input_is_refused_naming_both_flags() {
        let dir = tempfile::tempdir().unwrap();
        let dataset = dir.path().join("mine.jsonl");
        std::fs::write(&dataset, "{\"prompt\": \"hi\"}\n").unwrap();
        let e = path_err(|o| {
            o.workload.dataset = Some(dataset.display().to_string());
            o.output.records = Some(dataset.clone())
        });
        assert_eq!(e.key, Some("output.records"));
        assert_eq!(
            e.message,
            format!(
                "--records {} is the --dataset file; writing it would destroy the input: choose another path",
                dataset.display()
            )
        );
        let template = dir.path().join("body.json");
        std::fs::write(&template, "{\"p\": {{ prompt | tojson }}}").unwrap();
        let e = path_err(|o| {
            o.target.api = Some(ApiKind::Http);
            o.target.body_template = Some(format!("@{}", template.display()));
            o.output.json = Some(template.clone())
        });
        assert!(
            e.message.starts_with("--json ") && e.message.contains("is the --body-template file"),
            "{e}"
        );
    }

    #[test]
    fn every_monitor_error_names_its_flag() {
        let cases: Vec<(PlanError, &str)> = vec![
            (
                mon(|o| o.monitor_interval = Some(Duration::from_millis(10))).unwrap_err(),
                "--monitor-interval",
            ),
            (
                mon(|o| o.scrape = Some(vec!["gpu:9400".into()])).unwrap_err(),
                "--scrape `gpu:9400`",
            ),
            (
                mon(|o| {
                    o.no_monitor = Some(true);
                    o.scrape_metric = Some(vec!["x".into()])
                })
                .unwrap_err(),
                "--no-monitor",
            ),
            (mon(|o| o.statsd = Some("localhost".into())).unwrap_err(), "--statsd"),
            (
                mon(|o| o.prometheus_listen = Some("here".into())).unwrap_err(),
                "--prometheus-listen",
            ),
            (
                mon(|o| o.statsd_prefix = Some("a:b".into())).unwrap_err(),
                "--statsd-prefix",
            ),
        ];
        for (e, text) in cases {
            assert!(e.message.starts_with(text), "`{e}` should start with `{text}`");
        }
        let e = mon(|o| o.scrape = Some(vec!["gpu:9400/metrics?token=sekrit-1".into()])).unwrap_err();
        assert!(!e.message.contains("sekrit"), "{e}");
        let m = mon(|o| o.no_monitor = Some(true)).unwrap();
        assert!(!m.enabled);
        assert_eq!(m.statsd_prefix, "inferload");
    }
}
