//! `--markdown FILE`: the summary as GitHub-flavoured Markdown tables, to
//! paste into a pull request. Run: key figures, latency percentiles, the
//! per-task and per-model tables (a task mix), objectives, errors. Sweep:
//! the verdict, then the level table. Comparison: the best strategy, then
//! the strategy table.
//!
//! Cells are escaped (`|`, backslashes, backticks, angle brackets, line
//! breaks) so an error message or a model name cannot break a table.

use std::fmt::Write as _;

use crate::doc::{CompareDocument, RunDocument, SweepDocument};

use super::document::{self, Document};

/// Makes outside text safe inside a table cell.
pub fn cell(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '|' | '\\' | '`' | '*' | '[' | ']' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

fn table(out: &mut String, header: &[&str], rows: &[Vec<String>], right_from: usize) {
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let align: Vec<&str> = (0..header.len())
        .map(|i| if i >= right_from { "---:" } else { "---" })
        .collect();
    let _ = writeln!(out, "|{}|", align.join("|"));
    for r in rows {
        let _ = writeln!(out, "| {} |", r.join(" | "));
    }
    out.push('\n');
}

/// The Markdown of a document.
pub fn render(doc: &Document) -> String {
    match doc {
        Document::Run(r) => run(&r.doc),
        Document::Sweep(s) => sweep(s),
        Document::Compare(c) => compare(c),
    }
}

fn run(r: &RunDocument) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## {}\n", cell(&r.title()));
    if let Some(t) = &r.started_at {
        let _ = writeln!(out, "Started {}.\n", cell(t));
    }
    if r.interrupted {
        out.push_str("**Interrupted**: the figures cover only the requests that finished before the stop.\n\n");
    }
    out.push_str("### Key figures\n\n");
    let rows: Vec<Vec<String>> = document::key_figures(r)
        .into_iter()
        .map(|(k, v)| vec![k.to_string(), cell(&v)])
        .collect();
    table(&mut out, &["", "value"], &rows, 1);

    out.push_str("### Latency (ms)\n\n");
    let lat = document::latency_rows(r);
    if r.summary.successful == 0 {
        out.push_str("No successful requests: no latency was measured.\n\n");
    } else if lat.is_empty() {
        out.push_str("No latency was measured.\n\n");
    } else {
        let rows: Vec<Vec<String>> = lat
            .iter()
            .map(|(n, l)| {
                let mut row = vec![n.to_string()];
                row.extend([l.mean, l.p50, l.p90, l.p95, l.p99, l.min, l.max].map(|v| format!("{v:.2}")));
                row
            })
            .collect();
        table(
            &mut out,
            &["metric", "mean", "p50", "p90", "p95", "p99", "min", "max"],
            &rows,
            1,
        );
    }

    if let Some((line, header, rows)) = document::sessions_table(r) {
        let _ = writeln!(out, "### Sessions\n\n{}\n", cell(&line));
        let rows: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(|c| cell(c)).collect()).collect();
        table(&mut out, &header, &rows, 1);
    }

    for (what, header, rows) in document::breakdown_tables(r) {
        let _ = writeln!(out, "### Per {what}\n");
        let rows: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(|c| cell(c)).collect()).collect();
        table(&mut out, &header, &rows, 1);
    }

    if let Some(st) = &r.stages {
        let _ = writeln!(out, "### By stage\n\n{}\n", cell(&st.profile.describe()));
        let mut rows = crate::export::stages_table::rows(st);
        let header = rows.remove(0);
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        let rows: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(|c| cell(c)).collect()).collect();
        table(&mut out, &header, &rows, 3);
        for line in st.failure_lines() {
            let _ = writeln!(out, "- {}", cell(&line));
        }
        if !st.first_failures.is_empty() {
            out.push('\n');
        }
    }

    if !r.slos.is_empty() {
        out.push_str("### Objectives\n\n");
        let rows: Vec<Vec<String>> = r
            .slos
            .iter()
            .map(|s| {
                vec![
                    format!("`{}`", s.slo.expr.replace('`', "'")),
                    cell(&s.measured_text()),
                    if s.passed { "✅ pass" } else { "❌ fail" }.to_string(),
                ]
            })
            .collect();
        table(&mut out, &["objective", "measured", "result"], &rows, 3);
    }
    if let Some(m) = &r.monitor {
        let rows: Vec<Vec<String>> = crate::monitor::summary_rows(m)
            .into_iter()
            .map(|(k, v)| vec![cell(k.trim_end_matches(':')), cell(&v)])
            .collect();
        if !rows.is_empty() {
            out.push_str("### System under test\n\n");
            table(&mut out, &["", "value"], &rows, 1);
        }
    }
    if !r.summary.errors.is_empty() {
        out.push_str("### Errors\n\n");
        let rows: Vec<Vec<String>> = r
            .summary
            .errors
            .iter()
            .map(|e| vec![e.class.to_string(), e.count.to_string(), cell(&e.example)])
            .collect();
        table(&mut out, &["class", "count", "example"], &rows, 3);
    }
    out
}

