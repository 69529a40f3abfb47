//! Load that changes over time: k6's stages and vLLM's ramp-up.
//!
//! A [`StageList`] is k6's `stages`: each stage moves the target linearly
//! from the previous stage's target (the list's `start`, 0 by default, for
//! the first) to its own over its duration; after the last stage the last
//! target holds. What the target counts is the [`Profile`]'s kind:
//! closed-loop workers (`--stages`), simulated users (`--user-stages`), or
//! an open-loop arrival rate (`--rate-stages`). A rate may also follow
//! vLLM's ramp-up ([`Ramp`]): linear `A + (B−A)·t/T` or exponential
//! `A·(B/A)^(t/T)`.
//!
//! Workers and users: worker `k` (from 0) runs while the target is at least
//! `k + 1`, so `floor(target)` are active; a worker whose level the target
//! falls below finishes its request and stops (k6's graceful ramp-down).
//!
//! Arrivals under a time-varying rate λ(t) are a non-homogeneous process
//! made by time rescaling: the unit-rate process of the chosen arrival kind
//! (constant gaps of 1, exponential or gamma gaps of mean 1) gives the
//! points `u₁ < u₂ < …`, and arrival `i` is sent at `Λ⁻¹(uᵢ)`, where
//! `Λ(t) = ∫₀ᵗ λ` is the cumulative rate — so the expected number of
//! arrivals in any window is the integral of the rate over it, and a seed
//! gives the same schedule every time. A counted ramp-up (`--requests N`)
//! is vLLM's instead: request `i` gets the rate at progress `i/(N−1)` and a
//! gap drawn at that rate, with no rescaling (`T` is then the time the N
//! requests take, not a given duration).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Arrival, Arrivals, Gaps};

/// One stage: the target reached at its end, and how long it takes.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stage {
    #[serde(rename = "duration_s", serialize_with = "ser_secs", deserialize_with = "de_secs")]
    pub duration: Duration,
    pub target: f64,
}

fn ser_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

fn de_secs<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    let s = f64::deserialize(d)?;
    Duration::try_from_secs_f64(s).map_err(serde::de::Error::custom)
}

/// Why a stage list is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StageError {
    #[error("the stage list is empty (write DURATION:TARGET,..., e.g. 30s:10,2m:50,30s:0)")]
    Empty,
    #[error("stage {0} `{1}`: write DURATION:TARGET, e.g. 30s:10")]
    Shape(usize, String),
    #[error("stage {0}: bad duration `{1}`: {2}")]
    Duration(usize, String, String),
    #[error("stage {0}: bad target `{1}`: give a number of 0 or more")]
    Target(usize, String),
    #[error("the stages last no time at all (their durations add up to zero)")]
    NoTime,
    #[error("every target is 0: the stages would send nothing")]
    AllZero,
}

/// k6's stages: the target moves linearly from the previous target to each
/// stage's over the stage's duration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageList {
    /// The target before the first stage.
    #[serde(default)]
    pub start: f64,
    pub stages: Vec<Stage>,
}

impl StageList {
    /// Checks a list built from a scenario file or the flag.
    pub fn new(start: f64, stages: Vec<Stage>) -> Result<Self, StageError> {
        if stages.is_empty() {
            return Err(StageError::Empty);
        }
        for (i, s) in stages.iter().enumerate() {
            if !(s.target.is_finite() && s.target >= 0.0) {
                return Err(StageError::Target(i + 1, s.target.to_string()));
            }
        }
        let list = Self { start, stages };
        if list.total().is_zero() {
            return Err(StageError::NoTime);
        }
        if list.peak() <= 0.0 {
            return Err(StageError::AllZero);
        }
        Ok(list)
    }

    /// Parses `30s:10,2m:50,30s:0`.
    pub fn parse(s: &str) -> Result<Self, StageError> {
        let parts: Vec<&str> = s.split(',').map(str::trim).filter(|p| !p.is_empty()).collect();
        let stages = parts
            .iter()
            .enumerate()
            .map(|(i, p)| parse_stage(i + 1, p))
            .collect::<Result<Vec<_>, _>>()?;
        Self::new(0.0, stages)
    }

