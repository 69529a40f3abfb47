//! The harness: what `run`, `sweep` and `compare` share around their
//! measurements, built in one place — the target (or the embedded
//! simulator), the session on it, the signals from the edge, the side
//! services that live as long as the process ([`services`]) and the
//! writing of outputs ([`outputs`]).
//!
//! The commands above it decide what to measure and how to judge it; the
//! harness knows nothing of levels or strategies. It never installs signal
//! handlers: `app` owns the process and hands the [`Signals`] in.

use std::sync::Arc;

use anyhow::Context;

use crate::engine::Signals;
use crate::monitor::MonitorPlan;
use crate::plan::RunPlan;
use crate::sim::{self, SimHandle};

pub mod outputs;
pub mod repeats;
pub mod services;
pub mod session;
pub mod stages;

pub use repeats::{measure_repeats, Repeated};
pub use services::Services;
pub use session::{pool_size, Level, Measurement, Session, Sinks};

/// Shared state of one command.
pub struct Harness {
    signals: Signals,
    services: Arc<Services>,
    /// Embedded simulators started for targets without a URL.
    sims: tokio::sync::Mutex<Vec<SimHandle>>,
    /// Connections pooled by the sessions so far (they stay open).
    pooled: std::sync::atomic::AtomicU64,
}

impl Harness {
    /// Starts the process's side services; `monitor` is the command's
    /// monitor settings (a comparison's are its first strategy's).
    pub async fn start(signals: Signals, monitor: &MonitorPlan) -> anyhow::Result<Self> {
        Ok(Self {
            signals,
            services: Arc::new(Services::start(monitor).await?),
            sims: Default::default(),
            pooled: Default::default(),
        })
    }

    /// Interrupt (stop sending) and abort (cancel in-flight) from the edge.
    pub fn signals(&self) -> &Signals {
        &self.signals
    }

    pub fn services(&self) -> &Services {
        &self.services
    }

    /// Loads the plan's workload, finds its target (starting the embedded
    /// simulator when it names none) and connects a session pooling `pool`
    /// connections.
    pub async fn connect(&self, plan: &RunPlan, pool: usize) -> anyhow::Result<Session> {
        // Before any file or socket: every pooled connection is a descriptor.
        let pooled = self.pooled.fetch_add(pool as u64, std::sync::atomic::Ordering::Relaxed) + pool as u64;
        crate::limits::check_open_files(pooled)?;
        let counter = open_tokenizer(plan).await?;
        let tokenizer = counter.tokenizer().map(|t| t.source().to_string());
        let started = std::time::Instant::now();
        // Making token-exact prompts takes the cores for a while: off the runtime.
        let copy = plan.clone();
        let workload = tokio::task::spawn_blocking(move || crate::scenario::load_workload(&copy, counter))
            .await
            .context("cannot prepare the workload")??;
        if let Some(source) = tokenizer {
            println!(
                "Tokenizer: {source} (token-exact prompts and counts; prepared in {:.1} s)",
                started.elapsed().as_secs_f64()
            );
        }
        let workload = Arc::new(workload);
        let (base_url, embedded) = match &plan.target.base_url {
            Some(url) => (url.clone(), false),
            None => {
                let handle = sim::start(sim::SimConfig::default_loopback())
                    .await
                    .context("cannot start the embedded simulator")?;
                println!(
                    "No --url given: benchmarking the embedded simulator at {}",
                    handle.url()
                );
                let url = handle.url();
                self.sims.lock().await.push(handle);
                (url, true)
            }
        };
        Session::connect(plan, workload, &base_url, embedded, pool, self.services.clone()).await
    }

    /// Stops the embedded simulators.
    pub async fn close(self) {
        for h in self.sims.into_inner() {
            h.shutdown().await;
        }
    }
}

/// The plan's tokenizer (`--tokenizer`, else `--model`'s name in the local
/// cache), as the workload's counter; none found for `--model` means one
/// word one token, as without.
async fn open_tokenizer(plan: &RunPlan) -> anyhow::Result<crate::workload::Counter> {
    use crate::workload::{tokenizer, Counter};
    let Some(choice) = &plan.workload.tokenizer else {
        return Ok(Counter::Words);
    };
    let hub = tokenizer::Hub::from_env();
    Ok(match tokenizer::open(choice, &hub).await? {
        Some(t) => Counter::Tokenizer(Arc::new(t)),
        None => Counter::Words,
    })
}
