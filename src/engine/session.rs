//! Conversation runs (`--turns`): sessions of several turns, each turn one
//! request carrying the whole conversation so far.
//!
//! The session is the unit of load: closed loop, `concurrency` workers each
//! run one session after another; open loop, the arrivals are sessions
//! (`--rate` sessions per second), each then going at its own pace; users
//! each run sessions one after another, thinking `--think-time` between
//! sessions. Within a session a turn is sent when the previous reply has
//! ended and the turn's think time (`--turn-think-time`, drawn from the
//! session's own seeded generator) has passed.
//!
//! Every turn is timed by [`super::request::execute`] exactly as a single
//! request is; the reply text is always captured, since the next turn
//! sends it, and dropped from the record afterwards unless samples or a
//! detailed export asked for it. A turn's `scheduled_at` is its session's
//! arrival for the first turn (open loop: the wait for the cap is queue
//! delay) and the moment it is sent for later ones (the session's own
//! pace set it, not a schedule).
//!
//! Counting: each turn takes the next request index, so `--requests N`
//! counts turns; a session whose next turn finds the count reached, the
//! duration up or the run interrupted ends there, `cut`. A failed turn
//! ends its session: its remaining turns are never sent and never counted.
//! `--sessions N` stops starting sessions after N (every one then runs to
//! its end).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::{client, pace, request, Backoff, DispatchStats, Event, OpenCap, Sent, Shared};
use crate::record::SessionTurn;
use crate::schedule::{self, ScheduleSpec};
use crate::workload::conversation::{Conversation, ConversationSpec};
use crate::workload::WorkItem;

/// Sessions and requests handed out so far in a phase.
#[derive(Default)]
struct Counters {
    sessions: AtomicU64,
    requests: AtomicU64,
}

impl Counters {
    /// The next session's index, or `None` when no more may start.
    fn claim_session(&self, shared: &Shared, spec: &ConversationSpec) -> Option<u64> {
        if shared.stop_sending.is_cancelled() || self.requests_used_up(shared) {
            return None;
        }
        let s = self.sessions.fetch_add(1, Ordering::Relaxed);
        match spec.sessions {
            Some(n) if s >= n => None,
            _ => Some(s),
        }
    }

    fn requests_used_up(&self, shared: &Shared) -> bool {
        shared
            .phase
            .stop
            .requests
            .is_some_and(|n| self.requests.load(Ordering::Relaxed) >= n)
    }
}