    /// The stages' total duration.
    pub fn total(&self) -> Duration {
        self.stages.iter().map(|s| s.duration).sum()
    }

    /// The highest target (the start included).
    pub fn peak(&self) -> f64 {
        self.stages.iter().map(|s| s.target).fold(self.start, f64::max)
    }

    /// Stage `i`'s start, end (seconds) and targets at both ends.
    pub fn windows(&self) -> Vec<StageWindow> {
        let mut at = 0.0;
        let mut from = self.start;
        self.stages
            .iter()
            .map(|s| {
                let d = s.duration.as_secs_f64();
                let w = StageWindow {
                    start_s: at,
                    end_s: at + d,
                    from,
                    to: s.target,
                };
                at += d;
                from = s.target;
                w
            })
            .collect()
    }

    /// The target at `t` seconds (the last target after the last stage).
    pub fn target_at(&self, t: f64) -> f64 {
        for w in self.windows() {
            if t < w.end_s {
                return w.at(t);
            }
        }
        self.stages.last().map_or(self.start, |s| s.target)
    }

    /// The index of the stage `t` seconds falls in (the last one after
    /// the end).
    pub fn stage_at(&self, t: f64) -> usize {
        self.windows()
            .iter()
            .position(|w| t < w.end_s)
            .unwrap_or(self.stages.len() - 1)
    }

    /// The first time from `from` (seconds) when the target is at least
    /// `level`; `None` when it never is again.
    pub fn next_at_least(&self, level: f64, from: f64) -> Option<f64> {
        if self.target_at(from) >= level - EPS {
            return Some(from);
        }
        for w in self.windows() {
            if w.end_s <= from || w.to < level - EPS {
                continue;
            }
            // Rising through `level` inside this window (the start is
            // below it, or the window starts after `from` at a lower
            // target — either way the crossing is on the ramp).
            if w.from >= level - EPS {
                return Some(w.start_s.max(from));
            }
            let d = w.end_s - w.start_s;
            let t = w.start_s + d * (level - w.from) / (w.to - w.from);
            return Some(t.max(from));
        }
        None
    }

    /// `Λ(t)`: the integral of the target from 0 to `t` seconds.
    pub fn cumulative(&self, t: f64) -> f64 {
        let mut sum = 0.0;
        for w in self.windows() {
            if t <= w.start_s {
                return sum;
            }
            let d = w.end_s - w.start_s;
            let tau = (t - w.start_s).min(d);
            sum += w.from * tau
                + if d > 0.0 {
                    (w.to - w.from) * tau * tau / (2.0 * d)
                } else {
                    0.0
                };
            if t <= w.end_s {
                return sum;
            }
        }
        let last = self.windows().last().map_or(0.0, |w| w.end_s);
        sum + self.target_at(last) * (t - last)
    }

    /// `Λ⁻¹(x)`: the first time the integral reaches `x`; `None` when it
    /// never does (the target stays 0 after the last stage).
    pub fn inverse(&self, x: f64) -> Option<f64> {
        let mut left = x;
        let mut end = 0.0;
        for w in self.windows() {
            let d = w.end_s - w.start_s;
            let area = (w.from + w.to) / 2.0 * d;
            if left <= area && area > 0.0 {
                // Solve from·τ + (to−from)·τ²/(2d) = left, in the form that
                // stays exact when from = to or from = 0.
                let slope = (w.to - w.from) / d;
                let root = (w.from * w.from + 2.0 * slope * left).max(0.0).sqrt();
                let tau = if w.from + root > 0.0 {
                    2.0 * left / (w.from + root)
                } else {
                    0.0
                };
                return Some(w.start_s + tau.min(d));
            }
            left -= area;
            end = w.end_s;
        }
        let last = self.stages.last().map_or(0.0, |s| s.target);
        (last > 0.0).then(|| end + left / last)
    }
}

const EPS: f64 = 1e-9;

