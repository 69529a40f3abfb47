//! The validated plan of a run: every default resolved, every combination
//! of settings checked once, here, so nothing downstream re-checks them.
//!
//! There is one road to a plan. Flags, scenario files, the tasks of a
//! weighted mix and the strategies of a comparison all produce
//! [`RunOptions`] ([`options`]); they are layered (built-in defaults, then a
//! scenario file, then a task or strategy, then what the user typed) and
//! [`RunPlan::resolve`] turns the result into a plan. It is the plan's only
//! constructor; sweeps and comparisons hold a `RunPlan` made by it plus
//! only what is theirs (a ladder, a list of strategies).
//!
//! Errors are [`PlanError`]s: a message naming the flag, and the option's
//! key (`load.concurrency`) so a scenario file can point at its own line
//! when the bad value came from the file. Each check has a unit test
//! beside the code that makes it.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;
use thiserror::Error;

use crate::api::ApiKind;
use crate::redact::{Redactor, Secret};
use crate::schedule::ScheduleSpec;
use crate::slo::Slo;
use crate::workload::WorkloadSpec;

mod conversation;
mod load;
pub mod options;
mod outputs;
pub mod presets;
pub mod stages;
mod target;
mod trace;
mod workload;

pub use load::arrival;
pub use options::{
    LoadOptions, MonitorOptions, ObjectiveOptions, OutputOptions, RunOptions, TargetOptions, WorkloadOptions,
};
pub use outputs::{
    check_paths, MonitorPlan, OutputPath, Outputs, PathRole, ReportPaths, TtftRating, TuiMode, VllmMetric, VllmResult,
};
pub use target::{join_url, Header, HeaderValue, Target, UrlQuery};

/// The defaults of every setting, in one place: `cli` shows them in the
/// help text and the plan applies them.
pub mod defaults {
    use std::time::Duration;

    pub const CONCURRENCY: usize = 10;
    pub const REQUESTS: u64 = 100;
    pub const TIMEOUT: Duration = Duration::from_secs(120);
    /// Long enough for most replies in flight at the stop to finish, since
    /// those that do not count as failed.
    pub const GRACE: Duration = Duration::from_secs(30);
    /// A minute of failures without one success: long enough for a slow
    /// model's first replies, short enough not to measure an outage.
    pub const ABORT_AFTER: Duration = Duration::from_secs(60);
    pub const INPUT_LEN: u64 = 256;
    pub const OUTPUT_LEN: u64 = 128;
    pub const RANGE_RATIO: f64 = 0.0;
    /// vLLM's `prefix_repetition` defaults.
    pub const PREFIX_REPETITION_PREFIX_LEN: u64 = 256;
    pub const PREFIX_REPETITION_SUFFIX_LEN: u64 = 256;
    pub const PREFIX_REPETITION_NUM_PREFIXES: u64 = 10;
    pub const PREFIX_REPETITION_OUTPUT_LEN: u64 = 128;
    pub const SEED: u64 = 0;
    pub const WARMUP: u64 = 0;
    pub const SHOW_SAMPLES: usize = 3;
    pub const MONITOR_INTERVAL: Duration = Duration::from_secs(1);
    pub const STATSD_PREFIX: &str = "inferload";
}

/// A setting that cannot be used: the message names the flag; `key` is
/// the option (`load.concurrency`) when one option is at fault.
#[derive(Debug, Clone, Error, PartialEq)]
#[error("{message}")]
pub struct PlanError {
    pub key: Option<&'static str>,
    pub message: String,
}

/// An error not tied to one option.
pub(crate) fn bad(msg: impl Into<String>) -> PlanError {
    PlanError {
        key: None,
        message: msg.into(),
    }
}

/// An error in the option at `key`.
pub(crate) fn bad_at(key: &'static str, msg: impl Into<String>) -> PlanError {
    PlanError {
        key: Some(key),
        message: msg.into(),
    }
}

/// vLLM's `--backend` names, mapped onto an [`ApiKind`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Vllm,
    Openai,
    OpenaiChat,
}

