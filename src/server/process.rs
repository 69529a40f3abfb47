//! The server's process: started through `sh -c` in a process group of its
//! own (so the whole tree — a shell, a launcher, its workers — is stopped
//! together, and a terminal's Ctrl-C reaches inferload only, which then
//! stops the server itself), its stdout and stderr appended to a log file,
//! polled until ready, and stopped with SIGTERM to the group, then SIGKILL
//! after [`STOP_GRACE`](super::STOP_GRACE).
//!
//! [`ServerProcess`] is the guard: dropping it without [`ServerProcess::stop`]
//! (an error, a panic unwinding) still stops the group, blocking for a
//! short grace — a last resort, so no path leaves a server running.

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use thiserror::Error;

use super::Instance;
use crate::engine::Signals;

/// Log lines quoted when the server fails to start.
const TAIL_LINES: usize = 15;
/// Between two readiness polls.
const POLL: Duration = Duration::from_millis(100);
/// The grace a dropped guard gives the server before SIGKILL.
const DROP_GRACE: Duration = Duration::from_secs(3);

/// Why the server did not become ready.
#[derive(Debug, Error)]
pub enum StartError {
    #[error("cannot open the server log {}: {cause}", path.display())]
    Log { path: PathBuf, cause: String },
    #[error("cannot start --server-cmd: {0}")]
    Spawn(String),
    #[error("the server exited before it was ready ({status}); last lines of {}:\n{tail}", log.display())]
    Exited { status: String, log: PathBuf, tail: String },
    #[error("the server was not ready after {} (--ready-timeout; polled {urls}); last lines of {}:\n{tail}", crate::units::format_duration(*after), log.display())]
    Timeout {
        after: Duration,
        urls: String,
        log: PathBuf,
        tail: String,
    },
    #[error("interrupted while the server was starting")]
    Interrupted,
}

/// The server answered.
#[derive(Debug, Clone)]
pub struct Ready {
    /// From the spawn to the ready answer.
    pub after: Duration,
    /// The URL that answered.
    pub url: String,
}

/// A running server (its process group); stopped when dropped.
#[derive(Debug)]
pub struct ServerProcess {
    child: Option<Child>,
    pid: u32,
    log: PathBuf,
    spawned: Instant,
}

impl ServerProcess {
    /// Starts the instance's command; its output goes to the log, which is
    /// created (or appended to: a sweep's restarts may share one).
    pub fn spawn(inst: &Instance) -> Result<Self, StartError> {
        let log_err = |e: std::io::Error| StartError::Log {
            path: inst.log.clone(),
            cause: e.to_string(),
        };
        if let Some(dir) = inst.log.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(log_err)?;
        }
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&inst.log)
            .map_err(log_err)?;
        let err = out.try_clone().map_err(log_err)?;
        let child = Command::new("sh")
            .arg("-c")
            .arg(&inst.command)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            // Its own group: signals to inferload's terminal group do not
            // reach it, and killpg reaches all it started.
            .process_group(0)
            .spawn()
            .map_err(|e| StartError::Spawn(e.to_string()))?;
        Ok(Self {
            pid: child.id(),
            child: Some(child),
            log: inst.log.clone(),
            spawned: Instant::now(),
        })
    }

    /// The process id of the shell (also the group's id).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    pub fn log(&self) -> &Path {
        &self.log
    }

    /// The exit status, if the shell has exited.
    fn exited(&mut self) -> Option<ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    /// Polls the instance's ready URLs until one answers (any 2xx, or 401/
    /// 403: the server is up and wants credentials, which the preflight
    /// then checks), the server exits, the timeout passes or the run is
    /// interrupted.
    pub async fn wait_ready(
        &mut self,
        client: &reqwest::Client,
        inst: &Instance,
        signals: &Signals,
    ) -> Result<Ready, StartError> {
        let deadline = self.spawned + inst.ready_timeout;
        loop {
            if let Some(status) = self.exited() {
                return Err(StartError::Exited {
                    status: describe_status(status),
                    log: self.log.clone(),
                    tail: tail(&self.log),
                });
            }
            for url in &inst.ready_urls {
                let answer = client.get(url).timeout(Duration::from_secs(5)).send().await;
                if let Ok(resp) = answer {
                    let s = resp.status().as_u16();
                    if (200..300).contains(&s) || s == 401 || s == 403 {
                        return Ok(Ready {
                            after: self.spawned.elapsed(),
                            url: url.clone(),
                        });
                    }
                }
            }
            if Instant::now() >= deadline {
                return Err(StartError::Timeout {
                    after: inst.ready_timeout,
                    urls: inst.ready_urls.join(", "),
                    log: self.log.clone(),
                    tail: tail(&self.log),
                });
            }
            tokio::select! {
                _ = signals.interrupt.cancelled() => return Err(StartError::Interrupted),
                _ = tokio::time::sleep(POLL) => {}
            }
        }
    }

    /// Stops the group: SIGTERM, then SIGKILL to whatever of it is left
    /// after `grace`. Returns the shell's exit status when known.
    pub async fn stop(mut self, grace: Duration) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        signal_group(self.pid, libc::SIGTERM);
        let deadline = Instant::now() + grace;
        let mut status = None;
        while Instant::now() < deadline {
            if status.is_none() {
                status = child.try_wait().ok().flatten();
            }
            if status.is_some() && !group_alive(self.pid) {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        signal_group(self.pid, libc::SIGKILL);
        let _ = child.kill();
        child.wait().ok().or(status)
    }
}

