//! A BERT-style transformer encoder that returns every layer's per-head attention weights.
//!
//! Parameter names follow Hugging Face BERT (`embeddings.*`, `encoder.layer.N.attention.self.query`
//! …) under a prefix, so BERT-family checkpoints load by name ([`super::bert`]). Three ways to
//! run it: composed from candle's differentiable ops, with the attention maps
//! ([`Transformer::forward`], the reference the others are tested against); each layer one op
//! with a hand-written backward pass, with or without the maps (`train`); without gradients,
//! padding-free (`infer`). [`Pass`] picks one of the last two.

mod infer;
mod train;

pub(crate) use infer::{
    activate, activate_chunk, attention, first_rows, firsts, Answer, Norm, Seq,
};
pub(crate) use train::{
    activation_slopes, attention_backward, attention_forward, norm_backward, norm_forward, par_add,
    Dims,
};

use super::params::{Derived, Init, ParamStore};
use super::{ModelError, Result};
use candle_core::Tensor;
use serde::{Deserialize, Serialize};

/// Shape of a transformer encoder (the subset of a BERT `config.json` it needs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TransformerConfig {
    /// Width of the hidden states.
    pub hidden_size: usize,
    /// Number of layers.
    pub num_hidden_layers: usize,
    /// Heads per layer; must divide `hidden_size`.
    pub num_attention_heads: usize,
    /// Width of the feed-forward layer.
    pub intermediate_size: usize,
    /// Number of position embeddings (longest input).
    pub max_position_embeddings: usize,
    /// Number of token-type (segment) embeddings.
    #[serde(default = "one")]
    pub type_vocab_size: usize,
    /// LayerNorm epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_eps: f64,
    /// The feed-forward activation.
    #[serde(default)]
    pub hidden_act: Activation,
}

/// A feed-forward activation (Hugging Face `hidden_act` names).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    /// GELU with the exact erf (`gelu`).
    #[default]
    Gelu,
    /// GELU's tanh approximation (`gelu_new`, `gelu_pytorch_tanh`).
    GeluNew,
    /// ReLU.
    Relu,
}

impl Activation {
    /// The activation a Hugging Face `config.json` names, if supported.
    pub fn from_hf(name: &str) -> Option<Self> {
        match name {
            "gelu" => Some(Activation::Gelu),
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Some(Activation::GeluNew),
            "relu" => Some(Activation::Relu),
            _ => None,
        }
    }

    /// Its Hugging Face `hidden_act` name.
    pub fn hf_name(self) -> &'static str {
        match self {
            Activation::Gelu => "gelu",
            Activation::GeluNew => "gelu_new",
            Activation::Relu => "relu",
        }
    }

    /// The activation of `x`.
    pub(crate) fn apply(self, x: &Tensor) -> Result<Tensor> {
        Ok(match self {
            Activation::Gelu => x.gelu_erf()?,
            Activation::GeluNew => x.gelu()?,
            Activation::Relu => x.relu()?,
        })
    }
}

fn one() -> usize {
    1
}
fn default_eps() -> f64 {
    1e-12
}

impl TransformerConfig {
    /// Checks the shape is usable.
    pub fn validate(&self) -> Result<()> {
        if self.hidden_size == 0 || self.num_attention_heads == 0 || self.num_hidden_layers == 0 {
            return Err(ModelError::Invalid(
                "hidden_size, num_attention_heads and num_hidden_layers must be > 0".into(),
            ));
        }
        if !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(ModelError::Invalid(format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                self.hidden_size, self.num_attention_heads
            )));
        }
        if self.max_position_embeddings == 0 || self.type_vocab_size == 0 {
            return Err(ModelError::Invalid(
                "max_position_embeddings and type_vocab_size must be > 0".into(),
            ));
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
struct Linear {
    w: Tensor,
    b: Tensor,
}

impl Linear {
    fn new(p: &ParamStore, name: &str, input: usize, output: usize) -> Result<Self> {
        Ok(Linear {
            w: p.get(
                &format!("{name}.weight"),
                &[output, input],
                Init::Normal(0.02),
            )?,
            b: p.get(&format!("{name}.bias"), &[output], Init::Zeros)?,
        })
    }

    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (b, t, i) = x.dims3()?;
        let o = self.w.dim(0)?;
        Ok(x.reshape((b * t, i))?
            .matmul(&self.w.t()?)?
            .broadcast_add(&self.b)?
            .reshape((b, t, o))?)
    }
}

