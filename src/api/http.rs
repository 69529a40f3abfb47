//! Plain JSON HTTP APIs: `http` (any JSON API, the body a template),
//! `openai-images` (OpenAI's `POST /v1/images/generations`) and
//! `http-async` (submit, poll a status URL, fetch the result).
//!
//! The request body is a [minijinja] template rendered per request with
//! JSON auto-escaping: `{{ prompt }}` writes the prompt as a JSON string,
//! quotes included, and numbers as numbers, so a template is the JSON body
//! it produces with values left as `{{ name }}`. Variables:
//! `prompt` (chat turns joined by newlines), `messages` (the turns as
//! `{role, content}`), `index` (the request's index), `seed` (a 32-bit seed
//! per request, from `--seed` and the index), `model`, `max_tokens`,
//! `steps`, `width`, `height`, `guidance`, `n`, `size` (the item's, else the
//! flags', else [`DEFAULTS`]), and `item` (the dataset line's whole object,
//! `{}` without one). `--extra-body` is merged into the rendered object.
//!
//! A reply succeeds when its status is 2xx (the engine checks that), it is
//! JSON, and every `--check POINTER[=VALUE]` holds; a failing check is a
//! `bad_payload` error. Images are counted at `--images-pointer` (an array
//! counts its elements, anything else one image) or, without it, at the
//! first of `/image`, `/images`, `/result/image`, `/result/images`, `/data`
//! that exists. The default template (the simulator's `/generate` body)
//! and `--images-pointer` also require an image in every reply: one
//! without is empty ([`FullReply::empty`], an `empty_reply` failure).
//!
//! `http-async` adds a [`JobApi`]: the job id is read from the submit reply
//! at `--job-id-pointer`, the status URL is a template with `{{ job_id }}`
//! (a path is taken relative to the submit URL's origin), and the status at
//! `--status-pointer` is compared with the done, failed and queued values.
//! The engine drives the loop (`engine::poll`).

use std::time::Duration;

use minijinja::value::Serde;
use minijinja::{Environment, UndefinedBehavior};
use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use super::{error_message, ApiAdapter, FullReply, JobApi, JobStatus, PayloadError};
use crate::workload::{Prompt, RequestParams, WorkItem, WorkloadSpec};

/// Values of the template's parameters when neither the item nor the flags
/// give them: a 512×512 image in 25 steps at guidance 3.5, one per request.
pub const DEFAULTS: Defaults = Defaults {
    steps: 25,
    width: 512,
    height: 512,
    guidance: 3.5,
    n: 1,
};

/// See [`DEFAULTS`].
#[derive(Debug, Clone, Copy)]
pub struct Defaults {
    pub steps: u32,
    pub width: u32,
    pub height: u32,
    pub guidance: f64,
    pub n: u32,
}

/// The body of `--api http` without `--body-template`: what the simulator's
/// `/generate` (and the FLUX-style services it models) takes.
pub const DEFAULT_TEMPLATE: &str = r#"{"prompt": {{ prompt }}, "num_inference_steps": {{ steps }}, "guidance_scale": {{ guidance }}, "width": {{ width }}, "height": {{ height }}}"#;

/// The body of `--api openai-images`.
pub const OPENAI_IMAGES_TEMPLATE: &str = r#"{"model": {{ model }}, "prompt": {{ prompt }}, "n": {{ n }}, "size": {{ size }}, "response_format": "b64_json"}"#;

/// Where images are counted when `--images-pointer` is not given.
const AUTO_IMAGE_POINTERS: [&str; 5] = ["/image", "/images", "/result/image", "/result/images", "/data"];

/// Name under which templates are compiled: the `.json` suffix turns on
/// minijinja's JSON auto-escaping.
const TEMPLATE_NAME: &str = "body.json";

/// One `--check POINTER[=VALUE]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    pub pointer: String,
    /// `None`: the value must exist and not be null.
    pub expect: Option<String>,
}

