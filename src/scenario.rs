//! Scenario files: a TOML file (`--scenario FILE`) that says everything the
//! flags of `run` and `compare` can, plus a weighted mix of tasks and the
//! strategies of a comparison.
//!
//! ```toml
//! [target]      # url, api, endpoint, model, timeout, headers, insecure, grace
//! [load]        # concurrency, rate, arrival, burstiness, requests, duration,
//!               # warmup, users, spawn_rate, think_time
//! [workload]    # prompt, dataset, input_len, output_len, range_ratio, stream,
//!               # ignore_eos, extra_body (a table), seed
//! [objectives]  # slo = [...], goodput = [...]
//! [output]      # json, records, show_samples, quiet, html, plot, csv, markdown
//! [[task]]      # name, weight, api, endpoint, model, prompts | prompt | dataset,
//!               # max_tokens, stream, params (a table merged into the body)
//! [[strategy]]  # compare only: name, url, api, endpoint, model, concurrency,
//!               # rate, requests, params, body_template
//! [compare]     # compare only: repeat, interleave
//! ```
//!
//! The file maps onto the same raw arguments the flags produce, then goes
//! through the same validation ([`crate::plan`]). **A flag given on the
//! command line overrides the file's value** (so a scenario is a default
//! that one run can adjust); a flag left out takes the file's value.
//!
//! Every error names the file, the line and the key (`scenario.toml:7:
//! load.concurrency: invalid type ...`): unknown keys (every table denies
//! them), values of the wrong type or out of range (checked while
//! deserializing, so the parser's span gives the line), and files the
//! scenario names that do not exist (datasets, resolved relative to the
//! scenario file's directory).

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::ValueEnum;
use serde::{Deserialize, Deserializer, Serialize};

use crate::cli::{
    ApiKind, ArrivalKind, LoadArgs, ObjectiveArgs, OutputArgs, ReportArgs, RunArgs, TargetArgs, WorkloadArgs,
};
use crate::schedule::ThinkRange;
use crate::workload::{DatasetSpec, WorkloadSpec};

/// A scenario that cannot be used: file, line (when known), key, what.
#[derive(Debug, thiserror::Error)]
#[error("{}{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default(), key.as_ref().map(|k| format!(": {k}")).unwrap_or_default())]
pub struct ScenarioError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub key: Option<String>,
    pub message: String,
}

// ---- value parsers: run while deserializing, so errors carry a span ----

fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let s = String::deserialize(d)?;
    crate::units::parse_duration(&s)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

fn de_think<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ThinkRange>, D::Error> {
    let s = String::deserialize(d)?;
    crate::schedule::parse_think_time(&s)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// A rate: a number above zero, or `"inf"`.
fn de_rate<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumOrStr {
        Int(i64),
        Num(f64),
        Str(String),
    }
    let text = match NumOrStr::deserialize(d)? {
        NumOrStr::Int(i) => i.to_string(),
        NumOrStr::Num(f) => f.to_string(),
        NumOrStr::Str(s) => s,
    };
    crate::units::parse_rate(&text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

fn de_fraction<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let v = f64::deserialize(d)?;
    if (0.0..1.0).contains(&v) {
        Ok(Some(v))
    } else {
        Err(serde::de::Error::custom(format!("must be in [0, 1), not {v}")))
    }
}

fn de_weight<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if v > 0.0 && v.is_finite() {
        Ok(v)
    } else {
        Err(serde::de::Error::custom(format!("a weight must be above 0, not {v}")))
    }
}

fn de_enum<'de, D: Deserializer<'de>, T: ValueEnum>(d: D) -> Result<Option<T>, D::Error> {
    let s = String::deserialize(d)?;
    T::from_str(&s, true).map(Some).map_err(|_| {
        let names: Vec<String> = T::value_variants()
            .iter()
            .filter_map(|v| v.to_possible_value().map(|p| p.get_name().to_string()))
            .collect();
        serde::de::Error::custom(format!("`{s}` is not one of {}", names.join(", ")))
    })
}

fn de_api<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ApiKind>, D::Error> {
    de_enum(d)
}

fn de_arrival<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ArrivalKind>, D::Error> {
    de_enum(d)
}

fn default_weight() -> f64 {
    1.0
}

