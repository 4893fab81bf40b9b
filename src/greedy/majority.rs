//! The majority-class experiment (Vafa et al. 2021): sequences of 17 random bits, `=`, and the
//! majority bit. A model trained with word dropout should give, on any subset of the bits, the
//! exact posterior P(majority = 1 | observed bits), a binomial tail; greedy rationales of the
//! label can then be compared with exhaustive search and with the Bayes-optimal size.
//!
//! Token ids: `0` → 0, `1` → 1, `=` → 2. The label sits at position 18 and is predicted from
//! positions 0..=17 (`=` at 17 is the forced first rationale token).

use super::dropout::{train_lm, TrainConfig};
use super::exhaustive::exhaustive;
use super::lm::LmScorer;
use super::{greedy, GreedyConfig, GreedyError, Start, SubsetScore, SubsetScorer};
use crate::models::cached_lm::score_row;
use crate::models::gpt2::{Gpt2, Gpt2Config};
use candle_core::Device;
use rand::Rng;
use rand_chacha::rand_core::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Number of random bits.
pub const BITS: usize = 17;
/// Token id of `=`.
pub const EQ: u32 = 2;

/// `n` sequences of 17 Bernoulli(½) bits, `=`, and the majority bit (seeded).
pub fn generate(n: usize, seed: u64) -> Vec<Vec<u32>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    (0..n)
        .map(|_| {
            let mut s: Vec<u32> = (0..BITS).map(|_| u32::from(rng.gen::<bool>())).collect();
            let ones = s.iter().sum::<u32>() as usize;
            s.push(EQ);
            s.push(u32::from(ones > BITS / 2));
            s
        })
        .collect()
}

/// Exact P(majority = 1) after observing `seen` bits of which `ones` are 1: the probability
/// that the `17 − seen` hidden bits hold at least `9 − ones` ones.
pub fn posterior_one(seen: usize, ones: usize) -> f64 {
    let hidden = BITS - seen;
    let need = (BITS / 2 + 1).saturating_sub(ones);
    let mut total = 0.0;
    let mut c = 1.0f64; // C(hidden, k)
    for k in 0..=hidden {
        if k >= need {
            total += c;
        }
        c = c * (hidden - k) as f64 / (k + 1) as f64;
    }
    total / 2f64.powi(hidden as i32)
}

/// The exact posterior as a model (a toy whose right answers are known analytically).
pub struct BayesScorer<'a> {
    /// The 18 context tokens (17 bits and `=`).
    pub context: &'a [u32],
}

impl SubsetScorer for BayesScorer<'_> {
    fn context_len(&self) -> usize {
        self.context.len()
    }
    fn score(
        &mut self,
        subsets: &[Vec<usize>],
        target: usize,
    ) -> Result<Vec<SubsetScore>, GreedyError> {
        Ok(subsets
            .iter()
            .map(|s| {
                let bits: Vec<u32> = s
                    .iter()
                    .map(|&p| self.context[p])
                    .filter(|&t| t != EQ)
                    .collect();
                let p1 = posterior_one(bits.len(), bits.iter().filter(|&&b| b == 1).count());
                score_row(
                    &[(1.0 - p1).ln() as f32, p1.ln() as f32, f32::NEG_INFINITY],
                    target,
                )
            })
            .collect())
    }
}

/// Compatibility probe: hide bits (each kept with p = ½) and compare the model's P(1), on the
/// sparse subset of kept bits plus `=`, with the exact binomial tail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    /// Probed subsets.
    pub n: usize,
    /// Mean |P_model(1) − P_exact(1)|.
    pub mean_abs_error: f64,
    /// Largest |P_model(1) − P_exact(1)|.
    pub max_abs_error: f64,
    /// (exact, model) pairs, for plots.
    pub pairs: Vec<(f64, f64)>,
}

