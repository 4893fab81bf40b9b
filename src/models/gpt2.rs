//! A GPT-2 decoder-only language model in candle that runs on **sparse subsets** of a context,
//! each token keeping its original position id (Vafa et al. 2021, A2 of the research note).
//!
//! Loads Hugging Face GPT-2 checkpoints from local files (`config.json`, `model.safetensors`,
//! `tokenizer.json`), with or without the `transformer.` prefix; `lm_head` is tied to `wte`
//! as in GPT-2. Conv1D weights are kept in their stored `(in, out)` layout.
//!
//! Every op used in training is composed from differentiable primitives (layer norm and softmax
//! are written out: candle-nn's fused versions pass no gradient). Inference (greedy search,
//! next-token log-probabilities) runs the fused packed pass ([`CachedLm`]).

mod packed;

use packed::PackedGpt2;

use super::cached_lm::{check_ids, score_row, Blocks, CachedLm, KvCache, Row, SubsetScore};
use super::params::Derived;
use super::ModelError;
use candle_core::{DType, Device, Tensor, Var, D};
use rand::Rng;
use rand_chacha::rand_core::SeedableRng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// Hyper-parameters, read from a Hugging Face GPT-2 `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Gpt2Config {
    /// Vocabulary size.
    pub vocab_size: usize,
    /// Largest position id + 1.
    pub n_positions: usize,
    /// Hidden size.
    pub n_embd: usize,
    /// Number of blocks.
    pub n_layer: usize,
    /// Attention heads per block.
    pub n_head: usize,
    /// MLP inner size (4 × n_embd when absent).
    #[serde(default)]
    pub n_inner: Option<usize>,
    /// Layer-norm epsilon.
    #[serde(default = "default_eps")]
    pub layer_norm_epsilon: f64,
    /// `gelu_new` (tanh approximation, GPT-2's) or `gelu` (erf).
    #[serde(default = "default_act")]
    pub activation_function: String,
}

fn default_eps() -> f64 {
    1e-5
}
fn default_act() -> String {
    "gelu_new".into()
}

impl Gpt2Config {
    /// A small configuration for experiments trained from scratch.
    pub fn small(
        vocab_size: usize,
        n_positions: usize,
        n_embd: usize,
        n_layer: usize,
        n_head: usize,
    ) -> Self {
        Gpt2Config {
            vocab_size,
            n_positions,
            n_embd,
            n_layer,
            n_head,
            n_inner: None,
            layer_norm_epsilon: 1e-5,
            activation_function: "gelu_new".into(),
        }
    }

    fn validate(&self) -> Result<(), ModelError> {
        if self.n_head == 0 || !self.n_embd.is_multiple_of(self.n_head) {
            return Err(ModelError::Invalid(format!(
                "n_embd {} is not a multiple of n_head {}",
                self.n_embd, self.n_head
            )));
        }
        if self.vocab_size == 0 || self.n_layer == 0 || self.n_positions == 0 {
            return Err(ModelError::Invalid(
                "vocab_size, n_layer and n_positions must be > 0".into(),
            ));
        }
        if !matches!(
            self.activation_function.as_str(),
            "gelu_new" | "gelu" | "gelu_pytorch_tanh"
        ) {
            return Err(ModelError::Invalid(format!(
                "unsupported activation_function {:?}",
                self.activation_function
            )));
        }
        Ok(())
    }

    /// Every token id inside the vocabulary and every position inside `n_positions`.
    pub(crate) fn check_tokens(&self, ids: &[u32], positions: &[usize]) -> Result<(), ModelError> {
        check_ids(ids, self.vocab_size)?;
        if let Some(&p) = positions.iter().find(|&&p| p >= self.n_positions) {
            return Err(ModelError::Invalid(format!(
                "position {p} >= n_positions {} (context too long for this model)",
                self.n_positions
            )));
        }
        Ok(())
    }

    fn inner(&self) -> usize {
        self.n_inner.unwrap_or(4 * self.n_embd)
    }
}

pub(crate) struct Block {
    pub(crate) ln1: (Tensor, Tensor),
    pub(crate) attn_w: Tensor,
    pub(crate) attn_b: Tensor,
    pub(crate) proj_w: Tensor,
    pub(crate) proj_b: Tensor,
    pub(crate) ln2: (Tensor, Tensor),
    pub(crate) fc_w: Tensor,
    pub(crate) fc_b: Tensor,
    pub(crate) fc_proj_w: Tensor,
    pub(crate) fc_proj_b: Tensor,
}

