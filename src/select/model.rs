//! The generator (embeddings → CNN or BiGRU → per-token score head, plus A2R's soft-attention
//! predictor), the predictor (a [`TextClassifier`] that only ever sees the selected tokens), and
//! the checkpoint format: a directory with `select.json`, `generator.safetensors` and the
//! predictor's own checkpoint files (`config.json`, `model.safetensors`, `tokenizer.json`), so
//! the directory is also a plain classifier checkpoint of the predictor.

use super::estimators::{self, HardKuma};
use super::{io_err, Estimator, Granularity, Result, SelectConfig, SelectError};
use crate::models::cnn::Cnn;
use crate::models::embedding::{glove_table, Embedding};
use crate::models::gru::BiGru;
use crate::models::params::{dropout, Init, ParamStore};
use crate::models::transformer::Pass;
use crate::models::{
    ClassifierConfig, Encoded, EncoderConfig, ModelTokenizer, Pooling, TextClassifier, TextModel,
};
use candle_core::{DType, Device, Tensor, D};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

#[derive(Debug, Clone)]
enum GenEncoder {
    Cnn(Cnn),
    Gru(BiGru),
}

/// The generator: per-token selection scores and A2R's soft-attention prediction.
pub struct Generator {
    params: ParamStore,
    embed: Embedding,
    enc: GenEncoder,
    head_w: Tensor,
    head_b: Tensor,
    cls_w: Tensor,
    cls_b: Tensor,
}

/// What the generator computes for a padded batch.
pub struct GenOut {
    /// Per-token selection logits (B, T) (HardKuma: the raw `a` parameter).
    pub logits: Tensor,
    /// HardKuma gates (HardKuma only).
    pub kuma: Option<HardKuma>,
    /// Soft attention over tokens (B, T) (padding gets 0).
    pub attention: Tensor,
    /// The soft-attention prediction's logits (B, C).
    pub att_logits: Tensor,
}

/// `select.json`: how to rebuild a selective rationalizer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelectMeta {
    /// The training configuration.
    pub config: SelectConfig,
    /// Class labels in output order.
    pub labels: Vec<String>,
}

/// One rationalized input, per dataset token.
#[derive(Debug, Clone, PartialEq)]
pub struct Rationalized {
    /// Selected dataset tokens.
    pub mask: Vec<bool>,
    /// The generator's selection score per dataset token (higher = more likely selected).
    pub scores: Vec<f32>,
    /// The prediction: class probabilities of the predictor on the selected tokens alone.
    pub probs: Vec<f32>,
}

impl Generator {
    fn build(
        cfg: &SelectConfig,
        n_labels: usize,
        vocab: usize,
        params: ParamStore,
    ) -> Result<Self> {
        let embed = Embedding::new(&params, "embed.weight", vocab, cfg.embed_dim)?;
        let (enc, d) = match cfg.encoder.as_str() {
            "gru" => {
                let g = BiGru::new(&params, "gru", cfg.embed_dim, cfg.hidden)?;
                let d = g.output_dim();
                (GenEncoder::Gru(g), d)
            }
            _ => {
                let c = Cnn::new(&params, "cnn", cfg.embed_dim, cfg.filters, &cfg.widths)?;
                let d = c.output_dim();
                (GenEncoder::Cnn(c), d)
            }
        };
        let a = 1.0 / (d as f64).sqrt();
        let out = if cfg.estimator == Estimator::HardKuma {
            2
        } else {
            1
        };
        Ok(Generator {
            head_w: params.get("head.weight", &[d, out], Init::Uniform(a))?,
            head_b: params.get("head.bias", &[out], Init::Zeros)?,
            cls_w: params.get("att_cls.weight", &[d, n_labels], Init::Uniform(a))?,
            cls_b: params.get("att_cls.bias", &[n_labels], Init::Zeros)?,
            params,
            embed,
            enc,
        })
    }

    /// The parameters.
    pub fn params(&self) -> &ParamStore {
        &self.params
    }

