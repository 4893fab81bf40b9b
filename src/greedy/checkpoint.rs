//! A loaded classifier (a checkpoint of `rationale train classifier` — GRU, CNN, transformer or
//! a BERT-family encoder — or a Hugging Face classifier folder) as a [`SubsetClassifier`], so
//! greedy search rationalizes it. A subset keeps the model tokens of the chosen dataset words
//! (special tokens stay), exactly as comprehensiveness / sufficiency delete words.

use super::classifier::SubsetClassifier;
use super::GreedyError;
use crate::models::{load_text_model, Encoded, TextModel};
use std::path::Path;

/// A [`TextModel`] that remembers the encoding of the document it last saw.
pub struct CheckpointClassifier {
    model: Box<dyn TextModel + Send>,
    last: Option<(Vec<String>, Encoded)>,
}

impl CheckpointClassifier {
    /// Wraps a loaded model.
    pub fn new(model: Box<dyn TextModel + Send>) -> Self {
        CheckpointClassifier { model, last: None }
    }

    /// Loads a checkpoint directory (`OUT/best` of a training run, or `OUT` itself) or a
    /// Hugging Face classifier folder.
    pub fn load(dir: &Path) -> Result<Self, GreedyError> {
        load_text_model(dir)
            .map(Self::new)
            .map_err(|e| GreedyError::Invalid(format!("{}: {e}", dir.display())))
    }

    fn encoded(&mut self, tokens: &[String]) -> Result<&Encoded, GreedyError> {
        let fresh = !matches!(&self.last, Some((t, _)) if t.as_slice() == tokens);
        if fresh {
            let enc = self.model.encode(tokens).map_err(invalid)?;
            self.last = Some((tokens.to_vec(), enc));
        }
        Ok(&self.last.as_ref().expect("just set").1)
    }
}

fn invalid(e: impl std::fmt::Display) -> GreedyError {
    GreedyError::Invalid(e.to_string())
}

impl SubsetClassifier for CheckpointClassifier {
    fn labels(&self) -> &[String] {
        self.model.labels()
    }

    fn class_log_probs(
        &mut self,
        tokens: &[String],
        subsets: &[Vec<usize>],
    ) -> Result<Vec<Vec<f32>>, GreedyError> {
        if let Some(&p) = subsets.iter().flatten().find(|&&p| p >= tokens.len()) {
            return Err(GreedyError::Invalid(format!(
                "position {p} outside a document of {}",
                tokens.len()
            )));
        }
        let enc = self.encoded(tokens)?;
        let inputs: Vec<Vec<u32>> = subsets
            .iter()
            .map(|s| enc.keep_words(|w| s.binary_search(&w).is_ok()).ids)
            .collect();
        let refs: Vec<&[u32]> = inputs.iter().map(Vec::as_slice).collect();
        let probs = self.model.predict_proba(&refs).map_err(invalid)?;
        Ok(probs
            .rows()
            .into_iter()
            .map(|p| p.iter().map(|x| x.max(f32::MIN_POSITIVE).ln()).collect())
            .collect())
    }
}
