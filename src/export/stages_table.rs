//! The by-stage table of a run whose load changed over time: one row per
//! stage (its window, targets, requests, success rate, TTFT and ITL p50 and
//! p99, throughputs, the mean in flight, and the objectives that failed in
//! it with `--slo-per-stage`). The console prints it after the summary;
//! Markdown, HTML and CSV reports take the same [`rows`].

use crate::doc::stages::{StageFigures, StagesSection};

/// The header and one row per stage, as text cells.
pub fn rows(s: &StagesSection) -> Vec<Vec<String>> {
    let unit = match s.profile.kind() {
        "concurrency" => "workers",
        "users" => "users",
        _ => "req/s",
    };
    let mut rows = vec![vec![
        "stage".to_string(),
        "window".into(),
        format!("target ({unit})"),
        "requests".into(),
        "success".into(),
        "TTFT p50".into(),
        "TTFT p99".into(),
        "ITL p50".into(),
        "ITL p99".into(),
        "req/s".into(),
        "out tok/s".into(),
        "in flight".into(),
    ]];
    let per_stage = s.stages.iter().any(|st| !st.slos.is_empty());
    if per_stage {
        rows[0].push("objectives".into());
    }
    for st in &s.stages {
        let mut row = vec![
            st.stage.to_string(),
            format!("{:.1}s-{:.1}s", st.start_s, st.end_s),
            target(st),
            st.requests.to_string(),
            format!("{:.1}%", st.success_rate * 100.0),
            ms(st.ttft_p50_ms),
            ms(st.ttft_p99_ms),
            ms(st.itl_p50_ms),
            ms(st.itl_p99_ms),
            format!("{:.2}", st.request_throughput),
            format!("{:.1}", st.output_throughput),
            format!("{:.1}", st.mean_in_flight),
        ];
        if per_stage {
            let failed: Vec<&str> = st
                .slos
                .iter()
                .filter(|r| !r.passed)
                .map(|r| r.slo.expr.as_str())
                .collect();
            row.push(if st.slos.is_empty() {
                "-".into()
            } else if failed.is_empty() {
                "PASS".into()
            } else {
                format!("FAIL {}", failed.join(", "))
            });
        }
        rows.push(row);
    }
    rows
}

fn target(st: &StageFigures) -> String {
    if (st.from - st.to).abs() < 1e-9 {
        trim(st.to)
    } else {
        format!("{} → {}", trim(st.from), trim(st.to))
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn ms(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.1}"))
}

/// The console's block: a titled, aligned table (latencies in ms).
pub fn table(s: &StagesSection) -> String {
    let rows = rows(s);
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::from("\n------------------------------ By stage ------------------------------\n");
    out.push_str(&format!("{} (latencies in ms)\n", s.profile.describe()));
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| if i < 3 { format!("{c:<w$}") } else { format!("{c:>w$}") })
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}
