//! Mask estimators and selection rules of the generator:
//!
//! - deterministic budgets ([`select_units`]): top-k words, the best contiguous span of k
//!   tokens, or the top sentences by summed score (A2R and the noise-injection code);
//! - straight-through Gumbel (binary concrete, hard forward, soft backward);
//! - REINFORCE: Bernoulli samples and their log-probability (the baseline lives in training);
//! - HardKuma (Bastings et al. 2019): stretched and rectified Kumaraswamy samples, closed-form
//!   P(z = 0), P(z = 1), expected L0 and expected transitions, and the Lagrangian multiplier
//!   update of their code.
//!
//! All random numbers come from a seeded generator (candle's CPU generator cannot be seeded).

use super::{Granularity, Result};
use candle_core::{DType, Tensor};
use rand::Rng;

/// Kumaraswamy stretch interval (l, r) of HardKuma.
pub const KUMA_STRETCH: (f64, f64) = (-0.1, 1.1);

/// A deterministic selection of about `budget` of the `scores.len()` tokens (k =
/// max(1, round(budget · n))) at the given granularity; `sentence_of[i]` is token i's sentence.
pub fn select_units(
    scores: &[f32],
    budget: f64,
    granularity: Granularity,
    sentence_of: &[usize],
) -> Vec<bool> {
    let n = scores.len();
    if n == 0 {
        return Vec::new();
    }
    let k = ((budget * n as f64).round() as usize).clamp(1, n);
    match granularity {
        Granularity::Word => crate::corpus::mask::top_k(scores, k),
        Granularity::Span => best_span(scores, k),
        Granularity::Sentence => {
            let n_sent = sentence_of.iter().copied().max().map_or(1, |m| m + 1);
            let mut sum = vec![0f32; n_sent];
            for (s, &j) in scores.iter().zip(sentence_of) {
                sum[j] += s;
            }
            let ks = ((budget * n_sent as f64).round() as usize).clamp(1, n_sent);
            let top = crate::corpus::mask::top_k(&sum, ks);
            sentence_of.iter().map(|&j| top[j]).collect()
        }
    }
}

/// Each score averaged with the `w` scores on either side (fewer at the ends): A2R's phrase
/// smoothing (`SelectConfig::window`), so that top-k selects runs of words instead of isolated
/// ones. `w = 0` returns the scores unchanged.
pub fn window_mean(scores: &[f32], w: usize) -> Vec<f32> {
    let mut prefix = Vec::with_capacity(scores.len() + 1);
    prefix.push(0f64);
    for s in scores {
        prefix.push(prefix.last().unwrap() + *s as f64);
    }
    (0..scores.len())
        .map(|i| {
            let (a, b) = (i.saturating_sub(w), (i + w + 1).min(scores.len()));
            ((prefix[b] - prefix[a]) / (b - a) as f64) as f32
        })
        .collect()
}

/// The window of `k` consecutive tokens with the largest summed score (first on ties).
pub fn best_span(scores: &[f32], k: usize) -> Vec<bool> {
    let n = scores.len();
    let k = k.clamp(1, n.max(1));
    let mut mask = vec![false; n];
    if n == 0 {
        return mask;
    }
    let mut sum: f64 = scores[..k].iter().map(|v| *v as f64).sum();
    let (mut best, mut at) = (sum, 0);
    for s in 1..=(n - k) {
        sum += scores[s + k - 1] as f64 - scores[s - 1] as f64;
        if sum > best {
            best = sum;
            at = s;
        }
    }
    mask[at..at + k].iter_mut().for_each(|m| *m = true);
    mask
}

/// Standard logistic noise ln u − ln(1 − u) of `shape`, from `rng`.
pub fn logistic_noise(rng: &mut (impl Rng + ?Sized), shape: &[usize]) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = (0..n)
        .map(|_| {
            let u: f64 = rng.gen_range(1e-6..1.0 - 1e-6);
            (u.ln() - (1.0 - u).ln()) as f32
        })
        .collect();
    Ok(Tensor::from_vec(v, shape, &candle_core::Device::Cpu)?)
}

