//! The embedded simulated inference server (`inferload sim`, and the target
//! of `inferload run` without `--url`): a real axum HTTP server speaking the
//! OpenAI API as vLLM serves it, with a performance model so that latency
//! and throughput curves have the shape of a real GPU's, vLLM-named
//! Prometheus metrics, fault injection, and server-side truth of every
//! token's timing for measurement-accuracy tests.
//!
//! - `model.rs`: the profiles and the continuous-batching engine loop;
//! - `prefix.rs`: the prefix cache of batching profiles (block hashes,
//!   hits, LRU eviction);
//! - `server.rs`: routes, validation, credentials, faults;
//! - `stream.rs`: the SSE and whole-body replies and the truth timestamps;
//! - `metrics.rs`: [`SimStats`] and the Prometheus registry;
//! - `image.rs`: the image-generation service (`/generate`,
//!   `/batch-generate`, `/async-generate` + `/jobs/{id}`,
//!   `/v1/images/generations`);
//! - `faults.rs`: what chat replies carry their tokens as (content,
//!   reasoning, tool calls) and the injected misbehaviours (empty replies,
//!   ignoring `stream: true`, stalls, a nonsensical usage);
//! - `conn.rs`: the accept loop and each connection's life (including
//!   closing after streamed replies, as llama.cpp's server does);
//! - `args.rs`: the `inferload sim` flags.
//!
//! Lifecycle: [`start`] waits `startup_delay` (a model loading: the
//! port is closed meanwhile), binds, spawns one engine loop per model (batching
//! profiles) and the server task, and returns a [`SimHandle`].
//! [`SimHandle::shutdown`] (or dropping the handle) stops accepting,
//! lets replies in progress finish for up to [`SHUTDOWN_GRACE`], then stops
//! the engines.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

mod conn;
pub mod faults;
pub mod image;
mod metrics;
pub mod model;
pub mod prefix;
mod server;
mod stream;

pub use conn::{ConnectionMode, LLAMA_KEEP_ALIVE};
pub use faults::{Fault, OutputKind};
pub use metrics::{SimStats, Truth};
pub use model::{BatchingProfile, FixedProfile};
pub use server::{DEFAULT_MAX_TOKENS, MAX_TOKENS_LIMIT};

use metrics::{Counters, Metrics};
use server::{Serving, Shared};

/// How long a shutdown waits for replies in progress before cutting them.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// The model served when none is named.
pub const DEFAULT_MODEL: &str = "inferload-sim";

/// How tokens are timed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// Continuous batching: latency depends on load (see `model.rs`).
    Batching(BatchingProfile),
    /// Exact TTFT and ITL for every request.
    Fixed(FixedProfile),
}

impl fmt::Display for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use crate::units::format_duration as d;
        match self {
            Profile::Batching(p) => write!(
                f,
                "continuous batching, max_num_seqs {}, KV cache {} tokens; step = {} + {} × batch + {} × prefilled token",
                p.max_num_seqs,
                p.kv_cache_tokens,
                d(p.decode_base),
                d(p.decode_per_seq),
                d(p.prefill_per_token)
            ),
            Profile::Fixed(p) => write!(
                f,
                "TTFT {} and ITL {} for every request, whatever the load",
                d(p.ttft),
                d(p.itl)
            ),
        }
    }
}

/// What to serve and how.
#[derive(Clone)]
pub struct SimConfig {
    pub host: String,
    /// 0 picks a free port.
    pub port: u16,
    pub profile: Profile,
    /// Served model names; each has its own engine loop.
    pub models: Vec<String>,
    /// Fraction of generation requests answered with HTTP 500.
    pub error_rate: f64,
    /// Fraction of generation requests cut after about half their tokens.
    pub disconnect_rate: f64,
    /// What happens to a connection after a streamed reply.
    pub connections: ConnectionMode,
    /// What chat replies carry their tokens as.
    pub output: OutputKind,
    /// A misbehaviour given to a share (`fault_rate`) of the generation
    /// requests not already given an error or a disconnect.
    pub fault: Option<Fault>,
    pub fault_rate: f64,
    /// When set, every `/v1/*` route requires `Authorization: Bearer KEY`.
    pub api_key: Option<String>,
    /// Seeds every per-request decision (faults, lengths, words).
    pub seed: u64,
    /// Batching profiles keep a prefix cache (vLLM's automatic prefix
    /// caching, on by default as in current vLLM); see `prefix.rs`.
    pub prefix_cache: bool,
    /// Tokens per prefix-cache block.
    pub prefix_block_size: u32,
    /// The image-generation service's model.
    pub image: image::ImageConfig,
    /// [`start`] waits this long before it binds: a loading server's port
    /// is closed (vLLM opens it once the model is loaded).
    pub startup_delay: Duration,
    /// Extra time before the first generation request's first token.
    pub cold_first_request: Duration,
}

