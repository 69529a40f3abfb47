//! Capacity search: a sweep runs a ladder of load levels against one target
//! and answers "how many concurrent users, and how many requests per second,
//! can this deployment serve?".
//!
//! Modes:
//! - concurrency ladder (closed loop): stop at the first level that trips a
//!   stop rule ([`rules`]); the level before it is the **maximum stable
//!   concurrency**, and `--headroom` of it the recommended production setting;
//! - rate ladder (open loop): each level's achieved rate against its target;
//!   the first level under 95 % of target, or tripping a rule, ends it;
//! - `--find-concurrency`: for one target rate, the smallest concurrency cap
//!   that reaches 95 % of it (doubling, then bisection);
//! - `--max-rate-under-slo`: the highest rate that meets every objective,
//!   found by doubling then bisection to `--precision`, in at most
//!   `--max-runs` runs.
//!
//! Every level is one [`runner::Session::measure`] on a shared session, so
//! preflight and connections are paid once. The JSON output is rewritten
//! after every level, so an interrupted sweep keeps the levels it finished.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde::Serialize;

use crate::engine::Signals;
use crate::export::records::RecordsWriter;
use crate::plan::Stop;
use crate::runner::{self, Level, Measurement, Session, Sinks};
use crate::schedule::ScheduleSpec;
use crate::slo::{self, Goodput, SloResult};
use crate::stats::Summary;
use crate::workload::Workload;

pub mod ladder;
pub mod plan;
pub mod rules;

pub use plan::{Mode, SweepOptions, SweepPlan};
use rules::Trip;

/// The share of the target rate a level must achieve to count as sustained.
pub const RATE_ATTAINMENT: f64 = 0.95;

/// One level's load.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Load {
    Concurrency(usize),
    Rate { rate: f64, cap: Option<usize> },
}

impl Load {
    fn label(&self) -> String {
        match self {
            Load::Concurrency(c) => format!("concurrency {c}"),
            Load::Rate { rate, cap: None } => format!("rate {} req/s", fmt_rate(*rate)),
            Load::Rate { rate, cap: Some(c) } => format!("rate {} req/s, cap {c}", fmt_rate(*rate)),
        }
    }
}

fn fmt_rate(r: f64) -> String {
    let s = format!("{r:.3}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// One measured level.
#[derive(Debug, Clone, Serialize)]
pub struct LevelResult {
    /// Closed-loop concurrency, or the cap of a rate level.
    pub concurrency: Option<usize>,
    /// Target rate of an open-loop level.
    pub rate: Option<f64>,
    /// Completions per second between the first and the last completion:
    /// the rate the server sustained (open-loop levels).
    pub achieved_rate: Option<f64>,
    pub requests: u64,
    pub success_rate: f64,
    pub request_throughput: f64,
    pub output_throughput: f64,
    /// Requests per second per unit of concurrency.
    pub efficiency: f64,
    pub goodput: Option<Goodput>,
    pub slos: Vec<SloResult>,
    /// The rule this level tripped, if any.
    pub trip: Option<Trip>,
    pub summary: Summary,
    /// Resource use during the level (GPU, KV cache, queue, CPU), when monitored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub monitor: Option<crate::monitor::MonitorSummary>,
    /// Whether the load generator kept up during the level.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trust: Option<crate::monitor::TrustVerdict>,
}

/// The answer.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Verdict {
    pub max_stable_concurrency: Option<usize>,
    pub recommended_concurrency: Option<usize>,
    pub max_stable_rate: Option<f64>,
    pub recommended_rate: Option<f64>,
    /// Smallest cap reaching the target rate (`--find-concurrency`).
    pub required_concurrency: Option<usize>,
    /// Highest rate meeting every objective (`--max-rate-under-slo`).
    pub max_rate_under_slo: Option<f64>,
    /// Request and token throughput at the maximum stable level.
    pub request_throughput: Option<f64>,
    pub output_throughput: Option<f64>,
    /// The rule that ended the sweep, and at which level.
    pub stopped_by: Option<Trip>,
    pub stopped_at: Option<String>,
    /// One sentence saying why the sweep ended where it did.
    pub reason: String,
}

/// The whole sweep, as written to `--json`.
#[derive(Debug, Serialize)]
struct SweepOutput<'a> {
    schema_version: u32,
    kind: &'static str,
    tool: serde_json::Value,
    started_at: String,
    interrupted: bool,
    target: serde_json::Value,
    settings: &'a SweepPlan,
    levels: &'a [LevelResult],
    verdict: Option<&'a Verdict>,
}

