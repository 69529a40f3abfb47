//! Charts drawn with plotters, as PNG (bitmap backend, encoded with the
//! `png` crate) and SVG, from a [`Document`](super::Document).
//!
//! Text in bitmaps is drawn with DejaVu Sans, embedded in the binary
//! (`fonts/`, Bitstream Vera license): no system font is read at run time.
//! SVG text names the generic `sans-serif` family and the viewer picks it.
//!
//! Every chart draws on any input: a chart without data draws its title and
//! a sentence saying why (`no successful requests`), never an empty frame
//! or a panic; ranges are padded so one level, one request or identical
//! values still give a readable axis.

use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::stats::LatencyStats;

use crate::doc::series::{Distribution, Series};
use crate::doc::{CompareDocument, SweepDocument};
use crate::export::RunReport;

const FONT: &str = "sans-serif";
static FONT_BYTES: &[u8] = include_bytes!("fonts/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

fn register_font() {
    REGISTER.call_once(|| {
        for style in [FontStyle::Normal, FontStyle::Bold] {
            // The font is compiled in and known good; a failure would only
            // leave bitmap text undrawn, which the tests would catch.
            let _ = plotters::style::register_font(FONT, style, FONT_BYTES);
        }
    });
}

/// Text shown when there is nothing to draw.
pub const NO_SUCCESS: &str = "no successful requests";

const BLUE_: RGBColor = RGBColor(31, 119, 180);
const ORANGE_: RGBColor = RGBColor(255, 127, 14);
const GREEN_: RGBColor = RGBColor(44, 160, 44);
const RED_: RGBColor = RGBColor(214, 39, 40);
const PURPLE_: RGBColor = RGBColor(148, 103, 189);
const GREY_: RGBColor = RGBColor(110, 110, 110);
const BLACK_: RGBColor = RGBColor(25, 25, 25);
const TEAL_: RGBColor = RGBColor(23, 190, 207);

/// What one chart draws.
#[derive(Debug, Clone)]
enum Kind<'a> {
    /// Histogram and CDF of one latency, p50/p90/p99 marked.
    Dist {
        label: &'static str,
        dist: Option<&'a Distribution>,
        stats: Option<&'a LatencyStats>,
        why_empty: String,
    },
    /// Request and token throughput and requests in flight over time.
    Timeline {
        series: Option<&'a Series>,
        why_empty: String,
    },
    /// Each request's E2E and TTFT against its start.
    Scatter {
        series: Option<&'a Series>,
        why_empty: String,
    },
    /// Resource use over time (monitor series) under the throughput curve.
    Resources {
        series: Option<&'a Series>,
        monitor: &'a crate::monitor::MonitorReport,
    },
    SweepThroughput(&'a SweepDocument),
    SweepEfficiency(&'a SweepDocument),
    SweepLatency(&'a SweepDocument),
    /// Each strategy's normalised scores on a radar (comparisons).
    CompareRadar(&'a CompareDocument),
    /// Throughput and latency per strategy, as grouped bars (comparisons).
    CompareBars(&'a CompareDocument),
}

/// One chart: a file stem, a caption and what it draws.
#[derive(Debug, Clone)]
pub struct Chart<'a> {
    /// File stem (`ttft` → `ttft.png`, `ttft.svg`).
    pub name: &'static str,
    /// Heading: what the chart shows.
    pub caption: &'static str,
    /// Title line drawn on the chart: the caption and the target.
    pub title: String,
    pub size: (u32, u32),
    kind: Kind<'a>,
}

type DrawResult = Result<(), String>;

fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

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

/// The charts of a sweep.
pub fn sweep_charts(doc: &SweepDocument) -> Vec<Chart<'_>> {
    let t = doc.title();
    vec![
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
    ]
}

impl Chart<'_> {
    /// The chart as a PNG file's bytes.
    pub fn png(&self) -> Result<Vec<u8>, String> {
        register_font();
        let (w, h) = self.size;
        let mut buf = vec![0u8; w as usize * h as usize * 3];
        {
            let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
            self.draw(&root)?;
            root.present().map_err(err)?;
        }
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(err)?;
        writer.write_image_data(&buf).map_err(err)?;
        writer.finish().map_err(err)?;
        Ok(out)
    }

    /// The chart as an SVG document.
    pub fn svg(&self) -> Result<String, String> {
        register_font();
        let mut out = String::new();
        {
            let root = SVGBackend::with_string(&mut out, self.size).into_drawing_area();
            self.draw(&root)?;
            root.present().map_err(err)?;
        }
        Ok(out)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        root.fill(&WHITE).map_err(err)?;
        let root = root
            .titled(&self.title, (FONT, 26).into_font().style(FontStyle::Bold))
            .map_err(err)?;
        match &self.kind {
            Kind::Dist {
                label,
                dist,
                stats,
                why_empty,
            } => match (dist, stats) {
                (_, None) => empty(&root, why_empty),
                (dist, Some(stats)) => draw_dist(&root, label, *dist, stats),
            },
            Kind::Timeline { series, why_empty } => match series {
                Some(s) => draw_timeline(&root, s),
                None => empty(&root, why_empty),
            },
            Kind::Scatter { series, why_empty } => match series {
                Some(s) => draw_scatter(&root, s),
                None => empty(&root, why_empty),
            },
            Kind::Resources { series, monitor } => draw_resources(&root, *series, monitor),
            Kind::SweepThroughput(d) => draw_sweep(&root, d, SweepChart::Throughput),
            Kind::SweepEfficiency(d) => draw_sweep(&root, d, SweepChart::Efficiency),
            Kind::SweepLatency(d) => draw_sweep(&root, d, SweepChart::Latency),
            Kind::CompareRadar(d) => draw_radar(&root, d),
            Kind::CompareBars(d) => draw_bars(&root, d),
        }
    }
}

fn font(size: u32) -> TextStyle<'static> {
    (FONT, size).into_font().into()
}

fn empty<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, why: &str) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (w, h) = root.dim_in_pixel();
    let style = font(30).color(&GREY_).pos(plotters::style::text_anchor::Pos::new(
        plotters::style::text_anchor::HPos::Center,
        plotters::style::text_anchor::VPos::Center,
    ));
    root.draw(&Text::new(why.to_string(), (w as i32 / 2, h as i32 / 2), style))
        .map_err(err)
}

