//! `inferload diff A B`: two runs' summaries compared metric by metric.
//!
//! For each metric the change is `(new − baseline) / baseline`. Whether a
//! rise is good depends on the metric ([`Better`]): throughputs and the
//! success rate are better higher, latencies lower. A change whose size is
//! at most `--noise` is *within noise*; a larger one is *better* or *worse*
//! by that direction. A metric *regressed* when it is worse by more than
//! `--fail-on-regression` (a threshold of its own, independent of
//! `--noise`); any regression makes the exit status 4
//! ([`crate::outcome::Outcome::Regression`]).
//!
//! A baseline of exactly 0 with a non-zero new value is an unbounded change
//! (judged by its direction, and a regression when worse); a metric that
//! either run lacks (TTFT of a non-streamed run) is not compared.

use crate::doc::stages::{StageFigures, StagesSection};
use crate::stats::{LatencyStats, Summary};

/// Which direction of change is an improvement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Higher,
    Lower,
}

/// The judgement of one metric's change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Better,
    Worse,
    WithinNoise,
    /// One of the runs has no value for it.
    NotCompared,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Self::Better => "better",
            Self::Worse => "worse",
            Self::WithinNoise => "within noise",
            Self::NotCompared => "n/a",
        }
    }
}

/// Slack on the thresholds, so that a change of exactly 5% (computed as
/// 0.05000000000000004) is within a 5% band.
const EPSILON: f64 = 1e-9;

/// Relative change from `base` to `new`: 0 when both are 0, ±infinity from
/// a baseline of 0.
pub fn relative_change(base: f64, new: f64) -> f64 {
    if base == new {
        0.0
    } else if base == 0.0 {
        if new > 0.0 {
            f64::INFINITY
        } else {
            f64::NEG_INFINITY
        }
    } else {
        (new - base) / base.abs()
    }
}

/// The verdict of a change given which direction is better and the noise
/// band (a fraction, e.g. 0.05).
pub fn judge(better: Better, base: Option<f64>, new: Option<f64>, noise: f64) -> Verdict {
    let (Some(base), Some(new)) = (base, new) else {
        return Verdict::NotCompared;
    };
    let change = relative_change(base, new);
    if change.abs() <= noise + EPSILON {
        return Verdict::WithinNoise;
    }
    match (better, change > 0.0) {
        (Better::Higher, true) | (Better::Lower, false) => Verdict::Better,
        _ => Verdict::Worse,
    }
}

/// True when the metric got worse by more than `threshold` (a fraction).
pub fn regressed(better: Better, base: Option<f64>, new: Option<f64>, threshold: f64) -> bool {
    let (Some(base), Some(new)) = (base, new) else {
        return false;
    };
    let change = relative_change(base, new);
    let worse = match better {
        Better::Higher => change < 0.0,
        Better::Lower => change > 0.0,
    };
    worse && change.abs() > threshold + EPSILON
}

/// How a metric's values print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Unit {
    PerSecond,
    Millis,
    Ratio,
}

/// One compared metric.
#[derive(Debug, Clone)]
pub struct Row {
    pub name: String,
    unit: Unit,
    pub better: Better,
    pub base: Option<f64>,
    pub new: Option<f64>,
    pub verdict: Verdict,
    pub regressed: bool,
}

/// Reads one statistic of a distribution.
type Stat = fn(&LatencyStats) -> f64;

/// A metric's name, unit, better direction and value.
type Metric = (String, Unit, Better, Option<f64>);

fn metrics(s: &Summary) -> Vec<Metric> {
    let mut out = vec![
        (
            "Request throughput (req/s)".to_string(),
            Unit::PerSecond,
            Better::Higher,
            Some(s.request_throughput),
        ),
        (
            "Output throughput (tok/s)".to_string(),
            Unit::PerSecond,
            Better::Higher,
            Some(s.output_throughput),
        ),
    ];
    let dists: [(&str, &Option<LatencyStats>); 4] = [
        ("TTFT", &s.ttft_ms),
        ("TPOT", &s.tpot_ms),
        ("ITL", &s.itl_ms),
        ("E2E", &s.e2e_ms),
    ];
    for (name, d) in dists {
        let stats: [(&str, Stat); 4] = [
            ("mean", |l| l.mean),
            ("p50", |l| l.p50),
            ("p90", |l| l.p90),
            ("p99", |l| l.p99),
        ];
        for (stat, get) in stats {
            out.push((
                format!("{name} {stat} (ms)"),
                Unit::Millis,
                Better::Lower,
                d.as_ref().map(get),
            ));
        }
    }
    out.push((
        "Success rate".to_string(),
        Unit::Ratio,
        Better::Higher,
        // Without requests there is no rate to compare.
        (s.requests_total > 0).then_some(s.success_rate),
    ));
    out
}

