//! ModernBERT's layers as one candle op ([`Layers`]) differentiable in their input, with a
//! hand-written backward pass: gradient explanations (gradient, integrated gradients,
//! SmoothGrad) of a ModernBERT checkpoint without candle's graph of some forty ops per layer.
//! The weights are constants here (checkpoints are loaded to be explained, not trained), so the
//! backward pass computes the input's gradient only: about as much arithmetic as the forward
//! pass.
//!
//! A layer (rows `x` of the padded batch; the first layer has no `LN_a`):
//!
//! ```text
//! qkv = rope(LN_a(x)·W_qkvᵀ)      P = softmax(q·kᵀ/√d + (m − 1)·10⁹ [− 10⁹ outside the window])
//! x₁  = x + P·v·W_oᵀ              y = x₁ + (act(f₁) ⊙ f₂)·W_outᵀ,   [f₁ | f₂] = LN_m(x₁)·W_iᵀ
//! ```

use super::{ModernBert, Packed};
use crate::models::cpu_op::{f32_slice, with_values};
use crate::models::dense::{Input, PackedMatrix};
use crate::models::hf::blocks::{gated, inv_freq, rotary_angles, rotate_half};
use crate::models::transformer::{
    activate_chunk, activation_slopes, attention_backward, attention_forward, norm_backward,
    norm_forward, par_add, Activation, Dims,
};
use crate::models::{fast_math, Result};
use candle_core::{CpuStorage, CustomOp1, Layout, Shape, Tensor};
use rayon::prelude::*;
use std::sync::{Arc, Mutex};

type CResult<T> = candle_core::Result<T>;

const OP: &str = "ModernBERT layers";

/// One layer's weights packed for the input's gradient (`d_in = d_out · W`).
pub(super) struct Transposed {
    qkv: PackedMatrix,
    out: PackedMatrix,
    wi: PackedMatrix,
    wo: PackedMatrix,
}

impl Transposed {
    /// Every layer's.
    pub(super) fn all(m: &ModernBert) -> Result<Vec<Self>> {
        m.layers
            .iter()
            .map(|l| {
                Ok(Transposed {
                    qkv: l.qkv.input_gradient()?,
                    out: l.out.input_gradient()?,
                    wi: l.wi.input_gradient()?,
                    wo: l.wo.input_gradient()?,
                })
            })
            .collect()
    }
}

/// What one layer's backward pass reads.
struct Saved {
    /// `LN_a`'s normalized rows and 1/σ (none in the first layer).
    attn_norm: Option<(Vec<f32>, Vec<f32>)>,
    /// `(N, 3H)`, after the rotary positions.
    qkv: Vec<f32>,
    /// `(B, heads, T, T)`.
    probs: Vec<f32>,
    /// `LN_m`'s normalized rows and 1/σ.
    mlp_norm: (Vec<f32>, Vec<f32>),
    /// `[f₁ | f₂]`, `(N, 2I)`.
    f: Vec<f32>,
}

/// Every layer of a ModernBERT encoder as one op on the embeddings' normalized states
/// `(B, T, H)` under the key mask it holds; output `(B, T, H)` before the final norm. One
/// instance per call (it keeps that call's activations until its backward pass).
pub(super) struct Layers {
    packed: Arc<Packed>,
    transposed: Arc<Vec<Transposed>>,
    mask: Vec<f32>,
    heads: usize,
    half_window: usize,
    act: Activation,
    /// Every row's rotary angles, global layers then sliding ones.
    angles: [Angles; 2],
    saved: Mutex<Vec<Saved>>,
}

/// `cos` and `sin` of every row's rotary angles, and `−sin` for the backward pass (the rotation
/// by the opposite angle).
struct Angles {
    cos: Vec<f32>,
    sin: Vec<f32>,
    back: Vec<f32>,
}

impl ModernBert {
    /// The op for a batch of `b` sequences of `t` tokens under the 0/1 key `mask` `(B·T)`.
    pub(super) fn layers_op(&self, mask: Vec<f32>, b: usize, t: usize, h: usize) -> Result<Layers> {
        let d = h / self.heads;
        let positions: Vec<usize> = (0..b).flat_map(|_| 0..t).collect();
        let angles = |theta| {
            let (cos, sin) = rotary_angles(&inv_freq(theta, d), &positions);
            let back = sin.iter().map(|s| -s).collect();
            Angles { cos, sin, back }
        };
        Ok(Layers {
            packed: self.packed.get(|| Packed::new(self))?,
            transposed: self.transposed.get(|| Transposed::all(self))?,
            mask,
            heads: self.heads,
            half_window: self.half_window,
            act: self.act,
            angles: [angles(self.theta_global), angles(self.theta_local)],
            saved: Mutex::new(Vec::new()),
        })
    }
}

impl Layers {
    fn dims(&self, shape: &Shape) -> CResult<Dims> {
        let (b, t, h) = shape.dims3()?;
        if self.mask.len() != b * t {
            candle_core::bail!("{OP}: mask of {} for ({b}, {t}) tokens", self.mask.len());
        }
        Ok(Dims {
            b,
            t,
            h,
            i: self.packed.layers.first().map_or(0, |l| l.wo.k()),
            heads: self.heads,
            window: None,
        })
    }

    /// The dimensions of layer `sliding`'s attention, and its rotary angles.
    fn attention_of(&self, d: Dims, sliding: bool) -> (Dims, &Angles) {
        let window = sliding.then_some(self.half_window);
        (Dims { window, ..d }, &self.angles[sliding as usize])
    }

