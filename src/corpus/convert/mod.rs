//! Converters from other rationale datasets to ERASER format (annotations + `docs/`).

mod hatexplain;
mod toxic_spans;

pub use hatexplain::convert_hatexplain;
pub use toxic_spans::convert_toxic_spans;

use super::{Annotation, AnnotationId, Evidence};
use std::path::{Path, PathBuf};

/// Errors of a conversion: where and what.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// A source file is missing or not what the converter expects.
    #[error("{path}: {message}")]
    Input {
        /// The source file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The output folder exists and is not empty.
    #[error("{0} exists and is not empty; choose a new --out folder")]
    OutExists(PathBuf),
}

fn input_error(path: &Path, message: impl Into<String>) -> ConvertError {
    ConvertError::Input {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

fn io_error(path: &Path, source: std::io::Error) -> ConvertError {
    ConvertError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A dataset in ERASER form, ready to write.
#[derive(Debug, Default)]
pub struct Converted {
    /// `(split name, annotations)`.
    pub splits: Vec<(String, Vec<Annotation>)>,
    /// `(docid, document text: sentences on lines, tokens separated by single spaces)`.
    pub docs: Vec<(String, String)>,
    /// Extra JSON-lines files beside the splits: `(file name, lines)`.
    pub extras: Vec<(String, Vec<serde_json::Value>)>,
    /// What was skipped or adjusted, one line each, for the user.
    pub notes: Vec<String>,
}

/// Evidence spans (one per run of marked tokens) of one annotator's token mask over a
/// document whose sentence of each token is `sentence_of`.
pub(crate) fn mask_to_evidence(
    docid: &str,
    tokens: &[String],
    sentence_of: &[usize],
    mask: &[bool],
) -> Vec<Evidence> {
    super::mask::runs(mask)
        .map(|(start, end)| Evidence {
            docid: docid.to_owned(),
            start_token: start as i64,
            end_token: end as i64,
            start_sentence: sentence_of[start] as i64,
            end_sentence: sentence_of[end - 1] as i64 + 1,
            text: serde_json::Value::String(tokens[start..end].join(" ")),
        })
        .collect()
}

/// An annotation with one evidence group per annotator mask that marks something.
pub(crate) fn annotation(
    id: &str,
    label: &str,
    query: &str,
    groups: Vec<Vec<Evidence>>,
) -> Annotation {
    Annotation {
        annotation_id: AnnotationId::Str(id.to_owned()),
        classification: label.to_owned(),
        query: serde_json::Value::String(query.to_owned()),
        query_type: None,
        docids: None,
        evidences: groups.into_iter().filter(|g| !g.is_empty()).collect(),
    }
}

impl Converted {
    /// Writes `<out>/<split>.jsonl`, `<out>/docs/<docid>` and the extras. The folder is built
    /// beside `out` and renamed into place, so an interrupted run leaves nothing half-written.
    pub fn write(&self, out: &Path) -> Result<(), ConvertError> {
        if out.exists()
            && std::fs::read_dir(out)
                .map_err(|e| io_error(out, e))?
                .next()
                .is_some()
        {
            return Err(ConvertError::OutExists(out.to_path_buf()));
        }
        let name = out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let tmp = out.with_file_name(format!(".{name}.partial{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&tmp);
        let docs = tmp.join("docs");
        std::fs::create_dir_all(&docs).map_err(|e| io_error(&docs, e))?;
        let write = |path: PathBuf, text: String| {
            std::fs::write(&path, text).map_err(|e| io_error(&path, e))
        };
        for (docid, text) in &self.docs {
            write(docs.join(docid), format!("{text}\n"))?;
        }
        let lines =
            |values: &mut dyn Iterator<Item = String>| values.map(|l| l + "\n").collect::<String>();
        for (split, anns) in &self.splits {
            let text = lines(
                &mut anns
                    .iter()
                    .map(|a| serde_json::to_string(a).expect("annotations serialise")),
            );
            write(tmp.join(format!("{split}.jsonl")), text)?;
        }
        for (file, values) in &self.extras {
            write(
                tmp.join(file),
                lines(&mut values.iter().map(|v| v.to_string())),
            )?;
        }
        if out.exists() {
            std::fs::remove_dir(out).map_err(|e| io_error(out, e))?;
        }
        std::fs::rename(&tmp, out).map_err(|e| io_error(out, e))
    }
}

/// A file name is a safe docid: no path separators, not `.`/`..`, not empty.
fn check_docid(path: &Path, docid: &str) -> Result<(), ConvertError> {
    if docid.is_empty() || docid == "." || docid == ".." || docid.contains(['/', '\\', '\0']) {
        return Err(input_error(
            path,
            format!("id {docid:?} cannot be a document file name"),
        ));
    }
    Ok(())
}