impl crate::units::Choice for Backend {
    const ALL: &'static [Self] = &[Self::Vllm, Self::Openai, Self::OpenaiChat];
    fn name(self) -> &'static str {
        match self {
            Self::Vllm => "vllm",
            Self::Openai => "openai",
            Self::OpenaiChat => "openai-chat",
        }
    }
    fn help(self) -> &'static str {
        match self {
            Self::Vllm => "text completions (vLLM's default backend name)",
            Self::Openai => "text completions",
            Self::OpenaiChat => "chat completions",
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

/// One task of a plan's weighted mix: its API, endpoint, model and what it sends.
#[derive(Debug, Clone, Serialize)]
pub struct TaskPlan {
    pub name: String,
    pub weight: f64,
    pub api: ApiKind,
    pub endpoint: String,
    /// `None`: the run's model.
    pub model: Option<String>,
    /// How an `http` API's requests are built and judged (`None` for the others).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<crate::api::http::HttpSpec>,
    /// A list of prompts sent in turn (else the workload's dataset).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompts: Option<Vec<String>>,
    pub workload: WorkloadSpec,
}

/// What a task of a mix says, besides options: its name, weight and prompts.
#[derive(Debug, Clone, Default)]
pub struct TaskOptions {
    pub name: String,
    pub weight: f64,
    /// Prompts sent in turn.
    pub prompts: Option<Vec<String>>,
    /// The task's own settings (API, endpoint, model, workload, body ...).
    pub options: RunOptions,
}

/// Everything one `inferload run` does.
#[derive(Debug, Clone, Serialize)]
pub struct RunPlan {
    pub target: Target,
    pub schedule: ScheduleSpec,
    pub stop: Stop,
    /// Load that changes over the run (stages, ramp-up), with `schedule`
    /// its envelope (the peak); `None`: the schedule's fixed load.
    pub profile: Option<crate::schedule::stages::Profile>,
    /// Judge the objectives in every stage too (`--slo-per-stage`).
    pub slo_per_stage: bool,
    pub warmup: u64,
    pub seed: u64,
    #[serde(serialize_with = "ser_secs")]
    pub grace: Duration,
    /// Stop when no request succeeded for this long while requests failed
    /// (`--abort-after`; `None`: never).
    #[serde(serialize_with = "ser_opt_secs")]
    pub abort_after: Option<Duration>,
    /// This process's part of a sharded run (`--shard K/N`).
    pub shard: Option<crate::schedule::Shard>,
    /// When the measured phase starts (`--start-at`).
    pub start_at: Option<chrono::DateTime<chrono::Utc>>,
    /// The use-case preset under the options (`--use-case`).
    #[serde(serialize_with = "crate::units::ser_choice")]
    pub use_case: Option<presets::UseCase>,
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
    pub monitor: MonitorPlan,
    /// A scenario file's weighted task mix (empty without one): each
    /// request goes to its task's API, endpoint and model.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<TaskPlan>,
    /// Multi-turn sessions instead of single requests (`--turns`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation: Option<crate::workload::conversation::ConversationSpec>,
    /// Measurements of the same plan (`--repeats`, default 1): the result
    /// pools them and states each figure's confidence interval over them.
    #[serde(skip_serializing_if = "is_one")]
    pub repeats: u32,
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

pub(crate) fn ser_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

pub(crate) fn ser_opt_secs<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_f64(d.as_secs_f64()),
        None => s.serialize_none(),
    }
}

