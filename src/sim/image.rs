//! The simulator's image-generation service: a diffusion model whose
//! generation time is `steps × step_time`, served by `workers` model
//! replicas — the setups users compare when they tune an image API.
//!
//! - `POST /generate`: one image. A request takes a replica (a semaphore
//!   of `workers` permits: with 1, the naive baseline of one model behind a
//!   global lock; with N, a pool), holds it for the generation time, and
//!   answers `{"image": BASE64_PNG, "seed", "num_inference_steps", "width",
//!   "height", "guidance_scale", "generation_time_s", "queue_time_s"}`.
//! - `POST /batch-generate`: `{"prompts": [...], ...}` on one replica, all
//!   images at once in `steps × step_time × (1 + (k−1) × (1 − efficiency))`
//!   for k prompts; answers `{"images": [...], "count", ...}`.
//! - `POST /async-generate`: answers `{"job_id", "status": "queued"}` at
//!   once; the job waits for a replica like `/generate`. `GET /jobs/{id}`
//!   answers `{"job_id", "status": "queued|running|done|failed"}`, with
//!   `result` (the `/generate` reply) once done and `error` once failed.
//!   Finished jobs are forgotten after [`JOB_TTL`].
//! - `POST /v1/images/generations`: OpenAI's shape (`prompt`, `n`, `size`
//!   `WxH`, `response_format`), `n` images as one batch; answers
//!   `{"created", "data": [{"b64_json"}]}` (a `data:` URL under `url` when
//!   `response_format` is `url`). Checks the API key like every `/v1` route.
//!
//! Requests carry `prompt` and optionally `num_inference_steps` (default
//! 25), `width`, `height` (default 512, 8 to 4096), `guidance_scale`
//! (default 3.5) and `seed`. Every image is a valid grayscale PNG of the
//! requested size (a gradient, encoded once per size and cached), so
//! clients can decode what they count. `--error-rate` fails that share of
//! requests (HTTP 500; a failed status for jobs).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::Semaphore;
use tokio::time::Instant;

use super::stream::splitmix64;

/// How long a finished job stays fetchable.
pub const JOB_TTL: Duration = Duration::from_secs(300);
/// Defaults of a request that does not say.
const DEFAULT_STEPS: u32 = 25;
const DEFAULT_SIZE: u32 = 512;
const DEFAULT_GUIDANCE: f64 = 3.5;
/// Most prompts in one batch, and images in one OpenAI request.
const MAX_BATCH: usize = 64;

/// The image model's parameters (`inferload sim --image-*`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImageConfig {
    /// Model replicas serving requests at once (1: one model behind a lock).
    pub workers: usize,
    /// Time of one inference step.
    pub step_time: Duration,
    /// How much of each extra prompt's cost batching saves (0: none, 1: all).
    pub batch_efficiency: f64,
}

impl Default for ImageConfig {
    /// One replica, 20 ms steps (25 steps: 0.5 s an image), batching saving half.
    fn default() -> Self {
        Self {
            workers: 1,
            step_time: Duration::from_millis(20),
            batch_efficiency: 0.5,
        }
    }
}

impl ImageConfig {
    /// Generation time of `k` images of `steps` steps in one batch.
    pub fn generation_time(&self, steps: u32, k: usize) -> Duration {
        let one = self.step_time * steps;
        let extra = (k.max(1) - 1) as f64 * (1.0 - self.batch_efficiency.clamp(0.0, 1.0));
        one.mul_f64(1.0 + extra)
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.workers == 0 {
            return Err("the image service needs at least 1 worker".into());
        }
        if !(0.0..=1.0).contains(&self.batch_efficiency) {
            return Err(format!(
                "the batch efficiency must be between 0 and 1, not {}",
                self.batch_efficiency
            ));
        }
        Ok(())
    }
}

/// Counters of the image service (`GET /sim/image-stats`, `SimHandle::image_stats`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImageStats {
    /// Accepted generation requests (every route; a batch is one).
    pub requests: u64,
    /// Images generated.
    pub images: u64,
    /// Jobs submitted to `/async-generate`.
    pub jobs: u64,
    /// Requests and jobs failed by `--error-rate`.
    pub failed: u64,
    /// Most replicas busy at once.
    pub peak_busy_workers: u64,
}

