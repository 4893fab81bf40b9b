//! Drawing token boxes, their marks (gold underline, predicted outline, order badges) and the
//! legend that explains them.

use crate::color::{Rgb, Scale};
use crate::font::text_width;
use crate::layout::{fit_width, fmt_tick, Metrics};
use crate::svg::{clean_text, Anchor, Stroke, Svg, TextStyle};

pub(crate) const BLACK: Rgb = Rgb(0, 0, 0);
pub(crate) const GREY: Rgb = Rgb(0x70, 0x70, 0x70);
/// Fill of a token without a score (the scales' zero colour).
pub(crate) const NEUTRAL: Rgb = Rgb(0xf7, 0xf7, 0xf7);
/// Fill of the target token in sequential figures (PuOr's dark purple, apart from the orange
/// side that marks selected tokens).
pub(crate) const TARGET: Rgb = Rgb(0x54, 0x27, 0x88);

/// Space kept below a box for the gold underline.
pub(crate) fn mark_band(m: &Metrics) -> f64 {
    0.45 * m.font_size
}

/// A token box with its text.
pub(crate) fn token_box(svg: &mut Svg, m: &Metrics, x: f64, y: f64, w: f64, fill: Rgb, text: &str) {
    svg.rect([x, y, w, m.box_h], Some(fill), None, 0.15 * m.font_size);
    let tw = text_width(text, m.font_size);
    let style = TextStyle::new(m.font_size).fill(fill.text_color());
    // Centred start position: equals `x + pad_x` when the box is as wide as its text.
    svg.text(x + (w - tw) / 2.0, y + m.baseline, text, style);
}

/// The gold-rationale underline below a box at `(x, y)`, `w` wide.
pub(crate) fn gold_underline(svg: &mut Svg, m: &Metrics, x: f64, y: f64, w: f64) {
    let t = 0.18 * m.font_size;
    svg.rect(
        [x, y + m.box_h + 0.16 * m.font_size, w, t],
        Some(BLACK),
        None,
        0.0,
    );
}

/// The predicted-rationale outline around a box.
pub(crate) fn predicted_outline(svg: &mut Svg, m: &Metrics, x: f64, y: f64, w: f64) {
    let sw = 0.09 * m.font_size;
    let o = sw;
    let stroke = Stroke {
        color: BLACK,
        width: sw,
    };
    svg.rect(
        [x - o, y - o, w + 2.0 * o, m.box_h + 2.0 * o],
        None,
        Some(stroke),
        0.2 * m.font_size,
    );
}

/// Size of an order badge showing `n`: (width, height).
pub(crate) fn badge_size(m: &Metrics, n: usize) -> (f64, f64) {
    let fs = 0.62 * m.font_size;
    let h = 0.95 * m.font_size;
    let w = (text_width(&n.to_string(), fs) + 0.5 * m.font_size).max(h);
    (w, h)
}

/// An order badge centred at `(cx, cy)`.
pub(crate) fn badge(svg: &mut Svg, m: &Metrics, cx: f64, cy: f64, n: usize) {
    let (w, h) = badge_size(m, n);
    let stroke = Stroke {
        color: Rgb(255, 255, 255),
        width: 0.06 * m.font_size,
    };
    svg.rect(
        [cx - w / 2.0, cy - h / 2.0, w, h],
        Some(Rgb(0x22, 0x22, 0x22)),
        Some(stroke),
        h / 2.0,
    );
    let fs = 0.62 * m.font_size;
    let style = TextStyle::new(fs)
        .fill(Rgb(255, 255, 255))
        .anchor(Anchor::Middle)
        .bold();
    svg.text(cx, cy + 0.36 * fs, &n.to_string(), style);
}

/// The figure title in bold at the top left, then `suffix`; the title is shortened so both fit
/// in `width`.
pub(crate) fn title(svg: &mut Svg, m: &Metrics, width: f64, text: &str, suffix: &str) {
    let size = 1.1 * m.font_size;
    let room = width - 2.0 * m.margin - 1.15 * text_width(suffix, size);
    let t = fit_width(&clean_text(text), size, room, 1.15) + suffix;
    svg.text(m.margin, m.margin + size, &t, TextStyle::new(size).bold());
    svg.newline();
}

/// One legend entry.
pub(crate) enum Entry {
    /// A colour bar with its caption and range labels.
    ColorBar { scale: Scale, caption: String },
    /// A swatch box drawn by `draw`, then a caption.
    Marker { kind: Marker, caption: String },
}

/// Swatch kinds.
#[derive(Clone, Copy)]
pub(crate) enum Marker {
    Gold,
    Predicted,
    Target,
    Selected,
}

const BAR_W: f64 = 150.0;

impl Entry {
    fn small(m: &Metrics) -> f64 {
        0.8 * m.font_size
    }

    /// Room between a colour bar's caption and the bar: the low label is centred on the bar's
    /// left end and must not reach the caption.
    fn bar_gap(scale: &Scale, m: &Metrics) -> f64 {
        let lo = text_width(&fmt_tick(scale.range().0), Self::small(m));
        (lo / 2.0 + 0.3 * m.font_size).max(0.5 * m.font_size)
    }