impl Drop for ServerProcess {
    /// The last resort: the command's path did not stop the server (an
    /// error or a panic); stop it here, blocking for a short grace.
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        signal_group(self.pid, libc::SIGTERM);
        let deadline = Instant::now() + DROP_GRACE;
        while Instant::now() < deadline {
            if child.try_wait().ok().flatten().is_some() && !group_alive(self.pid) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        signal_group(self.pid, libc::SIGKILL);
        let _ = child.kill();
        let _ = child.wait();
    }
}

fn signal_group(pgid: u32, sig: libc::c_int) {
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return;
    };
    // SAFETY: killpg only sends a signal; a group that is gone gives ESRCH.
    unsafe {
        libc::killpg(pgid, sig);
    }
}

/// Whether any live process of the group is left. A zombie does not count:
/// it has exited, and where PID 1 does not reap orphans (some containers)
/// it would otherwise look alive for ever. Read from `/proc` where there is
/// one, else signal 0 (which counts zombies).
pub fn group_alive(pgid: u32) -> bool {
    if let Ok(entries) = std::fs::read_dir("/proc") {
        return entries.flatten().any(|e| {
            let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            // `pid (comm) state ppid pgrp …`; comm may hold spaces.
            let Some(after) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
                return false;
            };
            let mut fields = after.split_whitespace();
            let state = fields.next().unwrap_or("Z");
            let pgrp = fields.nth(1).and_then(|f| f.parse::<u32>().ok());
            pgrp == Some(pgid) && state != "Z" && state != "X"
        });
    }
    let Ok(pgid) = libc::pid_t::try_from(pgid) else {
        return false;
    };
    // SAFETY: signal 0 checks the group exists without signalling it.
    unsafe { libc::killpg(pgid, 0) == 0 }
}

/// "exit status 3", "ended by SIGTERM", "killed by SIGKILL".
pub fn describe_status(s: ExitStatus) -> String {
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("exit status {c}"),
        (None, Some(libc::SIGTERM)) => "ended by SIGTERM".into(),
        (None, Some(libc::SIGINT)) => "ended by SIGINT".into(),
        (None, Some(libc::SIGKILL)) => "killed by SIGKILL".into(),
        (None, Some(sig)) => format!("killed by signal {sig}"),
        _ => s.to_string(),
    }
}

/// The last lines of the log (its last 16 KiB at most), indented.
fn tail(path: &Path) -> String {
    let mut text = String::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        let len = f.metadata().map(|m| m.len()).unwrap_or(0);
        let _ = f.seek(SeekFrom::Start(len.saturating_sub(16 * 1024)));
        let mut bytes = Vec::new();
        let _ = f.read_to_end(&mut bytes);
        text = String::from_utf8_lossy(&bytes).into_owned();
    }
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return "  (the log is empty)".into();
    }
    lines[lines.len().saturating_sub(TAIL_LINES)..]
        .iter()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(cmd: &str, log: PathBuf) -> Instance {
        Instance {
            command: cmd.into(),
            url: "http://127.0.0.1:9".into(),
            ready_urls: vec!["http://127.0.0.1:9/health".into()],
            log,
            ready_timeout: Duration::from_secs(30),
        }
    }

    #[tokio::test]
    async fn an_early_exit_quotes_the_log_and_the_status() {
        let dir = tempfile::tempdir().unwrap();
        let inst = instance(
            "echo loading weights; echo 'CUDA out of memory' >&2; exit 3",
            dir.path().join("s.log"),
        );
        let mut p = ServerProcess::spawn(&inst).unwrap();
        crate::engine::client::install_crypto_provider();
        let client = reqwest::Client::new();
        let e = p.wait_ready(&client, &inst, &Signals::default()).await.unwrap_err();
        let text = e.to_string();
        assert!(text.contains("exit status 3"), "{text}");
        assert!(
            text.contains("CUDA out of memory") && text.contains("loading weights"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn stopping_ends_the_whole_group_and_drop_does_too() {
        let dir = tempfile::tempdir().unwrap();
        // A shell that ignores SIGTERM with a child: SIGKILL must come.
        let inst = instance("trap '' TERM; sleep 600 & wait", dir.path().join("s.log"));
        let p = ServerProcess::spawn(&inst).unwrap();
        let pid = p.pid();
        // Give the shell time to set its trap and start the child.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(group_alive(pid));
        let status = p.stop(Duration::from_millis(300)).await.unwrap();
        assert_eq!(describe_status(status), "killed by SIGKILL");
        assert!(!group_alive(pid), "the group survived stop");

        let p = ServerProcess::spawn(&instance("sleep 600", dir.path().join("t.log"))).unwrap();
        let pid = p.pid();
        drop(p);
        assert!(!group_alive(pid), "the group survived drop");
    }
}