#[derive(Debug, Clone)]
enum JobState {
    Queued,
    Running,
    Done(Arc<Value>),
    Failed(String),
}

struct Job {
    state: JobState,
    finished: Option<Instant>,
}

/// The image service's state.
pub struct ImageService {
    config: ImageConfig,
    workers: Semaphore,
    jobs: Mutex<HashMap<u64, Job>>,
    next: AtomicU64,
    busy: AtomicU64,
    requests: AtomicU64,
    images: AtomicU64,
    submitted: AtomicU64,
    failed: AtomicU64,
    peak_busy: AtomicU64,
    pngs: Mutex<HashMap<(u32, u32), Arc<str>>>,
    api_key: Option<String>,
    error_rate: f64,
    seed: u64,
}

impl ImageService {
    pub fn new(config: ImageConfig, api_key: Option<String>, error_rate: f64, seed: u64) -> Self {
        Self {
            workers: Semaphore::new(config.workers.max(1)),
            config,
            jobs: Mutex::new(HashMap::new()),
            next: AtomicU64::new(0),
            busy: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            images: AtomicU64::new(0),
            submitted: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            peak_busy: AtomicU64::new(0),
            pngs: Mutex::new(HashMap::new()),
            api_key,
            error_rate,
            seed,
        }
    }

    pub fn stats(&self) -> ImageStats {
        ImageStats {
            requests: self.requests.load(Ordering::Relaxed),
            images: self.images.load(Ordering::Relaxed),
            jobs: self.submitted.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            peak_busy_workers: self.peak_busy.load(Ordering::Relaxed),
        }
    }

    /// A request's number and whether `--error-rate` fails it.
    fn accept(&self) -> (u64, bool) {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        self.requests.fetch_add(1, Ordering::Relaxed);
        let draw = (splitmix64(self.seed ^ splitmix64(n ^ 0x1A6E)) >> 11) as f64 / (1u64 << 53) as f64;
        let fail = draw < self.error_rate;
        if fail {
            self.failed.fetch_add(1, Ordering::Relaxed);
        }
        (n, fail)
    }

    /// Runs `k` images of `p` on one replica: waits for it, holds it for
    /// the generation time. Returns the time waited and generating.
    async fn generate(&self, p: &Params, k: usize) -> Option<(Duration, Duration)> {
        let queued = Instant::now();
        let _permit = self.workers.acquire().await.ok()?;
        let waited = queued.elapsed();
        let busy = self.busy.fetch_add(1, Ordering::Relaxed) + 1;
        self.peak_busy.fetch_max(busy, Ordering::Relaxed);
        let time = self.config.generation_time(p.steps, k);
        tokio::time::sleep(time).await;
        self.busy.fetch_sub(1, Ordering::Relaxed);
        self.images.fetch_add(k as u64, Ordering::Relaxed);
        Some((waited, time))
    }

    /// The base64 PNG of a size (encoded once).
    fn png(&self, width: u32, height: u32) -> Arc<str> {
        let mut cache = self.pngs.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(p) = cache.get(&(width, height)) {
            return p.clone();
        }
        let b64: Arc<str> = base64::engine::general_purpose::STANDARD
            .encode(encode_png(width, height))
            .into();
        if cache.len() >= 64 {
            cache.clear();
        }
        cache.insert((width, height), b64.clone());
        b64
    }

    fn reply(&self, p: &Params, seed: u64, waited: Duration, took: Duration) -> Value {
        json!({
            "image": &*self.png(p.width, p.height),
            "seed": seed,
            "num_inference_steps": p.steps,
            "width": p.width,
            "height": p.height,
            "guidance_scale": p.guidance,
            "generation_time_s": took.as_secs_f64(),
            "queue_time_s": waited.as_secs_f64(),
        })
    }

    fn set_job(&self, id: u64, state: JobState) {
        let mut jobs = self.jobs.lock().unwrap_or_else(PoisonError::into_inner);
        let finished = matches!(state, JobState::Done(_) | JobState::Failed(_)).then(Instant::now);
        jobs.insert(id, Job { state, finished });
    }

