//! Hugging Face Text Generation Inference's native API: `POST /generate`
//! (one JSON reply) and `POST /generate_stream` (server-sent events).
//!
//! The body is `{"inputs", "parameters": {"max_new_tokens", "details":
//! true, ...}}`; `--extra-body` is merged into `parameters`, where TGI's
//! sampling options live (`temperature`, `top_p`, `seed`, ...). Chat prompts
//! are sent as their turns joined by newlines (this API has no chat form).
//!
//! Stream events carry one `token` each (`{id, text, logprob, special}`);
//! every token event moves `finished_at`, and one whose text is non-empty
//! and not `special` is content (the end-of-sequence token is not). The last
//! event also carries `generated_text` and `details.generated_tokens`: that
//! is the stream's end (TGI sends no `[DONE]`) and the output token count.
//! An `{"error", "error_type"}` event is an error. A `/generate` reply is
//! `{generated_text, details}`, or a one-element list of it (TGI's `/`
//! route and some gateways).

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{error_message, ApiAdapter, FullReply, PayloadError, StreamEvent, Usage};
use crate::record::OutputKinds;
use crate::workload::{Prompt, WorkItem, WorkloadSpec};

/// The TGI adapter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Tgi;

#[derive(Deserialize)]
struct Token {
    #[serde(default)]
    text: String,
    #[serde(default)]
    special: bool,
}

#[derive(Deserialize)]
struct Details {
    /// Read apart (`super::token_count`): a count that is not one is
    /// ignored, not a malformed reply.
    #[serde(default)]
    generated_tokens: Option<Value>,
}

