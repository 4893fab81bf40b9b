//! [`Pass::Train`](super::Pass::Train) and [`Pass::Grad`](super::Pass::Grad): each encoder layer
//! as one candle op ([`LayerOp`]) with a hand-written backward pass, for training and gradient
//! explanations; with `Grad` each layer also returns its attention probabilities, differentiable
//! (losses on attention: supervised attention).
//!
//! A layer (rows `x` of the padded batch, N = B·T):
//!
//! ```text
//! qkv = x·W_qkvᵀ + b_qkv            P = softmax(q·kᵀ/√d + (m − 1)·10⁹)   per sequence and head
//! a   = LN₁(P·v·W_oᵀ + b_o + x)     y = LN₂(act(a·W_iᵀ + b_i)·W_outᵀ + b_out + a)
//! ```
//!
//! Every product runs on the packed dense kernel ([`PackedMatrix`]); LayerNorm, softmax and the
//! activation, forward and backward, as loops compiled for AVX-512 where the CPU has it. The
//! forward pass keeps only what the backward pass reads — Q/K/V, the attention probabilities, the
//! context, each LayerNorm's normalized rows and 1/σ, the activation's input — and the backward
//! pass releases them as it goes. candle's graph sees one node per layer instead of some forty,
//! each of which would allocate its own output and gradient.

use super::{Activation, Layer, Pass, Transformer, TransformerConfig};
use crate::models::cpu_op::{f32_slice, with_values};
use crate::models::dense::{zeros, Input, PackedMatrix};
use crate::models::{fast_math, Result};
use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor};
use rayon::prelude::*;
use std::ops::Range;
use std::sync::Mutex;
use Input::{Columns, Rows};

type CResult<T> = candle_core::Result<T>;

const OP: &str = "encoder layer";
/// Rows per parallel task of the row-wise loops.
const ROWS: usize = 16;

impl Transformer {
    /// Differentiable in the word embeddings and the weights (not in the mask): the embeddings
    /// as in [`Transformer::forward`], then each layer one [`LayerOp`]; with [`Pass::Grad`],
    /// every layer's attention probabilities (B, heads, T, T) too, else none; with
    /// [`Pass::InputGrad`] the layers' weights are constants. The same numbers to rounding.
    pub(super) fn forward_fused(
        &self,
        words: &Tensor,
        mask: &Tensor,
        pass: Pass,
    ) -> Result<(Tensor, Vec<Tensor>)> {
        let maps = pass == Pass::Grad;
        let (b, t, h) = words.dims3()?;
        let heads = self.config.num_attention_heads;
        let mut x = self.embeddings(words)?;
        let mask = mask.contiguous()?;
        let mut probs = Vec::new();
        for layer in &self.layers {
            let op = LayerOp::new(&self.config, maps);
            let params = match pass {
                Pass::InputGrad => flat(layer)?.detach(),
                _ => flat(layer)?,
            };
            let out = x.contiguous()?.apply_op3(&params, &mask, op)?;
            x = match maps {
                false => out,
                true => {
                    probs.push(
                        out.narrow(1, t * h, heads * t * t)?
                            .reshape((b, heads, t, t))?,
                    );
                    out.narrow(1, 0, t * h)?.reshape((b, t, h))?
                }
            };
        }
        Ok((x, probs))
    }
}

/// A layer's parameters in one vector, in the order of [`Slots`].
fn flat(l: &Layer) -> Result<Tensor> {
    let parts = [
        &l.q.w,
        &l.k.w,
        &l.v.w,
        &l.q.b,
        &l.k.b,
        &l.v.b,
        &l.attn_out.w,
        &l.attn_out.b,
        &l.attn_ln.w,
        &l.attn_ln.b,
        &l.inter.w,
        &l.inter.b,
        &l.out.w,
        &l.out.b,
        &l.out_ln.w,
        &l.out_ln.b,
    ];
    let flat = parts
        .iter()
        .map(|t| t.flatten_all())
        .collect::<candle_core::Result<Vec<_>>>()?;
    Ok(Tensor::cat(&flat, 0)?)
}

