//! Figures from ERASER records: per-document token heatmaps (human rationale vs each method)
//! and curves, drawn by the `rationale-viz` crate.

use crate::corpus::{
    read_results, Annotation, DataDir, DocStore, Document, Prediction, RationalePrediction,
};
use crate::metrics::ranking::pr_curve;
use crate::metrics::spans::Span;
pub mod gallery;
#[cfg(feature = "png")]
pub mod png;

use rationale_viz::{Curve, CurveOptions, Heatmap, HeatmapOptions, Scale, VizError};
use std::path::Path;

/// One method's row: a score per token and, when the method gave spans, its hard rationale.
#[derive(Debug, Clone, PartialEq)]
pub struct MethodRow {
    /// The row's name in the figure.
    pub label: String,
    /// One score per token of the document (1 on the hard rationale when no soft scores).
    pub scores: Vec<f64>,
    /// Per token: in the method's hard rationale; `None` when it gave no spans.
    pub predicted: Option<Vec<bool>>,
}

/// Everything drawn for one (annotation, document).
#[derive(Debug, Clone, PartialEq)]
pub struct DocFigure {
    /// The document.
    pub docid: String,
    /// The heading: annotation id, document, gold and predicted labels.
    pub title: String,
    /// The document's tokens, across sentences.
    pub tokens: Vec<String>,
    /// Per token: in the human rationale (any evidence group).
    pub gold: Vec<bool>,
    /// One row per method that predicts the document.
    pub rows: Vec<MethodRow>,
}

/// Layout choices for document figures.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FigureOptions {
    /// Tokens shown either side of rationale tokens (`None`: the whole document).
    pub context: Option<usize>,
    /// Diverging scale centred on 0, for signed attributions.
    pub signed: bool,
    /// Figure width in px (default 720).
    pub width: Option<f64>,
    /// Split whole documents into pages of this many text lines.
    pub page_lines: Option<usize>,
    /// Divide each row by its largest magnitude, so methods on different scales compare by colour.
    pub per_row: bool,
}

