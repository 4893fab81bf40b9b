//! Faithfulness measured on the model (ERASER §4.2): class probabilities with the rationale
//! deleted (comprehensiveness) or kept alone (sufficiency), and the same for the top
//! ⌈n·t⌉ tokens of each AOPC bin t, as the ERASER baseline code selects them. All variants of
//! one input run as one batch.

use super::Result;
use crate::corpus::mask::top_k;
use crate::models::{Classifier, Encoded};

/// ERASER's default AOPC bins.
pub const AOPC_THRESHOLDS: [f64; 5] = [0.01, 0.05, 0.1, 0.2, 0.5];

/// Model outputs for one input.
#[derive(Debug, Clone, PartialEq)]
pub struct Faithfulness {
    /// Probabilities on the full input.
    pub full: Vec<f32>,
    /// With the rationale's words deleted.
    pub comprehensiveness: Vec<f32>,
    /// With only the rationale's words kept.
    pub sufficiency: Vec<f32>,
    /// Per AOPC bin: (threshold, deleted, kept alone).
    pub thresholded: Vec<(f64, Vec<f32>, Vec<f32>)>,
}

/// Runs the model on the input, on the input without `rationale` and on `rationale` alone,
/// and, when `scores` is given, on the input without / with only the top ⌈n·t⌉ words of each
/// threshold t (n = number of dataset tokens).
pub fn measure<M: Classifier + ?Sized>(
    model: &M,
    enc: &Encoded,
    rationale: &[bool],
    scores: Option<&[f32]>,
    thresholds: &[f64],
) -> Result<Faithfulness> {
    let mut variants = vec![
        enc.ids.clone(),
        enc.keep_words(|w| !rationale[w]).ids,
        enc.keep_words(|w| rationale[w]).ids,
    ];
    if let Some(s) = scores {
        for &t in thresholds {
            let k = ((enc.n_words as f64) * t).ceil() as usize;
            let top = top_k(s, k);
            variants.push(enc.keep_words(|w| !top[w]).ids);
            variants.push(enc.keep_words(|w| top[w]).ids);
        }
    }
    let refs: Vec<&[u32]> = variants.iter().map(Vec::as_slice).collect();
    let probs = model.predict_proba(&refs)?;
    let mut probs = probs.rows().into_iter().map(|p| p.to_vec());
    let full = probs.next().unwrap_or_default();
    let comprehensiveness = probs.next().unwrap_or_default();
    let sufficiency = probs.next().unwrap_or_default();
    let mut thresholded = Vec::new();
    if scores.is_some() {
        for &t in thresholds {
            let del = probs.next().unwrap_or_default();
            let keep = probs.next().unwrap_or_default();
            thresholded.push((t, del, keep));
        }
    }
    Ok(Faithfulness {
        full,
        comprehensiveness,
        sufficiency,
        thresholded,
    })
}
