//! Classifier training: a validated, serialisable [`TrainConfig`] (one JSON file reproduces a
//! run, seed included), AdamW, warm-up + linear-decay schedule, gradient clipping, early
//! stopping on validation accuracy, and atomic, resumable checkpoint directories. With
//! `TrainConfig::align` the same loop adds λ · an attention-alignment term ([`align`],
//! `rationale train supervise`).
//!
//! Output layout of a run in `OUT/`:
//! - `OUT/best/`: the checkpoint with the best validation accuracy (`config.json`,
//!   `model.safetensors`, `tokenizer.json`), what `rationale explain --model OUT` uses;
//! - `OUT/last/`: the state after the last finished epoch, plus `optimizer.safetensors` and
//!   `state.json`, from which `--resume` continues;
//! - `OUT/run.json`: the training configuration; `OUT/history.json`: per-epoch metrics.
//!
//! Each checkpoint directory is written into a temporary sibling and renamed into place, so an
//! interrupted run never leaves a half-written checkpoint.
//!
//! [`fit`] is the one training loop (epochs, seeded batch order, progress events, early
//! stopping, checkpoints, history, resume) that classifiers, supervised attention
//! ([`train_classifier`]), selective rationalizers ([`crate::select::train_select`]) and
//! word-dropout language-model fine-tuning ([`crate::greedy::dropout::train_lm`]) share, with
//! the one optimizer [`AdamW`]. Progress, per-epoch lines and warnings go to the
//! [`crate::progress::Observer`] the caller passes; nothing is printed.

pub mod align;
pub mod fit;
pub mod optim;

pub use align::{AlignConfig, AlignLoss, Query, TargetKind};
pub use fit::{on_training_stack, TrainState, Trainer};
pub use optim::{AdamW, AdamWParams};