impl RunPlan {
    /// The one constructor: options (already layered) with every default
    /// applied and every check made.
    pub fn resolve(o: &RunOptions) -> Result<Self, PlanError> {
        // A use-case preset goes under everything the user gave.
        let preset = presets::layered(o);
        let o = preset.as_ref().unwrap_or(o);
        let mut target = target::resolve(&o.target)?;
        // A load that changes over time (stages, ramp-up) or a fixed one.
        let (mut schedule, mut stop, profile) = match stages::resolve(&o.load)? {
            Some((schedule, stop, profile)) => (schedule, stop, Some(profile)),
            None => {
                let (schedule, stop) = load::resolve(&o.load)?;
                (schedule, stop, None)
            }
        };
        let slo_per_stage = o.objectives.slo_per_stage.unwrap_or(false);
        if slo_per_stage && profile.is_none() {
            return Err(bad_at(
                "objectives.slo_per_stage",
                "--slo-per-stage needs --stages, --rate-stages, --user-stages or --ramp-up-strategy",
            ));
        }
        let mut workload = workload::resolve(&o.workload)?;
        let warmup = o.load.warmup.unwrap_or(defaults::WARMUP);
        trace::apply(&o.load, &workload, warmup, &mut schedule, &mut stop)?;
        target::apply_api(&o.target, &mut target, &o.workload, &mut workload)?;
        workload::apply_sampling(&o.workload, target.api, &mut workload)?;
        workload::apply_system_prompt(&o.workload, target.api, &mut workload)?;
        workload.request_id_prefix.clone_from(&o.target.request_id_prefix);
        // vLLM's default tokenizer is the model's: its name is tried in the
        // local cache (only `--tokenizer` may download or fail the run).
        workload.tokenizer = match (&o.target.tokenizer, &o.target.model) {
            (Some(t), _) if t.trim().is_empty() => {
                return Err(bad_at(
                    "target.tokenizer",
                    "--tokenizer must name a tokenizer.json, a model directory or a model id",
                ))
            }
            (Some(t), _) => Some(crate::workload::TokenizerChoice {
                name: t.clone(),
                explicit: true,
            }),
            (None, Some(m)) => Some(crate::workload::TokenizerChoice {
                name: m.clone(),
                explicit: false,
            }),
            (None, None) => None,
        };
        let outputs = outputs::resolve(&o.output, &o.target, target.api)?;
        let conversation = conversation::resolve(o, target.api, &workload.dataset, &mut stop)?;
        let plan = RunPlan {
            conversation,
            outputs,
            target,
            schedule,
            stop,
            profile,
            slo_per_stage,
            warmup,
            seed: o.workload.seed.unwrap_or(defaults::SEED),
            grace: o.target.grace.unwrap_or(defaults::GRACE),
            shard: load::resolve_shard(&o.load)?,
            use_case: o.workload.use_case,
            start_at: load::resolve_start_at(o.load.start_at.as_deref(), chrono::Utc::now())?,
            abort_after: Some(o.target.abort_after.unwrap_or(defaults::ABORT_AFTER)).filter(|d| !d.is_zero()),
            workload,
            slos: resolve_slos(o.objectives.slo.as_deref().unwrap_or_default())?,
            goodput_bounds: resolve_goodput(o.objectives.goodput.as_deref().unwrap_or_default())?,
            tasks: Vec::new(),
            monitor: outputs::resolve_monitor(&o.monitor)?,
            repeats: resolve_repeats(o.load.repeats)?,
        };
        check_paths(&plan.written_paths(), &plan.read_paths())?;
        Ok(plan)
    }

    /// The percentiles beyond the fixed ones the run's summary computes:
    /// those `--slo` names (`ttft_p42`) and `--metric-percentiles`.
    pub fn percentiles(&self) -> Vec<crate::stats::Percentile> {
        let mut ps = crate::slo::percentiles(&self.slos);
        ps.extend(self.outputs.metric_percentiles.iter().flatten().copied());
        ps
    }

    /// The plan of a run with a weighted task mix. Each task is resolved
    /// through [`RunPlan::resolve`] with its own settings layered between
    /// the shared ones (`base`, e.g. a scenario file) and what the user
    /// typed (`typed`, which wins for every task).
    pub fn with_tasks(
        base: &RunOptions,
        typed: &RunOptions,
        tasks: &[TaskOptions],
    ) -> Result<Self, (usize, PlanError)> {
        let mut plan = Self::resolve(&base.clone().merged(typed.clone())).map_err(|e| (usize::MAX, e))?;
        if plan.conversation.is_some() && !tasks.is_empty() {
            return Err((
                usize::MAX,
                bad_at("load.turns", "--turns does not work with a scenario's task mix"),
            ));
        }
        for (i, t) in tasks.iter().enumerate() {
            let mut o = base.clone();
            // A task's own prompt source replaces the shared one whole.
            if t.options.workload.prompt.is_some() || t.options.workload.dataset.is_some() || t.prompts.is_some() {
                o.workload.prompt = None;
                o.workload.dataset = None;
                o.workload.dataset_path = None;
            }
            // A task on another API starts from that API's endpoint.
            if t.options.target.api.is_some_and(|a| Some(a) != base.target.api) && t.options.target.endpoint.is_none() {
                o.target.endpoint = None;
            }
            let mut extra = o.workload.extra_body.take().unwrap_or_default();
            let mut own = t.options.clone();
            extra.extend(own.workload.extra_body.take().unwrap_or_default());
            o.workload.extra_body = (!extra.is_empty()).then_some(extra);
            if let Some(first) = t.prompts.as_ref().and_then(|p| p.first()) {
                own.workload.prompt = Some(first.clone());
            }
            o.merge(own);
            o.merge(typed.clone());
            let p = Self::resolve(&o).map_err(|e| (i, e))?;
            if matches!(p.workload.dataset, crate::workload::DatasetSpec::Trace(_))
                || matches!(plan.workload.dataset, crate::workload::DatasetSpec::Trace(_))
            {
                return Err((i, trace::not_in_a_mix()));
            }
            let mut workload = p.workload;
            // Prompts given by the task (not the random dataset) end on EOS.
            if t.prompts.is_some() || t.options.workload.prompt.is_some() || t.options.workload.dataset.is_some() {
                workload.ignore_eos = t.options.workload.ignore_eos.unwrap_or(false);
            }
            plan.tasks.push(TaskPlan {
                name: t.name.clone(),
                weight: t.weight,
                api: p.target.api,
                endpoint: p.target.endpoint,
                model: p.target.model,
                http: p.target.http,
                prompts: t.prompts.clone(),
                workload,
            });
        }
        Ok(plan)
    }

