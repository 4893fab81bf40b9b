//! Attention supervision: a loss between a model's attention distribution and a target built
//! from human rationales, added to the classification loss as `L = L_cls + λ · L_align`
//! (HateXplain, Mathew et al. 2021; SRA, Eilertsen et al. 2025; Pruthi et al. 2020).
//!
//! - The attention distribution ([`attention_distribution`]) is the GRU's additive-attention
//!   pooling weights, or one transformer layer's attention (one head, several heads or the mean
//!   of all), read from the first query row (`[CLS]` for BERT checkpoints) or averaged over all
//!   query rows, which is what `rationale explain --method attention` reads for these
//!   mean-pooled models (the default, so the supervised map is the explained one).
//! - The target ([`token_target`]) comes from the annotators' word masks (one ERASER evidence
//!   group per annotator), spread to sub-words (each piece inherits its word's value).
//! - The distances ([`align_loss`]) are per example and averaged over the examples of the batch
//!   that have a target.

use super::TrainError;
use crate::models::classifier::Forward;
use crate::models::Encoded;
use candle_core::{Tensor, D};
use serde::{Deserialize, Serialize};

/// Floor for probabilities inside logarithms.
const EPS: f64 = 1e-12;

/// The distance between attention `a` and target `t`, per example (sums over its tokens).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum AlignLoss {
    /// Mean over the example's tokens of (a_i − t_i)².
    Mse,
    /// KL(t ‖ a) = Σ t_i (ln t_i − ln a_i).
    Kl,
    /// Cross-entropy −Σ t_i ln a_i; with the HateXplain quirks, −Σ t_i log_softmax(a)_i as coded.
    Ce,
    /// Pruthi et al.: −ln(1 − Σ_{i forbidden} a_i), forbidden = tokens whose target is 0
    /// (it pulls attention onto the rationale; no forbidden token gives 0).
    Pruthi,
}

/// How the annotators' masks become a target distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    /// Uniform over the words any annotator marked.
    Union,
    /// Uniform over the words more than half of the annotators marked.
    Majority,
    /// Proportional to the fraction of annotators who marked each word.
    Mean,
    /// HateXplain: softmax(mean mask / temperature).
    Hatexplain,
}

/// Which query rows of a transformer layer give the attention distribution.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "cli", derive(clap::ValueEnum))]
#[serde(rename_all = "lowercase")]
pub enum Query {
    /// The mean of all (non-pad) query rows: what `explain --method attention` reads.
    Mean,
    /// The first row (`[CLS]` for BERT checkpoints).
    First,
}

/// The alignment term of a supervised-attention run (part of [`super::TrainConfig`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlignConfig {
    /// The distance.
    pub loss: AlignLoss,
    /// Weight λ of the alignment term.
    pub lambda: f64,
    /// The target construction.
    pub target: TargetKind,
    /// Softmax temperature of the `hatexplain` target (ignored with `hatexplain_quirks`).
    pub temperature: f64,
    /// Reproduce HateXplain's code exactly: masks padded with zero masks to 3 annotators, the
    /// softmax over every position (special tokens included, as zeros) with temperature 1 (its
    /// `variance` has no effect), uniform targets over every position, and the `ce` loss applied
    /// to log_softmax of the attention probabilities.
    pub hatexplain_quirks: bool,
    /// Number of annotators to average over (normal-voting annotators have no mask); default:
    /// the number of evidence groups of each example.
    pub annotators: Option<usize>,
    /// Transformer layer (0-based); default: the GRU's attention pooling, else the last layer.
    pub layer: Option<usize>,
    /// Heads averaged (0-based); default: all.
    pub heads: Option<Vec<usize>>,
    /// Query rows of a transformer layer.
    pub query: Query,
    /// Examples with this gold label get a uniform target, masks or not (HateXplain's normal).
    pub uniform_label: Option<String>,
    /// A further split whose examples (labels and masks) join the training set (HateXplain:
    /// `val`, because the public train split has labels only).
    pub mask_split: Option<String>,
    /// Early-stop on this seeded fraction of the training split instead of `val_split`.
    pub val_holdout: Option<f64>,
}

impl Default for AlignConfig {
    fn default() -> Self {
        AlignConfig {
            loss: AlignLoss::Kl,
            lambda: 1.0,
            target: TargetKind::Union,
            temperature: 1.0,
            hatexplain_quirks: false,
            annotators: None,
            layer: None,
            heads: None,
            query: Query::Mean,
            uniform_label: None,
            mask_split: None,
            val_holdout: None,
        }
    }
}

