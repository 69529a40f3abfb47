//! Multi-turn conversations: what each session of a conversation run says.
//!
//! A session is a [`Script`]: an optional opening (chat messages already in
//! the conversation) and a list of user turns. The engine sends turn `t` as
//! the whole conversation so far — every earlier user message and the reply
//! actually received for it — plus turn `t`'s new user message
//! ([`Conversation`]), so the prompt grows turn by turn as a chat client's
//! does. Scripts are a pure function of the session index and the seed,
//! like [`super::WorkItem`]s:
//! - the random dataset draws the session's number of turns from
//!   `--turns MIN..MAX` and sizes each new message as a random prompt
//!   (`--input-len`, `--range-ratio`; the output length drawn the same way);
//! - a ShareGPT file gives each session one conversation, its human turns in
//!   order (at most the drawn number), each turn's output length the length
//!   of the recorded reply that followed it;
//! - a JSONL line with `turns` (a list of user messages) is one session; a
//!   `prompt` line is a session of one turn, and a `messages` line one turn
//!   whose last message is the user's and whose others open the
//!   conversation.
//!
//! Why the received reply and not the recorded one goes into the history:
//! the server then sees exactly the prefix it produced itself, which is what
//! a prefix cache serves in production, and TTFT by turn shows it.

use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

use super::{mix, push_words, spread, ChatMessage, Prompt, Source, Workload};

/// How many turns a session has: a fixed count, or a uniform draw from
/// `min..=max` per session (`--turns 4`, `--turns 2..6`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TurnRange {
    pub min: u32,
    pub max: u32,
}

impl TurnRange {
    /// Parses `4` or `2..6`; both ends at least 1, the first not above the second.
    pub fn parse(s: &str) -> Result<Self, String> {
        let whole = |t: &str| -> Result<u32, String> {
            t.trim()
                .parse::<u32>()
                .map_err(|_| format!("`{s}` is not a number of turns (write N or MIN..MAX, e.g. 4 or 2..6)"))
        };
        let (min, max) = match s.split_once("..") {
            Some((a, b)) => (whole(a)?, whole(b)?),
            None => {
                let n = whole(s)?;
                (n, n)
            }
        };
        if min == 0 {
            return Err(format!("`{s}`: a session has at least 1 turn"));
        }
        if min > max {
            return Err(format!("`{s}`: the minimum is above the maximum (write MIN..MAX)"));
        }
        Ok(Self { min, max })
    }

    /// `4` or `2..6`, as it is written.
    pub fn text(&self) -> String {
        if self.min == self.max {
            self.min.to_string()
        } else {
            format!("{}..{}", self.min, self.max)
        }
    }

    /// The turns of session `session` (a pure function of the seed).
    fn draw(&self, seed: u64, session: u64) -> u32 {
        if self.min == self.max {
            return self.min;
        }
        let mut rng = StdRng::seed_from_u64(mix(seed ^ 0x7475_726E, session));
        rng.random_range(self.min..=self.max)
    }
}

/// A conversation run: sessions of several turns.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ConversationSpec {
    /// Turns per session (file conversations: at most this many).
    pub turns: TurnRange,
    /// The pause between a reply and the session's next turn, uniform in
    /// `[min, max]` (seconds in the JSON).
    #[serde(serialize_with = "ser_range")]
    pub turn_think: (Duration, Duration),
    /// Sessions to run (`--sessions`); `None`: until the request count or
    /// the duration is reached.
    pub sessions: Option<u64>,
}

fn ser_range<S: serde::Serializer>(t: &(Duration, Duration), s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeStruct;
    let mut st = s.serialize_struct("turn_think", 2)?;
    st.serialize_field("min_s", &t.0.as_secs_f64())?;
    st.serialize_field("max_s", &t.1.as_secs_f64())?;
    st.end()
}

impl ConversationSpec {
    /// `sessions of 2..6 turns, 1s..3s between turns`.
    pub fn describe(&self) -> String {
        use crate::units::format_duration as d;
        let count = self.sessions.map_or_else(String::new, |n| format!("{n} "));
        let think = if self.turn_think.1.is_zero() {
            "no pause between turns".to_string()
        } else {
            format!("{}..{} between turns", d(self.turn_think.0), d(self.turn_think.1))
        };
        format!("{count}sessions of {} turns, {think}", self.turns.text())
    }
}

/// One user turn of a script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnSpec {
    /// The new user message.
    pub message: String,
    /// Output length asked for this turn.
    pub max_tokens: Option<u64>,
}