/// Straight-through Gumbel (binary concrete) sample of a Bernoulli with `logits`: the forward
/// value is the hard 0/1 sample, the gradient that of σ((logits + logistic noise) / τ).
/// Without `rng`, the deterministic mask `logits > 0` (still with the straight-through
/// gradient).
pub fn straight_through_gumbel(
    logits: &Tensor,
    tau: f64,
    rng: Option<&mut dyn rand::RngCore>,
) -> Result<Tensor> {
    let noisy = match rng {
        Some(r) => (logits + logistic_noise(r, logits.dims())?)?,
        None => logits.clone(),
    };
    let soft = candle_nn::ops::sigmoid(&(noisy / tau)?)?;
    let hard = soft.ge(0.5)?.to_dtype(DType::F32)?;
    Ok(((hard - soft.detach())? + soft)?)
}

/// A Bernoulli sample (detached 0/1) with success probability σ(logits).
pub fn bernoulli_sample(logits: &Tensor, rng: &mut impl Rng) -> Result<Tensor> {
    let p = candle_nn::ops::sigmoid(logits)?
        .flatten_all()?
        .to_vec1::<f32>()?;
    let z: Vec<f32> = p
        .iter()
        .map(|p| if rng.gen::<f32>() < *p { 1.0 } else { 0.0 })
        .collect();
    Ok(Tensor::from_vec(z, logits.dims(), logits.device())?)
}

/// log σ(x), stable: −softplus(−x).
pub fn log_sigmoid(x: &Tensor) -> Result<Tensor> {
    Ok(softplus(&x.neg()?)?.neg()?)
}

/// softplus(x) = max(x, 0) + ln(1 + e^{−|x|}).
pub fn softplus(x: &Tensor) -> Result<Tensor> {
    Ok((x.relu()? + (x.abs()?.neg()?.exp()? + 1.0)?.log()?)?)
}

/// log p(z | logits) of Bernoulli variables, elementwise.
pub fn bernoulli_log_prob(logits: &Tensor, z: &Tensor) -> Result<Tensor> {
    let lp1 = log_sigmoid(logits)?;
    let lp0 = log_sigmoid(&logits.neg()?)?;
    Ok(((z * lp1)? + ((z.ones_like()? - z)? * lp0)?)?)
}

/// HardKuma gate parameters a, b (same shape, > 0).
#[derive(Debug, Clone)]
pub struct HardKuma {
    /// Kumaraswamy a.
    pub a: Tensor,
    /// Kumaraswamy b.
    pub b: Tensor,
}

impl HardKuma {
    /// a = softplus(raw_a), b = softplus(raw_b), both clamped to [1e-6, 100], as the code does.
    pub fn from_raw(raw_a: &Tensor, raw_b: &Tensor) -> Result<Self> {
        Ok(HardKuma {
            a: softplus(raw_a)?.clamp(1e-6, 100.0)?,
            b: softplus(raw_b)?.clamp(1e-6, 100.0)?,
        })
    }

    /// Kumaraswamy CDF F(x) = 1 − (1 − x^a)^b at a constant x in (0, 1).
    fn cdf(&self, x: f64) -> Result<Tensor> {
        let xa = (&self.a * x.ln())?.exp()?; // x^a
        let one_minus = (xa.neg()? + 1.0)?.clamp(1e-7, 1.0)?;
        let pow_b = (one_minus.log()? * &self.b)?.exp()?;
        Ok((pow_b.neg()? + 1.0)?)
    }

    /// P(z = 0) = F(−l / (r − l)).
    pub fn p0(&self) -> Result<Tensor> {
        let (l, r) = KUMA_STRETCH;
        self.cdf(-l / (r - l))
    }

    /// P(z = 1) = 1 − F((1 − l) / (r − l)).
    pub fn p1(&self) -> Result<Tensor> {
        let (l, r) = KUMA_STRETCH;
        Ok((self.cdf((1.0 - l) / (r - l))?.neg()? + 1.0)?)
    }

    /// A reparameterised sample: x = (1 − (1 − u)^{1/b})^{1/a}, stretched to (l, r) and
    /// rectified to [0, 1].
    pub fn sample(&self, rng: &mut impl Rng) -> Result<Tensor> {
        let n = self.a.elem_count();
        let u: Vec<f32> = (0..n)
            .map(|_| rng.gen_range(1e-6f64..1.0 - 1e-6) as f32)
            .collect();
        let u = Tensor::from_vec(u, self.a.dims(), self.a.device())?;
        let log_1mu = (u.neg()? + 1.0)?.log()?; // ln(1 − u), constant
        let t = (log_1mu / &self.b)?.exp()?; // (1 − u)^{1/b}
        let inner = (t.neg()? + 1.0)?.clamp(1e-7, 1.0)?;
        let x = (inner.log()? / &self.a)?.exp()?;
        let (l, r) = KUMA_STRETCH;
        let stretched = ((x * (r - l))? + l)?;
        Ok(stretched.clamp(0.0, 1.0)?)
    }

