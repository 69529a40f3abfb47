//! The charts of a run: the latency distributions (histogram and CDF),
//! throughput and requests in flight over time, each request's latency
//! against its start, the resources the monitor saw, and (`--repeats`) each
//! repeat with the mean's 95 % interval as an error bar.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::common::*;
use super::{Chart, DrawResult, Kind};
use crate::doc::series::{Distribution, Series};
use crate::export::RunReport;
use crate::stats::LatencyStats;

/// The charts of a run.
pub fn run_charts(report: &RunReport) -> Vec<Chart<'_>> {
    let doc = &report.doc;
    let streamed = report.streamed();
    let s = doc.series.as_ref();
    let nothing = doc.summary.successful == 0;
    let why = |metric: &str| -> String {
        if nothing {
            NO_SUCCESS.into()
        } else if !streamed && metric != "E2E" {
            format!("{metric} is not defined for a non-streaming run")
        } else {
            format!("no {metric} samples")
        }
    };
    let no_series = if nothing {
        NO_SUCCESS.to_string()
    } else {
        "no per-request data in this file (save a --records file, or ask for a report during the run)".to_string()
    };
    let t = doc.title();
    let mut out = Vec::new();
    for (name, caption, label, dist, stats) in [
        (
            "ttft",
            "Time to first token",
            "TTFT",
            s.and_then(|s| s.ttft_ms.as_ref()),
            doc.summary.ttft_ms.as_ref(),
        ),
        (
            "e2e",
            "End-to-end latency",
            "E2E",
            s.and_then(|s| s.e2e_ms.as_ref()),
            doc.summary.e2e_ms.as_ref(),
        ),
        (
            "itl",
            "Inter-token latency",
            "ITL",
            s.and_then(|s| s.itl_ms.as_ref()),
            doc.summary.itl_ms.as_ref(),
        ),
    ] {
        out.push(Chart {
            name,
            caption,
            title: format!("{caption} — {t}"),
            size: (1200, 520),
            kind: Kind::Dist {
                label,
                dist,
                stats,
                why_empty: why(label),
            },
        });
    }
    let timeline_why = if s.is_some_and(|s| s.buckets.is_empty()) || nothing {
        NO_SUCCESS.to_string()
    } else {
        no_series.clone()
    };
    out.push(Chart {
        name: "timeline",
        caption: "Throughput and requests in flight over time",
        title: format!("Throughput and in-flight requests — {t}"),
        size: (1200, 900),
        kind: Kind::Timeline {
            series: s.filter(|s| !s.buckets.is_empty() && !nothing),
            why_empty: timeline_why,
        },
    });
    out.push(Chart {
        name: "latency_over_time",
        caption: "Latency of each request against its start",
        title: format!("Latency over time — {t}"),
        size: (1200, 560),
        kind: Kind::Scatter {
            series: s.filter(|s| s.points.iter().any(|p| p.e2e_ms.is_some())),
            why_empty: if nothing { NO_SUCCESS.into() } else { no_series },
        },
    });
    if !doc.repeats.is_empty() {
        out.push(Chart {
            name: "repeats",
            caption: "Each repeat, and the mean with its 95 % confidence interval",
            title: format!("Repeats — {t}"),
            size: (1200, 520),
            kind: Kind::Repeats(doc),
        });
    }
    if let Some(m) = doc
        .monitor
        .as_ref()
        .filter(|m| resource_lines(m).iter().any(|p| !p.1.is_empty()))
    {
        out.push(Chart {
            name: "resources",
            caption: "Resource use over time under the throughput curve",
            title: format!("Resource use — {t}"),
            size: (1200, 900),
            kind: Kind::Resources {
                series: s.filter(|s| !s.buckets.is_empty()),
                monitor: m,
            },
        });
    }
    out
}

/// Caption, unit, colour and points of one timeline panel.
type Panel = (&'static str, &'static str, RGBColor, Vec<(f64, f64)>);

