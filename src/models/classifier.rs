//! The text classifier: word embeddings → encoder (BiGRU, CNN or transformer) → pooling →
//! linear head. It implements the whole model contract ([`Classifier`], gradients, attention)
//! and saves to / loads from a checkpoint directory (`config.json`, `model.safetensors`,
//! `tokenizer.json`).

use super::cnn::Cnn;
use super::embedding::{glove_table, Embedding};
use super::gru::BiGru;
use super::params::{dropout, Init, ParamStore};
use super::tokenizer::ModelTokenizer;
use super::transformer::{Pass, Transformer, TransformerConfig};
use super::{
    check_finite, predict_sorted, to_array, AttentionClassifier, AttentionMaps, Classifier,
    GradientClassifier, ModelError, Result, TextModel,
};
use candle_core::{Device, Tensor, D};
use ndarray::{Array2, Array4};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// How the GRU's states become one vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// Additive attention (the ERASER "LSTM-Attention" baselines); its weights are explanations.
    Attention,
    /// Masked max over time.
    Max,
    /// Masked mean over time.
    Mean,
}

/// The encoder of a classifier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum EncoderConfig {
    /// Embeddings → one-layer bidirectional GRU → pooling.
    Gru {
        /// Embedding width.
        embed_dim: usize,
        /// GRU state width per direction.
        hidden: usize,
        /// Pooling over time.
        pooling: Pooling,
        /// Width of the attention-pooling layer.
        attention_dim: usize,
    },
    /// Embeddings → convolutions of odd widths → masked max-pooling.
    Cnn {
        /// Embedding width.
        embed_dim: usize,
        /// Filters per width.
        filters: usize,
        /// Convolution widths (odd).
        widths: Vec<usize>,
    },
    /// A transformer trained from scratch (mean-pooled).
    Transformer(TransformerConfig),
    /// A BERT-family checkpoint, fine-tuned. `path` is where it came from.
    Bert {
        /// The pretrained model directory.
        path: PathBuf,
        /// Its shape, from its `config.json`.
        transformer: TransformerConfig,
        /// BERT's own head: the pooler (dense, tanh) on `[CLS]`, as
        /// `BertForSequenceClassification` (exports to Hugging Face). `false` in checkpoints
        /// from before it was used, which mean-pool the final states.
        #[serde(default)]
        pooler: bool,
    },
}

/// Everything needed to rebuild a classifier (stored as the checkpoint's `config.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierConfig {
    /// The encoder.
    pub encoder: EncoderConfig,
    /// Class labels, in output order.
    pub labels: Vec<String>,
    /// Vocabulary size (the tokenizer's).
    pub vocab_size: usize,
    /// Longest input in model tokens (longer inputs are cut at the end).
    pub max_len: usize,
    /// Dropout on embeddings and the pooled vector during training.
    pub dropout: f64,
}