/// One stage on the run's clock, with its targets at both ends.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct StageWindow {
    pub start_s: f64,
    pub end_s: f64,
    /// The target at the start.
    pub from: f64,
    /// The target at the end.
    pub to: f64,
}

impl StageWindow {
    /// The target at `t` seconds, inside the window.
    pub fn at(&self, t: f64) -> f64 {
        let d = self.end_s - self.start_s;
        if d <= 0.0 {
            return self.to;
        }
        self.from + (self.to - self.from) * ((t - self.start_s) / d).clamp(0.0, 1.0)
    }

    /// The mean of `floor(target)` over the window: the workers (or users)
    /// that should be active on average.
    pub fn mean_floor(&self) -> f64 {
        const STEPS: usize = 10_000;
        let d = self.end_s - self.start_s;
        if d <= 0.0 {
            return (self.to + EPS).floor();
        }
        (0..STEPS)
            .map(|i| (self.at(self.start_s + d * (i as f64 + 0.5) / STEPS as f64) + EPS).floor())
            .sum::<f64>()
            / STEPS as f64
    }
}

fn parse_stage(i: usize, p: &str) -> Result<Stage, StageError> {
    let (d, t) = p.split_once(':').ok_or_else(|| StageError::Shape(i, p.into()))?;
    let duration = crate::units::parse_duration(d.trim()).map_err(|e| StageError::Duration(i, d.trim().into(), e))?;
    let target: f64 = t.trim().parse().map_err(|_| StageError::Target(i, t.trim().into()))?;
    if !(target.is_finite() && target >= 0.0) {
        return Err(StageError::Target(i, t.trim().into()));
    }
    Ok(Stage { duration, target })
}

/// vLLM's ramp-up shapes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RampStrategy {
    Linear,
    Exponential,
}

impl crate::units::Choice for RampStrategy {
    const ALL: &'static [Self] = &[Self::Linear, Self::Exponential];
    fn name(self) -> &'static str {
        match self {
            Self::Linear => "linear",
            Self::Exponential => "exponential",
        }
    }
    fn help(self) -> &'static str {
        match self {
            Self::Linear => "A + (B-A)·t/T",
            Self::Exponential => "A·(B/A)^(t/T)",
        }
    }
}

/// vLLM's ramp-up: the rate from `start_rps` to `end_rps` over the run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Ramp {
    pub strategy: RampStrategy,
    pub start_rps: f64,
    pub end_rps: f64,
}

impl Ramp {
    /// The rate at `progress` (0 to 1) through the run.
    pub fn rate(&self, progress: f64) -> f64 {
        let p = progress.clamp(0.0, 1.0);
        match self.strategy {
            RampStrategy::Linear => self.start_rps + (self.end_rps - self.start_rps) * p,
            RampStrategy::Exponential => self.start_rps * (self.end_rps / self.start_rps).powf(p),
        }
    }

    /// `Λ(t)` over a ramp of `over` seconds (the end rate holds after it).
    fn cumulative(&self, t: f64, over: f64) -> f64 {
        let (a, b) = (self.start_rps, self.end_rps);
        let tt = t.min(over);
        let head = match self.strategy {
            RampStrategy::Linear => a * tt + (b - a) * tt * tt / (2.0 * over),
            RampStrategy::Exponential => {
                let lq = (b / a).ln();
                if lq.abs() < 1e-12 {
                    a * tt
                } else {
                    a * over / lq * ((lq * tt / over).exp() - 1.0)
                }
            }
        };
        head + b * (t - tt).max(0.0)
    }

    fn inverse(&self, x: f64, over: f64) -> Option<f64> {
        let (a, b) = (self.start_rps, self.end_rps);
        let whole = self.cumulative(over, over);
        if x > whole {
            return (b > 0.0).then(|| over + (x - whole) / b);
        }
        Some(match self.strategy {
            RampStrategy::Linear => StageList {
                start: a,
                stages: vec![Stage {
                    duration: Duration::from_secs_f64(over),
                    target: b,
                }],
            }
            .inverse(x)?,
            RampStrategy::Exponential => {
                let lq = (b / a).ln();
                if lq.abs() < 1e-12 {
                    x / a
                } else {
                    over * (1.0 + x * lq / (a * over)).ln() / lq
                }
            }
        })
    }
}

