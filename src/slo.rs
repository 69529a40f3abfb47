//! Service-level objectives: parsing `ttft_p90<500ms`-style expressions and
//! judging runs and requests against them.
//!
//! An expression is a metric, an optional statistic, a comparison and a
//! value with an optional unit. Latency metrics (`ttft`, `tpot`, `itl`,
//! `e2e`, `queue_delay`, `user_latency`) take a statistic (`mean`, `median`,
//! any percentile from `p0` to `p100` such as `p90`, `p42` or `p99.9`, `min`,
//! `max`, `stddev`) written after (`ttft_p90`) or before (`p90_ttft`) the
//! metric; a percentile is nearest rank over the run's histogram, as every
//! percentile inferload shows (`stats::quantile`); run metrics (`error_rate`, `success_rate`,
//! `request_throughput`, `output_throughput`, `total_token_throughput`,
//! `input_throughput`, `goodput`) take none.
//!
//! Two kinds of objective come out of this:
//! - run-level: a statistic or a rate, checked against the summary;
//! - per-request: a latency bound with no statistic (`e2e<2s`, and vLLM's
//!   `--goodput ttft:500`). A request is *good* when it succeeded and met
//!   every latency bound of the run's objectives — per-request bounds and the
//!   bounds of latency percentiles alike (a request over `ttft_p90<500ms`'s
//!   500 ms is not good). Goodput is good requests per second.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::record::RequestRecord;
use crate::stats::{LatencyStats, Percentile, Summary};

/// A malformed expression: names it and what is wrong.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("SLO `{expr}`: {problem}")]
pub struct SloError {
    pub expr: String,
    pub problem: String,
}

/// A per-request latency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Latency {
    Ttft,
    Tpot,
    Itl,
    E2e,
    QueueDelay,
    UserLatency,
}

impl Latency {
    fn name(self) -> &'static str {
        match self {
            Self::Ttft => "ttft",
            Self::Tpot => "tpot",
            Self::Itl => "itl",
            Self::E2e => "e2e",
            Self::QueueDelay => "queue_delay",
            Self::UserLatency => "user_latency",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "ttft" => Self::Ttft,
            "tpot" => Self::Tpot,
            "itl" => Self::Itl,
            "e2e" | "e2el" | "latency" => Self::E2e,
            "queue_delay" | "queue" => Self::QueueDelay,
            "user_latency" => Self::UserLatency,
            _ => return None,
        })
    }

    fn stats(self, s: &Summary) -> Option<&LatencyStats> {
        match self {
            Self::Ttft => s.ttft_ms.as_ref(),
            Self::Tpot => s.tpot_ms.as_ref(),
            Self::Itl => s.itl_ms.as_ref(),
            Self::E2e => s.e2e_ms.as_ref(),
            Self::QueueDelay => s.queue_delay_ms.as_ref(),
            Self::UserLatency => s.user_latency_ms.as_ref(),
        }
    }

    /// This latency of one request, for the per-request bounds. ITL is a
    /// per-gap figure: a request meets an ITL bound when its largest gap does.
    fn of(self, r: &RequestRecord) -> Option<Duration> {
        match self {
            Self::Ttft => r.ttft(),
            // vLLM counts TPOT as 0 for single-token requests when judging goodput.
            Self::Tpot => r.tpot().or_else(|| r.e2e().map(|_| Duration::ZERO)),
            Self::Itl => r.itls().max().or_else(|| r.e2e().map(|_| Duration::ZERO)),
            Self::E2e => r.e2e(),
            Self::QueueDelay => Some(r.queue_delay()),
            Self::UserLatency => r.user_latency(),
        }
    }
}

/// A statistic of a latency distribution. The named percentiles keep
/// their names in documents (`p90`); any other is `percentile`, its value
/// in [`Subject::LatencyStat`]'s `percentile`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stat {
    Mean,
    Median,
    P90,
    P95,
    P99,
    P999,
    /// Any other percentile (`p42`, `p99.99`).
    Percentile,
    Min,
    Max,
    Stddev,
}

