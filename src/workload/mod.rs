//! What is sent: prompts, their lengths and per-request parameters.
//!
//! A [`Workload`] turns a request index into a [`WorkItem`]. Items are a pure
//! function of the index and the seed, so a warm-up and a measured phase, or
//! two runs with the same seed, send the same prompts in the same order, and
//! the engine can ask for any item from any task without shared state.
//!
//! Sources:
//! - `random` (vLLM's random dataset): prompts of `input_len` tokens —
//!   words drawn from the built-in list without a tokenizer, random token
//!   ids with one — output lengths `output_len`, both spread uniformly over
//!   `[len·(1−r), len·(1+r)]`; a fresh draw per index;
//! - a fixed `--prompt`;
//! - a JSONL file: one object per line with `prompt` (text) or `messages`
//!   (chat turns), an optional `max_tokens` and optional per-request
//!   parameters (`steps`, `width`, `height`, `guidance`, `n`, `size`; see
//!   [`RequestParams`]); the whole object is kept for request templates
//!   (`item.*`, `--api http`);
//! - a ShareGPT file: the first human turn of each conversation is the
//!   prompt, the reply's length its output length; shuffled by the seed;
//! - `prefix_repetition` (vLLM's): `num_prefixes` random prefixes of
//!   `prefix_len` words, each request one of them followed by its own
//!   `suffix_len` random words. vLLM shuffles its whole list of requests;
//!   here every round of `num_prefixes` requests uses each prefix once, in
//!   an order drawn from the seed and the round, so an item stays a pure
//!   function of its index and any run length uses the prefixes evenly.
//!
//! A system prompt (`--system-prompt`, `--system-prompt-len`) shared by
//! every request goes before each prompt: as a `system` message for chat
//! APIs, as text on its own line for text APIs.
//!
//! - a production trace (`mooncake:`, `burstgpt:` or `trace:FILE`): each
//!   line's prompt synthesized to its lengths (sharing real prefixes where
//!   the trace's `hash_ids` do) and its arrival time, which the schedule
//!   replays ([`trace`]).
//!
//! A JSONL line may instead hold `turns`, a list of user messages: a
//! conversation for `--turns` ([`conversation`], which also gives ShareGPT
//! files their whole conversations); sent as a single request it is its
//! first turn.
//!
//! File items are used in order and wrap around when the run asks for more
//! requests than the file holds. Bad files fail at load time, before any
//! traffic, with the file and line named.
//!
//! Token counts are a [`Counter`]'s: one word one token without a
//! tokenizer, the model's own tokens with one ([`tokenizer`]). With a
//! tokenizer, random prompts are made before the load starts
//! ([`Workload::prepare`]): one per request up to [`MAX_PREPARED`], which
//! later indices reuse in turn, so no tokenizer work happens on the request
//! path.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use thiserror::Error;

pub mod conversation;
pub mod tokenizer;
pub mod tokens;
pub mod trace;
pub mod words;

pub use tokenizer::{Tokenizer, TokenizerChoice};

use tokens::count_tokens;

/// Random prompts made ahead at most (with a tokenizer): about 10 MB of
/// text at 1,024 tokens each; a longer run reuses them in turn.
pub const MAX_PREPARED: u64 = 10_000;

/// How prompt and reply lengths are counted.
#[derive(Debug, Clone, Default)]
pub enum Counter {
    /// One whitespace-separated word, one token ([`tokens::count_tokens`]).
    #[default]
    Words,
    /// The model's tokenizer.
    Tokenizer(Arc<Tokenizer>),
}

impl Counter {
    pub fn count(&self, text: &str) -> u64 {
        match self {
            Counter::Words => count_tokens(text),
            Counter::Tokenizer(t) => t.count(text),
        }
    }

    pub fn tokenizer(&self) -> Option<&Arc<Tokenizer>> {
        match self {
            Counter::Words => None,
            Counter::Tokenizer(t) => Some(t),
        }
    }
}

/// Output length of a fixed prompt or a file item that names none (vLLM's
/// default for custom datasets).
pub const DEFAULT_MAX_TOKENS: u64 = 256;

/// Where the prompts come from.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum DatasetSpec {
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
    /// vLLM's `prefix_repetition` dataset (module docs).
    PrefixRepetition {
        prefix_len: u64,
        suffix_len: u64,
        num_prefixes: u64,
        output_len: u64,
    },
    /// A production trace, replayed at its own times.
    Trace(trace::TraceSpec),
}

/// Where a system prompt comes from.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum SystemSource {
    Text {
        text: String,
    },
    /// Read when the workload loads (`--system-prompt @FILE`).
    File {
        path: PathBuf,
    },
    /// `tokens` random words from the seed, the same for every request.
    Random {
        tokens: u64,
    },
}

/// A system prompt shared by every request.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SystemPromptSpec {
    pub source: SystemSource,
    /// A `system` message (chat APIs), else text before the prompt.
    pub as_message: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct WorkloadSpec {
    pub dataset: DatasetSpec,
    /// `--output-len`/`--max-tokens`: overrides the `max_tokens` of prompt
    /// and file items (the random dataset draws its own around it).
    pub max_tokens: Option<u64>,
    pub stream: bool,
    pub ignore_eos: bool,
    pub extra_body: Option<serde_json::Map<String, serde_json::Value>>,
    pub seed: u64,
    /// Per-request parameters from the flags (`--steps`, `--width`, ...);
    /// a dataset item's own values win over these.
    #[serde(skip_serializing_if = "RequestParams::is_empty")]
    pub params: RequestParams,
    /// `--random-prefix-len`: tokens (words without a tokenizer) shared by
    /// every random prompt, before its own (0: none).
    #[serde(skip_serializing_if = "is_zero")]
    pub random_prefix_len: u64,
    /// `--request-id-prefix`: request N is sent with `x-request-id: PREFIX-N`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id_prefix: Option<String>,
    /// `--tokenizer`, else `--model`'s name to try in the local cache
    /// (found and read by [`tokenizer::open`] before the run).
    #[serde(skip)]
    pub tokenizer: Option<TokenizerChoice>,
    /// `--system-prompt`/`--system-prompt-len`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<SystemPromptSpec>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Per-request generation parameters of image (and other non-LLM) APIs:
/// from the flags, or per item from the dataset file. `None` leaves the
/// choice to the API's request template (see `api::http` for its defaults).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RequestParams {
    /// Inference steps (diffusion models' `num_inference_steps`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    /// Classifier-free guidance scale (`guidance_scale`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub guidance: Option<f64>,
    /// Images per request (OpenAI's `n`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub n: Option<u32>,
    /// Image size as `WIDTHxHEIGHT` (OpenAI's `size`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<String>,
}

