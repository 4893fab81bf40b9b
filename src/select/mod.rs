//! Selective rationalization: a generator selects a rationale mask, a predictor sees only the
//! selected tokens and predicts the label, both trained jointly from the label alone, so the
//! prediction is faithful to the rationale by construction (Lei et al. 2016).
//!
//! - [`estimators`]: how the mask is chosen and trained: A2R's deterministic top-k budget with
//!   a soft-attention predictor coupled by a JS term (Yu et al. 2021; the estimator of the
//!   noise-injection code), REINFORCE with a moving-average baseline, straight-through Gumbel,
//!   HardKuma with Lagrangian selection/transition targets (Bastings et al. 2019);
//!   word, span and sentence granularities.
//! - [`noise`]: noise injection between generator and predictor (Storek et al. 2023): idf
//!   rarity weights, p_i = min(1, p · r_i), replacement words drawn from the noise vocabulary;
//!   training only.
//! - [`model`]: the generator, the predictor (a [`crate::models::TextClassifier`]) and the
//!   checkpoint format.
//! - [`train`]: the training loop: selection rate every epoch with a collapse warning,
//!   checkpoint chosen by the validation objective.

pub mod estimators;
pub mod model;
pub mod noise;
pub mod train;

pub use model::{Rationalized, SelectModel};
pub use noise::NoiseModel;
pub use train::{train_select, SelectEpoch, SelectReport};

use crate::models::ModelError;
use crate::train::TrainError;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Errors of selective rationalization.
#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    /// The configuration is invalid; nothing was run.
    #[error("invalid selection configuration: {0}")]
    Config(String),
    /// The model layer failed.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// Checkpoint writing failed.
    #[error(transparent)]
    Train(#[from] TrainError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A checkpoint directory is not a selective rationalizer.
    #[error("{path}: {message}")]
    Checkpoint {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl From<candle_core::Error> for SelectError {
    fn from(e: candle_core::Error) -> Self {
        SelectError::Model(ModelError::Candle(e))
    }
}

impl From<crate::corpus::CorpusError> for SelectError {
    fn from(e: crate::corpus::CorpusError) -> Self {
        SelectError::Model(ModelError::Corpus(e))
    }
}

pub(crate) fn io_err(path: &Path, source: std::io::Error) -> SelectError {
    SelectError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Result alias of this module.
pub type Result<T> = std::result::Result<T, SelectError>;

/// How the generator's mask is chosen and trained.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Estimator {
    /// Deterministic top-k budget on a soft-attention predictor's weights, coupled to the
    /// rationale predictor by a JS term (A2R; what the noise-injection code uses).
    A2r,
    /// Bernoulli samples, score-function gradient with a moving-average baseline (Lei et al.).
    Reinforce,
    /// Straight-through Gumbel (binary concrete): hard forward, relaxed backward.
    Gumbel,
    /// HardKuma gates with Lagrangian selection-rate and transition targets.
    HardKuma,
}

/// The unit the generator selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Granularity {
    /// Single tokens.
    Word,
    /// Contiguous text: one window of k tokens (A2R); a continuity penalty for sampled masks.
    Span,
    /// Whole sentences of the dataset's documents.
    Sentence,
}

/// Everything that defines a selective-rationalization run (`OUT/run.json` reproduces it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SelectConfig {
    /// ERASER data directory.
    pub data_dir: PathBuf,
    /// Training split.
    pub train_split: String,
    /// Validation split (checkpoint choice).
    pub val_split: String,
    /// Encoder of generator and predictor: `cnn` or `gru`.
    pub encoder: String,
    /// Embedding width.
    pub embed_dim: usize,
    /// GRU state width per direction.
    pub hidden: usize,
    /// CNN filters per width.
    pub filters: usize,
    /// CNN widths (odd).
    pub widths: Vec<usize>,
    /// Largest vocabulary of the word-level tokenizer.
    pub vocab_size: usize,
    /// Minimum count for a word to enter the vocabulary.
    pub min_frequency: u64,
    /// Longest input in model tokens (the rest is never selected).
    pub max_len: usize,
    /// GloVe-format embeddings for generator and predictor.
    pub glove: Option<PathBuf>,
    /// The mask estimator.
    pub estimator: Estimator,
    /// Selection unit.
    pub granularity: Granularity,
    /// Share of tokens to select: the top-k budget (A2R) or the sparsity target.
    pub budget: f64,
    /// A2R word selection: rank each token by its score averaged with `window` tokens on
    /// either side, so selections come as phrases (0: each token alone).
    pub window: usize,
    /// Weight of |selection rate − budget| (REINFORCE, Gumbel).
    pub sparsity_weight: f64,
    /// Weight of the continuity term (REINFORCE, Gumbel).
    pub continuity_weight: f64,
    /// HardKuma: target of expected transitions per token.
    pub transition_target: f64,
    /// HardKuma: multiplier learning rate.
    pub lagrange_lr: f64,
    /// HardKuma: initial multipliers.
    pub lagrange_init: f64,
    /// A2R: weight λ of the JS coupling ("proximity").
    pub proximity: f64,
    /// Gumbel temperature.
    pub tau: f64,
    /// Noise-injection magnitude p (0: off).
    pub noise: f64,
    /// Dropout.
    pub dropout: f64,
    /// Most epochs.
    pub epochs: usize,
    /// Examples per step.
    pub batch_size: usize,
    /// Learning rate (AdamW, constant).
    pub lr: f64,
    /// AdamW weight decay.
    pub weight_decay: f64,
    /// Gradient clipping (global L2 norm; 0 turns it off).
    pub clip_norm: f64,
    /// Epochs without improvement of the validation objective before stopping.
    pub patience: usize,
    /// Seed of initialisation, shuffling, dropout, sampling and noise.
    pub seed: u64,
    /// Use only N training examples, sampled with the seed.
    pub limit: Option<usize>,
}

