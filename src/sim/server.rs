//! The HTTP face of the simulator: axum routes speaking the OpenAI API as
//! vLLM serves it, request validation, credentials, fault injection, and
//! handing accepted requests to the performance model.
//!
//! A generation request's life: the handler notes `received` on entry (the
//! start of the TTFT truth), checks the key (401), parses and validates the
//! body (400, 404 for an unknown model), and only then accepts it — counts
//! it in `requests_total` and in flight. It then draws, from the seeded RNG
//! of its request number, its fault (error or disconnect), its output
//! length and its words, and is served by its model's profile: a batching
//! engine loop or the fixed schedule. A request given neither an error nor
//! a disconnect may get the configured `--fault` (`faults.rs`): an empty
//! reply (never sent to the engine), a whole body despite `stream: true`,
//! a stall, or a nonsensical usage.
//!
//! Output length rule: with `ignore_eos` the reply has exactly `max_tokens`
//! tokens (`finish_reason` "length"). Without it, the "end of sequence"
//! falls uniformly in `[max(min_tokens, 1), max_tokens]`; reaching
//! `max_tokens` reports "length", stopping earlier "stop".

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, Extension, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::conn::{ConnHandle, ConnectionMode, LLAMA_KEEP_ALIVE};
use super::faults::{self, Fault};
use super::metrics::{self, Counters, Metrics};
use super::model::{EngineSeq, FixedProfile, Seq};
use super::stream::{splitmix64, Kind, Reply, Ticks, TokenStream};
use super::{Profile, SimConfig};
use crate::workload::tokens::count_tokens;

/// `max_tokens` when the request gives none (vLLM would use the rest of
/// the context window; a fixed default keeps runs predictable).
pub const DEFAULT_MAX_TOKENS: u64 = 256;
/// The largest `max_tokens` accepted.
pub const MAX_TOKENS_LIMIT: u64 = 1 << 20;
/// Request bodies up to this size (axum's default of 2 MB is too small for
/// long-context prompts).
const BODY_LIMIT: usize = 64 << 20;

/// State shared by every handler.
pub struct Shared {
    pub config: SimConfig,
    pub counters: Arc<Counters>,
    pub metrics: Metrics,
    /// Per model, in config order.
    pub serving: Vec<Serving>,
    pub models: Vec<Arc<str>>,
    pub started_unix: u64,
    /// The first generation request is still to come and pays
    /// `config.cold_first_request` (`--cold-first-request`).
    pub cold_pending: std::sync::atomic::AtomicBool,
    /// The image-generation service (`image.rs`), on its own routes.
    pub image: Arc<super::image::ImageService>,
}

/// How one model produces its tokens.
pub enum Serving {
    /// The fixed schedule, computed by each request's stream.
    Fixed(FixedProfile),
    /// The queue of the model's engine loop (closing it stops the loop).
    Engine(mpsc::UnboundedSender<EngineSeq>),
}

pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/v1/models", get(list_models))
        .route("/v1/chat/completions", post(chat))
        .route("/v1/completions", post(completions))
        .route("/health", get(|| async { StatusCode::OK }))
        .route("/metrics", get(prometheus))
        .route("/sim/stats", get(sim_stats))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(shared.clone())
        .merge(super::image::router(shared.image.clone()))
}

pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A refused request, answered with an OpenAI-style error body.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    kind: &'static str,
    message: String,
    code: serde_json::Value,
}

impl ApiError {
    fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            kind,
            message: message.into(),
            code: json!(status.as_u16()),
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "BadRequestError", message)
    }

    fn unavailable(message: &str) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "ServiceUnavailableError", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({
            "error": {"message": self.message, "type": self.kind, "param": null, "code": self.code}
        });
        (self.status, axum::Json(body)).into_response()
    }
}

async fn not_found(uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "NotFoundError",
        format!("Not found: {}", uri.path()),
    )
}

