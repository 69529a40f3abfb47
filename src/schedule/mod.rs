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

use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;
use rand_distr::{Distribution, Exp, Gamma};
use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Arrival {
    Constant,
    Poisson,
    Gamma { shape: f64 },
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
    fn infinite_rate_sends_everything_at_once() {
        let t = collect(&mut *arrivals(f64::INFINITY, Arrival::Poisson, 0, Some(5)), 100);
        assert_eq!(t, vec![0.0; 5]);
    }
}