impl AlignConfig {
    /// Checks every field.
    pub fn validate(&self, val_split: &str) -> Result<(), TrainError> {
        let bad = |m: String| Err(TrainError::Config(m));
        if !(self.lambda >= 0.0 && self.lambda.is_finite()) {
            return bad(format!("lambda must be ≥ 0, got {}", self.lambda));
        }
        if !(self.temperature > 0.0 && self.temperature.is_finite()) {
            return bad(format!("temperature must be > 0, got {}", self.temperature));
        }
        if self.heads.as_ref().is_some_and(Vec::is_empty) {
            return bad("heads: give at least one head or omit it".into());
        }
        if let Some(f) = self.val_holdout {
            if !(f > 0.0 && f < 1.0) {
                return bad(format!("val_holdout must be in (0, 1), got {f}"));
            }
        }
        if self.mask_split.as_deref() == Some(val_split) && self.val_holdout.is_none() {
            return bad(format!(
                "mask split {val_split:?} is also the validation split; add --val-holdout F to early-stop on part of the training split"
            ));
        }
        Ok(())
    }
}

/// The attention distribution (B, T) supervised by `cfg`: GRU pooling weights, or a
/// transformer layer's attention averaged over the chosen heads, from the chosen query rows.
pub fn attention_distribution(
    fwd: &Forward,
    mask: &Tensor,
    cfg: &AlignConfig,
) -> Result<Tensor, TrainError> {
    if let (None, Some(p)) = (cfg.layer, &fwd.pooling) {
        return Ok(p.clone());
    }
    if fwd.attentions.is_empty() {
        return Err(TrainError::Config(
            "this classifier has no attention to supervise: use --encoder gru with attention pooling, transformer or bert:PATH (and omit --layer for a GRU)".into(),
        ));
    }
    let n = fwd.attentions.len();
    let l = cfg.layer.unwrap_or(n - 1);
    let layer = fwd.attentions.get(l).ok_or_else(|| {
        TrainError::Config(format!("layer {l} out of range (the model has {n} layers)"))
    })?;
    let nh = layer.dim(1)?;
    let maps = match &cfg.heads {
        None => layer.mean(1)?,
        Some(hs) => {
            if let Some(h) = hs.iter().find(|h| **h >= nh) {
                return Err(TrainError::Config(format!(
                    "head {h} out of range (layer {l} has {nh} heads)"
                )));
            }
            let idx: Vec<u32> = hs.iter().map(|&h| h as u32).collect();
            let idx = Tensor::from_vec(idx, hs.len(), layer.device())?;
            layer.index_select(&idx, 1)?.mean(1)?
        }
    };
    Ok(match cfg.query {
        Query::First => maps.narrow(1, 0, 1)?.squeeze(1)?,
        Query::Mean => {
            let rows = maps.broadcast_mul(&mask.unsqueeze(2)?)?.sum(1)?;
            let n = mask.sum_keepdim(1)?.clamp(1.0, f64::MAX)?;
            rows.broadcast_div(&n)?
        }
    })
}

/// Per-example alignment losses (B) between attention `att` (B, T) and target `target`
/// (B, T), over the tokens where `mask` (B, T) is 1.
pub fn per_example_loss(
    att: &Tensor,
    target: &Tensor,
    mask: &Tensor,
    loss: AlignLoss,
    quirks: bool,
) -> Result<Tensor, TrainError> {
    let log_floor = |x: &Tensor| -> candle_core::Result<Tensor> { x.maximum(EPS)?.log() };
    Ok(match loss {
        AlignLoss::Mse => {
            let sq = (att - target)?.sqr()?.mul(mask)?.sum(D::Minus1)?;
            sq.broadcast_div(&mask.sum(D::Minus1)?.clamp(1.0, f64::MAX)?)?
        }
        AlignLoss::Kl => {
            let diff = (log_floor(target)? - log_floor(att)?)?;
            target.mul(&diff)?.mul(mask)?.sum(D::Minus1)?
        }
        AlignLoss::Ce if quirks => {
            // HateXplain's `cross_entropy`: LogSoftmax over the non-pad probabilities.
            let neg = ((mask - 1.0)? * 1e9)?;
            let logp = candle_nn::ops::log_softmax(&(att + neg)?, D::Minus1)?;
            target.mul(&logp)?.mul(mask)?.sum(D::Minus1)?.neg()?
        }
        AlignLoss::Ce => target
            .mul(&log_floor(att)?)?
            .mul(mask)?
            .sum(D::Minus1)?
            .neg()?,
        AlignLoss::Pruthi => {
            let forbidden = target.eq(0.0)?.to_dtype(att.dtype())?.mul(mask)?;
            let mass = att.mul(&forbidden)?.sum(D::Minus1)?;
            log_floor(&mass.affine(-1.0, 1.0)?)?.neg()?
        }
    })
}

