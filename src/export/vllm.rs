//! `vllm bench serve`'s result JSON (`--save-result`, `--result-dir`,
//! `--result-filename`, `--save-detailed`, `--label`), so tools that read
//! vLLM's files read ours.
//!
//! Keys come in vLLM's insertion order (a derived `Serialize` struct keeps
//! field order). Differences from vLLM, by design:
//! - the per-request arrays (`input_lens`, `output_lens`, `ttfts`, `itls`,
//!   `start_times`) are always written (vLLM keeps them only with
//!   `--save-detailed`; `latencies` and `queue_times` it always keeps);
//!   `generated_texts` and `errors` need `--save-detailed`, as in vLLM;
//! - `start_times` are seconds since the run clock's zero (vLLM: an
//!   arbitrary `perf_counter` origin);
//! - `queue_times` are each request's queue delay (`sent_at −
//!   scheduled_at`, seconds): vLLM's `client_queue_time`, the wait for a
//!   concurrency slot, which a closed loop never has (0);
//! - `rtfx` is 0.0: vLLM computes it for speech-recognition runs only.
//!
//! The statistics follow `--percentile-metrics` and `--metric-percentiles`
//! as in vLLM: per selected metric `mean_{m}_ms`, `median_{m}_ms`,
//! `std_{m}_ms` and `p{P}_{m}_ms` for each percentile, `P` written as vLLM
//! writes it (`p99`, `p99.9`, `p0.5`); by default `ttft,tpot,itl` and `99`
//! (`e2el` for a run that did not stream, as vLLM's default for pooling
//! backends). `client_queue_time` and `e2el_including_client_queue` are
//! written only when vLLM writes them: with a concurrency limit, the second
//! also only with a finite request rate.
//! - `burstiness` is the string `"inf"` for `--arrival constant` (the limit
//!   of a gamma process; vLLM has no constant arrivals), 1.0 for Poisson and
//!   closed loops.
//!
//! As in vLLM, `--metadata KEY=VALUE` pairs follow `num_prompts` as
//! strings, `model_id` is `--model` when `--served-model-name` named the
//! model sent, and `--append-result` appends the document as one JSON line
//! instead of replacing the file.
//!
//! As in vLLM, arrays are in request order and a failed request contributes
//! its prompt length, an output length of 0, a TTFT and latency of 0 and no
//! ITLs; TTFTs are 0 too when the run did not stream. The aggregate
//! statistics follow NumPy as vLLM computes them from these arrays: over
//! successful requests only (TPOT over those with more than one output
//! token; ITL pooled over every chunk gap), mean, `np.median`, population
//! `np.std`, `np.percentile` with linear interpolation (deliberately: the one
//! output that does not use inferload's nearest-rank percentiles, see
//! `stats::quantile`), and 0 when there is
//! no sample. They can therefore differ from the console's and `--json`'s
//! HDR figures by the histogram's 0.1 % resolution and by interpolation.

use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::doc::settings::{Arrival, Schedule, VllmResultSettings};
use crate::plan::VllmMetric;
use crate::record::RequestRecord;
use crate::stats::Percentile;

use super::{write_json, ExportError, Exporter, RunReport};