#[derive(Debug, Clone)]
struct LayerNorm {
    w: Tensor,
    b: Tensor,
    eps: f32,
}

impl LayerNorm {
    fn new(p: &ParamStore, name: &str, dim: usize, eps: f64) -> Result<Self> {
        Ok(LayerNorm {
            w: p.get(&format!("{name}.weight"), &[dim], Init::Ones)?,
            b: p.get(&format!("{name}.bias"), &[dim], Init::Zeros)?,
            eps: eps as f32,
        })
    }

    /// Differentiable, or (`fused`) candle's single-pass kernel, which passes no gradient.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(candle_nn::ops::layer_norm_slow(
            x, &self.w, &self.b, self.eps,
        )?)
    }
}

#[derive(Debug, Clone)]
struct Layer {
    q: Linear,
    k: Linear,
    v: Linear,
    attn_out: Linear,
    attn_ln: LayerNorm,
    inter: Linear,
    out: Linear,
    out_ln: LayerNorm,
}

/// How a forward pass runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pass {
    /// [`Pass::Train`] with every layer's attention maps, differentiable too, for losses on
    /// them (supervised attention).
    Grad,
    /// Differentiable in the word embeddings and weights (not the mask), without attention
    /// maps: each layer one fused op with a hand-written backward pass, faster and lighter than
    /// candle's composition ([`Transformer::forward`]) (training, gradient explanations).
    Train,
    /// [`Pass::Train`] differentiable in the word embeddings alone (gradient explanations): the
    /// weights are held constant, so the backward pass skips their gradients.
    InputGrad,
    /// Without gradients ([`Transformer::infer`]); attention maps not needed.
    Logits,
    /// [`Pass::Logits`] for a head that reads each sequence's first final state only
    /// (`[CLS]`): the last layer computes that row alone (its query's attention, the output
    /// projection, the feed-forward), and the states come back as (B, 1, H).
    FirstToken,
    /// Without gradients, with the attention maps.
    Attentions,
}

impl Pass {
    /// This pass for a head that reads the first token only: [`Pass::FirstToken`] for
    /// [`Pass::Logits`], the others unchanged.
    pub fn reading_first_token(self) -> Pass {
        match self {
            Pass::Logits => Pass::FirstToken,
            other => other,
        }
    }
}

/// The encoder without its word embeddings (those belong to the classifier, so gradient
/// methods can differentiate with respect to them).
#[derive(Debug, Clone)]
pub struct Transformer {
    config: TransformerConfig,
    position: Tensor,
    token_type: Tensor,
    emb_ln: LayerNorm,
    layers: Vec<Layer>,
    /// The weights packed for [`Transformer::infer`], on first use (again after they change).
    packed: Derived<infer::PackedEncoder>,
}

impl Transformer {
    /// Creates (or loads) the encoder under `prefix` (names as in Hugging Face BERT).
    pub fn new(p: &ParamStore, prefix: &str, config: &TransformerConfig) -> Result<Self> {
        let h = config.hidden_size;
        let position = p.get(
            &format!("{prefix}embeddings.position_embeddings.weight"),
            &[config.max_position_embeddings, h],
            Init::Normal(0.02),
        )?;
        let token_type = p.get(
            &format!("{prefix}embeddings.token_type_embeddings.weight"),
            &[config.type_vocab_size, h],
            Init::Normal(0.02),
        )?;
        let emb_ln = LayerNorm::new(
            p,
            &format!("{prefix}embeddings.LayerNorm"),
            h,
            config.layer_norm_eps,
        )?;
        let mut layers = Vec::new();
        for i in 0..config.num_hidden_layers {
            let l = format!("{prefix}encoder.layer.{i}");
            layers.push(Layer {
                q: Linear::new(p, &format!("{l}.attention.self.query"), h, h)?,
                k: Linear::new(p, &format!("{l}.attention.self.key"), h, h)?,
                v: Linear::new(p, &format!("{l}.attention.self.value"), h, h)?,
                attn_out: Linear::new(p, &format!("{l}.attention.output.dense"), h, h)?,
                attn_ln: LayerNorm::new(
                    p,
                    &format!("{l}.attention.output.LayerNorm"),
                    h,
                    config.layer_norm_eps,
                )?,
                inter: Linear::new(
                    p,
                    &format!("{l}.intermediate.dense"),
                    h,
                    config.intermediate_size,
                )?,
                out: Linear::new(p, &format!("{l}.output.dense"), config.intermediate_size, h)?,
                out_ln: LayerNorm::new(
                    p,
                    &format!("{l}.output.LayerNorm"),
                    h,
                    config.layer_norm_eps,
                )?,
            });
        }
        Ok(Transformer {
            config: config.clone(),
            position,
            token_type,
            emb_ln,
            layers,
            packed: Derived::default(),
        })
    }