/// Where each parameter sits in a layer's vector; weights `(out, in)` row-major as
/// `nn.Linear` stores them, Q, K and V stacked into one `(3H, H)` weight.
struct Slots {
    qkv_w: Range<usize>,
    qkv_b: Range<usize>,
    o_w: Range<usize>,
    o_b: Range<usize>,
    ln1_w: Range<usize>,
    ln1_b: Range<usize>,
    i_w: Range<usize>,
    i_b: Range<usize>,
    out_w: Range<usize>,
    out_b: Range<usize>,
    ln2_w: Range<usize>,
    ln2_b: Range<usize>,
}

impl Slots {
    fn new(h: usize, i: usize) -> Self {
        let mut at = 0;
        let mut next = |len: usize| {
            at += len;
            at - len..at
        };
        Slots {
            qkv_w: next(3 * h * h),
            qkv_b: next(3 * h),
            o_w: next(h * h),
            o_b: next(h),
            ln1_w: next(h),
            ln1_b: next(h),
            i_w: next(i * h),
            i_b: next(i),
            out_w: next(h * i),
            out_b: next(h),
            ln2_w: next(h),
            ln2_b: next(h),
        }
    }

    fn len(&self) -> usize {
        self.ln2_b.end
    }
}

/// Sizes of one call, and the attention's window.
#[derive(Clone, Copy)]
pub(crate) struct Dims {
    pub(crate) b: usize,
    pub(crate) t: usize,
    pub(crate) h: usize,
    pub(crate) i: usize,
    pub(crate) heads: usize,
    /// Query `i` sees key `j` only if `|i − j|` ≤ this (sliding-window layers); `None`: all.
    pub(crate) window: Option<usize>,
}

impl Dims {
    pub(crate) fn rows(&self) -> usize {
        self.b * self.t
    }

    pub(crate) fn head_width(&self) -> usize {
        self.h / self.heads
    }
}

/// What the backward pass reads, kept by the forward pass.
struct Saved {
    /// `(N, 3H)`.
    qkv: Vec<f32>,
    /// `(B, heads, T, T)`.
    probs: Vec<f32>,
    /// `(N, H)`: the attention's output before its projection.
    ctx: Vec<f32>,
    /// First LayerNorm: normalized rows `(N, H)` and 1/σ per row.
    xhat1: Vec<f32>,
    inv1: Vec<f32>,
    /// The activation's input `(N, I)`.
    pre: Vec<f32>,
    xhat2: Vec<f32>,
    inv2: Vec<f32>,
}

/// One encoder layer as a candle op: inputs `x` (B, T, H), the layer's parameter vector
/// ([`Slots`]) and the key mask (B, T); output `y` (B, T, H), or with `maps` (B, T·H +
/// heads·T·T): each batch row's `y` followed by its attention probabilities. One instance per
/// call (it keeps that call's activations until its backward pass).
pub(super) struct LayerOp {
    heads: usize,
    inter: usize,
    act: Activation,
    eps: f32,
    maps: bool,
    saved: Mutex<Option<Saved>>,
}

impl LayerOp {
    fn new(c: &TransformerConfig, maps: bool) -> Self {
        LayerOp {
            heads: c.num_attention_heads,
            inter: c.intermediate_size,
            act: c.hidden_act,
            eps: c.layer_norm_eps as f32,
            maps,
            saved: Mutex::new(None),
        }
    }

    /// Per batch row: the width of `y` and of the probabilities (0 without `maps`).
    fn widths(&self, d: Dims) -> (usize, usize) {
        (d.t * d.h, if self.maps { d.heads * d.t * d.t } else { 0 })
    }

    fn dims(&self, x: &Shape, params: &Shape, mask: &Shape) -> CResult<Dims> {
        let (b, t, h) = x.dims3()?;
        if self.heads == 0 || !h.is_multiple_of(self.heads) {
            candle_core::bail!("{OP}: width {h} is not a multiple of {} heads", self.heads);
        }
        let want = Slots::new(h, self.inter).len();
        if params.dims() != [want] {
            candle_core::bail!("{OP}: parameters must be a vector of {want}, got {params:?}");
        }
        if mask.dims() != [b, t] {
            candle_core::bail!("{OP}: mask must be ({b}, {t}), got {mask:?}");
        }
        Ok(Dims {
            b,
            t,
            h,
            i: self.inter,
            heads: self.heads,
            window: None,
        })
    }

