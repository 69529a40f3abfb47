//! The summary printed at the end of a run.
//!
//! First `vllm bench serve`'s block, line for line: the same title, labels,
//! order and formats (`{:<40} {:<10}` for integers, `{:<40} {:<10.2}` for
//! decimals, trailing spaces kept, section titles centred in 50 columns), so
//! scripts that `grep … | awk '{print $4}'` vLLM's output keep working.
//! The sections are those `--percentile-metrics` selects (vLLM's default:
//! TTFT, TPOT and ITL; E2EL for a run that did not stream), each with Mean,
//! Median and a `P{p}` line per `--metric-percentiles` value (`P99`,
//! `P99.9`, as vLLM labels them), in vLLM's order. The TTFT, TPOT and ITL
//! sections appear only when the run streamed (they are undefined
//! otherwise); a figure without samples prints 0.00, as vLLM does. The
//! figures are inferload's (HDR nearest rank, `stats::quantile`); the
//! client-queue sections show the queue delay and the user latency.
//! Under the block, one line rates the mean TTFT (`--ttft-rating`).
//!
//! Then inferload's own tables: latency percentiles, token statistics,
//! success rate and errors by class, each error class with one example;
//! and notes on replies that were not what was asked for (generated text
//! other than content), each printed once, only when it applies.

use std::fmt::Write as _;

use crate::doc::settings::Schedule;
use crate::engine::ConnectionStats;
use crate::plan::VllmMetric;
use crate::record::ErrorClass;
use crate::stats::Percentile;
use crate::stats::{LatencyStats, Summary};

use super::RunReport;

const WIDTH: usize = 50;

fn int(out: &mut String, label: &str, v: impl std::fmt::Display) {
    let _ = writeln!(out, "{label:<40} {v:<10}");
}

fn dec(out: &mut String, label: &str, v: f64) {
    let _ = writeln!(out, "{label:<40} {v:<10.2}");
}

fn header(out: &mut String, title: &str, fill: char) {
    let _ = writeln!(out, "{}", centered(title, fill));
}

/// Python's `"{s:{c}^{n}}"` with n = 50: extra padding goes to the right.
fn centered(title: &str, fill: char) -> String {
    let len = title.chars().count();
    let pad = WIDTH.saturating_sub(len);
    let left = pad / 2;
    let mut s = String::with_capacity(WIDTH + 4);
    s.extend(std::iter::repeat_n(fill, left));
    s.push_str(title);
    s.extend(std::iter::repeat_n(fill, pad - left));
    s
}

/// vLLM's "Serving Benchmark Result" block.
pub fn vllm_block(report: &RunReport) -> String {
    let s = &report.doc.summary;
    let schedule = report.doc.schedule();
    let mut out = String::new();
    header(&mut out, " Serving Benchmark Result ", '=');
    int(&mut out, "Successful requests:", s.successful);
    int(&mut out, "Failed requests:", s.failed);
    if let Some(c) = schedule.and_then(Schedule::max_concurrency) {
        int(&mut out, "Maximum request concurrency:", c);
    }
    if let Some(rate) = schedule.and_then(Schedule::finite_rate) {
        dec(&mut out, "Request rate configured (RPS):", rate);
    }
    dec(&mut out, "Benchmark duration (s):", s.duration_s);
    int(&mut out, "Total input tokens:", s.total_input_tokens);
    int(&mut out, "Total generated tokens:", s.total_output_tokens);
    dec(&mut out, "Request throughput (req/s):", s.request_throughput);
    if let Some(g) = report.doc.goodput {
        dec(&mut out, "Request goodput (req/s):", g.goodput);
    }
    dec(&mut out, "Output token throughput (tok/s):", s.output_throughput);
    dec(
        &mut out,
        "Peak output token throughput (tok/s):",
        s.peak_output_throughput,
    );
    dec(&mut out, "Peak concurrent requests:", s.peak_concurrency as f64);
    dec(&mut out, "Total token throughput (tok/s):", s.total_token_throughput);
    let percentiles = super::vllm::selected_percentiles(report);
    let selected = super::vllm::selected_metrics(report);
    // vLLM's order, whatever the order selected.
    for m in VllmMetric::ALL {
        if !selected.contains(&m) || !super::vllm::applies(m, schedule) {
            continue;
        }
        // TTFT, TPOT and ITL are undefined for a run that did not stream.
        let timed = matches!(m, VllmMetric::Ttft | VllmMetric::Tpot | VllmMetric::Itl);
        if timed && !report.streamed() {
            continue;
        }
        let (name, title, stats) = match m {
            VllmMetric::Ttft => ("TTFT", "Time to First Token", &s.ttft_ms),
            VllmMetric::Tpot => ("TPOT", "Time per Output Token (excl. 1st token)", &s.tpot_ms),
            VllmMetric::Itl => ("ITL", "Inter-token Latency", &s.itl_ms),
            VllmMetric::E2el => ("E2EL", "End-to-end Latency", &s.e2e_ms),
            VllmMetric::ClientQueueTime => ("Client Queue Time", "Client-side Queueing", &s.queue_delay_ms),
            VllmMetric::E2elIncludingClientQueue => (
                "E2EL incl. Client Queue",
                "Queue-inclusive End-to-end Latency",
                &s.user_latency_ms,
            ),
        };
        let stats = stats.as_ref();
        header(&mut out, title, '-');
        dec(&mut out, &format!("Mean {name} (ms):"), stats.map_or(0.0, |l| l.mean));
        dec(&mut out, &format!("Median {name} (ms):"), stats.map_or(0.0, |l| l.p50));
        for &p in &percentiles {
            let v = stats.and_then(|l| l.percentile(p)).unwrap_or(0.0);
            dec(&mut out, &format!("P{} {name} (ms):", p.word()), v);
        }
    }
    let _ = writeln!(out, "{}", "=".repeat(WIDTH));
    out
}

