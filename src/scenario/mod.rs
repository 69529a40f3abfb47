//! Scenario files: a TOML file (`--scenario FILE`) that says everything the
//! flags of `run`, `sweep` and `compare` can, plus a weighted mix of tasks
//! and the strategies of a comparison.
//!
//! ```toml
//! [target]      # url, api, endpoint, model, timeout, headers, insecure, connect_rate,
//!               # grace, body_template, check, images_pointer, the http-async keys ...
//! [load]        # concurrency, rate, arrival, burstiness, requests, duration,
//!               # warmup, users, spawn_rate, think_time, trace_speed
//! [workload]    # prompt, dataset, input_len, output_len (max_tokens), range_ratio,
//!               # stream, ignore_eos, extra_body (a table), seed, steps, width ...,
//!               # trace_window, trace_block_size
//! [objectives]  # slo = [...], goodput = [...]
//! [output]      # json, records, show_samples, quiet, html, plot, csv, markdown ...
//! [monitor]     # monitor_interval, scrape, scrape_metric, no_monitor, statsd ...
//! [[task]]      # name, weight, prompts, params (a table merged into the body),
//!               # and any [target]/[workload] key that applies to one task
//! [[strategy]]  # compare only: name, and the keys that may differ per strategy
//! [compare]     # compare only: repeat, interleave
//! ```
//!
//! The tables deserialize straight into the plan's option types
//! ([`crate::plan::options`]), the same ones the flags produce, and go
//! through the plan's one constructor. **What the user typed on the command
//! line overrides the file**, for the run and for every task and strategy;
//! what was not typed takes the file's value.
//!
//! Every error names the file, the line and the key (`scenario.toml:7:
//! load.concurrency: …`): unknown keys (every table denies them), values
//! of the wrong type (checked while deserializing, so the parser's span
//! gives the line), files the scenario names that do not exist (datasets
//! and templates, relative to the scenario file's directory), and values
//! the plan refuses when they came from the file.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::api::ApiKind;
use crate::plan::{
    LoadOptions, MonitorOptions, ObjectiveOptions, OutputOptions, PlanError, RunOptions, RunPlan, TargetOptions,
    TaskOptions, WorkloadOptions,
};

mod locate;

/// A scenario that cannot be used: file, line (when known), key, what.
#[derive(Debug, thiserror::Error)]
#[error("{}{}{}: {message}", path.display(), line.map(|l| format!(":{l}")).unwrap_or_default(), key.as_ref().map(|k| format!(": {k}")).unwrap_or_default())]
pub struct ScenarioError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub key: Option<String>,
    pub message: String,
}

fn de_weight<'de, D: serde::Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    let v = f64::deserialize(d)?;
    if v > 0.0 && v.is_finite() {
        Ok(v)
    } else {
        Err(serde::de::Error::custom(format!("a weight must be above 0, not {v}")))
    }
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
    target: TargetOptions,
    #[serde(default)]
    load: LoadOptions,
    #[serde(default)]
    workload: WorkloadOptions,
    #[serde(default)]
    objectives: ObjectiveOptions,
    #[serde(default)]
    output: OutputOptions,
    #[serde(default)]
    monitor: MonitorOptions,
    #[serde(default, rename = "task")]
    tasks: Vec<TaskSection>,
    #[serde(default, rename = "strategy")]
    strategies: Vec<StrategySection>,
    #[serde(default)]
    compare: CompareSection,
}

/// One task of a weighted mix: what it sends and where. The URL, the load
/// and the outputs are the run's.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskSection {
    name: Option<String>,
    #[serde(default = "default_weight", deserialize_with = "de_weight")]
    weight: f64,
    prompts: Option<Vec<String>>,
    /// A table merged into the request body (as `extra_body`).
    params: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default, deserialize_with = "crate::units::de_choice")]
    api: Option<ApiKind>,
    endpoint: Option<String>,
    model: Option<String>,
    body_template: Option<String>,
    #[serde(alias = "checks")]
    check: Option<Vec<String>>,
    images_pointer: Option<String>,
    prompt: Option<String>,
    dataset: Option<String>,
    input_len: Option<u64>,
    #[serde(alias = "max_tokens")]
    output_len: Option<u64>,
    range_ratio: Option<f64>,
    stream: Option<bool>,
    ignore_eos: Option<bool>,
    steps: Option<u32>,
    width: Option<u32>,
    height: Option<u32>,
    guidance: Option<f64>,
    image_n: Option<u32>,
    size: Option<String>,
}

