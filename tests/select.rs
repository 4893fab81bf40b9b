//! Selective rationalization end to end on a planted-token problem whose answer is known: the
//! label is decided by one word ("great" / "awful") at a random position among filler words,
//! and that word is the gold rationale.

mod common;

use common::planted;
#[cfg(feature = "cli")]
use common::rationale as run;
use rationale::models::Example;
use rationale::select::{
    train_select, Estimator, Granularity, Rationalized, SelectConfig, SelectModel,
};
#[cfg(feature = "cli")]
use serde_json::Value;
use std::path::Path;

fn config(dir: &Path, estimator: Estimator) -> SelectConfig {
    SelectConfig {
        data_dir: dir.to_path_buf(),
        embed_dim: 16,
        filters: 16,
        widths: vec![1],
        min_frequency: 1,
        estimator,
        budget: 1.0 / 12.0,
        epochs: 12,
        batch_size: 16,
        lr: 1e-2,
        dropout: 0.0,
        patience: 12,
        ..SelectConfig::default()
    }
}

/// The test documents and the trained model's rationales of them (sentences of 6 words).
fn test_rationales(dir: &Path, out: &Path) -> (Vec<Example>, Vec<Rationalized>) {
    let model = SelectModel::load(&out.join("best")).unwrap();
    let data = rationale::corpus::DataDir::new(dir);
    let set = rationale::models::ExampleSet::load(&data, "test").unwrap();
    let encs: Vec<_> = set
        .examples
        .iter()
        .map(|e| model.encode(&e.words).unwrap())
        .collect();
    let sents: Vec<Vec<usize>> = set
        .examples
        .iter()
        .map(|e| (0..e.words.len()).map(|i| i / 6).collect())
        .collect();
    let rats = model.rationalize(&encs, &sents).unwrap();
    (set.examples, rats)
}

/// Share of test documents whose selection contains the planted word, and the accuracy.
fn check(dir: &Path, out: &Path) -> (f64, f64) {
    let (examples, rats) = test_rationales(dir, out);
    let (mut hit, mut correct) = (0, 0);
    for (ex, r) in examples.iter().zip(&rats) {
        hit += r.mask[ex.gold[0]] as usize;
        let pred = if r.probs[1] > r.probs[0] {
            "POS"
        } else {
            "NEG"
        };
        correct += (pred == ex.label) as usize;
    }
    let n = examples.len() as f64;
    (hit as f64 / n, correct as f64 / n)
}

#[test]
fn a2r_generator_learns_the_planted_word_with_and_without_noise() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    planted(&dir, [("train", 200), ("val", 40), ("test", 40)], 1);
    for noise in [0.0, 0.3] {
        let out = tmp.path().join(format!("run{noise}"));
        let cfg = SelectConfig {
            noise,
            ..config(&dir, Estimator::A2r)
        };
        let report = train_select(&cfg, &out, &rationale::progress::Silent).unwrap();
        let last = report.history.last().unwrap();
        assert!((last.val_selection_rate - 1.0 / 12.0).abs() < 1e-9);
        if noise > 0.0 {
            assert!(last.replace_ratio > 0.0, "noise was injected");
        } else {
            assert_eq!(last.replace_ratio, 0.0);
        }
        let (hit, acc) = check(&dir, &out);
        assert!(
            hit >= 0.95 && acc >= 0.95,
            "noise {noise}: hit {hit} acc {acc}"
        );
    }
}

#[test]
fn sampled_estimators_find_the_planted_word() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    planted(&dir, [("train", 200), ("val", 40), ("test", 40)], 2);
    for est in [Estimator::Gumbel, Estimator::HardKuma, Estimator::Reinforce] {
        let out = tmp.path().join(format!("{est:?}"));
        let mut cfg = config(&dir, est);
        // Sampled masks find the word by exploration: more steps than top-k, no continuity.
        cfg.epochs = 30;
        cfg.continuity_weight = 0.0;
        if est == Estimator::Gumbel {
            // The predictor sees only selected tokens, so an unselected word gets no
            // straight-through gradient: Gumbel finds the word by sampling it. A budget of 3
            // words per document makes that exploration reliable; the word must be among them.
            cfg.budget = 0.25;
        }
        let report = train_select(&cfg, &out, &rationale::progress::Silent).unwrap();
        let (hit, acc) = check(&dir, &out);
        let best = &report.history[report.best_epoch - 1];
        eprintln!(
            "{est:?}: hit {hit} acc {acc} rate {}",
            best.val_selection_rate
        );
        assert!(hit >= 0.9 && acc >= 0.9, "{est:?}: hit {hit} acc {acc}");
        assert!(
            best.val_selection_rate <= cfg.budget + 0.05,
            "{est:?} selects too much"
        );
    }
}

