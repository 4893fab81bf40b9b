//! Building blocks the Hugging Face encoders and decoders share: a linear map whose bias may be
//! absent, and rotary positions in Hugging Face's rotate-half layout (dimension `j` pairs with
//! `j + d/2`), angles in f32 as transformers computes them.

use crate::models::dense::PackedMatrix;
use crate::models::fast_math;
use crate::models::params::{Init, ParamStore};
use crate::models::Result;
use candle_core::{Device, Tensor, D};
use rayon::prelude::*;

/// `x Wᵀ + b`, the weight stored `(out, in)` as `nn.Linear` stores it; the bias may be absent.
pub(super) struct Linear {
    w: Tensor,
    b: Option<Tensor>,
}

impl Linear {
    /// Loads `{name}.weight` `(output, input)` and, with `bias`, `{name}.bias`.
    pub(super) fn new(
        p: &ParamStore,
        name: &str,
        input: usize,
        output: usize,
        bias: bool,
    ) -> Result<Self> {
        Ok(Linear {
            w: p.get(&format!("{name}.weight"), &[output, input], Init::Zeros)?,
            b: match bias {
                true => Some(p.get(&format!("{name}.bias"), &[output], Init::Zeros)?),
                false => None,
            },
        })
    }

    /// A bias-free map with the weight `w` `(out, in)` (a language-model head).
    pub(super) fn from_weight(w: Tensor) -> Self {
        Linear { w, b: None }
    }

    /// The weight packed for the input's gradient: `d_in = d_out · W`.
    pub(super) fn input_gradient(&self) -> Result<PackedMatrix> {
        let (out, inp) = self.w.dims2()?;
        let w = self.w.flatten_all()?.to_vec1::<f32>()?;
        Ok(PackedMatrix::new(&w, out, inp, None))
    }

    /// x (..., in) → (..., out).
    pub(super) fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let y = x.broadcast_matmul(&self.w.t()?)?;
        match &self.b {
            Some(b) => y.broadcast_add(b),
            None => Ok(y),
        }
    }
}

/// Linear maps with the same input packed as one, their outputs side by side (a missing bias
/// counts as zeros).
pub(super) fn pack(linears: &[&Linear]) -> Result<PackedMatrix> {
    if let [one] = linears {
        return Ok(PackedMatrix::from_linear(&one.w, one.b.as_ref())?);
    }
    let w = Tensor::cat(&linears.iter().map(|l| &l.w).collect::<Vec<_>>(), 0)?;
    let b = match linears.iter().any(|l| l.b.is_some()) {
        true => Some(Tensor::cat(
            &linears
                .iter()
                .map(|l| match &l.b {
                    Some(b) => Ok(b.clone()),
                    None => Tensor::zeros(l.w.dim(0)?, l.w.dtype(), l.w.device()),
                })
                .collect::<candle_core::Result<Vec<_>>>()?,
            0,
        )?),
        false => None,
    };
    Ok(PackedMatrix::from_linear(&w, b.as_ref())?)
}

/// Rotary inverse frequencies `θ^(−2j/d)`, `j < d/2`, in f32 (transformers' `inv_freq`).
pub(super) fn inv_freq(theta: f32, d: usize) -> Vec<f32> {
    (0..d / 2)
        .map(|j| 1.0 / theta.powf((2 * j) as f32 / d as f32))
        .collect()
}

/// `cos` and `sin` of the rotary angles `p · inv_j` at `positions`, in f32 as transformers
/// computes them: `(T, inv_freq.len())` each.
pub(super) fn rotary_angles(inv_freq: &[f32], positions: &[usize]) -> (Vec<f32>, Vec<f32>) {
    let angles = positions
        .iter()
        .flat_map(|&p| inv_freq.iter().map(move |&f| p as f32 * f));
    angles.map(|a| (a.cos(), a.sin())).unzip()
}

/// Rotate-half rotary positions, in place, on the first `rotated` columns of each `width`-wide
/// row of `x` (heads of `d`: dimension `j` pairs with `j + d/2`); row `i` turns by the angles
/// `cos`, `sin` of row `i` of [`rotary_angles`] (`d / 2` each).
pub(super) fn rotate_half(
    x: &mut [f32],
    (width, rotated, d): (usize, usize, usize),
    cos: &[f32],
    sin: &[f32],
) {
    let half = d / 2;
    x.par_chunks_mut(width)
        .zip(cos.par_chunks(half).zip(sin.par_chunks(half)))
        .for_each(|(row, (cos, sin))| {
            for head in row[..rotated].chunks_exact_mut(2 * half) {
                let (a, b) = head.split_at_mut(half);
                for (((x1, x2), &c), &s) in a.iter_mut().zip(b).zip(cos).zip(sin) {
                    let (u, v) = (*x1, *x2);
                    *x1 = u * c - v * s;
                    *x2 = v * c + u * s;
                }
            }
        });
}

/// `act(a) ⊙ b` of each row `[a | b]` of `f`, each half `inter` wide (the gated feed-forwards:
/// SwiGLU, GeGLU); `act` applies the activation in place (mark the closure `#[inline(always)]`
/// so that it is compiled for the instruction set [`fast_math::simd`] picks).
pub(super) fn gated(f: &[f32], inter: usize, act: impl Fn(&mut [f32]) + Sync) -> Vec<f32> {
    let mut out = vec![0f32; f.len() / 2];
    out.par_chunks_mut(inter)
        .zip(f.par_chunks(2 * inter))
        .for_each(|(o, f)| {
            fast_math::simd(
                #[inline(always)]
                || {
                    let (a, b) = f.split_at(inter);
                    o.copy_from_slice(a);
                    act(o);
                    o.iter_mut().zip(b).for_each(|(o, b)| *o *= b);
                },
            )
        });
    out
}

/// `cos` and `sin` tables `(T, 2 · inv_freq.len())` at `positions` ([`rotary_angles`]), each
/// half of a row repeating the other.
pub(super) fn rotary_tables(inv_freq: &[f32], positions: &[usize]) -> Result<(Tensor, Tensor)> {
    let half = inv_freq.len();
    let (cos, sin) = rotary_angles(inv_freq, positions);
    let twice = |t: Vec<f32>| -> Vec<f32> {
        t.chunks(half.max(1))
            .flat_map(|row| row.iter().chain(row).copied())
            .collect()
    };
    let shape = (positions.len(), 2 * half);
    Ok((
        Tensor::from_vec(twice(cos), shape, &Device::Cpu)?,
        Tensor::from_vec(twice(sin), shape, &Device::Cpu)?,
    ))
}

/// Rotate-half rotary positions on `x (..., T, d)`: `x ⊙ cos + [−x₂, x₁] ⊙ sin`.
pub(super) fn rope(x: &Tensor, cos: &Tensor, sin: &Tensor) -> candle_core::Result<Tensor> {
    let half = x.dim(D::Minus1)? / 2;
    let (x1, x2) = (
        x.narrow(D::Minus1, 0, half)?,
        x.narrow(D::Minus1, half, half)?,
    );
    let rotated = Tensor::cat(&[&x2.neg()?, &x1], D::Minus1)?;
    x.broadcast_mul(cos)? + rotated.broadcast_mul(sin)?
}