// ---- the file ----

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScenarioFile {
    /// Free text, shown nowhere but kept for the reader of the file.
    #[serde(default)]
    #[allow(dead_code)]
    description: Option<String>,
    #[serde(default)]
    target: TargetSection,
    #[serde(default)]
    load: LoadSection,
    #[serde(default)]
    workload: WorkloadSection,
    #[serde(default)]
    objectives: ObjectivesSection,
    #[serde(default)]
    output: OutputSection,
    #[serde(default, rename = "task")]
    tasks: Vec<TaskSection>,
    #[serde(default, rename = "strategy")]
    strategies: Vec<StrategySection>,
    #[serde(default)]
    compare: CompareSection,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetSection {
    url: Option<String>,
    #[serde(default, deserialize_with = "de_api")]
    api: Option<ApiKind>,
    endpoint: Option<String>,
    model: Option<String>,
    #[serde(default)]
    headers: Vec<String>,
    #[serde(default, deserialize_with = "de_duration")]
    timeout: Option<Duration>,
    insecure: Option<bool>,
    #[serde(default, deserialize_with = "de_duration")]
    grace: Option<Duration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LoadSection {
    concurrency: Option<usize>,
    #[serde(default, deserialize_with = "de_rate")]
    rate: Option<f64>,
    #[serde(default, deserialize_with = "de_arrival")]
    arrival: Option<ArrivalKind>,
    burstiness: Option<f64>,
    requests: Option<u64>,
    #[serde(default, deserialize_with = "de_duration")]
    duration: Option<Duration>,
    warmup: Option<u64>,
    users: Option<usize>,
    #[serde(default, deserialize_with = "de_rate")]
    spawn_rate: Option<f64>,
    #[serde(default, deserialize_with = "de_think")]
    think_time: Option<ThinkRange>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WorkloadSection {
    prompt: Option<String>,
    dataset: Option<String>,
    input_len: Option<u64>,
    output_len: Option<u64>,
    max_tokens: Option<u64>,
    #[serde(default, deserialize_with = "de_fraction")]
    range_ratio: Option<f64>,
    stream: Option<bool>,
    ignore_eos: Option<bool>,
    extra_body: Option<toml::Table>,
    seed: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct ObjectivesSection {
    #[serde(default)]
    slo: Vec<String>,
    #[serde(default)]
    goodput: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutputSection {
    json: Option<PathBuf>,
    records: Option<PathBuf>,
    show_samples: Option<usize>,
    quiet: Option<bool>,
    html: Option<PathBuf>,
    plot: Option<PathBuf>,
    csv: Option<PathBuf>,
    markdown: Option<PathBuf>,
}

/// One task of a weighted mix.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskSection {
    name: Option<String>,
    #[serde(default = "default_weight", deserialize_with = "de_weight")]
    weight: f64,
    #[serde(default, deserialize_with = "de_api")]
    api: Option<ApiKind>,
    endpoint: Option<String>,
    model: Option<String>,
    prompt: Option<String>,
    prompts: Option<Vec<String>>,
    dataset: Option<String>,
    max_tokens: Option<u64>,
    stream: Option<bool>,
    params: Option<toml::Table>,
}

/// One strategy of `inferload compare`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrategySection {
    pub name: String,
    pub url: Option<String>,
    #[serde(default, deserialize_with = "de_api")]
    pub api: Option<ApiKind>,
    pub endpoint: Option<String>,
    pub model: Option<String>,
    pub concurrency: Option<usize>,
    #[serde(default, deserialize_with = "de_rate")]
    pub rate: Option<f64>,
    pub requests: Option<u64>,
    pub params: Option<toml::Table>,
    /// The request body template of an `http` API (e.g. a batch endpoint's).
    pub body_template: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CompareSection {
    repeat: Option<u32>,
    interleave: Option<bool>,
}

/// One task of a plan's mix, resolved: its API, endpoint, model and what it sends.
#[derive(Debug, Clone, Serialize)]
pub struct TaskPlan {
    pub name: String,
    pub weight: f64,
    pub api: ApiKind,
    pub endpoint: String,
    /// `None`: the run's model.
    pub model: Option<String>,
    /// A list of prompts sent in turn (else the workload's dataset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompts: Option<Vec<String>>,
    pub workload: WorkloadSpec,
}

/// A parsed scenario file.
#[derive(Debug)]
pub struct Scenario {
    pub path: PathBuf,
    text: String,
    file: ScenarioFile,
}

/// Which flags the user typed (their clap ids); those win over the file.
pub type Given<'a> = &'a dyn Fn(&str) -> bool;

/// The 1-based line of a byte offset.
fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].bytes().filter(|b| *b == b'\n').count() + 1
}

/// The dotted key at a line: the nearest table header above it and the key
/// on the line (`load.concurrency`, `task[2].weight`).
fn key_at(text: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let this = lines.get(line.checked_sub(1)?)?.trim();
    let key = this
        .split_once('=')
        .map(|(k, _)| k.trim().trim_matches('"').to_string());
    let mut section: Option<String> = None;
    let mut arrays: std::collections::HashMap<String, usize> = Default::default();
    for l in &lines[..line] {
        let l = l.trim();
        if let Some(name) = l
            .strip_prefix("[[")
            .and_then(|r| r.split_once("]]"))
            .map(|(n, _)| n.trim())
        {
            let n = arrays.entry(name.to_string()).or_insert(0);
            *n += 1;
            section = Some(format!("{name}[{n}]"));
        } else if let Some(name) = l
            .strip_prefix('[')
            .and_then(|r| r.split_once(']'))
            .map(|(n, _)| n.trim())
        {
            section = Some(name.to_string());
        }
    }
    match (section, key) {
        (Some(s), Some(k)) => Some(format!("{s}.{k}")),
        (None, Some(k)) => Some(k),
        (Some(s), None) => Some(s),
        (None, None) => None,
    }
}

impl Scenario {
    /// Reads and parses a scenario file; every syntax, key and value error
    /// names the file, the line and the key.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let text = std::fs::read_to_string(path).map_err(|e| ScenarioError {
            path: path.to_path_buf(),
            line: None,
            key: None,
            message: format!("cannot read the scenario file: {e}"),
        })?;
        Self::parse(path, text)
    }

    fn parse(path: &Path, text: String) -> Result<Self, ScenarioError> {
        let file: ScenarioFile = toml::from_str(&text).map_err(|e| {
            let line = e.span().map(|s| line_of(&text, s.start));
            // An unknown key names itself in the message; otherwise the key
            // is the one on the line the parser points at.
            let key = line.and_then(|l| key_at(&text, l));
            ScenarioError {
                path: path.to_path_buf(),
                line,
                key,
                message: e.message().trim().to_string(),
            }
        })?;
        let s = Self {
            path: path.to_path_buf(),
            text,
            file,
        };
        s.check()?;
        Ok(s)
    }

    /// An error at `section[n].key` (or `section.key`), with its line.
    fn error_at(&self, section: &str, nth: Option<usize>, key: &str, message: impl Into<String>) -> ScenarioError {
        let line = self.line_of_key(section, nth, key);
        let key = match nth {
            Some(n) => format!("{section}[{}].{key}", n + 1),
            None if section.is_empty() => key.to_string(),
            None => format!("{section}.{key}"),
        };
        ScenarioError {
            path: self.path.clone(),
            line,
            key: Some(key),
            message: message.into(),
        }
    }

    /// The line of `key` in table `section` (the `nth` of an array of tables).
    fn line_of_key(&self, section: &str, nth: Option<usize>, key: &str) -> Option<usize> {
        let mut inside = section.is_empty();
        let mut seen = 0usize;
        let mut header_line = None;
        for (i, l) in self.text.lines().enumerate() {
            let t = l.trim();
            if t.starts_with('[') {
                let name = t.trim_start_matches('[').split(']').next().unwrap_or("").trim();
                inside = name == section
                    && match nth {
                        Some(n) => {
                            seen += 1;
                            seen == n + 1
                        }
                        None => true,
                    };
                if inside {
                    header_line = Some(i + 1);
                }
                continue;
            }
            if inside {
                if let Some((k, _)) = t.split_once('=') {
                    if k.trim().trim_matches('"') == key {
                        return Some(i + 1);
                    }
                }
            }
        }
        header_line
    }

    /// Checks what deserializing cannot: files that must exist, task and
    /// strategy consistency.
    fn check(&self) -> Result<(), ScenarioError> {
        let f = &self.file;
        if let Some(d) = &f.workload.dataset {
            self.check_dataset("workload", None, d)?;
        }
        let mut names = std::collections::HashSet::new();
        for (i, t) in f.tasks.iter().enumerate() {
            let sources = [t.prompt.is_some(), t.prompts.is_some(), t.dataset.is_some()];
            if sources.iter().filter(|x| **x).count() > 1 {
                return Err(self.error_at(
                    "task",
                    Some(i),
                    "prompts",
                    "give one of `prompt`, `prompts` and `dataset`",
                ));
            }
            if t.prompts.as_ref().is_some_and(|p| p.is_empty()) {
                return Err(self.error_at("task", Some(i), "prompts", "the list is empty"));
            }
            if let Some(e) = &t.endpoint {
                if !e.starts_with('/') {
                    return Err(self.error_at("task", Some(i), "endpoint", format!("`{e}` must start with `/`")));
                }
            }
            if let Some(d) = &t.dataset {
                self.check_dataset("task", Some(i), d)?;
            }
            if !names.insert(self.task_name(i)) {
                return Err(self.error_at(
                    "task",
                    Some(i),
                    "name",
                    format!("task `{}` is named twice", self.task_name(i)),
                ));
            }
        }
        let mut names = std::collections::HashSet::new();
        for (i, s) in f.strategies.iter().enumerate() {
            if let Err(e) = crate::compare::check_name(&s.name) {
                return Err(self.error_at("strategy", Some(i), "name", e));
            }
            if !names.insert(s.name.clone()) {
                return Err(self.error_at("strategy", Some(i), "name", format!("`{}` is named twice", s.name)));
            }
        }
        if f.compare.repeat == Some(0) {
            return Err(self.error_at("compare", None, "repeat", "must be at least 1"));
        }
        Ok(())
    }

    fn check_dataset(&self, section: &str, nth: Option<usize>, d: &str) -> Result<(), ScenarioError> {
        if d == "random" {
            return Ok(());
        }
        let file = d
            .strip_prefix("sharegpt:")
            .or_else(|| d.strip_prefix("jsonl:"))
            .unwrap_or(d);
        let path = self.resolve(file);
        if !path.is_file() {
            return Err(self.error_at(
                section,
                nth,
                "dataset",
                format!("dataset file {} does not exist", path.display()),
            ));
        }
        Ok(())
    }

    /// A path named in the file, relative to the file's directory.
    fn resolve(&self, p: &str) -> PathBuf {
        let p = Path::new(p);
        if p.is_absolute() {
            return p.to_path_buf();
        }
        match self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            Some(dir) => dir.join(p),
            None => p.to_path_buf(),
        }
    }

    fn resolve_dataset(&self, d: &str) -> String {
        if d == "random" {
            return d.into();
        }
        for prefix in ["sharegpt:", "jsonl:"] {
            if let Some(f) = d.strip_prefix(prefix) {
                return format!("{prefix}{}", self.resolve(f).display());
            }
        }
        self.resolve(d).display().to_string()
    }

    fn task_name(&self, i: usize) -> String {
        let t = &self.file.tasks[i];
        t.name
            .clone()
            .or_else(|| t.model.clone())
            .unwrap_or_else(|| format!("task{}", i + 1))
    }

    /// True when the file has a task mix.
    pub fn has_tasks(&self) -> bool {
        !self.file.tasks.is_empty()
    }

    /// The strategies of a comparison, in file order.
    pub fn strategies(&self) -> &[StrategySection] {
        &self.file.strategies
    }

    /// `[compare] repeat` and `interleave`.
    pub fn compare_settings(&self) -> (Option<u32>, Option<bool>) {
        (self.file.compare.repeat, self.file.compare.interleave)
    }

    /// Fills the raw arguments of `run` from the file where no flag was given.
    pub fn apply_run(&self, a: &mut RunArgs, given: Given<'_>) -> Result<(), ScenarioError> {
        self.apply_target(&mut a.target, given);
        self.apply_load(&mut a.load, given);
        self.apply_workload(&mut a.workload, given)?;
        self.apply_objectives(&mut a.objectives, given);
        self.apply_output(&mut a.output, &mut a.reports, given);
        Ok(())
    }

    pub fn apply_target(&self, a: &mut TargetArgs, given: Given<'_>) {
        let t = &self.file.target;
        // Only when no other flag names the target: --host/--port do too.
        if !given("url") && !given("host") && !given("port") {
            if let Some(u) = &t.url {
                a.url = Some(u.clone());
            }
        }
        if !given("api") && !given("backend") {
            if let Some(v) = t.api {
                a.api = Some(v);
            }
        }
        set_opt(&mut a.endpoint, &t.endpoint, given("endpoint"));
        set_opt(&mut a.model, &t.model, given("model"));
        if !given("headers") && !t.headers.is_empty() {
            a.headers.clone_from(&t.headers);
        }
        set(&mut a.timeout, t.timeout, given("timeout"));
        set(&mut a.insecure, t.insecure, given("insecure"));
        set(&mut a.grace, t.grace, given("grace"));
    }

    pub fn apply_load(&self, a: &mut LoadArgs, given: Given<'_>) {
        let l = &self.file.load;
        // A schedule given on the command line replaces the file's (a
        // file's users must not clash with a typed --rate); a typed --users
        // keeps the file's spawn rate and think time unless typed too.
        let typed_open_or_closed = given("concurrency") || given("rate");
        if !typed_open_or_closed && !given("users") {
            set_opt(&mut a.concurrency, &l.concurrency, false);
            set_opt(&mut a.rate, &l.rate, false);
            set_opt(&mut a.users, &l.users, false);
            set_opt(&mut a.burstiness, &l.burstiness, given("burstiness"));
            set(&mut a.arrival, l.arrival, given("arrival"));
        }
        if !typed_open_or_closed && a.users.is_some() {
            set_opt(&mut a.spawn_rate, &l.spawn_rate, given("spawn_rate"));
            set_opt(&mut a.think_time, &l.think_time, given("think_time"));
        }
        // Likewise the stop condition.
        if !given("requests") && !given("duration") {
            set_opt(&mut a.requests, &l.requests, false);
            set_opt(&mut a.duration, &l.duration, false);
        }
        set(&mut a.warmup, l.warmup, given("warmup"));
    }

    pub fn apply_workload(&self, a: &mut WorkloadArgs, given: Given<'_>) -> Result<(), ScenarioError> {
        let w = &self.file.workload;
        if !given("prompt") && !given("dataset") && !given("dataset_path") {
            set_opt(&mut a.prompt, &w.prompt, false);
            if let Some(d) = &w.dataset {
                a.dataset = Some(self.resolve_dataset(d));
            }
        }
        set(&mut a.input_len, w.input_len, given("input_len"));
        set_opt(&mut a.output_len, &w.output_len.or(w.max_tokens), given("output_len"));
        set(&mut a.range_ratio, w.range_ratio, given("range_ratio"));
        if !given("stream") && !given("no_stream") {
            if let Some(s) = w.stream {
                a.stream = s;
                a.no_stream = !s;
            }
        }
        set(&mut a.ignore_eos, w.ignore_eos, given("ignore_eos"));
        if !given("extra_body") {
            if let Some(t) = &w.extra_body {
                let v = serde_json::to_string(t)
                    .map_err(|e| self.error_at("workload", None, "extra_body", e.to_string()))?;
                a.extra_body = Some(v);
            }
        }
        set(&mut a.seed, w.seed, given("seed"));
        Ok(())
    }

    pub fn apply_objectives(&self, a: &mut ObjectiveArgs, given: Given<'_>) {
        let o = &self.file.objectives;
        if !given("slos") && !o.slo.is_empty() {
            a.slos.clone_from(&o.slo);
        }
        if !given("goodput") && !o.goodput.is_empty() {
            a.goodput.clone_from(&o.goodput);
        }
    }

    pub fn apply_output(&self, a: &mut OutputArgs, r: &mut ReportArgs, given: Given<'_>) {
        let o = &self.file.output;
        set_opt(&mut a.json, &o.json, given("json"));
        set_opt(&mut a.records, &o.records, given("records"));
        set(&mut a.show_samples, o.show_samples, given("show_samples"));
        set(&mut a.quiet, o.quiet, given("quiet"));
        set_opt(&mut r.html, &o.html, given("html"));
        set_opt(&mut r.plot, &o.plot, given("plot"));
        set_opt(&mut r.csv, &o.csv, given("csv"));
        set_opt(&mut r.markdown, &o.markdown, given("markdown"));
    }

    /// The task mix, resolved against the run's own plan (its API, endpoint,
    /// workload settings); empty without `[[task]]` entries.
    pub fn tasks(&self, base: &crate::plan::RunPlan) -> Result<Vec<TaskPlan>, ScenarioError> {
        let mut out = Vec::new();
        for (i, t) in self.file.tasks.iter().enumerate() {
            let api = t.api.unwrap_or(base.target.api);
            let endpoint = match (&t.endpoint, t.api) {
                (Some(e), _) => e.clone(),
                // The run's endpoint when the API is the run's; else the API's default.
                (None, None) => base.target.endpoint.clone(),
                (None, Some(a)) if a == base.target.api => base.target.endpoint.clone(),
                (None, Some(ApiKind::OpenaiChat)) => "/v1/chat/completions".into(),
                (None, Some(ApiKind::OpenaiCompletions)) => "/v1/completions".into(),
                (None, Some(_)) => {
                    return Err(self.error_at(
                        "task",
                        Some(i),
                        "api",
                        "a task whose API differs from the run's needs its `endpoint`",
                    ))
                }
            };
            let mut workload = base.workload.clone();
            if let Some(n) = t.max_tokens {
                if n == 0 {
                    return Err(self.error_at("task", Some(i), "max_tokens", "must be at least 1"));
                }
                workload.max_tokens = Some(n);
            }
            if let Some(s) = t.stream {
                workload.stream = s;
            }
            if let Some(p) = &t.params {
                let v = serde_json::to_value(p).map_err(|e| self.error_at("task", Some(i), "params", e.to_string()))?;
                let mut body = workload.extra_body.take().unwrap_or_default();
                if let serde_json::Value::Object(m) = v {
                    body.extend(m);
                }
                workload.extra_body = Some(body);
            }
            let mut prompts = None;
            if let Some(p) = &t.prompt {
                workload.dataset = DatasetSpec::Prompt { text: p.clone() };
                workload.ignore_eos = false;
            } else if let Some(list) = &t.prompts {
                workload.dataset = DatasetSpec::Prompt {
                    text: list.first().cloned().unwrap_or_default(),
                };
                workload.ignore_eos = false;
                prompts = Some(list.clone());
            } else if let Some(d) = &t.dataset {
                let mut wa = default_workload_args();
                wa.dataset = Some(self.resolve_dataset(d));
                let spec =
                    crate::plan::resolve_workload(&wa).map_err(|e| self.error_at("task", Some(i), "dataset", e.0))?;
                workload.dataset = spec.dataset;
                workload.ignore_eos = false;
            }
            out.push(TaskPlan {
                name: self.task_name(i),
                weight: t.weight,
                api,
                endpoint,
                model: t.model.clone(),
                prompts,
                workload,
            });
        }
        Ok(out)
    }
}

