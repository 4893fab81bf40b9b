//! Bad input to every model subcommand: each gets a clear message and exit code, never a panic,
//! and a failed start leaves no output behind.

mod common;

use common::rationale;
use std::path::{Path, PathBuf};

fn fails_with(args: &[&str], code: i32, expect: &str) {
    let o = rationale(args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(code), "{args:?}: {err}");
    assert!(
        err.contains(expect),
        "{args:?}: expected {expect:?} in {err}"
    );
    assert!(!err.contains("panicked"), "{args:?}: {err}");
}

fn movies() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/movies")
}

fn s(p: &Path) -> String {
    p.display().to_string()
}

/// A data directory whose splits name a document that docs/ lacks.
#[cfg(feature = "models")]
fn missing_doc_dir(root: &Path) -> PathBuf {
    let dir = root.join("missing_doc");
    std::fs::create_dir_all(dir.join("docs")).unwrap();
    let test = std::fs::read_to_string(movies().join("test.jsonl")).unwrap();
    let lines: String = test.lines().take(3).map(|l| format!("{l}\n")).collect();
    for split in ["train", "val", "test"] {
        std::fs::write(dir.join(format!("{split}.jsonl")), &lines).unwrap();
    }
    std::fs::copy(
        movies().join("docs/negR_900.txt"),
        dir.join("docs/negR_900.txt"),
    )
    .unwrap();
    dir
}

#[test]
fn scoring_an_empty_results_file_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let empty = tmp.path().join("empty.jsonl");
    std::fs::write(&empty, "").unwrap();
    fails_with(
        &[
            "score",
            "--data-dir",
            &s(&movies()),
            "--split",
            "test",
            "--results",
            &s(&empty),
        ],
        1,
        "no results lines (the file is empty)",
    );
}

#[test]
#[cfg(feature = "models")]
fn training_on_a_missing_document_names_it_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let data = missing_doc_dir(tmp.path());
    for what in ["classifier", "select"] {
        let out = tmp.path().join(format!("out_{what}"));
        fails_with(
            &[
                "train",
                what,
                "--data-dir",
                &s(&data),
                "--out",
                &s(&out),
                "--quiet",
                "--encoder",
                "cnn",
            ],
            2,
            "negR_901.txt missing (no such file in docs/",
        );
        assert!(
            !out.exists(),
            "{what}: no output folder after a failed start"
        );
    }
}

#[test]
#[cfg(feature = "models")]
fn explain_rejects_broken_checkpoints_and_bad_rationale_files() {
    let tmp = tempfile::tempdir().unwrap();
    let data = s(&movies());
    let model = tmp.path().join("cls");
    let o = rationale(&[
        "train",
        "classifier",
        "--data-dir",
        &data,
        "--out",
        &s(&model),
        "--quiet",
        "--encoder",
        "cnn",
        "--epochs",
        "1",
        "--limit",
        "8",
        "--max-len",
        "32",
        "--embed-dim",
        "8",
        "--filters",
        "4",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let best = model.join("best");
    let copy = |name: &str| {
        let d = tmp.path().join(name);
        std::fs::create_dir_all(&d).unwrap();
        for f in ["config.json", "model.safetensors", "tokenizer.json"] {
            std::fs::copy(best.join(f), d.join(f)).unwrap();
        }
        d
    };
    let out = s(&tmp.path().join("preds.jsonl"));
    let explain = |m: &Path, extra: &[&str]| {
        let mut a = vec![
            "explain".to_string(),
            "--model".into(),
            s(m),
            "--data-dir".into(),
            data.clone(),
            "--out".into(),
            out.clone(),
            "--limit".into(),
            "1".into(),
            "--quiet".into(),
        ];
        a.extend(extra.iter().map(|x| x.to_string()));
        a
    };
    let check = |args: Vec<String>, expect: &str| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        fails_with(&refs, 2, expect);
    };

    let corrupt = copy("corrupt_config");
    std::fs::write(corrupt.join("config.json"), "{\"encoder\": ").unwrap();
    check(
        explain(&corrupt, &[]),
        "corrupt_config/config.json: not JSON",
    );

    let truncated = copy("truncated");
    let bytes = std::fs::read(truncated.join("model.safetensors")).unwrap();
    std::fs::write(
        truncated.join("model.safetensors"),
        &bytes[..bytes.len() / 3],
    )
    .unwrap();
    check(
        explain(&truncated, &[]),
        "weights do not match the architecture",
    );

    let empty = tmp.path().join("empty_dir");
    std::fs::create_dir_all(&empty).unwrap();
    check(explain(&empty, &[]), "a model directory needs config.json");

    // A classifier checkpoint where a selective rationalizer is expected.
    check(
        explain(&model, &["--method", "select"]),
        "not a selective-rationalizer checkpoint",
    );

    // Rationales to measure: empty, malformed, NaN.
    let empty_results = tmp.path().join("empty.jsonl");
    std::fs::write(&empty_results, "").unwrap();
    check(
        explain(&model, &["--rationales-from", &s(&empty_results)]),
        "no results records (the file is empty)",
    );
    let malformed = tmp.path().join("malformed.jsonl");
    std::fs::write(&malformed, "{\"annotation_id\": \n").unwrap();
    check(
        explain(&model, &["--rationales-from", &s(&malformed)]),
        "malformed.jsonl:1: not an ERASER results record",
    );
    let words = std::fs::read_to_string(movies().join("docs/negR_900.txt"))
        .unwrap()
        .split_whitespace()
        .count();
    let mut soft = vec!["0.5".to_string(); words];
    soft[3] = "NaN".into();
    let nan = tmp.path().join("nan.jsonl");
    std::fs::write(
        &nan,
        format!(
            "{{\"annotation_id\": \"negR_900.txt\", \"rationales\": [{{\"docid\": \"negR_900.txt\", \
             \"soft_rationale_predictions\": [{}]}}]}}\n",
            soft.join(", ")
        ),
    )
    .unwrap();
    check(
        explain(&model, &["--rationales-from", &s(&nan)]),
        "soft score 3 is NaN",
    );
}
