//! Hugging Face Llama / Qwen2 / Mistral causal language models against transformers: the tiny
//! checkpoints and expected outputs in `tests/fixtures/hf/{llama_lm,qwen2_lm,mistral_lm}`
//! (transformers 5.25, `save_pretrained`, eager attention, float32). Llama: grouped-query
//! attention (4 heads, 2 key/value heads), llama3 rope scaling, an untied LM head and a BOS
//! token. Qwen2: q/k/v biases, tied embeddings, no BOS. Mistral: a sliding window of 5 tokens,
//! shorter than every text, on both layers; the Llama tokenizer.
#![cfg(feature = "models")]

mod common;

use common::{edited_copy, expected, fixtures, floats, hf_fixture as fixture, max_diff};

use candle_core::{Device, Tensor};
use rationale::models::hf::{DecoderFamily, HfDecoder, RopeScaling};
use rationale::{CachedLm, Gpt2, LanguageModel};
use serde_json::Value;
use std::path::Path;

const DECODERS: [&str; 3] = ["llama_lm", "qwen2_lm", "mistral_lm"];

fn assert_close(what: &str, ours: &[f32], theirs: &[f32]) -> f32 {
    let d = max_diff(ours, theirs);
    assert!(d < 1e-4, "{what}: max diff {d}");
    d
}

/// Next-token log-probabilities of one text.
fn logprobs(model: &HfDecoder, ids: &[u32]) -> Vec<f32> {
    model.next_token_logprobs(&[ids]).unwrap().remove(0)
}

fn last_row(logits: &Tensor) -> Vec<f32> {
    let rows = logits.to_vec2::<f32>().unwrap();
    rows.last().unwrap().clone()
}

#[test]
fn language_model_loads_every_causal_folder() {
    // Llama, Qwen2, Mistral: the tokenizer's ids and transformers' log-probabilities.
    for name in DECODERS {
        let dir = fixture(name);
        let lm = LanguageModel::load(&dir).unwrap();
        assert_eq!(
            lm.max_len(),
            HfDecoder::load(&dir).unwrap().max_len(),
            "{name}"
        );
        let exp = expected(&dir);
        let cases = exp["texts"].as_array().unwrap().iter();
        for (text, case) in cases.zip(exp["cases"].as_array().unwrap()) {
            let text = text.as_str().unwrap();
            let ids = lm.tokenizer().encode_text(text, lm.max_len()).unwrap();
            let ids = ids.encoded.ids;
            assert_eq!(Value::from(ids.clone()), case["ids"], "{name}");
            let ours = lm.model().next_token_logprobs(&[&ids]).unwrap().remove(0);
            assert_close(name, &ours, &floats(&case["next_token_logprobs"]));
        }
    }
    // GPT-2: the numbers of the model loaded directly.
    let dir = fixtures().join("gpt2_tiny");
    let lm = LanguageModel::load(&dir).unwrap();
    let direct = Gpt2::load(&dir, &Device::Cpu).unwrap();
    assert_eq!(lm.max_len(), direct.config.n_positions);
    let ids = lm.tokenizer().encode_text("a b c", lm.max_len()).unwrap();
    let ids: &[u32] = &ids.encoded.ids;
    assert!(ids.len() > 1);
    let ours = lm.model().next_token_logprobs(&[ids]).unwrap();
    assert_eq!(ours, direct.next_token_logprobs(&[ids]).unwrap());
    // A classifier folder is refused, naming its file.
    let err = LanguageModel::load(&fixture("bert_cls"))
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("config.json") && err.contains("not a causal language model"),
        "{err}"
    );
}

#[test]
fn configs_read_every_family() {
    let llama = HfDecoder::load(&fixture("llama_lm")).unwrap();
    assert_eq!(llama.family(), DecoderFamily::Llama);
    let c = llama.config();
    assert_eq!(
        (c.num_attention_heads, c.num_key_value_heads, c.head_dim),
        (4, 2, 8)
    );
    assert_eq!(c.rope_theta, 500000.0);
    assert!(matches!(
        c.rope_scaling,
        RopeScaling::Llama3 {
            original_max_position_embeddings: 16,
            ..
        }
    ));
    assert!(!c.tie_word_embeddings && !c.qkv_bias);
    let qwen = HfDecoder::load(&fixture("qwen2_lm")).unwrap();
    assert_eq!(qwen.family(), DecoderFamily::Qwen2);
    let c = qwen.config();
    assert!(c.tie_word_embeddings && c.qkv_bias && !c.o_bias);
    assert_eq!(c.rope_scaling, RopeScaling::Default);
    assert_eq!(c.sliding_windows, [None, None]);
    assert_eq!(qwen.max_len(), 64);
    let mistral = HfDecoder::load(&fixture("mistral_lm")).unwrap();
    assert_eq!(mistral.family(), DecoderFamily::Mistral);
    let c = mistral.config();
    assert_eq!(c.sliding_windows, [Some(5), Some(5)]);
    assert!(!c.tie_word_embeddings && !c.qkv_bias);
    assert_eq!(c.rope_scaling, RopeScaling::Default);
}