    /// The shape.
    pub fn config(&self) -> &TransformerConfig {
        &self.config
    }

    /// Runs the encoder on word embeddings (B, T, H) with `mask` (B, T) of 0/1 (keys with 0 get
    /// no attention). Returns the last hidden states (B, T, H) and, per layer, the attention
    /// probabilities (B, heads, T, T). Differentiable: candle's ops composed, the reference for
    /// the fused passes [`Transformer::run`] takes.
    pub fn forward(&self, words: &Tensor, mask: &Tensor) -> Result<(Tensor, Vec<Tensor>)> {
        let (b, t, h) = words.dims3()?;
        let nh = self.config.num_attention_heads;
        let dh = h / nh;
        let mut x = self.embeddings(words)?;
        // Additive key mask (B, 1, 1, T).
        let bias = ((mask - 1.0)? * 1e9)?.reshape((b, 1, 1, t))?;
        let scale = 1.0 / (dh as f64).sqrt();
        let mut attns = Vec::with_capacity(self.layers.len());
        for layer in &self.layers {
            let heads = |y: Tensor| -> Result<Tensor> {
                Ok(y.reshape((b, t, nh, dh))?.transpose(1, 2)?.contiguous()?)
            };
            let q = heads(layer.q.forward(&x)?)?;
            let k = heads(layer.k.forward(&x)?)?;
            let v = heads(layer.v.forward(&x)?)?;
            let scores = (q.matmul(&k.t()?)? * scale)?.broadcast_add(&bias)?;
            let probs = candle_nn::ops::softmax(&scores, candle_core::D::Minus1)?;
            let ctx = probs
                .matmul(&v)?
                .transpose(1, 2)?
                .contiguous()?
                .reshape((b, t, h))?;
            let a = layer
                .attn_ln
                .forward(&(layer.attn_out.forward(&ctx)? + &x)?)?;
            let f = self.config.hidden_act.apply(&layer.inter.forward(&a)?)?;
            x = layer.out_ln.forward(&(layer.out.forward(&f)? + &a)?)?;
            attns.push(probs);
        }
        Ok((x, attns))
    }

    /// The embedding LayerNorm of word + position + token-type (0) embeddings, differentiable.
    fn embeddings(&self, words: &Tensor) -> Result<Tensor> {
        let t = words.dim(1)?;
        self.check_len(t)?;
        let x = words
            .broadcast_add(&self.position.narrow(0, 0, t)?)?
            .broadcast_add(&self.token_type.narrow(0, 0, 1)?)?;
        self.emb_ln.forward(&x)
    }

    /// The fused differentiable pass (with or without the maps) or [`Transformer::infer`], as
    /// `pass` asks.
    pub fn run(&self, words: &Tensor, mask: &Tensor, pass: Pass) -> Result<(Tensor, Vec<Tensor>)> {
        match pass {
            Pass::Grad | Pass::Train | Pass::InputGrad => self.forward_fused(words, mask, pass),
            pass => self.infer(words, mask, pass),
        }
    }

    /// Refuses inputs longer than the position table.
    fn check_len(&self, t: usize) -> Result<()> {
        if t > self.config.max_position_embeddings {
            return Err(ModelError::Data(format!(
                "input of {t} tokens is longer than the {} positions of the model",
                self.config.max_position_embeddings
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod test_support {
    use super::{Activation, Transformer, TransformerConfig};
    use crate::models::params::ParamStore;
    use candle_core::Tensor;

    /// A small encoder (width 32, 2 layers of 4 heads, 16 positions) drawn from `store`.
    pub(super) fn small_encoder(store: &ParamStore, act: Activation) -> Transformer {
        let cfg = TransformerConfig {
            hidden_size: 32,
            num_hidden_layers: 2,
            num_attention_heads: 4,
            intermediate_size: 48,
            max_position_embeddings: 16,
            type_vocab_size: 2,
            layer_norm_eps: 1e-12,
            hidden_act: act,
        };
        Transformer::new(store, "", &cfg).unwrap()
    }

    /// The largest |a − b|.
    pub(super) fn max_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar()
            .unwrap()
    }
}