/// A number, or a string such as `"inf"`, as vLLM writes `request_rate`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(untagged)]
pub enum NumOrStr {
    Num(f64),
    Str(&'static str),
}

/// vLLM's keys, in its order.
#[derive(Debug, Serialize)]
pub struct VllmDocument<'a> {
    pub date: String,
    pub endpoint_type: &'a str,
    pub backend: &'a str,
    pub label: &'a str,
    pub model_id: &'a str,
    pub tokenizer_id: &'a str,
    pub num_prompts: u64,
    /// `--metadata KEY=VALUE`, each key as a string, after `num_prompts` as in vLLM.
    #[serde(flatten)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    pub request_rate: NumOrStr,
    pub burstiness: NumOrStr,
    pub max_concurrency: Option<usize>,
    /// vLLM's ramp-up (`--ramp-up-strategy`), as it records it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ramp_up_strategy: Option<&'static str>,
    /// Whole rates as integers, as vLLM's integer flags write them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ramp_up_start_rps: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ramp_up_end_rps: Option<serde_json::Value>,
    pub duration: f64,
    pub completed: u64,
    pub failed: u64,
    pub total_input_tokens: u64,
    pub total_output_tokens: u64,
    pub request_throughput: f64,
    pub request_goodput: Option<f64>,
    pub output_throughput: f64,
    pub total_token_throughput: f64,
    pub input_lens: Vec<u64>,
    pub output_lens: Vec<u64>,
    pub ttfts: Vec<f64>,
    pub itls: Vec<Vec<f64>>,
    pub latencies: Vec<f64>,
    pub start_times: Vec<f64>,
    pub queue_times: Vec<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated_texts: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<String>>,
    pub max_output_tokens_per_s: f64,
    pub max_concurrent_requests: u64,
    /// Each whole rate a ramp-up reached, with when (vLLM's local ISO time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rps_change_events: Option<Vec<RpsChange>>,
    pub rtfx: f64,
    /// `mean_ttft_ms`, `median_ttft_ms`, `std_ttft_ms`, `p99_ttft_ms`, ...
    /// for the selected metrics and percentiles, in vLLM's order.
    #[serde(flatten)]
    pub stats: MetricStats,
}

/// One of vLLM's `rps_change_events`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RpsChange {
    pub rps: i64,
    pub timestamp: String,
}

/// The ramp-up of the run, when it had one.
fn ramp(report: &RunReport) -> Option<crate::schedule::stages::Ramp> {
    match report.doc.stages.as_ref().map(|s| &s.profile) {
        Some(crate::schedule::stages::Profile::RampUp { ramp, .. }) => Some(*ramp),
        _ => None,
    }
}

/// The rate changes as vLLM writes them: the run's start plus each
/// change's offset, local time, `datetime.isoformat()`'s shape.
fn rps_change_events(report: &RunReport) -> Option<Vec<RpsChange>> {
    ramp(report)?;
    let start = report.doc.started()?;
    let changes = &report.doc.stages.as_ref()?.rate_changes;
    Some(
        changes
            .iter()
            .map(|c| RpsChange {
                rps: c.rps,
                timestamp: (start + chrono::Duration::microseconds((c.t_s * 1e6) as i64))
                    .naive_local()
                    .format("%Y-%m-%dT%H:%M:%S%.6f")
                    .to_string(),
            })
            .collect(),
    )
}

/// Keys and values in the order they were added, written as JSON object
/// members (a map would sort them).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct MetricStats(pub Vec<(String, f64)>);

