//! The table of a sweep over settings (`--server-param`, `--bench-param`):
//! one row per setting — its verdict, the highest throughput of its
//! ladder, TTFT at the verdict, cold start and the prefix-cache hit rate
//! when scraped — and the best setting named under it. The rows are
//! shared by the console, Markdown and CSV ([`rows`]), so they agree.

use crate::doc::server::SettingsSweep;

/// The header and the rows, as text cells.
pub fn rows(s: &SettingsSweep) -> (Vec<String>, Vec<Vec<String>>) {
    let with_cold = s.settings.iter().any(|r| r.cold_start.is_some());
    let with_prefix = s.settings.iter().any(|r| r.prefix_hit_pct().is_some());
    let mut header: Vec<String> = ["setting", "verdict", "max req/s", "TTFT mean at verdict (ms)"]
        .iter()
        .map(|h| h.to_string())
        .collect();
    if with_prefix {
        header.push("prefix hit".into());
    }
    if with_cold {
        header.push("ready (s)".into());
        header.push("cold TTFT (ms)".into());
    }
    header.push("best".into());
    let rows = s
        .settings
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut row = vec![
                r.label.clone(),
                r.verdict_text(),
                r.max_throughput()
                    .map(|t| format!("{t:.2}"))
                    .unwrap_or_else(|| "-".into()),
                r.ttft_at_verdict_ms()
                    .map(|t| format!("{t:.1}"))
                    .unwrap_or_else(|| "-".into()),
            ];
            if with_prefix {
                row.push(
                    r.prefix_hit_pct()
                        .map(|p| format!("{p:.1}%"))
                        .unwrap_or_else(|| "-".into()),
                );
            }
            if with_cold {
                let c = r.cold_start.as_ref();
                row.push(
                    c.map(|c| format!("{:.2}", c.time_to_ready_s))
                        .unwrap_or_else(|| "-".into()),
                );
                row.push(
                    c.and_then(|c| c.first_request.as_ref())
                        .and_then(|f| f.ttft_ms)
                        .map(|t| format!("{t:.1}"))
                        .unwrap_or_else(|| "-".into()),
                );
            }
            row.push(if s.best == Some(i) { "*".into() } else { String::new() });
            row
        })
        .collect();
    (header, rows)
}

/// The console's block: the table and the best setting.
pub fn table(s: &SettingsSweep) -> String {
    let (header, body) = rows(s);
    let all: Vec<&Vec<String>> = std::iter::once(&header).chain(&body).collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|i| all.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::from("\n============================ Settings ============================\n");
    for row in all {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| if i == 0 { format!("{c:<w$}") } else { format!("{c:>w$}") })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out.push_str(&best_line(s));
    out.push('\n');
    out
}

/// "Best setting: seqs=16 (concurrency 16; …)".
pub fn best_line(s: &SettingsSweep) -> String {
    match s.best.and_then(|b| s.settings.get(b)) {
        Some(b) => format!("Best setting: {} ({}; by {})", b.label, b.verdict_text(), s.objective),
        None => "Best setting: none (no setting reached a verdict)".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::server::SettingResult;
    use crate::doc::sweep::Verdict;

    #[test]
    fn the_table_marks_the_best_setting() {
        let mk = |label: &str, c| SettingResult {
            label: label.into(),
            params: Vec::new(),
            cold_start: None,
            levels: Vec::new(),
            verdict: Some(Verdict {
                max_stable_concurrency: Some(c),
                ..Verdict::default()
            }),
            interrupted: false,
            error: None,
        };
        let s = SettingsSweep {
            objective: "x".into(),
            settings: vec![mk("seqs=4", 4), mk("seqs=16", 16)],
            best: Some(1),
        };
        let t = table(&s);
        assert!(t.contains("Best setting: seqs=16 (concurrency 16; by x)"), "{t}");
        let line = t.lines().find(|l| l.starts_with("seqs=16")).unwrap();
        assert!(line.ends_with('*'), "{line}");
        assert!(!t.lines().find(|l| l.starts_with("seqs=4")).unwrap().ends_with('*'));
    }
}
