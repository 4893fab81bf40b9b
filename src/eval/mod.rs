//! One streaming pass over a results file: every problem found, and the ERASER scores.

mod aggregate;
mod gold;
mod line;
mod problems;

pub use aggregate::{Aopc, ClassificationScores, IouScore, MicroMacro, Prf, RankingMeans, Scores};
pub(crate) use gold::Gold;
pub(crate) use line::{Fields, KeyScore, LineScore};
pub use problems::{Problem, Severity};

use crate::corpus::{AnnotationId, CorpusError, DataDir, ResultsReader};
use rayon::prelude::*;
use std::collections::{HashMap, HashSet};
use std::path::Path;

/// What to do with a scored document whose truth has no positive unit, where AUPRC is 0/0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
pub enum NoGoldAuprc {
    /// NaN, which makes the dataset mean NaN (the reference with scikit-learn 0.20).
    #[default]
    Nan,
    /// 0.5, the trapezoid from (0, 1) to (1, 0) (scikit-learn ≥ 1.1).
    Half,
    /// Leave such documents out of the mean.
    Skip,
}

/// Options of a scoring run; the defaults are the reference scorer's.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreOptions {
    /// IOU thresholds for `iou_scores`: a predicted span matches a gold span when their IOU is
    /// at least the threshold (the reference's `--iou_thresholds`; default `[0.5]`).
    pub iou_thresholds: Vec<f64>,
    /// The AOPC bins: each line needs one `thresholded_scores` entry per bin, other entries are
    /// ignored (the reference's `--aopc_thresholds`; default `[0.01, 0.05, 0.1, 0.2, 0.5]`).
    pub aopc_thresholds: Vec<f64>,
    /// AUPRC of a document without gold units (default: NaN, as the reference).
    pub no_gold_auprc: NoGoldAuprc,
    /// Match predicted to gold spans one-to-one for IOU F1 (the reference lets several
    /// predicted spans match the same gold span).
    pub one_to_one_iou: bool,
    /// Require a classification on every line (the reference's `--strict`).
    pub strict: bool,
    /// Score classification over the annotations that have a prediction instead of failing.
    pub allow_missing: bool,
}

impl Default for ScoreOptions {
    fn default() -> Self {
        ScoreOptions {
            iou_thresholds: vec![0.5],
            aopc_thresholds: vec![0.01, 0.05, 0.1, 0.2, 0.5],
            no_gold_auprc: NoGoldAuprc::Nan,
            one_to_one_iou: false,
            strict: false,
            allow_missing: false,
        }
    }
}

/// Errors that make a run impossible (as opposed to problems in the results file).
#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    /// The dataset or the results file could not be read.
    #[error(transparent)]
    Corpus(#[from] CorpusError),
    /// The options cannot be scored with (the message says which and why).
    #[error("invalid options: {0}")]
    Options(String),
}

/// The outcome of a pass: problems, and scores when there was no error.
#[derive(Debug)]
pub struct Evaluation {
    /// Every problem found, in line order; problems of the whole file last.
    pub problems: Vec<Problem>,
    /// The scores; `None` when a problem is an error.
    pub scores: Option<Scores>,
    /// Every (annotation, document) key: predicted ones in file order, then gold-only ones.
    pub(crate) keys: Vec<KeyScore>,
    /// The parsed lines, in file order.
    pub(crate) lines: Vec<LineScore>,
    /// `(annotation, docid)` keys scored with `soft_rationale_predictions` whose truth has no
    /// positive token (AUPRC 0/0); empty when there are errors.
    pub no_gold_keys: Vec<(AnnotationId, String)>,
    /// The split's annotations.
    pub(crate) gold: Gold,
}

impl Evaluation {
    /// How many problems are errors.
    pub fn errors(&self) -> usize {
        self.problems.iter().filter(|p| p.is_error()).count()
    }

    /// How many problems are warnings.
    pub fn warnings(&self) -> usize {
        self.problems.len() - self.errors()
    }
}

