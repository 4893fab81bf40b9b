//! A bidirectional GRU encoder (PyTorch gate order r, z, n), both directions advanced together.
//!
//! candle's own GRU has no bidirectional mode and slices per time step in a way whose backward
//! pass is quadratic in the length (`research/stack.md` §5.3). Here the input projection of
//! both directions is one matmul, the backward direction runs on the time-reversed sequence in
//! the same batched matmul as the forward one, and time steps are sliced in two levels.
//! Padding is masked: a padded step leaves the state unchanged, so the reversed direction
//! starts at each sequence's own last token.

use super::params::{Init, ParamStore};
use super::Result;
use candle_core::{Device, Tensor, D};

/// A one-layer bidirectional GRU: (B, T, E) → (B, T, 2H).
#[derive(Debug, Clone)]
pub struct BiGru {
    w_ih: Tensor,
    b_ih: Tensor,
    w_hh: Tensor,
    b_hh: Tensor,
    hidden: usize,
}

impl BiGru {
    /// Creates (or loads) the parameters under `prefix`.
    pub fn new(params: &ParamStore, prefix: &str, input: usize, hidden: usize) -> Result<Self> {
        let a = 1.0 / (hidden as f64).sqrt();
        Ok(BiGru {
            w_ih: params.get(
                &format!("{prefix}.w_ih"),
                &[input, 6 * hidden],
                Init::Uniform(a),
            )?,
            b_ih: params.get(&format!("{prefix}.b_ih"), &[6 * hidden], Init::Uniform(a))?,
            w_hh: params.get(
                &format!("{prefix}.w_hh"),
                &[2, hidden, 3 * hidden],
                Init::Uniform(a),
            )?,
            b_hh: params.get(
                &format!("{prefix}.b_hh"),
                &[2, 1, 3 * hidden],
                Init::Uniform(a),
            )?,
            hidden,
        })
    }

    /// Output width (2H).
    pub fn output_dim(&self) -> usize {
        2 * self.hidden
    }

    /// Runs both directions over `x` (B, T, E) with `mask` (B, T) of 0/1.
    pub fn forward(&self, x: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let (b, t, e) = x.dims3()?;
        let h = self.hidden;
        let dev = x.device();
        let xp = x
            .reshape((b * t, e))?
            .matmul(&self.w_ih)?
            .broadcast_add(&self.b_ih)?
            .reshape((b, t, 6 * h))?;
        let rev = reverse_index(t, dev)?;
        let xf = xp.narrow(2, 0, 3 * h)?;
        let xb = xp
            .narrow(2, 3 * h, 3 * h)?
            .contiguous()?
            .index_select(&rev, 1)?;
        let mb = mask.contiguous()?.index_select(&rev, 1)?;
        // Time-major: (T, 2, B, 3H) and (T, 2, B, 1).
        let xs = Tensor::stack(&[xf, xb], 0)?
            .permute((2, 0, 1, 3))?
            .contiguous()?;
        let ms = Tensor::stack(&[mask.clone(), mb], 0)?
            .permute((2, 0, 1))?
            .unsqueeze(3)?
            .contiguous()?;
        let mut state = Tensor::zeros((2, b, h), x.dtype(), dev)?;
        let mut outs = Vec::with_capacity(t);
        let blk = ((t as f64).sqrt().ceil() as usize).max(1);
        for c0 in (0..t).step_by(blk) {
            let len = blk.min(t - c0);
            let xblock = xs.narrow(0, c0, len)?;
            let mblock = ms.narrow(0, c0, len)?;
            for s in 0..len {
                let xt = xblock.get(s)?;
                let mt = mblock.get(s)?;
                let gh = state.matmul(&self.w_hh)?.broadcast_add(&self.b_hh)?;
                let rz =
                    candle_nn::ops::sigmoid(&(xt.narrow(2, 0, 2 * h)? + gh.narrow(2, 0, 2 * h)?)?)?;
                let r = rz.narrow(2, 0, h)?;
                let z = rz.narrow(2, h, h)?;
                let n = (xt.narrow(2, 2 * h, h)? + (r * gh.narrow(2, 2 * h, h)?)?)?.tanh()?;
                let hn = (&n + (z * (&state - &n)?)?)?;
                state = (&state + (hn - &state)?.broadcast_mul(&mt)?)?;
                outs.push(state.clone());
            }
        }
        let hs = Tensor::stack(&outs, 0)?; // (T, 2, B, H)
        let fwd = hs.get_on_dim(1, 0)?.transpose(0, 1)?;
        let bwd = hs
            .get_on_dim(1, 1)?
            .transpose(0, 1)?
            .contiguous()?
            .index_select(&rev, 1)?;
        Ok(Tensor::cat(&[fwd, bwd], D::Minus1)?)
    }
}

fn reverse_index(t: usize, dev: &Device) -> Result<Tensor> {
    let idx: Vec<u32> = (0..t as u32).rev().collect();
    Ok(Tensor::from_vec(idx, t, dev)?)
}