struct Sweep<'a> {
    plan: &'a SweepPlan,
    session: Session,
    signals: Signals,
    levels: Vec<LevelResult>,
    started_at: chrono::DateTime<chrono::Local>,
    interrupted: bool,
}

/// `inferload sweep`. Returns the exit status: 0 with a verdict, 3 when no
/// level met the objectives, 130 when interrupted.
pub async fn run(plan: &SweepPlan) -> anyhow::Result<crate::app::Exit> {
    let plan = plan.clone();
    let workload = Arc::new(crate::scenario::load_workload(&plan.base)?);
    if let Some(dir) = &plan.records_dir {
        std::fs::create_dir_all(dir).with_context(|| format!("--records {}", dir.display()))?;
    }
    let (base_url, sim) = runner::resolve_target(&plan.base).await?;
    let result = run_on(&plan, workload, &base_url, sim.is_some()).await;
    if let Some(h) = sim {
        h.shutdown().await;
    }
    result
}

async fn run_on(
    plan: &SweepPlan,
    workload: Arc<Workload>,
    base_url: &str,
    embedded: bool,
) -> anyhow::Result<crate::app::Exit> {
    let pool = match &plan.mode {
        Mode::Concurrency { levels } => levels.iter().copied().max().unwrap_or(1),
        Mode::Rate { cap, .. } | Mode::MaxRateUnderSlo { cap, .. } => cap.unwrap_or(256),
        Mode::FindConcurrency { max_concurrency, .. } => *max_concurrency,
    };
    let session = Session::connect(&plan.base, workload, base_url, embedded, pool).await?;
    println!(
        "Sweep: {}{}, model {}, {}",
        base_url,
        plan.base.target.endpoint,
        session.model,
        describe_mode(&plan.mode)
    );
    let signals = Signals::default();
    let ctrl_c = tokio::spawn(runner::watch_ctrl_c(signals.clone(), plan.base.grace));
    let mut sweep = Sweep {
        plan,
        session,
        signals,
        levels: Vec::new(),
        started_at: chrono::Local::now(),
        interrupted: false,
    };
    let verdict = match &plan.mode {
        Mode::Concurrency { levels } => {
            let loads: Vec<Load> = levels.iter().map(|&c| Load::Concurrency(c)).collect();
            sweep.ladder(&loads).await?
        }
        Mode::Rate { rates, cap } => {
            let loads: Vec<Load> = rates.iter().map(|&rate| Load::Rate { rate, cap: *cap }).collect();
            sweep.ladder(&loads).await?
        }
        Mode::FindConcurrency { rate, max_concurrency } => sweep.find_concurrency(*rate, *max_concurrency).await?,
        Mode::MaxRateUnderSlo { start, cap, precision } => sweep.max_rate(*start, *cap, *precision).await?,
    };
    ctrl_c.abort();
    sweep.write_json(Some(&verdict))?;
    print!("{}", level_table(&sweep.levels));
    print!("{}", verdict_block(&verdict));
    if let Some(path) = &plan.json {
        println!("Results written to {}", path.display());
    }
    let outputs = &plan.base.outputs;
    let document = serde_json::to_value(sweep.document(Some(&verdict)))?;
    let reports = crate::report::write_sweep_reports(&outputs.reports, &document);
    if let Some(db) = &outputs.history {
        // The history is a convenience: failing to record never fails the sweep.
        match crate::history::record_sweep(db, &document) {
            Ok(id) => println!("Recorded as run {id} in {}", db.display()),
            Err(e) => eprintln!("warning: not recorded in the history: {e:#}"),
        }
    }
    for path in reports? {
        println!("Report written to {}", path.display());
    }
    Ok(if sweep.interrupted {
        crate::app::Exit::Interrupted
    } else if !plan.base.slos.is_empty() && !sweep.levels.iter().any(|l| l.slos.iter().all(|r| r.passed)) {
        crate::app::Exit::SloFailed
    } else {
        crate::app::Exit::Success
    })
}

