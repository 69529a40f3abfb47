//! The comparison's text: the tables `inferload compare` prints at the end
//! and `inferload report compare.json` prints again, from the document's
//! strategies alone.
//!
//! Each table is built once as text cells ([`Table`]) and rendered by the
//! console here and by the Markdown and HTML reports (`report`), so every
//! output shows the same figures: the strategies (performance, with TTFT
//! and token throughput columns only when some strategy measured them),
//! the system figures (load generator, host, GPU memory; `—` where nothing
//! was measured, never 0), and where they apply the figures by stage and
//! by turn and session, one row per stage (or turn) and strategy, so the
//! strategies line up under each stage.

use crate::doc::compare::{Best, CompareDocument, StrategyResult};
use crate::stats::Percentile;

/// What an unmeasured figure is shown as.
pub const ABSENT: &str = "—";

/// A change in percent with its sign (`+12.5%`).
pub fn signed(v: f64) -> String {
    format!("{v:+.1}%")
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.map_or_else(|| ABSENT.into(), |x| format!("{x:.digits$}"))
}

fn pct(v: Option<f64>) -> String {
    v.map_or_else(|| ABSENT.into(), |x| format!("{x:.1}%"))
}

fn bytes(v: Option<f64>) -> String {
    v.map_or_else(|| ABSENT.into(), crate::monitor::bytes)
}

/// One table as text cells: a title, the header, the rows and a note
/// under it (empty for none).
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub title: &'static str,
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub note: String,
}

impl Table {
    /// Aligned text: the first `left` columns to the left, the rest right.
    pub fn render(&self, left: usize) -> String {
        let all: Vec<&Vec<String>> = std::iter::once(&self.header).chain(&self.rows).collect();
        let widths: Vec<usize> = (0..self.header.len())
            .map(|i| all.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
            .collect();
        let mut out = format!("\n{}\n", self.title);
        for (n, row) in all.iter().enumerate() {
            let cells: Vec<String> = row
                .iter()
                .zip(&widths)
                .enumerate()
                .map(|(i, (c, w))| {
                    if i < left {
                        format!("{c:<w$}")
                    } else {
                        format!("{c:>w$}")
                    }
                })
                .collect();
            out.push_str(cells.join("  ").trim_end());
            out.push('\n');
            if n == 0 {
                out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1)));
                out.push('\n');
            }
        }
        if !self.note.is_empty() {
            out.push_str(&self.note);
            out.push('\n');
        }
        out
    }
}

/// True when some strategy measured a first token (streaming LLM APIs).
pub fn has_ttft(results: &[StrategyResult]) -> bool {
    results.iter().any(|r| r.ttft_mean_ms.is_some())
}

/// True when some strategy produced output tokens.
pub fn has_tokens(results: &[StrategyResult]) -> bool {
    results.iter().any(|r| r.output_throughput > 0.0)
}

