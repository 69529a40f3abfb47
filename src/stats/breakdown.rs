//! Figures per label: per task and per model of a scenario's weighted task
//! mix. Each label has its own [`SummaryBuilder`], fed the records carrying
//! that label; merged, they give exactly the overall builder (every record
//! has one task and one model), which [`Breakdown::overall`] checks in tests.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Summary, SummaryBuilder};
use crate::record::RequestRecord;

/// The summary of the records with one label.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LabelSummary {
    pub label: String,
    pub summary: Summary,
}

/// Per-task and per-model summaries, in label order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Breakdown {
    pub by_task: Vec<LabelSummary>,
    pub by_model: Vec<LabelSummary>,
}

/// Accumulates records per task and per model.
#[derive(Debug, Clone, Default)]
pub struct BreakdownBuilder {
    tasks: BTreeMap<String, SummaryBuilder>,
    models: BTreeMap<String, SummaryBuilder>,
}

impl BreakdownBuilder {
    /// Counts a record under its task and model labels (unlabelled records
    /// are left out: they belong to no task).
    pub fn add(&mut self, rec: &RequestRecord) {
        if let Some(t) = &rec.task {
            self.tasks.entry(t.clone()).or_default().add(rec);
        }
        if let Some(m) = &rec.model {
            self.models.entry(m.clone()).or_default().add(rec);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.tasks.is_empty() && self.models.is_empty()
    }

    /// The overall builder: every task's builder merged.
    pub fn overall(&self) -> SummaryBuilder {
        let mut all = SummaryBuilder::new();
        for b in self.tasks.values() {
            all.merge(b);
        }
        all
    }

    pub fn finish(&self) -> Breakdown {
        let list = |m: &BTreeMap<String, SummaryBuilder>| {
            m.iter()
                .map(|(label, b)| LabelSummary {
                    label: label.clone(),
                    summary: b.finish(),
                })
                .collect()
        };
        Breakdown {
            by_task: list(&self.tasks),
            by_model: list(&self.models),
        }
    }
}

/// The breakdown as console tables: requests, share, success, throughput
/// and latency per task and per model.
pub fn breakdown_table(b: &Breakdown, total_requests: u64) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    for (title, rows) in [("task", &b.by_task), ("model", &b.by_model)] {
        if rows.is_empty() {
            continue;
        }
        let width = rows
            .iter()
            .map(|r| r.label.chars().count())
            .max()
            .unwrap_or(0)
            .max(title.len());
        let _ = writeln!(
            out,
            "Per {title}:\n  {:<width$}  {:>8}  {:>6}  {:>8}  {:>8}  {:>10}  {:>10}  {:>10}",
            title, "requests", "share", "success", "req/s", "TTFT p50", "E2E mean", "E2E p99"
        );
        for r in rows.iter() {
            let s = &r.summary;
            let share = if total_requests > 0 {
                s.requests_total as f64 / total_requests as f64 * 100.0
            } else {
                0.0
            };
            let ms = |l: &Option<super::LatencyStats>, f: fn(&super::LatencyStats) -> f64| {
                l.as_ref().map_or_else(|| "-".to_string(), |l| format!("{:.1}", f(l)))
            };
            let _ = writeln!(
                out,
                "  {:<width$}  {:>8}  {:>5.1}%  {:>7.1}%  {:>8.2}  {:>10}  {:>10}  {:>10}",
                r.label,
                s.requests_total,
                share,
                s.success_rate * 100.0,
                s.request_throughput,
                ms(&s.ttft_ms, |l| l.p50),
                ms(&s.e2e_ms, |l| l.mean),
                ms(&s.e2e_ms, |l| l.p99),
            );
        }
    }
    if !out.is_empty() {
        out.push_str("(latencies in ms; throughput over each label's own span)\n\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn labels_partition_the_records_and_merge_to_the_total() {
        let recs: Vec<RequestRecord> = (0..10u64)
            .map(|i| RequestRecord {
                index: i,
                sent_at: Duration::from_millis(i * 10),
                finished_at: Some(Duration::from_millis(i * 10 + 5)),
                ended_at: Duration::from_millis(i * 10 + 5),
                output_tokens: 3,
                task: Some(format!("t{}", i % 3)),
                model: Some(if i % 2 == 0 { "a" } else { "b" }.into()),
                ..Default::default()
            })
            .collect();
        let mut b = BreakdownBuilder::default();
        recs.iter().for_each(|r| b.add(r));
        let d = b.finish();
        assert_eq!(d.by_task.len(), 3);
        assert_eq!(d.by_model.iter().map(|m| m.summary.requests_total).sum::<u64>(), 10);
        assert_eq!(b.overall().finish(), SummaryBuilder::from_records(&recs).finish());
        assert!(breakdown_table(&d, 10).contains("Per model:"));
    }
}