#[derive(Deserialize)]
struct Event {
    #[serde(default)]
    token: Option<Token>,
    #[serde(default)]
    generated_text: Option<String>,
    #[serde(default)]
    details: Option<Details>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct Generation {
    generated_text: String,
    #[serde(default)]
    details: Option<Details>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum GenerateReply {
    One(Generation),
    Many(Vec<Generation>),
}

fn malformed(data: &[u8], e: &serde_json::Error) -> PayloadError {
    let shown = super::cut(&String::from_utf8_lossy(data), 120);
    PayloadError(format!("malformed JSON in reply ({e}): {shown}"))
}

/// The usage in `details`, and whether its count was invalid.
fn usage(details: Option<&Details>) -> (Option<Usage>, bool) {
    match super::token_count(details.and_then(|d| d.generated_tokens.as_ref())) {
        Ok(None) => (None, false),
        Ok(Some(n)) => (
            Some(Usage {
                prompt_tokens: None,
                completion_tokens: Some(n),
            }),
            false,
        ),
        Err(super::NotACount) => (None, true),
    }
}

impl ApiAdapter for Tgi {
    fn request_body(&self, item: &WorkItem, _model: &str, spec: &WorkloadSpec) -> Result<Value, PayloadError> {
        let inputs = match &item.prompt {
            Prompt::Text(t) => t.clone(),
            Prompt::Chat(m) => m.iter().map(|m| m.content.as_str()).collect::<Vec<_>>().join("\n"),
        };
        let mut parameters = Map::new();
        if let Some(n) = item.max_tokens {
            parameters.insert("max_new_tokens".into(), json!(n));
        }
        parameters.insert("details".into(), Value::Bool(true));
        if let Some(extra) = &spec.extra_body {
            for (k, v) in extra {
                parameters.insert(k.clone(), v.clone());
            }
        }
        Ok(json!({ "inputs": inputs, "parameters": parameters }))
    }

    fn parse_event(&self, data: &[u8]) -> Result<StreamEvent, PayloadError> {
        let ev: Event = serde_json::from_slice(data).map_err(|e| malformed(data, &e))?;
        if ev.error.as_ref().is_some_and(|e| !e.is_null()) {
            return Ok(StreamEvent {
                error: Some(error_message(data)),
                ..StreamEvent::default()
            });
        }
        let (usage, usage_invalid) = usage(ev.details.as_ref());
        let mut out = StreamEvent {
            has_choices: ev.token.is_some(),
            finished: ev.generated_text.is_some(),
            usage,
            usage_invalid,
            ..StreamEvent::default()
        };
        if let Some(t) = ev.token {
            if !t.special && !t.text.is_empty() {
                out.content = t.text;
                out.kinds.content = true;
            }
        }
        Ok(out)
    }

    fn parse_body(&self, body: &[u8]) -> Result<FullReply, PayloadError> {
        if let Ok(v) = serde_json::from_slice::<Value>(body) {
            if v.get("error").is_some_and(|e| !e.is_null()) {
                return Err(PayloadError(format!("server error in reply: {}", error_message(body))));
            }
        }
        let reply: GenerateReply = serde_json::from_slice(body).map_err(|e| malformed(body, &e))?;
        let g = match reply {
            GenerateReply::One(g) => g,
            GenerateReply::Many(v) => v
                .into_iter()
                .next()
                .ok_or_else(|| PayloadError("the reply is an empty list".into()))?,
        };
        let (usage, usage_invalid) = usage(g.details.as_ref());
        Ok(FullReply {
            usage,
            usage_invalid,
            empty: g
                .generated_text
                .is_empty()
                .then(|| "the reply's generated_text is empty".to_string()),
            kinds: OutputKinds {
                content: !g.generated_text.is_empty(),
                ..OutputKinds::default()
            },
            content: g.generated_text,
            images: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::{DatasetSpec, RequestParams};

    #[test]
    fn body_puts_options_in_parameters() {
        let spec = WorkloadSpec {
            dataset: DatasetSpec::Prompt { text: "x".into() },
            max_tokens: Some(8),
            stream: true,
            ignore_eos: true,
            extra_body: serde_json::from_str(r#"{"temperature":0.5}"#).ok(),
            seed: 0,
            random_prefix_len: 0,
            system_prompt: None,
            request_id_prefix: None,
            tokenizer: None,
            params: RequestParams::default(),
        };
        let item = WorkItem {
            index: 0,
            prompt: Prompt::Text("hello".into()),
            input_tokens: 1,
            max_tokens: Some(8),
            params: RequestParams::default(),
            fields: None,
            task: None,
        };
        let b = Tgi.request_body(&item, "m", &spec).unwrap();
        assert_eq!(b["inputs"], "hello");
        assert_eq!(b["parameters"]["max_new_tokens"], 8);
        assert_eq!(b["parameters"]["details"], true);
        assert_eq!(b["parameters"]["temperature"], 0.5);
    }

    #[test]
    fn token_events_special_tokens_and_the_final_event() {
        let ev = Tgi
            .parse_event(br#"{"index":1,"token":{"id":5,"text":" Hi","logprob":-0.1,"special":false},"generated_text":null,"details":null}"#)
            .unwrap();
        assert!(ev.has_choices && !ev.finished);
        assert_eq!(ev.content, " Hi");
        let ev = Tgi
            .parse_event(br#"{"index":2,"token":{"id":2,"text":"</s>","logprob":0.0,"special":true},"generated_text":" Hi","details":{"finish_reason":"eos_token","generated_tokens":2,"seed":null}}"#)
            .unwrap();
        assert!(ev.has_choices && ev.finished);
        assert!(ev.content.is_empty(), "a special token is not content");
        assert_eq!(ev.usage.and_then(|u| u.completion_tokens), Some(2));
        let ev = Tgi
            .parse_event(br#"{"error":"Input validation error","error_type":"validation"}"#)
            .unwrap();
        assert_eq!(ev.error.as_deref(), Some("Input validation error"));
        assert!(Tgi.parse_event(b"{oops").is_err());
    }

    #[test]
    fn generate_replies_as_object_or_list() {
        let r = Tgi
            .parse_body(br#"{"generated_text":" a b c","details":{"finish_reason":"length","generated_tokens":3}}"#)
            .unwrap();
        assert_eq!(r.content, " a b c");
        assert_eq!(r.usage.and_then(|u| u.completion_tokens), Some(3));
        let r = Tgi.parse_body(br#"[{"generated_text":"x"}]"#).unwrap();
        assert_eq!((r.content.as_str(), r.usage, r.empty), ("x", None, None));
        assert!(Tgi.parse_body(br#"{"generated_text":""}"#).unwrap().empty.is_some());
        let r = Tgi
            .parse_body(br#"{"generated_text":" a","details":{"generated_tokens":-1}}"#)
            .unwrap();
        assert_eq!((r.usage, r.usage_invalid), (None, true));
        assert!(Tgi
            .parse_body(br#"{"error":"overloaded"}"#)
            .unwrap_err()
            .0
            .contains("overloaded"));
        assert!(Tgi.parse_body(b"[]").is_err());
    }
}
