//! The settings a run document records: what the run was asked to do,
//! every default resolved, in the document's own types.
//!
//! They are a copy, not the plan: the plan is free to change shape, and
//! the document changes only when this file does (and its schema and
//! `schema_version` with it). [`RunSettings::of`] is the one function that
//! reads a plan; secrets (the API key, sensitive header values) are
//! written as `"***"` there and the value never enters these types.
//!
//! The JSON keeps the shape the run document has always had (`target`,
//! `schedule` tagged by `mode`, `stop`, `workload`, `outputs`, `monitor`,
//! `tasks`), so scripts reading `settings.target.endpoint` keep working.
//! Durations are seconds; an unbounded rate is `null`.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::plan::{RunPlan, TtftRating, VllmMetric};
use crate::slo::Slo;
use crate::stats::Percentile;

/// What a secret is written as.
pub const MASK: &str = "***";

/// Everything one run was asked to do.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunSettings {
    pub target: TargetSettings,
    pub schedule: Schedule,
    pub stop: StopSettings,
    /// Warm-up requests, not measured.
    pub warmup: u64,
    pub seed: u64,
    /// Seconds in-flight requests get after the stop.
    pub grace: f64,
    /// Seconds without a success, while requests fail, before the run
    /// gives up (`--abort-after`); `None`: never.
    pub abort_after: Option<f64>,
    /// This run's part of a sharded run (`--shard K/N`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub shard: Option<crate::schedule::Shard>,
    /// The use-case preset the lengths and objectives came from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_case: Option<String>,
    pub workload: WorkloadSettings,
    /// Objectives (`--slo`): each judged PASS/FAIL.
    pub slos: Vec<Slo>,
    /// vLLM's `--goodput` bounds: decide which requests are good, judge nothing.
    pub goodput_bounds: Vec<Slo>,
    pub outputs: OutputSettings,
    pub monitor: MonitorSettings,
    /// A scenario's weighted task mix (absent without one).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tasks: Vec<TaskSettings>,
    /// Multi-turn sessions (`--turns`; absent without).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conversation: Option<ConversationSettings>,
}

/// A conversation run's settings (`--turns`, `--turn-think-time`, `--sessions`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConversationSettings {
    /// Turns per session as given: `4` or `2..6`.
    pub turns: String,
    /// The pause between turns, in seconds.
    pub turn_think_min_s: f64,
    pub turn_think_max_s: f64,
    /// Sessions to run; `None`: until the request count or duration.
    pub sessions: Option<u64>,
}

/// The endpoint under test.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TargetSettings {
    /// `None`: the embedded simulator.
    pub base_url: Option<String>,
    /// As `--api` spells it (`openai-chat`, `http-async`, ...).
    pub api: String,
    pub endpoint: String,
    /// `None`: the first model the server listed.
    pub model: Option<String>,
    /// `"***"` when a key was given; never the key.
    pub api_key: Option<String>,
    pub headers: Vec<HeaderSetting>,
    /// Seconds.
    pub timeout: f64,
    pub insecure: bool,
    /// `--connect-rate`: new connections per second at most (absent: as
    /// many as needed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connect_rate: Option<f64>,
    /// How `http`, `openai-images` and `http-async` requests are built and
    /// judged (template source, checks, images, job polling), as the API
    /// module describes them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<serde_json::Value>,
    /// `--ready-check-timeout-sec`, in seconds (`None`: one check within the timeout).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready_check_timeout: Option<f64>,
    /// `--model` when `--served-model-name` named the model sent (`model`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_label: Option<String>,
    /// `--tokenizer` and `--tokenizer-mode` as given (the file used is
    /// [`WorkloadSettings::tokenizer`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokenizer_mode: Option<String>,
}

/// One extra header; the value is `"***"` for sensitive headers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct HeaderSetting {
    pub name: String,
    pub value: String,
}

/// How requests were started over time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Schedule {
    /// A fixed number of requests in flight.
    Closed { concurrency: usize },
    /// Arrivals at a rate; `rate: None` is unbounded (everything at once).
    Open {
        rate: Option<f64>,
        arrival: Arrival,
        cap: Option<usize>,
    },
    /// Simulated users who send, wait for the reply and think.
    Users {
        users: usize,
        /// Users started per second; `None`: all at once.
        spawn_rate: Option<f64>,
        think: Think,
    },
}

impl Default for Schedule {
    fn default() -> Self {
        Self::Closed { concurrency: 1 }
    }
}

