//! The validated plan of a run: every default resolved, every flag
//! combination checked once, here, so nothing downstream re-checks them.
//!
//! [`RunPlan::from_args`] is the only way from [`crate::cli::RunArgs`] to a
//! plan; its errors name the flag (or file and line) that is wrong.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use thiserror::Error;

use crate::cli::{
    ApiKind, ArrivalKind, Backend, HistoryArgs, LoadArgs, OutputArgs, ReportArgs, RunArgs, TargetArgs, WorkloadArgs,
};
use crate::redact::{is_sensitive_header, Redactor, Secret};
use crate::schedule::{Arrival, ScheduleSpec};
use crate::slo::{self, Slo};
use crate::workload::{DatasetSpec, WorkloadSpec};

/// A usage error: the message names the flag and what is wrong with it.
#[derive(Debug, Error)]
#[error("{0}")]
pub struct PlanError(pub String);

fn bad(msg: impl Into<String>) -> PlanError {
    PlanError(msg.into())
}

/// The endpoint under test.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// Base URL without a trailing slash; `None` means the embedded simulator.
    pub base_url: Option<String>,
    pub api: ApiKind,
    /// Request path (e.g. `/v1/chat/completions`).
    pub endpoint: String,
    /// `None`: take the first model listed by `/v1/models`.
    pub model: Option<String>,
    pub api_key: Option<Secret>,
    pub headers: Vec<Header>,
    #[serde(serialize_with = "ser_secs")]
    pub timeout: Duration,
    pub insecure: bool,
    /// How `http`, `openai-images` and `http-async` requests are built and
    /// judged; `None` for the other APIs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<crate::api::http::HttpSpec>,
}

/// One extra header; sensitive values are kept as [`Secret`]s.
#[derive(Debug, Clone, Serialize)]
pub struct Header {
    pub name: String,
    pub value: HeaderValue,
}

#[derive(Debug, Clone, Serialize)]
#[serde(untagged)]
pub enum HeaderValue {
    Plain(String),
    Secret(Secret),
}

impl HeaderValue {
    pub fn expose(&self) -> &str {
        match self {
            Self::Plain(v) => v,
            Self::Secret(s) => s.expose(),
        }
    }
}

/// When to stop sending.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Stop {
    /// Measured requests to send (warm-up excluded).
    pub requests: Option<u64>,
    #[serde(serialize_with = "ser_opt_secs")]
    pub duration: Option<Duration>,
}

/// Where results go besides the console.
#[derive(Debug, Clone, Serialize)]
pub struct Outputs {
    pub show_samples: usize,
    pub json: Option<PathBuf>,
    pub records: Option<PathBuf>,
    /// vLLM's result JSON: directory and optional file name.
    pub vllm_result: Option<VllmResult>,
    pub quiet: bool,
    /// Charts, HTML, CSV and Markdown to render at the end.
    pub reports: ReportArgs,
    pub tui: TuiMode,
    /// The history database to record the run in; `None` with `--no-history`.
    pub history: Option<PathBuf>,
}

/// Whether the live dashboard is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TuiMode {
    /// On a terminal, for runs expected to last more than a few seconds.
    Auto,
    On,
    Off,
}

#[derive(Debug, Clone, Serialize)]
pub struct VllmResult {
    pub dir: Option<PathBuf>,
    pub filename: Option<String>,
    pub detailed: bool,
    /// `--label` (default: the backend name).
    pub label: String,
    /// vLLM's `--backend` value recorded in the file.
    pub backend: String,
}

/// Everything one `inferload run` does.
#[derive(Debug, Clone, Serialize)]
pub struct RunPlan {
    pub target: Target,
    pub schedule: ScheduleSpec,
    pub stop: Stop,
    pub warmup: u64,
    pub seed: u64,
    #[serde(serialize_with = "ser_secs")]
    pub grace: Duration,
    pub workload: WorkloadSpec,
    /// Objectives from `--slo`: each is judged PASS/FAIL, and any failure
    /// makes the exit status 3.
    pub slos: Vec<Slo>,
    /// vLLM's `--goodput` bounds: they decide which requests count as good
    /// (goodput), as in vLLM, but pass or fail nothing, so a `vllm bench
    /// serve` command line keeps its exit status.
    pub goodput_bounds: Vec<Slo>,
    pub outputs: Outputs,
    /// Samplers beside the run, and live metrics export (`--monitor-interval`, `--scrape`, …).
    pub monitor: crate::monitor::MonitorPlan,
    /// A scenario file's weighted task mix (empty without one): each
    /// request goes to its task's API, endpoint and model.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<crate::scenario::TaskPlan>,
}

