//! Figures of a conversation run (`--turns`), from the records' session and
//! turn: per turn index (requests, TTFT, input tokens — TTFT by turn shows
//! the growing context and what a prefix cache saves), and per session
//! (started, completed, ended by a failure, cut by the stop; turns
//! completed; duration).
//!
//! Definitions (see `docs/METRICS.md`): a session is *completed* when every
//! turn it was to have succeeded; *failed* when a turn failed (that ends
//! it); *cut* when the run stopped before its next turn (request count,
//! duration, interrupt). A session's duration runs from its first turn's
//! `scheduled_at` to its last turn's `ended_at`, think times included, and
//! is given for completed sessions only. Percentiles are nearest-rank
//! ([`super::quantile::nearest_rank`]); per-turn latencies are the
//! summary's own ([`SummaryBuilder`]) over that turn's records.
//!
//! A shard's figures also carry their mergeable form ([`SessionsState`]:
//! counts, durations, each turn's HDR state), which [`merge_states`] joins.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{quantile, SummaryBuilder};
use crate::record::RequestRecord;

/// The requests of one turn index (1 is the first turn of every session).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TurnFigures {
    pub turn: u32,
    pub requests: u64,
    pub successful: u64,
    /// Mean prompt tokens over the turn's requests (the server's usage,
    /// else the client's count).
    pub mean_input_tokens: f64,
    pub ttft_p50_ms: Option<f64>,
    pub ttft_p99_ms: Option<f64>,
    pub e2e_p50_ms: Option<f64>,
}

/// Session-level figures of a conversation run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sessions {
    /// Sessions that sent at least one turn.
    pub started: u64,
    /// Sessions whose every turn succeeded.
    pub completed: u64,
    /// Sessions ended by a failed turn (their remaining turns not sent).
    pub failed: u64,
    /// Sessions the stop ended before their last turn.
    pub cut: u64,
    /// Successful turns per started session.
    pub turns_completed_mean: f64,
    /// The most successful turns of one session.
    pub turns_completed_max: u32,
    /// Duration of completed sessions, in seconds.
    pub duration_p50_s: Option<f64>,
    pub duration_p99_s: Option<f64>,
    pub duration_mean_s: Option<f64>,
    /// One entry per turn index, in order.
    pub by_turn: Vec<TurnFigures>,
    /// A shard's (`--shard K/N`) figures in mergeable form, for
    /// `inferload merge`; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<SessionsState>,
}

/// The figures of a shard's sessions in mergeable form. A session belongs
/// to one shard, so the session counts add up; durations of completed
/// sessions are kept whole (one number a session) for exact percentiles;
/// each turn index keeps its summary's HDR state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SessionsState {
    pub started: u64,
    pub completed: u64,
    pub failed: u64,
    pub cut: u64,
    /// Successful turns over every session.
    pub ok_turns: u64,
    pub turns_completed_max: u32,
    /// Durations of completed sessions, seconds, measured from the
    /// session's first intended send (so not moved by a shard's clock).
    pub durations_s: Vec<f64>,
    pub by_turn: Vec<TurnState>,
}

/// One turn index's requests in mergeable form.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TurnState {
    pub turn: u32,
    pub summary: super::state::SummaryState,
    pub input_tokens: u64,
}

#[derive(Debug, Clone, Default)]
struct SessionAcc {
    turns: u32,
    ok: u32,
    failed: bool,
    start: Option<Duration>,
    end: Duration,
}

#[derive(Debug, Clone, Default)]
struct TurnAcc {
    summary: SummaryBuilder,
    input_tokens: u64,
}

/// Accumulates the records of a conversation run.
#[derive(Debug, Clone, Default)]
pub struct SessionsBuilder {
    sessions: BTreeMap<u64, SessionAcc>,
    turns: BTreeMap<u32, TurnAcc>,
}