impl Stat {
    /// The statistic a name gives, with its percentile for percentiles;
    /// `Err` for a `p…` that is no percentile, `Ok(None)` for no statistic.
    fn parse(s: &str) -> Result<Option<(Self, Option<Percentile>)>, String> {
        let named = |stat, p: f64| Ok(Some((stat, Percentile::new(p).ok())));
        match s {
            "mean" | "avg" => return Ok(Some((Self::Mean, None))),
            "median" | "p50" => return named(Self::Median, 50.0),
            "p90" => return named(Self::P90, 90.0),
            "p95" => return named(Self::P95, 95.0),
            "p99" => return named(Self::P99, 99.0),
            "p999" | "p99.9" => return named(Self::P999, 99.9),
            "min" => return Ok(Some((Self::Min, None))),
            "max" => return Ok(Some((Self::Max, None))),
            "std" | "stddev" => return Ok(Some((Self::Stddev, None))),
            _ => {}
        }
        let Some(number) = s
            .strip_prefix('p')
            .filter(|n| n.starts_with(|c: char| c.is_ascii_digit()))
        else {
            return Ok(None);
        };
        let p = Percentile::parse(number).map_err(|e| format!("{e} (write e.g. p42 or p99.9)"))?;
        Ok(Some((Self::Percentile, Some(p))))
    }

    fn name(self, p: Option<Percentile>) -> String {
        match (self, p) {
            (Self::Mean, _) => "mean".into(),
            (Self::Median, _) => "p50".into(),
            (Self::P90, _) => "p90".into(),
            (Self::P95, _) => "p95".into(),
            (Self::P99, _) => "p99".into(),
            (Self::P999, _) => "p99.9".into(),
            (Self::Percentile, Some(p)) => format!("p{}", p.word()),
            (Self::Percentile, None) => "percentile".into(),
            (Self::Min, _) => "min".into(),
            (Self::Max, _) => "max".into(),
            (Self::Stddev, _) => "stddev".into(),
        }
    }

    /// The statistic of a distribution; `None` for a percentile the
    /// summary was not asked to compute.
    fn of(self, p: Option<Percentile>, s: &LatencyStats) -> Option<f64> {
        Some(match self {
            Self::Mean => s.mean,
            Self::Median => s.p50,
            Self::P90 => s.p90,
            Self::P95 => s.p95,
            Self::P99 => s.p99,
            Self::P999 => s.p999,
            Self::Percentile => return s.percentile(p?),
            Self::Min => s.min,
            Self::Max => s.max,
            Self::Stddev => s.stddev,
        })
    }
}

/// A run-level rate or ratio.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunMetric {
    ErrorRate,
    SuccessRate,
    RequestThroughput,
    OutputThroughput,
    TotalTokenThroughput,
    InputThroughput,
    Goodput,
}

impl RunMetric {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "error_rate" => Self::ErrorRate,
            "success_rate" => Self::SuccessRate,
            "request_throughput" | "rps" | "throughput" => Self::RequestThroughput,
            "output_throughput" | "output_token_throughput" => Self::OutputThroughput,
            "total_token_throughput" | "total_throughput" => Self::TotalTokenThroughput,
            "input_throughput" => Self::InputThroughput,
            "goodput" | "request_goodput" => Self::Goodput,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::ErrorRate => "error_rate",
            Self::SuccessRate => "success_rate",
            Self::RequestThroughput => "request_throughput",
            Self::OutputThroughput => "output_throughput",
            Self::TotalTokenThroughput => "total_token_throughput",
            Self::InputThroughput => "input_throughput",
            Self::Goodput => "goodput",
        }
    }

    fn is_ratio(self) -> bool {
        matches!(self, Self::ErrorRate | Self::SuccessRate)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cmp {
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
}

impl Cmp {
    fn holds(self, measured: f64, bound: f64) -> bool {
        match self {
            Self::Lt => measured < bound,
            Self::Le => measured <= bound,
            Self::Gt => measured > bound,
            Self::Ge => measured >= bound,
        }
    }

    fn symbol(self) -> &'static str {
        match self {
            Self::Lt => "<",
            Self::Le => "<=",
            Self::Gt => ">",
            Self::Ge => ">=",
        }
    }
}

