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
pub use results::{
    read_results, HardSpan, LabelScores, Prediction, RationalePrediction, ResultsReader,
    ThresholdedScores,
};

use serde::{Deserialize, Serialize};
use std::fmt;
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// Errors reading a dataset or a results file.
#[derive(Debug, thiserror::Error)]
pub enum CorpusError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}:{line}: {message}")]
    Parse {
        path: PathBuf,
        line: usize,
        message: String,
    },
    #[error("{data_dir}: both docs.jsonl and docs/ exist; keep one of them (the reference scorer refuses this too)")]
    DocsConflict { data_dir: PathBuf },
    #[error("{data_dir}: neither docs/ nor docs.jsonl found; an ERASER data directory needs one of them")]
    NoDocs { data_dir: PathBuf },
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
    Int(i64),
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
    pub docid: String,
    #[serde(default = "minus_one")]
    pub start_token: i64,
    #[serde(default = "minus_one")]
    pub end_token: i64,
    #[serde(default = "minus_one")]
    pub start_sentence: i64,
    #[serde(default = "minus_one")]
    pub end_sentence: i64,
    #[serde(default)]
    pub text: serde_json::Value,
}

fn minus_one() -> i64 {
    -1
}

/// A human annotation: label, query and evidence groups (each group alone justifies the label).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Annotation {
    pub annotation_id: AnnotationId,
    pub classification: String,
    #[serde(default)]
    pub query: serde_json::Value,
    #[serde(default)]
    pub query_type: Option<String>,
    #[serde(default)]
    pub docids: Option<Vec<String>>,
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
pub fn read_jsonl<T: serde::de::DeserializeOwned>(
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
pub fn read_annotations(path: &Path) -> Result<Vec<Annotation>, CorpusError> {
    read_jsonl(path, "an ERASER annotation")
}

/// An ERASER data directory: `<split>.jsonl` annotation files and `docs/` or `docs.jsonl`.
#[derive(Debug, Clone)]
pub struct DataDir {
    pub root: PathBuf,
}

impl DataDir {
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
