//! Integrated gradients (Sundararajan et al. 2017) from the all-zero embedding baseline, with
//! the midpoint rule over `steps` points, all in one batched forward and backward pass.

use super::Result;
use crate::models::{Encoded, GradientClassifier, ModelError};
use candle_core::{Device, Tensor, Var};

/// IG attribution per token: e_t · mean_k ∂p_target(α_k e)/∂e_t, α_k = (k + ½)/steps.
pub fn explain<M: GradientClassifier + ?Sized>(
    model: &M,
    enc: &Encoded,
    target: usize,
    steps: usize,
) -> Result<Vec<f32>> {
    let emb = model.embed(&enc.ids)?.detach(); // (T, E)
    let alphas: Vec<f32> = (0..steps)
        .map(|k| (k as f32 + 0.5) / steps as f32)
        .collect();
    let a = Tensor::from_vec(alphas, (steps, 1, 1), &Device::Cpu)?;
    let path = a.broadcast_mul(&emb.unsqueeze(0)?)?; // (m, T, E)
    let var = Var::from_tensor(&path)?;
    let probs = model.forward_embeds(var.as_tensor())?;
    let total = probs.narrow(1, target, 1)?.sum_all()?;
    let grads = total.backward()?;
    let g = grads.get(var.as_tensor()).ok_or_else(|| {
        ModelError::Unsupported("no gradient reached the input embeddings".into())
    })?;
    let mean = (g.sum(0)? / steps as f64)?;
    let s = (mean * emb)?.sum(1)?.to_vec1::<f32>()?;
    Ok(enc.to_words(&s))
}