/// What changes over a run, and what its target counts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Profile {
    /// Closed-loop workers (`--stages`).
    Concurrency(StageList),
    /// Simulated users (`--user-stages`).
    Users(StageList),
    /// Open-loop arrivals per second (`--rate-stages`).
    Rate(StageList),
    /// vLLM's ramp-up; `over_s` is the run's duration for a timed run,
    /// `None` for a counted one (vLLM's per-request progress).
    RampUp {
        #[serde(flatten)]
        ramp: Ramp,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        over_s: Option<f64>,
    },
}

impl Profile {
    /// The stage list, for the staged kinds.
    pub fn stages(&self) -> Option<&StageList> {
        match self {
            Self::Concurrency(s) | Self::Users(s) | Self::Rate(s) => Some(s),
            Self::RampUp { .. } => None,
        }
    }

    /// `concurrency`, `users`, `rate` or `ramp_up`.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Concurrency(_) => "concurrency",
            Self::Users(_) => "users",
            Self::Rate(_) => "rate",
            Self::RampUp { .. } => "ramp_up",
        }
    }

    /// True when the engine runs workers or users under the target (the
    /// open-loop kinds only change the arrival times).
    pub fn drives_workers(&self) -> bool {
        matches!(self, Self::Concurrency(_) | Self::Users(_))
    }

    /// The stages on the run's clock; a ramp-up is one stage of `run_s`
    /// seconds (its own `T` when timed).
    pub fn windows(&self, run_s: f64) -> Vec<StageWindow> {
        match self {
            Self::Concurrency(s) | Self::Users(s) | Self::Rate(s) => s.windows(),
            Self::RampUp { ramp, over_s } => vec![StageWindow {
                start_s: 0.0,
                end_s: over_s.unwrap_or(run_s),
                from: ramp.start_rps,
                to: ramp.end_rps,
            }],
        }
    }

    /// `stages: 30s:10, 2m:50, 30s:0 (workers)` for the settings block.
    pub fn describe(&self) -> String {
        match self {
            Self::RampUp { ramp, over_s } => format!(
                "{} ramp-up from {} to {} req/s over {}",
                crate::units::Choice::name(ramp.strategy),
                ramp.start_rps,
                ramp.end_rps,
                over_s.map_or("the run's requests (vLLM's progress i/(N-1))".to_string(), |s| {
                    crate::units::format_duration(Duration::from_secs_f64(s))
                })
            ),
            Self::Concurrency(s) | Self::Users(s) | Self::Rate(s) => {
                let what = match self {
                    Self::Concurrency(_) => "workers",
                    Self::Users(_) => "users",
                    _ => "req/s",
                };
                let list: Vec<String> = s
                    .stages
                    .iter()
                    .map(|st| format!("{}:{}", crate::units::format_duration(st.duration), st.target))
                    .collect();
                format!(
                    "stages {} ({what}, {} in all)",
                    list.join(","),
                    crate::units::format_duration(s.total())
                )
            }
        }
    }

    /// The arrival rate at `t` seconds for a rate profile (`progress`
    /// through a counted ramp-up instead).
    fn rate_at(&self, t: f64, progress: f64) -> f64 {
        match self {
            Self::Rate(s) => s.target_at(t),
            Self::RampUp {
                ramp,
                over_s: Some(over),
            } => ramp.rate(t / over),
            Self::RampUp { ramp, over_s: None } => ramp.rate(progress),
            Self::Concurrency(_) | Self::Users(_) => 0.0,
        }
    }

    /// The open-loop arrivals of a rate profile: `count` of them at most
    /// (all of a counted ramp-up).
    pub fn arrivals(&self, arrival: Arrival, seed: u64, count: Option<u64>) -> Box<dyn Arrivals> {
        match self {
            Self::RampUp { ramp, over_s: None } => {
                Box::new(Counted::new(*ramp, arrival, seed, count.unwrap_or(0)).offsets())
            }
            _ => Box::new(Rescaled {
                unit: Gaps::new(1.0, arrival, seed),
                u: 0.0,
                profile: self.clone(),
                left: count,
            }),
        }
    }

    /// Where the rate crossed each whole number of requests per second,
    /// as vLLM records it (`rps_change_events`): the start rate's whole
    /// part at 0, then every whole value the rate reaches, at the offset
    /// of the first of the first `sent` arrivals that reached it.
    pub fn rate_changes(&self, arrival: Arrival, seed: u64, count: Option<u64>, sent: u64) -> Vec<RateChange> {
        let start = match self {
            Self::RampUp { ramp, .. } => ramp.start_rps,
            Self::Rate(s) => s.start,
            _ => return Vec::new(),
        };
        let mut last = start.floor() as i64;
        let mut out = vec![RateChange { rps: last, t_s: 0.0 }];
        let n = count.unwrap_or(sent).max(1);
        let mut arrivals = self.arrivals(arrival, seed, count);
        for i in 0..sent {
            let Some(at) = arrivals.next_offset() else { break };
            let t = at.as_secs_f64();
            let progress = i as f64 / (n.saturating_sub(1).max(1)) as f64;
            let now = self.rate_at(t, progress).floor() as i64;
            if now > last {
                out.extend((last + 1..=now).map(|rps| RateChange { rps, t_s: t }));
                last = now;
            }
        }
        out
    }
}