#[test]
fn tokens_logprobs_and_logits_equal_transformers() {
    for name in DECODERS {
        let dir = fixture(name);
        let exp = expected(&dir);
        let model = HfDecoder::load(&dir).unwrap_or_else(|e| panic!("{name}: {e}"));
        let (mut worst_lp, mut worst_logits) = (0f32, 0f32);
        let cases = exp["cases"].as_array().unwrap();
        let all: Vec<Vec<u32>> = (cases.iter())
            .map(|c| serde_json::from_value(c["ids"].clone()).unwrap())
            .collect();
        // Every text in one packed pass, as `predict` batches them.
        let batch = (model.next_token_logprobs(&all.iter().map(Vec::as_slice).collect::<Vec<_>>()))
            .unwrap();
        for ((text, case), lp) in exp["texts"]
            .as_array()
            .unwrap()
            .iter()
            .zip(cases)
            .zip(&batch)
        {
            let text = text.as_str().unwrap();
            let what = format!("{name} {text:?}");
            let input = model
                .tokenizer()
                .encode_text(text, model.max_len())
                .unwrap();
            let ids: Vec<u32> = serde_json::from_value(case["ids"].clone()).unwrap();
            assert_eq!(input.encoded.ids, ids, "{what}: ids");
            let tokens: Vec<String> = serde_json::from_value(case["tokens"].clone()).unwrap();
            assert_eq!(input.tokens, tokens, "{what}: tokens");
            let word_of: Vec<Option<usize>> =
                serde_json::from_value(case["word_of"].clone()).unwrap();
            assert_eq!(input.encoded.word_of, word_of, "{what}: word of each token");

            assert_eq!(*lp, logprobs(&model, &ids), "{what}: alone as in the batch");
            let d = assert_close(
                &format!("{what}: next-token log-probabilities"),
                lp,
                &floats(&case["next_token_logprobs"]),
            );
            worst_lp = worst_lp.max(d);
            let positions: Vec<usize> = (0..ids.len()).collect();
            let logits = model.logits(&ids, &positions).unwrap();
            assert_eq!(logits.dims(), [ids.len(), model.config().vocab_size]);
            let d = assert_close(
                &format!("{what}: last logits"),
                &last_row(&logits),
                &floats(&case["logits_last"]),
            );
            worst_logits = worst_logits.max(d);
        }
        eprintln!("{name}: max |Δ| log-probs {worst_lp:e}, last logits {worst_logits:e}");
    }
}

#[test]
fn sparse_subsets_keep_their_original_positions() {
    for name in DECODERS {
        let dir = fixture(name);
        let exp = expected(&dir);
        let model = HfDecoder::load(&dir).unwrap();
        let mut worst = 0f32;
        for (k, case) in exp["sparse"].as_array().unwrap().iter().enumerate() {
            let t = case["text"].as_u64().unwrap() as usize;
            let full: Vec<u32> = serde_json::from_value(exp["cases"][t]["ids"].clone()).unwrap();
            let positions: Vec<usize> = serde_json::from_value(case["positions"].clone()).unwrap();
            let ids: Vec<u32> = serde_json::from_value(case["ids"].clone()).unwrap();
            let picked: Vec<u32> = positions.iter().map(|&p| full[p]).collect();
            assert_eq!(picked, ids, "{name} sparse {k}: ids are the kept tokens");
            let logits = model.logits(&ids, &positions).unwrap();
            let theirs = floats(&case["logits"]);
            let d = assert_close(&format!("{name} sparse {k}"), &last_row(&logits), &theirs);
            worst = worst.max(d);
            // Renumbered positions give other logits: the positions matter.
            let dense: Vec<usize> = (0..ids.len()).collect();
            let moved = last_row(&model.logits(&ids, &dense).unwrap());
            assert!(max_diff(&moved, &theirs) > 1e-3, "{name} sparse {k}");
        }
        eprintln!("{name}: sparse max |Δ| {worst:e}");
    }
}