impl Schedule {
    pub fn is_open(&self) -> bool {
        matches!(self, Self::Open { .. })
    }

    /// The concurrency held to: closed-loop N, an open-loop cap, or the users.
    pub fn max_concurrency(&self) -> Option<usize> {
        match *self {
            Self::Closed { concurrency } => Some(concurrency),
            Self::Open { cap, .. } => cap,
            Self::Users { users, .. } => Some(users),
        }
    }

    /// The configured open-loop rate, when finite.
    pub fn finite_rate(&self) -> Option<f64> {
        match *self {
            Self::Open { rate: Some(r), .. } if r.is_finite() => Some(r),
            _ => None,
        }
    }
}

/// The arrival process of an open-loop schedule.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Arrival {
    Constant,
    Poisson,
    /// Gamma-distributed gaps (vLLM's `--burstiness` is the shape).
    Gamma {
        shape: f64,
    },
    /// A trace's own arrival times, replayed `speed` times as fast.
    Trace {
        speed: f64,
    },
}

/// A user's think time, uniform between the two, in seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Think {
    pub min_s: f64,
    pub max_s: f64,
}

/// When sending stopped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct StopSettings {
    /// Measured requests (warm-up excluded).
    pub requests: Option<u64>,
    /// Seconds.
    pub duration: Option<f64>,
}

/// What was sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkloadSettings {
    pub dataset: Dataset,
    /// `--output-len`/`--max-tokens`.
    pub max_tokens: Option<u64>,
    pub stream: bool,
    pub ignore_eos: bool,
    pub extra_body: Option<serde_json::Map<String, serde_json::Value>>,
    pub seed: u64,
    /// Per-request parameters from the flags (`--steps`, `--width`, ...).
    #[serde(skip_serializing_if = "Params::is_empty")]
    pub params: Params,
    /// `--random-prefix-len`: tokens (words without a tokenizer) shared
    /// by every random prompt.
    #[serde(skip_serializing_if = "is_zero")]
    pub random_prefix_len: u64,
    /// The `tokenizer.json` the client counted with (none: one word one token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokenizer: Option<String>,
    /// The client's token counts were the tokenizer's: random prompts had
    /// exactly their lengths, and replies without `usage` were counted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub tokens_exact: bool,
    /// `--request-id-prefix`: requests carried `x-request-id: PREFIX-N`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id_prefix: Option<String>,
    /// `--system-prompt`/`--system-prompt-len`: shared by every request.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<SystemPrompt>,
}

/// The system prompt before every request; its text is not kept (it may
/// be a long file), only where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SystemPrompt {
    /// `text`, `file` or `random`.
    pub source: String,
    /// The file it was read from (`--system-prompt @FILE`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// The random prompt's length (`--system-prompt-len`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens: Option<u64>,
    /// Sent as a `system` message (chat), else as text before the prompt.
    pub as_message: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Where the prompts came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Dataset {
    Random {
        input_len: u64,
        output_len: u64,
        range_ratio: f64,
    },
    Prompt {
        text: String,
    },
    Jsonl {
        path: PathBuf,
    },
    ShareGpt {
        path: PathBuf,
    },
    /// vLLM's `prefix_repetition`.
    PrefixRepetition {
        prefix_len: u64,
        suffix_len: u64,
        num_prefixes: u64,
        output_len: u64,
    },
    /// A production trace replayed at its own times.
    Trace {
        /// `mooncake`, `burstgpt` or `jsonl` (a generic trace).
        format: String,
        path: PathBuf,
        /// Prompt tokens per `hash_ids` block.
        block_size: u64,
        /// The slice replayed, in the trace's seconds (`end_s` null: to the
        /// end); null for the whole trace.
        #[serde(default)]
        window: Option<TraceWindow>,
    },
}

/// A slice of a trace, in seconds of the trace's own time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TraceWindow {
    pub start_s: f64,
    pub end_s: Option<f64>,
}

impl Default for Dataset {
    fn default() -> Self {
        Self::Prompt { text: String::new() }
    }
}

/// Per-request generation parameters of image (and other non-LLM) APIs:
/// the workload's own type, saved as it is.
pub use crate::workload::RequestParams as Params;

