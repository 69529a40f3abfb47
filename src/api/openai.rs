//! OpenAI-compatible chat and text completions, as vLLM, SGLang, TGI's
//! OpenAI layer, llama.cpp and hosted providers serve them.
//!
//! Streamed requests ask for `stream_options.include_usage` so token counts
//! come from the server. Reasoning text (`reasoning_content`/`reasoning`)
//! and tool calls (`tool_calls[].function.name` and `.arguments`, or the
//! older `function_call`) count as generated text like `content`: they are
//! tokens the model produced, and the user waits for them; which kinds a
//! reply carried is reported ([`OutputKinds`]). A chunk whose delta carries
//! only the role (vLLM sends one at once, before prefill ends) is not
//! generated text.
//!
//! Streamed events have two readers: the usual token event is read
//! in place by a fast path ([`scan_event`], through `json_scan`), anything
//! else — usages, errors, tool calls, unusual JSON — by serde_json
//! ([`parse_event_serde`]), which stays the reference: both give the same
//! event, as a differential property test checks.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::json_scan::Scan;
use super::{error_message, ApiAdapter, FullReply, PayloadError, StreamEvent};
use crate::record::OutputKinds;
use crate::workload::{Prompt, WorkItem, WorkloadSpec};

/// Chat (`/v1/chat/completions`) or text (`/v1/completions`) completions.
#[derive(Debug, Clone, Copy)]
pub struct OpenAi {
    chat: bool,
}

impl OpenAi {
    pub fn chat() -> Self {
        Self { chat: true }
    }

    pub fn completions() -> Self {
        Self { chat: false }
    }
}

#[derive(Deserialize, Default)]
struct Text<'a> {
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    reasoning_content: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    reasoning: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    tool_calls: Option<Vec<ToolCall<'a>>>,
    #[serde(borrow, default)]
    function_call: Option<Function<'a>>,
}

#[derive(Deserialize)]
struct ToolCall<'a> {
    #[serde(borrow, default)]
    function: Option<Function<'a>>,
}

#[derive(Deserialize)]
struct Function<'a> {
    #[serde(borrow, default)]
    name: Option<Cow<'a, str>>,
    /// A string of JSON text as OpenAI sends it; some servers send the
    /// object itself, taken as its JSON text.
    #[serde(default)]
    arguments: Option<Value>,
}

impl Function<'_> {
    fn append_to(&self, out: &mut String) -> bool {
        let mut any = false;
        if let Some(name) = self.name.as_deref().filter(|n| !n.is_empty()) {
            out.push_str(name);
            any = true;
        }
        match &self.arguments {
            Some(Value::String(a)) if !a.is_empty() => out.push_str(a),
            None | Some(Value::Null | Value::String(_)) => return any,
            Some(other) => out.push_str(&other.to_string()),
        }
        true
    }
}

impl Text<'_> {
    /// Appends every kind of generated text, reasoning first, and says
    /// which kinds there were.
    fn append_to(&self, out: &mut String) -> OutputKinds {
        let mut kinds = OutputKinds::default();
        for part in [&self.reasoning_content, &self.reasoning].into_iter().flatten() {
            if !part.is_empty() {
                out.push_str(part);
                kinds.reasoning = true;
            }
        }
        if let Some(c) = self.content.as_deref().filter(|c| !c.is_empty()) {
            out.push_str(c);
            kinds.content = true;
        }
        let calls = self.tool_calls.iter().flatten().filter_map(|c| c.function.as_ref());
        for f in calls.chain(&self.function_call) {
            kinds.tool_calls |= f.append_to(out);
        }
        kinds
    }
}

#[derive(Deserialize)]
struct Choice<'a> {
    #[serde(borrow, default)]
    delta: Option<Text<'a>>,
    #[serde(borrow, default)]
    message: Option<Text<'a>>,
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    #[serde(default)]
    finish_reason: Option<Value>,
}