/// A GPT-2 language model (inference and training).
pub struct Gpt2 {
    /// The configuration.
    pub config: Gpt2Config,
    wte: Tensor,
    wpe: Tensor,
    blocks: Vec<Block>,
    ln_f: (Tensor, Tensor),
    erf_gelu: bool,
    device: Device,
    /// The weights packed for inference, made on first use (again after they change).
    packed: Derived<PackedGpt2>,
}

fn names(cfg: &Gpt2Config) -> Vec<(String, Vec<usize>)> {
    let (d, v, p, inner) = (cfg.n_embd, cfg.vocab_size, cfg.n_positions, cfg.inner());
    let mut out = vec![
        ("wte.weight".to_string(), vec![v, d]),
        ("wpe.weight".to_string(), vec![p, d]),
    ];
    for l in 0..cfg.n_layer {
        for (n, s) in [
            ("ln_1.weight", vec![d]),
            ("ln_1.bias", vec![d]),
            ("attn.c_attn.weight", vec![d, 3 * d]),
            ("attn.c_attn.bias", vec![3 * d]),
            ("attn.c_proj.weight", vec![d, d]),
            ("attn.c_proj.bias", vec![d]),
            ("ln_2.weight", vec![d]),
            ("ln_2.bias", vec![d]),
            ("mlp.c_fc.weight", vec![d, inner]),
            ("mlp.c_fc.bias", vec![inner]),
            ("mlp.c_proj.weight", vec![inner, d]),
            ("mlp.c_proj.bias", vec![d]),
        ] {
            out.push((format!("h.{l}.{n}"), s));
        }
    }
    out.push(("ln_f.weight".into(), vec![d]));
    out.push(("ln_f.bias".into(), vec![d]));
    out
}

fn layer_norm(x: &Tensor, (w, b): &(Tensor, Tensor), eps: f64) -> candle_core::Result<Tensor> {
    let mean = x.mean_keepdim(D::Minus1)?;
    let xc = x.broadcast_sub(&mean)?;
    let var = xc.sqr()?.mean_keepdim(D::Minus1)?;
    let xn = xc.broadcast_div(&(var + eps)?.sqrt()?)?;
    xn.broadcast_mul(w)?.broadcast_add(b)
}

/// `x (.., in) @ w (in, out) + b`, as one 2-D matrix product over all leading dimensions
/// (candle's broadcast matmul would run one small product per batch row).
fn conv1d(x: &Tensor, w: &Tensor, b: &Tensor) -> candle_core::Result<Tensor> {
    matmul_2d(x, w)?.broadcast_add(b)
}

/// `x (.., in) @ w (in, out)` as one 2-D product.
fn matmul_2d(x: &Tensor, w: &Tensor) -> candle_core::Result<Tensor> {
    let dims = x.dims().to_vec();
    let Some((last, lead)) = dims.split_last() else {
        return x.matmul(w);
    };
    let rows: usize = lead.iter().product();
    let y = x.reshape((rows, *last))?.matmul(w)?;
    let mut out = lead.to_vec();
    out.push(w.dim(1)?);
    y.reshape(out)
}

/// The tensor `name` (`transformer.` prefix optional), checked against `shape`, as f32.
fn named(
    tensors: &HashMap<String, Tensor>,
    name: &str,
    shape: &[usize],
    device: &Device,
) -> Result<Tensor, ModelError> {
    let t = tensors
        .get(name)
        .or_else(|| tensors.get(&format!("transformer.{name}")))
        .ok_or_else(|| ModelError::Invalid(format!("checkpoint has no tensor {name:?}")))?;
    if t.dims() != shape {
        return Err(ModelError::Invalid(format!(
            "tensor {name:?} has shape {:?}, config implies {shape:?}",
            t.dims()
        )));
    }
    Ok(t.to_dtype(DType::F32)?.to_device(device)?)
}