/// Where results went besides the console.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct OutputSettings {
    pub show_samples: usize,
    pub json: Option<PathBuf>,
    pub records: Option<PathBuf>,
    /// vLLM's result JSON (`--save-result`).
    pub vllm_result: Option<VllmResultSettings>,
    pub quiet: bool,
    /// Charts, HTML, CSV and Markdown rendered at the end.
    pub reports: ReportPaths,
    /// Whether the live dashboard was asked for: `auto`, `on` or `off`.
    pub tui: String,
    /// The history database the run was recorded in.
    pub history: Option<PathBuf>,
    /// `--percentile-metrics` as given (absent: vLLM's default for the run).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub percentile_metrics: Option<Vec<VllmMetric>>,
    /// `--metric-percentiles` as given (absent: vLLM's default, 99).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metric_percentiles: Option<Vec<Percentile>>,
    /// The bounds of the mean-TTFT rating line, in milliseconds (absent in
    /// documents from before the rating: the default bounds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttft_rating: Option<TtftRating>,
}

impl OutputSettings {
    /// The percentiles of vLLM's block and file: as given, else vLLM's 99.
    pub fn vllm_percentiles(&self) -> Vec<Percentile> {
        match &self.metric_percentiles {
            Some(ps) => ps.clone(),
            None => Percentile::new(99.0).into_iter().collect(),
        }
    }
}

/// vLLM's result file: where, and what it says it is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VllmResultSettings {
    pub dir: Option<PathBuf>,
    pub filename: Option<String>,
    /// `--save-detailed`: generated texts and errors too.
    pub detailed: bool,
    /// `--label` (default: the backend name).
    pub label: String,
    /// vLLM's `--backend` value recorded in the file.
    pub backend: String,
    /// `--metadata KEY=VALUE`, in the order given.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub metadata: Vec<(String, String)>,
    /// `--append-result`: one JSON line per run appended to the file.
    pub append: bool,
    /// The file's `model_id` when it is not the model sent (`--model` with
    /// `--served-model-name`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
}

/// The reports asked for: the plan's own type, saved as is.
pub use crate::plan::ReportPaths;

/// Samplers beside the run and the live exporters.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct MonitorSettings {
    pub enabled: bool,
    /// Seconds between samples.
    pub interval: f64,
    pub scrape: Vec<String>,
    pub scrape_metrics: Vec<String>,
    pub statsd: Option<String>,
    pub statsd_prefix: String,
    pub prometheus_listen: Option<String>,
}

/// One task of a scenario's weighted mix.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TaskSettings {
    pub name: String,
    pub weight: f64,
    pub api: String,
    pub endpoint: String,
    /// `None`: the run's model.
    pub model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompts: Option<Vec<String>>,
    pub workload: WorkloadSettings,
}

/// A serializable value's name as serde writes it (`openai-chat`).
fn name_of<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

impl RunSettings {
    /// The settings of a plan: the one place a document reads a
    /// [`RunPlan`]. Secrets become [`MASK`].
    /// The percentiles beyond the fixed ones a summary of this run
    /// computes: those the objectives name and `--metric-percentiles`.
    pub fn percentiles(&self) -> Vec<Percentile> {
        let mut ps = crate::slo::percentiles(&self.slos);
        ps.extend(self.outputs.metric_percentiles.iter().flatten().copied());
        ps
    }

