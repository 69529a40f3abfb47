//! Raw command-line arguments, as clap parses them, and their translation
//! into the plan's options.
//!
//! Nothing here is validated beyond the type of each value: turning options
//! into a consistent [`crate::plan::RunPlan`] (and rejecting bad
//! combinations with the flag named) is [`crate::plan`]'s job. Doc comments
//! are the help text. Flag aliases follow `vllm bench serve` so its users'
//! commands keep working.
//!
//! Only values the user gave become options: [`Typed`] holds the ids clap
//! says came from the command line or the environment
//! (`ArgMatches::value_source`), captured once by `app`. Defaults shown in
//! the help are the plan's own ([`crate::plan::defaults`]); a value clap
//! filled in from its default is left out, so a scenario file can still set
//! it, and the plan applies the same default when nobody does.

pub mod sim;

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::api::ApiKind;
use crate::plan::{
    defaults, Backend, LoadOptions, MonitorOptions, ObjectiveOptions, OutputOptions, RunOptions, TargetOptions,
    WorkloadOptions,
};
use crate::schedule::ArrivalKind;
use crate::units::{parse_duration, parse_rate, Choice};

/// The ids of the arguments the user gave (typed, or from the environment).
#[derive(Debug, Clone, Default)]
pub struct Typed {
    ids: HashSet<String>,
    /// Every value counts as given (clap's defaults too): for tests that
    /// check the help's defaults against the plan's.
    all: bool,
}

impl Typed {
    /// The arguments of one (sub)command's matches that were given.
    pub fn of(m: &ArgMatches) -> Self {
        let ids = m
            .ids()
            .filter(|id| {
                matches!(
                    m.value_source(id.as_str()),
                    Some(ValueSource::CommandLine | ValueSource::EnvVariable)
                )
            })
            .map(|id| id.as_str().to_string())
            .collect();
        Self { ids, all: false }
    }

    /// Every value counts, defaults included.
    pub fn everything() -> Self {
        Self {
            ids: HashSet::new(),
            all: true,
        }
    }

    pub fn has(&self, id: &str) -> bool {
        self.all || self.ids.contains(id)
    }

    /// `v` when the argument `id` was given.
    fn value<T: Clone>(&self, id: &str, v: &T) -> Option<T> {
        self.has(id).then(|| v.clone())
    }

    /// `Some(true)` for a switch that was given.
    fn flag(&self, v: bool) -> Option<bool> {
        v.then_some(true)
    }
}

/// The options of `inferload run ARGS…` as the command line would give
/// them (only what the arguments say); for tests and library callers.
pub fn run_options<I, T>(args: I) -> Result<RunOptions, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let argv = std::iter::once(std::ffi::OsString::from("inferload"))
        .chain(std::iter::once("run".into()))
        .chain(args.into_iter().map(Into::into));
    let m = Cli::command().try_get_matches_from(argv)?;
    let cli = Cli::from_arg_matches(&m)?;
    let sub = m.subcommand().map(|(_, m)| Typed::of(m)).unwrap_or_default();
    match cli.command {
        Command::Run(a) => Ok(a.options(&sub)),
        _ => unreachable!("the argv starts with `run`"),
    }
}

/// A non-empty list.
fn list(v: &[String]) -> Option<Vec<String>> {
    (!v.is_empty()).then(|| v.to_vec())
}

/// clap's parser for a [`Choice`]: its names as possible values, with help.
fn choice<T: Choice + Clone + Send + Sync>() -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(T::ALL.iter().map(|v| PossibleValue::new(v.name()).help(v.help())))
        .try_map(|s| T::parse(&s).ok_or("not a known value"))
}

/// `--extra-body`: a JSON object.
fn parse_json_object(s: &str) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    match serde_json::from_str::<serde_json::Value>(s) {
        Ok(serde_json::Value::Object(m)) => Ok(m),
        Ok(_) => Err("must be a JSON object, e.g. '{\"temperature\":0}'".into()),
        Err(e) => Err(format!("not valid JSON: {e}")),
    }
}

#[derive(Debug, Parser)]
#[command(
    name = "inferload",
    version,
    about = "Load-test generative-AI inference endpoints: how many users and requests per second does a deployment serve within its latency targets?",
    propagate_version = true
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Benchmark one target (or, with no --url, the embedded simulator).
    Run(Box<RunArgs>),
    /// Find the maximum stable concurrency or rate: run a ladder of load
    /// levels until a stop rule fires, then give a verdict.
    Sweep(Box<SweepArgs>),
    /// Compare named strategies (targets or configurations) under the same
    /// workload and load: a table, changes against the first, an
    /// efficiency score and the best strategy.
    Compare(Box<CompareArgs>),
    /// Serve the simulated OpenAI-compatible inference server.
    Sim(Box<sim::SimArgs>),
    /// Render a saved run or sweep (JSON or records) as console, HTML, charts, CSV or Markdown.
    Report(Box<ReportCmdArgs>),
    /// Join the shards of one run (`run --shard K/N --json FILE`) into one
    /// result: exact counts, percentiles from the merged histograms.
    Merge(Box<MergeCmdArgs>),
    /// List the runs and sweeps recorded in the local history.
    History(HistoryCmdArgs),
    /// Print one recorded run or sweep.
    Show(ShowCmdArgs),
    /// Compare two recorded runs metric by metric.
    Diff(DiffCmdArgs),
}

/// `inferload run`: one benchmark.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// A TOML scenario file: everything the flags say, plus a weighted
    /// task mix (see the README). Flags given here override the file.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub load: LoadArgs,
    /// Measure the same plan N times, one after the other: the result pools
    /// them and gives each figure's 95 % confidence interval over the repeats.
    #[arg(long, value_name = "N", help_heading = "Load")]
    pub repeats: Option<u32>,
    #[command(flatten)]
    pub workload: WorkloadArgs,
    #[command(flatten)]
    pub objectives: ObjectiveArgs,
    #[command(flatten)]
    pub output: OutputArgs,
    #[command(flatten)]
    pub reports: ReportArgs,
    #[command(flatten)]
    pub history: HistoryArgs,
    #[command(flatten)]
    pub monitor: MonitorArgs,
    #[command(flatten)]
    pub server: ServerArgs,
}

/// `inferload compare`: strategies side by side.
#[derive(Debug, Clone, Args)]
pub struct CompareArgs {
    /// The strategies, `NAME=URL` each (e.g. `baseline=http://host:8000/generate
    /// pool=http://host:8001/generate`); the URL replaces --url for that
    /// strategy. Without them, the --scenario file's [[strategy]] list.
    #[arg(value_name = "NAME=URL")]
    pub strategies: Vec<String>,
    /// A TOML scenario file with the shared settings and a [[strategy]]
    /// list (each may set url, api, endpoint, model, concurrency, rate,
    /// requests, params). Flags given here override the file.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    /// Measure every strategy this many times (their figures are the mean).
    #[arg(long, default_value_t = 1, help_heading = "Compare")]
    pub repeat: u32,
    /// Run the repeats round-robin (A B A B) rather than in blocks (A A B B),
    /// so drift of the machine spreads over every strategy.
    #[arg(long, help_heading = "Compare")]
    pub interleave: bool,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub load: LoadArgs,
    #[command(flatten)]
    pub workload: WorkloadArgs,
    #[command(flatten)]
    pub objectives: ObjectiveArgs,
    #[command(flatten)]
    pub monitor: MonitorArgs,
    /// Write the comparison (every strategy's figures, scores, the best) as
    /// JSON, rewritten after every measurement.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub json: Option<PathBuf>,
    /// Never draw the progress bar.
    #[arg(long, help_heading = "Output")]
    pub quiet: bool,
    #[command(flatten)]
    pub reports: ReportArgs,
}

