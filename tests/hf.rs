//! Hugging Face classifiers against transformers: the tiny checkpoints and expected outputs of
//! `tests/fixtures/hf/make_fixtures.py` (transformers, eager attention, float32).
#![cfg(feature = "models")]

mod common;

use common::{edited_copy, expected, floats, hf_fixture as fixture, max_diff};

use candle_core::{DType, Device, Tensor};
use rationale::explain::{explain, ExplainConfig, Method};
use rationale::models::hf::HfClassifier;
use rationale::models::{Classifier, TextModel};
use serde_json::Value;
use std::collections::HashMap;
use std::path::Path;

const CLASSIFIERS: [&str; 4] = [
    "bert_cls",
    "roberta_cls",
    "distilbert_cls",
    "modernbert_cls",
];

/// `ours` equals `theirs` within `rel` of theirs' largest magnitude.
fn assert_close_rel(what: &str, ours: &[f32], theirs: &[f32], rel: f32) {
    let scale = theirs.iter().fold(0f32, |m, x| m.max(x.abs())).max(1e-12);
    let d = max_diff(ours, theirs);
    assert!(
        d <= rel * scale,
        "{what}: max diff {d} > {rel} × {scale}\nours   {ours:?}\ntheirs {theirs:?}"
    );
}

#[test]
fn tokens_logits_gradients_and_attentions_equal_transformers() {
    for name in CLASSIFIERS {
        let dir = fixture(name);
        let exp = expected(&dir);
        let model = HfClassifier::load(&dir).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            model.labels(),
            ["negative", "neutral", "positive"],
            "{name}"
        );
        let mut all_ids = Vec::new();
        for (text, case) in exp["texts"]
            .as_array()
            .unwrap()
            .iter()
            .zip(exp["cases"].as_array().unwrap())
        {
            let text = text.as_str().unwrap();
            let what = format!("{name} {text:?}");
            let input = model.encode_text(text).unwrap();
            let ids: Vec<u32> = case["ids"]
                .as_array()
                .unwrap()
                .iter()
                .map(|x| x.as_u64().unwrap() as u32)
                .collect();
            assert_eq!(input.encoded.ids, ids, "{what}: ids");
            let tokens: Vec<String> = serde_json::from_value(case["tokens"].clone()).unwrap();
            assert_eq!(input.tokens, tokens, "{what}: tokens");
            let word_of: Vec<Option<usize>> =
                serde_json::from_value(case["word_of"].clone()).unwrap();
            assert_eq!(input.encoded.word_of, word_of, "{what}: word of each token");
            assert_eq!(
                input.words,
                text.split_whitespace().collect::<Vec<_>>(),
                "{what}"
            );

            let logits = model.logits(&[&ids]).unwrap().row(0).to_vec();
            let d = max_diff(&logits, &floats(&case["logits"]));
            assert!(
                d < 1e-4,
                "{what}: logits differ by {d}: {logits:?} vs {}",
                case["logits"]
            );
            let probs = model.predict_proba(&[&ids]).unwrap().row(0).to_vec();
            assert!(
                max_diff(&probs, &floats(&case["probs"])) < 1e-5,
                "{what}: probs"
            );
            let target = case["target"].as_u64().unwrap() as usize;

            let enc = &input.encoded;
            for (method, key) in [
                (Method::Gradient, "gradient_words"),
                (Method::GradInput, "grad_input_words"),
                (Method::IntegratedGradients, "ig_words"),
            ] {
                let cfg = ExplainConfig {
                    method,
                    ..Default::default()
                };
                let ours = explain(&model, enc, target, &cfg, 0).unwrap();
                assert_close_rel(&format!("{what} {key}"), &ours, &floats(&case[key]), 2e-3);
            }

            let maps = rationale::models::AttentionClassifier::attentions(&model, &ids).unwrap();
            let theirs: Vec<f32> = flatten(&case["attentions"]);
            let ours: Vec<f32> = maps.layers.iter().copied().collect();
            assert!(max_diff(&ours, &theirs) < 1e-4, "{what}: attentions");
            // ModernBERT's fixture mean-pools: every query row is read.
            let readout = if name == "modernbert_cls" {
                None
            } else {
                Some(0)
            };
            assert_eq!(maps.readout, readout, "{what}");
            all_ids.push(ids);
        }
        // A padded batch gives each text's own logits.
        let refs: Vec<&[u32]> = all_ids.iter().map(Vec::as_slice).collect();
        let batch = model.logits(&refs).unwrap();
        for (i, ids) in refs.iter().enumerate() {
            let single = model.logits(&[ids]).unwrap();
            let d = max_diff(&batch.row(i).to_vec(), &single.row(0).to_vec());
            assert!(
                d < 1e-5,
                "{name}: batch row {i} differs from the single input by {d}"
            );
        }
    }
}

