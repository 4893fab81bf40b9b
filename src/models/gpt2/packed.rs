//! [`Gpt2`]'s blocks for the packed causal pass ([`crate::models::cached_lm::Blocks`]): greedy
//! search's many short sparse sequences and `predict`'s whole texts. Every projection runs on all
//! new tokens at once on the packed dense kernel ([`PackedMatrix`], weights packed once); the
//! LayerNorms and GELU are applied in place on the products' outputs.
//!
//! Same mathematics as [`Gpt2::forward`] (tested equal to 1e-4 on the logits, and greedy
//! search gives the authors' rationales); GELU's tanh and erf come from [`fast_math`](crate::models::fast_math).

use super::{Gpt2, Gpt2Config};
use crate::models::cached_lm::{Blocks, Heads};
use crate::models::dense::{PackedMatrix, FEED_FORWARD_ROWS};
use crate::models::transformer::{activate, Activation, Norm};
use crate::models::{fast_math, ModelError};
use candle_core::Tensor;

struct Layer {
    ln1: Norm,
    attn: PackedMatrix,
    proj: PackedMatrix,
    ln2: Norm,
    fc: PackedMatrix,
    fc_proj: PackedMatrix,
}

/// A [`Gpt2`]'s weights laid out for packed inference.
pub struct PackedGpt2 {
    config: Gpt2Config,
    act: Activation,
    wte: Vec<f32>,
    wpe: Vec<f32>,
    layers: Vec<Layer>,
    ln_f: Norm,
    head: PackedMatrix,
}

fn values(t: &Tensor) -> Result<Vec<f32>, ModelError> {
    Ok(t.flatten_all()?.to_vec1::<f32>()?)
}

fn packed(w: &Tensor, b: Option<&Tensor>) -> Result<PackedMatrix, ModelError> {
    let (k, n) = w.dims2()?;
    let bias = b.map(values).transpose()?;
    Ok(PackedMatrix::new(&values(w)?, k, n, bias.as_deref()))
}

impl PackedGpt2 {
    /// Packs `model`'s weights (a copy; about the model's size again in memory).
    pub fn new(model: &Gpt2) -> Result<Self, ModelError> {
        let c = &model.config;
        let eps = c.layer_norm_epsilon as f32;
        let norm = |(w, b): &(Tensor, Tensor)| -> Result<Norm, ModelError> {
            Ok(Norm {
                w: values(w)?,
                b: values(b)?,
                eps,
            })
        };
        let mut layers = Vec::with_capacity(c.n_layer);
        for b in model.blocks() {
            layers.push(Layer {
                ln1: norm(&b.ln1)?,
                attn: packed(&b.attn_w, Some(&b.attn_b))?,
                proj: packed(&b.proj_w, Some(&b.proj_b))?,
                ln2: norm(&b.ln2)?,
                fc: packed(&b.fc_w, Some(&b.fc_b))?,
                fc_proj: packed(&b.fc_proj_w, Some(&b.fc_proj_b))?,
            });
        }
        let (wte, wpe, ln_f) = model.embeddings();
        let act = Activation::from_hf(&c.activation_function).ok_or_else(|| {
            ModelError::Invalid(format!(
                "unsupported activation_function {:?}",
                c.activation_function
            ))
        })?;
        Ok(PackedGpt2 {
            config: c.clone(),
            act,
            wte: values(wte)?,
            wpe: values(wpe)?,
            layers,
            ln_f: norm(ln_f)?,
            head: packed(&wte.t()?.contiguous()?, None)?,
        })
    }
}

impl Blocks for PackedGpt2 {
    /// Learned positions are added to the embeddings: the layers need nothing more.
    type Positions = ();

    fn hidden(&self) -> usize {
        self.config.n_embd
    }

    fn heads(&self) -> Heads {
        let c = &self.config;
        Heads {
            heads: c.n_head,
            kv_heads: c.n_head,
            head_dim: c.n_embd / c.n_head,
        }
    }

    fn layers(&self) -> usize {
        self.layers.len()
    }

    fn window(&self, _layer: usize) -> Option<usize> {
        None
    }

    fn check(&self, ids: &[u32], positions: &[usize]) -> Result<(), ModelError> {
        self.config.check_tokens(ids, positions)
    }

    fn embed(&self, ids: &[u32], positions: &[usize]) -> (Vec<f32>, ()) {
        let d = self.config.n_embd;
        let mut x = Vec::with_capacity(ids.len() * d);
        for (&t, &p) in ids.iter().zip(positions) {
            let (e, q) = (&self.wte[t as usize * d..][..d], &self.wpe[p * d..][..d]);
            x.extend(e.iter().zip(q).map(|(a, b)| a + b));
        }
        (x, ())
    }

    fn qkv(&self, layer: usize, x: &[f32], _: &()) -> Vec<f32> {
        let layer = &self.layers[layer];
        let mut n = x.to_vec();
        layer.ln1.apply(&mut n, None);
        layer.attn.apply(&n, x.len() / self.config.n_embd)
    }

    fn finish(&self, layer: usize, x: &mut [f32], y: &[f32]) {
        let layer = &self.layers[layer];
        let m = x.len() / self.config.n_embd;
        fast_math::add(x, &layer.proj.apply(y, m));
        for x in x.chunks_mut(FEED_FORWARD_ROWS * self.config.n_embd) {
            let rows = x.len() / self.config.n_embd;
            let mut n = x.to_vec();
            layer.ln2.apply(&mut n, None);
            let mut f = layer.fc.apply(&n, rows);
            activate(&mut f, self.act);
            fast_math::add(x, &layer.fc_proj.apply(&f, rows));
        }
    }

    fn final_norm(&self, x: &mut [f32]) {
        self.ln_f.apply(x, None);
    }

    fn head(&self) -> &PackedMatrix {
        &self.head
    }
}