impl Default for SelectConfig {
    fn default() -> Self {
        SelectConfig {
            data_dir: PathBuf::new(),
            train_split: "train".into(),
            val_split: "val".into(),
            encoder: "cnn".into(),
            embed_dim: 100,
            hidden: 64,
            filters: 100,
            widths: vec![5],
            vocab_size: 20_000,
            min_frequency: 2,
            max_len: 2048,
            glove: None,
            estimator: Estimator::A2r,
            granularity: Granularity::Word,
            budget: 0.2,
            window: 0,
            sparsity_weight: 1.0,
            continuity_weight: 0.5,
            transition_target: 0.02,
            lagrange_lr: 0.05,
            lagrange_init: 1e-3,
            proximity: 0.1,
            tau: 1.0,
            noise: 0.0,
            dropout: 0.2,
            epochs: 10,
            batch_size: 16,
            lr: 1e-3,
            weight_decay: 0.0,
            clip_norm: 5.0,
            patience: 3,
            seed: 1,
            limit: None,
        }
    }
}

impl SelectConfig {
    /// Checks every field before anything runs.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(SelectError::Config(m));
        if !["cnn", "gru"].contains(&self.encoder.as_str()) {
            return bad(format!("encoder {:?}: expected cnn or gru", self.encoder));
        }
        if !(self.budget > 0.0 && self.budget <= 1.0) {
            return bad(format!("budget must be in (0, 1], got {}", self.budget));
        }
        if !(0.0..=1.0).contains(&self.noise) {
            return bad(format!("noise must be in [0, 1], got {}", self.noise));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return bad(format!("dropout must be in [0, 1), got {}", self.dropout));
        }
        if self.epochs == 0 || self.batch_size == 0 || self.max_len == 0 || self.vocab_size == 0 {
            return bad("epochs, batch_size, max_len and vocab_size must be > 0".into());
        }
        if self.embed_dim == 0 || self.hidden == 0 || self.filters == 0 || self.widths.is_empty() {
            return bad("embed_dim, hidden, filters and widths must be non-zero".into());
        }
        if let Some(w) = self.widths.iter().find(|w| **w % 2 == 0) {
            return bad(format!("CNN widths must be odd, got {w}"));
        }
        for (name, v) in [
            ("lr", self.lr),
            ("tau", self.tau),
            ("lagrange_lr", self.lagrange_lr),
            ("lagrange_init", self.lagrange_init),
        ] {
            if !(v > 0.0 && v.is_finite()) {
                return bad(format!("{name} must be a positive number, got {v}"));
            }
        }
        for (name, v) in [
            ("sparsity_weight", self.sparsity_weight),
            ("continuity_weight", self.continuity_weight),
            ("transition_target", self.transition_target),
            ("proximity", self.proximity),
            ("weight_decay", self.weight_decay),
            ("clip_norm", self.clip_norm),
        ] {
            if !(v >= 0.0 && v.is_finite()) {
                return bad(format!("{name} must be ≥ 0, got {v}"));
            }
        }
        if self.estimator == Estimator::HardKuma && self.granularity == Granularity::Sentence {
            return bad("hard-kuma selects tokens; use word or span granularity".into());
        }
        if self.window > 0
            && (self.estimator != Estimator::A2r || self.granularity != Granularity::Word)
        {
            return bad("window smooths A2R's word selection: use --estimator a2r with word granularity, or --window 0".into());
        }
        if let Some(g) = &self.glove {
            if !g.is_file() {
                return bad(format!("glove file {} not found", g.display()));
            }
        }
        Ok(())
    }
}