/// Where the load goes.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    /// Base URL of the target (e.g. http://localhost:8000). Without it, the
    /// embedded simulator is started on a loopback port and benchmarked.
    #[arg(long, visible_alias = "base-url", value_name = "URL", help_heading = "Target")]
    pub url: Option<String>,
    /// Host of the target (with --port builds the URL, as vLLM's flags do).
    #[arg(long, help_heading = "Target")]
    pub host: Option<String>,
    /// Port of the target (with --host builds the URL).
    #[arg(long, help_heading = "Target")]
    pub port: Option<u16>,
    /// API of the target.
    #[arg(long, value_parser = choice::<ApiKind>(), help_heading = "Target")]
    pub api: Option<ApiKind>,
    /// vLLM's backend name: `vllm`/`openai` mean completions, `openai-chat` chat.
    #[arg(long, value_parser = choice::<Backend>(), help_heading = "Target")]
    pub backend: Option<Backend>,
    /// Request path, overriding the API's default (e.g. /v1/completions).
    #[arg(long, value_name = "PATH", help_heading = "Target")]
    pub endpoint: Option<String>,
    /// Model name (default: the first model listed by /v1/models).
    #[arg(long, help_heading = "Target")]
    pub model: Option<String>,
    /// API key, sent as `Authorization: Bearer`. Never printed or saved.
    #[arg(long, env = "OPENAI_API_KEY", hide_env_values = true, help_heading = "Target")]
    pub api_key: Option<String>,
    /// Extra request header, `Name: value` (repeatable).
    #[arg(long = "header", value_name = "NAME: VALUE", help_heading = "Target")]
    pub headers: Vec<String>,
    /// Timeout of one request.
    #[arg(long, value_parser = parse_duration, default_value = "120s", help_heading = "Target")]
    pub timeout: Duration,
    /// Accept invalid TLS certificates (verification is on by default).
    #[arg(long, help_heading = "Target")]
    pub insecure: bool,
    /// Open at most N new connections per second (a ramp for targets that
    /// refuse a storm of connections). The wait for a connection counts as
    /// queue delay, never in TTFT [default: as needed].
    #[arg(long, value_name = "N", help_heading = "Target")]
    pub connect_rate: Option<f64>,
    /// How long in-flight requests may finish after Ctrl-C or --duration;
    /// those still running then fail as `unfinished`.
    #[arg(long, value_parser = parse_duration, default_value = "30s", help_heading = "Load")]
    pub grace: Duration,
    /// Stop the run when no request has succeeded for this long while
    /// requests fail (a dead target); 0 never stops.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, default_value = "60s", help_heading = "Load")]
    pub abort_after: Duration,
    /// The model name sent in requests (vLLM's `--served-model-name`);
    /// `--model` then stays the model's label in vLLM's result file.
    #[arg(long, value_name = "NAME", help_heading = "Target")]
    pub served_model_name: Option<String>,
    /// Send `x-request-id: PREFIX-N` with request N (vLLM's `--request-id-prefix`).
    #[arg(long, value_name = "PREFIX", help_heading = "Target")]
    pub request_id_prefix: Option<String>,
    /// Before the run, wait up to this many seconds for the server to become
    /// ready (answering its model list); 0 checks once. Without it the check
    /// is made once, within --timeout.
    #[arg(long, value_name = "SECONDS", help_heading = "Target")]
    pub ready_check_timeout_sec: Option<u64>,
    /// Verify TLS certificates (vLLM's flag; verification is already on
    /// unless --insecure).
    #[arg(long, help_heading = "Target")]
    pub verify_ssl: bool,
    /// The model's tokenizer, for token-exact prompts and counts: a
    /// tokenizer.json, a model directory holding one, or a Hugging Face
    /// model id (the local cache, else downloaded; HF_TOKEN is sent).
    /// Default: --model's name if in the local cache, else one word is
    /// counted as one token.
    #[arg(long, value_name = "PATH|NAME", help_heading = "Target")]
    pub tokenizer: Option<String>,
    /// vLLM's `--tokenizer-mode`: accepted for compatibility (the
    /// tokenizer.json decides).
    #[arg(long, value_name = "MODE", help_heading = "Target")]
    pub tokenizer_mode: Option<String>,
    /// vLLM's `--trust-remote-code`: accepted and ignored (no model code is run).
    #[arg(long, help_heading = "Target")]
    pub trust_remote_code: bool,
    #[command(flatten)]
    pub http: HttpApiArgs,
}

/// Flags of the `http`, `openai-images` and `http-async` APIs, and the
/// per-request parameters of image APIs.
#[derive(Debug, Clone, Default, Args)]
pub struct HttpApiArgs {
    /// Request body: a minijinja template, inline or `@FILE` (or a path to a
    /// file). Values are written as JSON: `{"prompt": {{ prompt }}}`.
    /// Variables: prompt, messages, index, seed, model, max_tokens, steps,
    /// width, height, guidance, n, size, item.* (the dataset line)
    /// [default: the simulator's /generate body].
    #[arg(long, value_name = "TEMPLATE|@FILE", help_heading = "HTTP APIs")]
    pub body_template: Option<String>,
    /// Reply check: the JSON pointer must exist (and equal VALUE, if given);
    /// a failure is a `bad_payload` error (repeatable).
    #[arg(long = "check", value_name = "POINTER[=VALUE]", help_heading = "HTTP APIs")]
    pub checks: Vec<String>,
    /// Where the reply's images are (an array counts its elements)
    /// [default: the first of /image, /images, /result/image, /result/images, /data].
    #[arg(long, value_name = "POINTER", help_heading = "HTTP APIs")]
    pub images_pointer: Option<String>,
    /// http-async: the job id in the submit reply [default: /job_id].
    #[arg(long, value_name = "POINTER", help_heading = "HTTP APIs")]
    pub job_id_pointer: Option<String>,
    /// http-async: the status URL, a template with {{ job_id }}; a path is
    /// relative to the --url's origin [default: /jobs/{{ job_id }}].
    #[arg(long, value_name = "URL", help_heading = "HTTP APIs")]
    pub status_url: Option<String>,
    /// http-async: the status in the status reply [default: /status].
    #[arg(long, value_name = "POINTER", help_heading = "HTTP APIs")]
    pub status_pointer: Option<String>,
    /// http-async: status value(s) meaning done, comma-separated [default: done].
    #[arg(long, value_name = "VALUE", help_heading = "HTTP APIs")]
    pub done_value: Option<String>,
    /// http-async: status value(s) meaning failed, comma-separated [default: failed].
    #[arg(long, value_name = "VALUE", help_heading = "HTTP APIs")]
    pub failed_value: Option<String>,
    /// http-async: status value(s) meaning still queued (queue wait ends at
    /// the first other), comma-separated [default: queued].
    #[arg(long, value_name = "VALUE", help_heading = "HTTP APIs")]
    pub queued_value: Option<String>,
    /// http-async: fetch the result here once done (template with {{ job_id }})
    /// [default: the final status reply is the result].
    #[arg(long, value_name = "URL", help_heading = "HTTP APIs")]
    pub result_url: Option<String>,
    /// http-async: the longest wait between status polls [default: 200ms];
    /// polls start at a sixteenth of it (at least 5 ms) and double up to it.
    #[arg(long, value_parser = parse_duration, value_name = "DURATION", help_heading = "HTTP APIs")]
    pub poll_interval: Option<Duration>,
    /// Inference steps per request (`{{ steps }}`; default 25).
    #[arg(long, value_name = "N", help_heading = "Request parameters")]
    pub steps: Option<u32>,
    /// Image width (`{{ width }}`; default 512).
    #[arg(long, value_name = "PX", help_heading = "Request parameters")]
    pub width: Option<u32>,
    /// Image height (`{{ height }}`; default 512).
    #[arg(long, value_name = "PX", help_heading = "Request parameters")]
    pub height: Option<u32>,
    /// Guidance scale (`{{ guidance }}`; default 3.5).
    #[arg(long, value_name = "SCALE", help_heading = "Request parameters")]
    pub guidance: Option<f64>,
    /// Images per request (`{{ n }}`, OpenAI's `n`; default 1).
    #[arg(long, value_name = "N", help_heading = "Request parameters")]
    pub image_n: Option<u32>,
    /// Image size `WxH` (`{{ size }}`, OpenAI's `size`; default WIDTHxHEIGHT).
    #[arg(long, value_name = "WxH", help_heading = "Request parameters")]
    pub size: Option<String>,
}

