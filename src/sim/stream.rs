//! Turning a request's token schedule into bytes: the SSE stream in vLLM's
//! exact shape, the whole-body reply, and the timestamps of the truth.
//!
//! A streamed reply is a hand-written [`Stream`] ([`TokenStream`]) that
//! hyper polls from the connection task: no extra task or channel per
//! request for the fixed profile, and each chunk is handed to hyper the
//! moment it is due. Chat sends the role-only chunk on the first poll, at
//! once, then one chunk per token (`" word"`: one token, leading space),
//! `finish_reason` on the last, the usage chunk if asked, `[DONE]`.
//!
//! Truth timestamps are taken in `poll_next`, right before a content chunk
//! is returned to hyper: TTFT runs from the handler's entry (`received`) to
//! the first one, ITL between consecutive ones. The role chunk is not
//! content and takes no part.
//!
//! Cost per token: one timer reset (fixed profile) or one channel receive
//! (batching), one `Instant::now()`, and one allocation for the chunk,
//! assembled from a per-request pre-serialised head and a pre-escaped word.

use std::fmt::Write as _;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::Stream;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::time::{Instant, Sleep};

use super::conn::ConnHandle;
use super::faults::{OutputKind, TokenField, TOOL_NAME};
use super::metrics::{Counters, InFlight, ModelMetrics, RequestTruth};

/// Which API a reply answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Chat,
    Completion,
}

/// Everything decided about one accepted request before it is served.
#[derive(Debug, Clone)]
pub struct Reply {
    pub kind: Kind,
    /// The request's number (its id suffix).
    pub number: u64,
    pub created: u64,
    pub model: Arc<str>,
    pub prompt_tokens: u64,
    /// Tokens to produce (≥ 1).
    pub output_tokens: u32,
    pub finish_reason: &'static str,
    pub include_usage: bool,
    /// Injected disconnect: cut the reply after this many tokens.
    pub cut_after: Option<u32>,
    pub word_seed: u64,
    /// What a chat reply carries its tokens as.
    pub output: OutputKind,
    /// Injected fault: the usage says `"completion_tokens": -1`.
    pub bad_usage: bool,
}

impl Reply {
    pub fn id(&self) -> String {
        match self.kind {
            Kind::Chat => format!("chatcmpl-{}", self.number),
            Kind::Completion => format!("cmpl-{}", self.number),
        }
    }

    /// The generated text: `output_tokens` words, each with a leading space.
    pub fn text(&self, tokens: u32) -> String {
        self.words(0..tokens)
    }

    /// Tokens `range` of the reply, each with a leading space.
    fn words(&self, range: std::ops::Range<u32>) -> String {
        let words = words();
        let mut s = String::with_capacity(range.len() * 8);
        for k in range {
            s.push(' ');
            s.push_str(words.raw[word_index(self.word_seed, k, words.raw.len())]);
        }
        s
    }

    /// `completion_tokens` as the usage reports it (-1 for `bad-usage`).
    fn reported_completion(&self) -> i64 {
        if self.bad_usage {
            -1
        } else {
            i64::from(self.output_tokens)
        }
    }

    /// The complete non-streaming reply body.
    pub fn body(&self) -> Bytes {
        let n = self.output_tokens;
        let completion = u64::from(n);
        // Where the chat message's tokens go: reasoning first, then content.
        let split = (0..n)
            .position(|k| !matches!(self.output.field(k, n), TokenField::Reasoning(_)))
            .map_or(n, |k| k as u32);
        let (reasoning, content) = (self.words(0..split), self.words(split..n));
        let all = self.text(n);
        let reasoning_field = match self.output.field(0, n) {
            TokenField::Reasoning(name) => Some(name),
            _ => None,
        };
        let (object, message, text) = match self.kind {
            Kind::Chat if self.output == OutputKind::ToolCalls => (
                "chat.completion",
                Some(Message {
                    role: "assistant",
                    content: None,
                    reasoning: None,
                    reasoning_content: None,
                    tool_calls: Some([ToolCall {
                        id: format!("call_{}", self.number),
                        kind: "function",
                        function: Function {
                            name: TOOL_NAME,
                            arguments: &all,
                        },
                    }]),
                }),
                None,
            ),
            Kind::Chat => (
                "chat.completion",
                Some(Message {
                    role: "assistant",
                    content: Some(&content),
                    reasoning: (reasoning_field == Some("reasoning")).then_some(reasoning.as_str()),
                    reasoning_content: (reasoning_field == Some("reasoning_content")).then_some(reasoning.as_str()),
                    tool_calls: None,
                }),
                None,
            ),
            Kind::Completion => ("text_completion", None, Some(all.as_str())),
        };
        let body = Body {
            id: self.id(),
            object,
            created: self.created,
            model: &self.model,
            choices: [Choice {
                index: 0,
                message,
                text,
                logprobs: (),
                finish_reason: self.finish_reason,
            }],
            usage: Usage {
                prompt_tokens: self.prompt_tokens,
                total_tokens: self.prompt_tokens + completion,
                completion_tokens: self.reported_completion(),
            },
        };
        // Serialising plain structs of strings and numbers cannot fail.
        Bytes::from(serde_json::to_vec(&body).unwrap_or_default())
    }
}