impl SessionsBuilder {
    /// Counts a record under its session and turn (others are left out).
    pub fn add(&mut self, rec: &RequestRecord) {
        let Some(st) = rec.session else {
            return;
        };
        let s = self.sessions.entry(st.session).or_default();
        s.turns = s.turns.max(st.turns);
        s.ok += u32::from(rec.succeeded());
        s.failed |= !rec.succeeded();
        s.start = Some(s.start.map_or(rec.scheduled_at, |t| t.min(rec.scheduled_at)));
        s.end = s.end.max(rec.ended_at);
        let t = self.turns.entry(st.turn).or_default();
        t.summary.add(rec);
        t.input_tokens += rec.input_tokens;
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    pub fn finish(&self) -> Sessions {
        figures(
            &self.state(),
            self.turns
                .iter()
                .map(|(&t, acc)| (t, acc.summary.clone(), acc.input_tokens)),
        )
    }

    /// The builder's figures in mergeable form.
    pub fn state(&self) -> SessionsState {
        let mut out = SessionsState {
            started: self.sessions.len() as u64,
            ..SessionsState::default()
        };
        for s in self.sessions.values() {
            out.ok_turns += u64::from(s.ok);
            out.turns_completed_max = out.turns_completed_max.max(s.ok);
            if s.failed {
                out.failed += 1;
            } else if s.ok >= s.turns {
                out.completed += 1;
                out.durations_s
                    .push(s.end.saturating_sub(s.start.unwrap_or_default()).as_secs_f64());
            } else {
                out.cut += 1;
            }
        }
        out.by_turn = self
            .turns
            .iter()
            .map(|(&turn, t)| TurnState {
                turn,
                summary: t.summary.state(),
                input_tokens: t.input_tokens,
            })
            .collect();
        out
    }
}

/// The figures of shards' sessions merged, as one process would have
/// given them; each state's times move by its `Duration` (its shard's
/// start after the merge's origin).
pub fn merge_states(states: &[(&SessionsState, Duration)]) -> Result<Sessions, super::state::StateError> {
    let mut all = SessionsState::default();
    let mut turns: BTreeMap<u32, (SummaryBuilder, u64)> = BTreeMap::new();
    for (s, shift) in states {
        all.started += s.started;
        all.completed += s.completed;
        all.failed += s.failed;
        all.cut += s.cut;
        all.ok_turns += s.ok_turns;
        all.turns_completed_max = all.turns_completed_max.max(s.turns_completed_max);
        all.durations_s.extend(&s.durations_s);
        for t in &s.by_turn {
            let e = turns.entry(t.turn).or_default();
            e.0.merge(&SummaryBuilder::from_state(&t.summary, *shift)?);
            e.1 += t.input_tokens;
        }
    }
    Ok(figures(&all, turns.into_iter().map(|(t, (b, n))| (t, b, n))))
}

/// The figures from the session counts and each turn's summary.
fn figures(s: &SessionsState, turns: impl Iterator<Item = (u32, SummaryBuilder, u64)>) -> Sessions {
    let mut out = Sessions {
        started: s.started,
        completed: s.completed,
        failed: s.failed,
        cut: s.cut,
        turns_completed_max: s.turns_completed_max,
        ..Sessions::default()
    };
    if out.started > 0 {
        out.turns_completed_mean = s.ok_turns as f64 / out.started as f64;
    }
    let mut durations = s.durations_s.clone();
    durations.sort_by(f64::total_cmp);
    out.duration_p50_s = quantile::nearest_rank(&durations, 0.5);
    out.duration_p99_s = quantile::nearest_rank(&durations, 0.99);
    out.duration_mean_s = (!durations.is_empty()).then(|| durations.iter().sum::<f64>() / durations.len() as f64);
    out.by_turn = turns
        .map(|(turn, builder, input_tokens)| {
            let s = builder.finish();
            TurnFigures {
                turn,
                requests: s.requests_total,
                successful: s.successful,
                mean_input_tokens: if s.requests_total > 0 {
                    input_tokens as f64 / s.requests_total as f64
                } else {
                    0.0
                },
                ttft_p50_ms: s.ttft_ms.as_ref().map(|l| l.p50),
                ttft_p99_ms: s.ttft_ms.as_ref().map(|l| l.p99),
                e2e_p50_ms: s.e2e_ms.as_ref().map(|l| l.p50),
            }
        })
        .collect();
    out
}

impl Sessions {
    /// The figures from a run's records, when any carries a session.
    pub fn of(records: &[RequestRecord]) -> Option<Self> {
        let mut b = SessionsBuilder::default();
        records.iter().for_each(|r| b.add(r));
        (!b.is_empty()).then(|| b.finish())
    }

    /// `Sessions: 8 started, 6 completed, 1 failed, 1 cut; ...`.
    pub fn line(&self) -> String {
        let secs = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.2} s"));
        format!(
            "Sessions: {} started, {} completed, {} ended by a failed turn, {} cut by the stop; \
             {:.2} turns completed per session (max {}); duration of completed sessions p50 {}, p99 {}",
            self.started,
            self.completed,
            self.failed,
            self.cut,
            self.turns_completed_mean,
            self.turns_completed_max,
            secs(self.duration_p50_s),
            secs(self.duration_p99_s),
        )
    }

