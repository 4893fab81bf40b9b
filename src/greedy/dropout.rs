//! Compatibility fine-tuning: word dropout (Vafa et al. 2021, A5 of the research note).
//!
//! With probability `mixture` a training batch is a word-dropout batch: a kept-set size n is
//! drawn uniformly from {0..T}, the kept set is the first n entries of a random permutation, and
//! every query attends only to kept tokens before it and to itself (an additive mask after the
//! causal mask, in every layer and head, shared by the batch). That is exactly what sparse
//! inference on a subset with original positions computes. Other batches train normally. The
//! loss is next-token cross-entropy at every position. Randomness comes from a seeded ChaCha
//! generator (candle's CPU generator cannot be seeded).

use super::GreedyError;
use crate::models::gpt2::{Gpt2, Gpt2Config};
use crate::progress::Observer;
use crate::train::fit::{fit, Batching, EpochEnd, Plan};
use crate::train::{on_training_stack, AdamW, AdamWParams, TrainError, TrainState, Trainer};
use candle_core::{Device, Tensor, Var};
use rand::seq::SliceRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Training options.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Probability that a batch uses word dropout (1.0: always, 0.0: ordinary training).
    pub mixture: f64,
    /// AdamW learning rate (no weight decay).
    pub lr: f64,
    /// Optimizer steps.
    pub steps: usize,
    /// Sequences per batch.
    pub batch: usize,
    /// Seed for batch order and dropout masks.
    pub seed: u64,
    /// Train on the last position's prediction only (for synthetic tasks whose other tokens are
    /// noise); the authors' recipe is `false` (every position).
    #[serde(default)]
    pub last_only: bool,
}

impl TrainConfig {
    fn validate(&self) -> Result<(), GreedyError> {
        if !(0.0..=1.0).contains(&self.mixture) {
            return Err(GreedyError::Invalid(format!(
                "mixture {} is not in [0, 1]",
                self.mixture
            )));
        }
        if self.batch == 0 || self.lr.is_nan() || self.lr <= 0.0 {
            return Err(GreedyError::Invalid("batch must be > 0 and lr > 0".into()));
        }
        Ok(())
    }
}

/// The additive word-dropout mask `(T, T)`: 0 where token j is kept or j == i, −1e9 elsewhere.
pub fn word_dropout_mask<R: Rng>(
    t: usize,
    rng: &mut R,
    device: &Device,
) -> Result<Tensor, GreedyError> {
    let n = rng.gen_range(0..=t);
    let mut perm: Vec<usize> = (0..t).collect();
    perm.shuffle(rng);
    let mut kept = vec![false; t];
    for &p in &perm[..n] {
        kept[p] = true;
    }
    let mut m = vec![0f32; t * t];
    for i in 0..t {
        for j in 0..t {
            if !(kept[j] || i == j) {
                m[i * t + j] = -1e9;
            }
        }
    }
    Ok(Tensor::from_vec(m, (t, t), device)?)
}

/// A language model as [`crate::train::fit`] trains it: next-token cross-entropy on a stream
/// of equal-length sequences, a word-dropout batch with probability `mixture`.
struct LmTrainer<'a> {
    config: &'a Gpt2Config,
    cfg: &'a TrainConfig,
    model: Gpt2,
    opt: AdamW,
    data: &'a [Vec<u32>],
    t: usize,
    device: &'a Device,
    losses: Vec<f32>,
}

