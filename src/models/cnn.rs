//! A convolutional encoder: 1-D convolutions of several odd widths, ReLU, masked max-pooling.
//!
//! Convolutions are written as shifted copies of the input concatenated along the features,
//! then one matmul: candle's CPU `conv1d` backward (a direct transposed convolution) was ~10×
//! slower than this on Movies-sized inputs.

use super::params::{Init, ParamStore};
use super::Result;
use candle_core::Tensor;

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
            let w = params.get(
                &format!("{prefix}.conv{k}.weight"),
                &[filters, input, k],
                Init::Uniform(a),
            )?;
            let b = params.get(
                &format!("{prefix}.conv{k}.bias"),
                &[filters],
                Init::Uniform(a),
            )?;
            convs.push((k, w, b));
        }
        Ok(Cnn { convs, filters })
    }

    /// Output width.
    pub fn output_dim(&self) -> usize {
        self.filters * self.convs.len()
    }

    /// Per-token features (B, T, filters · widths) of `x` (B, T, E), padding positions zeroed
    /// before convolving (what a token-level generator needs; no pooling).
    pub fn per_token(&self, x: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (bs, t, e) = x.dims3()?;
        let xm = x.broadcast_mul(&mask.unsqueeze(2)?)?;
        let mut outs = Vec::with_capacity(self.convs.len());
        for (k, w, b) in &self.convs {
            let half = k / 2;
            let padded = xm.pad_with_zeros(1, half, half)?;
            let shifted: Vec<Tensor> = (0..*k)
                .map(|j| padded.narrow(1, j, t))
                .collect::<candle_core::Result<_>>()?;
            // rows: [x_{t-h}..x_{t+h}]; weight (F, E, k) → (k·E, F) in the same shift-major layout.
            let unf = Tensor::cat(&shifted, 2)?.reshape((bs * t, k * e))?;
            let wm = w.permute((2, 1, 0))?.reshape((k * e, self.filters))?;
            outs.push(
                unf.matmul(&wm)?
                    .broadcast_add(b)?
                    .relu()?
                    .reshape((bs, t, self.filters))?,
            );
        }
        Ok(Tensor::cat(&outs, 2)?)
    }

    /// Convolves `x` (B, T, E) with padding positions (`mask` = 0) zeroed, then max-pools over
    /// the real positions only: the same result as the unpadded sequence alone.
    pub fn forward(&self, x: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let neg = ((mask - 1.0)? * 1e4)?.unsqueeze(2)?; // (B, T, 1)
        Ok(self.per_token(x, mask)?.broadcast_add(&neg)?.max(1)?)
    }
}
