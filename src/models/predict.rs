//! Class predictions for raw texts: tokenised exactly as the model's tokenizer does, batched.

use super::{softmax_rows, Result, TextModel};

/// One text's prediction.
#[derive(Debug, Clone, PartialEq)]
pub struct TextPrediction {
    /// The model tokens the model read (special tokens included).
    pub tokens: Vec<String>,
    /// Class logits, in the model's label order.
    pub logits: Vec<f32>,
    /// Class probabilities (softmax of the logits), in the model's label order.
    pub probs: Vec<f32>,
    /// How many model tokens the text had before it was cut to fit the model (equal to
    /// `tokens.len()` when it was not cut).
    pub tokens_before_cut: usize,
}

/// Predicts every text, each cut to `max_len` model tokens (at most the model's own limit;
/// `None`: the model's limit). Results are in input order and do not depend on the batch.
pub fn predict_texts(
    model: &dyn TextModel,
    texts: &[impl AsRef<str>],
    max_len: Option<usize>,
) -> Result<Vec<TextPrediction>> {
    let limit = max_len.map_or(model.max_len(), |n| n.clamp(1, model.max_len()));
    let inputs = texts
        .iter()
        .map(|t| model.tokenizer().encode_text(t.as_ref(), limit))
        .collect::<Result<Vec<_>>>()?;
    let ids: Vec<&[u32]> = inputs.iter().map(|i| i.encoded.ids.as_slice()).collect();
    let logits = model.logits(&ids)?;
    let probs = softmax_rows(logits.clone());
    Ok(inputs
        .into_iter()
        .zip(logits.rows().into_iter().zip(probs.rows()))
        .map(|(input, (l, p))| TextPrediction {
            tokens: input.tokens,
            logits: l.to_vec(),
            probs: p.to_vec(),
            tokens_before_cut: input.tokens_before_cut,
        })
        .collect())
}