fn pct_marks(stats: &LatencyStats) -> [(&'static str, f64, RGBColor); 3] {
    [
        ("p50", stats.p50, GREEN_),
        ("p90", stats.p90, ORANGE_),
        ("p99", stats.p99, RED_),
    ]
}

pub(super) fn draw_dist<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    label: &str,
    dist: Option<&Distribution>,
    stats: &LatencyStats,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (left, right) = root.split_horizontally(root.dim_in_pixel().0 / 2);
    let x_desc = format!("{label} (ms)");
    // Histogram.
    match dist {
        Some(d) => {
            let edges = |i: usize| d.bin_start_ms + i as f64 * d.bin_width_ms;
            let (x0, x1) = range([edges(0), edges(d.bins.len()), stats.p99], false);
            let ymax = d.bins.iter().copied().max().unwrap_or(1).max(1) as f64 * 1.12;
            let mut c = ChartBuilder::on(&left)
                .caption(format!("{label} histogram ({} samples)", d.count), font(20))
                .margin(12)
                .x_label_area_size(50)
                .y_label_area_size(70)
                .build_cartesian_2d(x0..x1, 0.0..ymax)
                .map_err(err)?;
            c.configure_mesh()
                .x_desc(x_desc.as_str())
                .y_desc("requests")
                .axis_desc_style(font(18))
                .label_style(font(15))
                .x_label_formatter(&|v| tick(*v))
                .y_label_formatter(&|v| tick(*v))
                .max_light_lines(2)
                .draw()
                .map_err(err)?;
            c.draw_series(d.bins.iter().enumerate().filter(|(_, n)| **n > 0).map(|(i, n)| {
                let (a, b) = (edges(i), edges(i + 1));
                Rectangle::new([(a, 0.0), (b, *n as f64)], BLUE_.mix(0.75).filled())
            }))
            .map_err(err)?;
            for (name, v, color) in pct_marks(stats) {
                c.draw_series(LineSeries::new([(v, 0.0), (v, ymax)], color.stroke_width(2)))
                    .map_err(err)?
                    .label(format!("{name} {} ms", fmt_num(v)))
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
            }
            legend(&mut c, SeriesLabelPosition::UpperRight, 15)?;
        }
        None => empty(&left, "histogram needs per-request data")?,
    }
    // CDF: from the saved quantiles, else from the summary's percentiles.
    let points: Vec<(f64, f64)> = match dist {
        Some(d) => d.quantiles.iter().map(|[q, v]| (*v, q * 100.0)).collect(),
        None => vec![
            (stats.min, 0.0),
            (stats.p50, 50.0),
            (stats.p90, 90.0),
            (stats.p95, 95.0),
            (stats.p99, 99.0),
            (stats.p999, 99.9),
            (stats.max, 100.0),
        ],
    };
    let (x0, x1) = range(points.iter().map(|p| p.0), false);
    let mut c = ChartBuilder::on(&right)
        .caption(format!("{label} cumulative distribution"), font(20))
        .margin(12)
        .x_label_area_size(50)
        .y_label_area_size(70)
        .build_cartesian_2d(x0..x1, 0.0..100.0)
        .map_err(err)?;
    c.configure_mesh()
        .x_desc(x_desc.as_str())
        .y_desc("requests at or below (%)")
        .axis_desc_style(font(18))
        .label_style(font(15))
        .x_label_formatter(&|v| tick(*v))
        .max_light_lines(2)
        .draw()
        .map_err(err)?;
    c.draw_series(LineSeries::new(points.iter().copied(), BLUE_.stroke_width(3)))
        .map_err(err)?;
    for (name, v, color) in pct_marks(stats) {
        c.draw_series(LineSeries::new([(v, 0.0), (v, 100.0)], color.stroke_width(2)))
            .map_err(err)?
            .label(format!("{name} {} ms", fmt_num(v)))
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
    }
    legend(&mut c, SeriesLabelPosition::LowerRight, 15)
}