impl ClassifierConfig {
    /// Checks the configuration; the message names the offending field.
    pub fn validate(&self) -> Result<()> {
        if self.labels.len() < 2 {
            return Err(ModelError::Invalid(format!(
                "need at least 2 labels, got {:?}",
                self.labels
            )));
        }
        if self.vocab_size == 0 || self.max_len == 0 {
            return Err(ModelError::Invalid(
                "vocab_size and max_len must be > 0".into(),
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(ModelError::Invalid(format!(
                "dropout must be in [0, 1), got {}",
                self.dropout
            )));
        }
        match &self.encoder {
            EncoderConfig::Gru {
                embed_dim,
                hidden,
                attention_dim,
                pooling,
            } => {
                if *embed_dim == 0 || *hidden == 0 {
                    return Err(ModelError::Invalid(
                        "gru: embed_dim and hidden must be > 0".into(),
                    ));
                }
                if *pooling == Pooling::Attention && *attention_dim == 0 {
                    return Err(ModelError::Invalid(
                        "gru: attention_dim must be > 0 with attention pooling".into(),
                    ));
                }
            }
            EncoderConfig::Cnn {
                embed_dim,
                filters,
                widths,
            } => {
                if *embed_dim == 0 || *filters == 0 || widths.is_empty() {
                    return Err(ModelError::Invalid(
                        "cnn: embed_dim, filters and widths must be non-empty".into(),
                    ));
                }
                if let Some(w) = widths.iter().find(|w| **w % 2 == 0) {
                    return Err(ModelError::Invalid(format!(
                        "cnn: widths must be odd, got {w}"
                    )));
                }
            }
            EncoderConfig::Transformer(t) | EncoderConfig::Bert { transformer: t, .. } => {
                t.validate()?;
                if self.max_len > t.max_position_embeddings {
                    return Err(ModelError::Invalid(format!(
                        "max_len {} exceeds the model's {} positions",
                        self.max_len, t.max_position_embeddings
                    )));
                }
            }
        }
        Ok(())
    }

    /// Short name of the architecture.
    pub fn kind(&self) -> &'static str {
        match self.encoder {
            EncoderConfig::Gru { .. } => "gru",
            EncoderConfig::Cnn { .. } => "cnn",
            EncoderConfig::Transformer(_) => "transformer",
            EncoderConfig::Bert { .. } => "bert",
        }
    }
}

#[derive(Debug, Clone)]
enum Body {
    Gru(BiGru, Option<(Tensor, Tensor, Tensor)>),
    Cnn(Cnn),
    /// The encoder and, for BERT's own head, the pooler's weight and bias.
    Transformer(Transformer, Option<(Tensor, Tensor)>),
}

/// Outputs of one forward pass.
pub struct Forward {
    /// Logits (B, C).
    pub logits: Tensor,
    /// Attention-pooling weights (B, T), GRU with attention pooling only.
    pub pooling: Option<Tensor>,
    /// Per-layer attention probabilities (B, heads, T, T), transformers only.
    pub attentions: Vec<Tensor>,
}

/// A text classifier with its tokenizer.
pub struct TextClassifier {
    config: ClassifierConfig,
    tokenizer: ModelTokenizer,
    params: ParamStore,
    embed: Embedding,
    body: Body,
    head_w: Tensor,
    head_b: Tensor,
}

impl std::fmt::Debug for TextClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextClassifier")
            .field("config", &self.config)
            .finish()
    }
}

impl TextClassifier {
    /// A fresh classifier with parameters drawn from `seed`; `glove` initialises GRU/CNN
    /// embeddings from a GloVe-format file; a `Bert` encoder loads its pretrained weights.
    pub fn fresh(
        config: ClassifierConfig,
        tokenizer: ModelTokenizer,
        seed: u64,
        glove: Option<&Path>,
    ) -> Result<Self> {
        Ok(Self::fresh_counted(config, tokenizer, seed, glove)?.0)
    }

    /// [`TextClassifier::fresh`], also returning how many vocabulary entries the GloVe file
    /// covered (`None` without one).
    pub fn fresh_counted(
        config: ClassifierConfig,
        tokenizer: ModelTokenizer,
        seed: u64,
        glove: Option<&Path>,
    ) -> Result<(Self, Option<usize>)> {
        config.validate().map_err(|e| ModelError::Config {
            path: "<config>".into(),
            message: e.to_string(),
        })?;
        let mut found = None;
        let params = match (&config.encoder, glove) {
            (EncoderConfig::Bert { path, .. }, _) => {
                let (tensors, file) = super::bert::load_renamed(path, "encoder.")?;
                ParamStore::fresh_with(seed, tensors, &file)
            }
            (
                EncoderConfig::Gru { embed_dim, .. } | EncoderConfig::Cnn { embed_dim, .. },
                Some(g),
            ) => {
                let (t, n) = glove_table(
                    g,
                    &tokenizer,
                    config.vocab_size,
                    *embed_dim,
                    seed ^ 0x6c6f7665,
                )?;
                found = Some(n);
                ParamStore::fresh_with(seed, HashMap::from([("embed.weight".to_owned(), t)]), g)
            }
            _ => ParamStore::fresh(seed),
        };
        let is_bert = matches!(config.encoder, EncoderConfig::Bert { .. });
        let model = Self::build(config, tokenizer, params)?;
        if is_bert {
            if let Some(name) = model
                .params
                .drawn_names()
                .iter()
                .find(|n| !n.starts_with("head.") && !n.starts_with("encoder.pooler."))
            {
                return Err(ModelError::Architecture {
                    path: "model.safetensors".into(),
                    message: format!("the pretrained weights have no tensor for {name:?}"),
                });
            }
        }
        Ok((model, found))
    }

