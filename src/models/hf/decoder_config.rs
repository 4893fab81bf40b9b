//! The shape of a Llama / Mistral / Qwen2 causal language model, read from its `config.json`,
//! and its rotary frequencies computed as transformers computes them (in f32: f64 angles drift
//! from transformers at long positions).
//!
//! Rotary settings come in two forms: transformers 5 writes `rope_parameters` (`rope_type`,
//! `rope_theta` and the scaling factors in one object); older files (most Hub checkpoints) have
//! a top-level `rope_theta` and a `rope_scaling` object (`type` or `rope_type`) or null. Both are
//! read. Values this crate does not implement are refused with the field's name.

use super::{DecoderFamily, HfConfig};
use crate::models::Result;
use serde_json::Value;

/// How rotary frequencies are scaled.
#[derive(Debug, Clone, PartialEq)]
pub enum RopeScaling {
    /// No scaling: `inv_j = θ^(−2j/d)`.
    Default,
    /// Llama 3.x: wavelengths longer than `original_max_position_embeddings / low_freq_factor`
    /// are stretched by `factor`, those shorter than `… / high_freq_factor` kept, and a smooth
    /// ramp joins them.
    Llama3 {
        /// How much the low frequencies are divided by.
        factor: f64,
        /// Where the ramp ends on the low-frequency side.
        low_freq_factor: f64,
        /// Where the ramp ends on the high-frequency side.
        high_freq_factor: f64,
        /// The context length the model was first trained on.
        original_max_position_embeddings: usize,
    },
}

/// Hyper-parameters of an [`HfDecoder`](super::HfDecoder), read from `config.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct DecoderConfig {
    /// Rows of the token embeddings (and of the LM head).
    pub vocab_size: usize,
    /// Width of the residual stream.
    pub hidden_size: usize,
    /// Decoder layers.
    pub num_hidden_layers: usize,
    /// Query heads.
    pub num_attention_heads: usize,
    /// Key/value heads (grouped-query attention: each serves `heads / kv_heads` query heads).
    pub num_key_value_heads: usize,
    /// Width of one head (`head_dim`, or `hidden_size / num_attention_heads`).
    pub head_dim: usize,
    /// Width of the SwiGLU MLP.
    pub intermediate_size: usize,
    /// The longest input the model was made for; `rationale predict` cuts texts to it.
    pub max_position_embeddings: usize,
    /// RMSNorm epsilon.
    pub rms_norm_eps: f64,
    /// Rotary base θ.
    pub rope_theta: f64,
    /// Rotary scaling.
    pub rope_scaling: RopeScaling,
    /// Whether q/k/v projections have biases (Qwen2; Llama with `attention_bias`).
    pub qkv_bias: bool,
    /// Whether the output projection has a bias (Llama with `attention_bias`).
    pub o_bias: bool,
    /// Whether the MLP projections have biases (Llama with `mlp_bias`).
    pub mlp_bias: bool,
    /// Whether the LM head is the token embedding matrix.
    pub tie_word_embeddings: bool,
    /// Per layer: `Some(W)` when query `i` sees only keys `j` with `i − W < j ≤ i` (by index in
    /// the input, not by position id), `None` for plain causal attention.
    pub sliding_windows: Vec<Option<usize>>,
}

/// Reads fields of one JSON object (the config or a nested one), naming them in messages as
/// `prefix` + key. Null counts as absent.
struct Fields<'a> {
    cfg: &'a HfConfig,
    obj: &'a Value,
    prefix: &'static str,
}

impl<'a> Fields<'a> {
    fn get(&self, key: &str) -> Option<&'a Value> {
        self.obj.get(key).filter(|v| !v.is_null())
    }

    fn bad(&self, key: &str, what: &str, v: &Value) -> crate::models::ModelError {
        self.cfg
            .error(format!("{}{key} must be {what}, got {v}", self.prefix))
    }

    fn usize_or(&self, key: &str, default: Option<usize>) -> Result<usize> {
        match self.get(key) {
            Some(v) => v
                .as_u64()
                .map(|x| x as usize)
                .ok_or_else(|| self.bad(key, "a whole number", v)),
            None => default.ok_or_else(|| self.cfg.error(format!("no {}{key}", self.prefix))),
        }
    }

    fn opt_usize(&self, key: &str) -> Result<Option<usize>> {
        self.get(key).map(|_| self.usize_or(key, None)).transpose()
    }

    fn f64_or(&self, key: &str, default: Option<f64>) -> Result<f64> {
        match self.get(key) {
            Some(v) => v
                .as_f64()
                .filter(|x| x.is_finite())
                .ok_or_else(|| self.bad(key, "a finite number", v)),
            None => default.ok_or_else(|| self.cfg.error(format!("no {}{key}", self.prefix))),
        }
    }

    fn bool_or(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key) {
            Some(v) => v.as_bool().ok_or_else(|| self.bad(key, "true or false", v)),
            None => Ok(default),
        }
    }

    fn str_opt(&self, key: &str) -> Result<Option<&'a str>> {
        self.get(key)
            .map(|v| v.as_str().ok_or_else(|| self.bad(key, "a string", v)))
            .transpose()
    }
}

