//! The engine: sends the workload on the schedule and emits [`Event`]s.
//!
//! One tokio task per in-flight request. Closed loop: `concurrency` workers,
//! each sending its next request when the previous one ends, so exactly N are
//! in flight. Open loop: a dispatcher sleeps until each arrival's intended
//! time (`scheduled_at`) and spawns the request; a concurrency cap, if any,
//! is a semaphore the request waits on, so the wait shows up as queue delay
//! (`sent_at - scheduled_at`) instead of vanishing — coordinated omission
//! made visible, as wrk2 does. A trace replay is this open loop at the
//! trace's own times. Users (Locust-style): user k starts at
//! k/spawn_rate and loops — send, wait for the reply, think a uniform time
//! drawn from its own seeded generator, repeat — until the stop condition;
//! each start and end of a user is an [`Event::UsersActive`].
//!
//! Stopping: the phase ends when its request count is reached or its
//! duration is up (no new sends after that), or when the `interrupt` token
//! fires (Ctrl-C). Requests still in flight then get `grace` to finish;
//! after that, or when `abort` fires, they end as `unfinished`. The engine
//! never reaches into its consumers: everything it knows leaves as an event.
//!
//! Connections ([`client`]): every in-flight request holds a [`client::Slot`]
//! with its own connection. Closed-loop workers and users keep theirs from
//! request to request; an open-loop request borrows an idle one. The
//! phase's connection figures come back in [`PhaseEnd::connections`].
//!
//! The engine takes its own configuration ([`ClientConfig`], [`Phase`],
//! [`Stop`]) and imports nothing above it.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::header::HeaderMap;
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::api::ApiAdapter;
use crate::record::{ErrorClass, RequestRecord};
use crate::redact::Redactor;
use crate::schedule::{self, ScheduleSpec, Shard};
use crate::workload::{Workload, WorkloadSpec};

pub mod client;
pub mod clock;
mod conn;
pub mod connections;
mod h1;
mod poll;
pub mod preflight;
pub mod request;
mod session;
mod staged;
mod tls;

pub use client::{Client, ClientConfig, HeaderSpec};
pub use clock::Clock;
pub use connections::{ConnectTimes, ConnectionStats};

/// What the engine tells its consumers.
#[derive(Debug)]
pub enum Event {
    /// A request was handed to the HTTP client.
    Sent { index: u64 },
    /// A request ended, successfully or not.
    Finished(Box<RequestRecord>),
    /// The number of simulated users changed (users schedule only): `active`
    /// users at `at` on the phase's clock.
    UsersActive { at: Duration, active: usize },
}

/// Everything a request needs that is the same for all requests of a run.
pub struct RequestContext {
    pub client: Client,
    /// Full URL of the endpoint.
    pub url: String,
    /// Content type, authorisation and user headers, built once.
    pub headers: HeaderMap,
    pub adapter: Box<dyn ApiAdapter>,
    pub model: String,
    pub workload_spec: WorkloadSpec,
    pub redactor: Redactor,
    /// The targets of a scenario's weighted task mix, indexed by
    /// `WorkItem::task` (empty without one): each task's own API adapter,
    /// URL, model and request parameters, on the same client.
    pub tasks: Vec<TaskContext>,
}

/// One task of a task mix: its name (the records' `task` label) and the
/// context its requests go through.
pub struct TaskContext {
    pub name: String,
    pub ctx: RequestContext,
}

impl RequestContext {
    /// The context a work item goes through: its task's when it has one.
    pub fn for_task(&self, task: Option<usize>) -> &RequestContext {
        match task.and_then(|t| self.tasks.get(t)) {
            Some(t) => &t.ctx,
            None => self,
        }
    }
}

/// When a phase stops sending.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stop {
    /// Requests to send.
    pub requests: Option<u64>,
    /// Time after which nothing more is sent.
    pub duration: Option<Duration>,
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
    /// Stop sending when no request has succeeded for this long (since the
    /// phase began or the last success) and one has just failed.
    pub abort_after: Option<Duration>,
    /// This process's part of a sharded run: only the indices, users and
    /// arrivals it owns, and its share of the concurrency (`None`: all).
    pub shard: Option<Shard>,
    /// Sessions of several turns instead of single requests (`--turns`;
    /// see `engine/session.rs`).
    pub conversation: Option<crate::workload::conversation::ConversationSpec>,
    /// Load that changes over the phase (stages, ramp-up); `None`: the
    /// schedule's fixed load.
    pub profile: Option<Arc<schedule::stages::Profile>>,
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
#[derive(Debug, Clone)]
pub struct PhaseEnd {
    pub clock: Clock,
    /// The interrupt fired before the stop condition was reached.
    pub interrupted: bool,
    /// How the open-loop dispatcher kept to the schedule (zeros otherwise).
    pub dispatch: DispatchStats,
    /// The connections the phase opened and used.
    pub connections: ConnectionStats,
    /// Set when the phase stopped sending because no request succeeded
    /// for [`Phase::abort_after`].
    pub gave_up: Option<Duration>,
}

