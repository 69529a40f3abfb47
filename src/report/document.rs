//! The one model every renderer reads: a [`Document`], built from a live
//! [`RunReport`] or from saved files — a run's `--json` document, a
//! `--records` JSONL file, or a sweep's `--json` document.
//!
//! Renderers never look at the source: what a source lacks is `None` (a
//! records file has no settings; a run document saved without report flags
//! has no `series`, so no per-request charts) and they say so rather than
//! guess.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::export::records::read_records;
use crate::export::RunReport;
use crate::record::RequestRecord;
use crate::slo::{Goodput, SloResult};
use crate::stats::{Summary, SummaryBuilder};

use super::series::Series;

/// A finished run or sweep, ready to render.
#[derive(Debug, Clone)]
pub enum Document {
    Run(Box<RunDoc>),
    Sweep(Box<SweepDoc>),
    Compare(Box<super::compare::CompareDoc>),
}

/// One objective, judged.
#[derive(Debug, Clone, PartialEq)]
pub struct SloRow {
    pub expr: String,
    /// The measured value in the objective's unit (`n/a` when undefined).
    pub measured: String,
    pub passed: bool,
}

impl SloRow {
    fn of(r: &SloResult) -> Self {
        Self {
            expr: r.slo.expr.clone(),
            measured: r.measured_text(),
            passed: r.passed,
        }
    }
}

/// A run.
#[derive(Debug, Clone)]
pub struct RunDoc {
    pub target_url: Option<String>,
    pub model: Option<String>,
    pub started_at: Option<String>,
    pub embedded_sim: bool,
    pub interrupted: bool,
    pub cancelled: u64,
    /// The plan as saved (secrets already `***`); `None` from a records file.
    pub settings: Option<serde_json::Value>,
    /// Whether the run streamed (TTFT, TPOT and ITL are defined).
    pub stream: bool,
    pub summary: Summary,
    pub goodput: Option<Goodput>,
    pub slos: Vec<SloRow>,
    pub series: Option<Series>,
    /// Every record, when the source had them (live runs, records files).
    pub records: Option<Vec<RequestRecord>>,
    /// What the monitor saw (resource charts), when the run was monitored.
    pub monitor: Option<crate::monitor::MonitorReport>,
    /// The trust verdict, when saved.
    pub trust: Option<crate::monitor::TrustVerdict>,
}

/// One measured level of a sweep.
#[derive(Debug, Clone, Deserialize)]
pub struct Level {
    pub concurrency: Option<usize>,
    pub rate: Option<f64>,
    pub achieved_rate: Option<f64>,
    pub requests: u64,
    pub success_rate: f64,
    pub request_throughput: f64,
    pub output_throughput: f64,
    pub efficiency: f64,
    pub goodput: Option<Goodput>,
    #[serde(default)]
    pub slos: Vec<SavedSlo>,
    pub trip: Option<SavedTrip>,
    pub summary: Summary,
    /// Resource use during the level, when monitored.
    #[serde(default)]
    pub monitor: Option<crate::monitor::MonitorSummary>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SavedTrip {
    pub rule: String,
    pub detail: String,
}

/// An objective as the documents save it.
#[derive(Debug, Clone, Deserialize)]
pub struct SavedSlo {
    pub slo: SavedSloExpr,
    pub measured: Option<f64>,
    pub passed: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SavedSloExpr {
    pub expr: String,
}

impl SavedSlo {
    pub fn row(&self) -> SloRow {
        // Re-parse the expression for its unit; a goodput item (`e2el:500`)
        // is not an expression, and shows the bare number.
        let measured = match crate::slo::parse(&self.slo.expr) {
            Ok(slo) => SloResult {
                slo,
                measured: self.measured,
                passed: self.passed,
            }
            .measured_text(),
            Err(_) => self.measured.map_or_else(|| "n/a".into(), |v| format!("{v:.2}")),
        };
        SloRow {
            expr: self.slo.expr.clone(),
            measured,
            passed: self.passed,
        }
    }
}

/// The sweep's answer, as saved.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SavedVerdict {
    pub max_stable_concurrency: Option<usize>,
    pub recommended_concurrency: Option<usize>,
    pub max_stable_rate: Option<f64>,
    pub recommended_rate: Option<f64>,
    pub required_concurrency: Option<usize>,
    pub max_rate_under_slo: Option<f64>,
    pub request_throughput: Option<f64>,
    pub output_throughput: Option<f64>,
    pub stopped_by: Option<SavedTrip>,
    pub stopped_at: Option<String>,
    #[serde(default)]
    pub reason: String,
}

/// A sweep.
#[derive(Debug, Clone)]
pub struct SweepDoc {
    pub target_url: Option<String>,
    pub model: Option<String>,
    pub api: Option<String>,
    pub started_at: Option<String>,
    pub interrupted: bool,
    pub settings: Option<serde_json::Value>,
    pub levels: Vec<Level>,
    pub verdict: Option<SavedVerdict>,
}

impl SweepDoc {
    /// True when the levels differ by rate (the x axis is the rate).
    pub fn rate_axis(&self) -> bool {
        let mut rates: Vec<f64> = self.levels.iter().filter_map(|l| l.rate).collect();
        rates.sort_by(f64::total_cmp);
        rates.dedup();
        rates.len() > 1
            || (self.levels.iter().all(|l| l.rate.is_some()) && self.levels.iter().all(|l| l.concurrency.is_none()))
    }

