//! The comparison table: one row per method, the ERASER metrics side by side.

use crate::eval::Scores;
use serde::Serialize;

/// Extension of the per-instance tables this build writes.
#[cfg(feature = "columnar")]
pub(super) const PER_INSTANCE_EXT: &str = "parquet";
/// Extension of the per-instance tables this build writes.
#[cfg(not(feature = "columnar"))]
pub(super) const PER_INSTANCE_EXT: &str = "jsonl";

/// One method's headline numbers (`None`: the results carry no input for the metric).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MethodRow {
    /// Method name.
    pub method: String,
    /// Macro-F1 of the predicted classes.
    pub perf: Option<f64>,
    /// IOU F1 at threshold 0.5 (macro).
    pub iou_f1: Option<f64>,
    /// Token F1 (instance macro).
    pub token_f1: Option<f64>,
    /// AUPRC of the soft scores.
    pub auprc: Option<f64>,
    /// Comprehensiveness of the hard rationale.
    pub comprehensiveness: Option<f64>,
    /// Sufficiency of the hard rationale.
    pub sufficiency: Option<f64>,
    /// AOPC of comprehensiveness over the bins.
    pub aopc_comprehensiveness: Option<f64>,
    /// AOPC of sufficiency over the bins.
    pub aopc_sufficiency: Option<f64>,
}

impl MethodRow {
    /// The row of `method` from its scores.
    pub fn new(method: &str, s: &Scores) -> Self {
        let c = s.classification_scores.as_ref();
        MethodRow {
            method: method.into(),
            perf: c.map(|c| c.report.macro_avg.f1),
            iou_f1: s
                .iou_scores
                .as_ref()
                .and_then(|v| v.first())
                .map(|i| i.macro_avg.f1),
            token_f1: s.token_prf.map(|t| t.macro_avg.f1),
            auprc: s.token_soft_metrics.map(|t| t.auprc),
            comprehensiveness: c.and_then(|c| c.comprehensiveness),
            sufficiency: c.and_then(|c| c.sufficiency),
            aopc_comprehensiveness: c.and_then(|c| c.aopc.as_ref()).map(|a| a.comprehensiveness),
            aopc_sufficiency: c.and_then(|c| c.aopc.as_ref()).map(|a| a.sufficiency),
        }
    }
}

/// The rows as a Markdown table (3 decimals, "–" where a metric has no input).
pub fn comparison_table(rows: &[MethodRow]) -> String {
    let mut t = String::from(
        "| method | Perf | IOU F1 | Token F1 | AUPRC | Comp ↑ | Suff ↓ | AOPC comp ↑ | AOPC suff ↓ |\n\
         | --- | --- | --- | --- | --- | --- | --- | --- | --- |\n",
    );
    let f = |v: Option<f64>| v.map_or("–".to_string(), |x| format!("{x:.3}"));
    for r in rows {
        t.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            r.method,
            f(r.perf),
            f(r.iou_f1),
            f(r.token_f1),
            f(r.auprc),
            f(r.comprehensiveness),
            f(r.sufficiency),
            f(r.aopc_comprehensiveness),
            f(r.aopc_sufficiency)
        ));
    }
    t
}