/// The console summary printed at the end of a run.
pub fn console_summary(report: &RunReport) -> String {
    let mut out = String::from("\n");
    out.push_str(&vllm_block(report));
    if let Some(line) = ttft_rating_line(report) {
        out.push_str(&line);
    }
    out.push('\n');
    if let Some(c) = &report.doc.confidence {
        out.push_str(&confidence_block(c));
        out.push('\n');
    }
    let s = &report.doc.summary;
    if report.doc.interrupted {
        out.push_str("Interrupted: these figures cover only the requests that finished before the run stopped.\n\n");
    }
    latency_table(&mut out, report);
    reply_notes(&mut out, s);
    if s.images_total > 0 {
        images_block(&mut out, s);
    }
    // Image APIs produce no tokens: no token table for them.
    if s.images_total == 0 || s.total_output_tokens > 0 {
        token_table(&mut out, s);
    }
    requests_and_errors(&mut out, s);
    if let Some(m) = &report.doc.monitor {
        out.push('\n');
        out.push_str(&crate::monitor::console_block(m));
    }
    if let Some(t) = &report.doc.trust {
        out.push('\n');
        out.push_str(&t.line);
        out.push('\n');
    }
    // Apart from the run's figures: the started server's cold start.
    if let Some(c) = &report.doc.cold_start {
        for line in c.lines() {
            out.push_str(&line);
            out.push('\n');
        }
    }
    if let Some(c) = &report.doc.connections {
        out.push_str(&connections_block(c));
    }
    out
}

/// The figures' confidence intervals, after vLLM's block (which stays
/// byte for byte vLLM's): the method and level, then one line a figure,
/// `Mean TTFT (ms):  51.20  (95 % CI 50.80–51.60)`.
pub fn confidence_block(c: &crate::stats::confidence::Confidence) -> String {
    let mut out = format!("Confidence ({}):\n", c.method_line());
    for (name, label, decimals) in crate::stats::confidence::FIGURES {
        if let Some(i) = c.get(name) {
            let _ = writeln!(
                out,
                "  {:<40} {:.d$}  (95 % CI {:.d$}–{:.d$})",
                format!("{label}:"),
                i.mean,
                i.low,
                i.high,
                d = decimals
            );
        }
    }
    if c.method == crate::stats::confidence::Method::BootstrapOverRequests {
        out.push_str("  (throughput has an interval with --repeats N)\n");
    }
    out
}