/// What an objective is about.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Subject {
    /// A statistic of a latency over the run (`ttft_p90`); a percentile
    /// statistic carries its value, 0 to 100 (`ttft_p42`: 42).
    LatencyStat {
        latency: Latency,
        stat: Stat,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        percentile: Option<Percentile>,
    },
    /// A bound every request must meet to count as good (`e2e<2s`).
    PerRequest { latency: Latency },
    /// A run-level rate or ratio.
    Run { metric: RunMetric },
}

/// One objective. `value` is in milliseconds for latencies, a fraction for
/// ratios, per second for rates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Slo {
    /// The expression as the user wrote it.
    pub expr: String,
    #[serde(flatten)]
    pub subject: Subject,
    pub cmp: Cmp,
    pub value: f64,
}

impl fmt::Display for Slo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.expr)
    }
}

/// One objective judged against a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SloResult {
    pub slo: Slo,
    /// The measured value, in the objective's unit; `None` when the run has
    /// no such figure (e.g. TTFT without streaming), which fails it.
    pub measured: Option<f64>,
    pub passed: bool,
}

impl SloResult {
    /// The measured value formatted in the objective's unit.
    pub fn measured_text(&self) -> String {
        match (self.measured, self.slo.subject) {
            (None, _) => "n/a".into(),
            (Some(v), Subject::Run { metric }) if metric.is_ratio() => format!("{:.2}%", v * 100.0),
            (Some(v), Subject::Run { .. }) => format!("{v:.2}/s"),
            (Some(v), Subject::PerRequest { .. }) => format!("{:.2}% of requests", v * 100.0),
            (Some(v), Subject::LatencyStat { .. }) => format!("{v:.2} ms"),
        }
    }
}

/// Parses one expression (`ttft_p90<500ms`, `error_rate<1%`, `request_throughput>=10`).
pub fn parse(expr: &str) -> Result<Slo, SloError> {
    let err = |problem: &str| SloError {
        expr: expr.to_string(),
        problem: problem.to_string(),
    };
    let e = expr.trim();
    let pos = e
        .find(['<', '>', '='])
        .ok_or_else(|| err("no comparison: write e.g. `ttft_p90<500ms` (one of <, <=, >, >=)"))?;
    let (lhs, rest) = e.split_at(pos);
    let (cmp, value) = if let Some(v) = rest.strip_prefix("<=") {
        (Cmp::Le, v)
    } else if let Some(v) = rest.strip_prefix(">=") {
        (Cmp::Ge, v)
    } else if let Some(v) = rest.strip_prefix('<') {
        (Cmp::Lt, v)
    } else if let Some(v) = rest.strip_prefix('>') {
        (Cmp::Gt, v)
    } else {
        return Err(err("`=` alone is no comparison: use <, <=, > or >="));
    };
    let lhs = lhs.trim().to_ascii_lowercase();
    let value = value.trim();
    if lhs.is_empty() {
        return Err(err("no metric before the comparison"));
    }
    if value.is_empty() {
        return Err(err("no value after the comparison"));
    }
    let subject = parse_subject(&lhs).map_err(|p| err(&p))?.ok_or_else(|| {
        err(&format!(
            "unknown metric `{lhs}`: use a latency (ttft, tpot, itl, e2e, queue_delay, user_latency) with an optional statistic (mean, median, any percentile p0 to p100 such as p90 or p99.9, min, max), or error_rate, success_rate, request_throughput, output_throughput, total_token_throughput, goodput"
        ))
    })?;
    let value = match subject {
        Subject::LatencyStat { .. } | Subject::PerRequest { .. } => parse_latency_value(value).map_err(|p| err(&p))?,
        Subject::Run { metric } if metric.is_ratio() => parse_ratio_value(value).map_err(|p| err(&p))?,
        Subject::Run { .. } => parse_rate_value(value).map_err(|p| err(&p))?,
    };
    Ok(Slo {
        expr: e.to_string(),
        subject,
        cmp,
        value,
    })
}