    /// The deterministic test-time mask: 1 where P(z ≠ 0) ≥ 0.5 (binary, as ERASER hard
    /// rationales need; the published code outputs the Kuma mean where the continuous part
    /// dominates).
    pub fn hard(&self) -> Result<Tensor> {
        Ok(self.p0()?.lt(0.5)?.to_dtype(DType::F32)?)
    }
}

/// Expected selection rate Σ_t (1 − P0_t) m_t / Σ_t m_t per row, averaged over the batch.
pub fn expected_l0(p0: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let sel = ((p0.neg()? + 1.0)? * mask)?.sum(1)?;
    let len = mask.sum(1)?.clamp(1.0, f64::MAX)?;
    Ok((sel / len)?.mean_all()?)
}

/// Expected number of transitions per token, Σ_t P0_t(1 − P0_{t+1}) + (1 − P0_t)P0_{t+1}
/// over real neighbouring pairs, divided by the length, averaged over the batch.
pub fn expected_transitions(p0: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let t = p0.dim(1)?;
    if t < 2 {
        return Ok(Tensor::zeros((), DType::F32, p0.device())?);
    }
    let a = p0.narrow(1, 0, t - 1)?;
    let b = p0.narrow(1, 1, t - 1)?;
    let pair = (mask.narrow(1, 0, t - 1)? * mask.narrow(1, 1, t - 1)?)?;
    let tr = ((&a * (b.neg()? + 1.0)?)? + ((a.neg()? + 1.0)? * &b)?)?;
    let len = mask.sum(1)?.clamp(1.0, f64::MAX)?;
    Ok(((tr * pair)?.sum(1)? / len)?.mean_all()?)
}

/// Mean |z_t − z_{t−1}| over real neighbouring pairs (Lei et al.'s continuity term), per
/// token, averaged over the batch; differentiable in `z`.
pub fn continuity(z: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let t = z.dim(1)?;
    if t < 2 {
        return Ok(Tensor::zeros((), DType::F32, z.device())?);
    }
    let d = (z.narrow(1, 1, t - 1)? - z.narrow(1, 0, t - 1)?)?.abs()?;
    let pair = (mask.narrow(1, 0, t - 1)? * mask.narrow(1, 1, t - 1)?)?;
    let len = mask.sum(1)?.clamp(1.0, f64::MAX)?;
    Ok(((d * pair)?.sum(1)? / len)?.mean_all()?)
}

/// Per-row selection rate Σ z m / Σ m, shape (B).
pub fn selection_rate(z: &Tensor, mask: &Tensor) -> Result<Tensor> {
    let len = mask.sum(1)?.clamp(1.0, f64::MAX)?;
    Ok(((z * mask)?.sum(1)? / len)?)
}

/// The Lagrangian multiplier of one constraint c ≤ 0 (Algorithm 1 of "Taming VAEs", as
/// bastings/interpretable_predictions uses it): a moving average of c with rate `alpha`, and
/// λ ← clamp(λ · exp(lr · c_ma), 1e-12, 5).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Lagrangian {
    /// The multiplier.
    pub lambda: f64,
    /// Moving average of the constraint.
    pub c_ma: Option<f64>,
    /// Moving-average rate.
    pub alpha: f64,
    /// Multiplier learning rate.
    pub lr: f64,
}

impl Lagrangian {
    /// A multiplier starting at `lambda`.
    pub fn new(lambda: f64, lr: f64, alpha: f64) -> Self {
        Lagrangian {
            lambda,
            c_ma: None,
            alpha,
            lr,
        }
    }

    /// Updates with this step's constraint value and returns the new multiplier.
    pub fn update(&mut self, c: f64) -> f64 {
        let ma = match self.c_ma {
            None => c,
            Some(m) => self.alpha * m + (1.0 - self.alpha) * c,
        };
        self.c_ma = Some(ma);
        self.lambda = (self.lambda * (self.lr * ma).exp()).clamp(1e-12, 5.0);
        self.lambda
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var};
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn t(v: &[f32], shape: &[usize]) -> Tensor {
        Tensor::from_vec(v.to_vec(), shape, &Device::Cpu).unwrap()
    }