/// A reply or streamed event; `C` is how its `choices` are read: all of
/// them (`Vec<Choice>`, for a whole reply) or folded as they are parsed
/// ([`EventChoices`], for the stream's events).
#[derive(Deserialize)]
#[serde(bound(deserialize = "C: Deserialize<'de>"))]
struct Reply<'a, C> {
    #[serde(default)]
    choices: Option<C>,
    /// Read apart (`super::read_usage`): a usage that is not counts is
    /// ignored, not a malformed reply.
    #[serde(default)]
    usage: Option<Value>,
    #[serde(default)]
    error: Option<Value>,
    #[serde(borrow, default)]
    object: Option<Cow<'a, str>>,
}

/// What the `choices` of a streamed event carried, folded one choice at a
/// time as the parser reads them: the same text, kinds and finish as going
/// over a vector of them, without building the vector (one allocation and
/// copy fewer per streamed token).
#[derive(Default)]
struct EventChoices {
    any: bool,
    content: String,
    kinds: OutputKinds,
    finished: bool,
}

impl<'de> Deserialize<'de> for EventChoices {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Fold;
        impl<'de> serde::de::Visitor<'de> for Fold {
            type Value = EventChoices;
            // As serde's own for a vector, so errors read the same.
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a sequence")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<EventChoices, A::Error> {
                let mut out = EventChoices::default();
                while let Some(c) = seq.next_element::<Choice<'de>>()? {
                    out.any = true;
                    if let Some(d) = &c.delta {
                        out.kinds = out.kinds.union(d.append_to(&mut out.content));
                    }
                    if let Some(t) = c.text.as_deref().filter(|t| !t.is_empty()) {
                        out.content.push_str(t);
                        out.kinds.content = true;
                    }
                    if c.finish_reason.as_ref().is_some_and(|f| !f.is_null()) {
                        out.finished = true;
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_seq(Fold)
    }
}

fn parse_reply<'a, C: Deserialize<'a>>(data: &'a [u8]) -> Result<Reply<'a, C>, PayloadError> {
    serde_json::from_slice(data).map_err(|e| {
        let shown = super::cut(&String::from_utf8_lossy(data), 120);
        PayloadError(format!("malformed JSON in reply ({e}): {shown}"))
    })
}

/// An error the server put in the payload instead of choices.
fn reply_error<C>(r: &Reply<'_, C>, data: &[u8]) -> Option<String> {
    if r.error.as_ref().is_some_and(|e| !e.is_null()) || r.object.as_deref() == Some("error") {
        return Some(error_message(data));
    }
    None
}

/// A streamed event read by serde_json: the reference for every event,
/// and the reader of those [`scan_event`] leaves to it.
pub(super) fn parse_event_serde(data: &[u8]) -> Result<StreamEvent, PayloadError> {
    let reply = parse_reply::<EventChoices>(data)?;
    let (usage, usage_invalid) = super::read_usage(reply.usage.as_ref());
    let error = reply_error(&reply, data);
    let choices = reply.choices.unwrap_or_default();
    Ok(StreamEvent {
        has_choices: choices.any,
        content: choices.content,
        kinds: choices.kinds,
        finished: choices.finished,
        usage,
        usage_invalid,
        error,
    })
}

/// The fast path for the events that carry the tokens: `choices` whose
/// `delta` has `content`, `reasoning_content` or `reasoning` (or whose
/// `text` is the token, for completions), a `finish_reason` that is null
/// or a string, no usage and no error, read in place by
/// [`super::json_scan`] with every other member skipped (and checked).
/// `None` for anything else — a usage, an error, a tool call, a repeated
/// member, a `\u` escape, invalid JSON — which
/// [`parse_event_serde`] then reads: the result is the same either way
/// (checked by a differential property test), only cheaper for the usual
/// token event.
pub(super) fn scan_event(data: &[u8]) -> Option<StreamEvent> {
    let mut scan = Scan::new(data);
    let mut ev = StreamEvent::default();
    // Members seen, so a repeated one (which serde refuses) goes to serde.
    let mut seen = Seen::default();
    if scan.open(b'{')? {
        loop {
            match &*scan.key()? {
                "choices" => {
                    seen.first("choices")?;
                    if !scan.null() && scan.open(b'[')? {
                        ev.has_choices = true;
                        loop {
                            scan_choice(&mut scan, &mut ev)?;
                            if !scan.more(b']')? {
                                break;
                            }
                        }
                    }
                }
                // Only a null usage or error is read here.
                key @ ("usage" | "error") => {
                    seen.first(key)?;
                    if !scan.null() {
                        return None;
                    }
                }
                "object" => {
                    seen.first("object")?;
                    if !scan.null() && scan.string()? == "error" {
                        return None;
                    }
                }
                _ => scan.skip(1)?,
            }
            if !scan.more(b'}')? {
                break;
            }
        }
    }
    scan.at_end().then_some(ev)
}

/// One element of `choices`, folded into `ev` as [`EventChoices`] does.
fn scan_choice(scan: &mut Scan<'_>, ev: &mut StreamEvent) -> Option<()> {
    let mut delta = None;
    let mut text = None;
    let mut seen = Seen::default();
    if scan.open(b'{')? {
        loop {
            match &*scan.key()? {
                "delta" => {
                    seen.first("delta")?;
                    if !scan.null() {
                        delta = Some(scan_text(scan)?);
                    }
                }
                "text" => {
                    seen.first("text")?;
                    if !scan.null() {
                        text = Some(scan.string()?);
                    }
                }
                "finish_reason" => {
                    seen.first("finish_reason")?;
                    if !scan.null() {
                        scan.string()?;
                        ev.finished = true;
                    }
                }
                // Not read from a streamed event, but checked as serde does.
                "message" => {
                    seen.first("message")?;
                    if !scan.null() {
                        scan_text(scan)?;
                    }
                }
                _ => scan.skip(2)?,
            }
            if !scan.more(b'}')? {
                break;
            }
        }
    }
    if let Some(d) = &delta {
        ev.kinds = ev.kinds.union(d.append_to(&mut ev.content));
    }
    if let Some(t) = text.as_deref().filter(|t| !t.is_empty()) {
        ev.content.push_str(t);
        ev.kinds.content = true;
    }
    Some(())
}

/// A `delta` with text members only; a tool call goes to serde.
fn scan_text<'a>(scan: &mut Scan<'a>) -> Option<Text<'a>> {
    let mut t = Text::default();
    let mut seen = Seen::default();
    if !scan.open(b'{')? {
        return Some(t);
    }
    loop {
        match &*scan.key()? {
            key @ ("content" | "reasoning_content" | "reasoning") => {
                seen.first(key)?;
                let value = if scan.null() { None } else { Some(scan.string()?) };
                match key {
                    "content" => t.content = value,
                    "reasoning_content" => t.reasoning_content = value,
                    _ => t.reasoning = value,
                }
            }
            key @ ("tool_calls" | "function_call") => {
                seen.first(key)?;
                if !scan.null() {
                    return None;
                }
            }
            _ => scan.skip(3)?,
        }
        if !scan.more(b'}')? {
            return Some(t);
        }
    }
}

