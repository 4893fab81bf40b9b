//! Attention rollout (Abnar & Zuidema 2020): per layer Â = ½(mean-head attention) + ½I,
//! rows renormalised, multiplied through all layers; scores are the rolled-out attention from
//! the rows the classifier reads.

use super::{ExplainError, Result};
use crate::models::{AttentionClassifier, Encoded};

/// Rollout score per token, summed over each word's tokens.
pub fn explain<M: AttentionClassifier + ?Sized>(model: &M, enc: &Encoded) -> Result<Vec<f32>> {
    let maps = model.attentions(&enc.ids)?;
    if maps.layers.is_empty() {
        return Err(ExplainError::Config(
            "attention rollout needs a transformer encoder".into(),
        ));
    }
    let t = enc.ids.len();
    let mut roll: Vec<Vec<f64>> = (0..t)
        .map(|i| (0..t).map(|j| f64::from(u8::from(i == j))).collect())
        .collect();
    for layer in &maps.layers {
        let nh = layer.len() as f64;
        let mut a = vec![vec![0f64; t]; t];
        for head in layer {
            for i in 0..t {
                for j in 0..t {
                    a[i][j] += head[i][j] as f64 / nh;
                }
            }
        }
        for (i, row) in a.iter_mut().enumerate() {
            for v in row.iter_mut() {
                *v *= 0.5;
            }
            row[i] += 0.5;
            let s: f64 = row.iter().sum();
            for v in row.iter_mut() {
                *v /= s;
            }
        }
        // roll = a · roll
        let mut next = vec![vec![0f64; t]; t];
        for i in 0..t {
            for k in 0..t {
                let aik = a[i][k];
                if aik == 0.0 {
                    continue;
                }
                for j in 0..t {
                    next[i][j] += aik * roll[k][j];
                }
            }
        }
        roll = next;
    }
    let rows: Vec<usize> = match maps.readout {
        Some(r) => vec![r],
        None => (0..t).collect(),
    };
    let scores: Vec<f32> = (0..t)
        .map(|j| (rows.iter().map(|&r| roll[r][j]).sum::<f64>() / rows.len() as f64) as f32)
        .collect();
    Ok(enc.to_words(&scores))
}
