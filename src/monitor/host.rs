//! The local host and the load generator itself, through sysinfo: CPU
//! utilisation (total and per core), memory used and total, and this
//! process's CPU and resident memory — so a user can see that the client
//! was not the bottleneck.
//!
//! CPU figures are usage since the previous refresh: the sampler refreshes
//! once when created, so the first tick already covers a real interval.
//! sysinfo reads `/proc`, so each sample runs on a blocking thread.

use std::sync::{Arc, Mutex, PoisonError};

use futures_util::future::BoxFuture;
use sysinfo::{Pid, ProcessRefreshKind, ProcessesToUpdate, System};

use super::{Reading, Role, Sampler};

pub struct HostSampler {
    sys: Arc<Mutex<System>>,
    pid: Option<Pid>,
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

fn read(sys: &mut System, pid: Option<Pid>) -> Vec<Reading> {
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
            f64::from(p.cpu_usage()),
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
        let (sys, pid) = (self.sys.clone(), self.pid);
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                let mut sys = sys.lock().unwrap_or_else(PoisonError::into_inner);
                read(&mut sys, pid)
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
