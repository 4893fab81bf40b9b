//! From per-key and per-line results to the dataset scores of the reference's score file.

use super::gold::Gold;
use super::line::{KeyScore, LineScore};
use super::problems::Problem;
use super::{NoGoldAuprc, ScoreOptions};
use crate::corpus::{AnnotationId, DocStore};
use crate::metrics::classification::{classification_report, ClassificationReport};
use crate::metrics::numeric::{f1, mean, python_mean_or_zero, ratio};
use crate::metrics::ranking::Ranking;

/// Precision, recall and F1.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prf {
    /// Precision (score-file key `p`).
    pub p: f64,
    /// Recall (`r`).
    pub r: f64,
    /// F1 (`f1`): 0 when precision or recall is 0.
    pub f1: f64,
}

/// `instance_micro` (global micro) and `instance_macro` (mean over (annotation, doc) keys).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MicroMacro {
    /// `instance_micro`: overlap, predicted and gold counts summed over all keys, then divided.
    pub micro: Prf,
    /// `instance_macro`: per-key precision, recall and F1 averaged over the keys with gold or
    /// predicted items (F1 is the mean of the per-key F1s).
    pub macro_avg: Prf,
}

/// IOU F1 at one threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IouScore {
    /// `threshold`: a predicted span matches when its best IOU with a gold span is at least this.
    pub threshold: f64,
    /// `micro`: matched predicted spans over all predicted spans (precision) and over all gold
    /// spans (recall), summed across keys.
    pub micro: Prf,
    /// `macro`: per-key precision averaged over keys with predicted spans, per-key recall over
    /// keys with gold spans; F1 of those two means.
    pub macro_avg: Prf,
}

/// Mean ranking metrics over scored documents (each NaN when no document counts).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RankingMeans {
    /// `auprc`: mean area under the precision–recall curve (the paper's AUPRC); documents
    /// without a gold unit count as [`ScoreOptions::no_gold_auprc`] says.
    pub auprc: f64,
    /// `average_precision`: mean average precision over the documents whose truth has both
    /// classes.
    pub average_precision: f64,
    /// `roc_auc_score`: mean ROC AUC over the same documents as `average_precision`.
    pub roc_auc: f64,
}

/// Area over the perturbation curve, overall and per bin.
#[derive(Debug, Clone, PartialEq)]
pub struct Aopc {
    /// `aopc_thresholds`: the bins, as given in [`ScoreOptions::aopc_thresholds`].
    pub thresholds: Vec<f64>,
    /// `comprehensiveness_aopc`: mean over lines and bins of the predicted class's probability
    /// on the full input minus with the bin's top tokens removed.
    pub comprehensiveness: f64,
    /// `comprehensiveness_aopc_points`: that mean per bin, in increasing threshold order.
    pub comprehensiveness_points: Vec<f64>,
    /// `sufficiency_aopc`: as `comprehensiveness`, with only the bin's top tokens kept.
    pub sufficiency: f64,
    /// `sufficiency_aopc_points`: that mean per bin, in increasing threshold order.
    pub sufficiency_points: Vec<f64>,
}

/// The reference's `classification_scores` section (plus `tokens_to_flip`, which it drops).
///
/// The faithfulness fields are means over results lines (the lines of annotations outside the
/// split included), `j` being each line's predicted class and `full` its
/// `classification_scores`; each is `None` (`null` in the score file) when the lines lack its
/// inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassificationScores {
    /// `accuracy`: fraction of the split's classified annotations whose label is the gold one.
    pub accuracy: f64,
    /// `prf`: per-label precision, recall, F1 and support, and their averages.
    pub report: ClassificationReport,
    /// `comprehensiveness`: mean of `full[j] − comprehensiveness[j]` (the rationale removed).
    pub comprehensiveness: Option<f64>,
    /// `sufficiency`: mean of `full[j] − sufficiency[j]` (only the rationale kept).
    pub sufficiency: Option<f64>,
    /// `comprehensiveness_entropy`: mean of `H(full) − H(comprehensiveness)`, entropies in nats.
    pub comprehensiveness_entropy: Option<f64>,
    /// `comprehensiveness_kl`: mean of `KL(comprehensiveness ‖ full)` in nats (may be infinite).
    pub comprehensiveness_kl: Option<f64>,
    /// `sufficiency_entropy`: mean of `H(full) − H(sufficiency)`, entropies in nats.
    pub sufficiency_entropy: Option<f64>,
    /// `sufficiency_kl`: mean of `KL(sufficiency ‖ full)` in nats (may be infinite).
    pub sufficiency_kl: Option<f64>,
    /// The AOPC keys, from `thresholded_scores`.
    pub aopc: Option<Aopc>,
    /// `tokens_to_flip`: mean over the split's annotations that give one of `tokens_to_flip`
    /// divided by the token count of the annotation's evidence documents (annotations without
    /// evidence documents are left out, with a warning).
    pub tokens_to_flip: Option<f64>,
}