impl Trainer for LmTrainer<'_> {
    type Epoch = ();
    type Error = GreedyError;

    fn step(&mut self, batch: &[usize], rng: &mut ChaCha8Rng) -> Result<String, GreedyError> {
        let (cfg, t, device) = (self.cfg, self.t, self.device);
        let mut ids = Vec::with_capacity(batch.len() * t);
        for &i in batch {
            ids.extend_from_slice(&self.data[i]);
        }
        let mask = if rng.gen::<f64>() < cfg.mixture {
            Some(word_dropout_mask(t, rng, device)?)
        } else {
            None
        };
        let logits = self.model.forward_train(&ids, batch.len(), mask.as_ref())?;
        let v = self.config.vocab_size;
        let (from, len) = if cfg.last_only {
            (t - 2, 1)
        } else {
            (0, t - 1)
        };
        let pred = logits
            .narrow(1, from, len)?
            .reshape((batch.len() * len, v))?;
        let targets: Vec<u32> = ids
            .chunks(t)
            .flat_map(|s| s[from + 1..].iter().copied())
            .collect();
        let targets = Tensor::from_vec(targets, batch.len() * len, device)?;
        let loss = candle_nn::loss::cross_entropy(&pred, &targets)?;
        let grads = loss.backward()?;
        self.opt.step(&grads, cfg.lr).map_err(TrainError::from)?;
        self.losses.push(loss.to_scalar::<f32>()?);
        let mean = self.losses.iter().map(|&l| l as f64).sum::<f64>() / self.losses.len() as f64;
        Ok(format!("loss {mean:.4}"))
    }

    fn end_epoch(&mut self, _epoch: usize, _seconds: f64) -> Result<EpochEnd<()>, GreedyError> {
        Ok(EpochEnd {
            record: (),
            line: None,
            warnings: Vec::new(),
            score: None,
        })
    }

    fn save(&self, _dir: &Path) -> Result<(), GreedyError> {
        Ok(())
    }
}

