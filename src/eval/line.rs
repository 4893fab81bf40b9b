//! Checking and scoring one results line against the gold data (runs in parallel).

use super::gold::{truth_vector, Gold};
use super::problems::Problem;
use super::ScoreOptions;
use crate::corpus::{
    AnnotationId, DocStore, DocUnavailable, LabelScores, Prediction, RationalePrediction,
};
use crate::metrics::faithfulness::{entropy, kl_divergence};
use crate::metrics::ranking::{rank, Ranking};
use crate::metrics::spans::{
    best_iou, distinct, exact_matches, interval_overlap, interval_tokens, one_to_one_matches,
    token_intervals, Span,
};

/// Hard and soft scores of one (annotation, document) key.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct KeyScore {
    pub annotation_id: AnnotationId,
    pub docid: String,
    /// Results line that predicted this key; `None` for gold keys without a prediction.
    pub line: Option<usize>,
    pub gold_spans: u64,
    pub pred_spans: u64,
    pub exact_spans: u64,
    pub gold_tokens: u64,
    pub pred_tokens: u64,
    pub overlap_tokens: u64,
    /// Predicted spans matching gold at each IOU threshold.
    pub iou_matches: Vec<u64>,
    pub token_ranking: Option<Ranking>,
    pub sentence_ranking: Option<Ranking>,
}

impl KeyScore {
    /// Scores hard spans of a key (gold spans distinct; predicted spans distinct).
    pub(crate) fn hard(
        annotation_id: AnnotationId,
        docid: &str,
        line: Option<usize>,
        gold: &[Span],
        pred: &[Span],
        options: &ScoreOptions,
    ) -> Self {
        let (gi, pi) = (token_intervals(gold), token_intervals(pred));
        let iou_matches = options
            .iou_thresholds
            .iter()
            .map(|&th| {
                if options.one_to_one_iou {
                    one_to_one_matches(pred, gold, th)
                } else {
                    pred.iter().filter(|&&p| best_iou(p, gold) >= th).count() as u64
                }
            })
            .collect();
        KeyScore {
            annotation_id,
            docid: docid.to_owned(),
            line,
            gold_spans: gold.len() as u64,
            pred_spans: pred.len() as u64,
            exact_spans: exact_matches(pred, gold),
            gold_tokens: interval_tokens(&gi),
            pred_tokens: interval_tokens(&pi),
            overlap_tokens: interval_overlap(&gi, &pi),
            iou_matches,
            token_ranking: None,
            sentence_ranking: None,
        }
    }
}

/// Which optional fields a line carries (each must be on all lines or none).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Fields {
    pub hard: bool,
    /// The first rationale entry has hard spans (the reference looks only there, on line 1).
    pub hard_in_first_rationale: bool,
    pub soft: bool,
    pub sentence: bool,
    pub classification: bool,
    pub classification_scores: bool,
    pub comprehensiveness: bool,
    pub sufficiency: bool,
    pub thresholded: bool,
    pub tokens_to_flip: bool,
}

/// Faithfulness of one line (each part present when its inputs are).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Faithfulness {
    pub comprehensiveness: Option<f64>,
    pub sufficiency: Option<f64>,
    pub comprehensiveness_entropy: Option<f64>,
    pub sufficiency_entropy: Option<f64>,
    pub comprehensiveness_kl: Option<f64>,
    pub sufficiency_kl: Option<f64>,
    /// Per AOPC bin (sorted by threshold): full − comprehensiveness score of the predicted class.
    pub aopc_comprehensiveness: Option<Vec<f64>>,
    pub aopc_sufficiency: Option<Vec<f64>>,
}

/// Everything one results line contributes.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct LineScore {
    pub line: usize,
    pub annotation_id: AnnotationId,
    /// Index of the annotation in the split, if it is there.
    pub split_index: Option<usize>,
    pub fields: Fields,
    /// Distinct `thresholded_scores` thresholds, sorted.
    pub thresholds: Vec<f64>,
    pub classification: Option<String>,
    pub faithfulness: Faithfulness,
    pub tokens_to_flip: Option<f64>,
    pub keys: Vec<KeyScore>,
}

/// What a line yields: its scores (unless unparseable) and its problems.
pub(crate) struct LineOutcome {
    pub score: Option<LineScore>,
    pub problems: Vec<Problem>,
}

