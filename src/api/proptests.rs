//! Property tests of what the adapters read from the network.
//!
//! A network may cut a body anywhere: between events, inside a line ending,
//! inside a multi-byte UTF-8 character. The first properties build valid
//! event streams (and each streaming adapter's own stream of token events),
//! cut them at arbitrary byte positions, and check that the decoded events
//! and the generated text are exactly those of the uncut stream. The last
//! ones feed arbitrary bytes — raw, and built from JSON-like fragments so
//! the parsers get past their first byte — to every adapter's stream,
//! body and job parsers: anything may be refused, nothing may panic.

use std::time::Duration;

use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::json;

use super::http::{HttpJson, HttpSpec, ImagesAt, JobSpec};
use super::openai::OpenAi;
use super::sse::SseDecoder;
use super::tgi::Tgi;
use super::ApiAdapter;

/// Characters of every UTF-8 length, weighted toward the multi-byte ones
/// (the cuts that could land inside a character), without line breaks.
fn text_char() -> impl Strategy<Value = char> {
    prop_oneof![
        prop::sample::select(vec!['a', ' ', 'é', 'ß', '€', '中', '語', '😀', '𝄞', '"', '\\', ':']),
        any::<char>().prop_filter("no line breaks", |c| *c != '\n' && *c != '\r'),
    ]
}

fn text(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(text_char(), 0..max).prop_map(|v| v.into_iter().collect())
}

/// One line of an event: a `data:` field, a comment, or another field.
#[derive(Debug, Clone)]
enum Line {
    Data(String),
    Comment(String),
    Other(String),
}

fn line() -> impl Strategy<Value = Line> {
    prop_oneof![
        6 => text(12).prop_map(Line::Data),
        1 => text(8).prop_map(Line::Comment),
        1 => text(8).prop_map(Line::Other),
    ]
}

/// A valid stream: events of one or more lines, each line ended by `\n` or
/// `\r\n` as the flag says, each event by a blank line.
fn stream() -> impl Strategy<Value = Vec<Vec<(Line, bool)>>> {
    prop::collection::vec(prop::collection::vec((line(), any::<bool>()), 1..4), 0..8)
}

fn encode(events: &[Vec<(Line, bool)>]) -> Vec<u8> {
    let mut out = Vec::new();
    for event in events {
        let mut crlf_last = false;
        for (line, crlf) in event {
            match line {
                Line::Data(v) => out.extend_from_slice(format!("data: {v}").as_bytes()),
                Line::Comment(v) => out.extend_from_slice(format!(":{v}").as_bytes()),
                Line::Other(v) => out.extend_from_slice(format!("event: {v}").as_bytes()),
            }
            out.extend_from_slice(if *crlf { b"\r\n" } else { b"\n" });
            crlf_last = *crlf;
        }
        out.extend_from_slice(if crlf_last { b"\r\n" } else { b"\n" });
    }
    out
}

/// What the stream carries: for each event with data, its lines joined by `\n`.
fn expected(events: &[Vec<(Line, bool)>]) -> Vec<Vec<u8>> {
    events
        .iter()
        .filter_map(|event| {
            let data: Vec<&str> = event
                .iter()
                .filter_map(|(l, _)| match l {
                    Line::Data(v) => Some(v.as_str()),
                    _ => None,
                })
                .collect();
            (!data.is_empty()).then(|| data.join("\n").into_bytes())
        })
        .collect()
}

/// Sorted, distinct cut positions inside `len` bytes.
fn cut_points(cuts: &[Index], len: usize) -> Vec<usize> {
    let mut at: Vec<usize> = cuts.iter().map(|i| i.index(len + 1)).collect();
    at.sort_unstable();
    at.dedup();
    at
}