/// How much load, and for how long (`run`).
#[derive(Debug, Clone, Args)]
pub struct LoadArgs {
    /// Closed loop: keep N requests in flight. With --rate, a cap on in-flight requests.
    #[arg(short = 'c', long, visible_alias = "max-concurrency", help_heading = "Load")]
    pub concurrency: Option<usize>,
    /// Open loop: send R requests per second (`inf` sends all at once).
    #[arg(long, visible_alias = "request-rate", value_parser = parse_rate, value_name = "R", help_heading = "Load")]
    pub rate: Option<f64>,
    /// Arrival process for --rate.
    #[arg(long, value_parser = choice::<ArrivalKind>(), default_value = "poisson", help_heading = "Load")]
    pub arrival: ArrivalKind,
    /// Gamma shape of the arrivals (vLLM's meaning: 1 = Poisson, <1 burstier, >1 steadier).
    #[arg(long, help_heading = "Load")]
    pub burstiness: Option<f64>,
    /// Stop after N measured requests (default 100 unless --duration or
    /// --sessions is given); with --turns, each turn is a request.
    #[arg(short = 'n', long, visible_alias = "num-prompts", help_heading = "Load")]
    pub requests: Option<u64>,
    /// Stop after this long (e.g. 30s, 5m).
    #[arg(short = 'd', long, value_parser = parse_duration, help_heading = "Load")]
    pub duration: Option<Duration>,
    /// Requests sent first and excluded from every figure.
    #[arg(long, visible_alias = "num-warmups", default_value_t = defaults::WARMUP, help_heading = "Load")]
    pub warmup: u64,
    /// Simulated users (Locust-style): each sends a request, waits for the
    /// reply, thinks (--think-time), and repeats until the stop condition.
    #[arg(long, value_name = "N", help_heading = "Load")]
    pub users: Option<usize>,
    /// Users started per second (with --users; default: all at once).
    #[arg(long, value_parser = parse_rate, value_name = "R", help_heading = "Load")]
    pub spawn_rate: Option<f64>,
    /// Each user's pause between a reply and its next request, uniform in
    /// MIN..MAX (e.g. 1s..3s), or one fixed duration (with --users).
    #[arg(long, value_parser = crate::schedule::parse_think_time, value_name = "MIN..MAX", help_heading = "Load")]
    pub think_time: Option<crate::schedule::ThinkRange>,
    /// Multi-turn conversations: each session sends N turns (or a number
    /// drawn from MIN..MAX), every turn carrying the conversation so far
    /// with the replies received. Sessions are what --concurrency, --rate
    /// and --users count; --requests counts turns.
    #[arg(long, value_parser = crate::workload::conversation::TurnRange::parse, value_name = "N|MIN..MAX", help_heading = "Load")]
    pub turns: Option<crate::workload::conversation::TurnRange>,
    /// Pause between a reply and the session's next turn, uniform in
    /// MIN..MAX (e.g. 1s..3s), or one fixed duration (with --turns).
    #[arg(long, value_parser = crate::schedule::parse_think_time, value_name = "MIN..MAX", help_heading = "Load")]
    pub turn_think_time: Option<crate::schedule::ThinkRange>,
    /// Run N whole conversation sessions (with --turns; instead of --requests).
    #[arg(long, value_name = "N", help_heading = "Load")]
    pub sessions: Option<u64>,
    /// Run as shard K of N (K from 0): this process sends the requests,
    /// users and arrivals of one run it owns (index mod N = K) and its
    /// share of the concurrency; each shard's outputs are labelled with it.
    #[arg(long, value_name = "K/N", help_heading = "Load")]
    pub shard: Option<String>,
    /// Run as one of N shards, K taken from JOB_COMPLETION_INDEX (a
    /// Kubernetes Indexed Job's pod index).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..), help_heading = "Load")]
    pub shards: Option<u64>,
    #[arg(long, env = "JOB_COMPLETION_INDEX", hide = true)]
    pub shard_index: Option<u64>,
    /// Start the measured phase at this wall-clock time (RFC 3339, or
    /// `+30s` from now), so the shards of a run start together.
    #[arg(long, value_name = "TIME", help_heading = "Load")]
    pub start_at: Option<String>,
    /// Replay a trace (--dataset mooncake:|burstgpt:|trace:FILE) X times
    /// faster than recorded (0.5: at half speed; default 1).
    #[arg(long, value_parser = parse_rate, value_name = "X", help_heading = "Load")]
    pub trace_speed: Option<f64>,
    /// Closed-loop workers over time, k6's stages: `30s:10,2m:50,30s:0`
    /// moves the number of workers linearly from the previous target (0
    /// first) to each stage's over its duration. The run lasts the stages
    /// unless --duration is given (longer holds the last target).
    #[arg(long, value_name = "DUR:N,...", help_heading = "Load over time")]
    pub stages: Option<String>,
    /// Open-loop arrivals per second over time, as --stages (--arrival,
    /// --burstiness and a --concurrency cap apply).
    #[arg(long, value_name = "DUR:R,...", help_heading = "Load over time")]
    pub rate_stages: Option<String>,
    /// Simulated users over time, as --stages (--think-time applies).
    #[arg(long, value_name = "DUR:N,...", help_heading = "Load over time")]
    pub user_stages: Option<String>,
    /// vLLM's ramp-up instead of --rate: the rate moves from
    /// --ramp-up-start-rps to --ramp-up-end-rps over the run (T: --duration,
    /// or with --requests N request i at progress i/(N-1), as vLLM).
    #[arg(long, value_parser = choice::<crate::schedule::stages::RampStrategy>(), help_heading = "Load over time")]
    pub ramp_up_strategy: Option<crate::schedule::stages::RampStrategy>,
    /// The ramp-up's first rate (requests per second).
    #[arg(
        long,
        value_name = "A",
        allow_negative_numbers = true,
        help_heading = "Load over time"
    )]
    pub ramp_up_start_rps: Option<f64>,
    /// The ramp-up's last rate (requests per second).
    #[arg(
        long,
        value_name = "B",
        allow_negative_numbers = true,
        help_heading = "Load over time"
    )]
    pub ramp_up_end_rps: Option<f64>,
}

