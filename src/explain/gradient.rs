//! Gradient saliency (Simonyan et al. 2014): ‖∂p_target/∂e_t‖₂ per token.

use super::{input_gradient, Result};
use crate::models::{Encoded, GradientClassifier};

/// L2 norm of the gradient per token, summed over each word's tokens.
pub fn explain<M: GradientClassifier + ?Sized>(
    model: &M,
    enc: &Encoded,
    target: usize,
) -> Result<Vec<f32>> {
    let (_, g) = input_gradient(model, &enc.ids, target)?;
    let norms = g.sqr()?.sum(1)?.sqrt()?.to_vec1::<f32>()?;
    Ok(enc.to_words(&norms))
}
