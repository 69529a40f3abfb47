//! What every chart shares: the embedded font, the colours, and the
//! helpers that keep an axis readable whatever the data (padded ranges,
//! short tick labels) and draw the sentence a chart shows when it has
//! nothing to draw.

use std::sync::Once;

use plotters::coord::Shift;
use plotters::prelude::*;

use super::DrawResult;

pub(super) const FONT: &str = "sans-serif";
static FONT_BYTES: &[u8] = include_bytes!("../fonts/DejaVuSans.ttf");
static REGISTER: Once = Once::new();

pub(super) fn register_font() {
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

pub(super) const BLUE_: RGBColor = RGBColor(31, 119, 180);
pub(super) const ORANGE_: RGBColor = RGBColor(255, 127, 14);
pub(super) const GREEN_: RGBColor = RGBColor(44, 160, 44);
pub(super) const RED_: RGBColor = RGBColor(214, 39, 40);
pub(super) const PURPLE_: RGBColor = RGBColor(148, 103, 189);
pub(super) const GREY_: RGBColor = RGBColor(110, 110, 110);
pub(super) const BLACK_: RGBColor = RGBColor(25, 25, 25);
pub(super) const TEAL_: RGBColor = RGBColor(23, 190, 207);

/// A named, coloured line of points.
pub(super) type Line = (String, RGBColor, Vec<(f64, f64)>);

pub(super) fn font(size: u32) -> TextStyle<'static> {
    (FONT, size).into_font().into()
}

/// The series' legend, at `pos`, in the charts' one style.
pub(super) fn legend<'a, DB: DrawingBackend + 'a, CT: CoordTranslate>(
    c: &mut ChartContext<'a, DB, CT>,
    pos: SeriesLabelPosition,
    size: u32,
) -> DrawResult
where
    DB::ErrorType: 'static,
{
    c.configure_series_labels()
        .position(pos)
        .background_style(WHITE.mix(0.85))
        .border_style(GREY_)
        .label_font(font(size))
        .draw()
        .map_err(err)
}

pub(super) fn empty<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, why: &str) -> DrawResult
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

/// The axes of a chart of numbers against numbers.
pub(super) struct Axes<'s> {
    pub caption: String,
    pub x: std::ops::Range<f64>,
    pub y: std::ops::Range<f64>,
    pub x_desc: &'s str,
    pub y_desc: &'s str,
}

/// A chart of numbers against numbers with the mesh every such chart
/// shares: described axes, short tick labels, two light lines per step.
pub(super) fn xy_chart<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    a: Axes<'_>,
) -> Result<
    ChartContext<'a, DB, Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>>,
    String,
>
where
    DB::ErrorType: 'static,
{
    let mut c = ChartBuilder::on(area)
        .caption(a.caption, font(19))
        .margin(10)
        .x_label_area_size(45)
        .y_label_area_size(80)
        .build_cartesian_2d(a.x, a.y)
        .map_err(err)?;
    c.configure_mesh()
        .x_desc(a.x_desc)
        .y_desc(a.y_desc)
        .axis_desc_style(font(17))
        .label_style(font(15))
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| tick(*v))
        .max_light_lines(2)
        .draw()
        .map_err(err)?;
    Ok(c)
}

/// A padded, non-empty range over `values` (and `0` when `from_zero`).
pub(super) fn range(values: impl IntoIterator<Item = f64>, from_zero: bool) -> (f64, f64) {
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
pub(super) fn tick(v: f64) -> String {
    let s = format!("{v:.3}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

pub(super) fn fmt_num(v: f64) -> String {
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

pub(super) fn err<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

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
