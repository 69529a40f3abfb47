//! Reports of a comparison (`inferload compare`): from its
//! [`CompareDocument`], its HTML section, CSV rows and Markdown table. The
//! charts (a radar of the normalised scores and grouped bars of throughput
//! and latency per strategy) are in [`super::charts`].

use std::fmt::Write as _;

use crate::doc::compare::{CompareDocument, StrategyResult};

use super::html::esc;

/// The axes of the radar: each strategy's normalised scores (0–1):
/// throughput, response time, success rate, GPU (when measured), and
/// the efficiency score.
pub fn radar(d: &CompareDocument) -> (Vec<&'static str>, Vec<(String, Vec<f64>)>) {
    let max_tp = d
        .strategies
        .iter()
        .map(StrategyResult::work_throughput)
        .fold(0.0, f64::max);
    let min_rt = d
        .strategies
        .iter()
        .filter_map(StrategyResult::response_ms)
        .filter(|r| *r > 0.0)
        .fold(f64::INFINITY, f64::min);
    let gpu = d.strategies.iter().all(|s| s.gpu_util_pct.is_some()) && !d.strategies.is_empty();
    let mut axes = vec!["throughput", "response time", "success rate"];
    if gpu {
        axes.push("GPU utilisation");
    }
    axes.push("efficiency score");
    let rows = d
        .strategies
        .iter()
        .map(|s| {
            let tp = if max_tp > 0.0 {
                s.work_throughput() / max_tp
            } else {
                0.0
            };
            let rt = match s.response_ms() {
                Some(r) if r > 0.0 && min_rt.is_finite() => min_rt / r,
                _ => 0.0,
            };
            let mut v = vec![tp, rt, s.success_rate];
            if gpu {
                v.push(s.gpu_util_pct.unwrap_or(0.0) / 100.0);
            }
            v.push(s.score);
            (s.name.clone(), v)
        })
        .collect();
    (axes, rows)
}

/// Header and rows of the strategy table (Markdown, CSV and HTML).
pub fn rows(d: &CompareDocument) -> (Vec<String>, Vec<Vec<String>>) {
    let opt = |v: Option<f64>, d: usize| v.map_or_else(String::new, |x| format!("{x:.d$}"));
    let header = [
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
    ]
    .map(String::from)
    .to_vec();
    let rows = d
        .strategies
        .iter()
        .map(|s| {
            vec![
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
            ]
        })
        .collect();
    (header, rows)
}

/// The page body of a comparison: the best strategy first, the table, the
/// score's formula, then the charts.
pub fn html_body(d: &CompareDocument) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "<h1>{}</h1>", esc(&d.title()));
    if let Some(t) = &d.started_at {
        let _ = writeln!(out, "<p class=\"sub\">started {}</p>", esc(t));
    }
    out.push_str("<h2 id=\"best\">Best strategy</h2>\n");
    match &d.best {
        Some(b) => {
            let _ = writeln!(
                out,
                "<div class=\"verdict\"><p class=\"big\">Best strategy: {}</p><p>{}</p></div>",
                esc(&b.name),
                esc(&b.reason)
            );
        }
        None => out.push_str("<div class=\"verdict none\"><p class=\"big\">No strategy was measured.</p></div>\n"),
    }
    if d.interrupted {
        out.push_str("<p class=\"warn\">Interrupted: not every strategy was measured as planned.</p>\n");
    }
    out.push_str("<h2 id=\"strategies\">Strategies</h2>\n<table>\n<tr>");
    let (header, rows) = rows(d);
    for (i, h) in header.iter().enumerate() {
        let _ = write!(
            out,
            "<th{}>{}</th>",
            if i < 2 { " class=\"l\"" } else { "" },
            esc(&h.replace('_', " "))
        );
    }
    out.push_str("</tr>\n");
    for row in &rows {
        out.push_str("<tr>");
        for (i, c) in row.iter().enumerate() {
            let _ = write!(
                out,
                "<td{}>{}</td>",
                if i < 2 { " class=\"l\"" } else { "" },
                esc(if c.is_empty() { "–" } else { c })
            );
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
    let _ = writeln!(
        out,
        "<p>Changes are against the first strategy ({}). Latency is the mean end-to-end response time. {}</p>",
        esc(d.strategies.first().map_or("", |s| s.name.as_str())),
        if d.with_gpu() {
            "Efficiency score = 0.5 × throughput / best throughput + 0.3 × fastest response time / response time + 0.2 × GPU utilisation."
        } else {
            "Efficiency score = 0.625 × throughput / best throughput + 0.375 × fastest response time / response time: there are no GPU figures, so the GPU weight (0.2) is left out and the other two renormalised."
        }
    );
    out
}

/// One CSV row per strategy.
pub fn csv(d: &CompareDocument) -> Result<Vec<u8>, String> {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    let (header, rows) = rows(d);
    w.write_record(&header).map_err(|e| e.to_string())?;
    for r in rows {
        w.write_record(&r).map_err(|e| e.to_string())?;
    }
    w.into_inner().map_err(|e| e.to_string())
}

/// The table and the best strategy as Markdown.
pub fn markdown(d: &CompareDocument) -> String {
    let mut out = format!("# {}\n\n", d.title());
    if let Some(b) = &d.best {
        let _ = writeln!(out, "**Best strategy: {}** — {}\n", b.name, b.reason);
    }
    let (header, rows) = rows(d);
    let cell = |s: &str| s.replace('|', "\\|");
    let _ = writeln!(
        out,
        "| {} |",
        header.iter().map(|h| cell(h)).collect::<Vec<_>>().join(" | ")
    );
    let _ = writeln!(out, "|{}", "---|".repeat(header.len()));
    for r in rows {
        let _ = writeln!(out, "| {} |", r.iter().map(|c| cell(c)).collect::<Vec<_>>().join(" | "));
    }
    out
}