    pub fn of(plan: &RunPlan) -> Self {
        use crate::plan::HeaderValue;
        let t = &plan.target;
        let o = &plan.outputs;
        let m = &plan.monitor;
        Self {
            target: TargetSettings {
                base_url: t.base_url.clone(),
                api: name_of(&t.api),
                endpoint: t.endpoint.clone(),
                model: t.model.clone(),
                api_key: t.api_key.as_ref().map(|_| MASK.to_string()),
                headers: t
                    .headers
                    .iter()
                    .map(|h| HeaderSetting {
                        name: h.name.clone(),
                        value: match &h.value {
                            HeaderValue::Plain(v) => v.clone(),
                            HeaderValue::Secret(_) => MASK.to_string(),
                        },
                    })
                    .collect(),
                timeout: t.timeout.as_secs_f64(),
                insecure: t.insecure,
                connect_rate: t.connect_rate,
                // Serialized by the API module (its template body is skipped).
                http: t.http.as_ref().and_then(|h| serde_json::to_value(h).ok()),
                ready_check_timeout: t.ready_check.map(|d| d.as_secs_f64()),
                model_label: t.model_label.clone(),
                tokenizer: t.tokenizer.clone(),
                tokenizer_mode: t.tokenizer_mode.clone(),
            },
            schedule: Schedule::of(&plan.schedule),
            stop: StopSettings {
                requests: plan.stop.requests,
                duration: plan.stop.duration.map(|d| d.as_secs_f64()),
            },
            warmup: plan.warmup,
            seed: plan.seed,
            grace: plan.grace.as_secs_f64(),
            abort_after: plan.abort_after.map(|d| d.as_secs_f64()),
            shard: plan.shard,
            use_case: plan.use_case.map(|u| crate::units::Choice::name(u).to_string()),
            workload: WorkloadSettings::of(&plan.workload),
            slos: plan.slos.clone(),
            goodput_bounds: plan.goodput_bounds.clone(),
            outputs: OutputSettings {
                show_samples: o.show_samples,
                json: o.json.clone(),
                records: o.records.clone(),
                vllm_result: o.vllm_result.as_ref().map(|v| VllmResultSettings {
                    dir: v.dir.clone(),
                    filename: v.filename.clone(),
                    detailed: v.detailed,
                    label: v.label.clone(),
                    backend: v.backend.clone(),
                    metadata: v.metadata.clone(),
                    append: v.append,
                    model_id: v.model_id.clone(),
                }),
                quiet: o.quiet,
                reports: o.reports.clone(),
                tui: name_of(&o.tui),
                history: o.history.clone(),
                percentile_metrics: o.percentile_metrics.clone(),
                metric_percentiles: o.metric_percentiles.clone(),
                ttft_rating: Some(o.ttft_rating),
            },
            monitor: MonitorSettings {
                enabled: m.enabled,
                interval: m.interval.as_secs_f64(),
                scrape: m.scrape.clone(),
                scrape_metrics: m.scrape_metrics.clone(),
                statsd: m.statsd.clone(),
                statsd_prefix: m.statsd_prefix.clone(),
                prometheus_listen: m.prometheus_listen.clone(),
            },
            tasks: plan
                .tasks
                .iter()
                .map(|task| TaskSettings {
                    name: task.name.clone(),
                    weight: task.weight,
                    api: name_of(&task.api),
                    endpoint: task.endpoint.clone(),
                    model: task.model.clone(),
                    prompts: task.prompts.clone(),
                    workload: WorkloadSettings::of(&task.workload),
                })
                .collect(),
            conversation: plan.conversation.map(|c| ConversationSettings {
                turns: c.turns.text(),
                turn_think_min_s: c.turn_think.0.as_secs_f64(),
                turn_think_max_s: c.turn_think.1.as_secs_f64(),
                sessions: c.sessions,
            }),
        }
    }
}

impl Schedule {
    /// The schedule as recorded.
    pub fn of(s: &crate::schedule::ScheduleSpec) -> Self {
        use crate::schedule::ScheduleSpec;
        let finite = |v: f64| v.is_finite().then_some(v);
        match *s {
            ScheduleSpec::Closed { concurrency } => Self::Closed { concurrency },
            ScheduleSpec::Open { rate, arrival, cap } => Self::Open {
                rate: finite(rate),
                arrival: Arrival::of(arrival),
                cap,
            },
            ScheduleSpec::Users {
                users,
                spawn_rate,
                think,
            } => Self::Users {
                users,
                spawn_rate: finite(spawn_rate),
                think: Think {
                    min_s: think.0.as_secs_f64(),
                    max_s: think.1.as_secs_f64(),
                },
            },
        }
    }
}

impl Arrival {
    pub fn of(a: crate::schedule::Arrival) -> Self {
        use crate::schedule::Arrival as A;
        match a {
            A::Constant => Self::Constant,
            A::Poisson => Self::Poisson,
            A::Gamma { shape } => Self::Gamma { shape },
            A::Trace { speed } => Self::Trace { speed },
        }
    }
}

