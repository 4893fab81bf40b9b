//! The one training loop. What differs between the models — one optimisation step on a batch,
//! validation, saving a checkpoint, the epoch's record and summary line — is a [`Trainer`];
//! [`fit`] owns the rest: epochs, the seeded generator, the batch order, progress events,
//! patience and early stopping, `best/` and `last/` checkpoints, `history.json`, resuming from
//! `last/` and stopping after a given epoch.
//!
//! Batch order and random draws are part of a run's definition: for the same seed, a
//! [`Batching`] draws exactly the same numbers in the same order, so a run (and a resumed run)
//! reproduces its models and histories bit for bit.

use super::{optim::AdamW, TrainError};
use crate::io::{write_atomic, write_dir_atomic};
use crate::progress::{Event, Observer};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// How the examples `0..n` are cut into batches, and where the random generator comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum Batching {
    /// Every epoch: a generator seeded from (seed, epoch) shuffles all examples, and the
    /// batches are consecutive runs of `batch_size`.
    Shuffled {
        /// Examples per batch.
        batch_size: usize,
    },
    /// Length buckets: as [`Batching::Shuffled`], then each window of `window` batches is
    /// sorted by `lengths`, cut into batches, and the batches are shuffled (padding to the
    /// longest input of a batch costs less).
    Bucketed {
        /// Examples per batch.
        batch_size: usize,
        /// Batches per sorted window.
        window: usize,
        /// The length of every example.
        lengths: Vec<usize>,
    },
    /// A fixed number of steps per epoch, each batch drawn from an order that is reshuffled
    /// whenever it runs out; one generator seeded with the seed serves the whole run.
    Stream {
        /// Examples per batch.
        batch_size: usize,
        /// Steps per epoch.
        steps: usize,
    },
}

/// What a run is: how many examples, epochs and batches, the seed and the patience.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// Training examples (a batch holds indices into `0..examples`).
    pub examples: usize,
    /// Most epochs.
    pub epochs: usize,
    /// Seed of the batch order and of the generator handed to every step.
    pub seed: u64,
    /// Epochs without improvement before stopping; `None`: never stop early.
    pub patience: Option<usize>,
    /// How batches are formed.
    pub batching: Batching,
}

/// Where a run writes (`best/`, `last/`, `history.json`; `run.json` is the caller's, see
/// [`write_config`]), and when this invocation stops.
#[derive(Debug, Clone, Copy)]
pub struct Output<'a> {
    /// The run's folder.
    pub dir: &'a Path,
    /// End this invocation after that many epochs in total (training in slices; resuming from
    /// `last/` continues exactly as if never stopped).
    pub stop_after: Option<usize>,
}

/// The end of an epoch, as a [`Trainer`] reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochEnd<E> {
    /// The epoch's record (one entry of `history.json`).
    pub record: E,
    /// The summary line shown to the user.
    pub line: Option<String>,
    /// Warnings about the epoch (without a "warning: " prefix).
    pub warnings: Vec<String>,
    /// The validation score that chooses `best/` (see [`Trainer::improves`]); `None` when the
    /// trainer does not validate (no checkpoints, no early stopping).
    pub score: Option<(f64, f64)>,
}

/// What differs between the models [`fit`] trains.
pub trait Trainer {
    /// One epoch's record in `history.json`.
    type Epoch: Clone + Serialize + DeserializeOwned;
    /// The errors of the trainer's layer.
    type Error: From<TrainError>;

    /// A new epoch (0-based) begins; its batches are already drawn.
    fn begin_epoch(&mut self, _epoch: usize) {}

    /// One optimisation step on the examples `batch`, drawing dropout masks and samples from
    /// `rng`. Returns the running status of the epoch (e.g. `loss 0.6931 acc 0.500`).
    fn step(&mut self, batch: &[usize], rng: &mut ChaCha8Rng) -> Result<String, Self::Error>;

    /// Validates at the end of epoch `epoch` (0-based) after `seconds` of training steps.
    fn end_epoch(
        &mut self,
        epoch: usize,
        seconds: f64,
    ) -> Result<EpochEnd<Self::Epoch>, Self::Error>;

    /// Whether the score `new` beats the best so far. By default the first number is higher,
    /// or equal with a lower second number (accuracy, then loss).
    fn improves(&self, new: (f64, f64), best: (f64, f64)) -> bool {
        new.0 > best.0 || (new.0 == best.0 && new.1 < best.1)
    }

    /// Writes the model into a checkpoint folder (`best/`, `last/`).
    fn save(&self, dir: &Path) -> Result<(), Self::Error>;

