//! Documents: `docs/<docid>` files or `docs.jsonl`, tokenised exactly as the reference scorer does.

use super::CorpusError;
use rayon::prelude::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::RwLock;

/// A tokenised document: sentences of whitespace tokens.
#[derive(Debug, Clone, PartialEq)]
pub struct Document {
    /// The document's id (its file name under `docs/`).
    pub docid: String,
    /// Sentences (one per line of the text), each a list of tokens.
    pub sentences: Vec<Vec<String>>,
}

impl Document {
    /// Tokens of the document flattened across sentences (the index space of ERASER offsets).
    pub fn tokens(&self) -> impl Iterator<Item = &str> {
        self.sentences.iter().flatten().map(String::as_str)
    }

    /// Its token and sentence counts.
    pub fn shape(&self) -> DocShape {
        DocShape {
            tokens: self.sentences.iter().map(Vec::len).sum(),
            sentences: self.sentences.len(),
        }
    }
}

/// Token and sentence counts of a document: all that scoring needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocShape {
    /// Tokens, across all sentences.
    pub tokens: usize,
    /// Sentences.
    pub sentences: usize,
}

/// Python's `str.isspace()` (Unicode White_Space plus the separators U+001C..U+001F).
fn python_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// Tokenises a `docs/<docid>` file as the reference does: universal newlines, every line
/// stripped, empty lines dropped, tokens split on single spaces with empty tokens dropped.
pub fn tokenize_docs_dir_text(text: &str) -> Vec<Vec<String>> {
    text.split(['\n', '\r'])
        .map(|l| l.trim_matches(python_space))
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.split(' ')
                .filter(|t| !t.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

/// Tokenises a `docs.jsonl` document as the reference does: split on `\n`, strip each line,
/// split on single spaces, keeping empty lines and empty tokens.
pub fn tokenize_docs_jsonl_text(text: &str) -> Vec<Vec<String>> {
    text.split('\n')
        .map(|l| {
            l.trim_matches(python_space)
                .split(' ')
                .map(str::to_owned)
                .collect()
        })
        .collect()
}

fn docs_dir_shape(text: &str) -> DocShape {
    let mut shape = DocShape {
        tokens: 0,
        sentences: 0,
    };
    for line in text.split(['\n', '\r']) {
        let line = line.trim_matches(python_space);
        if !line.is_empty() {
            shape.sentences += 1;
            shape.tokens += line.split(' ').filter(|t| !t.is_empty()).count();
        }
    }
    shape
}

fn docs_jsonl_shape(text: &str) -> DocShape {
    let mut shape = DocShape {
        tokens: 0,
        sentences: 0,
    };
    for line in text.split('\n') {
        shape.sentences += 1;
        shape.tokens += line.trim_matches(python_space).split(' ').count();
    }
    shape
}

/// Why a document could not be had.
#[derive(Debug, Clone, PartialEq)]
pub enum DocUnavailable {
    /// No such file in `docs/` or line in `docs.jsonl`.
    Missing,
    /// The file exists but cannot be read, or is not UTF-8 (the reason).
    Unreadable(String),
}

impl std::fmt::Display for DocUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DocUnavailable::Missing => {
                write!(f, "missing (no such file in docs/ or line in docs.jsonl)")
            }
            DocUnavailable::Unreadable(e) => write!(f, "unreadable: {e}"),
        }
    }
}

enum Source {
    Dir(PathBuf),
    Jsonl(HashMap<String, String>),
}

/// The documents of a data directory, read on demand, each at most once, shapes cached.
pub struct DocStore {
    source: Source,
    shapes: RwLock<HashMap<String, Result<DocShape, DocUnavailable>>>,
}

#[derive(serde::Deserialize)]
struct JsonlDoc {
    docid: String,
    document: String,
}

impl DocStore {
    /// Opens `root/docs/` or `root/docs.jsonl` (not both).
    pub fn open(root: &Path) -> Result<Self, CorpusError> {
        let jsonl = root.join("docs.jsonl");
        let dir = root.join("docs");
        let source = match (jsonl.is_file(), dir.is_dir()) {
            (true, true) => {
                return Err(CorpusError::DocsConflict {
                    data_dir: root.to_path_buf(),
                })
            }
            (true, false) => Source::Jsonl(read_docs_jsonl(&jsonl)?),
            (false, true) => Source::Dir(dir),
            (false, false) => {
                return Err(CorpusError::NoDocs {
                    data_dir: root.to_path_buf(),
                })
            }
        };
        Ok(DocStore {
            source,
            shapes: RwLock::new(HashMap::new()),
        })
    }