impl Shared {
    /// Checks `Authorization: Bearer KEY` when a key is configured. The 401
    /// echoes the presented key, as OpenAI does (a client must redact it).
    fn authorize(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        let Some(expected) = &self.config.api_key else {
            return Ok(());
        };
        let presented = headers
            .get(header::AUTHORIZATION)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let key = presented.as_deref().map(|v| {
            let v = v.trim();
            match v.split_once(' ') {
                Some((scheme, rest)) if scheme.eq_ignore_ascii_case("bearer") => rest.trim(),
                _ => v,
            }
        });
        match key {
            Some(k) if k == expected => Ok(()),
            Some(k) if !k.is_empty() => Err(ApiError {
                code: json!("invalid_api_key"),
                ..ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_request_error",
                    format!(
                        "Incorrect API key provided: {k}. You can find your API key at https://platform.openai.com/account/api-keys."
                    ),
                )
            }),
            _ => Err(ApiError {
                code: serde_json::Value::Null,
                ..ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "invalid_request_error",
                    "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                )
            }),
        }
    }
}

async fn list_models(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Result<Response, ApiError> {
    s.authorize(&headers)?;
    let data: Vec<_> = s
        .models
        .iter()
        .map(|m| json!({"id": &**m, "object": "model", "created": s.started_unix, "owned_by": "inferload"}))
        .collect();
    Ok(axum::Json(json!({"object": "list", "data": data})).into_response())
}

async fn prometheus(State(s): State<Arc<Shared>>) -> Response {
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], s.metrics.render()).into_response()
}

async fn sim_stats(State(s): State<Arc<Shared>>) -> Response {
    axum::Json(s.counters.snapshot()).into_response()
}

#[derive(Deserialize)]
struct StreamOptions {
    #[serde(default)]
    include_usage: Option<bool>,
}

/// The request fields both APIs honour.
#[derive(Deserialize)]
struct Common {
    model: String,
    #[serde(default)]
    max_tokens: Option<i64>,
    #[serde(default)]
    max_completion_tokens: Option<i64>,
    #[serde(default)]
    min_tokens: Option<i64>,
    #[serde(default)]
    ignore_eos: Option<bool>,
    #[serde(default)]
    stream: Option<bool>,
    #[serde(default)]
    stream_options: Option<StreamOptions>,
}

#[derive(Deserialize)]
struct ChatRequest {
    messages: Vec<Message>,
    #[serde(flatten)]
    common: Common,
}

#[derive(Deserialize)]
struct Message {
    #[serde(default)]
    content: Option<Content>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Content {
    Text(String),
    Parts(Vec<Part>),
}

#[derive(Deserialize)]
struct Part {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    text: Option<String>,
}

#[derive(Deserialize)]
struct CompletionRequest {
    prompt: PromptField,
    #[serde(flatten)]
    common: Common,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum PromptField {
    One(String),
    Many(Vec<String>),
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("Invalid request body: {e}")))
}

async fn chat(
    State(s): State<Arc<Shared>>,
    conn: Option<Extension<ConnHandle>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let received = Instant::now();
    s.authorize(&headers)?;
    let req: ChatRequest = parse(&body)?;
    let texts: Vec<&str> = req
        .messages
        .iter()
        .flat_map(|m| match &m.content {
            Some(Content::Text(t)) => vec![t.as_str()],
            Some(Content::Parts(parts)) => parts
                .iter()
                .filter(|p| p.kind == "text")
                .filter_map(|p| p.text.as_deref())
                .collect(),
            None => Vec::new(),
        })
        .collect();
    let prompt_tokens = texts.iter().map(|t| count_tokens(t)).sum();
    let blocks = prompt_blocks(&s, &texts);
    generate(&s, conn, Kind::Chat, received, req.common, prompt_tokens, blocks).await
}

async fn completions(
    State(s): State<Arc<Shared>>,
    conn: Option<Extension<ConnHandle>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let received = Instant::now();
    s.authorize(&headers)?;
    let req: CompletionRequest = parse(&body)?;
    let prompt = match &req.prompt {
        PromptField::One(p) => p,
        PromptField::Many(v) if v.len() == 1 => &v[0],
        PromptField::Many(_) => {
            return Err(ApiError::bad_request(
                "The simulator serves one prompt per request; `prompt` holds several.",
            ))
        }
    };
    let prompt_tokens = count_tokens(prompt);
    let blocks = prompt_blocks(&s, &[prompt.as_str()]);
    generate(&s, conn, Kind::Completion, received, req.common, prompt_tokens, blocks).await
}

