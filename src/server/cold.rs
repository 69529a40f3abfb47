//! The cold start of a server inferload started: the time from the spawn to
//! the first ready answer, and the first request it serves (the workload's
//! first item, alone), measured before the run's warm-up so neither is
//! mixed into the run's figures. A real server's first request is slow
//! (CUDA graphs captured lazily, caches empty, allocator growth): a user
//! sizing autoscaling needs it on its own line.

use std::time::Duration;

use crate::doc::server::{ColdStart, FirstRequest};
use crate::engine::Signals;
use crate::harness::{Level, Session, Sinks};
use crate::plan::{RunPlan, Stop};
use crate::schedule::ScheduleSpec;

use super::process::{Ready, ServerProcess, StartError};
use super::Instance;

/// A server started and ready.
#[derive(Debug)]
pub struct Started {
    pub process: ServerProcess,
    pub instance: Instance,
    pub ready: Ready,
}

/// Starts the instance and waits until it is ready, saying so on the
/// console (where its log goes first, so a user watching a slow load
/// knows where to look). The process is stopped if it never gets ready.
pub async fn start(inst: Instance, plan: &RunPlan, signals: &Signals) -> Result<Started, StartError> {
    let redactor = plan.redactor();
    println!(
        "Server: starting `{}` (output in {})",
        redactor.redact(&inst.command),
        inst.log.display()
    );
    let mut process = ServerProcess::spawn(&inst)?;
    println!(
        "Server: waiting until {} answers (up to {}, --ready-timeout)",
        inst.ready_urls.join(" or "),
        crate::units::format_duration(inst.ready_timeout)
    );
    crate::engine::client::install_crypto_provider();
    let client = reqwest::Client::builder()
        .build()
        .map_err(|e| StartError::Spawn(format!("cannot build the readiness client: {e}")))?;
    match process.wait_ready(&client, &inst, signals).await {
        Ok(ready) => {
            println!(
                "Server: ready in {:.2} s (pid {})",
                ready.after.as_secs_f64(),
                process.pid()
            );
            Ok(Started {
                process,
                instance: inst,
                ready,
            })
        }
        Err(e) => {
            process.stop(Duration::from_secs(5)).await;
            Err(e)
        }
    }
}

/// Sends the workload's first request alone on the fresh server and
/// times it; `None` when interrupted before it was sent.
pub async fn first_request(
    session: &Session,
    plan: &RunPlan,
    signals: &Signals,
) -> anyhow::Result<Option<FirstRequest>> {
    if signals.interrupt.is_cancelled() {
        return Ok(None);
    }
    let level = Level {
        schedule: ScheduleSpec::Closed { concurrency: 1 },
        stop: Stop {
            requests: Some(1),
            duration: None,
        },
        warmup: 0,
        seed: plan.seed,
    };
    let sinks = Sinks {
        records: None,
        show_samples: 0,
        capture_all_text: false,
        keep_records: true,
        quiet: true,
        bounds: plan.request_bounds(),
        percentiles: Vec::new(),
    };
    let m = session.measure(&level, sinks, signals).await?;
    let Some(r) = m.records.into_iter().next() else {
        return Ok(None);
    };
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    Ok(Some(FirstRequest {
        succeeded: r.succeeded(),
        ttft_ms: r.ttft().map(ms),
        e2e_ms: r.e2e().map(ms),
        error: r.error.as_ref().map(|e| format!("{}: {}", e.class, e.message)),
    }))
}

/// The document's section for a started server and its first request.
pub fn cold_start(started: &Started, first: Option<FirstRequest>, plan: &RunPlan) -> ColdStart {
    ColdStart {
        command: plan.redactor().redact(&started.instance.command),
        log: started.instance.log.clone(),
        ready_url: Some(started.ready.url.clone()),
        time_to_ready_s: started.ready.after.as_secs_f64(),
        first_request: first,
    }
}