/// The known members of one object seen so far (a bit each).
#[derive(Default)]
struct Seen(u16);

impl Seen {
    /// `None` if `key` was seen before (serde refuses a repeated field).
    fn first(&mut self, key: &str) -> Option<()> {
        let bit = match key {
            "choices" => 0,
            "usage" => 1,
            "error" => 2,
            "object" => 3,
            "delta" => 4,
            "text" => 5,
            "finish_reason" => 6,
            "content" => 7,
            "reasoning_content" => 8,
            "reasoning" => 9,
            "tool_calls" => 10,
            "function_call" => 11,
            "message" => 12,
            _ => 13,
        };
        if self.0 & (1 << bit) != 0 {
            return None;
        }
        self.0 |= 1 << bit;
        Some(())
    }
}

impl ApiAdapter for OpenAi {
    fn request_body(&self, item: &WorkItem, model: &str, spec: &WorkloadSpec) -> Result<Value, PayloadError> {
        let mut body = Map::new();
        body.insert("model".into(), Value::String(model.into()));
        if self.chat {
            let messages = match &item.prompt {
                Prompt::Text(t) => json!([{ "role": "user", "content": t }]),
                Prompt::Chat(m) => json!(m),
            };
            body.insert("messages".into(), messages);
        } else {
            let prompt = match &item.prompt {
                Prompt::Text(t) => t.clone(),
                // A completions endpoint takes text: the turns, one a line.
                Prompt::Chat(m) => m.iter().map(|m| m.content.as_str()).collect::<Vec<_>>().join("\n"),
            };
            body.insert("prompt".into(), Value::String(prompt));
        }
        if let Some(n) = item.max_tokens {
            body.insert("max_tokens".into(), json!(n));
        }
        body.insert("stream".into(), Value::Bool(spec.stream));
        if spec.stream {
            body.insert("stream_options".into(), json!({ "include_usage": true }));
        }
        if spec.ignore_eos {
            body.insert("ignore_eos".into(), Value::Bool(true));
        }
        if let Some(extra) = &spec.extra_body {
            for (k, v) in extra {
                body.insert(k.clone(), v.clone());
            }
        }
        Ok(Value::Object(body))
    }

