//! The score file, with the reference's key names and nesting.

use super::pyjson::{dict, PyJson};
use crate::eval::{ClassificationScores, MicroMacro, Prf, RankingMeans, Scores};
use crate::metrics::classification::ClassScores;
use std::collections::BTreeMap;

fn prf(p: &Prf) -> PyJson {
    dict([("p", p.p), ("r", p.r), ("f1", p.f1)])
}

fn micro_macro(m: &MicroMacro) -> PyJson {
    dict([
        ("instance_micro", prf(&m.micro)),
        ("instance_macro", prf(&m.macro_avg)),
    ])
}

fn ranking(r: &RankingMeans) -> PyJson {
    dict([
        ("auprc", r.auprc),
        ("average_precision", r.average_precision),
        ("roc_auc_score", r.roc_auc),
    ])
}

fn class_row(c: &ClassScores) -> PyJson {
    dict([
        ("precision", PyJson::Float(c.precision)),
        ("recall", PyJson::Float(c.recall)),
        ("f1-score", PyJson::Float(c.f1)),
        ("support", PyJson::Int(c.support as i64)),
    ])
}

fn floats(v: &[f64]) -> PyJson {
    PyJson::List(v.iter().map(|&x| PyJson::Float(x)).collect())
}

fn classification(c: &ClassificationScores) -> PyJson {
    let r = &c.report;
    let mut report: BTreeMap<String, PyJson> = r
        .labels
        .iter()
        .zip(&r.per_class)
        .map(|(l, s)| (l.clone(), class_row(s)))
        .collect();
    // scikit-learn 0.20 keys (0.22+ writes "accuracy" instead of "micro avg").
    report.insert("micro avg".into(), class_row(&r.micro));
    report.insert("macro avg".into(), class_row(&r.macro_avg));
    report.insert("weighted avg".into(), class_row(&r.weighted));
    let aopc = c.aopc.as_ref();
    let mut out = BTreeMap::from([
        ("accuracy".to_string(), PyJson::Float(c.accuracy)),
        ("prf".into(), PyJson::Dict(report)),
        ("comprehensiveness".into(), c.comprehensiveness.into()),
        ("sufficiency".into(), c.sufficiency.into()),
        (
            "comprehensiveness_entropy".into(),
            c.comprehensiveness_entropy.into(),
        ),
        ("comprehensiveness_kl".into(), c.comprehensiveness_kl.into()),
        ("sufficiency_entropy".into(), c.sufficiency_entropy.into()),
        ("sufficiency_kl".into(), c.sufficiency_kl.into()),
        (
            "aopc_thresholds".into(),
            aopc.map_or(PyJson::Null, |a| floats(&a.thresholds)),
        ),
        (
            "comprehensiveness_aopc".into(),
            aopc.map(|a| a.comprehensiveness).into(),
        ),
        (
            "comprehensiveness_aopc_points".into(),
            aopc.map_or(PyJson::Null, |a| floats(&a.comprehensiveness_points)),
        ),
        (
            "sufficiency_aopc".into(),
            aopc.map(|a| a.sufficiency).into(),
        ),
        (
            "sufficiency_aopc_points".into(),
            aopc.map_or(PyJson::Null, |a| floats(&a.sufficiency_points)),
        ),
    ]);
    if let Some(t) = c.tokens_to_flip {
        out.insert("tokens_to_flip".into(), PyJson::Float(t));
    }
    PyJson::Dict(out)
}

/// The score file as the reference writes it (`json.dump(scores, indent=4, sort_keys=True)`).
pub fn score_file(s: &Scores) -> PyJson {
    let mut out = BTreeMap::new();
    if let Some(iou) = &s.iou_scores {
        let list = iou
            .iter()
            .map(|i| {
                dict([
                    ("threshold", PyJson::Float(i.threshold)),
                    ("micro", prf(&i.micro)),
                    ("macro", prf(&i.macro_avg)),
                ])
            })
            .collect();
        out.insert("iou_scores".to_string(), PyJson::List(list));
    }
    if let Some(m) = &s.rationale_prf {
        out.insert("rationale_prf".into(), micro_macro(m));
    }
    if let Some(m) = &s.token_prf {
        out.insert("token_prf".into(), micro_macro(m));
    }
    if let Some(r) = &s.token_soft_metrics {
        out.insert("token_soft_metrics".into(), ranking(r));
    }
    if let Some(r) = &s.sentence_soft_metrics {
        out.insert("sentence_soft_metrics".into(), ranking(r));
    }
    if let Some(c) = &s.classification_scores {
        out.insert("classification_scores".into(), classification(c));
    }
    PyJson::Dict(out)
}

/// A short table of the paper's headline columns.
pub fn summary_table(s: &Scores) -> String {
    let fmt = |x: Option<f64>| x.map_or("—".to_string(), |v| format!("{v:.4}"));
    let c = s.classification_scores.as_ref();
    let rows = [
        ("Perf (macro F1)", c.map(|c| c.report.macro_avg.f1)),
        ("Accuracy", c.map(|c| c.accuracy)),
        (
            "IOU F1",
            s.iou_scores
                .as_ref()
                .and_then(|v| v.first())
                .map(|i| i.macro_avg.f1),
        ),
        ("Token F1", s.token_prf.map(|t| t.macro_avg.f1)),
        ("AUPRC", s.token_soft_metrics.map(|t| t.auprc)),
        ("Comp", c.and_then(|c| c.comprehensiveness)),
        ("Suff", c.and_then(|c| c.sufficiency)),
        (
            "Comp AOPC",
            c.and_then(|c| c.aopc.as_ref().map(|a| a.comprehensiveness)),
        ),
        (
            "Suff AOPC",
            c.and_then(|c| c.aopc.as_ref().map(|a| a.sufficiency)),
        ),
    ];
    let mut out = String::new();
    for (name, v) in rows {
        out.push_str(&format!("{name:<16} {:>8}\n", fmt(v)));
    }
    if let Some(iou) = &s.iou_scores {
        if iou.len() > 1 {
            for i in iou {
                out.push_str(&format!(
                    "{:<16} {:>8}\n",
                    format!("IOU F1 @{}", i.threshold),
                    fmt(Some(i.macro_avg.f1))
                ));
            }
        }
    }
    out
}