impl TaskSection {
    fn options(&self) -> RunOptions {
        let mut o = RunOptions::default();
        let t = &mut o.target;
        t.api = self.api;
        t.endpoint.clone_from(&self.endpoint);
        t.model.clone_from(&self.model);
        t.body_template.clone_from(&self.body_template);
        t.check.clone_from(&self.check);
        t.images_pointer.clone_from(&self.images_pointer);
        let w = &mut o.workload;
        w.prompt.clone_from(&self.prompt);
        w.dataset.clone_from(&self.dataset);
        w.input_len = self.input_len;
        w.output_len = self.output_len;
        w.range_ratio = self.range_ratio;
        w.stream = self.stream;
        w.ignore_eos = self.ignore_eos;
        w.extra_body.clone_from(&self.params);
        w.steps = self.steps;
        w.width = self.width;
        w.height = self.height;
        w.guidance = self.guidance;
        w.image_n = self.image_n;
        w.size.clone_from(&self.size);
        o
    }
}

/// One strategy of `inferload compare`: the settings that may differ
/// between strategies.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct StrategySection {
    name: String,
    url: Option<String>,
    #[serde(default, deserialize_with = "crate::units::de_choice")]
    api: Option<ApiKind>,
    endpoint: Option<String>,
    model: Option<String>,
    concurrency: Option<usize>,
    #[serde(default, deserialize_with = "de_rate")]
    rate: Option<f64>,
    users: Option<usize>,
    requests: Option<u64>,
    /// A trace replay's speed (comparing one trace at several loads).
    #[serde(default, deserialize_with = "de_rate")]
    trace_speed: Option<f64>,
    /// A table merged into the request body (as `extra_body`).
    params: Option<serde_json::Map<String, serde_json::Value>>,
    /// The request body template of an `http` API (e.g. a batch endpoint's).
    body_template: Option<String>,
    #[serde(alias = "checks")]
    check: Option<Vec<String>>,
    images_pointer: Option<String>,
    #[serde(alias = "max_tokens")]
    output_len: Option<u64>,
}

fn de_rate<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
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

impl StrategySection {
    fn options(&self) -> RunOptions {
        let mut o = RunOptions::default();
        let t = &mut o.target;
        t.url.clone_from(&self.url);
        t.api = self.api;
        t.endpoint.clone_from(&self.endpoint);
        t.model.clone_from(&self.model);
        t.body_template.clone_from(&self.body_template);
        t.check.clone_from(&self.check);
        t.images_pointer.clone_from(&self.images_pointer);
        o.load.concurrency = self.concurrency;
        o.load.rate = self.rate;
        o.load.users = self.users;
        o.load.requests = self.requests;
        o.load.trace_speed = self.trace_speed;
        o.workload.extra_body.clone_from(&self.params);
        o.workload.output_len = self.output_len;
        o
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct CompareSection {
    repeat: Option<u32>,
    interleave: Option<bool>,
}

/// A strategy name: letters, digits, `-`, `_` and `.`.
pub fn check_strategy_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a strategy needs a name".into());
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(format!(
            "`{name}`: a strategy name may hold letters, digits, `-`, `_` and `.`"
        ));
    }
    Ok(())
}

/// A parsed scenario file.
#[derive(Debug)]
pub struct Scenario {
    pub path: PathBuf,
    text: String,
    file: ScenarioFile,
}

/// The `--dataset` prefixes naming a file's kind (the file after them is
/// relative to the scenario).
const DATASET_PREFIXES: [&str; 5] = ["sharegpt:", "jsonl:", "mooncake:", "burstgpt:", "trace:"];

/// One strategy of a comparison from the file: its name and settings.
#[derive(Debug, Clone)]
pub struct FileStrategy {
    pub name: String,
    pub options: RunOptions,
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
            let line = e.span().map(|s| locate::line_of(&text, s.start));
            // An unknown key names itself in the message; otherwise the key
            // is the one on the line the parser points at.
            let key = line.and_then(|l| locate::key_at(&text, l));
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
        let line = locate::line_of_key(&self.text, section, nth, key);
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