impl DecoderConfig {
    /// Reads and checks the configuration of a `family` checkpoint. Anything this crate does
    /// not compute as transformers does (another activation, rope type or layer type) is
    /// refused with the field's name.
    pub fn from_hf(cfg: &HfConfig, family: DecoderFamily) -> Result<Self> {
        let top = Fields {
            cfg,
            obj: &cfg.json,
            prefix: "",
        };
        let act = top.str_opt("hidden_act")?.unwrap_or("silu");
        if act != "silu" {
            return Err(cfg.error(format!(
                "hidden_act {act:?} is not supported (only \"silu\")"
            )));
        }
        let hidden_size = top.usize_or("hidden_size", None)?;
        let heads = top.usize_or("num_attention_heads", None)?;
        let kv_heads = top.usize_or(
            "num_key_value_heads",
            Some(match family {
                DecoderFamily::Mistral => 8,
                _ => heads,
            }),
        )?;
        let layers = top.usize_or("num_hidden_layers", None)?;
        for (key, v) in [
            ("hidden_size", hidden_size),
            ("num_attention_heads", heads),
            ("num_key_value_heads", kv_heads),
            ("num_hidden_layers", layers),
        ] {
            if v == 0 {
                return Err(cfg.error(format!("{key} must be above 0")));
            }
        }
        if !heads.is_multiple_of(kv_heads) {
            return Err(cfg.error(format!(
                "num_attention_heads {heads} is not a multiple of num_key_value_heads {kv_heads}"
            )));
        }
        let head_dim = match top.opt_usize("head_dim")? {
            Some(d) => d,
            None if hidden_size.is_multiple_of(heads) => hidden_size / heads,
            None => {
                return Err(cfg.error(format!(
                    "hidden_size {hidden_size} is not a multiple of num_attention_heads {heads} \
                     (and there is no head_dim)"
                )))
            }
        };
        if head_dim == 0 || !head_dim.is_multiple_of(2) {
            return Err(cfg.error(format!(
                "head_dim {head_dim} must be even and above 0 (rotary positions rotate pairs)"
            )));
        }
        let max_position_embeddings = top.usize_or(
            "max_position_embeddings",
            Some(match family {
                DecoderFamily::Llama => 2048,
                DecoderFamily::Mistral => 4096 * 32,
                DecoderFamily::Qwen2 => 32768,
            }),
        )?;
        let rms_norm_eps = top.f64_or("rms_norm_eps", Some(1e-6))?;
        if rms_norm_eps < 0.0 {
            return Err(cfg.error(format!("rms_norm_eps {rms_norm_eps} is negative")));
        }
        let (rope_theta, rope_scaling) = rope(&top, max_position_embeddings)?;
        let (qkv_bias, o_bias, mlp_bias) = match family {
            DecoderFamily::Llama => {
                let attn = top.bool_or("attention_bias", false)?;
                (attn, attn, top.bool_or("mlp_bias", false)?)
            }
            DecoderFamily::Mistral => (false, false, false),
            DecoderFamily::Qwen2 => (true, false, false),
        };
        let config = DecoderConfig {
            vocab_size: top.usize_or("vocab_size", None)?,
            hidden_size,
            num_hidden_layers: layers,
            num_attention_heads: heads,
            num_key_value_heads: kv_heads,
            head_dim,
            intermediate_size: top.usize_or("intermediate_size", None)?,
            max_position_embeddings,
            rms_norm_eps,
            rope_theta,
            rope_scaling,
            qkv_bias,
            o_bias,
            mlp_bias,
            tie_word_embeddings: top.bool_or("tie_word_embeddings", false)?,
            sliding_windows: windows(&top, family, layers)?,
        };
        for (key, v) in [
            ("vocab_size", config.vocab_size),
            ("intermediate_size", config.intermediate_size),
        ] {
            if v == 0 {
                return Err(cfg.error(format!("{key} must be above 0")));
            }
        }
        Ok(config)
    }

    /// Rotary inverse frequencies `inv_j` (`j < head_dim / 2`), in f32 as transformers
    /// computes its `inv_freq` buffer.
    pub fn inv_freq(&self) -> Vec<f32> {
        let plain = super::blocks::inv_freq(self.rope_theta as f32, self.head_dim).into_iter();
        match self.rope_scaling {
            RopeScaling::Default => plain.collect(),
            RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings,
            } => {
                let (f, l, h) = (
                    factor as f32,
                    low_freq_factor as f32,
                    high_freq_factor as f32,
                );
                let old = original_max_position_embeddings as f32;
                let (low_wavelen, high_wavelen) = (old / l, old / h);
                let two_pi = (2.0 * std::f64::consts::PI) as f32;
                plain
                    .map(|inv| {
                        let wavelen = two_pi / inv;
                        if wavelen < high_wavelen {
                            inv
                        } else if wavelen > low_wavelen {
                            inv / f
                        } else {
                            let s = (old / wavelen - l) / (h - l);
                            (1.0 - s) * inv / f + s * inv
                        }
                    })
                    .collect()
            }
        }
    }
}