/// Trains (or fine-tunes) the model whose parameters are `vars` on equal-length sequences
/// (AdamW without weight decay, [`crate::train::AdamW`]; one generator seeded with
/// `cfg.seed` orders the sequences and draws the word-dropout masks). Reports progress to
/// `observer` and returns the loss of every step.
///
/// The work runs on a thread with a 1 GiB stack ([`on_training_stack`]), like every training
/// entry point of the library; callers need no special stack.
pub fn train_lm(
    config: &Gpt2Config,
    vars: &[(String, Var)],
    data: &[Vec<u32>],
    cfg: &TrainConfig,
    device: &Device,
    observer: &dyn Observer,
) -> Result<Vec<f32>, GreedyError> {
    cfg.validate()?;
    let t = data
        .first()
        .map(Vec::len)
        .ok_or_else(|| GreedyError::Invalid("no training sequences".into()))?;
    if t < 2 || data.iter().any(|s| s.len() != t) {
        return Err(GreedyError::Invalid(
            "training sequences must all have the same length >= 2".into(),
        ));
    }
    on_training_stack(|| {
        let model = Gpt2::from_vars(config.clone(), vars, device)?;
        let params = AdamWParams {
            weight_decay: 0.0,
            ..Default::default()
        };
        let opt = AdamW::new(vars.to_vec(), params).map_err(TrainError::from)?;
        let mut trainer = LmTrainer {
            config,
            cfg,
            model,
            opt,
            data,
            t,
            device,
            losses: Vec::with_capacity(cfg.steps),
        };
        let plan = Plan {
            examples: data.len(),
            epochs: 1,
            seed: cfg.seed,
            patience: None,
            batching: Batching::Stream {
                batch_size: cfg.batch,
                steps: cfg.steps,
            },
        };
        fit(&mut trainer, &plan, TrainState::default(), None, observer)?;
        Ok(trainer.losses)
    })?
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Silent;
    use rand_chacha::rand_core::SeedableRng;

    #[test]
    fn mask_keeps_the_diagonal_and_is_seeded() {
        let mut a = ChaCha8Rng::seed_from_u64(3);
        let mut b = ChaCha8Rng::seed_from_u64(3);
        let m1 = word_dropout_mask(6, &mut a, &Device::Cpu)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let m2 = word_dropout_mask(6, &mut b, &Device::Cpu)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        assert_eq!(m1, m2);
        for (i, row) in m1.iter().enumerate() {
            assert_eq!(row[i], 0.0);
            // a column is kept for every query or dropped for every query but itself
            for (j, &x) in row.iter().enumerate() {
                let other = m1[if i == 0 { 1 } else { 0 }][j];
                if i != j && (i != 0 || j != 1) && (i == 0 || j != 0) {
                    assert_eq!(x, other);
                }
            }
        }
    }

    #[test]
    fn masked_full_sequence_equals_sparse_subset() {
        // Word-dropout training sees exactly what sparse inference computes.
        let cfg = Gpt2Config::small(7, 8, 8, 2, 2);
        let vars = Gpt2::init_vars(&cfg, 1, &Device::Cpu).unwrap();
        let m = Gpt2::from_vars(cfg, &vars, &Device::Cpu).unwrap();
        let ids = [1u32, 5, 2, 6, 3, 4];
        let kept = [1usize, 3];
        let mut mask = vec![-1e9f32; 36];
        for i in 0..6 {
            mask[i * 6 + i] = 0.0;
            for &k in &kept {
                mask[i * 6 + k] = 0.0;
            }
        }
        let mask = Tensor::from_vec(mask, (6, 6), &Device::Cpu).unwrap();
        let full = m
            .forward_train(&ids, 1, Some(&mask))
            .unwrap()
            .squeeze(0)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        let sub = [1usize, 3, 5];
        let sparse = m
            .forward(&[5, 6, 4], &sub, 1)
            .unwrap()
            .squeeze(0)
            .unwrap()
            .to_vec2::<f32>()
            .unwrap();
        for (a, b) in full[5].iter().zip(&sparse[2]) {
            assert!((a - b).abs() < 1e-5);
        }
    }

    #[test]
    fn bad_configs_are_errors() {
        let cfg = Gpt2Config::small(3, 4, 8, 1, 2);
        let vars = Gpt2::init_vars(&cfg, 1, &Device::Cpu).unwrap();
        let tc = TrainConfig {
            mixture: 2.0,
            lr: 1e-3,
            steps: 1,
            batch: 1,
            seed: 0,
            last_only: false,
        };
        assert!(train_lm(&cfg, &vars, &[vec![0, 1]], &tc, &Device::Cpu, &Silent).is_err());
        let tc = TrainConfig { mixture: 0.5, ..tc };
        assert!(train_lm(&cfg, &vars, &[], &tc, &Device::Cpu, &Silent).is_err());
        assert!(train_lm(
            &cfg,
            &vars,
            &[vec![0, 1], vec![1]],
            &tc,
            &Device::Cpu,
            &Silent
        )
        .is_err());
    }

    /// A model built on variables that training then changes scores with the new weights: its
    /// packed copy is rebuilt, and agrees with the differentiable passes (sparse and training).
    #[test]
    fn packed_inference_follows_training() {
        use crate::models::cached_lm::CachedLm;
        let cfg = Gpt2Config::small(7, 8, 8, 2, 2);
        let vars = Gpt2::init_vars(&cfg, 1, &Device::Cpu).unwrap();
        let m = Gpt2::from_vars(cfg.clone(), &vars, &Device::Cpu).unwrap();
        let ids = [1u32, 5, 2, 6, 3, 4];
        let before = m.next_token_logprobs(&[&ids]).unwrap().remove(0);
        let tc = TrainConfig {
            mixture: 0.0,
            lr: 1e-2,
            steps: 3,
            batch: 1,
            seed: 0,
            last_only: false,
        };
        train_lm(&cfg, &vars, &[ids.to_vec()], &tc, &Device::Cpu, &Silent).unwrap();
        let after = m.next_token_logprobs(&[&ids]).unwrap().remove(0);
        let logits = m.forward_train(&ids, 1, None).unwrap().squeeze(0).unwrap();
        let logits = logits.to_vec2::<f32>().unwrap();
        // The sparse pass reads the trained weights too.
        let positions: Vec<usize> = (0..ids.len()).collect();
        let sparse = m.forward(&ids, &positions, 1).unwrap().squeeze(0).unwrap();
        for (s, t) in sparse.to_vec2::<f32>().unwrap().iter().zip(&logits) {
            let d = s.iter().zip(t).fold(0f32, |m, (a, b)| m.max((a - b).abs()));
            assert!(d < 1e-5, "forward and forward_train differ by {d}");
        }
        for (i, (a, row)) in after.iter().zip(&logits).enumerate() {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let lse = max + row.iter().map(|x| (x - max).exp()).sum::<f32>().ln();
            let want = row[ids[i + 1] as usize] - lse;
            assert!((a - want).abs() < 1e-4, "token {}: {a} vs {want}", i + 1);
        }
        let moved = before.iter().zip(&after).map(|(a, b)| (a - b).abs());
        assert!(
            moved.fold(0f32, f32::max) > 1e-3,
            "training changed nothing"
        );
    }
}
