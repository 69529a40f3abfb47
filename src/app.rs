//! The command-line edge: parse, build the plan, install signal handling,
//! run the command on a harness, and map its outcome to an exit code. Nothing
//! below this module sees argv, signals or exit statuses.
//!
//! Exit codes (also in the README): 0 success; 1 a usage or setup error
//! (bad flag, unreadable file, unreachable target), printed as one line;
//! 3 failed objectives; 4 a regression (`diff`); 5 requests were sent and
//! none succeeded; 130 interrupted by Ctrl-C and
//! 143 by SIGTERM, each with every output written.

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::{CommandFactory, FromArgMatches};

use crate::cli::{Cli, Command, Typed};
use crate::engine::Signals;
use crate::harness::Harness;
use crate::sim;

/// The process's exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success = 0,
    Setup = 1,
    SloFailed = 3,
    Regression = 4,
    NothingSucceeded = 5,
    Interrupted = 130,
    Terminated = 143,
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
    crate::limits::raise_open_files();
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
            let server = crate::server::ServerPlan::resolve(
                &args.server.options(&[]),
                plan.target.base_url.is_some(),
                plan.outputs.json.as_deref(),
            )?;
            let h = harness(&plan.monitor, plan.grace).await?;
            let outcome = crate::run::run_with_server(&h, &plan, server.as_ref()).await;
            h.close().await;
            outcome.map(exit_of)
        }
        Command::Sweep(args) => {
            let settings = sweep_settings(&args, &typed)?;
            let first = &settings.points[0].1.base;
            let h = harness(&first.monitor, first.grace).await?;
            let outcome = crate::sweep::run_settings(&h, &settings).await;
            h.close().await;
            outcome.map(exit_of)
        }
        Command::Compare(args) => {
            let plan = crate::compare::ComparePlan::resolve(
                args.scenario.as_deref(),
                &args.options(&typed),
                &args.compare_options(&typed),
            )?;
            let first = &plan.strategies[0].plan;
            let h = harness(&first.monitor, first.grace).await?;
            let outcome = crate::compare::run(&h, &plan).await;
            h.close().await;
            outcome.map(exit_of)
        }
        Command::Sim(args) => {
            serve_sim(&args).await?;
            Ok(Exit::Success)
        }
        Command::Report(args) => {
            crate::report::report_command(&args.input, &args.reports.paths(), args.quiet).map(exit_of)
        }
        Command::Merge(args) => crate::merge::merge(&args.plan()).map(exit_of),
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

/// A sweep's settings: each combination of `--server-param` and
/// `--bench-param` values with its own plan (the bench values layered
/// over what was typed), every plan resolved before any server starts.
fn sweep_settings(args: &crate::cli::SweepArgs, typed: &Typed) -> anyhow::Result<crate::sweep::SettingsPlan> {
    use crate::sweep::settings;
    let typed_options = args.options(typed);
    let bench = settings::parse_bench_params(&args.bench_param)?;
    let resolve = |layer: crate::plan::RunOptions| -> anyhow::Result<crate::sweep::SweepPlan> {
        let options = typed_options.clone().merged(layer);
        let base = match &args.scenario {
            Some(path) => crate::scenario::Scenario::load(path)?.sweep_base(&options)?,
            None => crate::plan::RunPlan::resolve(&options)?,
        };
        Ok(crate::sweep::SweepPlan::resolve(base, &args.sweep_options())?)
    };
    let plain = resolve(crate::plan::RunOptions::default())?;
    let server = crate::server::ServerPlan::resolve(
        &args.server.options(&args.server_param),
        plain.base.target.base_url.is_some(),
        plain.json.as_deref(),
    )?;
    let server_values = server
        .as_ref()
        .map(crate::server::ServerPlan::settings)
        .unwrap_or_default();
    let mut points = Vec::new();
    for setting in settings::combine(&server_values, &bench) {
        let plan = if setting.bench.is_empty() {
            plain.clone()
        } else {
            resolve(setting.bench_layer()?).map_err(|e| anyhow::anyhow!("{}: {e:#}", setting.label()))?
        };
        points.push((setting, plan));
    }
    Ok(crate::sweep::SettingsPlan { server, points })
}

/// The harness of a measuring command, with the process's signals wired
/// to it: the only place signal handlers are installed.
async fn harness(monitor: &crate::plan::MonitorPlan, grace: Duration) -> anyhow::Result<Harness> {
    let signals = Signals::default();
    tokio::spawn(watch_signals(signals.clone(), grace));
    Harness::start(signals, monitor).await
}

/// Set when SIGTERM stopped the command, so its exit status says so (143).
static TERMINATED: AtomicBool = AtomicBool::new(false);

/// First Ctrl-C or SIGTERM (what `timeout`, Kubernetes and CI cancellation
/// send): stop sending and let in-flight requests finish within the grace
/// period; every output is then written as after a normal end. A second
/// signal cancels them at once.
async fn watch_signals(signals: Signals, grace: Duration) {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let terminated = async {
        match term.as_mut() {
            Some(t) => t.recv().await,
            None => std::future::pending().await,
        }
    };
    let name = tokio::select! {
        r = tokio::signal::ctrl_c() => match r {
            Ok(()) => "Interrupted",
            Err(_) => return,
        },
        _ = terminated => {
            TERMINATED.store(true, Ordering::SeqCst);
            "Terminated (SIGTERM)"
        }
    };
    eprintln!(
        "\n{name}: no new requests; waiting up to {} for those in flight (Ctrl-C again to stop now).",
        crate::units::format_duration(grace)
    );
    signals.interrupt.cancel();
    let again = async {
        match term.as_mut() {
            Some(t) => t.recv().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = again => {}
    }
    signals.abort.cancel();
}

/// `inferload sim`: serve until Ctrl-C or SIGTERM, then stop cleanly.
async fn serve_sim(args: &crate::cli::sim::SimArgs) -> anyhow::Result<()> {
    use std::io::Write as _;
    let (config, profile_name) = args.to_config()?;
    let description = sim::describe(&config, profile_name);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    if !config.startup_delay.is_zero() {
        let _ = writeln!(
            std::io::stderr(),
            "inferload sim: loading for {} (--startup-delay); the port opens after",
            crate::units::format_duration(config.startup_delay)
        );
    }
    // Ctrl-C or SIGTERM while "loading" ends it as at any other time.
    let handle = tokio::select! {
        h = sim::start(config) => h?,
        r = tokio::signal::ctrl_c() => return r.map_err(Into::into),
        _ = term.recv() => return Ok(()),
    };
    // One write, so a reader that keeps only the first line and closes the
    // pipe cannot make a later line fail; errors on stdout are not fatal.
    let text = format!("inferload sim listening on {}\n{description}", handle.url());
    {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    let _ = writeln!(std::io::stderr(), "inferload sim: shutting down");
    handle.shutdown().await;
    Ok(())
}

/// The exit status of a command's outcome.
fn exit_of(o: crate::outcome::Outcome) -> Exit {
    use crate::outcome::Outcome;
    match o {
        Outcome::Success => Exit::Success,
        Outcome::Interrupted if TERMINATED.load(Ordering::SeqCst) => Exit::Terminated,
        Outcome::Interrupted => Exit::Interrupted,
        Outcome::ObjectivesFailed => Exit::SloFailed,
        Outcome::Regression => Exit::Regression,
        Outcome::NothingSucceeded => Exit::NothingSucceeded,
    }
}
