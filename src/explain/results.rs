//! ERASER results from a trained model: run an explanation method (or a selective
//! rationalizer's generator) over a split, measure faithfulness on the model, and build one
//! results record per annotation, ready for [`crate::eval::evaluate`].

use super::faithfulness::{measure, top_k, Faithfulness, AOPC_THRESHOLDS};
use super::{explain as explain_one, ExplainConfig, Method};
use crate::corpus::{
    DataDir, HardSpan, LabelScores, Num, Prediction, RationalePrediction, ThresholdedScores,
};
use crate::models::{Classifier, Example, ExampleSet, TextClassifier};
use crate::select::train::word_sentences;
use crate::select::SelectModel;
use crate::train::argmax;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::HashMap;
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
    /// Show a progress bar (on stderr).
    pub progress: bool,
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
            progress: false,
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
            hard_rationale_predictions: Some(spans(rationale, *s, *e)),
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

/// Contiguous runs of selected words inside `[start, end)`, as document-relative spans.
pub fn spans(mask: &[bool], start: usize, end: usize) -> Vec<HardSpan> {
    let mut out = Vec::new();
    let mut i = start;
    while i < end {
        if mask[i] {
            let s = i;
            while i < end && mask[i] {
                i += 1;
            }
            out.push(HardSpan {
                start_token: (s - start) as i64,
                end_token: (i - start) as i64,
            });
        } else {
            i += 1;
        }
    }
    out
}

