//! `rationale`: score, extract, explain and draw rationales for NLP models.
//!
//! The front door, re-exported here:
//!
//! - open a dataset: [`DataDir`] (ERASER `<split>.jsonl` + `docs/`), its [`Annotation`]s;
//! - read a results file: [`read_results`] ([`Prediction`] records by annotation id);
//! - score it like the ERASER reference scorer: [`score`] → [`Report`] (the score file, the
//!   headline table, per-instance rows), or list its problems: [`validate`];
//! - draw a figure: [`figures::render`] (SVG token heatmaps, human vs model);
//! - with the `models` feature (on by default): train a classifier ([`train_classifier`]),
//!   load a checkpoint trained here or a Hugging Face classifier folder ([`load_text_model`]),
//!   predict texts ([`predict_texts`]), explain a text ([`explain_text`]) or a whole split
//!   ([`explain_split`]), train a selective rationalizer ([`train_select`]); load a causal
//!   language model folder, GPT-2 or Llama-family ([`LanguageModel`]), and read its next-token
//!   log-probabilities ([`CachedLm::next_token_logprobs`]);
//! - long work reports progress to an [`Observer`]; the library itself prints nothing.
//!
//! ```
//! use std::path::Path;
//! let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/movies");
//! let results = data.join("movies_majority_human_perf.jsonl");
//! let problems = rationale::validate(&data, "test", &results)?;
//! println!("{} warnings", problems.len());
//! let options = rationale::ScoreOptions {
//!     allow_missing: true,
//!     ..Default::default()
//! };
//! let report = rationale::score(&data, "test", &results, &options)?;
//! print!("{}", report.summary_table());
//! let iou_f1 = report.scores.iou_scores.as_ref().unwrap()[0].macro_avg.f1;
//! assert!((iou_f1 - 0.0796).abs() < 5e-5, "{iou_f1}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Modules by layer (each names only modules of its own layer or below):
//! core — [`corpus`], [`metrics`], [`eval`], [`report`], [`figures`], [`io`], [`progress`];
//! models (feature `models`) — `models`, `train`, `explain`, `select`, `greedy`;
//! the main job — `pipeline`; the command line — `cli` (feature `cli`).
#![warn(missing_docs)]

// The command line, public only for the `rationale` binary; its doc comments are clap help
// texts, not Markdown.
#[cfg(feature = "cli")]
#[doc(hidden)]
#[allow(rustdoc::invalid_html_tags)]
pub mod cli;
pub mod corpus;
pub mod eval;
pub mod figures;
pub mod io;
pub mod metrics;
pub mod progress;
pub mod report;

#[cfg(feature = "models")]
pub mod explain;
#[cfg(feature = "models")]
pub mod greedy;
#[cfg(feature = "models")]
pub mod models;
#[cfg(feature = "models")]
pub mod pipeline;
#[cfg(feature = "models")]
pub mod select;
#[cfg(feature = "models")]
pub mod train;

pub use corpus::{read_results, Annotation, DataDir, Prediction};
pub use eval::{Problem, ScoreOptions, Scores};
pub use progress::{Event, Observer, Silent};
pub use report::{score, validate, Report};

#[cfg(feature = "models")]
pub use explain::results::{explain_split, ExplainJob};
#[cfg(feature = "models")]
pub use explain::{explain_text, ExplainConfig, Method, TextExplanation};
#[cfg(feature = "models")]
pub use models::cached_lm::CachedLm;
#[cfg(feature = "models")]
pub use models::gpt2::Gpt2;
#[cfg(feature = "models")]
pub use models::hf::{HfClassifier, HfDecoder};
#[cfg(feature = "models")]
pub use models::predict::{predict_texts, TextPrediction};
#[cfg(feature = "models")]
pub use models::{load_text_model, LanguageModel, TextClassifier, TextModel};
#[cfg(feature = "models")]
pub use select::{train_select, SelectConfig};
#[cfg(feature = "models")]
pub use train::{train_classifier, TrainConfig};

/// The ndarray version of the public types (attention maps, class-probability batches).
pub use ndarray;

/// The README's code, run as a doctest so that it stays true.
#[cfg(all(doctest, feature = "models"))]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