/// The batch alignment loss: per-example losses averaged over the examples whose `has` (B)
/// is 1 (0 when none has a target).
pub fn align_loss(
    att: &Tensor,
    target: &Tensor,
    mask: &Tensor,
    has: &Tensor,
    loss: AlignLoss,
    quirks: bool,
) -> Result<Tensor, TrainError> {
    let per = per_example_loss(att, target, mask, loss, quirks)?;
    let n = has.sum_all()?.clamp(1.0, f64::MAX)?;
    Ok(per.mul(has)?.sum_all()?.broadcast_div(&n)?)
}

/// The target distribution over an encoded input's model tokens from the annotators' masks
/// (`groups`: per annotator, the marked word indices). Sub-words inherit their word's value;
/// special tokens get 0 (except under the HateXplain quirks). No marked word gives a uniform
/// target.
pub fn token_target(enc: &Encoded, groups: &[Vec<usize>], cfg: &AlignConfig) -> Vec<f32> {
    let quirks = cfg.hatexplain_quirks;
    let mut k = cfg.annotators.unwrap_or(0).max(groups.len());
    if quirks {
        k = k.max(3);
    }
    let mut counts = vec![0usize; enc.n_words];
    for g in groups {
        let mut seen = vec![false; enc.n_words];
        for &w in g {
            if w < enc.n_words && !seen[w] {
                seen[w] = true;
                counts[w] += 1;
            }
        }
    }
    let value = |c: usize| -> f64 {
        if k == 0 {
            return 0.0;
        }
        match cfg.target {
            TargetKind::Union => (c > 0) as u8 as f64,
            TargetKind::Majority => (2 * c > k) as u8 as f64,
            TargetKind::Mean | TargetKind::Hatexplain => c as f64 / k as f64,
        }
    };
    let tok: Vec<Option<f64>> = enc
        .word_of
        .iter()
        .map(|w| w.map(|w| value(counts[w])))
        .collect();
    let n = tok.len();
    if cfg.target == TargetKind::Hatexplain {
        // Positions in the softmax: all of them with the quirks (specials as 0), else words.
        let logits: Vec<Option<f64>> = tok
            .iter()
            .map(|v| match v {
                Some(v) if quirks => Some(*v),
                Some(v) => Some(v / cfg.temperature),
                None if quirks => Some(0.0),
                None => None,
            })
            .collect();
        return softmax_some(&logits, n);
    }
    let total: f64 = tok.iter().flatten().sum();
    if total <= 0.0 {
        return uniform(enc, quirks);
    }
    tok.iter()
        .map(|v| (v.unwrap_or(0.0) / total) as f32)
        .collect()
}

/// Uniform over the word tokens (over every position with the HateXplain quirks, or when the
/// input has no word token).
pub fn uniform(enc: &Encoded, quirks: bool) -> Vec<f32> {
    let n = enc.word_of.len();
    let words = enc.word_of.iter().filter(|w| w.is_some()).count();
    if quirks || words == 0 {
        return vec![1.0 / n.max(1) as f32; n];
    }
    enc.word_of
        .iter()
        .map(|w| if w.is_some() { 1.0 / words as f32 } else { 0.0 })
        .collect()
}

