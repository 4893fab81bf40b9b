//! Model inputs from an ERASER split: the documents of each annotation, as dataset tokens.

use super::{ModelError, Result};
use crate::corpus::{Annotation, AnnotationId, DataDir, DocStore};
use std::collections::HashSet;

/// One classification input: the concatenated dataset tokens of an annotation's documents.
#[derive(Debug, Clone, PartialEq)]
pub struct Example {
    /// The annotation id.
    pub annotation_id: AnnotationId,
    /// The gold label.
    pub label: String,
    /// Each document with the range of `words` it occupies.
    pub docs: Vec<(String, usize, usize)>,
    /// The dataset tokens of all documents, in order (ERASER offsets within each document are
    /// `index - start`).
    pub words: Vec<String>,
    /// Gold rationale tokens (union of all evidence groups), as indices into `words`.
    pub gold: Vec<usize>,
    /// Each evidence group's tokens (one group per annotator in converted HateXplain), sorted
    /// indices into `words`.
    pub groups: Vec<Vec<usize>>,
}

/// The examples of one split.
#[derive(Debug, Clone)]
pub struct ExampleSet {
    /// The examples, in file order.
    pub examples: Vec<Example>,
}

/// The documents an annotation's input is made of: `docids`, else the evidence documents in
/// order of first mention, else the annotation id itself (Movies, BoolQ style).
pub fn input_docids(ann: &Annotation) -> Vec<String> {
    if let Some(d) = &ann.docids {
        if !d.is_empty() {
            return d.clone();
        }
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for ev in ann.all_evidence() {
        if seen.insert(ev.docid.clone()) {
            out.push(ev.docid.clone());
        }
    }
    if out.is_empty() {
        out.push(ann.annotation_id.as_text());
    }
    out
}

impl ExampleSet {
    /// Keeps a seeded random sample of `n` examples (not the first `n`: ERASER files are often
    /// sorted by label).
    pub fn sample(&mut self, n: usize, seed: u64) {
        use rand::seq::SliceRandom;
        use rand::SeedableRng;
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        self.examples.shuffle(&mut rng);
        self.examples.truncate(n);
    }

    /// Reads `<data_dir>/<split>.jsonl` and the documents it refers to. A missing document is
    /// an error naming the annotation.
    pub fn load(data_dir: &DataDir, split: &str) -> Result<Self> {
        let anns = data_dir.annotations(split)?;
        let store = data_dir.documents()?;
        Self::from_annotations(&anns, &store)
    }

    /// Builds examples from annotations and an open document store.
    pub fn from_annotations(anns: &[Annotation], store: &DocStore) -> Result<Self> {
        let mut examples = Vec::with_capacity(anns.len());
        for ann in anns {
            let mut words = Vec::new();
            let mut docs = Vec::new();
            for docid in input_docids(ann) {
                let doc = store.document(&docid).map_err(|e| {
                    ModelError::Data(format!(
                        "annotation {}: document {} {e}",
                        ann.annotation_id,
                        store.describe(&docid)
                    ))
                })?;
                let start = words.len();
                words.extend(doc.tokens().map(str::to_owned));
                docs.push((docid, start, words.len()));
            }
            let mut gold = HashSet::new();
            let mut groups = Vec::with_capacity(ann.evidences.len());
            for group in &ann.evidences {
                let mut marked = HashSet::new();
                for ev in group {
                    if let Some((_, s, e)) = docs.iter().find(|(d, _, _)| *d == ev.docid) {
                        let (a, b) = (ev.start_token.max(0) as usize, ev.end_token.max(0) as usize);
                        marked.extend((s + a).min(*e)..(s + b).min(*e));
                    }
                }
                gold.extend(marked.iter().copied());
                let mut marked: Vec<usize> = marked.into_iter().collect();
                marked.sort_unstable();
                groups.push(marked);
            }
            let mut gold: Vec<usize> = gold.into_iter().collect();
            gold.sort_unstable();
            examples.push(Example {
                annotation_id: ann.annotation_id.clone(),
                label: ann.classification.clone(),
                docs,
                words,
                gold,
                groups,
            });
        }
        Ok(ExampleSet { examples })
    }

    /// Sorted distinct gold labels.
    pub fn labels(&self) -> Vec<String> {
        let mut l: Vec<String> = self.examples.iter().map(|e| e.label.clone()).collect();
        l.sort();
        l.dedup();
        l
    }

    /// Mean number of gold rationale tokens per example (ERASER's k_d), 0 for no examples.
    pub fn mean_rationale_length(&self) -> f64 {
        if self.examples.is_empty() {
            return 0.0;
        }
        self.examples
            .iter()
            .map(|e| e.gold.len() as f64)
            .sum::<f64>()
            / self.examples.len() as f64
    }
}
