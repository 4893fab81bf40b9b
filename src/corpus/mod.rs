//! The ERASER data model: annotations with evidence groups, documents, and results records.

pub mod convert;
mod documents;
mod lenient_json;
pub mod mask;
mod results;

pub use documents::{
    tokenize_docs_dir_text, tokenize_docs_jsonl_text, DocShape, DocStore, DocUnavailable, Document,
};
pub use lenient_json::{parse_lenient, Num};
pub(crate) use results::ResultsReader;
pub use results::{
    read_results, HardSpan, LabelScores, Prediction, RationalePrediction, ThresholdedScores,
};

use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// Errors reading a dataset or a results file.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    /// A file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A line is not the record expected.
    #[error("{path}:{line}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What was expected and what the parser said.
        message: String,
    },
    /// The data directory has both `docs.jsonl` and `docs/`.
    #[error("{data_dir}: both docs.jsonl and docs/ exist; keep one of them (the reference scorer refuses this too)")]
    DocsConflict {
        /// The data directory.
        data_dir: PathBuf,
    },
    /// The data directory has neither `docs/` nor `docs.jsonl`.
    #[error("{data_dir}: neither docs/ nor docs.jsonl found; an ERASER data directory needs one of them")]
    NoDocs {
        /// The data directory.
        data_dir: PathBuf,
    },
}

impl CorpusError {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        CorpusError::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

/// An annotation id, kept as the JSON scalar it is: a string in most datasets, an integer in
/// BoolQ. Ids are compared without coercion, as the reference scorer does (`6363 != "6363"`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AnnotationId {
    /// An integer id (BoolQ).
    Int(i64),
    /// A string id.
    Str(String),
}

impl fmt::Display for AnnotationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AnnotationId::Int(i) => write!(f, "{i}"),
            AnnotationId::Str(s) => write!(f, "{s:?}"),
        }
    }
}

impl AnnotationId {
    /// The id as plain text (no quotes), for tables and per-instance files.
    pub fn as_text(&self) -> String {
        match self {
            AnnotationId::Int(i) => i.to_string(),
            AnnotationId::Str(s) => s.clone(),
        }
    }
}

/// One piece of evidence: a token span (end exclusive) of a document, with best-guess sentences.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    /// The document the evidence is in.
    pub docid: String,
    /// First token, into the document flattened across sentences (−1 when absent).
    #[serde(default = "minus_one")]
    pub start_token: i64,
    /// One past the last token (−1 when absent).
    #[serde(default = "minus_one")]
    pub end_token: i64,
    /// First sentence, a best guess (−1 when unknown, as in Movies test).
    #[serde(default = "minus_one")]
    pub start_sentence: i64,
    /// One past the last sentence (−1 when unknown).
    #[serde(default = "minus_one")]
    pub end_sentence: i64,
    /// The evidence text as the annotation gives it (not used in scoring).
    #[serde(default)]
    pub text: serde_json::Value,
}

fn minus_one() -> i64 {
    -1
}

/// A human annotation: label, query and evidence groups (each group alone justifies the label).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Annotation {
    /// The id results records refer to.
    pub annotation_id: AnnotationId,
    /// The gold label.
    pub classification: String,
    /// The query (question or hypothesis) for tasks that have one; the scorer does not read it.
    #[serde(default)]
    pub query: serde_json::Value,
    /// The query's type, where the dataset gives one.
    #[serde(default)]
    pub query_type: Option<String>,
    /// The documents the annotation is about, where the dataset lists them (BoolQ); the scorer
    /// does not read it.
    #[serde(default)]
    pub docids: Option<Vec<String>>,
    /// Evidence groups: each group alone justifies the label; scoring uses their union.
    pub evidences: Vec<Vec<Evidence>>,
}

impl Annotation {
    /// All evidences of all groups (the gold rationale is their union).
    pub fn all_evidence(&self) -> impl Iterator<Item = &Evidence> {
        self.evidences.iter().flatten()
    }
}

/// Reads a JSON-lines file into records, skipping blank lines; `expected` names the record
/// shape for error messages.
pub(crate) fn read_jsonl<T: serde::de::DeserializeOwned>(
    path: &Path,
    expected: &str,
) -> Result<Vec<T>, CorpusError> {
    let file = std::fs::File::open(path).map_err(|e| CorpusError::io(path, e))?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| CorpusError::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        out.push(serde_json::from_str(&line).map_err(|e| CorpusError::Parse {
            path: path.to_path_buf(),
            line: i + 1,
            message: format!("expected {expected}: {e}"),
        })?);
    }
    Ok(out)
}

/// Reads an annotation file (`<data_dir>/<split>.jsonl`); blank lines are skipped.
fn read_annotations(path: &Path) -> Result<Vec<Annotation>, CorpusError> {
    read_jsonl(path, "an ERASER annotation")
}

/// An ERASER data directory: `<split>.jsonl` annotation files and `docs/` or `docs.jsonl`.
#[derive(Debug, Clone)]
pub struct DataDir {
    /// The directory.
    pub root: PathBuf,
}

impl DataDir {
    /// The data directory at `root` (nothing is read until asked for).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        DataDir { root: root.into() }
    }

    /// Path of a split's annotation file.
    pub fn split_path(&self, split: &str) -> PathBuf {
        self.root.join(format!("{split}.jsonl"))
    }

    /// Reads a split's annotations.
    pub fn annotations(&self, split: &str) -> Result<Vec<Annotation>, CorpusError> {
        read_annotations(&self.split_path(split))
    }

    /// Opens the documents (`docs/` or `docs.jsonl`), tokenised as the reference does.
    pub fn documents(&self) -> Result<DocStore, CorpusError> {
        DocStore::open(&self.root)
    }
}