/// What each request asks for.
#[derive(Debug, Clone, Args)]
pub struct WorkloadArgs {
    /// Send this prompt in every request.
    #[arg(long, help_heading = "Workload")]
    pub prompt: Option<String>,
    /// `random` (default), `prefix_repetition`, a JSONL file, `sharegpt:FILE.json`, or a trace
    /// replayed at its own times: `mooncake:FILE.jsonl`, `burstgpt:FILE.csv`
    /// or `trace:FILE.jsonl`.
    #[arg(
        long,
        visible_alias = "dataset-name",
        value_name = "random|prefix_repetition|FILE.jsonl|sharegpt:FILE|mooncake:FILE|burstgpt:FILE|trace:FILE",
        help_heading = "Workload"
    )]
    pub dataset: Option<String>,
    /// Dataset file, for vLLM's `--dataset-name sharegpt --dataset-path FILE`.
    #[arg(long, value_name = "FILE", help_heading = "Workload")]
    pub dataset_path: Option<PathBuf>,
    /// Prompt length in tokens of the random dataset.
    #[arg(
        long,
        visible_alias = "random-input-len",
        default_value_t = defaults::INPUT_LEN,
        help_heading = "Workload"
    )]
    pub input_len: u64,
    /// Output length in tokens (sets `max_tokens`); the random dataset's output length.
    #[arg(long, visible_aliases = ["random-output-len", "max-tokens"], help_heading = "Workload")]
    pub output_len: Option<u64>,
    /// Spread of random lengths: uniform in [len·(1−r), len·(1+r)].
    #[arg(
        long,
        visible_alias = "random-range-ratio",
        default_value_t = defaults::RANGE_RATIO,
        help_heading = "Workload"
    )]
    pub range_ratio: f64,
    /// Stream the responses (default).
    #[arg(long, overrides_with = "no_stream", help_heading = "Workload")]
    pub stream: bool,
    /// Ask for complete, non-streamed responses.
    #[arg(long, help_heading = "Workload")]
    pub no_stream: bool,
    /// Ask the server to ignore end-of-sequence (forced on for the random dataset, as vLLM does).
    #[arg(long, help_heading = "Workload")]
    pub ignore_eos: bool,
    /// JSON object merged into every request body (e.g. '{"temperature":0}').
    #[arg(long, value_name = "JSON", value_parser = parse_json_object, help_heading = "Workload")]
    pub extra_body: Option<serde_json::Map<String, serde_json::Value>>,
    /// Seed of every random choice (prompts, arrivals).
    #[arg(long, default_value_t = defaults::SEED, help_heading = "Load")]
    pub seed: u64,
    /// Sampling temperature sent in the request body (OpenAI APIs).
    #[arg(long, help_heading = "Sampling")]
    pub temperature: Option<f64>,
    /// Nucleus sampling `top_p` sent in the request body (OpenAI APIs).
    #[arg(long, help_heading = "Sampling")]
    pub top_p: Option<f64>,
    /// `top_k` sent in the request body (OpenAI APIs; -1: all tokens).
    #[arg(long, allow_negative_numbers = true, help_heading = "Sampling")]
    pub top_k: Option<i64>,
    /// `min_p` sent in the request body (OpenAI APIs).
    #[arg(long, help_heading = "Sampling")]
    pub min_p: Option<f64>,
    /// A shared random prefix of N tokens before every random prompt
    /// (vLLM's `--random-prefix-len`).
    #[arg(long, value_name = "N", help_heading = "Workload")]
    pub random_prefix_len: Option<u64>,
    /// Output length of every ShareGPT request, instead of the
    /// conversation's reply length (vLLM's `--sharegpt-output-len`).
    #[arg(long, value_name = "N", help_heading = "Workload")]
    pub sharegpt_output_len: Option<u64>,
    /// `prefix_repetition`: tokens of each shared prefix [default: 256].
    #[arg(long, value_name = "N", help_heading = "Workload")]
    pub prefix_repetition_prefix_len: Option<u64>,
    /// `prefix_repetition`: tokens of each request's own suffix [default: 256].
    #[arg(long, value_name = "N", help_heading = "Workload")]
    pub prefix_repetition_suffix_len: Option<u64>,
    /// `prefix_repetition`: distinct prefixes [default: 10].
    #[arg(long, value_name = "N", help_heading = "Workload")]
    pub prefix_repetition_num_prefixes: Option<u64>,
    /// `prefix_repetition`: output tokens of every request [default: 128].
    #[arg(long, value_name = "N", help_heading = "Workload")]
    pub prefix_repetition_output_len: Option<u64>,
    /// A system prompt before every request (chat: a `system` message;
    /// completions and TGI: text on its own line before the prompt);
    /// `@FILE` reads it from a file.
    #[arg(long, value_name = "TEXT|@FILE", help_heading = "Workload")]
    pub system_prompt: Option<String>,
    /// A random system prompt of N tokens, the same for every request
    /// (from the seed).
    #[arg(long, value_name = "N", help_heading = "Workload")]
    pub system_prompt_len: Option<u64>,
    /// Prompt tokens per `hash_ids` block of a Mooncake trace (default 512).
    #[arg(long, value_name = "N", help_heading = "Workload")]
    pub trace_block_size: Option<u64>,
    /// Replay only this slice of a trace, START..END in the trace's time
    /// (e.g. 60s..120s, or 10m.. to the end), rebased to start at 0.
    #[arg(long, value_name = "START..END", help_heading = "Workload")]
    pub trace_window: Option<String>,
    /// Typical lengths and latency objectives of a kind of service
    /// (table in docs/CAPACITY.md); explicit flags override them.
    #[arg(long, value_parser = choice::<crate::plan::presets::UseCase>(), help_heading = "Workload")]
    pub use_case: Option<crate::plan::presets::UseCase>,
}

/// Service-level objectives.
#[derive(Debug, Clone, Args)]
pub struct ObjectiveArgs {
    /// Service-level objective, e.g. `ttft_p90<500ms`, `e2e_p99<1.5s`,
    /// `error_rate<1%`, `request_throughput>=10` (repeatable or
    /// comma-separated). Any failing objective makes the exit status 3.
    #[arg(long = "slo", value_name = "EXPR", help_heading = "Objectives")]
    pub slos: Vec<String>,
    /// vLLM's per-request goodput bounds in milliseconds: `ttft:500 tpot:50 e2el:2000`.
    #[arg(long, value_name = "KEY:MS", num_args = 1.., help_heading = "Objectives")]
    pub goodput: Vec<String>,
    /// Judge every --slo in each stage too (with --stages, --rate-stages,
    /// --user-stages or a ramp-up); the summary says at which stage an
    /// objective first failed, and any failure makes the exit status 3.
    #[arg(long, help_heading = "Objectives")]
    pub slo_per_stage: bool,
}

/// Where results go.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Print this many sample responses as they finish.
    #[arg(long, default_value_t = defaults::SHOW_SAMPLES, help_heading = "Output")]
    pub show_samples: usize,
    /// Write the run (settings, summary) as inferload's JSON.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub json: Option<PathBuf>,
    /// Write one JSON line per request as each finishes.
    #[arg(long, value_name = "FILE.jsonl", help_heading = "Output")]
    pub records: Option<PathBuf>,
    /// Write vLLM's result JSON (`vllm bench serve --save-result`).
    #[arg(long, help_heading = "Output")]
    pub save_result: bool,
    /// File name of vLLM's result JSON (implies --save-result).
    #[arg(long, value_name = "NAME", help_heading = "Output")]
    pub result_filename: Option<String>,
    /// Directory of vLLM's result JSON (implies --save-result).
    #[arg(long, value_name = "DIR", help_heading = "Output")]
    pub result_dir: Option<PathBuf>,
    /// Also save generated texts in vLLM's result JSON.
    #[arg(long, help_heading = "Output")]
    pub save_detailed: bool,
    /// Label in vLLM's result JSON and file name (default: the backend).
    #[arg(long, help_heading = "Output")]
    pub label: Option<String>,
    /// `KEY=VALUE` written into vLLM's result JSON (repeatable, or several
    /// after one flag).
    #[arg(long, value_name = "KEY=VALUE", num_args = 1.., help_heading = "Output")]
    pub metadata: Vec<String>,
    /// Append vLLM's result JSON to its file as one line per run, instead
    /// of replacing the file.
    #[arg(long, help_heading = "Output")]
    pub append_result: bool,
    /// No progress bar (vLLM's `--disable-tqdm`; as --quiet).
    #[arg(long, help_heading = "Output")]
    pub disable_tqdm: bool,
    /// Never draw the progress bar.
    #[arg(long, help_heading = "Output")]
    pub quiet: bool,
    /// Show the live dashboard (default: on a terminal, for runs longer than a few seconds).
    #[arg(long, overrides_with = "no_tui", help_heading = "Output")]
    pub tui: bool,
    /// Never show the live dashboard.
    #[arg(long, help_heading = "Output")]
    pub no_tui: bool,
    /// Latencies in vLLM's console block and result file, comma-separated:
    /// ttft, tpot, itl, e2el, client_queue_time, e2el_including_client_queue
    /// (default, as vLLM: ttft,tpot,itl; e2el when the run did not stream).
    #[arg(long, value_name = "LIST", help_heading = "Output")]
    pub percentile_metrics: Option<String>,
    /// Percentiles of those latencies, comma-separated, 0 to 100 (default,
    /// as vLLM: 99); also added to inferload's own latency table.
    #[arg(long, value_name = "LIST", help_heading = "Output")]
    pub metric_percentiles: Option<String>,
    /// Bounds of the mean-TTFT rating line: excellent,good,acceptable
    /// (above the last: slow).
    #[arg(
        long,
        value_name = "D1,D2,D3",
        default_value = "200ms,500ms,1s",
        help_heading = "Output"
    )]
    pub ttft_rating: String,
}

