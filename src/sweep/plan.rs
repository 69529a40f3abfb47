//! A validated sweep: the shared run settings (a [`RunPlan`] made by the
//! plan's one constructor) plus only what is the sweep's own — the mode
//! and its ladder, per-level sizes, the stop rules and the verdict's
//! headroom.

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use super::ladder;
use super::rules::StopRules;
use crate::plan::{PlanError, RunPlan};
use crate::schedule::{Arrival, ArrivalKind};

/// What the sweep searches.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Mode {
    Concurrency {
        levels: Vec<usize>,
    },
    Rate {
        rates: Vec<f64>,
        cap: Option<usize>,
    },
    FindConcurrency {
        rate: f64,
        max_concurrency: usize,
    },
    MaxRateUnderSlo {
        start: f64,
        cap: Option<usize>,
        precision: f64,
    },
}

/// The sweep's own settings, as the user gave them (the flags' defaults
/// applied): ladders as text, thresholds with `None` for `off`.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    pub concurrency: Option<String>,
    pub rate: Option<String>,
    pub arrival: ArrivalKind,
    pub burstiness: Option<f64>,
    pub requests_per_level: Option<u64>,
    pub duration_per_level: Option<Duration>,
    pub warmup_per_level: Option<u64>,
    pub find_concurrency: bool,
    pub max_rate_under_slo: bool,
    pub precision: f64,
    pub max_runs: u32,
    pub max_concurrency_search: usize,
    pub min_success_rate: Option<f64>,
    pub max_mean_ttft: Option<Duration>,
    pub min_gain: Option<f64>,
    pub stop_when: Vec<String>,
    pub no_stop_on_slo: bool,
    pub max_gpu_memory: Option<f64>,
    pub max_kv_cache: Option<f64>,
    pub headroom: f64,
    pub json: Option<PathBuf>,
    pub records: Option<PathBuf>,
}

impl Default for SweepOptions {
    /// The flags' defaults.
    fn default() -> Self {
        Self {
            concurrency: None,
            rate: None,
            arrival: ArrivalKind::Poisson,
            burstiness: None,
            requests_per_level: None,
            duration_per_level: None,
            warmup_per_level: None,
            find_concurrency: false,
            max_rate_under_slo: false,
            precision: 0.05,
            max_runs: 12,
            max_concurrency_search: 1024,
            min_success_rate: Some(0.95),
            max_mean_ttft: Some(Duration::from_secs(1)),
            min_gain: Some(0.2),
            stop_when: Vec::new(),
            no_stop_on_slo: false,
            max_gpu_memory: Some(0.98),
            max_kv_cache: Some(0.99),
            headroom: 0.75,
            json: None,
            records: None,
        }
    }
}

/// A validated sweep.
#[derive(Debug, Clone, Serialize)]
pub struct SweepPlan {
    /// Target, workload, objectives, outputs and timing shared by every level.
    pub base: RunPlan,
    pub mode: Mode,
    pub arrival: Arrival,
    pub requests_per_level: Option<u64>,
    #[serde(serialize_with = "crate::plan::ser_opt_secs")]
    pub duration_per_level: Option<Duration>,
    pub warmup_per_level: Option<u64>,
    pub rules: StopRules,
    pub headroom: f64,
    pub max_runs: u32,
    pub json: Option<PathBuf>,
    pub records_dir: Option<PathBuf>,
    pub quiet: bool,
}

fn bad(msg: impl Into<String>) -> PlanError {
    PlanError {
        key: None,
        message: msg.into(),
    }
}