/// One whole-number rate reached (vLLM's `rps_change_events`), at `t_s`
/// seconds on the run's clock.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RateChange {
    pub rps: i64,
    pub t_s: f64,
}

/// Time-rescaled arrivals: the unit-rate process's points mapped through
/// `Λ⁻¹`.
struct Rescaled {
    unit: Gaps,
    u: f64,
    profile: Profile,
    left: Option<u64>,
}

impl Arrivals for Rescaled {
    fn next_offset(&mut self) -> Option<Duration> {
        if let Some(n) = &mut self.left {
            *n = n.checked_sub(1)?;
        }
        self.u += self.unit.next();
        let t = match &self.profile {
            Profile::Rate(s) => s.inverse(self.u)?,
            Profile::RampUp {
                ramp,
                over_s: Some(over),
            } => ramp.inverse(self.u, *over)?,
            _ => return None,
        };
        Duration::try_from_secs_f64(t).ok()
    }
}

/// vLLM's counted ramp-up: request `i`'s gap drawn at the rate of progress
/// `i/(N−1)`; the rate of each is kept for its change events.
struct Counted {
    offsets: Vec<Duration>,
}

impl Counted {
    fn new(ramp: Ramp, arrival: Arrival, seed: u64, n: u64) -> Self {
        let mut unit = Gaps::new(1.0, arrival, seed);
        let mut at = 0.0;
        let last = n.saturating_sub(1).max(1) as f64;
        let offsets = (0..n)
            .map(|i| {
                // A gap of a unit-rate process divided by the rate is a gap
                // of that rate (constant, exponential and gamma alike).
                let rate = ramp.rate(i as f64 / last);
                at += if rate > 0.0 { unit.next() / rate } else { 0.0 };
                Duration::from_secs_f64(at)
            })
            .collect();
        Self { offsets }
    }

