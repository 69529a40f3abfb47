//! `inferload run`: one plan measured once on the harness, then judged
//! against its objectives, printed, and written to every output asked for.

use crate::doc::{RunDocument, RunSettings};
use crate::export::records::RecordsWriter;
use crate::export::vllm::VllmExporter;
use crate::export::{self, Exporter, RunReport};
use crate::harness::outputs::{self, Output};
use crate::harness::{Harness, Level, Sinks};
use crate::outcome::Outcome;
use crate::plan::RunPlan;
use crate::report::Document;
use crate::server::{ServerPlan, StartError, Started};

/// Measures the plan; the outcome says whether it was interrupted or
/// failed its objectives.
pub async fn run(h: &Harness, plan: &RunPlan) -> anyhow::Result<Outcome> {
    run_with_server(h, plan, None).await
}

/// [`run`], first starting the server under test when `server` says so
/// (`--server-cmd`): ready, cold first request, the run, then the server
/// stopped — on an error too (the process guard's drop is the last resort).
pub async fn run_with_server(h: &Harness, plan: &RunPlan, server: Option<&ServerPlan>) -> anyhow::Result<Outcome> {
    let Some(sp) = server else {
        return measure(h, plan, None).await;
    };
    let inst = sp.instance(&[], plan.target.base_url.as_deref(), sp.log.clone())?;
    let started = match crate::server::start(inst, plan, h.signals()).await {
        Ok(s) => s,
        Err(StartError::Interrupted) => {
            eprintln!("Interrupted while the server was starting; it was stopped.");
            return Ok(Outcome::Interrupted);
        }
        Err(e) => return Err(e.into()),
    };
    let mut plan = plan.clone();
    plan.target.base_url = Some(started.instance.url.clone());
    let outcome = measure(h, &plan, Some(&started)).await;
    let status = started.process.stop(crate::server::STOP_GRACE).await;
    println!(
        "Server: stopped{}",
        status
            .map(|s| format!(" ({})", crate::server::process::describe_status(s)))
            .unwrap_or_default()
    );
    outcome
}