    /// Secrets of this plan, for scrubbing free text: the target's, and a
    /// password or key in a `--scrape` URL.
    pub fn redactor(&self) -> Redactor {
        let scraped = self.monitor.scrape.iter().flat_map(|u| crate::redact::url_secrets(u));
        Redactor::new(self.target.secrets().into_iter().chain(scraped.map(Secret::new)))
    }

    /// Every per-request latency bound: those of the objectives and the
    /// `--goodput` ones. A request meeting all of them is good.
    pub fn request_bounds(&self) -> crate::slo::RequestBounds {
        let all: Vec<Slo> = self.slos.iter().chain(&self.goodput_bounds).cloned().collect();
        crate::slo::RequestBounds::new(&all)
    }
}

/// Secrets held by a plan's target.
impl Target {
    /// Every form of every credential the target sends, as a server may
    /// echo it back: the API key, each sensitive header's value whole and
    /// as its bare credential (`Bearer sk-…` → `sk-…`, a Basic one decoded),
    /// and the credential-named values of the `--url`'s query.
    pub fn secrets(&self) -> Vec<Secret> {
        let mut secrets: Vec<Secret> = self.api_key.iter().cloned().collect();
        for h in &self.headers {
            if let HeaderValue::Secret(s) = &h.value {
                secrets.extend(
                    crate::redact::credential_forms(&h.name, s.expose())
                        .into_iter()
                        .map(Secret::new),
                );
            }
        }
        if let Some(q) = &self.query {
            secrets.extend(q.secrets());
        }
        secrets
    }
}

/// Objectives from `--slo` expressions.
pub fn resolve_slos(exprs: &[String]) -> Result<Vec<Slo>, PlanError> {
    crate::slo::parse_all(exprs).map_err(|e| bad_at("objectives.slo", format!("--slo: {e}")))
}

/// `--repeats`: at least one measurement (default 1).
pub fn resolve_repeats(n: Option<u32>) -> Result<u32, PlanError> {
    match n {
        None => Ok(1),
        Some(0) => Err(bad_at(
            "load.repeats",
            "--repeats must be at least 1 (the number of times to measure the plan)",
        )),
        Some(n) => Ok(n),
    }
}

/// Per-request bounds from vLLM's `--goodput` items (`ttft:500 tpot:50`).
pub fn resolve_goodput(items: &[String]) -> Result<Vec<Slo>, PlanError> {
    items
        .iter()
        .flat_map(|g| g.split_whitespace())
        .map(|item| {
            crate::slo::parse_goodput(item).map_err(|e| bad_at("objectives.goodput", format!("--goodput: {e}")))
        })
        .collect()
}

/// Paths a plan writes or reads, for checks before load is sent.
impl RunPlan {
    pub fn output_paths(&self) -> Vec<(&'static str, PathBuf)> {
        self.outputs.paths()
    }

    /// Every path the plan's outputs write ([`check_paths`]' first list).
    pub fn written_paths(&self) -> Vec<OutputPath> {
        self.outputs.written()
    }