fn ser_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

fn ser_opt_secs<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_f64(d.as_secs_f64()),
        None => s.serialize_none(),
    }
}

impl RunPlan {
    /// Secrets of this plan, for scrubbing free text.
    pub fn redactor(&self) -> Redactor {
        let mut secrets: Vec<Secret> = self.target.api_key.iter().cloned().collect();
        secrets.extend(self.target.headers.iter().filter_map(|h| match &h.value {
            HeaderValue::Secret(s) => Some(s.clone()),
            HeaderValue::Plain(_) => None,
        }));
        Redactor::new(secrets)
    }

    pub fn from_args(a: &RunArgs) -> Result<Self, PlanError> {
        let target = resolve_target(&a.target)?;
        let (schedule, stop) = resolve_load(&a.load)?;
        let mut outputs = resolve_outputs(&a.output, &a.target, target.api);
        outputs.reports = a.reports.clone();
        outputs.history = resolve_history(&a.history);
        outputs.tui = match (a.output.tui, a.output.no_tui || a.output.quiet) {
            (_, true) => TuiMode::Off,
            (true, false) => TuiMode::On,
            (false, false) => TuiMode::Auto,
        };
        let mut target = target;
        let mut workload = resolve_workload(&a.workload)?;
        resolve_api(&a.target, &mut target, &mut workload)?;
        Ok(RunPlan {
            outputs,
            target,
            schedule,
            stop,
            warmup: a.load.warmup,
            seed: a.workload.seed,
            grace: a.target.grace,
            workload,
            slos: resolve_slos(&a.objectives.slos)?,
            goodput_bounds: resolve_goodput(&a.objectives.goodput)?,
            tasks: Vec::new(),
            monitor: resolve_monitor(&a.monitor)?,
        })
    }
}

/// The endpoint under test, from the target flags.
pub fn resolve_target(a: &TargetArgs) -> Result<Target, PlanError> {
    let base_url = resolve_base_url(a)?;
    let api = match (a.api, a.backend) {
        (Some(api), None) => api,
        (None, Some(Backend::Vllm | Backend::Openai)) => ApiKind::OpenaiCompletions,
        (None, Some(Backend::OpenaiChat)) => ApiKind::OpenaiChat,
        (None, None) => ApiKind::OpenaiChat,
        (Some(_), Some(_)) => return Err(bad("--api and --backend both choose the API; give one of them")),
    };
    let endpoint = match &a.endpoint {
        Some(e) if !e.starts_with('/') => return Err(bad(format!("--endpoint `{e}` must start with `/`"))),
        Some(e) => e.clone(),
        None => match api {
            ApiKind::OpenaiChat => "/v1/chat/completions".into(),
            ApiKind::OpenaiCompletions => "/v1/completions".into(),
            // `/generate` without streaming: see `resolve_api`.
            ApiKind::Tgi => "/generate_stream".into(),
            ApiKind::OpenaiImages => "/v1/images/generations".into(),
            // The --url is the endpoint; the embedded simulator's otherwise.
            ApiKind::Http if base_url.is_none() => "/generate".into(),
            ApiKind::HttpAsync if base_url.is_none() => "/async-generate".into(),
            ApiKind::Http | ApiKind::HttpAsync => String::new(),
        },
    };
    let mut headers = Vec::new();
    for h in &a.headers {
        // `Name: value`, and vLLM's `Name=value` too.
        let (name, value) = h.split_once(':').or_else(|| h.split_once('=')).ok_or_else(|| {
            bad(format!(
                "--header `{}` must look like `Name: value`",
                redact_header_arg(h)
            ))
        })?;
        let (name, value) = (name.trim(), value.trim());
        if name.is_empty() || reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(bad(format!("--header: `{name}` is not a valid header name")));
        }
        if reqwest::header::HeaderValue::from_str(value).is_err() {
            return Err(bad(format!("--header `{name}`: the value is not a valid header value")));
        }
        let value = if is_sensitive_header(name) {
            HeaderValue::Secret(Secret::new(value))
        } else {
            HeaderValue::Plain(value.into())
        };
        headers.push(Header {
            name: name.into(),
            value,
        });
    }
    if a.timeout.is_zero() {
        return Err(bad("--timeout must be greater than zero"));
    }
    let api_key = a.api_key.as_deref().filter(|k| !k.is_empty()).map(Secret::new);
    if let Some(k) = &api_key {
        if reqwest::header::HeaderValue::from_str(&format!("Bearer {}", k.expose())).is_err() {
            return Err(bad("--api-key contains characters not allowed in an HTTP header"));
        }
    }

    Ok(Target {
        base_url,
        api,
        endpoint,
        model: a.model.clone(),
        api_key,
        headers,
        timeout: a.timeout,
        insecure: a.insecure,
        http: resolve_http(&a.http, api, a.timeout)?,
    })
}

