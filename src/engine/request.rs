//! One request, timed: send it, read the reply, produce its record.
//!
//! Timestamps (offsets on the run's [`Clock`]):
//! - `sent_at` is taken immediately before the request is handed to the HTTP
//!   client, after the body is serialised, so building JSON is not charged
//!   to the server. A request that needs a new connection has the handshake
//!   inside its TTFT. A request resent after a stale connection (see
//!   [`super::client`]) is timed from the resend, as is one held by the
//!   connection ramp from the end of that wait: the time before is queue
//!   delay (`sent_at - scheduled_at`), not the server's.
//! - each network chunk of the body is stamped right when `Response::chunk`
//!   returns it, before it is parsed; every SSE event completed by that chunk
//!   gets that stamp. An event carrying generated text of any kind
//!   (content, reasoning, a tool call) appends to `token_times`; any event
//!   with `choices` moves `finished_at`; the usage chunk and `[DONE]` move
//!   neither.
//! - `ended_at` is the end of the body, or when a failure was seen.
//!
//! A compressed reply (`Content-Encoding` other than `identity`) fails as
//! `protocol`, its message naming the encoding: the engine asks for
//! uncompressed replies and does not decode (see `refuse_compressed`).
//!
//! A `usage` that is present but not counts (a negative, fractional or
//! string token count) is ignored, the tokens estimated as without one,
//! and the record flagged `usage_invalid`: the server's bookkeeping is
//! wrong, its reply is not.
//!
//! A reply with a successful status that carries nothing generated — an
//! empty body, an event stream without events, a stream that ends properly
//! without one content-bearing event (only `[DONE]`, say), a whole reply
//! without text, an image reply without an image — is an `empty_reply`
//! failure, never a success with 0 tokens.
//!
//! An API with a job protocol (`http-async`) continues in [`super::poll`]
//! after the submit reply's status: `sent_at` is still the submit.
//!
//! Failures never escape: every error becomes a [`RequestError`] with a class
//! and a redacted one-line message.

use std::time::Duration;

use hyper::Method;
use tokio_util::sync::CancellationToken;

use super::client::{Outgoing, Response, Slot, TransportError, TransportErrorKind};
use super::{Clock, RequestContext};
use crate::api::{cut, error_message, sse::SseDecoder, FullReply, Usage};
use crate::record::{ErrorClass, RequestError, RequestRecord};
use crate::workload::WorkItem;

/// Longest error body read to find a message.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// Token times a streamed request makes room for at its start, at most.
const PRESIZED_TOKENS: u64 = 512;

/// Sends one work item and measures it. `scheduled_at` is when the schedule
/// meant to send it; `capture_text` keeps the generated text for samples.
/// `cancel` ends the request early as `unfinished` (the run is stopping).
/// `slot` holds the connection the request goes on.
pub async fn execute(
    ctx: &RequestContext,
    clock: &Clock,
    item: &WorkItem,
    scheduled_at: Duration,
    capture_text: bool,
    cancel: &CancellationToken,
    slot: &mut Slot,
) -> RequestRecord {
    // A task of a scenario's mix has its own adapter, URL, model and spec.
    let ctx = ctx.for_task(item.task);
    let body = match ctx.adapter.request_body(item, &ctx.model, &ctx.workload_spec) {
        Ok(body) => bytes::Bytes::from(serde_json::to_vec(&body).unwrap_or_default()),
        Err(e) => return unsendable(ctx, clock, item, scheduled_at, &e.0),
    };
    let stream = ctx.workload_spec.stream;
    // `--request-id-prefix`: this request's own id (the plan checked the prefix).
    let with_id;
    let headers = match &ctx.workload_spec.request_id_prefix {
        Some(prefix) => {
            let mut h = ctx.headers.clone();
            if let Ok(v) = reqwest::header::HeaderValue::from_str(&format!("{prefix}-{}", item.index)) {
                h.insert("x-request-id", v);
            }
            with_id = h;
            &with_id
        }
        None => &ctx.headers,
    };
    let request = Outgoing {
        method: Method::POST,
        url: &ctx.url,
        headers,
        body,
    };

    let sent_at = clock.now();
    let mut rec = RequestRecord {
        index: item.index,
        scheduled_at: scheduled_at.min(sent_at),
        sent_at,
        input_tokens: item.input_tokens,
        sent_input_tokens: item.input_tokens,
        streamed: stream,
        tokens_estimated: true,
        // Room for the reply's token times up to its `max_tokens` (within
        // a bound, so a large limit on a short reply holds little): they
        // are then pushed without the vector growing, and copied, as they
        // arrive.
        token_times: Vec::with_capacity(if stream {
            item.max_tokens.map_or(0, |n| n.min(PRESIZED_TOKENS) as usize)
        } else {
            0
        }),
        ..RequestRecord::default()
    };
    let mut text = capture_text.then(String::new);
    let outcome = tokio::select! {
        biased;
        _ = cancel.cancelled() => Err(fail(ErrorClass::Unfinished, "still running when the run stopped (after --grace)")),
        o = read_reply(ctx, clock, request, slot, &mut rec, &mut text) => o,
    };
    if rec.ended_at.is_zero() {
        rec.ended_at = clock.now();
    }
    if let Err(err) = outcome {
        rec.error = Some(RequestError {
            class: err.class,
            message: ctx.redactor.redact(&err.message),
        });
    }
    rec.text = text;
    // A reply much shorter than the room made for it: records may be kept
    // for the run's end, so they hold no more slack than a grown vector.
    if rec.token_times.len() < rec.token_times.capacity() / 2 {
        rec.token_times.shrink_to_fit();
    }
    rec
}