use crate::corpus::DataDir;
use crate::models::argmax;
use crate::models::transformer::{Pass, TransformerConfig};
use crate::models::{
    bert, Classifier, ClassifierConfig, EncoderConfig, ExampleSet, ModelError, ModelTokenizer,
    Pooling, TextClassifier, TextModel,
};
use crate::progress::{Event, Observer};
use candle_core::{Device, Tensor, D};
use fit::{Batching, EpochEnd, Plan};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Errors of the training layer.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// The configuration is invalid; nothing was run.
    #[error("invalid training configuration: {0}")]
    Config(String),
    /// The model layer failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A file could not be written or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// `--resume` found state that belongs to a different configuration.
    #[error("{path}: {message}")]
    Resume {
        /// The state file.
        path: PathBuf,
        /// What does not match.
        message: String,
    },
    /// A split has no examples.
    #[error(
        "{data_dir}: the {role} split {split:?} has no examples; check the split names and --limit"
    )]
    EmptySplit {
        /// The data directory.
        data_dir: PathBuf,
        /// `training` or `validation`.
        role: &'static str,
        /// The split's name.
        split: String,
    },
    /// The training split has fewer than two labels.
    #[error("{data_dir}: the training split {split:?} has a single label {labels:?}; a classifier needs at least two")]
    SingleLabel {
        /// The data directory.
        data_dir: PathBuf,
        /// The split's name.
        split: String,
        /// Its labels.
        labels: Vec<String>,
    },
    /// An example's label is not one the model was trained on.
    #[error(
        "annotation {annotation_id}: label {label:?} is not among the training labels {labels:?}"
    )]
    UnknownLabel {
        /// The example's annotation id.
        annotation_id: String,
        /// Its label.
        label: String,
        /// The model's labels.
        labels: Vec<String>,
    },
    /// The training loss stopped being a finite number.
    #[error("the training loss is not a finite number at epoch {epoch}: the weights have diverged; lower the learning rate or clip gradients")]
    Diverged {
        /// The epoch (1-based).
        epoch: usize,
    },
    /// The thread that training runs on could not be started.
    #[error("could not start the training thread ({} MiB stack): {source}", fit::TRAINING_STACK >> 20)]
    Thread {
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl From<candle_core::Error> for TrainError {
    fn from(e: candle_core::Error) -> Self {
        TrainError::Model(ModelError::Candle(e))
    }
}

fn io_err(path: &Path, source: std::io::Error) -> TrainError {
    TrainError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Learning-rate schedule after warm-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    /// Constant after warm-up.
    Constant,
    /// Linear decay to 0 at the last step.
    Linear,
}

/// Everything that defines a training run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TrainConfig {
    /// ERASER data directory.
    pub data_dir: PathBuf,
    /// Training split name.
    pub train_split: String,
    /// Validation split name (early stopping).
    pub val_split: String,
    /// `gru`, `cnn`, `transformer` or `bert:PATH`.
    pub encoder: String,
    /// Embedding width (GRU, CNN) or hidden size (transformer).
    pub embed_dim: usize,
    /// GRU state width per direction.
    pub hidden: usize,
    /// GRU pooling.
    pub pooling: Pooling,
    /// Attention-pooling width.
    pub attention_dim: usize,
    /// CNN filters per width.
    pub filters: usize,
    /// CNN widths (odd).
    pub widths: Vec<usize>,
    /// Transformer layers (trained from scratch).
    pub layers: usize,
    /// Transformer heads.
    pub heads: usize,
    /// Largest vocabulary of a trained word-level tokenizer (specials excluded).
    pub vocab_size: usize,
    /// Minimum count for a word to enter the vocabulary.
    pub min_frequency: u64,
    /// Lower-case before the vocabulary lookup.
    pub lowercase: bool,
    /// GloVe-format text file to initialise GRU/CNN embeddings.
    pub glove: Option<PathBuf>,
    /// Longest input in model tokens.
    pub max_len: usize,
    /// Dropout.
    pub dropout: f64,
    /// Most epochs.
    pub epochs: usize,
    /// Examples per step.
    pub batch_size: usize,
    /// Peak learning rate.
    pub lr: f64,
    /// AdamW decoupled weight decay.
    pub weight_decay: f64,
    /// Warm-up fraction of all steps.
    pub warmup: f64,
    /// Schedule after warm-up.
    pub schedule: Schedule,
    /// Gradient clipping (global L2 norm; 0 turns it off).
    pub clip_norm: f64,
    /// Epochs without validation improvement before stopping.
    pub patience: usize,
    /// Seed of initialisation, shuffling and dropout.
    pub seed: u64,
    /// Use only N training examples, sampled with the seed (tiny runs, tests).
    pub limit: Option<usize>,
    /// Attention supervision (`train supervise`); absent for a plain classifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub align: Option<AlignConfig>,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            data_dir: PathBuf::new(),
            train_split: "train".into(),
            val_split: "val".into(),
            encoder: "gru".into(),
            embed_dim: 100,
            hidden: 100,
            pooling: Pooling::Attention,
            attention_dim: 64,
            filters: 100,
            widths: vec![3, 5],
            layers: 2,
            heads: 4,
            vocab_size: 20_000,
            min_frequency: 2,
            lowercase: true,
            glove: None,
            max_len: 1024,
            dropout: 0.3,
            epochs: 10,
            batch_size: 16,
            lr: 1e-3,
            weight_decay: 0.0,
            warmup: 0.05,
            schedule: Schedule::Linear,
            clip_norm: 5.0,
            patience: 3,
            seed: 1,
            limit: None,
            align: None,
        }
    }
}