/// `run`'s workload arguments with every default.
fn default_workload_args() -> WorkloadArgs {
    use clap::Parser;
    match crate::cli::Cli::try_parse_from(["inferload", "run"]).map(|c| c.command) {
        Ok(crate::cli::Command::Run(a)) => a.workload,
        _ => unreachable!("`inferload run` parses"),
    }
}

fn set<T: Copy>(dst: &mut T, src: Option<T>, given: bool) {
    if let (Some(v), false) = (src, given) {
        *dst = v;
    }
}

fn set_opt<T: Clone>(dst: &mut Option<T>, src: &Option<T>, given: bool) {
    if let (Some(v), false) = (src, given) {
        *dst = Some(v.clone());
    }
}

/// Which flags of subcommand `sub` were typed on this process's command
/// line. Read from the process arguments, so a library caller (whose
/// arguments are not argv) gets "none typed": the file then fills every
/// field it names.
pub fn typed_flags(sub: &str) -> impl Fn(&str) -> bool {
    use clap::parser::ValueSource;
    use clap::CommandFactory;
    let matches = crate::cli::Cli::command()
        .try_get_matches_from(std::env::args_os())
        .ok();
    let typed: Vec<String> = matches
        .as_ref()
        .and_then(|m| m.subcommand_matches(sub))
        .map(|m| {
            m.ids()
                .filter(|id| m.value_source(id.as_str()) == Some(ValueSource::CommandLine))
                .map(|id| id.as_str().to_string())
                .collect()
        })
        .unwrap_or_default();
    move |id: &str| typed.iter().any(|t| t == id)
}