/// Reports rendered from the results (run and sweep alike; `inferload
/// report` renders them again from saved files).
#[derive(Debug, Clone, Default, Args)]
pub struct ReportArgs {
    /// Draw the charts into this directory, as PNG and SVG.
    #[arg(long, value_name = "DIR", help_heading = "Reports")]
    pub plot: Option<PathBuf>,
    /// Write one self-contained HTML report (summary, objectives, errors, charts).
    #[arg(long, value_name = "FILE", help_heading = "Reports")]
    pub html: Option<PathBuf>,
    /// Write a CSV: one row per request (run) or per level (sweep).
    #[arg(long, value_name = "FILE", help_heading = "Reports")]
    pub csv: Option<PathBuf>,
    /// Write the summary as Markdown tables, for pull requests.
    #[arg(long, value_name = "FILE", help_heading = "Reports")]
    pub markdown: Option<PathBuf>,
}

/// The local run history.
#[derive(Debug, Clone, Default, Args)]
pub struct HistoryArgs {
    /// History database (default: inferload/history.db under the user's data directory).
    #[arg(long, value_name = "PATH", env = "INFERLOAD_DB", help_heading = "History")]
    pub db: Option<PathBuf>,
    /// Do not record this run in the history.
    #[arg(long, help_heading = "History")]
    pub no_history: bool,
}

/// The server under test, started by inferload (run and sweep).
#[derive(Debug, Clone, Default, Args)]
pub struct ServerArgs {
    /// Start the server under test with this shell command (`sh -c`, in its
    /// own process group), wait until it is ready, measure its cold start,
    /// and stop it at the end (SIGTERM, then SIGKILL). It must listen where
    /// --url points, or write `{port}` and inferload picks a free port.
    #[arg(long, value_name = "CMD", help_heading = "Server")]
    pub server_cmd: Option<String>,
    /// Where the server's stdout and stderr go [default:
    /// inferload-server.log beside --json, else here].
    #[arg(long, value_name = "PATH", help_heading = "Server")]
    pub server_log: Option<PathBuf>,
    /// The URL that answers once the server is ready [default: /health,
    /// then /v1/models, on the target].
    #[arg(long, value_name = "URL", help_heading = "Server")]
    pub ready_url: Option<String>,
    /// How long to wait for the server to be ready [default: 20m].
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "Server")]
    pub ready_timeout: Option<Duration>,
}

impl ServerArgs {
    /// The flags as the server module takes them; `params` are a sweep's.
    pub fn options(&self, params: &[String]) -> crate::server::ServerOptions {
        crate::server::ServerOptions {
            cmd: self.server_cmd.clone(),
            log: self.server_log.clone(),
            ready_url: self.ready_url.clone(),
            ready_timeout: self.ready_timeout,
            params: params.to_vec(),
        }
    }
}

/// Watching the system under test, and live metrics export (run and sweep).
#[derive(Debug, Clone, Default, Args)]
pub struct MonitorArgs {
    /// How often the samplers (host, GPU, server metrics) read.
    #[arg(long, value_parser = parse_duration, default_value = "1s", help_heading = "Monitor")]
    pub monitor_interval: Duration,
    /// Prometheus or OpenMetrics endpoint to scrape: the server's own
    /// metrics, a node or DCGM exporter (repeatable; default: the target's
    /// /metrics when it answers).
    #[arg(long, value_name = "URL", help_heading = "Monitor")]
    pub scrape: Vec<String>,
    /// Also keep this metric from every scrape (repeatable).
    #[arg(long, value_name = "NAME", help_heading = "Monitor")]
    pub scrape_metric: Vec<String>,
    /// Do not sample the host, the GPUs or the server's metrics.
    #[arg(long, help_heading = "Monitor")]
    pub no_monitor: bool,
    /// Send live counters and timers to this StatsD server over UDP.
    #[arg(long, value_name = "HOST:PORT", help_heading = "Monitor")]
    pub statsd: Option<String>,
    /// Prefix of every StatsD metric name.
    #[arg(long, value_name = "PREFIX", default_value = defaults::STATSD_PREFIX, help_heading = "Monitor")]
    pub statsd_prefix: String,
    /// Serve the load generator's live metrics for Prometheus at ADDR/metrics (e.g. 127.0.0.1:9464).
    #[arg(long, value_name = "ADDR", help_heading = "Monitor")]
    pub prometheus_listen: Option<String>,
}

/// `inferload report`: render saved results again.
#[derive(Debug, Clone, Args)]
pub struct ReportCmdArgs {
    /// A saved `--json` document (run or sweep) or a `--records` JSONL file.
    #[arg(value_name = "INPUT")]
    pub input: PathBuf,
    #[command(flatten)]
    pub reports: ReportArgs,
    /// Do not print the console summary.
    #[arg(long)]
    pub quiet: bool,
}

/// `inferload merge`: the shards of one run joined.
#[derive(Debug, Clone, Args)]
pub struct MergeCmdArgs {
    /// The shards' `--json` documents.
    #[arg(value_name = "SHARD.json", required = true)]
    pub inputs: Vec<PathBuf>,
    /// Write the merged run document here.
    #[arg(long, value_name = "FILE")]
    pub json: Option<PathBuf>,
    /// The shards' `--records` files: the merged document then has its
    /// time series and per-request charts.
    #[arg(long, value_name = "SHARD.jsonl", num_args = 1..)]
    pub records: Vec<PathBuf>,
    #[command(flatten)]
    pub reports: ReportArgs,
    #[command(flatten)]
    pub history: HistoryArgs,
    /// Do not print the summary.
    #[arg(long)]
    pub quiet: bool,
}

impl MergeCmdArgs {
    pub fn plan(&self) -> crate::merge::MergePlan {
        let history = match self.history.no_history {
            true => None,
            false => self.history.db.clone().or_else(crate::files::default_history_db),
        };
        crate::merge::MergePlan {
            inputs: self.inputs.clone(),
            records: self.records.clone(),
            json: self.json.clone(),
            reports: self.reports.paths(),
            history,
            quiet: self.quiet,
        }
    }
}

/// `inferload history`: list recorded runs and sweeps.
#[derive(Debug, Clone, Args)]
pub struct HistoryCmdArgs {
    /// History database (default: inferload/history.db under the user's data directory).
    #[arg(long, value_name = "PATH", env = "INFERLOAD_DB")]
    pub db: Option<PathBuf>,
    /// Show at most this many, newest first.
    #[arg(long, short = 'n', default_value_t = 20)]
    pub limit: usize,
}

/// `inferload show ID`: one recorded run or sweep.
#[derive(Debug, Clone, Args)]
pub struct ShowCmdArgs {
    /// The run's id, as `inferload history` lists it.
    pub id: i64,
    /// History database (default: inferload/history.db under the user's data directory).
    #[arg(long, value_name = "PATH", env = "INFERLOAD_DB")]
    pub db: Option<PathBuf>,
    /// Print the stored JSON document instead of the summary.
    #[arg(long)]
    pub json: bool,
}

