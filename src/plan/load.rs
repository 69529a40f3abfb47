//! The schedule and stop condition of a run: closed loop, open loop at a
//! rate (with an optional cap), or simulated users; a request count or a
//! duration.

use std::time::Duration;

use super::{bad_at, defaults, LoadOptions, PlanError, Stop};
use crate::schedule::{Arrival, ArrivalKind, ScheduleSpec, Shard, ThinkRange};

/// The schedule and stop condition, from the load options.
pub(super) fn resolve(a: &LoadOptions) -> Result<(ScheduleSpec, Stop), PlanError> {
    if a.concurrency == Some(0) {
        return Err(bad_at("load.concurrency", "--concurrency must be at least 1"));
    }
    let stop = resolve_stop(a)?;
    if let Some(users) = a.users {
        return Ok((resolve_users(a, users)?, stop));
    }
    if a.spawn_rate.is_some() || a.think_time.is_some() {
        let (flag, key) = if a.spawn_rate.is_some() {
            ("--spawn-rate", "load.spawn_rate")
        } else {
            ("--think-time", "load.think_time")
        };
        return Err(bad_at(key, format!("{flag} needs --users (it shapes simulated users)")));
    }
    let schedule = match a.rate {
        None => {
            if a.burstiness.is_some() {
                return Err(bad_at(
                    "load.burstiness",
                    "--burstiness needs --rate (it shapes open-loop arrivals)",
                ));
            }
            ScheduleSpec::Closed {
                concurrency: a.concurrency.unwrap_or(defaults::CONCURRENCY),
            }
        }
        Some(rate) => {
            if rate.is_nan() || rate <= 0.0 {
                return Err(bad_at("load.rate", "--rate must be above 0 (or `inf`)"));
            }
            ScheduleSpec::Open {
                rate,
                arrival: arrival(a.arrival, a.burstiness)?,
                cap: a.concurrency,
            }
        }
    };
    if stop.requests.is_none() {
        if let ScheduleSpec::Open { rate, .. } = schedule {
            if rate.is_infinite() {
                return Err(bad_at(
                    "load.rate",
                    "--rate inf with only --duration would send without end; give --requests",
                ));
            }
        }
    }
    Ok((schedule, stop))
}

/// The shard this process runs: `--shard K/N`, or `--shards N` with K
/// from the index a Kubernetes Indexed Job gives each pod.
pub(super) fn resolve_shard(a: &LoadOptions) -> Result<Option<Shard>, PlanError> {
    match (&a.shard, a.shards) {
        (Some(_), Some(_)) => Err(bad_at(
            "load.shards",
            "give --shard K/N or --shards N (with JOB_COMPLETION_INDEX), not both",
        )),
        (Some(s), None) => Shard::parse(s)
            .map(Some)
            .map_err(|e| bad_at("load.shard", format!("--shard {s}: {e}"))),
        (None, Some(n)) => {
            let k = a.shard_index.ok_or_else(|| {
                bad_at(
                    "load.shards",
                    "--shards N needs this shard's index: --shard K/N, or JOB_COMPLETION_INDEX as a Kubernetes Indexed Job sets it",
                )
            })?;
            Shard::new(k, n)
                .map(Some)
                .map_err(|e| bad_at("load.shards", format!("--shards {n}: {e}")))
        }
        (None, None) => Ok(None),
    }
}

