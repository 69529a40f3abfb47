//! Where results go (files, reports, the history, the dashboard), and the
//! monitor and live exporters that run beside a measurement.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{bad_at, defaults, Backend, MonitorOptions, OutputOptions, PlanError, TargetOptions};
use crate::api::ApiKind;

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
        let mut out = Vec::new();
        let mut add = |flag, p: &Option<PathBuf>| out.extend(p.clone().map(|p| (flag, p)));
        add("--json", &self.json);
        add("--records", &self.records);
        add("--html", &self.reports.html);
        add("--csv", &self.reports.csv);
        add("--markdown", &self.reports.markdown);
        add("--plot", &self.reports.plot);
        out
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
    Ok(Outputs {
        show_samples: a.show_samples.unwrap_or(defaults::SHOW_SAMPLES),
        json: a.json.clone(),
        records: a.records.clone(),
        vllm_result: save_result.then(|| VllmResult {
            dir: a.result_dir.clone(),
            filename: a.result_filename.clone(),
            detailed: a.save_detailed.unwrap_or(false),
            label: a.label.clone().unwrap_or_else(|| backend.to_string()),
            backend: backend.to_string(),
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
                    format!("--scrape `{u}` must be an http(s) URL, e.g. http://gpu-host:9400/metrics"),
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
        let m = mon(|o| o.no_monitor = Some(true)).unwrap();
        assert!(!m.enabled);
        assert_eq!(m.statsd_prefix, "inferload");
    }
}
