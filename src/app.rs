//! The command-line edge: parse, dispatch, print, map outcomes to exit codes.
//!
//! Exit codes (also in the README): 0 success; 1 a usage or setup error
//! (bad flag, unreadable file, unreachable target), printed as one line;
//! 3 reserved for failed SLOs; 130 interrupted, with every output written.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use tokio::sync::mpsc;

use crate::api;
use crate::cli::{Cli, Command, RunArgs};
use crate::engine::{self, client, preflight, Event, Phase, RequestContext, Signals};
use crate::export::records::RecordsWriter;
use crate::export::{self, Exporter, RunReport};
use crate::plan::{RunPlan, Stop};
use crate::record::{ErrorClass, RequestRecord};
use crate::sim;
use crate::stats::SummaryBuilder;
use crate::ui::{self, Progress};
use crate::workload::Workload;

/// The process's exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success = 0,
    Setup = 1,
    SloFailed = 3,
    Interrupted = 130,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => ExitCode::SUCCESS,
                _ => Exit::Setup.into(),
            };
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return Exit::Setup.into();
        }
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(exit) => exit.into(),
        Err(e) => {
            eprintln!("error: {e:#}");
            Exit::Setup.into()
        }
    }
}

async fn dispatch(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Run(args) => run(&args).await,
        Command::Sim(args) => {
            sim::serve_cli(*args).await?;
            Ok(Exit::Success)
        }
    }
}

/// `inferload run`.
pub async fn run(args: &RunArgs) -> anyhow::Result<Exit> {
    let plan = RunPlan::from_args(args)?;
    let workload = Arc::new(Workload::load(&plan.workload)?);
    let records_file = match &plan.outputs.records {
        Some(path) => Some(RecordsWriter::create(path)?),
        None => None,
    };
    check_output_dirs(&plan)?;

    // No target: benchmark the embedded simulator, on a loopback port.
    let (base_url, sim_handle) = match &plan.target.base_url {
        Some(url) => (url.clone(), None),
        None => {
            let handle = sim::start(sim::SimConfig::default_loopback())
                .await
                .context("cannot start the embedded simulator")?;
            println!(
                "No --url given: benchmarking the embedded simulator at {}",
                handle.url()
            );
            (handle.url(), Some(handle))
        }
    };
    let result = run_against(&plan, workload, &base_url, sim_handle.is_some(), records_file).await;
    if let Some(h) = sim_handle {
        h.shutdown().await;
    }
    result
}

fn check_output_dirs(plan: &RunPlan) -> anyhow::Result<()> {
    if let Some(path) = &plan.outputs.json {
        let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
        if let Some(dir) = parent {
            anyhow::ensure!(
                dir.is_dir(),
                "--json {}: directory {} does not exist",
                path.display(),
                dir.display()
            );
        }
    }
    if let Some(v) = &plan.outputs.vllm_result {
        if let Some(dir) = &v.dir {
            std::fs::create_dir_all(dir).with_context(|| format!("--result-dir {}", dir.display()))?;
        }
    }
    Ok(())
}