    fn offsets(self) -> impl Arrivals {
        struct It(std::vec::IntoIter<Duration>);
        impl Arrivals for It {
            fn next_offset(&mut self) -> Option<Duration> {
                self.0.next()
            }
        }
        It(self.offsets.into_iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(v: f64) -> Duration {
        Duration::from_secs_f64(v)
    }

    fn list(s: &str) -> StageList {
        StageList::parse(s).unwrap()
    }

    #[test]
    fn stages_parse_as_k6_writes_them() {
        let l = list("30s:10, 2m:50,30s:0");
        assert_eq!(l.stages.len(), 3);
        assert_eq!(
            l.stages[1],
            Stage {
                duration: secs(120.0),
                target: 50.0
            }
        );
        assert_eq!(l.total(), secs(180.0));
        assert_eq!(l.peak(), 50.0);
    }

    #[test]
    fn bad_stage_lists_say_what_is_wrong() {
        let e = |s: &str| StageList::parse(s).unwrap_err().to_string();
        assert!(e("").contains("empty"), "{}", e(""));
        assert!(e(" , ").contains("empty"));
        assert!(
            e("30s").contains("stage 1 `30s`: write DURATION:TARGET"),
            "{}",
            e("30s")
        );
        assert!(
            e("30s:10,soon:5").starts_with("stage 2: bad duration `soon`"),
            "{}",
            e("30s:10,soon:5")
        );
        assert!(e("30s:-3").contains("stage 1: bad target `-3`"), "{}", e("30s:-3"));
        assert!(e("30s:ten").contains("bad target `ten`"));
        assert!(e("30s:inf").contains("bad target `inf`"));
        assert!(e("0s:10").contains("no time"), "{}", e("0s:10"));
        assert!(e("10s:0,5s:0").contains("every target is 0"));
        assert!(StageList::new(
            0.0,
            vec![Stage {
                duration: secs(1.0),
                target: f64::NAN
            }]
        )
        .is_err());
    }

    #[test]
    fn the_target_moves_linearly_and_then_holds() {
        let l = list("10s:10,10s:50,10s:0");
        assert_eq!(l.target_at(0.0), 0.0);
        assert!((l.target_at(5.0) - 5.0).abs() < 1e-9);
        assert!((l.target_at(15.0) - 30.0).abs() < 1e-9);
        assert!((l.target_at(25.0) - 25.0).abs() < 1e-9);
        assert_eq!(l.target_at(31.0), 0.0);
        assert_eq!(l.stage_at(9.99), 0);
        assert_eq!(l.stage_at(10.0), 1);
        assert_eq!(l.stage_at(99.0), 2);
        // A zero-length stage is a step.
        let step = list("5s:2,0s:8,5s:8");
        assert_eq!(step.target_at(5.0), 8.0);
    }

    #[test]
    fn workers_start_when_the_target_reaches_their_level() {
        let l = list("10s:10,10s:10,10s:0");
        assert_eq!(l.next_at_least(1.0, 0.0), Some(1.0));
        assert!((l.next_at_least(10.0, 0.0).unwrap() - 10.0).abs() < 1e-9);
        assert_eq!(l.next_at_least(3.0, 15.0), Some(15.0));
        assert_eq!(l.next_at_least(11.0, 0.0), None);
        // After the ramp-down, level 1 is never reached again.
        assert_eq!(l.next_at_least(1.0, 29.5), None);
        let up_again = list("10s:4,10s:0,10s:4");
        assert!((up_again.next_at_least(2.0, 16.0).unwrap() - 25.0).abs() < 1e-9);
    }

    #[test]
    fn the_cumulative_rate_and_its_inverse_agree() {
        let l = list("10s:10,20s:10,10s:0");
        assert!((l.cumulative(10.0) - 50.0).abs() < 1e-9);
        assert!((l.cumulative(30.0) - 250.0).abs() < 1e-9);
        assert!((l.cumulative(40.0) - 300.0).abs() < 1e-9);
        for t in [0.5, 3.0, 10.0, 17.0, 33.3, 39.9] {
            let x = l.cumulative(t);
            assert!((l.inverse(x).unwrap() - t).abs() < 1e-6, "t {t}");
        }
        assert_eq!(l.inverse(300.5), None, "the rate ends at 0");
        let hold = list("10s:10");
        assert!(
            (hold.inverse(150.0).unwrap() - 20.0).abs() < 1e-9,
            "the last target holds"
        );
        for strategy in [RampStrategy::Linear, RampStrategy::Exponential] {
            let r = Ramp {
                strategy,
                start_rps: 2.0,
                end_rps: 32.0,
            };
            for t in [0.0, 1.0, 5.0, 9.9, 12.0] {
                let x = r.cumulative(t, 10.0);
                assert!((r.inverse(x, 10.0).unwrap() - t).abs() < 1e-6, "{strategy:?} t {t}");
            }
        }
        let exp = Ramp {
            strategy: RampStrategy::Exponential,
            start_rps: 1.0,
            end_rps: 16.0,
        };
        assert!((exp.rate(0.5) - 4.0).abs() < 1e-9);
        assert!((exp.cumulative(10.0, 10.0) - 15.0 * 10.0 / 16f64.ln()).abs() < 1e-9);
    }

    /// Arrivals in each stage follow the integral of the rate: a constant
    /// unit process puts exactly floor(Λ) arrivals before any time.
    #[test]
    fn staged_arrivals_follow_the_integral_of_the_rate() {
        let p = Profile::Rate(list("10s:10,20s:10,10s:0"));
        let t: Vec<f64> = std::iter::from_fn({
            let mut a = p.arrivals(Arrival::Constant, 1, None);
            move || a.next_offset()
        })
        .map(|d| d.as_secs_f64())
        .collect();
        assert_eq!(t.len(), 300, "Λ(end) = 300 and the rate then stays 0");
        assert!(t.windows(2).all(|w| w[0] <= w[1]));
        let before = |x: f64| t.iter().filter(|&&v| v <= x + 1e-9).count();
        assert_eq!(before(10.0), 50);
        assert_eq!(before(30.0), 250);
        // Poisson: the same expectation, seeded.
        let pois: Vec<Duration> = std::iter::from_fn({
            let mut a = p.arrivals(Arrival::Poisson, 7, None);
            move || a.next_offset()
        })
        .collect();
        let again: Vec<Duration> = std::iter::from_fn({
            let mut a = p.arrivals(Arrival::Poisson, 7, None);
            move || a.next_offset()
        })
        .collect();
        assert_eq!(pois, again, "seeded");
        // 300 expected, standard deviation √300 ≈ 17: five of them.
        assert!(
            (pois.len() as f64 - 300.0).abs() < 5.0 * 300f64.sqrt(),
            "{}",
            pois.len()
        );
    }

    #[test]
    fn a_counted_ramp_up_is_vllms() {
        let ramp = Ramp {
            strategy: RampStrategy::Linear,
            start_rps: 1.0,
            end_rps: 10.0,
        };
        let p = Profile::RampUp { ramp, over_s: None };
        let t: Vec<f64> = std::iter::from_fn({
            let mut a = p.arrivals(Arrival::Constant, 0, Some(10));
            move || a.next_offset()
        })
        .map(|d| d.as_secs_f64())
        .collect();
        // Request i's gap is 1/rate(i/9), rate(i/9) = 1 + i.
        let want: Vec<f64> = (0..10)
            .scan(0.0, |at, i| {
                *at += 1.0 / (1.0 + i as f64);
                Some(*at)
            })
            .collect();
        assert_eq!(t.len(), 10);
        for (a, b) in t.iter().zip(&want) {
            assert!((a - b).abs() < 1e-9, "{t:?} vs {want:?}");
        }
        let changes = p.rate_changes(Arrival::Constant, 0, Some(10), 10);
        let rps: Vec<i64> = changes.iter().map(|c| c.rps).collect();
        assert_eq!(rps, (1..=10).collect::<Vec<_>>());
        assert_eq!(changes[0].t_s, 0.0);
        assert!((changes[9].t_s - want[9]).abs() < 1e-9);
    }

    #[test]
    fn windows_and_mean_floor() {
        let l = list("10s:10,10s:10");
        let w = l.windows();
        assert_eq!(
            w[0],
            StageWindow {
                start_s: 0.0,
                end_s: 10.0,
                from: 0.0,
                to: 10.0
            }
        );
        assert!((w[0].mean_floor() - 4.5).abs() < 1e-3, "{}", w[0].mean_floor());
        assert!((w[1].mean_floor() - 10.0).abs() < 1e-9);
    }
}
