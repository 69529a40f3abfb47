//! Renders one [`Snapshot`] into a ratatui frame. Pure: no terminal, no
//! clock, no locks, so tests render into a `TestBackend` and read the cells.
//!
//! ```text
//! ┌ inferload · live ──────────────────────────── q / Ctrl-C: stop ┐
//! │██████████████████ 1234/5000 requests · 00:42 · ETA 02:08 ░░░░░░│
//! ┌ Throughput ──────────────┐┌ Latency so far ────────────────────┐
//! │ requests/s, tokens/s,    ││ TTFT and E2E: p50 p90 p99 max mean │
//! │ in flight, done, failed  ││                                    │
//! ┌ Output tokens/s · last N s ──────────────────────────────────────┐
//! │ sparkline                                                        │
//! ┌ E2E latency distribution ───────────────┐┌ Errors by class ──────┐
//! │ bars, p99 tail in the last bar           ││ http_503  12          │
//! status line
//! ```

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Bar, BarChart, BarGroup, Block, Gauge, Paragraph, Row, Sparkline, Table};
use ratatui::Frame;

use super::state::{fmt_clock, fmt_rate, fmt_us, fmt_us_short, Percentiles, Snapshot, UserStop};
use crate::units::format_duration;

/// Width of one histogram bar and the gap after it.
const BAR_WIDTH: u16 = 6;
const BAR_GAP: u16 = 1;

struct Areas {
    progress: Rect,
    throughput: Rect,
    latency: Rect,
    spark: Rect,
    histogram: Rect,
    errors: Rect,
    status: Rect,
}

fn areas(area: Rect) -> Areas {
    let [progress, figures, spark, lower, status] = Layout::vertical([
        Constraint::Length(3),
        Constraint::Length(7),
        Constraint::Fill(2),
        Constraint::Fill(3),
        Constraint::Length(1),
    ])
    .areas(area);
    let [throughput, latency] = Layout::horizontal([Constraint::Length(38), Constraint::Min(30)]).areas(figures);
    let [histogram, errors] = Layout::horizontal([Constraint::Min(30), Constraint::Length(28)]).areas(lower);
    Areas {
        progress,
        throughput,
        latency,
        spark,
        histogram,
        errors,
        status,
    }
}

/// Seconds of sparkline and histogram bins that fit a frame of this size.
pub fn capacity(area: Rect) -> (usize, usize) {
    let a = areas(area);
    let spark = usize::from(a.spark.width.saturating_sub(2)).max(1);
    let inner = a.histogram.width.saturating_sub(2) + BAR_GAP;
    let bins = usize::from(inner / (BAR_WIDTH + BAR_GAP)).clamp(1, 24);
    (spark, bins)
}

/// Draws the whole dashboard.
pub fn draw(frame: &mut Frame, snap: &Snapshot, grace: std::time::Duration) {
    let a = areas(frame.area());
    draw_progress(frame, a.progress, snap);
    draw_throughput(frame, a.throughput, snap);
    draw_latency(frame, a.latency, snap);
    draw_spark(frame, a.spark, snap);
    draw_histogram(frame, a.histogram, snap);
    draw_errors(frame, a.errors, snap);
    draw_status(frame, a.status, snap, grace);
}

fn heading(text: &str) -> Span<'_> {
    Span::styled(format!(" {text} "), Style::default().add_modifier(Modifier::BOLD))
}

fn draw_progress(frame: &mut Frame, area: Rect, snap: &Snapshot) {
    let block = Block::bordered()
        .title(heading("inferload · live"))
        .title_top(Line::from(" q / Ctrl-C: stop ").right_aligned());
    let elapsed = fmt_clock(snap.elapsed);
    let of = snap.goal.requests.map(|n| format!("/{n}")).unwrap_or_default();
    let stage = snap
        .goal
        .stage_text(snap.elapsed)
        .map(|t| format!(" · {t}"))
        .unwrap_or_default();
    let counted = format!("{}{of} requests · {elapsed}{stage}", snap.done);
    let (ratio, label) = match snap.progress() {
        Some((ratio, eta)) => {
            let eta = match eta {
                Some(d) => format!(" · ETA {}", fmt_clock(d)),
                None => String::new(),
            };
            let of_time = snap
                .goal
                .duration
                .map(|d| format!(" of {}", fmt_clock(d)))
                .unwrap_or_default();
            (ratio, format!("{counted}{of_time}{eta} · {:.0}%", ratio * 100.0))
        }
        None => (0.0, format!("{counted} · until stopped")),
    };
    let gauge = Gauge::default()
        .block(block)
        .gauge_style(Style::default().fg(Color::Cyan).bg(Color::DarkGray))
        .ratio(ratio.clamp(0.0, 1.0))
        .label(label);
    frame.render_widget(gauge, area);
}

