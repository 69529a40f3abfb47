//! The live dashboard (`--tui`): throughput, in-flight requests, TTFT and
//! E2E percentiles so far, a throughput sparkline, a latency histogram,
//! errors by class, progress and ETA, drawn with ratatui on the alternate
//! screen while the measured phase runs.
//!
//! Threads: the collector feeds [`LiveStats`] through [`Dashboard`]'s
//! [`RunView`] methods (a short, uncontended lock per event); a thread of its
//! own ("inferload-tui") takes a [`Snapshot`] under that lock about eight
//! times a second, draws it without the lock, and waits for keys in between.
//! Drawing therefore never slows the collector, and the collector never
//! waits on the terminal.
//!
//! Keys: `q` or Ctrl-C (raw mode delivers it as a key, not SIGINT) fires
//! `signals.interrupt`, the same as the first Ctrl-C of a plain run: no new
//! requests, in-flight ones get the grace period, every output is written. A
//! second press fires `signals.abort`.
//!
//! The terminal is restored on every way out: [`Dashboard::finish`] on a
//! normal end, the draw thread's drop guard, [`Dashboard`]'s `Drop` when the
//! collector unwinds, and a process-wide panic hook that restores before the
//! panic message is printed. Restoring is idempotent (one atomic flag).
//! Lines the run prints meanwhile (samples, warnings) are held and printed
//! after the dashboard closes, before the summary.
//!
//! When it opens ([`wanted`]): never unless stdout is a terminal. `--tui`
//! opens it on any such run; by default (`TuiMode::Auto`) it opens when stdout
//! and stderr are both terminals and the run is expected to last more than
//! [`LONG_ENOUGH`] (see [`expected_length`]); `--no-tui` and `--quiet` keep it
//! closed.

use std::io::{self, Stdout, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use ratatui::backend::CrosstermBackend;
use ratatui::crossterm::event::{self, Event as TermEvent, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::crossterm::{cursor, execute, terminal};
use ratatui::layout::Rect;
use ratatui::Terminal;

use crate::engine::Signals;
use crate::plan::{Stop, TuiMode};
use crate::record::RequestRecord;
use crate::schedule::ScheduleSpec;
use crate::units::format_duration;

use super::RunView;

mod draw;
mod state;

pub use draw::{capacity, draw};
pub use state::{Goal, LiveStats, Snapshot, UserStop};

/// Time between frames (8 frames a second).
const FRAME: Duration = Duration::from_millis(125);
/// Runs expected to last longer than this get the dashboard by default.
pub const LONG_ENOUGH: Duration = Duration::from_secs(5);
/// What one request of a closed loop is assumed to take when guessing a
/// counted run's length: LLM replies take seconds, so one second errs short.
pub const ASSUMED_REQUEST: Duration = Duration::from_secs(1);

/// How long a run is expected to last, from its plan; `None` when it runs
/// until stopped. A count at a finite rate takes `requests / rate`; a count
/// in a closed loop (or at an unlimited rate) takes one [`ASSUMED_REQUEST`]
/// per round of `concurrency` requests; a duration bounds either.
pub fn expected_length(stop: &Stop, schedule: &ScheduleSpec) -> Option<Duration> {
    let by_count = stop.requests.map(|n| match *schedule {
        ScheduleSpec::Open { rate, .. } if rate.is_finite() && rate > 0.0 => {
            Duration::try_from_secs_f64(n as f64 / rate).unwrap_or(Duration::MAX)
        }
        ScheduleSpec::Open { cap, .. } => rounds(n, cap.unwrap_or(usize::MAX)),
        ScheduleSpec::Closed { concurrency } => rounds(n, concurrency),
        ScheduleSpec::Users { users, .. } => rounds(n, users),
    });
    match (by_count, stop.duration) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn rounds(requests: u64, concurrency: usize) -> Duration {
    let per_round = u64::try_from(concurrency.max(1)).unwrap_or(u64::MAX);
    ASSUMED_REQUEST.saturating_mul(u32::try_from(requests.div_ceil(per_round)).unwrap_or(u32::MAX))
}

/// Whether the dashboard should open (see the module docs for the rule).
pub fn wanted(mode: TuiMode, stop: &Stop, schedule: &ScheduleSpec, stdout_tty: bool, stderr_tty: bool) -> bool {
    match mode {
        TuiMode::Off => false,
        TuiMode::On => stdout_tty,
        TuiMode::Auto => stdout_tty && stderr_tty && expected_length(stop, schedule).is_none_or(|d| d > LONG_ENOUGH),
    }
}

/// The terminal is in raw mode on the alternate screen.
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Leaves raw mode and the alternate screen, once, whoever calls first.
fn restore_terminal() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        let _ = terminal::disable_raw_mode();
        let mut out = io::stdout();
        let _ = execute!(out, terminal::LeaveAlternateScreen, cursor::Show);
        let _ = out.flush();
    }
}

/// A panic anywhere restores the terminal before its message is printed,
/// so the message is readable and the shell usable. Installed once per
/// process; a no-op while no dashboard is open.
fn install_panic_hook() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_terminal();
            previous(info);
        }));
    });
}