async fn run_against(
    plan: &RunPlan,
    workload: Arc<Workload>,
    base_url: &str,
    embedded: bool,
    mut records_file: Option<RecordsWriter>,
) -> anyhow::Result<Exit> {
    let target = &plan.target;
    let pool = match plan.schedule {
        crate::schedule::ScheduleSpec::Closed { concurrency } => concurrency,
        crate::schedule::ScheduleSpec::Open { cap, .. } => cap.unwrap_or(256),
    };
    let client = client::build_client(target, pool).context("cannot build the HTTP client")?;
    let headers = client::request_headers(target);
    let redactor = plan.redactor();
    let model = preflight::preflight(&client, base_url, &headers, target.model.as_deref(), &redactor).await?;

    println!(
        "{}",
        ui::settings_block(plan, base_url, embedded, &model, &workload.describe())
    );
    let ctx = Arc::new(RequestContext {
        client,
        url: format!("{base_url}{}", target.endpoint),
        headers,
        adapter: api::adapter(target.api),
        model: model.clone(),
        workload_spec: plan.workload.clone(),
        redactor,
    });
    let signals = Signals::default();
    let ctrl_c = tokio::spawn(watch_ctrl_c(signals.clone(), plan.grace));

    if plan.warmup > 0 && !signals.interrupt.is_cancelled() {
        println!("Warming up with {} requests...", plan.warmup);
        let (tx, mut rx) = mpsc::unbounded_channel();
        let phase = Phase {
            schedule: plan.schedule,
            stop: Stop {
                requests: Some(plan.warmup),
                duration: None,
            },
            seed: plan.seed ^ 0x5741_524d,
            first_index: 0,
            capture_text_below: 0,
            grace: plan.grace,
        };
        let drain = tokio::spawn(async move {
            let mut failed = 0u64;
            while let Some(ev) = rx.recv().await {
                if let Event::Finished(r) = ev {
                    failed += u64::from(!r.succeeded());
                }
            }
            failed
        });
        engine::run_phase(ctx.clone(), workload.clone(), phase, tx, &signals).await;
        let failed = drain.await.unwrap_or_default();
        println!("Warm-up completed ({failed} failed).");
    }

    let keep_records = plan.outputs.vllm_result.is_some();
    let show = plan.outputs.show_samples;
    let capture_below = if plan.outputs.vllm_result.as_ref().is_some_and(|v| v.detailed) {
        u64::MAX
    } else {
        show as u64
    };
    let phase = Phase {
        schedule: plan.schedule,
        stop: plan.stop,
        seed: plan.seed,
        first_index: plan.warmup,
        capture_text_below: capture_below,
        grace: plan.grace,
    };
    let started_at = chrono::Local::now();
    let (tx, mut rx) = mpsc::unbounded_channel::<Event>();
    let mut progress = Progress::new(plan.stop.requests, plan.outputs.quiet);
    let collector = tokio::task::spawn_blocking(move || {
        // Records, progress, samples and the summary all consume the one
        // stream of events; the blocking thread keeps file writes off the
        // runtime's workers.
        let mut summary = SummaryBuilder::new();
        let mut kept: Vec<RequestRecord> = Vec::new();
        let mut samples = 0usize;
        let mut cancelled = 0u64;
        let mut write_error: Option<String> = None;
        while let Some(ev) = rx.blocking_recv() {
            match ev {
                Event::Sent { .. } => progress.on_sent(),
                Event::Finished(mut rec) => {
                    progress.on_finished(&rec);
                    if let Some(w) = records_file.as_mut() {
                        if let Err(e) = w.write(&rec) {
                            if write_error.is_none() {
                                progress.println(&format!("warning: {e}; records after this one are not saved"));
                                write_error = Some(e.to_string());
                            }
                            records_file = None;
                        }
                    }
                    if rec.error.as_ref().is_some_and(|e| e.class == ErrorClass::Cancelled) {
                        // Stopped by us, not failed by the server: kept in
                        // the records file, left out of the figures.
                        cancelled += 1;
                        continue;
                    }
                    summary.add(&rec);
                    if rec.succeeded() && rec.text.is_some() && samples < show {
                        samples += 1;
                        progress.println(&ui::sample_block(samples, &rec));
                    }
                    if rec.index >= show as u64 && !keep_records {
                        rec.text = None;
                    }
                    if keep_records {
                        kept.push(*rec);
                    }
                }
            }
        }
        progress.finish();
        (summary, kept, cancelled)
    });
    let end = engine::run_phase(ctx, workload, phase, tx, &signals).await;
    ctrl_c.abort();
    let (summary, mut kept, cancelled) = collector.await.context("the results collector failed")?;
    kept.sort_by_key(|r| r.index);

    let report = RunReport {
        plan: plan.clone(),
        target_url: base_url.to_string(),
        embedded_sim: embedded,
        model,
        started_at,
        summary: summary.finish(),
        interrupted: end.interrupted,
        records: kept,
    };
    print!("{}", export::console_summary(&report));
    if cancelled > 0 {
        println!("{cancelled} requests were cancelled when the run stopped; they are not counted above.");
    }
    write_outputs(&report)?;
    Ok(if end.interrupted {
        Exit::Interrupted
    } else {
        Exit::Success
    })
}

/// Writes every file output the plan asks for; each one is attempted even
/// when another fails, so measured results are not lost to one bad path.
fn write_outputs(report: &RunReport) -> anyhow::Result<()> {
    let exporters: Vec<(String, Box<dyn Exporter>)> = Vec::new();
    // EXPORTERS-WIRING: json and vLLM result exporters are added here.
    if let Some(path) = &report.plan.outputs.records {
        println!("Records written to {}", path.display());
    }
    let mut first_error = None;
    for (name, exporter) in exporters {
        match exporter.export(report) {
            Ok(()) => println!("Results written to {name}"),
            Err(e) => {
                eprintln!("error: {e}");
                first_error.get_or_insert(e);
            }
        }
    }
    match first_error {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// First Ctrl-C: stop sending and let in-flight requests finish within the
/// grace period. Second: cancel them at once.
async fn watch_ctrl_c(signals: Signals, grace: std::time::Duration) {
    if tokio::signal::ctrl_c().await.is_err() {
        return;
    }
    eprintln!(
        "\nInterrupted: no new requests; waiting up to {} for those in flight (Ctrl-C again to stop now).",
        crate::units::format_duration(grace)
    );
    signals.interrupt.cancel();
    if tokio::signal::ctrl_c().await.is_ok() {
        signals.abort.cancel();
    }
}