impl Serialize for Check {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.expect {
            Some(v) => s.collect_str(&format_args!("{}={v}", self.pointer)),
            None => s.serialize_str(&self.pointer),
        }
    }
}

impl Check {
    /// Parses `POINTER[=VALUE]`; the pointer must start with `/`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let (pointer, expect) = match s.split_once('=') {
            Some((p, v)) => (p, Some(v.to_string())),
            None => (s, None),
        };
        if !pointer.starts_with('/') {
            return Err(format!("`{s}`: the JSON pointer must start with `/` (e.g. /status=ok)"));
        }
        Ok(Self {
            pointer: pointer.to_string(),
            expect,
        })
    }

    /// `Err` with what was found when the check fails.
    fn judge(&self, reply: &Value) -> Result<(), String> {
        let found = reply.pointer(&self.pointer).filter(|v| !v.is_null());
        match (found, &self.expect) {
            (None, _) => Err(format!("check {}: nothing at {}", self, self.pointer)),
            (Some(_), None) => Ok(()),
            (Some(v), Some(want)) => {
                let equal = match (v, serde_json::from_str::<Value>(want)) {
                    (Value::String(s), _) if s == want => true,
                    (v, Ok(w)) => *v == w,
                    _ => false,
                };
                if equal {
                    Ok(())
                } else {
                    let shown = super::cut(&v.to_string(), 80);
                    Err(format!("check {self} failed: found {shown}"))
                }
            }
        }
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.expect {
            Some(v) => write!(f, "{}={v}", self.pointer),
            None => f.write_str(&self.pointer),
        }
    }
}

/// How `http-async` follows a job (see the module docs).
#[derive(Debug, Clone, Serialize)]
pub struct JobSpec {
    pub job_id_pointer: String,
    /// Template with `{{ job_id }}`; a path is relative to the submit URL's origin.
    pub status_url: String,
    pub status_pointer: String,
    pub done_values: Vec<String>,
    pub failed_values: Vec<String>,
    /// Status values that mean "still queued" (queue wait ends at the first other).
    pub queued_values: Vec<String>,
    /// Template with `{{ job_id }}`; `None`: the final status reply is the result.
    pub result_url: Option<String>,
    #[serde(serialize_with = "ser_secs")]
    pub poll_interval: Duration,
    /// The whole job (submit to result) must end within this (`--timeout`).
    #[serde(serialize_with = "ser_secs")]
    pub deadline: Duration,
}

fn ser_secs<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl JobSpec {
    /// The defaults, matching the simulator's `/async-generate` and `/jobs/{id}`.
    pub fn defaults(deadline: Duration) -> Self {
        Self {
            job_id_pointer: "/job_id".into(),
            status_url: "/jobs/{{ job_id }}".into(),
            status_pointer: "/status".into(),
            done_values: vec!["done".into()],
            failed_values: vec!["failed".into()],
            queued_values: vec!["queued".into()],
            result_url: None,
            poll_interval: Duration::from_millis(200),
            deadline,
        }
    }
}

/// Where images are counted.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ImagesAt {
    /// The first of the usual places that exists (module docs); none: 0 images.
    Auto,
    /// At this pointer, which must exist.
    Pointer(String),
}

/// Everything `http`, `openai-images` and `http-async` requests need,
/// resolved and checked by `plan`.
#[derive(Debug, Clone, Serialize)]
pub struct HttpSpec {
    /// Where the template came from: `default`, `inline` or the file's path.
    pub template_source: String,
    #[serde(skip)]
    pub body_template: String,
    pub checks: Vec<Check>,
    pub images: ImagesAt,
    /// Every reply must carry at least one image.
    pub require_images: bool,
    pub job: Option<JobSpec>,
}