/// A padded, non-empty range over `values` (and `0` when `from_zero`).
fn range(values: impl IntoIterator<Item = f64>, from_zero: bool) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for v in values.into_iter().filter(|v| v.is_finite()) {
        lo = lo.min(v);
        hi = hi.max(v);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if from_zero {
        lo = lo.min(0.0);
    }
    if hi - lo <= f64::EPSILON * hi.abs().max(1.0) {
        let pad = (hi.abs() * 0.1).max(1.0);
        return ((lo - pad).max(if from_zero { 0.0 } else { f64::MIN }), hi + pad);
    }
    let pad = (hi - lo) * 0.06;
    (if from_zero && lo >= 0.0 { lo } else { lo - pad }, hi + pad)
}

/// An axis tick: at most three decimals, trailing zeros dropped.
fn tick(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

fn fmt_num(v: f64) -> String {
    let a = v.abs();
    if a == 0.0 {
        "0".into()
    } else if a >= 1000.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 0.1 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

fn pct_marks(stats: &LatencyStats) -> [(&'static str, f64, RGBColor); 3] {
    [
        ("p50", stats.p50, GREEN_),
        ("p90", stats.p90, ORANGE_),
        ("p99", stats.p99, RED_),
    ]
}

fn draw_dist<DB: DrawingBackend>(
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
            c.configure_series_labels()
                .position(SeriesLabelPosition::UpperRight)
                .background_style(WHITE.mix(0.85))
                .border_style(GREY_)
                .label_font(font(15))
                .draw()
                .map_err(err)?;
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
    c.configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(GREY_)
        .label_font(font(15))
        .draw()
        .map_err(err)
}

fn draw_timeline<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, s: &Series) -> DrawResult
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
        let mut c = ChartBuilder::on(area)
            .caption(format!("{caption}{per_s}"), font(19))
            .margin(10)
            .x_label_area_size(45)
            .y_label_area_size(80)
            .build_cartesian_2d(0.0..end, 0.0..y1)
            .map_err(err)?;
        c.configure_mesh()
            .x_desc("time since start (s)")
            .y_desc(unit)
            .axis_desc_style(font(17))
            .label_style(font(15))
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick(*v))
            .max_light_lines(2)
            .draw()
            .map_err(err)?;
        c.draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
            .map_err(err)?;
        if pts.len() <= 60 {
            c.draw_series(pts.iter().map(|p| Circle::new(*p, 3, color.filled())))
                .map_err(err)?;
        }
    }
    Ok(())
}

