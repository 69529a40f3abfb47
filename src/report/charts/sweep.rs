//! The charts of a sweep: throughput, efficiency and latency percentiles
//! by load level, with the maximum stable and recommended levels marked.

use plotters::coord::Shift;
use plotters::prelude::*;

use super::common::*;
use super::{Chart, DrawResult, Kind};
use crate::doc::SweepDocument;

/// The charts of a sweep.
pub fn sweep_charts(doc: &SweepDocument) -> Vec<Chart<'_>> {
    let t = doc.title();
    let mut charts = vec![
        Chart {
            name: "sweep_throughput",
            caption: "Throughput by load",
            title: format!("Throughput — {t}"),
            size: (1200, 520),
            kind: Kind::SweepThroughput(doc),
        },
        Chart {
            name: "sweep_efficiency",
            caption: "Efficiency by load",
            title: format!("Efficiency — {t}"),
            size: (1200, 520),
            kind: Kind::SweepEfficiency(doc),
        },
        Chart {
            name: "sweep_latency",
            caption: "Latency percentiles by load",
            title: format!("Latency percentiles — {t}"),
            size: (1200, 1100),
            kind: Kind::SweepLatency(doc),
        },
    ];
    if doc.settings_sweep.is_some() {
        charts.insert(
            0,
            Chart {
                name: "sweep_settings",
                caption: "Throughput by load for each setting",
                title: format!("Settings — {t}"),
                size: (1200, 560),
                kind: Kind::SweepSettings(doc),
            },
        );
    }
    charts
}

/// A sweep over settings: request throughput by load level, one line per
/// setting (the best in bold), so where each setting saturates shows.
pub(super) fn draw_settings<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, d: &SweepDocument) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let Some(s) = &d.settings_sweep else {
        return empty(root, "not a sweep over settings");
    };
    let colors = [BLUE_, ORANGE_, GREEN_, RED_, PURPLE_, TEAL_, BLACK_];
    // One level per setting (a table over the setting): x is the setting.
    let by_setting = s.settings.iter().all(|r| r.levels.len() <= 1);
    // (label, points, best)
    type SettingLine = (String, Vec<(f64, f64)>, bool);
    let lines: Vec<SettingLine> = s
        .settings
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut pts: Vec<(f64, f64)> = r
                .levels
                .iter()
                .filter_map(|l| {
                    let x = if by_setting {
                        Some((i + 1) as f64)
                    } else {
                        l.concurrency.map(|c| c as f64).filter(|_| l.rate.is_none()).or(l.rate)
                    };
                    Some((x?, l.request_throughput))
                })
                .collect();
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            (r.label.clone(), pts, s.best == Some(i))
        })
        .collect();
    if lines.iter().all(|l| l.1.is_empty()) {
        return empty(root, "no measured levels");
    }
    let (x0, x1) = range(lines.iter().flat_map(|l| l.1.iter().map(|p| p.0)), true);
    let (_, y1) = range(lines.iter().flat_map(|l| l.1.iter().map(|p| p.1)), true);
    let x_desc = if by_setting {
        "setting (in the order measured)"
    } else if d.rate_axis() {
        "target rate (req/s)"
    } else {
        "concurrency (requests in flight)"
    };
    let mut c = xy_chart(
        root,
        Axes {
            caption: "Request throughput by setting".into(),
            x: x0..x1,
            y: 0.0..y1,
            x_desc,
            y_desc: "successful req/s",
        },
    )?;
    for (i, (label, pts, best)) in lines.into_iter().enumerate() {
        let color = colors[i % colors.len()];
        let width = if best { 4 } else { 2 };
        let name = if best { format!("{label} (best)") } else { label };
        c.draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(width)))
            .map_err(err)?
            .label(name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(width)));
        c.draw_series(pts.iter().map(|q| Circle::new(*q, 5, color.filled())))
            .map_err(err)?;
    }
    legend(&mut c, SeriesLabelPosition::UpperLeft, 15)?;
    Ok(())
}

/// An error bar: x, low, high.
type Bar = (f64, f64, f64);

#[derive(Clone, Copy)]
pub(super) enum SweepChart {
    Throughput,
    Efficiency,
    Latency,
}

