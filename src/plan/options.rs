//! Options: what a user said about a run, before defaults and checks.
//!
//! Every source of settings produces the same [`RunOptions`]: the flags
//! (`cli` keeps only the values clap says were typed or came from the
//! environment), a scenario file's tables (deserialized straight into these
//! types, so the file can say everything the flags can, under the same
//! names with `_`), a task of a weighted mix, a strategy of a comparison.
//! They are layered with [`RunOptions::merge`], later layers winning field
//! by field, and the result goes through the one constructor,
//! [`super::RunPlan::resolve`], which applies the defaults
//! ([`super::defaults`]) and every check.
//!
//! Every field is optional: `None` means "not said here". Option structs
//! are declared through [`options!`], which writes the field-by-field merge
//! beside the fields so the two cannot drift apart.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::api::ApiKind;
use crate::schedule::{ArrivalKind, ThinkRange};
use crate::units::{de_choice, ser_choice};
use crate::workload::conversation::TurnRange;

use super::Backend;

/// Declares an options struct: every field becomes `Option<T>`, and
/// `merge(over)` takes each field `over` sets.
macro_rules! options {
    ($(#[$m:meta])* pub struct $name:ident { $( $(#[$fm:meta])* $field:ident : $ty:ty, )* }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
        #[serde(default, deny_unknown_fields)]
        pub struct $name { $( $(#[$fm])* #[serde(skip_serializing_if = "Option::is_none")] pub $field: Option<$ty>, )* }

        impl $name {
            /// Takes every field `over` sets.
            pub fn merge(&mut self, over: Self) {
                $( if over.$field.is_some() { self.$field = over.$field; } )*
            }
        }
    };
}

options! {
    /// The endpoint under test (`[target]`).
    pub struct TargetOptions {
        url: String,
        host: String,
        port: u16,
        #[serde(deserialize_with = "de_choice", serialize_with = "ser_choice")]
        api: ApiKind,
        #[serde(deserialize_with = "de_choice", serialize_with = "ser_choice")]
        backend: Backend,
        endpoint: String,
        model: String,
        #[serde(serialize_with = "ser_hidden")]
        api_key: String,
        #[serde(serialize_with = "ser_hidden_list")]
        headers: Vec<String>,
        #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
        timeout: Duration,
        insecure: bool,
        /// New connections per second at most.
        connect_rate: f64,
        #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
        grace: Duration,
        #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
        abort_after: Duration,
        body_template: String,
        #[serde(alias = "checks")]
        check: Vec<String>,
        images_pointer: String,
        job_id_pointer: String,
        status_url: String,
        status_pointer: String,
        done_value: String,
        failed_value: String,
        queued_value: String,
        result_url: String,
        #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
        poll_interval: Duration,
        served_model_name: String,
        request_id_prefix: String,
        ready_check_timeout_sec: u64,
        verify_ssl: bool,
        tokenizer: String,
        tokenizer_mode: String,
        trust_remote_code: bool,
    }
}

options! {
    /// How much load, for how long (`[load]`).
    pub struct LoadOptions {
        concurrency: usize,
        #[serde(deserialize_with = "de_rate")]
        rate: f64,
        #[serde(deserialize_with = "de_choice", serialize_with = "ser_choice")]
        arrival: ArrivalKind,
        burstiness: f64,
        requests: u64,
        #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
        duration: Duration,
        warmup: u64,
        users: usize,
        #[serde(deserialize_with = "de_rate")]
        spawn_rate: f64,
        #[serde(deserialize_with = "de_think", serialize_with = "ser_think")]
        think_time: ThinkRange,
        /// Turns per conversation session: `4` or `2..6` (`--turns`).
        #[serde(deserialize_with = "de_turns", serialize_with = "ser_turns")]
        turns: TurnRange,
        /// The pause between a reply and the session's next turn.
        #[serde(deserialize_with = "de_think", serialize_with = "ser_think")]
        turn_think_time: ThinkRange,
        /// Conversation sessions to run (instead of a request count).
        sessions: u64,
        /// `K/N`: this process is shard K of N.
        shard: String,
        /// N, with K from `shard_index` (a Kubernetes Indexed Job's
        /// `JOB_COMPLETION_INDEX`).
        shards: u64,
        shard_index: u64,
        /// When the measured phase starts: RFC 3339, or `+30s` from now.
        start_at: String,
        /// A trace replay's pace: its times divided by this.
        #[serde(deserialize_with = "de_rate")]
        trace_speed: f64,
        /// Closed-loop workers over time (`30s:10,2m:50,30s:0`).
        stages: super::stages::StagesValue,
        /// Open-loop arrivals per second over time.
        rate_stages: super::stages::StagesValue,
        /// Simulated users over time.
        user_stages: super::stages::StagesValue,
        #[serde(deserialize_with = "de_choice", serialize_with = "ser_choice")]
        ramp_up_strategy: crate::schedule::stages::RampStrategy,
        ramp_up_start_rps: f64,
        ramp_up_end_rps: f64,
        /// Measure the same plan this many times (`--repeats`); every
        /// sweep level too.
        repeats: u32,
    }
}

options! {
    /// What each request asks for (`[workload]`).
    pub struct WorkloadOptions {
        prompt: String,
        dataset: String,
        dataset_path: PathBuf,
        input_len: u64,
        #[serde(alias = "max_tokens")]
        output_len: u64,
        range_ratio: f64,
        stream: bool,
        ignore_eos: bool,
        extra_body: serde_json::Map<String, serde_json::Value>,
        seed: u64,
        steps: u32,
        width: u32,
        height: u32,
        guidance: f64,
        image_n: u32,
        size: String,
        temperature: f64,
        top_p: f64,
        top_k: i64,
        min_p: f64,
        random_prefix_len: u64,
        sharegpt_output_len: u64,
        prefix_repetition_prefix_len: u64,
        prefix_repetition_suffix_len: u64,
        prefix_repetition_num_prefixes: u64,
        prefix_repetition_output_len: u64,
        /// A system prompt before every request: text, or `@FILE`.
        system_prompt: String,
        /// A random system prompt of N tokens shared by every request.
        system_prompt_len: u64,
        /// Prompt tokens per `hash_ids` block of a Mooncake trace.
        trace_block_size: u64,
        /// `START..END`: the slice of a trace replayed.
        trace_window: String,
        /// A use-case preset under the other options (`--use-case`).
        #[serde(deserialize_with = "de_choice", serialize_with = "ser_choice")]
        use_case: super::presets::UseCase,
    }
}

options! {
    /// Service-level objectives (`[objectives]`).
    pub struct ObjectiveOptions {
        slo: Vec<String>,
        goodput: Vec<String>,
        /// Judge the objectives in every stage too.
        slo_per_stage: bool,
    }
}

options! {
    /// Where results go (`[output]`).
    pub struct OutputOptions {
        show_samples: usize,
        json: PathBuf,
        records: PathBuf,
        save_result: bool,
        result_filename: String,
        result_dir: PathBuf,
        save_detailed: bool,
        label: String,
        metadata: Vec<String>,
        append_result: bool,
        quiet: bool,
        tui: bool,
        plot: PathBuf,
        html: PathBuf,
        csv: PathBuf,
        markdown: PathBuf,
        db: PathBuf,
        no_history: bool,
        percentile_metrics: String,
        metric_percentiles: String,
        ttft_rating: String,
    }
}

options! {
    /// Samplers beside the run and live export (`[monitor]`).
    pub struct MonitorOptions {
        #[serde(deserialize_with = "de_duration", serialize_with = "ser_duration")]
        monitor_interval: Duration,
        scrape: Vec<String>,
        scrape_metric: Vec<String>,
        no_monitor: bool,
        statsd: String,
        statsd_prefix: String,
        prometheus_listen: String,
    }
}

/// Everything said about one run, from one source.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunOptions {
    pub target: TargetOptions,
    pub load: LoadOptions,
    pub workload: WorkloadOptions,
    pub objectives: ObjectiveOptions,
    pub output: OutputOptions,
    pub monitor: MonitorOptions,
}

impl RunOptions {
    /// Takes every field `over` sets (`over` is the later, stronger layer).
    pub fn merge(&mut self, over: Self) {
        self.target.merge(over.target);
        self.load.merge(over.load);
        self.workload.merge(over.workload);
        self.objectives.merge(over.objectives);
        self.output.merge(over.output);
        self.monitor.merge(over.monitor);
    }

    /// `self` with `over` merged on top.
    pub fn merged(mut self, over: Self) -> Self {
        self.merge(over);
        self
    }

    /// Whether this layer sets the option at `key` (`"load.concurrency"`),
    /// the dotted names a scenario file uses. Used to tell which source a
    /// bad value came from.
    pub fn sets(&self, key: &str) -> bool {
        let Ok(v) = serde_json::to_value(self) else {
            return false;
        };
        key.split('.')
            .try_fold(&v, |v, k| v.get(k))
            .is_some_and(|v| !v.is_null())
    }
}

// ---- value parsers: run while deserializing, so file errors carry a span ----

fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    let s = NumOrStr::deserialize(d)?.text();
    crate::units::parse_duration(&s)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

fn ser_duration<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_str(&crate::units::format_duration(*d)),
        None => s.serialize_none(),
    }
}

fn de_think<'de, D: Deserializer<'de>>(d: D) -> Result<Option<ThinkRange>, D::Error> {
    let s = String::deserialize(d)?;
    crate::schedule::parse_think_time(&s)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

fn ser_think<S: Serializer>(t: &Option<ThinkRange>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(ThinkRange(lo, hi)) => s.serialize_str(&format!(
            "{}..{}",
            crate::units::format_duration(*lo),
            crate::units::format_duration(*hi)
        )),
        None => s.serialize_none(),
    }
}

fn de_turns<'de, D: Deserializer<'de>>(d: D) -> Result<Option<TurnRange>, D::Error> {
    TurnRange::parse(&NumOrStr::deserialize(d)?.text())
        .map(Some)
        .map_err(serde::de::Error::custom)
}

fn ser_turns<S: Serializer>(t: &Option<TurnRange>, s: S) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => s.serialize_str(&t.text()),
        None => s.serialize_none(),
    }
}

