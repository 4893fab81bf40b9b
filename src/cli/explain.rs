//! `rationale explain`: explain a trained classifier post hoc, measure faithfulness on it, and
//! write an ERASER results file that `rationale score` reads.

use crate::corpus::{
    DataDir, HardSpan, LabelScores, Num, Prediction, RationalePrediction, ThresholdedScores,
};
use crate::explain::faithfulness::{measure, top_k, Faithfulness, AOPC_THRESHOLDS};
use crate::explain::{explain as explain_one, ExplainConfig, Method};
use crate::models::{Classifier, Example, ExampleSet, TextClassifier};
use crate::train::argmax;
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Options of `rationale explain`.
#[derive(Args, Debug, Clone)]
pub struct ExplainArgs {
    /// A checkpoint directory, or a training output directory (its best/ is used).
    #[arg(long)]
    model: PathBuf,
    /// ERASER data directory.
    #[arg(long)]
    data_dir: PathBuf,
    /// Split to explain.
    #[arg(long, default_value = "test")]
    split: String,
    /// Explanation method (ignored with --rationales-from).
    #[arg(long, value_enum, default_value = "gradient")]
    method: Method,
    /// Measure faithfulness of the rationales in this ERASER results file instead of running a
    /// method (soft scores when present, else the hard spans).
    #[arg(long)]
    rationales_from: Option<PathBuf>,
    /// Results file to write.
    #[arg(long)]
    out: PathBuf,
    /// Hard rationale size in tokens (default: mean human rationale length of --k-split).
    #[arg(long)]
    k: Option<usize>,
    /// Split whose mean human rationale length sets k (falls back to --split if missing).
    #[arg(long, default_value = "train")]
    k_split: String,
    /// AOPC bins (comma-separated).
    #[arg(long, value_delimiter = ',', default_values_t = AOPC_THRESHOLDS.to_vec())]
    thresholds: Vec<f64>,
    /// Integrated-gradients steps.
    #[arg(long, default_value_t = 20)]
    ig_steps: usize,
    /// Occlusion window in words.
    #[arg(long, default_value_t = 1)]
    occlusion_window: usize,
    /// LIME samples.
    #[arg(long, default_value_t = 500)]
    lime_samples: usize,
    /// Attention layer (default: attention pooling, else the last layer).
    #[arg(long)]
    layer: Option<usize>,
    /// Attention heads to average (comma-separated; default all).
    #[arg(long, value_delimiter = ',')]
    heads: Option<Vec<usize>>,
    /// Attention query row to read (0 = [CLS], HateXplain's [Attn]; default: all rows, which a
    /// mean-pooled transformer reads).
    #[arg(long)]
    query_row: Option<usize>,
    /// Seed of stochastic methods.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Only the first N annotations.
    #[arg(long)]
    limit: Option<usize>,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

pub(super) fn model_dir(p: &Path) -> PathBuf {
    if p.join("best").join("config.json").is_file() {
        p.join("best")
    } else {
        p.to_path_buf()
    }
}

pub(super) fn label_scores(labels: &[String], p: &[f32]) -> LabelScores {
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
pub(super) fn eraser_record(
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
pub(super) fn spans(mask: &[bool], start: usize, end: usize) -> Vec<HardSpan> {
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

fn run(a: ExplainArgs) -> Result<usize, String> {
    if a.method == Method::Select && a.rationales_from.is_none() {
        return super::select::explain(super::select::SelectExplain {
            model: a.model,
            data_dir: a.data_dir,
            split: a.split,
            out: a.out,
            thresholds: a.thresholds,
            limit: a.limit,
            quiet: a.quiet,
        });
    }
    let cfg = ExplainConfig {
        method: a.method,
        ig_steps: a.ig_steps,
        occlusion_window: a.occlusion_window,
        lime_samples: a.lime_samples,
        lime_kernel_width: 25.0,
        layer: a.layer,
        heads: a.heads.clone(),
        query_row: a.query_row,
        seed: a.seed,
    };
    cfg.validate().map_err(|e| e.to_string())?;
    if a.thresholds.iter().any(|t| !(*t > 0.0 && *t <= 1.0)) {
        return Err("--thresholds must be in (0, 1]".into());
    }
    let model = TextClassifier::load(&model_dir(&a.model)).map_err(|e| e.to_string())?;
    let data = DataDir::new(&a.data_dir);
    let mut set = ExampleSet::load(&data, &a.split).map_err(|e| e.to_string())?;
    if let Some(n) = a.limit {
        set.examples.truncate(n);
    }
    let k_fixed = match a.k {
        Some(k) => k,
        None => {
            let from = if data.split_path(&a.k_split).is_file() {
                a.k_split.clone()
            } else {
                a.split.clone()
            };
            let ks = ExampleSet::load(&data, &from).map_err(|e| e.to_string())?;
            let k = ks.mean_rationale_length().round() as usize;
            eprintln!("k = {k} tokens (mean human rationale length of {from})");
            k
        }
    };
    let given: Option<HashMap<String, Prediction>> = match &a.rationales_from {
        None => None,
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()))?;
            let mut m = HashMap::new();
            for (i, line) in text
                .lines()
                .enumerate()
                .filter(|(_, l)| !l.trim().is_empty())
            {
                let pred = Prediction::parse(line)
                    .map_err(|e| format!("{}:{}: {e}", p.display(), i + 1))?;
                m.insert(pred.annotation_id.as_text(), pred);
            }
            Some(m)
        }
    };
    let labels = model.labels().to_vec();
    let bar = if a.quiet {
        ProgressBar::hidden()
    } else {
        let b = ProgressBar::new(set.examples.len() as u64);
        b.set_style(
            ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({elapsed}<{eta})")
                .expect("template"),
        );
        b.set_message(format!("{:?}", a.method));
        b
    };
    let mut lines = Vec::with_capacity(set.examples.len());
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
                        "annotation {}: no prediction in --rationales-from",
                        ex.annotation_id
                    )
                })?;
                scores_from(pred, ex)?
            }
            None => (
                explain_one(&model, &enc, target, &cfg, i as u64)
                    .map_err(|e| format!("annotation {}: {e}", ex.annotation_id))?,
                true,
            ),
        };
        let rationale = if soft {
            top_k(&scores, k_fixed.min(ex.words.len()))
        } else {
            scores.iter().map(|s| *s > 0.0).collect()
        };
        let f = measure(&model, &enc, &rationale, Some(&scores), &a.thresholds)
            .map_err(|e| e.to_string())?;
        let pred = eraser_record(
            ex,
            &rationale,
            soft.then_some(scores.as_slice()),
            &labels,
            target,
            &f,
        );
        lines.push(serde_json::to_string(&pred).expect("prediction serialises"));
        bar.inc(1);
    }
    bar.finish_and_clear();
    let mut body = lines.join("\n");
    body.push('\n');
    super::write_atomic(&a.out, body.as_bytes())
        .map_err(|e| format!("{}: {e}", a.out.display()))?;
    Ok(lines.len())
}

/// Runs `rationale explain`.
pub fn explain(args: ExplainArgs) -> ExitCode {
    let out = args.out.clone();
    match super::with_big_stack(move || run(args)) {
        Ok(n) => {
            eprintln!("wrote {n} predictions to {}", out.display());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(super::exit::UNUSABLE)
        }
    }
}