// The non-streaming reply, as structs so the keys keep OpenAI's order.
#[derive(Serialize)]
struct Body<'a> {
    id: String,
    object: &'static str,
    created: u64,
    model: &'a str,
    choices: [Choice<'a>; 1],
    usage: Usage,
}

#[derive(Serialize)]
struct Choice<'a> {
    index: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<Message<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    text: Option<&'a str>,
    logprobs: (),
    finish_reason: &'static str,
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'static str,
    /// `null` beside tool calls, as OpenAI sends it.
    content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    reasoning_content: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_calls: Option<[ToolCall<'a>; 1]>,
}

#[derive(Serialize)]
struct ToolCall<'a> {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    function: Function<'a>,
}

#[derive(Serialize)]
struct Function<'a> {
    name: &'static str,
    arguments: &'a str,
}

#[derive(Serialize)]
struct Usage {
    prompt_tokens: u64,
    total_tokens: u64,
    completion_tokens: i64,
}

/// The filler vocabulary, filtered to single tokens and escaped once.
struct Words {
    raw: Vec<&'static str>,
    escaped: Vec<Box<str>>,
}

fn words() -> &'static Words {
    static WORDS: OnceLock<Words> = OnceLock::new();
    WORDS.get_or_init(|| {
        // One word must stay one token: drop anything empty or spaced.
        let mut raw: Vec<&'static str> = crate::workload::words::WORDS
            .iter()
            .copied()
            .filter(|w| !w.is_empty() && !w.contains(char::is_whitespace))
            .collect();
        if raw.is_empty() {
            raw.push("token");
        }
        let escaped = raw
            .iter()
            .map(|w| {
                let quoted = serde_json::Value::from(*w).to_string();
                quoted[1..quoted.len() - 1].into()
            })
            .collect();
        Words { raw, escaped }
    })
}

/// The `k`-th word of a request: a splitmix64 hash of its seed and `k`, so
/// a reply needs no RNG state and any token can be produced on its own.
fn word_index(seed: u64, k: u32, len: usize) -> usize {
    (splitmix64(seed.wrapping_add(u64::from(k))) % len as u64) as usize
}

/// Sebastiano Vigna's splitmix64 finaliser: a cheap, well-mixed hash.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// When each token of a request is due.
pub enum Ticks {
    /// Token `k` at `first + k × itl`, whatever the load.
    Fixed {
        first: Instant,
        itl: Duration,
        sleep: Pin<Box<Sleep>>,
    },
    /// One `()` per token from the model's engine loop; closed after the
    /// last one (or if the engine stopped).
    Engine(mpsc::UnboundedReceiver<()>),
}

impl Ticks {
    pub fn fixed(first: Instant, itl: Duration) -> Self {
        Ticks::Fixed {
            first,
            itl,
            sleep: Box::pin(tokio::time::sleep_until(first)),
        }
    }

    /// Ready(true) once token `k` is due (tokens are asked for in order),
    /// Ready(false) if it never will be.
    fn poll_token(&mut self, cx: &mut Context<'_>, k: u32) -> Poll<bool> {
        match self {
            Ticks::Fixed { first, itl, sleep } => {
                let due = *first + *itl * k;
                if Instant::now() >= due {
                    return Poll::Ready(true);
                }
                if sleep.deadline() != due {
                    sleep.as_mut().reset(due);
                }
                sleep.as_mut().poll(cx).map(|()| true)
            }
            Ticks::Engine(rx) => rx.poll_recv(cx).map(|t| t.is_some()),
        }
    }

    /// Waits until tokens `0..=k` are all due; false if they never will be.
    pub async fn wait_through(&mut self, k: u32) -> bool {
        match self {
            Ticks::Fixed { .. } => std::future::poll_fn(|cx| self.poll_token(cx, k)).await,
            Ticks::Engine(rx) => {
                for _ in 0..=k {
                    if rx.recv().await.is_none() {
                        return false;
                    }
                }
                true
            }
        }
    }
}

