//! Repeats: one level measured N times on the same session, one after the
//! other (`--repeats N` for `run` and for each sweep level), and the N
//! measurements combined into one.
//!
//! The combined measurement pools every repeat's requests as if the
//! repeats had run back to back on one clock: each repeat's summary and
//! records move to start where the previous repeat's last request ended,
//! so counts add up exactly, percentiles are those of every request, and
//! throughput is over the measured windows (not the warm-ups between
//! them). Each repeat's own figures are kept, and their Student-t
//! intervals are the figures' confidence. Without repeats the one
//! measurement's latency means get bootstrap intervals over its requests
//! ([`crate::stats::confidence`]). A load over time pools stage by stage
//! (stage k of every repeat together, its rates over the repeats' time in
//! it, its objectives judged on all its requests), and conversations turn
//! by turn (counts summed, percentiles averaged, as compare does over its
//! runs). What cannot be pooled (the monitor's samples, users over time,
//! connections) is the last repeat's; the trust verdict is the first
//! repeat's that is not OK, if any.

use std::time::Duration;

use crate::doc::run::Repeat;
use crate::engine::Signals;
use crate::plan::TuiMode;
use crate::slo::Goodput;
use crate::stats::confidence::{self, Confidence};

use super::{Level, Measurement, Session, Sinks};

/// N measurements combined.
#[derive(Debug)]
pub struct Repeated {
    /// The pooled measurement (one repeat's as is when N = 1).
    pub combined: Measurement,
    /// Each repeat's figures (empty when N = 1).
    pub repeats: Vec<Repeat>,
    /// Over the repeats when there are two or more, else the bootstrap
    /// over requests; `None` without a successful request.
    pub confidence: Option<Confidence>,
}

/// Measures `level` `n` times (fewer when interrupted); `sinks(k)` gives
/// repeat `k`'s sinks (0-based), `each(k, m)` sees each measurement.
pub async fn measure_repeats(
    session: &Session,
    level: &Level,
    n: u32,
    mut sinks: impl FnMut(u32) -> Sinks,
    signals: &Signals,
    tui: TuiMode,
    mut each: impl FnMut(u32, &Measurement),
) -> anyhow::Result<Repeated> {
    let mut all = Vec::new();
    for k in 0..n.max(1) {
        if k > 0 && signals.interrupt.is_cancelled() {
            break;
        }
        if n > 1 {
            println!("Repeat {}/{n} ...", k + 1);
        }
        let m = session.measure_with(level, sinks(k), signals, tui).await?;
        each(k, &m);
        let stop = m.interrupted || m.gave_up.is_some();
        all.push(m);
        if stop {
            break;
        }
    }
    Ok(combine(all, session.is_shard()))
}

/// The measurements pooled (see the module docs); `keep_state`: the
/// pooled summary's mergeable state is kept (a shard's run).
pub fn combine(mut all: Vec<Measurement>, keep_state: bool) -> Repeated {
    assert!(!all.is_empty(), "at least one measurement");
    if all.len() == 1 {
        let m = all.pop().expect("one");
        let confidence = m.samples.confidence();
        return Repeated {
            combined: m,
            repeats: Vec::new(),
            confidence,
        };
    }
    let repeats: Vec<Repeat> = all
        .iter()
        .enumerate()
        .map(|(k, m)| Repeat {
            repeat: k as u32 + 1,
            requests_total: m.summary.requests_total,
            successful: m.summary.successful,
            figures: confidence::figures(&m.summary),
        })
        .collect();
    let confidence = confidence::over_repeats(&repeats.iter().map(|r| r.figures.clone()).collect::<Vec<_>>());
    let mut offset = Duration::ZERO;
    let mut next_index = 0u64;
    let mut builder: Option<crate::stats::SummaryBuilder> = None;
    let mut records = Vec::new();
    let (mut good, mut unfinished, mut interrupted, mut gave_up) = (0u64, 0u64, false, None);
    let mut any_goodput = false;
    let mut trust = None;
    let last = all.len() - 1;
    let started_at = all[0].started_at;
    let mut last_m = None;
    // Stages and sessions pool over the repeats too: stage k (turn k) of
    // every repeat together.
    let stages = all.iter_mut().filter_map(|m| m.stages.take()).reduce(|mut a, b| {
        a.absorb(b);
        a
    });
    let sessions = crate::doc::compare::sessions_over_runs(all.iter().filter_map(|m| m.sessions.as_ref()));
    for (k, mut m) in all.into_iter().enumerate() {
        let mut b = std::mem::take(&mut m.builder);
        b.shift(offset);
        match builder.as_mut() {
            Some(acc) => acc.merge(&b),
            None => builder = Some(b),
        }
        let max_index = m.records.iter().map(|r| r.index).max();
        for mut r in std::mem::take(&mut m.records) {
            r.shift(offset);
            r.index += next_index;
            records.push(r);
        }
        next_index += max_index.map_or(0, |i| i + 1);
        offset = builder.as_ref().and_then(|b| b.last_ended()).unwrap_or(offset);
        if let Some(g) = m.goodput {
            any_goodput = true;
            good += g.good_requests;
        }
        unfinished += m.unfinished;
        interrupted |= m.interrupted;
        gave_up = gave_up.or(m.gave_up);
        if trust.is_none() && !m.trust.is_ok() {
            trust = Some(m.trust.clone());
        }
        if k == last {
            last_m = Some(m);
        }
    }
    let builder = builder.expect("at least one measurement");
    let summary = builder.finish();
    let goodput = any_goodput.then(|| Goodput::of(good, summary.requests_total, summary.duration_s));
    let last = last_m.expect("the last measurement");
    let combined = Measurement {
        summary_state: keep_state.then(|| builder.state()),
        summary,
        goodput,
        records,
        unfinished,
        interrupted,
        gave_up,
        trust: trust.unwrap_or(last.trust),
        builder,
        started_at,
        stages,
        sessions,
        ..last
    };
    Repeated {
        combined,
        repeats,
        confidence,
    }
}