    /// The files the plan reads, which no output may overwrite: the
    /// dataset and the `--body-template` file (of the run and each task).
    pub fn read_paths(&self) -> Vec<(&'static str, PathBuf)> {
        let mut read = Vec::new();
        let workloads = std::iter::once(&self.workload).chain(self.tasks.iter().map(|t| &t.workload));
        for w in workloads {
            match &w.dataset {
                crate::workload::DatasetSpec::Jsonl { path } | crate::workload::DatasetSpec::ShareGpt { path } => {
                    read.push(("--dataset", path.clone()));
                }
                crate::workload::DatasetSpec::Trace(t) => read.push(("--dataset", t.path.clone())),
                _ => {}
            }
            if let Some(crate::workload::SystemPromptSpec {
                source: crate::workload::SystemSource::File { path },
                ..
            }) = &w.system_prompt
            {
                read.push(("--system-prompt", path.clone()));
            }
        }
        read.extend(self.target.template_file.clone().map(|p| ("--body-template", p)));
        read
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(f: impl FnOnce(&mut RunOptions)) -> RunOptions {
        let mut o = RunOptions::default();
        f(&mut o);
        o
    }

    #[test]
    fn repeats_default_to_one_and_zero_is_refused_with_its_key() {
        assert_eq!(RunPlan::resolve(&RunOptions::default()).unwrap().repeats, 1);
        assert_eq!(
            RunPlan::resolve(&opts(|o| o.load.repeats = Some(3))).unwrap().repeats,
            3
        );
        let e = RunPlan::resolve(&opts(|o| o.load.repeats = Some(0))).unwrap_err();
        assert_eq!(e.key, Some("load.repeats"));
        assert!(e.message.starts_with("--repeats must be at least 1"), "{e}");
        // A scenario file says it under [load], and a word is refused there.
        let o: RunOptions = toml::from_str("[load]\nrepeats = 4\n").unwrap();
        assert_eq!(RunPlan::resolve(&o).unwrap().repeats, 4);
        assert!(toml::from_str::<RunOptions>("[load]\nrepeats = \"three\"\n").is_err());
    }

    /// A scenario file's `[workload]` table takes the prefix-sharing keys
    /// by the flags' names; a system prompt file is one the plan reads.
    #[test]
    fn a_scenario_table_shares_prefixes_like_the_flags() {
        let o: RunOptions = toml::from_str(
            "[workload]\ndataset = \"prefix_repetition\"\nprefix_repetition_prefix_len = 512\n\
             prefix_repetition_suffix_len = 64\nprefix_repetition_num_prefixes = 1\n\
             prefix_repetition_output_len = 8\nsystem_prompt = \"@sys.txt\"\n",
        )
        .unwrap();
        let p = RunPlan::resolve(&o).unwrap();
        assert!(matches!(
            p.workload.dataset,
            crate::workload::DatasetSpec::PrefixRepetition {
                prefix_len: 512,
                suffix_len: 64,
                num_prefixes: 1,
                output_len: 8
            }
        ));
        assert!(p.workload.system_prompt.as_ref().is_some_and(|s| s.as_message));
        assert!(p.read_paths().contains(&("--system-prompt", PathBuf::from("sys.txt"))));
        let e = RunPlan::resolve(&opts(|o| {
            o.target.api = Some(ApiKind::Http);
            o.target.url = Some("http://127.0.0.1:1/generate".into());
            o.workload.system_prompt_len = Some(5)
        }))
        .unwrap_err();
        assert_eq!(e.key, Some("workload.system_prompt_len"), "{e}");
    }

    #[test]
    fn empty_options_give_the_documented_defaults() {
        let p = RunPlan::resolve(&RunOptions::default()).unwrap();
        assert!(matches!(
            p.schedule,
            ScheduleSpec::Closed {
                concurrency: defaults::CONCURRENCY
            }
        ));
        assert_eq!(p.stop.requests, Some(defaults::REQUESTS));
        assert_eq!(p.target.timeout, defaults::TIMEOUT);
        assert_eq!(p.grace, defaults::GRACE);
        assert_eq!(p.target.api, ApiKind::OpenaiChat);
        assert_eq!(p.target.endpoint, "/v1/chat/completions");
        assert_eq!(p.outputs.show_samples, defaults::SHOW_SAMPLES);
        assert!(p.target.base_url.is_none(), "no URL: the embedded simulator");
    }

    #[test]
    fn the_redactor_knows_a_key_in_a_scrape_url() {
        let p = RunPlan::resolve(&opts(|o| {
            o.monitor.scrape = Some(vec!["http://gpu:9400/metrics?access_token=tk-98765".into()])
        }))
        .unwrap();
        assert_eq!(
            p.redactor().redact("GET ?access_token=tk-98765"),
            "GET ?access_token=***"
        );
    }

    #[test]
    fn the_tokenizer_is_the_flags_else_the_models_to_try() {
        let p = RunPlan::resolve(&opts(|o| {
            o.target.model = Some("org/m".into());
            o.target.tokenizer = Some("tok.json".into())
        }))
        .unwrap();
        let t = p.workload.tokenizer.unwrap();
        assert_eq!((t.name.as_str(), t.explicit), ("tok.json", true));
        let p = RunPlan::resolve(&opts(|o| o.target.model = Some("org/m".into()))).unwrap();
        let t = p.workload.tokenizer.unwrap();
        assert_eq!((t.name.as_str(), t.explicit), ("org/m", false), "--model is only tried");
        assert!(RunPlan::resolve(&RunOptions::default())
            .unwrap()
            .workload
            .tokenizer
            .is_none());
        let e = RunPlan::resolve(&opts(|o| o.target.tokenizer = Some(" ".into()))).unwrap_err();
        assert!(e.message.starts_with("--tokenizer must name"), "{e}");
        assert_eq!(e.key, Some("target.tokenizer"));
    }

    #[test]
    fn objectives_errors_name_the_flag_and_key() {
        let e = RunPlan::resolve(&opts(|o| o.objectives.slo = Some(vec!["ttft<<1".into()]))).unwrap_err();
        assert!(e.message.starts_with("--slo"), "{e}");
        assert_eq!(e.key, Some("objectives.slo"));
        let e = RunPlan::resolve(&opts(|o| o.objectives.goodput = Some(vec!["speed:3".into()]))).unwrap_err();
        assert!(e.message.starts_with("--goodput"), "{e}");
    }

    #[test]
    fn a_task_takes_its_own_settings_and_the_typed_ones_win() {
        let base = opts(|o| {
            o.target.model = Some("shared".into());
            o.workload.extra_body = Some(serde_json::from_str(r#"{"a":1}"#).unwrap());
        });
        let typed = opts(|o| o.workload.output_len = Some(9));
        let tasks = vec![
            TaskOptions {
                name: "chat".into(),
                weight: 1.0,
                prompts: Some(vec!["hi".into(), "yo".into()]),
                options: opts(|o| {
                    o.target.model = Some("m1".into());
                    o.workload.output_len = Some(100);
                    o.workload.extra_body = Some(serde_json::from_str(r#"{"b":2}"#).unwrap());
                }),
            },
            TaskOptions {
                name: "gen".into(),
                weight: 2.0,
                prompts: None,
                options: opts(|o| {
                    o.target.api = Some(ApiKind::OpenaiCompletions);
                }),
            },
        ];
        let p = RunPlan::with_tasks(&base, &typed, &tasks).unwrap();
        assert_eq!(p.tasks[0].model.as_deref(), Some("m1"));
        assert_eq!(
            p.tasks[0].workload.max_tokens,
            Some(9),
            "a typed flag overrides every task"
        );
        let body = p.tasks[0].workload.extra_body.as_ref().unwrap();
        assert_eq!(
            (body["a"].clone(), body["b"].clone()),
            (1.into(), 2.into()),
            "params merge into the body"
        );
        assert!(!p.tasks[0].workload.ignore_eos, "the task's prompts end on EOS");
        assert_eq!(
            p.tasks[1].endpoint, "/v1/completions",
            "another API starts from its endpoint"
        );
        assert_eq!(p.tasks[1].model.as_deref(), Some("shared"));
        let bad = vec![TaskOptions {
            name: "x".into(),
            weight: 1.0,
            prompts: None,
            options: opts(|o| o.workload.output_len = Some(0)),
        }];
        let (i, e) = RunPlan::with_tasks(&base, &RunOptions::default(), &bad).unwrap_err();
        assert_eq!((i, e.key), (0, Some("workload.output_len")));
    }
}