/// What one session says: an opening (messages already in the
/// conversation, usually none) and its user turns, at least one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Script {
    pub opening: Vec<ChatMessage>,
    pub turns: Vec<TurnSpec>,
}

/// A file entry's conversation: its turns in order (see the module docs).
#[derive(Debug, Clone)]
pub(super) struct EntryTurns {
    pub(super) opening: Vec<ChatMessage>,
    pub(super) turns: Vec<TurnSpec>,
}

/// The conversation of a session as it goes: the messages sent so far and
/// the replies received.
#[derive(Debug, Clone, Default)]
pub struct Conversation {
    messages: Vec<ChatMessage>,
}

impl Conversation {
    pub fn new(opening: &[ChatMessage]) -> Self {
        Self {
            messages: opening.to_vec(),
        }
    }

    /// The prompt of the next turn: everything so far and the new user
    /// message (kept in the conversation).
    pub fn ask(&mut self, message: &str) -> Prompt {
        self.messages.push(ChatMessage {
            role: "user".into(),
            content: message.to_string(),
        });
        Prompt::Chat(self.messages.clone())
    }

    /// Keeps the reply received to the last message.
    pub fn answer(&mut self, reply: String) {
        self.messages.push(ChatMessage {
            role: "assistant".into(),
            content: reply,
        });
    }
}

impl Workload {
    /// Whether the workload can hold conversations: the random dataset, a
    /// ShareGPT file, or a JSONL file with at least one `turns` line. The
    /// error says why not (a fixed prompt, a task mix, a JSONL file of
    /// single prompts).
    pub fn check_conversations(&self) -> Result<(), String> {
        match &self.source {
            Source::Random { .. } | Source::Prepared { .. } => Ok(()),
            Source::PrefixRepetition { .. } => Err(
                "--turns does not work with the prefix_repetition dataset (each of its requests is one prompt)".into(),
            ),
            Source::Trace(_) => {
                Err("--turns does not work with a trace: a trace's requests are replayed as they were".into())
            }
            Source::Mix(_) => Err("--turns does not work with a scenario's task mix".into()),
            Source::Entries { entries, what } => {
                if entries
                    .iter()
                    .any(|e| e.turns.as_ref().is_some_and(|t| t.turns.len() > 1))
                {
                    return Ok(());
                }
                match &self.spec.dataset {
                    super::DatasetSpec::Prompt { .. } => Err(
                        "--turns needs a dataset of conversations: the random dataset, a ShareGPT file, or a JSONL file with `turns` lists; a fixed --prompt has one message"
                            .into(),
                    ),
                    super::DatasetSpec::Jsonl { path } => Err(format!(
                        "--turns: {} has no line with a `turns` list of two or more user messages, so it holds no conversation",
                        path.display()
                    )),
                    _ => Err(format!("--turns: {what} holds no conversation of two or more turns")),
                }
            }
        }
    }

    /// The script of session `session` (a pure function of the index and
    /// the seed), with at most `turns.max` turns and, for the random
    /// dataset, a draw from `turns`.
    pub fn session(&self, session: u64, turns: TurnRange) -> Script {
        let mut script = self.own_session(session, turns);
        // The shared system prompt opens every conversation, as it leads
        // every single prompt.
        if let Some(system) = &self.system {
            script.opening.insert(
                0,
                ChatMessage {
                    role: "system".into(),
                    content: system.text.clone(),
                },
            );
        }
        script
    }

