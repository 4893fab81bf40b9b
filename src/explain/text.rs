//! Explaining a raw text: its whitespace-separated words, one score per word.

use super::{explain, ExplainConfig, Result};
use crate::models::{argmax, TextModel};
use serde::Serialize;

/// One text explained for the class the model predicts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TextExplanation {
    /// The text's whitespace-separated words.
    pub words: Vec<String>,
    /// One score per word: higher is more important for `target`.
    pub scores: Vec<f32>,
    /// The predicted class, which the scores explain.
    pub target: String,
    /// Every class with its probability, in the model's label order.
    pub probs: Vec<(String, f32)>,
}

/// Explains `text` with the configured method: the words are the text split on whitespace (as
/// ERASER tokenises documents); the text is tokenised as the model's tokenizer does and each
/// model token's score goes to the word its characters fall in.
pub fn explain_text(
    model: &dyn TextModel,
    text: &str,
    cfg: &ExplainConfig,
) -> Result<TextExplanation> {
    let input = model.encode_text(text)?;
    let enc = &input.encoded;
    let probs = model.predict_proba(&[&enc.ids])?.row(0).to_vec();
    let target = argmax(&probs);
    let scores = explain(model, enc, target, cfg, 0)?;
    let labels = model.labels();
    Ok(TextExplanation {
        words: input.words,
        scores,
        target: labels[target].clone(),
        probs: labels.iter().cloned().zip(probs).collect(),
    })
}