/// The plan of `inferload run`: the flags, filled from `--scenario` where
/// no flag was typed, with the scenario's task mix.
pub fn run_plan(args: &RunArgs) -> anyhow::Result<crate::plan::RunPlan> {
    let Some(path) = &args.scenario else {
        return Ok(crate::plan::RunPlan::from_args(args)?);
    };
    let scenario = Scenario::load(path)?;
    if !scenario.strategies().is_empty() {
        anyhow::bail!(
            "{}: the file has [[strategy]] entries; run it with `inferload compare --scenario`",
            path.display()
        );
    }
    let mut a = args.clone();
    scenario.apply_run(&mut a, &typed_flags("run"))?;
    let mut plan = crate::plan::RunPlan::from_args(&a)
        .map_err(|e| anyhow::anyhow!("{} (with --scenario {})", e, path.display()))?;
    plan.tasks = scenario.tasks(&plan)?;
    Ok(plan)
}

/// The workload of a plan: its dataset, or its task mix.
pub fn load_workload(plan: &crate::plan::RunPlan) -> anyhow::Result<crate::workload::Workload> {
    use crate::workload::Workload;
    if plan.tasks.is_empty() {
        return Ok(Workload::load(&plan.workload)?);
    }
    let mut tasks = Vec::new();
    for t in &plan.tasks {
        let w = match &t.prompts {
            Some(p) => Workload::from_prompts(p.clone(), &t.workload),
            None => Workload::load(&t.workload)?,
        };
        tasks.push((t.name.clone(), t.weight, w));
    }
    Ok(Workload::mixed(tasks, plan.workload.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Scenario, ScenarioError> {
        Scenario::parse(Path::new("dir/s.toml"), text.to_string())
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let e = parse("[load]\nconcurrency = 4\nconcurency = 5\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("dir/s.toml:3: load.concurency:"), "{e}");
        assert!(e.contains("unknown field"), "{e}");
        let e = parse("[load]\nduration = \"ten\"\n").unwrap_err().to_string();
        assert!(e.starts_with("dir/s.toml:2: load.duration:"), "{e}");
        let e = parse("[load]\nconcurrency = \"many\"\n").unwrap_err().to_string();
        assert!(e.starts_with("dir/s.toml:2: load.concurrency:"), "{e}");
        let e = parse("[[task]]\nweight = 1\n[[task]]\nmodel = \"b\"\nweight = -2\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("dir/s.toml:5: task[2].weight:"), "{e}");
        let e = parse("[[task]]\nmodel = \"a\"\ndataset = \"nope.jsonl\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("dir/s.toml:3: task[1].dataset:"), "{e}");
        assert!(e.contains("nope.jsonl") && e.contains("does not exist"), "{e}");
        let e = parse("[load]\nthink_time = \"3s..1s\"\n").unwrap_err().to_string();
        assert!(e.contains(":2: load.think_time:"), "{e}");
        let e = parse("[target]\napi = \"soap\"\n").unwrap_err().to_string();
        assert!(e.contains(":2: target.api:") && e.contains("openai-chat"), "{e}");
    }

    #[test]
    fn the_file_fills_what_no_flag_gave() {
        use clap::Parser;
        let s = parse(
            "[target]\nmodel = \"m\"\ntimeout = \"9s\"\n[load]\nusers = 5\nspawn_rate = 2\nthink_time = \"1s..3s\"\nduration = \"10s\"\n[workload]\nstream = false\nextra_body = { temperature = 0.5 }\n",
        )
        .unwrap();
        let crate::cli::Command::Run(mut a) =
            crate::cli::Cli::parse_from(["inferload", "run", "--model", "typed"]).command
        else {
            panic!("run")
        };
        let given = |id: &str| id == "model";
        s.apply_run(&mut a, &given).unwrap();
        assert_eq!(a.target.model.as_deref(), Some("typed"), "a typed flag wins");
        assert_eq!(a.target.timeout, Duration::from_secs(9));
        assert_eq!(a.load.users, Some(5));
        assert_eq!(
            a.load.think_time,
            Some(ThinkRange(Duration::from_secs(1), Duration::from_secs(3)))
        );
        assert!(a.workload.no_stream);
        assert_eq!(a.workload.extra_body.as_deref(), Some("{\"temperature\":0.5}"));
        let plan = crate::plan::RunPlan::from_args(&a).unwrap();
        assert!(matches!(
            plan.schedule,
            crate::schedule::ScheduleSpec::Users { users: 5, .. }
        ));
    }
}