    fn forward(&self, x: &[f32], p: &[f32], mask: &[f32], d: Dims) -> (Vec<f32>, Saved) {
        let s = Slots::new(d.h, d.i);
        let n = d.rows();
        let qkv = linear(x, n, &p[s.qkv_w], &p[s.qkv_b]);
        let (ctx, probs) = attention_forward(&qkv, mask, d);
        let mut a = linear(&ctx, n, &p[s.o_w], &p[s.o_b]);
        let (xhat1, inv1) = norm_forward(&mut a, Some(x), &p[s.ln1_w], &p[s.ln1_b], self.eps);
        let pre = linear(&a, n, &p[s.i_w], &p[s.i_b]);
        let mut f = pre.clone();
        super::infer::activate(&mut f, self.act);
        let mut y = linear(&f, n, &p[s.out_w], &p[s.out_b]);
        let (xhat2, inv2) = norm_forward(&mut y, Some(&a), &p[s.ln2_w], &p[s.ln2_b], self.eps);
        let saved = Saved {
            qkv,
            probs,
            ctx,
            xhat1,
            inv1,
            pre,
            xhat2,
            inv2,
        };
        (y, saved)
    }

    /// The gradients of the input and, with `weights`, of the parameter vector, from the
    /// output's `dy` and, with `maps`, the probabilities' `d_probs` (B, heads, T, T).
    fn backward(
        &self,
        x: &[f32],
        p: &[f32],
        (dy, d_probs): (&[f32], Option<&[f32]>),
        saved: Saved,
        (d, weights): (Dims, bool),
    ) -> (Vec<f32>, Option<Vec<f32>>) {
        let Dims { h, i, .. } = d;
        let n = d.rows();
        let s = Slots::new(h, i);
        let mut grads = weights.then(|| zeros(s.len()));
        let mut put = |at: &Range<usize>, g: &dyn Fn() -> Vec<f32>| {
            if let Some(grads) = grads.as_mut() {
                grads[at.clone()].copy_from_slice(&g());
            }
        };
        // y = LN₂(f·W_outᵀ + b_out + a)
        let [d_out, dw, db] = norm_backward(dy, &saved.xhat2, &saved.inv2, &p[s.ln2_w.clone()]);
        put(&s.ln2_w, &|| dw.clone());
        put(&s.ln2_b, &|| db.clone());
        put(&s.out_b, &|| column_sums(&d_out, h));
        let mut d_pre = product(Rows(&d_out), &p[s.out_w.clone()], (n, h, i));
        let f = activation_backward(&saved.pre, &mut d_pre, self.act);
        drop(saved.pre);
        put(&s.out_w, &|| product(Columns(&d_out), &f, (h, n, i)));
        drop(f);
        // f = act(a·W_iᵀ + b_i)
        put(&s.i_b, &|| column_sums(&d_pre, i));
        put(&s.i_w, &|| {
            let a = norm_output(&saved.xhat1, &p[s.ln1_w.clone()], &p[s.ln1_b.clone()]);
            product(Columns(&d_pre), &a, (i, n, h))
        });
        let mut da = product(Rows(&d_pre), &p[s.i_w.clone()], (n, i, h));
        drop(d_pre);
        par_add(&mut da, &d_out);
        drop(d_out);
        // a = LN₁(ctx·W_oᵀ + b_o + x)
        let [d_attn, dw, db] = norm_backward(&da, &saved.xhat1, &saved.inv1, &p[s.ln1_w.clone()]);
        drop(da);
        put(&s.ln1_w, &|| dw.clone());
        put(&s.ln1_b, &|| db.clone());
        put(&s.o_b, &|| column_sums(&d_attn, h));
        put(&s.o_w, &|| product(Columns(&d_attn), &saved.ctx, (h, n, h)));
        let d_ctx = product(Rows(&d_attn), &p[s.o_w.clone()], (n, h, h));
        // ctx = attention(x·W_qkvᵀ + b_qkv)
        let d_qkv = attention_backward(&saved.qkv, &saved.probs, (&d_ctx, d_probs), d);
        drop(saved.qkv);
        drop(saved.probs);
        put(&s.qkv_b, &|| column_sums(&d_qkv, 3 * h));
        put(&s.qkv_w, &|| product(Columns(&d_qkv), x, (3 * h, n, h)));
        let mut dx = product(Rows(&d_qkv), &p[s.qkv_w.clone()], (n, 3 * h, h));
        par_add(&mut dx, &d_attn);
        (dx, grads)
    }
}