    fn own_session(&self, session: u64, turns: TurnRange) -> Script {
        let n = turns.draw(self.spec.seed, session);
        match &self.source {
            Source::Random {
                input_len,
                output_len,
                range_ratio,
            } => {
                let mut rng = StdRng::seed_from_u64(mix(self.spec.seed ^ 0x5345_5353, session));
                let turns = (0..n)
                    .map(|_| {
                        let n_in = spread(&mut rng, *input_len, *range_ratio);
                        let n_out = spread(&mut rng, *output_len, *range_ratio);
                        let mut message = String::with_capacity(n_in as usize * 8);
                        push_words(&mut message, &mut rng, n_in);
                        TurnSpec {
                            message,
                            max_tokens: Some(n_out),
                        }
                    })
                    .collect();
                Script {
                    opening: Vec::new(),
                    turns,
                }
            }
            Source::Entries { entries, .. } => {
                let e = &entries[(session % entries.len() as u64) as usize];
                let out = |t: &TurnSpec| TurnSpec {
                    message: t.message.clone(),
                    max_tokens: self
                        .spec
                        .max_tokens
                        .or(t.max_tokens)
                        .or(Some(super::DEFAULT_MAX_TOKENS)),
                };
                match &e.turns {
                    Some(c) => Script {
                        opening: c.opening.clone(),
                        turns: c.turns.iter().take(n as usize).map(out).collect(),
                    },
                    None => Script {
                        opening: Vec::new(),
                        turns: vec![out(&TurnSpec {
                            message: match &e.prompt {
                                Prompt::Text(t) => t.clone(),
                                Prompt::Chat(m) => m.last().map(|m| m.content.clone()).unwrap_or_default(),
                            },
                            max_tokens: e.max_tokens,
                        })],
                    },
                }
            }
            // Token-exact prompts made ahead: session s takes its turns'
            // messages from consecutive prepared prompts.
            Source::Prepared { items, .. } => Script {
                opening: Vec::new(),
                turns: (0..n)
                    .map(|k| {
                        let p = &items[((session * turns.max as u64 + k as u64) % items.len() as u64) as usize];
                        TurnSpec {
                            message: p.text.clone(),
                            max_tokens: Some(p.output_tokens),
                        }
                    })
                    .collect(),
            },
            // Refused before any load by `check_conversations`.
            Source::Mix(m) => m.tasks[0].own_session(session, turns),
            Source::PrefixRepetition { .. } | Source::Trace(_) => {
                let item = self.item(session);
                Script {
                    opening: Vec::new(),
                    turns: vec![TurnSpec {
                        message: match item.prompt {
                            Prompt::Text(t) => t,
                            Prompt::Chat(m) => m.last().map(|m| m.content.clone()).unwrap_or_default(),
                        },
                        max_tokens: item.max_tokens,
                    }],
                }
            }
        }
    }
}

/// The turns of a JSONL `turns` list; the error says what is wrong.
pub(super) fn jsonl_turns(v: &serde_json::Value, max_tokens: Option<u64>) -> Result<EntryTurns, String> {
    let list = v
        .as_array()
        .filter(|l| !l.is_empty())
        .ok_or("`turns` must be a non-empty list of user messages (strings)")?;
    let turns = list
        .iter()
        .map(|t| {
            t.as_str().map(|m| TurnSpec {
                message: m.to_string(),
                max_tokens,
            })
        })
        .collect::<Option<Vec<_>>>()
        .ok_or("`turns` must be a list of strings (the user's messages, in order)")?;
    Ok(EntryTurns {
        opening: Vec::new(),
        turns,
    })
}

