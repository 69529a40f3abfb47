//! The charts of a comparison: a radar of each strategy's normalised
//! scores, and grouped bars of throughput and latency per strategy (with
//! error bars: the 95 % interval over its runs, where `--repeat` gave one).

use plotters::coord::Shift;
use plotters::prelude::*;

use super::common::*;
use super::{Chart, DrawResult, Kind};
use crate::doc::compare::{CompareDocument, StrategyResult};

/// The charts of a comparison.
pub fn compare_charts(doc: &CompareDocument) -> Vec<Chart<'_>> {
    let t = doc.title();
    vec![
        Chart {
            name: "compare_radar",
            caption: "Strategies on every score (radar)",
            title: format!("Scores — {t}"),
            size: (1000, 900),
            kind: Kind::CompareRadar(doc),
        },
        Chart {
            name: "compare_bars",
            caption: "Throughput and latency by strategy",
            title: format!("Performance — {t}"),
            size: (1400, 620),
            kind: Kind::CompareBars(doc),
        },
    ]
}

const PALETTE: [RGBColor; 6] = [BLUE_, ORANGE_, GREEN_, RED_, PURPLE_, TEAL_];

pub(super) fn draw_radar<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, d: &CompareDocument) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (axes, rows) = radar(d);
    if rows.is_empty() {
        return empty(root, "no strategy was measured");
    }
    let n = axes.len();
    let angle = |i: usize| std::f64::consts::FRAC_PI_2 - i as f64 * std::f64::consts::TAU / n as f64;
    let at = |i: usize, r: f64| (r * angle(i).cos(), r * angle(i).sin());
    let mut c = ChartBuilder::on(root)
        .margin(30)
        .build_cartesian_2d(-1.6..1.6, -1.3..1.3)
        .map_err(err)?;
    // Rings at 0.25 … 1 and one spoke per axis, labelled.
    for ring in [0.25, 0.5, 0.75, 1.0] {
        let pts: Vec<(f64, f64)> = (0..=n).map(|i| at(i % n, ring)).collect();
        c.draw_series(LineSeries::new(pts, GREY_.mix(0.35).stroke_width(1)))
            .map_err(err)?;
    }
    for (i, name) in axes.iter().enumerate() {
        c.draw_series(LineSeries::new(
            [(0.0, 0.0), at(i, 1.0)],
            GREY_.mix(0.5).stroke_width(1),
        ))
        .map_err(err)?;
        let (x, y) = at(i, 1.08);
        use plotters::style::text_anchor::{HPos, Pos, VPos};
        let h = if x > 0.3 {
            HPos::Left
        } else if x < -0.3 {
            HPos::Right
        } else {
            HPos::Center
        };
        let v = if y > 0.3 {
            VPos::Bottom
        } else if y < -0.3 {
            VPos::Top
        } else {
            VPos::Center
        };
        let style = font(18).pos(Pos::new(h, v));
        c.draw_series(std::iter::once(Text::new(name.to_string(), (x, y), style)))
            .map_err(err)?;
    }
    for (k, (name, values)) in rows.iter().enumerate() {
        let color = PALETTE[k % PALETTE.len()];
        let pts: Vec<(f64, f64)> = values
            .iter()
            .enumerate()
            .map(|(i, v)| at(i, v.clamp(0.0, 1.0)))
            .collect();
        c.draw_series(std::iter::once(Polygon::new(pts.clone(), color.mix(0.15).filled())))
            .map_err(err)?;
        let mut outline = pts.clone();
        outline.extend(pts.first().copied());
        c.draw_series(LineSeries::new(outline, color.stroke_width(3)))
            .map_err(err)?
            .label(name.clone())
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(3)));
        c.draw_series(pts.iter().map(|p| Circle::new(*p, 4, color.filled())))
            .map_err(err)?;
    }
    legend(&mut c, SeriesLabelPosition::UpperLeft, 17)
}

pub(super) fn draw_bars<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, d: &CompareDocument) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let s = &d.strategies;
    if s.is_empty() || s.iter().all(|x| x.runs.is_empty()) {
        return empty(root, "no strategy was measured");
    }
    let images = s.iter().any(|x| x.images_per_s.is_some());
    // A bar's 95 % interval over the strategy's runs (`--repeat`), drawn
    // as an error bar; `None` where the figure has none.
    let ci = |name: &'static str| -> Vec<Option<(f64, f64)>> {
        s.iter()
            .map(|x| x.confidence.as_ref().and_then(|c| c.get(name)).map(|i| (i.low, i.high)))
            .collect()
    };
    let none = vec![None; s.len()];
    let mut tp_series: Vec<Bars> = vec![(
        "req/s".into(),
        s.iter().map(|x| x.request_throughput).collect(),
        ci("request_throughput"),
    )];
    if images {
        tp_series.push((
            "images/s".into(),
            s.iter().map(|x| x.images_per_s.unwrap_or(0.0)).collect(),
            ci("images_per_s"),
        ));
    }
    let mut lat_series: Vec<Bars> = vec![
        (
            "mean".into(),
            s.iter().map(|x| x.latency_mean_ms.unwrap_or(0.0)).collect(),
            ci("mean_e2e_ms"),
        ),
        (
            "p95".into(),
            s.iter().map(|x| x.latency_p95_ms.unwrap_or(0.0)).collect(),
            none.clone(),
        ),
        (
            "p99".into(),
            s.iter().map(|x| x.latency_p99_ms.unwrap_or(0.0)).collect(),
            none.clone(),
        ),
    ];
    if s.iter().any(|x| x.submit_mean_ms.is_some()) {
        lat_series.push((
            "submit mean".into(),
            s.iter().map(|x| x.submit_mean_ms.unwrap_or(0.0)).collect(),
            none,
        ));
    }
    let (left, right) = root.split_horizontally(root.dim_in_pixel().0 / 2);
    let names: Vec<&str> = s.iter().map(|x| x.name.as_str()).collect();
    grouped(&left, "Throughput", "per second", &names, &tp_series)?;
    grouped(&right, "Response time", "ms", &names, &lat_series)
}

