//! When requests are sent (interface stub).

use std::time::Duration;

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

struct Stub;
impl Arrivals for Stub {
    fn next_offset(&mut self) -> Option<Duration> {
        None
    }
}

pub fn arrivals(_rate: f64, _arrival: Arrival, _seed: u64, _count: Option<u64>) -> Box<dyn Arrivals> {
    Box::new(Stub)
}