/// Every metric family; a family is `None` when no line has its inputs.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Scores {
    /// `iou_scores`: IOU F1, one entry per [`ScoreOptions::iou_thresholds`] value; present when a
    /// line has a hard rationale span (as are `rationale_prf` and `token_prf`).
    pub iou_scores: Option<Vec<IouScore>>,
    /// `rationale_prf`: exact-span precision, recall and F1.
    pub rationale_prf: Option<MicroMacro>,
    /// `token_prf`: token-level precision, recall and F1 (the paper's Token F1 is
    /// `macro_avg.f1`).
    pub token_prf: Option<MicroMacro>,
    /// `token_soft_metrics`: from `soft_rationale_predictions`, per token.
    pub token_soft_metrics: Option<RankingMeans>,
    /// `sentence_soft_metrics`: from `soft_sentence_predictions`, per sentence.
    pub sentence_soft_metrics: Option<RankingMeans>,
    /// `classification_scores`: present when lines have a `classification`.
    pub classification_scores: Option<ClassificationScores>,
}

/// Micro and instance-macro PRF over keys, given (overlap, predicted, gold) counts per key.
fn prf(keys: &[KeyScore], counts: fn(&KeyScore) -> (u64, u64, u64)) -> MicroMacro {
    let (mut o, mut p, mut g) = (0, 0, 0);
    let (mut ps, mut rs, mut fs) = (Vec::new(), Vec::new(), Vec::new());
    for k in keys {
        let (ko, kp, kg) = counts(k);
        (o, p, g) = (o + ko, p + kp, g + kg);
        if kp > 0 || kg > 0 {
            let (kp, kr) = (ratio(ko, kp), ratio(ko, kg));
            ps.push(kp);
            rs.push(kr);
            fs.push(f1(kp, kr));
        }
    }
    let (mp, mr) = (ratio(o, p), ratio(o, g));
    MicroMacro {
        micro: Prf {
            p: mp,
            r: mr,
            f1: f1(mp, mr),
        },
        macro_avg: Prf {
            p: python_mean_or_zero(&ps),
            r: python_mean_or_zero(&rs),
            f1: python_mean_or_zero(&fs),
        },
    }
}

fn iou_scores(keys: &[KeyScore], thresholds: &[f64]) -> Vec<IouScore> {
    let gold: u64 = keys.iter().map(|k| k.gold_spans).sum();
    let pred: u64 = keys.iter().map(|k| k.pred_spans).sum();
    thresholds
        .iter()
        .enumerate()
        .map(|(i, &threshold)| {
            let tp: u64 = keys.iter().map(|k| k.iou_matches[i]).sum();
            let (r, p) = (ratio(tp, gold), ratio(tp, pred));
            let rs: Vec<f64> = keys
                .iter()
                .filter(|k| k.gold_spans > 0)
                .map(|k| ratio(k.iou_matches[i], k.gold_spans))
                .collect();
            let ps: Vec<f64> = keys
                .iter()
                .filter(|k| k.pred_spans > 0)
                .map(|k| ratio(k.iou_matches[i], k.pred_spans))
                .collect();
            let (mr, mp) = (python_mean_or_zero(&rs), python_mean_or_zero(&ps));
            // The reference calls _f1(r, p): 2·r·p/(r+p).
            IouScore {
                threshold,
                micro: Prf { p, r, f1: f1(r, p) },
                macro_avg: Prf {
                    p: mp,
                    r: mr,
                    f1: f1(mr, mp),
                },
            }
        })
        .collect()
}

