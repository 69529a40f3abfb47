//! The comparison as its `--json` document: settings, every strategy's
//! runs and means, the score's formula and the best strategy.

use super::plan::ComparePlan;
use super::score::{W_GPU, W_RESPONSE, W_THROUGHPUT};
use crate::doc::compare::{
    own_settings, Best, CompareDocument, CompareSettings, Score, StrategyResult, StrategySettings, Weights,
};
use crate::doc::settings::{Schedule, StopSettings, WorkloadSettings};
use crate::doc::RunSettings;

/// The comparison as its `--json` document.
pub fn document(
    plan: &ComparePlan,
    started_at: chrono::DateTime<chrono::Local>,
    interrupted: bool,
    results: &[StrategyResult],
    best: Option<&Best>,
    with_gpu: bool,
) -> CompareDocument {
    let first = &plan.strategies[0].plan;
    // Secrets are masked by `RunSettings::of`, before any comparison of them.
    let targets: Vec<RunSettings> = plan.strategies.iter().map(|s| RunSettings::of(&s.plan)).collect();
    let settings = CompareSettings {
        repeat: plan.repeat,
        interleave: plan.interleave,
        schedule: Schedule::of(&first.schedule),
        stop: StopSettings {
            requests: first.stop.requests,
            duration: first.stop.duration.map(|d| d.as_secs_f64()),
        },
        warmup: first.warmup,
        workload: WorkloadSettings::of(&first.workload),
        strategies: plan
            .strategies
            .iter()
            .zip(own_settings(&targets))
            .zip(&targets)
            .map(|((s, own), target)| StrategySettings {
                name: s.name.clone(),
                target: target.clone(),
                own,
            })
            .collect(),
    };
    let score = if with_gpu {
        Score {
            formula: "0.5 × throughput / best throughput + 0.3 × fastest mean response time / mean response time + 0.2 × GPU utilisation".into(),
            gpu: true,
            weights: Weights {
                throughput: W_THROUGHPUT,
                response_time: W_RESPONSE,
                gpu: W_GPU,
            },
        }
    } else {
        Score {
            formula: "0.625 × throughput / best throughput + 0.375 × fastest mean response time / mean response time (no GPU figures: weights 0.5 and 0.3 renormalised)".into(),
            gpu: false,
            weights: Weights {
                throughput: 0.625,
                response_time: 0.375,
                gpu: 0.0,
            },
        }
    };
    CompareDocument {
        started_at: Some(started_at.to_rfc3339()),
        interrupted,
        score,
        tail_percentile: plan.tail_percentile(),
        strategies: results.to_vec(),
        best: best.cloned(),
        ..CompareDocument::new(Some(settings))
    }
}