/// `inferload diff A B`: compare two recorded runs metric by metric.
#[derive(Debug, Clone, Args)]
pub struct DiffCmdArgs {
    /// The baseline run's id.
    pub a: i64,
    /// The run compared with it.
    pub b: i64,
    /// History database (default: inferload/history.db under the user's data directory).
    #[arg(long, value_name = "PATH", env = "INFERLOAD_DB")]
    pub db: Option<PathBuf>,
    /// Changes smaller than this are within noise.
    #[arg(long, value_parser = crate::units::parse_fraction, default_value = "5%")]
    pub noise: f64,
    /// Exit with status 4 when any metric regressed by more than this (e.g. 10%).
    #[arg(long, value_parser = crate::units::parse_fraction, value_name = "PCT")]
    pub fail_on_regression: Option<f64>,
}

/// A stop-rule threshold that `off` removes. A newtype rather than a bare
/// `Option`, because clap reads an `Option` field as "flag may be absent"
/// and would not accept a parser that itself yields `None`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Threshold<T>(pub Option<T>);

fn is_off(s: &str) -> bool {
    s.eq_ignore_ascii_case("off") || s.eq_ignore_ascii_case("none")
}

/// A rule threshold, or `off` to remove the rule.
fn parse_off_fraction(s: &str) -> Result<Threshold<f64>, String> {
    if is_off(s) {
        return Ok(Threshold(None));
    }
    crate::units::parse_fraction(s).map(|f| Threshold(Some(f)))
}

/// A duration threshold, or `off` to remove the rule.
fn parse_off_duration(s: &str) -> Result<Threshold<Duration>, String> {
    if is_off(s) {
        return Ok(Threshold(None));
    }
    parse_duration(s).map(|d| Threshold(Some(d)))
}

/// `inferload sweep`: a ladder of runs with stop rules and a verdict.
#[derive(Debug, Clone, Args)]
pub struct SweepArgs {
    /// A TOML scenario file with the shared settings (target, workload,
    /// objectives, outputs, a task mix); its [load] table is the ladder's
    /// to decide and is not used. Flags given here override the file.
    #[arg(long, value_name = "FILE")]
    pub scenario: Option<PathBuf>,
    #[command(flatten)]
    pub target: TargetArgs,
    #[command(flatten)]
    pub workload: WorkloadArgs,
    #[command(flatten)]
    pub objectives: ObjectiveArgs,

    /// Concurrency ladder: `1,2,5,10,20,50,100`, `1..256x2` (geometric) or
    /// `10..100+10`. With --rate, a single value caps in-flight requests.
    #[arg(
        short = 'c',
        long,
        visible_alias = "max-concurrency",
        value_name = "LADDER",
        help_heading = "Sweep"
    )]
    pub concurrency: Option<String>,
    /// Rate ladder in requests/s (open-loop levels), e.g. `1,2,5,10,20`.
    /// With --find-concurrency or --max-rate-under-slo, the target or start rate.
    #[arg(long, visible_alias = "request-rate", value_name = "LADDER", help_heading = "Sweep")]
    pub rate: Option<String>,
    /// Arrival process of rate levels.
    #[arg(long, value_parser = choice::<ArrivalKind>(), default_value = "poisson", help_heading = "Sweep")]
    pub arrival: ArrivalKind,
    /// Gamma shape of rate levels' arrivals (1 = Poisson).
    #[arg(long, help_heading = "Sweep")]
    pub burstiness: Option<f64>,
    /// Measured requests per level (default: 10 × the level, at least 20).
    #[arg(long, help_heading = "Sweep")]
    pub requests_per_level: Option<u64>,
    /// Measure each level for this long instead of a request count.
    #[arg(long, value_parser = parse_duration, help_heading = "Sweep")]
    pub duration_per_level: Option<Duration>,
    /// Warm-up requests before each level (default: one per concurrency slot,
    /// or one second's worth at a rate).
    #[arg(long, help_heading = "Sweep")]
    pub warmup_per_level: Option<u64>,
    /// Measure every level N times: its deciding figures carry 95 %
    /// confidence intervals over the repeats.
    #[arg(long, value_name = "N", help_heading = "Sweep")]
    pub repeats: Option<u32>,
    /// Multi-turn conversations at every level: sessions of N (or
    /// MIN..MAX) turns; each concurrency level is sessions at once, each
    /// rate sessions per second, and --requests-per-level counts turns.
    #[arg(long, value_parser = crate::workload::conversation::TurnRange::parse, value_name = "N|MIN..MAX", help_heading = "Sweep")]
    pub turns: Option<crate::workload::conversation::TurnRange>,
    /// Pause between a reply and the session's next turn (with --turns).
    #[arg(long, value_parser = crate::schedule::parse_think_time, value_name = "MIN..MAX", help_heading = "Sweep")]
    pub turn_think_time: Option<crate::schedule::ThinkRange>,
    /// Whole sessions per level (with --turns), besides the level's request count.
    #[arg(long, value_name = "N", help_heading = "Sweep")]
    pub sessions: Option<u64>,
    /// For one --rate: find the smallest concurrency cap that reaches 95% of it.
    #[arg(long, help_heading = "Sweep")]
    pub find_concurrency: bool,
    /// Bisect the request rate to the highest one that meets every --slo.
    #[arg(long, help_heading = "Sweep")]
    pub max_rate_under_slo: bool,
    /// Precision of --max-rate-under-slo, relative (e.g. 5%).
    #[arg(long, value_parser = crate::units::parse_fraction, default_value = "5%", help_heading = "Sweep")]
    pub precision: f64,
    /// Most runs a search (--max-rate-under-slo, --find-concurrency) may take.
    #[arg(long, default_value_t = 12, help_heading = "Sweep")]
    pub max_runs: u32,
    /// Largest concurrency cap --find-concurrency tries.
    #[arg(long, default_value_t = 1024, help_heading = "Sweep")]
    pub max_concurrency_search: usize,

    /// Stop when the success rate falls below this (`off` removes the rule).
    #[arg(long, value_parser = parse_off_fraction, default_value = "95%", help_heading = "Stop rules")]
    pub min_success_rate: Threshold<f64>,
    /// Stop when mean TTFT exceeds this (`off` removes the rule).
    #[arg(long, value_parser = parse_off_duration, default_value = "1s", help_heading = "Stop rules")]
    pub max_mean_ttft: Threshold<Duration>,
    /// Stop when throughput grows less than this over the previous level (`off` removes the rule).
    #[arg(long, value_parser = parse_off_fraction, default_value = "20%", help_heading = "Stop rules")]
    pub min_gain: Threshold<f64>,
    /// Stop when this condition holds, e.g. `ttft_p99>2s` (repeatable; --slo syntax).
    #[arg(long = "stop-when", value_name = "EXPR", help_heading = "Stop rules")]
    pub stop_when: Vec<String>,
    /// Do not stop when an --slo fails (still reported per level).
    #[arg(long, help_heading = "Stop rules")]
    pub no_stop_on_slo: bool,
    /// Stop when a GPU's memory use reaches this (monitored levels; `off` removes the rule).
    #[arg(long, value_parser = parse_off_fraction, default_value = "98%", help_heading = "Stop rules")]
    pub max_gpu_memory: Threshold<f64>,
    /// Stop when the server's KV-cache use reaches this (scraped levels; `off` removes the rule).
    #[arg(long, value_parser = parse_off_fraction, default_value = "99%", help_heading = "Stop rules")]
    pub max_kv_cache: Threshold<f64>,
    /// Recommended production load as a share of the maximum stable one.
    #[arg(long, value_parser = crate::units::parse_fraction, default_value = "75%", help_heading = "Verdict")]
    pub headroom: f64,

    /// Write the sweep (every level's summary and the verdict) as JSON,
    /// rewritten after each level.
    #[arg(long, value_name = "FILE", help_heading = "Output")]
    pub json: Option<PathBuf>,
    /// Write one records file per level into this directory.
    #[arg(long, value_name = "DIR", help_heading = "Output")]
    pub records: Option<PathBuf>,
    /// Never draw the progress bar.
    #[arg(long, help_heading = "Output")]
    pub quiet: bool,
    #[command(flatten)]
    pub reports: ReportArgs,
    #[command(flatten)]
    pub history: HistoryArgs,
    #[command(flatten)]
    pub monitor: MonitorArgs,
    #[command(flatten)]
    pub server: ServerArgs,
    /// A server setting to sweep: `NAME=V1,V2,…`, filling `{NAME}` in
    /// --server-cmd; the server is restarted for each value and the load
    /// ladder run against it (repeatable: every combination is measured).
    #[arg(long, value_name = "NAME=V1,V2", help_heading = "Server")]
    pub server_param: Vec<String>,
    /// A workload setting to sweep: `KEY=V1,V2,…` with KEY any run option
    /// (e.g. random-prefix-len=0,1024, turns=1,4, input-len=128,1024); the
    /// ladder is run for each value (repeatable: every combination).
    #[arg(long, value_name = "KEY=V1,V2", help_heading = "Sweep")]
    pub bench_param: Vec<String>,
}