impl TrainConfig {
    /// Checks every field before anything runs.
    pub fn validate(&self) -> Result<(), TrainError> {
        let bad = |m: String| Err(TrainError::Config(m));
        let known = ["gru", "cnn", "transformer"];
        if !known.contains(&self.encoder.as_str()) && !self.encoder.starts_with("bert:") {
            return bad(format!(
                "encoder {:?}: expected gru, cnn, transformer or bert:PATH",
                self.encoder
            ));
        }
        if let Some(p) = self.encoder.strip_prefix("bert:") {
            if !Path::new(p).is_dir() {
                return bad(format!("encoder bert:{p}: not a directory"));
            }
        }
        if self.epochs == 0 || self.batch_size == 0 {
            return bad("epochs and batch_size must be > 0".into());
        }
        if !(self.lr > 0.0 && self.lr.is_finite()) {
            return bad(format!("lr must be a positive number, got {}", self.lr));
        }
        if !(0.0..1.0).contains(&self.warmup) {
            return bad(format!("warmup must be in [0, 1), got {}", self.warmup));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("dropout must be in [0, 1), got {}", self.dropout));
        }
        if self.weight_decay < 0.0 || self.clip_norm < 0.0 || !self.weight_decay.is_finite() {
            return bad("weight_decay and clip_norm must be ≥ 0".into());
        }
        if self.vocab_size == 0 || self.max_len == 0 {
            return bad("vocab_size and max_len must be > 0".into());
        }
        if self.encoder == "cnn" {
            if let Some(w) = self.widths.iter().find(|w| **w % 2 == 0) {
                return bad(format!("CNN widths must be odd, got {w}"));
            }
        }
        if self.encoder == "transformer"
            && (self.heads == 0 || !self.embed_dim.is_multiple_of(self.heads))
        {
            return bad(format!(
                "embed_dim {} must be a multiple of heads {}",
                self.embed_dim, self.heads
            ));
        }
        if let Some(g) = &self.glove {
            if !g.is_file() {
                return bad(format!("glove file {} not found", g.display()));
            }
        }
        if let Some(a) = &self.align {
            a.validate(&self.val_split)?;
            let gru_pool = self.encoder == "gru" && self.pooling == Pooling::Attention;
            if self.encoder == "cnn" || (self.encoder == "gru" && (!gru_pool || a.layer.is_some()))
            {
                return bad(format!(
                    "attention supervision needs attention: a GRU with attention pooling (no --layer), a transformer or bert:PATH, not {} with {:?} pooling",
                    self.encoder, self.pooling
                ));
            }
        }
        Ok(())
    }

    /// The classifier architecture for a tokenizer and label set.
    pub fn classifier_config(
        &self,
        labels: Vec<String>,
        vocab_size: usize,
    ) -> Result<ClassifierConfig, TrainError> {
        let encoder = match self.encoder.as_str() {
            "gru" => EncoderConfig::Gru {
                embed_dim: self.embed_dim,
                hidden: self.hidden,
                pooling: self.pooling,
                attention_dim: self.attention_dim,
            },
            "cnn" => EncoderConfig::Cnn {
                embed_dim: self.embed_dim,
                filters: self.filters,
                widths: self.widths.clone(),
            },
            "transformer" => EncoderConfig::Transformer(TransformerConfig {
                hidden_size: self.embed_dim,
                num_hidden_layers: self.layers,
                num_attention_heads: self.heads,
                intermediate_size: 4 * self.embed_dim,
                max_position_embeddings: self.max_len,
                type_vocab_size: 1,
                layer_norm_eps: 1e-12,
                hidden_act: crate::models::transformer::Activation::Gelu,
            }),
            other => {
                let path = PathBuf::from(other.strip_prefix("bert:").unwrap_or(other));
                let transformer = bert::read_config(&path)?;
                EncoderConfig::Bert {
                    path,
                    transformer,
                    pooler: true,
                }
            }
        };
        let cfg = ClassifierConfig {
            encoder,
            labels,
            vocab_size,
            max_len: self.max_len,
            dropout: self.dropout,
        };
        cfg.validate()
            .map_err(|e| TrainError::Config(e.to_string()))?;
        Ok(cfg)
    }
}

/// Metrics of one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochStats {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss.
    pub train_loss: f64,
    /// Training accuracy (with dropout on).
    pub train_accuracy: f64,
    /// Validation loss.
    pub val_loss: f64,
    /// Validation accuracy.
    pub val_accuracy: f64,
    /// Training tokens per second (forward + backward + update).
    pub tokens_per_second: f64,
    /// Mean alignment loss (before λ) of the training batches, `train supervise` only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub train_align_loss: Option<f64>,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainReport {
    /// Per-epoch metrics.
    pub history: Vec<EpochStats>,
    /// Best epoch (1-based) and its validation accuracy.
    pub best_epoch: usize,
    /// Best validation accuracy.
    pub best_val_accuracy: f64,
    /// Whether early stopping ended the run.
    pub stopped_early: bool,
}