/// A number, or its text (`"inf"`, `"2s"`).
#[derive(Deserialize)]
#[serde(untagged)]
enum NumOrStr {
    Int(i64),
    Num(f64),
    Str(String),
}

impl NumOrStr {
    fn text(self) -> String {
        match self {
            NumOrStr::Int(i) => i.to_string(),
            NumOrStr::Num(f) => f.to_string(),
            NumOrStr::Str(s) => s,
        }
    }
}

/// A rate: a number above zero, or `"inf"`.
fn de_rate<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    crate::units::parse_rate(&NumOrStr::deserialize(d)?.text())
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// Secrets are never serialized; a set value shows as `***`.
fn ser_hidden<S: Serializer>(v: &Option<String>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(_) => s.serialize_str("***"),
        None => s.serialize_none(),
    }
}

/// Headers may carry credentials: only their count is serialized.
fn ser_hidden_list<S: Serializer>(v: &Option<Vec<String>>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(list) => s.collect_seq(list.iter().map(|_| "***")),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_layers_win_field_by_field() {
        let mut file = RunOptions::default();
        file.load.concurrency = Some(4);
        file.load.requests = Some(50);
        file.target.model = Some("from-file".into());
        let mut typed = RunOptions::default();
        typed.load.concurrency = Some(8);
        let merged = file.merged(typed);
        assert_eq!(merged.load.concurrency, Some(8), "the typed value wins");
        assert_eq!(merged.load.requests, Some(50), "the file fills what was not typed");
        assert_eq!(merged.target.model.as_deref(), Some("from-file"));
    }

    #[test]
    fn a_file_table_reads_into_the_same_options() {
        let o: RunOptions = toml::from_str(
            "[target]\nurl = \"http://h:1\"\napi = \"tgi\"\ntimeout = \"9s\"\nbody_template = \"{}\"\ncheck = [\"/ok\"]\n\
             [load]\nrate = \"inf\"\nthink_time = \"1s..2s\"\narrival = \"constant\"\n\
             [workload]\nmax_tokens = 7\nextra_body = { temperature = 0.5 }\n",
        )
        .unwrap();
        assert_eq!(o.target.api, Some(ApiKind::Tgi));
        assert_eq!(o.target.timeout, Some(Duration::from_secs(9)));
        assert_eq!(o.target.check, Some(vec!["/ok".to_string()]));
        assert_eq!(o.load.rate, Some(f64::INFINITY));
        assert_eq!(o.load.arrival, Some(ArrivalKind::Constant));
        assert_eq!(o.workload.output_len, Some(7), "max_tokens is output_len's alias");
        assert_eq!(o.workload.extra_body.unwrap()["temperature"], serde_json::json!(0.5));
        let e = toml::from_str::<RunOptions>("[load]\nconcurency = 4\n").unwrap_err();
        assert!(e.to_string().contains("unknown field `concurency`"), "{e}");
        let e = toml::from_str::<RunOptions>("[target]\napi = \"soap\"\n").unwrap_err();
        assert!(e.to_string().contains("openai-chat, openai-completions"), "{e}");
    }

    #[test]
    fn sets_tells_which_keys_a_layer_gives_and_never_shows_secrets() {
        let mut o = RunOptions::default();
        o.load.concurrency = Some(3);
        o.target.api_key = Some("sk-secret".into());
        assert!(o.sets("load.concurrency"));
        assert!(!o.sets("load.rate"));
        assert!(o.sets("target.api_key"));
        assert!(!serde_json::to_string(&o).unwrap().contains("sk-secret"));
    }
}