    /// The x value of a level on the charts.
    pub fn x_of(&self, l: &Level) -> Option<f64> {
        if self.rate_axis() {
            l.rate
        } else {
            l.concurrency.map(|c| c as f64)
        }
    }

    /// The x values of the maximum stable and the recommended level.
    pub fn marks(&self) -> (Option<f64>, Option<f64>) {
        let Some(v) = &self.verdict else {
            return (None, None);
        };
        if self.rate_axis() {
            (v.max_stable_rate.or(v.max_rate_under_slo), v.recommended_rate)
        } else {
            (
                v.max_stable_concurrency.or(v.required_concurrency).map(|c| c as f64),
                v.recommended_concurrency.map(|c| c as f64),
            )
        }
    }

    pub fn title(&self) -> String {
        title("Sweep", self.target_url.as_deref(), self.model.as_deref())
    }
}

impl RunDoc {
    pub fn of(report: &RunReport) -> Self {
        let series = (!report.records.is_empty()).then(|| Series::from_records(&report.records));
        Self {
            target_url: Some(report.target_url.clone()),
            model: Some(report.model.clone()),
            started_at: Some(report.started_at.to_rfc3339()),
            embedded_sim: report.embedded_sim,
            interrupted: report.interrupted,
            cancelled: report.cancelled,
            settings: serde_json::to_value(crate::export::json::Settings::of(&report.plan)).ok(),
            stream: report.plan.workload.stream,
            summary: report.summary.clone(),
            goodput: report.goodput,
            slos: report.slo_results.iter().map(SloRow::of).collect(),
            series,
            records: Some(report.records.clone()),
            monitor: report.monitor.clone(),
            trust: report.trust.clone(),
        }
    }

    /// True when the schedule was open loop (unknown from a records file:
    /// then when any request left more than a millisecond late).
    pub fn open_loop(&self) -> bool {
        match self.settings.as_ref().and_then(|s| s.pointer("/schedule/mode")) {
            Some(m) => m == "open",
            None => self.summary.queue_delay_ms.as_ref().is_some_and(|q| q.max > 1.0),
        }
    }

    pub fn title(&self) -> String {
        title("Run", self.target_url.as_deref(), self.model.as_deref())
    }
}

/// The key figures of a run, as label/value rows, for the tables.
pub fn key_figures(r: &RunDoc) -> Vec<(&'static str, String)> {
    let s = &r.summary;
    let mut rows = vec![
        (
            "Requests",
            format!(
                "{} ({} successful, {} failed)",
                s.requests_total, s.successful, s.failed
            ),
        ),
        ("Success rate", format!("{:.2}%", s.success_rate * 100.0)),
        ("Duration", format!("{:.2} s", s.duration_s)),
        ("Request throughput", format!("{:.2} req/s", s.request_throughput)),
        ("Output token throughput", format!("{:.2} tok/s", s.output_throughput)),
        (
            "Total token throughput",
            format!("{:.2} tok/s", s.total_token_throughput),
        ),
        (
            "Peak output token throughput",
            format!("{:.2} tok/s", s.peak_output_throughput),
        ),
        ("Peak concurrent requests", s.peak_concurrency.to_string()),
        (
            "Tokens (input / output)",
            format!(
                "{} / {}{}",
                s.total_input_tokens,
                s.total_output_tokens,
                if s.tokens_estimated { " (estimated)" } else { "" }
            ),
        ),
        (
            "Mean output speed per request",
            format!("{:.2} tok/s", s.mean_output_speed),
        ),
    ];
    if let Some(g) = r.goodput {
        rows.push((
            "Goodput",
            format!("{:.2} req/s ({:.2}% of requests)", g.goodput, g.good_share * 100.0),
        ));
    }
    if r.cancelled > 0 {
        rows.push(("Cancelled at the stop (not counted)", r.cancelled.to_string()));
    }
    rows
}

/// The latency distributions a run has, named, in display order.
pub fn latency_rows(r: &RunDoc) -> Vec<(&'static str, &crate::stats::LatencyStats)> {
    r.summary
        .latencies()
        .into_iter()
        .filter_map(|(n, l)| Some((n, l?)))
        .filter(|(n, _)| r.open_loop() || !crate::stats::is_schedule_latency(n))
        .collect()
}

/// The settings worth a line (schedule, stop, API, stream), as label/value rows.
pub fn settings_rows(settings: &serde_json::Value) -> Vec<(String, String)> {
    let mut rows = Vec::new();
    let text = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => "none".into(),
        other => other.to_string(),
    };
    for (label, ptr) in [
        ("API", "/target/api"),
        ("Endpoint", "/target/endpoint"),
        ("Schedule", "/schedule/mode"),
        ("Concurrency", "/schedule/concurrency"),
        ("Rate (req/s)", "/schedule/rate"),
        ("Arrival", "/schedule/arrival"),
        ("Concurrency cap", "/schedule/cap"),
        ("Requests", "/stop/requests"),
        ("Duration (s)", "/stop/duration"),
        ("Warm-up requests", "/warmup"),
        ("Streaming", "/workload/stream"),
        ("Max tokens", "/workload/max_tokens"),
        ("Levels", "/mode/levels"),
        ("Rates", "/mode/rates"),
        ("Requests per level", "/requests_per_level"),
    ] {
        if let Some(v) = settings.pointer(ptr) {
            if ptr == "/schedule/rate" && v.is_null() {
                rows.push((label.to_string(), "inf".into()));
            } else if !v.is_null() {
                rows.push((label.to_string(), text(v)));
            }
        }
    }
    rows
}

