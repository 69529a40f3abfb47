//! Arrivals of a trace replay: each request at its recorded time.
//!
//! A trace says when every request arrived (`workload::trace`); the replay
//! sends each at that time from the start of the measured phase, divided
//! by `--trace-speed` (2 sends twice as fast, 0.5 at half speed). A phase
//! that starts past the trace's first items (the measured phase after a
//! warm-up that sent them) replays the rest from its own start: offsets
//! are taken from the phase's first item. The dispatcher that sleeps to
//! each offset, and measures how late each send was, is the open loop's.

use std::sync::Arc;
use std::time::Duration;

use super::Arrivals;

/// The replay of `times` (in item order) from item `first`, at `speed`.
pub fn arrivals(times: Arc<[Duration]>, first: u64, speed: f64) -> Box<dyn Arrivals> {
    let first = usize::try_from(first).unwrap_or(usize::MAX).min(times.len());
    // From the start, times are the trace's own (a first request at 0.2 s
    // leaves at 0.2 s); after a warm-up, the rest starts at once.
    let base = match first {
        0 => Duration::ZERO,
        _ => times.get(first).copied().unwrap_or_default(),
    };
    Box::new(Replay {
        times,
        next: first,
        base,
        speed,
    })
}

/// `at` on the replay's clock: the trace time over the speed, to the
/// nanosecond (exactly the trace time at speed 1).
pub fn scaled(at: Duration, speed: f64) -> Duration {
    if speed == 1.0 {
        return at;
    }
    if !speed.is_finite() {
        return Duration::ZERO;
    }
    let nanos = (at.as_nanos() as f64 / speed).round();
    Duration::from_nanos(if nanos >= u64::MAX as f64 {
        u64::MAX
    } else {
        nanos as u64
    })
}

struct Replay {
    times: Arc<[Duration]>,
    next: usize,
    base: Duration,
    speed: f64,
}

impl Arrivals for Replay {
    fn next_offset(&mut self) -> Option<Duration> {
        let at = *self.times.get(self.next)?;
        self.next += 1;
        // Times are sorted by the trace's loader; saturating keeps an
        // unsorted list from panicking all the same.
        Some(scaled(at.saturating_sub(self.base), self.speed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(a: &mut dyn Arrivals) -> Vec<Duration> {
        std::iter::from_fn(|| a.next_offset()).take(100).collect()
    }

    #[test]
    fn a_replay_sends_at_the_trace_times_over_the_speed() {
        let ms = Duration::from_millis;
        let times: Arc<[Duration]> = vec![ms(0), ms(250), ms(250), ms(1000)].into();
        assert_eq!(
            all(&mut *arrivals(times.clone(), 0, 1.0)),
            vec![ms(0), ms(250), ms(250), ms(1000)]
        );
        assert_eq!(
            all(&mut *arrivals(times.clone(), 0, 2.0)),
            vec![ms(0), ms(125), ms(125), ms(500)]
        );
        assert_eq!(
            all(&mut *arrivals(times.clone(), 0, 0.5)),
            vec![ms(0), ms(500), ms(500), ms(2000)]
        );
        assert_eq!(
            all(&mut *arrivals(times.clone(), 2, 1.0)),
            vec![ms(0), ms(750)],
            "after a warm-up: the rest, from the phase's start"
        );
        assert!(all(&mut *arrivals(times.clone(), 9, 1.0)).is_empty());
        let late: Arc<[Duration]> = vec![ms(200), ms(700)].into();
        assert_eq!(
            all(&mut *arrivals(late, 0, 1.0)),
            vec![ms(200), ms(700)],
            "a trace's first request keeps its own time"
        );
        assert_eq!(all(&mut *arrivals(times, 0, f64::INFINITY)), vec![Duration::ZERO; 4]);
        assert_eq!(scaled(Duration::from_nanos(10), 3.0), Duration::from_nanos(3));
    }
}
