//! The endpoint under test: URL, API, endpoint path, model, credentials,
//! headers, timeouts, and how the templated HTTP APIs build and judge
//! requests.

use std::time::Duration;

use serde::Serialize;

use super::{bad, bad_at, defaults, Backend, PlanError, TargetOptions, WorkloadOptions};
use crate::api::ApiKind;
use crate::redact::{is_sensitive_header, Secret};
use crate::workload::WorkloadSpec;

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
    #[serde(serialize_with = "super::ser_secs")]
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

/// The endpoint under test, from the target options.
pub(super) fn resolve(a: &TargetOptions) -> Result<Target, PlanError> {
    let base_url = resolve_base_url(a)?;
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
    let endpoint = match &a.endpoint {
        Some(e) if !e.starts_with('/') => {
            return Err(bad_at(
                "target.endpoint",
                format!("--endpoint `{e}` must start with `/`"),
            ))
        }
        Some(e) => e.clone(),
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
    let api_key = a.api_key.as_deref().filter(|k| !k.is_empty()).map(Secret::new);
    if let Some(k) = &api_key {
        if reqwest::header::HeaderValue::from_str(&format!("Bearer {}", k.expose())).is_err() {
            return Err(bad_at(
                "target.api_key",
                "--api-key contains characters not allowed in an HTTP header",
            ));
        }
    }

    Ok(Target {
        base_url,
        api,
        endpoint,
        model: a.model.clone(),
        api_key,
        headers,
        timeout,
        insecure: a.insecure.unwrap_or(false),
        http: resolve_http(a, api, timeout)?,
    })
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

fn resolve_base_url(a: &TargetOptions) -> Result<Option<String>, PlanError> {
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
    // A bare host ("localhost:8000") is taken as http://, as users type it.
    let with_scheme = if raw.contains("://") {
        raw.clone()
    } else {
        format!("http://{raw}")
    };
    let url = url::Url::parse(&with_scheme)
        .map_err(|e| bad_at("target.url", format!("--url `{raw}` is not a valid URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad_at(
            "target.url",
            format!("--url `{raw}`: the scheme must be http or https"),
        ));
    }
    if url.host_str().is_none() {
        return Err(bad_at("target.url", format!("--url `{raw}` has no host")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad_at(
            "target.url",
            "--url must not carry credentials; use --api-key or --header",
        ));
    }
    let mut s = url.as_str().trim_end_matches('/').to_string();
    // Users paste the OpenAI base ending in /v1; the endpoint adds it again.
    if let Some(stripped) = s.strip_suffix("/v1") {
        s = stripped.to_string();
    }
    Ok(Some(s))
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