impl HttpSpec {
    /// `--api http` with no flags: the simulator's `/generate` body, an image required.
    pub fn default_http() -> Self {
        Self {
            template_source: "default".into(),
            body_template: DEFAULT_TEMPLATE.into(),
            checks: Vec::new(),
            images: ImagesAt::Auto,
            require_images: true,
            job: None,
        }
    }

    /// `--api openai-images`: the OpenAI body, images in `/data`.
    pub fn openai_images() -> Self {
        Self {
            template_source: "openai-images".into(),
            body_template: OPENAI_IMAGES_TEMPLATE.into(),
            images: ImagesAt::Pointer("/data".into()),
            ..Self::default_http()
        }
    }
}

/// A template that does not compile, or renders to something that is not
/// a JSON object; `line` is the template's line when known.
#[derive(Debug)]
pub struct TemplateError {
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for TemplateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "line {l}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

fn template_error(e: &minijinja::Error) -> TemplateError {
    let message = match e.detail() {
        Some(d) => format!("{}: {d}", e.kind()),
        None => e.kind().to_string(),
    };
    TemplateError {
        line: e.line(),
        message,
    }
}

fn environment(source: &str) -> Result<Environment<'static>, TemplateError> {
    let mut env = Environment::new();
    // Printing a missing value is an error; `{% if item.x %}` still works.
    env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    env.add_template_owned(TEMPLATE_NAME, source.to_string())
        .map_err(|e| template_error(&e))?;
    Ok(env)
}

/// What a template sees (module docs).
#[derive(Serialize)]
struct Context<'a> {
    prompt: &'a str,
    messages: Vec<Message<'a>>,
    index: u64,
    seed: u32,
    model: &'a str,
    max_tokens: Option<u64>,
    steps: u32,
    width: u32,
    height: u32,
    guidance: f64,
    n: u32,
    size: String,
    item: &'a Map<String, Value>,
}

#[derive(Serialize)]
struct Message<'a> {
    role: &'a str,
    content: &'a str,
}

/// The `http`, `openai-images` and `http-async` adapter.
pub struct HttpJson {
    env: Environment<'static>,
    spec: HttpSpec,
    /// Scheme, host and port of the submit URL (for relative job URLs).
    origin: String,
    jobs: Option<Jobs>,
}

struct Jobs {
    spec: JobSpec,
    status: Environment<'static>,
    result: Option<Environment<'static>>,
    origin: String,
}

impl HttpJson {
    /// Compiles the templates; `url` is the full request URL.
    pub fn new(spec: HttpSpec, url: &str) -> Result<Self, TemplateError> {
        let env = environment(&spec.body_template)?;
        let origin = origin_of(url);
        let jobs = match &spec.job {
            None => None,
            Some(j) => Some(Jobs {
                status: url_environment(&j.status_url, "--status-url")?,
                result: j
                    .result_url
                    .as_deref()
                    .map(|u| url_environment(u, "--result-url"))
                    .transpose()?,
                spec: j.clone(),
                origin: origin.clone(),
            }),
        };
        Ok(Self {
            env,
            spec,
            origin,
            jobs,
        })
    }