/// An open-loop arrival handed off later than this after its intended time
/// counts as a late send (the client, not the schedule, set its time).
pub const LATE_SEND: Duration = Duration::from_millis(10);

/// How an open-loop phase kept to its schedule, for the trust verdict
/// (`monitor::trust`). Lateness is taken when the dispatcher wakes for an
/// arrival, against the arrival's intended offset on the phase's clock.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DispatchStats {
    /// Arrivals handed off.
    pub arrivals: u64,
    /// Arrivals handed off more than [`LATE_SEND`] late.
    pub late_sends: u64,
    pub max_lateness: Duration,
    /// Arrivals that found every slot of the concurrency cap taken.
    pub cap_waits: u64,
    /// Arrivals that waited for the cap and were never sent: the phase
    /// stopped sending before a slot freed (part of the offered load the
    /// cap kept from the server).
    pub cap_unsent: u64,
}

impl DispatchStats {
    /// One arrival handed off `late` after its intended time.
    fn note_arrival(&mut self, late: Duration) {
        self.arrivals += 1;
        self.late_sends += u64::from(late > LATE_SEND);
        self.max_lateness = self.max_lateness.max(late);
    }
}

/// An open loop's concurrency cap and what it held back: the arrivals that
/// found it full and those never sent. One for the dispatcher's tasks,
/// whether each carries a request or a whole session.
#[derive(Clone)]
struct OpenCap {
    slots: Option<Arc<Semaphore>>,
    waits: Arc<AtomicU64>,
    unsent: Arc<AtomicU64>,
}

impl OpenCap {
    fn new(cap: Option<usize>) -> Self {
        Self {
            slots: cap.map(|c| Arc::new(Semaphore::new(c))),
            waits: Arc::default(),
            unsent: Arc::default(),
        }
    }

    /// Waits for a slot under the cap (queue delay, not service time: the
    /// arrival's `scheduled_at` stays its intended time). `None` when the
    /// phase stopped sending first: the arrival is counted as never sent.
    async fn admit(&self, stop: &CancellationToken) -> Option<Option<tokio::sync::SemaphorePermit<'_>>> {
        if self.slots.as_ref().is_some_and(|sem| sem.available_permits() == 0) {
            self.waits.fetch_add(1, Ordering::Relaxed);
        }
        let unsent = || {
            if self.slots.is_some() {
                self.unsent.fetch_add(1, Ordering::Relaxed);
            }
            None
        };
        let permit = match &self.slots {
            Some(sem) => tokio::select! {
                biased;
                _ = stop.cancelled() => return unsent(),
                p = sem.acquire() => match p { Ok(p) => Some(p), Err(_) => return unsent() },
            },
            None => None,
        };
        if stop.is_cancelled() {
            return unsent();
        }
        Some(permit)
    }

    /// What the cap held back, into the phase's dispatch figures.
    fn report(&self, dispatch: &mut DispatchStats) {
        dispatch.cap_waits = self.waits.load(Ordering::Relaxed);
        dispatch.cap_unsent = self.unsent.load(Ordering::Relaxed);
    }
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
    /// When the last request succeeded (µs on the phase clock; 0: none yet).
    last_success_us: AtomicU64,
    /// `abort_after` fired.
    gave_up: std::sync::atomic::AtomicBool,
}

/// Pacing of a closed-loop worker or a user after requests that got no
/// reply at all (refused, reset): without it a dead target makes each
/// worker spin through tens of thousands of instant failures a second.
/// The wait doubles from [`Backoff::FIRST`] to [`Backoff::MOST`] while such
/// failures continue and ends with the first reply of any kind.
#[derive(Debug, Default)]
struct Backoff(Option<Duration>);

impl Backoff {
    const FIRST: Duration = Duration::from_millis(10);
    const MOST: Duration = Duration::from_secs(1);

    /// The pause before the next request, if any, after `outcome`.
    fn after(&mut self, outcome: Sent) -> Option<Duration> {
        self.0 = match outcome {
            Sent::NoReply => Some(self.0.map_or(Self::FIRST, |d| (d * 2).min(Self::MOST))),
            Sent::Replied => None,
        };
        self.0
    }
}

/// What one request got back, for the pacing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sent {
    /// Any reply (even an error status), or a failure of ours.
    Replied,
    /// The connection failed before a reply: refused, reset, closed.
    NoReply,
}