/// Runs the probe on `data` with a seeded choice of hidden bits.
pub fn probe(model: &Gpt2, data: &[Vec<u32>], seed: u64) -> Result<Probe, GreedyError> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut pairs = Vec::with_capacity(data.len());
    for s in data {
        let mut pos: Vec<usize> = (0..BITS).filter(|_| rng.gen::<bool>()).collect();
        pos.push(BITS);
        let ids: Vec<u32> = pos.iter().map(|&p| s[p]).collect();
        let logits = model.forward(&ids, &pos, 1)?;
        let last = logits.squeeze(0)?.get(pos.len() - 1)?;
        let p = candle_nn::ops::softmax_last_dim(&last.unsqueeze(0)?)?
            .squeeze(0)?
            .to_vec1::<f32>()?;
        let ones = ids[..ids.len() - 1].iter().filter(|&&b| b == 1).count();
        pairs.push((posterior_one(pos.len() - 1, ones), p[1] as f64));
    }
    let errs: Vec<f64> = pairs.iter().map(|(a, b)| (a - b).abs()).collect();
    Ok(Probe {
        n: pairs.len(),
        mean_abs_error: errs.iter().sum::<f64>() / errs.len().max(1) as f64,
        max_abs_error: errs.iter().copied().fold(0.0, f64::max),
        pairs,
    })
}

/// Greedy vs exhaustive vs Bayes-optimal rationale sizes over test sequences.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SizeReport {
    /// Sequences rationalized.
    pub n: usize,
    /// Mean greedy rationale size (tokens, `=` included).
    pub greedy_mean: f64,
    /// Mean exhaustive (optimal under this model) size, over sequences where it finished.
    pub exhaustive_mean: f64,
    /// Mean |greedy| / |exhaustive|.
    pub approximation_ratio: f64,
    /// Sequences where greedy found a larger set than exhaustive.
    pub greedy_worse: usize,
    /// Mean Bayes-optimal size: the optimum under the exact posterior.
    pub bayes_mean: f64,
    /// Sequences whose greedy size equals the Bayes-optimal size.
    pub equal_to_bayes: usize,
    /// Sequences where greedy never reached the label.
    pub unreached: usize,
}

/// Rationalizes the label of each sequence with `model` (greedy and exhaustive up to
/// `max_exhaustive` tokens) and with the exact posterior.
pub fn sizes(
    model: &Gpt2,
    data: &[Vec<u32>],
    max_exhaustive: usize,
) -> Result<SizeReport, GreedyError> {
    let cfg = GreedyConfig::default();
    let (mut g_sum, mut e_sum, mut r_sum, mut b_sum) = (0.0, 0.0, 0.0, 0.0);
    let (mut worse, mut eq_bayes, mut unreached, mut e_n) = (0, 0, 0, 0usize);
    for s in data {
        let ctx = &s[..=BITS];
        let target = s[BITS + 1] as usize;
        let mut sc = LmScorer::new(model, ctx);
        let g = greedy(&mut sc, target, &cfg)?;
        unreached += usize::from(!g.reached_argmax);
        let e = exhaustive(&mut sc, target, Start::Last, max_exhaustive)?;
        let b = exhaustive(
            &mut BayesScorer { context: ctx },
            target,
            Start::Last,
            BITS + 1,
        )?;
        let bsize = b.subset.map_or(BITS + 1, |x| x.len());
        g_sum += g.order.len() as f64;
        b_sum += bsize as f64;
        eq_bayes += usize::from(g.order.len() == bsize);
        if let Some(e) = e.subset {
            e_n += 1;
            e_sum += e.len() as f64;
            r_sum += g.order.len() as f64 / e.len() as f64;
            worse += usize::from(g.order.len() > e.len());
        }
    }
    let n = data.len().max(1) as f64;
    Ok(SizeReport {
        n: data.len(),
        greedy_mean: g_sum / n,
        exhaustive_mean: e_sum / e_n.max(1) as f64,
        approximation_ratio: r_sum / e_n.max(1) as f64,
        greedy_worse: worse,
        bayes_mean: b_sum / n,
        equal_to_bayes: eq_bayes,
        unreached,
    })
}

/// Options of the whole experiment.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ExperimentConfig {
    /// Training sequences.
    pub train: usize,
    /// Test sequences (probe and rationales).
    pub test: usize,
    /// Model width, layers, heads.
    pub n_embd: usize,
    /// Blocks.
    pub n_layer: usize,
    /// Heads.
    pub n_head: usize,
    /// Training (mixture is set per arm: 1.0 compatible, 0.0 standard).
    pub train_cfg: TrainConfig,
    /// Largest exhaustive search.
    pub max_exhaustive: usize,
}