/// Compares two summaries metric by metric.
pub fn compare(base: &Summary, new: &Summary, noise: f64, fail_on: Option<f64>) -> Vec<Row> {
    rows(metrics(base), metrics(new), noise, fail_on)
}

/// The rows of two lists of the same metrics, judged pair by pair.
fn rows(base: Vec<Metric>, new: Vec<Metric>, noise: f64, fail_on: Option<f64>) -> Vec<Row> {
    base.into_iter()
        .zip(new)
        .map(|((name, unit, better, b), (_, _, _, n))| Row {
            verdict: judge(better, b, n, noise),
            regressed: fail_on.is_some_and(|t| regressed(better, b, n, t)),
            name,
            unit,
            better,
            base: b,
            new: n,
        })
        .collect()
}

fn stage_metrics(s: &StageFigures) -> Vec<Metric> {
    let ms = |name: &str, v: Option<f64>| (format!("{name} (ms)"), Unit::Millis, Better::Lower, v);
    vec![
        (
            "Request throughput (req/s)".into(),
            Unit::PerSecond,
            Better::Higher,
            Some(s.request_throughput),
        ),
        (
            "Output throughput (tok/s)".into(),
            Unit::PerSecond,
            Better::Higher,
            Some(s.output_throughput),
        ),
        ms("TTFT p50", s.ttft_p50_ms),
        ms("TTFT p99", s.ttft_p99_ms),
        ms("ITL p50", s.itl_p50_ms),
        ms("ITL p99", s.itl_p99_ms),
        (
            "Success rate".into(),
            Unit::Ratio,
            Better::Higher,
            (s.requests > 0).then_some(s.success_rate),
        ),
    ]
}

/// One stage of two staged runs compared.
#[derive(Debug, Clone)]
pub struct StageRows {
    pub stage: usize,
    /// `0.0s-10.0s, target 2 → 8`, the baseline's.
    pub label: String,
    pub rows: Vec<Row>,
}

/// Two staged runs compared stage by stage, when their stages are the
/// same (same profile, as many stages); else why they are not comparable.
pub fn compare_stages(
    base: &StagesSection,
    new: &StagesSection,
    noise: f64,
    fail_on: Option<f64>,
) -> Result<Vec<StageRows>, String> {
    if base.profile != new.profile || base.stages.len() != new.stages.len() {
        return Err(format!(
            "the runs' stages differ ({} in {} stage(s) vs {} in {} stage(s)): not compared stage by stage",
            base.profile.describe(),
            base.stages.len(),
            new.profile.describe(),
            new.stages.len()
        ));
    }
    Ok(base
        .stages
        .iter()
        .zip(&new.stages)
        .map(|(a, b)| StageRows {
            stage: a.stage,
            label: format!("{:.1}s-{:.1}s, target {} → {}", a.start_s, a.end_s, a.from, a.to),
            rows: rows(stage_metrics(a), stage_metrics(b), noise, fail_on),
        })
        .collect())
}

/// The stage-by-stage comparison: each stage's requests and its table.
pub fn stages_table(stages: &[StageRows], base: &StagesSection, new: &StagesSection) -> String {
    let mut out = String::from("\nBy stage:\n");
    for (s, (a, b)) in stages.iter().zip(base.stages.iter().zip(&new.stages)) {
        out.push_str(&format!(
            "Stage {} ({}): {} vs {} requests\n",
            s.stage, s.label, a.requests, b.requests
        ));
        out.push_str(&table(&s.rows));
    }
    out
}

fn value(unit: Unit, v: Option<f64>) -> String {
    match (unit, v) {
        (_, None) => "-".into(),
        (Unit::Ratio, Some(v)) => format!("{:.2}%", v * 100.0),
        (_, Some(v)) => format!("{v:.2}"),
    }
}