impl Shared {
    async fn send(&self, slot: &mut client::Slot, local_index: u64, scheduled_at: Duration) -> Sent {
        let index = self.phase.first_index + local_index;
        let mut item = self.workload.item(index);
        item.index = local_index;
        let _ = self.events.send(Event::Sent { index: local_index });
        let capture = local_index < self.phase.capture_text_below;
        let mut rec = request::execute(
            &self.ctx,
            &self.clock,
            &item,
            scheduled_at,
            capture,
            &self.cancel_in_flight,
            slot,
        )
        .await;
        if let Some(task) = item.task.and_then(|t| self.ctx.tasks.get(t)) {
            rec.task = Some(task.name.clone());
            rec.model = Some(task.ctx.model.clone());
        }
        let sent = self.judge(&rec);
        let _ = self.events.send(Event::Finished(Box::new(rec)));
        sent
    }

    /// The request index of the `j`-th request this process sends (a
    /// shard's own indices; all of them without one).
    fn index(&self, j: u64) -> u64 {
        self.phase.shard.map_or(j, |s| s.nth(j))
    }

    /// Notes a finished request for `abort_after` (stopping the phase when
    /// it fires) and tells the pacing whether a reply came.
    fn judge(&self, rec: &RequestRecord) -> Sent {
        let now = self.clock.now();
        let class = rec.error.as_ref().map(|e| e.class);
        if class.is_none() {
            let us = u64::try_from(now.as_micros()).unwrap_or(u64::MAX).max(1);
            self.last_success_us.fetch_max(us, Ordering::Relaxed);
            return Sent::Replied;
        }
        if class == Some(ErrorClass::Unfinished) {
            return Sent::Replied;
        }
        if let Some(limit) = self.phase.abort_after {
            let since = Duration::from_micros(self.last_success_us.load(Ordering::Relaxed));
            if now.saturating_sub(since) >= limit && !self.stop_sending.is_cancelled() {
                self.gave_up.store(true, Ordering::Relaxed);
                self.stop_sending.cancel();
            }
        }
        match (rec.status, class) {
            (None, Some(ErrorClass::Connect | ErrorClass::StreamBroken | ErrorClass::Request)) => Sent::NoReply,
            _ => Sent::Replied,
        }
    }
}