/// Every leaf of the settings as `a.b.c = value`, for the full listing.
pub fn flatten_settings(v: &serde_json::Value) -> Vec<(String, String)> {
    fn walk(prefix: String, v: &serde_json::Value, out: &mut Vec<(String, String)>) {
        match v {
            serde_json::Value::Object(m) if !m.is_empty() => {
                for (k, v) in m {
                    let p = if prefix.is_empty() {
                        k.clone()
                    } else {
                        format!("{prefix}.{k}")
                    };
                    walk(p, v, out);
                }
            }
            serde_json::Value::String(s) => out.push((prefix, s.clone())),
            other => out.push((prefix, other.to_string())),
        }
    }
    let mut out = Vec::new();
    walk(String::new(), v, &mut out);
    out
}

/// "Run — model @ url".
fn title(kind: &str, url: Option<&str>, model: Option<&str>) -> String {
    match (model, url) {
        (Some(m), Some(u)) => format!("{kind}: {m} @ {u}"),
        (Some(m), None) => format!("{kind}: {m}"),
        (None, Some(u)) => format!("{kind}: {u}"),
        (None, None) => kind.to_string(),
    }
}

/// A saved file that is not what `inferload report` reads.
#[derive(Debug, thiserror::Error)]
#[error("{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct InputError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub message: String,
}

fn bad(path: &Path, line: Option<usize>, message: impl Into<String>) -> InputError {
    InputError {
        path: path.to_path_buf(),
        line,
        message: message.into(),
    }
}

/// The run document as saved (only what the reports read).
#[derive(Deserialize)]
struct SavedRun {
    #[serde(default)]
    target_url: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    started_at: Option<String>,
    #[serde(default)]
    embedded_sim: bool,
    #[serde(default)]
    interrupted: bool,
    #[serde(default)]
    cancelled: u64,
    #[serde(default)]
    settings: Option<serde_json::Value>,
    summary: Summary,
    #[serde(default)]
    goodput: Option<Goodput>,
    #[serde(default)]
    slos: Vec<SavedSlo>,
    #[serde(default)]
    series: Option<Series>,
    #[serde(default)]
    monitor: Option<crate::monitor::MonitorReport>,
    #[serde(default)]
    trust: Option<crate::monitor::TrustVerdict>,
}

#[derive(Deserialize)]
struct SavedSweep {
    #[serde(default)]
    started_at: Option<String>,
    #[serde(default)]
    interrupted: bool,
    #[serde(default)]
    target: serde_json::Value,
    #[serde(default)]
    settings: Option<serde_json::Value>,
    levels: Vec<Level>,
    #[serde(default)]
    verdict: Option<SavedVerdict>,
}

impl Document {
    /// A sweep's `--json` document.
    pub fn of_sweep_value(v: &serde_json::Value) -> Result<SweepDoc, String> {
        let s: SavedSweep = serde::Deserialize::deserialize(v).map_err(|e| e.to_string())?;
        let text = |k: &str| s.target.get(k).and_then(|v| v.as_str()).map(String::from);
        Ok(SweepDoc {
            target_url: text("url"),
            model: text("model"),
            api: text("api"),
            started_at: s.started_at,
            interrupted: s.interrupted,
            settings: s.settings,
            levels: s.levels,
            verdict: s.verdict,
        })
    }

