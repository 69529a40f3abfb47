//! Stop rules of a sweep, checked after every level: the first level that
//! trips one ends the sweep, and the level before it is the maximum stable
//! one. Each rule can be changed or removed (`off`).

use serde::Serialize;

pub use crate::doc::sweep::Trip;
use crate::monitor::MonitorSummary;
use crate::slo::{self, Slo, SloResult};
use crate::stats::Summary;

/// How close to `--min-gain` a measured gain counts as within noise: a
/// level's throughput varies by a few percent from one measurement to the
/// next, so a gain this near the threshold says nothing by itself and the
/// sweep confirms it before stopping (see `search::ladder`).
pub const GAIN_NOISE: f64 = 0.05;

/// The configured rules.
#[derive(Debug, Clone, Serialize)]
pub struct StopRules {
    /// Stop when the success rate falls below this fraction (default 0.95).
    pub min_success_rate: Option<f64>,
    /// Stop when mean TTFT exceeds this many milliseconds (default 1000).
    pub max_mean_ttft_ms: Option<f64>,
    /// Stop when throughput grows by less than this fraction over the
    /// previous level (default 0.20).
    pub min_gain: Option<f64>,
    /// Stop when any of these conditions holds (`--stop-when`).
    pub stop_when: Vec<Slo>,
    /// Stop when any objective (`--slo`) fails.
    pub slos_stop: bool,
    /// Stop when a monitored GPU's memory use reaches this fraction
    /// (default 0.98).
    pub max_gpu_memory: Option<f64>,
    /// Stop when the server's scraped KV-cache use reaches this fraction
    /// (default 0.99).
    pub max_kv_cache: Option<f64>,
}

impl StopRules {
    /// The resource rule: a level whose peak GPU memory or KV-cache use (as
    /// the monitor saw it) reached its limit exhausted the server. Levels
    /// without those figures pass.
    pub fn check_resources(&self, m: Option<&MonitorSummary>) -> Option<Trip> {
        let m = m?;
        if let (Some(max), Some(gpu)) = (self.max_gpu_memory, m.gpu_memory_pct) {
            if gpu.peak >= max * 100.0 {
                return Some(Trip::new(
                    "resource",
                    format!("GPU memory peaked at {:.1}%, at or above {:.0}%", gpu.peak, max * 100.0),
                ));
            }
        }
        if let (Some(max), Some(kv)) = (self.max_kv_cache, m.kv_cache_pct) {
            if kv.peak >= max * 100.0 {
                return Some(Trip::new(
                    "resource",
                    format!(
                        "KV-cache use peaked at {:.1}%, at or above {:.0}%",
                        kv.peak,
                        max * 100.0
                    ),
                ));
            }
        }
        None
    }

    /// True when the throughput gain from `previous` to `now` trips the gain
    /// rule by less than [`GAIN_NOISE`]: a knife edge, to be confirmed by a
    /// second measurement before it ends the sweep.
    pub fn gain_is_marginal(&self, previous: f64, now: f64) -> bool {
        match self.min_gain {
            Some(min) if previous > 0.0 => {
                let gain = now / previous - 1.0;
                gain < min && gain >= min - GAIN_NOISE
            }
            _ => false,
        }
    }