fn draw_throughput(frame: &mut Frame, area: Rect, snap: &Snapshot) {
    let num = |v: f64| Span::styled(format!("{:>8}", fmt_rate(v)), Style::default().fg(Color::Cyan));
    let count = |v: u64| Span::styled(format!("{v:>8}"), Style::default().fg(Color::Cyan));
    let failed_style = if snap.failed > 0 {
        Style::default().fg(Color::Red)
    } else {
        Style::default()
    };
    let lines = vec![
        Line::from(vec![Span::raw("              now      avg")]),
        Line::from(vec![
            Span::raw("requests/s "),
            num(snap.req_rate_now),
            Span::raw(" "),
            num(snap.req_rate_avg),
        ]),
        Line::from(vec![
            Span::raw("tokens/s   "),
            num(snap.tok_rate_now),
            Span::raw(" "),
            num(snap.tok_rate_avg),
        ]),
        Line::from(vec![
            Span::raw("in flight  "),
            count(snap.in_flight),
            Span::raw("   sent "),
            Span::raw(snap.sent.to_string()),
        ]),
        Line::from(vec![
            Span::raw("finished   "),
            count(snap.done),
            Span::raw("   failed "),
            Span::styled(snap.failed.to_string(), failed_style),
        ]),
    ];
    let block = Block::bordered().title(heading("Throughput"));
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn latency_row<'a>(name: &'a str, p: Option<Percentiles>) -> Row<'a> {
    match p {
        Some(p) => Row::new(vec![
            name.to_string(),
            fmt_us(p.p50),
            fmt_us(p.p90),
            fmt_us(p.p99),
            fmt_us(p.max),
            fmt_us(p.mean.round() as u64),
            p.count.to_string(),
        ]),
        None => Row::new(vec![name.to_string(), "–".into()]),
    }
}

fn draw_latency(frame: &mut Frame, area: Rect, snap: &Snapshot) {
    let header = Row::new(vec!["", "p50", "p90", "p99", "max", "mean", "n"])
        .style(Style::default().add_modifier(Modifier::BOLD))
        .bottom_margin(1);
    let rows = vec![latency_row("TTFT", snap.ttft), latency_row("E2E", snap.e2e)];
    let widths = [
        Constraint::Length(5),
        Constraint::Length(9),
        Constraint::Length(9),
        Constraint::Length(9),
        Constraint::Length(9),
        Constraint::Length(9),
        Constraint::Min(6),
    ];
    let table = Table::new(rows, widths)
        .header(header)
        .block(Block::bordered().title(heading("Latency so far (successful requests)")));
    frame.render_widget(table, area);
}

fn draw_spark(frame: &mut Frame, area: Rect, snap: &Snapshot) {
    let width = usize::from(area.width.saturating_sub(2));
    let data = &snap.spark[snap.spark.len().saturating_sub(width)..];
    let peak = data.iter().copied().max().unwrap_or(0);
    let title = if data.is_empty() {
        "Output tokens/s, per second (from the first full second)".to_string()
    } else {
        format!("Output tokens/s · last {} s · peak {peak}", data.len())
    };
    let spark = Sparkline::default()
        .block(Block::bordered().title(heading(&title)))
        .style(Style::default().fg(Color::Green))
        .data(data);
    frame.render_widget(spark, area);
}

fn draw_histogram(frame: &mut Frame, area: Rect, snap: &Snapshot) {
    let block = Block::bordered().title(heading("E2E latency distribution (last bar: up to max)"));
    if snap.e2e_bins.is_empty() {
        frame.render_widget(Paragraph::new("no successful request yet").block(block), area);
        return;
    }
    let bars: Vec<Bar> = snap
        .e2e_bins
        .iter()
        .map(|b| {
            Bar::default()
                .value(b.count)
                .label(Line::from(fmt_us_short(b.from_us)))
                .text_value(fmt_rate(b.count as f64).trim_end_matches(".0").to_string())
        })
        .collect();
    let chart = BarChart::default()
        .block(block)
        .bar_width(BAR_WIDTH)
        .bar_gap(BAR_GAP)
        .bar_style(Style::default().fg(Color::Yellow))
        .value_style(Style::default().fg(Color::Black).bg(Color::Yellow))
        .data(BarGroup::default().bars(&bars));
    frame.render_widget(chart, area);
}

