//! Shards: one run's load split over N coordinated processes (pods of a
//! Kubernetes Indexed Job, or machines), so that together they send
//! exactly what one run with the same flags would: shard K of N owns the
//! request indices `i` with `i mod N = K` (so the seeded workload gives
//! each index the same prompt), the users `u mod N = K`, and its share of
//! the concurrency. An open loop keeps the single run's arrival times and
//! sends only the arrivals it owns, so the union is the single schedule.

use serde::{Deserialize, Serialize};

/// Shard `index` of `count` (`index` from 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl Shard {
    /// Parses `K/N` (`0/4`).
    pub fn parse(s: &str) -> Result<Self, String> {
        let (k, n) = s
            .split_once('/')
            .ok_or_else(|| "a shard is K/N, e.g. 0/4 (K from 0)".to_string())?;
        let parse = |v: &str, what: &str| {
            v.trim()
                .parse::<u64>()
                .map_err(|_| format!("{what} must be a whole number"))
        };
        Self::new(parse(k, "K")?, parse(n, "N")?)
    }

    pub fn new(index: u64, count: u64) -> Result<Self, String> {
        if count == 0 {
            return Err("the number of shards must be at least 1".into());
        }
        if index >= count {
            return Err(format!(
                "shard {index} of {count} does not exist (K runs from 0 to {})",
                count - 1
            ));
        }
        Ok(Self { index, count })
    }

    /// True when request (or user, or arrival) `i` is this shard's.
    pub fn owns(&self, i: u64) -> bool {
        i % self.count == self.index
    }

    /// The `j`-th index this shard owns.
    pub fn nth(&self, j: u64) -> u64 {
        j.saturating_mul(self.count).saturating_add(self.index)
    }

    /// This shard's part of `total` (concurrency, users): the shares of all
    /// shards add up to `total`, the first ones taking the remainder.
    pub fn share(&self, total: usize) -> usize {
        let (n, k) = (self.count as usize, self.index as usize);
        total / n + usize::from(k < total % n)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_indices_and_shares() {
        let shards: Vec<Shard> = (0..4).map(|k| Shard::new(k, 4).unwrap()).collect();
        for i in 0..100u64 {
            assert_eq!(shards.iter().filter(|s| s.owns(i)).count(), 1, "index {i}");
        }
        for s in &shards {
            assert!((0..25).all(|j| s.owns(s.nth(j))));
        }
        let shares: Vec<usize> = shards.iter().map(|s| s.share(10)).collect();
        assert_eq!(shares, vec![3, 3, 2, 2]);
        assert_eq!(shares.iter().sum::<usize>(), 10);
    }

    #[test]
    fn shard_errors_say_what_is_wrong() {
        assert_eq!(Shard::parse("1/4"), Ok(Shard { index: 1, count: 4 }));
        assert!(Shard::parse("4/4").unwrap_err().contains("does not exist"));
        assert!(Shard::parse("0/0").unwrap_err().contains("at least 1"));
        assert!(Shard::parse("a/2").unwrap_err().contains("whole number"));
        assert!(Shard::parse("2").unwrap_err().contains("K/N"));
    }
}