    /// Loads a checkpoint directory (`config.json`, `model.safetensors`, `tokenizer.json`).
    pub fn load(dir: &Path) -> Result<Self> {
        let cfg_path = dir.join("config.json");
        if !cfg_path.is_file() {
            return Err(ModelError::MissingFile { path: cfg_path });
        }
        let text = std::fs::read_to_string(&cfg_path).map_err(|e| ModelError::io(&cfg_path, e))?;
        let config: ClassifierConfig =
            serde_json::from_str(&text).map_err(|e| ModelError::Config {
                path: cfg_path.clone(),
                message: format!("not a classifier config: {e}"),
            })?;
        config.validate().map_err(|e| ModelError::Config {
            path: cfg_path.clone(),
            message: e.to_string(),
        })?;
        let tokenizer = ModelTokenizer::from_file(&dir.join("tokenizer.json"))?;
        if tokenizer.vocab_size() != config.vocab_size {
            return Err(ModelError::Config {
                path: cfg_path,
                message: format!(
                    "vocab_size {} but tokenizer.json has {} entries",
                    config.vocab_size,
                    tokenizer.vocab_size()
                ),
            });
        }
        let params = ParamStore::load(&dir.join("model.safetensors"))?;
        let model = Self::build(config, tokenizer, params)?;
        model.params.check_all_used()?;
        Ok(model)
    }

    fn build(
        config: ClassifierConfig,
        tokenizer: ModelTokenizer,
        params: ParamStore,
    ) -> Result<Self> {
        let v = config.vocab_size;
        let (embed, body, width) = match &config.encoder {
            EncoderConfig::Gru {
                embed_dim,
                hidden,
                pooling,
                attention_dim,
            } => {
                let embed = Embedding::new(&params, "embed.weight", v, *embed_dim)?;
                let gru = BiGru::new(&params, "gru", *embed_dim, *hidden)?;
                let d = gru.output_dim();
                let pool = if *pooling == Pooling::Attention {
                    let a = *attention_dim;
                    Some((
                        params.get("pool.w", &[d, a], Init::Uniform(1.0 / (d as f64).sqrt()))?,
                        params.get("pool.b", &[a], Init::Zeros)?,
                        params.get("pool.v", &[a, 1], Init::Uniform(1.0 / (a as f64).sqrt()))?,
                    ))
                } else {
                    None
                };
                (embed, Body::Gru(gru, pool), d)
            }
            EncoderConfig::Cnn {
                embed_dim,
                filters,
                widths,
            } => {
                let embed = Embedding::new(&params, "embed.weight", v, *embed_dim)?;
                let cnn = Cnn::new(&params, "cnn", *embed_dim, *filters, widths)?;
                let d = cnn.output_dim();
                (embed, Body::Cnn(cnn), d)
            }
            EncoderConfig::Transformer(t) | EncoderConfig::Bert { transformer: t, .. } => {
                let embed = Embedding::new(
                    &params,
                    "encoder.embeddings.word_embeddings.weight",
                    v,
                    t.hidden_size,
                )?;
                let tr = Transformer::new(&params, "encoder.", t)?;
                let h = t.hidden_size;
                let pooler = match config.encoder {
                    EncoderConfig::Bert { pooler: true, .. } => Some((
                        params.get("encoder.pooler.dense.weight", &[h, h], Init::Normal(0.02))?,
                        params.get("encoder.pooler.dense.bias", &[h], Init::Zeros)?,
                    )),
                    _ => None,
                };
                (embed, Body::Transformer(tr, pooler), h)
            }
        };
        let c = config.labels.len();
        let a = 1.0 / (width as f64).sqrt();
        let head_w = params.get("head.weight", &[c, width], Init::Uniform(a))?;
        let head_b = params.get("head.bias", &[c], Init::Zeros)?;
        Ok(TextClassifier {
            config,
            tokenizer,
            params,
            embed,
            body,
            head_w,
            head_b,
        })
    }

    /// Writes `config.json`, `model.safetensors` and `tokenizer.json` into `dir` (which must
    /// exist). Use [`crate::io::write_dir_atomic`] for an all-or-nothing write.
    pub fn save_into(&self, dir: &Path) -> Result<()> {
        let cfg = serde_json::to_string_pretty(&self.config).expect("config serialises");
        let p = dir.join("config.json");
        std::fs::write(&p, cfg).map_err(|e| ModelError::io(&p, e))?;
        self.params.save(&dir.join("model.safetensors"))?;
        self.tokenizer.save(&dir.join("tokenizer.json"))
    }