impl RequestParams {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// These values, each missing one taken from `defaults`.
    pub fn or(&self, defaults: &RequestParams) -> RequestParams {
        RequestParams {
            steps: self.steps.or(defaults.steps),
            width: self.width.or(defaults.width),
            height: self.height.or(defaults.height),
            guidance: self.guidance.or(defaults.guidance),
            n: self.n.or(defaults.n),
            size: self.size.clone().or_else(|| defaults.size.clone()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prompt {
    Text(String),
    Chat(Vec<ChatMessage>),
}

impl Prompt {
    /// Prompt tokens by the shared counting rule (chat: over every turn).
    pub fn tokens(&self) -> u64 {
        self.tokens_by(&Counter::Words)
    }

    /// Prompt tokens by `counter` (chat: the turns' contents, without the
    /// tokens a chat template adds around them).
    pub fn tokens_by(&self, counter: &Counter) -> u64 {
        match self {
            Prompt::Text(t) => counter.count(t),
            Prompt::Chat(m) => m.iter().map(|m| counter.count(&m.content)).sum(),
        }
    }
}

/// One request's content.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkItem {
    pub index: u64,
    pub prompt: Prompt,
    /// The client's count of the prompt's tokens (by the workload's [`Counter`]).
    pub input_tokens: u64,
    pub max_tokens: Option<u64>,
    /// Per-request parameters: the dataset item's, else the flags'.
    pub params: RequestParams,
    /// The dataset line's whole object (JSONL files), for templates' `item.*`.
    pub fields: Option<Arc<serde_json::Map<String, Value>>>,
    /// The scenario task this item belongs to (a weighted task mix only);
    /// the request goes to that task's API, endpoint and model.
    pub task: Option<usize>,
}

/// A dataset that cannot be used; the message names the file (and line).
#[derive(Debug, Error)]
pub enum WorkloadError {
    /// The OS cause is in the message, and so not also the error's
    /// `source`: a chain printed whole (`{e:#}`) would name it twice.
    #[error("cannot read dataset {path}: {cause}")]
    Read { path: PathBuf, cause: std::io::Error },
    #[error("{path}:{line}: {what}")]
    Line { path: PathBuf, line: usize, what: String },
    #[error("{path}: {what}")]
    File { path: PathBuf, what: String },
    #[error("cannot read --system-prompt file {path}: {cause}")]
    SystemPrompt { path: PathBuf, cause: std::io::Error },
    #[error("--system-prompt file {path} is empty")]
    EmptySystemPrompt { path: PathBuf },
}

/// A prompt read from a file, ready to send.
#[derive(Debug, Clone)]
struct Entry {
    prompt: Prompt,
    input_tokens: u64,
    max_tokens: Option<u64>,
    params: RequestParams,
    fields: Option<Arc<serde_json::Map<String, Value>>>,
    /// The entry as a conversation (ShareGPT, JSONL), for `--turns`.
    turns: Option<conversation::EntryTurns>,
}

#[derive(Debug)]
enum Source {
    Random {
        input_len: u64,
        output_len: u64,
        range_ratio: f64,
    },
    /// Random prompts made ahead with a tokenizer, reused in turn past the end.
    Prepared {
        items: Vec<Prepared>,
        input_len: u64,
        output_len: u64,
        range_ratio: f64,
    },
    Entries {
        entries: Vec<Entry>,
        what: String,
    },
    /// A scenario's weighted task mix: each index picks a task from the
    /// seed, then takes that task's own item.
    Mix(TaskMix),
    PrefixRepetition {
        /// The prefixes' words, made once.
        prefixes: Vec<String>,
        prefix_len: u64,
        suffix_len: u64,
        output_len: u64,
    },
    Trace(trace::Trace),
}

/// A random prompt made ahead: its text and exact lengths.
#[derive(Debug, Clone)]
struct Prepared {
    text: String,
    input_tokens: u64,
    output_tokens: u64,
}

/// The system prompt as sent.
#[derive(Debug)]
struct System {
    text: String,
    tokens: u64,
    as_message: bool,
}

impl System {
    fn load(spec: &WorkloadSpec) -> Result<Option<Self>, WorkloadError> {
        let Some(sp) = &spec.system_prompt else { return Ok(None) };
        let text = match &sp.source {
            SystemSource::Text { text } => text.clone(),
            SystemSource::File { path } => {
                let text = std::fs::read_to_string(path).map_err(|cause| WorkloadError::SystemPrompt {
                    path: path.clone(),
                    cause,
                })?;
                if text.trim().is_empty() {
                    return Err(WorkloadError::EmptySystemPrompt { path: path.clone() });
                }
                text.trim_end().to_string()
            }
            SystemSource::Random { tokens } => {
                let mut text = String::new();
                push_words(
                    &mut text,
                    &mut StdRng::seed_from_u64(mix(spec.seed, SYSTEM_SALT)),
                    *tokens,
                );
                text
            }
        };
        Ok(Some(Self {
            tokens: count_tokens(&text),
            text,
            as_message: sp.as_message,
        }))
    }

    /// `prompt` with the system prompt before it.
    fn apply(&self, prompt: Prompt) -> Prompt {
        let system = ChatMessage {
            role: "system".into(),
            content: self.text.clone(),
        };
        match (prompt, self.as_message) {
            (Prompt::Text(t), true) => Prompt::Chat(vec![
                system,
                ChatMessage {
                    role: "user".into(),
                    content: t,
                },
            ]),
            (Prompt::Text(t), false) => Prompt::Text(format!("{}\n{t}", self.text)),
            (Prompt::Chat(m), _) => Prompt::Chat(std::iter::once(system).chain(m).collect()),
        }
    }
}

/// Seeds of the words shared by every request: the random prefix, the
/// random system prompt, and (with the prefix index) the repeated prefixes.
const PREFIX_SALT: u64 = u64::MAX;
const SYSTEM_SALT: u64 = u64::MAX - 1;
const REPETITION_SALT: u64 = 0x51F1_7E5E_ED00_0001;

/// Weighted tasks, each with its own workload.
#[derive(Debug)]
pub struct TaskMix {
    tasks: Vec<Workload>,
    names: Vec<String>,
    /// Running sums of the weights (the last is the total).
    cumulative: Vec<f64>,
    seed: u64,
}

/// The task of request `index`: a draw uniform in `[0, total)` from the
/// seed and the index, placed on the running sums of the weights. A pure
/// function of its arguments, so a run is reproducible and items can be
/// asked in any order.
pub fn pick_task(cumulative: &[f64], seed: u64, index: u64) -> usize {
    let total = cumulative.last().copied().unwrap_or(0.0);
    if cumulative.len() <= 1 || total <= 0.0 {
        return 0;
    }
    let u = (mix(seed ^ 0x7A5C_4D1E_0B3F_9A21, index) >> 11) as f64 / (1u64 << 53) as f64 * total;
    cumulative.iter().position(|&c| u < c).unwrap_or(cumulative.len() - 1)
}

impl Workload {
    /// A weighted mix of task workloads (`(name, weight, workload)`, weights
    /// above zero); `spec` is the mix's own (its seed picks the tasks).
    pub fn mixed(tasks: Vec<(String, f64, Workload)>, spec: WorkloadSpec) -> Self {
        let mut at = 0.0;
        let mut mix = TaskMix {
            tasks: Vec::with_capacity(tasks.len()),
            names: Vec::with_capacity(tasks.len()),
            cumulative: Vec::with_capacity(tasks.len()),
            seed: spec.seed,
        };
        for (name, weight, w) in tasks {
            at += weight.max(0.0);
            mix.cumulative.push(at);
            mix.names.push(name);
            mix.tasks.push(w);
        }
        let counter = mix.tasks.first().map(|w| w.counter.clone()).unwrap_or_default();
        Self {
            source: Source::Mix(mix),
            spec,
            counter,
            system: None,
        }
    }

    /// A list of prompts sent in turn (a scenario task's `prompts`), with
    /// `spec`'s output length (else [`DEFAULT_MAX_TOKENS`]).
    pub fn from_prompts(texts: Vec<String>, spec: &WorkloadSpec) -> Result<Self, WorkloadError> {
        Self::from_prompts_counted(texts, spec, Counter::Words)
    }

    /// [`Workload::from_prompts`] counted by `counter`.
    pub fn from_prompts_counted(
        texts: Vec<String>,
        spec: &WorkloadSpec,
        counter: Counter,
    ) -> Result<Self, WorkloadError> {
        let entries: Vec<Entry> = texts
            .into_iter()
            .map(|t| {
                let prompt = Prompt::Text(t);
                Entry {
                    input_tokens: prompt.tokens_by(&counter),
                    prompt,
                    max_tokens: None,
                    params: RequestParams::default(),
                    fields: None,
                    turns: None,
                }
            })
            .collect();
        Ok(Self {
            source: Source::Entries {
                what: format!("{} prompts", entries.len()),
                entries,
            },
            spec: spec.clone(),
            counter,
            system: System::load(spec)?,
        })
    }

    /// A trace's arrival times, in the order of its items (`None` for
    /// every other dataset): the schedule replays them.
    pub fn trace_times(&self) -> Option<Arc<[std::time::Duration]>> {
        match &self.source {
            Source::Trace(t) => Some(t.times()),
            _ => None,
        }
    }

    /// The task names of a mix, in order (empty for a single workload).
    pub fn task_names(&self) -> &[String] {
        match &self.source {
            Source::Mix(m) => &m.names,
            _ => &[],
        }
    }
}

#[derive(Debug)]
pub struct Workload {
    source: Source,
    spec: WorkloadSpec,
    counter: Counter,
    system: Option<System>,
}

impl Workload {
    /// Reads and checks the dataset, counting one word as one token; every
    /// file error surfaces here.
    pub fn load(spec: &WorkloadSpec) -> Result<Self, WorkloadError> {
        Self::prepare(spec, Counter::Words, 0)
    }

    /// Reads and checks the dataset, counting tokens by `counter`; with a
    /// tokenizer, makes `requests` random prompts (at most
    /// [`MAX_PREPARED`], at least one) ahead, on every core.
    pub fn prepare(spec: &WorkloadSpec, counter: Counter, requests: u64) -> Result<Self, WorkloadError> {
        let source = match &spec.dataset {
            DatasetSpec::Random {
                input_len,
                output_len,
                range_ratio,
            } => match counter.tokenizer() {
                None => Source::Random {
                    input_len: *input_len,
                    output_len: *output_len,
                    range_ratio: *range_ratio,
                },
                Some(tok) => Source::Prepared {
                    items: prepare_random(tok, spec, requests.clamp(1, MAX_PREPARED)),
                    input_len: *input_len,
                    output_len: *output_len,
                    range_ratio: *range_ratio,
                },
            },
            DatasetSpec::Prompt { text } => {
                let prompt = Prompt::Text(text.clone());
                let input_tokens = prompt.tokens_by(&counter);
                Source::Entries {
                    what: format!("fixed prompt ({input_tokens} tokens)"),
                    entries: vec![Entry {
                        input_tokens,
                        prompt,
                        max_tokens: None,
                        params: RequestParams::default(),
                        fields: None,
                        turns: None,
                    }],
                }
            }
            DatasetSpec::Jsonl { path } => {
                let entries = load_jsonl(path, &counter)?;
                Source::Entries {
                    what: format!("{} ({} prompts)", path.display(), entries.len()),
                    entries,
                }
            }
            DatasetSpec::ShareGpt { path } => {
                let mut entries = load_sharegpt(path, &counter)?;
                entries.shuffle(&mut StdRng::seed_from_u64(spec.seed));
                Source::Entries {
                    what: format!("ShareGPT {} ({} conversations)", path.display(), entries.len()),
                    entries,
                }
            }
            DatasetSpec::PrefixRepetition {
                prefix_len,
                suffix_len,
                num_prefixes,
                output_len,
            } => Source::PrefixRepetition {
                prefixes: (0..*num_prefixes)
                    .map(|k| {
                        let mut text = String::new();
                        let mut rng = StdRng::seed_from_u64(mix(spec.seed ^ REPETITION_SALT, k));
                        push_words(&mut text, &mut rng, *prefix_len);
                        text
                    })
                    .collect(),
                prefix_len: *prefix_len,
                suffix_len: *suffix_len,
                output_len: *output_len,
            },
            DatasetSpec::Trace(t) => Source::Trace(trace::Trace::load(t)?),
        };
        Ok(Self {
            source,
            spec: spec.clone(),
            counter,
            system: System::load(spec)?,
        })
    }

    /// How this workload counts tokens.
    pub fn counter(&self) -> &Counter {
        &self.counter
    }

    /// The item sent as request `index` (a pure function of index and seed).
    pub fn item(&self, index: u64) -> WorkItem {
        let mut item = self.own_item(index);
        if let Some(s) = &self.system {
            item.prompt = s.apply(item.prompt);
            item.input_tokens += s.tokens;
        }
        item
    }

    fn own_item(&self, index: u64) -> WorkItem {
        match &self.source {
            Source::Mix(m) => {
                let t = pick_task(&m.cumulative, m.seed, index);
                let mut item = m.tasks[t].item(index);
                item.task = Some(t);
                item
            }
            Source::Random {
                input_len,
                output_len,
                range_ratio,
            } => {
                let mut rng = StdRng::seed_from_u64(mix(self.spec.seed, index));
                let n_in = spread(&mut rng, *input_len, *range_ratio);
                let n_out = spread(&mut rng, *output_len, *range_ratio);
                let prefix_len = self.spec.random_prefix_len;
                let mut text = String::with_capacity((prefix_len + n_in) as usize * 8);
                if prefix_len > 0 {
                    // The same words for every index: one seed for the run.
                    let mut shared = StdRng::seed_from_u64(mix(self.spec.seed, PREFIX_SALT));
                    push_words(&mut text, &mut shared, prefix_len);
                }
                push_words(&mut text, &mut rng, n_in);
                WorkItem {
                    index,
                    prompt: Prompt::Text(text),
                    input_tokens: prefix_len + n_in,
                    max_tokens: Some(n_out),
                    params: self.spec.params.clone(),
                    fields: None,
                    task: None,
                }
            }
            Source::Prepared { items, .. } => {
                let p = &items[(index % items.len() as u64) as usize];
                WorkItem {
                    index,
                    prompt: Prompt::Text(p.text.clone()),
                    input_tokens: p.input_tokens,
                    max_tokens: Some(p.output_tokens),
                    params: self.spec.params.clone(),
                    fields: None,
                    task: None,
                }
            }
            Source::PrefixRepetition {
                prefixes,
                prefix_len,
                suffix_len,
                output_len,
            } => {
                let n = prefixes.len() as u64;
                let (round, at) = (index / n, (index % n) as usize);
                // This round's order of the prefixes.
                let mut order: Vec<usize> = (0..prefixes.len()).collect();
                order.shuffle(&mut StdRng::seed_from_u64(mix(self.spec.seed ^ REPETITION_SALT, round)));
                let mut text = prefixes[order[at]].clone();
                push_words(
                    &mut text,
                    &mut StdRng::seed_from_u64(mix(self.spec.seed, index)),
                    *suffix_len,
                );
                WorkItem {
                    index,
                    prompt: Prompt::Text(text),
                    input_tokens: prefix_len + suffix_len,
                    max_tokens: Some(*output_len),
                    params: self.spec.params.clone(),
                    fields: None,
                    task: None,
                }
            }
            Source::Trace(t) => {
                let (prompt, input_tokens, max_tokens) = t.prompt(index, self.spec.seed);
                WorkItem {
                    index,
                    prompt,
                    input_tokens,
                    max_tokens: self.spec.max_tokens.or(max_tokens).or(Some(DEFAULT_MAX_TOKENS)),
                    params: self.spec.params.clone(),
                    fields: None,
                    task: None,
                }
            }
            Source::Entries { entries, .. } => {
                let e = &entries[(index % entries.len() as u64) as usize];
                WorkItem {
                    index,
                    prompt: e.prompt.clone(),
                    input_tokens: e.input_tokens,
                    max_tokens: self.spec.max_tokens.or(e.max_tokens).or(Some(DEFAULT_MAX_TOKENS)),
                    params: e.params.or(&self.spec.params),
                    fields: e.fields.clone(),
                    task: None,
                }
            }
        }
    }

    /// One line for the settings block.
    pub fn describe(&self) -> String {
        let own = self.own_describe();
        match &self.system {
            Some(s) if s.as_message => format!("{own}; a {}-token system message before each", s.tokens),
            Some(s) => format!("{own}; a {}-token system prompt before each", s.tokens),
            None => own,
        }
    }

    fn own_describe(&self) -> String {
        match &self.source {
            Source::PrefixRepetition {
                prefixes,
                prefix_len,
                suffix_len,
                output_len,
            } => format!(
                "prefix repetition: {} prefixes of {prefix_len} tokens, each request one of them + {suffix_len} tokens of its own, {output_len} output tokens",
                prefixes.len()
            ),
            Source::Random {
                input_len,
                output_len,
                range_ratio,
            }
            | Source::Prepared {
                input_len,
                output_len,
                range_ratio,
                ..
            } => {
                let spread = if *range_ratio > 0.0 {
                    format!(" (±{:.0}%)", range_ratio * 100.0)
                } else {
                    String::new()
                };
                let exact = match &self.source {
                    Source::Prepared { items, .. } => format!(", token-exact ({} prepared)", items.len()),
                    _ => String::new(),
                };
                format!("random prompts, {input_len} input and {output_len} output tokens{spread}{exact}")
            }
            Source::Mix(m) => {
                let total = m.cumulative.last().copied().unwrap_or(0.0).max(f64::MIN_POSITIVE);
                let mut prev = 0.0;
                let parts: Vec<String> = m
                    .names
                    .iter()
                    .zip(&m.cumulative)
                    .zip(&m.tasks)
                    .map(|((n, c), w)| {
                        let share = (c - prev) / total * 100.0;
                        prev = *c;
                        format!("{n} {share:.0}% ({})", w.describe())
                    })
                    .collect();
                format!("task mix: {}", parts.join("; "))
            }
            Source::Trace(t) => match self.spec.max_tokens {
                Some(n) => format!("{}, max {n} output tokens", t.describe()),
                None => t.describe(),
            },
            Source::Entries { what, .. } => {
                let out = match self.spec.max_tokens {
                    Some(n) => format!("max {n} output tokens"),
                    None => format!("max_tokens from the file, else {DEFAULT_MAX_TOKENS}"),
                };
                format!("{what}, {out}")
            }
        }
    }
}

/// Random prompts `0..n` made with the tokenizer, each from its own seed
/// (so the same as asked one by one), split over the machine's cores. The
/// lengths are drawn as without a tokenizer, then met in tokens; the
/// `--random-prefix-len` prefix is made once and starts every prompt.
fn prepare_random(tok: &Tokenizer, spec: &WorkloadSpec, n: u64) -> Vec<Prepared> {
    let DatasetSpec::Random {
        input_len,
        output_len,
        range_ratio,
    } = spec.dataset
    else {
        return Vec::new();
    };
    let prefix_len = spec.random_prefix_len;
    let (prefix, prefix_tokens) = if prefix_len > 0 {
        let mut shared = StdRng::seed_from_u64(mix(spec.seed, u64::MAX));
        tok.random_text(&mut shared, "", 0, prefix_len)
    } else {
        (String::new(), 0)
    };
    let one = |index: u64| {
        let mut rng = StdRng::seed_from_u64(mix(spec.seed, index));
        let n_in = spread(&mut rng, input_len, range_ratio);
        let n_out = spread(&mut rng, output_len, range_ratio);
        let (own, got) = tok.random_text(&mut rng, &prefix, prefix_tokens, n_in);
        Prepared {
            text: format!("{prefix}{own}"),
            input_tokens: prefix_tokens + got,
            output_tokens: n_out,
        }
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(n as usize)
        .max(1);
    let per = n.div_ceil(threads as u64);
    std::thread::scope(|s| {
        let parts: Vec<_> = (0..threads as u64)
            .map(|t| {
                let one = &one;
                s.spawn(move || (t * per..((t + 1) * per).min(n)).map(one).collect::<Vec<_>>())
            })
            .collect();
        parts.into_iter().flat_map(|h| h.join().unwrap_or_default()).collect()
    })
}

/// A seed per request index, so items do not depend on the order asked.
/// Appends `n` random words, space-separated, to `text`.
fn push_words(text: &mut String, rng: &mut StdRng, n: u64) {
    for _ in 0..n {
        if !text.is_empty() {
            text.push(' ');
        }
        text.push_str(words::WORDS[rng.random_range(0..words::WORDS.len())]);
    }
}

fn mix(seed: u64, index: u64) -> u64 {
    // SplitMix64's finaliser: neighbouring indices get unrelated seeds.
    let mut z = seed ^ index.wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A length uniform in `[len·(1−r), len·(1+r)]`, at least 1 (vLLM's rule).
fn spread(rng: &mut StdRng, len: u64, ratio: f64) -> u64 {
    if ratio <= 0.0 {
        return len.max(1);
    }
    let lo = ((len as f64) * (1.0 - ratio)).floor().max(1.0) as u64;
    let hi = ((len as f64) * (1.0 + ratio)).floor().max(lo as f64) as u64;
    rng.random_range(lo..=hi)
}

fn read(path: &Path) -> Result<String, WorkloadError> {
    std::fs::read_to_string(path).map_err(|cause| WorkloadError::Read {
        path: path.to_path_buf(),
        cause,
    })
}

fn load_jsonl(path: &Path, counter: &Counter) -> Result<Vec<Entry>, WorkloadError> {
    let text = read(path)?;
    let mut entries = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |what: String| WorkloadError::Line {
            path: path.to_path_buf(),
            line: line_no,
            what,
        };
        let v: Value = serde_json::from_str(line).map_err(|e| bad(format!("not valid JSON: {e}")))?;
        let obj = v
            .as_object()
            .ok_or_else(|| bad("each line must be a JSON object with `prompt` or `messages`".into()))?;
        let given = ["prompt", "messages", "turns"]
            .iter()
            .filter(|k| obj.contains_key(**k))
            .count();
        if given > 1 {
            return Err(bad("give one of `prompt`, `messages` or `turns`, not several".into()));
        }
        let max_tokens = match obj.get("max_tokens") {
            None | Some(Value::Null) => None,
            Some(v) => match v.as_u64() {
                Some(n) if n > 0 => Some(n),
                _ => return Err(bad("`max_tokens` must be a whole number of at least 1".into())),
            },
        };
        let turns = match obj.get("turns") {
            Some(t) => Some(conversation::jsonl_turns(t, max_tokens).map_err(bad)?),
            None => None,
        };
        let prompt = match (obj.get("prompt"), obj.get("messages")) {
            // A conversation sent as a single request is its first turn.
            (None, None) if turns.is_some() => {
                Prompt::Text(turns.as_ref().map(|t| t.turns[0].message.clone()).unwrap_or_default())
            }
            (Some(Value::String(p)), None) => Prompt::Text(p.clone()),
            (Some(_), None) => return Err(bad("`prompt` must be a string".into())),
            (None, Some(m)) => Prompt::Chat(
                serde_json::from_value::<Vec<ChatMessage>>(m.clone())
                    .map_err(|e| bad(format!("`messages` must be a list of {{role, content}} strings: {e}")))?,
            ),
            (None, None) => return Err(bad("no `prompt`, `messages` or `turns`".into())),
            (Some(_), Some(_)) => return Err(bad("give one of `prompt`, `messages` or `turns`, not several".into())),
        };
        if let Prompt::Chat(m) = &prompt {
            if m.is_empty() {
                return Err(bad("`messages` is empty".into()));
            }
        }
        let params = item_params(obj).map_err(bad)?;
        let turns = match (&prompt, turns) {
            (_, Some(t)) => Some(t),
            (Prompt::Chat(m), None) => Some(conversation::messages_turns(m, max_tokens)),
            (Prompt::Text(_), None) => None,
        };
        entries.push(Entry {
            input_tokens: prompt.tokens_by(counter),
            prompt,
            max_tokens,
            params,
            fields: Some(Arc::new(obj.clone())),
            turns,
        });
    }
    if entries.is_empty() {
        return Err(WorkloadError::File {
            path: path.to_path_buf(),
            what: "holds no prompts".into(),
        });
    }
    Ok(entries)
}

/// The per-request parameters of one JSONL object (diffusers' names
/// `num_inference_steps` and `guidance_scale` are accepted too).
fn item_params(obj: &serde_json::Map<String, Value>) -> Result<RequestParams, String> {
    let field = |names: &[&'static str]| names.iter().find_map(|n| obj.get(*n).map(|v| (*n, v)));
    let whole = |names: &[&'static str]| -> Result<Option<u32>, String> {
        match field(names) {
            None | Some((_, Value::Null)) => Ok(None),
            Some((name, v)) => match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
                Some(n) if n > 0 => Ok(Some(n)),
                _ => Err(format!("`{name}` must be a whole number of at least 1")),
            },
        }
    };
    let guidance = match field(&["guidance", "guidance_scale"]) {
        None | Some((_, Value::Null)) => None,
        Some((name, v)) => match v.as_f64() {
            Some(g) if g.is_finite() && g >= 0.0 => Some(g),
            _ => return Err(format!("`{name}` must be a number of zero or more")),
        },
    };
    let size = match obj.get("size") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if parse_size(s).is_some() => Some(s.clone()),
        Some(_) => return Err("`size` must look like \"1024x1024\"".into()),
    };
    Ok(RequestParams {
        steps: whole(&["steps", "num_inference_steps"])?,
        width: whole(&["width"])?,
        height: whole(&["height"])?,
        guidance,
        n: whole(&["n"])?,
        size,
    })
}

/// `WIDTHxHEIGHT` (e.g. `1024x1024`), both at least 1.
pub fn parse_size(s: &str) -> Option<(u32, u32)> {
    let (w, h) = s.split_once(['x', 'X'])?;
    let (w, h) = (w.trim().parse::<u32>().ok()?, h.trim().parse::<u32>().ok()?);
    (w > 0 && h > 0).then_some((w, h))
}

#[derive(Deserialize)]
struct Conversation {
    #[serde(alias = "conversation", default)]
    conversations: Vec<Turn>,
}

#[derive(Deserialize)]
struct Turn {
    #[serde(alias = "role")]
    from: String,
    #[serde(alias = "content")]
    value: String,
}

fn load_sharegpt(path: &Path, counter: &Counter) -> Result<Vec<Entry>, WorkloadError> {
    let text = read(path)?;
    let conversations: Vec<Conversation> = serde_json::from_str(&text).map_err(|e| WorkloadError::Line {
        path: path.to_path_buf(),
        line: e.line(),
        what: format!("not a ShareGPT file (a JSON list of {{\"conversations\": [...]}}): {e}"),
    })?;
    let entries: Vec<Entry> = conversations
        .into_iter()
        .filter_map(|c| {
            let first = c.conversations.iter().position(|t| is_human(&t.from))?;
            let reply = c.conversations.get(first + 1)?;
            let prompt = Prompt::Text(c.conversations[first].value.clone());
            let (input_tokens, output_tokens) = (prompt.tokens_by(counter), counter.count(&reply.value));
            // Every human turn followed by a reply, in order, until the
            // first empty one (`--turns`).
            let turns: Vec<conversation::TurnSpec> = c.conversations[first..]
                .windows(2)
                .filter(|w| is_human(&w[0].from) && !is_human(&w[1].from))
                .map(|w| (w[0].value.clone(), counter.count(&w[1].value)))
                .take_while(|(m, out)| counter.count(m) > 0 && *out > 0)
                .map(|(message, out)| conversation::TurnSpec {
                    message,
                    max_tokens: Some(out),
                })
                .collect();
            // Empty turns say nothing about lengths (vLLM drops them too).
            (input_tokens > 0 && output_tokens > 0).then_some(Entry {
                prompt,
                input_tokens,
                max_tokens: Some(output_tokens),
                params: RequestParams::default(),
                fields: None,
                turns: Some(conversation::EntryTurns {
                    opening: Vec::new(),
                    turns,
                }),
            })
        })
        .collect();
    if entries.is_empty() {
        return Err(WorkloadError::File {
            path: path.to_path_buf(),
            what: "holds no conversation with a human turn and a reply".into(),
        });
    }
    Ok(entries)
}

fn is_human(from: &str) -> bool {
    matches!(from, "human" | "user")
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn spec(dataset: DatasetSpec) -> WorkloadSpec {
        WorkloadSpec {
            dataset,
            max_tokens: None,
            stream: true,
            ignore_eos: false,
            extra_body: None,
            seed: 7,
            params: RequestParams::default(),
            random_prefix_len: 0,
            request_id_prefix: None,
            tokenizer: None,
            system_prompt: None,
        }
    }

    #[test]
    fn a_random_prefix_is_shared_by_every_random_prompt() {
        let mut s = spec(DatasetSpec::Random {
            input_len: 10,
            output_len: 5,
            range_ratio: 0.0,
        });
        s.random_prefix_len = 6;
        let w = Workload::load(&s).unwrap();
        let words = |i: u64| match w.item(i).prompt {
            Prompt::Text(t) => t.split(' ').map(str::to_string).collect::<Vec<_>>(),
            _ => panic!("text prompt"),
        };
        let (a, b) = (words(0), words(1));
        assert_eq!((a.len(), b.len()), (16, 16));
        assert_eq!(a[..6], b[..6], "the prefix is shared");
        assert_ne!(a[6..], b[6..], "the rest is each prompt's own");
        assert_eq!(w.item(0).input_tokens, 16);
    }

    #[test]
    fn random_items_have_their_lengths_and_are_reproducible() {
        let w = Workload::load(&spec(DatasetSpec::Random {
            input_len: 100,
            output_len: 20,
            range_ratio: 0.5,
        }))
        .unwrap();
        let mut lens = std::collections::BTreeSet::new();
        for i in 0..200 {
            let item = w.item(i);
            let Prompt::Text(text) = &item.prompt else {
                panic!("text prompt")
            };
            assert_eq!(count_tokens(text), item.input_tokens);
            assert!((50..=150).contains(&item.input_tokens), "{}", item.input_tokens);
            assert!((10..=30).contains(&item.max_tokens.unwrap()));
            lens.insert(item.input_tokens);
            assert_eq!(w.item(i), item, "item {i} depends only on index and seed");
        }
        assert!(lens.len() > 20, "lengths spread: {lens:?}");
        assert_ne!(w.item(0).prompt, w.item(1).prompt);
    }

    #[test]
    fn random_without_spread_is_exact() {
        let w = Workload::load(&spec(DatasetSpec::Random {
            input_len: 256,
            output_len: 128,
            range_ratio: 0.0,
        }))
        .unwrap();
        for i in 0..20 {
            assert_eq!(w.item(i).input_tokens, 256);
            assert_eq!(w.item(i).max_tokens, Some(128));
        }
    }

    #[test]
    fn jsonl_items_wrap_and_take_their_max_tokens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.jsonl");
        std::fs::write(
            &path,
            "{\"prompt\": \"one two three\", \"max_tokens\": 5}\n\n{\"messages\": [{\"role\": \"user\", \"content\": \"hi there\"}]}\n",
        )
        .unwrap();
        let w = Workload::load(&spec(DatasetSpec::Jsonl { path: path.clone() })).unwrap();
        assert_eq!(w.item(0).input_tokens, 3);
        assert_eq!(w.item(0).max_tokens, Some(5));
        assert_eq!(w.item(1).max_tokens, Some(DEFAULT_MAX_TOKENS));
        assert!(matches!(w.item(1).prompt, Prompt::Chat(_)));
        assert_eq!(w.item(2).prompt, w.item(0).prompt);
        let mut s = spec(DatasetSpec::Jsonl { path });
        s.max_tokens = Some(9);
        assert_eq!(Workload::load(&s).unwrap().item(0).max_tokens, Some(9));
    }

    /// The chain an error is printed with (`error: {e:#}`) names the OS
    /// cause once: "cannot read dataset X: No such file or directory (os error 2)".
    #[test]
    fn a_missing_dataset_names_the_os_cause_once() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nope.jsonl");
        let cause = std::fs::read(&path).unwrap_err().to_string();
        for dataset in [
            DatasetSpec::Jsonl { path: path.clone() },
            DatasetSpec::ShareGpt { path: path.clone() },
        ] {
            let err = anyhow::Error::new(Workload::load(&spec(dataset)).unwrap_err());
            assert_eq!(
                format!("{err:#}"),
                format!("cannot read dataset {}: {cause}", path.display())
            );
        }
    }

    #[test]
    fn bad_jsonl_names_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.jsonl");
        for (body, needle) in [
            (
                "{\"prompt\": \"ok\"}\n{\"prompt\": 3}\n",
                "bad.jsonl:2: `prompt` must be a string",
            ),
            ("{\"prompt\": \"ok\"}\n{oops\n", "bad.jsonl:2: not valid JSON"),
            ("[1]\n", "bad.jsonl:1: each line must be a JSON object"),
            ("{\"prompt\": \"a\", \"max_tokens\": -1}\n", "bad.jsonl:1: `max_tokens`"),
            ("\n\n", "holds no prompts"),
        ] {
            std::fs::write(&path, body).unwrap();
            let err = Workload::load(&spec(DatasetSpec::Jsonl { path: path.clone() }))
                .unwrap_err()
                .to_string();
            assert!(err.contains(needle), "{err} lacks {needle}");
        }
        let err = Workload::load(&spec(DatasetSpec::Jsonl {
            path: dir.path().join("nope.jsonl"),
        }))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("cannot read dataset") && err.contains("nope.jsonl"),
            "{err}"
        );
    }

