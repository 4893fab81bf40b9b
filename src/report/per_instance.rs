//! One row per (annotation, document): Parquet, Arrow IPC or JSON lines, chosen by extension.

use crate::eval::{Evaluation, KeyScore, LineScore, ScoreOptions};
use crate::metrics::numeric::{f1, mean, ratio};
use serde::Serialize;
use std::path::Path;

/// The per-instance table row.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub annotation_id: String,
    pub docid: String,
    /// Results line, or `None` for a gold document the results do not mention.
    pub line: Option<u64>,
    pub in_split: bool,
    pub gold_label: Option<String>,
    pub predicted_label: Option<String>,
    pub gold_spans: u64,
    pub predicted_spans: u64,
    pub exact_span_matches: u64,
    pub gold_tokens: u64,
    pub predicted_tokens: u64,
    pub overlap_tokens: u64,
    pub token_precision: f64,
    pub token_recall: f64,
    pub token_f1: f64,
    /// `(threshold, matched predicted spans)` for each IOU threshold.
    pub iou_matches: Vec<(f64, u64)>,
    pub auprc: Option<f64>,
    pub average_precision: Option<f64>,
    pub roc_auc: Option<f64>,
    pub sentence_auprc: Option<f64>,
    pub comprehensiveness: Option<f64>,
    pub sufficiency: Option<f64>,
    pub comprehensiveness_aopc: Option<f64>,
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
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("unknown extension: use .parquet, .arrow or .jsonl")]
    Extension,
    #[error("Parquet and Arrow output need the `columnar` feature (on by default)")]
    NoColumnar,
    #[cfg(feature = "columnar")]
    #[error("{0}")]
    Arrow(#[from] arrow_schema::ArrowError),
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
    let batch = RecordBatch::try_from_iter(columns)?;
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