    /// The configuration.
    pub fn config(&self) -> &ClassifierConfig {
        &self.config
    }

    /// The tokenizer.
    pub fn tokenizer(&self) -> &ModelTokenizer {
        &self.tokenizer
    }

    /// The parameters.
    pub fn params(&self) -> &ParamStore {
        &self.params
    }

    /// Pads a batch into ids (B, T) and a 0/1 mask (B, T) with this model's padding id.
    pub fn pad_batch(&self, batch: &[&[u32]]) -> Result<(Tensor, Tensor)> {
        super::pad_batch(batch, self.tokenizer.pad_id())
    }

    /// Embeds padded ids (B, T) → (B, T, E).
    pub fn embed_ids(&self, ids: &Tensor) -> Result<Tensor> {
        self.embed.forward(ids)
    }

    /// The differentiable forward pass from embeddings (B, T, E) and mask (B, T). With
    /// `dropout_rng`, applies training dropout drawn from that generator. A transformer runs
    /// `pass`: [`Pass::Train`] (fused, fast), or [`Pass::Grad`] when a loss needs its attention
    /// maps.
    pub fn forward(
        &self,
        embeds: &Tensor,
        mask: &Tensor,
        dropout_rng: Option<&mut ChaCha8Rng>,
        pass: Pass,
    ) -> Result<Forward> {
        self.run(embeds, mask, dropout_rng, pass)
    }

    /// [`TextClassifier::forward`] without dropout or gradients: transformers run their fast
    /// inference path ([`Transformer::infer`]; attention maps only with [`Pass::Attentions`]),
    /// the same numbers to rounding.
    fn infer(&self, embeds: &Tensor, mask: &Tensor, pass: Pass) -> Result<Forward> {
        self.run(embeds, mask, None, pass)
    }

    fn run(
        &self,
        embeds: &Tensor,
        mask: &Tensor,
        mut dropout_rng: Option<&mut ChaCha8Rng>,
        pass: Pass,
    ) -> Result<Forward> {
        let p = self.config.dropout;
        let x = match dropout_rng.as_deref_mut() {
            Some(rng) if p > 0.0 => dropout(embeds, p, rng)?,
            _ => embeds.clone(),
        };
        let mut pooling = None;
        let mut attentions = Vec::new();
        let pooled = match &self.body {
            Body::Gru(gru, pool) => {
                let h = gru.forward(&x, mask)?;
                let neg = ((mask - 1.0)? * 1e9)?;
                match (pool, self.pooling()) {
                    (Some((w, b, v)), _) => {
                        let (bs, t, d) = h.dims3()?;
                        let a = w.dim(1)?;
                        let s = h
                            .reshape((bs * t, d))?
                            .matmul(w)?
                            .broadcast_add(b)?
                            .tanh()?
                            .matmul(v)?
                            .reshape((bs, t))?;
                        let weights = candle_nn::ops::softmax(&(s + neg)?, D::Minus1)?;
                        let _ = a;
                        let pooled = h.broadcast_mul(&weights.unsqueeze(2)?)?.sum(1)?;
                        pooling = Some(weights);
                        pooled
                    }
                    (None, Pooling::Max) => h
                        .broadcast_add(&((mask - 1.0)? * 1e4)?.unsqueeze(2)?)?
                        .max(1)?,
                    (None, _) => mean_pool(&h, mask)?,
                }
            }
            Body::Cnn(cnn) => cnn.forward(&x, mask)?,
            Body::Transformer(tr, pooler) => {
                let pass = match pooler {
                    Some(_) => pass.reading_first_token(),
                    None => pass,
                };
                let (h, attns) = tr.run(&x, mask, pass)?;
                attentions = attns;
                match pooler {
                    Some((w, b)) => h
                        .narrow(1, 0, 1)?
                        .squeeze(1)?
                        .matmul(&w.t()?)?
                        .broadcast_add(b)?
                        .tanh()?,
                    None => mean_pool(&h, mask)?,
                }
            }
        };
        let pooled = match dropout_rng {
            Some(rng) if p > 0.0 => dropout(&pooled, p, rng)?,
            _ => pooled,
        };
        let logits = pooled
            .matmul(&self.head_w.t()?)?
            .broadcast_add(&self.head_b)?;
        Ok(Forward {
            logits,
            pooling,
            attentions,
        })
    }