    /// Reads a saved run or sweep document, or a records file, telling
    /// which by its content.
    pub fn load(path: &Path) -> Result<Self, InputError> {
        let text = std::fs::read_to_string(path).map_err(|e| bad(path, None, e.to_string()))?;
        let first = text.trim_start();
        if first.is_empty() {
            return Err(bad(path, None, "the file is empty"));
        }
        // A whole JSON document, or one record per line?
        match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(v) if v.get("kind").and_then(|k| k.as_str()) == Some("compare") => {
                let doc = super::compare::CompareDoc::of_value(&v)
                    .map_err(|e| bad(path, None, format!("not a comparison document: {e}")))?;
                Ok(Self::Compare(Box::new(doc)))
            }
            Ok(v) if v.get("levels").is_some() || v.get("kind").and_then(|k| k.as_str()) == Some("sweep") => {
                let sweep =
                    Self::of_sweep_value(&v).map_err(|e| bad(path, None, format!("not a sweep document: {e}")))?;
                Ok(Self::Sweep(Box::new(sweep)))
            }
            Ok(v) if v.get("summary").is_some() => {
                let run: SavedRun =
                    serde_json::from_value(v).map_err(|e| bad(path, None, format!("not a run document: {e}")))?;
                let stream = run
                    .settings
                    .as_ref()
                    .and_then(|s| s.pointer("/workload/stream"))
                    .and_then(|s| s.as_bool())
                    .unwrap_or(run.summary.ttft_ms.is_some());
                Ok(Self::Run(Box::new(RunDoc {
                    target_url: run.target_url,
                    model: run.model,
                    started_at: run.started_at,
                    embedded_sim: run.embedded_sim,
                    interrupted: run.interrupted,
                    cancelled: run.cancelled,
                    settings: run.settings,
                    stream,
                    summary: run.summary,
                    goodput: run.goodput,
                    slos: run.slos.iter().map(SavedSlo::row).collect(),
                    series: run.series,
                    records: None,
                    monitor: run.monitor,
                    trust: run.trust,
                })))
            }
            Ok(v) if v.get("index").is_some() && v.get("sent_at").is_some() => Self::load_records(path),
            Ok(_) => Err(bad(
                path,
                None,
                "not an inferload document: expected a run or sweep --json document or a --records file",
            )),
            Err(_) if first.starts_with('{') && first.lines().count() > 1 && looks_like_jsonl(first) => {
                Self::load_records(path)
            }
            Err(e) => Err(bad(path, Some(e.line()), format!("not valid JSON: {e}"))),
        }
    }

    fn load_records(path: &Path) -> Result<Self, InputError> {
        let all = read_records(path).map_err(|e| match e {
            crate::export::ExportError::Parse { line, message, .. } => {
                bad(path, Some(line), format!("not a records line: {message}"))
            }
            other => bad(path, None, other.to_string()),
        })?;
        let cancelled = all
            .iter()
            .filter(|r| matches!(&r.error, Some(e) if e.class == crate::record::ErrorClass::Cancelled))
            .count() as u64;
        let summary = SummaryBuilder::from_records(&all).finish();
        let series = Series::from_records(&all);
        Ok(Self::Run(Box::new(RunDoc {
            target_url: None,
            model: None,
            started_at: None,
            embedded_sim: false,
            interrupted: false,
            cancelled,
            settings: None,
            stream: all.iter().any(|r| r.streamed),
            summary,
            goodput: None,
            slos: Vec::new(),
            series: Some(series),
            records: Some(all),
            monitor: None,
            trust: None,
        })))
    }
}

/// The first line parses as a JSON object on its own.
fn looks_like_jsonl(text: &str) -> bool {
    text.lines()
        .next()
        .is_some_and(|l| serde_json::from_str::<serde_json::Value>(l).is_ok_and(|v| v.is_object()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_objectives_keep_their_units() {
        let s: SavedSlo = serde_json::from_value(serde_json::json!({
            "slo": {"expr": "ttft_p90<500ms", "kind": "latency_stat"}, "measured": 123.456, "passed": true
        }))
        .unwrap();
        assert_eq!(s.row().measured, "123.46 ms");
    }

    #[test]
    fn garbage_names_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.json");
        std::fs::write(&p, "{\"a\":\n  [1,,]}").unwrap();
        let e = Document::load(&p).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}:2", p.display())), "{e}");
        std::fs::write(&p, "{\"a\": 1}").unwrap();
        assert!(Document::load(&p)
            .unwrap_err()
            .to_string()
            .contains("not an inferload document"));
    }
}