/// Per-word scores from an existing prediction: soft scores where given, else 1 on hard spans.
fn scores_from(pred: &Prediction, ex: &Example) -> Result<(Vec<f32>, bool), String> {
    let mut scores = vec![0f32; ex.words.len()];
    let mut soft = true;
    for (docid, s, e) in &ex.docs {
        let Some(r) = pred.rationales.iter().find(|r| r.docid == *docid) else {
            continue;
        };
        match (&r.soft_rationale_predictions, &r.hard_rationale_predictions) {
            (Some(v), _) => {
                if v.len() != e - s {
                    return Err(format!(
                        "annotation {}: {} soft scores for document {docid} of {} tokens",
                        ex.annotation_id,
                        v.len(),
                        e - s
                    ));
                }
                for (i, x) in v.iter().enumerate() {
                    if !x.0.is_finite() {
                        return Err(format!(
                            "annotation {}: document {docid}: soft score {i} is {}; \
                             scores must be finite numbers",
                            ex.annotation_id, x.0
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

fn progress_bar(show: bool, len: usize, label: &str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::new(len as u64);
    b.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({elapsed}<{eta})")
            .expect("template"),
    );
    b.set_message(label.to_string());
    b
}

fn check_thresholds(t: &[f64]) -> Result<(), String> {
    if t.iter().any(|t| !(*t > 0.0 && *t <= 1.0)) {
        return Err("AOPC thresholds must be in (0, 1]".into());
    }
    Ok(())
}

/// Reads an ERASER results file into annotation id (as text) → prediction.
fn read_results(p: &Path) -> Result<HashMap<String, Prediction>, String> {
    let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
    let mut m = HashMap::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let pred = Prediction::parse(line).map_err(|e| {
            format!(
                "{}:{}: not an ERASER results record: {e}",
                p.display(),
                i + 1
            )
        })?;
        m.insert(pred.annotation_id.as_text(), pred);
    }
    if m.is_empty() {
        return Err(format!(
            "{}: no results records (the file is empty)",
            p.display()
        ));
    }
    Ok(m)
}

/// Runs `job`: explains every annotation of the split (or measures the rationales of
/// `rationales_from`) with faithfulness measured on the model.
pub fn explain_split(job: &ExplainJob) -> Result<ExplainOutput, String> {
    if job.config.method == Method::Select && job.rationales_from.is_none() {
        return select_split(job);
    }
    job.config.validate().map_err(|e| e.to_string())?;
    check_thresholds(&job.thresholds)?;
    let dir = model_dir(&job.model);
    if dir.join("select.json").is_file() {
        eprintln!(
            "note: {} is a selective rationalizer; explaining its rationale predictor post hoc \
             (--method select gives the rationalizer's own rationales)",
            dir.display()
        );
    }
    let model = TextClassifier::load(&dir).map_err(|e| e.to_string())?;
    let data = DataDir::new(&job.data_dir);
    let mut set = ExampleSet::load(&data, &job.split).map_err(|e| e.to_string())?;
    if let Some(n) = job.limit {
        set.examples.truncate(n);
    }
    let k_fixed = match job.k {
        Some(k) => k,
        None => {
            let from = if data.split_path(&job.k_split).is_file() {
                job.k_split.clone()
            } else {
                job.split.clone()
            };
            let ks = ExampleSet::load(&data, &from).map_err(|e| e.to_string())?;
            let k = ks.mean_rationale_length().round() as usize;
            if job.progress {
                eprintln!("k = {k} tokens (mean human rationale length of {from})");
            }
            k
        }
    };
    let given = match &job.rationales_from {
        None => None,
        Some(p) => Some(read_results(p)?),
    };
    let labels = model.labels().to_vec();
    let method = given
        .as_ref()
        .map_or(format!("{:?}", job.config.method), |_| {
            "measure".to_string()
        });
    let bar = progress_bar(job.progress, set.examples.len(), &method);
    let (mut selected, mut total) = (0usize, 0usize);
    let mut predictions = Vec::with_capacity(set.examples.len());
    for (i, ex) in set.examples.iter().enumerate() {
        let enc = model.encode(&ex.words).map_err(|e| e.to_string())?;
        let full = model
            .predict_proba(&[&enc.ids])
            .map_err(|e| e.to_string())?
            .remove(0);
        let target = argmax(&full);
        let (scores, soft) = match &given {
            Some(m) => {
                let pred = m.get(&ex.annotation_id.as_text()).ok_or_else(|| {
                    format!(
                        "annotation {}: no prediction in {}",
                        ex.annotation_id,
                        job.rationales_from
                            .as_deref()
                            .unwrap_or(Path::new(""))
                            .display()
                    )
                })?;
                scores_from(pred, ex)?
            }
            None => (
                explain_one(&model, &enc, target, &job.config, i as u64)
                    .map_err(|e| format!("annotation {}: {e}", ex.annotation_id))?,
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
        let f = measure(&model, &enc, &rationale, Some(&scores), &job.thresholds)
            .map_err(|e| format!("annotation {}: {e}", ex.annotation_id))?;
        predictions.push(eraser_record(
            ex,
            &rationale,
            soft.then_some(scores.as_slice()),
            &labels,
            target,
            &f,
        ));
        bar.inc(1);
    }
    bar.finish_and_clear();
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
fn select_split(job: &ExplainJob) -> Result<ExplainOutput, String> {
    check_thresholds(&job.thresholds)?;
    let model = SelectModel::load(&model_dir(&job.model)).map_err(|e| e.to_string())?;
    let data = DataDir::new(&job.data_dir);
    let store = data.documents().map_err(|e| e.to_string())?;
    let mut set = ExampleSet::load(&data, &job.split).map_err(|e| e.to_string())?;
    if let Some(n) = job.limit {
        set.examples.truncate(n);
    }
    let labels = model.labels().to_vec();
    let bar = progress_bar(job.progress, set.examples.len(), "select");
    let (mut selected, mut total) = (0usize, 0usize);
    let mut predictions = Vec::with_capacity(set.examples.len());
    for chunk in set.examples.chunks(16) {
        let mut encs = Vec::with_capacity(chunk.len());
        let mut sents = Vec::with_capacity(chunk.len());
        for ex in chunk {
            encs.push(model.encode(&ex.words).map_err(|e| e.to_string())?);
            sents.push(word_sentences(&store, ex).map_err(|e| e.to_string())?);
        }
        let rats = model
            .rationalize(&encs, &sents)
            .map_err(|e| e.to_string())?;
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
            .map_err(|e| format!("annotation {}: {e}", ex.annotation_id))?;
            predictions.push(eraser_record(
                ex,
                &r.mask,
                Some(&r.scores),
                &labels,
                target,
                &f,
            ));
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
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
