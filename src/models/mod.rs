//! Models on candle: the small model contract, tokenizers with word alignment, encoders, and
//! the text classifier that the trainers, explainers and faithfulness measures use.
//!
//! The contract follows LIT: a model maps a batch of (possibly partial) token sequences to class
//! probabilities ([`Classifier`]); gradient methods ask for [`GradientClassifier`] on top, and
//! attention methods for [`AttentionClassifier`]. Every score leaves this layer per *dataset*
//! token (ERASER's whitespace tokens), through [`Encoded::word_of`].

pub mod bert;
pub mod cached_lm;
pub mod classifier;
pub mod cnn;
pub(crate) mod cpu_op;
pub mod data;
pub mod dense;
pub mod embedding;
pub mod fast_math;
pub mod gpt2;
pub mod gru;
mod gru_kernels;
pub mod gru_scan;
pub mod hf;
pub mod language_model;
pub mod params;
pub mod predict;
pub mod tokenizer;
pub mod transformer;

pub use classifier::{ClassifierConfig, EncoderConfig, Pooling, TextClassifier};
pub use data::{Example, ExampleSet};
pub use language_model::LanguageModel;
pub use params::ParamStore;
pub use tokenizer::{Encoded, EncodedText, ModelTokenizer};

use candle_core::{Device, Tensor};
use ndarray::{Array, Array2, Array4, Dimension};
use std::path::{Path, PathBuf};