fn enter_terminal() -> io::Result<Terminal<CrosstermBackend<Stdout>>> {
    terminal::enable_raw_mode()?;
    ACTIVE.store(true, Ordering::SeqCst);
    let mut out = io::stdout();
    if let Err(e) = execute!(out, terminal::EnterAlternateScreen, cursor::Hide) {
        restore_terminal();
        return Err(e);
    }
    Terminal::new(CrosstermBackend::new(out)).inspect_err(|_| restore_terminal())
}

/// Restores the terminal when the draw thread ends, however it ends.
struct RestoreOnDrop;

impl Drop for RestoreOnDrop {
    fn drop(&mut self) {
        restore_terminal();
    }
}

fn lock(live: &Mutex<LiveStats>) -> MutexGuard<'_, LiveStats> {
    live.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The live dashboard of one measured phase.
pub struct Dashboard {
    live: Arc<Mutex<LiveStats>>,
    started: Instant,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    /// Lines printed while the dashboard is up, shown once it closes.
    held: Vec<String>,
    grace: Duration,
}

impl Dashboard {
    /// Takes over the terminal and starts drawing. Fails, leaving the
    /// terminal as it was, when it cannot be put in raw mode.
    pub fn open(goal: Goal, signals: Signals, grace: Duration) -> io::Result<Self> {
        install_panic_hook();
        let term = enter_terminal()?;
        let live = Arc::new(Mutex::new(LiveStats::new(goal)));
        let stop = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let thread = {
            let (live, stop) = (live.clone(), stop.clone());
            std::thread::Builder::new()
                .name("inferload-tui".into())
                .spawn(move || draw_loop(term, &live, &stop, started, &signals, grace))
        };
        let thread = match thread {
            Ok(t) => t,
            Err(e) => {
                restore_terminal();
                return Err(e);
            }
        };
        Ok(Self {
            live,
            started,
            stop,
            thread: Some(thread),
            held: Vec::new(),
            grace,
        })
    }

    /// Stops drawing, restores the terminal, prints what was held. Safe to
    /// call more than once.
    fn close(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        self.stop.store(true, Ordering::SeqCst);
        let _ = thread.join();
        restore_terminal();
        let user_stop = lock(&self.live).user_stop;
        for line in self.held.drain(..) {
            println!("{line}");
        }
        match user_stop {
            Some(UserStop::Interrupt) => eprintln!(
                "Interrupted from the dashboard: no new requests were sent; those in flight had up to {} to finish.",
                format_duration(self.grace)
            ),
            Some(UserStop::Abort) => {
                eprintln!("Interrupted from the dashboard: the requests in flight were cancelled.")
            }
            None => {}
        }
    }
}

impl RunView for Dashboard {
    fn on_sent(&mut self) {
        lock(&self.live).on_sent();
    }

    fn on_finished(&mut self, rec: &RequestRecord) {
        let at = self.started.elapsed();
        lock(&self.live).on_finished(rec, at);
    }

    fn println(&mut self, text: &str) {
        self.held.push(text.to_string());
    }

    fn finish(&mut self) {
        self.close();
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        self.close();
    }
}

/// The draw thread: a frame every [`FRAME`], keys in between.
fn draw_loop(
    mut term: Terminal<CrosstermBackend<Stdout>>,
    live: &Mutex<LiveStats>,
    stop: &AtomicBool,
    started: Instant,
    signals: &Signals,
    grace: Duration,
) {
    let _restore = RestoreOnDrop;
    let mut next_frame = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        if Instant::now() >= next_frame {
            let area = term
                .size()
                .map(|s| Rect::new(0, 0, s.width, s.height))
                .unwrap_or_default();
            let (spark, bins) = capacity(area);
            let snap = lock(live).snapshot(started.elapsed(), spark, bins);
            // A panic elsewhere may have restored the terminal already.
            if !ACTIVE.load(Ordering::SeqCst) || term.draw(|f| draw(f, &snap, grace)).is_err() {
                return;
            }
            next_frame = Instant::now() + FRAME;
        }
        let wait = next_frame.saturating_duration_since(Instant::now());
        match event::poll(wait) {
            Ok(true) => {
                if let Ok(TermEvent::Key(key)) = event::read() {
                    if on_key(key, live, signals) {
                        next_frame = Instant::now();
                    }
                }
            }
            Ok(false) => {}
            // No readable terminal for keys: keep drawing.
            Err(_) => std::thread::sleep(wait),
        }
    }
}