fn lr_at(cfg: &TrainConfig, step: u64, total: u64) -> f64 {
    let warm = (cfg.warmup * total as f64).round() as u64;
    if step < warm {
        return cfg.lr * (step + 1) as f64 / warm as f64;
    }
    match cfg.schedule {
        Schedule::Constant => cfg.lr,
        Schedule::Linear => {
            let rest = (total - warm).max(1) as f64;
            cfg.lr * (1.0 - (step - warm) as f64 / rest).max(0.0)
        }
    }
}

/// Accuracy and mean cross-entropy of a model on encoded examples.
pub fn evaluate(
    model: &TextClassifier,
    seqs: &[Vec<u32>],
    labels: &[u32],
) -> Result<(f64, f64), TrainError> {
    let refs: Vec<&[u32]> = seqs.iter().map(Vec::as_slice).collect();
    let probs = model.predict_proba(&refs)?;
    let mut correct = 0usize;
    let mut loss = 0f64;
    for (p, &y) in probs.rows().into_iter().zip(labels) {
        let arg = argmax(&p.to_vec());
        if arg == y as usize {
            correct += 1;
        }
        loss -= (p[y as usize].max(1e-12) as f64).ln();
    }
    let n = seqs.len().max(1) as f64;
    Ok((correct as f64 / n, loss / n))
}

fn encode_set(
    model_tok: &TextClassifier,
    set: &ExampleSet,
    labels: &[String],
) -> Result<(Vec<Vec<u32>>, Vec<u32>), TrainError> {
    let mut seqs = Vec::new();
    let mut ys = Vec::new();
    for ex in &set.examples {
        let y =
            labels
                .iter()
                .position(|l| *l == ex.label)
                .ok_or_else(|| TrainError::UnknownLabel {
                    annotation_id: ex.annotation_id.to_string(),
                    label: ex.label.clone(),
                    labels: labels.to_vec(),
                })?;
        seqs.push(model_tok.encode(&ex.words)?.ids);
        ys.push(y as u32);
    }
    Ok((seqs, ys))
}

/// Running sums of one epoch's training steps.
#[derive(Debug, Default)]
struct Sums {
    loss: f64,
    correct: usize,
    seen: usize,
    tokens: usize,
    align: f64,
    align_batches: usize,
}

/// A classifier (with `cfg.align`, a supervised-attention classifier) as [`fit`] trains it.
struct ClassifierTrainer<'a> {
    cfg: &'a TrainConfig,
    model: TextClassifier,
    opt: AdamW,
    train_x: Vec<Vec<u32>>,
    train_y: Vec<u32>,
    train_t: Vec<Option<Vec<f32>>>,
    val_x: Vec<Vec<u32>>,
    val_y: Vec<u32>,
    total_steps: u64,
    epoch: usize,
    sums: Sums,
}