/// Errors of the model layer.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// A tensor operation failed inside candle.
    #[error("tensor operation failed: {0}")]
    Candle(#[from] candle_core::Error),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A checkpoint or pretrained directory lacks a file.
    #[error("{path}: missing file; a model directory needs config.json, model.safetensors and tokenizer.json")]
    MissingFile {
        /// The missing file.
        path: PathBuf,
    },
    /// A configuration file is malformed or inconsistent.
    #[error("{path}: {message}")]
    Config {
        /// The file (or `<config>` for an in-memory configuration).
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The weights do not fit the architecture the configuration describes.
    #[error("{path}: weights do not match the architecture: {message}")]
    Architecture {
        /// The weights file.
        path: PathBuf,
        /// Which tensor is missing or has the wrong shape.
        message: String,
    },
    /// The tokenizer failed to load, train or encode.
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    /// A GloVe-format embeddings file is malformed.
    #[error("{path}:{line}: {message}")]
    Embeddings {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// The model produced NaN or infinite outputs.
    #[error("the model produced non-finite outputs ({0}); the weights may have diverged")]
    NonFinite(String),
    /// The model cannot do what was asked (e.g. attention rollout on a GRU).
    #[error("{0}")]
    Unsupported(String),
    /// A dataset could not be read.
    #[error(transparent)]
    Corpus(#[from] crate::corpus::CorpusError),
    /// A configuration, checkpoint or input is unusable; the message names what and why.
    #[error("{0}")]
    Invalid(String),
    /// A dataset is inconsistent with what the model needs.
    #[error("{0}")]
    Data(String),
}

impl ModelError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        ModelError::Io {
            path: path.into(),
            source,
        }
    }
}

/// Result alias of the model layer.
pub type Result<T> = std::result::Result<T, ModelError>;

/// The small model contract: a batch of possibly partial token sequences → class probabilities.
///
/// Sequences are model token ids (as [`ModelTokenizer`] produces them); a partial sequence is a
/// full one with some tokens deleted. Results for a sequence do not depend on the other
/// sequences of the batch (padding is masked everywhere).
pub trait Classifier {
    /// Class labels, in the order of the probability vectors.
    fn labels(&self) -> &[String];
    /// Class probabilities, one row per sequence: shape (sequences, classes).
    fn predict_proba(&self, batch: &[&[u32]]) -> Result<Array2<f32>>;
    /// The gradient capability, when the model has it (gradient methods ask for it).
    fn gradients(&self) -> Option<&dyn GradientClassifier> {
        None
    }
    /// The attention capability, when the model has it (attention methods ask for it).
    fn attention(&self) -> Option<&dyn AttentionClassifier> {
        None
    }
}

/// Gradient capability: probabilities as a differentiable function of input embeddings.
pub trait GradientClassifier: Classifier {
    /// Input embeddings of one sequence, shape (T, E).
    fn embed(&self, ids: &[u32]) -> Result<Tensor>;
    /// Class probabilities (B, C) for a batch of embedded sequences (B, T, E), all of length T.
    fn forward_embeds(&self, embeds: &Tensor) -> Result<Tensor>;
}

/// Attention weights of one sequence.
#[derive(Debug, Clone)]
pub struct AttentionMaps {
    /// Shape (layers, heads, T, T): per layer and head a row-stochastic matrix,
    /// `layers[[l, h, query, key]]`. No layers (a GRU): shape (0, 0, T, T).
    pub layers: Array4<f32>,
    /// Attention-pooling weights over the T tokens, when the model pools with attention.
    pub pooling: Option<Vec<f32>>,
    /// Which query rows the classifier reads: `Some(i)` for a `[CLS]`-style token, `None` for
    /// pooling over all tokens.
    pub readout: Option<usize>,
}

/// Attention capability: per-layer, per-head attention weights (or attention pooling weights).
pub trait AttentionClassifier: Classifier {
    /// Attention maps of one sequence.
    fn attentions(&self, ids: &[u32]) -> Result<AttentionMaps>;
}

/// A classifier that reads text: one trained here ([`TextClassifier`]) or a Hugging Face
/// checkpoint ([`hf::HfClassifier`]); [`load_text_model`] loads either from its folder.
pub trait TextModel: Classifier {
    /// The tokenizer.
    fn tokenizer(&self) -> &ModelTokenizer;
    /// Longest input in model tokens (longer inputs are cut at the end).
    fn max_len(&self) -> usize;
    /// Class logits, one row per sequence: shape (sequences, classes).
    fn logits(&self, batch: &[&[u32]]) -> Result<Array2<f32>>;
    /// Encodes dataset tokens (ERASER's whitespace tokens), cut to [`TextModel::max_len`].
    fn encode(&self, words: &[String]) -> Result<Encoded> {
        self.tokenizer().encode_words(words, self.max_len())
    }
    /// Encodes a raw text exactly as the model's tokenizer does, cut to [`TextModel::max_len`].
    fn encode_text(&self, text: &str) -> Result<EncodedText> {
        self.tokenizer().encode_text(text, self.max_len())
    }
}

/// Loads the classifier in `dir`: a checkpoint trained here (its `config.json` has `encoder`
/// and `labels`) or a Hugging Face `*ForSequenceClassification` folder.
pub fn load_text_model(dir: &Path) -> Result<Box<dyn TextModel + Send>> {
    let cfg = hf::HfConfig::read(dir)?;
    if cfg.json.get("encoder").is_some() && cfg.json.get("labels").is_some() {
        Ok(Box::new(TextClassifier::load(dir)?))
    } else {
        Ok(Box::new(hf::HfClassifier::load(dir)?))
    }
}

/// Pads a batch into ids (B, T) and a 0/1 mask (B, T). Empty sequences become one `pad`.
pub fn pad_batch(batch: &[&[u32]], pad: u32) -> Result<(Tensor, Tensor)> {
    let t = batch.iter().map(|s| s.len().max(1)).max().unwrap_or(1);
    let mut ids = Vec::with_capacity(batch.len() * t);
    let mut mask = Vec::with_capacity(batch.len() * t);
    for s in batch {
        let s: &[u32] = if s.is_empty() { &[pad] } else { s };
        for i in 0..t {
            ids.push(s.get(i).copied().unwrap_or(pad));
            mask.push(if i < s.len() { 1f32 } else { 0.0 });
        }
    }
    Ok((
        Tensor::from_vec(ids, (batch.len(), t), &Device::Cpu)?,
        Tensor::from_vec(mask, (batch.len(), t), &Device::Cpu)?,
    ))
}

/// Sequences per forward pass in [`predict_sorted`].
const CHUNK: usize = 32;

/// Runs `f` on chunks of sequences of similar length (sorted by length, 32 at a time, so
/// little padding is computed) and returns its rows in input order.
pub(crate) fn predict_sorted(
    batch: &[&[u32]],
    columns: usize,
    f: impl Fn(&[&[u32]]) -> Result<Array2<f32>>,
) -> Result<Array2<f32>> {
    let mut order: Vec<usize> = (0..batch.len()).collect();
    order.sort_by_key(|&i| batch[i].len());
    let mut out = Array2::zeros((batch.len(), columns));
    for chunk in order.chunks(CHUNK) {
        let seqs: Vec<&[u32]> = chunk.iter().map(|&i| batch[i]).collect();
        for (&i, row) in chunk.iter().zip(f(&seqs)?.rows()) {
            out.row_mut(i).assign(&row);
        }
    }
    Ok(out)
}

/// Softmax of each row, in place (max-subtracted).
pub fn softmax_rows(mut x: Array2<f32>) -> Array2<f32> {
    for mut row in x.rows_mut() {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        row.mapv_inplace(|v| (v - max).exp());
        let sum = row.sum();
        row.mapv_inplace(|v| v / sum);
    }
    x
}

/// An f32 tensor as an ndarray array of the same shape.
pub(crate) fn to_array<D: Dimension>(t: &Tensor) -> Result<Array<f32, D>> {
    let shape = t.dims().to_vec();
    let data = t.flatten_all()?.to_vec1::<f32>()?;
    Array::from_shape_vec(shape, data)
        .and_then(|a| a.into_dimensionality::<D>())
        .map_err(|e| ModelError::Data(format!("tensor of shape {:?}: {e}", t.dims())))
}

/// Index of the largest value: the first on ties; NaN counts as −∞ (it is chosen only when
/// every value is NaN, then index 0); 0 for an empty slice.
pub fn argmax(p: &[f32]) -> usize {
    first_max(p.iter().copied()).unwrap_or(0)
}

/// [`argmax`] of any sequence; `None` when it is empty.
pub fn first_max(xs: impl IntoIterator<Item = f32>) -> Option<usize> {
    let mut best: Option<(usize, f32)> = None;
    for (i, x) in xs.into_iter().enumerate() {
        let x = if x.is_nan() { f32::NEG_INFINITY } else { x };
        if best.is_none_or(|(_, b)| x > b) {
            best = Some((i, x));
        }
    }
    best.map(|(i, _)| i)
}

/// Checks that every probability is finite.
pub(crate) fn check_finite<'a>(probs: impl IntoIterator<Item = &'a f32>, what: &str) -> Result<()> {
    if probs.into_iter().any(|p| !p.is_finite()) {
        return Err(ModelError::NonFinite(what.to_owned()));
    }
    Ok(())
}
