//! Token heatmaps: one or more score rows (methods) over the same text, gold rationale
//! underlined, predicted hard rationale outlined, optional context windows and pages.

use std::ops::Range;

use crate::color::Scale;
use crate::error::{check_finite, check_len, Result, VizError};
use crate::font::text_width;
use crate::layout::{fit_text, fit_width, fmt_score, wrap, Metrics, Placed};
use crate::marks::{self, Entry, Legend, Marker, GREY, NEUTRAL};
use crate::svg::{clean_text, Anchor, Svg, TextStyle};

/// Layout options shared by token figures.
#[derive(Debug, Clone, PartialEq)]
pub struct HeatmapOptions {
    /// Figure width in px; text wraps inside it (default 720).
    pub width: f64,
    /// Token font size in px (default 14).
    pub font_size: f64,
    /// Colour scale; `None` picks [`Scale::auto`] over all rows, so rows share one scale.
    pub scale: Option<Scale>,
    /// Caption of the colour bar (default `"score"`; a single row's non-empty label wins).
    pub scale_label: String,
    /// Show only `context` tokens either side of each rationale token, with `…` for the rest.
    pub context: Option<usize>,
    /// Add a `<title>` tooltip (token, row, score) to every box (default true).
    pub tooltips: bool,
}

impl Default for HeatmapOptions {
    fn default() -> Self {
        HeatmapOptions {
            width: 720.0,
            font_size: 14.0,
            scale: None,
            scale_label: "score".to_string(),
            context: None,
            tooltips: true,
        }
    }
}

impl HeatmapOptions {
    pub(crate) fn validate(&self) -> Result<()> {
        let bad = |name, reason: String| Err(VizError::InvalidOption { name, reason });
        if !(self.font_size.is_finite() && (4.0..=96.0).contains(&self.font_size)) {
            return bad(
                "font_size",
                format!("{} px is outside [4, 96]", self.font_size),
            );
        }
        if !(self.width.is_finite() && self.width >= 12.0 * self.font_size && self.width <= 1e5) {
            return bad(
                "width",
                format!("{} px must lie in [12 × font size, 100000]", self.width),
            );
        }
        if let Some(s) = &self.scale {
            s.validate()?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
struct Row<'a> {
    label: &'a str,
    scores: &'a [f64],
    predicted: Option<&'a [bool]>,
}

/// A token heatmap over one document. Build it, then [`render`](Heatmap::render) or
/// [`render_pages`](Heatmap::render_pages).
///
/// ```
/// use rationale_viz::Heatmap;
/// let tokens = ["a", "truly", "great", "film"];
/// let svg = Heatmap::new(&tokens)
///     .gold(&[false, false, true, false])
///     .row("IG", &[0.1, 0.3, 0.9, 0.2])
///     .render()
///     .unwrap();
/// assert!(svg.starts_with("<svg"));
/// ```
#[derive(Debug, Clone)]
pub struct Heatmap<'a> {
    tokens: Vec<&'a str>,
    gold: Option<&'a [bool]>,
    rows: Vec<Row<'a>>,
    title: Option<&'a str>,
    options: HeatmapOptions,
}

/// What a laid-out item is.
#[derive(Debug, Clone, Copy)]
enum Item {
    Token(usize),
    /// `skipped` tokens left out; `leading` ones start a window on a new line.
    Ellipsis {
        skipped: usize,
        leading: bool,
    },
}

impl<'a> Heatmap<'a> {
    /// A heatmap over `tokens` (the document's own whitespace tokens).
    pub fn new<S: AsRef<str>>(tokens: &'a [S]) -> Self {
        Heatmap {
            tokens: tokens.iter().map(AsRef::as_ref).collect(),
            gold: None,
            rows: Vec::new(),
            title: None,
            options: HeatmapOptions::default(),
        }
    }

    /// Marks the human (gold) rationale: one flag per token, drawn as an underline.
    pub fn gold(mut self, gold: &'a [bool]) -> Self {
        self.gold = Some(gold);
        self
    }

