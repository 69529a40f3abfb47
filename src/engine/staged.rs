//! Workers and users under a stage list (`--stages`, `--user-stages`).
//!
//! Worker `k` (from 0) owns level `k + 1` of the target: it sends while the
//! target is at least its level, and sleeps until the stage list next
//! reaches it otherwise, so `floor(target)` workers are active at any time.
//! A worker the target falls below finishes the request it has in flight
//! and stops there (no request is cut short by a ramp-down). A shard runs
//! the workers `k mod N = K` of the single run, so the shards together run
//! the single run's `floor(target)` and each its share, the first shards
//! taking the remainder as `Shard::share` splits a fixed concurrency.
//!
//! Users run the same way with their think time between requests and an
//! [`Event::UsersActive`] at each start and stop. The open-loop kinds of a
//! profile (a rate that follows stages, vLLM's ramp-up) do not come here:
//! they only change the arrival times of the open-loop dispatcher.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;

use super::{pace, Backoff, Event, Shared};
use crate::schedule::stages::{Profile, StageList};
use crate::schedule::{self, ScheduleSpec};

/// A level counts as reached within this much (the crossing times are
/// computed in floating point).
const EPS: f64 = 1e-9;

/// Spawns the workers (or users) of a staged closed loop into `tasks`.
pub(super) fn spawn_workers(shared: &Arc<Shared>, profile: &Profile, tasks: &mut JoinSet<()>) {
    let (stages, think) = match (profile, shared.phase.schedule) {
        (Profile::Concurrency(s), _) => (s.clone(), None),
        (Profile::Users(s), ScheduleSpec::Users { think, .. }) => (s.clone(), Some(think)),
        (Profile::Users(s), _) => (s.clone(), Some((Duration::ZERO, Duration::ZERO))),
        // The plan gives rate profiles an open-loop schedule.
        _ => return,
    };
    let stages = Arc::new(stages);
    let next = Arc::new(AtomicU64::new(0));
    let active = Arc::new(AtomicUsize::new(0));
    let workers = (stages.peak() + EPS).floor() as usize;
    for k in 0..workers {
        if shared.phase.shard.is_some_and(|s| !s.owns(k as u64)) {
            continue;
        }
        let worker = Worker {
            shared: shared.clone(),
            stages: stages.clone(),
            level: (k + 1) as f64,
            next: next.clone(),
            active: think.map(|_| active.clone()),
            pauses: think.map(|t| schedule::ThinkTime::new(t.0, t.1, shared.phase.seed, k)),
        };
        tasks.spawn(worker.run());
    }
}

struct Worker {
    shared: Arc<Shared>,
    stages: Arc<StageList>,
    level: f64,
    next: Arc<AtomicU64>,
    /// The users counter (users only).
    active: Option<Arc<AtomicUsize>>,
    pauses: Option<schedule::ThinkTime>,
}

impl Worker {
    async fn run(mut self) {
        let shared = self.shared.clone();
        let mut slot = shared.ctx.client.checkout();
        let mut backoff = Backoff::default();
        let mut running = false;
        loop {
            if shared.stop_sending.is_cancelled() {
                break;
            }
            let now = shared.clock.now().as_secs_f64();
            if self.stages.target_at(now) < self.level - EPS {
                if running {
                    running = false;
                    self.users_change(false);
                }
                let Some(at) = self.stages.next_at_least(self.level, now) else {
                    break;
                };
                tokio::select! {
                    biased;
                    _ = shared.stop_sending.cancelled() => break,
                    _ = tokio::time::sleep_until(shared.clock.at(Duration::from_secs_f64(at)).into()) => {}
                }
                continue;
            }
            if !running {
                running = true;
                self.users_change(true);
            }
            let i = shared.index(self.next.fetch_add(1, Ordering::Relaxed));
            if shared.phase.stop.requests.is_some_and(|n| i >= n) {
                break;
            }
            let sent = shared.send(&mut slot, i, shared.clock.now()).await;
            if !pace(&shared, backoff.after(sent)).await {
                break;
            }
            if let Some(pauses) = self.pauses.as_mut() {
                tokio::select! {
                    biased;
                    _ = shared.stop_sending.cancelled() => break,
                    _ = tokio::time::sleep(pauses.next_pause()) => {}
                }
            }
        }
        if running {
            self.users_change(false);
        }
        shared.ctx.client.checkin(slot);
    }

    /// A user started or stopped (users only).
    fn users_change(&self, started: bool) {
        let Some(active) = &self.active else {
            return;
        };
        let n = if started {
            active.fetch_add(1, Ordering::Relaxed) + 1
        } else {
            active.fetch_sub(1, Ordering::Relaxed) - 1
        };
        let _ = self.shared.events.send(Event::UsersActive {
            at: self.shared.clock.now(),
            active: n,
        });
    }
}