    /// Renders the body of one item.
    fn render(&self, item: &WorkItem, model: &str, spec: &WorkloadSpec) -> Result<Value, TemplateError> {
        let joined;
        let (prompt, messages) = match &item.prompt {
            Prompt::Text(t) => (
                t.as_str(),
                vec![Message {
                    role: "user",
                    content: t.as_str(),
                }],
            ),
            Prompt::Chat(m) => {
                joined = m.iter().map(|m| m.content.as_str()).collect::<Vec<_>>().join("\n");
                (
                    joined.as_str(),
                    m.iter()
                        .map(|m| Message {
                            role: &m.role,
                            content: &m.content,
                        })
                        .collect(),
                )
            }
        };
        let p: RequestParams = item.params.or(&spec.params);
        let width = p.width.unwrap_or(DEFAULTS.width);
        let height = p.height.unwrap_or(DEFAULTS.height);
        let empty = Map::new();
        let ctx = Context {
            prompt,
            messages,
            index: item.index,
            seed: request_seed(spec.seed, item.index),
            model,
            max_tokens: item.max_tokens,
            steps: p.steps.unwrap_or(DEFAULTS.steps),
            width,
            height,
            guidance: p.guidance.unwrap_or(DEFAULTS.guidance),
            n: p.n.unwrap_or(DEFAULTS.n),
            size: p.size.unwrap_or_else(|| format!("{width}x{height}")),
            item: item.fields.as_deref().unwrap_or(&empty),
        };
        let text = self
            .env
            .get_template(TEMPLATE_NAME)
            .and_then(|t| t.render(minijinja::Value::from(Serde(&ctx))))
            .map_err(|e| template_error(&e))?;
        let mut body: Value = serde_json::from_str(&text).map_err(|e| TemplateError {
            line: None,
            message: format!(
                "the rendered body is not JSON ({e}): {} (values are written as JSON: `{{{{ prompt }}}}`, not `\"{{{{ prompt }}}}\"`)",
                super::cut(&text, 160)
            ),
        })?;
        if let (Some(extra), Value::Object(obj)) = (&spec.extra_body, &mut body) {
            for (k, v) in extra {
                obj.insert(k.clone(), v.clone());
            }
        }
        Ok(body)
    }

    /// The images in a reply, and, when it must carry one and has none, why
    /// it counts as empty.
    fn count_images(&self, reply: &Value) -> Result<(u64, Option<String>), PayloadError> {
        let count = |v: &Value| match v {
            Value::Array(a) => a.len() as u64,
            Value::Null => 0,
            _ => 1,
        };
        let n = match &self.spec.images {
            ImagesAt::Pointer(p) => match reply.pointer(p) {
                Some(v) => count(v),
                None => return Err(PayloadError(format!("no images at {p} (--images-pointer)"))),
            },
            ImagesAt::Auto => AUTO_IMAGE_POINTERS
                .iter()
                .find_map(|p| reply.pointer(p))
                .map_or(0, count),
        };
        if n == 0 && self.spec.require_images {
            let at = match &self.spec.images {
                ImagesAt::Pointer(p) => p.clone(),
                ImagesAt::Auto => AUTO_IMAGE_POINTERS.join(", "),
            };
            let why = format!("the reply carries no image (looked at {at}; set --images-pointer)");
            return Ok((0, Some(why)));
        }
        Ok((n, None))
    }

    /// Renders a job URL template, relative to the origin when it is a path.
    fn job_url(env: &Environment<'static>, origin: &str, job_id: &str) -> String {
        let rendered = env
            .get_template(TEMPLATE_NAME_URL)
            .and_then(|t| t.render(minijinja::context! { job_id => job_id }))
            .unwrap_or_default();
        if rendered.starts_with('/') {
            format!("{origin}{rendered}")
        } else {
            rendered
        }
    }

    /// The base URL's origin (for tests).
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

/// URL templates are not JSON: no escaping, but `job_id` is percent-safe as
/// servers hand it out.
const TEMPLATE_NAME_URL: &str = "url";

fn url_environment(source: &str, flag: &str) -> Result<Environment<'static>, TemplateError> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.add_template_owned(TEMPLATE_NAME_URL, source.to_string())
        .map_err(|e| {
            let mut t = template_error(&e);
            t.message = format!("{flag}: {}", t.message);
            t
        })?;
    // Rendering with a sample id catches unknown variables now.
    env.get_template(TEMPLATE_NAME_URL)
        .and_then(|t| t.render(minijinja::context! { job_id => "x" }))
        .map_err(|e| {
            let mut t = template_error(&e);
            t.message = format!("{flag}: {} (the only variable is job_id)", t.message);
            t
        })?;
    Ok(env)
}

/// `scheme://host[:port]` of a URL (the URL itself if it does not parse).
fn origin_of(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(u) => u.origin().ascii_serialization(),
        Err(_) => url.trim_end_matches('/').to_string(),
    }
}

