//! Post-hoc explanations, one method per file, and faithfulness measured by re-running the
//! model ([`faithfulness`]).
//!
//! Every method maps (model, encoded input, target class) to **one score per dataset token**
//! (model-token scores are summed over each word's pieces; words the model never sees score 0).
//! Higher means more important for the target class.

pub mod attention;
pub mod faithfulness;
pub mod grad_input;
pub mod gradient;
pub mod integrated_gradients;
pub mod kernel_shap;
pub mod lime;
pub mod occlusion;
pub mod random;
pub mod results;
pub mod rollout;
pub mod smoothgrad;
mod text;

pub use text::{explain_text, TextExplanation};

use crate::models::{Classifier, Encoded, GradientClassifier, ModelError};
use serde::{Deserialize, Serialize};

/// Errors of the explanation layer.
#[derive(Debug, thiserror::Error)]
pub enum ExplainError {
    /// The model failed or cannot serve the method.
    #[error(transparent)]
    Model(#[from] ModelError),
    /// A dataset or results file could not be read.
    #[error(transparent)]
    Corpus(#[from] crate::corpus::CorpusError),
    /// A selective rationalizer failed to load or run.
    #[error(transparent)]
    Select(#[from] crate::select::SelectError),
    /// The worker thread could not be started.
    #[error(transparent)]
    Thread(#[from] crate::train::TrainError),
    /// Invalid options.
    #[error("invalid explanation options: {0}")]
    Config(String),
    /// The rationales to measure come from an empty results file.
    #[error("{path}: no results records (the file is empty)")]
    NoResults {
        /// The results file.
        path: std::path::PathBuf,
    },
    /// One annotation's input cannot be explained as given.
    #[error("annotation {annotation}: {message}")]
    Input {
        /// The annotation id.
        annotation: String,
        /// What is wrong.
        message: String,
    },
    /// Explaining one annotation failed.
    #[error("annotation {annotation}: {source}")]
    InAnnotation {
        /// The annotation id.
        annotation: String,
        /// The failure.
        #[source]
        source: Box<ExplainError>,
    },
}

impl ExplainError {
    fn input(annotation: &crate::corpus::AnnotationId, message: String) -> Self {
        ExplainError::Input {
            annotation: annotation.to_string(),
            message,
        }
    }

    fn in_annotation(annotation: &crate::corpus::AnnotationId, source: ExplainError) -> Self {
        ExplainError::InAnnotation {
            annotation: annotation.to_string(),
            source: Box::new(source),
        }
    }
}

impl From<candle_core::Error> for ExplainError {
    fn from(e: candle_core::Error) -> Self {
        ExplainError::Model(ModelError::Candle(e))
    }
}

/// Result alias of the explanation layer.
pub type Result<T> = std::result::Result<T, ExplainError>;

/// An explanation method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// L2 norm of the gradient of the target probability w.r.t. each token's embedding.
    Gradient,
    /// Gradient · embedding, per token.
    GradInput,
    /// Integrated gradients from the all-zero embedding (midpoint rule).
    IntegratedGradients,
    /// SmoothGrad: the gradient norm averaged over noisy copies of the embeddings.
    #[serde(rename = "smoothgrad")]
    #[cfg_attr(feature = "cli", value(name = "smoothgrad"))]
    SmoothGrad,
    /// Drop in the target probability when a window of words is deleted (window 1: leave-one-out).
    Occlusion,
    /// Attention weights (attention pooling, or a chosen layer/heads of a transformer).
    Attention,
    /// Attention rollout (Abnar & Zuidema 2020) through all transformer layers.
    Rollout,
    /// LIME: weighted ridge regression on random word deletions.
    Lime,
    /// KernelSHAP: Shapley values of word deletions (exact for short texts).
    KernelShap,
    /// Uniform random scores (ERASER's "Random" row).
    Random,
    /// The rationales of a selective rationalizer (`rationale train select`); not a post-hoc
    /// method: `rationale explain` runs the model's own generator.
    Select,
}

/// Options of all methods (each uses its own).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExplainConfig {
    /// The method.
    pub method: Method,
    /// Integrated-gradients steps.
    pub ig_steps: usize,
    /// Occlusion window in words (stride = window).
    pub occlusion_window: usize,
    /// LIME samples (the unperturbed input included).
    pub lime_samples: usize,
    /// LIME kernel width (on cosine distance × 100, as LIME text).
    pub lime_kernel_width: f64,
    /// SmoothGrad noisy copies.
    pub smoothgrad_samples: usize,
    /// SmoothGrad noise σ as a fraction of the embeddings' range (max − min).
    pub smoothgrad_noise: f64,
    /// KernelSHAP coalitions (default: 2 × words + 2048).
    pub shap_samples: Option<usize>,
    /// Attention layer (default: last; for a GRU, attention pooling).
    pub layer: Option<usize>,
    /// Attention heads averaged (default: all).
    pub heads: Option<Vec<usize>>,
    /// Attention query row (default: the rows the classifier reads).
    pub query_row: Option<usize>,
    /// Seed for LIME and Random.
    pub seed: u64,
}

impl Default for ExplainConfig {
    fn default() -> Self {
        ExplainConfig {
            method: Method::Gradient,
            ig_steps: 20,
            occlusion_window: 1,
            lime_samples: 500,
            lime_kernel_width: 25.0,
            smoothgrad_samples: 20,
            smoothgrad_noise: 0.1,
            shap_samples: None,
            layer: None,
            heads: None,
            query_row: None,
            seed: 1,
        }
    }
}

impl ExplainConfig {
    /// Checks the options.
    pub fn validate(&self) -> Result<()> {
        if self.ig_steps == 0 || self.occlusion_window == 0 || self.lime_samples < 2 {
            return Err(ExplainError::Config(
                "ig_steps and occlusion_window must be > 0, lime_samples ≥ 2".into(),
            ));
        }
        if self.lime_kernel_width.is_nan() || self.lime_kernel_width <= 0.0 {
            return Err(ExplainError::Config("lime_kernel_width must be > 0".into()));
        }
        if self.smoothgrad_samples == 0
            || !(self.smoothgrad_noise >= 0.0 && self.smoothgrad_noise.is_finite())
        {
            return Err(ExplainError::Config(
                "smoothgrad_samples must be > 0 and smoothgrad_noise a number ≥ 0".into(),
            ));
        }
        if self.shap_samples.is_some_and(|n| n < 2) {
            return Err(ExplainError::Config("shap_samples must be ≥ 2".into()));
        }
        Ok(())
    }
}

/// Scores each dataset token of `enc` for class `target` with the configured method.
/// `index` (the example's position) varies the seed of stochastic methods per example.
///
/// Each method asks only for the capability it uses: occlusion and LIME need class
/// probabilities alone, gradient methods [`Classifier::gradients`], attention methods
/// [`Classifier::attention`]; a model without it gets an error naming what is missing.
pub fn explain(
    model: &dyn Classifier,
    enc: &Encoded,
    target: usize,
    cfg: &ExplainConfig,
    index: u64,
) -> Result<Vec<f32>> {
    let seed = cfg.seed.wrapping_mul(0x9e37_79b9).wrapping_add(index);
    let gradients = || {
        model
            .gradients()
            .ok_or_else(|| missing(cfg.method, "gradients with respect to its input embeddings"))
    };
    let attention = || {
        model
            .attention()
            .ok_or_else(|| missing(cfg.method, "attention weights"))
    };
    let scores = match cfg.method {
        Method::Gradient => gradient::explain(gradients()?, enc, target)?,
        Method::GradInput => grad_input::explain(gradients()?, enc, target)?,
        Method::IntegratedGradients => {
            integrated_gradients::explain(gradients()?, enc, target, cfg.ig_steps)?
        }
        Method::SmoothGrad => smoothgrad::explain(
            gradients()?,
            enc,
            target,
            cfg.smoothgrad_samples,
            cfg.smoothgrad_noise,
            seed,
        )?,
        Method::Occlusion => occlusion::explain(model, enc, target, cfg.occlusion_window)?,
        Method::Attention => attention::explain(
            attention()?,
            enc,
            cfg.layer,
            cfg.heads.as_deref(),
            cfg.query_row,
        )?,
        Method::Rollout => rollout::explain(attention()?, enc)?,
        Method::Lime => lime::explain(
            model,
            enc,
            target,
            cfg.lime_samples,
            cfg.lime_kernel_width,
            seed,
        )?,
        Method::KernelShap => kernel_shap::explain(model, enc, target, cfg.shap_samples, seed)?,
        Method::Random => random::explain(enc, seed),
        Method::Select => {
            return Err(ExplainError::Config(
                "select rationales come from a selective rationalizer checkpoint, not from a classifier".into(),
            ))
        }
    };
    if scores.iter().any(|s| !s.is_finite()) {
        return Err(ModelError::NonFinite(format!("{:?} scores", cfg.method)).into());
    }
    Ok(scores)
}

/// The error for a model that lacks what `method` needs.
fn missing(method: Method, what: &str) -> ExplainError {
    ModelError::Unsupported(format!(
        "{method:?} needs {what}, which this model does not expose; \
         occlusion and LIME need only class probabilities"
    ))
    .into()
}

/// The gradient of the target probability w.r.t. the input embeddings of one sequence:
/// returns (embeddings (T, E), gradient (T, E)).
pub(crate) fn input_gradient<M: GradientClassifier + ?Sized>(
    model: &M,
    ids: &[u32],
    target: usize,
) -> Result<(candle_core::Tensor, candle_core::Tensor)> {
    let emb = model.embed(ids)?.detach();
    let var = candle_core::Var::from_tensor(&emb)?;
    let probs = model.forward_embeds(&var.as_tensor().unsqueeze(0)?)?;
    let p = probs.narrow(1, target, 1)?.sum_all()?;
    let grads = p.backward()?;
    let g = grads.get(var.as_tensor()).cloned().ok_or_else(|| {
        ModelError::Unsupported("no gradient reached the input embeddings".into())
    })?;
    Ok((emb, g))
}

#[cfg(test)]
mod tests {
    use super::*;

    use ndarray::Array2;

    /// A probabilities-only model: p(class 1) grows with the number of token-id-7 tokens.
    struct CountSevens;

    impl Classifier for CountSevens {
        fn labels(&self) -> &[String] {
            static LABELS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
            LABELS.get_or_init(|| vec!["other".into(), "sevens".into()])
        }
        fn predict_proba(&self, batch: &[&[u32]]) -> crate::models::Result<Array2<f32>> {
            Ok(Array2::from_shape_fn((batch.len(), 2), |(b, c)| {
                let n = batch[b].iter().filter(|&&t| t == 7).count() as f32;
                let p = n / (n + 1.0);
                [1.0 - p, p][c]
            }))
        }
    }

    fn input() -> Encoded {
        Encoded {
            ids: vec![3, 7, 4, 7],
            word_of: (0..4).map(Some).collect(),
            n_words: 4,
            pad_id: 0,
        }
    }

    #[test]
    fn perturbation_methods_need_only_probabilities() {
        let cfg = ExplainConfig {
            method: Method::Occlusion,
            ..ExplainConfig::default()
        };
        let scores = explain(&CountSevens, &input(), 1, &cfg, 0).unwrap();
        // Deleting a 7 drops p from 2/3 to 1/2; deleting anything else changes nothing.
        let want = [0.0, 2.0 / 3.0 - 0.5, 0.0, 2.0 / 3.0 - 0.5];
        for (s, w) in scores.iter().zip(want) {
            assert!((s - w).abs() < 1e-6, "{scores:?}");
        }
        let lime = ExplainConfig {
            method: Method::Lime,
            lime_samples: 64,
            ..ExplainConfig::default()
        };
        let scores = explain(&CountSevens, &input(), 1, &lime, 0).unwrap();
        assert!(scores[1] > scores[0] && scores[3] > scores[2], "{scores:?}");
    }

    #[test]
    fn a_method_names_the_capability_it_lacks() {
        for (method, what) in [
            (Method::Gradient, "gradients"),
            (Method::IntegratedGradients, "gradients"),
            (Method::Attention, "attention weights"),
            (Method::Rollout, "attention weights"),
        ] {
            let cfg = ExplainConfig {
                method,
                ..ExplainConfig::default()
            };
            let err = explain(&CountSevens, &input(), 1, &cfg, 0).unwrap_err();
            assert!(err.to_string().contains(what), "{method:?}: {err}");
        }
    }
}