/// Shared read-only state for scoring lines.
pub(crate) struct LineContext<'a> {
    pub gold: &'a Gold,
    pub docs: &'a DocStore,
    pub options: &'a ScoreOptions,
}

struct Reporter<'a> {
    line: usize,
    id: String,
    problems: &'a mut Vec<Problem>,
}

impl Reporter<'_> {
    fn error(&mut self, doc: Option<&str>, what: String, fix: &str) {
        self.push(Problem::error(what, fix), doc);
    }
    fn warn(&mut self, doc: Option<&str>, what: String, fix: &str) {
        self.push(Problem::warning(what, fix), doc);
    }
    fn push(&mut self, p: Problem, doc: Option<&str>) {
        let mut p = p.at_line(self.line).for_annotation(&self.id);
        if let Some(d) = doc {
            p = p.for_doc(d);
        }
        self.problems.push(p);
    }
}

/// Rationale entries grouped by docid (first appearance order): hard spans merged, the last
/// soft scores kept — what the reference does with a docid repeated in one line.
struct DocEntry<'p> {
    docid: &'p str,
    entries: Vec<&'p RationalePrediction>,
}

fn group_by_doc(rationales: &[RationalePrediction]) -> Vec<DocEntry<'_>> {
    let mut out: Vec<DocEntry> = Vec::new();
    for r in rationales {
        match out.iter_mut().find(|d| d.docid == r.docid) {
            Some(d) => d.entries.push(r),
            None => out.push(DocEntry {
                docid: &r.docid,
                entries: vec![r],
            }),
        }
    }
    out
}