    fn layer_forward(&self, index: usize, x: &mut [f32], d: Dims) -> Saved {
        let l = &self.packed.layers[index];
        let (n, h) = (d.rows(), d.h);
        let (attention, angles) = self.attention_of(d, l.sliding);
        let mut a = x.to_vec();
        let attn_norm = l
            .attn_norm
            .as_ref()
            .map(|m| norm_forward(&mut a, None, &m.w, &m.b, m.eps));
        let mut qkv = l.qkv.apply(&a, n);
        drop(a);
        let width = (3 * h, 2 * h, d.head_width());
        rotate_half(&mut qkv, width, &angles.cos, &angles.sin);
        let (ctx, probs) = attention_forward(&qkv, &self.mask, attention);
        fast_math::add(x, &l.out.apply(&ctx, n));
        drop(ctx);
        let mut m = x.to_vec();
        let mlp_norm = norm_forward(&mut m, None, &l.mlp_norm.w, &l.mlp_norm.b, l.mlp_norm.eps);
        let f = l.wi.apply(&m, n);
        drop(m);
        let act = self.act;
        let g = gated(
            &f,
            d.i,
            #[inline(always)]
            |x: &mut [f32]| activate_chunk(x, act),
        );
        fast_math::add(x, &l.wo.apply(&g, n));
        Saved {
            attn_norm,
            qkv,
            probs,
            mlp_norm,
            f,
        }
    }

    /// Turns `dy`, the gradient of layer `index`'s output, into that of its input.
    fn layer_backward(&self, index: usize, dy: &mut [f32], saved: Saved, d: Dims) {
        let (l, w) = (&self.packed.layers[index], &self.transposed[index]);
        let (n, h) = (d.rows(), d.h);
        let input_gradient = |m: &PackedMatrix, g: &[f32]| {
            m.apply_with(Input::Rows(g), n, rayon::current_num_threads())
        };
        // y = x₁ + (act(f₁) ⊙ f₂)·W_outᵀ
        let d_gated = input_gradient(&w.wo, dy);
        let d_f = gated_backward(&saved.f, &d_gated, d.i, self.act);
        drop(d_gated);
        let d_m = input_gradient(&w.wi, &d_f);
        drop(d_f);
        let (xhat, inv) = &saved.mlp_norm;
        let [d_x1, ..] = norm_backward(&d_m, xhat, inv, &l.mlp_norm.w);
        par_add(dy, &d_x1);
        drop(d_x1);
        // x₁ = x + P·v·W_oᵀ
        let d_ctx = input_gradient(&w.out, dy);
        let (attention, angles) = self.attention_of(d, l.sliding);
        let mut d_qkv = attention_backward(&saved.qkv, &saved.probs, (&d_ctx, None), attention);
        drop(saved.qkv);
        drop(saved.probs);
        let width = (3 * h, 2 * h, d.head_width());
        rotate_half(&mut d_qkv, width, &angles.cos, &angles.back);
        let d_a = input_gradient(&w.qkv, &d_qkv);
        drop(d_qkv);
        match (&saved.attn_norm, &l.attn_norm) {
            (Some((xhat, inv)), Some(norm)) => {
                par_add(dy, &norm_backward(&d_a, xhat, inv, &norm.w)[0])
            }
            _ => par_add(dy, &d_a),
        }
    }
}

/// The backward pass of `g = act(f₁) ⊙ f₂` per row `[f₁ | f₂]` of `f`: `[d_f₁ | d_f₂]` from
/// `d_g` `(N, I)`.
fn gated_backward(f: &[f32], d_g: &[f32], inter: usize, act: Activation) -> Vec<f32> {
    let mut d_f = vec![0f32; f.len()];
    let mut scratch = vec![0f32; d_g.len()];
    d_f.par_chunks_mut(2 * inter)
        .zip(f.par_chunks(2 * inter))
        .zip(d_g.par_chunks(inter))
        .zip(scratch.par_chunks_mut(inter))
        .for_each(|(((d_f, f), d_g), activated)| {
            fast_math::simd(
                #[inline(always)]
                || {
                    let (f1, f2) = f.split_at(inter);
                    let (d1, d2) = d_f.split_at_mut(inter);
                    d1.iter_mut()
                        .zip(d_g)
                        .zip(f2)
                        .for_each(|((d, g), b)| *d = g * b);
                    activation_slopes(f1, d1, activated, act);
                    d2.iter_mut()
                        .zip(d_g)
                        .zip(&*activated)
                        .for_each(|((d, g), a)| *d = g * a);
                },
            )
        });
    d_f
}

impl CustomOp1 for Layers {
    fn name(&self) -> &'static str {
        "modernbert-layers"
    }

    fn cpu_fwd(&self, s: &CpuStorage, l: &Layout) -> CResult<(CpuStorage, Shape)> {
        let d = self.dims(l.shape())?;
        let mut x = f32_slice(OP, s, l, "input")?.to_vec();
        let saved = (0..self.packed.layers.len())
            .map(|i| self.layer_forward(i, &mut x, d))
            .collect();
        *self.saved.lock().expect("ModernBERT layers poisoned") = saved;
        Ok((CpuStorage::F32(x), l.shape().clone()))
    }

    fn bwd(&self, x: &Tensor, _res: &Tensor, grad_res: &Tensor) -> CResult<Option<Tensor>> {
        let d = self.dims(x.shape())?;
        let saved = std::mem::take(&mut *self.saved.lock().expect("ModernBERT layers poisoned"));
        if saved.len() != self.packed.layers.len() {
            candle_core::bail!("{OP}: backward pass without a forward pass, or twice");
        }
        let mut dx = with_values(OP, grad_res, "output gradient", |g| Ok(g.to_vec()))?;
        for (i, s) in saved.into_iter().enumerate().rev() {
            self.layer_backward(i, &mut dx, s, d);
        }
        Ok(Some(Tensor::from_vec(dx, x.shape(), x.device())?))
    }
}