/// Starts the phase's sessions on its schedule; the caller drains `tasks`
/// as for single requests. The open loop's cap is returned for its figures.
pub(super) async fn spawn(
    shared: &Arc<Shared>,
    spec: ConversationSpec,
    tasks: &mut JoinSet<()>,
    dispatch: &mut DispatchStats,
    stop_sending: &CancellationToken,
) -> Option<OpenCap> {
    let counters = Arc::new(Counters::default());
    let phase = &shared.phase;
    let clock = shared.clock;
    match phase.schedule {
        ScheduleSpec::Closed { concurrency } => {
            let workers = match spec.sessions {
                Some(n) => concurrency.min(usize::try_from(n).unwrap_or(usize::MAX)),
                None => concurrency,
            };
            for _ in 0..workers {
                let (shared, counters) = (shared.clone(), counters.clone());
                tasks.spawn(async move {
                    let mut slot = shared.ctx.client.checkout();
                    let mut backoff = Backoff::default();
                    while let Some(id) = counters.claim_session(&shared, &spec) {
                        let now = shared.clock.now();
                        let sent = run_session(&shared, &counters, &spec, &mut slot, id, now).await;
                        if !pace(&shared, backoff.after(sent)).await {
                            break;
                        }
                    }
                    shared.ctx.client.checkin(slot);
                });
            }
            None
        }
        ScheduleSpec::Open { rate, arrival, cap } => {
            let cap = OpenCap::new(cap);
            // Every session takes at least one request, so a request count
            // bounds the arrivals too (`--rate inf` would never end else).
            let count = spec.sessions.or(phase.stop.requests);
            let mut arrivals = schedule::arrivals(rate, arrival, phase.seed, count);
            while let Some(offset) = arrivals.next_offset() {
                if phase.stop.duration.is_some_and(|d| offset >= d) {
                    break;
                }
                tokio::select! {
                    biased;
                    _ = stop_sending.cancelled() => break,
                    _ = tokio::time::sleep_until(clock.at(offset).into()) => {}
                }
                let Some(id) = counters.claim_session(shared, &spec) else {
                    break;
                };
                dispatch.note_arrival(clock.now().saturating_sub(offset));
                let (shared, counters, cap) = (shared.clone(), counters.clone(), cap.clone());
                tasks.spawn(async move {
                    // The cap holds a session, all its turns, in one slot.
                    let Some(_permit) = cap.admit(&shared.stop_sending).await else {
                        return;
                    };
                    let mut slot = shared.ctx.client.checkout();
                    // The schedule paces an open loop: no backoff.
                    run_session(&shared, &counters, &spec, &mut slot, id, offset).await;
                    shared.ctx.client.checkin(slot);
                });
                while tasks.try_join_next().is_some() {}
            }
            Some(cap)
        }
        ScheduleSpec::Users {
            users,
            spawn_rate,
            think,
        } => {
            let active = Arc::new(AtomicUsize::new(0));
            for k in 0..users {
                let start = schedule::user_start(k, spawn_rate);
                if phase.stop.duration.is_some_and(|d| start >= d) || counters.requests_used_up(shared) {
                    break;
                }
                tokio::select! {
                    biased;
                    _ = stop_sending.cancelled() => break,
                    _ = tokio::time::sleep_until(clock.at(start).into()) => {}
                }
                let (shared, counters, active) = (shared.clone(), counters.clone(), active.clone());
                let mut pauses = schedule::ThinkTime::new(think.0, think.1, phase.seed, k);
                tasks.spawn(async move {
                    let mut slot = shared.ctx.client.checkout();
                    let n = active.fetch_add(1, Ordering::Relaxed) + 1;
                    let _ = shared.events.send(Event::UsersActive {
                        at: shared.clock.now(),
                        active: n,
                    });
                    let mut backoff = Backoff::default();
                    while let Some(id) = counters.claim_session(&shared, &spec) {
                        let now = shared.clock.now();
                        let sent = run_session(&shared, &counters, &spec, &mut slot, id, now).await;
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
            None
        }
    }
}

/// Runs session `id` (local to the phase) turn by turn on `slot`; returns
/// how its last request went, for the pacing.
async fn run_session(
    shared: &Shared,
    counters: &Counters,
    spec: &ConversationSpec,
    slot: &mut client::Slot,
    id: u64,
    arrived_at: Duration,
) -> Sent {
    let phase = &shared.phase;
    // The measured phase's sessions follow the warm-up's (at most one
    // session per warm-up request), so none is sent twice.
    let script = shared.workload.session(phase.first_index + id, spec.turns);
    let turns = u32::try_from(script.turns.len()).unwrap_or(u32::MAX);
    let mut conversation = Conversation::new(&script.opening);
    let mut pauses = schedule::ThinkTime::new(
        spec.turn_think.0,
        spec.turn_think.1,
        phase.seed ^ 0x7475_726E,
        usize::try_from(id).unwrap_or(usize::MAX),
    );
    let mut last = Sent::Replied;
    for (t, turn) in (1u32..).zip(&script.turns) {
        if t > 1 {
            let pause = pauses.next_pause();
            if !pause.is_zero() {
                tokio::select! {
                    biased;
                    _ = shared.stop_sending.cancelled() => return last,
                    _ = tokio::time::sleep(pause) => {}
                }
            }
        }
        if shared.stop_sending.is_cancelled() {
            return last;
        }
        let index = counters.requests.fetch_add(1, Ordering::Relaxed);
        if phase.stop.requests.is_some_and(|n| index >= n) {
            return last;
        }
        let prompt = conversation.ask(&turn.message);
        let item = WorkItem {
            index,
            input_tokens: prompt.tokens(),
            prompt,
            max_tokens: turn.max_tokens,
            params: shared.ctx.workload_spec.params.clone(),
            fields: None,
            task: None,
        };
        let scheduled_at = if t == 1 { arrived_at } else { shared.clock.now() };
        let _ = shared.events.send(Event::Sent { index });
        let mut rec = request::execute(
            &shared.ctx,
            &shared.clock,
            &item,
            scheduled_at,
            true,
            &shared.cancel_in_flight,
            slot,
        )
        .await;
        rec.session = Some(SessionTurn {
            session: id,
            turn: t,
            turns,
        });
        let reply = if rec.succeeded() { rec.text.clone() } else { None };
        if index >= phase.capture_text_below {
            rec.text = None;
        }
        last = shared.judge(&rec);
        let _ = shared.events.send(Event::Finished(Box::new(rec)));
        // A failed turn ends the session: the conversation cannot go on
        // without the reply.
        let Some(reply) = reply else {
            return last;
        };
        conversation.answer(reply);
    }
    last
}