impl WorkloadSettings {
    pub fn of(w: &crate::workload::WorkloadSpec) -> Self {
        use crate::workload::DatasetSpec;
        let p = &w.params;
        Self {
            dataset: match &w.dataset {
                DatasetSpec::Random {
                    input_len,
                    output_len,
                    range_ratio,
                } => Dataset::Random {
                    input_len: *input_len,
                    output_len: *output_len,
                    range_ratio: *range_ratio,
                },
                DatasetSpec::Prompt { text } => Dataset::Prompt { text: text.clone() },
                DatasetSpec::Jsonl { path } => Dataset::Jsonl { path: path.clone() },
                DatasetSpec::ShareGpt { path } => Dataset::ShareGpt { path: path.clone() },
                DatasetSpec::PrefixRepetition {
                    prefix_len,
                    suffix_len,
                    num_prefixes,
                    output_len,
                } => Dataset::PrefixRepetition {
                    prefix_len: *prefix_len,
                    suffix_len: *suffix_len,
                    num_prefixes: *num_prefixes,
                    output_len: *output_len,
                },
                DatasetSpec::Trace(t) => Dataset::Trace {
                    format: match t.format {
                        crate::workload::trace::TraceFormat::Mooncake => "mooncake",
                        crate::workload::trace::TraceFormat::BurstGpt => "burstgpt",
                        crate::workload::trace::TraceFormat::Jsonl => "jsonl",
                    }
                    .into(),
                    path: t.path.clone(),
                    block_size: t.block_size,
                    window: t.window.map(|w| TraceWindow {
                        start_s: w.start.as_secs_f64(),
                        end_s: w.end.map(|e| e.as_secs_f64()),
                    }),
                },
            },
            max_tokens: w.max_tokens,
            stream: w.stream,
            ignore_eos: w.ignore_eos,
            extra_body: w.extra_body.clone(),
            seed: w.seed,
            params: p.clone(),
            random_prefix_len: w.random_prefix_len,
            request_id_prefix: w.request_id_prefix.clone(),
            tokenizer: None,
            tokens_exact: false,
            system_prompt: w.system_prompt.as_ref().map(|sp| {
                use crate::workload::SystemSource;
                let (source, path, tokens) = match &sp.source {
                    SystemSource::Text { .. } => ("text", None, None),
                    SystemSource::File { path } => ("file", Some(path.clone()), None),
                    SystemSource::Random { tokens } => ("random", None, Some(*tokens)),
                };
                SystemPrompt {
                    source: source.into(),
                    path,
                    tokens,
                    as_message: sp.as_message,
                }
            }),
        }
    }
}

impl RunSettings {
    /// These settings with the tokenizer the workload counted with (found
    /// when the run connected, so not in the plan).
    pub fn counted_by(mut self, tokenizer: Option<&crate::workload::Tokenizer>) -> Self {
        if let Some(t) = tokenizer {
            self.workload.tokenizer = Some(t.source().to_string());
            self.workload.tokens_exact = true;
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plan as `inferload run FLAGS` resolves it: the input of
    /// [`RunSettings::of`], the function under test. (The one place the
    /// document's tests need a plan.)
    fn plan(flags: &[&str]) -> RunPlan {
        let options = crate::cli::run_options(flags.iter().copied()).expect("test flags parse");
        RunPlan::resolve(&options).expect("test plan")
    }

    #[test]
    fn settings_never_hold_a_secret() {
        let s = RunSettings::of(&plan(&[
            "--api-key",
            "sk-settings-1",
            "--header",
            "X-Api-Key: hdr-2345",
        ]));
        assert_eq!(s.target.api_key.as_deref(), Some(MASK));
        assert_eq!(s.target.headers[0].value, MASK);
        let text = serde_json::to_string(&s).unwrap();
        assert!(!text.contains("sk-settings-1") && !text.contains("hdr-2345"), "{text}");
        let back: RunSettings = serde_json::from_str(&text).unwrap();
        assert_eq!(back, s, "the settings read back as written");
    }

    #[test]
    fn the_plan_is_recorded_in_the_documents_units() {
        let s = RunSettings::of(&plan(&[
            "--rate",
            "inf",
            "-c",
            "7",
            "--duration",
            "1500ms",
            "-n",
            "9",
            "--burstiness",
            "0.5",
            "--save-result",
            "--label",
            "mine",
        ]));
        assert_eq!(
            s.schedule,
            Schedule::Open {
                rate: None,
                arrival: Arrival::Gamma { shape: 0.5 },
                cap: Some(7)
            }
        );
        assert_eq!(s.stop.duration, Some(1.5));
        assert_eq!(s.stop.requests, Some(9));
        assert_eq!(s.target.api, "openai-chat");
        let v = s.outputs.vllm_result.as_ref().unwrap();
        assert_eq!((v.label.as_str(), v.backend.as_str()), ("mine", "openai-chat"));
        let s = RunSettings::of(&plan(&["--users", "3", "--spawn-rate", "2", "--think-time", "1s..2s"]));
        assert_eq!(
            s.schedule,
            Schedule::Users {
                users: 3,
                spawn_rate: Some(2.0),
                think: Think { min_s: 1.0, max_s: 2.0 }
            }
        );
    }
}