// ---- the flags as options: only what the user gave ----

impl TargetArgs {
    pub fn options(&self, t: &Typed) -> TargetOptions {
        let h = &self.http;
        TargetOptions {
            url: self.url.clone(),
            host: self.host.clone(),
            port: self.port,
            api: self.api,
            backend: self.backend,
            endpoint: self.endpoint.clone(),
            model: self.model.clone(),
            api_key: self.api_key.clone(),
            headers: list(&self.headers),
            timeout: t.value("timeout", &self.timeout),
            insecure: t.flag(self.insecure),
            connect_rate: self.connect_rate,
            grace: t.value("grace", &self.grace),
            abort_after: t.value("abort_after", &self.abort_after),
            body_template: h.body_template.clone(),
            check: list(&h.checks),
            images_pointer: h.images_pointer.clone(),
            job_id_pointer: h.job_id_pointer.clone(),
            status_url: h.status_url.clone(),
            status_pointer: h.status_pointer.clone(),
            done_value: h.done_value.clone(),
            failed_value: h.failed_value.clone(),
            queued_value: h.queued_value.clone(),
            result_url: h.result_url.clone(),
            poll_interval: h.poll_interval,
            served_model_name: self.served_model_name.clone(),
            request_id_prefix: self.request_id_prefix.clone(),
            ready_check_timeout_sec: self.ready_check_timeout_sec,
            verify_ssl: t.flag(self.verify_ssl),
            tokenizer: self.tokenizer.clone(),
            tokenizer_mode: self.tokenizer_mode.clone(),
            trust_remote_code: t.flag(self.trust_remote_code),
        }
    }
}

impl LoadArgs {
    pub fn options(&self, t: &Typed) -> LoadOptions {
        LoadOptions {
            concurrency: self.concurrency,
            rate: self.rate,
            arrival: t.value("arrival", &self.arrival),
            burstiness: self.burstiness,
            requests: self.requests,
            duration: self.duration,
            warmup: t.value("warmup", &self.warmup),
            users: self.users,
            spawn_rate: self.spawn_rate,
            think_time: self.think_time,
            turns: self.turns,
            turn_think_time: self.turn_think_time,
            sessions: self.sessions,
            shard: self.shard.clone(),
            shards: self.shards,
            shard_index: self.shard_index,
            start_at: self.start_at.clone(),
            trace_speed: self.trace_speed,
            stages: self.stages.clone().map(crate::plan::stages::StagesValue::Text),
            rate_stages: self.rate_stages.clone().map(crate::plan::stages::StagesValue::Text),
            user_stages: self.user_stages.clone().map(crate::plan::stages::StagesValue::Text),
            ramp_up_strategy: self.ramp_up_strategy,
            ramp_up_start_rps: self.ramp_up_start_rps,
            ramp_up_end_rps: self.ramp_up_end_rps,
            // `--repeats` is run's and sweep's own flag, not compare's.
            repeats: None,
        }
    }
}

impl WorkloadArgs {
    pub fn options(&self, t: &Typed, http: &HttpApiArgs) -> WorkloadOptions {
        WorkloadOptions {
            prompt: self.prompt.clone(),
            dataset: self.dataset.clone(),
            dataset_path: self.dataset_path.clone(),
            input_len: t.value("input_len", &self.input_len),
            output_len: self.output_len,
            range_ratio: t.value("range_ratio", &self.range_ratio),
            stream: match (self.stream, self.no_stream) {
                (_, true) => Some(false),
                (true, false) => Some(true),
                (false, false) => None,
            },
            ignore_eos: t.flag(self.ignore_eos),
            extra_body: self.extra_body.clone(),
            seed: t.value("seed", &self.seed),
            steps: http.steps,
            width: http.width,
            height: http.height,
            guidance: http.guidance,
            image_n: http.image_n,
            size: http.size.clone(),
            temperature: self.temperature,
            top_p: self.top_p,
            top_k: self.top_k,
            min_p: self.min_p,
            random_prefix_len: self.random_prefix_len,
            sharegpt_output_len: self.sharegpt_output_len,
            prefix_repetition_prefix_len: self.prefix_repetition_prefix_len,
            prefix_repetition_suffix_len: self.prefix_repetition_suffix_len,
            prefix_repetition_num_prefixes: self.prefix_repetition_num_prefixes,
            prefix_repetition_output_len: self.prefix_repetition_output_len,
            system_prompt: self.system_prompt.clone(),
            system_prompt_len: self.system_prompt_len,
            trace_block_size: self.trace_block_size,
            trace_window: self.trace_window.clone(),
            use_case: self.use_case,
        }
    }
}

impl ObjectiveArgs {
    pub fn options(&self) -> ObjectiveOptions {
        ObjectiveOptions {
            slo: list(&self.slos),
            goodput: list(&self.goodput),
            slo_per_stage: self.slo_per_stage.then_some(true),
        }
    }
}

impl MonitorArgs {
    pub fn options(&self, t: &Typed) -> MonitorOptions {
        MonitorOptions {
            monitor_interval: t.value("monitor_interval", &self.monitor_interval),
            scrape: list(&self.scrape),
            scrape_metric: list(&self.scrape_metric),
            no_monitor: t.flag(self.no_monitor),
            statsd: self.statsd.clone(),
            statsd_prefix: t.value("statsd_prefix", &self.statsd_prefix),
            prometheus_listen: self.prometheus_listen.clone(),
        }
    }
}

impl ReportArgs {
    /// The reports asked for.
    pub fn paths(&self) -> crate::plan::ReportPaths {
        crate::plan::ReportPaths {
            plot: self.plot.clone(),
            html: self.html.clone(),
            csv: self.csv.clone(),
            markdown: self.markdown.clone(),
        }
    }

    /// The report paths as output options.
    fn fill(&self, o: &mut OutputOptions) {
        o.plot.clone_from(&self.plot);
        o.html.clone_from(&self.html);
        o.csv.clone_from(&self.csv);
        o.markdown.clone_from(&self.markdown);
    }
}

impl HistoryArgs {
    fn fill(&self, o: &mut OutputOptions) {
        o.db.clone_from(&self.db);
        o.no_history = self.no_history.then_some(true);
    }
}

impl RunArgs {
    /// What the user gave on the command line for `run`.
    pub fn options(&self, t: &Typed) -> RunOptions {
        let a = &self.output;
        let mut output = OutputOptions {
            show_samples: t.value("show_samples", &a.show_samples),
            json: a.json.clone(),
            records: a.records.clone(),
            save_result: t.flag(a.save_result),
            result_filename: a.result_filename.clone(),
            result_dir: a.result_dir.clone(),
            save_detailed: t.flag(a.save_detailed),
            label: a.label.clone(),
            metadata: list(&a.metadata),
            append_result: t.flag(a.append_result),
            quiet: t.flag(a.quiet || a.disable_tqdm),
            tui: match (a.tui, a.no_tui) {
                (_, true) => Some(false),
                (true, false) => Some(true),
                (false, false) => None,
            },
            percentile_metrics: a.percentile_metrics.clone(),
            metric_percentiles: a.metric_percentiles.clone(),
            ttft_rating: t.value("ttft_rating", &a.ttft_rating),
            ..OutputOptions::default()
        };
        self.reports.fill(&mut output);
        self.history.fill(&mut output);
        RunOptions {
            target: self.target.options(t),
            load: LoadOptions {
                repeats: self.repeats,
                ..self.load.options(t)
            },
            workload: self.workload.options(t, &self.target.http),
            objectives: self.objectives.options(),
            output,
            monitor: self.monitor.options(t),
        }
    }
}

