//! `--csv FILE`: one row per request (run), per level (sweep) or per
//! strategy (comparison), with a
//! header row, written with the `csv` crate (quoting handled there).
//!
//! Run columns: `index`, the raw times in seconds since the start of the
//! measured phase (`scheduled_s`, `sent_s`, `first_token_s`, `finished_s`,
//! `ended_s`), the derived latencies in milliseconds (`ttft_ms`, `tpot_ms`,
//! `e2e_ms`, `queue_delay_ms`, `itl_mean_ms`), token counts, `streamed`,
//! `status`, `ok`, `error_class`, `error_message`, then the request's
//! `task` and `model` (a scenario's task mix; empty otherwise), `session`
//! and `turn` (a conversation run; empty otherwise). Empty cell =
//! undefined.
//! Rows are in request order; cancelled requests are included (class
//! `cancelled`), as in the records file.

use crate::doc::{CompareDocument, SweepDocument};
use crate::export::RunReport;
use crate::stats::LatencyStats;

use super::document::Document;

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The CSV bytes of a document.
pub fn render(doc: &Document) -> Result<Vec<u8>, String> {
    match doc {
        Document::Run(r) => run(r),
        Document::Sweep(s) => sweep(s),
        Document::Compare(c) => compare(c),
    }
}

fn run(doc: &RunReport) -> Result<Vec<u8>, String> {
    let Some(records) = &doc.records else {
        return Err(
            "the per-request CSV needs the records: render it from the run's --records file \
             (inferload report RECORDS.jsonl --csv FILE)"
                .into(),
        );
    };
    let mut w = csv::Writer::from_writer(Vec::new());
    // A load over time adds each request's stage (by its intended send time).
    let windows: Option<Vec<(f64, usize)>> = doc
        .doc
        .stages
        .as_ref()
        .map(|st| st.stages.iter().map(|s| (s.end_s, s.stage)).collect());
    let stage_of = |t: f64| {
        windows.as_ref().map(|w| {
            w.iter()
                .find(|(end, _)| t < *end)
                .or(w.last())
                .map_or(String::new(), |(_, i)| i.to_string())
        })
    };
    let mut header = vec![
        "index",
        "scheduled_s",
        "sent_s",
        "first_token_s",
        "finished_s",
        "ended_s",
        "ttft_ms",
        "tpot_ms",
        "e2e_ms",
        "queue_delay_ms",
        "itl_mean_ms",
        "input_tokens",
        "output_tokens",
        "tokens_estimated",
        "streamed",
        "status",
        "ok",
        "error_class",
        "error_message",
        "task",
        "model",
        "session",
        "turn",
    ];
    if windows.is_some() {
        header.push("stage");
    }
    w.write_record(&header).map_err(|e| e.to_string())?;
    let mut sorted: Vec<_> = records.iter().collect();
    sorted.sort_by_key(|r| r.index);
    for r in sorted {
        let gaps: Vec<f64> = r.itls().map(ms).collect();
        let itl_mean = (!gaps.is_empty()).then(|| gaps.iter().sum::<f64>() / gaps.len() as f64);
        let mut row = vec![
            r.index.to_string(),
            r.scheduled_at.as_secs_f64().to_string(),
            r.sent_at.as_secs_f64().to_string(),
            opt(r.first_token_at().map(|t| t.as_secs_f64())),
            opt(r.finished_at.map(|t| t.as_secs_f64())),
            r.ended_at.as_secs_f64().to_string(),
            opt(r.ttft().map(ms)),
            opt(r.tpot().map(ms)),
            opt(r.e2e().map(ms)),
            ms(r.queue_delay()).to_string(),
            opt(itl_mean),
            r.input_tokens.to_string(),
            r.output_tokens.to_string(),
            r.tokens_estimated.to_string(),
            r.streamed.to_string(),
            opt(r.status),
            r.succeeded().to_string(),
            opt(r.error.as_ref().map(|e| e.class)),
            opt(r.error.as_ref().map(|e| e.message.clone())),
            opt(r.task.clone()),
            opt(r.model.clone()),
            opt(r.session.map(|s| s.session)),
            opt(r.session.map(|s| s.turn)),
        ];
        row.extend(stage_of(r.scheduled_at.as_secs_f64()));
        w.write_record(&row).map_err(|e| e.to_string())?;
    }
    w.into_inner().map_err(|e| e.to_string())
}