fn describe_mode(mode: &Mode) -> String {
    match mode {
        Mode::Concurrency { levels } => format!(
            "concurrency ladder {}",
            levels.iter().map(ToString::to_string).collect::<Vec<_>>().join(",")
        ),
        Mode::Rate { rates, cap } => format!(
            "rate ladder {} req/s{}",
            rates.iter().map(|r| fmt_rate(*r)).collect::<Vec<_>>().join(","),
            cap.map(|c| format!(", concurrency cap {c}")).unwrap_or_default()
        ),
        Mode::FindConcurrency { rate, .. } => {
            format!("finding the concurrency needed for {} req/s", fmt_rate(*rate))
        }
        Mode::MaxRateUnderSlo { start, precision, .. } => format!(
            "searching the highest rate under the objectives from {} req/s, to ±{:.0}%",
            fmt_rate(*start),
            precision * 100.0
        ),
    }
}

impl Sweep<'_> {
    /// Measures one level and judges it; prints a line; rewrites the JSON.
    async fn level(&mut self, load: Load, previous_throughput: Option<f64>) -> anyhow::Result<LevelResult> {
        let plan = self.plan;
        let (schedule, default_requests, default_warmup) = match load {
            Load::Concurrency(c) => (
                ScheduleSpec::Closed { concurrency: c },
                (10 * c as u64).max(20),
                c as u64,
            ),
            Load::Rate { rate, cap } => (
                ScheduleSpec::Open {
                    rate,
                    arrival: plan.arrival,
                    cap,
                },
                ((10.0 * rate).ceil() as u64).max(20),
                rate.ceil() as u64,
            ),
        };
        let requests = match (plan.requests_per_level, plan.duration_per_level) {
            (Some(n), _) => Some(n),
            (None, Some(_)) => None,
            (None, None) => Some(default_requests),
        };
        let n = self.levels.len() + 1;
        let level = Level {
            schedule,
            stop: Stop {
                requests,
                duration: plan.duration_per_level,
            },
            warmup: plan.warmup_per_level.unwrap_or(default_warmup),
            seed: plan.base.seed.wrapping_add(n as u64),
        };
        let records = match &plan.records_dir {
            Some(dir) => {
                let name = match load {
                    Load::Concurrency(c) => format!("level-{n:02}-concurrency-{c}.jsonl"),
                    Load::Rate { rate, .. } => format!("level-{n:02}-rate-{}.jsonl", fmt_rate(rate)),
                };
                Some(RecordsWriter::create(&dir.join(name))?)
            }
            None => None,
        };
        let sinks = Sinks {
            records,
            show_samples: 0,
            capture_all_text: false,
            keep_records: matches!(load, Load::Rate { .. }),
            quiet: plan.quiet,
            bounds: plan.base.request_bounds(),
        };
        println!("Level {n}: {} ...", load.label());
        let m = self.session.measure(&level, sinks, &self.signals).await?;
        if m.interrupted {
            self.interrupted = true;
        }
        let result = judge(plan, load, m, previous_throughput);
        println!("  {}", level_line(&result));
        if let Some(t) = result.trust.as_ref().filter(|t| !t.is_ok()) {
            println!("  {}", t.line);
        }
        self.levels.push(result.clone());
        self.write_json(None)?;
        Ok(result)
    }

    /// Runs levels in order until one trips a rule.
    async fn ladder(&mut self, loads: &[Load]) -> anyhow::Result<Verdict> {
        let mut previous: Option<f64> = None;
        let mut last_good: Option<(Load, LevelResult)> = None;
        for &load in loads {
            let r = self.level(load, previous).await?;
            if self.interrupted {
                let mut v = self.ladder_verdict(last_good, None);
                v.reason = format!("The sweep was interrupted during {}; {}", load.label(), v.reason);
                return Ok(v);
            }
            if let Some(trip) = r.trip.clone() {
                return Ok(self.ladder_verdict(last_good, Some((load, trip))));
            }
            // The gain rule compares concurrency levels; a rate level is
            // judged against its own target instead.
            if matches!(load, Load::Concurrency(_)) {
                previous = Some(r.request_throughput);
            }
            last_good = Some((load, r));
        }
        Ok(self.ladder_verdict(last_good, None))
    }

    fn ladder_verdict(&self, good: Option<(Load, LevelResult)>, tripped: Option<(Load, Trip)>) -> Verdict {
        let headroom = self.plan.headroom;
        let mut v = Verdict::default();
        if let Some((load, r)) = &good {
            v.request_throughput = Some(r.request_throughput);
            v.output_throughput = Some(r.output_throughput);
            match *load {
                Load::Concurrency(c) => {
                    v.max_stable_concurrency = Some(c);
                    v.recommended_concurrency = Some(((c as f64 * headroom).floor() as usize).max(1));
                }
                Load::Rate { rate, .. } => {
                    v.max_stable_rate = Some(rate);
                    v.recommended_rate = Some(rate * headroom);
                }
            }
        }
        let good_label = good.as_ref().map(|(l, _)| l.label());
        v.reason = match (&tripped, good_label) {
            (Some((load, trip)), Some(g)) => format!(
                "Stopped at {}: {}. The last level that passed every rule was {g}.",
                load.label(),
                trip.detail
            ),
            (Some((load, trip)), None) => format!(
                "The first level, {}, already failed: {}. Try lower levels.",
                load.label(),
                trip.detail
            ),
            (None, Some(g)) => format!(
                "Every level passed; the limit lies above the highest level tried ({g}). Extend the ladder to find it."
            ),
            (None, None) => "No level was measured.".into(),
        };
        if let Some((load, trip)) = tripped {
            v.stopped_at = Some(load.label());
            v.stopped_by = Some(trip);
        }
        v
    }

    /// The smallest cap that reaches 95 % of `rate`: doubling, then bisection.
    async fn find_concurrency(&mut self, rate: f64, max: usize) -> anyhow::Result<Verdict> {
        let mut runs = 0u32;
        let mut fail: usize = 0;
        let mut pass: Option<(usize, LevelResult)> = None;
        let mut c = 1usize;
        while pass.is_none() && runs < self.plan.max_runs && !self.interrupted {
            let r = self.level(Load::Rate { rate, cap: Some(c) }, None).await?;
            runs += 1;
            if reaches(&r, rate) {
                pass = Some((c, r));
            } else {
                fail = c;
                if c >= max {
                    break;
                }
                c = (c * 2).min(max);
            }
        }
        while let Some((p, _)) = &pass {
            let p = *p;
            if p - fail <= 1 || runs >= self.plan.max_runs || self.interrupted {
                break;
            }
            let mid = fail + (p - fail) / 2;
            let r = self.level(Load::Rate { rate, cap: Some(mid) }, None).await?;
            runs += 1;
            if reaches(&r, rate) {
                pass = Some((mid, r));
            } else {
                fail = mid;
            }
        }
        let mut v = Verdict::default();
        match pass {
            Some((c, r)) => {
                v.required_concurrency = Some(c);
                v.request_throughput = Some(r.request_throughput);
                v.output_throughput = Some(r.output_throughput);
                v.reason = if c - fail <= 1 {
                    format!(
                        "A cap of {c} reaches {:.2} of {} req/s (≥ 95%); a cap of {fail} does not.",
                        r.achieved_rate.unwrap_or_default(),
                        fmt_rate(rate)
                    )
                } else {
                    format!("A cap of {c} reaches the rate; the search stopped after {runs} runs (--max-runs) with {fail} failing.")
                };
            }
            None => {
                v.reason = format!(
                    "No cap up to {c} reached 95% of {} req/s in {runs} runs: the server cannot sustain this rate, or the cap must be larger (--max-concurrency-search).",
                    fmt_rate(rate)
                );
            }
        }
        Ok(v)
    }

    /// The highest rate meeting every objective: doubling from `start`
    /// until a rate fails, then bisection to `precision`.
    async fn max_rate(&mut self, start: f64, cap: Option<usize>, precision: f64) -> anyhow::Result<Verdict> {
        let mut runs = 0u32;
        let mut lo: Option<(f64, LevelResult)> = None;
        let mut hi: Option<(f64, LevelResult)> = None;
        let mut rate = start;
        // Bracket: double while passing; halve while failing before any pass.
        while runs < self.plan.max_runs && !self.interrupted {
            let r = self.level(Load::Rate { rate, cap }, None).await?;
            runs += 1;
            if reaches(&r, rate) {
                lo = Some((rate, r));
                if hi.is_some() {
                    break;
                }
                rate *= 2.0;
            } else {
                hi = Some((rate, r));
                if lo.is_some() {
                    break;
                }
                rate /= 2.0;
            }
        }
        // Bisect until the bracket is within the precision.
        while let (Some((l, _)), Some((h, _))) = (&lo, &hi) {
            let (l, h) = (*l, *h);
            if (h - l) / l <= precision || runs >= self.plan.max_runs || self.interrupted {
                break;
            }
            let mid = (l + h) / 2.0;
            let r = self.level(Load::Rate { rate: mid, cap }, None).await?;
            runs += 1;
            if reaches(&r, mid) {
                lo = Some((mid, r));
            } else {
                hi = Some((mid, r));
            }
        }
        let mut v = Verdict::default();
        match (&lo, &hi) {
            (Some((l, r)), Some((h, fail))) => {
                v.max_rate_under_slo = Some(*l);
                v.max_stable_rate = Some(*l);
                v.recommended_rate = Some(l * self.plan.headroom);
                v.request_throughput = Some(r.request_throughput);
                v.output_throughput = Some(r.output_throughput);
                let within = (h - l) / l <= precision;
                v.reason = format!(
                    "{} req/s meets every objective and {} req/s does not ({}){}.",
                    fmt_rate(*l),
                    fmt_rate(*h),
                    why_failed(fail, *h),
                    if within {
                        format!("; the limit is known to ±{:.0}%", precision * 100.0)
                    } else {
                        format!("; the search stopped after {runs} runs (--max-runs) before reaching the precision")
                    }
                );
            }
            (Some((l, r)), None) => {
                v.max_stable_rate = Some(*l);
                v.request_throughput = Some(r.request_throughput);
                v.reason = format!(
                    "Every rate up to {} req/s met the objectives in {runs} runs; raise --max-runs or the starting --rate.",
                    fmt_rate(*l)
                );
            }
            (None, Some((h, fail))) => {
                v.reason = format!(
                    "No rate down to {} req/s met the objectives ({}).",
                    fmt_rate(*h),
                    why_failed(fail, *h)
                );
            }
            (None, None) => v.reason = "No level was measured.".into(),
        }
        Ok(v)
    }

    fn write_json(&self, verdict: Option<&Verdict>) -> anyhow::Result<()> {
        let Some(path) = &self.plan.json else {
            return Ok(());
        };
        let text = serde_json::to_vec_pretty(&self.document(verdict))?;
        crate::files::write_atomic(path, &text).with_context(|| format!("--json {}", path.display()))
    }

    /// The sweep as its `--json` document: what reports and the history read.
    fn document<'a>(&'a self, verdict: Option<&'a Verdict>) -> SweepOutput<'a> {
        SweepOutput {
            schema_version: 1,
            kind: "sweep",
            tool: serde_json::json!({ "name": "inferload", "version": env!("CARGO_PKG_VERSION") }),
            started_at: self.started_at.to_rfc3339(),
            interrupted: self.interrupted,
            target: serde_json::json!({
                "url": self.session.base_url,
                "api": self.plan.base.target.api,
                "endpoint": self.plan.base.target.endpoint,
                "model": self.session.model,
                "embedded_sim": self.session.embedded,
            }),
            settings: self.plan,
            levels: &self.levels,
            verdict,
        }
    }
}

