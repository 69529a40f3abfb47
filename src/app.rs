//! The command-line edge: parse, dispatch, print, map outcomes to exit codes.
//!
//! Exit codes (also in the README): 0 success; 1 a usage or setup error
//! (bad flag, unreadable file, unreachable target), printed as one line;
//! 3 reserved for failed SLOs; 130 interrupted, with every output written.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{CommandFactory, FromArgMatches};

use crate::cli::{Cli, Command, Typed};
use crate::doc::{RunDocument, RunSettings};
use crate::engine::Signals;
use crate::export::json::JsonExporter;
use crate::export::records::RecordsWriter;
use crate::export::vllm::VllmExporter;
use crate::export::{self, Exporter, RunReport};
use crate::plan::RunPlan;
use crate::runner::{self, Level, Session, Sinks};
use crate::sim;
use crate::slo;
use crate::ui;
use crate::workload::Workload;

/// The process's exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success = 0,
    Setup = 1,
    SloFailed = 3,
    Regression = 4,
    Interrupted = 130,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e as u8)
    }
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    // The matches are kept beside the parsed arguments: they know which
    // values the user gave (`value_source`), which is how flags layer over
    // scenario files without reading argv again.
    let parsed = Cli::command()
        .try_get_matches()
        .and_then(|m| Cli::from_arg_matches(&m).map(|cli| (cli, m)));
    let (cli, matches) = match parsed {
        Ok(parsed) => parsed,
        Err(e) => {
            let _ = e.print();
            return match e.kind() {
                clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion => ExitCode::SUCCESS,
                _ => Exit::Setup.into(),
            };
        }
    };
    raise_fd_limit();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return Exit::Setup.into();
        }
    };
    let typed = matches.subcommand().map(|(_, m)| Typed::of(m)).unwrap_or_default();
    match runtime.block_on(dispatch(cli, typed)) {
        Ok(exit) => exit.into(),
        Err(e) => {
            eprintln!("error: {e:#}");
            Exit::Setup.into()
        }
    }
}

async fn dispatch(cli: Cli, typed: Typed) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Run(args) => {
            let plan = crate::scenario::run_plan(args.scenario.as_deref(), &args.options(&typed))?;
            run(&plan).await
        }
        Command::Sweep(args) => {
            let typed_options = args.options(&typed);
            let base = match &args.scenario {
                Some(path) => crate::scenario::Scenario::load(path)?.sweep_base(&typed_options)?,
                None => crate::plan::RunPlan::resolve(&typed_options)?,
            };
            let plan = crate::sweep::SweepPlan::resolve(base, &args.sweep_options())?;
            crate::sweep::run(&plan).await
        }
        Command::Compare(args) => {
            let plan = crate::compare::ComparePlan::resolve(
                args.scenario.as_deref(),
                &args.options(&typed),
                &args.compare_options(&typed),
            )?;
            crate::compare::run(&plan).await
        }
        Command::Sim(args) => {
            sim::serve_cli(*args).await?;
            Ok(Exit::Success)
        }
        Command::Report(args) => {
            crate::report::report_command(&args.input, &report_paths(&args.reports), args.quiet).map(exit_of)
        }
        Command::History(args) => crate::history::history_command(args.db.as_deref(), args.limit).map(exit_of),
        Command::Show(args) => crate::history::show_command(args.db.as_deref(), args.id, args.json).map(exit_of),
        Command::Diff(args) => crate::history::diff_command(&crate::history::DiffOptions {
            db: args.db.clone(),
            a: args.a,
            b: args.b,
            noise: args.noise,
            fail_on_regression: args.fail_on_regression,
        })
        .map(exit_of),
    }
}

/// The exit status of a command's outcome.
fn exit_of(o: crate::outcome::Outcome) -> Exit {
    use crate::outcome::Outcome;
    match o {
        Outcome::Success => Exit::Success,
        Outcome::Interrupted => Exit::Interrupted,
        Outcome::ObjectivesFailed => Exit::SloFailed,
        Outcome::Regression => Exit::Regression,
        Outcome::NothingSucceeded => Exit::Setup,
    }
}

/// The report flags as the report module takes them.
fn report_paths(a: &crate::cli::ReportArgs) -> crate::doc::settings::ReportPaths {
    crate::doc::settings::ReportPaths {
        plot: a.plot.clone(),
        html: a.html.clone(),
        csv: a.csv.clone(),
        markdown: a.markdown.clone(),
    }
}