    /// The optimizer whose moments `last/` keeps, if the run can be resumed.
    fn optimizer(&mut self) -> Option<&mut AdamW> {
        None
    }
}

/// Resumable state (`last/state.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState<E = super::EpochStats> {
    /// Epochs finished.
    pub epochs_done: usize,
    /// The best epoch (1-based) so far and its score.
    pub best: Option<(usize, f64, f64)>,
    /// Epochs since the best one.
    pub bad_epochs: usize,
    /// History so far.
    pub history: Vec<E>,
}

impl<E> Default for TrainState<E> {
    fn default() -> Self {
        TrainState {
            epochs_done: 0,
            best: None,
            bad_epochs: 0,
            history: Vec::new(),
        }
    }
}

/// What [`fit`] did.
#[derive(Debug, Clone, PartialEq)]
pub struct Fitted<E> {
    /// The final state (history, best epoch and score).
    pub state: TrainState<E>,
    /// Whether early stopping ended the run.
    pub stopped_early: bool,
}

fn io_err(path: &Path, source: std::io::Error) -> TrainError {
    TrainError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn io_error<E: From<TrainError>>(path: &Path, source: std::io::Error) -> E {
    io_err(path, source).into()
}

/// Writes the run's configuration to `dir/run.json` (atomically).
pub fn write_config<C: Serialize>(dir: &Path, config: &C) -> Result<(), TrainError> {
    let path = dir.join("run.json");
    let json = serde_json::to_string_pretty(config).expect("config serialises");
    write_atomic(&path, json.as_bytes()).map_err(|e| io_err(&path, e))
}

/// The state of an earlier run in `dir` to resume from: `None` when `dir/last/state.json` does
/// not exist (start afresh); an error when `dir/run.json` is not `config`.
pub fn saved_state<C, E>(dir: &Path, config: &C) -> Result<Option<TrainState<E>>, TrainError>
where
    C: DeserializeOwned + PartialEq,
    E: DeserializeOwned,
{
    let state_path = dir.join("last").join("state.json");
    if !state_path.is_file() {
        return Ok(None);
    }
    let run_path = dir.join("run.json");
    let text = std::fs::read_to_string(&run_path).map_err(|e| io_err(&run_path, e))?;
    let saved: C = serde_json::from_str(&text).map_err(|e| TrainError::Resume {
        path: run_path.clone(),
        message: format!("not a training configuration: {e}"),
    })?;
    if saved != *config {
        return Err(TrainError::Resume {
            path: run_path,
            message:
                "the saved configuration differs from this run's; resume with --config OUT/run.json"
                    .into(),
        });
    }
    let text = std::fs::read_to_string(&state_path).map_err(|e| io_err(&state_path, e))?;
    let state = serde_json::from_str(&text).map_err(|e| TrainError::Resume {
        path: state_path.clone(),
        message: e.to_string(),
    })?;
    Ok(Some(state))
}

/// The generator of epoch `epoch` (0-based) under [`Batching::Shuffled`] and
/// [`Batching::Bucketed`].
fn epoch_rng(seed: u64, epoch: usize) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed.wrapping_mul(1_000_003).wrapping_add(epoch as u64 + 1))
}

/// The stream of [`Batching::Stream`]: an order reshuffled whenever it runs out.
struct Stream {
    order: Vec<usize>,
    cursor: usize,
}

impl Stream {
    fn next_batch(&mut self, size: usize, rng: &mut ChaCha8Rng) -> Vec<usize> {
        let mut batch = Vec::with_capacity(size);
        for _ in 0..size {
            if self.cursor == self.order.len() {
                self.order.shuffle(rng);
                self.cursor = 0;
            }
            batch.push(self.order[self.cursor]);
            self.cursor += 1;
        }
        batch
    }
}

/// The batches of one epoch drawn from `rng` (all of them, before the epoch's first step).
fn epoch_batches(plan: &Plan, rng: &mut ChaCha8Rng) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..plan.examples).collect();
    order.shuffle(rng);
    match &plan.batching {
        Batching::Shuffled { batch_size } => order.chunks(*batch_size).map(<[_]>::to_vec).collect(),
        Batching::Bucketed {
            batch_size,
            window,
            lengths,
        } => {
            let mut batches: Vec<Vec<usize>> = Vec::new();
            for w in order.chunks(batch_size * window) {
                let mut w = w.to_vec();
                w.sort_by_key(|&i| lengths[i]);
                batches.extend(w.chunks(*batch_size).map(<[usize]>::to_vec));
            }
            batches.shuffle(rng);
            batches
        }
        Batching::Stream { .. } => unreachable!("streams draw batch by batch"),
    }
}