/// Judges a measured level against the objectives and the stop rules.
fn judge(plan: &SweepPlan, load: Load, m: Measurement, previous_throughput: Option<f64>) -> LevelResult {
    let summary = m.summary;
    let slos = slo::evaluate(&plan.base.slos, &summary, m.goodput);
    let (concurrency, rate, achieved) = match load {
        Load::Concurrency(c) => (Some(c), None, None),
        Load::Rate { rate, cap } => (cap, Some(rate), Some(achieved_rate(&m.records))),
    };
    let mut trip = if m.interrupted {
        Some(Trip {
            rule: "interrupted".into(),
            detail: "the sweep was interrupted".into(),
        })
    } else {
        plan.rules.check(&summary, &slos, previous_throughput)
    };
    if trip.is_none() {
        trip = plan.rules.check_resources(m.monitor.as_ref().map(|r| &r.summary));
    }
    if trip.is_none() {
        if let (Some(target), Some(got)) = (rate, achieved) {
            if got < RATE_ATTAINMENT * target {
                trip = Some(Trip {
                    rule: "target_rate".into(),
                    detail: format!(
                        "achieved {got:.2} req/s, {:.0}% of the {} req/s target (needs 95%)",
                        got / target * 100.0,
                        fmt_rate(target)
                    ),
                });
            }
        }
    }
    let in_flight = concurrency
        .map(|c| c as f64)
        .unwrap_or(summary.peak_concurrency as f64)
        .max(1.0);
    LevelResult {
        concurrency,
        rate,
        achieved_rate: achieved,
        requests: summary.requests_total,
        success_rate: summary.success_rate,
        request_throughput: summary.request_throughput,
        output_throughput: summary.output_throughput,
        efficiency: summary.request_throughput / in_flight,
        goodput: m.goodput,
        slos,
        trip,
        summary,
        monitor: m.monitor.map(|r| r.summary),
        trust: Some(m.trust),
    }
}