/// The record of a request whose body could not be built: never sent,
/// failed at once (class `request`).
fn unsendable(
    ctx: &RequestContext,
    clock: &Clock,
    item: &WorkItem,
    scheduled_at: Duration,
    why: &str,
) -> RequestRecord {
    let now = clock.now();
    RequestRecord {
        index: item.index,
        scheduled_at: scheduled_at.min(now),
        sent_at: now,
        ended_at: now,
        input_tokens: item.input_tokens,
        error: Some(RequestError {
            class: ErrorClass::Request,
            message: ctx.redactor.redact(&format!("cannot build the request: {why}")),
        }),
        ..RequestRecord::default()
    }
}

pub(super) struct Failure {
    pub(super) class: ErrorClass,
    pub(super) message: String,
}

pub(super) fn fail(class: ErrorClass, message: impl Into<String>) -> Failure {
    Failure {
        class,
        message: message.into(),
    }
}

/// Classifies a transport error from the HTTP client.
pub(super) fn transport_failure(e: &TransportError, while_reading: bool) -> Failure {
    let detail = &e.message;
    match e.kind {
        TransportErrorKind::Timeout => fail(ErrorClass::Timeout, "request timed out (--timeout)"),
        TransportErrorKind::Connect => fail(ErrorClass::Connect, format!("connection failed: {detail}")),
        TransportErrorKind::Body => fail(ErrorClass::StreamBroken, format!("response body broken: {detail}")),
        TransportErrorKind::Request if while_reading => {
            fail(ErrorClass::StreamBroken, format!("response body broken: {detail}"))
        }
        TransportErrorKind::Request => fail(ErrorClass::Request, format!("request failed: {detail}")),
    }
}

/// Sends `request` on the slot's connection; moves `rec.sent_at` when the
/// request really left later (see the module docs).
pub(super) async fn send<'s>(
    ctx: &RequestContext,
    clock: &Clock,
    request: Outgoing<'_>,
    slot: &'s mut Slot,
    rec: &mut RequestRecord,
) -> Result<Response<'s>, TransportError> {
    let exchange = ctx.client.send(slot, request).await?;
    if let Some(at) = exchange.sent_at {
        rec.sent_at = at.saturating_duration_since(clock.origin()).max(rec.sent_at);
    }
    Ok(exchange.response)
}

async fn read_reply(
    ctx: &RequestContext,
    clock: &Clock,
    request: Outgoing<'_>,
    slot: &mut Slot,
    rec: &mut RequestRecord,
    text: &mut Option<String>,
) -> Result<(), Failure> {
    let mut resp = send(ctx, clock, request, slot, rec)
        .await
        .map_err(|e| transport_failure(&e, false))?;
    let status = resp.status();
    rec.status = Some(status.as_u16());
    if !status.is_success() {
        let body = read_limited(&mut resp).await;
        rec.ended_at = clock.now();
        return Err(fail(
            ErrorClass::Http(status.as_u16()),
            format!("HTTP {}: {}", status.as_u16(), error_text(&resp, &body)),
        ));
    }
    if let Some(f) = refuse_compressed(&resp) {
        rec.ended_at = clock.now();
        return Err(f);
    }
    if let Some(jobs) = ctx.adapter.jobs() {
        // Submit, then poll: one record from the submit to the result.
        rec.streamed = false;
        let submitted = super::poll::read_all(resp, clock, rec).await?;
        return super::poll::follow(ctx, clock, jobs, submitted, slot, rec, text).await;
    }
    let is_event_stream = resp.content_type().is_some_and(|v| v.starts_with("text/event-stream"));
    if rec.streamed && is_event_stream {
        read_stream(ctx, clock, resp, rec, text).await
    } else {
        // A server that ignores `stream: true` answers with one body: it is
        // measured as what it is, a non-streamed reply, and counted.
        rec.stream_ignored = rec.streamed;
        rec.streamed = false;
        read_whole(ctx, clock, resp, rec, text).await
    }
}