impl CustomOp3 for LayerOp {
    fn name(&self) -> &'static str {
        "encoder-layer"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> CResult<(CpuStorage, Shape)> {
        let d = self.dims(l1.shape(), l2.shape(), l3.shape())?;
        let x = f32_slice(OP, s1, l1, "input")?;
        let p = f32_slice(OP, s2, l2, "parameters")?;
        let mask = f32_slice(OP, s3, l3, "mask")?;
        let (y, saved) = self.forward(x, p, mask, d);
        let (out, shape) = match self.widths(d) {
            (_, 0) => (y, Shape::from((d.b, d.t, d.h))),
            (wy, wp) => {
                let mut out = Vec::with_capacity(d.b * (wy + wp));
                for (y, p) in y.chunks_exact(wy).zip(saved.probs.chunks_exact(wp)) {
                    out.extend_from_slice(y);
                    out.extend_from_slice(p);
                }
                (out, Shape::from((d.b, wy + wp)))
            }
        };
        *self.saved.lock().expect("encoder layer state poisoned") = Some(saved);
        Ok((CpuStorage::F32(out), shape))
    }

    fn bwd(
        &self,
        x: &Tensor,
        params: &Tensor,
        mask: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> CResult<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let d = self.dims(x.shape(), params.shape(), mask.shape())?;
        let Some(saved) = self
            .saved
            .lock()
            .expect("encoder layer state poisoned")
            .take()
        else {
            candle_core::bail!("{OP}: backward pass without a forward pass, or twice");
        };
        // Constant weights (`Pass::InputGrad`) need no gradient.
        let weights = (d, params.track_op());
        let (dx, dp) = with_values(OP, x, "input", |xv| {
            with_values(OP, params, "parameters", |pv| {
                with_values(OP, grad_res, "output gradient", |gv| {
                    Ok(match self.widths(d) {
                        (_, 0) => self.backward(xv, pv, (gv, None), saved, weights),
                        (wy, wp) => {
                            let (mut dy, mut dp) = (Vec::new(), Vec::new());
                            for row in gv.chunks_exact(wy + wp) {
                                dy.extend_from_slice(&row[..wy]);
                                dp.extend_from_slice(&row[wy..]);
                            }
                            self.backward(xv, pv, (&dy, Some(&dp)), saved, weights)
                        }
                    })
                })
            })
        })?;
        let dev = x.device();
        Ok((
            Some(Tensor::from_vec(dx, (d.b, d.t, d.h), dev)?),
            dp.map(|dp| Tensor::from_vec(dp, params.dims1()?, dev))
                .transpose()?,
            None,
        ))
    }
}

/// `x·Wᵀ + b` for the `(m, in)` rows `x` and an `(out, in)` weight.
fn linear(x: &[f32], m: usize, w: &[f32], b: &[f32]) -> Vec<f32> {
    let (out, inp) = (b.len(), w.len() / b.len());
    PackedMatrix::from_transposed(w, inp, out, Some(b)).apply(x, m)
}

/// `a·b` for an `(m, k)` input `a` (row-major, or column-major: `aᵀ` read in place) and the
/// row-major `(k, n)` matrix `b`, on rayon's threads.
fn product(a: Input, b: &[f32], (m, k, n): (usize, usize, usize)) -> Vec<f32> {
    PackedMatrix::new(b, k, n, None).apply_with(a, m, rayon::current_num_threads())
}

/// [`product`] on the calling thread (inside parallel work).
fn product_serial(a: Input, b: &[f32], (m, k, n): (usize, usize, usize)) -> Vec<f32> {
    PackedMatrix::new(b, k, n, None).apply_with(a, m, 1)
}

/// `a·bᵀ` for row-major `a` `(m, k)` and `b` `(n, k)`, on the calling thread.
fn product_by_transposed(a: &[f32], b: &[f32], (m, k, n): (usize, usize, usize)) -> Vec<f32> {
    PackedMatrix::from_transposed(b, k, n, None).apply_serial(a, m)
}

/// `acc += x` on rayon's threads.
pub(crate) fn par_add(acc: &mut [f32], x: &[f32]) {
    acc.par_chunks_mut(4096)
        .zip(x.par_chunks(4096))
        .for_each(|(a, x)| a.iter_mut().zip(x).for_each(|(a, x)| *a += x));
}