fn sweep(doc: &SweepDocument) -> Result<Vec<u8>, String> {
    if let Some(s) = &doc.settings_sweep {
        return settings(s);
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = [
        "concurrency",
        "rate",
        "achieved_rate",
        "requests",
        "success_rate",
        "request_throughput",
        "output_throughput",
        "efficiency",
        "goodput",
    ]
    .map(String::from)
    .to_vec();
    for m in ["ttft", "tpot", "itl", "e2e"] {
        for s in ["mean", "p50", "p90", "p99"] {
            header.push(format!("{m}_{s}_ms"));
        }
    }
    header.extend(["stopped_by".into(), "stop_detail".into()]);
    w.write_record(&header).map_err(|e| e.to_string())?;
    for l in &doc.levels {
        let s = &l.summary;
        let mut row = vec![
            opt(l.concurrency),
            opt(l.rate),
            opt(l.achieved_rate),
            l.requests.to_string(),
            l.success_rate.to_string(),
            l.request_throughput.to_string(),
            l.output_throughput.to_string(),
            l.efficiency.to_string(),
            opt(l.goodput.map(|g| g.goodput)),
        ];
        for d in [&s.ttft_ms, &s.tpot_ms, &s.itl_ms, &s.e2e_ms] {
            let f = |g: fn(&LatencyStats) -> f64| opt(d.as_ref().map(g));
            row.extend([f(|x| x.mean), f(|x| x.p50), f(|x| x.p90), f(|x| x.p99)]);
        }
        row.push(opt(l.trip.as_ref().map(|t| t.rule.clone())));
        row.push(opt(l.trip.as_ref().map(|t| t.detail.clone())));
        w.write_record(&row).map_err(|e| e.to_string())?;
    }
    w.into_inner().map_err(|e| e.to_string())
}

/// A sweep over settings: one row per setting (its parameters, verdict,
/// capacity, highest throughput, TTFT at the verdict, cold start).
fn settings(s: &crate::doc::server::SettingsSweep) -> Result<Vec<u8>, String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record([
        "setting",
        "verdict",
        "capacity",
        "max_request_throughput",
        "ttft_mean_at_verdict_ms",
        "prefix_cache_hit_pct",
        "time_to_ready_s",
        "cold_ttft_ms",
        "best",
        "error",
    ])
    .map_err(|e| e.to_string())?;
    for (i, r) in s.settings.iter().enumerate() {
        let cold = r.cold_start.as_ref();
        w.write_record([
            r.label.clone(),
            r.verdict_text(),
            opt(r.capacity()),
            opt(r.max_throughput()),
            opt(r.ttft_at_verdict_ms()),
            opt(r.prefix_hit_pct()),
            opt(cold.map(|c| c.time_to_ready_s)),
            opt(cold.and_then(|c| c.first_request.as_ref()).and_then(|f| f.ttft_ms)),
            (s.best == Some(i)).to_string(),
            opt(r.error.clone()),
        ])
        .map_err(|e| e.to_string())?;
    }
    w.into_inner().map_err(|e| e.to_string())
}

/// One CSV row per strategy.
fn compare(d: &CompareDocument) -> Result<Vec<u8>, String> {
    let mut w = ::csv::Writer::from_writer(Vec::new());
    let (header, rows) = super::document::compare_rows(d);
    w.write_record(&header).map_err(|e| e.to_string())?;
    for r in rows {
        w.write_record(&r).map_err(|e| e.to_string())?;
    }
    w.into_inner().map_err(|e| e.to_string())
}
