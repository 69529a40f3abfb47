//! The sweep as its `--json` document: its settings, the levels measured
//! so far and the verdict, as reports and the history read them.

use super::plan::{Mode, SweepPlan};
use crate::doc::sweep::{
    Level as LevelResult, StopRuleSettings, SweepDocument, SweepMode, SweepSettings, SweepTarget, Verdict,
};
use crate::harness::Session;

/// The document of a sweep on `session` (rewritten after every level).
pub fn document(
    plan: &SweepPlan,
    session: &Session,
    started_at: chrono::DateTime<chrono::Local>,
    interrupted: bool,
    levels: &[LevelResult],
    verdict: Option<&Verdict>,
) -> SweepDocument {
    let target = SweepTarget {
        url: Some(session.base_url.clone()),
        api: Some(plan.base.target.api.name().to_string()),
        endpoint: Some(plan.base.target.endpoint.clone()),
        model: Some(session.model.clone()),
        embedded_sim: session.embedded,
    };
    SweepDocument {
        started_at: Some(started_at.to_rfc3339()),
        interrupted,
        levels: levels.to_vec(),
        verdict: verdict.cloned(),
        ..SweepDocument::new(target, Some(settings_of(plan, session)))
    }
}

/// The sweep's settings as its document records them.
fn settings_of(plan: &SweepPlan, session: &Session) -> SweepSettings {
    let r = &plan.rules;
    SweepSettings {
        base: crate::doc::RunSettings::of(&plan.base).counted_by(session.workload.counter().tokenizer().map(|t| &**t)),
        mode: match &plan.mode {
            Mode::Concurrency { levels } => SweepMode::Concurrency { levels: levels.clone() },
            Mode::Rate { rates, cap } => SweepMode::Rate {
                rates: rates.clone(),
                cap: *cap,
            },
            Mode::FindConcurrency { rate, max_concurrency } => SweepMode::FindConcurrency {
                rate: *rate,
                max_concurrency: *max_concurrency,
            },
            Mode::MaxRateUnderSlo { start, cap, precision } => SweepMode::MaxRateUnderSlo {
                start: *start,
                cap: *cap,
                precision: *precision,
            },
        },
        arrival: crate::doc::settings::Arrival::of(plan.arrival),
        requests_per_level: plan.requests_per_level,
        duration_per_level: plan.duration_per_level.map(|d| d.as_secs_f64()),
        warmup_per_level: plan.warmup_per_level,
        rules: StopRuleSettings {
            min_success_rate: r.min_success_rate,
            max_mean_ttft_ms: r.max_mean_ttft_ms,
            min_gain: r.min_gain,
            stop_when: r.stop_when.clone(),
            slos_stop: r.slos_stop,
            max_gpu_memory: r.max_gpu_memory,
            max_kv_cache: r.max_kv_cache,
        },
        headroom: plan.headroom,
        max_runs: plan.max_runs,
        json: plan.json.clone(),
        records_dir: plan.records_dir.clone(),
        quiet: plan.quiet,
    }
}