/// The prefix-cache block hashes of a prompt given as its texts in order
/// (a chat's message contents; tokens by the shared counting rule), or
/// none when no prefix cache is kept. Hashed here, on the request's task,
/// so the engine loop's steps only look blocks up.
fn prompt_blocks(s: &Shared, texts: &[&str]) -> Vec<u64> {
    match s.config.prefix_blocks() {
        Some(size) => super::prefix::block_hashes(texts.iter().flat_map(|t| t.split_whitespace()), size),
        None => Vec::new(),
    }
}

/// What the request asked for, validated.
struct Limits {
    max_tokens: u64,
    min_tokens: u64,
}

fn limits(c: &Common) -> Result<Limits, ApiError> {
    let max = c.max_completion_tokens.or(c.max_tokens);
    let max_tokens = match max {
        None => DEFAULT_MAX_TOKENS,
        Some(v) if v < 1 => {
            return Err(ApiError::bad_request(format!(
                "max_tokens must be at least 1, got {v}."
            )))
        }
        Some(v) if v as u64 > MAX_TOKENS_LIMIT => {
            return Err(ApiError::bad_request(format!(
                "max_tokens must be at most {MAX_TOKENS_LIMIT}, got {v}."
            )))
        }
        Some(v) => v as u64,
    };
    let min_tokens = match c.min_tokens {
        None => 0,
        Some(v) if v < 0 => {
            return Err(ApiError::bad_request(format!(
                "min_tokens must be greater than or equal to 0, got {v}."
            )))
        }
        Some(v) if v as u64 > max_tokens => {
            return Err(ApiError::bad_request(format!(
                "min_tokens must be less than or equal to max_tokens={max_tokens}, got {v}."
            )))
        }
        Some(v) => v as u64,
    };
    Ok(Limits { max_tokens, min_tokens })
}

/// Draws the request's output length and finish reason (module docs).
fn output_length(rng: &mut StdRng, limits: &Limits, ignore_eos: bool) -> (u32, &'static str) {
    let max = limits.max_tokens as u32;
    if ignore_eos {
        return (max, "length");
    }
    let lo = (limits.min_tokens as u32).clamp(1, max);
    let n = rng.random_range(lo..=max);
    (n, if n == max { "length" } else { "stop" })
}

