//! Connection figures: how many connections a phase opened, how many
//! requests each carried, how often a reused connection turned out to be
//! closed, and how long opening one took.
//!
//! They matter because a request that needs a new connection has a TCP
//! (and TLS) handshake inside its TTFT: a run in which most requests opened
//! one measured handshakes as well as the server. The client counts as it
//! goes ([`Counters`], atomics and one small histogram behind a lock, all
//! touched once per connection or request, never per chunk); the phase
//! hands back a [`ConnectionStats`] snapshot beside its dispatch figures.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

/// The connection figures of one phase (saved in the run document, so a
/// field added later reads as its default from older files).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConnectionStats {
    /// Requests handed to the client (a resent request counts once).
    pub requests: u64,
    /// Connections opened during the phase.
    pub connections_opened: u64,
    /// Connections that carried the phase's requests: those opened in it
    /// and those kept open from an earlier phase (warm-up, a previous level).
    pub connections_used: u64,
    /// `requests / connections_used` (0 without requests).
    pub requests_per_connection: f64,
    /// Requests that had to open a connection before being sent (their TTFT
    /// includes the handshake).
    pub requests_on_new_connections: u64,
    /// More than half of the requests opened a new connection.
    pub mostly_new_connections: bool,
    /// Requests sent again on a fresh connection because the reused one had
    /// been closed by the server before any byte of the reply arrived.
    pub stale_retries: u64,
    /// Kept connections found closed by the server right after a reply
    /// (retried or noticed before use).
    pub closed_by_server: u64,
    /// The target closes connections after its replies, so the client
    /// stopped reusing them (each request opens its own).
    pub reuse_stopped: bool,
    /// Connections that negotiated HTTP/2 (ALPN `h2`) and multiplex requests.
    pub http2_connections: u64,
    /// Attempts to open a connection that failed.
    pub connect_failures: u64,
    /// Time to open a connection: TCP connect plus the TLS handshake.
    pub connect_ms: ConnectTimes,
}

/// Mean, 99th percentile and maximum of the connect times, in ms (all 0
/// when no connection was opened).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConnectTimes {
    pub count: u64,
    pub mean: f64,
    pub p99: f64,
    pub max: f64,
}

/// The running counts behind [`ConnectionStats`].
#[derive(Debug)]
pub(crate) struct Counters {
    requests: AtomicU64,
    opened: AtomicU64,
    carried_over: AtomicU64,
    on_new: AtomicU64,
    stale_retries: AtomicU64,
    closed_by_server: AtomicU64,
    http2: AtomicU64,
    connect_failures: AtomicU64,
    /// Connect times in microseconds.
    connect_us: Mutex<Histogram<u64>>,
}

impl Default for Counters {
    fn default() -> Self {
        Self {
            requests: AtomicU64::new(0),
            opened: AtomicU64::new(0),
            carried_over: AtomicU64::new(0),
            on_new: AtomicU64::new(0),
            stale_retries: AtomicU64::new(0),
            closed_by_server: AtomicU64::new(0),
            http2: AtomicU64::new(0),
            connect_failures: AtomicU64::new(0),
            connect_us: Mutex::new(new_histogram()),
        }
    }
}

fn new_histogram() -> Histogram<u64> {
    // 1 µs to 1 hour at 3 significant digits.
    Histogram::new_with_bounds(1, 3_600_000_000, 3).expect("valid HDR histogram bounds")
}

impl Counters {
    pub(crate) fn request(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn request_on_new_connection(&self) {
        self.on_new.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn carried_over(&self) {
        self.carried_over.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn opened(&self, took: Duration, http2: bool) {
        self.opened.fetch_add(1, Ordering::Relaxed);
        if http2 {
            self.http2.fetch_add(1, Ordering::Relaxed);
        }
        let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1);
        let mut h = self
            .connect_us
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        h.saturating_record(us);
    }

    pub(crate) fn connect_failed(&self) {
        self.connect_failures.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn stale_retry(&self) {
        self.stale_retries.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn closed_by_server(&self) {
        self.closed_by_server.fetch_add(1, Ordering::Relaxed);
    }

    /// Starts a new phase's counts.
    pub(crate) fn reset(&self) {
        for c in [
            &self.requests,
            &self.opened,
            &self.carried_over,
            &self.on_new,
            &self.stale_retries,
            &self.closed_by_server,
            &self.http2,
            &self.connect_failures,
        ] {
            c.store(0, Ordering::Relaxed);
        }
        self.connect_us
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .reset();
    }

    pub(crate) fn snapshot(&self, reuse_stopped: bool) -> ConnectionStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let requests = get(&self.requests);
        let opened = get(&self.opened);
        let used = opened + get(&self.carried_over);
        let on_new = get(&self.on_new);
        let h = self
            .connect_us
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let ms = |us: f64| us / 1e3;
        let connect_ms = if h.is_empty() {
            ConnectTimes::default()
        } else {
            ConnectTimes {
                count: h.len(),
                mean: ms(h.mean()),
                p99: ms(h.value_at_quantile(0.99) as f64),
                max: ms(h.max() as f64),
            }
        };
        ConnectionStats {
            requests,
            connections_opened: opened,
            connections_used: used,
            requests_per_connection: if used > 0 { requests as f64 / used as f64 } else { 0.0 },
            requests_on_new_connections: on_new,
            mostly_new_connections: requests > 0 && on_new * 2 > requests,
            stale_retries: get(&self.stale_retries),
            closed_by_server: get(&self.closed_by_server),
            reuse_stopped,
            http2_connections: get(&self.http2),
            connect_failures: get(&self.connect_failures),
            connect_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_follow_the_counts() {
        let c = Counters::default();
        for _ in 0..10 {
            c.request();
        }
        for _ in 0..6 {
            c.request_on_new_connection();
            c.opened(Duration::from_micros(500), false);
        }
        c.opened(Duration::from_millis(20), true);
        c.carried_over();
        c.stale_retry();
        let s = c.snapshot(false);
        assert_eq!(s.requests, 10);
        assert_eq!(s.connections_opened, 7);
        assert_eq!(s.connections_used, 8);
        assert!((s.requests_per_connection - 1.25).abs() < 1e-9);
        assert!(s.mostly_new_connections, "6 of 10 opened a connection");
        assert_eq!(s.stale_retries, 1);
        assert_eq!(s.http2_connections, 1);
        assert_eq!(s.connect_ms.count, 7);
        assert!((s.connect_ms.max - 20.0).abs() < 0.05, "{:?}", s.connect_ms);
        assert!(s.connect_ms.mean > 0.5 && s.connect_ms.mean < 4.0, "{:?}", s.connect_ms);

        c.reset();
        let s = c.snapshot(true);
        assert_eq!(s.requests, 0);
        assert_eq!(s.connect_ms, ConnectTimes::default());
        assert!(!s.mostly_new_connections && s.reuse_stopped);
    }
}
