//! Joint training of generator and predictor.
//!
//! Per step: the generator selects (sampled for REINFORCE / Gumbel / HardKuma, top-k for
//! A2R); with `noise > 0` the selected tokens are corrupted (training only) as
//! [`super::noise`] describes; the predictor sees only the (noisy) selected tokens. Losses:
//!
//! - A2R: CE(att) + λ·JS(att, rp.detach()) + CE(rp) + λ·JS(att.detach(), rp);
//! - Gumbel: CE + w_s·|mean rate − budget| + w_c·continuity (through the straight-through z);
//! - HardKuma: CE + λ₀·(E(L0) − budget) + λ₁·(E(transitions) − target), λ by the Lagrangian
//!   update of [`super::estimators::Lagrangian`];
//! - REINFORCE: CE + mean((cost − baseline) · log p(z)), cost = per-example CE +
//!   w_s·|rate − budget| + w_c·continuity, baseline a moving average of the cost (rate 0.9).
//!
//! Every epoch reports the selection rate on training and validation data and warns when the
//! generator collapses to all or nothing. The validation objective (lower is better) chooses
//! `OUT/best/`: the predictor's cross-entropy on the clean deterministic selection, plus, for
//! the sampled estimators, w_s·|rate − budget| + w_c·continuity of that selection.
//!
//! Output: `OUT/best/` (a [`SelectModel`] checkpoint), `OUT/last/`, `OUT/run.json`,
//! `OUT/history.json`. Checkpoints are written atomically; runs are not resumable (the
//! REINFORCE baseline and the HardKuma multipliers are not saved). The loop itself is
//! [`crate::train::fit`].

use super::estimators::{self, Lagrangian};
use super::model::{Batch, SelectModel};
use super::noise::NoiseModel;
use super::{io_err, Estimator, Result, SelectConfig, SelectError};
use crate::corpus::{DataDir, DocStore};
use crate::models::tokenizer::{PAD, UNK};
use crate::models::{Example, ExampleSet, ModelError, ModelTokenizer};
use crate::progress::{Event, Observer};
use crate::train::fit::{self, Batching, EpochEnd, Plan};
use crate::train::{on_training_stack, AdamW, AdamWParams, TrainError, TrainState, Trainer};
use candle_core::{DType, Device, Tensor, D};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::path::Path;

/// Metrics of one epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelectEpoch {
    /// 1-based epoch.
    pub epoch: usize,
    /// Mean training loss.
    pub train_loss: f64,
    /// Training accuracy of the predictor on the (noisy) selection.
    pub train_accuracy: f64,
    /// Mean share of tokens selected in training.
    pub train_selection_rate: f64,
    /// Share of selected tokens replaced by noise.
    pub replace_ratio: f64,
    /// Validation objective (lower is better; chooses the checkpoint).
    pub val_objective: f64,
    /// Validation accuracy of the predictor on the clean selection.
    pub val_accuracy: f64,
    /// Mean share of tokens selected on validation data.
    pub val_selection_rate: f64,
    /// Share of validation inputs with nothing or everything selected.
    pub val_degenerate: f64,
    /// Seconds of training (forward, backward, update) in this epoch.
    pub seconds: f64,
}

/// What a run did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SelectReport {
    /// Per-epoch metrics.
    pub history: Vec<SelectEpoch>,
    /// Best epoch (1-based).
    pub best_epoch: usize,
    /// Its validation objective.
    pub best_val_objective: f64,
    /// Whether early stopping ended the run.
    pub stopped_early: bool,
}

/// Sentence index of every dataset token of an example (sentences numbered across its
/// documents).
pub fn word_sentences(store: &DocStore, ex: &Example) -> Result<Vec<usize>> {
    let mut out = Vec::with_capacity(ex.words.len());
    let mut base = 0;
    for (docid, _, end) in &ex.docs {
        let doc = store.document(docid).map_err(|err| {
            SelectError::Model(ModelError::Data(format!(
                "annotation {}: document {docid} {err}",
                ex.annotation_id
            )))
        })?;
        for (j, sent) in doc.sentences.iter().enumerate() {
            out.extend(std::iter::repeat_n(base + j, sent.len()));
        }
        base += doc.sentences.len();
        // Defensive: the example's token range of this document decides the length.
        out.resize(*end, base.saturating_sub(1));
    }
    Ok(out)
}