/// The subject an expression's left side names; `Ok(None)` for none,
/// `Err` for a latency with a percentile that is none (`ttft_p101`).
fn parse_subject(lhs: &str) -> Result<Option<Subject>, String> {
    if let Some(metric) = RunMetric::parse(lhs) {
        return Ok(Some(Subject::Run { metric }));
    }
    if let Some(latency) = Latency::parse(lhs) {
        return Ok(Some(Subject::PerRequest { latency }));
    }
    // `ttft_p90` or `p90_ttft`; the metric itself may contain `_`.
    for (i, _) in lhs.match_indices('_') {
        let (a, b) = (&lhs[..i], &lhs[i + 1..]);
        let found = match (Latency::parse(a), Latency::parse(b)) {
            (Some(latency), _) => Stat::parse(b)?.map(|s| (latency, s)),
            (None, Some(latency)) => Stat::parse(a)?.map(|s| (latency, s)),
            (None, None) => None,
        };
        if let Some((latency, (stat, percentile))) = found {
            return Ok(Some(Subject::LatencyStat {
                latency,
                stat,
                percentile,
            }));
        }
    }
    Ok(None)
}

/// A latency in milliseconds: `500ms`, `1.5s`, `2m`, `250us`; a bare number is ms.
fn parse_latency_value(v: &str) -> Result<f64, String> {
    let split = v.find(|c: char| c.is_ascii_alphabetic() || c == 'µ').unwrap_or(v.len());
    let (num, unit) = v.split_at(split);
    let n: f64 = num
        .trim()
        .parse()
        .map_err(|_| format!("`{v}` is not a duration (e.g. 500ms, 1.5s)"))?;
    let ms = match unit.trim() {
        "" | "ms" => n,
        "s" => n * 1e3,
        "m" | "min" => n * 60e3,
        "us" | "µs" => n / 1e3,
        u => return Err(format!("unknown unit `{u}` (use us, ms, s or m)")),
    };
    if !(ms.is_finite() && ms >= 0.0) {
        return Err(format!("`{v}` must be a duration of zero or more"));
    }
    Ok(ms)
}

/// A ratio as a fraction: `1%` or `0.01`.
fn parse_ratio_value(v: &str) -> Result<f64, String> {
    let f = match v.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|x| x / 100.0),
        None => v.parse::<f64>(),
    }
    .map_err(|_| format!("`{v}` is not a ratio (e.g. 1% or 0.01)"))?;
    if !(0.0..=1.0).contains(&f) {
        return Err(format!("`{v}` must be between 0% and 100%"));
    }
    Ok(f)
}

/// A rate per second: `10`, `10/s`, `1000tok/s`.
fn parse_rate_value(v: &str) -> Result<f64, String> {
    let num = v
        .trim_end_matches("/s")
        .trim_end_matches("req")
        .trim_end_matches("tok")
        .trim_end_matches("rps")
        .trim();
    match num.parse::<f64>() {
        Ok(n) if n.is_finite() && n >= 0.0 => Ok(n),
        _ => Err(format!("`{v}` is not a rate (e.g. 10 or 1000)")),
    }
}

/// Parses vLLM's `--goodput KEY:VALUE` (`ttft:500`, `tpot:50`, `e2el:2000`;
/// milliseconds) as a per-request bound.
pub fn parse_goodput(item: &str) -> Result<Slo, SloError> {
    let err = |problem: &str| SloError {
        expr: item.to_string(),
        problem: problem.to_string(),
    };
    let (k, v) = item
        .split_once(':')
        .ok_or_else(|| err("--goodput takes KEY:VALUE in milliseconds, e.g. ttft:500"))?;
    let latency = match k.trim() {
        "ttft" => Latency::Ttft,
        "tpot" => Latency::Tpot,
        "e2el" => Latency::E2e,
        other => {
            return Err(err(&format!(
                "unknown --goodput key `{other}` (use ttft, tpot or e2el)"
            )))
        }
    };
    let value: f64 = v
        .trim()
        .parse()
        .ok()
        .filter(|x: &f64| x.is_finite() && *x >= 0.0)
        .ok_or_else(|| err("the value must be milliseconds, e.g. 500"))?;
    Ok(Slo {
        expr: format!("{}<={}ms", latency.name(), v.trim()),
        subject: Subject::PerRequest { latency },
        cmp: Cmp::Le,
        value,
    })
}