    fn parse_event(&self, data: &[u8]) -> Result<StreamEvent, PayloadError> {
        match scan_event(data) {
            Some(ev) => Ok(ev),
            None => parse_event_serde(data),
        }
    }

    fn parse_body(&self, body: &[u8]) -> Result<FullReply, PayloadError> {
        let reply = parse_reply::<Vec<Choice<'_>>>(body)?;
        if let Some(msg) = reply_error(&reply, body) {
            return Err(PayloadError(format!("server error in reply: {msg}")));
        }
        let choices = reply
            .choices
            .ok_or_else(|| PayloadError("reply has no `choices`".into()))?;
        let mut content = String::new();
        let mut kinds = OutputKinds::default();
        for c in &choices {
            if let Some(m) = &c.message {
                kinds = kinds.union(m.append_to(&mut content));
            }
            if let Some(t) = c.text.as_deref().filter(|t| !t.is_empty()) {
                content.push_str(t);
                kinds.content = true;
            }
        }
        let empty = content
            .is_empty()
            .then(|| "the reply's choices carry no text (no content, reasoning or tool call)".to_string());
        let (usage, usage_invalid) = super::read_usage(reply.usage.as_ref());
        Ok(FullReply {
            content,
            kinds,
            usage,
            usage_invalid,
            images: None,
            empty,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::Usage;
    use crate::workload::{ChatMessage, DatasetSpec};

    fn spec(stream: bool) -> WorkloadSpec {
        WorkloadSpec {
            dataset: DatasetSpec::Prompt { text: "hi".into() },
            max_tokens: Some(8),
            stream,
            ignore_eos: true,
            extra_body: serde_json::from_str(r#"{"temperature":0,"max_tokens":9}"#).ok(),
            seed: 0,
            random_prefix_len: 0,
            system_prompt: None,
            request_id_prefix: None,
            tokenizer: None,
            params: Default::default(),
        }
    }

    fn item() -> WorkItem {
        WorkItem {
            index: 0,
            prompt: Prompt::Text("hello there".into()),
            input_tokens: 2,
            max_tokens: Some(8),
            params: Default::default(),
            fields: None,
            task: None,
        }
    }

    #[test]
    fn chat_body_asks_for_usage_and_merges_extra_body_last() {
        let b = OpenAi::chat().request_body(&item(), "m", &spec(true)).unwrap();
        assert_eq!(b["messages"][0]["content"], "hello there");
        assert_eq!(b["stream_options"]["include_usage"], true);
        assert_eq!(b["ignore_eos"], true);
        assert_eq!(b["temperature"], 0);
        assert_eq!(b["max_tokens"], 9, "--extra-body wins over flags");
    }

    #[test]
    fn completions_body_flattens_chat_prompts() {
        let mut it = item();
        it.prompt = Prompt::Chat(vec![
            ChatMessage {
                role: "system".into(),
                content: "be brief".into(),
            },
            ChatMessage {
                role: "user".into(),
                content: "hi".into(),
            },
        ]);
        let b = OpenAi::completions().request_body(&it, "m", &spec(false)).unwrap();
        assert_eq!(b["prompt"], "be brief\nhi");
        assert!(b.get("stream_options").is_none());
    }

    #[test]
    fn role_only_chunk_is_not_content() {
        let a = OpenAi::chat();
        let ev = a
            .parse_event(br#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#)
            .unwrap();
        assert!(ev.has_choices);
        assert!(ev.content.is_empty());
        let ev = a
            .parse_event(br#"{"choices":[{"index":0,"delta":{"content":" w\"x"},"finish_reason":null}],"usage":null}"#)
            .unwrap();
        assert_eq!(ev.content, " w\"x");
        assert_eq!(ev.usage, None);
    }

    #[test]
    fn usage_chunk_has_no_choices() {
        let ev = OpenAi::chat()
            .parse_event(br#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7,"total_tokens":12}}"#)
            .unwrap();
        assert!(!ev.has_choices);
        assert_eq!(
            ev.usage,
            Some(Usage {
                prompt_tokens: Some(5),
                completion_tokens: Some(7)
            })
        );
    }

    #[test]
    fn reasoning_counts_as_content_and_finish_is_seen() {
        let ev = OpenAi::chat()
            .parse_event(br#"{"choices":[{"delta":{"reasoning_content":"hmm"},"finish_reason":"length"}]}"#)
            .unwrap();
        assert_eq!(ev.content, "hmm");
        assert!(ev.finished);
        assert_eq!(
            ev.kinds,
            OutputKinds {
                reasoning: true,
                ..OutputKinds::default()
            }
        );
        let ev = OpenAi::chat()
            .parse_event(br#"{"choices":[{"delta":{"reasoning":" so","content":" yes"}}]}"#)
            .unwrap();
        assert_eq!(ev.content, " so yes");
        assert!(ev.kinds.reasoning && ev.kinds.content && !ev.kinds.tool_calls);
    }

    #[test]
    fn tool_call_deltas_are_generated_text() {
        let a = OpenAi::chat();
        // vLLM's shape: the name first (arguments empty), then arguments.
        let ev = a
            .parse_event(br#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}"#)
            .unwrap();
        assert_eq!(ev.content, "get_weather");
        assert!(ev.kinds.tool_calls && !ev.kinds.content);
        let ev = a
            .parse_event(br#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\": "}}]},"finish_reason":null}]}"#)
            .unwrap();
        assert_eq!(ev.content, r#"{"city": "#);
        assert!(ev.kinds.tool_calls);
        // An empty tool-call delta, and the older function_call.
        let ev = a
            .parse_event(br#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":""}}]}}]}"#)
            .unwrap();
        assert!(ev.content.is_empty() && !ev.kinds.any());
        let ev = a
            .parse_event(br#"{"choices":[{"delta":{"function_call":{"arguments":"x"}}}]}"#)
            .unwrap();
        assert_eq!((ev.content.as_str(), ev.kinds.tool_calls), ("x", true));
        // A whole reply: content null beside the calls; arguments as an object.
        let r = a
            .parse_body(br#"{"choices":[{"message":{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":{"a":1}}}]}}]}"#)
            .unwrap();
        assert_eq!(r.content, r#"f{"a":1}"#);
        assert!(r.kinds.tool_calls && r.empty.is_none());
    }

    #[test]
    fn an_invalid_usage_is_flagged_not_a_malformed_reply() {
        let ev = OpenAi::chat()
            .parse_event(br#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":-1}}"#)
            .unwrap();
        assert_eq!((ev.usage, ev.usage_invalid), (None, true));
        let r = OpenAi::completions()
            .parse_body(br#"{"choices":[{"text":"a b"}],"usage":{"completion_tokens":"2"}}"#)
            .unwrap();
        assert_eq!((r.content.as_str(), r.usage, r.usage_invalid), ("a b", None, true));
    }

    #[test]
    fn errors_in_stream_and_malformed_json() {
        let a = OpenAi::completions();
        let ev = a
            .parse_event(br#"{"object":"error","message":"boom","code":500}"#)
            .unwrap();
        assert_eq!(ev.error.as_deref(), Some("boom"));
        assert!(a.parse_event(b"{not json").is_err());
        assert!(a.parse_body(b"{}").is_err());
    }

    /// The token events servers send are read by the fast path, with the
    /// result serde_json gives; the rarer events are left to serde_json.
    #[test]
    fn token_events_take_the_fast_path_with_the_same_result() {
        for event in [
            // vLLM: a token, the role chunk, the last token.
            r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1764583000,"model":"m","choices":[{"index":0,"delta":{"content":" word"},"logprobs":null,"finish_reason":null}]}"#,
            r#"{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}"#,
            r#"{"choices":[{"index":0,"delta":{"content":"."},"finish_reason":"length"}],"usage":null}"#,
            // Reasoning, content null beside it.
            r#"{"choices":[{"delta":{"reasoning_content":"hmm","content":null}}]}"#,
            r#"{"choices":[{"delta":{"reasoning":" so","content":" yes"}}]}"#,
            // Completions.
            r#"{"id":"cmpl-1","object":"text_completion","created":1,"model":"m","choices":[{"index":0,"text":" w","logprobs":null,"finish_reason":null,"stop_reason":null}]}"#,
            // llama.cpp: escapes in the text, members in another order, timings.
            r#"{"choices":[{"finish_reason":null,"index":0,"delta":{"content":"a\n\"b\"\\"}}],"created":1,"id":"x","model":"m","system_fingerprint":"b1","object":"chat.completion.chunk","timings":{"prompt_n":1,"predicted_ms":1.5e0}}"#,
            " { \"choices\" : [ ] } \n",
        ] {
            let fast = scan_event(event.as_bytes()).unwrap_or_else(|| panic!("not read by the fast path: {event}"));
            assert_eq!(Ok(fast), parse_event_serde(event.as_bytes()), "{event}");
        }
        for event in [
            r#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":7}}"#,
            r#"{"object":"error","message":"boom","code":500}"#,
            r#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"x"}}]}}]}"#,
            r#"{"choices":[{"delta":{"content":"\u00e9"}}]}"#,
            r#"{"choices":[],"choices":[]}"#,
            "{not json",
        ] {
            assert!(scan_event(event.as_bytes()).is_none(), "{event}");
        }
    }

    #[test]
    fn full_bodies() {
        let r = OpenAi::chat()
            .parse_body(br#"{"choices":[{"message":{"role":"assistant","content":"a b"}}],"usage":{"prompt_tokens":1,"completion_tokens":2}}"#)
            .unwrap();
        assert_eq!(r.content, "a b");
        assert_eq!(r.usage.and_then(|u| u.completion_tokens), Some(2));
        let r = OpenAi::completions()
            .parse_body(br#"{"choices":[{"text":"x y z"}]}"#)
            .unwrap();
        assert_eq!(r.content, "x y z");
        assert_eq!(r.usage, None);
        assert_eq!(r.empty, None);
        let r = OpenAi::chat()
            .parse_body(br#"{"choices":[{"message":{"role":"assistant","content":""}}],"usage":{"prompt_tokens":1,"completion_tokens":0}}"#)
            .unwrap();
        assert!(r.empty.is_some(), "a reply without text is empty");
    }
}