/// An encoded split: ids, token sentence ids, label indices, and the examples.
pub struct Encoded {
    /// Model token ids per example.
    pub rows: Vec<Vec<u32>>,
    /// Sentence of each model token.
    pub sentences: Vec<Vec<usize>>,
    /// Label index per example.
    pub labels: Vec<u32>,
}

/// Encodes a split for `model`.
pub fn encode_split(model: &SelectModel, set: &ExampleSet, store: &DocStore) -> Result<Encoded> {
    let mut out = Encoded {
        rows: Vec::new(),
        sentences: Vec::new(),
        labels: Vec::new(),
    };
    for ex in &set.examples {
        let y = model
            .labels()
            .iter()
            .position(|l| *l == ex.label)
            .ok_or_else(|| TrainError::UnknownLabel {
                annotation_id: ex.annotation_id.to_string(),
                label: ex.label.clone(),
                labels: model.labels().to_vec(),
            })?;
        let enc = model.encode(&ex.words)?;
        let ws = word_sentences(store, ex)?;
        out.sentences.push(
            enc.word_of
                .iter()
                .map(|w| w.and_then(|w| ws.get(w).copied()).unwrap_or(0))
                .collect(),
        );
        out.rows.push(enc.ids);
        out.labels.push(y as u32);
    }
    Ok(out)
}

fn js(p: &Tensor, q: &Tensor) -> Result<Tensor> {
    let m = ((p + q)? * 0.5)?;
    let lm = m.clamp(1e-8, 1.0)?.log()?;
    let kl = |x: &Tensor| -> Result<Tensor> {
        Ok((x * (x.clamp(1e-8, 1.0)?.log()? - &lm)?)?
            .sum(1)?
            .mean_all()?)
    };
    Ok(((kl(p)? + kl(q)?)? * 0.5)?)
}

/// Per-row share of selected tokens and continuity (transitions per token) of hard masks.
fn row_stats(z: &[Vec<f32>], rows: &[Vec<u32>]) -> Vec<(f64, f64)> {
    z.iter()
        .zip(rows)
        .map(|(zr, row)| {
            let n = row.len().min(zr.len()).max(1);
            let sel = zr[..n].iter().filter(|v| **v > 0.0).count() as f64 / n as f64;
            let tr = zr[..n]
                .windows(2)
                .filter(|w| (w[0] > 0.0) != (w[1] > 0.0))
                .count() as f64
                / n as f64;
            (sel, tr)
        })
        .collect()
}

/// Validation metrics: (objective, accuracy, selection rate, degenerate share).
pub fn evaluate(model: &SelectModel, data: &Encoded) -> Result<(f64, f64, f64, f64)> {
    let cfg = model.config();
    let mut order: Vec<usize> = (0..data.rows.len()).collect();
    order.sort_by_key(|&i| data.rows[i].len());
    let (mut loss, mut correct, mut rate, mut degenerate, mut reg) =
        (0f64, 0usize, 0f64, 0usize, 0f64);
    for chunk in order.chunks(32) {
        let batch = model.batch(
            chunk.iter().map(|&i| data.rows[i].clone()).collect(),
            chunk.iter().map(|&i| data.sentences[i].clone()).collect(),
        )?;
        let (z, _, _) = model.select(&batch, None)?;
        let z = z.ge(0.5)?.to_dtype(DType::F32)?;
        let (logits, _) = model.predict_selected(&batch, &z, |_, _, _| {}, None)?;
        let lp = candle_nn::ops::log_softmax(&logits, D::Minus1)?.to_vec2::<f32>()?;
        for (r, &i) in chunk.iter().enumerate() {
            let y = data.labels[i] as usize;
            loss -= lp[r][y] as f64;
            if crate::models::argmax(&lp[r]) == y {
                correct += 1;
            }
        }
        for (sel, tr) in row_stats(&z.to_vec2::<f32>()?, &batch.rows) {
            rate += sel;
            if sel <= 0.0 || sel >= 1.0 {
                degenerate += 1;
            }
            if cfg.estimator != Estimator::A2r {
                reg += cfg.sparsity_weight * (sel - cfg.budget).abs() + cfg.continuity_weight * tr;
            }
        }
    }
    let n = data.rows.len().max(1) as f64;
    Ok((
        (loss + reg) / n,
        correct as f64 / n,
        rate / n,
        degenerate as f64 / n,
    ))
}

/// Running sums of one epoch's training steps.
#[derive(Debug, Default)]
struct Sums {
    loss: f64,
    correct: usize,
    seen: usize,
    rate: f64,
    replaced: usize,
    selected: usize,
}

