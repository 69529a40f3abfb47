//! The comparison's text: the table `inferload compare` prints at the end
//! and `inferload report compare.json` prints again, from the document's
//! strategies alone.

use crate::doc::compare::{Best, CompareDocument, StrategyResult};

/// A change in percent with its sign (`+12.5%`).
pub fn signed(v: f64) -> String {
    format!("{v:+.1}%")
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| "-".into(), |x| format!("{x:.digits$}"))
}

/// The comparison as printed: one row per strategy, the changes against
/// the first, the score note and the best strategy.
pub fn table(results: &[StrategyResult], best: Option<&Best>, with_gpu: bool) -> String {
    let images = results.iter().any(|r| r.images_per_s.is_some());
    let submit = results.iter().any(|r| r.submit_mean_ms.is_some());
    let prefix = results.iter().any(|r| r.prefix_cache_hit_pct.is_some());
    let mut header: Vec<&str> = vec!["strategy", "requests", "success", "req/s"];
    if images {
        header.push("images/s");
    }
    header.extend(["mean ms", "p95 ms", "p99 ms"]);
    if submit {
        header.push("submit ms");
    }
    if prefix {
        header.push("prefix hit %");
    }
    header.extend(["GPU %", "score", "throughput Δ", "latency Δ"]);
    let conns = results.iter().any(|r| r.connections.is_some());
    if conns {
        header.extend(["conns", "req/conn", "stale", "connect ms"]);
    }
    let mut rows: Vec<Vec<String>> = vec![header.iter().map(|s| s.to_string()).collect()];
    for r in results {
        let mut row = vec![
            r.name.clone(),
            r.requests.to_string(),
            format!("{:.1}%", r.success_rate * 100.0),
            format!("{:.3}", r.request_throughput),
        ];
        if images {
            row.push(opt(r.images_per_s, 3));
        }
        row.extend([
            opt(r.latency_mean_ms, 1),
            opt(r.latency_p95_ms, 1),
            opt(r.latency_p99_ms, 1),
        ]);
        if submit {
            row.push(opt(r.submit_mean_ms, 1));
        }
        if prefix {
            row.push(opt(r.prefix_cache_hit_pct, 1));
        }
        row.extend([
            opt(r.gpu_util_pct, 1),
            format!("{:.3}", r.score),
            r.throughput_change_pct.map_or_else(|| "-".into(), signed),
            r.latency_change_pct.map_or_else(|| "-".into(), signed),
        ]);
        if conns {
            match &r.connections {
                Some(c) => row.extend([
                    c.opened.to_string(),
                    format!("{:.2}", c.requests_per_connection),
                    c.stale_retries.to_string(),
                    opt(c.connect_mean_ms, 2),
                ]),
                None => row.extend(std::iter::repeat_n("-".to_string(), 4)),
            }
        }
        rows.push(row);
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::from("\n============================ Comparison ============================\n");
    for (n, row) in rows.iter().enumerate() {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, w))| if i == 0 { format!("{c:<w$}") } else { format!("{c:>w$}") })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
        if n == 0 {
            out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1)));
            out.push('\n');
        }
    }
    if let Some(first) = results.first() {
        out.push_str(&format!(
            "Changes (Δ) are against the first strategy, {}; latency is the mean end-to-end response time.\n",
            first.name
        ));
        for r in results.iter().skip(1) {
            out.push_str(&format!(
                "  {}: throughput {}, response time {}\n",
                r.name,
                r.throughput_change_pct.map_or_else(|| "n/a".into(), signed),
                r.latency_change_pct.map_or_else(|| "n/a".into(), signed),
            ));
        }
    }
    if conns {
        out.push_str(
            "Connections over every run: opened, requests per connection, stale-connection retries, mean connect time.\n",
        );
    }
    if with_gpu {
        out.push_str(
            "Score = 0.5 × throughput/best + 0.3 × fastest/response time + 0.2 × GPU utilisation (docs/COMPARE.md).\n",
        );
    } else {
        out.push_str("Score = 0.625 × throughput/best + 0.375 × fastest/response time: no GPU figures, so the GPU weight (0.2) is left out and the others renormalised (docs/COMPARE.md).\n");
    }
    match best {
        Some(b) => out.push_str(&format!("Best strategy: {}\n{}\n", b.name, b.reason)),
        None => out.push_str("Best strategy: none (nothing was measured)\n"),
    }
    out
}

/// The table of a comparison document.
pub fn compare_text(doc: &CompareDocument) -> String {
    table(&doc.strategies, doc.best.as_ref(), doc.with_gpu())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::compare::StrategyConnections;

    #[test]
    fn connection_figures_are_columns_when_recorded() {
        let mut a = StrategyResult {
            name: "a".into(),
            ..Default::default()
        };
        let text = table(std::slice::from_ref(&a), None, false);
        assert!(!text.contains("req/conn"), "none recorded: {text}");
        a.connections = Some(StrategyConnections {
            opened: 4,
            requests_per_connection: 25.0,
            stale_retries: 1,
            connect_mean_ms: Some(0.5),
        });
        let b = StrategyResult {
            name: "b".into(),
            ..Default::default()
        };
        let text = table(&[a, b], None, false);
        let lines: Vec<&str> = text.lines().collect();
        let head = lines.iter().find(|l| l.starts_with("strategy")).unwrap();
        assert!(head.ends_with("conns  req/conn  stale  connect ms"), "{head}");
        let row = lines.iter().find(|l| l.starts_with("a ")).unwrap();
        assert!(row.ends_with("4     25.00      1        0.50"), "`{row}`");
        let row = lines.iter().find(|l| l.starts_with("b ")).unwrap();
        assert!(row.ends_with("-         -      -           -"), "`{row}`");
    }
}