/// A `messages` line as a conversation: its last message is the turn's,
/// the others open the conversation.
pub(super) fn messages_turns(m: &[ChatMessage], max_tokens: Option<u64>) -> EntryTurns {
    let (last, opening) = m.split_last().expect("checked non-empty");
    EntryTurns {
        opening: opening.to_vec(),
        turns: vec![TurnSpec {
            message: last.content.clone(),
            max_tokens,
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::spec;
    use super::super::DatasetSpec;
    use super::*;

    #[test]
    fn turn_counts_parse_and_bad_ones_are_named() {
        assert_eq!(TurnRange::parse("4"), Ok(TurnRange { min: 4, max: 4 }));
        assert_eq!(TurnRange::parse("2..6"), Ok(TurnRange { min: 2, max: 6 }));
        assert_eq!(TurnRange::parse("2..6").unwrap().text(), "2..6");
        assert!(TurnRange::parse("0").unwrap_err().contains("at least 1 turn"));
        assert!(TurnRange::parse("0..3").unwrap_err().contains("at least 1 turn"));
        assert!(TurnRange::parse("6..2").unwrap_err().contains("minimum is above"));
        assert!(TurnRange::parse("two").unwrap_err().contains("not a number of turns"));
        assert!(TurnRange::parse("1..").is_err());
        assert!(TurnRange::parse("-1").is_err());
    }

    #[test]
    fn random_sessions_draw_their_turns_and_sized_messages() {
        let w = Workload::load(&spec(DatasetSpec::Random {
            input_len: 12,
            output_len: 5,
            range_ratio: 0.0,
        }))
        .unwrap();
        let range = TurnRange { min: 2, max: 6 };
        let mut counts = std::collections::BTreeSet::new();
        for s in 0..200 {
            let script = w.session(s, range);
            assert!((2..=6).contains(&script.turns.len()));
            counts.insert(script.turns.len());
            for t in &script.turns {
                assert_eq!(crate::workload::tokens::count_tokens(&t.message), 12);
                assert_eq!(t.max_tokens, Some(5));
            }
            assert_eq!(w.session(s, range), script, "a pure function of the index");
        }
        assert_eq!(counts.len(), 5, "every count is drawn: {counts:?}");
        assert_ne!(w.session(0, range).turns[0], w.session(1, range).turns[0]);
        assert_eq!(w.check_conversations(), Ok(()));
    }

    #[test]
    fn the_conversation_carries_every_message_and_reply() {
        let mut c = Conversation::new(&[]);
        assert_eq!(
            c.ask("hello there"),
            Prompt::Chat(vec![ChatMessage {
                role: "user".into(),
                content: "hello there".into()
            }])
        );
        c.answer(" hi you".into());
        let Prompt::Chat(m) = c.ask("and then") else {
            panic!("chat")
        };
        let roles: Vec<&str> = m.iter().map(|m| m.role.as_str()).collect();
        assert_eq!(roles, ["user", "assistant", "user"]);
        assert_eq!(m[1].content, " hi you");
        assert_eq!(Prompt::Chat(m).tokens(), 6);
    }

    #[test]
    fn sharegpt_sessions_follow_their_conversations() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sg.json");
        std::fs::write(
            &path,
            r#"[{"conversations": [{"from": "system", "value": "be brief"},
                                   {"from": "human", "value": "one"}, {"from": "gpt", "value": "a b"},
                                   {"from": "human", "value": "two two"}, {"from": "gpt", "value": "c d e"},
                                   {"from": "human", "value": "three"}, {"from": "gpt", "value": "f"}]}]"#,
        )
        .unwrap();
        let w = Workload::load(&spec(DatasetSpec::ShareGpt { path })).unwrap();
        assert_eq!(w.check_conversations(), Ok(()));
        let s = w.session(0, TurnRange { min: 8, max: 8 });
        let got: Vec<(&str, Option<u64>)> = s.turns.iter().map(|t| (t.message.as_str(), t.max_tokens)).collect();
        assert_eq!(got, [("one", Some(2)), ("two two", Some(3)), ("three", Some(1))]);
        assert_eq!(s.opening.len(), 0);
        assert_eq!(
            w.session(0, TurnRange { min: 2, max: 2 }).turns.len(),
            2,
            "at most --turns"
        );
        assert_eq!(w.item(0).input_tokens, 1, "a single request is still the first turn");
    }

    #[test]
    fn jsonl_turns_lines_are_sessions_and_other_datasets_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.jsonl");
        std::fs::write(
            &path,
            "{\"turns\": [\"hi\", \"tell me more\"], \"max_tokens\": 4}\n{\"prompt\": \"alone\"}\n",
        )
        .unwrap();
        let w = Workload::load(&spec(DatasetSpec::Jsonl { path: path.clone() })).unwrap();
        assert_eq!(w.check_conversations(), Ok(()));
        let range = TurnRange { min: 5, max: 5 };
        let a = w.session(0, range);
        assert_eq!(
            a.turns,
            [
                TurnSpec {
                    message: "hi".into(),
                    max_tokens: Some(4)
                },
                TurnSpec {
                    message: "tell me more".into(),
                    max_tokens: Some(4)
                }
            ]
        );
        assert_eq!(w.session(1, range).turns.len(), 1, "a prompt line is one turn");
        assert_eq!(w.item(0).prompt, Prompt::Text("hi".into()));

        for (body, needle) in [
            ("{\"turns\": []}\n", "c.jsonl:1: `turns` must be a non-empty list"),
            (
                "{\"turns\": [\"a\", 3]}\n",
                "c.jsonl:1: `turns` must be a list of strings",
            ),
            ("{\"turns\": [\"a\"], \"prompt\": \"b\"}\n", "c.jsonl:1: give one of"),
        ] {
            std::fs::write(&path, body).unwrap();
            let err = Workload::load(&spec(DatasetSpec::Jsonl { path: path.clone() }))
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{err} lacks {needle}");
        }
        std::fs::write(&path, "{\"prompt\": \"a\"}\n").unwrap();
        let w = Workload::load(&spec(DatasetSpec::Jsonl { path })).unwrap();
        assert!(w
            .check_conversations()
            .unwrap_err()
            .contains("no line with a `turns` list"));
        let w = Workload::load(&spec(DatasetSpec::Prompt { text: "hi".into() })).unwrap();
        assert!(w.check_conversations().unwrap_err().contains("fixed --prompt"));
    }
}
