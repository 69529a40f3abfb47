//! The server's own metrics: a Prometheus text or OpenMetrics endpoint
//! (`--scrape URL`, by default the target's `/metrics` when it answers),
//! read every tick, keeping the series that matter for inference servers
//! ([`KNOWN`]: vLLM, TGI, SGLang, llama.cpp, and the DCGM and node exporters
//! of remote GPU hosts) plus any `--scrape-metric`. Counters become rates
//! (per second, between two scrapes; a counter that goes down was reset and
//! starts over). Usage ratios (`vllm:kv_cache_usage_perc` is 0–1) become
//! percentages. vLLM's prefix-cache counters (`vllm:prefix_cache_queries`
//! and `_hits`, in prompt tokens; before them `vllm:gpu_prefix_cache_*`)
//! also become totals over the measurement ([`PREFIX_CACHE`]).
//!
//! The parser is written here rather than taken from a crate: the small
//! `prometheus-parse` matches metric names with `\w+`, so it cannot read
//! vLLM's, SGLang's or llama.cpp's `prefix:name` metrics, and mishandles
//! label values containing `}` or `,`; `openmetrics-parser` is LGPL-3.0.
//! What is needed is small: sample lines (`name{labels} value [timestamp]
//! [# exemplar]`), `# TYPE` lines, escapes in label values, `# EOF`.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;

use super::{Reading, Role, Sampler};

/// How a known metric is read: the role it plays, and a factor applied to
/// its value (100 for ratios shown as percent, MiB → bytes).
pub struct Known {
    pub name: &'static str,
    pub role: Option<Role>,
    pub scale: f64,
    pub unit: &'static str,
}

const fn k(name: &'static str, role: Option<Role>, scale: f64, unit: &'static str) -> Known {
    Known {
        name,
        role,
        scale,
        unit,
    }
}

const MIB: f64 = 1024.0 * 1024.0;

/// The series kept from every scrape. Counters are listed by their sample
/// name (`…_total` where the server adds it).
pub const KNOWN: &[Known] = &[
    // vLLM
    k("vllm:num_requests_running", Some(Role::ServerRunning), 1.0, ""),
    k("vllm:num_requests_waiting", Some(Role::ServerWaiting), 1.0, ""),
    k("vllm:num_requests_swapped", None, 1.0, ""),
    k("vllm:gpu_cache_usage_perc", Some(Role::KvCache), 100.0, "percent"),
    k("vllm:kv_cache_usage_perc", Some(Role::KvCache), 100.0, "percent"),
    k("vllm:gpu_prefix_cache_hit_rate", None, 100.0, "percent"),
    k("vllm:prompt_tokens_total", None, 1.0, ""),
    k("vllm:generation_tokens_total", None, 1.0, ""),
    k("vllm:request_success_total", None, 1.0, ""),
    k("vllm:num_preemptions_total", None, 1.0, ""),
    k("vllm:prefix_cache_queries_total", None, 1.0, ""),
    k("vllm:prefix_cache_hits_total", None, 1.0, ""),
    k("vllm:gpu_prefix_cache_queries_total", None, 1.0, ""),
    k("vllm:gpu_prefix_cache_hits_total", None, 1.0, ""),
    // TGI
    k("tgi_queue_size", Some(Role::ServerWaiting), 1.0, ""),
    k("tgi_batch_current_size", Some(Role::ServerRunning), 1.0, ""),
    k("tgi_batch_current_max_tokens", None, 1.0, ""),
    k("tgi_request_count", None, 1.0, ""),
    k("tgi_request_success", None, 1.0, ""),
    k("tgi_request_failure", None, 1.0, ""),
    // SGLang
    k("sglang:num_running_reqs", Some(Role::ServerRunning), 1.0, ""),
    k("sglang:num_queue_reqs", Some(Role::ServerWaiting), 1.0, ""),
    k("sglang:token_usage", Some(Role::KvCache), 100.0, "percent"),
    k("sglang:gen_throughput", None, 1.0, ""),
    k("sglang:cache_hit_rate", None, 100.0, "percent"),
    k("sglang:prompt_tokens_total", None, 1.0, ""),
    k("sglang:generation_tokens_total", None, 1.0, ""),
    // llama.cpp
    k("llamacpp:requests_processing", Some(Role::ServerRunning), 1.0, ""),
    k("llamacpp:requests_deferred", Some(Role::ServerWaiting), 1.0, ""),
    k("llamacpp:kv_cache_usage_ratio", Some(Role::KvCache), 100.0, "percent"),
    k("llamacpp:kv_cache_tokens", None, 1.0, ""),
    k("llamacpp:prompt_tokens_total", None, 1.0, ""),
    k("llamacpp:tokens_predicted_total", None, 1.0, ""),
    k("llamacpp:predicted_tokens_seconds", None, 1.0, ""),
    // NVIDIA DCGM exporter (remote GPUs)
    k("DCGM_FI_DEV_GPU_UTIL", Some(Role::GpuUtil), 1.0, "percent"),
    k("DCGM_FI_DEV_FB_USED", Some(Role::GpuMemoryUsed), MIB, "bytes"),
    k("DCGM_FI_DEV_FB_FREE", None, MIB, "bytes"),
    k("DCGM_FI_DEV_POWER_USAGE", None, 1.0, "watts"),
    k("DCGM_FI_DEV_GPU_TEMP", None, 1.0, "celsius"),
    k("DCGM_FI_PROF_GR_ENGINE_ACTIVE", None, 100.0, "percent"),
    // Prometheus node exporter (remote hosts)
    k("node_load1", None, 1.0, ""),
    k("node_memory_MemTotal_bytes", None, 1.0, "bytes"),
    k("node_memory_MemAvailable_bytes", None, 1.0, "bytes"),
    k("node_cpu_seconds_total", None, 1.0, ""),
];