/// The `http` APIs' request and reply settings; flags that do not apply to
/// the chosen API are rejected by name.
fn resolve_http(
    a: &crate::cli::HttpApiArgs,
    api: ApiKind,
    timeout: Duration,
) -> Result<Option<crate::api::http::HttpSpec>, PlanError> {
    use crate::api::http::{Check, HttpSpec, ImagesAt, JobSpec};
    let job_flags = [
        ("--job-id-pointer", a.job_id_pointer.is_some()),
        ("--status-url", a.status_url.is_some()),
        ("--status-pointer", a.status_pointer.is_some()),
        ("--done-value", a.done_value.is_some()),
        ("--failed-value", a.failed_value.is_some()),
        ("--queued-value", a.queued_value.is_some()),
        ("--result-url", a.result_url.is_some()),
        ("--poll-interval", a.poll_interval.is_some()),
    ];
    let http_flags = [
        ("--body-template", a.body_template.is_some()),
        ("--check", !a.checks.is_empty()),
        ("--images-pointer", a.images_pointer.is_some()),
    ];
    if !matches!(api, ApiKind::Http | ApiKind::OpenaiImages | ApiKind::HttpAsync) {
        let flag = http_flags
            .iter()
            .chain(&job_flags)
            .find(|(_, set)| *set)
            .map(|(f, _)| *f)
            .or_else(|| params_flag(a));
        return match flag {
            Some(flag) => Err(bad(format!(
                "{flag} applies to --api http, openai-images or http-async, not {}",
                api_name(api)
            ))),
            None => Ok(None),
        };
    }
    if api != ApiKind::HttpAsync {
        if let Some((flag, _)) = job_flags.iter().find(|(_, set)| *set) {
            return Err(bad(format!("{flag} applies to --api http-async (submit, then poll)")));
        }
    }
    let mut spec = match api {
        ApiKind::OpenaiImages => HttpSpec::openai_images(),
        _ => HttpSpec::default_http(),
    };
    if let Some(t) = &a.body_template {
        let (source, text) = read_template(t)?;
        spec.template_source = source;
        spec.body_template = text;
        // A custom body: judged by status and --check only, unless told where images are.
        spec.require_images = false;
    }
    for c in &a.checks {
        spec.checks
            .push(Check::parse(c).map_err(|e| bad(format!("--check {e}")))?);
    }
    if let Some(p) = &a.images_pointer {
        if !p.starts_with('/') {
            return Err(bad(format!(
                "--images-pointer `{p}` must start with `/` (a JSON pointer)"
            )));
        }
        spec.images = ImagesAt::Pointer(p.clone());
        spec.require_images = true;
    }
    if api == ApiKind::HttpAsync {
        let d = JobSpec::defaults(timeout);
        let pointer = |flag: &str, v: &Option<String>, default: String| match v {
            Some(p) if !p.starts_with('/') => Err(bad(format!("{flag} `{p}` must start with `/` (a JSON pointer)"))),
            Some(p) => Ok(p.clone()),
            None => Ok(default),
        };
        let values = |flag: &str, v: &Option<String>, default: Vec<String>| -> Result<Vec<String>, PlanError> {
            match v {
                None => Ok(default),
                Some(v) => {
                    let list: Vec<String> = v
                        .split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect();
                    if list.is_empty() {
                        return Err(bad(format!("{flag} needs at least one value")));
                    }
                    Ok(list)
                }
            }
        };
        let poll_interval = a.poll_interval.unwrap_or(d.poll_interval);
        if poll_interval.is_zero() {
            return Err(bad("--poll-interval must be greater than zero"));
        }
        spec.job = Some(JobSpec {
            job_id_pointer: pointer("--job-id-pointer", &a.job_id_pointer, d.job_id_pointer)?,
            status_url: a.status_url.clone().unwrap_or(d.status_url),
            status_pointer: pointer("--status-pointer", &a.status_pointer, d.status_pointer)?,
            done_values: values("--done-value", &a.done_value, d.done_values)?,
            failed_values: values("--failed-value", &a.failed_value, d.failed_values)?,
            queued_values: values("--queued-value", &a.queued_value, d.queued_values)?,
            result_url: a.result_url.clone(),
            poll_interval,
            deadline: timeout,
        });
    }
    // Every template compiles (the URL ones are checked here too).
    crate::api::http::HttpJson::new(spec.clone(), "http://localhost").map_err(|e| {
        if e.message.starts_with("--") {
            bad(e.to_string())
        } else {
            bad(format!("--body-template ({}): {e}", spec.template_source))
        }
    })?;
    Ok(Some(spec))
}

