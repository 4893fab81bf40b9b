//! Gradient × input: Σ_e (∂p_target/∂e_t)·e_t per token (exact contributions for a linear model).

use super::{input_gradient, Result};
use crate::models::{Encoded, GradientClassifier};

/// Gradient · embedding per token, summed over each word's tokens.
pub fn explain<M: GradientClassifier + ?Sized>(
    model: &M,
    enc: &Encoded,
    target: usize,
) -> Result<Vec<f32>> {
    let (emb, g) = input_gradient(model, &enc.ids, target)?;
    let s = (g * emb)?.sum(1)?.to_vec1::<f32>()?;
    Ok(enc.to_words(&s))
}