    #[test]
    fn sharegpt_takes_the_first_human_turn_and_the_replys_length() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sg.json");
        std::fs::write(
            &path,
            r#"[
              {"id": "a", "conversations": [{"from": "human", "value": "why is the sky blue"},
                                            {"from": "gpt", "value": "light scatters off small molecules"}]},
              {"id": "b", "conversations": [{"from": "gpt", "value": "orphan reply"}]},
              {"id": "c", "conversations": [{"from": "system", "value": "be brief"},
                                            {"from": "human", "value": "hello"},
                                            {"from": "gpt", "value": "hi"}]}
            ]"#,
        )
        .unwrap();
        let w = Workload::load(&spec(DatasetSpec::ShareGpt { path: path.clone() })).unwrap();
        let mut seen: Vec<(u64, Option<u64>)> =
            (0..2).map(|i| (w.item(i).input_tokens, w.item(i).max_tokens)).collect();
        seen.sort_unstable();
        assert_eq!(seen, vec![(1, Some(1)), (5, Some(5))]);
        std::fs::write(&path, "{\"not\": \"a list\"}").unwrap();
        let err = Workload::load(&spec(DatasetSpec::ShareGpt { path }))
            .unwrap_err()
            .to_string();
        assert!(err.contains("sg.json:1: not a ShareGPT file"), "{err}");
    }

    #[test]
    fn jsonl_items_carry_their_parameters_over_the_flags() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("img.jsonl");
        std::fs::write(
            &path,
            "{\"prompt\": \"a cat\", \"steps\": 4, \"guidance_scale\": 2.5, \"style\": \"ink\"}\n{\"prompt\": \"a dog\"}\n",
        )
        .unwrap();
        let mut s = spec(DatasetSpec::Jsonl { path: path.clone() });
        s.params = RequestParams {
            steps: Some(30),
            width: Some(256),
            ..RequestParams::default()
        };
        let w = Workload::load(&s).unwrap();
        let (a, b) = (w.item(0), w.item(1));
        assert_eq!(
            (a.params.steps, a.params.width, a.params.guidance),
            (Some(4), Some(256), Some(2.5))
        );
        assert_eq!(a.fields.as_ref().unwrap()["style"], "ink");
        assert_eq!((b.params.steps, b.params.guidance), (Some(30), None));
        std::fs::write(&path, "{\"prompt\": \"x\"}\n{\"prompt\": \"y\", \"width\": 0}\n").unwrap();
        let err = Workload::load(&s).unwrap_err().to_string();
        assert!(err.contains("img.jsonl:2: `width` must be a whole number"), "{err}");
        assert_eq!(parse_size("512x768"), Some((512, 768)));
        assert_eq!(parse_size("512"), None);
    }

    #[test]
    fn weighted_picking_follows_the_weights_and_the_seed() {
        let cumulative = [1.0, 2.0, 2.5, 4.0]; // weights 1, 1, 0.5, 1.5
        let mut counts = [0u32; 4];
        for i in 0..40_000 {
            counts[pick_task(&cumulative, 3, i)] += 1;
        }
        for (got, want) in counts.iter().zip([0.25, 0.25, 0.125, 0.375]) {
            let share = f64::from(*got) / 40_000.0;
            assert!((share - want).abs() < 0.01, "{counts:?}");
        }
        let a: Vec<usize> = (0..50).map(|i| pick_task(&cumulative, 3, i)).collect();
        let b: Vec<usize> = (0..50).map(|i| pick_task(&cumulative, 3, i)).collect();
        let c: Vec<usize> = (0..50).map(|i| pick_task(&cumulative, 4, i)).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(pick_task(&[5.0], 0, 9), 0);
        assert!(
            (0..1000).all(|i| pick_task(&[0.0, 1.0], 1, i) == 1),
            "a zero weight is never picked"
        );

        let one = |text: &str| Workload::load(&spec(DatasetSpec::Prompt { text: text.into() })).unwrap();
        let w = Workload::mixed(
            vec![("a".into(), 1.0, one("alpha")), ("b".into(), 1.0, one("beta"))],
            spec(DatasetSpec::Prompt { text: String::new() }),
        );
        let items: Vec<WorkItem> = (0..100).map(|i| w.item(i)).collect();
        assert!(items.iter().all(|it| match it.task {
            Some(0) => it.prompt == Prompt::Text("alpha".into()),
            Some(1) => it.prompt == Prompt::Text("beta".into()),
            _ => false,
        }));
        assert_eq!(w.task_names(), ["a".to_string(), "b".to_string()]);
        assert!(w.describe().contains("a 50%"), "{}", w.describe());
    }

    fn bpe() -> Counter {
        static BPE: std::sync::OnceLock<Arc<Tokenizer>> = std::sync::OnceLock::new();
        Counter::Tokenizer(
            BPE.get_or_init(|| {
                Arc::new(Tokenizer::new(tokenizer::testing::byte_level_bpe(2_000), "test-bpe").unwrap())
            })
            .clone(),
        )
    }

    fn text(item: &WorkItem) -> &str {
        match &item.prompt {
            Prompt::Text(t) => t,
            Prompt::Chat(_) => panic!("text prompt"),
        }
    }

    #[test]
    fn with_a_tokenizer_random_prompts_have_exactly_their_tokens() {
        let counter = bpe();
        let tok = counter.tokenizer().unwrap().clone();
        for (input_len, ratio) in [(1, 0.0), (64, 0.0), (256, 0.0), (100, 0.5), (1024, 0.25)] {
            let s = spec(DatasetSpec::Random {
                input_len,
                output_len: 20,
                range_ratio: ratio,
            });
            let w = Workload::prepare(&s, counter.clone(), 40).unwrap();
            let mut lens = std::collections::BTreeSet::new();
            for i in 0..40 {
                let item = w.item(i);
                assert_eq!(tok.count(text(&item)), item.input_tokens, "{input_len} #{i}");
                let lo = ((input_len as f64) * (1.0 - ratio)).floor().max(1.0) as u64;
                let hi = ((input_len as f64) * (1.0 + ratio)).floor() as u64;
                assert!(
                    (lo..=hi).contains(&item.input_tokens),
                    "{} not in {lo}..={hi}",
                    item.input_tokens
                );
                lens.insert(item.input_tokens);
            }
            if ratio == 0.0 {
                assert_eq!(lens.into_iter().collect::<Vec<_>>(), vec![input_len], "exact");
            } else {
                assert!(lens.len() > 10, "spread over the range: {lens:?}");
            }
            assert!(w.describe().contains("token-exact (40 prepared)"), "{}", w.describe());
            // Past the prepared prompts, they are reused in turn.
            assert_eq!(w.item(40).prompt, w.item(0).prompt);
            // The same prompts as made one by one elsewhere.
            let again = Workload::prepare(&s, counter.clone(), 40).unwrap();
            assert_eq!(again.item(7), w.item(7));
        }
    }

    #[test]
    fn with_a_tokenizer_the_random_prefix_is_shared_and_counted_in_tokens() {
        let counter = bpe();
        let tok = counter.tokenizer().unwrap().clone();
        let mut s = spec(DatasetSpec::Random {
            input_len: 50,
            output_len: 5,
            range_ratio: 0.0,
        });
        s.random_prefix_len = 30;
        let w = Workload::prepare(&s, counter, 8).unwrap();
        let (a, b) = (w.item(0), w.item(1));
        assert_eq!((a.input_tokens, b.input_tokens), (80, 80));
        assert_eq!(tok.count(text(&a)), 80);
        let common = text(&a)
            .chars()
            .zip(text(&b).chars())
            .take_while(|(x, y)| x == y)
            .count();
        let prefix: String = text(&a).chars().take(common).collect();
        assert!(tok.count(&prefix) >= 29, "the prefix is shared: {prefix:?}");
    }

    #[test]
    fn with_a_tokenizer_files_are_counted_in_its_tokens() {
        let counter = bpe();
        let tok = counter.tokenizer().unwrap().clone();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.jsonl");
        let prompt = "Explain, in detail: how does a KV-cache work?";
        std::fs::write(&path, format!("{{\"prompt\": \"{prompt}\"}}\n")).unwrap();
        let w = Workload::prepare(&spec(DatasetSpec::Jsonl { path }), counter.clone(), 1).unwrap();
        assert_eq!(w.item(0).input_tokens, tok.count(prompt));
        assert_ne!(
            tok.count(prompt),
            count_tokens(prompt),
            "the test tells the two counts apart"
        );

        let path = dir.path().join("sg.json");
        let reply = "Keys and values of earlier tokens, kept so they're not recomputed!";
        std::fs::write(
            &path,
            format!(
                r#"[{{"conversations": [{{"from": "human", "value": "{prompt}"}}, {{"from": "gpt", "value": "{reply}"}}]}}]"#
            ),
        )
        .unwrap();
        let mut s = spec(DatasetSpec::ShareGpt { path });
        let w = Workload::prepare(&s, counter.clone(), 1).unwrap();
        assert_eq!(w.item(0).input_tokens, tok.count(prompt));
        assert_eq!(w.item(0).max_tokens, Some(tok.count(reply)));
        // --sharegpt-output-len overrides the reply's length.
        s.max_tokens = Some(33);
        assert_eq!(Workload::prepare(&s, counter, 1).unwrap().item(0).max_tokens, Some(33));
    }

    #[test]
    fn prefix_repetition_uses_every_prefix_once_a_round_with_own_suffixes() {
        let w = Workload::load(&spec(DatasetSpec::PrefixRepetition {
            prefix_len: 12,
            suffix_len: 5,
            num_prefixes: 3,
            output_len: 9,
        }))
        .unwrap();
        let items: Vec<WorkItem> = (0..30).map(|i| w.item(i)).collect();
        let prefix = |it: &WorkItem| text(it).split(' ').take(12).collect::<Vec<_>>().join(" ");
        let suffix = |it: &WorkItem| text(it).split(' ').skip(12).collect::<Vec<_>>().join(" ");
        let distinct: std::collections::BTreeSet<String> = items.iter().map(prefix).collect();
        assert_eq!(distinct.len(), 3);
        for round in items.chunks(3) {
            let r: std::collections::BTreeSet<String> = round.iter().map(prefix).collect();
            assert_eq!(r, distinct, "each round uses each prefix once");
        }
        let orders: std::collections::BTreeSet<Vec<String>> =
            items.chunks(3).map(|r| r.iter().map(prefix).collect()).collect();
        assert!(orders.len() > 1, "the order is shuffled between rounds");
        let suffixes: std::collections::BTreeSet<String> = items.iter().map(suffix).collect();
        assert_eq!(suffixes.len(), 30, "every suffix is the request's own");
        for it in &items {
            assert_eq!((it.input_tokens, it.max_tokens), (17, Some(9)));
            assert_eq!(count_tokens(text(it)), 17);
            assert_eq!(w.item(it.index), *it, "a pure function of the index");
        }
        assert!(w.describe().contains("3 prefixes of 12 tokens"), "{}", w.describe());
    }

    #[test]
    fn a_system_prompt_goes_before_every_prompt() {
        let random = |as_message| {
            let mut s = spec(DatasetSpec::Random {
                input_len: 10,
                output_len: 5,
                range_ratio: 0.0,
            });
            s.system_prompt = Some(SystemPromptSpec {
                source: SystemSource::Random { tokens: 7 },
                as_message,
            });
            Workload::load(&s).unwrap()
        };
        let chat = random(true);
        let (a, b) = (chat.item(0), chat.item(1));
        let (Prompt::Chat(ma), Prompt::Chat(mb)) = (&a.prompt, &b.prompt) else {
            panic!("chat prompts")
        };
        assert_eq!((ma[0].role.as_str(), ma[1].role.as_str()), ("system", "user"));
        assert_eq!(ma[0], mb[0], "one system prompt for every request");
        assert_eq!(count_tokens(&ma[0].content), 7);
        assert_ne!(ma[1], mb[1]);
        assert_eq!(a.input_tokens, 17);
        assert!(chat.describe().contains("7-token system message"));
        let plain = random(false);
        let t = plain.item(0);
        let (sys, rest) = text(&t).split_once('\n').unwrap();
        assert_eq!((sys, count_tokens(rest)), (ma[0].content.as_str(), 10));
        assert_eq!(t.input_tokens, 17);

        // A chat item from a file keeps its turns after the system message.
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("d.jsonl");
        std::fs::write(
            &data,
            "{\"messages\": [{\"role\": \"user\", \"content\": \"hi there\"}]}\n",
        )
        .unwrap();
        let sys_file = dir.path().join("sys.txt");
        std::fs::write(&sys_file, "You are terse.\n").unwrap();
        let mut s = spec(DatasetSpec::Jsonl { path: data });
        s.system_prompt = Some(SystemPromptSpec {
            source: SystemSource::File { path: sys_file.clone() },
            as_message: true,
        });
        let item = Workload::load(&s).unwrap().item(0);
        assert_eq!(
            item.prompt,
            Prompt::Chat(vec![
                ChatMessage {
                    role: "system".into(),
                    content: "You are terse.".into()
                },
                ChatMessage {
                    role: "user".into(),
                    content: "hi there".into()
                },
            ])
        );
        assert_eq!(item.input_tokens, 5);

        // An unreadable or empty file fails at load, naming the flag.
        let missing = dir.path().join("nope.txt");
        s.system_prompt = Some(SystemPromptSpec {
            source: SystemSource::File { path: missing.clone() },
            as_message: true,
        });
        let cause = std::fs::read(&missing).unwrap_err().to_string();
        assert_eq!(
            Workload::load(&s).unwrap_err().to_string(),
            format!("cannot read --system-prompt file {}: {cause}", missing.display())
        );
        std::fs::write(&sys_file, " \n").unwrap();
        s.system_prompt = Some(SystemPromptSpec {
            source: SystemSource::File { path: sys_file },
            as_message: true,
        });
        assert!(Workload::load(&s).unwrap_err().to_string().ends_with("is empty"));
    }

    #[test]
    fn a_fixed_prompt_defaults_to_256_output_tokens() {
        let w = Workload::load(&spec(DatasetSpec::Prompt {
            text: "Explain TCP".into(),
        }))
        .unwrap();
        assert_eq!(w.item(3).input_tokens, 2);
        assert_eq!(w.item(3).max_tokens, Some(DEFAULT_MAX_TOKENS));
        assert!(w.describe().contains("fixed prompt"));
    }
}