/// One arm (standard or compatible) of the experiment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Arm {
    /// Word-dropout mixture used in training.
    pub mixture: f64,
    /// Mean loss of the last 50 steps.
    pub final_loss: f32,
    /// Label accuracy on full test sequences.
    pub full_context_accuracy: f64,
    /// The compatibility probe.
    pub probe: Probe,
    /// Rationale sizes.
    pub sizes: SizeReport,
}

/// Trains the standard and the compatible model and measures both.
pub fn run(cfg: &ExperimentConfig, device: &Device) -> Result<Vec<Arm>, GreedyError> {
    let train = generate(cfg.train, cfg.train_cfg.seed);
    let test = generate(cfg.test, cfg.train_cfg.seed.wrapping_add(1_000_003));
    let mut arms = Vec::new();
    for mixture in [0.0, 1.0] {
        let mcfg = Gpt2Config::small(3, BITS + 2, cfg.n_embd, cfg.n_layer, cfg.n_head);
        let vars = Gpt2::init_vars(&mcfg, cfg.train_cfg.seed, device)?;
        let tc = TrainConfig {
            mixture,
            ..cfg.train_cfg
        };
        let losses = train_lm(&mcfg, &vars, &train, &tc, device, &crate::progress::Silent)?;
        let model = Gpt2::from_vars(mcfg, &vars, device)?;
        let tail = &losses[losses.len().saturating_sub(50)..];
        let mut correct = 0;
        for s in &test {
            let pos: Vec<usize> = (0..=BITS).collect();
            let l = model
                .forward(&s[..=BITS], &pos, 1)?
                .squeeze(0)?
                .get(BITS)?
                .to_vec1::<f32>()?;
            correct += usize::from(score_row(&l, 0).argmax == s[BITS + 1] as usize);
        }
        arms.push(Arm {
            mixture,
            final_loss: tail.iter().sum::<f32>() / tail.len().max(1) as f32,
            full_context_accuracy: correct as f64 / test.len().max(1) as f64,
            probe: probe(&model, &test, 7)?,
            sizes: sizes(&model, &test, cfg.max_exhaustive)?,
        });
    }
    Ok(arms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn binomial_tail() {
        assert_eq!(posterior_one(0, 0), 0.5);
        assert_eq!(posterior_one(17, 9), 1.0);
        assert_eq!(posterior_one(17, 8), 0.0);
        assert_eq!(posterior_one(9, 9), 1.0);
        // one 1 seen: P(at least 8 of 16) = 39203/65536
        assert!((posterior_one(1, 1) - 39203.0 / 65536.0).abs() < 1e-12);
        for s in generate(50, 1) {
            assert_eq!(s.len(), 19);
            let ones = s[..17].iter().sum::<u32>();
            assert_eq!(s[18], u32::from(ones >= 9));
        }
    }

    #[test]
    fn bayes_greedy_is_optimal() {
        // Under the exact posterior one majority bit makes label 1 the argmax; label 0 already
        // is the argmax from `=` alone (P = ½ ties go to the lower id).
        for s in generate(40, 2) {
            let ctx = &s[..18];
            let mut b = BayesScorer { context: ctx };
            let g = greedy(&mut b, s[18] as usize, &GreedyConfig::default()).unwrap();
            let e = exhaustive(&mut b, s[18] as usize, Start::Last, 18).unwrap();
            assert_eq!(g.order.len(), e.subset.unwrap().len());
            assert_eq!(g.order.len(), if s[18] == 1 { 2 } else { 1 });
        }
    }

    #[test]
    fn small_experiment_end_to_end() {
        let cfg = ExperimentConfig {
            train: 2000,
            test: 30,
            n_embd: 32,
            n_layer: 2,
            n_head: 4,
            train_cfg: TrainConfig {
                mixture: 1.0,
                lr: 3e-3,
                steps: 300,
                batch: 32,
                seed: 5,
                last_only: true,
            },
            max_exhaustive: 3,
        };
        let arms = run(&cfg, &Device::Cpu).unwrap();
        let compat = &arms[1];
        assert!(compat.full_context_accuracy > 0.8, "{compat:?}");
        assert!(
            compat.probe.mean_abs_error < 0.15,
            "{:?}",
            compat.probe.mean_abs_error
        );
        assert!(compat.sizes.approximation_ratio >= 1.0);
    }
}