impl CompareArgs {
    /// The comparison's own settings.
    pub fn compare_options(&self, t: &Typed) -> crate::compare::CompareOptions {
        crate::compare::CompareOptions {
            strategies: self.strategies.clone(),
            repeat: t.value("repeat", &self.repeat),
            interleave: t.flag(self.interleave),
            json: self.json.clone(),
        }
    }

    /// What the user gave for the strategies' shared run settings.
    pub fn options(&self, t: &Typed) -> RunOptions {
        let mut output = OutputOptions {
            quiet: t.flag(self.quiet),
            ..OutputOptions::default()
        };
        self.reports.fill(&mut output);
        RunOptions {
            target: self.target.options(t),
            load: self.load.options(t),
            workload: self.workload.options(t, &self.target.http),
            objectives: self.objectives.options(),
            output,
            monitor: self.monitor.options(t),
        }
    }
}

impl SweepArgs {
    /// The sweep's own settings (ladders, rules, per-level sizes).
    pub fn sweep_options(&self) -> crate::sweep::SweepOptions {
        crate::sweep::SweepOptions {
            concurrency: self.concurrency.clone(),
            rate: self.rate.clone(),
            arrival: self.arrival,
            burstiness: self.burstiness,
            requests_per_level: self.requests_per_level,
            duration_per_level: self.duration_per_level,
            warmup_per_level: self.warmup_per_level,
            find_concurrency: self.find_concurrency,
            max_rate_under_slo: self.max_rate_under_slo,
            precision: self.precision,
            max_runs: self.max_runs,
            max_concurrency_search: self.max_concurrency_search,
            min_success_rate: self.min_success_rate.0,
            max_mean_ttft: self.max_mean_ttft.0,
            min_gain: self.min_gain.0,
            stop_when: self.stop_when.clone(),
            no_stop_on_slo: self.no_stop_on_slo,
            max_gpu_memory: self.max_gpu_memory.0,
            max_kv_cache: self.max_kv_cache.0,
            headroom: self.headroom,
            json: self.json.clone(),
            records: self.records.clone(),
        }
    }

    /// What the user gave for every level's shared run settings (the
    /// ladder is the sweep's own: [`SweepArgs::sweep_options`]).
    pub fn options(&self, t: &Typed) -> RunOptions {
        let mut output = OutputOptions {
            quiet: t.flag(self.quiet),
            ..OutputOptions::default()
        };
        self.reports.fill(&mut output);
        self.history.fill(&mut output);
        RunOptions {
            target: self.target.options(t),
            workload: self.workload.options(t, &self.target.http),
            objectives: self.objectives.options(),
            output,
            monitor: self.monitor.options(t),
            load: LoadOptions {
                turns: self.turns,
                turn_think_time: self.turn_think_time,
                sessions: self.sessions,
                repeats: self.repeats,
                ..LoadOptions::default()
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn trace_flags_reach_the_options() {
        let o = run_options([
            "--dataset",
            "mooncake:t.jsonl",
            "--trace-speed",
            "2.5",
            "--trace-window",
            "60s..120s",
            "--trace-block-size",
            "64",
        ])
        .unwrap();
        assert_eq!(o.load.trace_speed, Some(2.5));
        assert_eq!(o.workload.trace_window.as_deref(), Some("60s..120s"));
        assert_eq!(o.workload.trace_block_size, Some(64));
        assert_eq!(o.workload.dataset.as_deref(), Some("mooncake:t.jsonl"));
        assert!(run_options(["--trace-speed", "0"]).is_err(), "a speed above 0");
    }

    #[test]
    fn repeats_reach_the_load_options_and_a_word_is_refused() {
        assert_eq!(run_options(["--repeats", "3"]).unwrap().load.repeats, Some(3));
        assert_eq!(run_options(Vec::<String>::new()).unwrap().load.repeats, None);
        let e = run_options(["--repeats", "three"]).unwrap_err().to_string();
        assert!(e.contains("--repeats") && e.contains("three"), "{e}");
        assert!(run_options(["--repeats", "-1"]).is_err());
        let Command::Sweep(a) = Cli::try_parse_from(["inferload", "sweep", "--repeats", "2"])
            .unwrap()
            .command
        else {
            panic!("sweep")
        };
        assert_eq!(a.options(&Typed::default()).load.repeats, Some(2));
        assert!(Cli::try_parse_from(["inferload", "sweep", "--repeats", "x"]).is_err());
    }

    /// A `vllm bench serve` command line, with `vllm bench serve` replaced
    /// by `inferload run`, parses and reaches the options.
    #[test]
    fn a_vllm_bench_serve_command_line_parses() {
        let o = run_options([
            "--backend",
            "openai",
            "--base-url",
            "http://127.0.0.1:8000",
            "--model",
            "org/m",
            "--served-model-name",
            "m",
            "--tokenizer",
            "org/m",
            "--tokenizer-mode",
            "auto",
            "--trust-remote-code",
            "--disable-tqdm",
            "--temperature",
            "0",
            "--top-p",
            "0.9",
            "--top-k",
            "-1",
            "--min-p",
            "0.05",
            "--metadata",
            "gpu=H100",
            "run=3",
            "--append-result",
            "--save-result",
            "--request-id-prefix",
            "bench",
            "--ready-check-timeout-sec",
            "60",
            "--random-prefix-len",
            "10",
            "--verify-ssl",
            "--num-prompts",
            "10",
        ])
        .unwrap();
        assert_eq!(o.output.quiet, Some(true), "--disable-tqdm hides the progress bar");
        assert_eq!(o.workload.top_k, Some(-1));
        assert_eq!(o.workload.temperature, Some(0.0));
        assert_eq!(o.output.metadata, Some(vec!["gpu=H100".into(), "run=3".into()]));
        assert_eq!(o.output.append_result, Some(true));
        assert_eq!(o.target.served_model_name.as_deref(), Some("m"));
        assert_eq!(o.target.ready_check_timeout_sec, Some(60));
        assert_eq!(o.target.trust_remote_code, Some(true));
        assert_eq!(o.workload.random_prefix_len, Some(10));
    }

    /// Reading every field catches a parser whose type does not match its
    /// field, which clap only reports when the value is read.
    #[test]
    fn stop_rules_parse_thresholds_and_off() {
        let Command::Sweep(a) = Cli::try_parse_from(["inferload", "sweep"]).unwrap().command else {
            panic!("sweep")
        };
        assert_eq!(a.min_success_rate, Threshold(Some(0.95)));
        assert_eq!(a.max_mean_ttft, Threshold(Some(Duration::from_secs(1))));
        assert_eq!(a.min_gain, Threshold(Some(0.2)));
        let cli = Cli::try_parse_from([
            "inferload",
            "sweep",
            "--min-gain",
            "off",
            "--max-mean-ttft",
            "none",
            "--min-success-rate",
            "90%",
        ])
        .unwrap();
        let Command::Sweep(a) = cli.command else {
            panic!("sweep")
        };
        assert_eq!(a.min_gain, Threshold(None));
        assert_eq!(a.max_mean_ttft, Threshold(None));
        assert_eq!(a.min_success_rate, Threshold(Some(0.9)));
        assert!(Cli::try_parse_from(["inferload", "sweep", "--min-gain", "lots"]).is_err());
    }
}
