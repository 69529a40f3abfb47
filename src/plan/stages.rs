//! Load that changes over time, resolved: `--stages` (closed-loop workers),
//! `--rate-stages` (open-loop arrivals per second), `--user-stages`
//! (simulated users) and vLLM's `--ramp-up-strategy` with
//! `--ramp-up-start-rps`/`--ramp-up-end-rps`.
//!
//! Each becomes a [`Profile`] beside an envelope [`ScheduleSpec`] (the
//! peak: what sizes the connection pool and what the warm-up runs), and a
//! stop condition: a staged run lasts the sum of its stages unless
//! `--duration` says otherwise (longer holds the last target), and takes no
//! `--requests`; a ramp-up is timed by `--duration` (T is that duration) or
//! counted by `--requests` (vLLM's: request `i` at progress `i/(N−1)`).

use serde::{Deserialize, Serialize};

use super::{bad_at, load, LoadOptions, PlanError, Stop};
use crate::schedule::stages::{Profile, Ramp, RampStrategy, Stage, StageList};
use crate::schedule::{ScheduleSpec, ThinkRange};

/// A stage list as written: `"30s:10,2m:50"`, or k6's list of tables
/// (`[{ duration = "30s", target = 10 }, ...]`) in a scenario file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StagesValue {
    Text(String),
    List(Vec<StageEntry>),
}

/// One stage of a scenario file's list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StageEntry {
    pub duration: String,
    pub target: f64,
}

impl StagesValue {
    fn list(&self) -> Result<StageList, String> {
        let e = |e: crate::schedule::stages::StageError| e.to_string();
        match self {
            Self::Text(s) => StageList::parse(s).map_err(e),
            Self::List(entries) => {
                let stages = entries
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        let duration = crate::units::parse_duration(&s.duration)
                            .map_err(|why| format!("stage {}: bad duration `{}`: {why}", i + 1, s.duration))?;
                        Ok(Stage {
                            duration,
                            target: s.target,
                        })
                    })
                    .collect::<Result<Vec<_>, String>>()?;
                StageList::new(0.0, stages).map_err(e)
            }
        }
    }
}

/// The flags that give a profile, with their option keys.
const KINDS: [(&str, &str); 3] = [
    ("--stages", "load.stages"),
    ("--rate-stages", "load.rate_stages"),
    ("--user-stages", "load.user_stages"),
];

/// The schedule, stop condition and profile when the options give a
/// profile; `None` when they do not (the fixed schedules of `load.rs`).
pub(super) fn resolve(a: &LoadOptions) -> Result<Option<(ScheduleSpec, Stop, Profile)>, PlanError> {
    let given: Vec<(usize, &StagesValue)> = [&a.stages, &a.rate_stages, &a.user_stages]
        .into_iter()
        .enumerate()
        .filter_map(|(i, v)| v.as_ref().map(|v| (i, v)))
        .collect();
    let ramp_given = a.ramp_up_strategy.is_some() || a.ramp_up_start_rps.is_some() || a.ramp_up_end_rps.is_some();
    if given.len() > 1 {
        let (_, key) = KINDS[given[1].0];
        return Err(bad_at(
            key,
            format!(
                "{} and {} are two load shapes; give one",
                KINDS[given[0].0].0, KINDS[given[1].0].0
            ),
        ));
    }
    if let Some(&(kind, value)) = given.first() {
        if ramp_given {
            return Err(bad_at(
                "load.ramp_up_strategy",
                format!("--ramp-up-strategy and {} are two load shapes; give one", KINDS[kind].0),
            ));
        }
        return staged(a, kind, value).map(Some);
    }
    if ramp_given {
        return ramp_up(a).map(Some);
    }
    Ok(None)
}