/// `q`, `Q`, `Esc` or Ctrl-C: the first stops sending, the second cancels
/// the requests in flight. True when the key did something.
fn on_key(key: KeyEvent, live: &Mutex<LiveStats>, signals: &Signals) -> bool {
    if key.kind != KeyEventKind::Press {
        return false;
    }
    let stop_key = match key.code {
        KeyCode::Char('q' | 'Q') | KeyCode::Esc => true,
        KeyCode::Char('c') => key.modifiers.contains(KeyModifiers::CONTROL),
        _ => false,
    };
    if !stop_key {
        return false;
    }
    let mut live = lock(live);
    match live.user_stop {
        None => {
            live.user_stop = Some(UserStop::Interrupt);
            signals.interrupt.cancel();
        }
        Some(UserStop::Interrupt) => {
            live.user_stop = Some(UserStop::Abort);
            signals.abort.cancel();
        }
        Some(UserStop::Abort) => return false,
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schedule::Arrival;

    fn stop(requests: Option<u64>, secs: Option<u64>) -> Stop {
        Stop {
            requests,
            duration: secs.map(Duration::from_secs),
        }
    }

    const CLOSED_10: ScheduleSpec = ScheduleSpec::Closed { concurrency: 10 };

    fn open(rate: f64) -> ScheduleSpec {
        ScheduleSpec::Open {
            rate,
            arrival: Arrival::Poisson,
            cap: None,
        }
    }

    #[test]
    fn expected_length_follows_the_plan() {
        let s = Duration::from_secs;
        assert_eq!(expected_length(&stop(Some(100), None), &CLOSED_10), Some(s(10)));
        assert_eq!(expected_length(&stop(Some(101), None), &CLOSED_10), Some(s(11)));
        assert_eq!(expected_length(&stop(Some(100), None), &open(4.0)), Some(s(25)));
        assert_eq!(expected_length(&stop(Some(100), Some(3)), &open(4.0)), Some(s(3)));
        assert_eq!(expected_length(&stop(None, Some(60)), &CLOSED_10), Some(s(60)));
        assert_eq!(expected_length(&stop(None, None), &CLOSED_10), None);
        // Everything at once: one round.
        assert_eq!(
            expected_length(&stop(Some(500), None), &open(f64::INFINITY)),
            Some(s(1))
        );
    }

    #[test]
    fn auto_opens_only_on_a_terminal_for_long_runs() {
        let long = stop(None, Some(60));
        let short = stop(Some(20), None); // two rounds of ten: 2 s
        assert!(wanted(TuiMode::Auto, &long, &CLOSED_10, true, true));
        assert!(!wanted(TuiMode::Auto, &short, &CLOSED_10, true, true));
        assert!(!wanted(TuiMode::Auto, &long, &CLOSED_10, false, true));
        assert!(!wanted(TuiMode::Auto, &long, &CLOSED_10, true, false));
        assert!(wanted(TuiMode::Auto, &stop(None, None), &CLOSED_10, true, true));
        // Exactly five seconds is not "more than a few".
        assert!(!wanted(TuiMode::Auto, &stop(None, Some(5)), &CLOSED_10, true, true));
        // --tui: any length, but never without a terminal on stdout.
        assert!(wanted(TuiMode::On, &short, &CLOSED_10, true, false));
        assert!(!wanted(TuiMode::On, &long, &CLOSED_10, false, true));
        assert!(!wanted(TuiMode::Off, &long, &CLOSED_10, true, true));
    }

    #[test]
    fn keys_interrupt_then_abort() {
        let live = Mutex::new(LiveStats::new(Goal::default()));
        let signals = Signals::default();
        let press = |code, modifiers| KeyEvent::new(code, modifiers);
        assert!(!on_key(press(KeyCode::Char('x'), KeyModifiers::NONE), &live, &signals));
        assert!(!on_key(press(KeyCode::Char('c'), KeyModifiers::NONE), &live, &signals));
        assert!(!signals.interrupt.is_cancelled());
        assert!(on_key(press(KeyCode::Char('q'), KeyModifiers::NONE), &live, &signals));
        assert!(signals.interrupt.is_cancelled() && !signals.abort.is_cancelled());
        assert!(on_key(
            press(KeyCode::Char('c'), KeyModifiers::CONTROL),
            &live,
            &signals
        ));
        assert!(signals.abort.is_cancelled());
        assert_eq!(lock(&live).user_stop, Some(UserStop::Abort));
        assert!(!on_key(press(KeyCode::Char('q'), KeyModifiers::NONE), &live, &signals));
    }
}