/// The strategies' performance: one row per strategy, the changes against
/// the first, the score.
pub fn strategies(results: &[StrategyResult], tail: Percentile) -> Table {
    let images = results.iter().any(|r| r.images_per_s.is_some());
    let tokens = has_tokens(results);
    let ttft = has_ttft(results);
    let submit = results.iter().any(|r| r.submit_mean_ms.is_some());
    let prefix = results.iter().any(|r| r.prefix_cache_hit_pct.is_some());
    let conns = results.iter().any(|r| r.connections.is_some());
    let mut header: Vec<String> = ["strategy", "requests", "success", "req/s"].map(String::from).to_vec();
    if images {
        header.push("images/s".into());
    }
    if tokens {
        header.push("out tok/s".into());
    }
    if ttft {
        header.push("TTFT mean".into());
        header.push(format!("TTFT p{}", tail.word()));
    }
    header.extend(["mean ms", "p95 ms", "p99 ms"].map(String::from));
    if submit {
        header.push("submit ms".into());
    }
    if prefix {
        header.push("prefix hit %".into());
    }
    header.extend(["GPU %", "score", "throughput Δ", "latency Δ"].map(String::from));
    if conns {
        header.extend(["conns", "req/conn", "stale", "connect ms"].map(String::from));
    }
    let mut rows = Vec::new();
    for r in results {
        let mut row = vec![
            r.name.clone(),
            r.requests.to_string(),
            format!("{:.1}%", r.success_rate * 100.0),
            format!("{:.3}", r.request_throughput),
        ];
        if images {
            row.push(opt(r.images_per_s, 3));
        }
        if tokens {
            row.push(format!("{:.1}", r.output_throughput));
        }
        if ttft {
            row.extend([opt(r.ttft_mean_ms, 1), opt(r.ttft_tail_ms, 1)]);
        }
        row.extend([
            opt(r.latency_mean_ms, 1),
            opt(r.latency_p95_ms, 1),
            opt(r.latency_p99_ms, 1),
        ]);
        if submit {
            row.push(opt(r.submit_mean_ms, 1));
        }
        if prefix {
            row.push(opt(r.prefix_cache_hit_pct, 1));
        }
        row.extend([
            opt(r.gpu_util_pct, 1),
            format!("{:.3}", r.score),
            r.throughput_change_pct.map_or_else(|| ABSENT.into(), signed),
            r.latency_change_pct.map_or_else(|| ABSENT.into(), signed),
        ]);
        if conns {
            match &r.connections {
                Some(c) => row.extend([
                    c.opened.to_string(),
                    format!("{:.2}", c.requests_per_connection),
                    c.stale_retries.to_string(),
                    opt(c.connect_mean_ms, 2),
                ]),
                None => row.extend(std::iter::repeat_n(ABSENT.to_string(), 4)),
            }
        }
        rows.push(row);
    }
    let mut note = String::new();
    if ttft {
        note.push_str("TTFT in ms (streaming requests); out tok/s: output tokens of successful requests per second.\n");
    }
    if conns {
        note.push_str(
            "Connections over every run: opened, requests per connection, stale-connection retries, mean connect time.\n",
        );
    }
    Table {
        title: "============================ Comparison ============================",
        header,
        rows,
        note: note.trim_end().to_string(),
    }
}

/// The load generator's, the host's and the GPUs' figures per strategy
/// (over its runs); `None` when no strategy has any.
pub fn system(results: &[StrategyResult]) -> Option<Table> {
    if results.iter().all(|r| r.system.is_none()) {
        return None;
    }
    let header = [
        "strategy",
        "client CPU mean",
        "client CPU peak",
        "client mem peak",
        "host CPU mean",
        "host CPU peak",
        "host mem peak",
        "GPU mem peak",
        "trust",
    ]
    .map(String::from)
    .to_vec();
    let rows = results
        .iter()
        .map(|r| {
            let s = r.system.unwrap_or_default();
            let runs = r.runs.iter().filter(|x| x.trust.is_some()).count();
            vec![
                r.name.clone(),
                pct(s.client_cpu_mean_pct),
                pct(s.client_cpu_peak_pct),
                bytes(s.client_memory_peak_bytes),
                pct(s.host_cpu_mean_pct),
                pct(s.host_cpu_peak_pct),
                bytes(s.host_memory_peak_bytes),
                match (s.gpu_memory_peak_bytes, s.gpu_memory_peak_pct) {
                    (Some(b), Some(p)) => format!("{} ({p:.0}%)", crate::monitor::bytes(b)),
                    (b, _) => bytes(b),
                },
                if r.system.is_none() || runs == 0 {
                    ABSENT.into()
                } else if s.trust_warnings == 0 {
                    "OK".into()
                } else {
                    format!("{} of {runs} WARNING", s.trust_warnings)
                },
            ]
        })
        .collect();
    Some(Table {
        title: "System, over each strategy's runs",
        header,
        rows,
        note: format!(
            "Client CPU in percent of one core (mean of the runs' means, highest peak), host CPU of all cores; \
             memory at its peak; {ABSENT}: not measured (GPU memory needs NVML or nvidia-smi)."
        ),
    })
}

