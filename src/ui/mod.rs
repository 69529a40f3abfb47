//! What the user sees while a run goes: the settings up front, a progress
//! bar on a terminal (a progress line every few seconds otherwise) or the
//! live dashboard ([`tui`]), and sample responses as they finish. All of it
//! consumes engine events; none of it feeds back into the engine, except
//! that the dashboard's `q` fires the same interrupt as Ctrl-C.
//!
//! [`RunView`] is the seam between the collector and what it shows:
//! [`Progress`] and [`tui::Dashboard`] implement it, and [`open_view`]
//! picks one from the plan.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::api::cut;
use crate::engine::Signals;
use crate::plan::{RunPlan, Stop, TuiMode};
use crate::record::RequestRecord;
use crate::schedule::{Arrival, ScheduleSpec};
use crate::slo::{Goodput, SloResult};
use crate::units::format_duration;

pub mod tui;

/// What the collector tells the view of a measured phase, event by event.
/// Called on the collector's thread: implementations must not block.
pub trait RunView: Send {
    /// A request was handed to the HTTP client.
    fn on_sent(&mut self);
    /// A request ended (successfully or not, cancelled included).
    fn on_finished(&mut self, rec: &RequestRecord);
    /// Prints a line (a sample, a warning) without tearing the view.
    fn println(&mut self, text: &str);
    /// The phase is over: clear the view; the summary follows.
    fn finish(&mut self);
}

/// The view of a measured phase: the dashboard when `mode` and the
/// terminals call for it (see [`tui::wanted`]) and it can open; otherwise
/// the progress bar, or progress lines, or nothing when `quiet`.
pub fn open_view(
    mode: TuiMode,
    stop: &Stop,
    schedule: &ScheduleSpec,
    profile: Option<&std::sync::Arc<crate::schedule::stages::Profile>>,
    quiet: bool,
    signals: &Signals,
    grace: Duration,
) -> Box<dyn RunView> {
    let (stdout_tty, stderr_tty) = (std::io::stdout().is_terminal(), std::io::stderr().is_terminal());
    if tui::wanted(mode, stop, schedule, stdout_tty, stderr_tty) {
        let goal = tui::Goal {
            requests: stop.requests,
            duration: stop.duration,
            profile: profile.cloned(),
        };
        match tui::Dashboard::open(goal, signals.clone(), grace) {
            Ok(d) => return Box::new(d),
            Err(e) => eprintln!("warning: cannot open the live dashboard ({e}); showing progress instead"),
        }
    }
    Box::new(Progress::new(stop.requests, quiet))
}

/// How often the plain progress line is printed when not on a terminal.
const LINE_EVERY: Duration = Duration::from_secs(5);

/// Progress of the measured phase.
pub struct Progress {
    bar: Option<ProgressBar>,
    total: Option<u64>,
    started: Instant,
    last_line: Instant,
    done: u64,
    errors: u64,
    in_flight: u64,
    line_progress: bool,
}

impl Progress {
    /// A bar on stderr when it is a terminal and `quiet` is off; otherwise
    /// a plain line every few seconds (none when `quiet`).
    pub fn new(total: Option<u64>, quiet: bool) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let bar = (terminal && !quiet).then(|| {
            let bar = match total {
                Some(n) => ProgressBar::with_draw_target(Some(n), ProgressDrawTarget::stderr()),
                None => ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
            };
            let template = if total.is_some() {
                "{bar:30.cyan/blue} {pos}/{len} requests · {msg} · {elapsed_precise} (ETA {eta})"
            } else {
                "{spinner} {pos} requests · {msg} · {elapsed_precise}"
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        let now = Instant::now();
        Self {
            bar,
            total,
            started: now,
            last_line: now,
            done: 0,
            errors: 0,
            in_flight: 0,
            line_progress: !terminal && !quiet,
        }
    }
}

impl RunView for Progress {
    fn on_sent(&mut self) {
        self.in_flight += 1;
    }

    fn on_finished(&mut self, rec: &RequestRecord) {
        self.in_flight = self.in_flight.saturating_sub(1);
        self.done += 1;
        if !rec.succeeded() {
            self.errors += 1;
        }
        let rate = self.done as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
        let msg = format!(
            "{rate:.1} req/s · {} in flight · {} errors",
            self.in_flight, self.errors
        );
        if let Some(bar) = &self.bar {
            bar.set_position(self.done);
            bar.set_message(msg);
        } else if self.line_progress && self.last_line.elapsed() >= LINE_EVERY {
            self.last_line = Instant::now();
            let of = self.total.map(|t| format!("/{t}")).unwrap_or_default();
            eprintln!("Progress: {}{of} requests completed ({msg})", self.done);
        }
    }

    /// Prints a line without tearing the bar.
    fn println(&mut self, text: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| println!("{text}")),
            None => println!("{text}"),
        }
    }