/// `config.json` and the tensors of `model.safetensors` in a checkpoint folder.
fn read_checkpoint(
    dir: &Path,
    device: &Device,
) -> Result<(Gpt2Config, HashMap<String, Tensor>), ModelError> {
    let cfg_path = dir.join("config.json");
    let text = std::fs::read_to_string(&cfg_path).map_err(|e| ModelError::io(&cfg_path, e))?;
    let config: Gpt2Config = serde_json::from_str(&text)
        .map_err(|e| ModelError::Invalid(format!("{}: {e}", cfg_path.display())))?;
    let w = dir.join("model.safetensors");
    if !w.exists() {
        return Err(ModelError::io(
            &w,
            std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
        ));
    }
    let tensors = candle_core::safetensors::load(&w, device)
        .map_err(|e| ModelError::Invalid(format!("{}: {e}", w.display())))?;
    Ok((config, tensors))
}

impl Gpt2 {
    /// Builds a model from named tensors (Hugging Face names, `transformer.` prefix optional).
    pub fn from_tensors(
        config: Gpt2Config,
        tensors: &HashMap<String, Tensor>,
        device: &Device,
    ) -> Result<Self, ModelError> {
        config.validate()?;
        let get = |name: &str, shape: &[usize]| named(tensors, name, shape, device);
        let (d, inner) = (config.n_embd, config.inner());
        let wte = get("wte.weight", &[config.vocab_size, d])?;
        let wpe = get("wpe.weight", &[config.n_positions, d])?;
        let mut blocks = Vec::with_capacity(config.n_layer);
        for l in 0..config.n_layer {
            let g = |n: &str, s: &[usize]| get(&format!("h.{l}.{n}"), s);
            blocks.push(Block {
                ln1: (g("ln_1.weight", &[d])?, g("ln_1.bias", &[d])?),
                attn_w: g("attn.c_attn.weight", &[d, 3 * d])?,
                attn_b: g("attn.c_attn.bias", &[3 * d])?,
                proj_w: g("attn.c_proj.weight", &[d, d])?,
                proj_b: g("attn.c_proj.bias", &[d])?,
                ln2: (g("ln_2.weight", &[d])?, g("ln_2.bias", &[d])?),
                fc_w: g("mlp.c_fc.weight", &[d, inner])?,
                fc_b: g("mlp.c_fc.bias", &[inner])?,
                fc_proj_w: g("mlp.c_proj.weight", &[inner, d])?,
                fc_proj_b: g("mlp.c_proj.bias", &[d])?,
            });
        }
        let ln_f = (get("ln_f.weight", &[d])?, get("ln_f.bias", &[d])?);
        let erf_gelu = config.activation_function == "gelu";
        Ok(Gpt2 {
            config,
            wte,
            wpe,
            blocks,
            ln_f,
            erf_gelu,
            device: device.clone(),
            packed: Derived::default(),
        })
    }

    /// Loads `config.json` and `model.safetensors` from a checkpoint folder.
    pub fn load(dir: &Path, device: &Device) -> Result<Self, ModelError> {
        let (config, tensors) = read_checkpoint(dir, device)?;
        Self::from_tensors(config, &tensors, device)
    }

    /// A checkpoint folder's parameters as trainable variables (for fine-tuning), with its
    /// configuration.
    pub fn load_vars(
        dir: &Path,
        device: &Device,
    ) -> Result<(Gpt2Config, Vec<(String, Var)>), ModelError> {
        let (config, tensors) = read_checkpoint(dir, device)?;
        config.validate()?;
        let vars = names(&config)
            .into_iter()
            .map(|(name, shape)| {
                let t = named(&tensors, &name, &shape, device)?;
                Ok((name, Var::from_tensor(&t)?))
            })
            .collect::<Result<_, ModelError>>()?;
        Ok((config, vars))
    }

    /// Fresh trainable parameters drawn from a seeded generator (N(0, 0.02), layer norms 1/0,
    /// residual projections scaled by 1/sqrt(2·n_layer) as in GPT-2).
    pub fn init_vars(
        config: &Gpt2Config,
        seed: u64,
        device: &Device,
    ) -> Result<Vec<(String, Var)>, ModelError> {
        config.validate()?;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut out = Vec::new();
        for (name, shape) in names(config) {
            let n: usize = shape.iter().product();
            let data: Vec<f32> = if name.ends_with("bias") {
                vec![0.0; n]
            } else if name.contains("ln_") {
                vec![1.0; n]
            } else {
                let std = if name.ends_with("c_proj.weight") {
                    0.02 / (2.0 * config.n_layer as f32).sqrt()
                } else {
                    0.02
                };
                (0..n).map(|_| std * normal(&mut rng)).collect()
            };
            out.push((
                name,
                Var::from_tensor(&Tensor::from_vec(data, shape, device)?)?,
            ));
        }
        Ok(out)
    }