/// Column sums of the row-major `(rows, cols)` matrix `d` (a bias's gradient).
fn column_sums(d: &[f32], cols: usize) -> Vec<f32> {
    let partial: Vec<Vec<f32>> = d
        .par_chunks(cols * 64)
        .map(|block| {
            let mut s = vec![0f32; cols];
            block
                .chunks_exact(cols)
                .for_each(|row| s.iter_mut().zip(row).for_each(|(s, x)| *s += x));
            s
        })
        .collect();
    sum_rows(partial, cols)
}

fn sum_rows(rows: Vec<Vec<f32>>, cols: usize) -> Vec<f32> {
    rows.into_iter().fold(vec![0f32; cols], |mut acc, r| {
        acc.iter_mut().zip(&r).for_each(|(a, x)| *a += x);
        acc
    })
}

/// `rows ← LayerNorm(rows + residual)` (or of `rows` alone) in place; returns the normalized
/// rows and 1/σ per row.
pub(crate) fn norm_forward(
    rows: &mut [f32],
    residual: Option<&[f32]>,
    w: &[f32],
    b: &[f32],
    eps: f32,
) -> (Vec<f32>, Vec<f32>) {
    let h = w.len();
    let mut xhat = zeros(rows.len());
    let mut inv = vec![0f32; rows.len() / h];
    rows.par_chunks_mut(h * ROWS)
        .zip(xhat.par_chunks_mut(h * ROWS))
        .zip(inv.par_chunks_mut(ROWS))
        .enumerate()
        .for_each(|(block, ((y, xh), inv))| {
            let res = residual.map(|r| &r[block * h * ROWS..][..y.len()]);
            fast_math::simd(
                #[inline(always)]
                || {
                    let rows = y.chunks_exact_mut(h).zip(xh.chunks_exact_mut(h));
                    for (row, ((y, xh), inv)) in rows.zip(inv).enumerate() {
                        if let Some(res) = res {
                            fast_math::add(y, &res[row * h..][..h]);
                        }
                        let mean = fast_math::sum(y) / h as f32;
                        xh.iter_mut().zip(&*y).for_each(|(x, y)| *x = y - mean);
                        let var = fast_math::dot(xh, xh) / h as f32;
                        *inv = 1.0 / (var + eps).sqrt();
                        for (((y, x), w), b) in y.iter_mut().zip(xh.iter_mut()).zip(w).zip(b) {
                            *x *= *inv;
                            *y = *x * w + b;
                        }
                    }
                },
            )
        });
    (xhat, inv)
}

/// A LayerNorm's output from its normalized rows.
fn norm_output(xhat: &[f32], w: &[f32], b: &[f32]) -> Vec<f32> {
    let mut out = xhat.to_vec();
    out.par_chunks_mut(w.len() * ROWS).for_each(|rows| {
        rows.chunks_exact_mut(w.len()).for_each(|row| {
            for ((y, w), b) in row.iter_mut().zip(w).zip(b) {
                *y = *y * w + b;
            }
        })
    });
    out
}

/// The backward pass of `y = LayerNorm(x)·w + b` from `dy`, the normalized rows and 1/σ:
/// returns the gradients of `x`, `w` and `b`.
pub(crate) fn norm_backward(dy: &[f32], xhat: &[f32], inv: &[f32], w: &[f32]) -> [Vec<f32>; 3] {
    let h = w.len();
    let mut dx = zeros(dy.len());
    let partial: Vec<(Vec<f32>, Vec<f32>)> = dx
        .par_chunks_mut(h * ROWS)
        .zip(dy.par_chunks(h * ROWS))
        .zip(xhat.par_chunks(h * ROWS))
        .zip(inv.par_chunks(ROWS))
        .map(|(((dx, dy), xh), inv)| {
            fast_math::simd(
                #[inline(always)]
                || {
                    let (mut dw, mut db, mut g) = (vec![0f32; h], vec![0f32; h], vec![0f32; h]);
                    let rows = dx.chunks_exact_mut(h).zip(dy.chunks_exact(h));
                    for (((dx, dy), xh), &inv) in rows.zip(xh.chunks_exact(h)).zip(inv) {
                        for j in 0..h {
                            dw[j] += dy[j] * xh[j];
                            db[j] += dy[j];
                            g[j] = dy[j] * w[j];
                        }
                        let mean_g = fast_math::sum(&g) / h as f32;
                        let mean_gx = fast_math::dot(&g, xh) / h as f32;
                        for ((dx, g), x) in dx.iter_mut().zip(&g).zip(xh) {
                            *dx = inv * (g - mean_g - x * mean_gx);
                        }
                    }
                    (dw, db)
                },
            )
        })
        .collect();
    let (dw, db): (Vec<_>, Vec<_>) = partial.into_iter().unzip();
    [dx, sum_rows(dw, h), sum_rows(db, h)]
}