#[test]
fn bad_inputs_are_errors() {
    let model = HfDecoder::load(&fixture("qwen2_lm")).unwrap();
    for (ids, positions, says) in [
        (vec![], vec![], "0 token ids and 0 positions"),
        (vec![1, 2], vec![0], "2 token ids and 1 positions"),
        (vec![1, 400], vec![0, 1], "token id 400 >= vocab size 400"),
    ] {
        let e = model.logits(&ids, &positions).unwrap_err().to_string();
        assert!(e.contains(says), "{e}");
    }
    assert!(model.packed_last_logits(&[]).is_err());
    assert!(logprobs(&model, &[5]).is_empty());
    let e = model
        .next_token_logprobs(&[&[1, 2], &[], &[1, 400]])
        .unwrap_err();
    assert!(e.to_string().contains("text 2: token id 400"), "{e}");
    let lp = model.next_token_logprobs(&[&[1, 2], &[], &[3]]).unwrap();
    assert_eq!(lp.iter().map(Vec::len).collect::<Vec<_>>(), [1, 0, 0]);
}

fn load_error(dir: &Path) -> String {
    match HfDecoder::load(dir) {
        Ok(_) => panic!("{} loaded", dir.display()),
        Err(e) => e.to_string(),
    }
}

#[test]
fn bad_checkpoints_get_messages_naming_what_is_wrong() {
    // An unsupported rope type, named with its field.
    let tmp = edited_copy(
        &fixture("llama_lm"),
        |c| c.replace("\"llama3\"", "\"yarn\""),
        |_| {},
    );
    let e = load_error(tmp.path());
    assert!(
        e.contains("rope_parameters.rope_type \"yarn\" is not supported")
            && e.contains("config.json"),
        "{e}"
    );

    // The older form (top-level rope_theta, rope_scaling) is read, and refused the same way.
    let old_form = |kind: &str| {
        let kind = kind.to_owned();
        move |c: String| {
            let mut v: Value = serde_json::from_str(&c).unwrap();
            let params = v
                .as_object_mut()
                .unwrap()
                .remove("rope_parameters")
                .unwrap();
            let mut scaling = params.clone();
            scaling.as_object_mut().unwrap().remove("rope_theta");
            scaling["rope_type"] = kind.clone().into();
            v["rope_theta"] = params["rope_theta"].clone();
            v["rope_scaling"] = scaling;
            v.to_string()
        }
    };
    let tmp = edited_copy(&fixture("llama_lm"), old_form("llama3"), |_| {});
    let old = HfDecoder::load(tmp.path()).unwrap();
    let new = HfDecoder::load(&fixture("llama_lm")).unwrap();
    assert_eq!(old.config(), new.config());
    let tmp = edited_copy(&fixture("llama_lm"), old_form("dynamic"), |_| {});
    let e = load_error(tmp.path());
    assert!(
        e.contains("rope_scaling.rope_type \"dynamic\" is not supported"),
        "{e}"
    );

    // The fixture needs its llama3 scaling: plain rotary frequencies give other numbers.
    let tmp = edited_copy(
        &fixture("llama_lm"),
        |c| c.replace("\"llama3\"", "\"default\""),
        |_| {},
    );
    let plain = HfDecoder::load(tmp.path()).unwrap();
    assert_eq!(plain.config().rope_scaling, RopeScaling::Default);
    let exp = expected(&fixture("llama_lm"));
    let ids: Vec<u32> = serde_json::from_value(exp["cases"][0]["ids"].clone()).unwrap();
    let lp = logprobs(&plain, &ids);
    assert!(max_diff(&lp, &floats(&exp["cases"][0]["next_token_logprobs"])) > 1e-3);

    // Another activation.
    let tmp = edited_copy(
        &fixture("qwen2_lm"),
        |c| c.replace("\"silu\"", "\"gelu\""),
        |_| {},
    );
    let e = load_error(tmp.path());
    assert!(e.contains("hidden_act \"gelu\" is not supported"), "{e}");

    // A missing tensor, named as the checkpoint names it.
    let gone = "model.layers.1.mlp.down_proj.weight";
    let tmp = edited_copy(
        &fixture("llama_lm"),
        |c| c,
        |t| {
            t.remove(gone);
        },
    );
    let e = load_error(tmp.path());
    assert!(e.contains(gone) && e.contains("model.safetensors"), "{e}");

    // An untied model without its LM head.
    let tmp = edited_copy(
        &fixture("llama_lm"),
        |c| c,
        |t| {
            t.remove("lm_head.weight");
        },
    );
    let e = load_error(tmp.path());
    assert!(e.contains("\"lm_head.weight\""), "{e}");

    // Qwen2's q/k/v biases are required.
    let gone = "model.layers.0.self_attn.k_proj.bias";
    let tmp = edited_copy(
        &fixture("qwen2_lm"),
        |c| c,
        |t| {
            t.remove(gone);
        },
    );
    let e = load_error(tmp.path());
    assert!(e.contains(gone), "{e}");

    // A tensor of the wrong shape: its name and both shapes.
    let name = "model.layers.0.self_attn.k_proj.weight";
    let tmp = edited_copy(
        &fixture("llama_lm"),
        |c| c,
        |t| {
            let w = Tensor::zeros((32, 32), candle_core::DType::F32, &Device::Cpu).unwrap();
            t.insert(name.into(), w);
        },
    );
    let e = load_error(tmp.path());
    assert!(
        e.contains(name) && e.contains("[32, 32]") && e.contains("[16, 32]"),
        "{e}"
    );

    // A tensor the architecture does not have.
    let tmp = edited_copy(
        &fixture("llama_lm"),
        |c| c,
        |t| {
            let b = Tensor::zeros(32, candle_core::DType::F32, &Device::Cpu).unwrap();
            t.insert("model.layers.0.self_attn.o_proj.bias".into(), b);
        },
    );
    let e = load_error(tmp.path());
    assert!(e.contains("model.layers.0.self_attn.o_proj.bias"), "{e}");

    // A tokenizer whose ids do not fit the embedding table.
    let tmp = edited_copy(
        &fixture("qwen2_lm"),
        |c| c.replace("\"vocab_size\": 400", "\"vocab_size\": 50"),
        |t| {
            let w = t["model.embed_tokens.weight"].narrow(0, 0, 50).unwrap();
            t.insert("model.embed_tokens.weight".into(), w);
        },
    );
    let e = load_error(tmp.path());
    assert!(e.contains("tokenizer.json") && e.contains("50 rows"), "{e}");

    // Grouped-query heads that do not divide.
    let tmp = edited_copy(
        &fixture("llama_lm"),
        |c| c.replace("\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3"),
        |_| {},
    );
    let e = load_error(tmp.path());
    assert!(e.contains("num_key_value_heads 3"), "{e}");
}

