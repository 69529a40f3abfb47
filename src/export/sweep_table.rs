//! The sweep's text: the level table and the verdict block, as
//! `inferload sweep` prints them at the end and `inferload report
//! sweep.json` prints them again, from the [`SweepDocument`] alone.
//!
//! The verdict block's lines (`Maximum stable concurrency: N`,
//! `Recommended rate: R req/s`, ...) are what scripts grep for: keep them.

use crate::doc::fmt_rate;
use crate::doc::sweep::{Level, SweepDocument, Verdict};

fn ms(s: &Option<crate::stats::LatencyStats>, f: impl Fn(&crate::stats::LatencyStats) -> f64) -> String {
    s.as_ref().map(|s| format!("{:.1}", f(s))).unwrap_or_else(|| "-".into())
}

/// One level in a line, printed as the sweep measures it.
pub fn level_line(r: &Level) -> String {
    let s = &r.summary;
    let achieved = r
        .achieved_rate
        .map(|a| format!(", achieved {a:.2} req/s"))
        .unwrap_or_default();
    let verdict = match &r.trip {
        Some(t) => format!("stop: {}", t.detail),
        None => "ok".into(),
    };
    let ci = r
        .interval("request_throughput")
        .map(|i| format!(" (95 % CI {:.2}–{:.2})", i.low, i.high))
        .unwrap_or_default();
    format!(
        "{} requests, {:.1}% ok, {:.2} req/s{ci}{achieved}, {:.1} tok/s, TTFT p90 {} ms, E2E p99 {} ms → {verdict}",
        r.requests,
        r.success_rate * 100.0,
        r.request_throughput,
        r.output_throughput,
        ms(&s.ttft_ms, |l| l.p90),
        ms(&s.e2e_ms, |l| l.p99),
    )
}