async fn generate(
    s: &Arc<Shared>,
    conn: Option<Extension<ConnHandle>>,
    kind: Kind,
    received: Instant,
    c: Common,
    prompt_tokens: u64,
    blocks: Vec<u64>,
) -> Result<Response, ApiError> {
    let Some(model_index) = s.models.iter().position(|m| **m == *c.model) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "NotFoundError",
            format!("The model `{}` does not exist.", c.model),
        ));
    };
    let limits = limits(&c)?;
    if let Profile::Batching(p) = &s.config.profile {
        let want = prompt_tokens + limits.max_tokens;
        if want > p.kv_cache_tokens {
            return Err(ApiError::bad_request(format!(
                "This model's maximum context length is {} tokens. However, you requested {want} tokens ({prompt_tokens} in the messages, {} in the completion). Please reduce the length of the messages or completion.",
                p.kv_cache_tokens, limits.max_tokens
            )));
        }
    }

    let metrics = s.metrics.model(model_index).clone();
    let engine = &s.serving[model_index];
    // A batching engine publishes its own running count.
    let running_gauge = matches!(engine, Serving::Fixed(_)).then(|| metrics.running.clone());
    let (number, mut in_flight) = s.counters.accept(running_gauge);

    let mut rng = StdRng::seed_from_u64(splitmix64(s.config.seed ^ splitmix64(number)));
    let draw: f64 = rng.random();
    if draw < s.config.error_rate {
        s.counters.error_injected();
        in_flight.release();
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "InternalServerError",
            "Injected error (inferload sim --error-rate).",
        ));
    }
    let disconnect = draw < s.config.error_rate + s.config.disconnect_rate;
    let (output_tokens, finish_reason) = output_length(&mut rng, &limits, c.ignore_eos.unwrap_or(false));
    if disconnect {
        s.counters.disconnect_injected();
    }
    let fault = s
        .config
        .fault
        .filter(|_| !disconnect && faults::strikes(s.config.seed, number, s.config.fault_rate));
    if fault.is_some() {
        s.counters.fault_injected();
    }
    let json_type = [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))];
    let stream = c.stream.unwrap_or(false) && fault != Some(Fault::IgnoreStream);
    if fault == Some(Fault::Empty) && !stream {
        in_flight.release();
        return Ok((json_type, Body::empty()).into_response());
    }
    let reply = Reply {
        kind,
        number,
        created: unix_now(),
        model: s.models[model_index].clone(),
        prompt_tokens,
        output_tokens,
        finish_reason,
        include_usage: c.stream_options.and_then(|o| o.include_usage).unwrap_or(false),
        cut_after: disconnect.then_some(output_tokens / 2),
        word_seed: rng.random(),
        output: s.config.output,
        bad_usage: fault == Some(Fault::BadUsage),
    };

    // The first request of a fresh server is slow (`--cold-first-request`).
    let cold = if s.cold_pending.swap(false, std::sync::atomic::Ordering::SeqCst) {
        s.config.cold_first_request
    } else {
        std::time::Duration::ZERO
    };
    let mut ticks = match engine {
        // Nothing is generated for an empty reply.
        _ if fault == Some(Fault::Empty) => Ticks::fixed(received, std::time::Duration::ZERO),
        Serving::Engine(queue) => {
            let (tx, rx) = mpsc::unbounded_channel();
            let seq = Seq {
                prompt_tokens,
                output_tokens,
                reserve: prompt_tokens + limits.max_tokens,
                blocks,
                generated: 0,
                payload: tx,
            };
            if !cold.is_zero() {
                tokio::time::sleep(cold).await;
            }
            if queue.send(seq).is_err() {
                return Err(ApiError::unavailable("The simulator is shutting down."));
            }
            Ticks::Engine(rx)
        }
        Serving::Fixed(p) => {
            // No prefill stage: the prompt counts as processed on arrival.
            metrics.prompt_tokens.inc_by(prompt_tokens);
            Ticks::fixed(received + cold + p.ttft, p.itl)
        }
    };
    let fixed = matches!(engine, Serving::Fixed(_));

    if stream {
        let mut stream = TokenStream::new(reply, ticks, received, in_flight, s.counters.clone(), metrics, fixed);
        match fault {
            Some(Fault::Empty) => stream = stream.empty(),
            Some(Fault::Stall { after_tokens }) => stream = stream.stalling(after_tokens),
            _ => {}
        }
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        if s.config.connections == ConnectionMode::CloseAfterStream {
            // llama-server's headers promise a kept connection; the stream's
            // end closes it all the same.
            headers.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
            headers.insert("keep-alive", HeaderValue::from_static(LLAMA_KEEP_ALIVE));
            stream = stream.closing_connection(conn.map(|Extension(c)| c));
        }
        return Ok((headers, Body::from_stream(stream)).into_response());
    }

    if let Some(Fault::Stall { .. }) = fault {
        // The headers, then a body that never comes; the request stays in
        // flight until the client goes away and hyper drops the body.
        let mut held = Some(in_flight);
        let hang = futures_util::stream::poll_fn(move |_| {
            let _ = &mut held;
            std::task::Poll::<Option<Result<Bytes, std::io::Error>>>::Pending
        });
        return Ok((json_type, Body::from_stream(hang)).into_response());
    }
    // Not streamed: the reply leaves when its last token is produced.
    let through = reply.cut_after.unwrap_or(output_tokens).max(1) - 1;
    if !ticks.wait_through(through).await {
        return Err(ApiError::unavailable("The simulator stopped while generating."));
    }
    let body = reply.body();
    if reply.cut_after.is_some() {
        // Half the body, then an error: hyper drops the connection.
        let half = body.slice(..body.len() / 2);
        let parts: [Result<Bytes, std::io::Error>; 2] = [Ok(half), Err(std::io::Error::other("injected disconnect"))];
        return Ok((json_type, Body::from_stream(futures_util::stream::iter(parts))).into_response());
    }
    if fixed {
        metrics.generation_tokens.inc_by(u64::from(output_tokens));
    }
    s.counters.succeeded(prompt_tokens, u64::from(output_tokens), None);
    metrics.success(finish_reason);
    in_flight.release();
    Ok((json_type, body).into_response())
}
