//! The engine: sends the workload on the schedule and emits [`Event`]s.
//!
//! One tokio task per in-flight request. Closed loop: `concurrency` workers,
//! each sending its next request when the previous one ends, so exactly N are
//! in flight. Open loop: a dispatcher sleeps until each arrival's intended
//! time (`scheduled_at`) and spawns the request; a concurrency cap, if any,
//! is a semaphore the request waits on, so the wait shows up as queue delay
//! (`sent_at - scheduled_at`) instead of vanishing — coordinated omission
//! made visible, as wrk2 does.
//!
//! Stopping: the phase ends when its request count is reached or its
//! duration is up (no new sends after that), or when the `interrupt` token
//! fires (Ctrl-C). Requests still in flight then get `grace` to finish;
//! after that, or when `abort` fires, they end as `cancelled`. The engine
//! never reaches into its consumers: everything it knows leaves as an event.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HeaderMap;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::api::ApiAdapter;
use crate::plan::Stop;
use crate::record::RequestRecord;
use crate::redact::Redactor;
use crate::schedule::{self, ScheduleSpec};
use crate::workload::{Workload, WorkloadSpec};

pub mod client;
pub mod clock;
pub mod preflight;
pub mod request;

pub use clock::Clock;

/// What the engine tells its consumers.
#[derive(Debug)]
pub enum Event {
    /// A request was handed to the HTTP client.
    Sent { index: u64 },
    /// A request ended, successfully or not.
    Finished(Box<RequestRecord>),
}

/// Everything a request needs that is the same for all requests of a run.
pub struct RequestContext {
    pub client: reqwest::Client,
    /// Full URL of the endpoint.
    pub url: String,
    /// Content type, authorisation and user headers, built once.
    pub headers: HeaderMap,
    pub adapter: Box<dyn ApiAdapter>,
    pub model: String,
    pub workload_spec: WorkloadSpec,
    pub redactor: Redactor,
}

/// One phase of a run: warm-up or measurement.
#[derive(Debug, Clone)]
pub struct Phase {
    pub schedule: ScheduleSpec,
    pub stop: Stop,
    pub seed: u64,
    /// First index of this phase's items (the measured phase continues after
    /// the warm-up's, so it does not resend the same prompts).
    pub first_index: u64,
    /// Keep the generated text of requests whose index is below this.
    pub capture_text_below: u64,
    pub grace: Duration,
}

/// How the caller stops a phase early.
#[derive(Debug, Clone, Default)]
pub struct Signals {
    /// Stop sending; in-flight requests get the grace period (Ctrl-C).
    pub interrupt: CancellationToken,
    /// Cancel in-flight requests now (a second Ctrl-C).
    pub abort: CancellationToken,
}

/// How a phase ended.
#[derive(Debug, Clone, Copy)]
pub struct PhaseEnd {
    pub clock: Clock,
    /// The interrupt fired before the stop condition was reached.
    pub interrupted: bool,
}

struct Shared {
    ctx: Arc<RequestContext>,
    workload: Arc<Workload>,
    clock: Clock,
    phase: Phase,
    events: mpsc::UnboundedSender<Event>,
    /// No new sends (duration up, or interrupted).
    stop_sending: CancellationToken,
    /// In-flight requests end now.
    cancel_in_flight: CancellationToken,
}

impl Shared {
    async fn send(&self, local_index: u64, scheduled_at: Duration) {
        let index = self.phase.first_index + local_index;
        let mut item = self.workload.item(index);
        item.index = local_index;
        let _ = self.events.send(Event::Sent { index: local_index });
        let capture = local_index < self.phase.capture_text_below;
        let rec = request::execute(
            &self.ctx,
            &self.clock,
            &item,
            scheduled_at,
            capture,
            &self.cancel_in_flight,
        )
        .await;
        let _ = self.events.send(Event::Finished(Box::new(rec)));
    }
}

/// Runs one phase to its end and returns how it ended. Events go to `events`
/// as they happen; the phase's clock starts when this is called.
pub async fn run_phase(
    ctx: Arc<RequestContext>,
    workload: Arc<Workload>,
    phase: Phase,
    events: mpsc::UnboundedSender<Event>,
    signals: &Signals,
) -> PhaseEnd {
    let clock = Clock::start();
    let stop_sending = signals.interrupt.child_token();
    let cancel_in_flight = signals.abort.child_token();
    let shared = Arc::new(Shared {
        ctx,
        workload,
        clock,
        phase: phase.clone(),
        events,
        stop_sending: stop_sending.clone(),
        cancel_in_flight: cancel_in_flight.clone(),
    });

    // The duration bound only stops new sends; the grace below bounds the rest.
    let deadline = phase.stop.duration.map(|d| {
        let token = stop_sending.clone();
        let at = clock.at(d);
        tokio::spawn(async move {
            tokio::time::sleep_until(at.into()).await;
            token.cancel();
        })
    });

    let mut tasks = JoinSet::new();
    match phase.schedule {
        ScheduleSpec::Closed { concurrency } => {
            let next = Arc::new(AtomicU64::new(0));
            let workers = match phase.stop.requests {
                Some(n) => concurrency.min(usize::try_from(n).unwrap_or(usize::MAX)),
                None => concurrency,
            };
            for _ in 0..workers {
                let (shared, next) = (shared.clone(), next.clone());
                tasks.spawn(async move {
                    loop {
                        if shared.stop_sending.is_cancelled() {
                            break;
                        }
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        if shared.phase.stop.requests.is_some_and(|n| i >= n) {
                            break;
                        }
                        let now = shared.clock.now();
                        shared.send(i, now).await;
                    }
                });
            }
        }
        ScheduleSpec::Open { rate, arrival, cap } => {
            let cap = cap.map(|c| Arc::new(Semaphore::new(c)));
            let mut arrivals = schedule::arrivals(rate, arrival, phase.seed, phase.stop.requests);
            let mut i = 0u64;
            while let Some(offset) = arrivals.next_offset() {
                if phase.stop.requests.is_some_and(|n| i >= n) || phase.stop.duration.is_some_and(|d| offset >= d) {
                    break;
                }
                tokio::select! {
                    biased;
                    _ = stop_sending.cancelled() => break,
                    _ = tokio::time::sleep_until(clock.at(offset).into()) => {}
                }
                let (shared, cap) = (shared.clone(), cap.clone());
                tasks.spawn(async move {
                    // Waiting for a slot under the cap is queue delay, not
                    // service time: `scheduled_at` stays the intended time.
                    let _permit = match &cap {
                        Some(sem) => tokio::select! {
                            biased;
                            _ = shared.stop_sending.cancelled() => return,
                            p = sem.acquire() => match p { Ok(p) => Some(p), Err(_) => return },
                        },
                        None => None,
                    };
                    if shared.stop_sending.is_cancelled() {
                        return;
                    }
                    shared.send(i, offset).await;
                });
                i += 1;
                // Reap finished tasks so a long open-loop run stays small.
                while tasks.try_join_next().is_some() {}
            }
        }
    }

    let drain = async { while tasks.join_next().await.is_some() {} };
    tokio::pin!(drain);
    let grace_over = async {
        stop_sending.cancelled().await;
        tokio::time::sleep(phase.grace).await;
    };
    tokio::select! {
        _ = &mut drain => {}
        _ = grace_over => {
            cancel_in_flight.cancel();
            drain.await;
        }
    }
    if let Some(d) = deadline {
        d.abort();
    }
    PhaseEnd {
        clock,
        interrupted: signals.interrupt.is_cancelled(),
    }
}