// By hand, so the API key never reaches a log.
impl fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("profile", &self.profile)
            .field("models", &self.models)
            .field("error_rate", &self.error_rate)
            .field("disconnect_rate", &self.disconnect_rate)
            .field("connections", &self.connections)
            .field("output", &self.output)
            .field("fault", &self.fault)
            .field("fault_rate", &self.fault_rate)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("seed", &self.seed)
            .field("prefix_cache", &self.prefix_cache)
            .field("prefix_block_size", &self.prefix_block_size)
            .field("image", &self.image)
            .field("startup_delay", &self.startup_delay)
            .field("cold_first_request", &self.cold_first_request)
            .finish()
    }
}

impl SimConfig {
    /// The `default` (small-GPU) batching profile on an ephemeral loopback port.
    pub fn default_loopback() -> Self {
        Self::batching(BatchingProfile::default())
    }

    /// Every request gets exactly this TTFT and ITL, whatever the load.
    pub fn fixed(ttft: Duration, itl: Duration) -> Self {
        Self::with_profile(Profile::Fixed(FixedProfile { ttft, itl }))
    }

    /// A batching profile with chosen parameters, on an ephemeral loopback port.
    pub fn batching(profile: BatchingProfile) -> Self {
        Self::with_profile(Profile::Batching(profile))
    }

    fn with_profile(profile: Profile) -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 0,
            profile,
            models: vec![DEFAULT_MODEL.into()],
            error_rate: 0.0,
            disconnect_rate: 0.0,
            connections: ConnectionMode::KeepAlive,
            output: OutputKind::Content,
            fault: None,
            fault_rate: 1.0,
            api_key: None,
            seed: 0,
            prefix_cache: true,
            prefix_block_size: prefix::DEFAULT_BLOCK_SIZE,
            image: image::ImageConfig::default(),
            startup_delay: Duration::ZERO,
            cold_first_request: Duration::ZERO,
        }
    }

    /// The prefix cache's block size when batching engines keep one.
    pub fn prefix_blocks(&self) -> Option<u32> {
        (self.prefix_cache && matches!(self.profile, Profile::Batching(_))).then_some(self.prefix_block_size)
    }

    /// Checks what the type cannot; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.models.is_empty() {
            return Err("at least one model must be served".into());
        }
        for (i, m) in self.models.iter().enumerate() {
            if m.trim().is_empty() {
                return Err("a model name is empty".into());
            }
            if self.models[..i].contains(m) {
                return Err(format!("model `{m}` is given twice"));
            }
        }
        for (name, v) in [
            ("error rate", self.error_rate),
            ("disconnect rate", self.disconnect_rate),
            ("fault rate", self.fault_rate),
        ] {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!("the {name} must be between 0 and 1, not {v}"));
            }
        }
        if self.error_rate + self.disconnect_rate > 1.0 + 1e-9 {
            return Err(format!(
                "the error rate ({}) and disconnect rate ({}) add up to more than 1",
                self.error_rate, self.disconnect_rate
            ));
        }
        self.image.validate()?;
        if self.prefix_block_size == 0 {
            return Err("the prefix-cache block size must be at least 1 token".into());
        }
        if let Profile::Batching(p) = &self.profile {
            if p.max_num_seqs == 0 {
                return Err("max_num_seqs must be at least 1".into());
            }
            if p.kv_cache_tokens == 0 {
                return Err("the KV cache must hold at least 1 token".into());
            }
            if p.decode_base.is_zero() {
                return Err("decode_base must be above zero (a step cannot take no time)".into());
            }
        }
        Ok(())
    }
}

/// A running simulator.
pub struct SimHandle {
    pub addr: SocketAddr,
    counters: Arc<Counters>,
    image: Arc<image::ImageService>,
    stop: Option<oneshot::Sender<()>>,
    server: JoinHandle<io::Result<()>>,
    engines: Vec<JoinHandle<()>>,
}

impl SimHandle {
    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A snapshot of the counters and truth.
    pub fn stats(&self) -> SimStats {
        self.counters.snapshot()
    }

    /// The image service's counters.
    pub fn image_stats(&self) -> image::ImageStats {
        self.image.stats()
    }

    /// Stops accepting, lets replies in progress finish (for at most
    /// [`SHUTDOWN_GRACE`]), then stops the engines. Returns when the server
    /// task has ended.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let server = &mut self.server;
        if tokio::time::timeout(SHUTDOWN_GRACE, &mut *server).await.is_err() {
            server.abort();
            let _ = server.await;
        }
        // The server's state held the engines' queues; once it is gone an
        // idle engine returns. One still busy serves a reply cut short by
        // the grace period: stop it.
        for engine in self.engines.drain(..) {
            let abort = engine.abort_handle();
            if tokio::time::timeout(Duration::from_secs(1), engine).await.is_err() {
                abort.abort();
            }
        }
    }
}