#[test]
fn sliding_windows_follow_each_family() {
    // Mistral: the window applies to every layer; a window at least as long as the input
    // changes nothing, a shorter one does.
    let mistral = |window: &str| {
        edited_copy(
            &fixture("llama_lm"),
            |c| {
                c.replace("LlamaForCausalLM", "MistralForCausalLM")
                    .replace("\"model_type\": \"llama\"", "\"model_type\": \"mistral\"")
                    .replace(
                        "\"vocab_size\": 400",
                        &format!("\"vocab_size\": 400, \"sliding_window\": {window}"),
                    )
            },
            |_| {},
        )
    };
    let exp = expected(&fixture("llama_lm"));
    let ids: Vec<u32> = serde_json::from_value(exp["cases"][0]["ids"].clone()).unwrap();
    let theirs = floats(&exp["cases"][0]["next_token_logprobs"]);
    for (window, same) in [("null", true), ("64", true), ("4", false)] {
        let tmp = mistral(window);
        let model = HfDecoder::load(tmp.path()).unwrap();
        assert_eq!(model.family(), DecoderFamily::Mistral);
        let lp = logprobs(&model, &ids);
        // The first tokens see no further back than the window anyway.
        assert!(max_diff(&lp[..3], &theirs[..3]) < 1e-4, "window {window}");
        assert_eq!(max_diff(&lp, &theirs) < 1e-4, same, "window {window}");
    }
    // The Mistral fixture's window is transformers' exactly: key j is seen from i iff
    // i - 5 < j <= i. One token more or less, or none, moves the log-probabilities.
    let exp = expected(&fixture("mistral_lm"));
    let ids: Vec<u32> = serde_json::from_value(exp["cases"][1]["ids"].clone()).unwrap();
    let theirs = floats(&exp["cases"][1]["next_token_logprobs"]);
    for window in ["4", "6", "null"] {
        let tmp = edited_copy(
            &fixture("mistral_lm"),
            |c| {
                c.replace(
                    "\"sliding_window\": 5",
                    &format!("\"sliding_window\": {window}"),
                )
            },
            |_| {},
        );
        let model = HfDecoder::load(tmp.path()).unwrap();
        let lp = logprobs(&model, &ids);
        assert!(max_diff(&lp, &theirs) > 1e-3, "window {window}");
    }
    // Qwen2: only with use_sliding_window, and only on the layers from max_window_layers.
    let tmp = edited_copy(
        &fixture("qwen2_lm"),
        |c| {
            let mut v: Value = serde_json::from_str(&c).unwrap();
            let o = v.as_object_mut().unwrap();
            o.remove("layer_types");
            o.insert("use_sliding_window".into(), true.into());
            o.insert("sliding_window".into(), 4.into());
            o.insert("max_window_layers".into(), 1.into());
            v.to_string()
        },
        |_| {},
    );
    let model = HfDecoder::load(tmp.path()).unwrap();
    assert_eq!(model.config().sliding_windows, [None, Some(4)]);
}