    /// Adds a row of soft scores (one per token) for the method `label`, drawn as box fill.
    pub fn row(mut self, label: &'a str, scores: &'a [f64]) -> Self {
        self.rows.push(Row {
            label,
            scores,
            predicted: None,
        });
        self
    }

    /// Adds a row with soft scores and the method's hard rationale (drawn as an outline).
    pub fn row_with_prediction(
        mut self,
        label: &'a str,
        scores: &'a [f64],
        predicted: &'a [bool],
    ) -> Self {
        self.rows.push(Row {
            label,
            scores,
            predicted: Some(predicted),
        });
        self
    }

    /// Sets the figure title.
    pub fn title(mut self, title: &'a str) -> Self {
        self.title = Some(title);
        self
    }

    /// Sets layout options.
    pub fn options(mut self, options: HeatmapOptions) -> Self {
        self.options = options;
        self
    }

    /// The whole figure as one SVG document.
    pub fn render(&self) -> Result<String> {
        let mut pages = self.render_impl(None)?;
        Ok(pages.remove(0))
    }

    /// The figure split into pages of at most `lines_per_page` text lines, each a complete SVG
    /// with title (`page i of n`) and legend. An empty document gives one page.
    pub fn render_pages(&self, lines_per_page: usize) -> Result<Vec<String>> {
        if lines_per_page == 0 {
            return Err(VizError::InvalidOption {
                name: "lines_per_page",
                reason: "must be at least 1".to_string(),
            });
        }
        self.render_impl(Some(lines_per_page))
    }

    fn validate(&self) -> Result<()> {
        self.options.validate()?;
        let n = self.tokens.len();
        if let Some(g) = self.gold {
            check_len(|| "gold rationale".to_string(), n, g.len())?;
        }
        for r in &self.rows {
            check_len(|| format!("scores of row {:?}", r.label), n, r.scores.len())?;
            check_finite(|| format!("scores of row {:?}", r.label), r.scores)?;
            if let Some(p) = r.predicted {
                check_len(
                    || format!("predicted rationale of row {:?}", r.label),
                    n,
                    p.len(),
                )?;
            }
        }
        Ok(())
    }

    /// Tokens that windows are centred on: gold and predicted rationale tokens, or else each
    /// row's five highest |scores|.
    fn anchors(&self) -> Vec<bool> {
        let n = self.tokens.len();
        let mut a = vec![false; n];
        let flags = self
            .gold
            .into_iter()
            .chain(self.rows.iter().filter_map(|r| r.predicted));
        for f in flags {
            for (i, &on) in f.iter().enumerate() {
                a[i] |= on;
            }
        }
        if !a.contains(&true) {
            for r in &self.rows {
                let mut idx: Vec<usize> = (0..n).collect();
                idx.sort_by(|&i, &j| {
                    r.scores[j]
                        .abs()
                        .total_cmp(&r.scores[i].abs())
                        .then(i.cmp(&j))
                });
                for &i in idx.iter().take(5) {
                    a[i] = true;
                }
            }
        }
        a
    }

    fn items(&self) -> Vec<Item> {
        let n = self.tokens.len();
        let Some(context) = self.options.context else {
            return (0..n).map(Item::Token).collect();
        };
        let anchors = self.anchors();
        if !anchors.contains(&true) {
            return (0..n).map(Item::Token).collect();
        }
        let windows = context_windows(&anchors, context);
        let mut items = Vec::new();
        let mut next = 0;
        for w in windows {
            if w.start > next {
                items.push(Item::Ellipsis {
                    skipped: w.start - next,
                    leading: true,
                });
            }
            items.extend(w.clone().map(Item::Token));
            next = w.end;
        }
        if next < n && !items.is_empty() {
            items.push(Item::Ellipsis {
                skipped: n - next,
                leading: false,
            });
        }
        items
    }