fn flatten(v: &Value) -> Vec<f32> {
    match v {
        Value::Array(a) => a.iter().flat_map(flatten).collect(),
        x => vec![x.as_f64().unwrap() as f32],
    }
}

fn load_error(dir: &Path) -> String {
    match HfClassifier::load(dir) {
        Ok(_) => panic!("{} loaded", dir.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_checkpoints_get_messages_naming_what_is_wrong() {
    // An unsupported architecture: the message lists what is supported.
    let tmp = edited_copy(&fixture("bert_cls"), |c| c, |_| {});
    let cfg = tmp.path().join("config.json");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace(
            "BertForSequenceClassification",
            "T5ForConditionalGeneration",
        ),
    )
    .unwrap();
    let e = load_error(tmp.path());
    assert!(
        e.contains("\"T5ForConditionalGeneration\" is not supported"),
        "{e}"
    );
    assert!(e.contains("DistilBertForSequenceClassification"), "{e}");

    // A missing tensor, named as the checkpoint names it.
    let gone = "distilbert.transformer.layer.1.ffn.lin2.weight";
    let tmp = edited_copy(
        &fixture("distilbert_cls"),
        |c| c,
        |t| {
            t.remove(gone);
        },
    );
    let e = load_error(tmp.path());
    assert!(e.contains(gone) && e.contains("model.safetensors"), "{e}");

    // A tensor of the wrong shape: name and both shapes.
    let name = "roberta.encoder.layer.0.attention.self.query.weight";
    let tmp = edited_copy(
        &fixture("roberta_cls"),
        |c| c,
        |t| {
            t.insert(
                name.into(),
                Tensor::zeros((32, 16), DType::F32, &Device::Cpu).unwrap(),
            );
        },
    );
    let e = load_error(tmp.path());
    assert!(
        e.contains(name) && e.contains("[32, 16]") && e.contains("[32, 32]"),
        "{e}"
    );

    // A tokenizer with ids beyond the embedding table.
    let emb = "bert.embeddings.word_embeddings.weight";
    let tmp = edited_copy(
        &fixture("bert_cls"),
        |c| c,
        |t| {
            let w = t[emb].narrow(0, 0, 50).unwrap();
            t.insert(emb.into(), w);
        },
    );
    let e = load_error(tmp.path());
    assert!(e.contains("tokenizer.json") && e.contains("50 rows"), "{e}");

    // A head of another task: no classification head.
    let tmp = edited_copy(
        &fixture("bert_cls"),
        |c| c,
        |t| {
            t.remove("classifier.weight");
            t.remove("classifier.bias");
        },
    );
    let e = load_error(tmp.path());
    assert!(e.contains("no classification head"), "{e}");
}

#[test]
fn sharded_and_half_precision_checkpoints_load() {
    let dir = fixture("bert_cls");
    let exp = expected(&dir);
    let case = &exp["cases"][0];
    let ids: Vec<u32> = serde_json::from_value(case["ids"].clone()).unwrap();
    let theirs = floats(&case["logits"]);

    // Two shards and an index.
    let tmp = tempfile::tempdir().unwrap();
    for f in ["config.json", "tokenizer.json"] {
        std::fs::copy(dir.join(f), tmp.path().join(f)).unwrap();
    }
    let t = candle_core::safetensors::load(dir.join("model.safetensors"), &Device::Cpu).unwrap();
    let mut names: Vec<&String> = t.keys().collect();
    names.sort();
    let (a, b) = names.split_at(names.len() / 2);
    let mut map = serde_json::Map::new();
    for (file, part) in [
        ("model-00001-of-00002.safetensors", a),
        ("model-00002-of-00002.safetensors", b),
    ] {
        let shard: HashMap<String, Tensor> =
            part.iter().map(|n| ((*n).clone(), t[*n].clone())).collect();
        candle_core::safetensors::save(&shard, tmp.path().join(file)).unwrap();
        for n in part {
            map.insert((*n).clone(), file.into());
        }
    }
    let index = serde_json::json!({"metadata": {}, "weight_map": map});
    std::fs::write(
        tmp.path().join("model.safetensors.index.json"),
        index.to_string(),
    )
    .unwrap();
    let model = HfClassifier::load(tmp.path()).unwrap();
    assert!(max_diff(&model.logits(&[&ids]).unwrap().row(0).to_vec(), &theirs) < 1e-4);

    // bf16 weights compute in f32: equal up to bf16 rounding of the weights.
    let tmp = edited_copy(
        &fixture("bert_cls"),
        |c| c,
        |t| {
            for v in t.values_mut() {
                *v = v.to_dtype(DType::BF16).unwrap();
            }
        },
    );
    let model = HfClassifier::load(tmp.path()).unwrap();
    let d = max_diff(&model.logits(&[&ids]).unwrap().row(0).to_vec(), &theirs);
    assert!(d < 0.05, "bf16 logits differ by {d}");
}

#[cfg(feature = "cli")]
mod cli {
    use super::*;

    fn lines(out: &std::process::Output) -> Vec<Value> {
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn predict_and_explain_print_transformers_numbers() {
        for name in CLASSIFIERS {
            let dir = fixture(name);
            let exp = expected(&dir);
            let texts: Vec<&str> = exp["texts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap())
                .collect();
            let mut args = vec![
                "predict",
                "--model",
                dir.to_str().unwrap(),
                "--json",
                "--batch-size",
                "3",
            ];
            for t in &texts {
                args.extend(["--text", t]);
            }
            let out = lines(&common::rationale(&args));
            assert_eq!(out.len(), texts.len());
            for ((line, case), text) in out.iter().zip(exp["cases"].as_array().unwrap()).zip(&texts)
            {
                assert_eq!(line["text"], *text);
                assert_eq!(line["tokens"], case["tokens"], "{name}");
                assert!(
                    max_diff(&floats(&line["logits"]), &floats(&case["logits"])) < 1e-4,
                    "{name}"
                );
                let probs: Vec<f32> = ["negative", "neutral", "positive"]
                    .iter()
                    .map(|l| line["probs"][l].as_f64().unwrap() as f32)
                    .collect();
                assert!(max_diff(&probs, &floats(&case["probs"])) < 1e-5, "{name}");
            }
            let text = texts[0];
            let out = lines(&common::rationale(&[
                "explain",
                "--model",
                dir.to_str().unwrap(),
                "--text",
                text,
                "--method",
                "gradient",
                "--json",
            ]));
            let case = &exp["cases"][0];
            assert_eq!(
                out[0]["words"],
                serde_json::json!(text.split_whitespace().collect::<Vec<_>>())
            );
            assert_close_rel(
                name,
                &floats(&out[0]["scores"]),
                &floats(&case["gradient_words"]),
                2e-3,
            );
            let target = case["target"].as_u64().unwrap() as usize;
            assert_eq!(
                out[0]["target"],
                ["negative", "neutral", "positive"][target]
            );
        }
    }

    #[test]
    fn long_texts_are_cut_with_a_warning_and_bad_folders_exit_2() {
        let dir = fixture("roberta_cls");
        let long = vec!["good"; 200].join(" ");
        let o = common::rationale(&[
            "predict",
            "--model",
            dir.to_str().unwrap(),
            "--text",
            &long,
            "--json",
        ]);
        assert!(o.status.success());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            err.contains("text 1: ") && err.contains("cut to 64"),
            "{err}"
        );
        let line: Value =
            serde_json::from_slice(o.stdout.split(|b| *b == b'\n').next().unwrap()).unwrap();
        assert_eq!(line["tokens"].as_array().unwrap().len(), 64);
        assert_eq!(line["tokens"][63], "</s>");

        let empty = tempfile::tempdir().unwrap();
        let o = common::rationale(&[
            "predict",
            "--model",
            empty.path().to_str().unwrap(),
            "--text",
            "x",
        ]);
        assert_eq!(o.status.code(), Some(2));
        assert!(String::from_utf8_lossy(&o.stderr).contains("config.json: missing file"));
    }
}

#[test]
fn smoothgrad_without_noise_is_the_gradient_and_kernel_shap_is_efficient() {
    let dir = fixture("roberta_cls");
    let exp = expected(&dir);
    let model = HfClassifier::load(&dir).unwrap();
    for case in exp["cases"].as_array().unwrap() {
        let ids: Vec<u32> = serde_json::from_value(case["ids"].clone()).unwrap();
        let word_of: Vec<Option<usize>> = serde_json::from_value(case["word_of"].clone()).unwrap();
        let n_words = word_of.iter().flatten().max().map_or(0, |w| w + 1);
        let enc = rationale::models::Encoded {
            ids,
            word_of,
            n_words,
            pad_id: 1,
        };
        let target = case["target"].as_u64().unwrap() as usize;
        let cfg = ExplainConfig {
            method: Method::SmoothGrad,
            smoothgrad_noise: 0.0,
            ..Default::default()
        };
        let ours = explain(&model, &enc, target, &cfg, 0).unwrap();
        assert_close_rel(
            "smoothgrad at noise 0",
            &ours,
            &floats(&case["gradient_words"]),
            2e-3,
        );

        // Shapley values add up to p(all words) − p(no words).
        let cfg = ExplainConfig {
            method: Method::KernelShap,
            ..Default::default()
        };
        let phi = explain(&model, &enc, target, &cfg, 0).unwrap();
        let none = enc.keep_words(|_| false);
        let p = model.predict_proba(&[&enc.ids, &none.ids]).unwrap();
        let total = p[[0, target]] - p[[1, target]];
        let sum: f32 = phi.iter().sum();
        assert!(
            (sum - total).abs() < 1e-4,
            "Σφ = {sum}, p(all) − p(none) = {total}"
        );
    }
}

#[cfg(feature = "cli")]
#[test]
fn greedy_and_split_explanations_run_on_a_hugging_face_classifier() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let docs = vec![
        (
            "d1".to_string(),
            "the movie was good .\nthe plot was fine .".to_string(),
        ),
        (
            "d2".to_string(),
            "an interminable , dull screenplay .".to_string(),
        ),
        ("d3".to_string(), "the cast was fine .".to_string()),
    ];
    let ann = |id: &str, label: &str, text: &str, start: usize, end: usize| {
        serde_json::json!({"annotation_id": id, "classification": label, "docids": null, "query": "", "query_type": null,
            "evidences": [[{"docid": id, "start_sentence": 0, "end_sentence": 1, "start_token": start, "end_token": end, "text": text}]]})
    };
    // Every label of the model occurs, so the scorer accepts whatever it predicts.
    let anns = vec![
        ann("d1", "positive", "was good", 2, 4),
        ann("d2", "negative", "dull", 3, 4),
        ann("d3", "neutral", "fine", 3, 4),
    ];
    common::write_dataset(&data, &docs, &anns, &[]);
    std::fs::write(
        data.join("train.jsonl"),
        std::fs::read(data.join("test.jsonl")).unwrap(),
    )
    .unwrap();
    let model = fixture("distilbert_cls");
    let out = dir.path().join("greedy.jsonl");
    let o = common::rationale(&[
        "greedy",
        "--model",
        model.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--split",
        "test",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let lines: Vec<Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert!(lines
        .iter()
        .all(|l| !l["rationales"][0]["hard_rationale_predictions"]
            .as_array()
            .unwrap()
            .is_empty()));

    let out = dir.path().join("ig.jsonl");
    let o = common::rationale(&[
        "explain",
        "--model",
        model.to_str().unwrap(),
        "--data-dir",
        data.to_str().unwrap(),
        "--method",
        "kernel-shap",
        "--out",
        out.to_str().unwrap(),
        "--quiet",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = common::rationale(&[
        "score",
        "--data-dir",
        data.to_str().unwrap(),
        "--split",
        "test",
        "--results",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

/// Every tensor of a safetensors file, by name.
fn tensors(path: &Path) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(path, &Device::Cpu).unwrap()
}

/// `tests/fixtures/hf/bert_export/` (made by `make_export_fixture.py`): `trained/` is a
/// checkpoint fine-tuned here from bert_cls, `exported/` its export, on which transformers
/// computed the expected logits. Exporting again writes the same folder, and the checkpoint and
/// the export (loaded back as a Hugging Face classifier) both give transformers' logits.
#[test]
fn a_fine_tuned_bert_exports_to_what_transformers_loads_with_the_same_logits() {
    use rationale::models::classifier::TextClassifier;
    use rationale::models::hf::save_bert_classifier;
    let root = fixture("bert_export");
    let (trained, exported) = (root.join("trained"), root.join("exported"));
    let dir = tempfile::tempdir().unwrap();
    save_bert_classifier(&TextClassifier::load(&trained).unwrap(), dir.path()).unwrap();
    for file in ["config.json", "tokenizer.json", "tokenizer_config.json"] {
        let read = |d: &Path| std::fs::read_to_string(d.join(file)).unwrap();
        assert_eq!(read(dir.path()), read(&exported), "{file}");
    }
    let (ours, theirs) = (
        tensors(&dir.path().join("model.safetensors")),
        tensors(&exported.join("model.safetensors")),
    );
    let mut names: Vec<&String> = ours.keys().collect();
    names.sort();
    assert_eq!(names.len(), theirs.len());
    assert!(names.contains(&&"bert.pooler.dense.weight".to_string()));
    for name in names {
        let flat = |t: &Tensor| t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert_eq!(flat(&ours[name]), flat(&theirs[name]), "{name}");
    }
    let exp = expected(&exported);
    for dir in [&trained, &exported] {
        let model = rationale::models::load_text_model(dir).unwrap();
        assert_eq!(model.labels(), ["NEG", "POS"]);
        for (text, case) in exp["texts"]
            .as_array()
            .unwrap()
            .iter()
            .zip(exp["cases"].as_array().unwrap())
        {
            let ids = model
                .encode_text(text.as_str().unwrap())
                .unwrap()
                .encoded
                .ids;
            let want: Vec<u32> = floats(&case["ids"]).iter().map(|&x| x as u32).collect();
            assert_eq!(ids, want, "{} {text}", dir.display());
            let logits = model.logits(&[&ids]).unwrap();
            let d = max_diff(logits.row(0).as_slice().unwrap(), &floats(&case["logits"]));
            assert!(d <= 1e-4, "{} {text}: logits differ by {d}", dir.display());
        }
    }
}

/// Only BERT classifiers with BERT's own head export; the others are refused with a reason.
#[test]
#[cfg(feature = "cli")]
fn classifiers_without_bert_s_head_are_refused_by_export() {
    let root = fixture("bert_export").join("trained");
    // A checkpoint from before the pooler head: mean-pooled, no pooler tensors.
    let legacy = edited_copy(
        &root,
        |c| c.replace("\"pooler\": true", "\"pooler\": false"),
        |t| t.retain(|name, _| !name.starts_with("encoder.pooler.")),
    );
    let out = tempfile::tempdir().unwrap();
    let o = common::rationale(&[
        "export",
        "--model",
        legacy.path().to_str().unwrap(),
        "--out",
        out.path().join("hf").to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("mean-pools") && err.contains("--encoder"),
        "{err}"
    );
    assert!(!out.path().join("hf").exists());
}

/// `train classifier --encoder bert:DIR`, `export`, then `predict` on both folders: the same
/// probabilities, through the command line.
#[test]
#[cfg(feature = "cli")]
fn train_export_predict_through_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let (run, hf) = (dir.path().join("run"), dir.path().join("hf"));
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/movies");
    let base = format!("bert:{}", fixture("bert_cls").display());
    let path = |p: &Path| p.to_str().unwrap().to_owned();
    let ok = |o: std::process::Output| {
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8(o.stdout).unwrap()
    };
    ok(common::rationale(&[
        "train",
        "classifier",
        "--data-dir",
        &path(&data),
        "--out",
        &path(&run),
        "--encoder",
        &base,
        "--limit",
        "16",
        "--epochs",
        "1",
        "--max-len",
        "64",
        "--quiet",
    ]));
    ok(common::rationale(&[
        "export",
        "--model",
        &path(&run),
        "--out",
        &path(&hf),
    ]));
    let predict = |m: &Path| -> Vec<Vec<f32>> {
        let out = ok(common::rationale(&[
            "predict",
            "--model",
            &path(m),
            "--json",
            "--text",
            "a moving , funny film",
            "--text",
            "dull and far too long",
        ]));
        out.lines()
            .map(|l| floats(&serde_json::from_str::<Value>(l).unwrap()["logits"]))
            .collect()
    };
    let (ours, exported) = (predict(&run), predict(&hf));
    for (a, b) in ours.iter().zip(&exported) {
        assert!(max_diff(a, b) <= 1e-5, "{a:?} vs {b:?}");
    }
}