/// The per-level table printed at the end.
pub fn level_table(levels: &[Level]) -> String {
    let rate_mode = levels.iter().any(|l| l.rate.is_some());
    let mut rows: Vec<Vec<String>> = vec![vec![
        if rate_mode { "rate" } else { "concurrency" }.into(),
        if rate_mode { "achieved" } else { "" }.into(),
        "requests".into(),
        "success".into(),
        "req/s".into(),
        "out tok/s".into(),
        "TTFT mean".into(),
        "TTFT p90".into(),
        "TTFT p99".into(),
        "TPOT mean".into(),
        "E2E p50".into(),
        "E2E p99".into(),
        "req/s/conc".into(),
        "stopped by".into(),
    ]];
    for l in levels {
        let s = &l.summary;
        rows.push(vec![
            match (l.rate, l.concurrency) {
                (Some(r), Some(c)) => format!("{} (cap {c})", fmt_rate(r)),
                (Some(r), None) => fmt_rate(r),
                (None, Some(c)) => c.to_string(),
                (None, None) => "-".into(),
            },
            l.achieved_rate.map(|a| format!("{a:.2}")).unwrap_or_default(),
            l.requests.to_string(),
            format!("{:.1}%", l.success_rate * 100.0),
            format!("{:.2}", l.request_throughput),
            format!("{:.1}", l.output_throughput),
            ms(&s.ttft_ms, |x| x.mean),
            ms(&s.ttft_ms, |x| x.p90),
            ms(&s.ttft_ms, |x| x.p99),
            ms(&s.tpot_ms, |x| x.mean),
            ms(&s.e2e_ms, |x| x.p50),
            ms(&s.e2e_ms, |x| x.p99),
            format!("{:.3}", l.efficiency),
            l.trip.as_ref().map(|t| t.rule.clone()).unwrap_or_default(),
        ]);
    }
    resource_columns(levels, &mut rows);
    interval_columns(levels, &mut rows);
    if !rate_mode {
        for r in &mut rows {
            r.remove(1);
        }
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::from("\n============================== Sweep ==============================\n");
    out.push_str("(latencies in ms)\n");
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:>w$}", w = *w))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// The 95 % intervals of request throughput and mean TTFT, after their
/// figures, when any level has them (`low–high`).
fn interval_columns(levels: &[Level], rows: &mut [Vec<String>]) {
    for (name, after, title) in [
        ("request_throughput", "req/s", "req/s 95% CI"),
        ("mean_ttft_ms", "TTFT mean", "TTFT mean 95% CI"),
    ] {
        if !levels.iter().any(|l| l.interval(name).is_some()) {
            continue;
        }
        let Some(at) = rows[0].iter().position(|c| c == after).map(|i| i + 1) else {
            continue;
        };
        rows[0].insert(at, title.into());
        for (row, l) in rows[1..].iter_mut().zip(levels) {
            let digits = if name == "mean_ttft_ms" { 1 } else { 2 };
            row.insert(
                at,
                l.interval(name)
                    .map(|i| format!("{:.d$}–{:.d$}", i.low, i.high, d = digits))
                    .unwrap_or_else(|| "-".into()),
            );
        }
    }
}

/// Per-level resource columns, before "stopped by", for the figures any
/// level has: mean GPU utilisation, peak GPU memory, peak KV cache, peak
/// server queue, mean host CPU, the server's prefix-cache hit rate.
fn resource_columns(levels: &[Level], rows: &mut [Vec<String>]) {
    use crate::monitor::MonitorSummary;
    type Pick = fn(&MonitorSummary) -> Option<String>;
    let columns: [(&str, Pick); 6] = [
        ("GPU util", |m| m.gpu_util_pct.map(|s| format!("{:.1}%", s.mean))),
        ("GPU mem max", |m| m.gpu_memory_pct.map(|s| format!("{:.1}%", s.peak))),
        ("KV max", |m| m.kv_cache_pct.map(|s| format!("{:.1}%", s.peak))),
        ("queue max", |m| m.server_waiting.map(|s| format!("{:.0}", s.peak))),
        ("host CPU", |m| m.host_cpu_pct.map(|s| format!("{:.1}%", s.mean))),
        ("prefix hit", |m| m.prefix_cache_hit_pct().map(|p| format!("{p:.1}%"))),
    ];
    for (title, pick) in columns {
        if !levels.iter().any(|l| l.monitor.as_ref().and_then(pick).is_some()) {
            continue;
        }
        let at = rows[0].len() - 1;
        rows[0].insert(at, title.into());
        for (row, l) in rows[1..].iter_mut().zip(levels) {
            row.insert(at, l.monitor.as_ref().and_then(pick).unwrap_or_else(|| "-".into()));
        }
    }
}

/// The verdict, with the lines scripts grep for. `rates`: the sweep
/// searched rates (a rate ladder or `--max-rate-under-slo`), so its answer
/// is a rate even when no level passed.
pub fn verdict_block(v: &Verdict, rates: bool) -> String {
    let mut out = String::from("\n");
    let none = "none".to_string();
    if v.required_concurrency.is_some()
        || (v.max_rate_under_slo.is_none()
            && v.max_stable_rate.is_none()
            && v.max_stable_concurrency.is_none()
            && v.reason.starts_with("No cap"))
    {
        out.push_str(&format!(
            "Required concurrency: {}\n",
            v.required_concurrency
                .map(|c| c.to_string())
                .unwrap_or_else(|| none.clone())
        ));
    } else if rates || v.max_stable_rate.is_some() || v.max_rate_under_slo.is_some() || v.recommended_rate.is_some() {
        if let Some(r) = v.max_rate_under_slo {
            out.push_str(&format!("Maximum rate under SLO: {} req/s\n", fmt_rate(r)));
        }
        out.push_str(&format!(
            "Maximum sustainable rate: {}\n",
            v.max_stable_rate
                .map(|r| format!("{} req/s", fmt_rate(r)))
                .unwrap_or_else(|| none.clone())
        ));
        if let Some(r) = v.recommended_rate {
            out.push_str(&format!("Recommended rate: {} req/s\n", fmt_rate(r)));
        }
    } else {
        out.push_str(&format!(
            "Maximum stable concurrency: {}\n",
            v.max_stable_concurrency
                .map(|c| c.to_string())
                .unwrap_or_else(|| none.clone())
        ));
        out.push_str(&format!(
            "Recommended concurrency: {}\n",
            v.recommended_concurrency.map(|c| c.to_string()).unwrap_or(none)
        ));
    }
    if let (Some(rps), Some(tok)) = (v.request_throughput, v.output_throughput) {
        out.push_str(&format!("Throughput there: {rps:.2} req/s, {tok:.1} output tok/s\n"));
    }
    if let Some(c) = &v.confidence {
        match &c.interval {
            Some(i) => out.push_str(&format!(
                "Throughput there, 95 % CI: {:.2}–{:.2} req/s ({})\n",
                i.low, i.high, c.method
            )),
            None if v.request_throughput.is_some() => out.push_str(&format!("Confidence: {}\n", c.method)),
            None => {}
        }
    }
    if let Some(k) = &v.best_efficiency {
        out.push_str(&format!("Best efficiency: {}\n", k.detail));
        out.push_str(&format!("  (knee rule: {})\n", k.rule));
    }
    out.push_str(&v.reason);
    out.push('\n');
    for w in v.confidence.iter().flat_map(|c| &c.warnings) {
        out.push_str(&format!("Warning: {w}\n"));
    }
    out
}

/// The level table and the verdict of a sweep document, as the sweep
/// printed them (or a note when the sweep stopped before its verdict).
pub fn sweep_text(doc: &SweepDocument) -> String {
    let mut out = level_table(&doc.levels);
    out.push_str(&verdict_text(doc));
    out
}

/// True when the sweep's answer is a rate: its settings say so, or (a
/// document without settings) every level was a rate level without a cap.
pub fn searched_rates(doc: &SweepDocument) -> bool {
    use crate::doc::sweep::SweepMode;
    match doc.settings.as_ref().map(|s| &s.mode) {
        Some(SweepMode::Rate { .. } | SweepMode::MaxRateUnderSlo { .. }) => true,
        Some(_) => false,
        None => !doc.levels.is_empty() && doc.levels.iter().all(|l| l.rate.is_some() && l.concurrency.is_none()),
    }
}

/// The verdict block of a document, or why there is none.
pub fn verdict_text(doc: &SweepDocument) -> String {
    match &doc.verdict {
        Some(v) => verdict_block(v, searched_rates(doc)),
        None => "\nNo verdict: the sweep was interrupted before it finished.\n".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rate_ladder_failing_at_once_speaks_of_rates() {
        let v = Verdict {
            reason: "The first level, rate 400 req/s, already failed: achieved 150 req/s. Try lower levels.".into(),
            ..Default::default()
        };
        let text = verdict_block(&v, true);
        assert!(text.starts_with("\nMaximum sustainable rate: none\n"), "{text}");
        assert!(!text.contains("concurrency"), "{text}");
        let text = verdict_block(&v, false);
        assert!(text.contains("Maximum stable concurrency: none"), "{text}");
    }

    #[test]
    fn the_verdict_says_how_sure_it_is_and_where_the_knee_is() {
        let v = Verdict {
            max_stable_concurrency: Some(64),
            recommended_concurrency: Some(48),
            request_throughput: Some(96.0),
            output_throughput: Some(3000.0),
            reason: "Stopped at concurrency 128.".into(),
            confidence: Some(crate::doc::sweep::VerdictConfidence {
                metric: "request_throughput".into(),
                interval: Some(crate::stats::confidence::Interval {
                    mean: 96.0,
                    low: 94.5,
                    high: 97.25,
                }),
                method: "Student-t over 2 repeats".into(),
                warnings: vec!["levels 64 and 128 are within noise of each other on throughput".into()],
            }),
            best_efficiency: Some(crate::doc::sweep::Knee {
                concurrency: Some(64),
                detail: "concurrency 64: 96.00 req/s".into(),
                rule: "Kneedle".into(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let text = verdict_block(&v, false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[1], "Maximum stable concurrency: 64",
            "the grepped line stays: {text}"
        );
        assert!(text.contains("Throughput there, 95 % CI: 94.50–97.25 req/s (Student-t over 2 repeats)\n"));
        assert!(text.contains("Best efficiency: concurrency 64: 96.00 req/s\n  (knee rule: Kneedle)\n"));
        assert!(text.ends_with("Warning: levels 64 and 128 are within noise of each other on throughput\n"));
    }
}