pub(super) fn draw_timeline<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, s: &Series) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let panels = root.split_evenly((3, 1));
    let iv = s.interval_s.max(f64::MIN_POSITIVE);
    let mid = |t: f64| t + iv / 2.0;
    let end = s.buckets.last().map_or(1.0, |b| b.t_s + iv);
    let per_s = if iv == 1.0 {
        String::new()
    } else {
        format!(" ({iv:.0} s buckets)")
    };
    // The last bucket is cut short by the end of the run: divide by what it covers.
    let width = |b: &crate::doc::series::Bucket| (s.end_s.max(b.t_s) - b.t_s).clamp(iv.min(0.05), iv);
    let series: [Panel; 3] = [
        (
            "Successful requests per second",
            "req/s",
            BLUE_,
            s.buckets
                .iter()
                .map(|b| (mid(b.t_s), b.completed as f64 / width(b)))
                .collect(),
        ),
        (
            "Output tokens per second",
            "output tok/s",
            ORANGE_,
            s.buckets
                .iter()
                .map(|b| (mid(b.t_s), b.output_tokens as f64 / width(b)))
                .collect(),
        ),
        (
            "Requests in flight (time-weighted mean)",
            "requests",
            PURPLE_,
            s.buckets.iter().map(|b| (mid(b.t_s), b.in_flight)).collect(),
        ),
    ];
    for (area, (caption, unit, color, pts)) in panels.iter().zip(series) {
        let (_, y1) = range(pts.iter().map(|p| p.1), true);
        let mut c = xy_chart(
            area,
            Axes {
                caption: format!("{caption}{per_s}"),
                x: 0.0..end,
                y: 0.0..y1,
                x_desc: "time since start (s)",
                y_desc: unit,
            },
        )?;
        c.draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
            .map_err(err)?;
        stage_marks(&mut c, &s.stage_starts_s, y1)?;
        if pts.len() <= 60 {
            c.draw_series(pts.iter().map(|p| Circle::new(*p, 3, color.filled())))
                .map_err(err)?;
        }
    }
    Ok(())
}

/// Dashed grey lines where each stage of a load over time began.
fn stage_marks<DB: DrawingBackend>(
    c: &mut ChartContext<
        '_,
        DB,
        Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
    starts: &[f64],
    y1: f64,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    for &x in starts {
        c.draw_series(DashedLineSeries::new([(x, 0.0), (x, y1)], 6, 4, GREY_.stroke_width(1)))
            .map_err(err)?;
    }
    Ok(())
}

pub(super) fn draw_scatter<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, s: &Series) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (x0, x1) = range(s.points.iter().map(|p| p.sent_s), true);
    let (_, y1) = range(s.points.iter().flat_map(|p| [p.e2e_ms, p.ttft_ms]).flatten(), true);
    let shown = if (s.points.len() as u64) < s.requests {
        format!("{} of {} requests", s.points.len(), s.requests)
    } else {
        format!("{} requests", s.points.len())
    };
    let mut c = ChartBuilder::on(root)
        .caption(
            format!("Each request's latency by the time it was sent ({shown})"),
            font(19),
        )
        .margin(12)
        .x_label_area_size(50)
        .y_label_area_size(80)
        .build_cartesian_2d(x0..x1, 0.0..y1)
        .map_err(err)?;
    c.configure_mesh()
        .x_desc("request sent at (s since start)")
        .y_desc("latency (ms)")
        .axis_desc_style(font(18))
        .label_style(font(15))
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| tick(*v))
        .max_light_lines(2)
        .draw()
        .map_err(err)?;
    c.draw_series(
        s.points
            .iter()
            .filter_map(|p| Some(Circle::new((p.sent_s, p.e2e_ms?), 3, BLUE_.mix(0.7).filled()))),
    )
    .map_err(err)?
    .label("E2E")
    .legend(|(x, y)| Circle::new((x + 6, y), 4, BLUE_.filled()));
    if s.points.iter().any(|p| p.ttft_ms.is_some()) {
        c.draw_series(
            s.points
                .iter()
                .filter_map(|p| Some(Circle::new((p.sent_s, p.ttft_ms?), 3, ORANGE_.mix(0.7).filled()))),
        )
        .map_err(err)?
        .label("TTFT")
        .legend(|(x, y)| Circle::new((x + 6, y), 4, ORANGE_.filled()));
    }
    legend(&mut c, SeriesLabelPosition::UpperLeft, 15)
}