    fn finish(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

/// One sample response, as users of endpoint testers expect to see them.
pub fn sample_block(n: usize, rec: &RequestRecord) -> String {
    let latency = rec.e2e().map(|d| d.as_secs_f64()).unwrap_or_default();
    let speed = rec.output_speed().unwrap_or_default();
    let ttft = rec
        .ttft()
        .map(|d| format!(", TTFT {:.1} ms", d.as_secs_f64() * 1e3))
        .unwrap_or_default();
    let text = rec.text.as_deref().unwrap_or("").trim();
    if let Some(images) = rec.images {
        // Image APIs: the reply's size, not tokens.
        return format!(
            "Sample {n} (request {}): latency {latency:.3} s, {images} image(s)\n  {text}",
            rec.index
        );
    }
    format!(
        "Sample {n} (request {}): latency {latency:.3} s, {} output tokens, {speed:.1} tok/s{ttft}\n  {}",
        rec.index,
        rec.output_tokens,
        cut(text, 500).replace('\n', "\n  ")
    )
}

/// The settings block printed before the load starts.
pub fn settings_block(plan: &RunPlan, url: &str, embedded: bool, model: &str, workload: &str) -> String {
    let t = &plan.target;
    let api = t.api.name();
    let target = format!(
        "{url}{}{} ({api}), model {model}",
        t.endpoint,
        if embedded { " [embedded simulator]" } else { "" },
    );
    let load = match plan.schedule {
        ScheduleSpec::Closed { concurrency } => format!("closed loop, concurrency {concurrency}"),
        ScheduleSpec::Open { rate, arrival, cap } => {
            let arrival = match arrival {
                Arrival::Constant => "constant".to_string(),
                Arrival::Poisson => "poisson".to_string(),
                Arrival::Gamma { shape } => format!("gamma, burstiness {shape}"),
                Arrival::Trace { speed } => format!("trace replay at {speed}x"),
            };
            let rate = if rate.is_infinite() {
                "inf".to_string()
            } else {
                format!("{rate}")
            };
            let cap = cap.map(|c| format!(", concurrency cap {c}")).unwrap_or_default();
            format!("open loop, {rate} req/s ({arrival}){cap}")
        }
        ScheduleSpec::Users {
            users,
            spawn_rate,
            think,
        } => crate::schedule::describe_users(users, spawn_rate, think),
    };
    // A load over time: the envelope above is its peak.
    let load = match &plan.profile {
        Some(p) => format!("{}; peak: {load}", p.describe()),
        None => load,
    };
    let stop = match (plan.stop.requests, plan.stop.duration) {
        (Some(n), Some(d)) => format!("{n} requests or {}, whichever first", format_duration(d)),
        (Some(n), None) => format!("{n} requests"),
        (None, Some(d)) => format!("for {}", format_duration(d)),
        (None, None) => "until stopped".to_string(),
    };
    let mut warmup = if plan.warmup > 0 {
        format!(" after {} warm-up requests", plan.warmup)
    } else {
        String::new()
    };
    if let Some(s) = plan.shard {
        warmup.push_str(&format!(
            "; shard {s}: this process sends the indices i with i mod {} = {}",
            s.count, s.index
        ));
    }
    let mode = if plan.workload.stream {
        "streaming"
    } else {
        "not streaming"
    };
    let mut block = format!(
        "Target:    {target}\nLoad:      {load}, {stop}{warmup}\nWorkload:  {workload}, {mode}, timeout {}",
        format_duration(t.timeout)
    );
    block.push_str(&compat_notes(t));
    block
}

/// One line per vLLM flag accepted without effect, so nobody believes it acted.
fn compat_notes(t: &crate::plan::Target) -> String {
    let mut notes = String::new();
    if let Some(m) = &t.tokenizer_mode {
        notes.push_str(&format!(
            "\nNote:      --tokenizer-mode {m} is accepted for compatibility; the tokenizer.json decides how text is split"
        ));
    }
    if t.trust_remote_code {
        notes.push_str("\nNote:      --trust-remote-code has no effect (inferload runs no model code)");
    }
    notes
}

/// The objectives, each with its measured value and PASS/FAIL, and goodput.
pub fn slo_block(results: &[SloResult], goodput: Option<Goodput>) -> String {
    let mut out = String::new();
    if let Some(g) = goodput {
        out.push_str(&format!(
            "Goodput: {:.2} req/s ({} good requests, {:.1}% of all)\n",
            g.goodput,
            g.good_requests,
            g.good_share * 100.0
        ));
    }
    if results.is_empty() {
        return out;
    }
    out.push_str("Service-level objectives:\n");
    let width = results.iter().map(|r| r.slo.expr.len()).max().unwrap_or(0);
    for r in results {
        out.push_str(&format!(
            "  {:<width$}  measured {:<22} {}\n",
            r.slo.expr,
            r.measured_text(),
            if r.passed { "PASS" } else { "FAIL" }
        ));
    }
    let failed = results.iter().filter(|r| !r.passed).count();
    if failed == 0 {
        out.push_str("All objectives met.\n");
    } else {
        out.push_str(&format!(
            "{failed} of {} objectives failed (exit status 3).\n",
            results.len()
        ));
    }
    out
}