/// A compressed reply, refused by name. Why refused rather than decoded:
/// the engine stamps every network chunk before parsing it, and a
/// decompressor between the two could hold text back (a compressed stream
/// not flushed per event releases several events at once), shifting TTFT
/// and ITL; and gzip, deflate, br and zstd decoders would add build weight
/// for replies that `Accept-Encoding: identity` (sent unless the user sets
/// that header) makes rare. `identity` itself is no compression.
pub(super) fn refuse_compressed(resp: &Response<'_>) -> Option<Failure> {
    let encoding = resp
        .content_encoding()
        .filter(|e| !e.is_empty() && !e.eq_ignore_ascii_case("identity"))?;
    Some(fail(
        ErrorClass::Protocol,
        format!(
            "the reply is compressed (Content-Encoding: {encoding}), which inferload does not decode; \
             it asks for `Accept-Encoding: identity` unless a --header sets Accept-Encoding: \
             drop that header, or turn compression off in the server or proxy"
        ),
    ))
}

/// The message of an error reply's body, unless the body is compressed.
pub(super) fn error_text(resp: &Response<'_>, body: &[u8]) -> String {
    match resp.content_encoding().filter(|e| !e.eq_ignore_ascii_case("identity")) {
        Some(encoding) => format!("(a body compressed with Content-Encoding: {encoding})"),
        None => error_message(body),
    }
}

pub(super) async fn read_limited(resp: &mut Response<'_>) -> Vec<u8> {
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = resp.chunk().await {
        body.extend_from_slice(&chunk);
        if body.len() >= MAX_ERROR_BODY {
            break;
        }
    }
    body
}

async fn read_whole(
    ctx: &RequestContext,
    clock: &Clock,
    mut resp: Response<'_>,
    rec: &mut RequestRecord,
    text: &mut Option<String>,
) -> Result<(), Failure> {
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            Ok(None) => break,
            Err(e) => {
                rec.ended_at = clock.now();
                return Err(transport_failure(&e, true));
            }
        }
    }
    let end = clock.now();
    rec.ended_at = end;
    let reply = judge_whole(ctx, &body)?;
    rec.finished_at = Some(end);
    apply_reply(rec, reply, body.len(), text);
    Ok(())
}

/// A whole body, read to its end, as a reply: an empty body, a reply the
/// adapter cannot read, and one that carries nothing of what was asked
/// (no text, no image) are failures.
pub(super) fn judge_whole(ctx: &RequestContext, body: &[u8]) -> Result<FullReply, Failure> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(fail(ErrorClass::EmptyReply, "the reply's body is empty"));
    }
    let reply = ctx
        .adapter
        .parse_body(body)
        .map_err(|e| fail(ErrorClass::BadPayload, e.0))?;
    if let Some(why) = &reply.empty {
        return Err(fail(ErrorClass::EmptyReply, why.clone()));
    }
    Ok(reply)
}

/// What a whole reply tells the record: images and bytes for image APIs
/// (no tokens), token counts otherwise; the text for samples.
pub(super) fn apply_reply(rec: &mut RequestRecord, reply: FullReply, body_len: usize, text: &mut Option<String>) {
    match reply.images {
        Some(images) => {
            rec.images = Some(images);
            rec.response_bytes = Some(body_len as u64);
            rec.output_tokens = 0;
            rec.tokens_estimated = false;
        }
        None => {
            rec.output_kinds = reply.kinds;
            rec.usage_invalid = reply.usage_invalid;
            apply_usage(rec, reply.usage, crate::workload::tokens::count_tokens(&reply.content));
        }
    }
    if let Some(t) = text {
        t.push_str(&reply.content);
    }
}

