//! Conversation runs (`--turns`, `--turn-think-time`, `--sessions`):
//! which combinations work, and the stop rule.
//!
//! The rule on counts: `--requests N` counts requests, that is turns, as
//! everywhere else (a session still going when the count is reached ends
//! there, cut); `--sessions N` runs N whole sessions instead, and cannot
//! be given with `--requests`. Without either (and without `--duration`)
//! the default request count applies.

use super::{bad_at, PlanError, RunOptions, Stop};
use crate::api::ApiKind;
use crate::schedule::ThinkRange;
use crate::workload::conversation::ConversationSpec;
use crate::workload::DatasetSpec;

/// The conversation spec, when `--turns` is given; the stop loses its
/// default request count under `--sessions`.
pub(super) fn resolve(
    o: &RunOptions,
    api: ApiKind,
    dataset: &DatasetSpec,
    stop: &mut Stop,
) -> Result<Option<ConversationSpec>, PlanError> {
    let a = &o.load;
    let Some(turns) = a.turns else {
        if a.turn_think_time.is_some() {
            return Err(bad_at(
                "load.turn_think_time",
                "--turn-think-time needs --turns (it paces the turns of a conversation)",
            ));
        }
        if a.sessions.is_some() {
            return Err(bad_at(
                "load.sessions",
                "--sessions needs --turns (it counts conversation sessions)",
            ));
        }
        return Ok(None);
    };
    if !matches!(api, ApiKind::OpenaiChat | ApiKind::OpenaiCompletions | ApiKind::Tgi) {
        return Err(bad_at(
            "load.turns",
            format!(
                "--turns needs a text-generation API (openai-chat, openai-completions, tgi), not --api {}",
                crate::units::Choice::name(api)
            ),
        ));
    }
    if matches!(dataset, DatasetSpec::Prompt { .. }) {
        return Err(bad_at(
            "load.turns",
            "--turns needs a dataset of conversations (random, ShareGPT, or JSONL with `turns`); a fixed --prompt has one message",
        ));
    }
    if a.shard.is_some() || a.shards.is_some() {
        return Err(bad_at(
            "load.turns",
            "--turns does not work with --shard: a session's turns must stay in one process",
        ));
    }
    let sessions = match a.sessions {
        Some(0) => return Err(bad_at("load.sessions", "--sessions must be at least 1")),
        Some(n) => {
            if a.requests.is_some() {
                return Err(bad_at(
                    "load.sessions",
                    "give --sessions (whole sessions) or --requests (turns), not both",
                ));
            }
            // The default request count would cut the sessions short.
            stop.requests = None;
            Some(n)
        }
        None => None,
    };
    let think = a
        .turn_think_time
        .unwrap_or(ThinkRange(Default::default(), Default::default()));
    Ok(Some(ConversationSpec {
        turns,
        turn_think: (think.0, think.1),
        sessions,
    }))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::RunPlan;
    use super::*;
    use crate::workload::conversation::TurnRange;

    fn plan(f: impl FnOnce(&mut RunOptions)) -> Result<RunPlan, PlanError> {
        let mut o = RunOptions::default();
        f(&mut o);
        RunPlan::resolve(&o)
    }

    fn refused(f: impl FnOnce(&mut RunOptions), needle: &str, key: &str) {
        let e = plan(f).expect_err("refused");
        assert!(e.message.contains(needle), "{e} lacks {needle}");
        assert_eq!(e.key, Some(key), "{e}");
    }

    #[test]
    fn turns_make_a_conversation_and_sessions_replace_the_request_count() {
        let p = plan(|o| o.load.turns = Some(TurnRange { min: 2, max: 6 })).unwrap();
        let c = p.conversation.unwrap();
        assert_eq!(
            (c.turns, c.sessions, c.turn_think),
            (TurnRange { min: 2, max: 6 }, None, Default::default())
        );
        assert_eq!(
            p.stop.requests,
            Some(super::super::defaults::REQUESTS),
            "--requests counts turns"
        );
        let p = plan(|o| {
            o.load.turns = Some(TurnRange { min: 3, max: 3 });
            o.load.sessions = Some(5);
            o.load.turn_think_time = Some(ThinkRange(Duration::from_secs(1), Duration::from_secs(3)));
        })
        .unwrap();
        assert_eq!(p.stop.requests, None);
        let c = p.conversation.unwrap();
        assert_eq!(c.sessions, Some(5));
        assert_eq!(c.turn_think, (Duration::from_secs(1), Duration::from_secs(3)));
        assert!(plan(|_| {}).unwrap().conversation.is_none());
    }

    #[test]
    fn bad_conversation_settings_are_refused_by_name() {
        let two = Some(TurnRange { min: 2, max: 2 });
        refused(
            |o| o.load.turn_think_time = Some(ThinkRange(Duration::ZERO, Duration::ZERO)),
            "--turn-think-time needs --turns",
            "load.turn_think_time",
        );
        refused(
            |o| o.load.sessions = Some(3),
            "--sessions needs --turns",
            "load.sessions",
        );
        refused(
            |o| {
                o.load.turns = two;
                o.load.sessions = Some(0)
            },
            "--sessions must be at least 1",
            "load.sessions",
        );
        refused(
            |o| {
                o.load.turns = two;
                o.load.sessions = Some(2);
                o.load.requests = Some(10)
            },
            "not both",
            "load.sessions",
        );
        refused(
            |o| {
                o.load.turns = two;
                o.workload.prompt = Some("hello".into())
            },
            "fixed --prompt",
            "load.turns",
        );
        refused(
            |o| {
                o.load.turns = two;
                o.target.api = Some(ApiKind::OpenaiImages)
            },
            "not --api openai-images",
            "load.turns",
        );
        refused(
            |o| {
                o.load.turns = two;
                o.load.shard = Some("0/2".into())
            },
            "--shard",
            "load.turns",
        );
    }

    #[test]
    fn scenario_files_say_it_under_load() {
        let o: RunOptions =
            toml::from_str("[load]\nturns = \"2..4\"\nturn_think_time = \"1s..2s\"\nsessions = 7\n").unwrap();
        let c = RunPlan::resolve(&o).unwrap().conversation.unwrap();
        assert_eq!((c.turns.min, c.turns.max, c.sessions), (2, 4, Some(7)));
        let o: RunOptions = toml::from_str("[load]\nturns = 3\n").unwrap();
        assert_eq!(o.load.turns, Some(TurnRange { min: 3, max: 3 }));
        for bad in ["turns = 0", "turns = \"5..2\"", "turns = \"many\""] {
            let e = toml::from_str::<RunOptions>(&format!("[load]\n{bad}\n")).unwrap_err();
            assert!(e.to_string().contains("turn"), "{bad}: {e}");
        }
    }
}