impl Trainer for ClassifierTrainer<'_> {
    type Epoch = EpochStats;
    type Error = TrainError;

    fn begin_epoch(&mut self, epoch: usize) {
        self.epoch = epoch;
        self.sums = Sums::default();
    }

    fn step(&mut self, batch: &[usize], rng: &mut ChaCha8Rng) -> Result<String, TrainError> {
        let (cfg, model, s) = (self.cfg, &self.model, &mut self.sums);
        let seqs: Vec<&[u32]> = batch.iter().map(|&i| self.train_x[i].as_slice()).collect();
        let ys: Vec<u32> = batch.iter().map(|&i| self.train_y[i]).collect();
        let (ids, mask) = model.pad_batch(&seqs)?;
        let emb = model.embed_ids(&ids)?;
        // Attention supervision needs the maps (the same fused layers, returning them too).
        let pass = match cfg.align {
            Some(_) => Pass::Grad,
            None => Pass::Train,
        };
        let fwd = model.forward(&emb, &mask, Some(rng), pass)?;
        let target = Tensor::from_vec(ys.clone(), ys.len(), &Device::Cpu)?;
        let mut loss = candle_nn::loss::cross_entropy(&fwd.logits, &target)?;
        if let Some(a) = &cfg.align {
            let targets: Vec<Option<&[f32]>> =
                batch.iter().map(|&i| self.train_t[i].as_deref()).collect();
            let (t, has) = pad_targets(&targets, mask.dim(1)?)?;
            let att = align::attention_distribution(&fwd, &mask, a)?;
            let l = align::align_loss(&att, &t, &mask, &has, a.loss, a.hatexplain_quirks)?;
            s.align += l.to_scalar::<f32>()? as f64;
            s.align_batches += 1;
            loss = (loss + (l * a.lambda)?)?;
        }
        let loss_v = loss.to_scalar::<f32>()? as f64;
        if !loss_v.is_finite() {
            return Err(TrainError::Diverged {
                epoch: self.epoch + 1,
            });
        }
        let mut grads = loss.backward()?;
        self.opt.clip_grad_norm(&mut grads, cfg.clip_norm)?;
        let lr = lr_at(cfg, self.opt.steps(), self.total_steps);
        self.opt.step(&grads, lr)?;
        let preds = fwd.logits.argmax(D::Minus1)?.to_vec1::<u32>()?;
        s.correct += preds.iter().zip(&ys).filter(|(a, b)| a == b).count();
        s.loss += loss_v * ys.len() as f64;
        s.seen += ys.len();
        s.tokens += seqs.iter().map(|s| s.len()).sum::<usize>();
        Ok(format!(
            "loss {:.4} acc {:.3}",
            s.loss / s.seen as f64,
            s.correct as f64 / s.seen as f64
        ))
    }

    fn end_epoch(
        &mut self,
        epoch: usize,
        seconds: f64,
    ) -> Result<EpochEnd<EpochStats>, TrainError> {
        let (cfg, s) = (self.cfg, &self.sums);
        let (val_acc, val_loss) = evaluate(&self.model, &self.val_x, &self.val_y)?;
        let stats = EpochStats {
            epoch: epoch + 1,
            train_loss: s.loss / s.seen as f64,
            train_accuracy: s.correct as f64 / s.seen as f64,
            val_loss,
            val_accuracy: val_acc,
            tokens_per_second: s.tokens as f64 / seconds,
            train_align_loss: cfg
                .align
                .as_ref()
                .map(|_| s.align / s.align_batches.max(1) as f64),
        };
        let line = format!(
            "epoch {}/{}: train loss {:.4} acc {:.3}{} | val loss {:.4} acc {:.3} | {:.0} tokens/s",
            stats.epoch,
            cfg.epochs,
            stats.train_loss,
            stats.train_accuracy,
            stats
                .train_align_loss
                .map(|l| format!(" align {l:.4}"))
                .unwrap_or_default(),
            val_loss,
            val_acc,
            stats.tokens_per_second
        );
        Ok(EpochEnd {
            record: stats,
            line: Some(line),
            warnings: Vec::new(),
            score: Some((val_acc, val_loss)),
        })
    }

    fn save(&self, dir: &Path) -> Result<(), TrainError> {
        Ok(self.model.save_into(dir)?)
    }

    fn optimizer(&mut self) -> Option<&mut AdamW> {
        Some(&mut self.opt)
    }
}

/// Trains a classifier into `out` (see the module docs for the layout). With `resume`,
/// continues from `out/last/` when it exists (the configuration must be the same).
/// `stop_after` ends this invocation after that many epochs in total (training in slices;
/// a later `resume` continues exactly as if never stopped). Progress, the per-epoch lines and
/// warnings go to `observer`.
///
/// The work runs on a thread with a 1 GiB stack ([`on_training_stack`]): backward passes
/// through long recurrences recurse once per graph node. Callers need no special stack.
pub fn train_classifier(
    cfg: &TrainConfig,
    out: &Path,
    resume: bool,
    observer: &dyn Observer,
    stop_after: Option<usize>,
) -> Result<TrainReport, TrainError> {
    on_training_stack(|| classifier_run(cfg, out, resume, observer, stop_after))?
}