/// The run proper, on a started server when there is one.
async fn measure(h: &Harness, plan: &RunPlan, started: Option<&Started>) -> anyhow::Result<Outcome> {
    // Files first: a bad records path fails before any traffic.
    let records = match &plan.outputs.records {
        Some(path) => Some(RecordsWriter::create(path)?),
        None => None,
    };
    if let Some(dir) = plan.outputs.vllm_result.as_ref().and_then(|v| v.dir.as_ref()) {
        std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("--result-dir {}: {e}", dir.display()))?;
    }
    // A shard holds only its share of the run's connections.
    let pool = crate::harness::pool_size(&plan.schedule);
    let pool = plan.shard.map_or(pool, |s| s.share(pool).max(1));
    let session = h.connect(plan, pool).await?;
    println!(
        "{}",
        crate::ui::settings_block(
            plan,
            &session.base_url,
            session.embedded,
            &session.model,
            &session.workload.describe()
        )
    );
    let cold_start = match started {
        Some(st) => {
            let first = crate::server::first_request(&session, plan, h.signals()).await?;
            let cold = crate::server::cold_start(st, first, plan);
            for line in cold.lines() {
                println!("{line}");
            }
            Some(cold)
        }
        None => None,
    };
    // With repeats the records file gets every repeat's records, on the
    // pooled clock, once they are combined.
    let repeated = plan.repeats > 1;
    let (mut records, mut combined_records) = if repeated { (None, records) } else { (records, None) };
    let keep_records = plan.outputs.vllm_result.is_some()
        || crate::report::needs_records(&plan.outputs.reports)
        || combined_records.is_some();
    let sinks = |k: u32| Sinks {
        records: records.take(),
        show_samples: if k == 0 { plan.outputs.show_samples } else { 0 },
        capture_all_text: plan.outputs.vllm_result.as_ref().is_some_and(|v| v.detailed),
        keep_records,
        quiet: plan.outputs.quiet,
        bounds: plan.request_bounds(),
        percentiles: plan.percentiles(),
    };
    let each = |k: u32, m: &crate::harness::Measurement| {
        if repeated {
            println!("  {}", repeat_line(k, plan.repeats, &m.summary));
        }
    };
    let r = crate::harness::measure_repeats(
        &session,
        &Level::of_plan(plan),
        plan.repeats,
        sinks,
        h.signals(),
        plan.outputs.tui,
        each,
    )
    .await?;
    let m = r.combined;
    if let Some(w) = combined_records.as_mut() {
        for rec in &m.records {
            w.write(rec)?;
        }
    }

    let slo_results = crate::slo::evaluate(&plan.slos, &m.summary, m.goodput);
    let stages = m
        .stages
        .map(|split| crate::harness::stages::section(split, plan, &m.summary, m.goodput.is_some()));
    let report = RunReport::new(
        RunDocument {
            started_at: Some(m.started_at.to_rfc3339()),
            target_url: Some(session.base_url.clone()),
            embedded_sim: session.embedded,
            model: Some(session.model.clone()),
            interrupted: m.interrupted,
            unfinished: m.unfinished,
            stopped_early: m.gave_up.map(crate::harness::session::gave_up_line),
            summary_state: m.summary_state,
            settings: Some(RunSettings::of(plan).counted_by(session.workload.counter().tokenizer().map(|t| &**t))),
            goodput: m.goodput,
            slos: slo_results,
            users: m.users,
            breakdown: m.breakdown,
            sessions: m.sessions,
            monitor: m.monitor,
            trust: Some(m.trust),
            connections: Some(m.connections),
            stages,
            confidence: r.confidence,
            repeats: r.repeats,
            cold_start,
            ..RunDocument::new(m.summary)
        },
        m.records,
    );
    let doc = &report.doc;
    print!("{}", export::console_summary(&report));
    if let Some(b) = &doc.breakdown {
        print!(
            "{}",
            crate::stats::breakdown::breakdown_table(b, doc.summary.requests_total)
        );
    }
    if let Some(s) = &doc.sessions {
        print!("{}", s.table());
    }
    if let Some(u) = &doc.users {
        println!("{}", u.line());
    }
    if m.unfinished > 0 {
        println!("{}", crate::doc::run::unfinished_line(m.unfinished));
    }
    if let Some(s) = &doc.stages {
        print!("{}", crate::export::stages_table::table(s));
    }
    print!("{}", crate::ui::slo_block(&doc.slos, m.goodput));
    if let Some(s) = &doc.stages {
        for line in s.failure_lines() {
            println!("{line}");
        }
    }
    if let Some(path) = &plan.outputs.records {
        println!("Records written to {}", path.display());
    }
    let written = outputs::write_all("run", doc, run_outputs(plan, &report));
    outputs::record_history(plan.outputs.history.as_deref(), |db| {
        crate::history::record_run(db, &report, &plan.redactor().secrets())
    });
    written?;
    Ok(if m.interrupted {
        Outcome::Interrupted
    } else if let Some(after) = m.gave_up {
        eprintln!(
            "error: no request succeeded for {} (--abort-after): {}",
            crate::units::format_duration(after),
            crate::stats::errors::digest(&doc.summary, 3)
        );
        Outcome::NothingSucceeded
    } else if doc.summary.requests_total > 0 && doc.summary.successful == 0 {
        eprintln!(
            "error: no request succeeded ({})",
            crate::stats::errors::digest(&doc.summary, 3)
        );
        Outcome::NothingSucceeded
    } else if doc.slos.iter().any(|r| !r.passed) || doc.stages.as_ref().is_some_and(|s| !s.first_failures.is_empty()) {
        Outcome::ObjectivesFailed
    } else {
        Outcome::Success
    })
}

/// `Repeat 2/3: 120 requests, 100.0 % ok, 11.93 req/s, mean TTFT 51.2 ms`.
fn repeat_line(k: u32, n: u32, s: &crate::stats::Summary) -> String {
    format!(
        "Repeat {}/{n}: {} requests, {:.1} % ok, {:.2} req/s{}",
        k + 1,
        s.requests_total,
        s.success_rate * 100.0,
        s.request_throughput,
        s.ttft_ms
            .as_ref()
            .map(|t| format!(", mean TTFT {:.1} ms", t.mean))
            .unwrap_or_default()
    )
}

/// The run's files: the native document, vLLM's result file, the reports.
fn run_outputs<'a>(plan: &RunPlan, report: &'a RunReport) -> Vec<Output<'a>> {
    let mut list = Vec::new();
    if let Some(path) = &plan.outputs.json {
        list.push(outputs::json(path, &report.doc));
    }
    if plan.outputs.vllm_result.is_some() {
        let vllm = VllmExporter::for_report(report);
        let path = vllm.path.clone();
        list.push(Output::new(&path, "Results", move || Ok(vllm.export(report)?)));
    }
    list.extend(outputs::reports(&plan.outputs.reports, Document::Run(report)));
    list
}
