//! `rationale train supervise` end to end on a planted toy: train → explain --method attention
//! → score. The annotators mark a word that carries no label information, so only the
//! alignment term can put attention on it: λ > 0 must reach a high Token F1 where λ = 0 stays
//! low, at the same accuracy. Plus the error paths.
#![cfg(feature = "models")]

use rand::{Rng, SeedableRng};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rationale"))
}

/// Documents of 6–9 words: filler, one label word (good → pos, bad → neg), and the marker
/// `zz` at a random position, which every annotator (2 of them) marks. `masks: false` writes
/// no evidence (a labels-only split).
fn write_split(dir: &Path, split: &str, n: usize, seed: u64, masks: bool) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let docs = dir.join("docs");
    std::fs::create_dir_all(&docs).unwrap();
    let mut lines = String::new();
    for i in 0..n {
        let pos = rng.gen_bool(0.5);
        let len = rng.gen_range(6..10);
        let mut words: Vec<String> = (0..len)
            .map(|_| format!("w{}", rng.gen_range(0..12)))
            .collect();
        let label_at = rng.gen_range(0..len);
        words[label_at] = if pos { "good" } else { "bad" }.into();
        let mut marker_at = rng.gen_range(0..len);
        while marker_at == label_at {
            marker_at = rng.gen_range(0..len);
        }
        words[marker_at] = "zz".into();
        let id = format!("{split}_{i}");
        std::fs::write(docs.join(&id), words.join(" ")).unwrap();
        let ev = json!({"docid": id, "start_token": marker_at, "end_token": marker_at + 1,
                        "start_sentence": 0, "end_sentence": 1, "text": "zz"});
        let evidences = if masks {
            json!([[ev.clone()], [ev]])
        } else {
            json!([])
        };
        let ann = json!({"annotation_id": id, "classification": if pos { "pos" } else { "neg" },
                         "query": "?", "evidences": evidences});
        lines += &format!("{ann}\n");
    }
    std::fs::write(dir.join(format!("{split}.jsonl")), lines).unwrap();
}

fn toy(dir: &Path) {
    write_split(dir, "train", 240, 1, true);
    write_split(dir, "val", 40, 2, true);
    write_split(dir, "test", 60, 3, true);
    write_split(dir, "labels_only", 40, 4, false);
}

