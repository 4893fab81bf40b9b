//! Attention weights as scores: attention-pooling weights (GRU), or the attention a chosen
//! transformer layer's heads give each token from the rows the classifier reads.

use super::{ExplainError, Result};
use crate::models::{AttentionClassifier, Encoded};

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
    if maps.layers.is_empty() {
        return Err(ExplainError::Config(
            "the model has no attention layers; omit --layer".into(),
        ));
    }
    let l = layer.unwrap_or(maps.layers.len() - 1);
    let lay = maps.layers.get(l).ok_or_else(|| {
        ExplainError::Config(format!(
            "layer {l} out of range (model has {})",
            maps.layers.len()
        ))
    })?;
    let all: Vec<usize> = (0..lay.len()).collect();
    let hs = heads.unwrap_or(&all);
    if let Some(h) = hs.iter().find(|h| **h >= lay.len()) {
        return Err(ExplainError::Config(format!(
            "head {h} out of range (layer has {})",
            lay.len()
        )));
    }
    if hs.is_empty() {
        return Err(ExplainError::Config("no heads selected".into()));
    }
    let t = enc.ids.len();
    let mut scores = vec![0f32; t];
    for &h in hs {
        let m = &lay[h];
        let rows: Vec<usize> = match query_row.or(maps.readout) {
            Some(r) if r >= t => {
                return Err(ExplainError::Config(format!(
                    "query row {r} out of range (the input has {t} tokens)"
                )))
            }
            Some(r) => vec![r],
            None => (0..t).collect(),
        };
        for &r in &rows {
            for (k, s) in scores.iter_mut().enumerate() {
                *s += m[r][k] / (rows.len() * hs.len()) as f32;
            }
        }
    }
    Ok(enc.to_words(&scores))
}
