//! ERASER results from a trained model: run an explanation method (or a selective
//! rationalizer's generator) over a split, measure faithfulness on the model, and build one
//! results record per annotation, ready for [`crate::eval::evaluate`].

use super::faithfulness::{measure, Faithfulness, AOPC_THRESHOLDS};
use super::{explain as explain_one, ExplainConfig, ExplainError, Method, Result};
use crate::corpus::mask::{hard_spans, top_k};
use crate::corpus::{
    read_results, DataDir, LabelScores, Num, Prediction, RationalePrediction, ThresholdedScores,
};
use crate::models::argmax;
use crate::models::{load_text_model, Example, ExampleSet};
use crate::progress::{Event, Observer};
use crate::select::train::word_sentences;
use crate::select::SelectModel;
use std::path::{Path, PathBuf};

/// One explanation job over a split.
#[derive(Debug, Clone)]
pub struct ExplainJob {
    /// A checkpoint directory, or a training output directory (its `best/` is used).
    pub model: PathBuf,
    /// ERASER data directory.
    pub data_dir: PathBuf,
    /// Split to explain.
    pub split: String,
    /// Method and its options (`Method::Select` runs a selective rationalizer's generator).
    pub config: ExplainConfig,
    /// Measure the rationales of this results file instead of running a method.
    pub rationales_from: Option<PathBuf>,
    /// Hard rationale size in tokens (default: mean human rationale length of `k_split`).
    pub k: Option<usize>,
    /// Split whose mean human rationale length sets k (falls back to `split` if missing).
    pub k_split: String,
    /// AOPC bins.
    pub thresholds: Vec<f64>,
    /// Only the first N annotations.
    pub limit: Option<usize>,
}

impl ExplainJob {
    /// A job with the CLI's defaults: top-k from the train split, ERASER's AOPC bins.
    pub fn new(model: &Path, data_dir: &Path, split: &str, config: ExplainConfig) -> Self {
        ExplainJob {
            model: model.to_path_buf(),
            data_dir: data_dir.to_path_buf(),
            split: split.into(),
            config,
            rationales_from: None,
            k: None,
            k_split: "train".into(),
            thresholds: AOPC_THRESHOLDS.to_vec(),
            limit: None,
        }
    }
}

/// What a job produced.
#[derive(Debug, Clone)]
pub struct ExplainOutput {
    /// One results record per annotation, in split order.
    pub predictions: Vec<Prediction>,
    /// Hard rationale size used (post-hoc methods), if fixed.
    pub k: Option<usize>,
    /// Share of dataset tokens selected.
    pub selection_rate: f64,
}

/// A checkpoint directory: `p/best` when `p` is a training output directory, else `p`.
pub fn model_dir(p: &Path) -> PathBuf {
    if p.join("best").join("config.json").is_file() {
        p.join("best")
    } else {
        p.to_path_buf()
    }
}

fn label_scores(labels: &[String], p: &[f32]) -> LabelScores {
    LabelScores(
        labels
            .iter()
            .cloned()
            .zip(p.iter().map(|v| *v as f64))
            .collect(),
    )
}

/// The ERASER results record of one example: hard spans from `rationale` (and soft scores,
/// when given) per document, the predicted class and the faithfulness measured on the model.
pub fn eraser_record(
    ex: &Example,
    rationale: &[bool],
    soft: Option<&[f32]>,
    labels: &[String],
    target: usize,
    f: &Faithfulness,
) -> Prediction {
    let rationales = ex
        .docs
        .iter()
        .map(|(docid, s, e)| RationalePrediction {
            docid: docid.clone(),
            hard_rationale_predictions: Some(hard_spans(&rationale[*s..*e])),
            soft_rationale_predictions: soft
                .map(|v| v[*s..*e].iter().map(|x| Num(*x as f64)).collect()),
            soft_sentence_predictions: None,
        })
        .collect();
    Prediction {
        annotation_id: ex.annotation_id.clone(),
        rationales,
        classification: Some(labels[target].clone()),
        classification_scores: Some(label_scores(labels, &f.full)),
        comprehensiveness_classification_scores: Some(label_scores(labels, &f.comprehensiveness)),
        sufficiency_classification_scores: Some(label_scores(labels, &f.sufficiency)),
        tokens_to_flip: None,
        thresholded_scores: Some(
            f.thresholded
                .iter()
                .map(|(t, d, k)| ThresholdedScores {
                    threshold: *t,
                    comprehensiveness_classification_scores: Some(label_scores(labels, d)),
                    sufficiency_classification_scores: Some(label_scores(labels, k)),
                })
                .collect(),
        ),
    }
}