    /// Runs the generator on padded ids (B, T) with mask (B, T); `rng` turns dropout on.
    pub fn forward(
        &self,
        ids: &Tensor,
        mask: &Tensor,
        dropout_p: f64,
        rng: Option<&mut ChaCha8Rng>,
    ) -> Result<GenOut> {
        let mut x = self.embed.forward(ids)?;
        let mut rng = rng;
        if let Some(r) = rng.as_deref_mut() {
            x = dropout(&x, dropout_p, r)?;
        }
        let h = match &self.enc {
            GenEncoder::Cnn(c) => c.per_token(&x, mask)?,
            GenEncoder::Gru(g) => g.forward(&x, mask)?,
        };
        let h = match rng {
            Some(r) => dropout(&h, dropout_p, r)?,
            None => h,
        };
        let (b, t, d) = h.dims3()?;
        let out = h
            .reshape((b * t, d))?
            .matmul(&self.head_w)?
            .broadcast_add(&self.head_b)?
            .reshape((b, t, self.head_b.dim(0)?))?;
        let (logits, kuma) = if out.dim(2)? == 2 {
            let ra = out.narrow(2, 0, 1)?.squeeze(2)?;
            let rb = out.narrow(2, 1, 1)?.squeeze(2)?;
            let k = HardKuma::from_raw(&ra, &rb)?;
            (ra, Some(k))
        } else {
            (out.squeeze(2)?, None)
        };
        let neg = ((mask - 1.0)? * 1e9)?;
        let attention = candle_nn::ops::softmax(&(&logits + neg)?, D::Minus1)?;
        let ctx = h.broadcast_mul(&attention.unsqueeze(2)?)?.sum(1)?;
        let att_logits = ctx.matmul(&self.cls_w)?.broadcast_add(&self.cls_b)?;
        Ok(GenOut {
            logits,
            kuma,
            attention,
            att_logits,
        })
    }
}

/// A trained (or fresh) selective rationalizer.
pub struct SelectModel {
    meta: SelectMeta,
    generator: Generator,
    predictor: TextClassifier,
}

impl std::fmt::Debug for SelectModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SelectModel")
            .field("meta", &self.meta)
            .finish()
    }
}

/// A padded batch for the generator plus each row's sentence ids.
pub struct Batch {
    /// Ids (B, T).
    pub ids: Tensor,
    /// Mask (B, T).
    pub mask: Tensor,
    /// Unpadded ids per row.
    pub rows: Vec<Vec<u32>>,
    /// Sentence index of each token per row.
    pub sentences: Vec<Vec<usize>>,
}

impl SelectModel {
    /// A fresh model for `labels` with `tokenizer`, parameters drawn from `config.seed`.
    pub fn fresh(
        config: SelectConfig,
        labels: Vec<String>,
        tokenizer: ModelTokenizer,
    ) -> Result<Self> {
        Ok(Self::fresh_counted(config, labels, tokenizer)?.0)
    }

    /// [`SelectModel::fresh`], also returning how many vocabulary entries the GloVe file
    /// covered (`None` without one).
    pub fn fresh_counted(
        config: SelectConfig,
        labels: Vec<String>,
        tokenizer: ModelTokenizer,
    ) -> Result<(Self, Option<usize>)> {
        config.validate()?;
        let vocab = tokenizer.vocab_size();
        let encoder = match config.encoder.as_str() {
            "gru" => EncoderConfig::Gru {
                embed_dim: config.embed_dim,
                hidden: config.hidden,
                pooling: Pooling::Max,
                attention_dim: 1,
            },
            _ => EncoderConfig::Cnn {
                embed_dim: config.embed_dim,
                filters: config.filters,
                widths: config.widths.clone(),
            },
        };
        let ccfg = ClassifierConfig {
            encoder,
            labels: labels.clone(),
            vocab_size: vocab,
            max_len: config.max_len,
            dropout: config.dropout,
        };
        let gen_params = match &config.glove {
            Some(g) => {
                let seed = config.seed ^ 0x676c6f76;
                let (t, _) = glove_table(g, &tokenizer, vocab, config.embed_dim, seed)?;
                ParamStore::fresh_with(
                    config.seed,
                    HashMap::from([("embed.weight".to_owned(), t)]),
                    g,
                )
            }
            None => ParamStore::fresh(config.seed),
        };
        let generator = Generator::build(&config, labels.len(), vocab, gen_params)?;
        let (predictor, found) = TextClassifier::fresh_counted(
            ccfg,
            tokenizer,
            config.seed.wrapping_add(1),
            config.glove.as_deref(),
        )?;
        let model = SelectModel {
            meta: SelectMeta { config, labels },
            generator,
            predictor,
        };
        Ok((model, found))
    }