/// Reads `results` against `data_dir`/`split`, checks every line and scores the file.
/// `progress` is called with the number of bytes read so far.
pub fn evaluate(
    data_dir: &Path,
    split: &str,
    results: &Path,
    options: &ScoreOptions,
    progress: &mut dyn FnMut(u64),
) -> Result<Evaluation, EvalError> {
    validate_options(options)?;
    let data = DataDir::new(data_dir);
    let annotations = data.annotations(split)?;
    let docs = data.documents()?;
    let gold = Gold::new(&annotations);
    drop(annotations);
    docs.prefetch(
        gold.annotations
            .iter()
            .flat_map(|a| a.docs.iter().map(|d| d.docid.as_str())),
    );
    let mut reader = ResultsReader::open(results)?;
    let ctx = line::LineContext {
        gold: &gold,
        docs: &docs,
        options,
    };
    let mut problems = Vec::new();
    let mut lines: Vec<LineScore> = Vec::new();
    let mut read = 0u64;
    loop {
        let batch = reader.next_batch(4 << 20)?;
        if batch.is_empty() {
            break;
        }
        read += batch.iter().map(|(_, l)| l.len() as u64).sum::<u64>();
        let outcomes: Vec<_> = batch
            .par_iter()
            .map(|(n, text)| line::score_line(&ctx, *n, text))
            .collect();
        for o in outcomes {
            problems.extend(o.problems);
            lines.extend(o.score);
        }
        progress(read);
    }
    problems.extend(check_across_lines(&gold, &lines, options));
    if let Some(p) = first_line_quirk(&lines) {
        problems.push(p);
    }
    for (id, n) in gold.duplicate_ids() {
        problems.push(Problem::warning(
            format!("the split lists annotation {id} {n} times; only the first is scored"),
            "deduplicate the annotation file",
        ));
    }
    problems.sort_by_key(|p| (p.line.is_none(), p.line));
    let mut keys: Vec<KeyScore> = lines.iter().flat_map(|l| l.keys.iter().cloned()).collect();
    keys.extend(unpredicted_gold_keys(&gold, &lines, options));
    let has_errors = problems.iter().any(Problem::is_error);
    let (scores, no_gold_keys) = if has_errors {
        (None, Vec::new())
    } else {
        let (s, ng) = aggregate::scores(&gold, &docs, &lines, &keys, options, &mut problems);
        (Some(s), ng)
    };
    Ok(Evaluation {
        problems,
        scores,
        keys,
        lines,
        no_gold_keys,
        gold,
    })
}

fn validate_options(o: &ScoreOptions) -> Result<(), EvalError> {
    if o.strict && o.iou_thresholds.is_empty() {
        return Err(EvalError::Options(
            "--strict needs at least one --iou-thresholds value".into(),
        ));
    }
    for &t in o.iou_thresholds.iter().chain(&o.aopc_thresholds) {
        if !t.is_finite() {
            return Err(EvalError::Options(format!(
                "threshold {t} is not a finite number"
            )));
        }
    }
    Ok(())
}

fn unpredicted_gold_keys(
    gold: &Gold,
    lines: &[LineScore],
    options: &ScoreOptions,
) -> Vec<KeyScore> {
    let predicted: HashSet<(usize, &str)> = lines
        .iter()
        .filter_map(|l| l.split_index.map(|i| (i, l)))
        .flat_map(|(i, l)| l.keys.iter().map(move |k| (i, k.docid.as_str())))
        .collect();
    gold.annotations
        .iter()
        .enumerate()
        .flat_map(|(i, a)| a.docs.iter().map(move |d| (i, a, d)))
        .filter(|(i, _, d)| !predicted.contains(&(*i, d.docid.as_str())))
        .map(|(_, a, d)| KeyScore::hard(a.id.clone(), &d.docid, None, &d.spans, &[], options))
        .collect()
}