fn staged(a: &LoadOptions, kind: usize, value: &StagesValue) -> Result<(ScheduleSpec, Stop, Profile), PlanError> {
    let (flag, key) = KINDS[kind];
    let list = value.list().map_err(|e| bad_at(key, format!("{flag}: {e}")))?;
    if a.requests.is_some() {
        return Err(bad_at(
            "load.requests",
            format!("{flag} runs until its last stage ends; --requests does not apply (give --duration to end sooner or hold the last target longer)"),
        ));
    }
    let refuse = |set: bool, other: &str, key: &'static str, why: &str| -> Result<(), PlanError> {
        if set {
            return Err(bad_at(key, format!("{flag} and {other}: {why}")));
        }
        Ok(())
    };
    refuse(
        a.spawn_rate.is_some(),
        "--spawn-rate",
        "load.spawn_rate",
        "the stages say when workers and users start",
    )?;
    let stop = Stop {
        requests: None,
        duration: Some(a.duration.unwrap_or(list.total())),
    };
    let peak = list.peak();
    match kind {
        // --stages: closed-loop workers.
        0 => {
            refuse(
                a.rate.is_some(),
                "--rate",
                "load.rate",
                "--stages sets workers over time; for a rate over time give --rate-stages",
            )?;
            refuse(
                a.users.is_some(),
                "--users",
                "load.users",
                "--stages sets workers over time; for users over time give --user-stages",
            )?;
            refuse(
                a.concurrency.is_some(),
                "--concurrency",
                "load.concurrency",
                "the stages set the concurrency; drop --concurrency",
            )?;
            refuse(
                a.think_time.is_some(),
                "--think-time",
                "load.think_time",
                "think time is for users (--user-stages)",
            )?;
            refuse(
                a.burstiness.is_some(),
                "--burstiness",
                "load.burstiness",
                "burstiness shapes open-loop arrivals (--rate-stages)",
            )?;
            let workers = whole_peak(flag, key, peak, "worker")?;
            Ok((
                ScheduleSpec::Closed { concurrency: workers },
                stop,
                Profile::Concurrency(list),
            ))
        }
        // --rate-stages: open-loop arrivals.
        1 => {
            refuse(
                a.rate.is_some(),
                "--rate",
                "load.rate",
                "the stages set the rate; drop --rate",
            )?;
            refuse(
                a.users.is_some(),
                "--users",
                "load.users",
                "a rate and users are two schedules; give one",
            )?;
            refuse(
                a.think_time.is_some(),
                "--think-time",
                "load.think_time",
                "think time is for users (--user-stages)",
            )?;
            if a.concurrency == Some(0) {
                return Err(bad_at("load.concurrency", "--concurrency must be at least 1"));
            }
            let schedule = ScheduleSpec::Open {
                rate: peak,
                arrival: load::arrival(a.arrival, a.burstiness)?,
                cap: a.concurrency,
            };
            Ok((schedule, stop, Profile::Rate(list)))
        }
        // --user-stages: simulated users.
        _ => {
            refuse(
                a.rate.is_some(),
                "--rate",
                "load.rate",
                "users and a rate are two schedules; give one",
            )?;
            refuse(
                a.users.is_some(),
                "--users",
                "load.users",
                "the stages set the users; drop --users",
            )?;
            refuse(
                a.concurrency.is_some(),
                "--concurrency",
                "load.concurrency",
                "the stages set the users; drop --concurrency",
            )?;
            refuse(
                a.burstiness.is_some(),
                "--burstiness",
                "load.burstiness",
                "burstiness shapes open-loop arrivals (--rate-stages)",
            )?;
            let users = whole_peak(flag, key, peak, "user")?;
            let think = a
                .think_time
                .unwrap_or(ThinkRange(Default::default(), Default::default()));
            let schedule = ScheduleSpec::Users {
                users,
                spawn_rate: f64::INFINITY,
                think: (think.0, think.1),
            };
            Ok((schedule, stop, Profile::Users(list)))
        }
    }
}

/// Workers or users are whole: the peak must reach 1.
fn whole_peak(flag: &str, key: &'static str, peak: f64, what: &str) -> Result<usize, PlanError> {
    if peak < 1.0 {
        return Err(bad_at(
            key,
            format!("{flag}: the targets never reach 1 {what} (peak {peak}); targets count whole {what}s"),
        ));
    }
    Ok(peak.floor() as usize)
}

