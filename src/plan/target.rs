//! The endpoint under test: URL, API, endpoint path, model, credentials,
//! headers, timeouts, and how the templated HTTP APIs build and judge
//! requests.
//!
//! The `--url` is split into its base (scheme, host, path) and its query
//! string. The base is what every output prints; the query is kept apart
//! because it may carry a credential (`?api_key=…`), is printed only
//! redacted, and goes back on every request *after* the API path
//! ([`Target::request_url`]): `http://h/v1?api-version=2024` sends to
//! `/v1/chat/completions?api-version=2024`.

use std::time::Duration;

use serde::Serialize;

use super::{bad, bad_at, defaults, Backend, PlanError, TargetOptions, WorkloadOptions};
use crate::api::ApiKind;
use crate::redact::{is_sensitive_header, Secret};
use crate::workload::WorkloadSpec;

/// The endpoint under test.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// Base URL without a trailing slash, a query or credentials (safe to
    /// print); `None` means the embedded simulator.
    pub base_url: Option<String>,
    /// The `--url`'s query string, sent on every request after the path.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<UrlQuery>,
    pub api: ApiKind,
    /// Request path (e.g. `/v1/chat/completions`).
    pub endpoint: String,
    /// `None`: take the first model listed by `/v1/models`.
    pub model: Option<String>,
    pub api_key: Option<Secret>,
    pub headers: Vec<Header>,
    #[serde(serialize_with = "super::ser_secs")]
    pub timeout: Duration,
    pub insecure: bool,
    /// Open at most this many connections per second (`None`: as needed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_rate: Option<f64>,
    /// How `http`, `openai-images` and `http-async` requests are built and
    /// judged; `None` for the other APIs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<crate::api::http::HttpSpec>,
    /// The `--body-template` file, when the template came from one: an
    /// input no output may overwrite.
    #[serde(skip)]
    pub template_file: Option<std::path::PathBuf>,
    /// `--ready-check-timeout-sec`: how long to wait for the server to
    /// become ready before the run (`None`: one check within the timeout).
    #[serde(serialize_with = "super::ser_opt_secs")]
    pub ready_check: Option<Duration>,
    /// `--model` when `--served-model-name` gave the name sent (`model`):
    /// the model's label in vLLM's result file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_label: Option<String>,
    /// `--tokenizer` and `--tokenizer-mode` as given (the workload's
    /// `tokenizer` is what is opened).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokenizer_mode: Option<String>,
    /// `--trust-remote-code` was given (it has no effect).
    #[serde(skip)]
    pub trust_remote_code: bool,
}

/// The query string of the `--url` (without `?`), as the user wrote it
/// (percent-encoded). It prints, serializes and debugs with the values of
/// credential-named parameters as `***`; [`UrlQuery::expose`] is for
/// building requests only.
#[derive(Clone, PartialEq, Eq)]
pub struct UrlQuery(String);

impl UrlQuery {
    /// The query as sent.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The query fit to print: `api-version=2024&api_key=***`.
    pub fn redacted(&self) -> String {
        crate::redact::redact_query(&self.0)
    }

    /// The credentials it carries, as written and decoded, for the redactor.
    pub fn secrets(&self) -> Vec<Secret> {
        crate::redact::query_secrets(&self.0)
            .into_iter()
            .map(Secret::new)
            .collect()
    }
}

impl std::fmt::Debug for UrlQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for UrlQuery {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.redacted())
    }
}

impl Target {
    /// The URL of `path` on the target whose base is `base` (the `--url`'s
    /// base, or the embedded simulator's address): the path, then the
    /// `--url`'s query. Every URL sent to the target is built here — the
    /// requests (`endpoint`, a task's endpoint), the preflight's
    /// `/v1/models`, `/info`, the monitor's `/metrics` — so the query, with
    /// a key it may carry, reaches each of them. A path with its own query
    /// (`--endpoint '/x?a=1'`) gets the `--url`'s appended with `&`.
    pub fn request_url(&self, base: &str, path: &str) -> String {
        join_url(base, path, self.query.as_ref().map(UrlQuery::expose))
    }

    /// The `--url` as it may be printed: the base and the redacted query.
    /// `None` for the embedded simulator.
    pub fn display_url(&self) -> Option<String> {
        let base = self.base_url.as_deref()?;
        Some(match &self.query {
            Some(q) => format!("{base}?{}", q.redacted()),
            None => base.to_string(),
        })
    }
}