/// Runs `plan` on `trainer`, starting from `start` (a fresh [`TrainState::default`] or one from
/// [`saved_state`], whose optimizer moments are then read from `out/last/`).
///
/// Per epoch, the observer gets `Start { label: "epoch E/N", total: batches }`, a `Step` per
/// batch with the trainer's status, `Finish`, then the trainer's summary `Line` and warnings.
/// With `out`, every epoch writes `out/last/` (model; optimizer moments and `state.json` when
/// the trainer has an optimizer) and `out/history.json`, and an improved epoch `out/best/`,
/// each atomically.
///
/// This runs on the caller's thread: backward passes through long recurrences recurse once per
/// graph node, so call it inside [`on_training_stack`] (the library's training entry points
/// do).
pub fn fit<T: Trainer>(
    trainer: &mut T,
    plan: &Plan,
    start: TrainState<T::Epoch>,
    out: Option<Output<'_>>,
    observer: &dyn Observer,
) -> Result<Fitted<T::Epoch>, T::Error> {
    let mut state = start;
    if let (Some(o), true) = (out, state.epochs_done > 0) {
        if let Some(opt) = trainer.optimizer() {
            opt.load(&o.dir.join("last").join("optimizer.safetensors"))
                .map_err(TrainError::from)?;
        }
    }
    let patience = plan.patience.unwrap_or(usize::MAX);
    let mut stream = match plan.batching {
        Batching::Stream { batch_size, steps } => Some((
            Stream {
                order: (0..plan.examples).collect(),
                cursor: plan.examples,
            },
            batch_size,
            steps,
        )),
        _ => None,
    };
    // The generator of a stream, which serves the whole run.
    let mut run_rng = ChaCha8Rng::seed_from_u64(plan.seed);
    let mut stopped_early = false;
    for epoch in state.epochs_done..plan.epochs {
        if state.bad_epochs >= patience && state.best.is_some() {
            stopped_early = true;
            break;
        }
        if out.and_then(|o| o.stop_after).is_some_and(|n| epoch >= n) {
            break;
        }
        let mut own_rng;
        let (batches, rng) = match &stream {
            Some(_) => (None, &mut run_rng),
            None => {
                own_rng = epoch_rng(plan.seed, epoch);
                let b = epoch_batches(plan, &mut own_rng);
                (Some(b), &mut own_rng)
            }
        };
        let total = match (&batches, &stream) {
            (Some(b), _) => b.len(),
            (None, Some((_, _, steps))) => *steps,
            (None, None) => 0,
        };
        trainer.begin_epoch(epoch);
        let label = format!("epoch {}/{}", epoch + 1, plan.epochs);
        observer.event(Event::Start {
            label: &label,
            total: total as u64,
        });
        let t0 = std::time::Instant::now();
        for i in 0..total {
            let status = match (&batches, &mut stream) {
                (Some(b), _) => trainer.step(&b[i], rng)?,
                (None, Some((s, size, _))) => {
                    let batch = s.next_batch(*size, rng);
                    trainer.step(&batch, rng)?
                }
                (None, None) => unreachable!("no batches"),
            };
            observer.event(Event::Step {
                status: Some(&status),
            });
        }
        let seconds = t0.elapsed().as_secs_f64();
        observer.event(Event::Finish);
        let end = trainer.end_epoch(epoch, seconds)?;
        if let Some(line) = &end.line {
            observer.event(Event::Line(line));
        }
        for w in &end.warnings {
            observer.event(Event::Warning(w));
        }
        state.history.push(end.record);
        let improved = match (end.score, state.best) {
            (None, _) => false,
            (Some(_), None) => true,
            (Some(new), Some((_, a, b))) => trainer.improves(new, (a, b)),
        };
        if improved {
            let (a, b) = end.score.expect("improved implies a score");
            state.best = Some((epoch + 1, a, b));
            state.bad_epochs = 0;
            if let Some(o) = out {
                write_dir_atomic(&o.dir.join("best"), io_error::<T::Error>, |d| {
                    trainer.save(d)
                })?;
            }
        } else if end.score.is_some() {
            state.bad_epochs += 1;
        }
        state.epochs_done = epoch + 1;
        if let Some(o) = out {
            save_last(trainer, o.dir, &state)?;
        }
    }
    if state.bad_epochs >= patience && state.epochs_done < plan.epochs {
        stopped_early = true;
    }
    Ok(Fitted {
        state,
        stopped_early,
    })
}