const DONE: &[u8] = b"data: [DONE]\n\n";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Role,
    Tokens,
    Usage,
    Done,
    Ended,
}

/// A streamed reply (see the module docs).
pub struct TokenStream {
    reply: Reply,
    /// `data: {"id":…,"object":…,"created":…,"model":…,` — shared by every
    /// chunk of this reply.
    head: Bytes,
    ticks: Ticks,
    next: u32,
    phase: Phase,
    received: Instant,
    last_chunk: Option<Instant>,
    truth: RequestTruth,
    in_flight: InFlight,
    counters: Arc<Counters>,
    metrics: ModelMetrics,
    /// The fixed profile counts `vllm:generation_tokens` here; an engine
    /// loop counts its own.
    count_generation: bool,
    /// Closes the connection once the stream is over (llama-server mode).
    close_after: Option<ConnHandle>,
    /// Injected stall: hang before this token until the client goes away.
    stall_at: Option<u32>,
}

impl TokenStream {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        reply: Reply,
        ticks: Ticks,
        received: Instant,
        in_flight: InFlight,
        counters: Arc<Counters>,
        metrics: ModelMetrics,
        count_generation: bool,
    ) -> Self {
        let object = match reply.kind {
            Kind::Chat => "chat.completion.chunk",
            Kind::Completion => "text_completion",
        };
        let mut head = String::with_capacity(128 + reply.model.len());
        let model = serde_json::Value::from(&*reply.model).to_string();
        let _ = write!(
            head,
            r#"data: {{"id":"{}","object":"{object}","created":{},"model":{model},"#,
            reply.id(),
            reply.created
        );
        Self {
            phase: if reply.kind == Kind::Chat {
                Phase::Role
            } else {
                Phase::Tokens
            },
            reply,
            head: Bytes::from(head),
            ticks,
            next: 0,
            received,
            last_chunk: None,
            truth: RequestTruth::default(),
            in_flight,
            counters,
            metrics,
            count_generation,
            close_after: None,
            stall_at: None,
        }
    }

    /// This stream hangs after `tokens` tokens (at most all but the last)
    /// until the client goes away: nothing more is sent, not even `[DONE]`.
    pub fn stalling(mut self, tokens: u32) -> Self {
        self.stall_at = Some(tokens.min(self.reply.output_tokens.saturating_sub(1)));
        self
    }

    /// This stream carries only `data: [DONE]`: no role, no token, no usage.
    pub fn empty(mut self) -> Self {
        self.phase = Phase::Done;
        self
    }

    /// This stream closes its connection when it ends, as llama-server does.
    pub fn closing_connection(mut self, conn: Option<ConnHandle>) -> Self {
        self.close_after = conn;
        self
    }

    fn chunk(&self, parts: &[&[u8]]) -> Bytes {
        let len = self.head.len() + parts.iter().map(|p| p.len()).sum::<usize>();
        let mut b = BytesMut::with_capacity(len);
        b.put_slice(&self.head);
        for p in parts {
            b.put_slice(p);
        }
        b.freeze()
    }

    fn token_chunk(&self, k: u32, last: bool) -> Bytes {
        let words = words();
        let word = words.escaped[word_index(self.reply.word_seed, k, words.escaped.len())].as_bytes();
        let end: &[u8] = match (last, self.reply.finish_reason) {
            (false, _) => br#""finish_reason":null}]}"#,
            (true, "stop") => br#""finish_reason":"stop"}]}"#,
            (true, _) => br#""finish_reason":"length"}]}"#,
        };
        let field = match self.reply.kind {
            Kind::Chat => self.reply.output.field(k, self.reply.output_tokens),
            Kind::Completion => TokenField::Content,
        };
        let open: std::borrow::Cow<'static, [u8]> = match (self.reply.kind, field) {
            (Kind::Completion, _) => br#""choices":[{"index":0,"text":" "#.as_slice().into(),
            (Kind::Chat, TokenField::Content) => br#""choices":[{"index":0,"delta":{"content":" "#.as_slice().into(),
            (Kind::Chat, TokenField::Reasoning(name)) => {
                format!(r#""choices":[{{"index":0,"delta":{{"{name}":" "#).into_bytes().into()
            }
            // The first tool-call chunk names the call and its function.
            (Kind::Chat, TokenField::ToolCall) if k == 0 => format!(
                r#""choices":[{{"index":0,"delta":{{"tool_calls":[{{"index":0,"id":"call_{}","type":"function","function":{{"name":"{TOOL_NAME}","arguments":" "#,
                self.reply.number
            )
            .into_bytes()
            .into(),
            (Kind::Chat, TokenField::ToolCall) => {
                br#""choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":" "#
                    .as_slice()
                    .into()
            }
        };
        let close: &[u8] = match (self.reply.kind, field) {
            (Kind::Completion, _) => br#"","logprobs":null,"#,
            (Kind::Chat, TokenField::ToolCall) => br#""}}]},"logprobs":null,"#,
            (Kind::Chat, _) => br#""},"logprobs":null,"#,
        };
        self.chunk(&[&open, word, close, end, b"\n\n"])
    }

    fn usage_chunk(&self) -> Bytes {
        let p = self.reply.prompt_tokens;
        let c = u64::from(self.reply.output_tokens);
        let usage = format!(
            r#""choices":[],"usage":{{"prompt_tokens":{p},"total_tokens":{},"completion_tokens":{}}}}}"#,
            p + c,
            self.reply.reported_completion()
        );
        self.chunk(&[usage.as_bytes(), b"\n\n"])
    }

    fn record_truth(&mut self, now: Instant) {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        match self.last_chunk {
            None => self.truth.ttft_ms.add(ms(now - self.received)),
            Some(prev) => self.truth.itl_ms.add(ms(now - prev)),
        }
        self.last_chunk = Some(now);
    }
}