/// The first per-request parameter flag given, if any.
fn params_flag(a: &crate::cli::HttpApiArgs) -> Option<&'static str> {
    [
        ("--steps", a.steps.is_some()),
        ("--width", a.width.is_some()),
        ("--height", a.height.is_some()),
        ("--guidance", a.guidance.is_some()),
        ("--image-n", a.image_n.is_some()),
        ("--size", a.size.is_some()),
    ]
    .into_iter()
    .find(|(_, set)| *set)
    .map(|(f, _)| f)
}

/// `--body-template`: `@FILE`, a file's path, or the template itself.
fn read_template(t: &str) -> Result<(String, String), PlanError> {
    let path = match t.strip_prefix('@') {
        Some(p) => Some(p),
        None if !t.trim_start().starts_with(['{', '[']) && std::path::Path::new(t).is_file() => Some(t),
        None => None,
    };
    match path {
        Some(p) => std::fs::read_to_string(p)
            .map(|text| (p.to_string(), text))
            .map_err(|e| bad(format!("--body-template: cannot read {p}: {e}"))),
        None if t.trim_start().starts_with(['{', '[']) => Ok(("inline".into(), t.to_string())),
        None => Err(bad(format!(
            "--body-template `{}` is neither a JSON template nor a file (use @FILE for a file)",
            crate::api::cut(t, 60)
        ))),
    }
}

/// The API's name as `--api` spells it.
pub fn api_name(api: ApiKind) -> String {
    clap::ValueEnum::to_possible_value(&api).map_or_else(|| format!("{api:?}"), |v| v.get_name().to_string())
}

/// What the API implies for the workload, once both are resolved: TGI's
/// endpoint follows streaming; the `http` APIs never stream, take the
/// per-request parameter flags, and have their template rendered once
/// against the workload (the error names the template's line).
pub fn resolve_api(a: &TargetArgs, target: &mut Target, workload: &mut WorkloadSpec) -> Result<(), PlanError> {
    use crate::workload::{parse_size, RequestParams};
    if target.api == ApiKind::Tgi && a.endpoint.is_none() && !workload.stream {
        target.endpoint = "/generate".into();
    }
    let Some(http) = &target.http else {
        return Ok(());
    };
    workload.stream = false;
    let p = &a.http;
    for (flag, v) in [
        ("--steps", p.steps),
        ("--width", p.width),
        ("--height", p.height),
        ("--image-n", p.image_n),
    ] {
        if v == Some(0) {
            return Err(bad(format!("{flag} must be at least 1")));
        }
    }
    if let Some(g) = p.guidance {
        if !(g.is_finite() && g >= 0.0) {
            return Err(bad("--guidance must be a number of zero or more"));
        }
    }
    if let Some(size) = &p.size {
        if parse_size(size).is_none() {
            return Err(bad(format!("--size `{size}` must look like 1024x1024")));
        }
    }
    workload.params = RequestParams {
        steps: p.steps,
        width: p.width,
        height: p.height,
        guidance: p.guidance,
        n: p.image_n,
        size: p.size.clone(),
    };
    crate::api::http::validate_template(&http.body_template, workload)
        .map_err(|e| bad(format!("--body-template ({}): {e}", http.template_source)))
}