/// A selective rationalizer as [`fit`] trains it.
struct SelectTrainer<'a> {
    cfg: &'a SelectConfig,
    model: SelectModel,
    opt: AdamW,
    train: Encoded,
    val: Encoded,
    noise: Option<(NoiseModel, Vec<Vec<f64>>)>,
    lag_l0: Lagrangian,
    lag_tr: Lagrangian,
    baseline: Option<f64>,
    noise_rng: ChaCha8Rng,
    epoch: usize,
    sums: Sums,
}

impl Trainer for SelectTrainer<'_> {
    type Epoch = SelectEpoch;
    type Error = SelectError;

    fn begin_epoch(&mut self, epoch: usize) {
        self.epoch = epoch;
        self.noise_rng = ChaCha8Rng::seed_from_u64(self.cfg.seed ^ 0x6e6f697365 ^ epoch as u64);
        self.sums = Sums::default();
    }

    fn step(&mut self, chunk: &[usize], rng: &mut ChaCha8Rng) -> Result<String> {
        let (cfg, model, train, s) = (self.cfg, &self.model, &self.train, &mut self.sums);
        let batch: Batch = model.batch(
            chunk.iter().map(|&i| train.rows[i].clone()).collect(),
            chunk.iter().map(|&i| train.sentences[i].clone()).collect(),
        )?;
        let ys: Vec<u32> = chunk.iter().map(|&i| train.labels[i]).collect();
        let y = Tensor::from_vec(ys.clone(), ys.len(), &Device::Cpu)?;
        let (z, logp, gen) = model.select(&batch, Some(&mut *rng))?;
        let (noise, noise_rng) = (&self.noise, &mut self.noise_rng);
        let mut replaced = 0;
        let (logits, kept) = model.predict_selected(
            &batch,
            &z,
            |r, pos, ids| {
                if let Some((m, rarity)) = noise {
                    let rr: Vec<f64> = pos.iter().map(|&i| rarity[chunk[r]][i]).collect();
                    replaced += m.inject(ids, &rr, cfg.noise, noise_rng);
                }
            },
            Some(rng),
        )?;
        s.replaced += replaced;
        s.selected += kept.iter().map(Vec::len).sum::<usize>();
        let ce = candle_nn::loss::cross_entropy(&logits, &y)?;
        let zh = z.gt(0.0)?.to_dtype(DType::F32)?.to_vec2::<f32>()?;
        let stats = row_stats(&zh, &batch.rows);
        s.rate += stats.iter().map(|s| s.0).sum::<f64>();
        let loss = match cfg.estimator {
            Estimator::A2r => {
                let ce_att = candle_nn::loss::cross_entropy(&gen.att_logits, &y)?;
                let p_att = candle_nn::ops::softmax(&gen.att_logits, D::Minus1)?;
                let p_rp = candle_nn::ops::softmax(&logits, D::Minus1)?;
                let j1 = js(&p_att, &p_rp.detach())?;
                let j2 = js(&p_att.detach(), &p_rp)?;
                (((ce_att + (j1 * cfg.proximity)?)? + &ce)? + (j2 * cfg.proximity)?)?
            }
            Estimator::Gumbel => {
                let rate = estimators::selection_rate(&z, &batch.mask)?.mean_all()?;
                let sp = (rate - cfg.budget)?.abs()?;
                let co = estimators::continuity(&z, &batch.mask)?;
                ((&ce + (sp * cfg.sparsity_weight)?)? + (co * cfg.continuity_weight)?)?
            }
            Estimator::HardKuma => {
                let p0 = gen.kuma.as_ref().expect("hard-kuma head").p0()?;
                let c0 = (estimators::expected_l0(&p0, &batch.mask)? - cfg.budget)?;
                let c1 =
                    (estimators::expected_transitions(&p0, &batch.mask)? - cfg.transition_target)?;
                let l0 = self.lag_l0.update(c0.to_scalar::<f32>()? as f64);
                let l1 = self.lag_tr.update(c1.to_scalar::<f32>()? as f64);
                ((&ce + (c0 * l0)?)? + (c1 * l1)?)?
            }
            Estimator::Reinforce => {
                let lp = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
                let per = lp
                    .gather(&y.unsqueeze(1)?, 1)?
                    .squeeze(1)?
                    .neg()?
                    .to_vec1::<f32>()?;
                let cost: Vec<f32> = per
                    .iter()
                    .zip(&stats)
                    .map(|(c, (sel, tr))| {
                        (*c as f64
                            + cfg.sparsity_weight * (sel - cfg.budget).abs()
                            + cfg.continuity_weight * tr) as f32
                    })
                    .collect();
                let mean = cost.iter().map(|c| *c as f64).sum::<f64>() / cost.len() as f64;
                let b = self.baseline.unwrap_or(mean);
                self.baseline = Some(0.9 * b + 0.1 * mean);
                let adv: Vec<f32> = cost.iter().map(|c| c - b as f32).collect();
                let adv = Tensor::from_vec(adv, cost.len(), &Device::Cpu)?;
                let logp = logp.expect("REINFORCE samples carry log p");
                (&ce + (adv * logp)?.mean_all()?)?
            }
        };
        let lv = loss.to_scalar::<f32>()? as f64;
        if !lv.is_finite() {
            return Err(TrainError::Diverged {
                epoch: self.epoch + 1,
            }
            .into());
        }
        let mut grads = loss.backward()?;
        self.opt.clip_grad_norm(&mut grads, cfg.clip_norm)?;
        self.opt.step(&grads, cfg.lr)?;
        let preds = logits.argmax(D::Minus1)?.to_vec1::<u32>()?;
        s.correct += preds.iter().zip(&ys).filter(|(a, b)| a == b).count();
        s.loss += lv * ys.len() as f64;
        s.seen += ys.len();
        Ok(format!(
            "loss {:.4} acc {:.3} sel {:.3}",
            s.loss / s.seen as f64,
            s.correct as f64 / s.seen as f64,
            s.rate / s.seen as f64
        ))
    }

    fn end_epoch(&mut self, epoch: usize, seconds: f64) -> Result<EpochEnd<SelectEpoch>> {
        let (cfg, s) = (self.cfg, &self.sums);
        let (val_objective, val_accuracy, val_rate, val_degenerate) =
            evaluate(&self.model, &self.val)?;
        let stats = SelectEpoch {
            epoch: epoch + 1,
            train_loss: s.loss / s.seen.max(1) as f64,
            train_accuracy: s.correct as f64 / s.seen.max(1) as f64,
            train_selection_rate: s.rate / s.seen.max(1) as f64,
            replace_ratio: s.replaced as f64 / s.selected.max(1) as f64,
            val_objective,
            val_accuracy,
            val_selection_rate: val_rate,
            val_degenerate,
            seconds,
        };
        let line = format!(
            "epoch {}/{}: train loss {:.4} acc {:.3} selected {:.3} replaced {:.3} | val objective {:.4} acc {:.3} selected {:.3} | {:.1}s",
            stats.epoch,
            cfg.epochs,
            stats.train_loss,
            stats.train_accuracy,
            stats.train_selection_rate,
            stats.replace_ratio,
            val_objective,
            val_accuracy,
            val_rate,
            seconds
        );
        Ok(EpochEnd {
            warnings: collapse_warning(&stats).into_iter().collect(),
            record: stats,
            line: Some(line),
            score: Some((val_objective, 0.0)),
        })
    }

    /// Lower validation objectives are better.
    fn improves(&self, new: (f64, f64), best: (f64, f64)) -> bool {
        new.0 < best.0
    }

    fn save(&self, dir: &Path) -> Result<()> {
        self.model.save_into(dir)
    }
}