/// The monitor's resource panels: (caption, y unit, lines).
pub(super) fn resource_lines(m: &crate::monitor::MonitorReport) -> Vec<(&'static str, Vec<Line>, &'static str)> {
    use crate::monitor::Role;
    const PALETTE: [RGBColor; 8] = [BLUE_, ORANGE_, GREEN_, RED_, PURPLE_, TEAL_, GREY_, BLACK_];
    let pick = |roles: &[Role]| -> Vec<Line> {
        m.series
            .iter()
            .filter(|s| s.role.is_some_and(|r| roles.contains(&r)) && !s.points.is_empty())
            .enumerate()
            .map(|(i, s)| {
                let label = match s.role {
                    Some(Role::HostCpu) => "host CPU".to_string(),
                    _ => s.name.split('{').next().unwrap_or(&s.name).to_string(),
                };
                (
                    label,
                    PALETTE[i % PALETTE.len()],
                    s.points.iter().map(|p| (p[0], p[1])).collect(),
                )
            })
            .collect()
    };
    vec![
        (
            "Utilisation: GPU, GPU memory, KV cache, host CPU",
            pick(&[Role::GpuUtil, Role::GpuMemory, Role::KvCache, Role::HostCpu]),
            "percent",
        ),
        (
            "Server requests running and waiting",
            pick(&[Role::ServerRunning, Role::ServerWaiting]),
            "requests",
        ),
    ]
}

/// Output tokens per second (the run's own buckets; else the server's
/// generation-token rate) on top, the monitor's panels below, on one time axis.
pub(super) fn draw_resources<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    series: Option<&Series>,
    m: &crate::monitor::MonitorReport,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let throughput: Option<(&str, Vec<(f64, f64)>)> = match series {
        Some(s) => {
            let iv = s.interval_s.max(f64::MIN_POSITIVE);
            let width = |b: &crate::doc::series::Bucket| (s.end_s.max(b.t_s) - b.t_s).clamp(iv.min(0.05), iv);
            Some((
                "Output tokens per second (client)",
                s.buckets
                    .iter()
                    .map(|b| (b.t_s + iv / 2.0, b.output_tokens as f64 / width(b)))
                    .collect(),
            ))
        }
        None => m
            .series
            .iter()
            .find(|s| s.unit == "/s" && s.name.contains("generation_tokens"))
            .map(|s| {
                (
                    "Generated tokens per second (server)",
                    s.points.iter().map(|p| (p[0], p[1])).collect(),
                )
            }),
    };
    let mut panels: Vec<(&str, Vec<Line>, &str)> = Vec::new();
    if let Some((caption, pts)) = throughput {
        panels.push((caption, vec![("tok/s".to_string(), ORANGE_, pts)], "tok/s"));
    }
    panels.extend(resource_lines(m).into_iter().filter(|p| !p.1.is_empty()));
    let end = panels
        .iter()
        .flat_map(|p| p.1.iter().flat_map(|l| l.2.iter().map(|q| q.0)))
        .fold(series.map_or(0.0, |s| s.end_s), f64::max)
        .max(1.0);
    let areas = root.split_evenly((panels.len().max(1), 1));
    for (area, (caption, lines, unit)) in areas.iter().zip(panels) {
        let mut y1 = range(lines.iter().flat_map(|l| l.2.iter().map(|p| p.1)), true).1;
        if unit == "percent" {
            y1 = y1.max(100.0);
        }
        let mut c = xy_chart(
            area,
            Axes {
                caption: caption.to_string(),
                x: 0.0..end,
                y: 0.0..y1,
                x_desc: "time since start (s)",
                y_desc: unit,
            },
        )?;
        let labelled = lines.len() > 1;
        for (name, color, pts) in lines {
            let drawn = c
                .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
                .map_err(err)?;
            if labelled {
                drawn
                    .label(name)
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
            }
        }
        if labelled {
            legend(&mut c, SeriesLabelPosition::UpperRight, 14)?;
        }
    }
    Ok(())
}

