//! Metric curves drawn with plotters' SVG backend: AOPC-style curves (metric vs fraction of
//! tokens removed) and precision–recall curves.

use plotters::prelude::*;

use crate::color::SERIES;
use crate::error::{check_finite, check_len, Result, VizError};
use crate::font::{register_with_plotters, FONT_FAMILY};
use crate::layout::fmt_tick;
use crate::svg::clean_text;

/// One series: a label for the legend and parallel `x`/`y` values, drawn in the given order.
#[derive(Debug, Clone, Copy)]
pub struct Curve<'a> {
    /// Legend label (e.g. the method name, maybe with its AOPC or AUPRC).
    pub label: &'a str,
    /// x values.
    pub x: &'a [f64],
    /// y values, one per x.
    pub y: &'a [f64],
}

/// Size and text of a curve figure.
#[derive(Debug, Clone, PartialEq)]
pub struct CurveOptions {
    /// Width in px (default 640).
    pub width: u32,
    /// Height in px (default 420).
    pub height: u32,
    /// Title above the plot.
    pub title: String,
    /// x-axis description.
    pub x_label: String,
    /// y-axis description.
    pub y_label: String,
    /// Fixed y range; `None` fits the data (and includes 0).
    pub y_range: Option<(f64, f64)>,
}

impl CurveOptions {
    /// Defaults for AOPC curves: x is the fraction of tokens removed.
    pub fn aopc(title: &str, metric: &str) -> Self {
        CurveOptions {
            width: 640,
            height: 420,
            title: title.to_string(),
            x_label: "fraction of tokens removed".to_string(),
            y_label: metric.to_string(),
            y_range: None,
        }
    }

    /// Defaults for precision–recall curves: both axes span [0, 1].
    pub fn precision_recall(title: &str) -> Self {
        CurveOptions {
            width: 520,
            height: 460,
            title: title.to_string(),
            x_label: "recall".to_string(),
            y_label: "precision".to_string(),
            y_range: Some((0.0, 1.0)),
        }
    }
}

