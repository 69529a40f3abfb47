//! When requests are sent: the arrival processes of open-loop schedules.
//!
//! A closed loop needs no schedule (the engine's N workers each send the
//! next request when theirs ends). An open loop sends at intended times
//! independent of the server, given here as offsets from the run's start:
//! - `constant`: equal gaps of 1/rate;
//! - `poisson`: exponential gaps with mean 1/rate;
//! - `gamma`: gamma gaps with shape `burstiness` and mean 1/rate (vLLM's
//!   meaning: 1 is Poisson, below 1 burstier, above 1 steadier).
//!
//! A counted run (`--requests N`) is precomputed as vLLM does it: N gaps are
//! drawn, summed, and rescaled so the last arrival lands exactly at N/rate,
//! so the offered rate is the configured one and not a sample of it. A timed
//! run draws gaps as it goes. `inf` sends everything at offset zero.
//!
//! A trace replay (`trace`) is an open loop whose arrival times are the
//! trace's own ([`Arrival::Trace`], times from the workload).
//!
//! A third schedule, `users` (Locust's model), is neither: `users` simulated
//! users start `spawn_rate` per second (user k at k/spawn_rate), and each
//! sends a request, waits for its reply, waits a think time drawn uniformly
//! from `[min, max]` ([`ThinkTime`]), and repeats until the stop condition.
//! The engine runs the users; this module says when each starts and how long
//! each thinks.

pub mod shard;
pub mod stages;
pub mod trace;
pub use shard::Shard;

use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, Exp, Gamma};
use serde::Serialize;

/// The arrival process a user names (`--arrival`); with a burstiness it
/// becomes an [`Arrival`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArrivalKind {
    Poisson,
    Constant,
    Gamma,
}