    fn pooling(&self) -> Pooling {
        match &self.config.encoder {
            EncoderConfig::Gru { pooling, .. } => *pooling,
            _ => Pooling::Mean,
        }
    }

    fn logits_chunk(&self, batch: &[&[u32]]) -> Result<Array2<f32>> {
        let (ids, mask) = self.pad_batch(batch)?;
        let emb = self.embed.forward(&ids)?;
        to_array(&self.infer(&emb, &mask, Pass::Logits)?.logits)
    }

    fn proba_chunk(&self, batch: &[&[u32]]) -> Result<Array2<f32>> {
        let (ids, mask) = self.pad_batch(batch)?;
        let emb = self.embed.forward(&ids)?;
        let out = self.infer(&emb, &mask, Pass::Logits)?;
        to_array(&candle_nn::ops::softmax(&out.logits, D::Minus1)?)
    }
}

fn mean_pool(h: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let m = mask.unsqueeze(2)?;
    let n = mask.sum_keepdim(1)?.clamp(1.0, f64::MAX)?;
    Ok(h.broadcast_mul(&m)?.sum(1)?.broadcast_div(&n)?)
}

impl Classifier for TextClassifier {
    fn labels(&self) -> &[String] {
        &self.config.labels
    }

    /// Sorts by length, runs chunks of 32, and returns results in input order.
    fn predict_proba(&self, batch: &[&[u32]]) -> Result<Array2<f32>> {
        let out = predict_sorted(batch, self.config.labels.len(), |c| self.proba_chunk(c))?;
        check_finite(&out, "class probabilities")?;
        Ok(out)
    }
    fn gradients(&self) -> Option<&dyn GradientClassifier> {
        Some(self)
    }
    fn attention(&self) -> Option<&dyn AttentionClassifier> {
        Some(self)
    }
}

impl TextModel for TextClassifier {
    fn tokenizer(&self) -> &ModelTokenizer {
        &self.tokenizer
    }

    fn max_len(&self) -> usize {
        self.config.max_len
    }

    fn logits(&self, batch: &[&[u32]]) -> Result<Array2<f32>> {
        predict_sorted(batch, self.config.labels.len(), |c| self.logits_chunk(c))
    }
}

impl GradientClassifier for TextClassifier {
    fn embed(&self, ids: &[u32]) -> Result<Tensor> {
        let t = Tensor::from_vec(ids.to_vec(), (1, ids.len()), &Device::Cpu)?;
        Ok(self.embed.forward(&t)?.squeeze(0)?)
    }

    fn forward_embeds(&self, embeds: &Tensor) -> Result<Tensor> {
        let (b, t, _) = embeds.dims3()?;
        let mask = Tensor::ones((b, t), candle_core::DType::F32, &Device::Cpu)?;
        let out = self.forward(embeds, &mask, None, Pass::InputGrad)?;
        Ok(candle_nn::ops::softmax(&out.logits, D::Minus1)?)
    }
}

impl AttentionClassifier for TextClassifier {
    fn attentions(&self, ids: &[u32]) -> Result<AttentionMaps> {
        let emb = self.embed(ids)?.unsqueeze(0)?;
        let mask = Tensor::ones((1, ids.len()), candle_core::DType::F32, &Device::Cpu)?;
        let out = self.infer(&emb, &mask, Pass::Attentions)?;
        if out.pooling.is_none() && out.attentions.is_empty() {
            return Err(ModelError::Unsupported(format!(
                "a {} classifier{} has no attention weights; use a GRU with attention pooling or a transformer",
                self.config.kind(),
                if matches!(self.body, Body::Gru(..)) { " without attention pooling" } else { "" }
            )));
        }
        // Each layer's (1, heads, T, T) stacked into (layers, heads, T, T).
        let layers = if out.attentions.is_empty() {
            Array4::zeros((0, 0, ids.len(), ids.len()))
        } else {
            to_array(&Tensor::cat(&out.attentions, 0)?)?
        };
        let pooling = match out.pooling {
            Some(p) => Some(p.squeeze(0)?.to_vec1::<f32>()?),
            None => None,
        };
        Ok(AttentionMaps {
            layers,
            pooling,
            // BERT's head reads the first token (`[CLS]`).
            readout: matches!(self.body, Body::Transformer(_, Some(_))).then_some(0),
        })
    }
}