/// AOPC-style curves: one line with markers per method, y range fitted unless fixed.
pub fn aopc_curves(curves: &[Curve<'_>], options: &CurveOptions) -> Result<String> {
    let (x_lo, x_hi) = data_range(curves, |c| c.x)?;
    let lo = x_lo.min(0.0);
    // A degenerate range (every x at 0) still gets a readable unit axis.
    let hi = if x_hi - lo < 1e-9 { lo + 1.0 } else { x_hi };
    plot(curves, options, (lo, hi))
}

/// Precision–recall curves: `x` is recall and `y` precision, both in [0, 1]; points are joined
/// in the order given.
pub fn precision_recall_curves(curves: &[Curve<'_>], options: &CurveOptions) -> Result<String> {
    plot(curves, options, (0.0, 1.0))
}

/// Checks every curve and returns the (min, max) of the values `pick` selects.
fn data_range<'a>(
    curves: &[Curve<'a>],
    pick: impl Fn(&Curve<'a>) -> &'a [f64],
) -> Result<(f64, f64)> {
    if curves.is_empty() {
        return Err(VizError::Empty(
            "a curve figure needs at least one curve".to_string(),
        ));
    }
    for c in curves {
        check_len(|| format!("curve {:?} y", c.label), c.x.len(), c.y.len())?;
        if c.x.is_empty() {
            return Err(VizError::Empty(format!(
                "curve {:?} has no points",
                c.label
            )));
        }
        check_finite(|| format!("curve {:?} x", c.label), c.x)?;
        check_finite(|| format!("curve {:?} y", c.label), c.y)?;
    }
    let vals = curves.iter().flat_map(|c| pick(c).iter().copied());
    Ok(
        vals.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        }),
    )
}

/// The plot corner whose legend box would cover the fewest points of the curves (sampled along
/// each segment), preferring upper right, upper left, lower right, lower left on ties.
fn legend_corner(
    curves: &[Curve<'_>],
    o: &CurveOptions,
    (x0, x1): (f64, f64),
    (y0, y1): (f64, f64),
) -> SeriesLabelPosition {
    let label_w = curves
        .iter()
        .map(|c| crate::font::text_width(&clean_text(c.label), 12.0))
        .fold(0.0, f64::max);
    let plot_w = f64::from(o.width) - 58.0 - 28.0;
    let plot_h = f64::from(o.height) - 44.0 - 28.0 - 24.0;
    let fw = ((label_w + 60.0) / plot_w).min(1.0);
    let fh = ((curves.len() as f64 * 19.0 + 20.0) / plot_h).min(1.0);
    let mut samples = Vec::new();
    for c in curves {
        let pts: Vec<(f64, f64)> =
            c.x.iter()
                .map(|x| (x - x0) / (x1 - x0))
                .zip(c.y.iter().map(|y| (y - y0) / (y1 - y0)))
                .collect();
        samples.extend(pts.iter().copied());
        for w in pts.windows(2) {
            for k in 1..20 {
                let t = f64::from(k) / 20.0;
                samples.push((
                    w[0].0 + (w[1].0 - w[0].0) * t,
                    w[0].1 + (w[1].1 - w[0].1) * t,
                ));
            }
        }
    }
    let count = |left: bool, top: bool| {
        samples
            .iter()
            .filter(|(x, y)| {
                let in_x = if left { *x <= fw } else { *x >= 1.0 - fw };
                let in_y = if top { *y >= 1.0 - fh } else { *y <= fh };
                in_x && in_y
            })
            .count()
    };
    let options = [
        (SeriesLabelPosition::UpperRight, count(false, true)),
        (SeriesLabelPosition::UpperLeft, count(true, true)),
        (SeriesLabelPosition::LowerRight, count(false, false)),
        (SeriesLabelPosition::LowerLeft, count(true, false)),
    ];
    let best = options.iter().map(|(_, n)| *n).min().unwrap_or(0);
    options
        .into_iter()
        .find(|(_, n)| *n == best)
        .map_or(SeriesLabelPosition::UpperRight, |(p, _)| p)
}

/// Sets a series' legend entry (line + marker) and draws its markers.
macro_rules! with_marker {
    ($series:ident, $chart:ident, $pts:ident, $label:ident, $line:ident, $mk:path, $size:expr, $style:ident, $markers:expr) => {{
        $series.label($label).legend(move |(x, y)| {
            EmptyElement::at((x, y))
                + PathElement::new(vec![(0, 0), (20, 0)], $line)
                + $mk((10, 0), $size, $style)
        });
        if $markers {
            $chart
                .draw_series($pts.iter().map(|&p| $mk(p, $size, $style)))
                .map_err(plot_err)?;
        }
    }};
}

fn plot_err<E: std::fmt::Display>(e: E) -> VizError {
    VizError::Plot(e.to_string())
}

fn plot(curves: &[Curve<'_>], o: &CurveOptions, (x_lo, x_hi): (f64, f64)) -> Result<String> {
    let (y_lo, y_hi) = data_range(curves, |c| c.y)?;
    if !(200..=10_000).contains(&o.width) || !(150..=10_000).contains(&o.height) {
        return Err(VizError::InvalidOption {
            name: "size",
            reason: format!(
                "{}×{} px is outside 200–10000 × 150–10000",
                o.width, o.height
            ),
        });
    }
    let (y0, y1) = match o.y_range {
        Some((a, b)) if a.is_finite() && b.is_finite() && a < b => (a, b),
        Some((a, b)) => {
            return Err(VizError::InvalidOption {
                name: "y_range",
                reason: format!("[{a}, {b}] must be finite with low < high"),
            })
        }
        None => {
            let (lo, hi) = (y_lo.min(0.0), y_hi.max(0.0));
            let hi = if hi - lo < 1e-9 { lo + 1.0 } else { hi };
            let pad = (hi - lo) * 0.05;
            (if lo < 0.0 { lo - pad } else { lo }, hi + pad)
        }
    };
    // A little room so that markers on the range's edges are not cut by the frame.
    let pad = |lo: f64, hi: f64| ((hi - lo) * 0.02, (hi - lo) * 0.02);
    let (px, py) = (pad(x_lo, x_hi), pad(y0, y1));
    let (x0, x1) = (x_lo - px.0, x_hi + px.1);
    let (y0, y1) = (y0 - py.0, y1 + py.1);
    let corner = legend_corner(curves, o, (x0, x1), (y0, y1));

    register_with_plotters();
    let title = clean_text(&o.title).into_owned();
    let x_desc = clean_text(&o.x_label).into_owned();
    let y_desc = clean_text(&o.y_label).into_owned();
    // plotters sizes fonts by pixel height and writes font-size = size / 1.24.
    let font = |px: f64| (FONT_FAMILY, px * 1.24).into_font();
    let many_points = curves.iter().any(|c| c.x.len() > 40);

    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, (o.width, o.height)).into_drawing_area();
        root.fill(&WHITE).map_err(plot_err)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(&title, font(16.0).style(FontStyle::Bold))
            .margin(14)
            .x_label_area_size(44)
            .y_label_area_size(58)
            .build_cartesian_2d(x0..x1, y0..y1)
            .map_err(plot_err)?;
        chart
            .configure_mesh()
            .x_desc(x_desc)
            .y_desc(y_desc)
            .axis_desc_style(font(13.0))
            .label_style(font(12.0))
            .x_label_formatter(&|v| fmt_tick(*v))
            .y_label_formatter(&|v| fmt_tick(*v))
            .bold_line_style(RGBColor(0xdd, 0xdd, 0xdd))
            .max_light_lines(0)
            .draw()
            .map_err(plot_err)?;

        for (k, c) in curves.iter().enumerate() {
            let rgb = SERIES[k % SERIES.len()];
            let color = RGBColor(rgb.0, rgb.1, rgb.2);
            let line = color.stroke_width(2);
            let pts: Vec<(f64, f64)> = c.x.iter().copied().zip(c.y.iter().copied()).collect();
            let dash = k / SERIES.len() % 3;
            let series = match dash {
                0 => chart.draw_series(LineSeries::new(pts.clone(), line)),
                1 => chart.draw_series(DashedLineSeries::new(pts.clone(), 7, 4, line)),
                _ => chart.draw_series(DashedLineSeries::new(pts.clone(), 2, 3, line)),
            }
            .map_err(plot_err)?;
            // Marker shapes (filled circle, triangle, cross, open circle) tell series apart
            // without colour; the legend shows line and marker together.
            let label = clean_text(c.label).into_owned();
            let (fill, open) = (color.filled(), color.stroke_width(2));
            match k % 4 {
                0 => with_marker!(
                    series,
                    chart,
                    pts,
                    label,
                    line,
                    Circle::new,
                    4,
                    fill,
                    !many_points
                ),
                1 => with_marker!(
                    series,
                    chart,
                    pts,
                    label,
                    line,
                    TriangleMarker::new,
                    6,
                    fill,
                    !many_points
                ),
                2 => with_marker!(
                    series,
                    chart,
                    pts,
                    label,
                    line,
                    Cross::new,
                    4,
                    open,
                    !many_points
                ),
                _ => with_marker!(
                    series,
                    chart,
                    pts,
                    label,
                    line,
                    Circle::new,
                    4,
                    open,
                    !many_points
                ),
            }
        }
        chart
            .configure_series_labels()
            .position(corner)
            .background_style(WHITE.mix(0.9))
            .border_style(RGBColor(0x99, 0x99, 0x99))
            .label_font(font(12.0))
            .legend_area_size(30)
            .draw()
            .map_err(plot_err)?;
        root.present().map_err(plot_err)?;
    }
    Ok(buf)
}