    fn render_impl(&self, lines_per_page: Option<usize>) -> Result<Vec<String>> {
        self.validate()?;
        let o = &self.options;
        let m = Metrics::new(o.font_size);
        let scale = o.scale.unwrap_or_else(|| {
            let rows: Vec<&[f64]> = self.rows.iter().map(|r| r.scores).collect();
            Scale::auto(&rows)
        });
        scale.validate()?;

        let label_size = 0.85 * m.font_size;
        // Row labels and the colour-bar caption are shortened so that text keeps its room.
        let labels: Vec<String> = self
            .rows
            .iter()
            .map(|r| fit_width(&clean_text(r.label), label_size, 0.3 * o.width, 1.0))
            .collect();
        let gutter = if self.rows.len() > 1 {
            let w = labels
                .iter()
                .map(|l| text_width(l, label_size))
                .fold(0.0, f64::max);
            w + 0.8 * m.font_size
        } else {
            0.0
        };
        let text_x = m.margin + gutter;
        let avail = o.width - 2.0 * m.margin - gutter;
        if avail < 6.0 * m.font_size {
            return Err(VizError::InvalidOption {
                name: "width",
                reason: format!(
                    "{} px leaves no room for text beside the row labels",
                    o.width
                ),
            });
        }

        let items = self.items();
        let texts: Vec<String> = items
            .iter()
            .map(|it| match *it {
                Item::Token(i) => fit_text(&clean_text(self.tokens[i]), &m, avail),
                Item::Ellipsis { .. } => "…".to_string(),
            })
            .collect();
        let widths: Vec<f64> = texts.iter().map(|t| m.box_w(t)).collect();
        let breaks: Vec<bool> = items
            .iter()
            .enumerate()
            .map(|(k, it)| k > 0 && matches!(it, Item::Ellipsis { leading: true, .. }))
            .collect();
        let lines = wrap(&widths, &breaks, m.gap, avail);

        // Legend.
        let caption = match self.rows.as_slice() {
            [only] if !only.label.is_empty() => only.label,
            _ => o.scale_label.as_str(),
        };
        let caption = fit_width(&clean_text(caption), 0.8 * m.font_size, 0.3 * o.width, 1.0);
        let mut entries = Vec::new();
        if !self.rows.is_empty() {
            entries.push(Entry::ColorBar { scale, caption });
        }
        if self.gold.is_some() {
            entries.push(Entry::Marker {
                kind: Marker::Gold,
                caption: "gold rationale".to_string(),
            });
        }
        if self.rows.iter().any(|r| r.predicted.is_some()) {
            entries.push(Entry::Marker {
                kind: Marker::Predicted,
                caption: "predicted rationale".to_string(),
            });
        }
        let legend = Legend::new(entries, &m, o.width - 2.0 * m.margin);

        // Vertical geometry.
        let n_rows = self.rows.len().max(1);
        let row_h = m.box_h + marks::mark_band(&m);
        let row_sep = 0.15 * m.font_size;
        let group_h = n_rows as f64 * row_h + (n_rows - 1) as f64 * row_sep;
        let group_gap = if n_rows > 1 {
            0.6 * m.font_size
        } else {
            0.25 * m.font_size
        };
        let title_h = if self.title.is_some() || lines_per_page.is_some() {
            1.8 * m.font_size
        } else {
            0.0
        };
        let legend_h = legend.height(&m);
        let body_y = m.margin
            + title_h
            + legend_h
            + if legend_h > 0.0 {
                0.5 * m.font_size
            } else {
                0.0
            };

        let per_page = lines_per_page.unwrap_or(lines.len().max(1));
        let chunks: Vec<&[Vec<Placed>]> = if lines.is_empty() {
            vec![&[]]
        } else {
            lines.chunks(per_page).collect()
        };
        let n_pages = chunks.len();

        let mut pages = Vec::with_capacity(n_pages);
        for (p, chunk) in chunks.iter().enumerate() {
            let n_lines = chunk.len().max(1);
            let body_h = n_lines as f64 * group_h + (n_lines - 1) as f64 * group_gap;
            let height = body_y + body_h + m.margin;
            let mut svg = Svg::new(o.width, height);
            if title_h > 0.0 {
                let title = self.title.unwrap_or("");
                let suffix = match lines_per_page {
                    Some(_) if title.is_empty() => format!("page {} of {n_pages}", p + 1),
                    Some(_) => format!(" (page {} of {n_pages})", p + 1),
                    None => String::new(),
                };
                marks::title(&mut svg, &m, o.width, title, &suffix);
            }
            legend.draw(&mut svg, &m, m.margin, m.margin + title_h);

            if chunk.is_empty() {
                let style = TextStyle::new(m.font_size).fill(GREY);
                svg.text(text_x, body_y + m.baseline, "(no tokens)", style);
                svg.newline();
            }
            for (l, line) in chunk.iter().enumerate() {
                let gy = body_y + l as f64 * (group_h + group_gap);
                for r in 0..n_rows {
                    let y = gy + r as f64 * (row_h + row_sep);
                    if let (true, Some(label)) = (gutter > 0.0, labels.get(r)) {
                        let style = TextStyle::new(label_size).fill(GREY).anchor(Anchor::End);
                        svg.text(text_x - 0.5 * m.font_size, y + m.baseline, label, style);
                        svg.newline();
                    }
                    self.draw_row(
                        &mut svg,
                        &m,
                        &scale,
                        self.rows.get(r),
                        line,
                        &items,
                        &texts,
                        text_x,
                        y,
                    );
                }
            }
            pages.push(svg.finish());
        }
        Ok(pages)
    }

