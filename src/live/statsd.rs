//! StatsD export through cadence: per finished request, over UDP,
//! with the `--statsd-prefix` (default `inferload`):
//!
//! | name | type | value |
//! |---|---|---|
//! | `requests.total` | counter | 1 per request (success or failure) |
//! | `requests.model.<model>` | counter | 1 per request |
//! | `requests.model.<model>.input_tokens` | counter | input tokens of a successful request |
//! | `requests.model.<model>.output_tokens` | counter | output tokens of a successful request |
//! | `request.latency` | timer (ms) | E2E latency of a successful request |
//! | `request.ttft` | timer (ms) | TTFT of a successful streamed request |
//! | `requests.errors.<class>` | counter | 1 per failed request (`timeout`, `http_503`, …) |
//!
//! `<model>` has every character outside `[A-Za-z0-9_-]` replaced by `_`
//! (`org/model-7b.v1` → `org_model-7b_v1`): `.` would split the name and
//! `:`/`|` would break the line protocol. Metrics are buffered into
//! packets and sent at least once a second and when a measurement ends.
//! Unfinished requests (still running when the run stopped) count as
//! errors, as everywhere.

use std::net::{ToSocketAddrs, UdpSocket};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cadence::{BufferedUdpMetricSink, Counted, StatsdClient, Timed};

use crate::record::RequestRecord;

use super::LiveSink;

const FLUSH_EVERY: Duration = Duration::from_secs(1);

pub struct StatsdSink {
    client: StatsdClient,
    last_flush: Mutex<Instant>,
}

/// A model name as one StatsD name segment.
pub fn segment(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl StatsdSink {
    pub fn connect(addr: &str, prefix: &str) -> Result<Self, String> {
        let to = addr
            .to_socket_addrs()
            .map_err(|e| format!("not a HOST:PORT address ({e})"))?
            .next()
            .ok_or("the host has no address")?;
        let bind = if to.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" };
        let socket = UdpSocket::bind(bind).map_err(|e| e.to_string())?;
        socket.set_nonblocking(true).map_err(|e| e.to_string())?;
        let sink = BufferedUdpMetricSink::from(to, socket).map_err(|e| e.to_string())?;
        Ok(Self {
            client: StatsdClient::from_sink(prefix.trim_end_matches('.'), sink),
            last_flush: Mutex::new(Instant::now()),
        })
    }
}

impl LiveSink for StatsdSink {
    fn on_sent(&self) {}

    fn on_finished(&self, rec: &RequestRecord, model: &str) {
        // Sending is best effort: a full socket buffer drops a metric, never the run.
        let m = segment(model);
        let c = &self.client;
        let _ = c.count("requests.total", 1);
        let _ = c.count(&format!("requests.model.{m}"), 1);
        match &rec.error {
            Some(e) => {
                let _ = c.count(&format!("requests.errors.{}", segment(&e.class.to_string())), 1);
            }
            None => {
                let _ = c.count(&format!("requests.model.{m}.input_tokens"), rec.input_tokens);
                let _ = c.count(&format!("requests.model.{m}.output_tokens"), rec.output_tokens);
                if let Some(e2e) = rec.e2e() {
                    let _ = c.time("request.latency", e2e);
                }
                if let Some(ttft) = rec.ttft() {
                    let _ = c.time("request.ttft", ttft);
                }
            }
        }
        let mut last = self
            .last_flush
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if last.elapsed() >= FLUSH_EVERY {
            let _ = c.flush();
            *last = Instant::now();
        }
    }

    fn flush(&self) {
        let _ = self.client.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_names_become_one_segment() {
        assert_eq!(segment("org/model-7b.v1"), "org_model-7b_v1");
        assert_eq!(segment("a:b|c@d"), "a_b_c_d");
    }
}