/// The rule URLs on the target are built by.
pub use crate::url::join_url;

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

/// The endpoint under test, from the target options.
pub(super) fn resolve(a: &TargetOptions) -> Result<Target, PlanError> {
    let (base_url, query) = match resolve_base_url(a)? {
        Some((base, query)) => (Some(base), query),
        None => (None, None),
    };
    let api = match (a.api, a.backend) {
        (Some(api), None) => api,
        (None, Some(Backend::Vllm | Backend::Openai)) => ApiKind::OpenaiCompletions,
        (None, Some(Backend::OpenaiChat)) => ApiKind::OpenaiChat,
        (None, None) => ApiKind::OpenaiChat,
        (Some(_), Some(_)) => {
            return Err(bad_at(
                "target.backend",
                "--api and --backend both choose the API; give one of them",
            ))
        }
    };
    let (base_url, api, url_endpoint) = split_endpoint_url(base_url, api, a);
    let endpoint = match &a.endpoint {
        Some(e) if !e.starts_with('/') => {
            return Err(bad_at(
                "target.endpoint",
                format!("--endpoint `{e}` must start with `/`"),
            ))
        }
        Some(e) => e.clone(),
        None if url_endpoint.is_some() => url_endpoint.unwrap_or_default(),
        None => match api {
            // The --url is the endpoint; the embedded simulator's otherwise.
            ApiKind::Http if base_url.is_none() => "/generate".into(),
            ApiKind::HttpAsync if base_url.is_none() => "/async-generate".into(),
            // `/generate` without streaming: see `apply_api`.
            _ => api.default_endpoint().into(),
        },
    };
    let mut headers = Vec::new();
    for h in a.headers.iter().flatten() {
        // `Name: value`, and vLLM's `Name=value` too.
        let (name, value) = h.split_once(':').or_else(|| h.split_once('=')).ok_or_else(|| {
            bad_at(
                "target.headers",
                format!("--header `{}` must look like `Name: value`", redact_header_arg(h)),
            )
        })?;
        let (name, value) = (name.trim(), value.trim());
        if name.is_empty() || reqwest::header::HeaderName::from_bytes(name.as_bytes()).is_err() {
            return Err(bad_at(
                "target.headers",
                format!("--header: `{name}` is not a valid header name"),
            ));
        }
        if reqwest::header::HeaderValue::from_str(value).is_err() {
            return Err(bad_at(
                "target.headers",
                format!("--header `{name}`: the value is not a valid header value"),
            ));
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
    let timeout = a.timeout.unwrap_or(defaults::TIMEOUT);
    if timeout.is_zero() {
        return Err(bad_at("target.timeout", "--timeout must be greater than zero"));
    }
    if let Some(r) = a.connect_rate.filter(|r| !(r.is_finite() && *r > 0.0)) {
        return Err(bad_at(
            "target.connect_rate",
            format!("--connect-rate must be a positive number of connections per second, not {r}"),
        ));
    }
    let api_key = a.api_key.as_deref().filter(|k| !k.is_empty()).map(Secret::new);
    if let Some(k) = &api_key {
        if reqwest::header::HeaderValue::from_str(&format!("Bearer {}", k.expose())).is_err() {
            return Err(bad_at(
                "target.api_key",
                "--api-key contains characters not allowed in an HTTP header",
            ));
        }
    }

    if a.verify_ssl == Some(true) && a.insecure == Some(true) {
        return Err(bad_at(
            "target.verify_ssl",
            "--verify-ssl and --insecure contradict each other; give one",
        ));
    }
    if a.served_model_name.as_deref().is_some_and(str::is_empty) {
        return Err(bad_at(
            "target.served_model_name",
            "--served-model-name must not be empty",
        ));
    }
    if let Some(p) = &a.request_id_prefix {
        if p.is_empty() || reqwest::header::HeaderValue::from_str(p).is_err() {
            return Err(bad_at(
                "target.request_id_prefix",
                "--request-id-prefix must be non-empty text allowed in an HTTP header",
            ));
        }
    }
    let ready_check = a.ready_check_timeout_sec.map(Duration::from_secs);
    Ok(Target {
        base_url,
        query,
        api,
        endpoint,
        // The name sent; --model stays the label (vLLM's --served-model-name).
        model: a.served_model_name.clone().or_else(|| a.model.clone()),
        api_key,
        headers,
        timeout,
        insecure: a.insecure.unwrap_or(false),
        connect_rate: a.connect_rate,
        http: resolve_http(a, api, timeout)?,
        template_file: a.body_template.as_deref().and_then(template_file).map(Into::into),
        ready_check,
        model_label: a.served_model_name.as_ref().and(a.model.clone()),
        tokenizer: a.tokenizer.clone(),
        tokenizer_mode: a.tokenizer_mode.clone(),
        trust_remote_code: a.trust_remote_code.unwrap_or(false),
    })
}

/// A full endpoint URL given as `--url` (`https://host/v1/chat/completions`)
/// names the endpoint: the base is what comes before it, and without
/// `--api`/`--backend` the path chooses chat or completions. Only for the
/// OpenAI text APIs and without `--endpoint` (an `http` API's URL is its
/// endpoint already).
fn split_endpoint_url(
    base_url: Option<String>,
    api: ApiKind,
    a: &TargetOptions,
) -> (Option<String>, ApiKind, Option<String>) {
    const ENDPOINTS: [&str; 4] = [
        "/v1/chat/completions",
        "/v1/completions",
        "/chat/completions",
        "/completions",
    ];
    let Some(base) = base_url else {
        return (None, api, None);
    };
    let openai_text = matches!(api, ApiKind::OpenaiChat | ApiKind::OpenaiCompletions);
    let found = ENDPOINTS.iter().find(|e| base.ends_with(*e));
    match found {
        Some(e) if openai_text && a.endpoint.is_none() => {
            let chosen = match (a.api, a.backend) {
                (None, None) if e.ends_with("/chat/completions") => ApiKind::OpenaiChat,
                (None, None) => ApiKind::OpenaiCompletions,
                _ => api,
            };
            let root = base[..base.len() - e.len()].to_string();
            (Some(root), chosen, Some(e.to_string()))
        }
        _ => (Some(base), api, None),
    }
}

/// The `http` APIs' request and reply settings; options that do not apply
/// to the chosen API are rejected by name.
fn resolve_http(
    a: &TargetOptions,
    api: ApiKind,
    timeout: Duration,
) -> Result<Option<crate::api::http::HttpSpec>, PlanError> {
    use crate::api::http::{Check, HttpSpec, ImagesAt, JobSpec};
    let job_flags = [
        ("--job-id-pointer", "target.job_id_pointer", a.job_id_pointer.is_some()),
        ("--status-url", "target.status_url", a.status_url.is_some()),
        ("--status-pointer", "target.status_pointer", a.status_pointer.is_some()),
        ("--done-value", "target.done_value", a.done_value.is_some()),
        ("--failed-value", "target.failed_value", a.failed_value.is_some()),
        ("--queued-value", "target.queued_value", a.queued_value.is_some()),
        ("--result-url", "target.result_url", a.result_url.is_some()),
        ("--poll-interval", "target.poll_interval", a.poll_interval.is_some()),
    ];
    let http_flags = [
        ("--body-template", "target.body_template", a.body_template.is_some()),
        (
            "--check",
            "target.check",
            a.check.as_ref().is_some_and(|c| !c.is_empty()),
        ),
        ("--images-pointer", "target.images_pointer", a.images_pointer.is_some()),
    ];
    if !matches!(api, ApiKind::Http | ApiKind::OpenaiImages | ApiKind::HttpAsync) {
        return match http_flags.iter().chain(&job_flags).find(|(_, _, set)| *set) {
            Some((flag, key, _)) => Err(bad_at(
                key,
                format!("{flag} applies to --api http, openai-images or http-async, not {api}"),
            )),
            None => Ok(None),
        };
    }
    if api != ApiKind::HttpAsync {
        if let Some((flag, key, _)) = job_flags.iter().find(|(_, _, set)| *set) {
            return Err(bad_at(
                key,
                format!("{flag} applies to --api http-async (submit, then poll)"),
            ));
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
    for c in a.check.iter().flatten() {
        spec.checks
            .push(Check::parse(c).map_err(|e| bad_at("target.check", format!("--check {e}")))?);
    }
    if let Some(p) = &a.images_pointer {
        if !p.starts_with('/') {
            return Err(bad_at(
                "target.images_pointer",
                format!("--images-pointer `{p}` must start with `/` (a JSON pointer)"),
            ));
        }
        spec.images = ImagesAt::Pointer(p.clone());
        spec.require_images = true;
    }
    if api == ApiKind::HttpAsync {
        let d = JobSpec::defaults(timeout);
        let pointer = |flag: &str, key: &'static str, v: &Option<String>, default: String| match v {
            Some(p) if !p.starts_with('/') => Err(bad_at(
                key,
                format!("{flag} `{p}` must start with `/` (a JSON pointer)"),
            )),
            Some(p) => Ok(p.clone()),
            None => Ok(default),
        };
        let values = |flag: &str,
                      key: &'static str,
                      v: &Option<String>,
                      default: Vec<String>|
         -> Result<Vec<String>, PlanError> {
            match v {
                None => Ok(default),
                Some(v) => {
                    let list: Vec<String> = v
                        .split(',')
                        .map(|s| s.trim().to_string())
                        .filter(|s| !s.is_empty())
                        .collect();
                    if list.is_empty() {
                        return Err(bad_at(key, format!("{flag} needs at least one value")));
                    }
                    Ok(list)
                }
            }
        };
        let poll_interval = a.poll_interval.unwrap_or(d.poll_interval);
        if poll_interval.is_zero() {
            return Err(bad_at(
                "target.poll_interval",
                "--poll-interval must be greater than zero",
            ));
        }
        spec.job = Some(JobSpec {
            job_id_pointer: pointer(
                "--job-id-pointer",
                "target.job_id_pointer",
                &a.job_id_pointer,
                d.job_id_pointer,
            )?,
            status_url: a.status_url.clone().unwrap_or(d.status_url),
            status_pointer: pointer(
                "--status-pointer",
                "target.status_pointer",
                &a.status_pointer,
                d.status_pointer,
            )?,
            done_values: values("--done-value", "target.done_value", &a.done_value, d.done_values)?,
            failed_values: values(
                "--failed-value",
                "target.failed_value",
                &a.failed_value,
                d.failed_values,
            )?,
            queued_values: values(
                "--queued-value",
                "target.queued_value",
                &a.queued_value,
                d.queued_values,
            )?,
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
            bad_at(
                "target.body_template",
                format!("--body-template ({}): {e}", spec.template_source),
            )
        }
    })?;
    Ok(Some(spec))
}

/// The file a `--body-template` names: `@FILE`, or a path to a file
/// (anything else is the template itself).
fn template_file(t: &str) -> Option<&str> {
    match t.strip_prefix('@') {
        Some(p) => Some(p),
        None if !t.trim_start().starts_with(['{', '[']) && std::path::Path::new(t).is_file() => Some(t),
        None => None,
    }
}

/// `--body-template`: `@FILE`, a file's path, or the template itself.
fn read_template(t: &str) -> Result<(String, String), PlanError> {
    match template_file(t) {
        Some(p) => std::fs::read_to_string(p)
            .map(|text| (p.to_string(), text))
            .map_err(|e| bad_at("target.body_template", format!("--body-template: cannot read {p}: {e}"))),
        None if t.trim_start().starts_with(['{', '[']) => Ok(("inline".into(), t.to_string())),
        None => Err(bad_at(
            "target.body_template",
            format!(
                "--body-template `{}` is neither a JSON template nor a file (use @FILE for a file)",
                crate::api::cut(t, 60)
            ),
        )),
    }
}

/// What the API implies for the workload, once both are resolved: TGI's
/// endpoint follows streaming; the `http` APIs never stream, take the
/// per-request parameters, and have their template rendered once against
/// the workload (the error names the template's line).
pub(super) fn apply_api(
    a: &TargetOptions,
    target: &mut Target,
    w: &WorkloadOptions,
    workload: &mut WorkloadSpec,
) -> Result<(), PlanError> {
    use crate::workload::{parse_size, RequestParams};
    if target.api == ApiKind::Tgi && a.endpoint.is_none() && !workload.stream {
        target.endpoint = "/generate".into();
    }
    let params = [
        ("--steps", "workload.steps", w.steps.is_some()),
        ("--width", "workload.width", w.width.is_some()),
        ("--height", "workload.height", w.height.is_some()),
        ("--guidance", "workload.guidance", w.guidance.is_some()),
        ("--image-n", "workload.image_n", w.image_n.is_some()),
        ("--size", "workload.size", w.size.is_some()),
    ];
    let Some(http) = &target.http else {
        return match params.iter().find(|(_, _, set)| *set) {
            Some((flag, key, _)) => Err(bad_at(
                key,
                format!(
                    "{flag} applies to --api http, openai-images or http-async, not {}",
                    target.api
                ),
            )),
            None => Ok(()),
        };
    };
    workload.stream = false;
    for (flag, key, v) in [
        ("--steps", "workload.steps", w.steps),
        ("--width", "workload.width", w.width),
        ("--height", "workload.height", w.height),
        ("--image-n", "workload.image_n", w.image_n),
    ] {
        if v == Some(0) {
            return Err(bad_at(key, format!("{flag} must be at least 1")));
        }
    }
    if let Some(g) = w.guidance {
        if !(g.is_finite() && g >= 0.0) {
            return Err(bad_at(
                "workload.guidance",
                "--guidance must be a number of zero or more",
            ));
        }
    }
    if let Some(size) = &w.size {
        if parse_size(size).is_none() {
            return Err(bad_at(
                "workload.size",
                format!("--size `{size}` must look like 1024x1024"),
            ));
        }
    }
    workload.params = RequestParams {
        steps: w.steps,
        width: w.width,
        height: w.height,
        guidance: w.guidance,
        n: w.image_n,
        size: w.size.clone(),
    };
    crate::api::http::validate_template(&http.body_template, workload).map_err(|e| {
        bad_at(
            "target.body_template",
            format!("--body-template ({}): {e}", http.template_source),
        )
    })
}

/// Never echo a header argument that may carry a secret.
fn redact_header_arg(h: &str) -> String {
    if is_sensitive_header(h) {
        "***".into()
    } else {
        h.into()
    }
}

/// The `--url` (or `--host`/`--port`) as a base and a query string.
/// Error messages show the URL redacted: it may hold a key.
fn resolve_base_url(a: &TargetOptions) -> Result<Option<(String, Option<UrlQuery>)>, PlanError> {
    let raw = match (&a.url, &a.host, a.port) {
        (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
            return Err(bad_at(
                "target.url",
                "--url and --host/--port both give the target; use one",
            ))
        }
        (Some(u), None, None) => u.clone(),
        (None, Some(h), p) => format!("http://{h}:{}", p.unwrap_or(8000)),
        (None, None, Some(p)) => format!("http://127.0.0.1:{p}"),
        (None, None, None) => return Ok(None),
    };
    let shown = crate::redact::redact_url(&raw);
    // A bare host ("localhost:8000") is taken as http://, as users type it.
    let with_scheme = if raw.contains("://") {
        raw.clone()
    } else {
        format!("http://{raw}")
    };
    let mut url = url::Url::parse(&with_scheme)
        .map_err(|e| bad_at("target.url", format!("--url `{shown}` is not a valid URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad_at(
            "target.url",
            format!("--url `{shown}`: the scheme must be http or https"),
        ));
    }
    if url.host_str().is_none() {
        return Err(bad_at("target.url", format!("--url `{shown}` has no host")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad_at(
            "target.url",
            "--url must not carry credentials; use --api-key or --header",
        ));
    }
    let query = url.query().filter(|q| !q.is_empty()).map(|q| UrlQuery(q.to_string()));
    url.set_query(None);
    // A fragment is never sent.
    url.set_fragment(None);
    let mut s = url.as_str().trim_end_matches('/').to_string();
    // Users paste the OpenAI base ending in /v1; the endpoint adds it again.
    if let Some(stripped) = s.strip_suffix("/v1") {
        s = stripped.to_string();
    }
    Ok(Some((s, query)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{RunOptions, RunPlan};

    fn err(f: impl FnOnce(&mut RunOptions)) -> PlanError {
        let mut o = RunOptions::default();
        f(&mut o);
        RunPlan::resolve(&o).expect_err("the options are refused")
    }

    fn ok(f: impl FnOnce(&mut RunOptions)) -> RunPlan {
        let mut o = RunOptions::default();
        f(&mut o);
        RunPlan::resolve(&o).expect("the options are valid")
    }

    #[test]
    fn vllm_target_flags_resolve_and_their_errors_name_them() {
        let p = ok(|o| {
            o.target.model = Some("org/label".into());
            o.target.served_model_name = Some("served".into());
            o.target.ready_check_timeout_sec = Some(7);
            o.target.request_id_prefix = Some("bench".into());
            o.target.verify_ssl = Some(true)
        });
        assert_eq!(p.target.model.as_deref(), Some("served"), "the name sent");
        assert_eq!(p.target.model_label.as_deref(), Some("org/label"));
        assert_eq!(p.target.ready_check, Some(Duration::from_secs(7)));
        assert_eq!(p.workload.request_id_prefix.as_deref(), Some("bench"));
        let e = err(|o| {
            o.target.verify_ssl = Some(true);
            o.target.insecure = Some(true)
        });
        assert!(e.message.contains("--verify-ssl and --insecure"), "{e}");
        let e = err(|o| o.target.served_model_name = Some(String::new()));
        assert!(e.message.contains("--served-model-name"), "{e}");
        let e = err(|o| o.target.request_id_prefix = Some("a\nb".into()));
        assert!(e.message.contains("--request-id-prefix"), "{e}");
        assert_eq!(e.key, Some("target.request_id_prefix"));
    }

    #[test]
    fn a_full_endpoint_url_names_the_endpoint() {
        let p = ok(|o| o.target.url = Some("https://h/v1/chat/completions".into()));
        assert_eq!(p.target.base_url.as_deref(), Some("https://h"));
        assert_eq!(p.target.endpoint, "/v1/chat/completions");
        assert_eq!(p.target.api, ApiKind::OpenaiChat);
        let p = ok(|o| o.target.url = Some("http://h:8/proxy/v1/completions?k=1".into()));
        assert_eq!(p.target.base_url.as_deref(), Some("http://h:8/proxy"));
        assert_eq!(p.target.endpoint, "/v1/completions");
        assert_eq!(p.target.api, ApiKind::OpenaiCompletions, "the path chooses completions");
        let p = ok(|o| {
            o.target.url = Some("http://h/v1/completions".into());
            o.target.endpoint = Some("/x".into())
        });
        assert_eq!(
            p.target.base_url.as_deref(),
            Some("http://h/v1/completions"),
            "--endpoint wins"
        );
        let p = ok(|o| {
            o.target.url = Some("http://h/v1/completions".into());
            o.target.api = Some(ApiKind::Http)
        });
        assert_eq!(
            p.target.base_url.as_deref(),
            Some("http://h/v1/completions"),
            "an http API's URL is its endpoint"
        );
    }

    #[test]
    fn urls_are_checked_and_normalised() {
        assert_eq!(
            ok(|o| o.target.url = Some("localhost:8000/v1/".into()))
                .target
                .base_url
                .as_deref(),
            Some("http://localhost:8000")
        );
        assert_eq!(
            ok(|o| {
                o.target.host = Some("h".into());
                o.target.port = Some(9)
            })
            .target
            .base_url
            .as_deref(),
            Some("http://h:9")
        );
        assert_eq!(
            ok(|o| o.target.port = Some(7)).target.base_url.as_deref(),
            Some("http://127.0.0.1:7")
        );
        let e = err(|o| {
            o.target.url = Some("http://a".into());
            o.target.port = Some(1)
        });
        assert!(e.message.contains("--url and --host/--port"), "{e}");
        assert_eq!(e.key, Some("target.url"));
        assert!(err(|o| o.target.url = Some("ftp://x".into()))
            .message
            .contains("scheme"));
        assert!(err(|o| o.target.url = Some("http://".into())).message.contains("--url"));
        let e = err(|o| o.target.url = Some("http://user:pw@h".into()));
        assert!(e.message.contains("credentials") && !e.message.contains("pw"), "{e}");
    }

    #[test]
    fn a_url_error_never_shows_a_credential_of_the_url() {
        for url in [
            "ftp://h/x?api_key=sekrit-123",
            "http://h:notaport/?token=sekrit-123",
            "ftp://me:sekrit-123@h/",
        ] {
            let e = err(|o| o.target.url = Some(url.into()));
            assert!(e.message.starts_with("--url"), "{e}");
            assert!(!e.message.contains("sekrit"), "{e}");
        }
    }

    #[test]
    fn the_query_of_the_url_goes_after_the_api_path() {
        let p = ok(|o| o.target.url = Some("http://h:8000/v1?api-version=2024".into()));
        let t = &p.target;
        assert_eq!(t.base_url.as_deref(), Some("http://h:8000"));
        let base = t.base_url.as_deref().unwrap();
        assert_eq!(
            t.request_url(base, &t.endpoint),
            "http://h:8000/v1/chat/completions?api-version=2024"
        );
        assert_eq!(
            t.request_url(base, "/v1/models"),
            "http://h:8000/v1/models?api-version=2024"
        );
        assert_eq!(
            t.request_url(base, "/metrics"),
            "http://h:8000/metrics?api-version=2024"
        );
        // The embedded simulator's base gets the same query.
        assert_eq!(
            t.request_url("http://127.0.0.1:5", "/v1/models"),
            "http://127.0.0.1:5/v1/models?api-version=2024"
        );
        // An endpoint with its own query keeps it; the URL's follows.
        assert_eq!(t.request_url(base, "/x?a=1"), "http://h:8000/x?a=1&api-version=2024");
        // The http APIs: the --url is the endpoint, its query stays on it.
        let p = ok(|o| {
            o.target.api = Some(ApiKind::Http);
            o.target.url = Some("http://h/gen?code=abc#top".into())
        });
        let base = p.target.base_url.clone().unwrap();
        assert_eq!(base, "http://h/gen");
        assert_eq!(p.target.request_url(&base, &p.target.endpoint), "http://h/gen?code=abc");
        // Without a query nothing changes.
        let p = ok(|o| o.target.url = Some("http://h:8000/v1/".into()));
        assert!(p.target.query.is_none());
        assert_eq!(
            p.target.request_url("http://h:8000", "/v1/completions"),
            "http://h:8000/v1/completions"
        );
    }

    #[test]
    fn a_key_in_the_query_is_a_secret_and_prints_masked() {
        let p = ok(|o| o.target.url = Some("https://h/v1?api-version=2024&api_key=qk-12345&sig=s%2B9876".into()));
        let t = &p.target;
        assert_eq!(
            t.display_url().as_deref(),
            Some("https://h?api-version=2024&api_key=***&sig=***")
        );
        let shown = format!("{t:?} {}", serde_json::to_string(t).unwrap());
        assert!(!shown.contains("qk-12345") && !shown.contains("s%2B9876"), "{shown}");
        let base = t.base_url.clone().unwrap();
        assert!(
            t.request_url(&base, "/v1/models")
                .ends_with("?api-version=2024&api_key=qk-12345&sig=s%2B9876"),
            "the request carries the key"
        );
        let r = p.redactor();
        assert_eq!(
            r.redact("GET /v1/models?api_key=qk-12345&sig=s+9876 refused"),
            "GET /v1/models?api_key=***&sig=*** refused"
        );
    }

    #[test]
    fn a_header_credential_is_a_secret_without_its_scheme() {
        let p = ok(|o| {
            o.target.headers = Some(vec![
                "Authorization: Bearer sk-abc-123456".into(),
                "X-Trace: trace-0001".into(),
            ])
        });
        let r = p.redactor();
        assert_eq!(
            r.redact("Incorrect API key provided: sk-abc-123456 (trace-0001)"),
            "Incorrect API key provided: *** (trace-0001)"
        );
    }

    #[test]
    fn api_backend_and_endpoint() {
        assert!(err(|o| {
            o.target.api = Some(ApiKind::Tgi);
            o.target.backend = Some(Backend::Vllm)
        })
        .message
        .contains("--api and --backend"));
        assert_eq!(
            ok(|o| o.target.backend = Some(Backend::Vllm)).target.api,
            ApiKind::OpenaiCompletions
        );
        assert_eq!(
            ok(|o| o.target.backend = Some(Backend::OpenaiChat)).target.api,
            ApiKind::OpenaiChat
        );
        let e = err(|o| o.target.endpoint = Some("v1/x".into()));
        assert_eq!(e.key, Some("target.endpoint"));
        assert!(e.message.contains("must start with `/`"));
        let tgi = ok(|o| {
            o.target.api = Some(ApiKind::Tgi);
            o.workload.stream = Some(false)
        });
        assert_eq!(tgi.target.endpoint, "/generate", "TGI without streaming uses /generate");
        let http = ok(|o| {
            o.target.api = Some(ApiKind::Http);
            o.target.url = Some("http://h/gen".into())
        });
        assert_eq!(http.target.endpoint, "", "the --url is the endpoint");
        assert!(!http.workload.stream, "http APIs never stream");
    }

    #[test]
    fn headers_keys_and_timeouts() {
        let e = err(|o| o.target.headers = Some(vec!["Authorization Bearer sk-1".into()]));
        assert!(
            e.message.contains("must look like") && !e.message.contains("sk-1"),
            "{e}"
        );
        assert!(err(|o| o.target.headers = Some(vec!["bad name: v".into()]))
            .message
            .contains("not a valid header name"));
        assert!(err(|o| o.target.headers = Some(vec!["X: a\nb".into()]))
            .message
            .contains("not a valid header value"));
        let p = ok(|o| o.target.headers = Some(vec!["x-api-key: k123".into(), "X-Trace=1".into()]));
        assert!(matches!(p.target.headers[0].value, HeaderValue::Secret(_)));
        assert!(matches!(p.target.headers[1].value, HeaderValue::Plain(_)));
        assert!(err(|o| o.target.api_key = Some("a\nb".into()))
            .message
            .contains("--api-key"));
        assert!(ok(|o| o.target.api_key = Some(String::new())).target.api_key.is_none());
        assert_eq!(
            err(|o| o.target.timeout = Some(Duration::ZERO)).key,
            Some("target.timeout")
        );
    }

    #[test]
    fn the_connection_ramp_is_a_positive_finite_rate() {
        assert_eq!(ok(|_| {}).target.connect_rate, None);
        assert_eq!(
            ok(|o| o.target.connect_rate = Some(50.0)).target.connect_rate,
            Some(50.0)
        );
        for bad in [0.0, -3.0, f64::INFINITY, f64::NAN] {
            let e = err(|o| o.target.connect_rate = Some(bad));
            assert_eq!(e.key, Some("target.connect_rate"), "{bad}: {e}");
            assert!(e.message.contains("--connect-rate must be a positive"), "{e}");
        }
    }

    #[test]
    fn http_options_apply_only_to_http_apis() {
        let e = err(|o| o.target.body_template = Some("{}".into()));
        assert!(e.message.contains("--body-template applies to --api http"), "{e}");
        let e = err(|o| o.workload.steps = Some(3));
        assert!(e.message.contains("--steps applies to"), "{e}");
        let e = err(|o| {
            o.target.api = Some(ApiKind::Http);
            o.target.status_url = Some("/s".into())
        });
        assert!(e.message.contains("--status-url applies to --api http-async"), "{e}");
        let http = |f: &dyn Fn(&mut RunOptions)| {
            err(|o| {
                o.target.api = Some(ApiKind::HttpAsync);
                f(o)
            })
        };
        assert!(http(&|o| o.target.job_id_pointer = Some("id".into()))
            .message
            .contains("JSON pointer"));
        assert!(http(&|o| o.target.done_value = Some(" , ".into()))
            .message
            .contains("at least one value"));
        assert!(http(&|o| o.target.poll_interval = Some(Duration::ZERO))
            .message
            .contains("--poll-interval"));
        assert!(http(&|o| o.target.images_pointer = Some("x".into()))
            .message
            .contains("--images-pointer"));
        assert!(http(&|o| o.target.check = Some(vec!["".into()]))
            .message
            .starts_with("--check"));
        assert!(http(&|o| o.target.body_template = Some("neither".into()))
            .message
            .contains("neither a JSON"));
        assert!(http(&|o| o.target.body_template = Some("@/no/such/file".into()))
            .message
            .contains("cannot read"));
        assert!(http(&|o| o.target.body_template = Some("{\"p\": {{ nope( }}}".into()))
            .message
            .contains("--body-template (inline)"));
        assert!(http(&|o| o.workload.steps = Some(0))
            .message
            .contains("--steps must be at least 1"));
        assert!(http(&|o| o.workload.guidance = Some(-1.0))
            .message
            .contains("--guidance"));
        assert!(http(&|o| o.workload.size = Some("big".into()))
            .message
            .contains("--size"));
    }
}