#[cfg(feature = "cli")]
mod cli {
    use super::*;

    #[test]
    fn predict_prints_transformers_logprobs() {
        for name in DECODERS {
            let dir = fixture(name);
            let exp = expected(&dir);
            let texts: Vec<&str> = exp["texts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t.as_str().unwrap())
                .collect();
            let mut args = vec!["predict", "--model", dir.to_str().unwrap(), "--json"];
            for t in &texts {
                args.extend(["--text", t]);
            }
            let out = common::rationale(&args);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let lines: Vec<Value> = String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            assert_eq!(lines.len(), texts.len());
            for ((line, case), text) in lines
                .iter()
                .zip(exp["cases"].as_array().unwrap())
                .zip(&texts)
            {
                assert_eq!(line["text"], *text, "{name}");
                assert_eq!(line["ids"], case["ids"], "{name}");
                assert_close(
                    name,
                    &floats(&line["next_token_logprobs"]),
                    &floats(&case["next_token_logprobs"]),
                );
            }
            // Batches of two texts (the last one alone) print the same lines.
            args.extend(["--batch-size", "2"]);
            let again = common::rationale(&args);
            assert!(again.status.success() && texts.len() > 2, "{name}");
            assert_eq!(again.stdout, out.stdout, "{name}");
        }
    }

    #[test]
    fn predict_cuts_long_texts_to_the_models_positions() {
        let dir = fixture("llama_lm");
        let long = "word ".repeat(100);
        let out = common::rationale(&[
            "predict",
            "--model",
            dir.to_str().unwrap(),
            "--json",
            "--text",
            &long,
        ]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("text 1") && stderr.contains("cut to 64"),
            "{stderr}"
        );
        let line: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(line["ids"].as_array().unwrap().len(), 64);
        assert_eq!(line["ids"][0], 0, "the BOS token is kept");
        assert_eq!(line["next_token_logprobs"].as_array().unwrap().len(), 63);
    }

    #[test]
    fn unsupported_rope_is_refused_on_the_command_line() {
        let tmp = edited_copy(
            &fixture("llama_lm"),
            |c| c.replace("\"llama3\"", "\"longrope\""),
            |_| {},
        );
        let out = common::rationale(&[
            "predict",
            "--model",
            tmp.path().to_str().unwrap(),
            "--text",
            "hello",
        ]);
        assert!(!out.status.success());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("rope_parameters.rope_type \"longrope\""),
            "{stderr}"
        );
    }
}

