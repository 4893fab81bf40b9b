//! A convolutional encoder: 1-D convolutions of several odd widths, ReLU, masked max-pooling.

use super::params::{Init, ParamStore};
use super::Result;
use candle_core::{Tensor, D};

/// Convolutions over (B, T, E) → pooled (B, filters · widths).
#[derive(Debug, Clone)]
pub struct Cnn {
    convs: Vec<(usize, Tensor, Tensor)>,
    filters: usize,
}

impl Cnn {
    /// Creates (or loads) one convolution per width under `prefix`. Widths must be odd (the
    /// output keeps the input length, so padding can be masked exactly).
    pub fn new(
        params: &ParamStore,
        prefix: &str,
        input: usize,
        filters: usize,
        widths: &[usize],
    ) -> Result<Self> {
        let mut convs = Vec::new();
        for &k in widths {
            let a = 1.0 / ((input * k) as f64).sqrt();
            let w = params.get(&format!("{prefix}.conv{k}.weight"), &[filters, input, k], Init::Uniform(a))?;
            let b = params.get(&format!("{prefix}.conv{k}.bias"), &[filters], Init::Uniform(a))?;
            convs.push((k, w, b));
        }
        Ok(Cnn { convs, filters })
    }

    /// Output width.
    pub fn output_dim(&self) -> usize {
        self.filters * self.convs.len()
    }

    /// Convolves `x` (B, T, E) with padding positions (`mask` = 0) zeroed, then max-pools over
    /// the real positions only: the same result as the unpadded sequence alone.
    pub fn forward(&self, x: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let m = mask.unsqueeze(2)?; // (B, T, 1)
        let xt = x.broadcast_mul(&m)?.transpose(1, 2)?.contiguous()?; // (B, E, T)
        let neg = ((mask - 1.0)? * 1e4)?.unsqueeze(1)?; // (B, 1, T)
        let mut pooled = Vec::with_capacity(self.convs.len());
        for (k, w, b) in &self.convs {
            let y = xt
                .conv1d(w, k / 2, 1, 1, 1)?
                .broadcast_add(&b.reshape((1, self.filters, 1))?)?
                .relu()?;
            pooled.push(y.broadcast_add(&neg)?.max(D::Minus1)?);
        }
        Ok(Tensor::cat(&pooled, 1)?)
    }
}
