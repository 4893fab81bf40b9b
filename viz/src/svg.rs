//! A minimal SVG writer: escaped text, fixed number formatting, deterministic output.

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::color::Rgb;
use crate::font::FONT_FAMILY_ATTR;

/// Formats a coordinate with at most two decimals, no trailing zeros, and no `-0`.
pub(crate) fn num(v: f64) -> String {
    let s = format!("{:.2}", v);
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" || s.is_empty() {
        "0".to_string()
    } else {
        s.to_string()
    }
}

/// Makes text storable in XML 1.0: tabs and line breaks become spaces, other control characters
/// and the non-characters U+FFFE/U+FFFF become U+FFFD. Measure and write the cleaned text.
pub fn clean_text(s: &str) -> Cow<'_, str> {
    let bad = |c: char| c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}';
    if !s.chars().any(bad) {
        return Cow::Borrowed(s);
    }
    Cow::Owned(
        s.chars()
            .map(|c| match c {
                '\t' | '\n' | '\r' => ' ',
                c if bad(c) => '\u{FFFD}',
                c => c,
            })
            .collect(),
    )
}

/// Escapes `&`, `<`, `>`, `"` and `'` (valid in text and in attribute values) after
/// [`clean_text`].
pub fn escape(s: &str) -> String {
    let s = clean_text(s);
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// Text anchor.
#[derive(Clone, Copy)]
pub(crate) enum Anchor {
    Start,
    Middle,
    End,
}

/// Text style: size in px, colour, anchor, weight.
#[derive(Clone, Copy)]
pub(crate) struct TextStyle {
    pub size: f64,
    pub fill: Rgb,
    pub anchor: Anchor,
    pub bold: bool,
}

impl TextStyle {
    pub fn new(size: f64) -> Self {
        TextStyle {
            size,
            fill: Rgb(0, 0, 0),
            anchor: Anchor::Start,
            bold: false,
        }
    }
    pub fn fill(self, fill: Rgb) -> Self {
        TextStyle { fill, ..self }
    }
    pub fn anchor(self, anchor: Anchor) -> Self {
        TextStyle { anchor, ..self }
    }
    pub fn bold(self) -> Self {
        TextStyle { bold: true, ..self }
    }
}

/// Stroke: colour, width and optional dash pattern.
#[derive(Clone, Copy)]
pub(crate) struct Stroke {
    pub color: Rgb,
    pub width: f64,
}

/// An SVG document being written.
pub(crate) struct Svg {
    buf: String,
}

impl Svg {
    /// Opens a document of `width` × `height` px on a white background.
    pub fn new(width: f64, height: f64) -> Self {
        let (w, h) = (num(width), num(height));
        let mut buf = String::with_capacity(4096);
        let _ = write!(
            buf,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
             viewBox=\"0 0 {w} {h}\" font-family=\"{FONT_FAMILY_ATTR}\" xml:space=\"preserve\">\n\
             <rect x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\" fill=\"#ffffff\"/>\n"
        );
        Svg { buf }
    }

    /// Starts a group with an optional tooltip.
    pub fn open_group(&mut self, tooltip: Option<&str>) {
        self.buf.push_str("<g>");
        if let Some(t) = tooltip {
            let _ = write!(self.buf, "<title>{}</title>", escape(t));
        }
    }

    /// Ends a group.
    pub fn close_group(&mut self) {
        self.buf.push_str("</g>\n");
    }

    /// A rectangle `[x, y, width, height]`, filled or not, optionally stroked, with corner radius `rx`.
    pub fn rect(
        &mut self,
        [x, y, w, h]: [f64; 4],
        fill: Option<Rgb>,
        stroke: Option<Stroke>,
        rx: f64,
    ) {
        let _ = write!(
            self.buf,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\"",
            num(x),
            num(y),
            num(w.max(0.0)),
            num(h.max(0.0))
        );
        if rx > 0.0 {
            let _ = write!(self.buf, " rx=\"{}\"", num(rx));
        }
        match fill {
            Some(c) => {
                let _ = write!(self.buf, " fill=\"{}\"", c.hex());
            }
            None => self.buf.push_str(" fill=\"none\""),
        }
        self.stroke_attrs(stroke);
        self.buf.push_str("/>");
    }

    /// A straight line.
    pub fn line(&mut self, x1: f64, y1: f64, x2: f64, y2: f64, stroke: Stroke) {
        let _ = write!(
            self.buf,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"",
            num(x1),
            num(y1),
            num(x2),
            num(y2)
        );
        self.stroke_attrs(Some(stroke));
        self.buf.push_str("/>");
    }

    fn stroke_attrs(&mut self, stroke: Option<Stroke>) {
        if let Some(s) = stroke {
            let _ = write!(
                self.buf,
                " stroke=\"{}\" stroke-width=\"{}\"",
                s.color.hex(),
                num(s.width)
            );
        }
    }

    /// Text with its baseline at `y`.
    pub fn text(&mut self, x: f64, y: f64, content: &str, style: TextStyle) {
        let _ = write!(
            self.buf,
            "<text x=\"{}\" y=\"{}\" font-size=\"{}\"",
            num(x),
            num(y),
            num(style.size)
        );
        if style.fill != Rgb(0, 0, 0) {
            let _ = write!(self.buf, " fill=\"{}\"", style.fill.hex());
        }
        match style.anchor {
            Anchor::Start => {}
            Anchor::Middle => self.buf.push_str(" text-anchor=\"middle\""),
            Anchor::End => self.buf.push_str(" text-anchor=\"end\""),
        }
        if style.bold {
            self.buf.push_str(" font-weight=\"bold\"");
        }
        let _ = write!(self.buf, ">{}</text>", escape(content));
    }

    /// A horizontal linear gradient definition through evenly spaced `stops`.
    pub fn gradient(&mut self, id: &str, stops: &[Rgb]) {
        let _ = write!(
            self.buf,
            "<defs><linearGradient id=\"{}\" x1=\"0\" y1=\"0\" x2=\"1\" y2=\"0\">",
            escape(id)
        );
        let n = stops.len().saturating_sub(1).max(1) as f64;
        for (i, c) in stops.iter().enumerate() {
            let _ = write!(
                self.buf,
                "<stop offset=\"{}\" stop-color=\"{}\"/>",
                num(i as f64 / n),
                c.hex()
            );
        }
        self.buf.push_str("</linearGradient></defs>\n");
    }

    /// A rectangle filled with gradient `id`.
    pub fn rect_gradient(&mut self, x: f64, y: f64, w: f64, h: f64, id: &str, stroke: Stroke) {
        let _ = write!(
            self.buf,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"url(#{})\"",
            num(x),
            num(y),
            num(w),
            num(h),
            escape(id)
        );
        self.stroke_attrs(Some(stroke));
        self.buf.push_str("/>\n");
    }

    /// Ends a line of output (keeps the file diffable).
    pub fn newline(&mut self) {
        self.buf.push('\n');
    }

    /// Closes the document and returns its text.
    pub fn finish(mut self) -> String {
        self.buf.push_str("</svg>\n");
        self.buf
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_have_at_most_two_decimals_and_no_negative_zero() {
        assert_eq!(num(1.0), "1");
        assert_eq!(num(1.5), "1.5");
        assert_eq!(num(1.005_1), "1.01");
        assert_eq!(num(-0.001), "0");
        assert_eq!(num(-2.25), "-2.25");
        assert_eq!(num(0.0), "0");
        assert_eq!(num(120.0), "120");
    }
}
