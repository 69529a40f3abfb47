//! The process's open-file limit against the connections a run will hold.
//!
//! Every request in flight holds a socket, so thousands of streams need
//! thousands of file descriptors; the usual soft limit of 1,024 would make
//! them fail with "Too many open files", which reads like the target's
//! fault. The edge raises the soft limit to the hard one at start
//! ([`raise_open_files`]); before any load the harness checks that the
//! connections it is about to pool fit ([`check_open_files`]) and refuses
//! in one line otherwise. libc is used directly: `getrlimit`/`setrlimit`
//! are two calls, and no maintained crate adds anything over them.

use thiserror::Error;

/// Descriptors kept aside for what is not a pooled connection: the
/// runtime, files written, the monitor's sockets, the standard streams.
pub const RESERVED: u64 = 64;

/// The soft and hard open-file limits, when the platform has them.
pub fn open_files() -> Option<(u64, u64)> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into a valid, owned struct.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0).then_some((lim.rlim_cur, lim.rlim_max))
}

/// Raises the soft open-file limit to the hard one (what a process may do
/// without privileges).
pub fn raise_open_files() {
    if let Some((soft, hard)) = open_files() {
        if soft < hard {
            let lim = libc::rlimit {
                rlim_cur: hard,
                rlim_max: hard,
            };
            // SAFETY: setrlimit on this process with a valid, owned struct.
            unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
        }
    }
}

/// The limit cannot hold the connections asked for.
#[derive(Debug, Error, PartialEq, Eq)]
#[error("{connections} connections need about {needed} open files, but this process may open {soft} (hard limit {hard}); {}", self.remedy())]
pub struct TooFewFiles {
    pub connections: u64,
    pub needed: u64,
    pub soft: u64,
    pub hard: u64,
    pub suggest: u64,
}

impl TooFewFiles {
    /// What to do: raise the soft limit when the hard one allows it;
    /// otherwise the hard limit must be raised by whoever may (a user
    /// cannot, and a container may refuse even root), or the run split
    /// into shards that each fit.
    fn remedy(&self) -> String {
        if self.needed <= self.hard {
            return format!(
                "raise it with `ulimit -n {}` (or LimitNOFILE= for a service) or lower the concurrency",
                self.suggest.min(self.hard)
            );
        }
        let room = self.hard.saturating_sub(RESERVED).max(1);
        let shards = self.connections.div_ceil(room).max(2);
        format!(
            "the hard limit must be raised first, which only an administrator can do (`ulimit -n {}` as root, \
             /etc/security/limits.conf, or LimitNOFILE= for a service; a container may refuse even root), \
             or split the run over {shards} processes with --shard K/{shards} (about {} connections each) \
             and join their --json documents with `inferload merge`, or lower the concurrency",
            self.suggest,
            self.connections.div_ceil(shards)
        )
    }
}

/// Checks that `connections` pooled sockets fit the current limit.
pub fn check_open_files(connections: u64) -> Result<(), TooFewFiles> {
    match open_files() {
        Some((soft, hard)) => check(connections, soft, hard),
        None => Ok(()),
    }
}

fn check(connections: u64, soft: u64, hard: u64) -> Result<(), TooFewFiles> {
    let needed = connections.saturating_add(RESERVED);
    if needed <= soft {
        return Ok(());
    }
    Err(TooFewFiles {
        connections,
        needed,
        soft,
        hard,
        suggest: needed.next_power_of_two(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_leaves_room_for_the_process_and_suggests_a_limit() {
        assert_eq!(check(100, 1024, 1024), Ok(()));
        assert_eq!(check(960, 1024, 4096), Ok(()));
        let e = check(2000, 256, 8192).unwrap_err();
        assert_eq!(e.needed, 2064);
        assert_eq!(e.suggest, 4096);
        let line = e.to_string();
        assert!(
            line.contains("2000 connections") && line.contains("may open 256"),
            "{line}"
        );
        assert!(line.contains("ulimit -n 4096"), "{line}");
    }

    /// Regression: 50,000 streams under a hard limit of 20,000 (a machine
    /// where even root may not raise it) were told only to run `ulimit -n
    /// 65536`, which a user cannot do and which fails there even for root;
    /// the message now says the hard limit is the obstacle, who may raise
    /// it, and how many shards fit under it.
    #[test]
    fn above_the_hard_limit_the_way_out_is_shards() {
        let line = check(50_000, 20_000, 20_000).unwrap_err().to_string();
        assert!(
            line.starts_with("50000 connections need about 50064 open files"),
            "{line}"
        );
        assert!(line.contains("hard limit 20000"), "{line}");
        assert!(line.contains("`ulimit -n 65536` as root"), "{line}");
        assert!(line.contains("--shard K/3 (about 16667 connections each)"), "{line}");
        assert!(line.contains("inferload merge"), "{line}");
        // Below the hard limit, raising the soft one is enough.
        let line = check(5_000, 1_024, 20_000).unwrap_err().to_string();
        assert!(line.contains("ulimit -n 8192") && !line.contains("--shard"), "{line}");
    }

    #[test]
    fn this_process_has_a_limit() {
        let (soft, hard) = open_files().expect("a Unix limit");
        assert!(soft > 0 && soft <= hard);
    }
}