impl Stream for TokenStream {
    type Item = Result<Bytes, io::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        match this.phase {
            Phase::Role => {
                this.phase = Phase::Tokens;
                let role = br#""choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}"#;
                Poll::Ready(Some(Ok(this.chunk(&[role, b"\n\n"]))))
            }
            // Hung on purpose: no waker is kept, so nothing ever wakes the
            // stream; hyper drops it when the client closes the connection.
            Phase::Tokens if this.stall_at == Some(this.next) => Poll::Pending,
            Phase::Tokens => {
                match this.ticks.poll_token(cx, this.next) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(false) => {
                        this.phase = Phase::Ended;
                        Poll::Ready(Some(Err(io::Error::other("the engine stopped"))))
                    }
                    // An error from the body makes hyper drop the connection
                    // without the final chunk: the client sees a broken
                    // stream. It comes when the next token is due, not right
                    // after the previous one, so hyper has flushed that one.
                    Poll::Ready(true) if this.reply.cut_after == Some(this.next) => {
                        this.phase = Phase::Ended;
                        Poll::Ready(Some(Err(io::Error::other("injected disconnect"))))
                    }
                    Poll::Ready(true) => {
                        this.record_truth(Instant::now());
                        let k = this.next;
                        let last = k + 1 >= this.reply.output_tokens;
                        let chunk = this.token_chunk(k, last);
                        this.next += 1;
                        if this.count_generation {
                            this.metrics.generation_tokens.inc();
                        }
                        if last {
                            this.counters.succeeded(
                                this.reply.prompt_tokens,
                                u64::from(this.reply.output_tokens),
                                Some(&this.truth),
                            );
                            this.metrics.success(this.reply.finish_reason);
                            this.phase = if this.reply.include_usage {
                                Phase::Usage
                            } else {
                                Phase::Done
                            };
                        }
                        Poll::Ready(Some(Ok(chunk)))
                    }
                }
            }
            Phase::Usage => {
                this.phase = Phase::Done;
                Poll::Ready(Some(Ok(this.usage_chunk())))
            }
            Phase::Done => {
                this.phase = Phase::Ended;
                this.in_flight.release();
                Poll::Ready(Some(Ok(Bytes::from_static(DONE))))
            }
            Phase::Ended => {
                if let Some(conn) = this.close_after.take() {
                    conn.close_after_reply();
                }
                Poll::Ready(None)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_has_one_word_per_token_with_leading_spaces() {
        let r = Reply {
            kind: Kind::Chat,
            number: 1,
            created: 0,
            model: "m".into(),
            prompt_tokens: 1,
            output_tokens: 5,
            finish_reason: "length",
            include_usage: true,
            cut_after: None,
            word_seed: 42,
            output: OutputKind::Content,
            bad_usage: false,
        };
        let t = r.text(5);
        assert!(t.starts_with(' '));
        assert_eq!(crate::workload::tokens::count_tokens(&t), 5);
        assert_eq!(t, r.text(5), "deterministic");
    }

    #[test]
    fn splitmix_spreads_neighbours() {
        assert_ne!(splitmix64(1) % 1000, splitmix64(2) % 1000);
    }
}
