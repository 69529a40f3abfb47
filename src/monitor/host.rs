//! The local host and the load generator itself, through sysinfo: CPU
//! utilisation (total and per core), memory used and total, and this
//! process's CPU and resident memory — so a user can see that the client
//! was not the bottleneck.
//!
//! The client's CPU is this process's CPU time (`getrusage`, the trust
//! verdict's source too) since the previous sample.
//! Host CPU figures are usage since the previous refresh: the sampler refreshes
//! once when created, so the first tick already covers a real interval.
//! sysinfo reads `/proc`, so each sample runs on a blocking thread.

use std::sync::{Arc, Mutex, PoisonError};

use futures_util::future::BoxFuture;
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

use super::{Reading, Role, Sampler};

pub struct HostSampler {
    sys: Arc<Mutex<System>>,
    pid: Option<Pid>,
    /// The previous sample's wall time and process CPU time: the client's
    /// CPU is their difference, from the same `getrusage` figure as the
    /// trust verdict's.
    cpu_mark: Arc<Mutex<(std::time::Instant, f64)>>,
}

impl HostSampler {
    /// The sampler, or a note for the user when sysinfo does not support
    /// this system.
    pub fn new() -> Result<Self, String> {
        let pid = sysinfo::get_current_pid().ok();
        let mut sys = System::new().map_err(|e| format!("host CPU and memory are not measured: sysinfo: {e}"))?;
        refresh(&mut sys, pid);
        Ok(Self {
            sys: Arc::new(Mutex::new(sys)),
            pid,
            cpu_mark: Arc::new(Mutex::new((
                std::time::Instant::now(),
                super::trust::process_cpu_seconds(),
            ))),
        })
    }
}

fn refresh(sys: &mut System, pid: Option<Pid>) {
    sys.refresh_cpu_usage();
    sys.refresh_memory();
    if let Some(pid) = pid {
        sys.refresh_processes_specifics(
            ProcessesToUpdate::Some(&[pid]),
            false,
            ProcessRefreshKind::nothing().with_cpu().with_memory(),
        );
    }
}

/// This process's CPU since the previous sample, percent of a core.
fn client_cpu_pct(mark: &Mutex<(std::time::Instant, f64)>) -> f64 {
    let mut m = mark.lock().unwrap_or_else(PoisonError::into_inner);
    let (now, cpu) = (std::time::Instant::now(), super::trust::process_cpu_seconds());
    let wall = now.duration_since(m.0).as_secs_f64();
    let pct = if wall > 0.0 {
        (cpu - m.1).max(0.0) / wall * 100.0
    } else {
        0.0
    };
    *m = (now, cpu);
    pct
}

fn read(sys: &mut System, pid: Option<Pid>, mark: &Mutex<(std::time::Instant, f64)>) -> Vec<Reading> {
    refresh(sys, pid);
    let mut out = vec![Reading::new(
        "host.cpu",
        "percent",
        f64::from(sys.global_cpu_usage()),
        Some(Role::HostCpu),
    )];
    for (i, cpu) in sys.cpus().iter().enumerate() {
        out.push(Reading::new(
            format!("host.cpu{{core=\"{i}\"}}"),
            "percent",
            f64::from(cpu.usage()),
            None,
        ));
    }
    out.push(Reading::new(
        "host.memory_used",
        "bytes",
        sys.used_memory() as f64,
        Some(Role::HostMemory),
    ));
    out.push(Reading::new(
        "host.memory_total",
        "bytes",
        sys.total_memory() as f64,
        None,
    ));
    if let Some(p) = pid.and_then(|pid| sys.process(pid)) {
        out.push(Reading::new(
            "client.cpu",
            "percent",
            client_cpu_pct(mark),
            Some(Role::ClientCpu),
        ));
        out.push(Reading::new(
            "client.rss",
            "bytes",
            p.memory() as f64,
            Some(Role::ClientRss),
        ));
    }
    out
}

impl Sampler for HostSampler {
    fn source(&self) -> String {
        "host".into()
    }

    fn sample(&mut self) -> BoxFuture<'_, Result<Vec<Reading>, String>> {
        let (sys, pid, mark) = (self.sys.clone(), self.pid, self.cpu_mark.clone());
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let mut sys = sys.lock().unwrap_or_else(PoisonError::into_inner);
                read(&mut sys, pid, &mark)
            })
            .await
            .map_err(|e| e.to_string())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_host_and_this_process_are_measured() {
        let mut s = HostSampler::new().expect("sysinfo supports Linux");
        let r = s.sample().await.unwrap();
        let get = |n: &str| r.iter().find(|x| x.name == n).map(|x| x.value);
        assert!(get("host.memory_total").unwrap() > 0.0);
        assert!(get("host.memory_used").unwrap() > 0.0);
        assert!(get("client.rss").unwrap() > 0.0);
        assert!((0.0..=100.0).contains(&get("host.cpu").unwrap()));
        assert!(r.iter().any(|x| x.name.starts_with("host.cpu{core=")));
    }
}
