//! `rationale`: score, extract, explain and draw rationales for NLP models.
//!
//! - [`corpus`]: the ERASER data model (annotations, documents, results records).
//! - [`metrics`]: every ERASER metric as a pure function.
//! - [`eval`]: one streaming pass over a results file: problems and scores.
//! - `greedy` (feature `models`): greedy sequential rationales for language models and classifiers.
//! - [`report`]: the score file, the summary table and per-instance tables.
//! - `models` (feature `models`): tokenizers with word alignment, encoders, the classifier.
//! - `train` (feature `models`): AdamW, schedules, early stopping, resumable checkpoints.
//! - `explain` (feature `models`): post-hoc explanations and measured faithfulness.
//! - `select` (feature `models`): selective rationalization (generator → predictor) with
//!   noise injection.

#[cfg(feature = "cli")]
pub mod cli;
pub mod corpus;
pub mod eval;
pub mod figures;
#[cfg(feature = "models")]
pub mod greedy;
pub mod io;
pub mod metrics;
#[cfg(feature = "models")]
pub mod pipeline;
pub mod progress;
pub mod report;

#[cfg(feature = "models")]
pub mod explain;
#[cfg(feature = "models")]
pub mod models;
#[cfg(feature = "models")]
pub mod select;
#[cfg(feature = "models")]
pub mod train;