    #[allow(clippy::too_many_arguments)]
    fn draw_row(
        &self,
        svg: &mut Svg,
        m: &Metrics,
        scale: &Scale,
        row: Option<&Row<'_>>,
        line: &[Placed],
        items: &[Item],
        texts: &[String],
        x0: f64,
        y: f64,
    ) {
        for (k, pl) in line.iter().enumerate() {
            let x = x0 + pl.x;
            match items[pl.item] {
                Item::Ellipsis { skipped, .. } => {
                    let tip = format!("{skipped} tokens omitted");
                    svg.open_group(self.options.tooltips.then_some(tip.as_str()));
                    let style = TextStyle::new(m.font_size)
                        .fill(GREY)
                        .anchor(Anchor::Middle);
                    svg.text(x + pl.w / 2.0, y + m.baseline, "…", style);
                    svg.close_group();
                }
                Item::Token(i) => {
                    let score = row.map(|r| r.scores[i]);
                    let gold = self.gold.is_some_and(|g| g[i]);
                    let pred = row.and_then(|r| r.predicted).is_some_and(|p| p[i]);
                    let tip = self.options.tooltips.then(|| {
                        let mut t = clean_text(self.tokens[i]).into_owned();
                        if let (Some(r), Some(s)) = (row, score) {
                            let sep = if r.label.is_empty() { "" } else { ": " };
                            t = format!("{t} · {}{sep}{}", r.label, fmt_score(s));
                        }
                        if gold {
                            t.push_str(" · gold");
                        }
                        if pred {
                            t.push_str(" · predicted");
                        }
                        t
                    });
                    svg.open_group(tip.as_deref());
                    let fill = score.map_or(NEUTRAL, |s| scale.color(s));
                    marks::token_box(svg, m, x, y, pl.w, fill, &texts[pl.item]);
                    if gold {
                        // Join the underline to the next token when it is gold too.
                        let joined = line.get(k + 1).filter(|next| {
                            matches!(items[next.item], Item::Token(j) if self.gold.is_some_and(|g| g[j]))
                        });
                        let w = joined.map_or(pl.w, |next| next.x - pl.x);
                        marks::gold_underline(svg, m, x, y, w);
                    }
                    if pred {
                        marks::predicted_outline(svg, m, x, y, pl.w);
                    }
                    svg.close_group();
                }
            }
        }
    }
}

/// Token ranges within `context` tokens of an anchor, merged where they touch, in order.
pub fn context_windows(anchors: &[bool], context: usize) -> Vec<Range<usize>> {
    let n = anchors.len();
    let mut out: Vec<Range<usize>> = Vec::new();
    for (i, _) in anchors.iter().enumerate().filter(|(_, &a)| a) {
        let r = i.saturating_sub(context)..(i.saturating_add(context).saturating_add(1)).min(n);
        match out.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => out.push(r),
        }
    }
    out
}