    /// Checks what deserializing cannot: files that must exist, task and
    /// strategy consistency.
    fn check(&self) -> Result<(), ScenarioError> {
        let f = &self.file;
        if let Some(d) = &f.workload.dataset {
            self.check_file("workload", None, "dataset", d)?;
        }
        if let Some(t) = &f.target.body_template {
            self.check_file("target", None, "body_template", t)?;
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
            if let Some(d) = &t.dataset {
                self.check_file("task", Some(i), "dataset", d)?;
            }
            if let Some(b) = &t.body_template {
                self.check_file("task", Some(i), "body_template", b)?;
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
            if let Err(e) = check_strategy_name(&s.name) {
                return Err(self.error_at("strategy", Some(i), "name", e));
            }
            if !names.insert(s.name.clone()) {
                return Err(self.error_at("strategy", Some(i), "name", format!("`{}` is named twice", s.name)));
            }
            if let Some(b) = &s.body_template {
                self.check_file("strategy", Some(i), "body_template", b)?;
            }
        }
        if f.compare.repeat == Some(0) {
            return Err(self.error_at("compare", None, "repeat", "must be at least 1"));
        }
        Ok(())
    }

    /// A dataset (`FILE`, `sharegpt:FILE`, `jsonl:FILE`, a trace, or `random`) or a
    /// body template (`@FILE`, or inline JSON) the file names must exist.
    fn check_file(&self, section: &str, nth: Option<usize>, key: &str, v: &str) -> Result<(), ScenarioError> {
        let Some(path) = self.named_file(key, v) else {
            return Ok(());
        };
        if !path.is_file() {
            return Err(self.error_at(
                section,
                nth,
                key,
                format!("{} file {} does not exist", key.replace('_', " "), path.display()),
            ));
        }
        Ok(())
    }

    /// The file a dataset or template value names, relative to the scenario.
    fn named_file(&self, key: &str, v: &str) -> Option<PathBuf> {
        let file = match key {
            "body_template" => v.strip_prefix('@')?,
            _ if v == "random" => return None,
            // A bare trace format takes its file from `dataset_path`.
            _ if crate::workload::trace::TraceFormat::of_prefix(v).is_some() => return None,
            _ => DATASET_PREFIXES.iter().find_map(|p| v.strip_prefix(p)).unwrap_or(v),
        };
        Some(self.resolve(file))
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

    /// Makes the files an options layer names relative to the scenario file.
    fn rebase(&self, o: &mut RunOptions) {
        if let Some(d) = &o.workload.dataset {
            if d != "random" {
                let mut rebased = d.clone();
                for prefix in DATASET_PREFIXES.iter().chain(&[""]) {
                    if let Some(f) = d.strip_prefix(prefix) {
                        rebased = format!("{prefix}{}", self.resolve(f).display());
                        break;
                    }
                }
                o.workload.dataset = Some(rebased);
            }
        }
        if let Some(p) = &o.workload.dataset_path {
            o.workload.dataset_path = Some(self.resolve(&p.display().to_string()));
        }
        if let Some(f) = o.target.body_template.as_deref().and_then(|t| t.strip_prefix('@')) {
            o.target.body_template = Some(format!("@{}", self.resolve(f).display()));
        }
    }

    fn task_name(&self, i: usize) -> String {
        let t = &self.file.tasks[i];
        t.name
            .clone()
            .or_else(|| t.model.clone())
            .unwrap_or_else(|| format!("task{}", i + 1))
    }

    /// The file's run settings (its tables), paths made relative to it.
    pub fn options(&self) -> RunOptions {
        let f = &self.file;
        let mut o = RunOptions {
            target: f.target.clone(),
            load: f.load.clone(),
            workload: f.workload.clone(),
            objectives: f.objectives.clone(),
            output: f.output.clone(),
            monitor: f.monitor.clone(),
        };
        self.rebase(&mut o);
        o
    }

    /// The task mix, in file order (empty without `[[task]]` entries).
    pub fn tasks(&self) -> Vec<TaskOptions> {
        (0..self.file.tasks.len())
            .map(|i| {
                let t = &self.file.tasks[i];
                let mut options = t.options();
                self.rebase(&mut options);
                TaskOptions {
                    name: self.task_name(i),
                    weight: t.weight,
                    prompts: t.prompts.clone(),
                    options,
                }
            })
            .collect()
    }

    /// The strategies of a comparison, in file order.
    pub fn strategies(&self) -> Vec<FileStrategy> {
        self.file
            .strategies
            .iter()
            .map(|s| {
                let mut options = s.options();
                self.rebase(&mut options);
                FileStrategy {
                    name: s.name.clone(),
                    options,
                }
            })
            .collect()
    }

    /// `[compare] repeat` and `interleave`.
    pub fn compare_settings(&self) -> (Option<u32>, Option<bool>) {
        (self.file.compare.repeat, self.file.compare.interleave)
    }

    /// A plan error, pointed at the file's line when the bad value came
    /// from the file (set there, not typed): `s.toml:3: load.concurrency:
    /// --concurrency must be at least 1`. `place` is where in the file the
    /// layer came from: the top-level tables, or the nth task or strategy.
    pub fn explain(&self, e: PlanError, typed: &RunOptions, place: Place) -> anyhow::Error {
        if let Some(key) = e.key.filter(|k| !typed.sets(k)) {
            let (table, field) = key.split_once('.').unwrap_or(("", key));
            let located = match place {
                Place::Tables if self.options().sets(key) => Some(self.error_at(table, None, field, e.message.clone())),
                Place::Task(i) if self.tasks().get(i).is_some_and(|t| t.options.sets(key)) => {
                    let field = self.written_name("task", i, field);
                    Some(self.error_at("task", Some(i), &field, e.message.clone()))
                }
                Place::Strategy(i) if self.strategies().get(i).is_some_and(|s| s.options.sets(key)) => {
                    let field = self.written_name("strategy", i, field);
                    Some(self.error_at("strategy", Some(i), &field, e.message.clone()))
                }
                // A shared value used by a task or strategy is the tables'.
                Place::Task(_) | Place::Strategy(_) if self.options().sets(key) => {
                    Some(self.error_at(table, None, field, e.message.clone()))
                }
                _ => None,
            };
            if let Some(err) = located {
                return err.into();
            }
        }
        let within = match place {
            Place::Tables => String::new(),
            Place::Task(i) => format!(", task `{}`", self.task_name(i)),
            Place::Strategy(i) => format!(", strategy `{}`", self.file.strategies[i].name),
        };
        anyhow::anyhow!("{} (with --scenario {}{within})", e.message, self.path.display())
    }

    /// The name a task or strategy wrote a field under (`max_tokens` for
    /// `output_len`, `params` for `extra_body`).
    fn written_name(&self, section: &str, i: usize, field: &str) -> String {
        let aliases: &[&str] = match field {
            "output_len" => &["output_len", "max_tokens"],
            "extra_body" => &["params"],
            "check" => &["check", "checks"],
            _ => &[],
        };
        aliases
            .iter()
            .find(|a| {
                locate::line_of_key(&self.text, section, Some(i), a)
                    .is_some_and(|l| self.text.lines().nth(l - 1).is_some_and(|t| t.contains('=')))
            })
            .map_or_else(|| field.to_string(), |a| a.to_string())
    }
}

/// Where in a scenario file an options layer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    Tables,
    Task(usize),
    Strategy(usize),
}

/// The plan of `inferload run`: what the user typed, layered over the
/// `--scenario` file if any, with the file's task mix.
pub fn run_plan(scenario: Option<&Path>, typed: &RunOptions) -> anyhow::Result<RunPlan> {
    let Some(path) = scenario else {
        return Ok(RunPlan::resolve(typed)?);
    };
    let scenario = Scenario::load(path)?;
    if !scenario.file.strategies.is_empty() {
        anyhow::bail!(
            "{}: the file has [[strategy]] entries; run it with `inferload compare --scenario`",
            path.display()
        );
    }
    scenario.plan(&RunOptions::default(), typed)
}

impl Scenario {
    /// The shared settings of a sweep's levels: the file's tables and task
    /// mix under what was typed; the file's [load] is the ladder's to
    /// decide, so it is not used.
    pub fn sweep_base(mut self, typed: &RunOptions) -> anyhow::Result<RunPlan> {
        if !self.file.strategies.is_empty() {
            anyhow::bail!(
                "{}: the file has [[strategy]] entries; run it with `inferload compare --scenario`",
                self.path.display()
            );
        }
        self.file.load = LoadOptions::default();
        self.plan(&RunOptions::default(), typed)
    }

