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

/// Measures the plan; the outcome says whether it was interrupted or
/// failed its objectives.
pub async fn run(h: &Harness, plan: &RunPlan) -> anyhow::Result<Outcome> {
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
    let sinks = Sinks {
        records,
        show_samples: plan.outputs.show_samples,
        capture_all_text: plan.outputs.vllm_result.as_ref().is_some_and(|v| v.detailed),
        keep_records: plan.outputs.vllm_result.is_some() || crate::report::needs_records(&plan.outputs.reports),
        quiet: plan.outputs.quiet,
        bounds: plan.request_bounds(),
        percentiles: plan.percentiles(),
    };
    let m = session
        .measure_with(&Level::of_plan(plan), sinks, h.signals(), plan.outputs.tui)
        .await?;

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