/// One series of bars: its label, a value per strategy, and each value's
/// interval where known.
type Bars = (String, Vec<f64>, Vec<Option<(f64, f64)>>);

/// Bars of several series side by side in one group per strategy.
fn grouped<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    caption: &str,
    unit: &str,
    names: &[&str],
    series: &[Bars],
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let n = names.len();
    let (_, y1) = range(
        series
            .iter()
            .flat_map(|s| s.1.iter().copied().chain(s.2.iter().flatten().map(|b| b.1))),
        true,
    );
    let y1 = y1 * 1.1;
    let mut c = ChartBuilder::on(area)
        .caption(caption, font(20))
        .margin(14)
        .x_label_area_size(20)
        .y_label_area_size(80)
        .build_cartesian_2d(0.0..n as f64, 0.0..y1)
        .map_err(err)?;
    c.configure_mesh()
        .disable_x_mesh()
        .x_labels(0)
        .y_desc(unit)
        .axis_desc_style(font(17))
        .label_style(font(15))
        .y_label_formatter(&|v| tick(*v))
        .max_light_lines(2)
        .draw()
        .map_err(err)?;
    let k = series.len().max(1) as f64;
    let width = 0.8 / k;
    for (j, (label, values, bars)) in series.iter().enumerate() {
        let color = PALETTE[j % PALETTE.len()];
        c.draw_series(values.iter().enumerate().map(|(i, v)| {
            let x0 = i as f64 + 0.1 + j as f64 * width;
            Rectangle::new([(x0, 0.0), (x0 + width * 0.92, *v)], color.mix(0.85).filled())
        }))
        .map_err(err)?
        .label(label.clone())
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 14, y + 5)], color.filled()));
        c.draw_series(values.iter().enumerate().map(|(i, v)| {
            let x = i as f64 + 0.1 + (j as f64 + 0.5) * width;
            let style = font(13).pos(plotters::style::text_anchor::Pos::new(
                plotters::style::text_anchor::HPos::Center,
                plotters::style::text_anchor::VPos::Bottom,
            ));
            // Above the error bar's top where there is one, so the two
            // do not cross.
            let top = bars[i].map_or(*v, |b| b.1.max(*v));
            Text::new(fmt_num(*v), (x, top + y1 * 0.01), style)
        }))
        .map_err(err)?;
        for (i, b) in bars.iter().enumerate() {
            let Some((low, high)) = *b else { continue };
            let x = i as f64 + 0.1 + (j as f64 + 0.5) * width;
            let line = BLACK.stroke_width(2);
            c.draw_series(std::iter::once(PathElement::new([(x, low), (x, high)], line)))
                .map_err(err)?;
            for y in [low, high] {
                c.draw_series(std::iter::once(
                    EmptyElement::at((x, y)) + PathElement::new([(-5, 0), (5, 0)], line),
                ))
                .map_err(err)?;
            }
        }
    }
    // Strategy names at the top of each group (the x axis has no ticks).
    c.draw_series(names.iter().enumerate().map(|(i, name)| {
        let style = font(17).pos(plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Center,
            plotters::style::text_anchor::VPos::Top,
        ));
        Text::new(name.to_string(), (i as f64 + 0.5, y1 * 0.99), style)
    }))
    .map_err(err)?;
    legend(&mut c, SeriesLabelPosition::UpperRight, 15)
}

/// The axes of the radar: each strategy's normalised scores (0–1):
/// throughput, response time, success rate, GPU (when measured), and
/// the efficiency score.
pub fn radar(d: &CompareDocument) -> (Vec<&'static str>, Vec<(String, Vec<f64>)>) {
    let max_tp = d
        .strategies
        .iter()
        .map(StrategyResult::work_throughput)
        .fold(0.0, f64::max);
    let min_rt = d
        .strategies
        .iter()
        .filter_map(StrategyResult::response_ms)
        .filter(|r| *r > 0.0)
        .fold(f64::INFINITY, f64::min);
    let gpu = d.strategies.iter().all(|s| s.gpu_util_pct.is_some()) && !d.strategies.is_empty();
    let mut axes = vec!["throughput", "response time", "success rate"];
    if gpu {
        axes.push("GPU utilisation");
    }
    axes.push("efficiency score");
    let rows = d
        .strategies
        .iter()
        .map(|s| {
            let tp = if max_tp > 0.0 {
                s.work_throughput() / max_tp
            } else {
                0.0
            };
            let rt = match s.response_ms() {
                Some(r) if r > 0.0 && min_rt.is_finite() => min_rt / r,
                _ => 0.0,
            };
            let mut v = vec![tp, rt, s.success_rate];
            if gpu {
                v.push(s.gpu_util_pct.unwrap_or(0.0) / 100.0);
            }
            v.push(s.score);
            (s.name.clone(), v)
        })
        .collect();
    (axes, rows)
}
