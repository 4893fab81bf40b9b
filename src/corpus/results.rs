//! The ERASER results record (one prediction per line) and a streaming reader.

use super::{AnnotationId, CorpusError, Num};
use serde::de::{Deserializer, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize, Serializer};
use std::collections::HashMap;
use std::fmt;
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// A predicted token span, `end_token` exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct HardSpan {
    /// First token, into the document flattened across sentences.
    pub start_token: i64,
    /// One past the last token.
    pub end_token: i64,
}

/// A model's rationale for one document.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RationalePrediction {
    /// The document.
    pub docid: String,
    /// The hard rationale: disjoint token spans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hard_rationale_predictions: Option<Vec<HardSpan>>,
    /// One importance score per token of the document (higher: more important).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soft_rationale_predictions: Option<Vec<Num>>,
    /// One importance score per sentence of the document.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub soft_sentence_predictions: Option<Vec<Num>>,
}

/// A distribution over labels, in the order the file gives them (entropy and KL follow it).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LabelScores(pub Vec<(String, f64)>);

impl LabelScores {
    /// The probability of `label`, if the distribution names it.
    pub fn get(&self, label: &str) -> Option<f64> {
        self.0.iter().find(|(l, _)| l == label).map(|(_, p)| *p)
    }

    /// The probabilities, in order.
    pub fn values(&self) -> impl Iterator<Item = f64> + '_ {
        self.0.iter().map(|(_, p)| *p)
    }
}

impl<'de> Deserialize<'de> for LabelScores {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LabelScores;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an object mapping labels to probabilities")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LabelScores, A::Error> {
                let mut out: Vec<(String, f64)> = Vec::new();
                while let Some((label, Num(p))) = map.next_entry::<String, Num>()? {
                    // As in Python, a repeated key keeps its first position and its last value.
                    match out.iter_mut().find(|(l, _)| *l == label) {
                        Some(slot) => slot.1 = p,
                        None => out.push((label, p)),
                    }
                }
                Ok(LabelScores(out))
            }
        }
        d.deserialize_map(V)
    }
}

impl Serialize for LabelScores {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (l, p) in &self.0 {
            m.serialize_entry(l, p)?;
        }
        m.end()
    }
}

/// Model outputs at one AOPC bin: the top `threshold` fraction of tokens removed or kept alone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ThresholdedScores {
    /// The fraction of tokens removed or kept (an AOPC bin, e.g. 0.05).
    pub threshold: f64,
    /// Class probabilities with the top `threshold` fraction of tokens removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comprehensiveness_classification_scores: Option<LabelScores>,
    /// Class probabilities with only the top `threshold` fraction of tokens kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sufficiency_classification_scores: Option<LabelScores>,
}

/// One line of an ERASER results file: every field the reference scorer reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// The annotation predicted (compared with the split's ids as a JSON value).
    pub annotation_id: AnnotationId,
    /// The rationale for each document.
    pub rationales: Vec<RationalePrediction>,
    /// The predicted label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification: Option<String>,
    /// Class probabilities on the full input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classification_scores: Option<LabelScores>,
    /// Class probabilities with the hard rationale removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comprehensiveness_classification_scores: Option<LabelScores>,
    /// Class probabilities with only the hard rationale kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sufficiency_classification_scores: Option<LabelScores>,
    /// How many of the most important tokens must be removed to change the prediction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tokens_to_flip: Option<Num>,
    /// Class probabilities at each AOPC bin, for comprehensiveness and sufficiency AOPC.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thresholded_scores: Option<Vec<ThresholdedScores>>,
}

impl Prediction {
    /// Parses one results line (Python's `NaN`/`Infinity` accepted in numbers).
    pub fn parse(line: &str) -> Result<Self, serde_json::Error> {
        super::parse_lenient(line)
    }
}

/// Streams the non-blank lines of a results file in batches, with their 1-based line numbers.
pub(crate) struct ResultsReader {
    path: PathBuf,
    reader: Box<dyn BufRead + Send>,
    line_no: usize,
}

impl ResultsReader {
    pub(crate) fn open(path: &Path) -> Result<Self, CorpusError> {
        let file = std::fs::File::open(path).map_err(|e| CorpusError::io(path, e))?;
        Ok(ResultsReader {
            path: path.to_path_buf(),
            reader: Box::new(std::io::BufReader::with_capacity(1 << 20, file)),
            line_no: 0,
        })
    }

    /// Up to `max_bytes` worth of lines (at least one), or an empty batch at the end.
    pub(crate) fn next_batch(
        &mut self,
        max_bytes: usize,
    ) -> Result<Vec<(usize, String)>, CorpusError> {
        let mut batch = Vec::new();
        let mut bytes = 0;
        while bytes < max_bytes {
            let mut line = String::new();
            let n = self
                .reader
                .read_line(&mut line)
                .map_err(|e| CorpusError::Parse {
                    path: self.path.clone(),
                    line: self.line_no + 1,
                    message: format!("cannot read line: {e}"),
                })?;
            if n == 0 {
                break;
            }
            self.line_no += 1;
            bytes += n;
            if !line.trim().is_empty() {
                batch.push((self.line_no, line));
            }
        }
        Ok(batch)
    }
}

/// Reads a whole results file into annotation id (as text) → record. A malformed line is an
/// error naming the file and line; when an id repeats, the last record wins.
pub fn read_results(path: &Path) -> Result<HashMap<String, Prediction>, CorpusError> {
    let mut reader = ResultsReader::open(path)?;
    let mut out = HashMap::new();
    loop {
        let batch = reader.next_batch(4 << 20)?;
        if batch.is_empty() {
            return Ok(out);
        }
        for (line, text) in batch {
            let p = Prediction::parse(&text).map_err(|e| CorpusError::Parse {
                path: path.to_path_buf(),
                line,
                message: format!("not an ERASER results record: {e}"),
            })?;
            out.insert(p.annotation_id.as_text(), p);
        }
    }
}