    /// Loads a checkpoint directory written by [`SelectModel::save_into`].
    pub fn load(dir: &Path) -> Result<Self> {
        let p = dir.join("select.json");
        if !p.is_file() {
            return Err(SelectError::Checkpoint {
                path: p,
                message: "missing: not a selective-rationalizer checkpoint (train one with `rationale train select`)".into(),
            });
        }
        let text = std::fs::read_to_string(&p).map_err(|e| io_err(&p, e))?;
        let meta: SelectMeta =
            serde_json::from_str(&text).map_err(|e| SelectError::Checkpoint {
                path: p.clone(),
                message: format!("not a selection config: {e}"),
            })?;
        meta.config.validate()?;
        let predictor = TextClassifier::load(dir)?;
        if predictor.config().labels != meta.labels {
            return Err(SelectError::Checkpoint {
                path: p,
                message: "labels differ from the predictor's config.json".into(),
            });
        }
        let params = ParamStore::load(&dir.join("generator.safetensors"))?;
        let generator = Generator::build(
            &meta.config,
            meta.labels.len(),
            predictor.tokenizer().vocab_size(),
            params,
        )?;
        generator.params.check_all_used()?;
        Ok(SelectModel {
            meta,
            generator,
            predictor,
        })
    }

    /// Writes the checkpoint files into `dir` (which must exist).
    pub fn save_into(&self, dir: &Path) -> Result<()> {
        self.predictor.save_into(dir)?;
        self.generator
            .params
            .save(&dir.join("generator.safetensors"))?;
        let p = dir.join("select.json");
        let json = serde_json::to_string_pretty(&self.meta).expect("meta serialises");
        std::fs::write(&p, json).map_err(|e| io_err(&p, e))
    }

    /// The configuration.
    pub fn config(&self) -> &SelectConfig {
        &self.meta.config
    }

    /// Class labels.
    pub fn labels(&self) -> &[String] {
        &self.meta.labels
    }

    /// The generator.
    pub fn generator(&self) -> &Generator {
        &self.generator
    }

    /// The predictor (it implements the classifier contract, for faithfulness measures).
    pub fn predictor(&self) -> &TextClassifier {
        &self.predictor
    }

    /// Encodes dataset tokens (cut at `max_len`).
    pub fn encode(&self, words: &[String]) -> Result<Encoded> {
        Ok(self.predictor.encode(words)?)
    }

    /// Pads rows of ids with their token sentence ids.
    pub fn batch(&self, rows: Vec<Vec<u32>>, sentences: Vec<Vec<usize>>) -> Result<Batch> {
        let refs: Vec<&[u32]> = rows.iter().map(Vec::as_slice).collect();
        let (ids, mask) = self.predictor.pad_batch(&refs)?;
        Ok(Batch {
            ids,
            mask,
            rows,
            sentences,
        })
    }

    /// Unit membership (B, S, T) of sentence granularity: 1 where token t is in sentence s.
    fn membership(&self, batch: &Batch) -> Result<(Tensor, Tensor)> {
        let b = batch.rows.len();
        let t = batch.ids.dim(1)?;
        let s = batch
            .sentences
            .iter()
            .flat_map(|v| v.iter().copied())
            .max()
            .map_or(1, |m| m + 1);
        let mut m = vec![0f32; b * s * t];
        let mut unit_mask = vec![0f32; b * s];
        for (r, (row, sent)) in batch.rows.iter().zip(&batch.sentences).enumerate() {
            for (i, j) in sent.iter().enumerate().take(row.len()) {
                m[r * s * t + j * t + i] = 1.0;
                unit_mask[r * s + j] = 1.0;
            }
        }
        Ok((
            Tensor::from_vec(m, (b, s, t), &Device::Cpu)?,
            Tensor::from_vec(unit_mask, (b, s), &Device::Cpu)?,
        ))
    }