    /// The model whose parameters are these variables (training shares them).
    pub fn from_vars(
        config: Gpt2Config,
        vars: &[(String, Var)],
        device: &Device,
    ) -> Result<Self, ModelError> {
        let map: HashMap<String, Tensor> = vars
            .iter()
            .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
            .collect();
        Self::from_tensors(config, &map, device)
    }

    /// Saves a checkpoint folder in the Hugging Face layout (`config.json`, `model.safetensors`).
    pub fn save(config: &Gpt2Config, vars: &[(String, Var)], dir: &Path) -> Result<(), ModelError> {
        std::fs::create_dir_all(dir).map_err(|e| ModelError::io(dir, e))?;
        let map: HashMap<String, Tensor> = vars
            .iter()
            .map(|(n, v)| (n.clone(), v.as_tensor().clone()))
            .collect();
        let w = dir.join("model.safetensors");
        candle_core::safetensors::save(&map, &w)
            .map_err(|e| ModelError::Invalid(format!("{}: {e}", w.display())))?;
        let c = dir.join("config.json");
        let text =
            serde_json::to_string_pretty(config).map_err(|e| ModelError::Invalid(e.to_string()))?;
        std::fs::write(&c, text).map_err(|e| ModelError::io(&c, e))
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    fn embed(
        &self,
        ids: &[u32],
        positions: &[usize],
        shape: (usize, usize),
    ) -> Result<Tensor, ModelError> {
        self.config.check_tokens(ids, positions)?;
        let ids = Tensor::from_slice(ids, ids.len(), &self.device)?;
        let pos: Vec<u32> = positions.iter().map(|&p| p as u32).collect();
        let pos = Tensor::from_vec(pos, positions.len(), &self.device)?;
        let h = (self.wte.embedding(&ids)? + self.wpe.embedding(&pos)?)?;
        Ok(h.reshape((shape.0, shape.1, self.config.n_embd))?)
    }

    fn gelu(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        if self.erf_gelu {
            x.gelu_erf()
        } else {
            x.gelu()
        }
    }

    /// One block on `h (b, l, d)` with the additive attention mask `(l, l)`.
    fn block(
        &self,
        blk: &Block,
        h: &Tensor,
        mask: &Tensor,
        train: bool,
    ) -> candle_core::Result<Tensor> {
        let (b, l, d) = h.dims3()?;
        let nh = self.config.n_head;
        let hd = d / nh;
        let eps = self.config.layer_norm_epsilon;
        let x = layer_norm(h, &blk.ln1, eps)?;
        let qkv = conv1d(&x, &blk.attn_w, &blk.attn_b)?;
        let split = |i: usize| -> candle_core::Result<Tensor> {
            qkv.narrow(2, i * d, d)?
                .reshape((b, l, nh, hd))?
                .transpose(1, 2)?
                .contiguous()
        };
        let (q, k, v) = (split(0)?, split(1)?, split(2)?);
        let att = (q.matmul(&k.t()?)? * (1.0 / (hd as f64).sqrt()))?.broadcast_add(mask)?;
        let att = if train {
            candle_nn::ops::softmax(&att, D::Minus1)?
        } else {
            candle_nn::ops::softmax_last_dim(&att)?
        };
        let y = att.matmul(&v)?.transpose(1, 2)?.reshape((b, l, d))?;
        let h = (h + conv1d(&y, &blk.proj_w, &blk.proj_b)?)?;
        let x = layer_norm(&h, &blk.ln2, eps)?;
        let m = self.gelu(&conv1d(&x, &blk.fc_w, &blk.fc_b)?)?;
        h + conv1d(&m, &blk.fc_proj_w, &blk.fc_proj_b)?
    }

    /// The causal mask `(l, l)`: 0 where position `s <= i`, −1e9 elsewhere.
    fn causal_mask(&self, l: usize) -> candle_core::Result<Tensor> {
        let m: Vec<f32> = (0..l * l)
            .map(|x| if x % l <= x / l { 0.0 } else { -1e9 })
            .collect();
        Tensor::from_vec(m, (l, l), &self.device)
    }
    /// Logits `(b, l, vocab)` for a batch of equal-length token sequences with explicit position
    /// ids (row-major `b × l`), causal in sequence order. This is the sparse forward pass: a subset
    /// of a context is its tokens with their original positions.
    pub fn forward(
        &self,
        ids: &[u32],
        positions: &[usize],
        b: usize,
    ) -> Result<Tensor, ModelError> {
        let h = self.hidden(ids, positions, b, None, false)?;
        self.logits(&h)
    }

    /// Training forward over full sequences `(b, l)` (positions 0..l), with an optional extra
    /// additive attention mask `(l, l)` added after the causal mask (word dropout).
    pub fn forward_train(
        &self,
        ids: &[u32],
        b: usize,
        extra_mask: Option<&Tensor>,
    ) -> Result<Tensor, ModelError> {
        if b == 0 || !ids.len().is_multiple_of(b) {
            return Err(ModelError::Invalid(
                "ids length is not a multiple of the batch size".into(),
            ));
        }
        let l = ids.len() / b;
        let positions: Vec<usize> = (0..b).flat_map(|_| 0..l).collect();
        let h = self.hidden(ids, &positions, b, extra_mask, true)?;
        self.logits(&h)
    }

    /// The final layer norm and the tied LM head (read from `wte` itself, so that it follows
    /// training).
    fn logits(&self, h: &Tensor) -> Result<Tensor, ModelError> {
        let x = layer_norm(h, &self.ln_f, self.config.layer_norm_epsilon)?;
        Ok(matmul_2d(&x, &self.wte.t()?)?)
    }

    fn hidden(
        &self,
        ids: &[u32],
        positions: &[usize],
        b: usize,
        extra: Option<&Tensor>,
        train: bool,
    ) -> Result<Tensor, ModelError> {
        if b == 0 || !ids.len().is_multiple_of(b) || ids.len() != positions.len() || ids.is_empty()
        {
            return Err(ModelError::Invalid(
                "ids/positions lengths do not form a (batch, length) grid".into(),
            ));
        }
        let l = ids.len() / b;
        let mut h = self.embed(ids, positions, (b, l))?;
        let mut mask = self.causal_mask(l)?;
        if let Some(e) = extra {
            mask = (mask + e)?;
        }
        for blk in &self.blocks {
            h = self.block(blk, &h, &mask, train)?;
        }
        Ok(h)
    }

    /// The weights packed for inference ([`PackedGpt2`]), packed on the first call and again
    /// after the weights change (an optimizer step on the variables this model was built from).
    fn packed(&self) -> Result<Arc<PackedGpt2>, ModelError> {
        self.packed.get(|| PackedGpt2::new(self))
    }

    pub(crate) fn blocks(&self) -> &[Block] {
        &self.blocks
    }

    /// Token and position embeddings and the final layer norm.
    pub(crate) fn embeddings(&self) -> (&Tensor, &Tensor, &(Tensor, Tensor)) {
        (&self.wte, &self.wpe, &self.ln_f)
    }
}

impl CachedLm for Gpt2 {
    fn check_tokens(&self, ids: &[u32], positions: &[usize]) -> Result<(), ModelError> {
        self.config.check_tokens(ids, positions)
    }

    fn prefill(&self, rows: &[Row]) -> Result<Vec<KvCache>, ModelError> {
        self.packed()?.prefill(rows)
    }

    fn score(&self, rows: &[Row], targets: &[u32]) -> Result<Vec<SubsetScore>, ModelError> {
        self.packed()?.score(rows, targets)
    }

    fn next_token_logprobs(&self, texts: &[&[u32]]) -> Result<Vec<Vec<f32>>, ModelError> {
        self.packed()?.next_token_logprobs(texts)
    }
}

/// Target log-probability and argmax (lowest id among ties) of each row of `(b, vocab)` logits.
pub fn scores_from_logits(logits: &Tensor, target: u32) -> Result<Vec<SubsetScore>, ModelError> {
    let rows = logits.to_dtype(DType::F32)?.to_vec2::<f32>()?;
    Ok(rows.iter().map(|r| score_row(r, target as usize)).collect())
}

fn normal<R: Rng>(rng: &mut R) -> f32 {
    // Box–Muller on two uniforms in (0, 1].
    let u1: f32 = 1.0 - rng.gen::<f32>();
    let u2: f32 = rng.gen::<f32>();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f32::consts::PI * u2).cos()
}