    #[test]
    fn deterministic_selections() {
        let s = [0.1, 0.9, 0.2, 0.8, 0.0, 0.7];
        assert_eq!(
            select_units(&s, 0.5, Granularity::Word, &[0; 6]),
            vec![false, true, false, true, false, true]
        );
        assert_eq!(
            select_units(&s, 0.5, Granularity::Span, &[0; 6]),
            vec![false, true, true, true, false, false]
        );
        // Sentences {0,1}, {2,3,4}, {5}: sums 1.0, 1.0, 0.7; one of three → the first.
        assert_eq!(
            select_units(&s, 0.4, Granularity::Sentence, &[0, 0, 1, 1, 1, 2]),
            vec![true, true, false, false, false, false]
        );
        // At least one token, at most all.
        assert_eq!(
            select_units(&s, 0.0, Granularity::Word, &[0; 6])
                .iter()
                .filter(|b| **b)
                .count(),
            1
        );
        assert!(select_units(&s, 1.0, Granularity::Span, &[0; 6])
            .iter()
            .all(|b| *b));
        assert!(select_units(&[], 0.2, Granularity::Word, &[]).is_empty());
    }

    #[test]
    fn window_mean_averages_neighbours_and_clips_at_the_ends() {
        let s = [0.0, 3.0, 0.0, 0.0, 6.0];
        assert_eq!(window_mean(&s, 0), s.to_vec());
        assert_eq!(window_mean(&s, 1), vec![1.5, 1.0, 1.0, 2.0, 3.0]);
        assert_eq!(window_mean(&s, 9), vec![1.8; 5]);
        assert!(window_mean(&[], 2).is_empty());
        // The isolated peak loses to the pair of high neighbours once smoothed.
        let s = [0.0, 0.0, 0.9, 0.0, 0.0, 0.6, 0.6, 0.0];
        assert!(select_units(&s, 0.1, Granularity::Word, &[0; 8])[2]);
        assert!(select_units(&window_mean(&s, 1), 0.1, Granularity::Word, &[0; 8])[5]);
    }

    #[test]
    fn straight_through_forward_is_hard_and_gradient_is_the_sigmoid_slope() {
        let v = Var::from_tensor(&t(&[2.0, -1.0, 0.5], &[1, 3])).unwrap();
        let z = straight_through_gumbel(v.as_tensor(), 1.0, None).unwrap();
        assert_eq!(z.to_vec2::<f32>().unwrap(), vec![vec![1.0, 0.0, 1.0]]);
        let g = z.sum_all().unwrap().backward().unwrap();
        let g = g.get(v.as_tensor()).unwrap().to_vec2::<f32>().unwrap();
        for (x, gx) in [2.0f32, -1.0, 0.5].iter().zip(&g[0]) {
            let s = 1.0 / (1.0 + (-x).exp());
            assert!((gx - s * (1.0 - s)).abs() < 1e-5);
        }
        // With noise, the sample frequency of 1 matches σ(logit).
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let l = t(&[0.8; 4000], &[1, 4000]);
        let z = straight_through_gumbel(&l, 1.0, Some(&mut rng)).unwrap();
        let mean = z.mean_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(
            (mean - 1.0 / (1.0 + (-0.8f32).exp())).abs() < 0.03,
            "{mean}"
        );
    }

    #[test]
    fn reinforce_log_prob_and_its_gradient() {
        let v = Var::from_tensor(&t(&[0.3, -2.0], &[1, 2])).unwrap();
        let z = t(&[1.0, 0.0], &[1, 2]);
        let lp = bernoulli_log_prob(v.as_tensor(), &z).unwrap();
        let lpv = lp.to_vec2::<f32>().unwrap()[0].clone();
        let s = |x: f32| 1.0 / (1.0 + (-x).exp());
        assert!((lpv[0] - s(0.3).ln()).abs() < 1e-5);
        assert!((lpv[1] - (1.0 - s(-2.0)).ln()).abs() < 1e-5);
        // d/dl log p(z) = z − σ(l): the score-function gradient.
        let g = lp.sum_all().unwrap().backward().unwrap();
        let g = g.get(v.as_tensor()).unwrap().to_vec2::<f32>().unwrap();
        assert!((g[0][0] - (1.0 - s(0.3))).abs() < 1e-5);
        assert!((g[0][1] - (0.0 - s(-2.0))).abs() < 1e-5);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let big = bernoulli_sample(&t(&[40.0, -40.0], &[1, 2]), &mut rng).unwrap();
        assert_eq!(big.to_vec2::<f32>().unwrap(), vec![vec![1.0, 0.0]]);
    }