fn draw_errors(frame: &mut Frame, area: Rect, snap: &Snapshot) {
    let block = Block::bordered().title(heading("Errors by class"));
    let lines: Vec<Line> = if snap.errors.is_empty() {
        vec![Line::from("none")]
    } else {
        snap.errors
            .iter()
            .map(|(class, n)| {
                Line::from(vec![
                    Span::raw(format!("{class:<16}")),
                    Span::styled(format!("{n:>8}"), Style::default().fg(Color::Red)),
                ])
            })
            .collect()
    };
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn draw_status(frame: &mut Frame, area: Rect, snap: &Snapshot, grace: std::time::Duration) {
    let text = match snap.user_stop {
        None => Line::from(" q or Ctrl-C stops the run; every output is still written."),
        Some(UserStop::Interrupt) => Line::from(Span::styled(
            format!(
                " Stopping: no new requests; waiting up to {} for {} in flight (q again to cancel them now).",
                format_duration(grace),
                snap.in_flight
            ),
            Style::default().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        )),
        Some(UserStop::Abort) => Line::from(Span::styled(
            " Stopping now: cancelling the requests in flight.",
            Style::default().fg(Color::Yellow).add_modifier(Modifier::BOLD),
        )),
    };
    frame.render_widget(Paragraph::new(text), area);
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    use super::super::state::{Goal, LiveStats};
    use super::*;
    use crate::record::{ErrorClass, RequestError, RequestRecord};

    fn rec(e2e_ms: u64, tokens: u64) -> RequestRecord {
        RequestRecord {
            token_times: vec![Duration::from_millis(e2e_ms / 4)],
            finished_at: Some(Duration::from_millis(e2e_ms)),
            ended_at: Duration::from_millis(e2e_ms),
            output_tokens: tokens,
            streamed: true,
            ..Default::default()
        }
    }

    fn render(stats: &LiveStats, elapsed: Duration, w: u16, h: u16) -> String {
        let mut term = Terminal::new(TestBackend::new(w, h)).expect("test terminal");
        let (spark, bins) = capacity(Rect::new(0, 0, w, h));
        let snap = stats.snapshot(elapsed, spark, bins);
        term.draw(|f| draw(f, &snap, Duration::from_secs(30))).expect("draw");
        let buf = term.backend().buffer().clone();
        (0..h)
            .map(|y| (0..w).map(|x| buf[(x, y)].symbol().to_string()).collect::<String>())
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn a_frame_shows_every_panel_with_its_figures() {
        let mut s = LiveStats::new(Goal {
            requests: Some(1000),
            duration: None,
            profile: None,
        });
        for sec in 0..20u64 {
            for i in 0..10u64 {
                s.on_sent();
                s.on_finished(&rec(100 + i * 20, 64), Duration::from_secs(sec));
            }
        }
        s.on_sent();
        s.on_finished(
            &RequestRecord {
                error: Some(RequestError {
                    class: ErrorClass::Http(503),
                    message: "busy".into(),
                }),
                ..Default::default()
            },
            Duration::from_secs(19),
        );
        for _ in 0..4 {
            s.on_sent();
        }
        let screen = render(&s, Duration::from_secs(20), 120, 40);
        for needle in [
            "inferload · live",
            "201/1000 requests · 00:20",
            "ETA 01:19",
            "Throughput",
            "requests/s",
            "in flight         4",
            "finished        201",
            "Latency so far",
            "TTFT",
            "E2E",
            "Output tokens/s · last 20 s · peak 640 ",
            "E2E latency distribution",
            "100ms",
            "Errors by class",
            "http_503",
            "q or Ctrl-C stops the run",
        ] {
            assert!(screen.contains(needle), "missing {needle:?} in\n{screen}");
        }
    }

    #[test]
    fn stopping_and_empty_states_are_spelled_out() {
        let mut s = LiveStats::new(Goal::default());
        s.user_stop = Some(UserStop::Interrupt);
        s.on_sent();
        let screen = render(&s, Duration::from_millis(300), 100, 30);
        assert!(screen.contains("until stopped"), "{screen}");
        assert!(screen.contains("no successful request yet"), "{screen}");
        assert!(screen.contains("none"), "{screen}");
        assert!(
            screen.contains("Stopping: no new requests; waiting up to 30s for 1 in flight"),
            "{screen}"
        );
    }

    #[test]
    fn a_tiny_terminal_does_not_panic() {
        let mut s = LiveStats::new(Goal::default());
        s.on_finished(&rec(10, 1), Duration::ZERO);
        for (w, h) in [(1, 1), (10, 5), (40, 12), (0, 0)] {
            render(&s, Duration::from_secs(2), w, h);
        }
    }
}