impl Serialize for MetricStats {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// mean, median, population std and the asked percentiles of
/// milliseconds, NumPy's way; zeros without samples.
#[derive(Debug, Default, Clone, PartialEq)]
struct NpStats {
    mean: f64,
    median: f64,
    std: f64,
    percentiles: Vec<(Percentile, f64)>,
}

/// `np.percentile(sorted, p)`: linear interpolation, as vLLM computes it
/// (deliberately not inferload's nearest rank; see `stats::quantile`).
fn np_percentile(sorted: &[f64], p: f64) -> f64 {
    crate::stats::quantile::numpy_linear(sorted, p)
}

fn np_stats(mut ms: Vec<f64>, percentiles: &[Percentile]) -> NpStats {
    if ms.is_empty() {
        return NpStats {
            percentiles: percentiles.iter().map(|&p| (p, 0.0)).collect(),
            ..NpStats::default()
        };
    }
    ms.sort_by(f64::total_cmp);
    let n = ms.len() as f64;
    let mean = ms.iter().sum::<f64>() / n;
    let var = ms.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n;
    NpStats {
        mean,
        median: np_percentile(&ms, 50.0),
        std: var.sqrt(),
        percentiles: percentiles
            .iter()
            .map(|&p| (p, np_percentile(&ms, p.value())))
            .collect(),
    }
}

/// The metrics vLLM's block and file show for this run: as selected, else
/// vLLM's default for a run that did (not) stream.
pub fn selected_metrics(report: &RunReport) -> Vec<VllmMetric> {
    report
        .settings()
        .and_then(|s| s.outputs.percentile_metrics.clone())
        .unwrap_or_else(|| VllmMetric::defaults(report.streamed()))
}

/// The percentiles vLLM's block and file show: as selected, else 99.
pub fn selected_percentiles(report: &RunReport) -> Vec<Percentile> {
    match report.settings() {
        Some(s) => s.outputs.vllm_percentiles(),
        None => Percentile::new(99.0).into_iter().collect(),
    }
}

/// Whether vLLM reports a metric for this run: the client-queue metrics
/// only with a concurrency limit, the queue-inclusive E2EL also only with
/// a finite request rate.
pub fn applies(metric: VllmMetric, schedule: Option<&Schedule>) -> bool {
    let capped = schedule.and_then(Schedule::max_concurrency).is_some();
    match metric {
        VllmMetric::ClientQueueTime => capped,
        VllmMetric::E2elIncludingClientQueue => capped && schedule.and_then(Schedule::finite_rate).is_some(),
        _ => true,
    }
}

/// The samples (milliseconds) of one metric, over successful requests as
/// vLLM computes them.
fn samples(metric: VllmMetric, recs: &[RequestRecord]) -> Vec<f64> {
    let ok = || recs.iter().filter(|r| r.succeeded());
    match metric {
        VllmMetric::Ttft => ok().filter_map(|r| r.ttft()).map(ms).collect(),
        VllmMetric::Tpot => ok().filter_map(|r| r.tpot()).map(ms).collect(),
        VllmMetric::Itl => ok().flat_map(|r| r.itls()).map(ms).collect(),
        VllmMetric::E2el => ok().filter_map(|r| r.e2e()).map(ms).collect(),
        VllmMetric::ClientQueueTime => ok().map(|r| ms(r.queue_delay())).collect(),
        VllmMetric::E2elIncludingClientQueue => ok().filter_map(|r| r.e2e().map(|e| ms(e + r.queue_delay()))).collect(),
    }
}

/// The statistics keys of the selected metrics, in vLLM's order.
fn metric_stats(report: &RunReport) -> MetricStats {
    let schedule = report.doc.schedule();
    let percentiles = selected_percentiles(report);
    let selected = selected_metrics(report);
    let mut out = Vec::new();
    // vLLM's order is its own, whatever the order selected.
    for m in VllmMetric::ALL {
        if !selected.contains(&m) || !applies(m, schedule) {
            continue;
        }
        let st = np_stats(samples(m, report.records()), &percentiles);
        let name = m.name();
        out.push((format!("mean_{name}_ms"), st.mean));
        out.push((format!("median_{name}_ms"), st.median));
        out.push((format!("std_{name}_ms"), st.std));
        for (p, v) in st.percentiles {
            out.push((format!("p{}_{name}_ms", p.word()), v));
        }
    }
    MetricStats(out)
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Python's `str(float)` for a finite rate: `40.0`, `2.5`, `inf`.
fn py_float(v: f64) -> String {
    if v.is_infinite() {
        "inf".into()
    } else if v.fract() == 0.0 && v.abs() < 1e16 {
        format!("{v:.1}")
    } else {
        format!("{v}")
    }
}

/// A rate as vLLM prints its integer ramp-up rates (`5`), or as Python
/// prints a float when it has a fraction (`2.5`).
fn py_number(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

/// A whole number as a JSON integer, else as a float.
fn json_number(v: f64) -> serde_json::Value {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        serde_json::Value::from(v as i64)
    } else {
        serde_json::Value::from(v)
    }
}

fn request_rate(schedule: Option<&Schedule>) -> NumOrStr {
    match schedule.and_then(Schedule::finite_rate) {
        Some(rate) => NumOrStr::Num(rate),
        None => NumOrStr::Str("inf"),
    }
}

fn burstiness(schedule: Option<&Schedule>) -> NumOrStr {
    match schedule {
        Some(Schedule::Open {
            arrival: Arrival::Gamma { shape },
            ..
        }) => NumOrStr::Num(*shape),
        Some(Schedule::Open {
            arrival: Arrival::Constant,
            rate: Some(rate),
            ..
        }) if rate.is_finite() => NumOrStr::Str("inf"),
        _ => NumOrStr::Num(1.0),
    }
}

/// The `--save-result` settings the run recorded.
fn vllm_settings(report: &RunReport) -> Option<&VllmResultSettings> {
    report.settings()?.outputs.vllm_result.as_ref()
}

/// The run's start as vLLM dates its files (`YYYYMMDD-HHMMSS`, local time).
fn date(report: &RunReport) -> String {
    const FORMAT: &str = "%Y%m%d-%H%M%S";
    match report.doc.started() {
        Some(t) => t.format(FORMAT).to_string(),
        None => chrono::Local::now().format(FORMAT).to_string(),
    }
}

impl<'a> VllmDocument<'a> {
    pub fn of(report: &'a RunReport) -> Self {
        let v = vllm_settings(report);
        let backend = v.map_or("openai-chat", |v| v.backend.as_str());
        let detailed = v.is_some_and(|v| v.detailed);
        let s = &report.doc.summary;
        let schedule = report.doc.schedule();
        let model = report.doc.model.as_deref().unwrap_or_default();
        // With --served-model-name, vLLM's model_id is --model (the label).
        let model = v.and_then(|v| v.model_id.as_deref()).unwrap_or(model);
        let recs: &[RequestRecord] = report.records();
        let secs = |d: Option<std::time::Duration>| d.map_or(0.0, |d| d.as_secs_f64());
        Self {
            date: date(report),
            endpoint_type: backend,
            backend,
            label: v.map_or(backend, |v| v.label.as_str()),
            model_id: model,
            tokenizer_id: model,
            num_prompts: report
                .settings()
                .and_then(|st| st.stop.requests)
                .unwrap_or(s.requests_total),
            metadata: v
                .map(|v| {
                    v.metadata
                        .iter()
                        .map(|(k, val)| (k.clone(), serde_json::Value::String(val.clone())))
                        .collect()
                })
                .unwrap_or_default(),
            // A ramp-up leaves vLLM's --request-rate at its default, inf.
            request_rate: if ramp(report).is_some() {
                NumOrStr::Str("inf")
            } else {
                request_rate(schedule)
            },
            burstiness: burstiness(schedule),
            max_concurrency: schedule.and_then(Schedule::max_concurrency),
            ramp_up_strategy: ramp(report).map(|r| crate::units::Choice::name(r.strategy)),
            ramp_up_start_rps: ramp(report).map(|r| json_number(r.start_rps)),
            ramp_up_end_rps: ramp(report).map(|r| json_number(r.end_rps)),
            duration: s.duration_s,
            completed: s.successful,
            failed: s.failed,
            total_input_tokens: s.total_input_tokens,
            total_output_tokens: s.total_output_tokens,
            request_throughput: s.request_throughput,
            request_goodput: report.doc.goodput.map(|g| g.goodput),
            output_throughput: s.output_throughput,
            total_token_throughput: s.total_token_throughput,
            input_lens: recs.iter().map(|r| r.input_tokens).collect(),
            output_lens: recs
                .iter()
                .map(|r| if r.succeeded() { r.output_tokens } else { 0 })
                .collect(),
            ttfts: recs.iter().map(|r| secs(r.ttft())).collect(),
            itls: recs
                .iter()
                .map(|r| r.itls().map(|d| d.as_secs_f64()).collect())
                .collect(),
            latencies: recs.iter().map(|r| secs(r.e2e())).collect(),
            start_times: recs.iter().map(|r| r.sent_at.as_secs_f64()).collect(),
            queue_times: recs.iter().map(|r| r.queue_delay().as_secs_f64()).collect(),
            generated_texts: detailed.then(|| {
                recs.iter()
                    .map(|r| {
                        if r.succeeded() {
                            r.text.clone().unwrap_or_default()
                        } else {
                            String::new()
                        }
                    })
                    .collect()
            }),
            errors: detailed.then(|| {
                recs.iter()
                    .map(|r| {
                        r.error
                            .as_ref()
                            .map_or_else(String::new, |e| format!("{}: {}", e.class, e.message))
                    })
                    .collect()
            }),
            max_output_tokens_per_s: s.peak_output_throughput,
            max_concurrent_requests: s.peak_concurrency,
            rps_change_events: rps_change_events(report),
            rtfx: 0.0,
            stats: metric_stats(report),
        }
    }
}

/// vLLM's default file name:
/// `{label}-{rate}qps[-concurrency{N}]-{model basename}-{YYYYMMDD-HHMMSS}.json`,
/// with the rate as Python prints a float (`inf`, `40.0`).
pub fn default_file_name(report: &RunReport) -> String {
    let label = vllm_settings(report).map_or("openai-chat", |v| v.label.as_str());
    let schedule = report.doc.schedule();
    let rate = match schedule {
        Some(Schedule::Open { rate, .. }) => py_float(rate.unwrap_or(f64::INFINITY)),
        _ => "inf".into(),
    };
    let concurrency = schedule
        .and_then(Schedule::max_concurrency)
        .map(|c| format!("-concurrency{c}"))
        .unwrap_or_default();
    let model = report.doc.model.as_deref().unwrap_or_default();
    let model = model.rsplit('/').next().unwrap_or(model);
    let date = date(report);
    // vLLM names a ramp-up's file by its shape and rates.
    if let Some(r) = ramp(report) {
        let strategy = crate::units::Choice::name(r.strategy);
        let (a, b) = (py_number(r.start_rps), py_number(r.end_rps));
        return format!("{label}-ramp-up-{strategy}-{a}qps-{b}qps{concurrency}-{model}-{date}.json")
            .replace(['/', '\\'], "_");
    }
    // A name, never a path: nothing of the label or model may leave the directory.
    format!("{label}-{rate}qps{concurrency}-{model}-{date}.json").replace(['/', '\\'], "_")
}

/// Writes vLLM's result JSON.
pub struct VllmExporter {
    pub path: PathBuf,
}

impl VllmExporter {
    /// The file the plan asks for: `--result-filename` (or vLLM's default
    /// name) under `--result-dir` (or the current directory).
    pub fn for_report(report: &RunReport) -> Self {
        let v = vllm_settings(report);
        let name = v
            .and_then(|v| v.filename.clone())
            .unwrap_or_else(|| default_file_name(report));
        let dir = v.and_then(|v| v.dir.clone()).unwrap_or_default();
        Self {
            path: if dir.as_os_str().is_empty() {
                PathBuf::from(name)
            } else {
                dir.join(name)
            },
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Exporter for VllmExporter {
    fn export(&self, report: &RunReport) -> Result<(), ExportError> {
        if vllm_settings(report).is_some_and(|v| v.append) {
            return append_line(&self.path, &VllmDocument::of(report));
        }
        write_json(&self.path, &VllmDocument::of(report))
    }
}

/// `--append-result`: the document as one JSON line at the end of the file
/// (a newline first if the file's last line is unterminated).
fn append_line<T: Serialize>(path: &Path, value: &T) -> Result<(), ExportError> {
    use std::io::Write;
    let mut line = serde_json::to_vec(value).map_err(|e| ExportError::io(path, e.into()))?;
    line.push(b'\n');
    let unterminated = std::fs::read(path).is_ok_and(|b| b.last().is_some_and(|c| *c != b'\n'));
    if unterminated {
        line.insert(0, b'\n');
    }
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(&line))
        .map_err(|e| ExportError::io(path, e))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{closed, open, report, save_result};
    use super::*;

    #[test]
    fn numpy_statistics() {
        assert_eq!(np_percentile(&[], 50.0), 0.0);
        assert_eq!(np_percentile(&[3.0], 99.0), 3.0);
        assert_eq!(np_percentile(&[1.0, 2.0], 50.0), 1.5);
        // np.percentile([1, 2, 3, 4], 99) = 3.97
        assert!((np_percentile(&[1.0, 2.0, 3.0, 4.0], 99.0) - 3.97).abs() < 1e-12);
        let p99 = Percentile::new(99.0).unwrap();
        let s = np_stats(vec![4.0, 1.0, 3.0, 2.0], &[p99]);
        assert_eq!((s.mean, s.median), (2.5, 2.5));
        assert!((s.std - 1.25f64.sqrt()).abs() < 1e-12, "population std");
        assert!((s.percentiles[0].1 - 3.97).abs() < 1e-12);
        assert_eq!(np_stats(Vec::new(), &[p99]).percentiles, [(p99, 0.0)]);
    }

    #[test]
    fn python_float_strings() {
        assert_eq!(py_float(f64::INFINITY), "inf");
        assert_eq!(py_float(40.0), "40.0");
        assert_eq!(py_float(2.5), "2.5");
        assert_eq!(py_float(0.1), "0.1");
    }

    #[test]
    fn keys_in_vllms_order_with_per_request_arrays() {
        let r = report(|s| {
            s.schedule = closed(3);
            s.outputs.vllm_result = Some(VllmResultSettings {
                label: "mine".into(),
                ..save_result()
            });
        });
        let text = serde_json::to_string(&VllmDocument::of(&r)).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let order = [
            "\"date\"",
            "\"endpoint_type\"",
            "\"backend\"",
            "\"label\"",
            "\"model_id\"",
            "\"tokenizer_id\"",
            "\"num_prompts\"",
            "\"request_rate\"",
            "\"burstiness\"",
            "\"max_concurrency\"",
            "\"duration\"",
            "\"completed\"",
            "\"failed\"",
            "\"total_input_tokens\"",
            "\"total_output_tokens\"",
            "\"request_throughput\"",
            "\"request_goodput\"",
            "\"output_throughput\"",
            "\"total_token_throughput\"",
            "\"input_lens\"",
            "\"output_lens\"",
            "\"ttfts\"",
            "\"itls\"",
            "\"latencies\"",
            "\"start_times\"",
            "\"queue_times\"",
            "\"max_output_tokens_per_s\"",
            "\"max_concurrent_requests\"",
            "\"rtfx\"",
            "\"mean_ttft_ms\"",
            "\"median_ttft_ms\"",
            "\"std_ttft_ms\"",
            "\"p99_ttft_ms\"",
            "\"mean_tpot_ms\"",
            "\"p99_tpot_ms\"",
            "\"mean_itl_ms\"",
            "\"p99_itl_ms\"",
        ];
        let positions: Vec<usize> = order
            .iter()
            .map(|k| text.find(k).unwrap_or_else(|| panic!("{k} missing")))
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "order: {text}");
        assert_eq!(v["request_rate"], "inf");
        assert_eq!(v["max_concurrency"], 3);
        assert_eq!(v["label"], "mine");
        assert_eq!(v["backend"], "openai-chat");
        assert_eq!(v["completed"], 6);
        assert_eq!(v["failed"], 2);
        assert_eq!(v["request_goodput"], serde_json::Value::Null);
        assert_eq!(v["output_lens"], serde_json::json!([5, 5, 5, 5, 5, 5, 0, 0]));
        assert_eq!(v["ttfts"][0], 0.1);
        assert_eq!(v["ttfts"][6], 0.0);
        assert_eq!(v["itls"][0].as_array().unwrap().len(), 2);
        assert_eq!(v["itls"][7], serde_json::json!([]));
        assert_eq!(v["mean_ttft_ms"], 100.0);
        assert_eq!(v["mean_itl_ms"], 40.0 + 2.5 / 2.0);
        assert!(v.get("generated_texts").is_none() && v.get("errors").is_none());
        assert!(v["date"].as_str().unwrap().len() == 15);
        assert_eq!(v["rtfx"], 0.0);
        assert_eq!(v["queue_times"].as_array().unwrap().len(), 8);
        assert!(
            v.get("mean_e2el_ms").is_none(),
            "e2el is not among vLLM's default metrics"
        );
        assert!(v.get("mean_client_queue_time_ms").is_none());
    }

    #[test]
    fn selected_metrics_and_percentiles_make_vllms_keys() {
        let r = report(|s| {
            s.schedule = Schedule::Open {
                rate: Some(20.0),
                arrival: Arrival::Poisson,
                cap: Some(3),
            };
            s.outputs.vllm_result = Some(save_result());
            // Selected out of vLLM's order: written in vLLM's.
            s.outputs.percentile_metrics = Some(VllmMetric::ALL.into_iter().rev().collect());
            s.outputs.metric_percentiles = Some(Percentile::parse_list("25,50,90,99,99.9,0.5").unwrap());
        });
        let text = serde_json::to_string(&VllmDocument::of(&r)).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut expected = Vec::new();
        for m in [
            "ttft",
            "tpot",
            "itl",
            "e2el",
            "client_queue_time",
            "e2el_including_client_queue",
        ] {
            for stat in ["mean", "median", "std", "p25", "p50", "p90", "p99", "p99.9", "p0.5"] {
                expected.push(format!("{stat}_{m}_ms"));
            }
        }
        let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
        let stats: Vec<&String> = keys.iter().copied().filter(|k| k.ends_with("_ms")).collect();
        let mut sorted_expected = expected.clone();
        sorted_expected.sort();
        let mut sorted_stats: Vec<String> = stats.iter().map(|s| s.to_string()).collect();
        sorted_stats.sort();
        assert_eq!(sorted_stats, sorted_expected);
        let positions: Vec<usize> = expected
            .iter()
            .map(|k| text.find(&format!("\"{k}\"")).unwrap())
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "vLLM's order: {text}");
        // np.percentile over the six successful E2ELs, and p50 == median.
        assert_eq!(v["p50_e2el_ms"], v["median_e2el_ms"]);
        let at = |k: &str| v[k].as_f64().unwrap();
        let ladder = ["p0.5", "p25", "p50", "p90", "p99", "p99.9"].map(|p| at(&format!("{p}_itl_ms")));
        assert!(ladder.windows(2).all(|w| w[0] <= w[1]), "{ladder:?}");
        assert!(ladder[0] < ladder[5], "ITL gaps differ: {ladder:?}");

        // Without a concurrency limit vLLM writes neither client-queue metric;
        // without a finite rate, not the queue-inclusive E2EL.
        let keys_of = |schedule: Schedule| {
            let r = report(|s| {
                s.schedule = schedule;
                s.outputs.vllm_result = Some(save_result());
                s.outputs.percentile_metrics = Some(VllmMetric::ALL.to_vec());
            });
            serde_json::to_value(VllmDocument::of(&r)).unwrap()
        };
        let v = keys_of(open(Some(20.0), None));
        assert!(v.get("mean_client_queue_time_ms").is_none() && v.get("mean_e2el_ms").is_some());
        let v = keys_of(closed(3));
        assert!(v.get("mean_client_queue_time_ms").is_some());
        assert!(v.get("mean_e2el_including_client_queue_ms").is_none());
    }

    #[test]
    fn a_run_without_a_stream_defaults_to_e2el() {
        let r = report(|s| {
            s.workload.stream = false;
            s.outputs.vllm_result = Some(save_result());
        });
        let v = serde_json::to_value(VllmDocument::of(&r)).unwrap();
        assert!(v.get("p99_e2el_ms").is_some() && v.get("p99_ttft_ms").is_none(), "{v}");
    }

    #[test]
    fn detailed_results_add_texts_and_errors() {
        let r = report(|s| {
            s.schedule = Schedule::Open {
                rate: Some(2.5),
                arrival: Arrival::Gamma { shape: 0.5 },
                cap: None,
            };
            s.outputs.vllm_result = Some(VllmResultSettings {
                detailed: true,
                ..save_result()
            });
        });
        let v = serde_json::to_value(VllmDocument::of(&r)).unwrap();
        assert_eq!(v["request_rate"], 2.5);
        assert_eq!(v["burstiness"], 0.5);
        assert_eq!(v["max_concurrency"], serde_json::Value::Null);
        assert_eq!(v["generated_texts"][0], "reply 0");
        assert_eq!(v["generated_texts"][6], "");
        assert_eq!(v["errors"][0], "");
        assert_eq!(v["errors"][6], "http_500: internal server error");
    }

    fn stamp_of(r: &RunReport) -> String {
        let started = r.doc.started_at.as_deref().unwrap();
        chrono::DateTime::parse_from_rfc3339(started)
            .unwrap()
            .format("%Y%m%d-%H%M%S")
            .to_string()
    }

    #[test]
    fn a_ramp_up_is_recorded_and_named_as_vllm_does() {
        use crate::schedule::stages::{Profile, Ramp, RampStrategy, RateChange};
        let mut r = report(|s| {
            s.schedule = open(Some(8.0), None);
            s.outputs.vllm_result = Some(save_result());
        });
        r.doc.stages = Some(crate::doc::stages::StagesSection {
            profile: Profile::RampUp {
                ramp: Ramp {
                    strategy: RampStrategy::Exponential,
                    start_rps: 1.0,
                    end_rps: 8.5,
                },
                over_s: None,
            },
            stages: Vec::new(),
            rate_changes: vec![RateChange { rps: 1, t_s: 0.0 }, RateChange { rps: 2, t_s: 1.5 }],
            first_failures: Vec::new(),
        });
        let stamp = stamp_of(&r);
        assert_eq!(
            default_file_name(&r),
            format!("openai-chat-ramp-up-exponential-1qps-8.5qps-some-model-{stamp}.json")
        );
        let v = serde_json::to_value(VllmDocument::of(&r)).unwrap();
        assert_eq!(v["request_rate"], "inf", "vLLM's --request-rate stays inf");
        assert_eq!(v["ramp_up_strategy"], "exponential");
        assert_eq!(v["ramp_up_start_rps"], 1, "a whole rate is an integer");
        assert_eq!(v["ramp_up_end_rps"], 8.5);
        let events = v["rps_change_events"].as_array().unwrap();
        assert_eq!(events.len(), 2);
        assert_eq!(events[1]["rps"], 2);
        let start = r.doc.started().unwrap();
        let t1 =
            chrono::NaiveDateTime::parse_from_str(events[1]["timestamp"].as_str().unwrap(), "%Y-%m-%dT%H:%M:%S%.6f")
                .unwrap();
        // The timestamp keeps microseconds (the start may have more).
        let gap = (t1 - start.naive_local()).num_microseconds().unwrap();
        assert!((gap - 1_500_000).abs() <= 1, "{gap} µs");
        // Keys in vLLM's order: the ramp after max_concurrency.
        let text = serde_json::to_string(&VllmDocument::of(&r)).unwrap();
        let at = |k: &str| text.find(&format!("\"{k}\"")).unwrap();
        assert!(at("max_concurrency") < at("ramp_up_strategy") && at("ramp_up_end_rps") < at("duration"));
        // Without a ramp-up none of these keys is written.
        let plain = serde_json::to_value(VllmDocument::of(&report(|_| {}))).unwrap();
        assert!(plain.get("ramp_up_strategy").is_none() && plain.get("rps_change_events").is_none());
    }

    #[test]
    fn default_names_follow_vllm() {
        let r = report(|s| {
            s.schedule = closed(3);
            s.outputs.vllm_result = Some(save_result());
        });
        let stamp = stamp_of(&r);
        assert_eq!(
            default_file_name(&r),
            format!("openai-chat-infqps-concurrency3-some-model-{stamp}.json")
        );
        let r = report(|s| {
            s.schedule = open(Some(40.0), None);
            s.outputs.vllm_result = Some(VllmResultSettings {
                label: "vllm".into(),
                backend: "vllm".into(),
                ..save_result()
            });
        });
        let stamp = stamp_of(&r);
        assert_eq!(default_file_name(&r), format!("vllm-40.0qps-some-model-{stamp}.json"));
        let r = report(|s| {
            s.outputs.vllm_result = Some(VllmResultSettings {
                dir: Some("/tmp/x".into()),
                filename: Some("out.json".into()),
                ..save_result()
            });
        });
        assert_eq!(VllmExporter::for_report(&r).path, PathBuf::from("/tmp/x/out.json"));
        let r = report(|s| {
            s.outputs.vllm_result = Some(VllmResultSettings {
                label: "a/b".into(),
                ..save_result()
            });
        });
        assert!(!VllmExporter::for_report(&r).path.to_string_lossy().contains('/'));
    }
}