/// θ and the scaling, from `rope_parameters` (transformers 5) or `rope_theta` + `rope_scaling`.
fn rope(top: &Fields, max_positions: usize) -> Result<(f64, RopeScaling)> {
    let cfg = top.cfg;
    let top_theta = top.f64_or("rope_theta", Some(10000.0))?;
    let (params, theta) = match top.get("rope_parameters") {
        Some(obj) if obj.is_object() => {
            let p = Fields {
                cfg,
                obj,
                prefix: "rope_parameters.",
            };
            let flat = ["rope_type", "type", "rope_theta"]
                .iter()
                .any(|k| p.get(k).is_some());
            if !flat
                && obj
                    .as_object()
                    .is_some_and(|m| m.values().any(Value::is_object))
            {
                return Err(cfg.error(
                    "rope_parameters per layer type is not supported (one object with \
                     rope_type and rope_theta is)",
                ));
            }
            let theta = p.f64_or("rope_theta", Some(top_theta))?;
            (p, theta)
        }
        Some(v) => return Err(top.bad("rope_parameters", "an object", v)),
        None => match top.get("rope_scaling") {
            None => return Ok((check_theta(top, top_theta)?, RopeScaling::Default)),
            Some(obj) if obj.is_object() => (
                Fields {
                    cfg,
                    obj,
                    prefix: "rope_scaling.",
                },
                top_theta,
            ),
            Some(v) => return Err(top.bad("rope_scaling", "an object or null", v)),
        },
    };
    let theta = check_theta(top, theta)?;
    let (key, kind) = match params.str_opt("rope_type")? {
        Some(t) => ("rope_type", t),
        None => ("type", params.str_opt("type")?.unwrap_or("default")),
    };
    let scaling = match kind {
        "default" => RopeScaling::Default,
        "llama3" => {
            let factor = params.f64_or("factor", None)?;
            let low_freq_factor = params.f64_or("low_freq_factor", None)?;
            let high_freq_factor = params.f64_or("high_freq_factor", None)?;
            let original =
                params.usize_or("original_max_position_embeddings", Some(max_positions))?;
            if factor <= 0.0 || low_freq_factor <= 0.0 || high_freq_factor <= low_freq_factor {
                return Err(cfg.error(format!(
                    "{p}factor {factor}, {p}low_freq_factor {low_freq_factor} and \
                     {p}high_freq_factor {high_freq_factor} must be positive, with \
                     high_freq_factor above low_freq_factor",
                    p = params.prefix
                )));
            }
            if original == 0 {
                return Err(cfg.error(format!(
                    "{}original_max_position_embeddings must be above 0",
                    params.prefix
                )));
            }
            RopeScaling::Llama3 {
                factor,
                low_freq_factor,
                high_freq_factor,
                original_max_position_embeddings: original,
            }
        }
        other => {
            return Err(cfg.error(format!(
                "{}{key} {other:?} is not supported (\"default\" or \"llama3\")",
                params.prefix
            )))
        }
    };
    Ok((theta, scaling))
}

fn check_theta(top: &Fields, theta: f64) -> Result<f64> {
    if theta > 0.0 {
        Ok(theta)
    } else {
        Err(top.cfg.error(format!("rope_theta {theta} must be above 0")))
    }
}

/// The sliding window of each layer (`None`: full causal attention).
fn windows(top: &Fields, family: DecoderFamily, layers: usize) -> Result<Vec<Option<usize>>> {
    let cfg = top.cfg;
    let out = match family {
        DecoderFamily::Llama => vec![None; layers],
        // Mistral: every layer, 4096 when the key is absent, none when it is null.
        DecoderFamily::Mistral => {
            let w = match cfg.json.get("sliding_window") {
                None => Some(4096),
                Some(_) => top.opt_usize("sliding_window")?,
            };
            vec![w; layers]
        }
        // Qwen2: only with use_sliding_window, on the layers layer_types marks as sliding
        // (without layer_types: layers from max_window_layers on).
        DecoderFamily::Qwen2 => {
            let w = if top.bool_or("use_sliding_window", false)? {
                Some(top.usize_or("sliding_window", Some(4096))?)
            } else {
                None
            };
            match top.get("layer_types") {
                Some(v) => {
                    let types = v.as_array().filter(|a| a.len() == layers).ok_or_else(|| {
                        top.bad("layer_types", &format!("a list of {layers} strings"), v)
                    })?;
                    types
                        .iter()
                        .enumerate()
                        .map(|(i, t)| match t.as_str() {
                            Some("full_attention") => Ok(None),
                            Some("sliding_attention") => Ok(w),
                            _ => Err(cfg.error(format!(
                                "layer_types[{i}] {t} is not supported \
                                 (\"full_attention\" or \"sliding_attention\")"
                            ))),
                        })
                        .collect::<Result<Vec<_>>>()?
                }
                None => {
                    let first = top.usize_or("max_window_layers", Some(28))?;
                    (0..layers).map(|i| w.filter(|_| i >= first)).collect()
                }
            }
        }
    };
    if out.contains(&Some(0)) {
        return Err(cfg.error("sliding_window must be above 0"));
    }
    Ok(out)
}