/// Binds and starts serving. The error names the address on bind failure.
pub async fn start(config: SimConfig) -> io::Result<SimHandle> {
    config
        .validate()
        .map_err(|m| io::Error::new(io::ErrorKind::InvalidInput, m))?;
    // "Loading the model": nothing listens yet, so a client is refused.
    if !config.startup_delay.is_zero() {
        tokio::time::sleep(config.startup_delay).await;
    }
    let listener = TcpListener::bind((config.host.as_str(), config.port))
        .await
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot listen on {}:{}: {e}", config.host, config.port),
            )
        })?;
    let addr = listener.local_addr()?;

    let metrics = Metrics::new(&config.models);
    let mut engines = Vec::new();
    let serving = (0..config.models.len())
        .map(|i| match config.profile {
            Profile::Fixed(p) => Serving::Fixed(p),
            Profile::Batching(p) => {
                let (tx, rx) = mpsc::unbounded_channel();
                engines.push(tokio::spawn(model::run_engine(
                    p,
                    config.prefix_blocks(),
                    rx,
                    metrics.model(i).clone(),
                )));
                Serving::Engine(tx)
            }
        })
        .collect();
    let counters = Arc::new(Counters::default());
    let image = Arc::new(image::ImageService::new(
        config.image,
        config.api_key.clone(),
        config.error_rate,
        config.seed,
    ));
    let cold_pending = !config.cold_first_request.is_zero();
    let shared = Arc::new(Shared {
        image: image.clone(),
        models: config.models.iter().map(|m| Arc::from(m.as_str())).collect(),
        config,
        counters: counters.clone(),
        metrics,
        serving,
        started_unix: server::unix_now(),
        cold_pending: std::sync::atomic::AtomicBool::new(cold_pending),
    });
    let app = server::router(shared);
    // A dropped handle drops `stop_tx`, which stops the server too.
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let server = tokio::spawn(conn::serve(listener, app, stop_rx, counters.clone()));
    Ok(SimHandle {
        addr,
        counters,
        image,
        stop: Some(stop_tx),
        server,
        engines,
    })
}

/// The settings block `inferload sim` prints under its address.
pub fn describe(config: &SimConfig, profile_name: &str) -> String {
    let mut extra = Vec::new();
    if config.error_rate > 0.0 {
        extra.push(format!("error rate {}", config.error_rate));
    }
    if config.disconnect_rate > 0.0 {
        extra.push(format!("disconnect rate {}", config.disconnect_rate));
    }
    if config.connections == ConnectionMode::CloseAfterStream {
        extra.push("connections closed after each streamed reply (as llama-server)".into());
    }
    match config.output {
        OutputKind::Content => {}
        OutputKind::Reasoning => extra.push("chat tokens: half reasoning (delta.reasoning), then content".into()),
        OutputKind::ReasoningContent => {
            extra.push("chat tokens: half reasoning (delta.reasoning_content), then content".into())
        }
        OutputKind::ToolCalls => extra.push("chat tokens: tool-call arguments".into()),
    }
    if let Some(f) = config.fault {
        let what = match f {
            Fault::Stall { after_tokens } => format!("stall after {after_tokens} tokens"),
            other => other.name().to_string(),
        };
        extra.push(format!("fault {what} on {} of requests", config.fault_rate));
    }
    if config.api_key.is_some() {
        extra.push("API key required".into());
    }
    if !config.startup_delay.is_zero() {
        extra.push(format!(
            "startup delay {}",
            crate::units::format_duration(config.startup_delay)
        ));
    }
    if !config.cold_first_request.is_zero() {
        extra.push(format!(
            "first request {} slower",
            crate::units::format_duration(config.cold_first_request)
        ));
    }
    match config.prefix_blocks() {
        Some(b) => extra.push(format!("prefix cache on ({b}-token blocks)")),
        None if matches!(config.profile, Profile::Batching(_)) => extra.push("prefix cache off".into()),
        None => {}
    }
    extra.push(format!("seed {}", config.seed));
    let im = &config.image;
    format!(
        "profile {profile_name}: {}\nmodels: {}; {}\nimage service: {} worker{}, {} a step ({} an image of 25 steps), batch efficiency {}; POST /generate, /batch-generate, /async-generate, /v1/images/generations\n",
        config.profile,
        config.models.join(", "),
        extra.join(", "),
        im.workers,
        if im.workers == 1 { "" } else { "s" },
        crate::units::format_duration(im.step_time),
        crate::units::format_duration(im.generation_time(25, 1)),
        im.batch_efficiency
    )
}