/// A 32-bit seed per request, from the run's seed and the index.
fn request_seed(seed: u64, index: u64) -> u32 {
    let mut z = seed ^ index.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 32) as u32
}

fn parse_json(body: &[u8]) -> Result<Value, PayloadError> {
    serde_json::from_slice(body).map_err(|e| {
        let shown = super::cut(&String::from_utf8_lossy(body), 120);
        PayloadError(format!("the reply is not JSON ({e}): {shown}"))
    })
}

impl ApiAdapter for HttpJson {
    fn request_body(&self, item: &WorkItem, model: &str, spec: &WorkloadSpec) -> Result<Value, PayloadError> {
        self.render(item, model, spec)
            .map_err(|e| PayloadError(format!("request body template: {e}")))
    }

    fn parse_event(&self, _data: &[u8]) -> Result<super::StreamEvent, PayloadError> {
        Err(PayloadError("this API does not stream".into()))
    }

    fn parse_body(&self, body: &[u8]) -> Result<FullReply, PayloadError> {
        let reply = parse_json(body)?;
        for c in &self.spec.checks {
            c.judge(&reply).map_err(PayloadError)?;
        }
        let (images, empty) = self.count_images(&reply)?;
        let noun = if images == 1 { "image" } else { "images" };
        Ok(FullReply {
            content: format!("[{images} {noun}, {} bytes]", body.len()),
            usage: None,
            images: Some(images),
            empty,
            ..FullReply::default()
        })
    }

    fn jobs(&self) -> Option<&dyn JobApi> {
        self.jobs.as_ref().map(|j| j as &dyn JobApi)
    }
}

impl JobApi for Jobs {
    fn job_id(&self, submit_reply: &[u8]) -> Result<String, PayloadError> {
        let reply = parse_json(submit_reply)?;
        let p = &self.spec.job_id_pointer;
        match reply.pointer(p) {
            Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
            Some(Value::Number(n)) => Ok(n.to_string()),
            _ => Err(PayloadError(format!(
                "no job id at {p} (--job-id-pointer) in the submit reply: {}",
                super::cut(&reply.to_string(), 120)
            ))),
        }
    }

    fn status_url(&self, job_id: &str) -> String {
        HttpJson::job_url(&self.status, &self.origin, job_id)
    }

    fn result_url(&self, job_id: &str) -> Option<String> {
        self.result
            .as_ref()
            .map(|env| HttpJson::job_url(env, &self.origin, job_id))
    }

    fn status(&self, body: &[u8]) -> Result<JobStatus, PayloadError> {
        let reply = parse_json(body)?;
        let p = &self.spec.status_pointer;
        let status = match reply.pointer(p) {
            Some(Value::String(s)) => s.clone(),
            Some(v @ (Value::Number(_) | Value::Bool(_))) => v.to_string(),
            _ => {
                return Err(PayloadError(format!(
                    "no status at {p} (--status-pointer) in the status reply: {}",
                    super::cut(&reply.to_string(), 120)
                )))
            }
        };
        let is = |values: &[String]| values.iter().any(|v| v.eq_ignore_ascii_case(&status));
        Ok(if is(&self.spec.done_values) {
            JobStatus::Done
        } else if is(&self.spec.failed_values) {
            JobStatus::Failed(format!("status {status}: {}", error_message(body)))
        } else if is(&self.spec.queued_values) {
            JobStatus::Queued
        } else {
            JobStatus::Running
        })
    }

    fn poll_interval(&self) -> Duration {
        self.spec.poll_interval
    }

    fn deadline(&self) -> Duration {
        self.spec.deadline
    }
}

