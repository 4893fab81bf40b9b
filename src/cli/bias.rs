//! `rationale bias`: HateXplain's unintended-bias metrics of a classifier's results.

use super::exit;
use crate::corpus::{DataDir, Prediction, ResultsReader};
use crate::io::write_atomic;
use crate::metrics::bias::{
    community_aucs, generalized_mean, multiclass_ovo_auc, BiasItem, HATEXPLAIN_COMMUNITIES,
};
use crate::report::pyjson::{dict, PyJson};
use clap::Args;
use ndarray::Array2;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args, Debug)]
#[command(after_help = "Example:
  rationale convert hatexplain --source ../shared/data/hatexplain --out data/hatexplain
  rationale bias --data-dir data/hatexplain --split test --results preds.jsonl")]
pub(crate) struct BiasArgs {
    /// ERASER data directory with the split and a targets file (from `rationale convert hatexplain`).
    #[arg(long = "data-dir", alias = "data_dir", value_name = "DIR")]
    data_dir: PathBuf,
    /// Split to evaluate.
    #[arg(long)]
    split: String,
    /// Results file with classification_scores for every post of the split.
    #[arg(long, value_name = "PREDS.jsonl")]
    results: PathBuf,
    /// Target communities per post (default: DIR/targets.jsonl).
    #[arg(long, value_name = "FILE")]
    targets: Option<PathBuf>,
    /// Communities to evaluate (default: HateXplain's ten).
    #[arg(long, num_args = 1..)]
    communities: Vec<String>,
    /// The label that means "not toxic"; the toxicity score is 1 − p(this label).
    #[arg(long = "non-toxic-label", default_value = "normal")]
    non_toxic_label: String,
    /// Exponent of the generalized mean.
    #[arg(long, default_value_t = -5.0, allow_negative_numbers = true)]
    power: f64,
    /// Write the metrics as JSON here [default: none, not written].
    #[arg(long = "score-file", value_name = "OUT.json")]
    score_file: Option<PathBuf>,
}

#[derive(serde::Deserialize)]
struct Targets {
    annotation_id: String,
    labels: Vec<String>,
    communities: Vec<String>,
}

fn fail(message: String, code: u8) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(code)
}