impl SweepPlan {
    /// The sweep over `base` (the shared run settings, resolved by the
    /// plan's constructor) with the sweep's own options.
    pub fn resolve(base: RunPlan, a: &SweepOptions) -> Result<Self, PlanError> {
        if matches!(base.workload.dataset, crate::workload::DatasetSpec::Trace(_)) {
            return Err(bad(
                "sweep does not replay traces: a trace sets its own load (its arrival times); \
                 replay it with `run --trace-speed X`, or compare speeds with `compare` strategies setting trace_speed",
            ));
        }
        if base.profile.is_some() {
            return Err(bad(
                "--stages, --rate-stages, --user-stages and --ramp-up-strategy shape one run's load; a sweep sets its own levels (use `inferload run`)",
            ));
        }
        let stop_when = crate::slo::parse_all(&a.stop_when).map_err(|e| bad(format!("--stop-when: {e}")))?;
        let concurrency = a
            .concurrency
            .as_deref()
            .map(ladder::parse_concurrency)
            .transpose()
            .map_err(|e| bad(format!("--concurrency {e}")))?;
        let rates = a
            .rate
            .as_deref()
            .map(ladder::parse_rates)
            .transpose()
            .map_err(|e| bad(format!("--rate {e}")))?;
        let single_cap = |c: &Option<Vec<usize>>| -> Result<Option<usize>, PlanError> {
            match c.as_deref() {
                None => Ok(None),
                Some([one]) => Ok(Some(*one)),
                Some(_) => Err(bad("--concurrency with --rate is a cap: give one value")),
            }
        };
        if a.find_concurrency && a.max_rate_under_slo {
            return Err(bad(
                "--find-concurrency and --max-rate-under-slo are two searches; run one",
            ));
        }
        let mode = if a.find_concurrency {
            let rate = match rates.as_deref() {
                Some([r]) => *r,
                _ => return Err(bad("--find-concurrency needs one target --rate, e.g. --rate 20")),
            };
            if concurrency.is_some() {
                return Err(bad(
                    "--find-concurrency searches the concurrency itself; drop --concurrency",
                ));
            }
            Mode::FindConcurrency {
                rate,
                max_concurrency: a.max_concurrency_search.max(1),
            }
        } else if a.max_rate_under_slo {
            let start = match rates.as_deref() {
                None => 1.0,
                Some([r]) => *r,
                Some(_) => return Err(bad("--max-rate-under-slo takes one starting --rate")),
            };
            if a.precision <= 0.0 {
                return Err(bad("--precision must be above 0%"));
            }
            Mode::MaxRateUnderSlo {
                start,
                cap: single_cap(&concurrency)?,
                precision: a.precision,
            }
        } else if let Some(rates) = rates {
            Mode::Rate {
                rates,
                cap: single_cap(&concurrency)?,
            }
        } else {
            Mode::Concurrency {
                levels: concurrency.unwrap_or_else(|| vec![1, 2, 5, 10, 20, 50, 100]),
            }
        };
        if a.requests_per_level == Some(0) {
            return Err(bad("--requests-per-level must be at least 1"));
        }
        if a.duration_per_level.is_some_and(|d| d.is_zero()) {
            return Err(bad("--duration-per-level must be greater than zero"));
        }
        if a.max_runs == 0 {
            return Err(bad("--max-runs must be at least 1"));
        }
        if a.headroom <= 0.0 {
            return Err(bad("--headroom must be above 0%"));
        }
        let arrival = crate::plan::arrival(Some(a.arrival), a.burstiness)?;
        check_paths(&base, a)?;
        let quiet = base.outputs.quiet;
        Ok(SweepPlan {
            base,
            mode,
            arrival,
            requests_per_level: a.requests_per_level,
            duration_per_level: a.duration_per_level,
            warmup_per_level: a.warmup_per_level,
            rules: StopRules {
                min_success_rate: a.min_success_rate,
                max_mean_ttft_ms: a.max_mean_ttft.map(|d| d.as_secs_f64() * 1e3),
                min_gain: a.min_gain,
                stop_when,
                slos_stop: !a.no_stop_on_slo,
                max_gpu_memory: a.max_gpu_memory,
                max_kv_cache: a.max_kv_cache,
            },
            headroom: a.headroom,
            max_runs: a.max_runs,
            json: a.json.clone(),
            records_dir: a.records.clone(),
            quiet,
        })
    }
}