/// The activation's backward pass: `grad ← grad · act′(pre)` in place; returns `act(pre)`.
fn activation_backward(pre: &[f32], grad: &mut [f32], act: Activation) -> Vec<f32> {
    let mut out = zeros(pre.len());
    out.par_chunks_mut(4096)
        .zip(grad.par_chunks_mut(4096))
        .zip(pre.par_chunks(4096))
        .for_each(|((out, grad), pre)| {
            fast_math::simd(
                #[inline(always)]
                || activation_slopes(pre, grad, out, act),
            )
        });
    out
}

/// [`activation_backward`] of one chunk (inlined where it is called, so it is compiled for
/// the instruction set [`fast_math::simd`] picks).
#[inline(always)]
pub(crate) fn activation_slopes(pre: &[f32], grad: &mut [f32], out: &mut [f32], act: Activation) {
    const SQRT_2_PI: f32 = 0.797_884_6; // √(2/π)
    const INV_SQRT_2PI: f32 = 0.398_942_3; // 1/√(2π)
    let items = out.iter_mut().zip(grad.iter_mut()).zip(pre);
    // `for` loops, not `for_each` closures, which the compiler may leave out of line.
    match act {
        Activation::Gelu => {
            for ((y, g), &x) in items {
                let c = 0.5 * (1.0 + fast_math::erf(x * std::f32::consts::FRAC_1_SQRT_2));
                *y = x * c;
                *g *= c + x * INV_SQRT_2PI * fast_math::exp(-0.5 * x * x);
            }
        }
        Activation::GeluNew => {
            for ((y, g), &x) in items {
                let th = fast_math::tanh(SQRT_2_PI * (x + 0.044_715 * x * x * x));
                *y = 0.5 * x * (1.0 + th);
                let inner = SQRT_2_PI * (1.0 + 0.134_145 * x * x);
                *g *= 0.5 * (1.0 + th) + 0.5 * x * (1.0 - th * th) * inner;
            }
        }
        Activation::Relu => {
            for ((y, g), &x) in items {
                *y = x.max(0.0);
                if x <= 0.0 {
                    *g = 0.0;
                }
            }
        }
    }
}

/// Rows `row0..row0 + rows` of columns `col..col + width` of a row-major buffer `stride` wide.
fn gather(
    buf: &[f32],
    stride: usize,
    row0: usize,
    rows: usize,
    col: usize,
    width: usize,
) -> Vec<f32> {
    let mut out = Vec::with_capacity(rows * width);
    for r in row0..row0 + rows {
        out.extend_from_slice(&buf[r * stride + col..][..width]);
    }
    out
}

/// Writes `block` (`rows × width`) into columns `col..col + width` of the first rows of a
/// row-major buffer `stride` wide (where [`gather`] read it).
fn scatter(buf: &mut [f32], stride: usize, col: usize, block: &[f32], width: usize) {
    for (r, src) in block.chunks_exact(width).enumerate() {
        buf[r * stride + col..][..width].copy_from_slice(src);
    }
}

/// Attention of every sequence and head: returns the context `(N, H)` and the probabilities
/// `(B, heads, T, T)`.
pub(crate) fn attention_forward(qkv: &[f32], mask: &[f32], d: Dims) -> (Vec<f32>, Vec<f32>) {
    let Dims { b, t, h, heads, .. } = d;
    let dh = d.head_width();
    let mut probs = zeros(b * heads * t * t);
    let ctxs: Vec<Vec<f32>> = probs
        .par_chunks_mut((t * t).max(1))
        .enumerate()
        .map(|(j, p)| {
            let (seq, head) = (j / heads, j % heads);
            fast_math::simd(
                #[inline(always)]
                || head_forward(qkv, &mask[seq * t..][..t], p, (seq, head), d),
            )
        })
        .collect();
    let mut ctx = zeros(b * t * h);
    ctx.par_chunks_mut((t * h).max(1))
        .zip(ctxs.par_chunks(heads))
        .for_each(|(rows, heads)| {
            for (head, c) in heads.iter().enumerate() {
                scatter(rows, h, head * dh, c, dh);
            }
        });
    (ctx, probs)
}