/// Greedy sequential rationales (`LmScorer`: each subset fed with its original position
/// ids, all subsets of a step packed in one pass) equal the authors' algorithm run on
/// transformers (`rationalize_lm` in make_fixtures.py), position for position, for every token
/// of the longest text; so do all targets in lock-step reusing cached keys and values.
#[test]
fn greedy_rationales_equal_the_authors_algorithm_on_transformers() {
    use rationale::greedy::lm::{
        rationalize_sequence_batched, rationalize_sequence_with, LmScorer, DEFAULT_MAX_TOKENS,
    };
    use rationale::greedy::{greedy, GreedyConfig};
    for name in DECODERS {
        let dir = fixture(name);
        let exp = expected(&dir);
        let model = HfDecoder::load(&dir).unwrap();
        let cases = exp["cases"].as_array().unwrap();
        // the first longest text, as the script picks it
        let mut longest = &cases[0];
        for c in cases {
            if c["ids"].as_array().unwrap().len() > longest["ids"].as_array().unwrap().len() {
                longest = c;
            }
        }
        let ids: Vec<u32> = serde_json::from_value(longest["ids"].clone()).unwrap();
        let cfg = GreedyConfig::default();
        let got =
            rationalize_sequence_with(&ids, 1, &cfg, |context| LmScorer::new(&model, context))
                .unwrap();
        let want = exp["greedy"].as_array().unwrap();
        assert_eq!(got.len(), want.len(), "{name}");
        assert_eq!(got.len(), ids.len() - 1, "{name}");
        let mut reached = 0;
        for (g, w) in got.iter().zip(want) {
            let t = g.target_position;
            assert_eq!(t as u64, w["target_position"].as_u64().unwrap(), "{name}");
            assert_eq!(g.target_id, ids[t], "{name} target {t}");
            let order: Vec<usize> = serde_json::from_value(w["order"].clone()).unwrap();
            assert_eq!(g.rationale.order, order, "{name} target {t}: order");
            assert_eq!(
                g.rationale.reached_argmax,
                w["reached_argmax"].as_bool().unwrap(),
                "{name} target {t}"
            );
            assert_eq!(g.rationale.steps.len(), order.len());
            // one packed forward pass per step: all candidates of a step together
            assert_eq!(g.rationale.forward_calls, order.len() as u64);
            reached += usize::from(g.rationale.reached_argmax);
        }
        assert!(reached >= 1, "{name}: some target reaches the argmax");
        let batched =
            rationalize_sequence_batched(&model, &ids, 1, &cfg, DEFAULT_MAX_TOKENS).unwrap();
        assert_eq!(batched.len(), got.len(), "{name}");
        for (b, g) in batched.iter().zip(&got) {
            let t = g.target_position;
            assert_eq!(b.rationale.order, g.rationale.order, "{name} target {t}");
            assert_eq!(b.rationale.reached_argmax, g.rationale.reached_argmax);
            for (x, y) in b.rationale.steps.iter().zip(&g.rationale.steps) {
                let d = (x.target_logprob - y.target_logprob).abs();
                assert!(d < 1e-5, "{name} target {t}: |Δ log p| {d}");
            }
        }
        // The scorer on its own gives the same rationale as the sequence driver.
        let t = ids.len() - 1;
        let mut s = LmScorer::new(&model, &ids[..t]);
        let r = greedy(&mut s, ids[t] as usize, &cfg).unwrap();
        assert_eq!(r.order, got.last().unwrap().rationale.order, "{name}");
    }
}

/// The scorer's log-probability of a sparse subset is the log-softmax of transformers' logits
/// for that subset (the fixture's sparse cases), and bad subsets are errors.
#[test]
fn decoder_scorer_scores_sparse_subsets_as_transformers() {
    use rationale::greedy::lm::LmScorer;
    use rationale::greedy::SubsetScorer;
    for name in DECODERS {
        let dir = fixture(name);
        let exp = expected(&dir);
        let model = HfDecoder::load(&dir).unwrap();
        for case in exp["sparse"].as_array().unwrap() {
            let t = case["text"].as_u64().unwrap() as usize;
            let full: Vec<u32> = serde_json::from_value(exp["cases"][t]["ids"].clone()).unwrap();
            let positions: Vec<usize> = serde_json::from_value(case["positions"].clone()).unwrap();
            let logits = floats(&case["logits"]);
            let mx = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let lse = mx + logits.iter().map(|x| (x - mx).exp()).sum::<f32>().ln();
            let mut s = LmScorer::new(&model, &full);
            for target in [0usize, 5, logits.len() - 1] {
                let got = s.score(std::slice::from_ref(&positions), target).unwrap();
                let d = (got[0].target_logprob - (logits[target] - lse)).abs();
                assert!(d < 1e-4, "{name} target {target}: |Δ log p| = {d}");
                let best =
                    (0..logits.len()).fold(0, |b, i| if logits[i] > logits[b] { i } else { b });
                assert_eq!(got[0].argmax, best, "{name}");
            }
            assert!(s.score(&[vec![full.len()]], 0).is_err());
            assert!(s.score(&[vec![]], 0).is_err());
        }
    }
}
