//! The server-lifecycle sections of the run and sweep documents: what a
//! server started by inferload (`--server-cmd`) cost before it could serve
//! ([`ColdStart`]: time to ready and the first, cold request, measured apart
//! from the run), and a sweep over server or workload settings
//! ([`SettingsSweep`]: one entry per setting, each with its own levels and
//! verdict, and the best setting by the sweep's objective).

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::sweep::{Level, Verdict};

/// How long a started server took to serve, and what its first request cost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColdStart {
    /// The command as run (`{port}` and parameters filled in; secrets the
    /// run knows of scrubbed).
    pub command: String,
    /// Where the server's stdout and stderr went.
    pub log: PathBuf,
    /// The URL whose answer counted as ready.
    #[serde(default)]
    pub ready_url: Option<String>,
    /// From the spawn to the first ready answer, in seconds.
    pub time_to_ready_s: f64,
    /// The first request after ready (the workload's first), apart from
    /// the run; `None` when none could be sent (interrupted).
    #[serde(default)]
    pub first_request: Option<FirstRequest>,
}

/// The first request a fresh server answered.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FirstRequest {
    pub succeeded: bool,
    /// Time to first token, ms (streamed successful requests).
    #[serde(default)]
    pub ttft_ms: Option<f64>,
    /// End-to-end latency, ms (successful requests).
    #[serde(default)]
    pub e2e_ms: Option<f64>,
    /// The failure's class and message, when it failed.
    #[serde(default)]
    pub error: Option<String>,
}

impl ColdStart {
    /// The console's lines: `Server ready in …; first request …`.
    pub fn lines(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "Cold start: server ready in {:.2} s{} (log: {})",
            self.time_to_ready_s,
            self.ready_url
                .as_deref()
                .map(|u| format!(" at {u}"))
                .unwrap_or_default(),
            self.log.display()
        )];
        if let Some(f) = &self.first_request {
            lines.push(format!("Cold start: first request {}", f.describe()));
        }
        lines
    }
}

impl FirstRequest {
    /// "TTFT 812.3 ms, end-to-end 1503.2 ms", or the failure.
    pub fn describe(&self) -> String {
        if !self.succeeded {
            return format!("failed: {}", self.error.as_deref().unwrap_or("unknown error"));
        }
        let mut parts = Vec::new();
        if let Some(t) = self.ttft_ms {
            parts.push(format!("TTFT {t:.1} ms"));
        }
        if let Some(e) = self.e2e_ms {
            parts.push(format!("end-to-end {e:.1} ms"));
        }
        parts.join(", ")
    }
}

/// A sweep over settings: the server's (`--server-param`) and the
/// workload's (`--bench-param`), each setting measured with the whole
/// load ladder.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SettingsSweep {
    /// How the best setting is chosen, in words.
    pub objective: String,
    /// Every setting in the order measured.
    pub settings: Vec<SettingResult>,
    /// Index into `settings` of the best one, once the sweep has finished.
    pub best: Option<usize>,
}

/// One name and value of a setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Param {
    pub name: String,
    pub value: String,
    /// `server` (`--server-param`) or `bench` (`--bench-param`).
    pub kind: String,
}

/// One setting and what the ladder found against it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SettingResult {
    /// `seqs=16, random-prefix-len=1024`.
    pub label: String,
    pub params: Vec<Param>,
    #[serde(default)]
    pub cold_start: Option<ColdStart>,
    #[serde(default)]
    pub levels: Vec<Level>,
    #[serde(default)]
    pub verdict: Option<Verdict>,
    #[serde(default)]
    pub interrupted: bool,
    /// Why the setting could not be measured (the server did not start…).
    #[serde(default)]
    pub error: Option<String>,
}

impl SettingResult {
    /// The capacity the verdict found: a concurrency, else a rate.
    pub fn capacity(&self) -> Option<f64> {
        let v = self.verdict.as_ref()?;
        v.max_stable_concurrency
            .map(|c| c as f64)
            .or(v.max_stable_rate)
            .or(v.max_rate_under_slo)
            .or(v.required_concurrency.map(|c| c as f64))
    }

    /// The verdict in a few words: `64`, `12.5 req/s`, `none`.
    pub fn verdict_text(&self) -> String {
        if let Some(e) = &self.error {
            return format!("error: {e}");
        }
        let Some(v) = &self.verdict else {
            return "not finished".into();
        };
        if let Some(c) = v.max_stable_concurrency {
            format!("concurrency {c}")
        } else if let Some(r) = v.max_stable_rate.or(v.max_rate_under_slo) {
            format!("{} req/s", super::fmt_rate(r))
        } else if let Some(c) = v.required_concurrency {
            format!("concurrency {c}")
        } else {
            "none".into()
        }
    }

    /// The highest request throughput of any level.
    pub fn max_throughput(&self) -> Option<f64> {
        self.levels.iter().map(|l| l.request_throughput).reduce(f64::max)
    }

    /// Mean TTFT at the verdict's level (ms), else at the last level.
    pub fn ttft_at_verdict_ms(&self) -> Option<f64> {
        let rps = self.verdict.as_ref().and_then(|v| v.request_throughput);
        let level = rps
            .and_then(|r| self.levels.iter().find(|l| l.request_throughput == r))
            .or(self.levels.last())?;
        level.summary.ttft_ms.as_ref().map(|t| t.mean)
    }

    /// Prefix-cache hits over lookups across the levels, percent, when
    /// the server's counters were scraped.
    pub fn prefix_hit_pct(&self) -> Option<f64> {
        let (mut q, mut h) = (0.0, 0.0);
        for m in self.levels.iter().filter_map(|l| l.monitor.as_ref()) {
            q += m.prefix_cache_queries.unwrap_or(0.0);
            h += m.prefix_cache_hits.unwrap_or(0.0);
        }
        (q > 0.0).then(|| h / q * 100.0)
    }
}

impl SettingsSweep {
    /// The best setting: the highest capacity, ties (within 1e-9) broken by
    /// the higher maximum throughput; settings without a verdict never win.
    pub fn choose_best(settings: &[SettingResult]) -> Option<usize> {
        let key = |s: &SettingResult| (s.capacity().unwrap_or(-1.0), s.max_throughput().unwrap_or(0.0));
        settings
            .iter()
            .enumerate()
            .filter(|(_, s)| s.error.is_none() && s.verdict.is_some())
            .max_by(|(_, a), (_, b)| {
                let (ka, kb) = (key(a), key(b));
                ka.0.total_cmp(&kb.0).then(ka.1.total_cmp(&kb.1))
            })
            .map(|(i, _)| i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting(label: &str, conc: Option<usize>, rps: f64) -> SettingResult {
        SettingResult {
            label: label.into(),
            params: Vec::new(),
            cold_start: None,
            levels: Vec::new(),
            verdict: Some(Verdict {
                max_stable_concurrency: conc,
                request_throughput: Some(rps),
                ..Verdict::default()
            }),
            interrupted: false,
            error: None,
        }
    }

    #[test]
    fn the_best_setting_has_the_highest_capacity_and_errors_never_win() {
        let mut failed = setting("c", Some(999), 1.0);
        failed.error = Some("did not start".into());
        let list = vec![setting("a", Some(4), 10.0), setting("b", Some(16), 5.0), failed];
        assert_eq!(SettingsSweep::choose_best(&list), Some(1));
        assert_eq!(list[2].verdict_text(), "error: did not start");
        assert_eq!(list[1].verdict_text(), "concurrency 16");
    }
}
