//! [`HfDecoder`](super::HfDecoder)'s blocks for the packed causal pass
//! ([`crate::models::cached_lm::Blocks`]).
//!
//! Every projection runs on all new tokens at once on the packed dense kernel ([`PackedMatrix`];
//! q, k and v as one product, gate and up as another); RMSNorm, the rotary positions and SwiGLU
//! are applied in place on the products' outputs.

use super::super::blocks::{gated, pack, rotary_angles, rotate_half};
use super::{Layer, Linear};
use crate::models::cached_lm::{check_ids, Blocks, Heads};
use crate::models::dense::{PackedMatrix, FEED_FORWARD_ROWS};
use crate::models::hf::DecoderConfig;
use crate::models::{fast_math, Result};
use candle_core::Tensor;
use rayon::prelude::*;

/// Rows per parallel task of the row-wise loops.
const ROWS_PER_TASK: usize = 16;

/// One layer's weights packed for inference.
struct PackedLayer {
    input_norm: Vec<f32>,
    /// q, k and v side by side: (hidden, q + 2 kv).
    qkv: PackedMatrix,
    o: PackedMatrix,
    post_norm: Vec<f32>,
    /// gate and up side by side: (hidden, 2 · intermediate).
    gate_up: PackedMatrix,
    down: PackedMatrix,
    window: Option<usize>,
}

/// A Llama-family decoder's weights laid out for packed inference.
pub(super) struct PackedDecoder {
    config: DecoderConfig,
    embed: Vec<f32>,
    inv_freq: Vec<f32>,
    layers: Vec<PackedLayer>,
    norm: Vec<f32>,
    head: PackedMatrix,
}

impl PackedDecoder {
    /// Packs the checkpoint's weights.
    pub(super) fn new(
        config: &DecoderConfig,
        embed: &Tensor,
        layers: &[Layer],
        norm: &Tensor,
        lm_head: &Linear,
    ) -> Result<Self> {
        let layers = layers
            .iter()
            .map(|l| {
                Ok(PackedLayer {
                    input_norm: l.input_norm.to_vec1()?,
                    qkv: pack(&[&l.q, &l.k, &l.v])?,
                    o: pack(&[&l.o])?,
                    post_norm: l.post_norm.to_vec1()?,
                    gate_up: pack(&[&l.gate, &l.up])?,
                    down: pack(&[&l.down])?,
                    window: l.window,
                })
            })
            .collect::<Result<_>>()?;
        Ok(PackedDecoder {
            config: config.clone(),
            embed: embed.flatten_all()?.to_vec1()?,
            inv_freq: config.inv_freq(),
            layers,
            norm: norm.to_vec1()?,
            head: pack(&[lm_head])?,
        })
    }
}

impl Blocks for PackedDecoder {
    /// The rotary angles' cosines and sines `(tokens, head_dim / 2)`.
    type Positions = (Vec<f32>, Vec<f32>);

    fn hidden(&self) -> usize {
        self.config.hidden_size
    }

    fn heads(&self) -> Heads {
        Heads {
            heads: self.config.num_attention_heads,
            kv_heads: self.config.num_key_value_heads,
            head_dim: self.config.head_dim,
        }
    }

    fn layers(&self) -> usize {
        self.layers.len()
    }

    fn window(&self, layer: usize) -> Option<usize> {
        self.layers[layer].window
    }

    /// Refuses token ids outside the vocabulary (rotary positions have no limit).
    fn check(&self, ids: &[u32], _positions: &[usize]) -> Result<()> {
        check_ids(ids, self.config.vocab_size)
    }

    fn embed(&self, ids: &[u32], positions: &[usize]) -> (Vec<f32>, Self::Positions) {
        let h = self.config.hidden_size;
        let mut x = Vec::with_capacity(ids.len() * h);
        for &t in ids {
            x.extend_from_slice(&self.embed[t as usize * h..][..h]);
        }
        (x, rotary_angles(&self.inv_freq, positions))
    }

    fn qkv(&self, layer: usize, x: &[f32], (cos, sin): &Self::Positions) -> Vec<f32> {
        let layer = &self.layers[layer];
        let mut n = x.to_vec();
        rms_norm(&mut n, &layer.input_norm, self.config.rms_norm_eps as f32);
        let mut qkv = layer.qkv.apply(&n, x.len() / self.config.hidden_size);
        let Heads {
            heads,
            kv_heads,
            head_dim,
        } = self.heads();
        let width = (heads + 2 * kv_heads) * head_dim;
        rotate_half(
            &mut qkv,
            (width, (heads + kv_heads) * head_dim, head_dim),
            cos,
            sin,
        );
        qkv
    }

    fn finish(&self, layer: usize, x: &mut [f32], y: &[f32]) {
        let (layer, c) = (&self.layers[layer], &self.config);
        let m = x.len() / c.hidden_size;
        fast_math::add(x, &layer.o.apply(y, m));
        for x in x.chunks_mut(FEED_FORWARD_ROWS * c.hidden_size) {
            let rows = x.len() / c.hidden_size;
            let mut n = x.to_vec();
            rms_norm(&mut n, &layer.post_norm, c.rms_norm_eps as f32);
            let f = gated(
                &layer.gate_up.apply(&n, rows),
                c.intermediate_size,
                #[inline(always)]
                |g: &mut [f32]| {
                    for g in g {
                        *g /= 1.0 + fast_math::exp(-*g); // SiLU
                    }
                },
            );
            fast_math::add(x, &layer.down.apply(&f, rows));
        }
    }

    fn final_norm(&self, x: &mut [f32]) {
        rms_norm(x, &self.norm, self.config.rms_norm_eps as f32);
    }

    fn head(&self) -> &PackedMatrix {
        &self.head
    }
}

/// `w · x / √(mean(x²) + eps)` on each row of `x`, in place.
fn rms_norm(x: &mut [f32], w: &[f32], eps: f32) {
    let h = w.len();
    x.par_chunks_mut(h * ROWS_PER_TASK).for_each(|block| {
        fast_math::simd(
            #[inline(always)]
            || {
                for row in block.chunks_exact_mut(h) {
                    let inv = 1.0 / (fast_math::dot(row, row) / h as f32 + eps).sqrt();
                    for (x, w) in row.iter_mut().zip(w) {
                        *x = w * (*x * inv);
                    }
                }
            },
        )
    });
}
