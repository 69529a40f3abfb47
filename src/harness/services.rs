//! What lives as long as the process and is lent to every session: the
//! machine's samplers (host and GPUs) and the live exporters (StatsD,
//! `--prometheus-listen`).
//!
//! A comparison measures several targets in one process; the host is the
//! same machine for all of them and a Prometheus listener can bind its
//! address once, so these are made here once and borrowed, while each
//! target's own scrape stays with its session. Measurements run one at a
//! time, so lending the samplers (taking them out, giving them back) needs
//! no sharing between running monitors.

use std::sync::{Arc, Mutex, PoisonError};

use crate::live::{Live, LiveSink};
use crate::monitor::{MonitorPlan, Sampler};

/// The process's side services.
#[derive(Default)]
pub struct Services {
    live: Live,
    /// Host and GPU samplers, between measurements.
    samplers: Mutex<Vec<Box<dyn Sampler>>>,
    /// Their sources, for each session's settings line.
    sources: Vec<String>,
    /// What could not be set up (no GPU), said once here and repeated in
    /// every monitor report.
    notes: Vec<String>,
}

impl Services {
    /// Starts the live exporters the plan asks for and, unless monitoring
    /// is off, finds the machine's samplers (printing what is missing once).
    pub async fn start(plan: &MonitorPlan) -> anyhow::Result<Self> {
        let live = Live::start(plan).await?;
        let (samplers, notes) = match plan.enabled {
            true => crate::monitor::local_samplers().await,
            false => (Vec::new(), Vec::new()),
        };
        for n in &notes {
            println!("Monitor:   {n}");
        }
        Ok(Self {
            live,
            sources: samplers.iter().map(|s| s.source()).collect(),
            samplers: Mutex::new(samplers),
            notes,
        })
    }

    /// The live exporters every measurement feeds.
    pub fn live_sinks(&self) -> &[Arc<dyn LiveSink>] {
        &self.live.sinks
    }

    /// `http://ADDR/metrics` when `--prometheus-listen` serves.
    pub fn listen_url(&self) -> Option<&str> {
        self.live.listen_url.as_deref()
    }

    /// The machine's sampler sources (`host`, `gpu (nvidia-smi)`).
    pub fn sampler_sources(&self) -> Vec<String> {
        self.sources.clone()
    }

    pub fn monitor_notes(&self) -> &[String] {
        &self.notes
    }

    /// Takes the machine's samplers for one measurement.
    pub fn lend_samplers(&self) -> Vec<Box<dyn Sampler>> {
        std::mem::take(&mut *self.samplers.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Takes them back after it.
    pub fn return_samplers(&self, samplers: Vec<Box<dyn Sampler>>) {
        self.samplers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(samplers);
    }
}