    /// The generator's mask for a batch. Training (`rng` given) samples; otherwise the
    /// deterministic mask. Returns z (B, T) (straight-through / continuous where the estimator
    /// is differentiable), the REINFORCE log-probability per row when sampling with REINFORCE,
    /// and the generator outputs.
    pub fn select(
        &self,
        batch: &Batch,
        rng: Option<&mut ChaCha8Rng>,
    ) -> Result<(Tensor, Option<Tensor>, GenOut)> {
        let cfg = &self.meta.config;
        let mut rng = rng;
        let gen =
            self.generator
                .forward(&batch.ids, &batch.mask, cfg.dropout, rng.as_deref_mut())?;
        let sentence = cfg.granularity == Granularity::Sentence;
        let (z, logp) = match cfg.estimator {
            Estimator::A2r => {
                let att = gen.attention.to_vec2::<f32>()?;
                let t = batch.ids.dim(1)?;
                let mut z = Vec::with_capacity(att.len() * t);
                for ((a, row), sent) in att.iter().zip(&batch.rows).zip(&batch.sentences) {
                    let n = row.len();
                    let a = estimators::window_mean(&a[..n], cfg.window);
                    let mut m = estimators::select_units(&a, cfg.budget, cfg.granularity, sent);
                    m.resize(t, false);
                    z.extend(m.iter().map(|b| *b as u8 as f32));
                }
                (Tensor::from_vec(z, (att.len(), t), &Device::Cpu)?, None)
            }
            Estimator::HardKuma => {
                let k = gen.kuma.as_ref().expect("hard-kuma head");
                let z = match rng {
                    Some(r) => k.sample(r)?,
                    None => k.hard()?,
                };
                ((z * &batch.mask)?, None)
            }
            Estimator::Gumbel | Estimator::Reinforce => {
                let (unit_logits, unit_mask, member) = if sentence {
                    let (m, um) = self.membership(batch)?;
                    let len = m.sum_keepdim(2)?.clamp(1.0, f64::MAX)?;
                    let mean = m.broadcast_div(&len)?;
                    let ul = mean.matmul(&gen.logits.unsqueeze(2)?)?.squeeze(2)?;
                    (ul, um, Some(m))
                } else {
                    (gen.logits.clone(), batch.mask.clone(), None)
                };
                let (zu, logp) = if cfg.estimator == Estimator::Gumbel {
                    let r = rng.map(|r| r as &mut dyn rand::RngCore);
                    (
                        estimators::straight_through_gumbel(&unit_logits, cfg.tau, r)?,
                        None,
                    )
                } else if let Some(r) = rng {
                    let z = estimators::bernoulli_sample(&unit_logits, r)?;
                    let lp =
                        (estimators::bernoulli_log_prob(&unit_logits, &z)? * &unit_mask)?.sum(1)?;
                    (z, Some(lp))
                } else {
                    (unit_logits.gt(0.0)?.to_dtype(DType::F32)?, None)
                };
                let z = match member {
                    Some(m) => m.transpose(1, 2)?.matmul(&zu.unsqueeze(2)?)?.squeeze(2)?,
                    None => zu,
                };
                ((z * &batch.mask)?, logp)
            }
        };
        Ok((z, logp, gen))
    }