pub(super) fn draw_sweep<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    d: &SweepDocument,
    which: SweepChart,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let mut levels: Vec<(f64, &crate::doc::sweep::Level)> =
        d.levels.iter().filter_map(|l| Some((d.x_of(l)?, l))).collect();
    levels.sort_by(|a, b| a.0.total_cmp(&b.0));
    if levels.is_empty() {
        return empty(root, "no measured levels");
    }
    if levels.iter().all(|(_, l)| l.summary.successful == 0) {
        return empty(root, NO_SUCCESS);
    }
    let x_desc = if d.rate_axis() {
        "target rate (req/s)"
    } else {
        "concurrency (requests in flight)"
    };
    let pts = |f: &dyn Fn(&crate::doc::sweep::Level) -> Option<f64>| -> Vec<(f64, f64)> {
        levels.iter().filter_map(|(x, l)| Some((*x, f(l)?))).collect()
    };
    // Error bars: each level's 95 % interval of a figure, where it has one.
    let bars = |name: &str| -> Vec<Bar> {
        levels
            .iter()
            .filter_map(|(x, l)| l.interval(name).map(|i| (*x, i.low, i.high)))
            .collect()
    };
    let no_bars = Vec::new;
    let panels: Vec<(String, String, Vec<Line>, Vec<Bar>)> = match which {
        SweepChart::Throughput => vec![
            (
                "Request throughput".into(),
                "successful req/s".into(),
                vec![("req/s".into(), BLUE_, pts(&|l| Some(l.request_throughput)))],
                bars("request_throughput"),
            ),
            (
                "Output token throughput".into(),
                "output tok/s".into(),
                vec![("output tok/s".into(), ORANGE_, pts(&|l| Some(l.output_throughput)))],
                bars("output_throughput"),
            ),
        ],
        SweepChart::Efficiency => vec![(
            "Efficiency: request throughput per unit of concurrency".into(),
            "req/s per concurrency".into(),
            vec![("req/s / concurrency".into(), PURPLE_, pts(&|l| Some(l.efficiency)))],
            no_bars(),
        )],
        SweepChart::Latency => [("TTFT", 0usize), ("TPOT", 1), ("E2E", 2)]
            .into_iter()
            .map(|(name, i)| {
                let get = move |l: &crate::doc::sweep::Level| match i {
                    0 => l.summary.ttft_ms.clone(),
                    1 => l.summary.tpot_ms.clone(),
                    _ => l.summary.e2e_ms.clone(),
                };
                let lines = vec![
                    ("p50".to_string(), GREEN_, pts(&|l| get(l).map(|s| s.p50))),
                    ("p90".to_string(), ORANGE_, pts(&|l| get(l).map(|s| s.p90))),
                    ("p99".to_string(), RED_, pts(&|l| get(l).map(|s| s.p99))),
                ];
                (format!("{name} percentiles"), format!("{name} (ms)"), lines, no_bars())
            })
            .collect(),
    };
    let areas = match panels.len() {
        1 => vec![root.clone()],
        2 => {
            let (a, b) = root.split_horizontally(root.dim_in_pixel().0 / 2);
            vec![a, b]
        }
        n => root.split_evenly((n, 1)),
    };
    let (max_x, rec_x) = d.marks();
    let knee_x = d.knee_x();
    let xs = levels.iter().map(|l| l.0).chain(max_x).chain(rec_x).chain(knee_x);
    let (x0, x1) = range(xs, true);
    for (area, (caption, y_desc, lines, bars)) in areas.iter().zip(panels) {
        if lines.iter().all(|l| l.2.is_empty()) {
            empty(area, &format!("{caption}: not measured"))?;
            continue;
        }
        let (_, y1) = range(
            lines
                .iter()
                .flat_map(|l| l.2.iter().map(|p| p.1))
                .chain(bars.iter().map(|b| b.2)),
            true,
        );
        let mut c = xy_chart(
            area,
            Axes {
                caption,
                x: x0..x1,
                y: 0.0..y1,
                x_desc,
                y_desc: y_desc.as_str(),
            },
        )?;
        for (name, color, p) in lines {
            c.draw_series(LineSeries::new(p.iter().copied(), color.stroke_width(2)))
                .map_err(err)?
                .label(name)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
            c.draw_series(p.iter().map(|q| Circle::new(*q, 4, color.filled())))
                .map_err(err)?;
        }
        if !bars.is_empty() {
            // A whisker from low to high with a cap at each end (caps in pixels).
            let style = BLACK_.stroke_width(2);
            c.draw_series(
                bars.iter()
                    .map(|&(x, lo, hi)| PathElement::new([(x, lo), (x, hi)], style)),
            )
            .map_err(err)?
            .label("95 % CI")
            .legend(move |(a, b)| PathElement::new([(a + 10, b - 6), (a + 10, b + 6)], style));
            for &(x, lo, hi) in &bars {
                for y in [lo, hi] {
                    c.draw_series(std::iter::once(
                        EmptyElement::at((x, y)) + PathElement::new([(-5, 0), (5, 0)], style),
                    ))
                    .map_err(err)?;
                }
            }
        }
        for (label, x, color) in [
            ("maximum stable", max_x, BLACK_),
            ("recommended", rec_x, TEAL_),
            ("best efficiency (knee)", knee_x, GREEN_),
        ] {
            if let Some(x) = x {
                c.draw_series(DashedLineSeries::new([(x, 0.0), (x, y1)], 8, 6, color.stroke_width(2)))
                    .map_err(err)?
                    .label(format!("{label}: {}", tick(x)))
                    .legend(move |(a, b)| PathElement::new([(a, b), (a + 20, b)], color.stroke_width(2)));
            }
        }
        legend(&mut c, SeriesLabelPosition::UpperLeft, 15)?;
    }
    Ok(())
}