fn classifier_run(
    cfg: &TrainConfig,
    out: &Path,
    resume: bool,
    observer: &dyn Observer,
    stop_after: Option<usize>,
) -> Result<TrainReport, TrainError> {
    cfg.validate()?;
    let data = DataDir::new(&cfg.data_dir);
    let mut train_set = ExampleSet::load(&data, &cfg.train_split)?;
    if let Some(n) = cfg.limit {
        train_set.sample(n, cfg.seed);
    }
    let val_set = match cfg.align.as_ref().and_then(|a| a.val_holdout) {
        Some(f) => hold_out(&mut train_set, f, cfg.seed),
        None => ExampleSet::load(&data, &cfg.val_split)?,
    };
    // Per training example: does its split carry rationale masks at all?
    let mut has_masks = vec![split_has_masks(&train_set); train_set.examples.len()];
    if let Some(split) = cfg.align.as_ref().and_then(|a| a.mask_split.as_ref()) {
        let extra = ExampleSet::load(&data, split)?;
        has_masks.extend(vec![split_has_masks(&extra); extra.examples.len()]);
        train_set.examples.extend(extra.examples);
    }
    let empty = |role, split: &str| TrainError::EmptySplit {
        data_dir: cfg.data_dir.clone(),
        role,
        split: split.to_owned(),
    };
    if train_set.examples.is_empty() {
        return Err(empty("training", &cfg.train_split));
    }
    if val_set.examples.is_empty() {
        return Err(match cfg.align.as_ref().and_then(|a| a.val_holdout) {
            Some(_) => empty("validation (held out of training)", &cfg.train_split),
            None => empty("validation", &cfg.val_split),
        });
    }
    // Created only once the data loaded: a failed start leaves no empty output folder.
    std::fs::create_dir_all(out).map_err(|e| io_err(out, e))?;
    let labels = train_set.labels();
    let last = out.join("last");

    let saved = if resume {
        fit::saved_state(out, cfg)?
    } else {
        None
    };
    let (model, state) = match saved {
        Some(state) => (TextClassifier::load(&last)?, state),
        None => {
            let tokenizer = match cfg.encoder.strip_prefix("bert:") {
                Some(p) => ModelTokenizer::from_file(&Path::new(p).join("tokenizer.json"))?,
                None => ModelTokenizer::train_word_level(
                    train_set.examples.iter().map(|e| e.words.as_slice()),
                    cfg.vocab_size,
                    cfg.min_frequency,
                    cfg.lowercase,
                )?,
            };
            let vocab = match cfg.encoder.strip_prefix("bert:") {
                Some(p) => bert::read_vocab_size(Path::new(p))?,
                None => tokenizer.vocab_size(),
            };
            let ccfg = cfg.classifier_config(labels.clone(), vocab)?;
            let glove = cfg.glove.as_deref();
            let (model, found) = TextClassifier::fresh_counted(ccfg, tokenizer, cfg.seed, glove)?;
            if let (Some(g), Some(n)) = (glove, found) {
                observer.event(Event::Line(&format!(
                    "embeddings: {n} of {} vocabulary entries from {}",
                    model.config().vocab_size,
                    g.display()
                )));
            }
            fit::write_config(out, cfg)?;
            (model, TrainState::default())
        }
    };
    if model.config().labels != labels {
        return Err(TrainError::Resume {
            path: last.join("state.json"),
            message: format!(
                "checkpoint labels {:?} differ from the data's {labels:?}",
                model.config().labels
            ),
        });
    }
    let (train_x, train_y) = encode_set(&model, &train_set, &labels)?;
    let train_t = match &cfg.align {
        Some(a) => align_targets(&model, &train_set, &has_masks, a)?,
        None => Vec::new(),
    };
    let (val_x, val_y) = encode_set(&model, &val_set, &labels)?;
    let opt = AdamW::new(
        model.params().named_vars(),
        AdamWParams {
            weight_decay: cfg.weight_decay,
            ..Default::default()
        },
    )?;
    let steps_per_epoch = train_x.len().div_ceil(cfg.batch_size) as u64;
    let plan = Plan {
        examples: train_x.len(),
        epochs: cfg.epochs,
        seed: cfg.seed,
        patience: Some(cfg.patience),
        batching: Batching::Shuffled {
            batch_size: cfg.batch_size,
        },
    };
    let mut trainer = ClassifierTrainer {
        cfg,
        model,
        opt,
        train_x,
        train_y,
        train_t,
        val_x,
        val_y,
        total_steps: steps_per_epoch * cfg.epochs as u64,
        epoch: 0,
        sums: Sums::default(),
    };
    let output = fit::Output {
        dir: out,
        stop_after,
    };
    let fitted = fit::fit(&mut trainer, &plan, state, Some(output), observer)?;
    let (best_epoch, best_val_accuracy, _) = fitted.state.best.unwrap_or((0, 0.0, 0.0));
    Ok(TrainReport {
        history: fitted.state.history,
        best_epoch,
        best_val_accuracy,
        stopped_early: fitted.stopped_early,
    })
}