/// Reads an SSE body event by event, stamping each network chunk on arrival.
async fn read_stream(
    ctx: &RequestContext,
    clock: &Clock,
    mut resp: Response<'_>,
    rec: &mut RequestRecord,
    text: &mut Option<String>,
) -> Result<(), Failure> {
    let mut decoder = SseDecoder::new();
    let mut state = StreamState::default();
    loop {
        let chunk = match resp.chunk().await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => break,
            Err(e) => {
                rec.ended_at = clock.now();
                return Err(state.failure.take().unwrap_or_else(|| transport_failure(&e, true)));
            }
        };
        let now = clock.now();
        if !state.any_byte {
            state.any_byte = chunk.iter().any(|b| !b.is_ascii_whitespace());
        }
        decoder.feed(&chunk, |data| state.on_event(ctx, now, data, rec, text));
        if let Some(f) = state.failure.take() {
            rec.ended_at = now;
            return Err(f);
        }
    }
    let now = clock.now();
    rec.ended_at = now;
    decoder.finish(|data| state.on_event(ctx, now, data, rec, text));
    if let Some(f) = state.failure.take() {
        return Err(f);
    }
    if !state.any_byte {
        return Err(fail(ErrorClass::EmptyReply, "the reply's event stream is empty"));
    }
    if !state.done && !state.finish_seen {
        return Err(fail(
            ErrorClass::StreamBroken,
            format!(
                "stream ended after {} content chunks without a finish_reason or [DONE]",
                state.chunks
            ),
        ));
    }
    rec.usage_invalid = state.usage_invalid;
    if state.chunks == 0 {
        return Err(fail(ErrorClass::EmptyReply, state.why_empty()));
    }
    apply_usage(rec, state.usage, state.chunks);
    Ok(())
}

#[derive(Default)]
struct StreamState {
    /// The body had a byte that was not white space.
    any_byte: bool,
    /// Events other than `[DONE]`.
    events: u64,
    done: bool,
    finish_seen: bool,
    chunks: u64,
    usage: Option<Usage>,
    usage_invalid: bool,
    failure: Option<Failure>,
}

impl StreamState {
    /// Why a stream that ended properly without any generated text is empty.
    fn why_empty(&self) -> String {
        if self.events == 0 {
            return "the stream carried only [DONE]: no text and no usage".into();
        }
        let usage = match self.usage.and_then(|u| u.completion_tokens) {
            Some(n) => format!("; its usage reports {n} completion tokens"),
            None => String::new(),
        };
        format!(
            "the stream ended (with {}) without any generated text (content, reasoning or tool-call arguments){usage}",
            if self.finish_seen { "a finish_reason" } else { "[DONE]" }
        )
    }

    fn on_event(
        &mut self,
        ctx: &RequestContext,
        now: Duration,
        data: &[u8],
        rec: &mut RequestRecord,
        text: &mut Option<String>,
    ) {
        if self.failure.is_some() || self.done {
            return;
        }
        if data == b"[DONE]" {
            self.done = true;
            return;
        }
        self.events += 1;
        let ev = match ctx.adapter.parse_event(data) {
            Ok(ev) => ev,
            Err(e) => {
                self.failure = Some(fail(ErrorClass::BadPayload, e.0));
                return;
            }
        };
        if let Some(msg) = ev.error {
            self.failure = Some(fail(
                ErrorClass::BadPayload,
                format!("server error in stream: {}", cut(&msg, 300)),
            ));
            return;
        }
        if ev.has_choices {
            rec.finished_at = Some(now);
        }
        if !ev.content.is_empty() {
            rec.token_times.push(now);
            rec.output_kinds = rec.output_kinds.union(ev.kinds);
            self.chunks += 1;
            if let Some(t) = text {
                t.push_str(&ev.content);
            }
        }
        if ev.finished {
            self.finish_seen = true;
        }
        // The last usage a stream sends is its final count; one that is not
        // counts replaces any earlier one, so the reply's tokens are then
        // estimated (and the reply counted as having an invalid usage).
        if ev.usage.is_some() || ev.usage_invalid {
            self.usage = ev.usage;
            self.usage_invalid = ev.usage_invalid;
        }
    }
}

/// Token counts from the server's usage when it gave them, else the
/// client's estimate (flagged).
fn apply_usage(rec: &mut RequestRecord, usage: Option<Usage>, estimated_output: u64) {
    let usage = usage.unwrap_or_default();
    let exact = usage.prompt_tokens.is_some() && usage.completion_tokens.is_some();
    if let Some(p) = usage.prompt_tokens {
        rec.input_tokens = p;
    }
    rec.output_tokens = usage.completion_tokens.unwrap_or(estimated_output);
    rec.output_from_usage = usage.completion_tokens.is_some();
    rec.tokens_estimated = !exact;
}
