//! What every renderer reads: a [`Document`] — a run (its
//! [`RunDocument`](crate::doc::RunDocument) and, when the source had them,
//! its records), a sweep or a comparison — built from a live run or loaded
//! from a saved file: a `--json` document of any kind, or a `--records`
//! JSONL file.
//!
//! Renderers never look at the source: what a source lacks is `None` (a
//! records file has no settings; a run document saved without report flags
//! has no `series`, so no per-request charts) and they say so rather than
//! guess. The rows shared by several formats (key figures, latencies,
//! settings, the per-task and per-model breakdown) are built here once.

use std::path::{Path, PathBuf};

use crate::doc::settings::{Arrival, RunSettings, Schedule};
use crate::doc::sweep::SweepMode;
use crate::doc::{AnyDocument, CompareDocument, DocumentError, RunDocument, SweepDocument};
use crate::export::records::read_records;
use crate::export::RunReport;
use crate::stats::breakdown::LabelSummary;
use crate::stats::{LatencyStats, SummaryBuilder};

/// A finished run, sweep or comparison, ready to render (borrowed: a
/// run's records are not copied for each report).
#[derive(Debug, Clone, Copy)]
pub enum Document<'a> {
    Run(&'a RunReport),
    Sweep(&'a SweepDocument),
    Compare(&'a CompareDocument),
}

/// A document read from a file.
#[derive(Debug, Clone)]
pub enum Loaded {
    Run(Box<RunReport>),
    Sweep(Box<SweepDocument>),
    Compare(Box<CompareDocument>),
}

impl Loaded {
    pub fn document(&self) -> Document<'_> {
        match self {
            Self::Run(r) => Document::Run(r),
            Self::Sweep(s) => Document::Sweep(s),
            Self::Compare(c) => Document::Compare(c),
        }
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

impl Loaded {
    /// Reads a saved run, sweep or comparison document, or a records file,
    /// telling which by its content.
    pub fn load(path: &Path) -> Result<Self, InputError> {
        let text = std::fs::read_to_string(path).map_err(|e| bad(path, None, e.to_string()))?;
        let first = text.trim_start();
        if first.is_empty() {
            return Err(bad(path, None, "the file is empty"));
        }
        // A whole JSON document, or one record per line?
        match serde_json::from_str::<serde_json::Value>(&text) {
            Ok(v) if v.get("index").is_some() && v.get("sent_at").is_some() => Self::load_records(path),
            Ok(v) => match AnyDocument::from_value(v) {
                Ok(AnyDocument::Run(doc)) => Ok(Self::Run(Box::new(RunReport {
                    doc: *doc,
                    records: None,
                }))),
                Ok(AnyDocument::Sweep(doc)) => Ok(Self::Sweep(doc)),
                Ok(AnyDocument::Compare(doc)) => Ok(Self::Compare(doc)),
                Err(DocumentError::Unknown) => Err(bad(
                    path,
                    None,
                    "not an inferload document: expected a run, sweep or compare --json document or a --records file",
                )),
                Err(e) => Err(bad(path, None, e.to_string())),
            },
            Err(_) if first.starts_with('{') && first.lines().count() > 1 && looks_like_jsonl(first) => {
                Self::load_records(path)
            }
            Err(e) => Err(bad(path, Some(e.line()), format!("not valid JSON: {e}"))),
        }
    }

    /// A run from its records file: the summary, breakdown and charts'
    /// data recomputed from the records; no settings, target or model.
    fn load_records(path: &Path) -> Result<Self, InputError> {
        let all = read_records(path).map_err(|e| match e {
            crate::export::ExportError::Parse { line, message, .. } => {
                bad(path, Some(line), format!("not a records line: {message}"))
            }
            other => bad(path, None, other.to_string()),
        })?;
        let unfinished = all
            .iter()
            .filter(|r| matches!(&r.error, Some(e) if e.class == crate::record::ErrorClass::Unfinished))
            .count() as u64;
        let summary = SummaryBuilder::from_records(&all).finish();
        let mut breakdown = crate::stats::breakdown::BreakdownBuilder::default();
        all.iter().for_each(|r| breakdown.add(r));
        let doc = RunDocument {
            unfinished,
            breakdown: (!breakdown.is_empty()).then(|| breakdown.finish()),
            sessions: crate::stats::sessions::Sessions::of(&all),
            series: Some(crate::doc::Series::from_records(&all)),
            ..RunDocument::new(summary)
        };
        Ok(Self::Run(Box::new(RunReport {
            doc,
            records: Some(all),
        })))
    }
}

/// The first line parses as a JSON object on its own.
fn looks_like_jsonl(text: &str) -> bool {
    text.lines()
        .next()
        .is_some_and(|l| serde_json::from_str::<serde_json::Value>(l).is_ok_and(|v| v.is_object()))
}

/// The key figures of a run, as label/value rows, for the tables.
pub fn key_figures(r: &RunDocument) -> Vec<(&'static str, String)> {
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
    if r.unfinished > 0 {
        rows.push(("Unfinished at the stop (counted as failed)", r.unfinished.to_string()));
    }
    rows
}

/// The latency distributions a run has, named, in display order.
pub fn latency_rows(r: &RunDocument) -> Vec<(&'static str, &LatencyStats)> {
    r.summary
        .latencies()
        .into_iter()
        .filter_map(|(n, l)| Some((n, l?)))
        .filter(|(n, _)| r.open_loop() || !crate::stats::is_schedule_latency(n))
        .collect()
}

/// One per-label table: what is labelled (`task` or `model`), the header
/// and the rows.
pub type LabelTable = (&'static str, Vec<&'static str>, Vec<Vec<String>>);

/// The per-task and per-model tables of a run (a scenario's task mix):
/// header and rows of plain text for each of `task` and `model` that has
/// labels; empty without a breakdown.
pub fn breakdown_tables(r: &RunDocument) -> Vec<LabelTable> {
    let Some(b) = &r.breakdown else {
        return Vec::new();
    };
    let total = r.summary.requests_total;
    let ms = |l: &Option<LatencyStats>, f: fn(&LatencyStats) -> f64| {
        l.as_ref().map_or_else(|| "-".to_string(), |l| format!("{:.1}", f(l)))
    };
    let rows = |list: &[LabelSummary]| -> Vec<Vec<String>> {
        list.iter()
            .map(|r| {
                let s = &r.summary;
                let share = if total > 0 {
                    s.requests_total as f64 / total as f64 * 100.0
                } else {
                    0.0
                };
                vec![
                    r.label.clone(),
                    s.requests_total.to_string(),
                    format!("{share:.1}%"),
                    format!("{:.1}%", s.success_rate * 100.0),
                    format!("{:.2}", s.request_throughput),
                    ms(&s.ttft_ms, |l| l.p50),
                    ms(&s.e2e_ms, |l| l.mean),
                    ms(&s.e2e_ms, |l| l.p99),
                ]
            })
            .collect()
    };
    let header = |first: &'static str| {
        vec![
            first,
            "requests",
            "share",
            "success",
            "req/s",
            "TTFT p50 (ms)",
            "E2E mean (ms)",
            "E2E p99 (ms)",
        ]
    };
    let mut out = Vec::new();
    if !b.by_task.is_empty() {
        out.push(("task", header("task"), rows(&b.by_task)));
    }
    if !b.by_model.is_empty() {
        out.push(("model", header("model"), rows(&b.by_model)));
    }
    out
}

/// A number as the settings show it: at most 3 decimals.
fn num(v: f64) -> String {
    crate::doc::fmt_rate(v)
}

/// The arrival process in words (`poisson`, `gamma (shape 0.5)`).
pub fn arrival_text(a: &Arrival) -> String {
    match a {
        Arrival::Constant => "constant".into(),
        Arrival::Poisson => "poisson".into(),
        Arrival::Gamma { shape } => format!("gamma (shape {})", num(*shape)),
        Arrival::Trace { speed } => format!("trace replay ({}x)", num(*speed)),
    }
}

/// The settings worth a line (API, schedule, stop, stream), as label/value rows.
pub fn settings_rows(s: &RunSettings) -> Vec<(String, String)> {
    let mut rows: Vec<(&str, String)> = vec![("API", s.target.api.clone()), ("Endpoint", s.target.endpoint.clone())];
    match &s.schedule {
        Schedule::Closed { concurrency } => {
            rows.push(("Schedule", "closed".into()));
            rows.push(("Concurrency", concurrency.to_string()));
        }
        Schedule::Open { rate, arrival, cap } => {
            rows.push(("Schedule", "open".into()));
            rows.push(("Rate (req/s)", rate.map_or_else(|| "inf".into(), num)));
            rows.push(("Arrival", arrival_text(arrival)));
            if let Some(c) = cap {
                rows.push(("Concurrency cap", c.to_string()));
            }
        }
        Schedule::Users {
            users,
            spawn_rate,
            think,
        } => {
            rows.push(("Schedule", "users".into()));
            rows.push(("Users", users.to_string()));
            rows.push((
                "Spawn rate (users/s)",
                spawn_rate.map_or_else(|| "all at once".into(), num),
            ));
            rows.push(("Think time (s)", format!("{}–{}", num(think.min_s), num(think.max_s))));
        }
    }
    if let Some(n) = s.stop.requests {
        rows.push(("Requests", n.to_string()));
    }
    if let Some(d) = s.stop.duration {
        rows.push(("Duration (s)", num(d)));
    }
    rows.push(("Warm-up requests", s.warmup.to_string()));
    rows.push(("Streaming", s.workload.stream.to_string()));
    if let Some(m) = s.workload.max_tokens {
        rows.push(("Max tokens", m.to_string()));
    }
    if !s.tasks.is_empty() {
        let tasks: Vec<String> = s
            .tasks
            .iter()
            .map(|t| format!("{} ({})", t.name, num(t.weight)))
            .collect();
        rows.push(("Tasks (weight)", tasks.join(", ")));
    }
    // A replayed trace: which, and the slice of it.
    if let crate::doc::settings::Dataset::Trace {
        format, path, window, ..
    } = &s.workload.dataset
    {
        rows.push(("Trace", format!("{format} {}", path.display())));
        if let Some(w) = window {
            let end = w.end_s.map_or_else(|| "end".to_string(), |e| format!("{}s", num(e)));
            rows.push(("Trace window", format!("{}s..{end}", num(w.start_s))));
        }
    }
    if let Some(c) = &s.conversation {
        rows.push(("Turns per session", c.turns.clone()));
        rows.push((
            "Turn think time (s)",
            format!("{}–{}", num(c.turn_think_min_s), num(c.turn_think_max_s)),
        ));
        if let Some(n) = c.sessions {
            rows.push(("Sessions", n.to_string()));
        }
    }
    rows.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
}

/// The sweep's own settings rows (mode, per-level load), before its base's.
pub fn sweep_settings_rows(doc: &SweepDocument) -> Vec<(String, String)> {
    let Some(s) = &doc.settings else {
        return Vec::new();
    };
    let list = |v: &[f64]| v.iter().map(|x| num(*x)).collect::<Vec<_>>().join(", ");
    let mut rows: Vec<(String, String)> = Vec::new();
    let mut row = |k: &str, v: String| rows.push((k.to_string(), v));
    match &s.mode {
        SweepMode::Concurrency { levels } => {
            row("Sweep", "concurrency ladder".into());
            row("Levels", list(&levels.iter().map(|&c| c as f64).collect::<Vec<_>>()));
        }
        SweepMode::Rate { rates, cap } => {
            row("Sweep", "rate ladder".into());
            row("Rates", list(rates));
            if let Some(c) = cap {
                row("Concurrency cap", c.to_string());
            }
        }
        SweepMode::FindConcurrency { rate, max_concurrency } => {
            row("Sweep", format!("find the concurrency for {} req/s", num(*rate)));
            row("Largest cap tried", max_concurrency.to_string());
        }
        SweepMode::MaxRateUnderSlo { start, cap, precision } => {
            row("Sweep", format!("max rate under SLO from {} req/s", num(*start)));
            row("Precision", format!("{}%", num(precision * 100.0)));
            if let Some(c) = cap {
                row("Concurrency cap", c.to_string());
            }
        }
    }
    if let Some(n) = s.requests_per_level {
        row("Requests per level", n.to_string());
    }
    if let Some(d) = s.duration_per_level {
        row("Duration per level (s)", num(d));
    }
    row("Headroom", format!("{}%", num(s.headroom * 100.0)));
    rows
}

/// Every leaf of a serialized value as `a.b.c = value`, for the full listing.
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

/// Header and rows of the comparison's CSV: one row per strategy, machine
/// units (ms, bytes, fractions), an empty cell where nothing was measured.
/// TTFT and token-throughput columns come only when some strategy measured
/// them; a load over time adds `stageN_*` columns and conversations add
/// session and `turnN_*` columns, so each strategy stays one row.
pub fn compare_rows(d: &CompareDocument) -> (Vec<String>, Vec<Vec<String>>) {
    use crate::export::compare_table::{has_tokens, has_ttft};
    let opt = |v: Option<f64>, d: usize| v.map_or_else(String::new, |x| format!("{x:.d$}"));
    let st = &d.strategies;
    let (tokens, ttft) = (has_tokens(st), has_ttft(st));
    let system = st.iter().any(|s| s.system.is_some());
    let stages = st
        .iter()
        .filter_map(|s| s.stages.as_ref())
        .map(Vec::len)
        .max()
        .unwrap_or(0);
    let sessions = st.iter().any(|s| s.sessions.is_some());
    let turns = st
        .iter()
        .filter_map(|s| s.sessions.as_ref())
        .map(|s| s.by_turn.len())
        .max()
        .unwrap_or(0);
    let mut header: Vec<String> = [
        "strategy",
        "url",
        "requests",
        "success_rate",
        "req_per_s",
        "images_per_s",
        "latency_mean_ms",
        "latency_p95_ms",
        "latency_p99_ms",
        "submit_mean_ms",
        "gpu_util_pct",
        "score",
        "throughput_change_pct",
        "latency_change_pct",
        "connections_opened",
        "requests_per_connection",
        "stale_retries",
        "connect_mean_ms",
    ]
    .map(String::from)
    .to_vec();
    if tokens {
        header.push("output_tok_per_s".into());
    }
    if ttft {
        header.push("ttft_mean_ms".into());
        header.push(format!("ttft_p{}_ms", d.tail_percentile.word()));
    }
    if system {
        header.extend(
            [
                "client_cpu_mean_pct",
                "client_cpu_peak_pct",
                "client_memory_peak_bytes",
                "host_cpu_mean_pct",
                "host_cpu_peak_pct",
                "host_memory_peak_bytes",
                "gpu_memory_peak_bytes",
                "gpu_memory_peak_pct",
                "trust_warnings",
            ]
            .map(String::from),
        );
    }
    for k in 1..=stages {
        for f in [
            "requests",
            "success_rate",
            "req_per_s",
            "output_tok_per_s",
            "ttft_p50_ms",
            "ttft_p99_ms",
            "mean_in_flight",
        ] {
            header.push(format!("stage{k}_{f}"));
        }
    }
    if sessions {
        header.extend(
            [
                "sessions_started",
                "sessions_completed",
                "sessions_failed",
                "sessions_cut",
                "turns_completed_mean",
            ]
            .map(String::from),
        );
    }
    for k in 1..=turns {
        for f in ["requests", "successful", "ttft_p50_ms", "ttft_p99_ms", "e2e_p50_ms"] {
            header.push(format!("turn{k}_{f}"));
        }
    }
    // The 95 % intervals over each strategy's runs (`--repeats`), last so
    // the columns before them keep their places.
    const CI: [&str; 4] = ["request_throughput", "output_throughput", "mean_ttft_ms", "mean_e2e_ms"];
    let ci = st.iter().any(|s| s.confidence.is_some());
    if ci {
        for f in CI {
            header.push(format!("{f}_ci_low"));
            header.push(format!("{f}_ci_high"));
        }
    }
    let rows = st
        .iter()
        .map(|s| {
            let mut row = vec![
                s.name.clone(),
                format!("{}{}", s.url, s.endpoint),
                s.requests.to_string(),
                format!("{:.4}", s.success_rate),
                format!("{:.4}", s.request_throughput),
                opt(s.images_per_s, 4),
                opt(s.latency_mean_ms, 2),
                opt(s.latency_p95_ms, 2),
                opt(s.latency_p99_ms, 2),
                opt(s.submit_mean_ms, 2),
                opt(s.gpu_util_pct, 1),
                format!("{:.4}", s.score),
                opt(s.throughput_change_pct, 1),
                opt(s.latency_change_pct, 1),
                s.connections.map_or_else(String::new, |c| c.opened.to_string()),
                opt(s.connections.map(|c| c.requests_per_connection), 2),
                s.connections.map_or_else(String::new, |c| c.stale_retries.to_string()),
                opt(s.connections.and_then(|c| c.connect_mean_ms), 2),
            ];
            if tokens {
                row.push(format!("{:.2}", s.output_throughput));
            }
            if ttft {
                row.push(opt(s.ttft_mean_ms, 2));
                row.push(opt(s.ttft_tail_ms, 2));
            }
            if system {
                let y = s.system;
                let f = |g: fn(&crate::doc::compare::SystemFigures) -> Option<f64>, d: usize| {
                    opt(y.as_ref().and_then(g), d)
                };
                row.extend([
                    f(|y| y.client_cpu_mean_pct, 1),
                    f(|y| y.client_cpu_peak_pct, 1),
                    f(|y| y.client_memory_peak_bytes, 0),
                    f(|y| y.host_cpu_mean_pct, 1),
                    f(|y| y.host_cpu_peak_pct, 1),
                    f(|y| y.host_memory_peak_bytes, 0),
                    f(|y| y.gpu_memory_peak_bytes, 0),
                    f(|y| y.gpu_memory_peak_pct, 1),
                    y.map_or_else(String::new, |y| y.trust_warnings.to_string()),
                ]);
            }
            for k in 0..stages {
                match s.stages.as_ref().and_then(|v| v.get(k)) {
                    Some(g) => row.extend([
                        g.requests.to_string(),
                        format!("{:.4}", g.success_rate),
                        format!("{:.4}", g.request_throughput),
                        format!("{:.2}", g.output_throughput),
                        opt(g.ttft_p50_ms, 2),
                        opt(g.ttft_p99_ms, 2),
                        format!("{:.2}", g.mean_in_flight),
                    ]),
                    None => row.extend(std::iter::repeat_n(String::new(), 7)),
                }
            }
            if sessions {
                match &s.sessions {
                    Some(x) => row.extend([
                        x.started.to_string(),
                        x.completed.to_string(),
                        x.failed.to_string(),
                        x.cut.to_string(),
                        format!("{:.3}", x.turns_completed_mean),
                    ]),
                    None => row.extend(std::iter::repeat_n(String::new(), 5)),
                }
            }
            for k in 0..turns {
                match s.sessions.as_ref().and_then(|x| x.by_turn.get(k)) {
                    Some(t) => row.extend([
                        t.requests.to_string(),
                        t.successful.to_string(),
                        opt(t.ttft_p50_ms, 2),
                        opt(t.ttft_p99_ms, 2),
                        opt(t.e2e_p50_ms, 2),
                    ]),
                    None => row.extend(std::iter::repeat_n(String::new(), 5)),
                }
            }
            if ci {
                for f in CI {
                    let i = s.confidence.as_ref().and_then(|c| c.get(f));
                    row.push(opt(i.map(|i| i.low), 4));
                    row.push(opt(i.map(|i| i.high), 4));
                }
            }
            row
        })
        .collect();
    (header, rows)
}

/// The session line, and the per-turn table's header and rows.
pub type SessionsTable = (String, Vec<&'static str>, Vec<Vec<String>>);

/// A conversation run's figures (`--turns`); `None` for other runs.
pub fn sessions_table(r: &RunDocument) -> Option<SessionsTable> {
    let s = r.sessions.as_ref()?;
    let ms = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.1}"));
    let rows = s
        .by_turn
        .iter()
        .map(|t| {
            vec![
                t.turn.to_string(),
                t.requests.to_string(),
                t.successful.to_string(),
                format!("{:.1}", t.mean_input_tokens),
                ms(t.ttft_p50_ms),
                ms(t.ttft_p99_ms),
                ms(t.e2e_p50_ms),
            ]
        })
        .collect();
    Some((
        s.line(),
        vec![
            "turn",
            "requests",
            "success",
            "input tokens (mean)",
            "TTFT p50 (ms)",
            "TTFT p99 (ms)",
            "E2E p50 (ms)",
        ],
        rows,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saved_objectives_keep_their_units() {
        let s: crate::slo::SloResult = serde_json::from_value(serde_json::json!({
            "slo": {"expr": "ttft_p90<500ms", "kind": "latency_stat", "latency": "ttft", "stat": "p90",
                    "cmp": "<", "value": 500.0},
            "measured": 123.456, "passed": true
        }))
        .unwrap();
        assert_eq!(s.measured_text(), "123.46 ms");
    }

    #[test]
    fn garbage_names_the_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.json");
        std::fs::write(&p, "{\"a\":\n  [1,,]}").unwrap();
        let e = Loaded::load(&p).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}:2", p.display())), "{e}");
        std::fs::write(&p, "{\"a\": 1}").unwrap();
        assert!(Loaded::load(&p)
            .unwrap_err()
            .to_string()
            .contains("not an inferload document"));
    }

    #[test]
    fn settings_rows_name_a_trace_and_its_window_and_the_turns() {
        use crate::doc::settings::{ConversationSettings, Dataset, TraceWindow};
        let mut s = RunSettings::default();
        s.workload.dataset = Dataset::Trace {
            format: "burstgpt".into(),
            path: "t.csv".into(),
            block_size: 16,
            window: Some(TraceWindow {
                start_s: 5.0,
                end_s: None,
            }),
        };
        s.conversation = Some(ConversationSettings {
            turns: "2..6".into(),
            turn_think_min_s: 0.5,
            turn_think_max_s: 2.0,
            sessions: Some(8),
        });
        let rows = settings_rows(&s);
        let row = |k: &str| rows.iter().find(|(key, _)| key == k).map(|(_, v)| v.as_str());
        assert_eq!(row("Trace"), Some("burstgpt t.csv"));
        assert_eq!(row("Trace window"), Some("5s..end"));
        assert_eq!(row("Turns per session"), Some("2..6"));
        assert_eq!(row("Turn think time (s)"), Some("0.5–2"));
        assert_eq!(row("Sessions"), Some("8"));
    }
}