fn ranking_means<'a>(
    scored: impl Iterator<Item = (&'a KeyScore, &'a Ranking)>,
    policy: NoGoldAuprc,
    no_gold: &mut Vec<(AnnotationId, String)>,
) -> RankingMeans {
    let (mut auprc, mut ap, mut roc) = (Vec::new(), Vec::new(), Vec::new());
    for (k, r) in scored {
        match (r.auprc, policy) {
            (Some(a), _) => auprc.push(a),
            (None, NoGoldAuprc::Nan) => auprc.push(f64::NAN),
            (None, NoGoldAuprc::Half) => auprc.push(0.5),
            (None, NoGoldAuprc::Skip) => {}
        }
        if r.auprc.is_none() {
            no_gold.push((k.annotation_id.clone(), k.docid.clone()));
        }
        ap.extend(r.average_precision);
        roc.extend(r.roc_auc);
    }
    RankingMeans {
        auprc: mean(&auprc),
        average_precision: mean(&ap),
        roc_auc: mean(&roc),
    }
}

/// Computes the score file's families. Called only when the pass found no error.
pub(crate) fn scores(
    gold: &Gold,
    docs: &DocStore,
    lines: &[LineScore],
    keys: &[KeyScore],
    options: &ScoreOptions,
    problems: &mut Vec<Problem>,
) -> (Scores, Vec<(AnnotationId, String)>) {
    let mut out = Scores::default();
    let any = |f: fn(&LineScore) -> bool| lines.iter().any(f);
    if any(|l| l.fields.hard) {
        out.iou_scores = Some(iou_scores(keys, &options.iou_thresholds));
        out.rationale_prf = Some(prf(keys, |k| (k.exact_spans, k.pred_spans, k.gold_spans)));
        out.token_prf = Some(prf(keys, |k| {
            (k.overlap_tokens, k.pred_tokens, k.gold_tokens)
        }));
    }
    let mut no_gold = Vec::new();
    if any(|l| l.fields.soft) {
        let scored = keys
            .iter()
            .filter_map(|k| k.token_ranking.as_ref().map(|r| (k, r)));
        out.token_soft_metrics = Some(ranking_means(scored, options.no_gold_auprc, &mut no_gold));
    }
    if any(|l| l.fields.sentence) {
        let scored = keys
            .iter()
            .filter_map(|k| k.sentence_ranking.as_ref().map(|r| (k, r)));
        // Sentence-level no-gold keys are common (Movies test has no sentence evidence) and
        // are not listed separately.
        out.sentence_soft_metrics = Some(ranking_means(
            scored,
            options.no_gold_auprc,
            &mut Vec::new(),
        ));
    }
    if !no_gold.is_empty() {
        let policy = match options.no_gold_auprc {
            NoGoldAuprc::Nan => "AUPRC is NaN, as in the reference with scikit-learn 0.20",
            NoGoldAuprc::Half => "each counts 0.5 in AUPRC",
            NoGoldAuprc::Skip => "they are left out of AUPRC",
        };
        let list: Vec<String> = no_gold
            .iter()
            .take(10)
            .map(|(a, d)| format!("({a}, {d:?})"))
            .collect();
        problems.push(Problem::warning(
            format!(
                "{} scored (annotation, doc) pair(s) have no gold token, so {policy}: {}{}",
                no_gold.len(),
                list.join(", "),
                if no_gold.len() > 10 { ", …" } else { "" }
            ),
            "choose with --auprc-no-gold nan|half|skip",
        ));
    }
    if any(|l| l.fields.classification) {
        out.classification_scores = Some(classification(gold, docs, lines, options, problems));
    }
    (out, no_gold)
}