/// One line rating the mean TTFT against the run's `--ttft-rating`
/// bounds (default 200 ms, 500 ms, 1 s); `None` without a TTFT (a run
/// that did not stream).
pub fn ttft_rating_line(report: &RunReport) -> Option<String> {
    let mean = report.doc.summary.ttft_ms.as_ref()?.mean;
    let r = report
        .settings()
        .and_then(|s| s.outputs.ttft_rating)
        .unwrap_or_default();
    Some(format!(
        "TTFT rating: {} (mean {mean:.2} ms; excellent under {} ms, good under {} ms, acceptable under {} ms, else slow)\n",
        r.rate(mean),
        r.excellent_ms,
        r.good_ms,
        r.acceptable_ms,
    ))
}

/// Past this share, the server's count of a prompt differs from the
/// tokenizer's by more than counting noise.
const PROMPT_MISMATCH: f64 = 0.05;

/// One note when the server's `usage.prompt_tokens` differs from the
/// tokenizer's count of the prompt sent by more than [`PROMPT_MISMATCH`]:
/// a chat template and the special tokens around a prompt are the server's
/// and count there, so "1,024 input tokens" can reach the model as more.
pub fn prompt_mismatch_note(sent: u64, server: u64) -> Option<String> {
    if sent == 0 || server == sent {
        return None;
    }
    let off = (server as f64 - sent as f64) / sent as f64;
    (off.abs() > PROMPT_MISMATCH).then(|| {
        format!(
            "Note:      the server counts {server} prompt tokens where the tokenizer counted {sent} ({:+.0}%): \
             its chat template and special tokens are counted there; input figures are the server's",
            off * 100.0
        )
    })
}

/// The connection figures under the trust line: connections opened,
/// requests per connection, stale-connection retries and connect times;
/// and, when most requests opened a connection, that their TTFT includes
/// the handshake. Empty when no request was sent.
pub fn connections_block(c: &ConnectionStats) -> String {
    if c.requests == 0 {
        return String::new();
    }
    let mut out = String::new();
    let _ = write!(
        out,
        "Connections: {} opened for {} requests, {:.2} requests per connection, {} stale-connection {}",
        c.connections_opened,
        c.requests,
        c.requests_per_connection,
        c.stale_retries,
        if c.stale_retries == 1 { "retry" } else { "retries" },
    );
    if c.connect_ms.count > 0 {
        let _ = write!(
            out,
            "; connect time mean {:.2} ms, p99 {:.2} ms",
            c.connect_ms.mean, c.connect_ms.p99
        );
    }
    out.push('\n');
    if c.http2_connections > 0 {
        let _ = writeln!(out, "  {} of them HTTP/2 (multiplexed).", c.http2_connections);
    }
    if c.connect_failures > 0 {
        let _ = writeln!(out, "  {} connection attempts failed.", c.connect_failures);
    }
    if c.reuse_stopped {
        out.push_str("  The target closed connections after its replies: inferload stopped reusing them.\n");
    }
    if c.mostly_new_connections {
        let _ = writeln!(
            out,
            "  Most requests ({} of {}) opened a new connection: their TTFT includes the TCP (and TLS) handshake.",
            c.requests_on_new_connections, c.requests
        );
    }
    out
}

/// Image APIs: images and bytes of successful requests, per second.
fn images_block(out: &mut String, s: &Summary) {
    let per_request = if s.successful > 0 {
        s.images_total as f64 / s.successful as f64
    } else {
        0.0
    };
    let _ = writeln!(
        out,
        "Images: {} generated ({per_request:.2} per request), {:.2} images/s, {} received/s\n",
        s.images_total,
        s.images_per_s,
        human_bytes(s.bytes_per_s)
    );
}

/// Bytes in decimal units (`1.50 MB`).
fn human_bytes(b: f64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if b < 1000.0 {
        return format!("{b:.0} B");
    }
    let mut v = b;
    let mut unit = "B";
    for u in UNITS {
        if v < 1000.0 {
            break;
        }
        v /= 1000.0;
        unit = u;
    }
    format!("{v:.2} {unit}")
}