/// Per-word scores from an existing prediction: soft scores where given, else 1 on hard spans.
fn scores_from(pred: &Prediction, ex: &Example) -> Result<(Vec<f32>, bool)> {
    let mut scores = vec![0f32; ex.words.len()];
    let mut soft = true;
    for (docid, s, e) in &ex.docs {
        let Some(r) = pred.rationales.iter().find(|r| r.docid == *docid) else {
            continue;
        };
        match (&r.soft_rationale_predictions, &r.hard_rationale_predictions) {
            (Some(v), _) => {
                if v.len() != e - s {
                    return Err(ExplainError::input(
                        &ex.annotation_id,
                        format!(
                            "{} soft scores for document {docid} of {} tokens",
                            v.len(),
                            e - s
                        ),
                    ));
                }
                for (i, x) in v.iter().enumerate() {
                    if !x.0.is_finite() {
                        return Err(ExplainError::input(
                            &ex.annotation_id,
                            format!(
                                "document {docid}: soft score {i} is {}; \
                                 scores must be finite numbers",
                                x.0
                            ),
                        ));
                    }
                    scores[s + i] = x.0 as f32;
                }
            }
            (None, Some(h)) => {
                soft = false;
                for sp in h {
                    for t in
                        sp.start_token.max(0) as usize..(sp.end_token.max(0) as usize).min(e - s)
                    {
                        scores[s + t] = 1.0;
                    }
                }
            }
            (None, None) => {}
        }
    }
    Ok((scores, soft))
}

fn check_thresholds(t: &[f64]) -> Result<()> {
    if t.iter().any(|t| !(*t > 0.0 && *t <= 1.0)) {
        return Err(ExplainError::Config(
            "AOPC thresholds must be in (0, 1]".into(),
        ));
    }
    Ok(())
}

/// ERASER's k for top-k rationales: the mean human rationale length (in dataset tokens,
/// rounded) of `split`, or of `fallback` when `data` has no such split. Returns k and the
/// split it came from.
pub fn mean_rationale_k(data: &DataDir, split: &str, fallback: &str) -> Result<(usize, String)> {
    let from = if data.split_path(split).is_file() {
        split
    } else {
        fallback
    };
    let set = ExampleSet::load(data, from)?;
    Ok((
        set.mean_rationale_length().round() as usize,
        from.to_string(),
    ))
}

/// Reports one step per example while a split is explained.
struct Steps<'a> {
    observer: &'a dyn Observer,
}

impl<'a> Steps<'a> {
    fn start(observer: &'a dyn Observer, label: &str, total: usize) -> Self {
        observer.event(Event::Start {
            label,
            total: total as u64,
        });
        Steps { observer }
    }

    fn step(&self) {
        self.observer.event(Event::Step { status: None });
    }
}

impl Drop for Steps<'_> {
    fn drop(&mut self) {
        self.observer.event(Event::Finish);
    }
}

/// Runs `job`: explains every annotation of the split (or measures the rationales of
/// `rationales_from`) with faithfulness measured on the model, reporting one step per
/// annotation to `observer`. Runs on its own large-stack thread
/// ([`crate::train::on_training_stack`]): gradients through long recurrences recurse deeply, and
/// callers need no special stack.
pub fn explain_split(job: &ExplainJob, observer: &dyn Observer) -> Result<ExplainOutput> {
    crate::train::on_training_stack(|| explain_split_here(job, observer))?
}