    /// The plan of one run from this file: `under` (e.g. a strategy's
    /// settings) goes over the file's tables, `typed` over both; then the
    /// task mix, each task between the file's tables and `typed`.
    pub fn plan(&self, under: &RunOptions, typed: &RunOptions) -> anyhow::Result<RunPlan> {
        self.plan_at(under, typed, Place::Tables)
    }

    /// [`Scenario::plan`] for a layer at `place` (a strategy's).
    pub fn plan_at(&self, under: &RunOptions, typed: &RunOptions, place: Place) -> anyhow::Result<RunPlan> {
        let base = self.options().merged(under.clone());
        let plan = RunPlan::with_tasks(&base, typed, &self.tasks()).map_err(|(i, e)| match i {
            usize::MAX => self.explain(e, typed, place),
            i => self.explain(e, typed, Place::Task(i)),
        })?;
        // The scenario file is an input too: no output may overwrite it.
        crate::plan::check_paths(&plan.written_paths(), &[("--scenario", self.path.clone())])
            .map_err(|e| self.explain(e, typed, place))?;
        Ok(plan)
    }
}

/// The workload of a plan: its dataset, or its task mix, counted by
/// `counter`; random prompts made with a tokenizer are made for the plan's
/// warm-up and requests (or [`crate::workload::MAX_PREPARED`] for a timed run).
pub fn load_workload(plan: &RunPlan, counter: crate::workload::Counter) -> anyhow::Result<crate::workload::Workload> {
    use crate::workload::Workload;
    let requests = plan
        .stop
        .requests
        .map_or(crate::workload::MAX_PREPARED, |n| n.saturating_add(plan.warmup));
    if plan.tasks.is_empty() {
        let w = Workload::prepare(&plan.workload, counter, requests)?;
        if plan.conversation.is_some() {
            w.check_conversations().map_err(anyhow::Error::msg)?;
        }
        return Ok(w);
    }
    let mut tasks = Vec::new();
    for t in &plan.tasks {
        let w = match &t.prompts {
            Some(p) => Workload::from_prompts_counted(p.clone(), &t.workload, counter.clone())?,
            None => Workload::prepare(&t.workload, counter.clone(), requests)?,
        };
        tasks.push((t.name.clone(), t.weight, w));
    }
    Ok(Workload::mixed(tasks, plan.workload.clone()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

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
        let e = parse("[target]\nbody_template = \"@missing.json\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("dir/s.toml:2: target.body_template:") && e.contains("dir/missing.json"),
            "{e}"
        );
    }

    #[test]
    fn values_the_plan_refuses_point_at_the_file_unless_typed() {
        let s = parse("[load]\nrequests = 5\nconcurrency = 0\n[[task]]\nmodel = \"a\"\nmax_tokens = 0\n").unwrap();
        let e = s
            .plan(&RunOptions::default(), &RunOptions::default())
            .unwrap_err()
            .to_string();
        assert_eq!(e, "dir/s.toml:3: load.concurrency: --concurrency must be at least 1");
        let mut typed = RunOptions::default();
        typed.load.concurrency = Some(2);
        let e = s.plan(&RunOptions::default(), &typed).unwrap_err().to_string();
        assert_eq!(e, "dir/s.toml:6: task[1].max_tokens: --output-len must be at least 1");
        typed.load.concurrency = Some(0);
        let e = s.plan(&RunOptions::default(), &typed).unwrap_err().to_string();
        assert!(
            e.starts_with("--concurrency must be at least 1 (with --scenario dir/s.toml"),
            "{e}"
        );
    }

    #[test]
    fn the_file_fills_what_was_not_typed_for_the_run_and_every_task() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("body.json"), "{\"prompt\": {{ prompt }}}").unwrap();
        let path = dir.path().join("s.toml");
        std::fs::write(
            &path,
            "[target]\nmodel = \"m\"\ntimeout = \"9s\"\n[load]\nusers = 5\nspawn_rate = 2\nthink_time = \"1s..3s\"\nduration = \"10s\"\n\
             [workload]\nstream = false\nextra_body = { temperature = 0.5 }\n\
             [[task]]\nname = \"gw\"\napi = \"http\"\nbody_template = \"@body.json\"\ncheck = [\"/ok\"]\n",
        )
        .unwrap();
        let s = Scenario::load(&path).unwrap();
        let mut typed = RunOptions::default();
        typed.target.model = Some("typed".into());
        typed.workload.output_len = Some(7);
        let plan = s.plan(&RunOptions::default(), &typed).unwrap();
        assert_eq!(plan.target.model.as_deref(), Some("typed"), "a typed flag wins");
        assert_eq!(plan.target.timeout, Duration::from_secs(9));
        assert!(matches!(
            plan.schedule,
            crate::schedule::ScheduleSpec::Users { users: 5, .. }
        ));
        assert!(!plan.workload.stream);
        assert_eq!(plan.workload.extra_body.as_ref().unwrap()["temperature"], 0.5);
        let task = &plan.tasks[0];
        assert_eq!(task.api, ApiKind::Http);
        let http = task.http.as_ref().expect("the task's own http settings");
        assert!(
            http.body_template.contains("{{ prompt }}"),
            "the template file is read relative to the scenario"
        );
        assert_eq!(http.checks.len(), 1);
        assert_eq!(task.model.as_deref(), Some("typed"), "typed flags win for every task");
        assert_eq!(task.workload.max_tokens, Some(7));
    }
}