/// Decodes `body` cut at `cuts`; the events in order, and whether
/// anything was left over at the end.
fn decode_cut(body: &[u8], cuts: &[usize]) -> (Vec<Vec<u8>>, bool) {
    let mut d = SseDecoder::new();
    let mut out = Vec::new();
    let mut start = 0;
    for &end in cuts.iter().chain(std::iter::once(&body.len())) {
        d.feed(&body[start..end], |p| out.push(p.to_vec()));
        start = end;
    }
    let left = d.finish(|p| out.push(p.to_vec()));
    (out, left)
}

/// The events of a streaming adapter for the given tokens, as JSON lines.
fn token_events(api: &str, tokens: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    match api {
        "chat" => {
            out.push(json!({"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": null}]}));
            for t in tokens {
                out.push(json!({"choices": [{"index": 0, "delta": {"content": t}, "finish_reason": null}]}));
            }
            out.push(json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}));
            out.push(json!({"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": tokens.len()}}));
        }
        "completions" => {
            for t in tokens {
                out.push(json!({"choices": [{"index": 0, "text": t, "finish_reason": null}]}));
            }
            out.push(json!({"choices": [{"index": 0, "text": "", "finish_reason": "length"}]}));
        }
        _ => {
            for (i, t) in tokens.iter().enumerate() {
                out.push(json!({"token": {"id": i, "text": t, "logprob": -0.5, "special": false}}));
            }
            out.push(json!({"token": {"id": 0, "text": "</s>", "special": true}, "generated_text": tokens.concat(), "details": {"generated_tokens": tokens.len() + 1}}));
        }
    }
    let mut lines: Vec<String> = out.iter().map(|v| v.to_string()).collect();
    if api != "tgi" {
        lines.push("[DONE]".into());
    }
    lines
}

fn streaming_adapter(api: &str) -> Box<dyn ApiAdapter> {
    match api {
        "chat" => Box::new(OpenAi::chat()),
        "completions" => Box::new(OpenAi::completions()),
        _ => Box::new(Tgi),
    }
}

/// Every adapter, and every job protocol, configured as users configure them.
fn all_adapters() -> Vec<Box<dyn ApiAdapter>> {
    let url = "http://127.0.0.1:8000/generate";
    let http = |spec: HttpSpec| -> Box<dyn ApiAdapter> {
        Box::new(HttpJson::new(spec, url).expect("built-in templates compile"))
    };
    vec![
        Box::new(OpenAi::chat()),
        Box::new(OpenAi::completions()),
        Box::new(Tgi),
        http(HttpSpec::default_http()),
        http(HttpSpec::openai_images()),
        http(HttpSpec {
            checks: vec![
                super::http::Check::parse("/status=ok").expect("check"),
                super::http::Check::parse("/result/0").expect("check"),
            ],
            images: ImagesAt::Pointer("/result/images".into()),
            require_images: false,
            ..HttpSpec::default_http()
        }),
        http(HttpSpec {
            job: Some(JobSpec::defaults(Duration::from_secs(5))),
            ..HttpSpec::default_http()
        }),
    ]
}

/// Bytes built from JSON fragments and the keys the adapters look for, with
/// raw bytes between, so that parsers get past the first byte.
fn jsonish() -> impl Strategy<Value = Vec<u8>> {
    let fragment = prop_oneof![
        prop::sample::select(vec![
            "{",
            "}",
            "[",
            "]",
            ":",
            ",",
            "\"",
            "null",
            "true",
            "-1",
            "1e999",
            "0.5",
            "18446744073709551616",
            "\"choices\"",
            "\"delta\"",
            "\"content\"",
            "\"text\"",
            "\"message\"",
            "\"finish_reason\"",
            "\"usage\"",
            "\"completion_tokens\"",
            "\"prompt_tokens\"",
            "\"error\"",
            "\"object\"",
            "\"token\"",
            "\"special\"",
            "\"generated_text\"",
            "\"details\"",
            "\"generated_tokens\"",
            "\"data\"",
            "\"image\"",
            "\"images\"",
            "\"result\"",
            "\"job_id\"",
            "\"status\"",
            "\"done\"",
            "\"failed\"",
            "\\u00e9",
            "\\ud800",
            "é",
            "😀",
            "data: ",
            "\n",
            "\r\n",
            "\n\n",
            "[DONE]",
        ])
        .prop_map(|s| s.as_bytes().to_vec()),
        prop::collection::vec(any::<u8>(), 0..4),
    ];
    prop::collection::vec(fragment, 0..48).prop_map(|v| v.concat())
}

