//! One row per (annotation, document): Parquet, Arrow IPC or JSON lines, chosen by extension.

use crate::eval::{Evaluation, KeyScore, LineScore, ScoreOptions};
use crate::metrics::numeric::{f1, mean, ratio};
use serde::Serialize;
use std::path::Path;

/// The per-instance table row: one (annotation, document) key. Span and token counts are of
/// distinct hard spans and of the tokens they cover; a `None` is an empty cell.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    /// The annotation id as plain text.
    pub annotation_id: String,
    /// The document.
    pub docid: String,
    /// Results line, or `None` for a gold document the results do not mention.
    pub line: Option<u64>,
    /// Whether the annotation is in the split (gold-only rows always are).
    pub in_split: bool,
    /// The annotation's gold label, `None` outside the split.
    pub gold_label: Option<String>,
    /// The line's `classification`, if any.
    pub predicted_label: Option<String>,
    /// Gold spans in the document (all evidence groups).
    pub gold_spans: u64,
    /// Predicted hard spans.
    pub predicted_spans: u64,
    /// Predicted spans equal to a gold span.
    pub exact_span_matches: u64,
    /// Tokens covered by gold spans.
    pub gold_tokens: u64,
    /// Tokens covered by predicted spans.
    pub predicted_tokens: u64,
    /// Tokens covered by both.
    pub overlap_tokens: u64,
    /// `overlap_tokens / predicted_tokens` (0 when no token is predicted).
    pub token_precision: f64,
    /// `overlap_tokens / gold_tokens` (0 when there is no gold token).
    pub token_recall: f64,
    /// F1 of the token precision and recall (0 when either is 0).
    pub token_f1: f64,
    /// `(threshold, matched predicted spans)` for each IOU threshold.
    pub iou_matches: Vec<(f64, u64)>,
    /// AUPRC of `soft_rationale_predictions` against the gold tokens; `None` without soft
    /// scores or without a gold token.
    pub auprc: Option<f64>,
    /// Average precision of the soft token scores; `None` without them or when the truth is
    /// all one class.
    pub average_precision: Option<f64>,
    /// ROC AUC of the soft token scores; `None` as for `average_precision`.
    pub roc_auc: Option<f64>,
    /// AUPRC of `soft_sentence_predictions` against the gold sentences; `None` as for `auprc`.
    pub sentence_auprc: Option<f64>,
    /// The line's comprehensiveness (predicted class's probability, full − rationale removed).
    pub comprehensiveness: Option<f64>,
    /// The line's sufficiency (predicted class's probability, full − rationale alone).
    pub sufficiency: Option<f64>,
    /// The line's comprehensiveness averaged over the AOPC bins.
    pub comprehensiveness_aopc: Option<f64>,
    /// The line's sufficiency averaged over the AOPC bins.
    pub sufficiency_aopc: Option<f64>,
}

/// Builds the rows of an evaluation.
pub fn rows(eval: &Evaluation, options: &ScoreOptions) -> Vec<Row> {
    let by_line = |n: usize| -> Option<&LineScore> {
        eval.lines
            .binary_search_by_key(&n, |l| l.line)
            .ok()
            .map(|i| &eval.lines[i])
    };
    eval.keys
        .iter()
        .map(|k: &KeyScore| {
            let line = k.line.and_then(by_line);
            let f = line.map(|l| &l.faithfulness);
            let (p, r) = (
                ratio(k.overlap_tokens, k.pred_tokens),
                ratio(k.overlap_tokens, k.gold_tokens),
            );
            Row {
                annotation_id: k.annotation_id.as_text(),
                docid: k.docid.clone(),
                line: k.line.map(|l| l as u64),
                in_split: k.line.is_none() || line.is_some_and(|l| l.split_index.is_some()),
                gold_label: eval.gold.label_of(&k.annotation_id).map(str::to_owned),
                predicted_label: line.and_then(|l| l.classification.clone()),
                gold_spans: k.gold_spans,
                predicted_spans: k.pred_spans,
                exact_span_matches: k.exact_spans,
                gold_tokens: k.gold_tokens,
                predicted_tokens: k.pred_tokens,
                overlap_tokens: k.overlap_tokens,
                token_precision: p,
                token_recall: r,
                token_f1: f1(p, r),
                iou_matches: options
                    .iou_thresholds
                    .iter()
                    .copied()
                    .zip(k.iou_matches.iter().copied())
                    .collect(),
                auprc: k.token_ranking.and_then(|r| r.auprc),
                average_precision: k.token_ranking.and_then(|r| r.average_precision),
                roc_auc: k.token_ranking.and_then(|r| r.roc_auc),
                sentence_auprc: k.sentence_ranking.and_then(|r| r.auprc),
                comprehensiveness: f.and_then(|f| f.comprehensiveness),
                sufficiency: f.and_then(|f| f.sufficiency),
                comprehensiveness_aopc: f
                    .and_then(|f| f.aopc_comprehensiveness.as_deref().map(mean)),
                sufficiency_aopc: f.and_then(|f| f.aopc_sufficiency.as_deref().map(mean)),
            }
        })
        .collect()
}