/// The level table of a sweep, as header and rows of plain text.
pub fn level_rows(s: &SweepDocument) -> (Vec<&'static str>, Vec<Vec<String>>) {
    let rate = s.rate_axis();
    let header = vec![
        if rate { "rate (req/s)" } else { "concurrency" },
        "requests",
        "success",
        "req/s",
        "out tok/s",
        "TTFT p50 (ms)",
        "TTFT p99 (ms)",
        "TPOT p50 (ms)",
        "E2E p50 (ms)",
        "E2E p99 (ms)",
        "req/s per conc.",
        "stopped by",
    ];
    let f = |l: &Option<crate::stats::LatencyStats>, g: fn(&crate::stats::LatencyStats) -> f64| {
        l.as_ref().map_or_else(|| "-".to_string(), |l| format!("{:.1}", g(l)))
    };
    let rows = s
        .levels
        .iter()
        .map(|l| {
            let load = match (l.rate, l.concurrency) {
                (Some(r), Some(c)) => format!("{r} (cap {c})"),
                (Some(r), None) => r.to_string(),
                (None, Some(c)) => c.to_string(),
                (None, None) => "-".into(),
            };
            let m = &l.summary;
            vec![
                load,
                l.requests.to_string(),
                format!("{:.1}%", l.success_rate * 100.0),
                match l.interval("request_throughput") {
                    Some(i) => format!("{:.2} (95% CI {:.2}–{:.2})", l.request_throughput, i.low, i.high),
                    None => format!("{:.2}", l.request_throughput),
                },
                format!("{:.1}", l.output_throughput),
                f(&m.ttft_ms, |x| x.p50),
                f(&m.ttft_ms, |x| x.p99),
                f(&m.tpot_ms, |x| x.p50),
                f(&m.e2e_ms, |x| x.p50),
                f(&m.e2e_ms, |x| x.p99),
                format!("{:.3}", l.efficiency),
                l.trip.as_ref().map(|t| t.rule.clone()).unwrap_or_default(),
            ]
        })
        .collect();
    (header, rows)
}

fn sweep(s: &SweepDocument) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "## {}\n", cell(&s.title()));
    if let Some(t) = &s.started_at {
        let _ = writeln!(out, "Started {}.\n", cell(t));
    }
    if let Some(settings) = &s.settings_sweep {
        out.push_str("### Settings\n\n");
        let (header, rows) = crate::export::settings_table::rows(settings);
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        let rows: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(|c| cell(c)).collect()).collect();
        table(&mut out, &header, &rows, 1);
        let _ = writeln!(out, "\n{}\n", cell(&crate::export::settings_table::best_line(settings)));
        out.push_str("The verdict and levels below are the best setting's.\n\n");
    }
    out.push_str("### Verdict\n\n");
    for line in crate::export::sweep_table::verdict_text(s)
        .lines()
        .filter(|l| !l.trim().is_empty())
    {
        let _ = writeln!(out, "- {}", cell(line));
    }
    out.push('\n');
    out.push_str("### Levels\n\n");
    let (header, rows) = level_rows(s);
    let rows: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(|c| cell(c)).collect()).collect();
    table(&mut out, &header, &rows, 1);
    out
}

/// The best strategy, then the comparison's tables (the strategies, the
/// system figures, by stage, by turn, sessions: those that apply), each
/// from the same cells the console prints.
fn compare(d: &CompareDocument) -> String {
    use crate::export::compare_table as ct;
    let mut out = format!("# {}\n\n", cell(&d.title()));
    if let Some(b) = &d.best {
        let _ = writeln!(out, "**Best strategy: {}** — {}\n", cell(&b.name), cell(&b.reason));
    }
    let s = &d.strategies;
    let main = with_url(ct::strategies(s, d.tail_percentile), d);
    let tables = [
        Some(main),
        ct::confidence(s),
        ct::system(s),
        ct::by_stage(s),
        ct::by_turn(s),
        ct::sessions(s),
    ];
    for (n, t) in tables.into_iter().flatten().enumerate() {
        let title = if n == 0 { "Strategies" } else { t.title };
        let _ = writeln!(out, "### {}\n", cell(title));
        let header: Vec<String> = t.header.iter().map(|h| cell(h)).collect();
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        let rows: Vec<Vec<String>> = t.rows.iter().map(|r| r.iter().map(|c| cell(c)).collect()).collect();
        let left = if t.header[0] == "strategy" { 1 } else { 2 };
        table(&mut out, &header, &rows, left + usize::from(n == 0));
        if !t.note.is_empty() {
            let _ = writeln!(out, "{}\n", cell(&t.note));
        }
        if n == 0 {
            let _ = writeln!(out, "{}\n", cell(&compare_score_note(d)));
        }
    }
    out
}

/// The strategies' table with each one's URL beside its name.
pub(super) fn with_url(
    mut t: crate::export::compare_table::Table,
    d: &CompareDocument,
) -> crate::export::compare_table::Table {
    t.header.insert(1, "url".into());
    for (row, s) in t.rows.iter_mut().zip(&d.strategies) {
        row.insert(1, format!("{}{}", s.url, s.endpoint));
    }
    t
}

/// The changes' baseline and the score's formula, in words.
pub(super) fn compare_score_note(d: &CompareDocument) -> String {
    format!(
        "Changes are against the first strategy ({}). Latency is the mean end-to-end response time. {}",
        d.strategies.first().map_or("", |s| s.name.as_str()),
        if d.with_gpu() {
            "Efficiency score = 0.5 × throughput / best throughput + 0.3 × fastest response time / response time + 0.2 × GPU utilisation."
        } else {
            "Efficiency score = 0.625 × throughput / best throughput + 0.375 × fastest response time / response time: there are no GPU figures, so the GPU weight (0.2) is left out and the other two renormalised."
        }
    )
}