fn explain_split_here(job: &ExplainJob, observer: &dyn Observer) -> Result<ExplainOutput> {
    if job.config.method == Method::Select && job.rationales_from.is_none() {
        return select_split(job, observer);
    }
    job.config.validate()?;
    check_thresholds(&job.thresholds)?;
    let dir = model_dir(&job.model);
    if dir.join("select.json").is_file() {
        observer.event(Event::Warning(&format!(
            "{} is a selective rationalizer; explaining its rationale predictor post hoc \
             (--method select gives the rationalizer's own rationales)",
            dir.display()
        )));
    }
    let model = load_text_model(&dir)?;
    let model = model.as_ref();
    let data = DataDir::new(&job.data_dir);
    let mut set = ExampleSet::load(&data, &job.split)?;
    if let Some(n) = job.limit {
        set.examples.truncate(n);
    }
    let k_fixed = match job.k {
        Some(k) => k,
        None => {
            let (k, from) = mean_rationale_k(&data, &job.k_split, &job.split)?;
            observer.event(Event::Line(&format!(
                "k = {k} tokens (mean human rationale length of {from})"
            )));
            k
        }
    };
    let given = match &job.rationales_from {
        None => None,
        Some(p) => {
            let m = read_results(p)?;
            if m.is_empty() {
                return Err(ExplainError::NoResults { path: p.clone() });
            }
            Some(m)
        }
    };
    let labels = model.labels().to_vec();
    let method = given
        .as_ref()
        .map_or(format!("{:?}", job.config.method), |_| {
            "measure".to_string()
        });
    let steps = Steps::start(observer, &method, set.examples.len());
    let (mut selected, mut total) = (0usize, 0usize);
    let mut predictions = Vec::with_capacity(set.examples.len());
    for (i, ex) in set.examples.iter().enumerate() {
        let in_example = |e| ExplainError::in_annotation(&ex.annotation_id, e);
        let enc = model.encode(&ex.words)?;
        let full = model.predict_proba(&[&enc.ids])?.row(0).to_vec();
        let target = argmax(&full);
        let (scores, soft) = match &given {
            Some(m) => {
                let pred = m.get(&ex.annotation_id.as_text()).ok_or_else(|| {
                    ExplainError::input(
                        &ex.annotation_id,
                        format!(
                            "no prediction in {}",
                            job.rationales_from
                                .as_deref()
                                .unwrap_or(Path::new(""))
                                .display()
                        ),
                    )
                })?;
                scores_from(pred, ex)?
            }
            None => (
                explain_one(model, &enc, target, &job.config, i as u64).map_err(in_example)?,
                true,
            ),
        };
        let rationale = if soft {
            top_k(&scores, k_fixed.min(ex.words.len()))
        } else {
            scores.iter().map(|s| *s > 0.0).collect()
        };
        selected += rationale.iter().filter(|m| **m).count();
        total += rationale.len();
        let f =
            measure(model, &enc, &rationale, Some(&scores), &job.thresholds).map_err(in_example)?;
        predictions.push(eraser_record(
            ex,
            &rationale,
            soft.then_some(scores.as_slice()),
            &labels,
            target,
            &f,
        ));
        steps.step();
    }
    drop(steps);
    Ok(ExplainOutput {
        predictions,
        k: Some(k_fixed),
        selection_rate: selected as f64 / total.max(1) as f64,
    })
}

/// A selective rationalizer's results: hard rationales (dataset tokens), the generator's
/// scores as soft rationales, `classification` = the prediction from the rationale alone,
/// `classification_scores` = the predictor on the full text, and the predictor's
/// probabilities without the rationale / on the rationale alone (and per AOPC bin of the
/// generator's scores).
fn select_split(job: &ExplainJob, observer: &dyn Observer) -> Result<ExplainOutput> {
    check_thresholds(&job.thresholds)?;
    let model = SelectModel::load(&model_dir(&job.model))?;
    let data = DataDir::new(&job.data_dir);
    let store = data.documents()?;
    let mut set = ExampleSet::load(&data, &job.split)?;
    if let Some(n) = job.limit {
        set.examples.truncate(n);
    }
    let labels = model.labels().to_vec();
    let steps = Steps::start(observer, "select", set.examples.len());
    let (mut selected, mut total) = (0usize, 0usize);
    let mut predictions = Vec::with_capacity(set.examples.len());
    for chunk in set.examples.chunks(16) {
        let mut encs = Vec::with_capacity(chunk.len());
        let mut sents = Vec::with_capacity(chunk.len());
        for ex in chunk {
            encs.push(model.encode(&ex.words)?);
            sents.push(word_sentences(&store, ex)?);
        }
        let rats = model.rationalize(&encs, &sents)?;
        for ((ex, enc), r) in chunk.iter().zip(&encs).zip(&rats) {
            let target = argmax(&r.probs);
            selected += r.mask.iter().filter(|m| **m).count();
            total += r.mask.len();
            let f = measure(
                model.predictor(),
                enc,
                &r.mask,
                Some(&r.scores),
                &job.thresholds,
            )
            .map_err(|e| ExplainError::in_annotation(&ex.annotation_id, e))?;
            predictions.push(eraser_record(
                ex,
                &r.mask,
                Some(&r.scores),
                &labels,
                target,
                &f,
            ));
            steps.step();
        }
    }
    drop(steps);
    Ok(ExplainOutput {
        predictions,
        k: None,
        selection_rate: selected as f64 / total.max(1) as f64,
    })
}

/// The records as an ERASER results file (JSON lines).
pub fn results_jsonl(predictions: &[Prediction]) -> String {
    let mut body = String::new();
    for p in predictions {
        body.push_str(&serde_json::to_string(p).expect("prediction serialises"));
        body.push('\n');
    }
    body
}
