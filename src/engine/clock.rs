//! The run's one monotonic clock.
//!
//! Every timestamp of a run is an offset from one `Instant` taken when the
//! measured phase starts, so records compare without wall-clock jumps and
//! serialise as small numbers. `Instant` is `CLOCK_MONOTONIC` on Linux,
//! read through the vDSO: cheap enough to call once per streamed chunk.

use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: Instant,
}

impl Clock {
    /// A clock whose zero is now.
    pub fn start() -> Self {
        Self { origin: Instant::now() }
    }

    pub fn origin(&self) -> Instant {
        self.origin
    }

    /// Time since the origin.
    pub fn now(&self) -> Duration {
        self.origin.elapsed()
    }

    /// The instant at an offset, for sleeping until a scheduled send.
    pub fn at(&self, offset: Duration) -> Instant {
        self.origin + offset
    }
}