/// Parses every `--slo` value (each may hold several, comma-separated).
pub fn parse_all(values: &[String]) -> Result<Vec<Slo>, SloError> {
    values
        .iter()
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(parse)
        .collect()
}

/// The per-request latency bounds implied by a set of objectives.
#[derive(Debug, Clone, Default)]
pub struct RequestBounds {
    bounds: Vec<(Latency, Cmp, f64)>,
}

impl RequestBounds {
    pub fn new(slos: &[Slo]) -> Self {
        let bounds = slos
            .iter()
            .filter_map(|s| match s.subject {
                Subject::PerRequest { latency } | Subject::LatencyStat { latency, .. }
                    if matches!(s.cmp, Cmp::Lt | Cmp::Le) =>
                {
                    Some((latency, s.cmp, s.value))
                }
                _ => None,
            })
            .collect();
        Self { bounds }
    }

    pub fn is_empty(&self) -> bool {
        self.bounds.is_empty()
    }

    /// A successful request that meets every bound.
    pub fn is_good(&self, r: &RequestRecord) -> bool {
        r.succeeded()
            && self
                .bounds
                .iter()
                .all(|&(latency, cmp, bound)| latency.of(r).is_some_and(|d| cmp.holds(d.as_secs_f64() * 1e3, bound)))
    }
}

/// Goodput figures of a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Goodput {
    pub good_requests: u64,
    /// Good requests per second of the run's duration.
    pub goodput: f64,
    /// Good requests over all requests (successful and failed).
    pub good_share: f64,
}

impl Goodput {
    /// `good` requests of `requests` over `duration_s` seconds (0 per
    /// second and 0 share when there is no time or no request).
    pub fn of(good: u64, requests: u64, duration_s: f64) -> Self {
        Self {
            good_requests: good,
            goodput: if duration_s > 0.0 {
                good as f64 / duration_s
            } else {
                0.0
            },
            good_share: if requests > 0 {
                good as f64 / requests as f64
            } else {
                0.0
            },
        }
    }
}

/// Judges every objective against a run's summary and goodput.
pub fn evaluate(slos: &[Slo], summary: &Summary, goodput: Option<Goodput>) -> Vec<SloResult> {
    slos.iter()
        .map(|slo| {
            let measured = match slo.subject {
                Subject::LatencyStat {
                    latency,
                    stat,
                    percentile,
                } => latency.stats(summary).and_then(|s| stat.of(percentile, s)),
                Subject::PerRequest { .. } => goodput.map(|g| g.good_share),
                Subject::Run { metric } => Some(match metric {
                    RunMetric::ErrorRate => {
                        if summary.requests_total == 0 {
                            0.0
                        } else {
                            1.0 - summary.success_rate
                        }
                    }
                    RunMetric::SuccessRate => summary.success_rate,
                    RunMetric::RequestThroughput => summary.request_throughput,
                    RunMetric::OutputThroughput => summary.output_throughput,
                    RunMetric::TotalTokenThroughput => summary.total_token_throughput,
                    RunMetric::InputThroughput => summary.input_throughput,
                    RunMetric::Goodput => goodput.map(|g| g.goodput).unwrap_or(summary.request_throughput),
                }),
            };
            let passed = match (slo.subject, measured) {
                (_, None) => false,
                // A per-request bound holds for the run when every request met it.
                (Subject::PerRequest { .. }, Some(share)) => share >= 1.0 - 1e-12,
                (_, Some(m)) => slo.cmp.holds(m, slo.value),
            };
            SloResult {
                slo: slo.clone(),
                measured,
                passed,
            }
        })
        .collect()
}