/// The prefix-cache counters (queries, hits), in order of preference: a
/// server exporting both vLLM's current names and the older `gpu_` ones
/// (some versions do) is read by the current ones only, never twice.
pub const PREFIX_CACHE: [(&str, &str); 2] = [
    ("vllm:prefix_cache_queries_total", "vllm:prefix_cache_hits_total"),
    (
        "vllm:gpu_prefix_cache_queries_total",
        "vllm:gpu_prefix_cache_hits_total",
    ),
];

/// Metric type from a `# TYPE` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Other,
}

/// One sample line.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: Labels,
    pub value: f64,
    pub kind: Kind,
}

impl Sample {
    /// `name{a="1",b="2"}` as the series key (labels in source order).
    pub fn key(&self) -> String {
        if self.labels.is_empty() {
            return self.name.clone();
        }
        let labels: Vec<String> = self
            .labels
            .iter()
            .map(|(k, v)| format!("{k}=\"{}\"", v.replace('\\', "\\\\").replace('"', "\\\"")))
            .collect();
        format!("{}{{{}}}", self.name, labels.join(","))
    }

    fn label(&self, name: &str) -> Option<&str> {
        self.labels.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Parses Prometheus text format 0.0.4 or OpenMetrics text. Lines that do
/// not parse are skipped; parsing stops at `# EOF`.
pub fn parse(text: &str) -> Vec<Sample> {
    let mut types: HashMap<String, Kind> = HashMap::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(comment) = line.strip_prefix('#') {
            let mut words = comment.split_whitespace();
            match words.next() {
                Some("EOF") => break,
                Some("TYPE") => {
                    if let (Some(name), Some(t)) = (words.next(), words.next()) {
                        let kind = match t {
                            "counter" => Kind::Counter,
                            "gauge" => Kind::Gauge,
                            _ => Kind::Other,
                        };
                        types.insert(name.to_string(), kind);
                    }
                }
                _ => {}
            }
            continue;
        }
        let Some((name, labels, value)) = parse_sample(line) else {
            continue;
        };
        // OpenMetrics: `# TYPE x counter` has samples `x_total` (and
        // `x_created`, the creation time, which is not a value).
        let kind = match types.get(name) {
            Some(k) => *k,
            None => match name.strip_suffix("_total").and_then(|b| types.get(b)) {
                Some(k) => *k,
                None if name.strip_suffix("_created").and_then(|b| types.get(b)) == Some(&Kind::Counter) => continue,
                None => Kind::Other,
            },
        };
        out.push(Sample {
            name: name.to_string(),
            labels,
            value,
            kind,
        });
    }
    out
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// Label names and values, in source order.
type Labels = Vec<(String, String)>;

/// `name{labels} value [timestamp] [# exemplar]`.
fn parse_sample(line: &str) -> Option<(&str, Labels, f64)> {
    let end = line.find(|c: char| !is_name_char(c)).unwrap_or(line.len());
    let (name, mut rest) = line.split_at(end);
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    let mut labels = Vec::new();
    if let Some(r) = rest.strip_prefix('{') {
        let mut chars = r.char_indices().peekable();
        let close;
        loop {
            // Skip separators.
            while let Some((_, c)) = chars.peek() {
                if *c == ',' || c.is_whitespace() {
                    chars.next();
                } else {
                    break;
                }
            }
            match chars.peek() {
                Some((i, '}')) => {
                    close = *i;
                    break;
                }
                None => return None,
                _ => {}
            }
            let mut key = String::new();
            for (_, c) in chars.by_ref() {
                if c == '=' {
                    break;
                }
                key.push(c);
            }
            let key = key.trim().to_string();
            if chars.next().map(|(_, c)| c) != Some('"') {
                return None;
            }
            let mut value = String::new();
            loop {
                match chars.next()?.1 {
                    '"' => break,
                    '\\' => match chars.next()?.1 {
                        'n' => value.push('\n'),
                        other => value.push(other),
                    },
                    c => value.push(c),
                }
            }
            labels.push((key, value));
        }
        rest = &r[close + 1..];
    }
    let value = rest.split_whitespace().next()?;
    let value = value.parse::<f64>().ok()?;
    Some((name, labels, value))
}

/// True when `url` answers with at least one parsable sample.
pub async fn answers(client: &reqwest::Client, url: &str) -> bool {
    let got = async {
        let resp = client.get(url).timeout(Duration::from_secs(2)).send().await.ok()?;
        if !resp.status().is_success() {
            return None;
        }
        resp.text().await.ok()
    }
    .await;
    got.is_some_and(|t| !parse(&t).is_empty())
}

/// Reads one metrics endpoint.
pub struct ScrapeSampler {
    client: reqwest::Client,
    url: String,
    extra: Vec<String>,
    timeout: Duration,
    /// Last value and time of every counter series, for rates.
    counters: HashMap<String, (Instant, f64)>,
    /// The prefix-cache counters (queries, hits; summed over models) at
    /// the previous scrape of this measurement.
    prefix_prev: Option<(f64, f64)>,
}

impl ScrapeSampler {
    pub fn new(client: reqwest::Client, url: String, extra: Vec<String>, interval: Duration) -> Self {
        Self {
            client,
            url,
            extra,
            timeout: interval.max(Duration::from_millis(500)),
            counters: HashMap::new(),
            prefix_prev: None,
        }
    }

    /// The prefix-cache queries and hits since the previous scrape of this
    /// measurement, as total readings (none at the first: the baseline). A
    /// counter that went down was reset and counts from zero.
    fn prefix_totals(&mut self, samples: &[Sample]) -> Vec<Reading> {
        let sum = |name: &str| {
            let mut found = samples.iter().filter(|s| s.name == name).peekable();
            found.peek().is_some().then(|| found.map(|s| s.value).sum::<f64>())
        };
        let Some(now) = PREFIX_CACHE
            .iter()
            .find_map(|(q, h)| sum(q).map(|q| (q, sum(h).unwrap_or(0.0))))
        else {
            return Vec::new();
        };
        let Some(prev) = self.prefix_prev.replace(now) else {
            return Vec::new();
        };
        let grown = |v: f64, p: f64| if v >= p { v - p } else { v };
        vec![
            Reading::new(
                "prefix_cache.queries",
                "tokens",
                grown(now.0, prev.0),
                Some(Role::PrefixCacheQueries),
            ),
            Reading::new(
                "prefix_cache.hits",
                "tokens",
                grown(now.1, prev.1),
                Some(Role::PrefixCacheHits),
            ),
        ]
    }

    async fn scrape(&self) -> Result<Vec<Sample>, String> {
        let resp = self
            .client
            .get(&self.url)
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| format!("cannot scrape: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("answered HTTP {}", resp.status().as_u16()));
        }
        let text = resp.text().await.map_err(|e| format!("cannot read the metrics: {e}"))?;
        Ok(parse(&text))
    }

    /// The readings of one scrape taken at `now`.
    pub fn readings(&mut self, samples: &[Sample], now: Instant) -> Vec<Reading> {
        let mut out = self.prefix_totals(samples);
        let mut fb: HashMap<String, (Option<f64>, Option<f64>)> = HashMap::new();
        let mut node_idle: HashMap<String, f64> = HashMap::new();
        let mut node_cpus = 0usize;
        for s in samples {
            let known = KNOWN.iter().find(|k| k.name == s.name);
            let extra = self
                .extra
                .iter()
                .any(|e| *e == s.name || s.name.strip_suffix("_total") == Some(e.as_str()));
            if known.is_none() && !extra {
                continue;
            }
            let (role, scale, unit) = known.map_or((None, 1.0, ""), |k| (k.role, k.scale, k.unit));
            let key = s.key();
            let counter = s.kind == Kind::Counter
                || (s.kind == Kind::Other
                    && (s.name.ends_with("_total") || known.is_some_and(|_| is_tgi_counter(&s.name))));
            if counter {
                if let Some(rate) = self.rate(&key, s.value, now) {
                    out.push(Reading::new(key.clone(), "/s", rate * scale, role));
                    if s.name == "node_cpu_seconds_total" {
                        if s.label("mode") == Some("idle") {
                            node_cpus += 1;
                            *node_idle
                                .entry(s.label("instance").unwrap_or("").to_string())
                                .or_default() += rate;
                        }
                        out.pop(); // one series per cpu and mode is too many; see node.cpu below
                    }
                }
                continue;
            }
            out.push(Reading::new(key, unit, s.value * scale, role));
            if s.name.starts_with("DCGM_FI_DEV_FB_") {
                let gpu = s.label("gpu").or(s.label("UUID")).unwrap_or("").to_string();
                let e = fb.entry(gpu).or_default();
                if s.name.ends_with("USED") {
                    e.0 = Some(s.value);
                } else {
                    e.1 = Some(s.value);
                }
            }
        }
        // Remote GPU memory in percent, from DCGM's used and free MiB.
        let mut gpus: Vec<_> = fb.into_iter().collect();
        gpus.sort_by(|a, b| a.0.cmp(&b.0));
        for (gpu, (used, free)) in gpus {
            if let (Some(u), Some(f)) = (used, free) {
                if u + f > 0.0 {
                    out.push(Reading::new(
                        format!("dcgm.memory{{gpu=\"{gpu}\"}}"),
                        "percent",
                        u / (u + f) * 100.0,
                        Some(Role::GpuMemory),
                    ));
                }
            }
        }
        // Remote host CPU busy, percent, from node exporter's idle seconds.
        if node_cpus > 0 {
            let idle: f64 = node_idle.values().sum();
            out.push(Reading::new(
                "node.cpu",
                "percent",
                ((1.0 - idle / node_cpus as f64) * 100.0).clamp(0.0, 100.0),
                None,
            ));
        }
        let total = samples.iter().find(|s| s.name == "node_memory_MemTotal_bytes");
        let avail = samples.iter().find(|s| s.name == "node_memory_MemAvailable_bytes");
        if let (Some(t), Some(a)) = (total, avail) {
            out.push(Reading::new("node.memory_used", "bytes", t.value - a.value, None));
        }
        out
    }

    /// Per-second rate of a counter since its previous value.
    fn rate(&mut self, key: &str, v: f64, now: Instant) -> Option<f64> {
        let prev = self.counters.insert(key.to_string(), (now, v));
        let (t0, v0) = prev?;
        let dt = now.duration_since(t0).as_secs_f64();
        (v >= v0 && dt > 0.0).then(|| (v - v0) / dt)
    }
}

/// TGI's counters carry no `_total` suffix and often no `# TYPE` line.
fn is_tgi_counter(name: &str) -> bool {
    matches!(
        name,
        "tgi_request_count" | "tgi_request_success" | "tgi_request_failure"
    )
}

impl Sampler for ScrapeSampler {
    fn source(&self) -> String {
        self.url.clone()
    }

    fn sample(&mut self) -> BoxFuture<'_, Result<Vec<Reading>, String>> {
        Box::pin(async move {
            let samples = self.scrape().await?;
            Ok(self.readings(&samples, Instant::now()))
        })
    }

    fn begin(&mut self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            self.prefix_prev = None;
            // The baseline; if this scrape fails, the first tick's is.
            if let Ok(samples) = self.scrape().await {
                self.prefix_totals(&samples);
            }
        })
    }

    fn last(&mut self) -> BoxFuture<'_, Result<Vec<Reading>, String>> {
        Box::pin(async move {
            let samples = self.scrape().await?;
            Ok(self.prefix_totals(&samples))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPENMETRICS: &str = "# HELP vllm:num_requests_running Number of requests running.\n\
# TYPE vllm:num_requests_running gauge\n\
vllm:num_requests_running{model_name=\"a\"} 3\n\
# TYPE vllm:kv_cache_usage_perc gauge\n\
vllm:kv_cache_usage_perc{model_name=\"a\"} 0.25\n\
# TYPE vllm:generation_tokens counter\n\
vllm:generation_tokens_total{model_name=\"b\\\"c\"} 7\n\
vllm:generation_tokens_created{model_name=\"b\\\"c\"} 1.7e9\n\
# TYPE other gauge\n\
other{x=\"a,b}c\"} NaN\n\
# EOF\n\
vllm:num_requests_waiting 99\n";

    #[test]
    fn openmetrics_with_colons_escapes_and_eof() {
        let s = parse(OPENMETRICS);
        assert_eq!(s.len(), 4, "{s:#?}");
        assert_eq!(s[0].name, "vllm:num_requests_running");
        assert_eq!(s[0].labels, vec![("model_name".to_string(), "a".to_string())]);
        assert_eq!(s[0].kind, Kind::Gauge);
        assert_eq!(s[2].name, "vllm:generation_tokens_total");
        assert_eq!(s[2].labels[0].1, "b\"c");
        assert_eq!(s[2].kind, Kind::Counter);
        assert_eq!(s[2].key(), "vllm:generation_tokens_total{model_name=\"b\\\"c\"}");
        assert_eq!(s[3].labels[0].1, "a,b}c");
        assert!(s[3].value.is_nan());
    }

    #[test]
    fn prometheus_text_with_timestamps_and_infinities() {
        let s = parse(
            "# TYPE http_requests_total counter\nhttp_requests_total{code=\"200\"} 1027 1395066363000\n\
             h_bucket{le=\"+Inf\"} 3\nbad line here\n{no=\"name\"} 1\nup +Inf\n",
        );
        assert_eq!(s.len(), 3, "{s:#?}");
        assert_eq!(s[0].kind, Kind::Counter);
        assert_eq!(s[0].value, 1027.0);
        assert_eq!(s[1].labels[0].1, "+Inf");
        assert_eq!(s[2].value, f64::INFINITY);
    }

    #[test]
    fn counters_become_rates_and_ratios_percentages() {
        crate::engine::client::install_crypto_provider();
        let mut sampler = ScrapeSampler::new(
            reqwest::Client::new(),
            "http://x/metrics".into(),
            vec!["my_metric".into()],
            Duration::from_secs(1),
        );
        let t0 = Instant::now();
        let text = |tokens: u64| {
            format!(
                "# TYPE vllm:generation_tokens counter\nvllm:generation_tokens_total {tokens}\n\
                 vllm:kv_cache_usage_perc 0.5\nvllm:num_requests_waiting 2\nignored_metric 1\nmy_metric 4\n"
            )
        };
        let first = sampler.readings(&parse(&text(100)), t0);
        // No rate from a single scrape.
        assert!(!first.iter().any(|r| r.unit == "/s"), "{first:?}");
        let kv = first.iter().find(|r| r.name == "vllm:kv_cache_usage_perc").unwrap();
        assert_eq!((kv.value, kv.role), (50.0, Some(Role::KvCache)));
        assert!(first.iter().any(|r| r.name == "my_metric"));
        assert!(!first.iter().any(|r| r.name == "ignored_metric"));
        let second = sampler.readings(&parse(&text(300)), t0 + Duration::from_millis(500));
        let rate = second.iter().find(|r| r.unit == "/s").unwrap();
        assert_eq!(rate.name, "vllm:generation_tokens_total");
        assert!((rate.value - 400.0).abs() < 1e-9, "{}", rate.value);
        // A reset gives no rate, then rates resume.
        let third = sampler.readings(&parse(&text(10)), t0 + Duration::from_secs(1));
        assert!(!third.iter().any(|r| r.unit == "/s"));
        let fourth = sampler.readings(&parse(&text(20)), t0 + Duration::from_secs(2));
        assert_eq!(fourth.iter().find(|r| r.unit == "/s").unwrap().value, 10.0);
    }

    #[test]
    fn prefix_cache_counters_become_totals_from_the_first_scrape() {
        crate::engine::client::install_crypto_provider();
        let mut sampler = ScrapeSampler::new(
            reqwest::Client::new(),
            "http://x/metrics".into(),
            Vec::new(),
            Duration::from_secs(1),
        );
        let t0 = Instant::now();
        // Two models, and the older names beside the current ones (read once).
        let text = |q: u64, h: u64| {
            format!(
                "# TYPE vllm:prefix_cache_queries counter\n\
                 vllm:prefix_cache_queries_total{{model_name=\"a\"}} {q}\n\
                 vllm:prefix_cache_queries_total{{model_name=\"b\"}} 100\n\
                 # TYPE vllm:prefix_cache_hits counter\n\
                 vllm:prefix_cache_hits_total{{model_name=\"a\"}} {h}\n\
                 vllm:prefix_cache_hits_total{{model_name=\"b\"}} 50\n\
                 # TYPE vllm:gpu_prefix_cache_queries counter\n\
                 vllm:gpu_prefix_cache_queries_total {q}\n\
                 # TYPE vllm:gpu_prefix_cache_hits counter\n\
                 vllm:gpu_prefix_cache_hits_total {h}\n"
            )
        };
        let totals = |rs: Vec<Reading>| -> Vec<(Option<Role>, f64)> {
            rs.into_iter()
                .filter(|r| matches!(r.role, Some(Role::PrefixCacheQueries | Role::PrefixCacheHits)))
                .map(|r| (r.role, r.value))
                .collect()
        };
        assert!(
            totals(sampler.readings(&parse(&text(1000, 400)), t0)).is_empty(),
            "the baseline"
        );
        assert_eq!(
            totals(sampler.readings(&parse(&text(1576, 912)), t0)),
            vec![
                (Some(Role::PrefixCacheQueries), 576.0),
                (Some(Role::PrefixCacheHits), 512.0)
            ]
        );
        // A reset (the sum went down: a restarted server) counts from zero,
        // so all it counts now is new.
        assert_eq!(
            totals(sampler.readings(&parse(&text(10, 4)), t0)),
            vec![
                (Some(Role::PrefixCacheQueries), 110.0),
                (Some(Role::PrefixCacheHits), 54.0)
            ]
        );
        // A new measurement starts from a new baseline (`begin` forgets
        // the old one; here no scrape answers, so the next reading is it).
        sampler.prefix_prev = None;
        assert!(totals(sampler.readings(&parse(&text(20, 8)), t0)).is_empty());
        // Only the older names: read those.
        let old = "vllm:gpu_prefix_cache_queries_total 5\nvllm:gpu_prefix_cache_hits_total 1\n";
        let mut s2 = ScrapeSampler::new(
            reqwest::Client::new(),
            "http://x/metrics".into(),
            Vec::new(),
            Duration::from_secs(1),
        );
        s2.readings(&parse(old), t0);
        let later = "vllm:gpu_prefix_cache_queries_total 25\nvllm:gpu_prefix_cache_hits_total 11\n";
        assert_eq!(
            totals(s2.readings(&parse(later), t0)),
            vec![
                (Some(Role::PrefixCacheQueries), 20.0),
                (Some(Role::PrefixCacheHits), 10.0)
            ]
        );
    }

    #[test]
    fn dcgm_and_node_exporters_give_remote_figures() {
        crate::engine::client::install_crypto_provider();
        let mut sampler = ScrapeSampler::new(
            reqwest::Client::new(),
            "http://gpu-host:9400/metrics".into(),
            vec![],
            Duration::from_secs(1),
        );
        let text = |idle: f64| {
            format!(
                "DCGM_FI_DEV_GPU_UTIL{{gpu=\"0\",UUID=\"GPU-1\"}} 87\n\
                 DCGM_FI_DEV_FB_USED{{gpu=\"0\",UUID=\"GPU-1\"}} 60000\n\
                 DCGM_FI_DEV_FB_FREE{{gpu=\"0\",UUID=\"GPU-1\"}} 20000\n\
                 # TYPE node_cpu_seconds_total counter\n\
                 node_cpu_seconds_total{{cpu=\"0\",mode=\"idle\"}} {idle}\n\
                 node_cpu_seconds_total{{cpu=\"1\",mode=\"idle\"}} {idle}\n\
                 node_cpu_seconds_total{{cpu=\"0\",mode=\"user\"}} 5\n\
                 node_memory_MemTotal_bytes 1000\nnode_memory_MemAvailable_bytes 400\n"
            )
        };
        let t0 = Instant::now();
        sampler.readings(&parse(&text(100.0)), t0);
        let r = sampler.readings(&parse(&text(100.25)), t0 + Duration::from_secs(1));
        let get = |n: &str| r.iter().find(|x| x.name == n).unwrap_or_else(|| panic!("{n}: {r:?}"));
        assert_eq!(
            get("DCGM_FI_DEV_GPU_UTIL{gpu=\"0\",UUID=\"GPU-1\"}").role,
            Some(Role::GpuUtil)
        );
        assert_eq!(get("dcgm.memory{gpu=\"0\"}").value, 75.0);
        // 0.25 idle seconds per second on each of 2 CPUs: 75% busy.
        assert!((get("node.cpu").value - 75.0).abs() < 1e-6);
        assert_eq!(get("node.memory_used").value, 600.0);
        assert!(!r.iter().any(|x| x.name.starts_with("node_cpu_seconds_total")));
    }
}