    fn authorize(&self, headers: &HeaderMap) -> Result<(), Refusal> {
        let Some(key) = &self.api_key else {
            return Ok(());
        };
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().strip_prefix("Bearer "))
            .map(str::trim);
        if presented == Some(key.as_str()) {
            return Ok(());
        }
        Err(error(
            StatusCode::UNAUTHORIZED,
            "Incorrect or missing API key (Authorization: Bearer KEY).",
        ))
    }
}

/// A grayscale gradient PNG of the size.
fn encode_png(width: u32, height: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, width, height);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::Eight);
    enc.set_compression(png::Compression::Fast);
    let row: Vec<u8> = (0..width)
        .map(|x| (u64::from(x) * 255 / u64::from(width.max(1))) as u8)
        .collect();
    let data = row.repeat(height as usize);
    // Writing into a Vec cannot fail; the sizes match by construction.
    if let Ok(mut w) = enc.write_header() {
        let _ = w.write_image_data(&data);
        let _ = w.finish();
    }
    out
}

/// A refused request: its status and message, answered as
/// `{"error": {"message", "code"}}`.
#[derive(Debug)]
pub struct Refusal(StatusCode, String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = json!({"error": {"message": self.1, "code": self.0.as_u16()}});
        (self.0, Json(body)).into_response()
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> Refusal {
    Refusal(status, message.into())
}

/// The generation parameters of a request, validated.
#[derive(Debug, Clone)]
struct Params {
    steps: u32,
    width: u32,
    height: u32,
    guidance: f64,
    seed: Option<u64>,
}

#[derive(Deserialize)]
struct Common {
    #[serde(default)]
    num_inference_steps: Option<i64>,
    #[serde(default)]
    width: Option<i64>,
    #[serde(default)]
    height: Option<i64>,
    #[serde(default)]
    guidance_scale: Option<f64>,
    #[serde(default)]
    seed: Option<u64>,
}

impl Common {
    fn params(&self, size: Option<(u32, u32)>) -> Result<Params, Refusal> {
        let bad = |m: String| error(StatusCode::BAD_REQUEST, m);
        let steps = match self.num_inference_steps {
            None => DEFAULT_STEPS,
            Some(s) if (1..=1000).contains(&s) => s as u32,
            Some(s) => return Err(bad(format!("num_inference_steps must be between 1 and 1000, got {s}"))),
        };
        let dim = |name: &str, v: Option<i64>, default: u32| match v {
            None => Ok(default),
            Some(d) if (8..=4096).contains(&d) => Ok(d as u32),
            Some(d) => Err(bad(format!("{name} must be between 8 and 4096, got {d}"))),
        };
        let (dw, dh) = size.unwrap_or((DEFAULT_SIZE, DEFAULT_SIZE));
        let guidance = self.guidance_scale.unwrap_or(DEFAULT_GUIDANCE);
        if !(guidance.is_finite() && guidance >= 0.0) {
            return Err(bad(format!(
                "guidance_scale must be a number of zero or more, got {guidance}"
            )));
        }
        Ok(Params {
            steps,
            width: dim("width", self.width, dw)?,
            height: dim("height", self.height, dh)?,
            guidance,
            seed: self.seed,
        })
    }
}

#[derive(Deserialize)]
struct GenerateRequest {
    prompt: String,
    #[serde(flatten)]
    common: Common,
}

#[derive(Deserialize)]
struct BatchRequest {
    prompts: Vec<String>,
    #[serde(flatten)]
    common: Common,
}

#[derive(Deserialize)]
struct OpenAiRequest {
    prompt: String,
    #[serde(default)]
    n: Option<i64>,
    #[serde(default)]
    size: Option<String>,
    #[serde(default)]
    response_format: Option<String>,
    #[serde(flatten)]
    common: Common,
}

fn empty_prompt() -> Refusal {
    error(StatusCode::BAD_REQUEST, "prompt must not be empty")
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Refusal> {
    serde_json::from_slice(body).map_err(|e| error(StatusCode::BAD_REQUEST, format!("Invalid request body: {e}")))
}

/// The image routes, on their own state; merged into the simulator's router.
pub fn router(svc: Arc<ImageService>) -> Router {
    Router::new()
        .route("/generate", post(generate))
        .route("/batch-generate", post(batch_generate))
        .route("/async-generate", post(async_generate))
        .route("/jobs/{id}", get(job))
        .route("/v1/images/generations", post(openai_generations))
        .route("/sim/image-stats", get(image_stats))
        .with_state(svc)
}

fn injected() -> Refusal {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Injected error (inferload sim --error-rate).",
    )
}

fn unavailable() -> Refusal {
    error(StatusCode::SERVICE_UNAVAILABLE, "The simulator is shutting down.")
}

async fn generate(State(svc): State<Arc<ImageService>>, body: Bytes) -> Result<Response, Refusal> {
    let req: GenerateRequest = parse(&body)?;
    if req.prompt.trim().is_empty() {
        return Err(empty_prompt());
    }
    let p = req.common.params(None)?;
    let (n, fail) = svc.accept();
    if fail {
        return Err(injected());
    }
    let Some((waited, took)) = svc.generate(&p, 1).await else {
        return Err(unavailable());
    };
    let seed = p.seed.unwrap_or(n);
    Ok(Json(svc.reply(&p, seed, waited, took)).into_response())
}

async fn batch_generate(State(svc): State<Arc<ImageService>>, body: Bytes) -> Result<Response, Refusal> {
    let req: BatchRequest = parse(&body)?;
    if req.prompts.iter().any(|p| p.trim().is_empty()) {
        return Err(empty_prompt());
    }
    if req.prompts.is_empty() || req.prompts.len() > MAX_BATCH {
        return Err(error(
            StatusCode::BAD_REQUEST,
            format!("prompts must hold 1 to {MAX_BATCH} prompts, got {}", req.prompts.len()),
        ));
    }
    let p = req.common.params(None)?;
    let (_, fail) = svc.accept();
    if fail {
        return Err(injected());
    }
    let k = req.prompts.len();
    let Some((waited, took)) = svc.generate(&p, k).await else {
        return Err(unavailable());
    };
    let png = svc.png(p.width, p.height);
    let images: Vec<&str> = (0..k).map(|_| &*png).collect();
    Ok(Json(json!({
        "images": images,
        "count": k,
        "num_inference_steps": p.steps,
        "width": p.width,
        "height": p.height,
        "generation_time_s": took.as_secs_f64(),
        "queue_time_s": waited.as_secs_f64(),
    }))
    .into_response())
}

async fn async_generate(State(svc): State<Arc<ImageService>>, body: Bytes) -> Result<Response, Refusal> {
    let req: GenerateRequest = parse(&body)?;
    if req.prompt.trim().is_empty() {
        return Err(empty_prompt());
    }
    let p = req.common.params(None)?;
    let (n, fail) = svc.accept();
    svc.submitted.fetch_add(1, Ordering::Relaxed);
    {
        // Forget jobs finished long ago, so a long run stays small.
        let mut jobs = svc.jobs.lock().unwrap_or_else(PoisonError::into_inner);
        jobs.retain(|_, j| j.finished.is_none_or(|t| t.elapsed() < JOB_TTL));
        jobs.insert(
            n,
            Job {
                state: JobState::Queued,
                finished: None,
            },
        );
    }
    let worker = svc.clone();
    tokio::spawn(async move {
        let queued = Instant::now();
        let Ok(_permit) = worker.workers.acquire().await else {
            return;
        };
        let waited = queued.elapsed();
        worker.set_job(n, JobState::Running);
        let busy = worker.busy.fetch_add(1, Ordering::Relaxed) + 1;
        worker.peak_busy.fetch_max(busy, Ordering::Relaxed);
        let took = worker.config.generation_time(p.steps, 1);
        tokio::time::sleep(took).await;
        worker.busy.fetch_sub(1, Ordering::Relaxed);
        if fail {
            worker.set_job(
                n,
                JobState::Failed("Injected error (inferload sim --error-rate).".into()),
            );
            return;
        }
        worker.images.fetch_add(1, Ordering::Relaxed);
        let reply = worker.reply(&p, p.seed.unwrap_or(n), waited, took);
        worker.set_job(n, JobState::Done(Arc::new(reply)));
    });
    let id = format!("job-{n}");
    Ok((StatusCode::ACCEPTED, Json(json!({"job_id": id, "status": "queued"}))).into_response())
}

async fn job(State(svc): State<Arc<ImageService>>, Path(id): Path<String>) -> Result<Response, Refusal> {
    let n = id.strip_prefix("job-").and_then(|n| n.parse::<u64>().ok());
    let state = n.and_then(|n| {
        let jobs = svc.jobs.lock().unwrap_or_else(PoisonError::into_inner);
        jobs.get(&n).map(|j| j.state.clone())
    });
    let body = match state {
        None => return Err(error(StatusCode::NOT_FOUND, format!("No job {id}."))),
        Some(JobState::Queued) => json!({"job_id": id, "status": "queued"}),
        Some(JobState::Running) => json!({"job_id": id, "status": "running"}),
        Some(JobState::Done(result)) => json!({"job_id": id, "status": "done", "result": &*result}),
        Some(JobState::Failed(e)) => json!({"job_id": id, "status": "failed", "error": e}),
    };
    Ok(Json(body).into_response())
}

async fn openai_generations(
    State(svc): State<Arc<ImageService>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, Refusal> {
    svc.authorize(&headers)?;
    let req: OpenAiRequest = parse(&body)?;
    if req.prompt.trim().is_empty() {
        return Err(empty_prompt());
    }
    let k = match req.n {
        None => 1,
        Some(n) if (1..=MAX_BATCH as i64).contains(&n) => n as usize,
        Some(n) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                format!("n must be between 1 and {MAX_BATCH}, got {n}"),
            ))
        }
    };
    let size = match req.size.as_deref() {
        None => None,
        Some(s) => match crate::workload::parse_size(s) {
            Some(wh) => Some(wh),
            None => {
                return Err(error(
                    StatusCode::BAD_REQUEST,
                    format!("size must look like 1024x1024, got {s}"),
                ))
            }
        },
    };
    let p = req.common.params(size)?;
    let (_, fail) = svc.accept();
    if fail {
        return Err(injected());
    }
    if svc.generate(&p, k).await.is_none() {
        return Err(unavailable());
    }
    let png = svc.png(p.width, p.height);
    let url = req.response_format.as_deref() == Some("url");
    let data: Vec<Value> = (0..k)
        .map(|_| {
            if url {
                json!({ "url": format!("data:image/png;base64,{png}") })
            } else {
                json!({ "b64_json": &*png })
            }
        })
        .collect();
    Ok(Json(json!({"created": super::server::unix_now(), "data": data})).into_response())
}