impl crate::units::Choice for ArrivalKind {
    const ALL: &'static [Self] = &[Self::Poisson, Self::Constant, Self::Gamma];
    fn name(self) -> &'static str {
        match self {
            Self::Poisson => "poisson",
            Self::Constant => "constant",
            Self::Gamma => "gamma",
        }
    }
    fn help(self) -> &'static str {
        match self {
            Self::Poisson => "exponential gaps (gamma with shape 1)",
            Self::Constant => "equal gaps of 1/rate",
            Self::Gamma => "gamma-distributed gaps with shape --burstiness",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Arrival {
    Constant,
    Poisson,
    Gamma {
        shape: f64,
    },
    /// A trace's own arrival times at `speed` times their pace
    /// ([`trace::arrivals`]; the engine takes the times from the workload).
    Trace {
        speed: f64,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum ScheduleSpec {
    Closed {
        concurrency: usize,
    },
    Open {
        rate: f64,
        arrival: Arrival,
        cap: Option<usize>,
    },
    /// Simulated users (Locust-style): each sends, waits for the reply,
    /// thinks for a uniform time in `think` (seconds in the JSON), repeats.
    Users {
        users: usize,
        /// Users started per second.
        spawn_rate: f64,
        #[serde(serialize_with = "ser_think")]
        think: (Duration, Duration),
    },
}

fn ser_think<S: serde::Serializer>(t: &(Duration, Duration), s: S) -> Result<S::Ok, S::Error> {
    use serde::ser::SerializeStruct;
    let mut st = s.serialize_struct("think", 2)?;
    st.serialize_field("min_s", &t.0.as_secs_f64())?;
    st.serialize_field("max_s", &t.1.as_secs_f64())?;
    st.end()
}

/// Simulated users over a run (users schedule): every change of the number
/// of active users, the peak, and how many were active when the last
/// request was sent. Bounded: two points per user.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct UsersActivity {
    /// Most users active at once.
    pub peak: usize,
    /// Users active when the last request was sent.
    #[serde(rename = "final")]
    pub final_users: usize,
    /// `[t_s, active]`: from `t_s` seconds after the start of the measured
    /// phase, `active` users were running.
    pub series: Vec<(f64, usize)>,
}

impl UsersActivity {
    /// `Users: peak 6, 6 active at the last send (8 changes)`.
    pub fn line(&self) -> String {
        format!(
            "Users: peak {}, {} active at the last send ({} changes over the run)",
            self.peak,
            self.final_users,
            self.series.len()
        )
    }

    /// Records that `active` users run from `at` on.
    pub fn change(&mut self, at: Duration, active: usize) {
        self.peak = self.peak.max(active);
        self.series.push((at.as_secs_f64(), active));
    }
}

/// `6 users (3/s), think 1s..3s`.
pub fn describe_users(users: usize, spawn_rate: f64, think: (Duration, Duration)) -> String {
    use crate::units::format_duration as d;
    let rate = if spawn_rate.is_finite() {
        format!("{spawn_rate}/s")
    } else {
        "all at once".into()
    };
    format!(
        "{users} users (spawned {rate}), think time {}..{}",
        d(think.0),
        d(think.1)
    )
}

/// A think-time range, `1s..3s` (or one duration for a fixed pause).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThinkRange(pub Duration, pub Duration);

/// Parses `--think-time`: `1s..3s`, `500ms..2s` or `2s`.
pub fn parse_think_time(s: &str) -> Result<ThinkRange, String> {
    let (lo, hi) = match s.split_once("..") {
        Some((a, b)) => (
            crate::units::parse_duration(a.trim())?,
            crate::units::parse_duration(b.trim())?,
        ),
        None => {
            let d = crate::units::parse_duration(s.trim())?;
            (d, d)
        }
    };
    if lo > hi {
        return Err(format!("`{s}`: the minimum is above the maximum (write MIN..MAX)"));
    }
    Ok(ThinkRange(lo, hi))
}

/// When user `k` (0-based) of a users schedule starts: `k / spawn_rate`
/// after the start of the phase (all at once for an infinite rate).
pub fn user_start(k: usize, spawn_rate: f64) -> Duration {
    if !spawn_rate.is_finite() || spawn_rate <= 0.0 {
        return Duration::ZERO;
    }
    Duration::from_secs_f64(k as f64 / spawn_rate)
}

/// Think times of one simulated user: uniform in `[min, max]`, drawn from
/// the user's own seeded generator, so a run is reproducible whatever order
/// the users' replies arrive in.
pub struct ThinkTime {
    rng: StdRng,
    min: Duration,
    max: Duration,
}

impl ThinkTime {
    pub fn new(min: Duration, max: Duration, seed: u64, user: usize) -> Self {
        let (min, max) = if min <= max { (min, max) } else { (max, min) };
        Self {
            rng: StdRng::seed_from_u64(seed ^ (user as u64).wrapping_add(1).wrapping_mul(0x9E37_79B9_7F4A_7C15)),
            min,
            max,
        }
    }

    /// The next pause.
    pub fn next_pause(&mut self) -> Duration {
        use rand::RngExt;
        if self.max == self.min {
            return self.min;
        }
        let (lo, hi) = (nanos(self.min), nanos(self.max));
        Duration::from_nanos(self.rng.random_range(lo..=hi))
    }
}

fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// Open-loop send times, as offsets from the start of the run.
pub trait Arrivals: Send {
    /// The next send time; `None` when the schedule has no more.
    fn next_offset(&mut self) -> Option<Duration>;
}

/// The arrival process for `rate` req/s; `count` arrivals, or without end
/// when `None` (the engine's duration bound stops it then).
pub fn arrivals(rate: f64, arrival: Arrival, seed: u64, count: Option<u64>) -> Box<dyn Arrivals> {
    if rate.is_infinite() {
        return Box::new(AllAtOnce { remaining: count });
    }
    let gaps = Gaps::new(rate, arrival, seed);
    match count {
        Some(n) => Box::new(Precomputed::new(gaps, n, rate)),
        None => Box::new(Drawn { gaps, at: 0.0 }),
    }
}

/// Inter-arrival gaps in seconds.
struct Gaps {
    rng: StdRng,
    kind: GapKind,
}

enum GapKind {
    Constant(f64),
    Exp(Exp<f64>),
    Gamma(Gamma<f64>),
}

impl Gaps {
    fn new(rate: f64, arrival: Arrival, seed: u64) -> Self {
        let mean = 1.0 / rate;
        // The plan accepts only rate > 0 and shape > 0, so these succeed; a
        // constant gap is the safe fallback should that ever change.
        let kind = match arrival {
            Arrival::Constant => GapKind::Constant(mean),
            Arrival::Poisson => Exp::new(rate).map_or(GapKind::Constant(mean), GapKind::Exp),
            Arrival::Gamma { shape } => Gamma::new(shape, mean / shape).map_or(GapKind::Constant(mean), GapKind::Gamma),
            // A replay's times come from its trace (`trace::arrivals`); the
            // trace's mean rate is the fallback without one.
            Arrival::Trace { .. } => GapKind::Constant(mean),
        };
        Self {
            rng: StdRng::seed_from_u64(seed),
            kind,
        }
    }

    fn next(&mut self) -> f64 {
        match &self.kind {
            GapKind::Constant(g) => *g,
            GapKind::Exp(d) => d.sample(&mut self.rng),
            GapKind::Gamma(d) => d.sample(&mut self.rng),
        }
    }
}

struct AllAtOnce {
    remaining: Option<u64>,
}

impl Arrivals for AllAtOnce {
    fn next_offset(&mut self) -> Option<Duration> {
        match &mut self.remaining {
            Some(0) => None,
            Some(n) => {
                *n -= 1;
                Some(Duration::ZERO)
            }
            None => Some(Duration::ZERO),
        }
    }
}

/// N arrivals whose last lands at N/rate (vLLM's rescaled schedule).
struct Precomputed {
    offsets: std::vec::IntoIter<Duration>,
}

impl Precomputed {
    fn new(mut gaps: Gaps, n: u64, rate: f64) -> Self {
        let mut at = 0.0;
        let mut cumulative: Vec<f64> = (0..n)
            .map(|_| {
                at += gaps.next();
                at
            })
            .collect();
        let target = n as f64 / rate;
        if at > 0.0 {
            let scale = target / at;
            cumulative.iter_mut().for_each(|t| *t *= scale);
        }
        Self {
            offsets: cumulative
                .into_iter()
                .map(Duration::from_secs_f64)
                .collect::<Vec<_>>()
                .into_iter(),
        }
    }
}

impl Arrivals for Precomputed {
    fn next_offset(&mut self) -> Option<Duration> {
        self.offsets.next()
    }
}

/// Arrivals drawn one at a time, without end.
struct Drawn {
    gaps: Gaps,
    at: f64,
}

impl Arrivals for Drawn {
    fn next_offset(&mut self) -> Option<Duration> {
        self.at += self.gaps.next();
        Some(Duration::from_secs_f64(self.at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(a: &mut dyn Arrivals, limit: usize) -> Vec<f64> {
        std::iter::from_fn(|| a.next_offset())
            .take(limit)
            .map(|d| d.as_secs_f64())
            .collect()
    }

    fn gaps(times: &[f64]) -> Vec<f64> {
        let mut prev = 0.0;
        times
            .iter()
            .map(|&t| {
                let g = t - prev;
                prev = t;
                g
            })
            .collect()
    }

    fn mean_and_cv2(g: &[f64]) -> (f64, f64) {
        let mean = g.iter().sum::<f64>() / g.len() as f64;
        let var = g.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / g.len() as f64;
        (mean, var / (mean * mean))
    }

    #[test]
    fn counted_schedules_end_exactly_at_n_over_rate() {
        for arrival in [Arrival::Constant, Arrival::Poisson, Arrival::Gamma { shape: 0.5 }] {
            let t = collect(&mut *arrivals(20.0, arrival, 1, Some(200)), 1000);
            assert_eq!(t.len(), 200, "{arrival:?}");
            assert!(t.windows(2).all(|w| w[0] <= w[1]), "{arrival:?} is ordered");
            assert!((t[199] - 10.0).abs() < 1e-6, "{arrival:?} ends at {}", t[199]);
        }
    }

    #[test]
    fn constant_gaps_are_equal() {
        let t = collect(&mut *arrivals(4.0, Arrival::Constant, 0, Some(8)), 100);
        for (i, x) in t.iter().enumerate() {
            assert!((x - (i + 1) as f64 * 0.25).abs() < 1e-9);
        }
    }

    /// Poisson gaps have a squared coefficient of variation of 1; a gamma
    /// of shape k has 1/k. Ten thousand gaps pin both to within ~10%.
    #[test]
    fn poisson_and_gamma_have_their_dispersion() {
        let t = collect(&mut *arrivals(50.0, Arrival::Poisson, 3, None), 10_000);
        let (mean, cv2) = mean_and_cv2(&gaps(&t));
        assert!((mean - 0.02).abs() < 0.002, "mean gap {mean}");
        assert!((cv2 - 1.0).abs() < 0.1, "Poisson CV² {cv2}");
        let t = collect(&mut *arrivals(50.0, Arrival::Gamma { shape: 0.25 }, 3, None), 10_000);
        let (mean, cv2) = mean_and_cv2(&gaps(&t));
        assert!((mean - 0.02).abs() < 0.003, "mean gap {mean}");
        assert!((cv2 - 4.0).abs() < 0.6, "gamma(0.25) CV² {cv2}");
    }

    #[test]
    fn the_same_seed_gives_the_same_schedule() {
        let a = collect(&mut *arrivals(10.0, Arrival::Poisson, 9, Some(50)), 100);
        let b = collect(&mut *arrivals(10.0, Arrival::Poisson, 9, Some(50)), 100);
        let c = collect(&mut *arrivals(10.0, Arrival::Poisson, 10, Some(50)), 100);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn think_times_stay_within_their_bounds_and_spread() {
        let (lo, hi) = (Duration::from_millis(1000), Duration::from_millis(3000));
        let mut t = ThinkTime::new(lo, hi, 5, 0);
        let draws: Vec<Duration> = (0..5000).map(|_| t.next_pause()).collect();
        assert!(draws.iter().all(|d| *d >= lo && *d <= hi));
        let mean = draws.iter().map(|d| d.as_secs_f64()).sum::<f64>() / draws.len() as f64;
        assert!((mean - 2.0).abs() < 0.05, "uniform mean {mean}");
        assert!(draws.iter().any(|d| *d < Duration::from_millis(1100)));
        assert!(draws.iter().any(|d| *d > Duration::from_millis(2900)));
        // Reproducible per (seed, user); users differ.
        let a: Vec<_> = (0..5)
            .map({
                let mut t = ThinkTime::new(lo, hi, 5, 1);
                move |_| t.next_pause()
            })
            .collect();
        let b: Vec<_> = (0..5)
            .map({
                let mut t = ThinkTime::new(lo, hi, 5, 1);
                move |_| t.next_pause()
            })
            .collect();
        assert_eq!(a, b);
        assert_ne!(a, draws[..5].to_vec());
        let mut fixed = ThinkTime::new(lo, lo, 5, 0);
        assert_eq!(fixed.next_pause(), lo);
    }

    #[test]
    fn think_time_ranges_parse() {
        let ms = Duration::from_millis;
        assert_eq!(parse_think_time("1s..3s"), Ok(ThinkRange(ms(1000), ms(3000))));
        assert_eq!(parse_think_time("50ms..100ms"), Ok(ThinkRange(ms(50), ms(100))));
        assert_eq!(parse_think_time("2s"), Ok(ThinkRange(ms(2000), ms(2000))));
        assert!(parse_think_time("3s..1s").unwrap_err().contains("minimum"));
        assert!(parse_think_time("x..1s").is_err());
    }

    #[test]
    fn users_start_at_the_spawn_rate() {
        assert_eq!(user_start(0, 3.0), Duration::ZERO);
        assert!((user_start(6, 3.0).as_secs_f64() - 2.0).abs() < 1e-9);
        assert_eq!(user_start(9, f64::INFINITY), Duration::ZERO);
    }

    #[test]
    fn infinite_rate_sends_everything_at_once() {
        let t = collect(&mut *arrivals(f64::INFINITY, Arrival::Poisson, 0, Some(5)), 100);
        assert_eq!(t, vec![0.0; 5]);
    }
}