/// One sequence and head: writes the probabilities into `p` `(T, T)`, returns the context
/// `(T, dh)`.
#[inline(always)]
fn head_forward(
    qkv: &[f32],
    keys: &[f32],
    p: &mut [f32],
    (seq, head): (usize, usize),
    d: Dims,
) -> Vec<f32> {
    let (t, h, dh) = (d.t, d.h, d.head_width());
    let part = |third: usize| gather(qkv, 3 * h, seq * t, t, third * h + head * dh, dh);
    let (q, k, v) = (part(0), part(1), part(2));
    let scores = product_by_transposed(&q, &k, (t, dh, t));
    let scale = 1.0 / (dh as f32).sqrt();
    for (i, (row, s)) in p
        .chunks_exact_mut(t)
        .zip(scores.chunks_exact(t))
        .enumerate()
    {
        for ((p, &s), &m) in row.iter_mut().zip(s).zip(keys) {
            *p = s * scale + (m - 1.0) * 1e9;
        }
        if let Some(w) = d.window {
            for (j, p) in row.iter_mut().enumerate() {
                if i.abs_diff(j) > w {
                    *p -= 1e9;
                }
            }
        }
        let max = fast_math::max(row);
        row.iter_mut().for_each(|x| *x = fast_math::exp(*x - max));
        let inv = 1.0 / fast_math::sum(row);
        row.iter_mut().for_each(|x| *x *= inv);
    }
    product_serial(Rows(p), &v, (t, t, dh))
}

/// The gradient of `qkv` `(N, 3H)` from the context's `d_ctx` `(N, H)` and, if given, the
/// probabilities' `d_probs` `(B, heads, T, T)`.
pub(crate) fn attention_backward(
    qkv: &[f32],
    probs: &[f32],
    (d_ctx, d_probs): (&[f32], Option<&[f32]>),
    d: Dims,
) -> Vec<f32> {
    let Dims { t, h, heads, .. } = d;
    let dh = d.head_width();
    let parts: Vec<[Vec<f32>; 3]> = probs
        .par_chunks((t * t).max(1))
        .enumerate()
        .map(|(j, p)| {
            let dp = d_probs.map(|g| &g[j * t * t..][..t * t]);
            fast_math::simd(
                #[inline(always)]
                || head_backward(qkv, p, (d_ctx, dp), (j / heads, j % heads), d),
            )
        })
        .collect();
    let mut d_qkv = zeros(d.rows() * 3 * h);
    d_qkv
        .par_chunks_mut((t * 3 * h).max(1))
        .zip(parts.par_chunks(heads))
        .for_each(|(rows, heads)| {
            for (head, part) in heads.iter().enumerate() {
                for (third, g) in part.iter().enumerate() {
                    scatter(rows, 3 * h, third * h + head * dh, g, dh);
                }
            }
        });
    d_qkv
}