/// `--start-at`: an RFC 3339 time, or `+DURATION` after `now`.
pub(super) fn resolve_start_at(
    s: Option<&str>,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, PlanError> {
    let Some(s) = s else {
        return Ok(None);
    };
    let bad = |why: String| bad_at("load.start_at", format!("--start-at {s}: {why}"));
    if let Some(rest) = s.strip_prefix('+') {
        let d = crate::units::parse_duration(rest).map_err(bad)?;
        let d = chrono::Duration::from_std(d).map_err(|e| bad(e.to_string()))?;
        return Ok(Some(now + d));
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .map(|t| Some(t.with_timezone(&chrono::Utc)))
        .map_err(|e| bad(format!("{e}: give an RFC 3339 time (2026-12-01T10:00:00Z) or +30s")))
}

/// The arrival process of open-loop levels (`run --rate`, sweep rate levels).
pub fn arrival(kind: Option<ArrivalKind>, burstiness: Option<f64>) -> Result<Arrival, PlanError> {
    if let Some(b) = burstiness {
        if !(b > 0.0 && b.is_finite()) {
            return Err(bad_at(
                "load.burstiness",
                "--burstiness must be a number greater than 0",
            ));
        }
    }
    Ok(match (kind.unwrap_or(ArrivalKind::Poisson), burstiness) {
        (ArrivalKind::Constant, Some(_)) => {
            return Err(bad_at(
                "load.burstiness",
                "--burstiness does not apply to --arrival constant",
            ))
        }
        (ArrivalKind::Constant, None) => Arrival::Constant,
        (ArrivalKind::Poisson, None) | (ArrivalKind::Poisson, Some(1.0)) => Arrival::Poisson,
        // vLLM's `--burstiness` alone switches Poisson to gamma.
        (ArrivalKind::Poisson | ArrivalKind::Gamma, Some(shape)) => Arrival::Gamma { shape },
        (ArrivalKind::Gamma, None) => Arrival::Gamma { shape: 1.0 },
    })
}

fn resolve_stop(a: &LoadOptions) -> Result<Stop, PlanError> {
    if a.requests == Some(0) {
        return Err(bad_at("load.requests", "--requests must be at least 1"));
    }
    if a.duration.is_some_and(|d| d.is_zero()) {
        return Err(bad_at("load.duration", "--duration must be greater than zero"));
    }
    Ok(Stop {
        requests: a.requests.or(if a.duration.is_some() {
            None
        } else {
            Some(defaults::REQUESTS)
        }),
        duration: a.duration,
    })
}

/// The users schedule (`--users`); it cannot be combined with the other two.
fn resolve_users(a: &LoadOptions, users: usize) -> Result<ScheduleSpec, PlanError> {
    if users == 0 {
        return Err(bad_at("load.users", "--users must be at least 1"));
    }
    if a.rate.is_some() {
        return Err(bad_at(
            "load.users",
            "--users and --rate are two schedules (users who think vs. arrivals at a rate); give one",
        ));
    }
    if a.concurrency.is_some() {
        return Err(bad_at(
            "load.users",
            "--users and --concurrency are two schedules (at most N users are in flight anyway); give one",
        ));
    }
    if a.burstiness.is_some() {
        return Err(bad_at(
            "load.burstiness",
            "--burstiness needs --rate (it shapes open-loop arrivals)",
        ));
    }
    if a.spawn_rate.is_some_and(|r| r.is_nan() || r <= 0.0) {
        return Err(bad_at("load.spawn_rate", "--spawn-rate must be above 0"));
    }
    let think = a.think_time.unwrap_or(ThinkRange(Duration::ZERO, Duration::ZERO));
    Ok(ScheduleSpec::Users {
        users,
        spawn_rate: a.spawn_rate.unwrap_or(f64::INFINITY),
        think: (think.0, think.1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(f: impl FnOnce(&mut LoadOptions)) -> Result<(ScheduleSpec, Stop), PlanError> {
        let mut o = LoadOptions::default();
        f(&mut o);
        resolve(&o)
    }

    fn err(f: impl FnOnce(&mut LoadOptions)) -> PlanError {
        load(f).expect_err("refused")
    }

    fn shard(f: impl FnOnce(&mut LoadOptions)) -> Result<Option<Shard>, PlanError> {
        let mut o = LoadOptions::default();
        f(&mut o);
        resolve_shard(&o)
    }

    #[test]
    fn the_start_time_is_absolute_or_from_now() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-12-01T10:00:00Z")
            .unwrap()
            .with_timezone(&chrono::Utc);
        assert_eq!(resolve_start_at(None, now).unwrap(), None);
        let t = resolve_start_at(Some("+90s"), now).unwrap().unwrap();
        assert_eq!((t - now).num_seconds(), 90);
        let t = resolve_start_at(Some("2026-12-01T11:30:00+01:00"), now)
            .unwrap()
            .unwrap();
        assert_eq!((t - now).num_seconds(), 30 * 60);
        let e = resolve_start_at(Some("soon"), now).unwrap_err();
        assert_eq!(e.key, Some("load.start_at"));
        assert!(
            e.message.starts_with("--start-at soon:") && e.message.contains("RFC 3339"),
            "{e}"
        );
        assert!(resolve_start_at(Some("+later"), now).is_err());
    }

    #[test]
    fn shards_come_from_the_flag_or_the_pod_index() {
        assert_eq!(shard(|_| {}).unwrap(), None);
        assert_eq!(
            shard(|o| o.shard = Some("2/4".into())).unwrap(),
            Some(Shard { index: 2, count: 4 })
        );
        assert_eq!(
            shard(|o| {
                o.shards = Some(3);
                o.shard_index = Some(1)
            })
            .unwrap(),
            Some(Shard { index: 1, count: 3 })
        );
        let e = shard(|o| o.shard = Some("4/4".into())).unwrap_err();
        assert_eq!(e.key, Some("load.shard"));
        assert!(e.message.starts_with("--shard 4/4: shard 4 of 4 does not exist"), "{e}");
        let e = shard(|o| o.shards = Some(3)).unwrap_err();
        assert!(e.message.contains("JOB_COMPLETION_INDEX"), "{e}");
        let e = shard(|o| {
            o.shards = Some(3);
            o.shard_index = Some(3)
        })
        .unwrap_err();
        assert!(e.message.contains("--shards 3: shard 3 of 3 does not exist"), "{e}");
        let e = shard(|o| {
            o.shards = Some(3);
            o.shard = Some("0/3".into())
        })
        .unwrap_err();
        assert!(e.message.contains("not both"), "{e}");
    }

    #[test]
    fn closed_open_and_users_schedules() {
        let (s, stop) = load(|_| {}).unwrap();
        assert_eq!(s, ScheduleSpec::Closed { concurrency: 10 });
        assert_eq!(stop.requests, Some(100));
        let (s, _) = load(|o| {
            o.rate = Some(5.0);
            o.concurrency = Some(3)
        })
        .unwrap();
        assert_eq!(
            s,
            ScheduleSpec::Open {
                rate: 5.0,
                arrival: Arrival::Poisson,
                cap: Some(3)
            }
        );
        let (s, stop) = load(|o| {
            o.users = Some(4);
            o.think_time = Some(ThinkRange(Duration::from_secs(1), Duration::from_secs(2)));
            o.duration = Some(Duration::from_secs(3))
        })
        .unwrap();
        assert!(matches!(s, ScheduleSpec::Users { users: 4, .. }));
        assert_eq!(stop.requests, None, "a duration alone sets no request count");
    }

    #[test]
    fn arrivals_follow_vllm_burstiness() {
        assert_eq!(arrival(None, Some(0.5)).unwrap(), Arrival::Gamma { shape: 0.5 });
        assert_eq!(arrival(None, Some(1.0)).unwrap(), Arrival::Poisson);
        assert_eq!(
            arrival(Some(ArrivalKind::Gamma), None).unwrap(),
            Arrival::Gamma { shape: 1.0 }
        );
        assert_eq!(arrival(Some(ArrivalKind::Constant), None).unwrap(), Arrival::Constant);
        assert!(arrival(Some(ArrivalKind::Constant), Some(2.0)).is_err());
        assert!(arrival(None, Some(0.0)).is_err());
        assert!(arrival(None, Some(f64::NAN)).is_err());
    }

    #[test]
    fn every_load_error_names_its_flag() {
        let cases: Vec<(PlanError, &str, &str)> = vec![
            (
                err(|o| o.concurrency = Some(0)),
                "--concurrency must be at least 1",
                "load.concurrency",
            ),
            (
                err(|o| o.requests = Some(0)),
                "--requests must be at least 1",
                "load.requests",
            ),
            (
                err(|o| o.duration = Some(Duration::ZERO)),
                "--duration must be greater",
                "load.duration",
            ),
            (
                err(|o| o.burstiness = Some(2.0)),
                "--burstiness needs --rate",
                "load.burstiness",
            ),
            (
                err(|o| o.spawn_rate = Some(2.0)),
                "--spawn-rate needs --users",
                "load.spawn_rate",
            ),
            (
                err(|o| o.think_time = Some(ThinkRange(Duration::ZERO, Duration::ZERO))),
                "--think-time needs --users",
                "load.think_time",
            ),
            (
                err(|o| {
                    o.rate = Some(f64::INFINITY);
                    o.duration = Some(Duration::from_secs(1))
                }),
                "--rate inf with only --duration",
                "load.rate",
            ),
            (
                err(|o| {
                    o.users = Some(2);
                    o.rate = Some(1.0)
                }),
                "--users and --rate",
                "load.users",
            ),
            (
                err(|o| {
                    o.users = Some(2);
                    o.concurrency = Some(1)
                }),
                "--users and --concurrency",
                "load.users",
            ),
            (err(|o| o.users = Some(0)), "--users must be at least 1", "load.users"),
            (
                err(|o| {
                    o.users = Some(2);
                    o.burstiness = Some(1.0)
                }),
                "--burstiness needs --rate",
                "load.burstiness",
            ),
            (
                err(|o| {
                    o.rate = Some(2.0);
                    o.arrival = Some(ArrivalKind::Constant);
                    o.burstiness = Some(2.0)
                }),
                "--arrival constant",
                "load.burstiness",
            ),
        ];
        for (e, text, key) in cases {
            assert!(e.message.contains(text), "`{e}` should contain `{text}`");
            assert_eq!(e.key, Some(key), "{e}");
        }
    }
}