fn run(c: &mut Command) -> String {
    let o = c.output().unwrap();
    assert!(
        o.status.success(),
        "{:?} failed: {}",
        c.get_args().collect::<Vec<_>>(),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Trains, explains test with attention (top-1 word) and scores: (Token F1, accuracy).
fn token_f1(data: &Path, out: &Path, encoder: &[&str], lambda: &str, loss: &str) -> (f64, f64) {
    run(bin()
        .args(["train", "supervise", "--quiet", "--data-dir"])
        .arg(data)
        .arg("--out")
        .arg(out)
        .args(encoder)
        .args([
            "--embed-dim",
            "16",
            "--hidden",
            "16",
            "--attention-dim",
            "16",
        ])
        .args([
            "--min-frequency",
            "1",
            "--epochs",
            "8",
            "--batch-size",
            "16",
            "--lr",
            "0.01",
        ])
        .args(["--patience", "8", "--seed", "3", "--dropout", "0"])
        .args([
            "--align-loss",
            loss,
            "--target",
            "union",
            "--lambda",
            lambda,
        ]));
    let preds = out.join("test_preds.jsonl");
    run(bin()
        .args([
            "explain",
            "--quiet",
            "--method",
            "attention",
            "--k",
            "1",
            "--split",
            "test",
        ])
        .arg("--model")
        .arg(out.join("best"))
        .arg("--data-dir")
        .arg(data)
        .arg("--out")
        .arg(&preds));
    let scores = out.join("scores.json");
    run(bin()
        .args(["score", "-q", "--split", "test", "--data-dir"])
        .arg(data)
        .arg("--results")
        .arg(&preds)
        .arg("--score-file")
        .arg(&scores));
    let s: Value = serde_json::from_str(&std::fs::read_to_string(&scores).unwrap()).unwrap();
    let f1 = s["token_prf"]["instance_macro"]["f1"].as_f64().unwrap();
    let acc = s["classification_scores"]["accuracy"]
        .as_f64()
        .or_else(|| s["classification_scores"]["micro avg"]["f1-score"].as_f64())
        .unwrap_or_else(|| panic!("no accuracy in {s}"));
    (f1, acc)
}

#[test]
fn supervised_attention_finds_the_planted_rationale_and_unsupervised_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    toy(&data);
    let gru = ["--encoder", "gru"];
    let (f0, acc0) = token_f1(&data, &dir.path().join("g0"), &gru, "0", "kl");
    let (f1, acc1) = token_f1(&data, &dir.path().join("g1"), &gru, "1", "kl");
    eprintln!("gru: λ=0 Token F1 {f0:.3} acc {acc0:.3}; λ=1 (kl) Token F1 {f1:.3} acc {acc1:.3}");
    assert!(acc0 > 0.9 && acc1 > 0.9, "accuracy {acc0} / {acc1}");
    assert!(f1 > 0.9, "supervised Token F1 {f1}");
    assert!(f0 < 0.5, "unsupervised Token F1 {f0}");
    let tr = [
        "--encoder",
        "transformer",
        "--layers",
        "1",
        "--heads",
        "2",
        "--max-len",
        "16",
    ];
    let (t0, _) = token_f1(&data, &dir.path().join("t0"), &tr, "0", "pruthi");
    let (t1, tacc) = token_f1(&data, &dir.path().join("t1"), &tr, "1", "pruthi");
    eprintln!("transformer: λ=0 Token F1 {t0:.3}; λ=1 (pruthi) Token F1 {t1:.3} acc {tacc:.3}");
    assert!(
        t1 > 0.9 && t1 > t0 + 0.4,
        "transformer Token F1 {t0} → {t1}"
    );
    // The run configuration records the alignment term (so --resume and --config reproduce it).
    let run_json: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.path().join("t1/run.json")).unwrap())
            .unwrap();
    assert_eq!(run_json["align"]["loss"], "pruthi");
    assert_eq!(run_json["align"]["lambda"], 1.0);
    // explain --query-row reads one query row ([CLS]-style); out of range is a clear error.
    let explain_row = |row: &str| {
        let mut c = bin();
        c.args([
            "explain",
            "--quiet",
            "--method",
            "attention",
            "--k",
            "1",
            "--query-row",
            row,
        ])
        .arg("--model")
        .arg(dir.path().join("t1/best"))
        .arg("--data-dir")
        .arg(&data)
        .arg("--out")
        .arg(dir.path().join("row.jsonl"));
        c
    };
    run(&mut explain_row("0"));
    fails_with(&mut explain_row("40"), "query row 40 out of range");
}

fn fails_with(c: &mut Command, needle: &str) {
    let o = c.output().unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains(needle), "expected {needle:?} in: {err}");
    assert!(!err.contains("panicked"), "{err}");
}

#[test]
fn unusable_supervision_setups_are_clear_errors() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    toy(&data);
    let base = |c: &mut Command| {
        c.args([
            "train",
            "supervise",
            "--quiet",
            "--epochs",
            "1",
            "--data-dir",
        ])
        .arg(&data)
        .arg("--out")
        .arg(dir.path().join("o"));
    };
    let mut c = bin();
    base(&mut c);
    fails_with(
        c.args(["--encoder", "cnn"]),
        "attention supervision needs attention",
    );
    let mut c = bin();
    base(&mut c);
    fails_with(
        c.args(["--train-split", "labels_only"]),
        "no training example has a rationale mask",
    );
    let mut c = bin();
    base(&mut c);
    fails_with(
        c.args(["--mask-split", "val"]),
        "is also the validation split",
    );
    let mut c = bin();
    base(&mut c);
    fails_with(
        c.args([
            "--encoder",
            "transformer",
            "--layers",
            "1",
            "--heads",
            "2",
            "--layer",
            "3",
        ]),
        "layer 3 out of range",
    );
    // A labels-only training split works with the masks of another split and a held-out part
    // of the training split for early stopping (HateXplain's public copies).
    let mut c = bin();
    base(&mut c);
    run(c.args([
        "--train-split",
        "labels_only",
        "--mask-split",
        "val",
        "--val-holdout",
        "0.2",
    ]));
}
