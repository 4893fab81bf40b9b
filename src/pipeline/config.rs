//! The job's configuration: flags, or a JSON file (`OUT/run.json` of an earlier run).

use super::PipelineError;
use crate::explain::Method;
use crate::select::SelectConfig;
use crate::train::TrainConfig;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Everything that defines a `rationale run` (written to `OUT/run.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RunConfig {
    /// ERASER data directory (train, val and `split`).
    pub data_dir: PathBuf,
    /// Split explained and scored.
    pub split: String,
    /// Post-hoc methods applied to the classifier (the rationalizer is always run).
    pub methods: Vec<Method>,
    /// Documents drawn as heatmaps (the first annotations of `split` with human rationales).
    pub figures: usize,
    /// Only the first N annotations of `split` are explained and scored.
    pub limit: Option<usize>,
    /// Seed of the stochastic explanation methods.
    pub seed: u64,
    /// The classifier (its `data_dir` is replaced by the job's).
    pub classifier: TrainConfig,
    /// The selective rationalizer (its `data_dir` is replaced by the job's).
    pub select: SelectConfig,
}

/// The word vectors bundled with the repository (`datasets/vectors/README.md`).
pub const BUNDLED_VECTORS: &str = "datasets/vectors/minilm-words-64d.txt.gz";

impl Default for RunConfig {
    /// Sized for the bundled Movies data (1,600 train / 200 val / 199 test reviews) to finish
    /// in a few minutes on 2 cores: BiGRUs of width 64 over the bundled 64-d word vectors, the
    /// classifier reading the first 1,024 words, the rationalizer whole reviews.
    fn default() -> Self {
        let vectors = Some(PathBuf::from(BUNDLED_VECTORS));
        let classifier = TrainConfig {
            encoder: "gru".into(),
            embed_dim: 64,
            hidden: 64,
            glove: vectors.clone(),
            max_len: 1024,
            lr: 3e-3,
            epochs: 3,
            ..TrainConfig::default()
        };
        let select = SelectConfig {
            encoder: "gru".into(),
            embed_dim: 64,
            hidden: 64,
            glove: vectors,
            max_len: 2048,
            window: 3,
            lr: 3e-3,
            epochs: 5,
            noise: 0.1,
            ..SelectConfig::default()
        };
        RunConfig {
            data_dir: PathBuf::from("datasets/movies"),
            split: "test".into(),
            methods: vec![
                Method::Gradient,
                Method::GradInput,
                Method::IntegratedGradients,
                Method::Attention,
                Method::Random,
            ],
            figures: 3,
            limit: None,
            seed: 1,
            classifier,
            select,
        }
    }
}

impl RunConfig {
    /// Reads a configuration file (JSON; missing fields take the defaults).
    pub fn load(path: &Path) -> Result<Self, PipelineError> {
        let text = std::fs::read_to_string(path).map_err(|e| PipelineError::io(path, e))?;
        if text.trim().is_empty() {
            return Err(PipelineError::Config(format!(
                "{}: empty file; write a JSON object such as {{\"split\": \"test\"}}",
                path.display()
            )));
        }
        serde_json::from_str(&text).map_err(|e| {
            PipelineError::Config(format!(
                "{}:{}:{}: not a run configuration: {e} (see OUT/run.json of a run for every field)",
                path.display(),
                e.line(),
                e.column()
            ))
        })
    }

    /// Checks the job's own fields and the two training configurations, before anything runs.
    pub fn validate(&self) -> Result<(), PipelineError> {
        let invalid = |message: String| Err(PipelineError::Config(message));
        let data = crate::corpus::DataDir::new(&self.data_dir);
        if !self.data_dir.is_dir() {
            return invalid(format!(
                "data directory {} does not exist (pass --data-dir DIR with train.jsonl, \
                 val.jsonl, {}.jsonl and docs/)",
                self.data_dir.display(),
                self.split
            ));
        }
        for split in [
            &self.classifier.train_split,
            &self.classifier.val_split,
            &self.select.train_split,
            &self.select.val_split,
            &self.split,
        ] {
            if !data.split_path(split).is_file() {
                return invalid(format!(
                    "{} is missing: an ERASER data directory needs train.jsonl, val.jsonl, \
                     {}.jsonl and docs/",
                    data.split_path(split).display(),
                    self.split
                ));
            }
        }
        if self.methods.contains(&Method::Select) {
            return invalid(
                "methods: `select` is the rationalizer, which always runs; list post-hoc methods"
                    .into(),
            );
        }
        if self.limit == Some(0) {
            return invalid("limit must be at least 1".into());
        }
        for path in [&self.classifier.glove, &self.select.glove]
            .into_iter()
            .flatten()
        {
            if !path.is_file() {
                return invalid(format!(
                    "word vectors {} not found (the default, {BUNDLED_VECTORS}, is relative to \
                     the repository root: run from there, or pass --vectors FILE, or \
                     --vectors none to start from random vectors)",
                    path.display()
                ));
            }
        }
        let mut cls = self.classifier.clone();
        cls.data_dir = self.data_dir.clone();
        if let Err(e) = cls.validate() {
            return invalid(format!("classifier: {e}"));
        }
        let mut sel = self.select.clone();
        sel.data_dir = self.data_dir.clone();
        if let Err(e) = sel.validate() {
            return invalid(format!("select: {e}"));
        }
        Ok(())
    }
}