/// Field presence, duplicate ids, threshold sets and missing predictions across lines.
fn check_across_lines(gold: &Gold, lines: &[LineScore], options: &ScoreOptions) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut first_line: HashMap<&AnnotationId, usize> = HashMap::new();
    for l in lines {
        if let Some(&first) = first_line.get(&l.annotation_id) {
            problems.push(
                Problem::error(
                    format!("duplicate annotation_id (first on line {first})"),
                    "give each annotation one line; merge its documents into one rationales list",
                )
                .at_line(l.line)
                .for_annotation(&l.annotation_id),
            );
        } else {
            first_line.insert(&l.annotation_id, l.line);
        }
    }
    let total = lines.len();
    type Has = fn(&Fields) -> bool;
    let fields: [(&str, Has); 7] = [
        ("classification", |f| f.classification),
        ("classification_scores", |f| f.classification_scores),
        ("soft_rationale_predictions", |f| f.soft),
        ("soft_sentence_predictions", |f| f.sentence),
        ("comprehensiveness_classification_scores", |f| {
            f.comprehensiveness
        }),
        ("sufficiency_classification_scores", |f| f.sufficiency),
        ("thresholded_scores", |f| f.thresholded),
    ];
    for (name, has) in fields {
        let with: Vec<usize> = lines
            .iter()
            .filter(|l| has(&l.fields))
            .map(|l| l.line)
            .collect();
        if !with.is_empty() && with.len() < total {
            let without: Vec<String> = lines
                .iter()
                .filter(|l| !has(&l.fields))
                .take(5)
                .map(|l| l.line.to_string())
                .collect();
            problems.push(Problem::error(
                format!(
                    "{name} is on {} of {total} lines (missing on lines {}{})",
                    with.len(),
                    without.join(", "),
                    if total - with.len() > 5 { ", …" } else { "" }
                ),
                "an optional field must be on every line or on none",
            ));
        }
    }
    if let Some(first) = lines.iter().find(|l| l.fields.thresholded) {
        for l in lines
            .iter()
            .filter(|l| l.fields.thresholded && l.thresholds != first.thresholds)
        {
            problems.push(
                Problem::error(
                    format!(
                        "thresholded_scores thresholds {:?} differ from line {}'s {:?}",
                        l.thresholds, first.line, first.thresholds
                    ),
                    "use the same AOPC thresholds on every line",
                )
                .at_line(l.line)
                .for_annotation(&l.annotation_id),
            );
        }
    }
    let classified = lines.iter().any(|l| l.fields.classification);
    if options.strict && !classified {
        problems.push(Problem::error(
            "--strict needs a classification on every line, and no line has one",
            "add classification and classification_scores, or drop --strict",
        ));
    }
    let mut predicted = vec![false; gold.annotations.len()];
    for l in lines {
        if let Some(i) = l.split_index {
            predicted[i] = true;
        }
    }
    let missing: Vec<String> = gold
        .annotations
        .iter()
        .zip(&predicted)
        .filter(|(_, p)| !**p)
        .map(|(a, _)| a.id.to_string())
        .collect();
    if !missing.is_empty() {
        let list = format!(
            "{} annotation(s) of the split have no results line: {}{}",
            missing.len(),
            missing
                .iter()
                .take(10)
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
            if missing.len() > 10 { ", …" } else { "" }
        );
        if classified && !options.allow_missing {
            problems.push(Problem::error(
                list,
                "predict every annotation, or pass --allow-missing to score classification over the predicted ones",
            ));
        } else {
            problems.push(Problem::warning(
                list,
                "their gold rationales count as missed (recall 0), as in the reference",
            ));
        }
    }
    problems
}

/// The reference decides which metric families to compute from line 1 alone.
fn first_line_quirk(lines: &[LineScore]) -> Option<Problem> {
    let first = lines.first()?;
    let any_hard = lines.iter().any(|l| l.fields.hard);
    (any_hard && !first.fields.hard_in_first_rationale).then(|| {
        Problem::warning(
            "the first line's first rationale has no hard spans, so the reference scorer would skip iou_scores, token_prf and rationale_prf for this file; rationale scores them",
            "",
        )
        .at_line(first.line)
    })
}