fn latency_table(out: &mut String, report: &RunReport) {
    let s = &report.doc.summary;
    // Without settings (a records file) the schedule is unknown: show the
    // schedule's own latencies rather than hide a backlog.
    // A connection ramp makes requests of a closed loop wait too: that wait
    // is queue delay, shown as in an open loop.
    let ramped = report
        .doc
        .settings
        .as_ref()
        .is_some_and(|s| s.target.connect_rate.is_some());
    let open_loop = ramped || report.doc.schedule().is_none_or(Schedule::is_open);
    let rows: Vec<(&str, &LatencyStats)> = s
        .latencies()
        .into_iter()
        .filter_map(|(name, stats)| Some((name, stats?)))
        .filter(|(name, _)| open_loop || !crate::stats::is_schedule_latency(name))
        .collect();
    if rows.is_empty() {
        return;
    }
    let columns = table_percentiles(report);
    let _ = write!(out, "{:<14}{:>10}", "Latency (ms)", "mean");
    for p in &columns {
        let _ = write!(out, "{:>10}", format!("p{}", p.word()));
    }
    let _ = writeln!(out, "{:>10}{:>10}", "min", "max");
    for (name, l) in rows {
        let _ = write!(out, "{name:<14}{:>10.2}", l.mean);
        for &p in &columns {
            match l.percentile(p) {
                Some(v) => write!(out, "{v:>10.2}"),
                None => write!(out, "{:>10}", "n/a"),
            }
            .unwrap_or(());
        }
        let _ = writeln!(out, "{:>10.2}{:>10.2}", l.min, l.max);
    }
    if open_loop {
        out.push_str(
            "Queue delay: sent_at − scheduled_at (client backlog); user latency: finished_at − scheduled_at.\n",
        );
    }
    if s.tokens_estimated {
        out.push_str(
            "Note: token counts are estimated (the server reported no usage; content chunks were counted), \
             so TPOT and token figures are approximate.\n",
        );
    }
    out.push('\n');
}

/// The percentile columns of inferload's latency table: p50, p90, p95 and
/// p99, and any other `--metric-percentiles` asked for, in order (p0 and
/// p100 are the min and max columns already).
fn table_percentiles(report: &RunReport) -> Vec<Percentile> {
    let mut ps: Vec<Percentile> = [50.0, 90.0, 95.0, 99.0]
        .into_iter()
        .filter_map(|p| Percentile::new(p).ok())
        .collect();
    let asked = report.settings().and_then(|s| s.outputs.metric_percentiles.clone());
    for p in asked.into_iter().flatten() {
        if !ps.contains(&p) && p.value() > 0.0 && p.value() < 100.0 {
            ps.push(p);
        }
    }
    ps.sort_by(|a, b| a.value().total_cmp(&b.value()));
    ps
}

/// What the replies carried when it is not what the figures usually mean.
fn reply_notes(out: &mut String, s: &Summary) {
    if s.stream_ignored > 0 {
        let _ = writeln!(
            out,
            "{} of {} replies were not streamed although stream: true was asked: \
             they count in E2E but have no TTFT, ITL or TPOT.\n",
            s.stream_ignored, s.requests_total
        );
    }
    if s.usage_invalid > 0 {
        let _ = writeln!(
            out,
            "{} of {} replies carried an invalid usage (token counts that are not counts): \
             it was ignored and their tokens estimated from the text.\n",
            s.usage_invalid, s.requests_total
        );
    }
    let k = &s.output_kinds;
    if !k.beyond_content() {
        return;
    }
    let seen: Vec<String> = [
        ("content", k.content),
        ("reasoning", k.reasoning),
        ("tool-call arguments", k.tool_calls),
    ]
    .into_iter()
    .filter(|(_, n)| *n > 0)
    .map(|(name, n)| format!("{name} in {n} {}", if n == 1 { "reply" } else { "replies" }))
    .collect();
    let _ = writeln!(
        out,
        "Generated text: {}. TTFT, ITL and TPOT time every kind, not only content.\n",
        seen.join(", ")
    );
}