/// The rate the server sustained: successful completions per second between
/// the first and the last one. Unlike completions over the whole run, it is
/// not dragged down by the last request's latency, and when the server falls
/// behind it measures the server's pace, not the schedule's.
pub fn achieved_rate(records: &[crate::record::RequestRecord]) -> f64 {
    let mut ends: Vec<Duration> = records
        .iter()
        .filter(|r| r.succeeded())
        .filter_map(|r| r.finished_at)
        .collect();
    if ends.len() < 2 {
        return 0.0;
    }
    ends.sort_unstable();
    let span = (ends[ends.len() - 1] - ends[0]).as_secs_f64();
    if span <= 0.0 {
        return f64::INFINITY;
    }
    (ends.len() - 1) as f64 / span
}

/// A rate level passes when it trips no rule (objectives, success rate,
/// mean TTFT, `--stop-when`) and achieves 95 % of its target.
fn reaches(r: &LevelResult, rate: f64) -> bool {
    r.trip.is_none() && r.achieved_rate.is_some_and(|a| a >= RATE_ATTAINMENT * rate)
}

fn why_failed(r: &LevelResult, rate: f64) -> String {
    match &r.trip {
        Some(t) => t.detail.clone(),
        None => format!(
            "achieved {:.2} req/s of {}",
            r.achieved_rate.unwrap_or_default(),
            fmt_rate(rate)
        ),
    }
}

