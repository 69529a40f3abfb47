//! Live metrics export: while a run or sweep goes, every finished request
//! is also counted by the live exporters — StatsD over UDP (`--statsd`,
//! [`statsd`]) and a Prometheus endpoint serving the load generator's own
//! metrics (`--prometheus-listen`, [`prometheus`]).
//!
//! They are extra consumers of the engine's events: the collector
//! (`harness::session`) hands each event to every [`LiveSink`] after the
//! view, on its own blocking thread, so a slow UDP socket never delays a
//! request. They never reach back into the engine. The process keeps one
//! [`Live`] (in the harness's services) for every measurement of every
//! session: sweep levels and a comparison's strategies add up.

use std::sync::Arc;

use crate::monitor::MonitorPlan;
use crate::record::RequestRecord;

pub mod prometheus;
pub mod statsd;

/// A consumer of the engine's events that publishes them as they happen.
/// Called on the collector's thread: implementations must not block long.
pub trait LiveSink: Send + Sync {
    /// A request was handed to the HTTP client.
    fn on_sent(&self);
    /// A request ended (`model`: the model it asked for), unfinished ones
    /// included.
    fn on_finished(&self, rec: &RequestRecord, model: &str);
    /// The measurement is over: send what is buffered.
    fn flush(&self) {}
}

/// The live exporters of a session.
#[derive(Default)]
pub struct Live {
    pub sinks: Vec<Arc<dyn LiveSink>>,
    /// `http://ADDR/metrics` when `--prometheus-listen` serves.
    pub listen_url: Option<String>,
    _server: Option<prometheus::ServerGuard>,
}

impl Live {
    /// Opens the exporters the plan asks for; a bad address or a port in
    /// use is an error naming the flag.
    pub async fn start(plan: &MonitorPlan) -> anyhow::Result<Self> {
        let mut live = Live::default();
        if let Some(addr) = &plan.statsd {
            let s = statsd::StatsdSink::connect(addr, &plan.statsd_prefix)
                .map_err(|e| anyhow::anyhow!("--statsd {addr}: {e}"))?;
            live.sinks.push(Arc::new(s));
        }
        if let Some(addr) = &plan.prometheus_listen {
            let (sink, guard, url) = prometheus::serve(addr)
                .await
                .map_err(|e| anyhow::anyhow!("--prometheus-listen {addr}: {e}"))?;
            println!("Live metrics for Prometheus at {url}");
            live.sinks.push(sink);
            live.listen_url = Some(url);
            live._server = Some(guard);
        }
        Ok(live)
    }
}