    /// The predictor on the selected tokens only: row r keeps the tokens with z > 0 (in
    /// order), with `replace` applied to them (noise injection), as its own shorter sequence;
    /// their embeddings are scaled by z where the estimator is differentiable. Returns logits
    /// (B, C) and the kept token ids per row.
    pub fn predict_selected(
        &self,
        batch: &Batch,
        z: &Tensor,
        mut replace: impl FnMut(usize, &[usize], &mut Vec<u32>),
        rng: Option<&mut ChaCha8Rng>,
    ) -> Result<(Tensor, Vec<Vec<u32>>)> {
        let (b, t) = z.dims2()?;
        let zv = z.to_vec2::<f32>()?;
        let mut kept_ids = Vec::with_capacity(b);
        let mut gather = Vec::with_capacity(b);
        for (r, row) in batch.rows.iter().enumerate() {
            let pos: Vec<usize> = (0..row.len().min(t)).filter(|&i| zv[r][i] > 0.0).collect();
            let mut ids: Vec<u32> = pos.iter().map(|&i| row[i]).collect();
            replace(r, &pos, &mut ids);
            gather.push(
                pos.iter()
                    .map(|&i| (r * t + i) as u32)
                    .collect::<Vec<u32>>(),
            );
            kept_ids.push(ids);
        }
        let refs: Vec<&[u32]> = kept_ids.iter().map(Vec::as_slice).collect();
        let (ids, mask) = self.predictor.pad_batch(&refs)?;
        let mut emb = self.predictor.embed_ids(&ids)?;
        let differentiable = matches!(
            self.meta.config.estimator,
            Estimator::Gumbel | Estimator::HardKuma
        );
        if differentiable {
            let tp = ids.dim(1)?;
            let one = (b * t) as u32; // index of an appended constant 1
            let idx: Vec<u32> = gather
                .iter()
                .flat_map(|g| (0..tp).map(move |i| g.get(i).copied().unwrap_or(one)))
                .collect();
            let z_ext = Tensor::cat(
                &[z.flatten_all()?, Tensor::ones(1, DType::F32, &Device::Cpu)?],
                0,
            )?;
            let zsel = z_ext
                .index_select(&Tensor::from_vec(idx, b * tp, &Device::Cpu)?, 0)?
                .reshape((b, tp, 1))?;
            emb = emb.broadcast_mul(&zsel)?;
        }
        let out = self.predictor.forward(&emb, &mask, rng, Pass::Train)?;
        Ok((out.logits, kept_ids))
    }

    /// Per-token selection scores of a batch (B, T): attention (A2R, before its window mean),
    /// P(z ≠ 0) (HardKuma) or σ(logit).
    pub fn scores(&self, gen: &GenOut) -> Result<Tensor> {
        Ok(match self.meta.config.estimator {
            Estimator::A2r => gen.attention.clone(),
            Estimator::HardKuma => {
                let p0 = gen.kuma.as_ref().expect("hard-kuma head").p0()?;
                (p0.neg()? + 1.0)?
            }
            _ => candle_nn::ops::sigmoid(&gen.logits)?,
        })
    }

    /// Rationalizes encoded inputs (no noise, deterministic mask): the selected dataset tokens,
    /// per-token scores, and the predictor's probabilities on the selection alone.
    /// `word_sentences[i]` holds the sentence of each dataset token of input i.
    pub fn rationalize(
        &self,
        inputs: &[Encoded],
        word_sentences: &[Vec<usize>],
    ) -> Result<Vec<Rationalized>> {
        let rows: Vec<Vec<u32>> = inputs.iter().map(|e| e.ids.clone()).collect();
        let sentences: Vec<Vec<usize>> = inputs
            .iter()
            .zip(word_sentences)
            .map(|(e, ws)| {
                e.word_of
                    .iter()
                    .map(|w| w.and_then(|w| ws.get(w).copied()).unwrap_or(0))
                    .collect()
            })
            .collect();
        let batch = self.batch(rows, sentences)?;
        let (z, _, gen) = self.select(&batch, None)?;
        let z = z.ge(0.5)?.to_dtype(DType::F32)?;
        let (logits, _) = self.predict_selected(&batch, &z, |_, _, _| {}, None)?;
        let probs = candle_nn::ops::softmax(&logits, D::Minus1)?.to_vec2::<f32>()?;
        let zv = z.to_vec2::<f32>()?;
        let sv = self.scores(&gen)?.to_vec2::<f32>()?;
        let mut out = Vec::with_capacity(inputs.len());
        for (r, enc) in inputs.iter().enumerate() {
            let n = enc.ids.len();
            let mut mask = vec![false; enc.n_words];
            for (i, w) in enc.word_of.iter().enumerate().take(n) {
                if let (Some(w), true) = (w, zv[r][i] > 0.5) {
                    mask[*w] = true;
                }
            }
            // The scores as the selection ranks them (the window is 0 unless A2R).
            let window = self.meta.config.window;
            let scores = enc.to_words(&estimators::window_mean(&sv[r][..n], window));
            crate::models::check_finite(&probs[r], "select probabilities")?;
            out.push(Rationalized {
                mask,
                scores,
                probs: probs[r].clone(),
            });
        }
        Ok(out)
    }
}