    /// Where documents come from, for messages.
    pub fn describe(&self, docid: &str) -> String {
        match &self.source {
            Source::Dir(dir) => dir.join(docid).display().to_string(),
            Source::Jsonl(_) => format!("docs.jsonl entry {docid:?}"),
        }
    }

    fn raw_text(&self, docid: &str) -> Result<String, DocUnavailable> {
        match &self.source {
            Source::Dir(dir) => {
                // A docid is a file name, never a path.
                if docid.is_empty() || docid.contains(['/', '\\']) || docid == "." || docid == ".."
                {
                    return Err(DocUnavailable::Missing);
                }
                match std::fs::read(dir.join(docid)) {
                    Ok(bytes) => String::from_utf8(bytes)
                        .map_err(|e| DocUnavailable::Unreadable(format!("not UTF-8: {e}"))),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        Err(DocUnavailable::Missing)
                    }
                    Err(e) => Err(DocUnavailable::Unreadable(e.to_string())),
                }
            }
            Source::Jsonl(docs) => docs.get(docid).cloned().ok_or(DocUnavailable::Missing),
        }
    }

    fn compute_shape(&self, docid: &str) -> Result<DocShape, DocUnavailable> {
        match &self.source {
            Source::Dir(_) => self.raw_text(docid).map(|t| docs_dir_shape(&t)),
            Source::Jsonl(docs) => docs
                .get(docid)
                .map(|t| docs_jsonl_shape(t))
                .ok_or(DocUnavailable::Missing),
        }
    }

    /// Token and sentence counts of a document.
    pub fn shape(&self, docid: &str) -> Result<DocShape, DocUnavailable> {
        if let Some(s) = self.shapes.read().expect("doc cache poisoned").get(docid) {
            return s.clone();
        }
        let shape = self.compute_shape(docid);
        self.shapes
            .write()
            .expect("doc cache poisoned")
            .insert(docid.to_owned(), shape.clone());
        shape
    }

    /// Reads the shapes of many documents in parallel.
    pub fn prefetch<'a>(&self, docids: impl IntoIterator<Item = &'a str>) {
        let todo: Vec<&str> = {
            let cache = self.shapes.read().expect("doc cache poisoned");
            let mut v: Vec<&str> = docids
                .into_iter()
                .filter(|d| !cache.contains_key(*d))
                .collect();
            v.sort_unstable();
            v.dedup();
            v
        };
        let shapes: Vec<_> = todo
            .par_iter()
            .map(|d| (d.to_string(), self.compute_shape(d)))
            .collect();
        self.shapes
            .write()
            .expect("doc cache poisoned")
            .extend(shapes);
    }

    /// The full tokenised document.
    pub fn document(&self, docid: &str) -> Result<Document, DocUnavailable> {
        let text = self.raw_text(docid)?;
        let sentences = match &self.source {
            Source::Dir(_) => tokenize_docs_dir_text(&text),
            Source::Jsonl(_) => tokenize_docs_jsonl_text(&text),
        };
        Ok(Document {
            docid: docid.to_owned(),
            sentences,
        })
    }
}

fn read_docs_jsonl(path: &Path) -> Result<HashMap<String, String>, CorpusError> {
    let docs: Vec<JsonlDoc> = super::read_jsonl(path, "{\"docid\": str, \"document\": str}")?;
    Ok(docs.into_iter().map(|d| (d.docid, d.document)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docs_dir_tokenisation_matches_reference_rules() {
        let text = "  a b\t c \r\n\n\u{a0}\nd  e\u{1c}\rf\n";
        let s = tokenize_docs_dir_text(text);
        assert_eq!(s, vec![vec!["a", "b\t", "c"], vec!["d", "e"], vec!["f"]]);
        assert_eq!(
            docs_dir_shape(text),
            DocShape {
                tokens: 6,
                sentences: 3
            }
        );
    }

    #[test]
    fn docs_jsonl_tokenisation_keeps_empty_lines_and_tokens() {
        let text = "a  b\n\nc ";
        let s = tokenize_docs_jsonl_text(text);
        assert_eq!(s, vec![vec!["a", "", "b"], vec![""], vec!["c"]]);
        assert_eq!(
            docs_jsonl_shape(text),
            DocShape {
                tokens: 5,
                sentences: 3
            }
        );
    }
}