/// Trains a selective rationalizer into `out` (layout in the module docs). Progress, the
/// per-epoch lines and collapse warnings go to `observer`.
///
/// The work runs on a thread with a 1 GiB stack ([`on_training_stack`]): backward passes
/// through long recurrences recurse once per graph node. Callers need no special stack.
pub fn train_select(
    cfg: &SelectConfig,
    out: &Path,
    observer: &dyn Observer,
) -> Result<SelectReport> {
    on_training_stack(|| select_run(cfg, out, observer))?
}

fn select_run(cfg: &SelectConfig, out: &Path, observer: &dyn Observer) -> Result<SelectReport> {
    cfg.validate()?;
    let data = DataDir::new(&cfg.data_dir);
    let store = data.documents()?;
    let mut train_set = ExampleSet::load(&data, &cfg.train_split)?;
    if let Some(n) = cfg.limit {
        train_set.sample(n, cfg.seed);
    }
    let val_set = ExampleSet::load(&data, &cfg.val_split)?;
    for (role, set, split) in [
        ("training", &train_set, &cfg.train_split),
        ("validation", &val_set, &cfg.val_split),
    ] {
        if set.examples.is_empty() {
            return Err(TrainError::EmptySplit {
                data_dir: cfg.data_dir.clone(),
                role,
                split: split.clone(),
            }
            .into());
        }
    }
    std::fs::create_dir_all(out).map_err(|e| io_err(out, e))?;
    let labels = train_set.labels();
    if labels.len() < 2 {
        return Err(TrainError::SingleLabel {
            data_dir: cfg.data_dir.clone(),
            split: cfg.train_split.clone(),
            labels,
        }
        .into());
    }
    let tokenizer = ModelTokenizer::train_word_level(
        train_set.examples.iter().map(|e| e.words.as_slice()),
        cfg.vocab_size,
        cfg.min_frequency,
        true,
    )?;
    let (model, found) = SelectModel::fresh_counted(cfg.clone(), labels, tokenizer)?;
    if let (Some(g), Some(n)) = (&cfg.glove, found) {
        observer.event(Event::Line(&format!(
            "embeddings: {n} of {} vocabulary entries from {}",
            model.predictor().config().vocab_size,
            g.display()
        )));
    }
    fit::write_config(out, cfg)?;
    let train = encode_split(&model, &train_set, &store)?;
    let val = encode_split(&model, &val_set, &store)?;

    let tok = model.predictor().tokenizer();
    let exclude: HashSet<u32> = [PAD, UNK]
        .iter()
        .filter_map(|t| tok.token_to_id(t))
        .collect();
    let noise = if cfg.noise > 0.0 {
        let m = NoiseModel::fit(&train.rows, &exclude).ok_or_else(|| {
            SelectError::Config("noise injection: the training split has no words".into())
        })?;
        let rarity: Vec<Vec<f64>> = train.rows.iter().map(|r| m.rarity(r, &exclude)).collect();
        Some((m, rarity))
    } else {
        None
    };

    let mut vars: Vec<(String, candle_core::Var)> = model
        .generator()
        .params()
        .named_vars()
        .into_iter()
        .map(|(n, v)| (format!("gen.{n}"), v))
        .collect();
    vars.extend(
        model
            .predictor()
            .params()
            .named_vars()
            .into_iter()
            .map(|(n, v)| (format!("pred.{n}"), v)),
    );
    let opt = AdamW::new(
        vars,
        AdamWParams {
            weight_decay: cfg.weight_decay,
            ..Default::default()
        },
    )?;
    let plan = Plan {
        examples: train.rows.len(),
        epochs: cfg.epochs,
        seed: cfg.seed,
        patience: Some(cfg.patience),
        batching: Batching::Bucketed {
            batch_size: cfg.batch_size,
            window: 20,
            lengths: train.rows.iter().map(Vec::len).collect(),
        },
    };
    let mut trainer = SelectTrainer {
        cfg,
        model,
        opt,
        train,
        val,
        noise,
        lag_l0: Lagrangian::new(cfg.lagrange_init, cfg.lagrange_lr, 0.5),
        lag_tr: Lagrangian::new(cfg.lagrange_init, cfg.lagrange_lr, 0.5),
        baseline: None,
        noise_rng: ChaCha8Rng::seed_from_u64(0),
        epoch: 0,
        sums: Sums::default(),
    };
    let output = fit::Output {
        dir: out,
        stop_after: None,
    };
    let fitted = fit::fit(
        &mut trainer,
        &plan,
        TrainState::default(),
        Some(output),
        observer,
    )?;
    let (best_epoch, best_val_objective) = fitted
        .state
        .best
        .map_or((0, f64::INFINITY), |(e, o, _)| (e, o));
    Ok(SelectReport {
        history: fitted.state.history,
        best_epoch,
        best_val_objective,
        stopped_early: fitted.stopped_early,
    })
}

/// A warning when the generator selects (almost) nothing or everything.
pub fn collapse_warning(e: &SelectEpoch) -> Option<String> {
    if e.val_selection_rate < 0.01 || e.val_selection_rate > 0.95 || e.val_degenerate > 0.5 {
        Some(format!(
            "epoch {}: the generator has collapsed (validation selection rate {:.3}, {:.0}% of inputs with nothing or everything selected); lower --sparsity-weight/--continuity-weight, change --budget or use --estimator a2r",
            e.epoch,
            e.val_selection_rate,
            100.0 * e.val_degenerate
        ))
    } else {
        None
    }
}
