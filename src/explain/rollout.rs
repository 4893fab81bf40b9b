//! Attention rollout (Abnar & Zuidema 2020): per layer Â = ½(mean-head attention) + ½I,
//! rows renormalised, multiplied through all layers; scores are the rolled-out attention from
//! the rows the classifier reads.

use super::{ExplainError, Result};
use crate::models::{AttentionClassifier, Encoded, ModelError};
use ndarray::{Array1, Array2, Axis};

/// Rollout score per token, summed over each word's tokens.
pub fn explain<M: AttentionClassifier + ?Sized>(model: &M, enc: &Encoded) -> Result<Vec<f32>> {
    let maps = model.attentions(&enc.ids)?;
    let (layers, heads, tq, tk) = maps.layers.dim();
    if layers == 0 {
        return Err(ExplainError::Config(
            "attention rollout needs a transformer encoder".into(),
        ));
    }
    let t = enc.ids.len();
    if heads == 0 || (tq, tk) != (t, t) {
        return Err(ModelError::Data(format!(
            "attention maps of shape {:?} for an input of {t} tokens",
            maps.layers.dim()
        ))
        .into());
    }
    let eye = Array2::<f64>::eye(t);
    let mut roll = eye.clone();
    for layer in maps.layers.outer_iter() {
        let mean = layer
            .mapv(f64::from)
            .mean_axis(Axis(0))
            .expect("heads > 0 was checked");
        let mut a = mean * 0.5 + &eye * 0.5;
        let sums = a.sum_axis(Axis(1)).insert_axis(Axis(1));
        a /= &sums;
        roll = a.dot(&roll);
    }
    let scores = match maps.readout {
        Some(r) if r >= t => {
            return Err(
                ModelError::Data(format!("readout row {r} outside an input of {t} tokens")).into(),
            )
        }
        Some(r) => roll.row(r).to_owned(),
        // Mean over all query rows (none for an empty input).
        None => roll.mean_axis(Axis(0)).unwrap_or_else(|| Array1::zeros(t)),
    };
    let scores: Vec<f32> = scores.iter().map(|&s| s as f32).collect();
    Ok(enc.to_words(&scores))
}