fn trim(v: f64) -> String {
    let s = format!("{v:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Each strategy's figures per stage, aligned by stage (one row per stage
/// and strategy); `None` when no strategy had stages.
pub fn by_stage(results: &[StrategyResult]) -> Option<Table> {
    let n = results.iter().filter_map(|r| r.stages.as_ref()).map(Vec::len).max()?;
    let header = [
        "stage",
        "strategy",
        "window",
        "target",
        "requests",
        "success",
        "req/s",
        "out tok/s",
        "TTFT p50",
        "TTFT p99",
        "in flight",
    ]
    .map(String::from)
    .to_vec();
    let mut rows = Vec::new();
    for i in 0..n {
        for r in results {
            let Some(st) = r.stages.as_ref().and_then(|s| s.get(i)) else {
                let mut row = vec![(i + 1).to_string(), r.name.clone()];
                row.extend(std::iter::repeat_n(ABSENT.to_string(), header.len() - 2));
                rows.push(row);
                continue;
            };
            rows.push(vec![
                st.stage.to_string(),
                r.name.clone(),
                format!("{:.1}s-{:.1}s", st.start_s, st.end_s),
                if (st.from - st.to).abs() < 1e-9 {
                    trim(st.to)
                } else {
                    format!("{} → {}", trim(st.from), trim(st.to))
                },
                st.requests.to_string(),
                format!("{:.1}%", st.success_rate * 100.0),
                format!("{:.2}", st.request_throughput),
                format!("{:.1}", st.output_throughput),
                opt(st.ttft_p50_ms, 1),
                opt(st.ttft_p99_ms, 1),
                format!("{:.1}", st.mean_in_flight),
            ]);
        }
    }
    Some(Table {
        title: "By stage, each strategy over its runs",
        header,
        rows,
        note: "A request belongs to the stage its intended send time falls in; requests summed over the runs, \
               rates and latencies (ms) their mean."
            .into(),
    })
}

/// Each strategy's figures per turn index, aligned by turn; `None` when no
/// strategy ran conversations (`--turns`).
pub fn by_turn(results: &[StrategyResult]) -> Option<Table> {
    let n = results
        .iter()
        .filter_map(|r| r.sessions.as_ref())
        .map(|s| s.by_turn.len())
        .max()?;
    let header = [
        "turn",
        "strategy",
        "requests",
        "success",
        "input tok",
        "TTFT p50",
        "TTFT p99",
        "E2E p50",
    ]
    .map(String::from)
    .to_vec();
    let mut rows = Vec::new();
    for i in 0..n {
        for r in results {
            let Some(t) = r.sessions.as_ref().and_then(|s| s.by_turn.get(i)) else {
                let mut row = vec![(i + 1).to_string(), r.name.clone()];
                row.extend(std::iter::repeat_n(ABSENT.to_string(), header.len() - 2));
                rows.push(row);
                continue;
            };
            rows.push(vec![
                t.turn.to_string(),
                r.name.clone(),
                t.requests.to_string(),
                t.successful.to_string(),
                format!("{:.1}", t.mean_input_tokens),
                opt(t.ttft_p50_ms, 1),
                opt(t.ttft_p99_ms, 1),
                opt(t.e2e_p50_ms, 1),
            ]);
        }
    }
    Some(Table {
        title: "By turn, each strategy over its runs",
        header,
        rows,
        note: "Latencies in ms, the mean of the runs' percentiles; requests summed over the runs.".into(),
    })
}

/// Each strategy's sessions: started, completed, failed, cut, turns
/// completed; `None` when no strategy ran conversations.
pub fn sessions(results: &[StrategyResult]) -> Option<Table> {
    if results.iter().all(|r| r.sessions.is_none()) {
        return None;
    }
    let header = [
        "strategy",
        "sessions",
        "completed",
        "failed",
        "cut",
        "turns done mean",
        "turns done max",
        "duration p50 s",
    ]
    .map(String::from)
    .to_vec();
    let rows = results
        .iter()
        .map(|r| match &r.sessions {
            Some(s) => vec![
                r.name.clone(),
                s.started.to_string(),
                s.completed.to_string(),
                s.failed.to_string(),
                s.cut.to_string(),
                format!("{:.2}", s.turns_completed_mean),
                s.turns_completed_max.to_string(),
                opt(s.duration_p50_s, 2),
            ],
            None => {
                let mut row = vec![r.name.clone()];
                row.extend(std::iter::repeat_n(ABSENT.to_string(), header.len() - 1));
                row
            }
        })
        .collect();
    Some(Table {
        title: "Sessions, each strategy over its runs",
        header,
        rows,
        note: "Turns done: successful turns per started session.".into(),
    })
}

/// Each strategy's figures with their 95 % intervals over its runs
/// (`--repeats N`, N ≥ 2); `None` when no strategy has two runs.
pub fn confidence(results: &[StrategyResult]) -> Option<Table> {
    let method = results.iter().find_map(|r| r.confidence.as_ref())?.method_line();
    // Only the figures some strategy has, in the order the run prints them.
    let mut names: Vec<(&str, &str)> = Vec::new();
    if results.iter().any(|r| r.images_per_s.is_some()) {
        names.push(("images_per_s", "images/s"));
    }
    for (name, label) in [
        ("request_throughput", "req/s"),
        ("output_throughput", "out tok/s"),
        ("mean_ttft_ms", "TTFT mean ms"),
        ("mean_itl_ms", "ITL mean ms"),
        ("mean_e2e_ms", "E2E mean ms"),
    ] {
        let any = results.iter().any(|r| {
            r.confidence
                .as_ref()
                .and_then(|c| c.get(name))
                .is_some_and(|i| i.mean > 0.0)
        });
        if any {
            names.push((name, label));
        }
    }
    let mut header = vec!["strategy".to_string()];
    header.extend(names.iter().map(|(_, l)| l.to_string()));
    let rows = results
        .iter()
        .map(|r| {
            let mut row = vec![r.name.clone()];
            for (name, _) in &names {
                let cell = r.confidence.as_ref().and_then(|c| c.get(name)).map_or_else(
                    || ABSENT.to_string(),
                    |i| {
                        let d = if name.ends_with("_ms") { 1 } else { 2 };
                        format!("{:.d$} ({:.d$}–{:.d$})", i.mean, i.low, i.high)
                    },
                );
                row.push(cell);
            }
            row
        })
        .collect();
    Some(Table {
        title: "Confidence, each strategy over its runs",
        header,
        rows,
        note: format!(
            "Mean over the runs (95 % CI), {}.",
            method.trim_start_matches("95 % CI, ")
        ),
    })
}

/// The lines under the strategies: changes against the first, the score
/// and the best strategy.
pub fn verdict(results: &[StrategyResult], best: Option<&Best>, with_gpu: bool) -> String {
    let mut out = String::new();
    if let Some(first) = results.first() {
        out.push_str(&format!(
            "Changes (Δ) are against the first strategy, {}; latency is the mean end-to-end response time.\n",
            first.name
        ));
        for r in results.iter().skip(1) {
            out.push_str(&format!(
                "  {}: throughput {}, response time {}\n",
                r.name,
                r.throughput_change_pct.map_or_else(|| "n/a".into(), signed),
                r.latency_change_pct.map_or_else(|| "n/a".into(), signed),
            ));
        }
    }
    if with_gpu {
        out.push_str(
            "Score = 0.5 × throughput/best + 0.3 × fastest/response time + 0.2 × GPU utilisation (docs/COMPARE.md).\n",
        );
    } else {
        out.push_str("Score = 0.625 × throughput/best + 0.375 × fastest/response time: no GPU figures, so the GPU weight (0.2) is left out and the others renormalised (docs/COMPARE.md).\n");
    }
    match best {
        Some(b) => out.push_str(&format!("Best strategy: {}\n{}\n", b.name, b.reason)),
        None => out.push_str("Best strategy: none (nothing was measured)\n"),
    }
    for (i, j) in crate::doc::compare::within_noise(results) {
        out.push_str(&format!(
            "Warning: {} and {} are within noise of each other on throughput (their 95 % intervals overlap); more --repeats would tell them apart\n",
            results[i].name, results[j].name
        ));
    }
    out
}

/// The strategy table as printed, the changes against the first, the
/// score note and the best strategy.
pub fn table(results: &[StrategyResult], best: Option<&Best>, with_gpu: bool, tail: Percentile) -> String {
    let mut out = strategies(results, tail).render(1);
    out.push_str(&verdict(results, best, with_gpu));
    out
}

/// The text of a comparison document: the strategies, then the system,
/// by-stage, by-turn and session tables where they apply.
pub fn compare_text(doc: &CompareDocument) -> String {
    let s = &doc.strategies;
    let mut out = table(s, doc.best.as_ref(), doc.with_gpu(), doc.tail_percentile);
    for t in [confidence(s), system(s), by_stage(s), by_turn(s), sessions(s)]
        .into_iter()
        .flatten()
    {
        let left = if t.header[0] == "strategy" { 1 } else { 2 };
        out.push_str(&t.render(left));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::compare::{RunResult, StrategyConnections, SystemFigures};
    use crate::doc::stages::StageFigures;
    use crate::stats::sessions::{Sessions, TurnFigures};

    fn p99() -> Percentile {
        crate::doc::compare::default_tail()
    }

    fn named(n: &str) -> StrategyResult {
        StrategyResult {
            name: n.into(),
            ..Default::default()
        }
    }

    #[test]
    fn connection_figures_are_columns_when_recorded() {
        let mut a = named("a");
        let text = table(std::slice::from_ref(&a), None, false, p99());
        assert!(!text.contains("req/conn"), "none recorded: {text}");
        a.connections = Some(StrategyConnections {
            opened: 4,
            requests_per_connection: 25.0,
            stale_retries: 1,
            connect_mean_ms: Some(0.5),
        });
        let text = table(&[a, named("b")], None, false, p99());
        let lines: Vec<&str> = text.lines().collect();
        let head = lines.iter().find(|l| l.starts_with("strategy")).unwrap();
        assert!(head.ends_with("conns  req/conn  stale  connect ms"), "{head}");
        let row = lines.iter().find(|l| l.starts_with("a ")).unwrap();
        assert!(row.ends_with("4     25.00      1        0.50"), "`{row}`");
        let row = lines.iter().find(|l| l.starts_with("b ")).unwrap();
        assert!(row.ends_with("—         —      —           —"), "`{row}`");
    }

    #[test]
    fn token_and_ttft_columns_appear_only_when_measured() {
        // Images (no tokens, no first token): neither column, not even empty.
        let mut img = named("pool");
        img.images_per_s = Some(4.0);
        let t = strategies(&[img.clone(), named("one")], p99());
        assert!(
            t.header.iter().all(|h| !h.contains("TTFT") && !h.contains("tok/s")),
            "{:?}",
            t.header
        );
        // A streaming chat: TTFT mean and the chosen percentile, tokens/s.
        let mut chat = named("chat");
        chat.output_throughput = 812.25;
        chat.ttft_mean_ms = Some(51.04);
        chat.ttft_tail_ms = Some(88.0);
        let t = strategies(&[chat.clone(), named("other")], Percentile::new(95.0).unwrap());
        let col = |h: &str| {
            t.header
                .iter()
                .position(|x| x == h)
                .unwrap_or_else(|| panic!("{h}: {:?}", t.header))
        };
        assert_eq!(t.rows[0][col("out tok/s")], "812.2");
        assert_eq!(t.rows[0][col("TTFT mean")], "51.0");
        assert_eq!(t.rows[0][col("TTFT p95")], "88.0");
        assert_eq!(t.rows[1][col("TTFT mean")], ABSENT);
        // Non-streaming: tokens but no TTFT.
        chat.ttft_mean_ms = None;
        chat.ttft_tail_ms = None;
        let t = strategies(&[chat], p99());
        assert!(t.header.contains(&"out tok/s".to_string()));
        assert!(!t.header.iter().any(|h| h.contains("TTFT")));
    }

    #[test]
    fn the_system_table_shows_unmeasured_gpu_memory_as_absent_never_zero() {
        assert_eq!(system(&[named("a")]), None);
        let mut a = named("a");
        a.system = Some(SystemFigures {
            client_cpu_mean_pct: Some(12.345),
            client_cpu_peak_pct: Some(40.0),
            client_memory_peak_bytes: Some(48.0 * 1024.0 * 1024.0),
            host_cpu_mean_pct: Some(30.0),
            host_cpu_peak_pct: Some(55.5),
            host_memory_peak_bytes: Some(2.0 * 1024.0 * 1024.0 * 1024.0),
            trust_warnings: 1,
            ..Default::default()
        });
        a.runs = vec![
            RunResult {
                trust: None,
                ..Default::default()
            };
            1
        ];
        let mut b = a.clone();
        b.name = "b".into();
        if let Some(s) = b.system.as_mut() {
            s.gpu_memory_peak_bytes = Some(8.0 * 1024.0 * 1024.0 * 1024.0);
            s.gpu_memory_peak_pct = Some(50.0);
            s.trust_warnings = 0;
        }
        let t = system(&[a, b]).unwrap();
        let col = |h: &str| t.header.iter().position(|x| x == h).unwrap();
        assert_eq!(t.rows[0][col("client CPU mean")], "12.3%");
        assert_eq!(t.rows[0][col("client mem peak")], "48.0 MiB");
        assert_eq!(t.rows[0][col("host mem peak")], "2.0 GiB");
        assert_eq!(t.rows[0][col("GPU mem peak")], ABSENT);
        assert_eq!(t.rows[1][col("GPU mem peak")], "8.0 GiB (50%)");
        let text = t.render(1);
        assert!(!text.contains(" 0.0%"), "{text}");
    }

    fn stage(i: usize, rps: f64) -> StageFigures {
        StageFigures {
            stage: i,
            start_s: (i - 1) as f64,
            end_s: i as f64,
            from: 2.0,
            to: 4.0,
            requests: 10,
            successful: 10,
            success_rate: 1.0,
            ttft_p50_ms: Some(5.0),
            ttft_p99_ms: Some(9.0),
            itl_p50_ms: None,
            itl_p99_ms: None,
            request_throughput: rps,
            output_throughput: rps * 8.0,
            mean_in_flight: 3.0,
            slos: Vec::new(),
            state: None,
        }
    }

    #[test]
    fn stages_and_turns_line_up_strategies_under_each_index() {
        assert_eq!(by_stage(&[named("a")]), None);
        assert_eq!(by_turn(&[named("a")]), None);
        let mut a = named("a");
        a.stages = Some(vec![stage(1, 10.0), stage(2, 20.0)]);
        let mut b = named("b");
        b.stages = Some(vec![stage(1, 11.0)]);
        let t = by_stage(&[a.clone(), b.clone()]).unwrap();
        let firsts: Vec<(&str, &str)> = t.rows.iter().map(|r| (r[0].as_str(), r[1].as_str())).collect();
        assert_eq!(firsts, [("1", "a"), ("1", "b"), ("2", "a"), ("2", "b")]);
        assert_eq!(t.rows[0][3], "2 → 4");
        assert_eq!(t.rows[1][6], "11.00");
        assert_eq!(t.rows[3][4], ABSENT, "b had no second stage");
        let turn = |n: u32, ttft: f64| TurnFigures {
            turn: n,
            requests: 4,
            successful: 4,
            mean_input_tokens: 10.0 * f64::from(n),
            ttft_p50_ms: Some(ttft),
            ttft_p99_ms: Some(ttft * 2.0),
            e2e_p50_ms: None,
        };
        a.sessions = Some(Sessions {
            started: 4,
            completed: 4,
            turns_completed_mean: 2.0,
            turns_completed_max: 2,
            by_turn: vec![turn(1, 5.0), turn(2, 7.5)],
            ..Default::default()
        });
        let t = by_turn(&[a.clone(), b.clone()]).unwrap();
        assert_eq!(t.rows.len(), 4);
        assert_eq!(t.rows[2][..2], ["2", "a"]);
        assert_eq!(t.rows[2][5], "7.5");
        assert_eq!(t.rows[3][2], ABSENT);
        let s = sessions(&[a, b]).unwrap();
        assert_eq!(s.rows[0][..3], ["a", "4", "4"]);
        assert_eq!(s.rows[0][5], "2.00");
        assert_eq!(s.rows[1][1], ABSENT);
    }
}