/// Moves a seeded `fraction` of `set` into a new set (for early stopping).
fn hold_out(set: &mut ExampleSet, fraction: f64, seed: u64) -> ExampleSet {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x686f6c64);
    set.examples.shuffle(&mut rng);
    let n = ((set.examples.len() as f64 * fraction).round() as usize).max(1);
    let n = n.min(set.examples.len().saturating_sub(1));
    let kept = set.examples.split_off(n);
    ExampleSet {
        examples: std::mem::replace(&mut set.examples, kept),
    }
}

/// Whether any example of a split has a rationale (a split without any, like HateXplain's
/// public train, has labels only).
fn split_has_masks(set: &ExampleSet) -> bool {
    set.examples.iter().any(|e| !e.groups.is_empty())
}

/// Per training example, its alignment target over model tokens, or `None` (no term): a
/// uniform target for `uniform_label`, the annotators' target where its split has masks.
fn align_targets(
    model: &TextClassifier,
    set: &ExampleSet,
    has_masks: &[bool],
    cfg: &AlignConfig,
) -> Result<Vec<Option<Vec<f32>>>, TrainError> {
    let mut out = Vec::with_capacity(set.examples.len());
    for (ex, &masks) in set.examples.iter().zip(has_masks) {
        let enc = model.encode(&ex.words)?;
        out.push(if cfg.uniform_label.as_ref() == Some(&ex.label) {
            Some(align::uniform(&enc, cfg.hatexplain_quirks))
        } else if masks {
            Some(align::token_target(&enc, &ex.groups, cfg))
        } else {
            None
        });
    }
    if out.iter().all(Option::is_none) {
        return Err(TrainError::Config(
            "no training example has a rationale mask to align with: add --mask-split SPLIT (a split with masks) or --uniform-label LABEL".into(),
        ));
    }
    Ok(out)
}

/// Pads per-example targets into (B, T) and a (B) indicator of which examples have one.
fn pad_targets(targets: &[Option<&[f32]>], t: usize) -> Result<(Tensor, Tensor), TrainError> {
    let mut flat = vec![0f32; targets.len() * t];
    let mut has = vec![0f32; targets.len()];
    for (b, tgt) in targets.iter().enumerate() {
        if let Some(v) = tgt {
            has[b] = 1.0;
            let n = v.len().min(t);
            flat[b * t..b * t + n].copy_from_slice(&v[..n]);
        }
    }
    Ok((
        Tensor::from_vec(flat, (targets.len(), t), &Device::Cpu)?,
        Tensor::from_vec(has, targets.len(), &Device::Cpu)?,
    ))
}
