//! Charts drawn with plotters, as PNG (bitmap backend, encoded with the
//! `png` crate) and SVG, from a [`Document`](super::Document): one file
//! per document kind ([`run`], [`sweep`], [`compare`]), what they share in
//! [`common`], and here the [`Chart`] type that renders any of them.
//!
//! Text in bitmaps is drawn with DejaVu Sans, embedded in the binary
//! (`fonts/`, Bitstream Vera license): no system font is read at run time.
//! SVG text names the generic `sans-serif` family and the viewer picks it.
//!
//! Every chart draws on any input: a chart without data draws its title and
//! a sentence saying why (`no successful requests`), never an empty frame
//! or a panic; ranges are padded so one level, one request or identical
//! values still give a readable axis.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::doc::series::{Distribution, Series};
use crate::doc::{CompareDocument, SweepDocument};
use crate::stats::LatencyStats;

mod common;
pub mod compare;
pub mod run;
pub mod sweep;

pub use common::NO_SUCCESS;
use common::{empty, err, register_font, FONT};
pub use compare::compare_charts;
use compare::{draw_bars, draw_radar};
pub use run::run_charts;
use run::{draw_dist, draw_repeats, draw_resources, draw_scatter, draw_timeline};
pub use sweep::sweep_charts;
use sweep::{draw_settings, draw_sweep, SweepChart};

/// What one chart draws.
#[derive(Debug, Clone)]
pub(super) enum Kind<'a> {
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
    /// Each repeat's throughput and mean latency, with the mean's 95 %
    /// interval as an error bar (`--repeats`).
    Repeats(&'a crate::doc::RunDocument),
    SweepThroughput(&'a SweepDocument),
    SweepEfficiency(&'a SweepDocument),
    SweepLatency(&'a SweepDocument),
    /// A sweep over settings: throughput by load, one line per setting.
    SweepSettings(&'a SweepDocument),
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

pub(super) type DrawResult = Result<(), String>;

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
            Kind::Repeats(d) => draw_repeats(&root, d),
            Kind::SweepThroughput(d) => draw_sweep(&root, d, SweepChart::Throughput),
            Kind::SweepEfficiency(d) => draw_sweep(&root, d, SweepChart::Efficiency),
            Kind::SweepLatency(d) => draw_sweep(&root, d, SweepChart::Latency),
            Kind::SweepSettings(d) => draw_settings(&root, d),
            Kind::CompareRadar(d) => draw_radar(&root, d),
            Kind::CompareBars(d) => draw_bars(&root, d),
        }
    }
}