/// `inferload run`.
pub async fn run(plan: &RunPlan) -> anyhow::Result<Exit> {
    let plan = plan.clone();
    // Files first: a bad dataset or output path fails before any traffic.
    let workload = Arc::new(crate::scenario::load_workload(&plan)?);
    let records = match &plan.outputs.records {
        Some(path) => Some(RecordsWriter::create(path)?),
        None => None,
    };
    check_output_dirs(&plan)?;

    let (base_url, sim_handle) = runner::resolve_target(&plan).await?;
    let result = run_against(&plan, workload, &base_url, sim_handle.is_some(), records).await;
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
    records: Option<RecordsWriter>,
) -> anyhow::Result<Exit> {
    let pool = runner::pool_size(&plan.schedule);
    let session = Session::connect(plan, workload, base_url, embedded, pool).await?;
    println!(
        "{}",
        ui::settings_block(plan, base_url, embedded, &session.model, &session.workload.describe())
    );
    let signals = Signals::default();
    let ctrl_c = tokio::spawn(runner::watch_ctrl_c(signals.clone(), plan.grace));
    let sinks = Sinks {
        records,
        show_samples: plan.outputs.show_samples,
        capture_all_text: plan.outputs.vllm_result.as_ref().is_some_and(|v| v.detailed),
        keep_records: plan.outputs.vllm_result.is_some()
            || crate::report::needs_records(&crate::doc::settings::ReportPaths::of(&plan.outputs.reports)),
        quiet: plan.outputs.quiet,
        bounds: plan.request_bounds(),
    };
    let m = session
        .measure_with(&Level::of_plan(plan), sinks, &signals, plan.outputs.tui)
        .await;
    ctrl_c.abort();
    let m = m?;

    let slo_results = slo::evaluate(&plan.slos, &m.summary, m.goodput);
    let report = RunReport::new(
        RunDocument {
            started_at: Some(m.started_at.to_rfc3339()),
            target_url: Some(base_url.to_string()),
            embedded_sim: embedded,
            model: Some(session.model.clone()),
            interrupted: m.interrupted,
            cancelled: m.cancelled,
            settings: Some(RunSettings::of(plan)),
            goodput: m.goodput,
            slos: slo_results,
            users: m.users,
            breakdown: m.breakdown,
            monitor: m.monitor,
            trust: Some(m.trust),
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
    if let Some(u) = &doc.users {
        println!("{}", u.line());
    }
    if m.cancelled > 0 {
        println!(
            "{} requests were cancelled when the run stopped; they are not counted above.",
            m.cancelled
        );
    }
    print!("{}", ui::slo_block(&doc.slos, m.goodput));
    let written = write_outputs(plan, &report);
    if let Some(db) = &plan.outputs.history {
        // The history is a convenience: failing to record never fails the run.
        match crate::history::record_run(db, &report, &plan.redactor().secrets()) {
            Ok(id) => println!("Recorded as run {id} in {}", db.display()),
            Err(e) => eprintln!("warning: not recorded in the history: {e:#}"),
        }
    }
    written?;
    Ok(if m.interrupted {
        Exit::Interrupted
    } else if doc.slos.iter().any(|r| !r.passed) {
        Exit::SloFailed
    } else {
        Exit::Success
    })
}

/// Writes every file output the plan asks for; each one is attempted even
/// when another fails, so measured results are not lost to one bad path.
/// If any fails, the native run document is saved in the temporary
/// directory instead and its path printed.
fn write_outputs(plan: &RunPlan, report: &RunReport) -> anyhow::Result<()> {
    let mut exporters: Vec<(PathBuf, Box<dyn Exporter>)> = Vec::new();
    if let Some(path) = &plan.outputs.json {
        exporters.push((path.clone(), Box::new(JsonExporter::new(path))));
    }
    if plan.outputs.vllm_result.is_some() {
        let vllm = VllmExporter::for_report(report);
        exporters.push((vllm.path.clone(), Box::new(vllm)));
    }
    exporters.extend(crate::report::run_exporters(report));
    if let Some(path) = &plan.outputs.records {
        println!("Records written to {}", path.display());
    }
    let mut failed = 0usize;
    for (path, exporter) in exporters {
        match exporter.export(report) {
            Ok(()) => println!("Results written to {}", path.display()),
            Err(e) => {
                eprintln!("error: {e}");
                failed += 1;
            }
        }
    }
    if failed == 0 {
        return Ok(());
    }
    let rescue = std::env::temp_dir().join(format!(
        "inferload-run-{}-{}.json",
        chrono::Local::now().format("%Y%m%d-%H%M%S"),
        std::process::id()
    ));
    match JsonExporter::new(&rescue).export(report) {
        Ok(()) => eprintln!("The measured results were saved to {} instead.", rescue.display()),
        Err(e) => eprintln!("error: {e}"),
    }
    anyhow::bail!("{failed} output file(s) could not be written (see above)")
}

/// Thousands of concurrent streams need thousands of sockets; the usual
/// soft limit of 1,024 descriptors would fail them, so take the hard limit.
fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit on this process with a valid, owned struct.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}