fn softmax_some(logits: &[Option<f64>], n: usize) -> Vec<f32> {
    let max = logits
        .iter()
        .flatten()
        .cloned()
        .fold(f64::NEG_INFINITY, f64::max);
    if !max.is_finite() {
        return vec![1.0 / n.max(1) as f32; n];
    }
    let e: Vec<f64> = logits
        .iter()
        .map(|l| l.map_or(0.0, |l| (l - max).exp()))
        .collect();
    let z: f64 = e.iter().sum();
    e.iter().map(|x| (x / z) as f32).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};

    fn t2(v: &[f32], b: usize, t: usize) -> Tensor {
        Tensor::from_vec(v.to_vec(), (b, t), &Device::Cpu).unwrap()
    }

    fn close(a: &[f32], b: &[f32]) {
        assert_eq!(a.len(), b.len(), "{a:?} vs {b:?}");
        for (x, y) in a.iter().zip(b) {
            assert!((x - y).abs() < 1e-5, "{a:?} vs {b:?}");
        }
    }

    /// Example 0: attention [0.5, 0.3, 0.2], target [0, ½, ½]; example 1 (last token padded):
    /// attention [¼, ¾], target [1, 0]. Hand-derived: MSE (¼ + 0.04 + 0.09)/3 and (2·0.5625)/2;
    /// KL ½ln(0.5/0.3) + ½ln(0.5/0.2) and ln 4; CE −½(ln 0.3 + ln 0.2) and ln 4; Pruthi −ln ½ and
    /// −ln ¼. PyTorch (`tests/fixtures/align/align_reference.py`) prints the same values, and `ce_quirk`.
    #[test]
    fn losses_match_hand_derived_and_pytorch_values() {
        let att = t2(&[0.5, 0.3, 0.2, 0.25, 0.75, 0.0], 2, 3);
        let tgt = t2(&[0.0, 0.5, 0.5, 1.0, 0.0, 0.0], 2, 3);
        let mask = t2(&[1.0, 1.0, 1.0, 1.0, 1.0, 0.0], 2, 3);
        let cases = [
            (AlignLoss::Mse, false, [0.38 / 3.0, 0.5625]),
            (AlignLoss::Kl, false, [0.713558, 1.386294]),
            (AlignLoss::Ce, false, [1.406705, 1.386294]),
            (AlignLoss::Ce, true, [1.189831, 0.974077]),
            (AlignLoss::Pruthi, false, [std::f32::consts::LN_2, 1.386294]),
        ];
        for (loss, quirks, want) in cases {
            let got = per_example_loss(&att, &tgt, &mask, loss, quirks).unwrap();
            close(&got.to_vec1::<f32>().unwrap(), &want);
            // The batch loss averages over the examples that have a target.
            let has = Tensor::new(&[0f32, 1.0], &Device::Cpu).unwrap();
            let b = align_loss(&att, &tgt, &mask, &has, loss, quirks).unwrap();
            close(&[b.to_scalar::<f32>().unwrap()], &[want[1]]);
        }
    }

    fn enc(word_of: Vec<Option<usize>>, n_words: usize) -> Encoded {
        Encoded {
            ids: vec![5; word_of.len()],
            word_of,
            n_words,
            pad_id: 0,
        }
    }

    fn cfg(target: TargetKind) -> AlignConfig {
        AlignConfig {
            target,
            ..Default::default()
        }
    }

    /// Token 1 marked by 2 of 3 annotators, token 2 by 1 (the research note's example and
    /// HateXplain's `aggregate_attention`; values from `tests/fixtures/align/align_reference.py`).
    #[test]
    fn hatexplain_target_reproduces_the_code_and_the_intended_temperature() {
        let groups = vec![vec![1, 2], vec![1]];
        let words = enc((0..4).map(Some).collect(), 4);
        let mut c = cfg(TargetKind::Hatexplain);
        c.hatexplain_quirks = true;
        c.temperature = 0.2; // ignored under the quirks, as in the code
        close(
            &token_target(&words, &groups, &c),
            &[0.187149, 0.364516, 0.261187, 0.187149],
        );
        // [CLS] w0..w3 [SEP]: the quirks put the specials into the softmax as zeros.
        let mut wo = vec![None];
        wo.extend((0..4).map(Some));
        wo.push(None);
        let bert = enc(wo, 4);
        close(
            &token_target(&bert, &groups, &c),
            &[0.136178, 0.136178, 0.265238, 0.190051, 0.136178, 0.136178],
        );
        // Without the quirks: 3 annotators given explicitly, temperature 0.2 = HateXplain's ×5.
        c.hatexplain_quirks = false;
        c.annotators = Some(3);
        close(
            &token_target(&words, &groups, &c),
            &[0.028308, 0.79351, 0.149875, 0.028308],
        );
        // ... and the specials get nothing.
        let t = token_target(&bert, &groups, &c);
        assert_eq!((t[0], t[5]), (0.0, 0.0));
        close(&t[1..5], &[0.028308, 0.79351, 0.149875, 0.028308]);
    }

    #[test]
    fn union_majority_mean_targets_and_sub_word_spreading() {
        // Word 1 is split into two pieces; annotators: {1, 2}, {1}, {} (3 annotators).
        let e = enc(vec![None, Some(0), Some(1), Some(1), Some(2), None], 3);
        let groups = vec![vec![1, 2], vec![1]];
        let mut c = cfg(TargetKind::Union);
        close(
            &token_target(&e, &groups, &c),
            &[0.0, 0.0, 1.0 / 3.0, 1.0 / 3.0, 1.0 / 3.0, 0.0],
        );
        c.target = TargetKind::Majority;
        c.annotators = Some(3);
        close(
            &token_target(&e, &groups, &c),
            &[0.0, 0.0, 0.5, 0.5, 0.0, 0.0],
        );
        c.target = TargetKind::Mean; // values 2/3, 2/3, 1/3 → sum 5/3
        close(
            &token_target(&e, &groups, &c),
            &[0.0, 0.0, 0.4, 0.4, 0.2, 0.0],
        );
        // With 2 annotators, word 2 (1 of 2) is not a majority either; with none marked: uniform.
        c.target = TargetKind::Majority;
        c.annotators = None;
        close(
            &token_target(&e, &groups, &c),
            &[0.0, 0.0, 0.5, 0.5, 0.0, 0.0],
        );
        close(
            &token_target(&e, &[], &c),
            &[0.0, 0.25, 0.25, 0.25, 0.25, 0.0],
        );
        close(&uniform(&e, true), &[1.0 / 6.0; 6]);
    }

    #[test]
    fn attention_distribution_reads_pooling_heads_and_query_rows() {
        // One layer, 2 heads, T = 2; the second example's last token is padding.
        #[rustfmt::skip]
        let a = Tensor::from_vec(vec![
            0.6f32, 0.4, 0.2, 0.8,   0.0, 1.0, 0.5, 0.5,
            1.0, 0.0, 1.0, 0.0,      1.0, 0.0, 1.0, 0.0,
        ], (2, 2, 2, 2), &Device::Cpu).unwrap();
        let mask = t2(&[1.0, 1.0, 1.0, 0.0], 2, 2);
        let fwd = Forward {
            logits: t2(&[0.0; 4], 2, 2),
            pooling: None,
            attentions: vec![a],
        };
        let mut c = AlignConfig::default();
        let mean = attention_distribution(&fwd, &mask, &c).unwrap();
        // Example 0: heads mean [[0.3, 0.7], [0.35, 0.65]], rows mean [0.325, 0.675].
        close(
            &mean.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            &[0.325, 0.675, 1.0, 0.0],
        );
        c.query = Query::First;
        c.heads = Some(vec![1]);
        let first = attention_distribution(&fwd, &mask, &c).unwrap();
        close(
            &first.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            &[0.0, 1.0, 1.0, 0.0],
        );
        c.heads = Some(vec![2]);
        assert!(attention_distribution(&fwd, &mask, &c).is_err());
        c.heads = None;
        c.layer = Some(1);
        assert!(attention_distribution(&fwd, &mask, &c).is_err());
    }

    /// Gradient descent on the alignment loss alone moves softmax attention toward the target,
    /// for every loss.
    #[test]
    fn gradients_pull_attention_toward_the_target() {
        let tgt = t2(&[0.0, 0.5, 0.5, 0.0], 1, 4);
        let mask = t2(&[1.0; 4], 1, 4);
        let has = Tensor::new(&[1f32], &Device::Cpu).unwrap();
        for (loss, quirks) in [
            (AlignLoss::Mse, false),
            (AlignLoss::Kl, false),
            (AlignLoss::Ce, false),
            (AlignLoss::Ce, true),
            (AlignLoss::Pruthi, false),
        ] {
            let logits = Var::from_tensor(&t2(&[1.0, 0.0, -0.5, 0.5], 1, 4)).unwrap();
            let mass = |l: &Tensor| {
                let a = candle_nn::ops::softmax(l, D::Minus1).unwrap();
                let v = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
                v[1] + v[2]
            };
            let before = mass(logits.as_tensor());
            for _ in 0..50 {
                let att = candle_nn::ops::softmax(logits.as_tensor(), D::Minus1).unwrap();
                let l = align_loss(&att, &tgt, &mask, &has, loss, quirks).unwrap();
                let g = l.backward().unwrap();
                let grad = g.get(logits.as_tensor()).unwrap();
                logits
                    .set(&(logits.as_tensor() - (grad * 5.0).unwrap()).unwrap())
                    .unwrap();
            }
            let after = mass(logits.as_tensor());
            assert!(
                after > before + 0.1,
                "{loss:?} quirks={quirks}: mass on the target {before} → {after}"
            );
        }
    }
}