fn classification(
    gold: &Gold,
    docs: &DocStore,
    lines: &[LineScore],
    options: &ScoreOptions,
    problems: &mut Vec<Problem>,
) -> ClassificationScores {
    let mut by_annotation: Vec<Option<&LineScore>> = vec![None; gold.annotations.len()];
    for l in lines {
        if let Some(i) = l.split_index {
            by_annotation[i] = Some(l);
        }
    }
    let (mut truth, mut pred) = (Vec::new(), Vec::new());
    for (a, l) in gold.annotations.iter().zip(&by_annotation) {
        let Some(label) = l.and_then(|l| l.classification.as_ref()) else {
            continue;
        };
        truth.push(a.label);
        pred.push(
            gold.labels
                .binary_search(label)
                .expect("labels were checked"),
        );
    }
    let report = classification_report(&gold.labels, &truth, &pred);
    let per_line = |f: fn(&LineScore) -> Option<f64>| -> Option<f64> {
        let v: Option<Vec<f64>> = lines.iter().map(f).collect();
        v.map(|v| mean(&v))
    };
    let aopc = lines[0]
        .faithfulness
        .aopc_comprehensiveness
        .as_ref()
        .map(|_| {
            let rows = |f: fn(&LineScore) -> &Option<Vec<f64>>| -> Vec<Vec<f64>> {
                lines
                    .iter()
                    .map(|l| f(l).clone().unwrap_or_default())
                    .collect()
            };
            let comp = rows(|l| &l.faithfulness.aopc_comprehensiveness);
            let suff = rows(|l| &l.faithfulness.aopc_sufficiency);
            let (c, cp) = aopc_means(&comp);
            let (s, sp) = aopc_means(&suff);
            Aopc {
                thresholds: options.aopc_thresholds.clone(),
                comprehensiveness: c,
                comprehensiveness_points: cp,
                sufficiency: s,
                sufficiency_points: sp,
            }
        });
    ClassificationScores {
        accuracy: report.accuracy,
        report,
        comprehensiveness: per_line(|l| l.faithfulness.comprehensiveness),
        sufficiency: per_line(|l| l.faithfulness.sufficiency),
        comprehensiveness_entropy: per_line(|l| l.faithfulness.comprehensiveness_entropy),
        comprehensiveness_kl: per_line(|l| l.faithfulness.comprehensiveness_kl),
        sufficiency_entropy: per_line(|l| l.faithfulness.sufficiency_entropy),
        sufficiency_kl: per_line(|l| l.faithfulness.sufficiency_kl),
        aopc,
        tokens_to_flip: tokens_to_flip(gold, docs, &by_annotation, problems),
    }
}

/// `np.average` of the lines × bins matrix, and of each column (summed row by row).
fn aopc_means(rows: &[Vec<f64>]) -> (f64, Vec<f64>) {
    let flat: Vec<f64> = rows.iter().flatten().copied().collect();
    let bins = rows.first().map_or(0, Vec::len);
    let points = (0..bins)
        .map(|b| rows.iter().fold(0.0, |s, r| s + r[b]) / rows.len() as f64)
        .collect();
    (mean(&flat), points)
}

/// Mean of tokens_to_flip / total length of the annotation's evidence documents.
fn tokens_to_flip(
    gold: &Gold,
    docs: &DocStore,
    by_annotation: &[Option<&LineScore>],
    problems: &mut Vec<Problem>,
) -> Option<f64> {
    if !by_annotation
        .iter()
        .flatten()
        .any(|l| l.tokens_to_flip.is_some())
    {
        return None;
    }
    let mut fractions = Vec::new();
    let mut skipped = 0;
    for (a, l) in gold.annotations.iter().zip(by_annotation) {
        let Some(t) = l.and_then(|l| l.tokens_to_flip) else {
            continue;
        };
        let len: Option<usize> = a
            .docs
            .iter()
            .map(|d| docs.shape(&d.docid).ok().map(|s| s.tokens))
            .sum();
        match len {
            Some(n) if n > 0 => fractions.push(t / n as f64),
            _ => skipped += 1,
        }
    }
    if skipped > 0 {
        problems.push(Problem::warning(
            format!("{skipped} annotation(s) left out of tokens_to_flip: no evidence document, or one is missing"),
            "tokens_to_flip is divided by the length of the annotation's evidence documents",
        ));
    }
    Some(mean(&fractions))
}
