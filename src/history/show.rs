//! Human output of the history commands: the list, one run or sweep, and
//! the heading of a comparison. Read from the stored rows and documents
//! only, so entries written by any version with this schema print.

use std::fmt::Write as _;

use super::db::Entry;
use crate::doc::{RunDocument, SweepDocument};
use crate::stats::Summary;

/// Columns padded to their widest cell; `right[i]` right-aligns column i.
pub(super) fn aligned(header: &[&str], rows: &[Vec<String>], right: &[bool]) -> String {
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in width.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut text = String::new();
        for (i, cell) in cells.enumerate() {
            let pad = " ".repeat(width[i].saturating_sub(cell.chars().count()));
            if i > 0 {
                text.push_str("  ");
            }
            if right.get(i).copied().unwrap_or(false) {
                text.push_str(&pad);
                text.push_str(cell);
            } else {
                text.push_str(cell);
                text.push_str(&pad);
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(&mut header.iter().copied());
    for row in rows {
        line(&mut row.iter().map(String::as_str));
    }
    out
}

/// `2025-06-01 12:00:00` from an RFC 3339 time (in its own offset).
pub(super) fn local_time(rfc3339: &str) -> String {
    chrono::DateTime::parse_from_rfc3339(rfc3339)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|_| rfc3339.to_string())
}

/// `5%`, `2.5%`.
pub(super) fn percent(fraction: f64) -> String {
    super::num(fraction * 100.0) + "%"
}

fn opt(v: Option<f64>, decimals: usize) -> String {
    v.map(|x| format!("{x:.decimals$}")).unwrap_or_else(|| "-".into())
}

fn ratio(v: Option<f64>) -> String {
    v.map(|x| format!("{:.1}%", x * 100.0)).unwrap_or_else(|| "-".into())
}

/// Long cells cut to `max` characters with an ellipsis.
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// `inferload history`: one line per entry.
pub(super) fn list_table(entries: &[Entry]) -> String {
    let header = [
        "ID",
        "Time",
        "Kind",
        "Target",
        "Model",
        "Load",
        "Shape",
        "Req/s",
        "TTFT p90 (ms)",
        "E2E p99 (ms)",
        "Success",
    ];
    let rows: Vec<Vec<String>> = entries
        .iter()
        .map(|e| {
            let h = &e.headline;
            vec![
                e.id.to_string(),
                local_time(&e.started_at),
                if e.interrupted {
                    format!("{}*", e.kind)
                } else {
                    e.kind.clone()
                },
                cut(&e.target_url, 40),
                cut(&e.model, 32),
                e.load.clone(),
                if e.shape.is_empty() {
                    "-".into()
                } else {
                    e.shape.clone()
                },
                opt(h.request_throughput, 2),
                opt(h.ttft_p90_ms, 1),
                opt(h.e2e_p99_ms, 1),
                ratio(h.success_rate),
            ]
        })
        .collect();
    let right = [true, false, false, false, false, false, false, true, true, true, true];
    let mut out = aligned(&header, &rows, &right);
    if entries.iter().any(|e| e.interrupted) {
        out.push_str("* interrupted\n");
    }
    out
}

fn heading(e: &Entry) -> String {
    let mut out = String::new();
    let what = if e.kind == "sweep" { "Sweep" } else { "Run" };
    let _ = write!(out, "{what} {} — {}", e.id, local_time(&e.started_at));
    if e.interrupted {
        out.push_str(" (interrupted)");
    }
    let _ = write!(
        out,
        "\nTarget:     {}\nModel:      {}\nLoad:       {}\n",
        e.target_url, e.model, e.load
    );
    out
}

/// `inferload show ID` of a run: its summary from the stored document.
pub(super) fn run(e: &Entry, doc: &RunDocument) -> String {
    let s = &doc.summary;
    let mut out = heading(e);
    let unfinished = doc.unfinished;
    let _ = write!(
        out,
        "Requests:   {} ({} successful, {} failed{}); success rate {}\n\
         Duration:   {:.2} s\n\
         Throughput: {:.2} req/s, {:.2} output tok/s, {:.2} total tok/s (peak output {:.0} tok/s)\n",
        s.requests_total,
        s.successful,
        s.failed,
        if unfinished > 0 {
            format!(", {unfinished} of them unfinished")
        } else {
            String::new()
        },
        ratio((s.requests_total > 0).then_some(s.success_rate)),
        s.duration_s,
        s.request_throughput,
        s.output_throughput,
        s.total_token_throughput,
        s.peak_output_throughput,
    );
    if let Some(g) = &doc.goodput {
        let _ = writeln!(
            out,
            "Goodput:    {} req/s ({} of requests within the objectives)",
            opt(Some(g.goodput), 2),
            ratio(Some(g.good_share)),
        );
    }
    if let Some((stored, total)) = e.records {
        let _ = writeln!(out, "Records:    {stored} of {total} kept in the history");
    }
    if let Some(t) = trace_line(doc) {
        out.push_str(&t);
    }
    out.push('\n');
    out.push_str(&latency_table(s));
    if let Some(b) = &doc.breakdown {
        out.push('\n');
        out.push_str(&crate::stats::breakdown::breakdown_table(b, s.requests_total));
    }
    if let Some(sessions) = &doc.sessions {
        out.push('\n');
        out.push_str(&sessions.table());
    }
    if let Some(st) = &doc.stages {
        out.push_str(&crate::export::stages_table::table(st));
        for line in st.failure_lines() {
            out.push_str(&line);
            out.push('\n');
        }
    }
    if !s.errors.is_empty() {
        out.push_str("\nErrors:\n");
        let rows: Vec<Vec<String>> = s
            .errors
            .iter()
            .map(|g| vec![g.class.to_string(), g.count.to_string(), cut(&g.example, 80)])
            .collect();
        out.push_str(&indent(&aligned(
            &["Class", "Count", "Example"],
            &rows,
            &[false, true, false],
        )));
    }
    if doc.trust.is_some() || doc.connections.is_some() {
        out.push('\n');
    }
    if let Some(t) = &doc.trust {
        out.push_str(&t.line);
        out.push('\n');
    }
    if let Some(c) = &doc.connections {
        out.push_str(&crate::export::console::connections_block(c));
    }
    if !doc.slos.is_empty() {
        out.push_str("\nObjectives:\n");
        let rows: Vec<Vec<String>> = doc
            .slos
            .iter()
            .map(|r| {
                vec![
                    r.slo.expr.clone(),
                    opt(r.measured, 2),
                    if r.passed { "passed".into() } else { "FAILED".into() },
                ]
            })
            .collect();
        out.push_str(&indent(&aligned(
            &["Objective", "Measured", "Result"],
            &rows,
            &[false, true, false],
        )));
    }
    out
}

/// The trace facts of a replay: format, file, speed, window, and the
/// lateness of sends against the trace's times (the queue delay).
fn trace_line(doc: &RunDocument) -> Option<String> {
    use crate::doc::settings::{Arrival, Dataset, Schedule};
    let settings = doc.settings.as_ref()?;
    let Dataset::Trace {
        format, path, window, ..
    } = &settings.workload.dataset
    else {
        return None;
    };
    let mut out = format!("Trace:      {format} {}", path.display());
    if let Schedule::Open {
        arrival: Arrival::Trace { speed },
        ..
    } = settings.schedule
    {
        let _ = write!(out, " at {}x", super::num(speed));
    }
    if let Some(w) = window {
        let end = w
            .end_s
            .map_or_else(|| "end".to_string(), |e| format!("{}s", super::num(e)));
        let _ = write!(out, ", window {}s..{end}", super::num(w.start_s));
    }
    out.push('\n');
    if let Some(q) = &doc.summary.queue_delay_ms {
        let _ = writeln!(
            out,
            "Lateness:   sends behind the trace's times p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            q.p50, q.p99, q.max
        );
    }
    Some(out)
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

fn latency_table(s: &Summary) -> String {
    let rows: Vec<Vec<String>> = s
        .latencies()
        .into_iter()
        .filter_map(|(name, d)| {
            d.map(|l| {
                let mut row = vec![name.to_string()];
                row.extend([l.mean, l.p50, l.p90, l.p99, l.max].map(|v| format!("{v:.2}")));
                row
            })
        })
        .collect();
    if rows.is_empty() {
        return "No latency figures (no successful request).\n".into();
    }
    aligned(
        &["Latency (ms)", "mean", "p50", "p90", "p99", "max"],
        &rows,
        &[false, true, true, true, true, true],
    )
}

/// `inferload show ID` of a sweep: its levels and its verdict.
pub(super) fn sweep(e: &Entry, doc: &SweepDocument) -> String {
    let mut out = heading(e);
    out.push('\n');
    let rows: Vec<Vec<String>> = doc
        .levels
        .iter()
        .map(|l| {
            let load = match (l.concurrency, l.rate) {
                (c, Some(r)) => {
                    format!("{} req/s", super::num(r)) + &c.map(|c| format!(", cap {c}")).unwrap_or_default()
                }
                (Some(c), None) => format!("concurrency {c}"),
                (None, None) => "?".into(),
            };
            vec![
                load,
                l.requests.to_string(),
                ratio(Some(l.success_rate)),
                opt(Some(l.request_throughput), 2),
                opt(Some(l.output_throughput), 1),
                opt(l.summary.ttft_ms.as_ref().map(|x| x.p90), 1),
                opt(l.summary.e2e_ms.as_ref().map(|x| x.p99), 1),
                l.trip.as_ref().map(|t| t.rule.clone()).unwrap_or_default(),
            ]
        })
        .collect();
    if rows.is_empty() {
        out.push_str("No level was measured.\n");
    } else {
        out.push_str(&aligned(
            &[
                "Level",
                "Requests",
                "Success",
                "Req/s",
                "Tok/s",
                "TTFT p90 (ms)",
                "E2E p99 (ms)",
                "Stopped by",
            ],
            &rows,
            &[false, true, true, true, true, true, true, false],
        ));
    }
    if let Some(v) = &doc.verdict {
        out.push_str("\nVerdict:\n");
        let count = |c: Option<usize>| c.map(|c| c as f64);
        let fields = [
            ("Max stable concurrency", count(v.max_stable_concurrency), ""),
            ("Recommended concurrency", count(v.recommended_concurrency), ""),
            ("Max stable rate", v.max_stable_rate, " req/s"),
            ("Recommended rate", v.recommended_rate, " req/s"),
            ("Required concurrency", count(v.required_concurrency), ""),
            ("Max rate under SLO", v.max_rate_under_slo, " req/s"),
            ("Request throughput", v.request_throughput, " req/s"),
            ("Output throughput", v.output_throughput, " tok/s"),
        ];
        for (label, value, unit) in fields {
            if let Some(x) = value {
                let _ = writeln!(out, "  {label}: {}{unit}", super::num(x));
            }
        }
        if !v.reason.is_empty() {
            let _ = writeln!(out, "  {}", v.reason);
        }
    } else {
        out.push_str("\nNo verdict (the sweep did not finish).\n");
    }
    out
}

/// The two runs a diff compares, and notes when their settings differ.
pub(super) fn diff_header(a: &Entry, b: &Entry, noise: f64) -> String {
    let line = |label: &str, e: &Entry| {
        format!(
            "{label} run {} — {}, {}, {} @ {}{}\n",
            e.id,
            local_time(&e.started_at),
            e.load,
            e.model,
            e.target_url,
            if e.interrupted { " (interrupted)" } else { "" }
        )
    };
    let mut out = line("Baseline:", a) + &line("New:     ", b);
    if a.load != b.load {
        let _ = writeln!(out, "Note: the runs had different loads ({} vs {}).", a.load, b.load);
    }
    if a.model != b.model {
        let _ = writeln!(
            out,
            "Note: the runs used different models ({} vs {}).",
            a.model, b.model
        );
    }
    let _ = writeln!(out, "Changes within ±{} are noise.\n", percent(noise));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_align_and_trailing_space_is_trimmed() {
        let t = aligned(
            &["A", "Num"],
            &[vec!["long name".into(), "1".into()], vec!["x".into(), "123".into()]],
            &[false, true],
        );
        assert_eq!(t, "A          Num\nlong name    1\nx          123\n");
    }

    #[test]
    fn small_formatters() {
        assert_eq!(percent(0.05), "5%");
        assert_eq!(percent(0.025), "2.5%");
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(local_time("2025-06-01T12:00:00+02:00"), "2025-06-01 12:00:00");
        assert_eq!(local_time("garbage"), "garbage");
    }

    #[test]
    fn a_replay_shows_its_trace_and_lateness_and_a_staged_run_its_stages() {
        use crate::doc::settings::{Arrival, Dataset, Schedule, TraceWindow};
        let mut r = crate::export::testing::report(|s| {
            s.schedule = Schedule::Open {
                rate: None,
                arrival: Arrival::Trace { speed: 2.0 },
                cap: None,
            };
            s.workload.dataset = Dataset::Trace {
                format: "mooncake".into(),
                path: "/data/trace.jsonl".into(),
                block_size: 512,
                window: Some(TraceWindow {
                    start_s: 10.0,
                    end_s: Some(70.0),
                }),
            };
        });
        let e = Entry {
            id: 1,
            kind: "run".into(),
            started_at: String::new(),
            target_url: String::new(),
            model: String::new(),
            load: String::new(),
            interrupted: false,
            headline: Default::default(),
            shape: "trace".into(),
            records: None,
        };
        let text = run(&e, &r.doc);
        assert!(
            text.contains("Trace:      mooncake /data/trace.jsonl at 2x, window 10s..70s\n"),
            "{text}"
        );
        if let Some(q) = &r.doc.summary.queue_delay_ms {
            assert!(text.contains(&format!("p99 {:.2} ms", q.p99)), "{text}");
        }
        assert!(!text.contains("By stage"), "{text}");
        r.doc.stages = Some(crate::doc::stages::StagesSection {
            profile: crate::schedule::stages::Profile::Concurrency(
                crate::schedule::stages::StageList::parse("1s:2").unwrap(),
            ),
            stages: Vec::new(),
            rate_changes: Vec::new(),
            first_failures: Vec::new(),
        });
        assert!(run(&e, &r.doc).contains("By stage"));
    }
}