fn change_text(row: &Row) -> String {
    match (row.base, row.new) {
        (Some(b), Some(n)) => {
            let c = relative_change(b, n);
            if c.is_infinite() {
                format!("{}inf", if c > 0.0 { "+" } else { "-" })
            } else {
                format!("{:+.1}%", c * 100.0)
            }
        }
        _ => "-".into(),
    }
}

/// The comparison as an aligned table.
pub fn table(rows: &[Row]) -> String {
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut verdict = r.verdict.label().to_string();
            if r.regressed {
                verdict.push_str("  REGRESSION");
            }
            vec![
                r.name.clone(),
                value(r.unit, r.base),
                value(r.unit, r.new),
                change_text(r),
                verdict,
            ]
        })
        .collect();
    super::show::aligned(
        &["Metric", "Baseline", "New", "Change", "Verdict"],
        &cells,
        &[false, true, true, true, false],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_change_handles_zero_baselines() {
        assert_eq!(relative_change(100.0, 110.0), 0.1);
        assert_eq!(relative_change(100.0, 90.0), -0.1);
        assert_eq!(relative_change(0.0, 0.0), 0.0);
        assert_eq!(relative_change(0.0, 3.0), f64::INFINITY);
    }

    #[test]
    fn the_verdict_knows_which_direction_is_better() {
        let n = 0.05;
        // Throughput up 10%: better; latency up 10%: worse.
        assert_eq!(judge(Better::Higher, Some(100.0), Some(110.0), n), Verdict::Better);
        assert_eq!(judge(Better::Lower, Some(100.0), Some(110.0), n), Verdict::Worse);
        // And down 10%: the reverse.
        assert_eq!(judge(Better::Higher, Some(100.0), Some(90.0), n), Verdict::Worse);
        assert_eq!(judge(Better::Lower, Some(100.0), Some(90.0), n), Verdict::Better);
    }

    #[test]
    fn small_changes_are_within_noise_inclusive() {
        assert_eq!(
            judge(Better::Lower, Some(100.0), Some(104.0), 0.05),
            Verdict::WithinNoise
        );
        assert_eq!(
            judge(Better::Lower, Some(100.0), Some(105.0), 0.05),
            Verdict::WithinNoise
        );
        assert_eq!(judge(Better::Lower, Some(100.0), Some(105.1), 0.05), Verdict::Worse);
        assert_eq!(judge(Better::Higher, Some(0.0), Some(0.0), 0.0), Verdict::WithinNoise);
        assert_eq!(
            judge(Better::Higher, Some(0.7), Some(0.665), 0.05),
            Verdict::WithinNoise
        );
        assert!(!regressed(Better::Higher, Some(1.0), Some(0.9), 0.10));
        // Zero noise: any change counts.
        assert_eq!(judge(Better::Higher, Some(1.0), Some(0.999), 0.0), Verdict::Worse);
    }

    #[test]
    fn missing_values_are_not_compared_nor_regressions() {
        assert_eq!(judge(Better::Lower, None, Some(1.0), 0.05), Verdict::NotCompared);
        assert_eq!(judge(Better::Lower, Some(1.0), None, 0.05), Verdict::NotCompared);
        assert!(!regressed(Better::Lower, None, Some(1e9), 0.0));
    }

    #[test]
    fn regressions_are_worse_by_more_than_the_threshold() {
        assert!(regressed(Better::Lower, Some(100.0), Some(111.0), 0.10));
        assert!(!regressed(Better::Lower, Some(100.0), Some(110.0), 0.10));
        // Improvements never regress, however large.
        assert!(!regressed(Better::Lower, Some(100.0), Some(10.0), 0.10));
        assert!(regressed(Better::Higher, Some(100.0), Some(80.0), 0.10));
        assert!(!regressed(Better::Higher, Some(100.0), Some(200.0), 0.10));
        // From zero latency to some: unbounded, a regression.
        assert!(regressed(Better::Lower, Some(0.0), Some(1.0), 0.10));
        // Independent of the noise band: 3% worse fails a 2% threshold.
        assert_eq!(
            judge(Better::Lower, Some(100.0), Some(103.0), 0.05),
            Verdict::WithinNoise
        );
        assert!(regressed(Better::Lower, Some(100.0), Some(103.0), 0.02));
    }

    fn summary(ttft: f64, rps: f64, success: f64) -> Summary {
        let stats = LatencyStats {
            count: 10,
            mean: ttft,
            p50: ttft,
            p90: ttft,
            p99: ttft,
            ..Default::default()
        };
        Summary {
            requests_total: 10,
            success_rate: success,
            request_throughput: rps,
            output_throughput: rps * 10.0,
            ttft_ms: Some(stats),
            ..Default::default()
        }
    }

    #[test]
    fn compare_covers_every_metric_and_flags_regressions() {
        let rows = compare(
            &summary(100.0, 10.0, 1.0),
            &summary(200.0, 10.2, 0.85),
            0.05,
            Some(0.10),
        );
        assert_eq!(rows.len(), 2 + 4 * 4 + 1);
        let row = |name: &str| rows.iter().find(|r| r.name == name).unwrap();
        assert_eq!(row("TTFT p90 (ms)").verdict, Verdict::Worse);
        assert!(row("TTFT p90 (ms)").regressed);
        assert_eq!(row("Request throughput (req/s)").verdict, Verdict::WithinNoise);
        assert!(!row("Request throughput (req/s)").regressed);
        assert_eq!(row("Success rate").verdict, Verdict::Worse);
        assert!(row("Success rate").regressed);
        assert_eq!(row("E2E p99 (ms)").verdict, Verdict::NotCompared);
        let text = table(&rows);
        assert!(text.contains("+100.0%"), "{text}");
        assert!(text.contains("REGRESSION"), "{text}");
        // Without a threshold nothing is a regression.
        let rows = compare(&summary(100.0, 10.0, 1.0), &summary(200.0, 10.0, 1.0), 0.05, None);
        assert!(rows.iter().all(|r| !r.regressed));
    }

    fn staged(stages: &str, ttft_p99: &[f64]) -> StagesSection {
        use crate::schedule::stages::{Profile, StageList};
        let list = StageList::parse(stages).unwrap();
        StagesSection {
            profile: Profile::Concurrency(list),
            stages: ttft_p99
                .iter()
                .enumerate()
                .map(|(i, &p99)| StageFigures {
                    stage: i + 1,
                    start_s: i as f64,
                    end_s: i as f64 + 1.0,
                    from: 2.0,
                    to: 2.0,
                    requests: 10,
                    successful: 10,
                    success_rate: 1.0,
                    ttft_p50_ms: Some(p99 / 2.0),
                    ttft_p99_ms: Some(p99),
                    itl_p50_ms: None,
                    itl_p99_ms: None,
                    request_throughput: 10.0,
                    output_throughput: 100.0,
                    mean_in_flight: 2.0,
                    slos: Vec::new(),
                    state: None,
                })
                .collect(),
            rate_changes: Vec::new(),
            first_failures: Vec::new(),
        }
    }

    #[test]
    fn staged_runs_compare_stage_by_stage_when_their_stages_match() {
        let base = staged("1s:2,1s:2", &[100.0, 100.0]);
        let new = staged("1s:2,1s:2", &[100.0, 150.0]);
        let stages = compare_stages(&base, &new, 0.05, Some(0.10)).unwrap();
        assert_eq!(stages.len(), 2);
        let p99 = |k: usize| {
            stages[k]
                .rows
                .iter()
                .find(|r| r.name == "TTFT p99 (ms)")
                .unwrap()
                .clone()
        };
        assert_eq!(p99(0).verdict, Verdict::WithinNoise);
        assert_eq!(p99(1).verdict, Verdict::Worse);
        assert!(p99(1).regressed && !p99(0).regressed);
        let text = stages_table(&stages, &base, &new);
        assert!(
            text.contains("Stage 2 (1.0s-2.0s, target 2 → 2): 10 vs 10 requests"),
            "{text}"
        );
        assert!(text.contains("+50.0%"), "{text}");
        let other = staged("1s:2,1s:4", &[100.0, 100.0]);
        let why = compare_stages(&base, &other, 0.05, None).unwrap_err();
        assert!(why.contains("stages differ"), "{why}");
        let fewer = staged("2s:2", &[100.0]);
        assert!(compare_stages(&base, &fewer, 0.05, None).is_err());
    }
}