fn fmt_spans(spans: &[Span]) -> String {
    spans
        .iter()
        .map(|(s, e)| format!("[{s}, {e})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Parses, checks and scores one line.
pub(crate) fn score_line(ctx: &LineContext, line_no: usize, text: &str) -> LineOutcome {
    let mut problems = Vec::new();
    let pred = match Prediction::parse(text) {
        Ok(p) => p,
        Err(e) => {
            problems.push(
                Problem::error(
                    format!("not a valid ERASER results record: {e}"),
                    "each line must be one JSON object with annotation_id and rationales",
                )
                .at_line(line_no),
            );
            return LineOutcome {
                score: None,
                problems,
            };
        }
    };
    let id_text = pred.annotation_id.to_string();
    let mut rep = Reporter {
        line: line_no,
        id: id_text,
        problems: &mut problems,
    };
    let split_index = ctx.gold.find(&pred.annotation_id);
    if split_index.is_none() {
        let other = match &pred.annotation_id {
            AnnotationId::Str(s) => s.parse::<i64>().ok().map(AnnotationId::Int),
            AnnotationId::Int(i) => Some(AnnotationId::Str(i.to_string())),
        };
        match other.filter(|o| ctx.gold.find(o).is_some()) {
            Some(o) => rep.warn(
                None,
                format!("not in the split, but {o} is: ids are compared as JSON values, string and integer differ"),
                &format!("write the id as {o} if this line is meant for that annotation"),
            ),
            None => rep.warn(
                None,
                "is not in the split; its rationales are scored as false positives, as the reference does".into(),
                "drop the line or score against the split that contains it",
            ),
        }
    }
    let gold_ann = split_index.map(|i| &ctx.gold.annotations[i]);

    let mut fields = Fields {
        hard_in_first_rationale: pred
            .rationales
            .first()
            .and_then(|r| r.hard_rationale_predictions.as_ref())
            .is_some_and(|h| !h.is_empty()),
        ..Fields::default()
    };
    let mut keys = Vec::new();
    let groups = group_by_doc(&pred.rationales);
    let n_soft = pred
        .rationales
        .iter()
        .filter(|r| r.soft_rationale_predictions.is_some())
        .count();
    let n_sent = pred
        .rationales
        .iter()
        .filter(|r| r.soft_sentence_predictions.is_some())
        .count();
    fields.soft = n_soft > 0;
    fields.sentence = n_sent > 0;
    for (n, what) in [
        (n_soft, "soft_rationale_predictions"),
        (n_sent, "soft_sentence_predictions"),
    ] {
        if n > 0 && n < pred.rationales.len() {
            rep.error(
                None,
                format!(
                    "{what} given for {n} of {} documents",
                    pred.rationales.len()
                ),
                "give them for every document of the line or for none",
            );
        }
    }

    for group in &groups {
        let docid = group.docid;
        let d = Some(docid);
        if group.entries.len() > 1 {
            rep.warn(
                d,
                format!("appears {} times in one line; hard spans are merged and the last soft scores win, as in the reference", group.entries.len()),
                "give each document once per line",
            );
        }
        let shape = match ctx.docs.shape(docid) {
            Ok(s) => Some(s),
            Err(DocUnavailable::Missing) => {
                rep.error(
                    d,
                    format!("unknown docid: {} does not exist", ctx.docs.describe(docid)),
                    "use a docid of the data directory's documents",
                );
                None
            }
            Err(DocUnavailable::Unreadable(why)) => {
                rep.error(
                    d,
                    format!("document cannot be read: {why}"),
                    "fix the document file",
                );
                None
            }
        };
        let mut pred_spans: Vec<Span> = Vec::new();
        for entry in &group.entries {
            let spans: Vec<Span> = entry
                .hard_rationale_predictions
                .iter()
                .flatten()
                .map(|h| (h.start_token, h.end_token))
                .collect();
            fields.hard |= !spans.is_empty();
            check_spans(&mut rep, docid, &spans, shape.map(|s| s.tokens));
            pred_spans.extend(spans);
        }
        let pred_spans = distinct(pred_spans);
        let gold_doc = gold_ann.and_then(|a| a.doc(docid));
        let gold_spans: &[Span] = gold_doc.map(|g| g.spans.as_slice()).unwrap_or(&[]);
        let mut key = KeyScore::hard(
            pred.annotation_id.clone(),
            docid,
            Some(line_no),
            gold_spans,
            &pred_spans,
            ctx.options,
        );
        let Some(shape) = shape else {
            keys.push(key);
            continue;
        };
        let last = group.entries.last().expect("group has an entry");
        if let Some(soft) = &last.soft_rationale_predictions {
            let ranges = gold_doc.map(|g| g.token_ranges.as_slice()).unwrap_or(&[]);
            key.token_ranking = rank_scores(
                &mut rep,
                docid,
                "soft_rationale_predictions",
                "tokens",
                soft,
                shape.tokens,
                ranges,
            );
        }
        if let Some(soft) = &last.soft_sentence_predictions {
            let ranges = gold_doc
                .map(|g| g.sentence_ranges.as_slice())
                .unwrap_or(&[]);
            key.sentence_ranking = rank_scores(
                &mut rep,
                docid,
                "soft_sentence_predictions",
                "sentences",
                soft,
                shape.sentences,
                ranges,
            );
        }
        keys.push(key);
    }

    let faithfulness =
        check_classification(ctx, &mut rep, &pred, split_index.is_some(), &mut fields);
    let thresholds = {
        let mut t: Vec<f64> = pred
            .thresholded_scores
            .iter()
            .flatten()
            .map(|t| t.threshold)
            .collect();
        t.sort_by(f64::total_cmp);
        t.dedup();
        t
    };
    fields.tokens_to_flip = pred.tokens_to_flip.is_some();
    let score = LineScore {
        line: line_no,
        annotation_id: pred.annotation_id,
        split_index,
        fields,
        thresholds,
        classification: pred.classification,
        faithfulness,
        tokens_to_flip: pred.tokens_to_flip.map(|t| t.0),
        keys,
    };
    LineOutcome {
        score: Some(score),
        problems,
    }
}

fn check_spans(rep: &mut Reporter, docid: &str, spans: &[Span], doc_len: Option<usize>) {
    let d = Some(docid);
    for &(s, e) in spans {
        if let Some(n) = doc_len {
            if s > n as i64 || e > n as i64 {
                rep.error(
                    d,
                    format!("span [{s}, {e}) lies outside the document's {n} tokens"),
                    "token offsets index the document flattened across sentences, end exclusive",
                );
            }
        }
        if s < 0 || e < 0 {
            rep.warn(
                d,
                format!("span [{s}, {e}) has a negative offset; it matches no gold token"),
                "offsets start at 0",
            );
        } else if e <= s {
            rep.warn(
                d,
                format!(
                    "span [{s}, {e}) is empty; it counts as a predicted span that matches nothing"
                ),
                "drop empty spans",
            );
        }
    }
    // Overlaps between distinct spans (identical spans are merged, as the reference does).
    let mut sorted: Vec<Span> = distinct(spans.iter().copied().filter(|(s, e)| e > s));
    sorted.sort_unstable();
    let mut widest: Option<Span> = None;
    for &span in &sorted {
        if let Some(w) = widest {
            if span.0 < w.1 {
                rep.error(
                    d,
                    format!("spans {} overlap", fmt_spans(&[w, span])),
                    "hard_rationale_predictions of one document must be disjoint: merge overlapping spans",
                );
            }
        }
        if widest.is_none_or(|w| span.1 > w.1) {
            widest = Some(span);
        }
    }
}

fn rank_scores(
    rep: &mut Reporter,
    docid: &str,
    field: &str,
    unit: &str,
    scores: &[crate::corpus::Num],
    len: usize,
    gold: &[Span],
) -> Option<Ranking> {
    let d = Some(docid);
    if scores.len() != len {
        rep.error(
            d,
            format!(
                "{field} has {} values but the document has {len} {unit}",
                scores.len()
            ),
            &format!("give one score per {}", unit.trim_end_matches('s')),
        );
        return None;
    }
    if let Some(i) = scores.iter().position(|s| !s.0.is_finite()) {
        rep.error(
            d,
            format!("{field}[{i}] is {}", scores[i].0),
            "scores must be finite numbers",
        );
        return None;
    }
    let truth = match truth_vector(len, gold) {
        Ok(t) => t,
        Err((s, e)) => {
            rep.error(
                d,
                format!("gold evidence {unit} [{s}, {e}) lies outside the document's {len} {unit}"),
                "the dataset's annotation does not fit its document; fix the annotation file",
            );
            return None;
        }
    };
    let values: Vec<f64> = scores.iter().map(|s| s.0).collect();
    Some(rank(&truth, &values))
}

fn check_distribution(rep: &mut Reporter, field: &str, scores: &LabelScores) {
    if let Some((label, p)) = scores.0.iter().find(|(_, p)| !p.is_finite() || *p < 0.0) {
        rep.warn(
            None,
            format!("{field}[{label:?}] is {p}"),
            "probabilities must be finite and non-negative",
        );
        return;
    }
    let sum: f64 = scores.values().sum();
    if (sum - 1.0).abs() > 1e-3 {
        rep.warn(
            None,
            format!("{field} sums to {sum}, not 1; entropy and KL normalise it, the other metrics use it as given"),
            "write normalised probabilities (softmax outputs)",
        );
    }
}

fn predicted_score(
    rep: &mut Reporter,
    field: &str,
    scores: &LabelScores,
    label: &str,
) -> Option<f64> {
    let p = scores.get(label);
    if p.is_none() {
        rep.error(
            None,
            format!("{field} has no entry for the predicted class {label:?}"),
            "give a probability for every label",
        );
    }
    p
}

fn check_classification(
    ctx: &LineContext,
    rep: &mut Reporter,
    pred: &Prediction,
    in_split: bool,
    fields: &mut Fields,
) -> Faithfulness {
    let mut out = Faithfulness::default();
    fields.classification = pred.classification.is_some();
    fields.classification_scores = pred.classification_scores.is_some();
    fields.comprehensiveness = pred.comprehensiveness_classification_scores.is_some();
    fields.sufficiency = pred.sufficiency_classification_scores.is_some();
    fields.thresholded = pred.thresholded_scores.is_some();
    if fields.classification != fields.classification_scores {
        rep.error(
            None,
            "has only one of classification and classification_scores".into(),
            "give both or neither",
        );
    }
    if fields.comprehensiveness && !fields.classification {
        rep.error(
            None,
            "has comprehensiveness_classification_scores without a classification".into(),
            "add classification and classification_scores",
        );
    }
    if fields.sufficiency && !fields.classification_scores {
        rep.error(
            None,
            "has sufficiency_classification_scores without classification_scores".into(),
            "add classification and classification_scores",
        );
    }
    if fields.thresholded
        && !(fields.classification
            && fields.classification_scores
            && fields.comprehensiveness
            && fields.sufficiency)
    {
        rep.error(
            None,
            "has thresholded_scores but lacks classification, classification_scores, comprehensiveness_classification_scores or sufficiency_classification_scores".into(),
            "AOPC needs all four fields",
        );
    }
    let named = [
        ("classification_scores", &pred.classification_scores),
        (
            "comprehensiveness_classification_scores",
            &pred.comprehensiveness_classification_scores,
        ),
        (
            "sufficiency_classification_scores",
            &pred.sufficiency_classification_scores,
        ),
    ];
    for (field, scores) in named {
        if let Some(s) = scores {
            check_distribution(rep, field, s);
        }
    }
    if let (Some(label), true) = (&pred.classification, in_split) {
        if ctx.gold.labels.binary_search(label).is_err() {
            rep.error(
                None,
                format!(
                    "predicted class {label:?} is not a label of the split (labels: {:?})",
                    ctx.gold.labels
                ),
                "labels are compared as exact strings",
            );
        }
    }
    let (Some(label), Some(full)) = (&pred.classification, &pred.classification_scores) else {
        return out;
    };
    let Some(p_full) = predicted_score(rep, "classification_scores", full, label) else {
        return out;
    };
    let full_values: Vec<f64> = full.values().collect();
    let variants = [
        (
            "comprehensiveness_classification_scores",
            &pred.comprehensiveness_classification_scores,
        ),
        (
            "sufficiency_classification_scores",
            &pred.sufficiency_classification_scores,
        ),
    ];
    for (i, (field, scores)) in variants.into_iter().enumerate() {
        let Some(scores) = scores else { continue };
        let Some(p) = predicted_score(rep, field, scores, label) else {
            continue;
        };
        let delta = Some(p_full - p);
        let ent = Some(entropy(&full_values) - entropy(&scores.values().collect::<Vec<_>>()));
        // KL(scores ‖ full) in the label order of classification_scores.
        let aligned: Option<Vec<f64>> = full.0.iter().map(|(l, _)| scores.get(l)).collect();
        let kl = match aligned {
            Some(a) => Some(kl_divergence(&a, &full_values)),
            None => {
                rep.error(
                    None,
                    format!("{field} lacks a label that classification_scores has"),
                    "give the same labels in every distribution",
                );
                None
            }
        };
        if i == 0 {
            (
                out.comprehensiveness,
                out.comprehensiveness_entropy,
                out.comprehensiveness_kl,
            ) = (delta, ent, kl);
        } else {
            (out.sufficiency, out.sufficiency_entropy, out.sufficiency_kl) = (delta, ent, kl);
        }
    }
    if let Some(entries) = &pred.thresholded_scores {
        let bins = &ctx.options.aopc_thresholds;
        let mut chosen: Vec<_> = entries
            .iter()
            .filter(|t| bins.contains(&t.threshold))
            .collect();
        chosen.sort_by(|a, b| a.threshold.total_cmp(&b.threshold));
        if chosen.len() != bins.len() {
            let have: Vec<f64> = entries.iter().map(|t| t.threshold).collect();
            rep.error(
                None,
                format!("thresholded_scores has thresholds {have:?}; exactly one entry for each AOPC bin {bins:?} is needed, {} match", chosen.len()),
                "pass --aopc-thresholds with the thresholds the file has, or rerun the model at the missing bins",
            );
            return out;
        }
        let mut comp = Vec::with_capacity(bins.len());
        let mut suff = Vec::with_capacity(bins.len());
        for t in chosen {
            let c = t.comprehensiveness_classification_scores.as_ref();
            let s = t.sufficiency_classification_scores.as_ref();
            let field_c = format!(
                "thresholded_scores (threshold {}) comprehensiveness_classification_scores",
                t.threshold
            );
            let field_s = format!(
                "thresholded_scores (threshold {}) sufficiency_classification_scores",
                t.threshold
            );
            match (c, s) {
                (Some(c), Some(s)) => {
                    match (
                        predicted_score(rep, &field_c, c, label),
                        predicted_score(rep, &field_s, s, label),
                    ) {
                        (Some(c), Some(s)) => {
                            comp.push(p_full - c);
                            suff.push(p_full - s);
                        }
                        _ => return out,
                    }
                }
                _ => {
                    rep.error(None, format!("thresholded_scores entry at threshold {} lacks comprehensiveness or sufficiency scores", t.threshold), "give both at every threshold");
                    return out;
                }
            }
        }
        out.aopc_comprehensiveness = Some(comp);
        out.aopc_sufficiency = Some(suff);
    }
    out
}