/// The schedule and stop condition of `run`, from the load flags.
fn resolve_load(a: &LoadArgs) -> Result<(ScheduleSpec, Stop), PlanError> {
    if a.concurrency == Some(0) {
        return Err(bad("--concurrency must be at least 1"));
    }
    if let Some(users) = a.users {
        return resolve_users(a, users);
    }
    if a.spawn_rate.is_some() || a.think_time.is_some() {
        let flag = if a.spawn_rate.is_some() {
            "--spawn-rate"
        } else {
            "--think-time"
        };
        return Err(bad(format!("{flag} needs --users (it shapes simulated users)")));
    }
    if let Some(b) = a.burstiness {
        if !(b > 0.0 && b.is_finite()) {
            return Err(bad("--burstiness must be a number greater than 0"));
        }
    }
    let schedule = match a.rate {
        None => {
            if a.burstiness.is_some() {
                return Err(bad("--burstiness needs --rate (it shapes open-loop arrivals)"));
            }
            ScheduleSpec::Closed {
                concurrency: a.concurrency.unwrap_or(10),
            }
        }
        Some(rate) => {
            let arrival = match (a.arrival, a.burstiness) {
                (ArrivalKind::Constant, Some(_)) => {
                    return Err(bad("--burstiness does not apply to --arrival constant"))
                }
                (ArrivalKind::Constant, None) => Arrival::Constant,
                (ArrivalKind::Poisson, None) | (ArrivalKind::Poisson, Some(1.0)) => Arrival::Poisson,
                // vLLM's `--burstiness` alone switches Poisson to gamma.
                (ArrivalKind::Poisson | ArrivalKind::Gamma, Some(shape)) => Arrival::Gamma { shape },
                (ArrivalKind::Gamma, None) => Arrival::Gamma { shape: 1.0 },
            };
            ScheduleSpec::Open {
                rate,
                arrival,
                cap: a.concurrency,
            }
        }
    };
    if a.requests == Some(0) {
        return Err(bad("--requests must be at least 1"));
    }
    if a.duration.is_some_and(|d| d.is_zero()) {
        return Err(bad("--duration must be greater than zero"));
    }
    let stop = Stop {
        requests: a.requests.or(if a.duration.is_some() { None } else { Some(100) }),
        duration: a.duration,
    };
    if stop.requests.is_none() {
        if let ScheduleSpec::Open { rate, .. } = schedule {
            if rate.is_infinite() {
                return Err(bad(
                    "--rate inf with only --duration would send without end; give --requests",
                ));
            }
        }
    }

    Ok((schedule, stop))
}

/// The users schedule (`--users`); it cannot be combined with the other two.
fn resolve_users(a: &LoadArgs, users: usize) -> Result<(ScheduleSpec, Stop), PlanError> {
    if users == 0 {
        return Err(bad("--users must be at least 1"));
    }
    if a.rate.is_some() {
        return Err(bad(
            "--users and --rate are two schedules (users who think vs. arrivals at a rate); give one",
        ));
    }
    if a.concurrency.is_some() {
        return Err(bad(
            "--users and --concurrency are two schedules (at most N users are in flight anyway); give one",
        ));
    }
    if a.burstiness.is_some() {
        return Err(bad("--burstiness needs --rate (it shapes open-loop arrivals)"));
    }
    if a.requests == Some(0) {
        return Err(bad("--requests must be at least 1"));
    }
    if a.duration.is_some_and(|d| d.is_zero()) {
        return Err(bad("--duration must be greater than zero"));
    }
    let think = a
        .think_time
        .unwrap_or(crate::schedule::ThinkRange(Duration::ZERO, Duration::ZERO));
    Ok((
        ScheduleSpec::Users {
            users,
            spawn_rate: a.spawn_rate.unwrap_or(f64::INFINITY),
            think: (think.0, think.1),
        },
        Stop {
            requests: a.requests.or(if a.duration.is_some() { None } else { Some(100) }),
            duration: a.duration,
        },
    ))
}