/// Errors writing a per-instance file.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// The file could not be written.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The extension names no known format.
    #[error("unknown extension: use .parquet, .arrow or .jsonl")]
    Extension,
    /// Parquet or Arrow was asked for in a build without the `columnar` feature.
    #[error("Parquet and Arrow output need the `columnar` feature (on by default)")]
    NoColumnar,
    /// The Arrow table could not be built or written.
    #[cfg(feature = "columnar")]
    #[error("{0}")]
    Arrow(#[from] arrow_schema::ArrowError),
    /// The Parquet file could not be written.
    #[cfg(feature = "columnar")]
    #[error("{0}")]
    Parquet(#[from] parquet::errors::ParquetError),
}

/// Writes the rows to `path`, atomically; the format follows the extension.
pub fn write(path: &Path, eval: &Evaluation, options: &ScoreOptions) -> Result<(), WriteError> {
    let rows = rows(eval, options);
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let bytes = match ext {
        "jsonl" | "json" => {
            let mut out = Vec::new();
            for r in &rows {
                serde_json::to_writer(&mut out, r).map_err(std::io::Error::other)?;
                out.push(b'\n');
            }
            out
        }
        "parquet" | "arrow" | "ipc" | "feather" => columnar(&rows, ext)?,
        _ => return Err(WriteError::Extension),
    };
    crate::io::write_atomic(path, &bytes)?;
    Ok(())
}

#[cfg(not(feature = "columnar"))]
fn columnar(_: &[Row], _: &str) -> Result<Vec<u8>, WriteError> {
    Err(WriteError::NoColumnar)
}

#[cfg(feature = "columnar")]
fn columnar(rows: &[Row], ext: &str) -> Result<Vec<u8>, WriteError> {
    let batch = record_batch(rows)?;
    let mut out = Vec::new();
    if ext == "parquet" {
        let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, batch.schema(), None)?;
        w.write(&batch)?;
        w.close()?;
    } else {
        let mut w = arrow_ipc::writer::FileWriter::try_new(&mut out, &batch.schema())?;
        w.write(&batch)?;
        w.finish()?;
    }
    Ok(out)
}

/// The rows as one Arrow record batch, one column per field (the Parquet file's schema).
#[cfg(feature = "columnar")]
pub fn record_batch(rows: &[Row]) -> Result<arrow_array::RecordBatch, arrow_schema::ArrowError> {
    use arrow_array::{
        ArrayRef, BooleanArray, Float64Array, RecordBatch, StringArray, UInt64Array,
    };
    use std::sync::Arc;
    let s = |f: fn(&Row) -> Option<&str>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<StringArray>())
    };
    let u = |f: fn(&Row) -> Option<u64>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<UInt64Array>())
    };
    let x = |f: fn(&Row) -> Option<f64>| -> ArrayRef {
        Arc::new(rows.iter().map(f).collect::<Float64Array>())
    };
    let mut columns: Vec<(String, ArrayRef)> = vec![
        ("annotation_id".into(), s(|r| Some(&r.annotation_id))),
        ("docid".into(), s(|r| Some(&r.docid))),
        ("line".into(), u(|r| r.line)),
        (
            "in_split".into(),
            Arc::new(
                rows.iter()
                    .map(|r| Some(r.in_split))
                    .collect::<BooleanArray>(),
            ),
        ),
        ("gold_label".into(), s(|r| r.gold_label.as_deref())),
        (
            "predicted_label".into(),
            s(|r| r.predicted_label.as_deref()),
        ),
        ("gold_spans".into(), u(|r| Some(r.gold_spans))),
        ("predicted_spans".into(), u(|r| Some(r.predicted_spans))),
        (
            "exact_span_matches".into(),
            u(|r| Some(r.exact_span_matches)),
        ),
        ("gold_tokens".into(), u(|r| Some(r.gold_tokens))),
        ("predicted_tokens".into(), u(|r| Some(r.predicted_tokens))),
        ("overlap_tokens".into(), u(|r| Some(r.overlap_tokens))),
        ("token_precision".into(), x(|r| Some(r.token_precision))),
        ("token_recall".into(), x(|r| Some(r.token_recall))),
        ("token_f1".into(), x(|r| Some(r.token_f1))),
    ];
    let n_iou = rows.first().map_or(0, |r| r.iou_matches.len());
    for i in 0..n_iou {
        let name = format!("iou_matches@{}", rows[0].iou_matches[i].0);
        columns.push((
            name,
            Arc::new(
                rows.iter()
                    .map(|r| Some(r.iou_matches[i].1))
                    .collect::<UInt64Array>(),
            ),
        ));
    }
    columns.extend([
        ("auprc".to_string(), x(|r| r.auprc)),
        ("average_precision".into(), x(|r| r.average_precision)),
        ("roc_auc".into(), x(|r| r.roc_auc)),
        ("sentence_auprc".into(), x(|r| r.sentence_auprc)),
        ("comprehensiveness".into(), x(|r| r.comprehensiveness)),
        ("sufficiency".into(), x(|r| r.sufficiency)),
        (
            "comprehensiveness_aopc".into(),
            x(|r| r.comprehensiveness_aopc),
        ),
        ("sufficiency_aopc".into(), x(|r| r.sufficiency_aopc)),
    ]);
    RecordBatch::try_from_iter(columns)
}