    /// The session line and the per-turn table, for the console.
    pub fn table(&self) -> String {
        use std::fmt::Write as _;
        let mut out = format!("{}\nPer turn:\n", self.line());
        let _ = writeln!(
            out,
            "  {:>4}  {:>8}  {:>8}  {:>10}  {:>10}  {:>10}  {:>10}",
            "turn", "requests", "success", "input tok", "TTFT p50", "TTFT p99", "E2E p50"
        );
        let ms = |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.1}"));
        for t in &self.by_turn {
            let _ = writeln!(
                out,
                "  {:>4}  {:>8}  {:>8}  {:>10.1}  {:>10}  {:>10}  {:>10}",
                t.turn,
                t.requests,
                t.successful,
                t.mean_input_tokens,
                ms(t.ttft_p50_ms),
                ms(t.ttft_p99_ms),
                ms(t.e2e_p50_ms),
            );
        }
        out.push_str("(latencies in ms)\n\n");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{ErrorClass, RequestError, SessionTurn};

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    fn turn(session: u64, turn: u32, turns: u32, at: u64, input: u64, ok: bool) -> RequestRecord {
        RequestRecord {
            scheduled_at: ms(at),
            sent_at: ms(at),
            token_times: vec![ms(at + 10 * u64::from(turn))],
            finished_at: Some(ms(at + 50)),
            ended_at: ms(at + 50),
            input_tokens: input,
            output_tokens: 3,
            streamed: true,
            error: (!ok).then(|| RequestError {
                class: ErrorClass::Http(500),
                message: "boom".into(),
            }),
            session: Some(SessionTurn { session, turn, turns }),
            ..RequestRecord::default()
        }
    }

    #[test]
    fn sessions_are_completed_failed_or_cut_and_turns_have_their_figures() {
        let records = vec![
            // Session 0: three turns, all good, 0 ms .. 1250 ms.
            turn(0, 1, 3, 0, 10, true),
            turn(0, 2, 3, 600, 25, true),
            turn(0, 3, 3, 1200, 40, true),
            // Session 1: the second turn fails.
            turn(1, 1, 3, 100, 10, true),
            turn(1, 2, 3, 700, 25, false),
            // Session 2: cut after its first turn.
            turn(2, 1, 3, 200, 12, true),
            // A record of no session is left out.
            RequestRecord::default(),
        ];
        let s = Sessions::of(&records).unwrap();
        assert_eq!((s.started, s.completed, s.failed, s.cut), (3, 1, 1, 1));
        assert_eq!(s.turns_completed_max, 3);
        assert!((s.turns_completed_mean - 5.0 / 3.0).abs() < 1e-9);
        assert_eq!(s.duration_p50_s, Some(1.25));
        assert_eq!(s.duration_p99_s, Some(1.25));
        let rows: Vec<(u32, u64, u64, f64)> = s
            .by_turn
            .iter()
            .map(|t| (t.turn, t.requests, t.successful, t.mean_input_tokens))
            .collect();
        assert_eq!(rows, [(1, 3, 3, 32.0 / 3.0), (2, 2, 1, 25.0), (3, 1, 1, 40.0)]);
        assert_eq!(s.by_turn[0].ttft_p50_ms, Some(10.0));
        assert_eq!(s.by_turn[2].ttft_p50_ms, Some(30.0));
        assert_eq!(s.by_turn[1].ttft_p50_ms, Some(20.0), "successful requests only");
        assert!(
            s.table().contains("1 ended by a failed turn, 1 cut by the stop"),
            "{}",
            s.table()
        );
        assert!(Sessions::of(&[RequestRecord::default()]).is_none());
    }

    #[test]
    fn shards_states_merge_into_the_figures_of_one_run() {
        // Six sessions of up to three turns, some failed, some cut.
        let mut records = Vec::new();
        for session in 0..6u64 {
            for t in 1..=3u32 {
                if session == 4 && t == 3 {
                    break; // cut
                }
                let ok = !(session == 2 && t == 2);
                records.push(turn(
                    session,
                    t,
                    3,
                    session * 100 + u64::from(t) * 700,
                    10 * u64::from(t),
                    ok,
                ));
                if !ok {
                    break;
                }
            }
        }
        let one = Sessions::of(&records).unwrap();
        // Sessions split by parity, as two shards own them; the second
        // shard's clock started 250 ms after the first's.
        let shift = Duration::from_millis(250);
        let mut a = SessionsBuilder::default();
        let mut b = SessionsBuilder::default();
        for r in &records {
            if r.session.unwrap().session % 2 == 0 {
                a.add(r);
            } else {
                let mut r = r.clone();
                r.scheduled_at -= shift;
                r.sent_at -= shift;
                r.ended_at -= shift;
                r.token_times.iter_mut().for_each(|t| *t -= shift);
                r.finished_at = r.finished_at.map(|t| t - shift);
                b.add(&r);
            }
        }
        let (sa, sb) = (a.state(), b.state());
        let merged = merge_states(&[(&sa, Duration::ZERO), (&sb, shift)]).unwrap();
        assert_eq!(merged, one);
        assert_eq!(
            (merged.started, merged.completed, merged.failed, merged.cut),
            (6, 4, 1, 1)
        );
    }
}
