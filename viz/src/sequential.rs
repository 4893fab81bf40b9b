//! Sequential (greedy) rationale figures: the target token highlighted and the selected context
//! tokens numbered in the order they were added.

use crate::color::Scale;
use crate::error::{Result, VizError};
use crate::layout::{fit_text, wrap, Metrics};
use crate::marks::{self, Entry, Legend, Marker, GREY, NEUTRAL, TARGET};
use crate::svg::{clean_text, Svg, TextStyle};
use crate::HeatmapOptions;

/// A greedy sequential rationale over `tokens`: `order[k]` is the token added at step `k + 1`
/// to explain the prediction of `tokens[target]`. Tokens after the target are drawn in grey
/// without a box.
///
/// ```
/// use rationale_viz::SequentialRationale;
/// let tokens = ["the", "cat", "sat", "on", "the", "mat"];
/// let svg = SequentialRationale::new(&tokens, 5, &[1, 2]).render().unwrap();
/// assert!(svg.contains(">mat</text>"));
/// ```
#[derive(Debug, Clone)]
pub struct SequentialRationale<'a> {
    tokens: Vec<&'a str>,
    target: usize,
    order: &'a [usize],
    title: Option<&'a str>,
    options: HeatmapOptions,
}

impl<'a> SequentialRationale<'a> {
    /// A figure for predicting `tokens[target]` from the context tokens `order`, in the order
    /// they were selected.
    pub fn new<S: AsRef<str>>(tokens: &'a [S], target: usize, order: &'a [usize]) -> Self {
        SequentialRationale {
            tokens: tokens.iter().map(AsRef::as_ref).collect(),
            target,
            order,
            title: None,
            options: HeatmapOptions::default(),
        }
    }

    /// Sets the figure title.
    pub fn title(mut self, title: &'a str) -> Self {
        self.title = Some(title);
        self
    }

    /// Sets layout options (`width`, `font_size`, `tooltips`; scale and context are unused).
    pub fn options(mut self, options: HeatmapOptions) -> Self {
        self.options = options;
        self
    }

    fn validate(&self) -> Result<Vec<Option<usize>>> {
        self.options.validate()?;
        let n = self.tokens.len();
        if self.target >= n {
            return Err(VizError::IndexOutOfRange {
                what: "target".to_string(),
                index: self.target,
                len: n,
            });
        }
        let mut rank = vec![None; n];
        for (k, &i) in self.order.iter().enumerate() {
            if i >= n {
                return Err(VizError::IndexOutOfRange {
                    what: format!("order[{k}]"),
                    index: i,
                    len: n,
                });
            }
            if i == self.target {
                return Err(VizError::InvalidOption {
                    name: "order",
                    reason: format!("order[{k}] selects the target token {i} itself"),
                });
            }
            if rank[i].is_some() {
                return Err(VizError::InvalidOption {
                    name: "order",
                    reason: format!("token {i} is selected twice (order[{k}])"),
                });
            }
            rank[i] = Some(k);
        }
        Ok(rank)
    }

    /// The figure as one SVG document.
    pub fn render(&self) -> Result<String> {
        let rank = self.validate()?;
        let o = &self.options;
        let m = Metrics::new(o.font_size);
        let avail = o.width - 2.0 * m.margin;
        let n_sel = self.order.len();

        let texts: Vec<String> = self
            .tokens
            .iter()
            .map(|t| fit_text(&clean_text(t), &m, avail))
            .collect();
        let widths: Vec<f64> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| match rank[i] {
                Some(k) => m
                    .box_w(t)
                    .max(marks::badge_size(&m, k + 1).0 + 0.2 * m.font_size),
                None => m.box_w(t),
            })
            .collect();
        let lines = wrap(&widths, &[], m.gap, avail);

        let entries = vec![
            Entry::Marker {
                kind: Marker::Target,
                caption: "target token".to_string(),
            },
            Entry::Marker {
                kind: Marker::Selected,
                caption: "selected context, numbered in order added (darker = earlier)".to_string(),
            },
        ];
        let legend = Legend::new(entries, &m, avail);
        let title_h = if self.title.is_some() {
            1.8 * m.font_size
        } else {
            0.0
        };
        let badge_h = marks::badge_size(&m, 1).1;
        let top = badge_h + 0.05 * m.font_size;
        let line_h = top + m.box_h + 0.4 * m.font_size;
        let body_y = m.margin + title_h + legend.height(&m) + 0.5 * m.font_size;
        let height = body_y + lines.len() as f64 * line_h + m.margin;

        let mut svg = Svg::new(o.width, height);
        if let Some(t) = self.title {
            marks::title(&mut svg, &m, o.width, t, "");
        }
        legend.draw(&mut svg, &m, m.margin, m.margin + title_h);
        let dark = |k: usize| {
            if n_sel > 1 {
                1.0 - 0.6 * k as f64 / (n_sel - 1) as f64
            } else {
                1.0
            }
        };
        for (l, line) in lines.iter().enumerate() {
            let y = body_y + l as f64 * line_h + top;
            for pl in line {
                let i = pl.item;
                let x = m.margin + pl.x;
                let tip = o.tooltips.then(|| {
                    let tok = clean_text(self.tokens[i]).into_owned();
                    match rank[i] {
                        _ if i == self.target => format!("{tok} · target"),
                        Some(k) => format!("{tok} · selected at step {}", k + 1),
                        None if i > self.target => format!("{tok} · after the target"),
                        None => tok,
                    }
                });
                svg.open_group(tip.as_deref());
                if i > self.target {
                    let style = TextStyle::new(m.font_size).fill(GREY);
                    svg.text(x + m.pad_x, y + m.baseline, &texts[i], style);
                } else if i == self.target {
                    marks::token_box(&mut svg, &m, x, y, pl.w, TARGET, &texts[i]);
                } else if let Some(k) = rank[i] {
                    marks::token_box(
                        &mut svg,
                        &m,
                        x,
                        y,
                        pl.w,
                        Scale::UNIT.color(dark(k)),
                        &texts[i],
                    );
                    marks::badge(
                        &mut svg,
                        &m,
                        x + pl.w / 2.0,
                        y - badge_h / 2.0 + 0.1 * m.font_size,
                        k + 1,
                    );
                } else {
                    marks::token_box(&mut svg, &m, x, y, pl.w, NEUTRAL, &texts[i]);
                }
                svg.close_group();
            }
        }
        Ok(svg.finish())
    }
}