/// Short name of an objective's subject (`ttft_p90`, `goodput`).
pub fn subject_name(s: &Subject) -> String {
    match s {
        Subject::LatencyStat {
            latency,
            stat,
            percentile,
        } => format!("{}_{}", latency.name(), stat.name(*percentile)),
        Subject::PerRequest { latency } => latency.name().to_string(),
        Subject::Run { metric } => metric.name().to_string(),
    }
}

/// The percentiles the objectives name (`ttft_p42` names 42): a summary
/// judged against them must compute these.
pub fn percentiles(slos: &[Slo]) -> Vec<Percentile> {
    slos.iter()
        .filter_map(|s| match s.subject {
            Subject::LatencyStat { percentile, .. } => percentile,
            _ => None,
        })
        .collect()
}

/// The comparison symbol of an objective.
pub fn cmp_symbol(s: &Slo) -> &'static str {
    s.cmp.symbol()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_form_in_the_docs() {
        let s = parse("ttft_p90<500ms").unwrap();
        assert_eq!(
            s.subject,
            Subject::LatencyStat {
                latency: Latency::Ttft,
                stat: Stat::P90,
                percentile: Percentile::new(90.0).ok(),
            }
        );
        assert_eq!((s.cmp, s.value), (Cmp::Lt, 500.0));
        assert_eq!(parse("e2e_p99<1.5s").unwrap().value, 1500.0);
        assert_eq!(
            parse("p99_e2e<1.5s").unwrap().subject,
            parse("e2e_p99<1.5s").unwrap().subject
        );
        assert_eq!(parse("tpot_mean<=50ms").unwrap().cmp, Cmp::Le);
        assert_eq!(parse("error_rate<1%").unwrap().value, 0.01);
        assert_eq!(parse("success_rate>=99%").unwrap().value, 0.99);
        assert_eq!(parse("request_throughput>=10").unwrap().value, 10.0);
        assert_eq!(parse("output_throughput >= 1000").unwrap().cmp, Cmp::Ge);
        assert_eq!(
            parse("queue_delay_p99.9<20ms").unwrap().subject,
            Subject::LatencyStat {
                latency: Latency::QueueDelay,
                stat: Stat::P999,
                percentile: Percentile::new(99.9).ok(),
            }
        );
        assert_eq!(
            parse("e2e<2s").unwrap().subject,
            Subject::PerRequest { latency: Latency::E2e }
        );
    }

    #[test]
    fn any_percentile_is_an_objective() {
        let p = |v: f64| Percentile::new(v).ok();
        let s = parse("ttft_p42<1s").unwrap();
        assert_eq!(
            s.subject,
            Subject::LatencyStat {
                latency: Latency::Ttft,
                stat: Stat::Percentile,
                percentile: p(42.0),
            }
        );
        assert_eq!(s.value, 1000.0);
        assert_eq!(subject_name(&s.subject), "ttft_p42");
        let s = parse("itl_p99.99<50ms").unwrap();
        assert_eq!(subject_name(&s.subject), "itl_p99.99");
        assert_eq!(
            parse("p0.5_e2e<1s").unwrap().subject,
            parse("e2e_p0.5<1s").unwrap().subject
        );
        assert_eq!(subject_name(&parse("e2e_p100<9s").unwrap().subject), "e2e_p100");
        // The document says which percentile, in numbers.
        let json = serde_json::to_value(parse("ttft_p42<1s").unwrap()).unwrap();
        assert_eq!(json["stat"], "percentile");
        assert_eq!(json["percentile"], 42.0);
        assert_eq!(
            serde_json::to_value(parse("ttft_p90<1s").unwrap()).unwrap()["percentile"],
            90.0
        );
        // Documents written before percentiles were carried still read.
        let old: Slo = serde_json::from_str(
            r#"{"expr":"ttft_p90<1s","kind":"latency_stat","latency":"ttft","stat":"p90","cmp":"<","value":1000.0}"#,
        )
        .unwrap();
        assert!(matches!(
            old.subject,
            Subject::LatencyStat {
                stat: Stat::P90,
                percentile: None,
                ..
            }
        ));
    }

    #[test]
    fn percentiles_outside_the_range_are_refused() {
        let e = parse("ttft_p101<1s").unwrap_err();
        assert_eq!(
            e.to_string(),
            "SLO `ttft_p101<1s`: percentile `101` is outside 0..100 (write e.g. p42 or p99.9)"
        );
        assert!(parse("p100.5_itl<1s").unwrap_err().problem.contains("outside 0..100"));
        assert!(parse("ttft_pxx<1s").unwrap_err().problem.contains("unknown metric"));
    }

    #[test]
    fn arbitrary_percentiles_are_judged_from_the_summary() {
        let mut summary = summary();
        let stats = summary.ttft_ms.as_mut().unwrap();
        stats.percentiles.insert("p42".into(), 300.0);
        let r = evaluate(
            &parse_all(&["ttft_p42<250ms,ttft_p42<350ms,ttft_p43<1s".into()]).unwrap(),
            &summary,
            None,
        );
        assert!(!r[0].passed && r[0].measured == Some(300.0));
        assert!(r[1].passed);
        assert!(!r[2].passed && r[2].measured.is_none(), "not computed: n/a fails");
    }

    #[test]
    fn malformed_expressions_say_what_is_wrong() {
        let e = parse("ttft_p90 500ms").unwrap_err();
        assert!(e.to_string().contains("`ttft_p90 500ms`") && e.problem.contains("no comparison"));
        assert!(parse("tfft_p90<5ms")
            .unwrap_err()
            .problem
            .contains("unknown metric `tfft_p90`"));
        assert!(parse("ttft_p90<5parsecs").unwrap_err().problem.contains("unknown unit"));
        assert!(parse("error_rate<150%").unwrap_err().problem.contains("between"));
        assert!(parse("ttft=5ms").unwrap_err().problem.contains("`=` alone"));
        assert!(parse("ttft<").unwrap_err().problem.contains("no value"));
        assert_eq!(parse_all(&["ttft_p90<1s, e2e_p99<2s".into()]).unwrap().len(), 2);
    }

    #[test]
    fn vllm_goodput_items() {
        let s = parse_goodput("ttft:500").unwrap();
        assert_eq!(s.subject, Subject::PerRequest { latency: Latency::Ttft });
        assert_eq!(s.value, 500.0);
        assert!(parse_goodput("e2el:2000").is_ok());
        assert!(parse_goodput("ttft=5").is_err());
        assert!(parse_goodput("itl:5").is_err());
    }

    fn summary() -> Summary {
        Summary {
            requests_total: 100,
            successful: 98,
            failed: 2,
            success_rate: 0.98,
            request_throughput: 12.0,
            ttft_ms: Some(LatencyStats {
                count: 98,
                p90: 420.0,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn run_level_objectives_against_a_summary() {
        let slos = parse_all(&["ttft_p90<500ms,error_rate<1%,request_throughput>=10,tpot_p99<50ms".into()]).unwrap();
        let r = evaluate(&slos, &summary(), None);
        assert!(r[0].passed, "p90 420 < 500");
        assert!(!r[1].passed, "2% errors is not < 1%");
        assert!((r[1].measured.unwrap() - 0.02).abs() < 1e-12);
        assert!(r[2].passed);
        assert!(
            !r[3].passed && r[3].measured.is_none(),
            "no TPOT figure fails the objective"
        );
        assert_eq!(r[1].measured_text(), "2.00%");
    }

    #[test]
    fn requests_are_good_when_every_bound_holds() {
        let ms = Duration::from_millis;
        let rec = |ttft: u64, e2e: u64| RequestRecord {
            sent_at: ms(0),
            token_times: vec![ms(ttft), ms(e2e)],
            finished_at: Some(ms(e2e)),
            output_tokens: 2,
            streamed: true,
            ..Default::default()
        };
        let bounds =
            RequestBounds::new(&parse_all(&["ttft_p90<100ms,e2e<=300ms,request_throughput>=1".into()]).unwrap());
        assert!(bounds.is_good(&rec(50, 300)));
        assert!(!bounds.is_good(&rec(150, 200)));
        assert!(!bounds.is_good(&rec(50, 301)));
    }
}