/// The sweep's own outputs (`--json`, the `--records` directory) checked
/// with the shared run's outputs and inputs, before any level runs.
fn check_paths(base: &RunPlan, a: &SweepOptions) -> Result<(), PlanError> {
    use crate::plan::{OutputPath, PathRole};
    let mut written = base.written_paths();
    written.extend(a.json.clone().map(|path| OutputPath {
        flag: "--json",
        key: "output.json",
        path,
        role: PathRole::File,
    }));
    written.extend(a.records.clone().map(|path| OutputPath {
        flag: "--records",
        key: "output.records",
        path,
        role: PathRole::Dir,
    }));
    crate::plan::check_paths(&written, &base.read_paths())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::RunOptions;

    fn sweep(f: impl FnOnce(&mut SweepOptions)) -> Result<SweepPlan, PlanError> {
        let mut o = SweepOptions::default();
        f(&mut o);
        SweepPlan::resolve(RunPlan::resolve(&RunOptions::default()).unwrap(), &o)
    }

    #[test]
    fn a_trace_is_refused_with_what_to_do_instead() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        std::fs::write(&path, "{\"timestamp\": 0, \"input_length\": 4}\n").unwrap();
        let mut o = RunOptions::default();
        o.workload.dataset = Some(format!("mooncake:{}", path.display()));
        let e = SweepPlan::resolve(RunPlan::resolve(&o).unwrap(), &SweepOptions::default()).unwrap_err();
        assert!(
            e.message.starts_with("sweep does not replay traces") && e.message.contains("run --trace-speed X"),
            "{e}"
        );
    }

    #[test]
    fn modes_from_the_ladders() {
        assert!(matches!(sweep(|_| {}).unwrap().mode, Mode::Concurrency { ref levels } if levels.len() == 7));
        let p = sweep(|o| {
            o.rate = Some("1,2".into());
            o.concurrency = Some("8".into())
        })
        .unwrap();
        assert!(matches!(p.mode, Mode::Rate { cap: Some(8), .. }));
        let p = sweep(|o| {
            o.rate = Some("20".into());
            o.find_concurrency = true
        })
        .unwrap();
        assert!(matches!(p.mode, Mode::FindConcurrency { rate, .. } if rate == 20.0));
        let p = sweep(|o| o.max_rate_under_slo = true).unwrap();
        assert!(matches!(p.mode, Mode::MaxRateUnderSlo { start, .. } if start == 1.0));
    }

    #[test]
    fn the_sweeps_outputs_are_checked_with_the_runs() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(d.join("file"), "").unwrap();
        let e = sweep(|o| o.json = Some(d.join("missing/s.json"))).unwrap_err();
        assert!(
            e.message.starts_with("--json ") && e.message.contains("does not exist"),
            "{e}"
        );
        let e = sweep(|o| o.records = Some(d.join("file"))).unwrap_err();
        assert!(
            e.message.starts_with("--records ") && e.message.ends_with("is a file, not a directory"),
            "{e}"
        );
        let mut run = RunOptions::default();
        run.output.no_history = Some(true);
        run.output.html = Some(d.join("s.json"));
        let o = SweepOptions {
            json: Some(d.join("s.json")),
            ..SweepOptions::default()
        };
        let e = SweepPlan::resolve(RunPlan::resolve(&run).unwrap(), &o).unwrap_err();
        assert!(e.message.starts_with("--html and --json both name"), "{e}");
        let p = sweep(|o| {
            o.json = Some(d.join("s.json"));
            o.records = Some(d.join("levels"))
        });
        assert!(p.is_ok(), "{:?}", p.err());
    }

    #[test]
    fn every_sweep_error_names_its_flag() {
        let cases: Vec<(PlanError, &str)> = vec![
            (
                sweep(|o| o.stop_when = vec!["ttft>".into()]).unwrap_err(),
                "--stop-when",
            ),
            (
                sweep(|o| o.concurrency = Some("4,2".into())).unwrap_err(),
                "--concurrency",
            ),
            (sweep(|o| o.rate = Some("0".into())).unwrap_err(), "--rate"),
            (
                sweep(|o| {
                    o.rate = Some("1".into());
                    o.concurrency = Some("1,2".into())
                })
                .unwrap_err(),
                "--concurrency with --rate is a cap",
            ),
            (
                sweep(|o| {
                    o.find_concurrency = true;
                    o.max_rate_under_slo = true
                })
                .unwrap_err(),
                "two searches",
            ),
            (
                sweep(|o| o.find_concurrency = true).unwrap_err(),
                "--find-concurrency needs one target --rate",
            ),
            (
                sweep(|o| {
                    o.find_concurrency = true;
                    o.rate = Some("5".into());
                    o.concurrency = Some("2".into())
                })
                .unwrap_err(),
                "drop --concurrency",
            ),
            (
                sweep(|o| {
                    o.max_rate_under_slo = true;
                    o.rate = Some("1,2".into())
                })
                .unwrap_err(),
                "one starting --rate",
            ),
            (
                sweep(|o| {
                    o.max_rate_under_slo = true;
                    o.precision = 0.0
                })
                .unwrap_err(),
                "--precision",
            ),
            (
                sweep(|o| o.requests_per_level = Some(0)).unwrap_err(),
                "--requests-per-level",
            ),
            (
                sweep(|o| o.duration_per_level = Some(Duration::ZERO)).unwrap_err(),
                "--duration-per-level",
            ),
            (sweep(|o| o.max_runs = 0).unwrap_err(), "--max-runs"),
            (sweep(|o| o.headroom = 0.0).unwrap_err(), "--headroom"),
            (
                sweep(|o| {
                    o.arrival = ArrivalKind::Constant;
                    o.burstiness = Some(2.0)
                })
                .unwrap_err(),
                "--burstiness",
            ),
        ];
        for (e, text) in cases {
            assert!(e.message.contains(text), "`{e}` should contain `{text}`");
        }
    }
}