/// Errors drawing figures.
#[derive(Debug, thiserror::Error)]
pub enum FigureError {
    /// The figure could not be laid out or drawn.
    #[error(transparent)]
    Viz(#[from] VizError),
    /// The data to draw could not be read.
    #[error(transparent)]
    Corpus(#[from] crate::corpus::CorpusError),
    /// The results to draw could not be scored.
    #[error(transparent)]
    Eval(#[from] crate::eval::EvalError),
    /// An input the figure needs is missing (the message names it).
    #[error("{0}")]
    Missing(String),
    /// The SVG could not be rasterised.
    #[error("PNG: {0}")]
    Png(String),
}

/// A file name from an id: anything but letters, digits, `.`, `_`, `-` becomes `_`.
pub fn file_safe(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// Token flags for spans over `n` tokens (parts outside the document are ignored).
pub(crate) fn span_mask(n: usize, spans: impl IntoIterator<Item = Span>) -> Vec<bool> {
    let mut mask = vec![false; n];
    for (s, e) in spans {
        let (s, e) = (s.clamp(0, n as i64) as usize, e.clamp(0, n as i64) as usize);
        if s < e {
            mask[s..e].iter_mut().for_each(|m| *m = true);
        }
    }
    mask
}

/// A method's row for a document: soft scores when given, else 1 on its hard rationale.
/// `None` when the method says nothing about the document.
pub(crate) fn method_row(
    label: &str,
    prediction: &Prediction,
    docid: &str,
    n: usize,
) -> Option<MethodRow> {
    let entries: Vec<&RationalePrediction> = prediction
        .rationales
        .iter()
        .filter(|r| r.docid == docid)
        .collect();
    let last = entries.last()?;
    let spans = entries
        .iter()
        .flat_map(|r| r.hard_rationale_predictions.iter().flatten())
        .map(|h| (h.start_token, h.end_token));
    let has_hard = entries
        .iter()
        .any(|r| r.hard_rationale_predictions.is_some());
    let predicted = has_hard.then(|| span_mask(n, spans));
    let scores = match (&last.soft_rationale_predictions, &predicted) {
        (Some(soft), _) if soft.len() == n => soft.iter().map(|s| s.0).collect(),
        (_, Some(mask)) => mask.iter().map(|&m| if m { 1.0 } else { 0.0 }).collect(),
        _ => return None,
    };
    Some(MethodRow {
        label: label.to_owned(),
        scores,
        predicted,
    })
}

/// The figure of one annotation's document with one row per method that predicts it.
pub fn doc_figure(
    annotation: &Annotation,
    doc: &Document,
    methods: &[(&str, Option<&Prediction>)],
) -> DocFigure {
    let tokens: Vec<String> = doc.tokens().map(str::to_owned).collect();
    let n = tokens.len();
    let gold = span_mask(
        n,
        annotation
            .all_evidence()
            .filter(|e| e.docid == doc.docid)
            .map(|e| (e.start_token, e.end_token)),
    );
    let rows = methods
        .iter()
        .filter_map(|(label, p)| p.and_then(|p| method_row(label, p, &doc.docid, n)))
        .collect();
    let id = annotation.annotation_id.as_text();
    let mut title = if id == doc.docid {
        format!("{id} · gold: {}", annotation.classification)
    } else {
        format!("{id} · {} · gold: {}", doc.docid, annotation.classification)
    };
    let predicted: Vec<String> = methods
        .iter()
        .filter_map(|(label, p)| {
            p.and_then(|p| p.classification.as_ref())
                .map(|c| format!("{label}: {c}"))
        })
        .collect();
    if !predicted.is_empty() {
        title.push_str(&format!(" · predicted {}", predicted.join(", ")));
    }
    DocFigure {
        docid: doc.docid.clone(),
        title,
        tokens,
        gold,
        rows,
    }
}

/// The figures of one annotation: one per document that has gold or predicted rationales
/// (evidence documents first, in order), each with one row per method that predicts it.
pub fn annotation_figures(
    annotation: &Annotation,
    docs: &DocStore,
    methods: &[(&str, Option<&Prediction>)],
) -> Result<Vec<DocFigure>, FigureError> {
    let id = annotation.annotation_id.as_text();
    let mut docids: Vec<&str> = annotation
        .all_evidence()
        .map(|e| e.docid.as_str())
        .collect();
    for p in methods.iter().filter_map(|(_, p)| *p) {
        docids.extend(p.rationales.iter().map(|r| r.docid.as_str()));
    }
    let mut seen = Vec::new();
    docids.retain(|d| {
        !seen.contains(d) && {
            seen.push(*d);
            true
        }
    });
    docids
        .into_iter()
        .map(|d| {
            let doc = docs.document(d).map_err(|e| {
                FigureError::Missing(format!(
                    "annotation {id}: document {}: {e}",
                    docs.describe(d)
                ))
            })?;
            Ok(doc_figure(annotation, &doc, methods))
        })
        .collect()
}

/// Draws annotation `id` of `split`: the human rationale, then one row per `(label, results
/// file)`, one SVG per document (or per page with `page_lines`), as `rationale render` does.
///
/// ```
/// let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/movies");
/// let union = data.join("movies_union_human_perf.jsonl");
/// let svgs = rationale::figures::render(
///     &data,
///     "test",
///     "negR_904.txt",
///     &[("second annotator", union.as_path())],
///     &rationale::figures::FigureOptions::default(),
/// )?;
/// assert!(svgs[0].starts_with("<svg") && svgs[0].contains("second annotator"));
/// # Ok::<(), rationale::figures::FigureError>(())
/// ```
pub fn render(
    data_dir: &Path,
    split: &str,
    id: &str,
    methods: &[(&str, &Path)],
    options: &FigureOptions,
) -> Result<Vec<String>, FigureError> {
    let data = DataDir::new(data_dir);
    let annotations = data.annotations(split)?;
    let annotation = annotations
        .iter()
        .find(|a| a.annotation_id.as_text() == id)
        .ok_or_else(|| {
            FigureError::Missing(format!(
                "annotation {id:?} is not in {}",
                data.split_path(split).display()
            ))
        })?;
    let docs = data.documents()?;
    let loaded = methods
        .iter()
        .map(|(label, path)| Ok((*label, read_results(path)?)))
        .collect::<Result<Vec<_>, FigureError>>()?;
    let rows: Vec<(&str, Option<&Prediction>)> =
        loaded.iter().map(|(l, m)| (*l, m.get(id))).collect();
    let mut svgs = Vec::new();
    for figure in annotation_figures(annotation, &docs, &rows)? {
        svgs.extend(figure.render(options)?);
    }
    Ok(svgs)
}

impl DocFigure {
    /// Renders the figure: one SVG, or one per page with `page_lines`.
    pub fn render(&self, options: &FigureOptions) -> Result<Vec<String>, VizError> {
        let scaled: Vec<Vec<f64>> = self
            .rows
            .iter()
            .map(|r| match options.per_row {
                true => scaled_to_unit(&r.scores),
                false => r.scores.clone(),
            })
            .collect();
        let score_rows: Vec<&[f64]> = scaled.iter().map(Vec::as_slice).collect();
        let scale = if options.signed {
            Scale::symmetric(&score_rows)
        } else {
            Scale::auto(&score_rows)
        };
        let mut heatmap = Heatmap::new(&self.tokens)
            .gold(&self.gold)
            .title(&self.title);
        for (row, scores) in self.rows.iter().zip(&scaled) {
            heatmap = match &row.predicted {
                Some(p) => heatmap.row_with_prediction(&row.label, scores, p),
                None => heatmap.row(&row.label, scores),
            };
        }
        let defaults = HeatmapOptions::default();
        heatmap = heatmap.options(HeatmapOptions {
            width: options.width.unwrap_or(defaults.width),
            scale: Some(scale),
            scale_label: match options.per_row {
                true => "score ÷ row max".to_string(),
                false => defaults.scale_label.clone(),
            },
            context: options.context,
            ..defaults
        });
        match options.page_lines {
            Some(lines) if options.context.is_none() => heatmap.render_pages(lines),
            _ => heatmap.render().map(|s| vec![s]),
        }
    }
}

/// `scores` divided by their largest finite magnitude (unchanged when that is 0).
fn scaled_to_unit(scores: &[f64]) -> Vec<f64> {
    let max = scores
        .iter()
        .filter(|s| s.is_finite())
        .fold(0.0f64, |m, s| m.max(s.abs()));
    match max > 0.0 {
        true => scores.iter().map(|s| s / max).collect(),
        false => scores.to_vec(),
    }
}

/// Per-document precision–recall curves of each method's soft scores against the gold rationale.
pub fn pr_figure(figure: &DocFigure) -> Result<String, VizError> {
    let points: Vec<(String, Vec<f64>, Vec<f64>)> = figure
        .rows
        .iter()
        .filter_map(|r| {
            let (recall, precision) = pr_curve(&figure.gold, &r.scores)?;
            Some((r.label.clone(), recall, precision))
        })
        .collect();
    if points.is_empty() {
        return Err(VizError::Empty(format!(
            "{}: no method has scores, or the document has no gold token",
            figure.title
        )));
    }
    let curves: Vec<Curve> = points
        .iter()
        .map(|(label, x, y)| Curve { label, x, y })
        .collect();
    rationale_viz::precision_recall_curves(&curves, &CurveOptions::precision_recall(&figure.title))
}

#[cfg(test)]
mod tests {
    use super::scaled_to_unit;

    #[test]
    fn rows_scale_by_their_largest_finite_magnitude() {
        assert_eq!(
            scaled_to_unit(&[0.5, -2.0, 1.0, f64::NAN])
                .iter()
                .take(3)
                .copied()
                .collect::<Vec<_>>(),
            vec![0.25, -1.0, 0.5]
        );
        assert_eq!(scaled_to_unit(&[0.0, 0.0]), vec![0.0, 0.0]);
    }
}