/// Where results go, from the output flags.
pub fn resolve_outputs(a: &OutputArgs, t: &TargetArgs, api: ApiKind) -> Outputs {
    let save_result = a.save_result || a.result_filename.is_some() || a.result_dir.is_some();
    let backend = match (t.backend, api) {
        (Some(Backend::Vllm), _) => "vllm",
        (Some(Backend::Openai), _) | (None, ApiKind::OpenaiCompletions) => "openai",
        (Some(Backend::OpenaiChat), _) | (None, ApiKind::OpenaiChat) => "openai-chat",
        (None, ApiKind::Tgi) => "tgi",
        (None, ApiKind::Http) => "http",
        (None, ApiKind::OpenaiImages) => "openai-images",
        (None, ApiKind::HttpAsync) => "http-async",
    };
    Outputs {
        show_samples: a.show_samples,
        json: a.json.clone(),
        records: a.records.clone(),
        vllm_result: save_result.then(|| VllmResult {
            dir: a.result_dir.clone(),
            filename: a.result_filename.clone(),
            detailed: a.save_detailed,
            label: a.label.clone().unwrap_or_else(|| backend.to_string()),
            backend: backend.to_string(),
        }),
        quiet: a.quiet,
        reports: ReportArgs::default(),
        tui: TuiMode::Off,
        history: None,
    }
}

/// The monitor and live exporters, from the monitor flags (run and sweep).
pub fn resolve_monitor(a: &crate::cli::MonitorArgs) -> Result<crate::monitor::MonitorPlan, PlanError> {
    if a.monitor_interval < Duration::from_millis(50) {
        return Err(bad("--monitor-interval must be at least 50ms"));
    }
    for u in &a.scrape {
        match url::Url::parse(u) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host_str().is_some() => {}
            _ => {
                return Err(bad(format!(
                    "--scrape `{u}` must be an http(s) URL, e.g. http://gpu-host:9400/metrics"
                )))
            }
        }
    }
    if a.no_monitor && (!a.scrape.is_empty() || !a.scrape_metric.is_empty()) {
        return Err(bad(
            "--no-monitor turns scraping off; drop --scrape/--scrape-metric or --no-monitor",
        ));
    }
    if let Some(s) = &a.statsd {
        let port = s.rsplit_once(':').and_then(|(h, p)| (!h.is_empty()).then_some(p));
        if port.and_then(|p| p.parse::<u16>().ok()).is_none() {
            return Err(bad(format!("--statsd `{s}` must be HOST:PORT, e.g. 127.0.0.1:8125")));
        }
    }
    if let Some(l) = &a.prometheus_listen {
        if l.parse::<std::net::SocketAddr>().is_err() {
            return Err(bad(format!(
                "--prometheus-listen `{l}` must be IP:PORT, e.g. 127.0.0.1:9464 (port 0 picks one)"
            )));
        }
    }
    if a.statsd_prefix.contains([':', '|', '@']) {
        return Err(bad("--statsd-prefix must not contain `:`, `|` or `@`"));
    }
    Ok(crate::monitor::MonitorPlan {
        enabled: !a.no_monitor,
        interval: a.monitor_interval,
        scrape: a.scrape.clone(),
        scrape_metrics: a.scrape_metric.clone(),
        statsd: a.statsd.clone(),
        statsd_prefix: a.statsd_prefix.clone(),
        prometheus_listen: a.prometheus_listen.clone(),
    })
}

/// The history database a run is recorded in, or `None` with `--no-history`.
pub fn resolve_history(a: &HistoryArgs) -> Option<PathBuf> {
    if a.no_history {
        return None;
    }
    a.db.clone().or_else(crate::history::default_db_path)
}

/// Never echo a header argument that may carry a secret.
fn redact_header_arg(h: &str) -> String {
    if is_sensitive_header(h) {
        "***".into()
    } else {
        h.into()
    }
}