/// One sequence and head: the gradients of its q, k and v `(T, dh)` from its probabilities
/// `p` `(T, T)`, the context's gradient and, if given, the probabilities' own `dp` `(T, T)`.
#[inline(always)]
fn head_backward(
    qkv: &[f32],
    p: &[f32],
    (d_ctx, dp): (&[f32], Option<&[f32]>),
    (seq, head): (usize, usize),
    d: Dims,
) -> [Vec<f32>; 3] {
    let (t, h, dh) = (d.t, d.h, d.head_width());
    let part = |third: usize| gather(qkv, 3 * h, seq * t, t, third * h + head * dh, dh);
    let (q, k, v) = (part(0), part(1), part(2));
    let dc = gather(d_ctx, h, seq * t, t, head * dh, dh);
    let dv = product_serial(Columns(p), &dc, (t, t, dh));
    let mut ds = product_by_transposed(&dc, &v, (t, dh, t));
    if let Some(dp) = dp {
        fast_math::add(&mut ds, dp);
    }
    let scale = 1.0 / (dh as f32).sqrt();
    for (row, p) in ds.chunks_exact_mut(t).zip(p.chunks_exact(t)) {
        let s = fast_math::dot(row, p);
        row.iter_mut()
            .zip(p)
            .for_each(|(g, p)| *g = p * (*g - s) * scale);
    }
    let dq = product_serial(Rows(&ds), &k, (t, t, dh));
    let dk = product_serial(Columns(&ds), &q, (t, t, dh));
    [dq, dk, dv]
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{max_diff, small_encoder};
    use super::super::{Activation, Pass};
    use crate::models::params::ParamStore;
    use candle_core::{Device, Tensor, Var};

    /// The fused passes equal candle's composition ([`Transformer::forward`]) — outputs,
    /// attention maps, and the gradients of the word embeddings and of every weight, from a loss
    /// on the outputs alone (`Train`) and on the outputs and every layer's maps (`Grad`); with
    /// `InputGrad` the same but no gradient for the layers' weights — on a padded batch of three
    /// lengths with a key masked inside a sequence, weights (LayerNorm scales and biases
    /// included) drawn at random.
    #[test]
    fn fused_layers_give_the_gradients_of_the_differentiable_pass() {
        for act in [Activation::Gelu, Activation::GeluNew, Activation::Relu] {
            let store = ParamStore::fresh(5);
            let tr = small_encoder(&store, act);
            for (name, var) in store.named_vars() {
                let shift = if name.ends_with("LayerNorm.weight") {
                    1.0
                } else {
                    0.0
                };
                let drawn = Tensor::randn(0f32, 0.3, var.shape(), &Device::Cpu).unwrap() + shift;
                var.set(&drawn.unwrap()).unwrap();
            }
            let t = 11;
            let words =
                Var::from_tensor(&Tensor::randn(0f32, 1.0, (3, t, 32), &Device::Cpu).unwrap())
                    .unwrap();
            let mut mask = vec![0f32; 3 * t];
            for (i, len) in [7usize, 3, 11].into_iter().enumerate() {
                mask[i * t..i * t + len].fill(1.0);
            }
            mask[2 * t + 4] = 0.0;
            let mask = Tensor::from_vec(mask, (3, t), &Device::Cpu).unwrap();
            let weights = Tensor::randn(0f32, 1.0, (3, t, 32), &Device::Cpu).unwrap();
            let map_weights = Tensor::randn(0f32, 1.0, (3, 4, t, t), &Device::Cpu).unwrap();
            // The loss: weighted outputs, plus weighted maps where `with_maps`.
            let grads = |(out, maps): &(Tensor, Vec<Tensor>), with_maps: bool| {
                let mut loss = (out * &weights).unwrap().sum_all().unwrap();
                for m in maps.iter().filter(|_| with_maps) {
                    loss = (loss + (m * &map_weights).unwrap().sum_all().unwrap()).unwrap();
                }
                loss.backward().unwrap()
            };
            let slow = tr.forward(words.as_tensor(), &mask).unwrap();
            let passes = [
                (Pass::Train, false),
                (Pass::Grad, true),
                (Pass::InputGrad, false),
            ];
            for (pass, with_maps) in passes {
                let fused = tr.run(words.as_tensor(), &mask, pass).unwrap();
                let (fused_grads, slow_grads) = (grads(&fused, with_maps), grads(&slow, with_maps));
                let diff = |a: &Tensor, b: &Tensor| {
                    max_diff(a, b) / (1.0 + max_diff(b, &b.zeros_like().unwrap()))
                };
                assert!(diff(&fused.0, &slow.0) < 1e-5, "{act:?} {pass:?} outputs");
                assert_eq!(fused.1.len(), if with_maps { 2 } else { 0 });
                for (f, s) in fused.1.iter().zip(&slow.1) {
                    assert!(diff(f, s) < 1e-5, "{act:?} maps");
                }
                let mut vars = store.named_vars();
                vars.push(("words".into(), words.clone()));
                for (name, var) in vars {
                    let (f, s) = (fused_grads.get(&var), slow_grads.get(&var));
                    if pass == Pass::InputGrad && name.starts_with("encoder.layer.") {
                        assert!(f.is_none(), "{act:?} {name}: a constant has a gradient");
                        continue;
                    }
                    let (f, s) = (
                        f.unwrap_or_else(|| panic!("{name}: no fused gradient")),
                        s.unwrap(),
                    );
                    assert!(diff(f, s) < 1e-4, "{act:?} {pass:?} {name}: {}", diff(f, s));
                }
            }
        }
    }
}