fn token_table(out: &mut String, s: &Summary) {
    let suffix = if s.tokens_estimated { " (estimated)" } else { "" };
    let _ = writeln!(out, "{:<28}{:>14}{:>14}", format!("Tokens{suffix}"), "input", "output");
    let _ = writeln!(
        out,
        "{:<28}{:>14}{:>14}",
        "total", s.total_input_tokens, s.total_output_tokens
    );
    let _ = writeln!(
        out,
        "{:<28}{:>14.2}{:>14.2}",
        "mean per request", s.mean_input_tokens, s.mean_output_tokens
    );
    let _ = writeln!(
        out,
        "{:<28}{:>14.2}{:>14.2}",
        "throughput (tok/s)", s.input_throughput, s.output_throughput
    );
    let _ = writeln!(
        out,
        "Mean output speed per request: {:.2} tok/s (output tokens / E2E)\n",
        s.mean_output_speed
    );
}

fn requests_and_errors(out: &mut String, s: &Summary) {
    let _ = writeln!(
        out,
        "Requests: {} successful, {} failed, success rate {:.2}%",
        s.successful,
        s.failed,
        s.success_rate * 100.0
    );
    if s.errors.is_empty() {
        return;
    }
    let width = s
        .errors
        .iter()
        .map(|e| e.class.to_string().len())
        .max()
        .unwrap_or(0)
        .max("class".len());
    let _ = writeln!(out, "Errors:\n  {:<width$}  {:>7}  example", "class", "count");
    for e in &s.errors {
        let example = crate::api::cut(&e.example.replace(['\n', '\r'], " "), 120);
        let _ = writeln!(out, "  {:<width$}  {:>7}  {example}", e.class.to_string(), e.count);
        if e.class == ErrorClass::Timeout {
            let _ = writeln!(
                out,
                "  {:<width$}           (raise --timeout if the server is merely slow)",
                ""
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{closed, open, report, slos};
    use super::*;
    use crate::slo::parse_goodput;

    #[test]
    fn section_titles_are_centred_like_pythons_format() {
        assert_eq!(
            centered(" Serving Benchmark Result ", '='),
            "============ Serving Benchmark Result ============"
        );
        assert_eq!(
            centered("Time to First Token", '-'),
            "---------------Time to First Token----------------"
        );
        assert_eq!(
            centered("Time per Output Token (excl. 1st token)", '-'),
            "-----Time per Output Token (excl. 1st token)------"
        );
        assert_eq!(
            centered("Inter-token Latency", '-'),
            "---------------Inter-token Latency----------------"
        );
        assert_eq!(
            centered("End-to-end Latency", '-'),
            "----------------End-to-end Latency----------------"
        );
    }

    #[test]
    fn the_confidence_block_follows_vllms_block_untouched() {
        let mut r = report(|s| s.schedule = closed(3));
        let before = vllm_block(&r);
        let each: Vec<_> = [10.0, 11.0, 12.0]
            .iter()
            .map(|&t| {
                std::collections::BTreeMap::from([
                    ("request_throughput".to_string(), t),
                    ("mean_ttft_ms".to_string(), 50.0 + t),
                ])
            })
            .collect();
        r.doc.confidence = crate::stats::confidence::over_repeats(&each);
        assert_eq!(vllm_block(&r), before, "vLLM's block is byte for byte the same");
        let text = console_summary(&r);
        let block_end = text.find(&"=".repeat(WIDTH)).unwrap();
        let at = text
            .find("Confidence (95 % CI, Student-t over 3 repeats):")
            .expect(&text);
        assert!(at > block_end, "{text}");
        let line = text.lines().find(|l| l.contains("TTFT mean, ms:")).unwrap();
        assert!(line.contains("61.00  (95 % CI 58.52–63.48)"), "`{line}`");
        assert!(text.contains("Throughput, requests/s:"));
        // vLLM's own lines stay unique for scripts that grep them.
        assert_eq!(text.matches("Mean TTFT (ms):").count(), 1, "{text}");
        assert_eq!(text.matches("Request throughput (req/s):").count(), 1, "{text}");
    }

    #[test]
    fn vllm_block_matches_vllms_lines() {
        let r = report(|s| s.schedule = closed(3));
        let block = vllm_block(&r);
        let lines: Vec<&str> = block.lines().collect();
        assert_eq!(lines[0], "============ Serving Benchmark Result ============");
        assert_eq!(lines[1], "Successful requests:                     6         ");
        assert_eq!(lines[2], "Failed requests:                         2         ");
        assert_eq!(lines[3], "Maximum request concurrency:             3         ");
        assert!(lines[4].starts_with("Benchmark duration (s):                  0.54"));
        let labels: Vec<&str> = lines
            .iter()
            .filter(|l| !l.starts_with(['=', '-']))
            .map(|l| {
                assert_eq!(l.len(), 51, "`{l}`: 40 + 1 + 10 columns");
                assert_eq!(&l[40..41], " ", "`{l}`");
                l[..40].trim_end()
            })
            .collect();
        assert_eq!(
            labels,
            [
                "Successful requests:",
                "Failed requests:",
                "Maximum request concurrency:",
                "Benchmark duration (s):",
                "Total input tokens:",
                "Total generated tokens:",
                "Request throughput (req/s):",
                "Output token throughput (tok/s):",
                "Peak output token throughput (tok/s):",
                "Peak concurrent requests:",
                "Total token throughput (tok/s):",
                "Mean TTFT (ms):",
                "Median TTFT (ms):",
                "P99 TTFT (ms):",
                "Mean TPOT (ms):",
                "Median TPOT (ms):",
                "P99 TPOT (ms):",
                "Mean ITL (ms):",
                "Median ITL (ms):",
                "P99 ITL (ms):",
            ],
            "vLLM's default metrics: ttft,tpot,itl"
        );
        assert_eq!(
            lines.last(),
            Some(&"==================================================")
        );
        // What scripts do: grep | awk '{print $N}'.
        let field = |label: &str, n: usize| {
            let line = lines.iter().find(|l| l.contains(label)).unwrap();
            line.split_whitespace().nth(n).unwrap().to_string()
        };
        assert_eq!(field("Successful requests:", 2), "6");
        assert!(field("Request throughput", 3).parse::<f64>().unwrap() > 0.0);
        assert_eq!(field("Mean TTFT (ms):", 3), "100.00");
        assert_eq!(field("Peak concurrent requests:", 3), "4.00");
    }

    #[test]
    fn open_loop_lines_and_goodput() {
        let r = report(|s| {
            s.schedule = open(Some(40.0), None);
            s.goodput_bounds = vec![parse_goodput("ttft:500").unwrap()];
        });
        let block = vllm_block(&r);
        assert!(
            block.contains("Request rate configured (RPS):           40.00"),
            "{block}"
        );
        assert!(!block.contains("Maximum request concurrency:"));
        assert!(block.contains("Request goodput (req/s):"));
        let r = report(|s| s.schedule = open(None, Some(7)));
        let block = vllm_block(&r);
        assert!(!block.contains("Request rate configured"));
        assert!(block.contains("Maximum request concurrency:             7 "));
        assert!(!block.contains("goodput"));
    }

    #[test]
    fn selected_metrics_and_percentiles_print_vllms_lines() {
        let ps = Percentile::parse_list("25,50,90,99,99.9").unwrap();
        let r = report(|s| {
            s.schedule = closed(3);
            s.outputs.percentile_metrics = Some(vec![VllmMetric::E2el, VllmMetric::Ttft]);
            s.outputs.metric_percentiles = Some(ps);
        });
        let block = vllm_block(&r);
        let labels: Vec<&str> = block
            .lines()
            .filter(|l| l.contains("(ms):"))
            .map(|l| l[..40].trim_end())
            .collect();
        assert_eq!(
            labels,
            [
                "Mean TTFT (ms):",
                "Median TTFT (ms):",
                "P25 TTFT (ms):",
                "P50 TTFT (ms):",
                "P90 TTFT (ms):",
                "P99 TTFT (ms):",
                "P99.9 TTFT (ms):",
                "Mean E2EL (ms):",
                "Median E2EL (ms):",
                "P25 E2EL (ms):",
                "P50 E2EL (ms):",
                "P90 E2EL (ms):",
                "P99 E2EL (ms):",
                "P99.9 E2EL (ms):",
            ],
            "{block}"
        );
        assert!(!block.contains("TPOT"), "not selected: {block}");
        let line = block.lines().find(|l| l.starts_with("P99.9 E2EL")).unwrap();
        assert_eq!(line.len(), 51, "`{line}`");
        // Own table: the extra percentiles as columns, in order.
        let text = console_summary(&r);
        let head = text.lines().find(|l| l.starts_with("Latency (ms)")).unwrap();
        let cols: Vec<&str> = head.split_whitespace().skip(2).collect();
        assert_eq!(cols, ["mean", "p25", "p50", "p90", "p95", "p99", "p99.9", "min", "max"]);
        assert!(!text.contains("n/a"), "every column computed: {text}");
    }

    #[test]
    fn the_client_queue_sections_need_a_concurrency_limit() {
        let all = |schedule| {
            vllm_block(&report(|s| {
                s.schedule = schedule;
                s.outputs.percentile_metrics = Some(VllmMetric::ALL.to_vec());
            }))
        };
        let block = all(open(Some(20.0), Some(4)));
        assert!(
            block.contains("---------------Client-side Queueing---------------\n"),
            "{block}"
        );
        assert!(
            block.contains("--------Queue-inclusive End-to-end Latency--------\n"),
            "{block}"
        );
        assert!(block.contains("Mean Client Queue Time (ms):"), "{block}");
        assert!(block.contains("P99 E2EL incl. Client Queue (ms):"), "{block}");
        let block = all(open(None, Some(4)));
        assert!(
            block.contains("Client-side Queueing") && !block.contains("Queue-inclusive"),
            "{block}"
        );
        let block = all(open(Some(20.0), None));
        assert!(!block.contains("Client"), "{block}");
    }

    #[test]
    fn the_mean_ttft_is_rated() {
        let mut r = report(|_| {});
        let mean = r.doc.summary.ttft_ms.as_ref().unwrap().mean;
        assert_eq!(mean, 100.0);
        assert_eq!(
            ttft_rating_line(&r).unwrap(),
            "TTFT rating: excellent (mean 100.00 ms; excellent under 200 ms, good under 500 ms, \
             acceptable under 1000 ms, else slow)\n"
        );
        assert!(console_summary(&r).contains("TTFT rating: excellent"));
        let strict = crate::plan::TtftRating::parse("10ms,50ms,90ms").unwrap();
        r.doc.settings.as_mut().unwrap().outputs.ttft_rating = Some(strict);
        assert!(ttft_rating_line(&r)
            .unwrap()
            .starts_with("TTFT rating: slow (mean 100.00 ms; excellent under 10 ms"));
        r.doc.summary.ttft_ms = None;
        assert_eq!(ttft_rating_line(&r), None, "no TTFT, no rating");
        assert!(!console_summary(&r).contains("TTFT rating"));
    }

    #[test]
    fn non_streaming_runs_show_only_e2e() {
        let mut r = report(|s| s.workload.stream = false);
        r.doc.summary.ttft_ms = None;
        let block = vllm_block(&r);
        assert!(!block.contains("TTFT") && !block.contains("ITL (ms)"));
        assert!(block.contains("Mean E2EL (ms):"));
    }

    #[test]
    fn image_runs_show_images_and_async_rows_instead_of_tokens() {
        let mut r = report(|_| {});
        r.doc.summary.images_total = 12;
        r.doc.summary.images_per_s = 3.5;
        r.doc.summary.bytes_per_s = 1_234_567.0;
        r.doc.summary.total_output_tokens = 0;
        r.doc.summary.queue_wait_ms = r.doc.summary.e2e_ms.clone();
        let text = console_summary(&r);
        assert!(
            text.contains("Images: 12 generated (2.00 per request), 3.50 images/s, 1.23 MB received/s"),
            "{text}"
        );
        assert!(text.contains("\nQueue wait "), "{text}");
        assert!(!text.contains("Mean output speed"), "no token table: {text}");
        assert_eq!(human_bytes(999.0), "999 B");
        assert_eq!(human_bytes(2_500_000_000.0), "2.50 GB");
    }

    #[test]
    fn replies_not_streamed_as_asked_are_noted_once() {
        let mut r = report(|_| {});
        assert!(!console_summary(&r).contains("not streamed"));
        r.doc.summary.stream_ignored = 3;
        let text = console_summary(&r);
        let note = "3 of 8 replies were not streamed although stream: true was asked: \
                    they count in E2E but have no TTFT, ITL or TPOT.";
        assert_eq!(text.matches(note).count(), 1, "{text}");
    }

    #[test]
    fn invalid_usages_are_noted() {
        let mut r = report(|_| {});
        assert!(!console_summary(&r).contains("invalid usage"));
        r.doc.summary.usage_invalid = 2;
        let text = console_summary(&r);
        assert!(text.contains("2 of 8 replies carried an invalid usage"), "{text}");
    }

    #[test]
    fn the_kinds_of_generated_text_are_named_unless_only_content() {
        let mut r = report(|_| {});
        r.doc.summary.output_kinds.content = 6;
        assert!(!console_summary(&r).contains("Generated text"));
        r.doc.summary.output_kinds.reasoning = 6;
        r.doc.summary.output_kinds.tool_calls = 1;
        let text = console_summary(&r);
        assert!(
            text.contains(
                "Generated text: content in 6 replies, reasoning in 6 replies, tool-call arguments in 1 reply."
            ),
            "{text}"
        );
    }

    /// The whole console summary of a fixed run, pinned: any change to a
    /// label, a column or the order shows up in review as a snapshot diff.
    #[test]
    fn console_summary_snapshot() {
        insta::assert_snapshot!(console_summary(&report(|s| s.schedule = closed(4))));
    }

    #[test]
    fn console_summary_open_loop_snapshot() {
        insta::assert_snapshot!(console_summary(&report(|s| {
            s.schedule = open(Some(20.0), Some(4));
            s.slos = slos("ttft_p90<500ms");
        })));
    }

    #[test]
    fn connection_figures_follow_the_trust_line() {
        let mut r = report(|_| {});
        assert!(!console_summary(&r).contains("Connections:"), "none recorded");
        let mut c = ConnectionStats {
            requests: 200,
            connections_opened: 4,
            connections_used: 4,
            requests_per_connection: 50.0,
            requests_on_new_connections: 4,
            ..Default::default()
        };
        c.connect_ms.count = 4;
        c.connect_ms.mean = 0.25;
        c.connect_ms.p99 = 0.5;
        r.doc.connections = Some(c.clone());
        let text = console_summary(&r);
        assert!(
            text.contains(
                "Connections: 4 opened for 200 requests, 50.00 requests per connection, \
                 0 stale-connection retries; connect time mean 0.25 ms, p99 0.50 ms\n"
            ),
            "{text}"
        );
        assert!(
            !text.contains("handshake") && !text.contains("stopped reusing"),
            "{text}"
        );

        c.connections_opened = 199;
        c.connections_used = 199;
        c.requests_per_connection = 200.0 / 199.0;
        c.requests_on_new_connections = 196;
        c.mostly_new_connections = true;
        c.reuse_stopped = true;
        c.stale_retries = 1;
        r.doc.connections = Some(c);
        let text = console_summary(&r);
        assert!(
            text.contains("1.01 requests per connection, 1 stale-connection retry;"),
            "{text}"
        );
        assert!(
            text.contains(
                "Most requests (196 of 200) opened a new connection: their TTFT includes the TCP (and TLS) handshake."
            ),
            "{text}"
        );
        assert!(text.contains("stopped reusing them"), "{text}");
        r.doc.connections = Some(ConnectionStats::default());
        assert!(!console_summary(&r).contains("Connections:"), "no request, no block");
    }

    #[test]
    fn own_tables_show_latencies_tokens_and_errors() {
        let mut r = report(|_| {});
        r.doc.interrupted = true;
        r.doc.summary.tokens_estimated = true;
        let text = console_summary(&r);
        assert!(text.contains("cover only the requests that finished"), "{text}");
        assert!(text.contains("Latency (ms)"));
        for row in ["\nTTFT ", "\nTPOT ", "\nITL ", "\nE2E "] {
            assert!(text.contains(row), "row {row:?} in\n{text}");
        }
        assert!(!text.contains("\nQueue delay "), "closed loop: no queue delay row");
        let ramped = console_summary(&report(|s| s.target.connect_rate = Some(5.0)));
        assert!(
            ramped.contains("\nQueue delay "),
            "a ramp's wait is queue delay: {ramped}"
        );
        assert!(text.contains("token counts are estimated"));
        assert!(text.contains("success rate 75.00%"));
        assert!(text.contains("http_500") && text.contains("internal server error"));
        assert!(text.contains("stream_broken") && text.contains("the stream ended early"));
    }
}