#[test]
fn sentence_granularity_selects_whole_sentences() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    planted(&dir, [("train", 120), ("val", 20), ("test", 20)], 3);
    let out = tmp.path().join("run");
    let cfg = SelectConfig {
        granularity: Granularity::Sentence,
        budget: 0.5,
        ..config(&dir, Estimator::A2r)
    };
    train_select(&cfg, &out, &rationale::progress::Silent).unwrap();
    let (hit, acc) = check(&dir, &out);
    assert!(hit >= 0.9 && acc >= 0.9, "hit {hit} acc {acc}");
}

#[test]
fn a2r_window_selects_a_phrase_around_the_planted_word() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    planted(&dir, [("train", 200), ("val", 40), ("test", 40)], 5);
    let out = tmp.path().join("run");
    let cfg = SelectConfig {
        window: 1,
        budget: 0.25,
        ..config(&dir, Estimator::A2r)
    };
    train_select(&cfg, &out, &rationale::progress::Silent).unwrap();
    let (hit, acc) = check(&dir, &out);
    assert!(hit >= 0.9 && acc >= 0.9, "hit {hit} acc {acc}");
    // Top-3 of scores averaged over 3 words: the planted word comes with its neighbours.
    let (examples, rats) = test_rationales(&dir, &out);
    let mut phrases = 0;
    for (ex, r) in examples.iter().zip(&rats) {
        let g = ex.gold[0];
        let around = g.saturating_sub(1)..(g + 2).min(r.mask.len());
        phrases += r.mask[around].iter().all(|m| *m) as usize;
    }
    assert!(
        phrases as f64 >= 0.9 * rats.len() as f64,
        "{phrases} of {}",
        rats.len()
    );
    let bad = SelectConfig {
        estimator: Estimator::HardKuma,
        ..cfg
    };
    let err =
        train_select(&bad, &tmp.path().join("bad"), &rationale::progress::Silent).unwrap_err();
    assert!(err.to_string().contains("--window 0"), "{err}");
}

#[test]
#[cfg(feature = "cli")]
fn cli_train_explain_score_render() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("data");
    planted(&dir, [("train", 120), ("val", 20), ("test", 20)], 4);
    let (d, out) = (dir.to_str().unwrap(), tmp.path().join("model"));
    let o = run(&[
        "train",
        "select",
        "--data-dir",
        d,
        "--out",
        out.to_str().unwrap(),
        "--quiet",
        "--epochs",
        "3",
        "--embed-dim",
        "8",
        "--filters",
        "8",
        "--widths",
        "1",
        "--budget",
        "0.1",
        "--noise",
        "0.2",
        "--min-frequency",
        "1",
        "--lr",
        "0.01",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(err.contains("selected"), "selection rate reported: {err}");
    let results = tmp.path().join("select.jsonl");
    let o = run(&[
        "explain",
        "--model",
        out.to_str().unwrap(),
        "--data-dir",
        d,
        "--method",
        "select",
        "--out",
        results.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(&results).unwrap();
    let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    for key in [
        "classification_scores",
        "comprehensiveness_classification_scores",
        "sufficiency_classification_scores",
        "thresholded_scores",
    ] {
        assert!(first.get(key).is_some(), "{key}");
    }
    assert_eq!(text.lines().count(), 20);
    let score_file = tmp.path().join("scores.json");
    let o = run(&[
        "score",
        "--data-dir",
        d,
        "--split",
        "test",
        "--results",
        results.to_str().unwrap(),
        "--score-file",
        score_file.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let s: Value = serde_json::from_str(&std::fs::read_to_string(&score_file).unwrap()).unwrap();
    assert!(s["token_prf"]["instance_macro"]["f1"].is_number());
    assert!(s["classification_scores"]["comprehensiveness"].is_number());
    let figs = tmp.path().join("figs");
    std::fs::create_dir_all(&figs).unwrap();
    let o = run(&[
        "render",
        "--data-dir",
        d,
        "--split",
        "test",
        "--results",
        results.to_str().unwrap(),
        "--id",
        "test_0",
        "--out",
        figs.join("x.svg").to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(std::fs::read_dir(&figs).unwrap().count() > 0);
    // Errors, not panics: a classifier-style method on a select checkpoint and bad options.
    let o = run(&[
        "train",
        "select",
        "--data-dir",
        d,
        "--out",
        out.to_str().unwrap(),
        "--budget",
        "0",
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("budget"));
    let o = run(&[
        "explain",
        "--model",
        dir.to_str().unwrap(),
        "--data-dir",
        d,
        "--method",
        "select",
        "--out",
        results.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("select.json"));
}