fn ms(s: &Option<crate::stats::LatencyStats>, f: impl Fn(&crate::stats::LatencyStats) -> f64) -> String {
    s.as_ref().map(|s| format!("{:.1}", f(s))).unwrap_or_else(|| "-".into())
}

fn level_line(r: &LevelResult) -> String {
    let s = &r.summary;
    let achieved = r
        .achieved_rate
        .map(|a| format!(", achieved {a:.2} req/s"))
        .unwrap_or_default();
    let verdict = match &r.trip {
        Some(t) => format!("stop: {}", t.detail),
        None => "ok".into(),
    };
    format!(
        "{} requests, {:.1}% ok, {:.2} req/s{achieved}, {:.1} tok/s, TTFT p90 {} ms, E2E p99 {} ms → {verdict}",
        r.requests,
        r.success_rate * 100.0,
        r.request_throughput,
        r.output_throughput,
        ms(&s.ttft_ms, |l| l.p90),
        ms(&s.e2e_ms, |l| l.p99),
    )
}

/// The per-level table printed at the end.
pub fn level_table(levels: &[LevelResult]) -> String {
    let rate_mode = levels.iter().any(|l| l.rate.is_some());
    let mut rows: Vec<Vec<String>> = vec![vec![
        if rate_mode { "rate" } else { "concurrency" }.into(),
        if rate_mode { "achieved" } else { "" }.into(),
        "requests".into(),
        "success".into(),
        "req/s".into(),
        "out tok/s".into(),
        "TTFT mean".into(),
        "TTFT p90".into(),
        "TTFT p99".into(),
        "TPOT mean".into(),
        "E2E p50".into(),
        "E2E p99".into(),
        "req/s/conc".into(),
        "stopped by".into(),
    ]];
    for l in levels {
        let s = &l.summary;
        rows.push(vec![
            match (l.rate, l.concurrency) {
                (Some(r), Some(c)) => format!("{} (cap {c})", fmt_rate(r)),
                (Some(r), None) => fmt_rate(r),
                (None, Some(c)) => c.to_string(),
                (None, None) => "-".into(),
            },
            l.achieved_rate.map(|a| format!("{a:.2}")).unwrap_or_default(),
            l.requests.to_string(),
            format!("{:.1}%", l.success_rate * 100.0),
            format!("{:.2}", l.request_throughput),
            format!("{:.1}", l.output_throughput),
            ms(&s.ttft_ms, |x| x.mean),
            ms(&s.ttft_ms, |x| x.p90),
            ms(&s.ttft_ms, |x| x.p99),
            ms(&s.tpot_ms, |x| x.mean),
            ms(&s.e2e_ms, |x| x.p50),
            ms(&s.e2e_ms, |x| x.p99),
            format!("{:.3}", l.efficiency),
            l.trip.as_ref().map(|t| t.rule.clone()).unwrap_or_default(),
        ]);
    }
    resource_columns(levels, &mut rows);
    if !rate_mode {
        for r in &mut rows {
            r.remove(1);
        }
    }
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut out = String::from("\n============================== Sweep ==============================\n");
    out.push_str("(latencies in ms)\n");
    for row in &rows {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:>w$}", w = *w))
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// Per-level resource columns, before "stopped by", for the figures any
/// level has: mean GPU utilisation, peak GPU memory, peak KV cache, peak
/// server queue, mean host CPU.
fn resource_columns(levels: &[LevelResult], rows: &mut [Vec<String>]) {
    use crate::monitor::MonitorSummary;
    type Pick = fn(&MonitorSummary) -> Option<String>;
    let columns: [(&str, Pick); 5] = [
        ("GPU util", |m| m.gpu_util_pct.map(|s| format!("{:.1}%", s.mean))),
        ("GPU mem max", |m| m.gpu_memory_pct.map(|s| format!("{:.1}%", s.peak))),
        ("KV max", |m| m.kv_cache_pct.map(|s| format!("{:.1}%", s.peak))),
        ("queue max", |m| m.server_waiting.map(|s| format!("{:.0}", s.peak))),
        ("host CPU", |m| m.host_cpu_pct.map(|s| format!("{:.1}%", s.mean))),
    ];
    for (title, pick) in columns {
        if !levels.iter().any(|l| l.monitor.as_ref().and_then(pick).is_some()) {
            continue;
        }
        let at = rows[0].len() - 1;
        rows[0].insert(at, title.into());
        for (row, l) in rows[1..].iter_mut().zip(levels) {
            row.insert(at, l.monitor.as_ref().and_then(pick).unwrap_or_else(|| "-".into()));
        }
    }
}

/// The verdict, with the lines scripts grep for.
pub fn verdict_block(v: &Verdict) -> String {
    let mut out = String::from("\n");
    let none = "none".to_string();
    if v.required_concurrency.is_some()
        || (v.max_rate_under_slo.is_none()
            && v.max_stable_rate.is_none()
            && v.max_stable_concurrency.is_none()
            && v.reason.starts_with("No cap"))
    {
        out.push_str(&format!(
            "Required concurrency: {}\n",
            v.required_concurrency
                .map(|c| c.to_string())
                .unwrap_or_else(|| none.clone())
        ));
    } else if v.max_stable_rate.is_some() || v.max_rate_under_slo.is_some() || v.recommended_rate.is_some() {
        if let Some(r) = v.max_rate_under_slo {
            out.push_str(&format!("Maximum rate under SLO: {} req/s\n", fmt_rate(r)));
        }
        out.push_str(&format!(
            "Maximum sustainable rate: {}\n",
            v.max_stable_rate
                .map(|r| format!("{} req/s", fmt_rate(r)))
                .unwrap_or_else(|| none.clone())
        ));
        if let Some(r) = v.recommended_rate {
            out.push_str(&format!("Recommended rate: {} req/s\n", fmt_rate(r)));
        }
    } else {
        out.push_str(&format!(
            "Maximum stable concurrency: {}\n",
            v.max_stable_concurrency
                .map(|c| c.to_string())
                .unwrap_or_else(|| none.clone())
        ));
        out.push_str(&format!(
            "Recommended concurrency: {}\n",
            v.recommended_concurrency.map(|c| c.to_string()).unwrap_or(none)
        ));
    }
    if let (Some(rps), Some(tok)) = (v.request_throughput, v.output_throughput) {
        out.push_str(&format!("Throughput there: {rps:.2} req/s, {tok:.1} output tok/s\n"));
    }
    out.push_str(&v.reason);
    out.push('\n');
    out
}