fn ramp_up(a: &LoadOptions) -> Result<(ScheduleSpec, Stop, Profile), PlanError> {
    let strategy = a.ramp_up_strategy.ok_or_else(|| {
        let (flag, key) = if a.ramp_up_start_rps.is_some() {
            ("--ramp-up-start-rps", "load.ramp_up_start_rps")
        } else {
            ("--ramp-up-end-rps", "load.ramp_up_end_rps")
        };
        bad_at(key, format!("{flag} needs --ramp-up-strategy linear|exponential"))
    })?;
    let (Some(start), Some(end)) = (a.ramp_up_start_rps, a.ramp_up_end_rps) else {
        return Err(bad_at(
            "load.ramp_up_strategy",
            "--ramp-up-strategy needs both --ramp-up-start-rps and --ramp-up-end-rps",
        ));
    };
    if a.rate.is_some() {
        return Err(bad_at(
            "load.rate",
            "--ramp-up-strategy sets the rate over the run; drop --rate (as vLLM asks)",
        ));
    }
    for (v, flag, key) in [
        (start, "--ramp-up-start-rps", "load.ramp_up_start_rps"),
        (end, "--ramp-up-end-rps", "load.ramp_up_end_rps"),
    ] {
        if !(v.is_finite() && v >= 0.0) {
            return Err(bad_at(key, format!("{flag} must be a number of 0 or more")));
        }
    }
    if start > end {
        return Err(bad_at(
            "load.ramp_up_start_rps",
            format!("--ramp-up-start-rps {start} is above --ramp-up-end-rps {end}: a ramp-up rises"),
        ));
    }
    if end == 0.0 {
        return Err(bad_at("load.ramp_up_end_rps", "--ramp-up-end-rps 0 would send nothing"));
    }
    if strategy == RampStrategy::Exponential && start == 0.0 {
        return Err(bad_at(
            "load.ramp_up_start_rps",
            "--ramp-up-strategy exponential needs --ramp-up-start-rps above 0 (A·(B/A)^(t/T))",
        ));
    }
    if a.users.is_some() || a.spawn_rate.is_some() || a.think_time.is_some() {
        return Err(bad_at(
            "load.users",
            "--ramp-up-strategy sets an open-loop rate; users (--users, --spawn-rate, --think-time) are another schedule",
        ));
    }
    if a.concurrency == Some(0) {
        return Err(bad_at("load.concurrency", "--concurrency must be at least 1"));
    }
    if a.requests == Some(0) {
        return Err(bad_at("load.requests", "--requests must be at least 1"));
    }
    if a.duration.is_some_and(|d| d.is_zero()) {
        return Err(bad_at("load.duration", "--duration must be greater than zero"));
    }
    let counted = a.requests.is_some() || a.duration.is_none();
    if counted && start == 0.0 {
        return Err(bad_at(
            "load.ramp_up_start_rps",
            "a counted ramp-up (--requests) draws each request's gap at its rate, so --ramp-up-start-rps must be above 0; give --duration for a timed ramp from 0",
        ));
    }
    let stop = Stop {
        requests: a.requests.or(counted.then_some(super::defaults::REQUESTS)),
        duration: a.duration,
    };
    let over_s = (!counted).then(|| a.duration.map_or(0.0, |d| d.as_secs_f64()));
    let schedule = ScheduleSpec::Open {
        rate: end,
        arrival: load::arrival(a.arrival, a.burstiness)?,
        cap: a.concurrency,
    };
    let ramp = Ramp {
        strategy,
        start_rps: start,
        end_rps: end,
    };
    Ok((schedule, stop, Profile::RampUp { ramp, over_s }))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn go(f: impl FnOnce(&mut LoadOptions)) -> Result<Option<(ScheduleSpec, Stop, Profile)>, PlanError> {
        let mut o = LoadOptions::default();
        f(&mut o);
        resolve(&o)
    }

    fn err(f: impl FnOnce(&mut LoadOptions)) -> PlanError {
        go(f).expect_err("refused")
    }

    fn text(s: &str) -> Option<StagesValue> {
        Some(StagesValue::Text(s.into()))
    }

    #[test]
    fn scenario_files_take_stages_as_text_or_k6_lists() {
        let o: crate::plan::RunOptions = toml::from_str(
            "[load]\nstages = [{ duration = \"30s\", target = 10 }, { duration = \"1m\", target = 0 }]\n\
             [objectives]\nslo = [\"ttft_p99<1s\"]\nslo_per_stage = true\n",
        )
        .unwrap();
        let plan = crate::plan::RunPlan::resolve(&o).unwrap();
        assert!(plan.slo_per_stage);
        assert_eq!(plan.stop.duration, Some(Duration::from_secs(90)));
        assert!(matches!(plan.profile, Some(Profile::Concurrency(ref l)) if l.stages.len() == 2));
        let o: crate::plan::RunOptions = toml::from_str(
            "[load]\nramp_up_strategy = \"exponential\"\nramp_up_start_rps = 1\nramp_up_end_rps = 8\nrequests = 20\n",
        )
        .unwrap();
        let plan = crate::plan::RunPlan::resolve(&o).unwrap();
        assert_eq!(plan.profile.map(|p| p.kind()), Some("ramp_up"));
        let e = toml::from_str::<crate::plan::RunOptions>("[load]\nramp_up_strategy = \"cubic\"\n").unwrap_err();
        assert!(e.to_string().contains("linear, exponential"), "{e}");
        let o: crate::plan::RunOptions = toml::from_str("[load]\nrate_stages = \"10s:-2\"\n").unwrap();
        let e = crate::plan::RunPlan::resolve(&o).unwrap_err();
        assert_eq!(e.key, Some("load.rate_stages"));
        let o: crate::plan::RunOptions = toml::from_str("[objectives]\nslo_per_stage = true\n").unwrap();
        let e = crate::plan::RunPlan::resolve(&o).unwrap_err();
        assert_eq!(e.key, Some("objectives.slo_per_stage"));
        assert!(e.message.contains("--slo-per-stage needs --stages"), "{e}");
    }

    #[test]
    fn no_profile_leaves_the_fixed_schedules() {
        assert!(go(|_| {}).unwrap().is_none());
    }

    #[test]
    fn stages_set_the_schedule_and_the_duration() {
        let (s, stop, p) = go(|o| o.stages = text("30s:10,2m:50,30s:0")).unwrap().unwrap();
        assert_eq!(s, ScheduleSpec::Closed { concurrency: 50 });
        assert_eq!(stop.duration, Some(Duration::from_secs(180)));
        assert_eq!(stop.requests, None);
        assert!(matches!(p, Profile::Concurrency(_)));
        let (s, stop, _) = go(|o| {
            o.rate_stages = text("10s:5,10s:20");
            o.concurrency = Some(8);
            o.duration = Some(Duration::from_secs(5))
        })
        .unwrap()
        .unwrap();
        assert!(matches!(s, ScheduleSpec::Open { rate, cap: Some(8), .. } if rate == 20.0));
        assert_eq!(stop.duration, Some(Duration::from_secs(5)), "--duration wins");
        let (s, _, p) = go(|o| {
            o.user_stages = text("5s:4");
            o.think_time = Some(ThinkRange(Duration::from_millis(10), Duration::from_millis(20)))
        })
        .unwrap()
        .unwrap();
        assert!(matches!(s, ScheduleSpec::Users { users: 4, .. }));
        assert_eq!(p.kind(), "users");
        let list = StagesValue::List(vec![
            StageEntry {
                duration: "1m".into(),
                target: 3.0,
            },
            StageEntry {
                duration: "30s".into(),
                target: 0.0,
            },
        ]);
        let (_, stop, _) = go(|o| o.stages = Some(list)).unwrap().unwrap();
        assert_eq!(stop.duration, Some(Duration::from_secs(90)));
    }

    #[test]
    fn ramp_up_is_timed_or_counted() {
        let ramp = |o: &mut LoadOptions| {
            o.ramp_up_strategy = Some(RampStrategy::Linear);
            o.ramp_up_start_rps = Some(1.0);
            o.ramp_up_end_rps = Some(9.0);
        };
        let (_, stop, p) = go(|o| {
            ramp(o);
            o.duration = Some(Duration::from_secs(4))
        })
        .unwrap()
        .unwrap();
        assert_eq!(stop.requests, None);
        assert!(matches!(p, Profile::RampUp { over_s: Some(s), .. } if s == 4.0));
        let (_, stop, p) = go(|o| {
            ramp(o);
            o.requests = Some(50)
        })
        .unwrap()
        .unwrap();
        assert_eq!(stop.requests, Some(50));
        assert!(matches!(p, Profile::RampUp { over_s: None, .. }));
        let (_, _, p) = go(|o| {
            ramp(o);
            o.ramp_up_start_rps = Some(0.0);
            o.duration = Some(Duration::from_secs(4))
        })
        .unwrap()
        .unwrap();
        assert_eq!(p.kind(), "ramp_up", "a timed linear ramp may start at 0");
    }

    #[test]
    fn every_profile_error_names_its_option() {
        let ramp = |o: &mut LoadOptions| {
            o.ramp_up_strategy = Some(RampStrategy::Linear);
            o.ramp_up_start_rps = Some(1.0);
            o.ramp_up_end_rps = Some(9.0);
        };
        type Case = (PlanError, &'static str, &'static str);
        let cases: Vec<Case> = vec![
            (
                err(|o| o.stages = text("")),
                "--stages: the stage list is empty",
                "load.stages",
            ),
            (
                err(|o| o.stages = text("30s:10,later:5")),
                "--stages: stage 2: bad duration `later`",
                "load.stages",
            ),
            (
                err(|o| o.rate_stages = text("30s:-4")),
                "--rate-stages: stage 1: bad target `-4`",
                "load.rate_stages",
            ),
            (
                err(|o| o.user_stages = text("30s")),
                "write DURATION:TARGET",
                "load.user_stages",
            ),
            (
                err(|o| o.stages = text("0s:5")),
                "durations add up to zero",
                "load.stages",
            ),
            (
                err(|o| o.stages = text("10s:0.5")),
                "never reach 1 worker",
                "load.stages",
            ),
            (
                err(|o| o.user_stages = text("10s:0")),
                "every target is 0",
                "load.user_stages",
            ),
            (
                err(|o| {
                    o.stages = Some(StagesValue::List(vec![StageEntry {
                        duration: "x".into(),
                        target: 1.0,
                    }]))
                }),
                "stage 1: bad duration `x`",
                "load.stages",
            ),
            (
                err(|o| {
                    o.stages = text("10s:5");
                    o.requests = Some(10)
                }),
                "--requests does not apply",
                "load.requests",
            ),
            (
                err(|o| {
                    o.stages = text("10s:5");
                    o.rate_stages = text("10s:5")
                }),
                "--stages and --rate-stages are two load shapes",
                "load.rate_stages",
            ),
            (
                err(|o| {
                    o.stages = text("10s:5");
                    o.rate = Some(3.0)
                }),
                "give --rate-stages",
                "load.rate",
            ),
            (
                err(|o| {
                    o.stages = text("10s:5");
                    o.concurrency = Some(3)
                }),
                "drop --concurrency",
                "load.concurrency",
            ),
            (
                err(|o| {
                    o.stages = text("10s:5");
                    o.users = Some(3)
                }),
                "give --user-stages",
                "load.users",
            ),
            (
                err(|o| {
                    o.user_stages = text("10s:5");
                    o.spawn_rate = Some(3.0)
                }),
                "the stages say when workers and users start",
                "load.spawn_rate",
            ),
            (
                err(|o| {
                    o.rate_stages = text("10s:5");
                    o.rate = Some(3.0)
                }),
                "drop --rate",
                "load.rate",
            ),
            (
                err(|o| {
                    o.stages = text("10s:5");
                    ramp(o)
                }),
                "--ramp-up-strategy and --stages are two load shapes",
                "load.ramp_up_strategy",
            ),
            (
                err(|o| {
                    o.ramp_up_strategy = Some(RampStrategy::Linear);
                    o.ramp_up_start_rps = Some(1.0)
                }),
                "needs both --ramp-up-start-rps and --ramp-up-end-rps",
                "load.ramp_up_strategy",
            ),
            (
                err(|o| o.ramp_up_end_rps = Some(3.0)),
                "--ramp-up-end-rps needs --ramp-up-strategy",
                "load.ramp_up_end_rps",
            ),
            (
                err(|o| {
                    ramp(o);
                    o.rate = Some(2.0)
                }),
                "drop --rate",
                "load.rate",
            ),
            (
                err(|o| {
                    ramp(o);
                    o.ramp_up_start_rps = Some(-1.0)
                }),
                "--ramp-up-start-rps must be a number of 0 or more",
                "load.ramp_up_start_rps",
            ),
            (
                err(|o| {
                    ramp(o);
                    o.ramp_up_start_rps = Some(20.0)
                }),
                "is above --ramp-up-end-rps",
                "load.ramp_up_start_rps",
            ),
            (
                err(|o| {
                    ramp(o);
                    o.ramp_up_strategy = Some(RampStrategy::Exponential);
                    o.ramp_up_start_rps = Some(0.0)
                }),
                "exponential needs --ramp-up-start-rps above 0",
                "load.ramp_up_start_rps",
            ),
            (
                err(|o| {
                    ramp(o);
                    o.ramp_up_start_rps = Some(0.0);
                    o.requests = Some(10)
                }),
                "a counted ramp-up",
                "load.ramp_up_start_rps",
            ),
            (
                err(|o| {
                    ramp(o);
                    o.ramp_up_start_rps = Some(0.0);
                    o.ramp_up_end_rps = Some(0.0)
                }),
                "would send nothing",
                "load.ramp_up_end_rps",
            ),
            (
                err(|o| {
                    ramp(o);
                    o.users = Some(2)
                }),
                "users (--users",
                "load.users",
            ),
        ];
        for (e, text, key) in cases {
            assert!(e.message.contains(text), "`{e}` should contain `{text}`");
            assert_eq!(e.key, Some(key), "{e}");
        }
    }
}