    #[test]
    fn hardkuma_point_masses_match_sampling_and_gradients_flow() {
        let ra = Var::from_tensor(&t(&[0.5, 2.0], &[1, 2])).unwrap();
        let rb = Var::from_tensor(&t(&[1.0, 0.2], &[1, 2])).unwrap();
        let k = HardKuma::from_raw(ra.as_tensor(), rb.as_tensor()).unwrap();
        let p0 = k.p0().unwrap().to_vec2::<f32>().unwrap()[0].clone();
        let p1 = k.p1().unwrap().to_vec2::<f32>().unwrap()[0].clone();
        // Monte Carlo check of P(z = 0) and P(z = 1).
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let (mut c0, mut c1) = ([0usize; 2], [0usize; 2]);
        let n = 20000;
        for _ in 0..n / 100 {
            let ka = HardKuma {
                a: k.a.broadcast_as((100, 2)).unwrap().contiguous().unwrap(),
                b: k.b.broadcast_as((100, 2)).unwrap().contiguous().unwrap(),
            };
            for row in ka.sample(&mut rng).unwrap().to_vec2::<f32>().unwrap() {
                for j in 0..2 {
                    c0[j] += (row[j] == 0.0) as usize;
                    c1[j] += (row[j] == 1.0) as usize;
                }
            }
        }
        for j in 0..2 {
            assert!((c0[j] as f32 / n as f32 - p0[j]).abs() < 0.02, "P0 {j}");
            assert!((c1[j] as f32 / n as f32 - p1[j]).abs() < 0.02, "P1 {j}");
        }
        let mask = t(&[1.0, 1.0], &[1, 2]);
        let l0 = expected_l0(&k.p0().unwrap(), &mask).unwrap();
        let want = ((1.0 - p0[0]) + (1.0 - p0[1])) / 2.0;
        assert!((l0.to_scalar::<f32>().unwrap() - want).abs() < 1e-5);
        let tr = expected_transitions(&k.p0().unwrap(), &mask).unwrap();
        let want = (p0[0] * (1.0 - p0[1]) + (1.0 - p0[0]) * p0[1]) / 2.0;
        assert!((tr.to_scalar::<f32>().unwrap() - want).abs() < 1e-5);
        // Gradient of the expected L0 reaches both parameters and is finite.
        let g = l0.backward().unwrap();
        for v in [&ra, &rb] {
            let gv = g.get(v.as_tensor()).unwrap().to_vec2::<f32>().unwrap();
            assert!(gv[0].iter().all(|x| x.is_finite()) && gv[0].iter().any(|x| *x != 0.0));
        }
        let s = k
            .sample(&mut rng)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        assert!(s.get(ra.as_tensor()).is_some());
    }

    #[test]
    fn regularisers_and_lagrangian() {
        let z = t(&[1.0, 1.0, 0.0, 1.0, 0.0, 0.0], &[1, 6]);
        let m = t(&[1.0, 1.0, 1.0, 1.0, 1.0, 0.0], &[1, 6]);
        let c = continuity(&z, &m).unwrap().to_scalar::<f32>().unwrap();
        assert!((c - 3.0 / 5.0).abs() < 1e-6);
        let r = selection_rate(&z, &m).unwrap().to_vec1::<f32>().unwrap();
        assert!((r[0] - 0.6).abs() < 1e-6);
        let mut l = Lagrangian::new(1.0, 0.05, 0.5);
        let a = l.update(0.2);
        assert!((a - (0.05f64 * 0.2).exp()).abs() < 1e-12);
        let b = l.update(-1.0);
        assert!((b - a * (0.05f64 * (0.5 * 0.2 - 0.5)).exp()).abs() < 1e-12);
        for _ in 0..10_000 {
            l.update(100.0);
        }
        assert_eq!(l.lambda, 5.0);
    }
}