fn draw_scatter<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, s: &Series) -> DrawResult
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
    c.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(GREY_)
        .label_font(font(15))
        .draw()
        .map_err(err)
}

#[derive(Clone, Copy)]
enum SweepChart {
    Throughput,
    Efficiency,
    Latency,
}

type Line = (String, RGBColor, Vec<(f64, f64)>);
/// Caption, unit, colour and points of one timeline panel.
type Panel = (&'static str, &'static str, RGBColor, Vec<(f64, f64)>);

fn draw_sweep<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, d: &SweepDocument, which: SweepChart) -> DrawResult
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
    let panels: Vec<(String, String, Vec<Line>)> = match which {
        SweepChart::Throughput => vec![
            (
                "Request throughput".into(),
                "successful req/s".into(),
                vec![("req/s".into(), BLUE_, pts(&|l| Some(l.request_throughput)))],
            ),
            (
                "Output token throughput".into(),
                "output tok/s".into(),
                vec![("output tok/s".into(), ORANGE_, pts(&|l| Some(l.output_throughput)))],
            ),
        ],
        SweepChart::Efficiency => vec![(
            "Efficiency: request throughput per unit of concurrency".into(),
            "req/s per concurrency".into(),
            vec![("req/s / concurrency".into(), PURPLE_, pts(&|l| Some(l.efficiency)))],
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
                (format!("{name} percentiles"), format!("{name} (ms)"), lines)
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
    let xs = levels.iter().map(|l| l.0).chain(max_x).chain(rec_x);
    let (x0, x1) = range(xs, true);
    for (area, (caption, y_desc, lines)) in areas.iter().zip(panels) {
        if lines.iter().all(|l| l.2.is_empty()) {
            empty(area, &format!("{caption}: not measured"))?;
            continue;
        }
        let (_, y1) = range(lines.iter().flat_map(|l| l.2.iter().map(|p| p.1)), true);
        let mut c = ChartBuilder::on(area)
            .caption(caption, font(19))
            .margin(12)
            .x_label_area_size(50)
            .y_label_area_size(80)
            .build_cartesian_2d(x0..x1, 0.0..y1)
            .map_err(err)?;
        c.configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc.as_str())
            .axis_desc_style(font(17))
            .label_style(font(15))
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick(*v))
            .max_light_lines(2)
            .draw()
            .map_err(err)?;
        for (name, color, p) in lines {
            c.draw_series(LineSeries::new(p.iter().copied(), color.stroke_width(2)))
                .map_err(err)?
                .label(name)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
            c.draw_series(p.iter().map(|q| Circle::new(*q, 4, color.filled())))
                .map_err(err)?;
        }
        for (label, x, color) in [("maximum stable", max_x, BLACK_), ("recommended", rec_x, TEAL_)] {
            if let Some(x) = x {
                c.draw_series(DashedLineSeries::new([(x, 0.0), (x, y1)], 8, 6, color.stroke_width(2)))
                    .map_err(err)?
                    .label(format!("{label}: {}", tick(x)))
                    .legend(move |(a, b)| PathElement::new([(a, b), (a + 20, b)], color.stroke_width(2)));
            }
        }
        c.configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(GREY_)
            .label_font(font(15))
            .draw()
            .map_err(err)?;
    }
    Ok(())
}

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

fn draw_radar<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, d: &CompareDocument) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let (axes, rows) = super::compare::radar(d);
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
    c.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(GREY_)
        .label_font(font(17))
        .draw()
        .map_err(err)
}