fn resolve_base_url(a: &TargetArgs) -> Result<Option<String>, PlanError> {
    let raw = match (&a.url, &a.host, a.port) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(bad("--url and --host/--port both give the target; use one"))
        }
        (Some(u), None, None) => u.clone(),
        (None, Some(h), p) => format!("http://{h}:{}", p.unwrap_or(8000)),
        (None, None, Some(p)) => format!("http://127.0.0.1:{p}"),
        (None, None, None) => return Ok(None),
    };
    // A bare host ("localhost:8000") is taken as http://, as users type it.
    let with_scheme = if raw.contains("://") {
        raw.clone()
    } else {
        format!("http://{raw}")
    };
    let url = url::Url::parse(&with_scheme).map_err(|e| bad(format!("--url `{raw}` is not a valid URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad(format!("--url `{raw}`: the scheme must be http or https")));
    }
    if url.host_str().is_none() {
        return Err(bad(format!("--url `{raw}` has no host")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("--url must not carry credentials; use --api-key or --header"));
    }
    let mut s = url.as_str().trim_end_matches('/').to_string();
    // Users paste the OpenAI base ending in /v1; the endpoint adds it again.
    if let Some(stripped) = s.strip_suffix("/v1") {
        s = stripped.to_string();
    }
    Ok(Some(s))
}

pub fn resolve_workload(a: &WorkloadArgs) -> Result<WorkloadSpec, PlanError> {
    if !(0.0..1.0).contains(&a.range_ratio) {
        return Err(bad("--range-ratio must be in [0, 1)"));
    }
    if a.input_len == 0 {
        return Err(bad("--input-len must be at least 1"));
    }
    if a.output_len == Some(0) {
        return Err(bad("--output-len must be at least 1"));
    }
    let dataset = match (&a.prompt, a.dataset.as_deref(), &a.dataset_path) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(bad("--prompt and --dataset both choose the prompts; give one"))
        }
        (Some(p), None, None) => DatasetSpec::Prompt { text: p.clone() },
        (None, None | Some("random"), None) => DatasetSpec::Random {
            input_len: a.input_len,
            output_len: a.output_len.unwrap_or(128),
            range_ratio: a.range_ratio,
        },
        (None, Some("random"), Some(_)) => return Err(bad("--dataset-path does not apply to the random dataset")),
        (None, Some("sharegpt"), Some(p)) => DatasetSpec::ShareGpt { path: p.clone() },
        (None, Some("sharegpt"), None) => {
            return Err(bad("--dataset sharegpt needs a file: --dataset sharegpt:FILE.json"))
        }
        (None, Some("custom" | "jsonl"), Some(p)) => DatasetSpec::Jsonl { path: p.clone() },
        (None, None, Some(p)) => DatasetSpec::Jsonl { path: p.clone() },
        (None, Some(d), None) => match d.split_once(':') {
            Some(("sharegpt", f)) => DatasetSpec::ShareGpt { path: f.into() },
            Some(("jsonl", f)) => DatasetSpec::Jsonl { path: f.into() },
            _ => DatasetSpec::Jsonl { path: d.into() },
        },
        (None, Some(d), Some(_)) => {
            return Err(bad(format!(
                "--dataset `{d}` with --dataset-path: use sharegpt or custom"
            )))
        }
    };
    let extra_body = match &a.extra_body {
        None => None,
        Some(s) => match serde_json::from_str::<serde_json::Value>(s) {
            Ok(serde_json::Value::Object(m)) => Some(m),
            Ok(_) => return Err(bad("--extra-body must be a JSON object, e.g. '{\"temperature\":0}'")),
            Err(e) => return Err(bad(format!("--extra-body is not valid JSON: {e}"))),
        },
    };
    let ignore_eos = a.ignore_eos || matches!(dataset, DatasetSpec::Random { .. });
    Ok(WorkloadSpec {
        dataset,
        max_tokens: a.output_len,
        stream: !a.no_stream,
        ignore_eos,
        extra_body,
        seed: a.seed,
        params: crate::workload::RequestParams::default(),
    })
}

/// Objectives from `--slo` expressions.
pub fn resolve_slos(exprs: &[String]) -> Result<Vec<Slo>, PlanError> {
    slo::parse_all(exprs).map_err(|e| bad(format!("--slo: {e}")))
}

/// Per-request bounds from vLLM's `--goodput` items (`ttft:500 tpot:50`).
pub fn resolve_goodput(items: &[String]) -> Result<Vec<Slo>, PlanError> {
    items
        .iter()
        .flat_map(|g| g.split_whitespace())
        .map(|item| slo::parse_goodput(item).map_err(|e| bad(format!("--goodput: {e}"))))
        .collect()
}

impl RunPlan {
    /// Every per-request latency bound: those of the objectives and the
    /// `--goodput` ones. A request meeting all of them is good.
    pub fn request_bounds(&self) -> crate::slo::RequestBounds {
        let all: Vec<Slo> = self.slos.iter().chain(&self.goodput_bounds).cloned().collect();
        crate::slo::RequestBounds::new(&all)
    }
}