/// Feeds `bytes` to every parser of every adapter; only panics fail.
fn parse_everything(adapters: &[Box<dyn ApiAdapter>], bytes: &[u8], cuts: &[usize]) {
    let (events, _) = decode_cut(bytes, cuts);
    for a in adapters {
        let _ = a.parse_body(bytes);
        let _ = a.parse_event(bytes);
        for e in &events {
            let _ = a.parse_event(e);
        }
        if let Some(jobs) = a.jobs() {
            let _ = jobs.job_id(bytes);
            let _ = jobs.status(bytes);
        }
    }
    let _ = super::error_message(bytes);
}

/// Optional white space, as servers and proxies may put it.
fn ws() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["", "", "", " ", "\n", " \t"])
}

/// A JSON string as text: escaped by serde_json (control characters as
/// `\u`), or written with the escapes the fast reader decodes or refuses.
fn json_string() -> impl Strategy<Value = String> {
    let common = prop::sample::select(vec![
        'a', ' ', 'é', 'ß', '€', '中', '😀', '"', '\\', ':', '/', '\n', '\t',
    ]);
    prop_oneof![
        8 => prop::collection::vec(common, 0..8)
            .prop_map(|v| serde_json::to_string(&v.into_iter().collect::<String>()).expect("a string")),
        2 => text(8).prop_map(|t| serde_json::to_string(&t).expect("a string")),
        1 => prop::sample::select(vec![
            r#""a\"b""#, r#""x\ny\/z""#, r#""\u00e9""#, r#""\ud800""#, "\"tab\tin\"", r#""bad\q""#, "\"open",
        ])
        .prop_map(String::from),
    ]
}

/// Any JSON value (and some that are not quite JSON), as text.
fn json_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        json_string(),
        prop::sample::select(vec![
            "null", "true", "false", "0", "-1.5e3", "12", "1e999", "01", "nul", "-"
        ])
        .prop_map(String::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec((json_string(), inner), 0..4).prop_map(|m| {
                let members: Vec<String> = m.into_iter().map(|(k, v)| format!("{k}:{v}")).collect();
                format!("{{{}}}", members.join(","))
            }),
        ]
    })
}

/// An object of the given members (`(key, value)`), in any order and with
/// any repeats the strategy drew, with white space around each part.
fn json_object(members: impl Strategy<Value = (String, String)>, max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec((members, ws(), ws(), ws()), 0..max).prop_map(|m| {
        let members: Vec<String> = m
            .into_iter()
            .map(|((k, v), a, b, c)| format!("{a}{k}{b}:{c}{v}"))
            .collect();
        format!("{{{}}}", members.join(","))
    })
}

fn member(key: &'static str, values: impl Strategy<Value = String>) -> impl Strategy<Value = (String, String)> {
    values.prop_map(move |v| (format!("\"{key}\""), v))
}

fn one_of(values: Vec<&'static str>) -> impl Strategy<Value = String> {
    prop::sample::select(values).prop_map(String::from)
}

/// The value of a text member: mostly a string, sometimes null or not text.
fn text_value() -> impl Strategy<Value = String> {
    prop_oneof![12 => json_string(), 1 => one_of(vec!["null", "5", "[]"])]
}