/// Computes AUROC and the GMB bias AUCs.
pub(crate) fn bias(args: BiasArgs) -> ExitCode {
    let data = DataDir::new(&args.data_dir);
    let annotations = match data.annotations(&args.split) {
        Ok(a) => a,
        Err(e) => return fail(e.to_string(), exit::UNUSABLE),
    };
    let targets_path = args
        .targets
        .clone()
        .unwrap_or_else(|| args.data_dir.join("targets.jsonl"));
    let targets: Vec<Targets> =
        match crate::corpus::read_jsonl(&targets_path, "{annotation_id, labels, communities}") {
            Ok(t) => t,
            Err(e) => {
                return fail(
                    format!("{e} (run `rationale convert hatexplain` to make it)"),
                    exit::UNUSABLE,
                )
            }
        };
    let targets: HashMap<String, Targets> = targets
        .into_iter()
        .map(|t| (t.annotation_id.clone(), t))
        .collect();
    let mut preds: HashMap<String, Prediction> = HashMap::new();
    let mut reader = match ResultsReader::open(&args.results) {
        Ok(r) => r,
        Err(e) => return fail(e.to_string(), exit::UNUSABLE),
    };
    loop {
        let batch = match reader.next_batch(4 << 20) {
            Ok(b) if b.is_empty() => break,
            Ok(b) => b,
            Err(e) => return fail(e.to_string(), exit::UNUSABLE),
        };
        for (line, text) in batch {
            match Prediction::parse(&text) {
                Ok(p) => {
                    preds.insert(p.annotation_id.as_text(), p);
                }
                Err(e) => {
                    return fail(
                        format!("{}:{line}: {e}", args.results.display()),
                        exit::PROBLEMS,
                    )
                }
            }
        }
    }
    let mut labels: Vec<String> = annotations
        .iter()
        .map(|a| a.classification.clone())
        .collect();
    labels.sort();
    labels.dedup();
    let (mut items, mut truth, mut probs, mut problems) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for a in &annotations {
        let id = a.annotation_id.as_text();
        let Some(scores) = preds
            .get(&id)
            .and_then(|p| p.classification_scores.as_ref())
        else {
            problems.push(format!(
                "annotation {id:?} has no classification_scores in the results"
            ));
            continue;
        };
        let Some(t) = targets.get(&id) else {
            problems.push(format!(
                "annotation {id:?} is not in {}",
                targets_path.display()
            ));
            continue;
        };
        let total: f64 = scores.values().sum();
        let p: Option<Vec<f64>> = labels
            .iter()
            .map(|l| scores.get(l).map(|x| x / total))
            .collect();
        let Some(p) = p.filter(|p| total > 0.0 && p.iter().all(|x| x.is_finite())) else {
            problems.push(format!("annotation {id:?}: classification_scores need a finite probability for each of {labels:?}"));
            continue;
        };
        let non_toxic = labels.iter().position(|l| *l == args.non_toxic_label);
        let Some(nt) = non_toxic else {
            return fail(
                format!(
                    "--non-toxic-label {:?} is not a label of the split ({labels:?})",
                    args.non_toxic_label
                ),
                exit::PROBLEMS,
            );
        };
        let toxic_votes = t
            .labels
            .iter()
            .filter(|l| **l != args.non_toxic_label)
            .count();
        items.push(BiasItem {
            toxic: toxic_votes * 2 > t.labels.len(),
            score: 1.0 - p[nt],
            communities: t.communities.clone(),
        });
        truth.push(
            labels
                .binary_search(&a.classification)
                .expect("label collected"),
        );
        probs.extend(p);
    }
    if !problems.is_empty() {
        for p in problems.iter().take(20) {
            eprintln!("{}: error: {p}", args.results.display());
        }
        return fail(
            format!(
                "{} problem(s); every post of the split needs a prediction",
                problems.len()
            ),
            exit::PROBLEMS,
        );
    }
    let communities: Vec<&str> = if args.communities.is_empty() {
        HATEXPLAIN_COMMUNITIES.to_vec()
    } else {
        args.communities.iter().map(String::as_str).collect()
    };
    let per = community_aucs(&items, &communities);
    let gmb = |f: fn(&crate::metrics::bias::CommunityAucs) -> Option<f64>| {
        generalized_mean(&per.iter().map(f).collect::<Vec<_>>(), args.power)
    };
    let (sub, bpsn, bnsp) = (gmb(|c| c.subgroup), gmb(|c| c.bpsn), gmb(|c| c.bnsp));
    // (posts, labels): every row was checked to hold one probability per label.
    let probs = Array2::from_shape_vec((truth.len(), labels.len()), probs)
        .expect("one probability per label");
    let auroc = multiclass_ovo_auc(&truth, probs.view());
    let fmt = |x: Option<f64>| x.map_or("—".into(), |v| format!("{v:.4}"));
    println!("{:<16} {:>8}", "AUROC (ovo)", fmt(auroc));
    println!("{:<16} {:>8}", "GMB-Subgroup", fmt(sub));
    println!("{:<16} {:>8}", "GMB-BPSN", fmt(bpsn));
    println!("{:<16} {:>8}", "GMB-BNSP", fmt(bnsp));
    println!(
        "\n{:<12} {:>9} {:>9} {:>9}",
        "community", "subgroup", "BPSN", "BNSP"
    );
    for c in &per {
        println!(
            "{:<12} {:>9} {:>9} {:>9}",
            c.community,
            fmt(c.subgroup),
            fmt(c.bpsn),
            fmt(c.bnsp)
        );
    }
    if let Some(path) = &args.score_file {
        let file = dict([
            ("auroc", PyJson::from(auroc)),
            ("gmb_subgroup_auc", sub.into()),
            ("gmb_bpsn_auc", bpsn.into()),
            ("gmb_bnsp_auc", bnsp.into()),
            ("power", args.power.into()),
            (
                "communities",
                dict(per.iter().map(|c| {
                    (
                        c.community.clone(),
                        dict([("subgroup", c.subgroup), ("bpsn", c.bpsn), ("bnsp", c.bnsp)]),
                    )
                })),
            ),
        ]);
        if let Err(e) = write_atomic(path, file.to_python_string().as_bytes()) {
            return fail(format!("{}: {e}", path.display()), exit::UNUSABLE);
        }
    }
    if per
        .iter()
        .any(|c| c.subgroup.is_none() || c.bpsn.is_none() || c.bnsp.is_none())
    {
        eprintln!("warning: some community lacks toxic or non-toxic posts; its AUC and the GMB are undefined (—)");
    }
    ExitCode::SUCCESS
}