/// Checks a template once, before any traffic: it must compile and render,
/// for a sample item, to a JSON object. `Err` names the template's line.
pub fn validate_template(source: &str, spec: &WorkloadSpec) -> Result<(), TemplateError> {
    let adapter = HttpJson::new(
        HttpSpec {
            body_template: source.to_string(),
            ..HttpSpec::default_http()
        },
        "http://localhost",
    )?;
    let item = WorkItem {
        index: 0,
        prompt: Prompt::Text("a sample prompt".into()),
        input_tokens: 3,
        max_tokens: spec.max_tokens,
        params: RequestParams::default(),
        fields: None,
        task: None,
    };
    match adapter.render(&item, "model", spec) {
        Ok(Value::Object(_)) => Ok(()),
        Ok(other) => Err(TemplateError {
            line: None,
            message: format!("renders to {}, not a JSON object", super::cut(&other.to_string(), 80)),
        }),
        // A dataset field (`item.*`) cannot be checked without the dataset:
        // such a template is judged per request.
        Err(_) if source.contains("item.") || source.contains("item[") => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workload::DatasetSpec;

    fn wspec() -> WorkloadSpec {
        WorkloadSpec {
            dataset: DatasetSpec::Prompt { text: "x".into() },
            max_tokens: None,
            stream: false,
            ignore_eos: false,
            extra_body: None,
            seed: 1,
            random_prefix_len: 0,
            system_prompt: None,
            request_id_prefix: None,
            tokenizer: None,
            params: RequestParams::default(),
        }
    }

    fn item(prompt: &str) -> WorkItem {
        WorkItem {
            index: 3,
            prompt: Prompt::Text(prompt.into()),
            input_tokens: 1,
            max_tokens: Some(16),
            params: RequestParams::default(),
            fields: None,
            task: None,
        }
    }

    #[test]
    fn the_default_template_escapes_the_prompt_and_fills_defaults() {
        let a = HttpJson::new(HttpSpec::default_http(), "http://h:1/generate").unwrap();
        let b = a.request_body(&item("say \"hi\"\n"), "m", &wspec()).unwrap();
        assert_eq!(b["prompt"], "say \"hi\"\n");
        assert_eq!(b["num_inference_steps"], 25);
        assert_eq!(b["guidance_scale"], 3.5);
        assert_eq!((b["width"].as_u64(), b["height"].as_u64()), (Some(512), Some(512)));
        assert_eq!(a.origin(), "http://h:1");
    }

    #[test]
    fn item_params_win_over_flags_and_item_fields_are_visible() {
        let spec = HttpSpec {
            body_template: r#"{"p": {{ prompt }}, "steps": {{ steps }}, "style": {{ item.style }}, "i": {{ index }}, "size": {{ size }}}"#.into(),
            ..HttpSpec::default_http()
        };
        let a = HttpJson::new(spec, "http://h/x").unwrap();
        let mut it = item("cat");
        it.params.steps = Some(7);
        let mut fields = Map::new();
        fields.insert("style".into(), Value::from("ink"));
        it.fields = Some(std::sync::Arc::new(fields));
        let mut ws = wspec();
        ws.params.steps = Some(30);
        ws.params.width = Some(64);
        ws.extra_body = serde_json::from_str(r#"{"extra": true}"#).ok();
        let b = a.request_body(&it, "m", &ws).unwrap();
        assert_eq!(b["steps"], 7);
        assert_eq!(b["style"], "ink");
        assert_eq!(b["i"], 3);
        assert_eq!(b["size"], "64x512");
        assert_eq!(b["extra"], true);
        // A missing field is an error of that request, not a silent null.
        let e = a.request_body(&item("dog"), "m", &wspec()).unwrap_err();
        assert!(e.0.contains("undefined"), "{}", e.0);
    }

    #[test]
    fn templates_are_checked_with_their_line() {
        let e = validate_template("{\n \"a\": {{ prompt \n}", &wspec()).unwrap_err();
        assert_eq!(e.line, Some(3), "{e}");
        let e = validate_template("{\"a\": \"{{ prompt }}\"}", &wspec()).unwrap_err();
        assert!(e.message.contains("not JSON"), "{e}");
        let e = validate_template("[{{ prompt }}]", &wspec()).unwrap_err();
        assert!(e.message.contains("not a JSON object"), "{e}");
        let e = validate_template("{\"a\": {{ nope }}}", &wspec()).unwrap_err();
        assert!(e.message.contains("undefined"), "{e}");
        validate_template(DEFAULT_TEMPLATE, &wspec()).unwrap();
        validate_template(OPENAI_IMAGES_TEMPLATE, &wspec()).unwrap();
        validate_template("{\"s\": {{ item.style }}}", &wspec()).unwrap();
    }

    #[test]
    fn replies_are_judged_by_checks_and_images_counted() {
        let a = HttpJson::new(HttpSpec::default_http(), "http://h/g").unwrap();
        assert_eq!(a.parse_body(br#"{"image":"iVBOR"}"#).unwrap().images, Some(1));
        assert_eq!(a.parse_body(br#"{"images":["a","b"]}"#).unwrap().images, Some(2));
        let empty = a.parse_body(br#"{"ok":true}"#).unwrap().empty.unwrap();
        assert!(empty.contains("no image"), "{empty}");
        assert!(a.parse_body(b"<html>").unwrap_err().0.contains("not JSON"));

        let spec = HttpSpec {
            checks: vec![
                Check::parse("/status=ok").unwrap(),
                Check::parse("/n=2").unwrap(),
                Check::parse("/id").unwrap(),
            ],
            images: ImagesAt::Pointer("/out".into()),
            require_images: false,
            ..HttpSpec::default_http()
        };
        let a = HttpJson::new(spec, "http://h/g").unwrap();
        let r = a
            .parse_body(br#"{"status":"ok","n":2,"id":"x","out":[{"b64_json":"a"}]}"#)
            .unwrap();
        assert_eq!(r.images, Some(1));
        let e = a
            .parse_body(br#"{"status":"busy","n":2,"id":"x","out":[]}"#)
            .unwrap_err();
        assert!(e.0.contains("check /status=ok failed: found \"busy\""), "{}", e.0);
        let e = a.parse_body(br#"{"status":"ok","n":2,"out":[]}"#).unwrap_err();
        assert!(e.0.contains("nothing at /id"), "{}", e.0);
        assert!(Check::parse("status").is_err());
    }

    #[test]
    fn jobs_read_ids_statuses_and_urls() {
        let spec = HttpSpec {
            job: Some(JobSpec {
                result_url: Some("/jobs/{{ job_id }}/result".into()),
                ..JobSpec::defaults(Duration::from_secs(5))
            }),
            ..HttpSpec::default_http()
        };
        let a = HttpJson::new(spec, "http://h:9/async-generate").unwrap();
        let j = a.jobs().unwrap();
        assert_eq!(j.job_id(br#"{"job_id":"job-4"}"#).unwrap(), "job-4");
        assert_eq!(j.job_id(br#"{"job_id":12}"#).unwrap(), "12");
        assert!(j.job_id(br#"{"id":"x"}"#).is_err());
        assert_eq!(j.status_url("job-4"), "http://h:9/jobs/job-4");
        assert_eq!(j.result_url("job-4").unwrap(), "http://h:9/jobs/job-4/result");
        assert_eq!(j.status(br#"{"status":"queued"}"#).unwrap(), JobStatus::Queued);
        assert_eq!(j.status(br#"{"status":"running"}"#).unwrap(), JobStatus::Running);
        assert_eq!(j.status(br#"{"status":"DONE"}"#).unwrap(), JobStatus::Done);
        assert!(matches!(
            j.status(br#"{"status":"failed","error":"out of memory"}"#).unwrap(),
            JobStatus::Failed(m) if m.contains("out of memory")
        ));
        assert!(url_environment("/jobs/{{ id }}", "--status-url").is_err());
    }
}
