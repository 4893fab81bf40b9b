//! The human rationales of a split, indexed for scoring.

use crate::corpus::{Annotation, AnnotationId};
use crate::metrics::spans::{distinct, Span};
use std::collections::HashMap;

/// Gold evidence of one annotation in one document.
#[derive(Debug, Clone)]
pub(crate) struct GoldDoc {
    pub docid: String,
    /// Distinct token spans over all evidence groups (the reference keeps them in a set).
    pub spans: Vec<Span>,
    /// Every evidence's token span, in order (truth vectors replay them with Python indexing).
    pub token_ranges: Vec<Span>,
    /// Every evidence's sentence span.
    pub sentence_ranges: Vec<Span>,
}

/// One annotation of the split.
#[derive(Debug, Clone)]
pub(crate) struct GoldAnnotation {
    pub id: AnnotationId,
    pub label: usize,
    /// Documents with evidence, in order of first appearance.
    pub docs: Vec<GoldDoc>,
}

impl GoldAnnotation {
    pub(crate) fn doc(&self, docid: &str) -> Option<&GoldDoc> {
        self.docs.iter().find(|d| d.docid == docid)
    }
}

/// All annotations of a split, their labels and an id index.
#[derive(Debug, Clone)]
pub(crate) struct Gold {
    pub annotations: Vec<GoldAnnotation>,
    /// Gold labels, sorted.
    pub labels: Vec<String>,
    index: HashMap<AnnotationId, usize>,
}

impl Gold {
    pub(crate) fn new(annotations: &[Annotation]) -> Self {
        let mut labels: Vec<String> = annotations
            .iter()
            .map(|a| a.classification.clone())
            .collect();
        labels.sort();
        labels.dedup();
        let mut index = HashMap::with_capacity(annotations.len());
        let annotations: Vec<GoldAnnotation> = annotations
            .iter()
            .enumerate()
            .map(|(i, a)| {
                index.entry(a.annotation_id.clone()).or_insert(i);
                let mut docs: Vec<GoldDoc> = Vec::new();
                for ev in a.all_evidence() {
                    let pos = match docs.iter().position(|d| d.docid == ev.docid) {
                        Some(p) => p,
                        None => {
                            docs.push(GoldDoc {
                                docid: ev.docid.clone(),
                                spans: Vec::new(),
                                token_ranges: Vec::new(),
                                sentence_ranges: Vec::new(),
                            });
                            docs.len() - 1
                        }
                    };
                    let d = &mut docs[pos];
                    d.spans.push((ev.start_token, ev.end_token));
                    d.token_ranges.push((ev.start_token, ev.end_token));
                    d.sentence_ranges.push((ev.start_sentence, ev.end_sentence));
                }
                for d in &mut docs {
                    d.spans = distinct(d.spans.drain(..));
                }
                GoldAnnotation {
                    id: a.annotation_id.clone(),
                    label: labels
                        .binary_search(&a.classification)
                        .expect("label collected"),
                    docs,
                }
            })
            .collect();
        Gold {
            annotations,
            labels,
            index,
        }
    }

    /// Index of an annotation id (exact JSON scalar match).
    pub(crate) fn find(&self, id: &AnnotationId) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// The gold label of an annotation of the split.
    pub(crate) fn label_of(&self, id: &AnnotationId) -> Option<&str> {
        self.find(id)
            .map(|i| self.labels[self.annotations[i].label].as_str())
    }

    /// Ids that occur more than once in the split, with their count.
    pub(crate) fn duplicate_ids(&self) -> Vec<(AnnotationId, usize)> {
        let mut counts: HashMap<&AnnotationId, usize> = HashMap::new();
        for a in &self.annotations {
            *counts.entry(&a.id).or_default() += 1;
        }
        let mut d: Vec<_> = counts
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .map(|(id, n)| (id.clone(), n))
            .collect();
        d.sort();
        d
    }
}

/// A truth vector of `len` units marked by `ranges` with Python list indexing (negative
/// indices count from the end). Returns the first range that falls outside, as an error.
pub(crate) fn truth_vector(len: usize, ranges: &[Span]) -> Result<Vec<bool>, Span> {
    let mut truth = vec![false; len];
    let n = len as i64;
    for &(s, e) in ranges {
        for t in s..e {
            let i = if t < 0 { t + n } else { t };
            if i < 0 || i >= n {
                return Err((s, e));
            }
            truth[i as usize] = true;
        }
    }
    Ok(truth)
}