/// A `delta` (or `message`): OpenAI's text members, tool calls, a role,
/// and anything else.
fn json_delta() -> impl Strategy<Value = String> {
    let members = prop_oneof![
        6 => member("content", text_value()),
        2 => member("reasoning_content", text_value()),
        2 => member("reasoning", text_value()),
        2 => member("role", one_of(vec![r#""assistant""#, "null"])),
        1 => member("tool_calls", one_of(vec!["null", "null", "null", "[]", r#"[{"index":0,"function":{"name":"f","arguments":"{\"a\":1}"}}]"#])),
        1 => member("function_call", one_of(vec!["null", "null", "null", r#"{"arguments":"x"}"#])),
        1 => (json_string(), json_value()),
    ];
    prop_oneof![12 => json_object(members, 4), 1 => one_of(vec!["null", "5", "\"x\""])]
}

/// One element of `choices`.
fn json_choice() -> impl Strategy<Value = String> {
    let members = prop_oneof![
        3 => member("index", one_of(vec!["0", "1", "-0", "0.0"])),
        10 => member("delta", json_delta()),
        3 => member("text", text_value()),
        4 => member("finish_reason", prop_oneof![
            8 => one_of(vec!["null", "null", "null", r#""length""#, r#""stop""#]),
            1 => one_of(vec!["1", "{}", r#""\u0041""#]),
        ]),
        2 => member("logprobs", one_of(vec!["null", "{}"])),
        1 => member("message", json_delta()),
        1 => (json_string(), json_value()),
    ];
    prop_oneof![12 => json_object(members, 6), 1 => one_of(vec!["null", "[]", "1"])]
}

/// A streamed event of the OpenAI APIs, or something near one: the
/// members servers send, in any order, with nulls, repeats, unknown
/// members, usages, errors, bad values and trailing bytes.
fn json_event() -> impl Strategy<Value = String> {
    let members = prop_oneof![
        2 => member("id", json_string()),
        2 => member("object", one_of(vec![r#""chat.completion.chunk""#, r#""text_completion""#, r#""error""#, "null", "1"])),
        2 => member("created", one_of(vec!["1764583000", "1.5", "-3"])),
        2 => member("model", json_string()),
        16 => member("choices", prop_oneof![
            8 => prop::collection::vec(json_choice(), 0..3).prop_map(|c| format!("[{}]", c.join(","))),
            1 => one_of(vec!["null", "[]", "{}", "5"]),
        ]),
        2 => member("usage", one_of(vec!["null", "null", "null", r#"{"prompt_tokens":1,"completion_tokens":2}"#, r#""x""#])),
        1 => member("error", one_of(vec!["null", "null", "null", r#"{"message":"boom"}"#])),
        1 => (json_string(), json_value()),
    ];
    (
        json_object(members, 6),
        one_of(vec!["", "", "", "", "", " ", "\n", "x", "}", ","]),
    )
        .prop_map(|(event, tail)| format!("{event}{tail}"))
}

/// A string as serde_json writes it, of the characters generated text is
/// made of (quotes, backslashes and line breaks escaped).
fn text_string() -> impl Strategy<Value = String> {
    let chars = prop::sample::select(vec![
        'a', ' ', 'é', 'ß', '€', '中', '😀', '"', '\\', ':', '/', '\n', '\t',
    ]);
    prop::collection::vec(chars, 0..8)
        .prop_map(|v| serde_json::to_string(&v.into_iter().collect::<String>()).expect("a string"))
}

/// Valid JSON of any kind, as text.
fn valid_json_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        text_string(),
        one_of(vec!["null", "true", "false", "0", "-1.5e3", "12", "1e999", "0.25E-2"]),
    ];
    leaf.prop_recursive(3, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(|v| format!("[{}]", v.join(","))),
            prop::collection::vec((text_string(), inner), 0..3).prop_map(|m| {
                let members: Vec<String> = m.into_iter().map(|(k, v)| format!("{k}:{v}")).collect();
                format!("{{{}}}", members.join(","))
            }),
        ]
    })
}

/// An object of these members in a random order, white space around.
fn shuffled_object(members: Vec<String>) -> impl Strategy<Value = String> {
    (Just(members).prop_shuffle(), ws(), ws())
        .prop_map(|(m, a, b)| format!("{{{a}{}{b}}}", m.join(&format!("{b},{a}"))))
}

/// A token event as servers write it: valid JSON with the usual members
/// in any order, text with escapes, reasoning, nulls, and members of any
/// kind the reader must skip.
fn token_event() -> impl Strategy<Value = String> {
    let delta = (text_string(), text_string(), any::<[bool; 4]>()).prop_flat_map(|(t, r, f)| {
        let mut m = vec![format!("\"content\":{t}")];
        if f[0] {
            m.push(r#""role":"assistant""#.into());
        }
        if f[1] {
            m.push(format!("\"reasoning_content\":{r}"));
        }
        if f[2] {
            m.push(format!("\"reasoning\":{}", if f[3] { r.as_str() } else { "null" }));
        }
        if f[3] {
            m.push(r#""tool_calls":null"#.into());
        }
        shuffled_object(m)
    });
    let choice = (
        delta,
        one_of(vec!["null", "null", r#""length""#, r#""stop""#]),
        text_string(),
        any::<[bool; 2]>(),
    )
        .prop_flat_map(|(delta, finish, text, f)| {
            let mut m = vec![
                "\"index\":0".to_string(),
                format!("\"delta\":{delta}"),
                format!("\"finish_reason\":{finish}"),
            ];
            if f[0] {
                m.push("\"logprobs\":null".into());
            }
            if f[1] {
                m.push(format!("\"text\":{text}"));
            }
            shuffled_object(m)
        });
    (
        prop::collection::vec(choice, 1..3),
        valid_json_value(),
        text_string(),
        any::<[bool; 3]>(),
    )
        .prop_flat_map(|(choices, extra, model, f)| {
            let mut m = vec![
                r#""id":"chatcmpl-7""#.to_string(),
                format!("\"choices\":[{}]", choices.join(",")),
                format!("\"model\":{model}"),
            ];
            if f[0] {
                m.push(r#""object":"chat.completion.chunk""#.into());
                m.push("\"created\":1764583000".into());
            }
            if f[1] {
                m.push("\"usage\":null".into());
            }
            if f[2] {
                m.push(format!("\"system_fingerprint\":{extra}"));
            }
            shuffled_object(m)
        })
}

proptest! {
    /// On token events as servers write them, the fast reader gives what
    /// serde_json gives.
    #[test]
    fn the_fast_event_reader_agrees_with_serde_on_token_events(event in token_event()) {
        if let Some(fast) = super::openai::scan_event(event.as_bytes()) {
            prop_assert_eq!(Ok(fast), super::openai::parse_event_serde(event.as_bytes()), "{}", event);
        }
    }

    /// The fast reader of streamed events gives exactly what serde_json
    /// gives, on every event it reads itself (it leaves the others to
    /// serde_json).
    #[test]
    fn the_fast_event_reader_agrees_with_serde(event in json_event()) {
        if let Some(fast) = super::openai::scan_event(event.as_bytes()) {
            prop_assert_eq!(Ok(fast), super::openai::parse_event_serde(event.as_bytes()), "{}", event);
        }
    }

    #[test]
    fn the_fast_event_reader_agrees_with_serde_on_json_like_bytes(bytes in jsonish()) {
        if let Some(fast) = super::openai::scan_event(&bytes) {
            prop_assert_eq!(Ok(fast), super::openai::parse_event_serde(&bytes));
        }
    }

    #[test]
    fn any_cuts_give_the_same_events(events in stream(), cuts in prop::collection::vec(any::<Index>(), 0..24)) {
        let body = encode(&events);
        let want = expected(&events);
        let (whole, left) = decode_cut(&body, &[]);
        prop_assert_eq!(&whole, &want);
        prop_assert!(!left, "a terminated stream leaves nothing over");
        let (cut, _) = decode_cut(&body, &cut_points(&cuts, body.len()));
        prop_assert_eq!(&cut, &want);
        // Every possible cut at once: one byte per chunk.
        let every: Vec<usize> = (1..body.len()).collect();
        let (bytewise, _) = decode_cut(&body, &every);
        prop_assert_eq!(&bytewise, &want);
    }

    #[test]
    fn any_cuts_give_the_same_text_for_every_streaming_api(
        api in prop::sample::select(vec!["chat", "completions", "tgi"]),
        tokens in prop::collection::vec(text(6).prop_filter("a token has text", |t| !t.is_empty()), 0..24),
        crlf in any::<bool>(),
        cuts in prop::collection::vec(any::<Index>(), 0..32),
    ) {
        let sep = if crlf { "\r\n" } else { "\n" };
        let lines = token_events(api, &tokens);
        let body: Vec<u8> = lines.iter().map(|l| format!("data: {l}{sep}{sep}")).collect::<String>().into_bytes();
        let (events, left) = decode_cut(&body, &cut_points(&cuts, body.len()));
        prop_assert!(!left);
        let want_events: Vec<Vec<u8>> = lines.iter().map(|l| l.clone().into_bytes()).collect();
        prop_assert_eq!(&events, &want_events);
        let adapter = streaming_adapter(api);
        let mut text = String::new();
        let mut content_events = 0;
        let mut finished = false;
        for e in events.iter().filter(|e| e.as_slice() != b"[DONE]") {
            let ev = adapter.parse_event(e).map_err(|e| TestCaseError::fail(e.0))?;
            prop_assert!(ev.error.is_none());
            if !ev.content.is_empty() {
                content_events += 1;
            }
            text.push_str(&ev.content);
            finished |= ev.finished;
        }
        prop_assert_eq!(text, tokens.concat());
        prop_assert_eq!(content_events, tokens.len());
        prop_assert!(finished, "the last event says the stream is done");
    }

    #[test]
    fn random_bytes_never_panic_a_parser(
        bytes in prop::collection::vec(any::<u8>(), 0..512),
        cuts in prop::collection::vec(any::<Index>(), 0..8),
    ) {
        let adapters = all_adapters();
        parse_everything(&adapters, &bytes, &cut_points(&cuts, bytes.len()));
    }

    #[test]
    fn json_like_bytes_never_panic_a_parser(
        bytes in jsonish(),
        cuts in prop::collection::vec(any::<Index>(), 0..8),
    ) {
        let adapters = all_adapters();
        parse_everything(&adapters, &bytes, &cut_points(&cuts, bytes.len()));
    }
}

/// The differential properties above are not vacuous: most token events,
/// and a good share of the near-events, are read by the fast path (the
/// rest by serde_json).
#[test]
fn the_event_generator_reaches_the_fast_path() {
    use proptest::strategy::ValueTree;
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let n = 2000;
    let count = |strategy: BoxedStrategy<String>, runner: &mut proptest::test_runner::TestRunner| {
        let (mut fast, mut with_text) = (0, 0);
        for _ in 0..n {
            let event = strategy.new_tree(runner).expect("an event").current();
            if let Some(ev) = super::openai::scan_event(event.as_bytes()) {
                fast += 1;
                with_text += usize::from(!ev.content.is_empty());
            }
        }
        (fast, with_text)
    };
    let (fast, with_text) = count(token_event().boxed(), &mut runner);
    assert!(
        fast * 10 >= n * 9 && with_text * 2 >= n,
        "token events: {fast} of {n} read fast, {with_text} with text"
    );
    let (fast, _) = count(json_event().boxed(), &mut runner);
    assert!(fast * 5 >= n, "near-events: {fast} of {n} read fast");
}