fn draw_bars<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, d: &CompareDocument) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let s = &d.strategies;
    if s.is_empty() || s.iter().all(|x| x.runs.is_empty()) {
        return empty(root, "no strategy was measured");
    }
    let images = s.iter().any(|x| x.images_per_s.is_some());
    let mut tp_series: Vec<(String, Vec<f64>)> =
        vec![("req/s".into(), s.iter().map(|x| x.request_throughput).collect())];
    if images {
        tp_series.push((
            "images/s".into(),
            s.iter().map(|x| x.images_per_s.unwrap_or(0.0)).collect(),
        ));
    }
    let mut lat_series: Vec<(String, Vec<f64>)> = vec![
        (
            "mean".into(),
            s.iter().map(|x| x.latency_mean_ms.unwrap_or(0.0)).collect(),
        ),
        (
            "p95".into(),
            s.iter().map(|x| x.latency_p95_ms.unwrap_or(0.0)).collect(),
        ),
        (
            "p99".into(),
            s.iter().map(|x| x.latency_p99_ms.unwrap_or(0.0)).collect(),
        ),
    ];
    if s.iter().any(|x| x.submit_mean_ms.is_some()) {
        lat_series.push((
            "submit mean".into(),
            s.iter().map(|x| x.submit_mean_ms.unwrap_or(0.0)).collect(),
        ));
    }
    let (left, right) = root.split_horizontally(root.dim_in_pixel().0 / 2);
    let names: Vec<&str> = s.iter().map(|x| x.name.as_str()).collect();
    grouped(&left, "Throughput", "per second", &names, &tp_series)?;
    grouped(&right, "Response time", "ms", &names, &lat_series)
}

/// Bars of several series side by side in one group per strategy.
fn grouped<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    caption: &str,
    unit: &str,
    names: &[&str],
    series: &[(String, Vec<f64>)],
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    let n = names.len();
    let (_, y1) = range(series.iter().flat_map(|s| s.1.iter().copied()), true);
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
    for (j, (label, values)) in series.iter().enumerate() {
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
            Text::new(fmt_num(*v), (x, *v + y1 * 0.01), style)
        }))
        .map_err(err)?;
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
    c.configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(GREY_)
        .label_font(font(15))
        .draw()
        .map_err(err)
}

/// The monitor's resource panels: (caption, y unit, lines).
fn resource_lines(m: &crate::monitor::MonitorReport) -> Vec<(&'static str, Vec<Line>, &'static str)> {
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
fn draw_resources<DB: DrawingBackend>(
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
        let mut c = ChartBuilder::on(area)
            .caption(caption, font(19))
            .margin(10)
            .x_label_area_size(45)
            .y_label_area_size(80)
            .build_cartesian_2d(0.0..end, 0.0..y1)
            .map_err(err)?;
        c.configure_mesh()
            .x_desc("time since start (s)")
            .y_desc(unit)
            .axis_desc_style(font(17))
            .label_style(font(15))
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick(*v))
            .max_light_lines(2)
            .draw()
            .map_err(err)?;
        let legend = lines.len() > 1;
        for (name, color, pts) in lines {
            let drawn = c
                .draw_series(LineSeries::new(pts.iter().copied(), color.stroke_width(2)))
                .map_err(err)?;
            if legend {
                drawn
                    .label(name)
                    .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], color.stroke_width(2)));
            }
        }
        if legend {
            c.configure_series_labels()
                .background_style(WHITE.mix(0.85))
                .border_style(GREY_)
                .label_font(font(14))
                .position(SeriesLabelPosition::UpperRight)
                .draw()
                .map_err(err)?;
        }
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

    #[test]
    fn ranges_are_never_empty() {
        assert_eq!(range([], true), (0.0, 1.0));
        let (a, b) = range([5.0], true);
        assert!(a < 5.0 && b > 5.0 && a >= 0.0);
        let (a, b) = range([3.0, 3.0], false);
        assert!(a < 3.0 && b > 3.0);
        assert_eq!(range([f64::NAN, f64::INFINITY], true), (0.0, 1.0));
    }
}
