//! Shared geometry for token figures: box metrics, line wrapping, number formatting.

use crate::font::{ascent_em, descent_em, text_width};

/// Box and spacing sizes derived from the font size.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Metrics {
    pub font_size: f64,
    /// Horizontal padding inside a token box.
    pub pad_x: f64,
    /// Height of a token box.
    pub box_h: f64,
    /// Baseline offset from the top of a box.
    pub baseline: f64,
    /// Horizontal gap between boxes (one space of the font).
    pub gap: f64,
    /// Outer margin of the figure.
    pub margin: f64,
}

impl Metrics {
    pub fn new(font_size: f64) -> Self {
        let pad_y = 0.18 * font_size;
        Metrics {
            font_size,
            pad_x: 0.25 * font_size,
            box_h: (ascent_em() + descent_em()) * font_size + 2.0 * pad_y,
            baseline: pad_y + ascent_em() * font_size,
            gap: text_width(" ", font_size).max(0.25 * font_size),
            margin: font_size,
        }
    }

    /// Width of a box holding `text`.
    pub fn box_w(&self, text: &str) -> f64 {
        text_width(text, self.font_size) + 2.0 * self.pad_x
    }
}

/// One item placed on a line: its index in the item list, left edge and width.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Placed {
    pub item: usize,
    pub x: f64,
    pub w: f64,
}

/// Greedy line filling: items of `widths` (in order) separated by `gap`, a new line when the next
/// item would pass `avail`, and wherever `breaks_before[i]` is set. A line holds at least one item.
pub(crate) fn wrap(
    widths: &[f64],
    breaks_before: &[bool],
    gap: f64,
    avail: f64,
) -> Vec<Vec<Placed>> {
    let mut lines: Vec<Vec<Placed>> = Vec::new();
    let mut cur: Vec<Placed> = Vec::new();
    let mut x = 0.0;
    for (i, &w) in widths.iter().enumerate() {
        let forced = breaks_before.get(i).copied().unwrap_or(false);
        if !cur.is_empty() && (forced || x + gap + w > avail) {
            lines.push(std::mem::take(&mut cur));
        }
        if cur.is_empty() {
            x = 0.0;
        } else {
            x += gap;
        }
        cur.push(Placed { item: i, x, w });
        x += w;
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

/// Shortens `text` with a trailing `…` until its box fits `max_w`.
pub(crate) fn fit_text(text: &str, m: &Metrics, max_w: f64) -> String {
    fit_width(text, m.font_size, max_w - 2.0 * m.pad_x, 1.0)
}

/// Shortens `text` with a trailing `…` until it is at most `max_w` wide at `size`; `factor`
/// widens the measure (about 1.15 covers the bold face, which is not bundled).
pub(crate) fn fit_width(text: &str, size: f64, max_w: f64, factor: f64) -> String {
    let fits = |s: &str| text_width(s, size) * factor <= max_w;
    if fits(text) {
        return text.to_string();
    }
    let mut chars: Vec<char> = text.chars().collect();
    while !chars.is_empty() {
        chars.pop();
        let s: String = chars.iter().chain(std::iter::once(&'…')).collect();
        if fits(&s) {
            return s;
        }
    }
    "…".to_string()
}

/// A score for tooltips: three decimals, never `-0.000`.
pub(crate) fn fmt_score(v: f64) -> String {
    let s = format!("{v:.3}");
    if s == "-0.000" {
        "0.000".to_string()
    } else {
        s
    }
}

/// A tick or colour-bar label: about three significant digits, trailing zeros trimmed.
pub(crate) fn fmt_tick(v: f64) -> String {
    let decimals = if v == 0.0 {
        0
    } else {
        (2 - v.abs().log10().floor() as i32).clamp(0, 6) as usize
    };
    let s = format!("{v:.decimals$}");
    let s = if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        &s
    };
    if s == "-0" {
        "0".to_string()
    } else {
        s.replace('-', "\u{2212}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_fills_lines_greedily_and_honours_breaks() {
        let lines = wrap(
            &[10.0, 10.0, 10.0, 30.0, 5.0],
            &[false, false, false, false, true],
            2.0,
            35.0,
        );
        let items: Vec<Vec<usize>> = lines
            .iter()
            .map(|l| l.iter().map(|p| p.item).collect())
            .collect();
        assert_eq!(items, vec![vec![0, 1, 2], vec![3], vec![4]]);
        assert_eq!(lines[0][2].x, 24.0);
        // An item wider than the line still gets a line of its own.
        assert_eq!(wrap(&[50.0, 1.0], &[], 1.0, 10.0).len(), 2);
        assert!(wrap(&[], &[], 1.0, 10.0).is_empty());
    }

    #[test]
    fn tick_and_score_formatting_is_fixed() {
        assert_eq!(fmt_tick(0.0), "0");
        assert_eq!(fmt_tick(0.5), "0.5");
        assert_eq!(fmt_tick(-0.941), "\u{2212}0.941");
        assert_eq!(fmt_tick(12.345), "12.3");
        assert_eq!(fmt_tick(0.0001234), "0.000123");
        assert_eq!(fmt_tick(-0.0), "0");
        assert_eq!(fmt_score(-0.0001), "0.000");
        assert_eq!(fmt_score(0.12345), "0.123");
    }
}