    fn width(&self, m: &Metrics) -> f64 {
        let s = Self::small(m);
        match self {
            Entry::ColorBar { scale, caption } => {
                let hi = scale.range().1;
                text_width(caption, s)
                    + Self::bar_gap(scale, m)
                    + BAR_W
                    + text_width(&fmt_tick(hi), s) / 2.0
            }
            Entry::Marker { caption, .. } => {
                1.6 * m.font_size + 0.4 * m.font_size + text_width(caption, s)
            }
        }
    }

    fn draw(&self, svg: &mut Svg, m: &Metrics, x: f64, y: f64) {
        let s = Self::small(m);
        let small = TextStyle::new(s);
        match self {
            Entry::ColorBar { scale, caption } => {
                let id = match scale {
                    Scale::Sequential { .. } => "rv-seq",
                    Scale::Diverging { .. } => "rv-div",
                };
                svg.gradient(id, scale.stops());
                let cap_w = text_width(caption, s);
                let bx = x + cap_w + Self::bar_gap(scale, m);
                let bar_h = 0.7 * m.font_size;
                svg.text(
                    x,
                    y + 0.15 * m.font_size + bar_h / 2.0 + 0.36 * s,
                    caption,
                    small,
                );
                let stroke = Stroke {
                    color: GREY,
                    width: 0.5,
                };
                svg.rect_gradient(bx, y + 0.15 * m.font_size, BAR_W, bar_h, id, stroke);
                let (lo, hi) = scale.range();
                let ty = y + 0.15 * m.font_size + bar_h + s;
                let mid = Anchor::Middle;
                let ticks = [(0.0, lo), (0.5, (lo + hi) / 2.0), (1.0, hi)];
                for (t, v) in ticks {
                    let tx = bx + t * BAR_W;
                    let tick = Stroke {
                        color: GREY,
                        width: 0.8,
                    };
                    svg.line(
                        tx,
                        y + 0.15 * m.font_size + bar_h,
                        tx,
                        y + 0.15 * m.font_size + bar_h + 3.0,
                        tick,
                    );
                    svg.text(tx, ty + 2.0, &fmt_tick(v), small.anchor(mid));
                }
            }
            Entry::Marker { kind, caption } => {
                let w = 1.6 * m.font_size;
                let bm = Metrics {
                    box_h: 0.95 * m.font_size,
                    ..*m
                };
                let by = y + 0.05 * m.font_size;
                let edge = Some(Stroke {
                    color: Rgb(0xbb, 0xbb, 0xbb),
                    width: 0.6,
                });
                match kind {
                    Marker::Gold => {
                        svg.rect(
                            [x, by, w, bm.box_h],
                            Some(NEUTRAL),
                            edge,
                            0.15 * m.font_size,
                        );
                        gold_underline(svg, &bm, x, by, w);
                    }
                    Marker::Predicted => {
                        svg.rect(
                            [x, by, w, bm.box_h],
                            Some(NEUTRAL),
                            edge,
                            0.15 * m.font_size,
                        );
                        predicted_outline(svg, &bm, x, by, w);
                    }
                    Marker::Target => {
                        svg.rect([x, by, w, bm.box_h], Some(TARGET), None, 0.15 * m.font_size);
                    }
                    Marker::Selected => {
                        let fill = Scale::UNIT.color(0.8);
                        svg.rect([x, by, w, bm.box_h], Some(fill), None, 0.15 * m.font_size);
                        badge(svg, m, x + w / 2.0, by + bm.box_h / 2.0, 1);
                    }
                }
                svg.text(
                    x + w + 0.4 * m.font_size,
                    y + 0.8 * m.font_size,
                    caption,
                    small,
                );
            }
        }
    }
}

/// Entries placed left to right, wrapping at `avail`.
pub(crate) struct Legend {
    placed: Vec<(Entry, f64, usize)>,
    rows: usize,
}

impl Legend {
    /// Height of one legend row.
    pub fn row_h(m: &Metrics) -> f64 {
        2.1 * m.font_size
    }

    /// Places `entries`, shortening marker captions that would not fit on a row of their own.
    pub fn new(entries: Vec<Entry>, m: &Metrics, avail: f64) -> Self {
        let sep = 1.5 * m.font_size;
        let (mut x, mut row) = (0.0, 0);
        let mut placed = Vec::new();
        for mut e in entries {
            if let Entry::Marker { caption, .. } = &mut e {
                let room = avail - 2.0 * m.font_size;
                *caption = fit_width(&clean_text(caption), Entry::small(m), room, 1.0);
            }
            let w = e.width(m);
            if x > 0.0 && x + w > avail {
                row += 1;
                x = 0.0;
            }
            placed.push((e, x, row));
            x += w + sep;
        }
        let rows = if placed.is_empty() { 0 } else { row + 1 };
        Legend { placed, rows }
    }

    /// Total height (0 when empty).
    pub fn height(&self, m: &Metrics) -> f64 {
        self.rows as f64 * Self::row_h(m)
    }

    pub fn draw(&self, svg: &mut Svg, m: &Metrics, x: f64, y: f64) {
        for (e, ex, row) in &self.placed {
            e.draw(svg, m, x + ex, y + *row as f64 * Self::row_h(m));
            svg.newline();
        }
    }
}
