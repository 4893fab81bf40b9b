//! Attention weights as scores: attention-pooling weights (GRU), or the attention a chosen
//! transformer layer's heads give each token from the rows the classifier reads.

use super::{ExplainError, Result};
use crate::models::{AttentionClassifier, Encoded, ModelError};
use ndarray::{s, Array1, Axis};

/// Attention per token, summed over each word's tokens. `layer` None: attention pooling if the
/// model has it, else the last layer; `heads` None: mean of all heads; `query_row` Some(r):
/// read query row r (0 = `[CLS]`, as HateXplain's `[Attn]`) instead of the rows the classifier reads.
pub fn explain<M: AttentionClassifier + ?Sized>(
    model: &M,
    enc: &Encoded,
    layer: Option<usize>,
    heads: Option<&[usize]>,
    query_row: Option<usize>,
) -> Result<Vec<f32>> {
    let maps = model.attentions(&enc.ids)?;
    if let (None, Some(p)) = (layer, &maps.pooling) {
        return Ok(enc.to_words(p));
    }
    let (n_layers, n_heads, tq, tk) = maps.layers.dim();
    if n_layers == 0 {
        return Err(ExplainError::Config(
            "the model has no attention layers; omit --layer".into(),
        ));
    }
    let l = layer.unwrap_or(n_layers - 1);
    if l >= n_layers {
        return Err(ExplainError::Config(format!(
            "layer {l} out of range (model has {n_layers})"
        )));
    }
    let all: Vec<usize> = (0..n_heads).collect();
    let hs = heads.unwrap_or(&all);
    if let Some(h) = hs.iter().find(|h| **h >= n_heads) {
        return Err(ExplainError::Config(format!(
            "head {h} out of range (layer has {n_heads})"
        )));
    }
    if hs.is_empty() {
        return Err(ExplainError::Config("no heads selected".into()));
    }
    let t = enc.ids.len();
    if (tq, tk) != (t, t) {
        return Err(ModelError::Data(format!(
            "attention maps of shape {:?} for an input of {t} tokens",
            maps.layers.dim()
        ))
        .into());
    }
    let rows: Vec<usize> = match query_row.or(maps.readout) {
        Some(r) if r >= t => {
            return Err(ExplainError::Config(format!(
                "query row {r} out of range (the input has {t} tokens)"
            )))
        }
        Some(r) => vec![r],
        None => (0..t).collect(),
    };
    // (heads, query, key) of the chosen layer; the mean over the chosen heads and rows.
    let lay = maps.layers.index_axis(Axis(0), l);
    let n = (rows.len() * hs.len()) as f32;
    let mut scores = Array1::<f32>::zeros(t);
    for &h in hs {
        for &r in &rows {
            scores.zip_mut_with(&lay.slice(s![h, r, ..]), |s, &a| *s += a / n);
        }
    }
    Ok(enc.to_words(&scores.to_vec()))
}
