//! SmoothGrad (Smilkov et al. 2017): the gradient of the target probability averaged over
//! noisy copies of the input embeddings, ‖mean_k ∂p_target(e + ε_k)/∂e_t‖₂ per token, with
//! ε_k ~ N(0, σ²), σ = `noise` × (max(e) − min(e)) over the text's embeddings; all copies in
//! one batched forward and backward pass.

use super::Result;
use crate::models::params::normal;
use crate::models::{Encoded, GradientClassifier, ModelError};
use candle_core::{Tensor, Var};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// SmoothGrad score per dataset token (tokens of a word add up).
pub fn explain<M: GradientClassifier + ?Sized>(
    model: &M,
    enc: &Encoded,
    target: usize,
    samples: usize,
    noise: f64,
    seed: u64,
) -> Result<Vec<f32>> {
    let emb = model.embed(&enc.ids)?.detach(); // (T, E)
    let (lo, hi) = (
        emb.min_all()?.to_scalar::<f32>()?,
        emb.max_all()?.to_scalar::<f32>()?,
    );
    let sigma = noise * f64::from(hi - lo);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let eps: Vec<f32> = (0..samples * emb.elem_count())
        .map(|_| (sigma * normal(&mut rng)) as f32)
        .collect();
    let (t, e) = emb.dims2()?;
    let eps = Tensor::from_vec(eps, (samples, t, e), emb.device())?;
    let noisy = Var::from_tensor(&eps.broadcast_add(&emb.unsqueeze(0)?)?)?;
    let probs = model.forward_embeds(noisy.as_tensor())?;
    let grads = probs.narrow(1, target, 1)?.sum_all()?.backward()?;
    let g = grads.get(noisy.as_tensor()).ok_or_else(|| {
        ModelError::Unsupported("no gradient reached the input embeddings".into())
    })?;
    let mean = (g.sum(0)? / samples as f64)?;
    let norms = mean.sqr()?.sum(1)?.sqrt()?.to_vec1::<f32>()?;
    Ok(enc.to_words(&norms))
}
