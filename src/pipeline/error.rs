//! The main job's errors.

use crate::corpus::CorpusError;
use crate::eval::EvalError;
use crate::explain::ExplainError;
use crate::select::SelectError;
use crate::train::TrainError;
use std::path::{Path, PathBuf};

/// Why the main job stopped.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A file or folder could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or folder.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The configuration cannot run; the message says what to change.
    #[error("{0}")]
    Config(String),
    /// A dataset file could not be read.
    #[error(transparent)]
    Corpus(#[from] CorpusError),
    /// A dataset file is inconsistent (the message names the file).
    #[error("{0}")]
    Data(String),
    /// Training the classifier failed.
    #[error("training the classifier: {0}")]
    Classifier(#[source] TrainError),
    /// Training the rationalizer failed.
    #[error("training the rationalizer: {0}")]
    Rationalizer(#[source] SelectError),
    /// Explaining with one method failed.
    #[error("{method}: {source}")]
    Explain {
        /// The method.
        method: String,
        /// The cause.
        #[source]
        source: ExplainError,
    },
    /// Scoring one method's results failed.
    #[error("scoring {method}: {source}")]
    Score {
        /// The method.
        method: String,
        /// The cause.
        #[source]
        source: EvalError,
    },
    /// One method's results had errors, so nothing was scored.
    #[error("scoring {method}: nothing scored: {problems}")]
    NothingScored {
        /// The method.
        method: String,
        /// The first problems, as `file:line: message`.
        problems: String,
    },
    /// A figure or table could not be drawn or written.
    #[error("{what}: {message}")]
    Output {
        /// The figure or file.
        what: String,
        /// What went wrong.
        message: String,
    },
}

impl PipelineError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        PipelineError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}