/// Waits `pause`, or less if the phase stops sending; false when it stopped.
async fn pace(shared: &Shared, pause: Option<Duration>) -> bool {
    let Some(pause) = pause else {
        return true;
    };
    tokio::select! {
        biased;
        _ = shared.stop_sending.cancelled() => false,
        _ = tokio::time::sleep(pause) => true,
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
    ctx.client.begin_phase();
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
        last_success_us: AtomicU64::new(0),
        gave_up: Default::default(),
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
    let mut dispatch = DispatchStats::default();
    let mut cap_counter: Option<OpenCap> = None;
    match phase.schedule {
        _ if phase.conversation.is_some() => {
            let spec = phase.conversation.expect("checked");
            cap_counter = session::spawn(&shared, spec, &mut tasks, &mut dispatch, &stop_sending).await;
        }
        // Workers or users under a stage list (`staged.rs`).
        _ if phase.profile.as_ref().is_some_and(|p| p.drives_workers()) => {
            if let Some(p) = &phase.profile {
                staged::spawn_workers(&shared, p, &mut tasks);
            }
        }
        ScheduleSpec::Closed { concurrency } => {
            let next = Arc::new(AtomicU64::new(0));
            let concurrency = phase.shard.map_or(concurrency, |s| s.share(concurrency));
            let workers = match phase.stop.requests {
                Some(n) => concurrency.min(usize::try_from(n).unwrap_or(usize::MAX)),
                None => concurrency,
            };
            for _ in 0..workers {
                let (shared, next) = (shared.clone(), next.clone());
                tasks.spawn(async move {
                    // The worker's connection, kept from request to request.
                    let mut slot = shared.ctx.client.checkout();
                    let mut backoff = Backoff::default();
                    loop {
                        if shared.stop_sending.is_cancelled() {
                            break;
                        }
                        let i = shared.index(next.fetch_add(1, Ordering::Relaxed));
                        if shared.phase.stop.requests.is_some_and(|n| i >= n) {
                            break;
                        }
                        let now = shared.clock.now();
                        let sent = shared.send(&mut slot, i, now).await;
                        if !pace(&shared, backoff.after(sent)).await {
                            break;
                        }
                    }
                    shared.ctx.client.checkin(slot);
                });
            }
        }
        ScheduleSpec::Open { rate, arrival, cap } => {
            let cap = OpenCap::new(cap.map(|c| phase.shard.map_or(c, |s| s.share(c).max(1))));
            // A trace replay sends at the trace's own times; stages and
            // ramp-ups follow their profile.
            let mut arrivals = match (&phase.profile, arrival, shared.workload.trace_times()) {
                (_, schedule::Arrival::Trace { speed }, Some(times)) => {
                    schedule::trace::arrivals(times, phase.first_index, speed)
                }
                (Some(p), _, _) => p.arrivals(arrival, phase.seed, phase.stop.requests),
                _ => schedule::arrivals(rate, arrival, phase.seed, phase.stop.requests),
            };
            let mut i = 0u64;
            while let Some(offset) = arrivals.next_offset() {
                if phase.stop.requests.is_some_and(|n| i >= n) || phase.stop.duration.is_some_and(|d| offset >= d) {
                    break;
                }
                // A shard keeps the single run's arrival times and sends
                // only the arrivals it owns.
                if phase.shard.is_some_and(|s| !s.owns(i)) {
                    i += 1;
                    continue;
                }
                tokio::select! {
                    biased;
                    _ = stop_sending.cancelled() => break,
                    _ = tokio::time::sleep_until(clock.at(offset).into()) => {}
                }
                dispatch.note_arrival(clock.now().saturating_sub(offset));
                let (shared, cap) = (shared.clone(), cap.clone());
                tasks.spawn(async move {
                    let Some(_permit) = cap.admit(&shared.stop_sending).await else {
                        return;
                    };
                    let mut slot = shared.ctx.client.checkout();
                    // The schedule paces an open loop: no backoff.
                    shared.send(&mut slot, i, offset).await;
                    shared.ctx.client.checkin(slot);
                });
                i += 1;
                // Reap finished tasks so a long open-loop run stays small.
                while tasks.try_join_next().is_some() {}
            }
            cap_counter = Some(cap);
        }
        ScheduleSpec::Users {
            users,
            spawn_rate,
            think,
        } => {
            let next = Arc::new(AtomicU64::new(0));
            let active = Arc::new(AtomicUsize::new(0));
            for k in 0..users {
                if phase.shard.is_some_and(|s| !s.owns(k as u64)) {
                    continue;
                }
                let start = schedule::user_start(k, spawn_rate);
                if phase.stop.duration.is_some_and(|d| start >= d)
                    || phase
                        .stop
                        .requests
                        .is_some_and(|n| shared.index(next.load(Ordering::Relaxed)) >= n)
                {
                    break;
                }
                tokio::select! {
                    biased;
                    _ = stop_sending.cancelled() => break,
                    _ = tokio::time::sleep_until(clock.at(start).into()) => {}
                }
                let (shared, next, active) = (shared.clone(), next.clone(), active.clone());
                let mut pauses = schedule::ThinkTime::new(think.0, think.1, phase.seed, k);
                tasks.spawn(async move {
                    let mut slot = shared.ctx.client.checkout();
                    let n = active.fetch_add(1, Ordering::Relaxed) + 1;
                    let _ = shared.events.send(Event::UsersActive {
                        at: shared.clock.now(),
                        active: n,
                    });
                    let mut backoff = Backoff::default();
                    loop {
                        if shared.stop_sending.is_cancelled() {
                            break;
                        }
                        let i = shared.index(next.fetch_add(1, Ordering::Relaxed));
                        if shared.phase.stop.requests.is_some_and(|n| i >= n) {
                            break;
                        }
                        let now = shared.clock.now();
                        let sent = shared.send(&mut slot, i, now).await;
                        if !pace(&shared, backoff.after(sent)).await {
                            break;
                        }
                        tokio::select! {
                            biased;
                            _ = shared.stop_sending.cancelled() => break,
                            _ = tokio::time::sleep(pauses.next_pause()) => {}
                        }
                    }
                    shared.ctx.client.checkin(slot);
                    let n = active.fetch_sub(1, Ordering::Relaxed) - 1;
                    let _ = shared.events.send(Event::UsersActive {
                        at: shared.clock.now(),
                        active: n,
                    });
                });
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
    if let Some(cap) = cap_counter {
        cap.report(&mut dispatch);
    }
    PhaseEnd {
        clock,
        interrupted: signals.interrupt.is_cancelled(),
        dispatch,
        connections: shared.ctx.client.connection_stats(),
        gave_up: shared
            .gave_up
            .load(Ordering::Relaxed)
            .then_some(phase.abort_after)
            .flatten(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backoff_doubles_to_its_ceiling_and_ends_with_a_reply() {
        let mut b = Backoff::default();
        assert_eq!(b.after(Sent::Replied), None);
        let waits: Vec<Duration> = (0..9).filter_map(|_| b.after(Sent::NoReply)).collect();
        let ms: Vec<u128> = waits.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, vec![10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        assert_eq!(b.after(Sent::Replied), None);
        assert_eq!(b.after(Sent::NoReply), Some(Backoff::FIRST), "starts over");
    }
}