/// Two panels, request throughput and mean TTFT (mean E2E without a
/// stream): each repeat's figure as a point at x = its number, and at
/// x = N + 1 the mean with its 95 % interval as an error bar.
pub(super) fn draw_repeats<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, d: &crate::doc::RunDocument) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let n = d.repeats.len();
    if n == 0 {
        return empty(root, "no repeats (run with --repeats N)");
    }
    let latency = if d.repeats.iter().all(|r| r.figures.contains_key("mean_ttft_ms")) {
        ("mean_ttft_ms", "Mean TTFT", "ms")
    } else {
        ("mean_e2e_ms", "Mean E2E latency", "ms")
    };
    let (a, b) = root.split_horizontally(root.dim_in_pixel().0 / 2);
    for (area, (name, caption, unit), color) in [
        (&a, ("request_throughput", "Request throughput", "req/s"), BLUE_),
        (&b, latency, ORANGE_),
    ] {
        let points: Vec<(f64, f64)> = d
            .repeats
            .iter()
            .filter_map(|r| Some((f64::from(r.repeat), *r.figures.get(name)?)))
            .collect();
        let interval = d.confidence.as_ref().and_then(|c| c.get(name)).copied();
        if points.is_empty() {
            empty(area, &format!("{caption}: not measured"))?;
            continue;
        }
        let (_, y1) = range(points.iter().map(|p| p.1).chain(interval.map(|i| i.high)), true);
        let mean_x = n as f64 + 1.0;
        let mut c = xy_chart(
            area,
            Axes {
                caption: caption.to_string(),
                x: 0.5..mean_x + 0.5,
                y: 0.0..y1,
                x_desc: "repeat (last: the mean)",
                y_desc: unit,
            },
        )?;
        c.draw_series(points.iter().map(|p| Circle::new(*p, 5, color.filled())))
            .map_err(err)?
            .label("each repeat")
            .legend(move |(x, y)| Circle::new((x + 10, y), 5, color.filled()));
        if let Some(i) = interval {
            let style = BLACK_.stroke_width(2);
            c.draw_series(std::iter::once(PathElement::new(
                [(mean_x, i.low), (mean_x, i.high)],
                style,
            )))
            .map_err(err)?
            .label(format!(
                "mean {} (95 % CI {}–{})",
                tick(i.mean),
                tick(i.low),
                tick(i.high)
            ))
            .legend(move |(x, y)| PathElement::new([(x + 10, y - 6), (x + 10, y + 6)], style));
            for y in [i.low, i.high] {
                c.draw_series(std::iter::once(
                    EmptyElement::at((mean_x, y)) + PathElement::new([(-6, 0), (6, 0)], style),
                ))
                .map_err(err)?;
            }
            c.draw_series(std::iter::once(Circle::new((mean_x, i.mean), 5, BLACK_.filled())))
                .map_err(err)?;
        }
        legend(&mut c, SeriesLabelPosition::LowerRight, 15)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_resource_chart_draws_under_the_throughput_curve() {
        let m = crate::monitor::example_report();
        let lines = resource_lines(&m);
        assert_eq!(lines[0].1.len(), 4, "GPU util, GPU memory, KV cache, host CPU");
        assert_eq!(lines[1].1.len(), 1, "waiting");
        let chart = Chart {
            name: "resources",
            caption: "Resource use",
            title: "Resource use".into(),
            size: (800, 600),
            kind: Kind::Resources {
                series: None,
                monitor: &m,
            },
        };
        let svg = chart.svg().unwrap();
        assert!(
            svg.contains("Generated tokens per second (server)"),
            "falls back to the server's rate"
        );
        assert!(svg.contains("vllm:kv_cache_usage_perc"));
        assert!(chart.png().unwrap().starts_with(b"\x89PNG"));
    }
}