async fn image_stats(State(svc): State<Arc<ImageService>>) -> Response {
    Json(svc.stats()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_time_follows_steps_and_batching() {
        let c = ImageConfig::default();
        assert_eq!(c.generation_time(25, 1), Duration::from_millis(500));
        // 4 prompts at efficiency 0.5: 1 + 3 × 0.5 = 2.5 single generations.
        assert_eq!(c.generation_time(10, 4), Duration::from_millis(500));
        let perfect = ImageConfig {
            batch_efficiency: 1.0,
            ..c
        };
        assert_eq!(perfect.generation_time(10, 8), Duration::from_millis(200));
        assert!(ImageConfig { workers: 0, ..c }.validate().is_err());
        assert!(ImageConfig {
            batch_efficiency: 1.5,
            ..c
        }
        .validate()
        .is_err());
    }

    #[test]
    fn images_are_valid_pngs_of_the_size() {
        let bytes = encode_png(64, 32);
        assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
        let decoder = png::Decoder::new(std::io::Cursor::new(bytes));
        let reader = decoder.read_info().unwrap();
        assert_eq!((reader.info().width, reader.info().height), (64, 32));
        let svc = ImageService::new(ImageConfig::default(), None, 0.0, 0);
        let a = svc.png(64, 32);
        assert!(Arc::ptr_eq(&a, &svc.png(64, 32)), "cached");
    }
}