/// Writes `dir/last/` and `dir/history.json`.
fn save_last<T: Trainer>(
    trainer: &mut T,
    dir: &Path,
    state: &TrainState<T::Epoch>,
) -> Result<(), T::Error> {
    let resumable = trainer.optimizer().is_some();
    write_dir_atomic(&dir.join("last"), io_error::<T::Error>, |d| {
        trainer.save(d)?;
        if resumable {
            if let Some(opt) = trainer.optimizer() {
                opt.save(&d.join("optimizer.safetensors"))
                    .map_err(TrainError::from)?;
            }
            let p = d.join("state.json");
            std::fs::write(
                &p,
                serde_json::to_string_pretty(state).expect("state serialises"),
            )
            .map_err(|e| io_err(&p, e))?;
        }
        Ok(())
    })?;
    let hist = dir.join("history.json");
    write_atomic(
        &hist,
        serde_json::to_string_pretty(&state.history)
            .expect("serialises")
            .as_bytes(),
    )
    .map_err(|e| io_err(&hist, e).into())
}

/// Stack of the thread training runs on (see [`on_training_stack`]).
pub const TRAINING_STACK: usize = 1 << 30;

/// Runs `f` on a scoped thread with a [`TRAINING_STACK`]-byte stack and returns its result
/// (a panic in `f` resumes on the caller's thread). Backward passes through long recurrences
/// recurse once per graph node and overflow default thread stacks; the library's training
/// entry points run their work through this, so their callers need no special stack.
pub fn on_training_stack<R: Send>(f: impl FnOnce() -> R + Send) -> Result<R, TrainError> {
    std::thread::scope(|s| {
        let handle = std::thread::Builder::new()
            .name("training".into())
            .stack_size(TRAINING_STACK)
            .spawn_scoped(s, f)
            .map_err(|source| TrainError::Thread { source })?;
        Ok(handle
            .join()
            .unwrap_or_else(|p| std::panic::resume_unwind(p)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Tensor, Var};
    use rand::Rng;
    use std::sync::Mutex;

    /// Fits w to random targets; the score of epoch e is `scores[e]`.
    struct Toy {
        w: Var,
        opt: AdamW,
        scores: Vec<f64>,
        seen: Vec<usize>,
    }

    impl Toy {
        fn new(w0: f32) -> Toy {
            let w = Var::from_tensor(&Tensor::new(&[w0], &Device::Cpu).unwrap()).unwrap();
            let opt = AdamW::new(vec![("w".into(), w.clone())], Default::default()).unwrap();
            Toy {
                w,
                opt,
                scores: vec![0.5, 0.7, 0.6, 0.6, 0.9],
                seen: Vec::new(),
            }
        }

        fn w(&self) -> f32 {
            self.w.as_tensor().to_vec1::<f32>().unwrap()[0]
        }
    }

    impl Trainer for Toy {
        type Epoch = (usize, f32);
        type Error = TrainError;

        fn step(&mut self, batch: &[usize], rng: &mut ChaCha8Rng) -> Result<String, TrainError> {
            self.seen.extend_from_slice(batch);
            let target: f32 = rng.gen();
            let d = (self.w.as_tensor() - target as f64)?;
            let grads = d.sqr()?.sum_all()?.backward()?;
            self.opt.step(&grads, 0.1)?;
            Ok(format!("w {:.3}", self.w()))
        }

        fn end_epoch(
            &mut self,
            epoch: usize,
            _: f64,
        ) -> Result<EpochEnd<(usize, f32)>, TrainError> {
            Ok(EpochEnd {
                record: (epoch + 1, self.w()),
                line: Some(format!("epoch {}", epoch + 1)),
                warnings: vec![],
                score: Some((self.scores[epoch], 0.0)),
            })
        }

        fn save(&self, dir: &Path) -> Result<(), TrainError> {
            let p = dir.join("w.json");
            std::fs::write(&p, serde_json::to_string(&self.w()).unwrap()).map_err(|e| io_err(&p, e))
        }

        fn optimizer(&mut self) -> Option<&mut AdamW> {
            Some(&mut self.opt)
        }
    }

    fn plan(patience: usize) -> Plan {
        Plan {
            examples: 7,
            epochs: 5,
            seed: 3,
            patience: Some(patience),
            batching: Batching::Shuffled { batch_size: 3 },
        }
    }

    #[test]
    fn every_example_once_per_epoch_and_early_stopping() {
        let dir = tempfile::tempdir().unwrap();
        let events = Mutex::new(Vec::new());
        let obs = |e: Event<'_>| match e {
            Event::Start { label, total } => {
                events.lock().unwrap().push(format!("{label} {total}"))
            }
            Event::Line(l) => events.lock().unwrap().push(l.to_string()),
            _ => {}
        };
        let mut toy = Toy::new(0.0);
        let out = Output {
            dir: dir.path(),
            stop_after: None,
        };
        let f = fit(&mut toy, &plan(1), TrainState::default(), Some(out), &obs).unwrap();
        // Scores 0.5, 0.7, 0.6: the third epoch is one without improvement; patience 1 stops.
        assert_eq!(f.state.epochs_done, 3);
        assert!(f.stopped_early);
        assert_eq!(f.state.best.map(|b| b.0), Some(2));
        for e in 0..3 {
            let mut s = toy.seen[e * 7..(e + 1) * 7].to_vec();
            s.sort_unstable();
            assert_eq!(s, (0..7).collect::<Vec<_>>());
        }
        assert_eq!(
            *events.lock().unwrap(),
            [
                "epoch 1/5 3",
                "epoch 1",
                "epoch 2/5 3",
                "epoch 2",
                "epoch 3/5 3",
                "epoch 3"
            ]
        );
        let best: f32 =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join("best/w.json")).unwrap())
                .unwrap();
        assert_eq!(best, f.state.history[1].1);
        assert!(dir.path().join("last/optimizer.safetensors").is_file());
        assert!(dir.path().join("history.json").is_file());
    }

    #[test]
    fn a_resumed_run_equals_an_uninterrupted_one() {
        let whole = tempfile::tempdir().unwrap();
        let out = |dir, stop_after| Output { dir, stop_after };
        let mut toy = Toy::new(0.0);
        let all = fit(
            &mut toy,
            &plan(9),
            TrainState::default(),
            Some(out(whole.path(), None)),
            &crate::progress::Silent,
        )
        .unwrap();
        assert_eq!(all.state.epochs_done, 5);

        let sliced = tempfile::tempdir().unwrap();
        let cfg = "run".to_string();
        write_config(sliced.path(), &cfg).unwrap();
        let mut toy = Toy::new(0.0);
        let first = fit(
            &mut toy,
            &plan(9),
            TrainState::default(),
            Some(out(sliced.path(), Some(2))),
            &crate::progress::Silent,
        )
        .unwrap();
        assert_eq!(first.state.epochs_done, 2);
        let state: TrainState<(usize, f32)> = saved_state(sliced.path(), &cfg).unwrap().unwrap();
        let w: f32 = serde_json::from_str(
            &std::fs::read_to_string(sliced.path().join("last/w.json")).unwrap(),
        )
        .unwrap();
        let mut toy = Toy::new(w);
        let rest = fit(
            &mut toy,
            &plan(9),
            state,
            Some(out(sliced.path(), None)),
            &crate::progress::Silent,
        )
        .unwrap();
        assert_eq!(rest.state, all.state);
        assert!(matches!(
            saved_state::<_, (usize, f32)>(sliced.path(), &"other".to_string()),
            Err(TrainError::Resume { .. })
        ));
    }

    #[test]
    fn a_stream_reshuffles_when_it_runs_out() {
        struct Rec(Vec<Vec<usize>>);
        impl Trainer for Rec {
            type Epoch = ();
            type Error = TrainError;
            fn step(&mut self, b: &[usize], _: &mut ChaCha8Rng) -> Result<String, TrainError> {
                self.0.push(b.to_vec());
                Ok(String::new())
            }
            fn end_epoch(&mut self, _: usize, _: f64) -> Result<EpochEnd<()>, TrainError> {
                Ok(EpochEnd {
                    record: (),
                    line: None,
                    warnings: vec![],
                    score: None,
                })
            }
            fn save(&self, _: &Path) -> Result<(), TrainError> {
                Ok(())
            }
        }
        let plan = Plan {
            examples: 5,
            epochs: 1,
            seed: 7,
            patience: None,
            batching: Batching::Stream {
                batch_size: 2,
                steps: 5,
            },
        };
        let mut rec = Rec(Vec::new());
        fit(
            &mut rec,
            &plan,
            TrainState::default(),
            None,
            &crate::progress::Silent,
        )
        .unwrap();
        // What the word-dropout loop did by hand: one generator, a cursor over an order
        // shuffled whenever it runs out.
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut order: Vec<usize> = (0..5).collect();
        let mut cursor = 5;
        let mut expected = Vec::new();
        for _ in 0..5 {
            let mut b = Vec::new();
            for _ in 0..2 {
                if cursor == 5 {
                    order.shuffle(&mut rng);
                    cursor = 0;
                }
                b.push(order[cursor]);
                cursor += 1;
            }
            expected.push(b);
        }
        assert_eq!(rec.0, expected);
    }
}