    /// Checks one level. `previous_throughput` is the request throughput of
    /// the level before (none for the first level).
    pub fn check(
        &self,
        summary: &Summary,
        slo_results: &[SloResult],
        previous_throughput: Option<f64>,
    ) -> Option<Trip> {
        if let Some(min) = self.min_success_rate {
            if summary.requests_total > 0 && summary.success_rate < min {
                return Some(Trip::new(
                    "success_rate",
                    format!(
                        "success rate {:.1}% is below {:.1}%",
                        summary.success_rate * 100.0,
                        min * 100.0
                    ),
                ));
            }
        }
        if summary.successful == 0 {
            return Some(Trip::new("success_rate", "no request succeeded".into()));
        }
        if let (Some(max), Some(ttft)) = (self.max_mean_ttft_ms, summary.ttft_ms.as_ref()) {
            if ttft.mean > max {
                return Some(Trip::new(
                    "mean_ttft",
                    format!("mean TTFT {:.1} ms is above {:.0} ms", ttft.mean, max),
                ));
            }
        }
        if self.slos_stop {
            if let Some(r) = slo_results.iter().find(|r| !r.passed) {
                return Some(Trip::new(
                    "slo",
                    format!("objective `{}` failed (measured {})", r.slo.expr, r.measured_text()),
                ));
            }
        }
        let conditions = slo::evaluate(&self.stop_when, summary, None);
        if let Some(r) = conditions.iter().find(|r| r.passed) {
            return Some(Trip::new(
                "stop_when",
                format!("--stop-when `{}` holds (measured {})", r.slo.expr, r.measured_text()),
            ));
        }
        if let (Some(min), Some(prev)) = (self.min_gain, previous_throughput) {
            if prev > 0.0 {
                let gain = summary.request_throughput / prev - 1.0;
                if gain < min {
                    return Some(Trip::new(
                        "throughput_gain",
                        format!(
                            "throughput grew {:+.1}% over the previous level ({:.2} → {:.2} req/s), less than {:.0}%",
                            gain * 100.0,
                            prev,
                            summary.request_throughput,
                            min * 100.0
                        ),
                    ));
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::LatencyStats;

    fn rules() -> StopRules {
        StopRules {
            min_success_rate: Some(0.95),
            max_mean_ttft_ms: Some(1000.0),
            min_gain: Some(0.2),
            stop_when: slo::parse_all(&["e2e_p99>5s".into()]).unwrap(),
            slos_stop: true,
            max_gpu_memory: Some(0.98),
            max_kv_cache: Some(0.99),
        }
    }

    fn summary(success_rate: f64, rps: f64, ttft_mean: f64, e2e_p99: f64) -> Summary {
        Summary {
            requests_total: 100,
            successful: (success_rate * 100.0) as u64,
            success_rate,
            request_throughput: rps,
            ttft_ms: Some(LatencyStats {
                mean: ttft_mean,
                ..Default::default()
            }),
            e2e_ms: Some(LatencyStats {
                p99: e2e_p99,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn each_rule_trips_with_its_value() {
        let r = rules();
        assert_eq!(r.check(&summary(1.0, 10.0, 100.0, 900.0), &[], None), None);
        assert_eq!(
            r.check(&summary(0.9, 10.0, 100.0, 900.0), &[], None).unwrap().rule,
            "success_rate"
        );
        let t = r.check(&summary(1.0, 10.0, 1500.0, 900.0), &[], None).unwrap();
        assert_eq!(t.rule, "mean_ttft");
        assert!(t.detail.contains("1500.0 ms"));
        let t = r.check(&summary(1.0, 11.0, 100.0, 900.0), &[], Some(10.0)).unwrap();
        assert_eq!(t.rule, "throughput_gain");
        assert!(t.detail.contains("+10.0%"), "{}", t.detail);
        assert_eq!(r.check(&summary(1.0, 13.0, 100.0, 900.0), &[], Some(10.0)), None);
        assert_eq!(
            r.check(&summary(1.0, 13.0, 100.0, 6000.0), &[], Some(10.0))
                .unwrap()
                .rule,
            "stop_when"
        );
    }

    #[test]
    fn a_gain_just_under_the_threshold_is_marginal() {
        let r = rules();
        assert!(r.gain_is_marginal(100.0, 119.9));
        assert!(r.gain_is_marginal(100.0, 115.5));
        assert!(!r.gain_is_marginal(100.0, 110.0), "clearly under");
        assert!(!r.gain_is_marginal(100.0, 125.0), "not tripped");
        assert!(!StopRules {
            min_gain: None,
            ..rules()
        }
        .gain_is_marginal(100.0, 119.9));
    }

    #[test]
    fn rules_can_be_removed() {
        let off = StopRules {
            min_success_rate: None,
            max_mean_ttft_ms: None,
            min_gain: None,
            stop_when: vec![],
            slos_stop: false,
            max_gpu_memory: None,
            max_kv_cache: None,
        };
        assert_eq!(off.check(&summary(0.5, 10.0, 5000.0, 9000.0), &[], Some(10.0)), None);
    }

    #[test]
    fn failing_objectives_stop_the_sweep() {
        let slos = slo::parse_all(&["ttft_mean<50ms".into()]).unwrap();
        let s = summary(1.0, 10.0, 100.0, 900.0);
        let results = slo::evaluate(&slos, &s, None);
        assert_eq!(rules().check(&s, &results, None).unwrap().rule, "slo");
    }

    #[test]
    fn exhausted_resources_stop_the_sweep() {
        use crate::monitor::Stat;
        let r = rules();
        let at = |gpu: f64, kv: f64| MonitorSummary {
            gpu_memory_pct: Some(Stat {
                mean: gpu / 2.0,
                peak: gpu,
            }),
            kv_cache_pct: Some(Stat {
                mean: kv / 2.0,
                peak: kv,
            }),
            ..Default::default()
        };
        assert_eq!(r.check_resources(None), None);
        assert_eq!(r.check_resources(Some(&MonitorSummary::default())), None);
        assert_eq!(r.check_resources(Some(&at(90.0, 95.0))), None);
        let t = r.check_resources(Some(&at(98.5, 10.0))).unwrap();
        assert_eq!(t.rule, "resource");
        assert!(t.detail.contains("GPU memory peaked at 98.5%"), "{}", t.detail);
        let t = r.check_resources(Some(&at(50.0, 100.0))).unwrap();
        assert!(t.detail.contains("KV-cache use peaked at 100.0%"), "{}", t.detail);
        let off = StopRules {
            max_gpu_memory: None,
            max_kv_cache: None,
            ..rules()
        };
        assert_eq!(off.check_resources(Some(&at(100.0, 100.0))), None);
    }
}
