//! Score files, summary tables and per-instance tables, and [`score`] / [`validate`]: a results
//! file in, what `rationale score` and `rationale validate` report out.

pub mod per_instance;
pub mod pyjson;
pub mod score_file;

use crate::eval::{evaluate, EvalError, Evaluation, Problem, ScoreOptions, Scores};
use pyjson::PyJson;
use std::path::{Path, PathBuf};

/// A results file scored against a split.
#[derive(Debug)]
pub struct Report {
    /// The aggregate scores.
    pub scores: Scores,
    /// The pass the scores came from; [`Report::rows`] gives its per-(annotation, document) rows.
    pub evaluation: Evaluation,
    /// The options scored with.
    pub options: ScoreOptions,
}

impl Report {
    /// The report of an evaluation already run (for callers that watch its progress).
    pub fn new(
        evaluation: Evaluation,
        results: &Path,
        options: &ScoreOptions,
    ) -> Result<Report, ScoreError> {
        if evaluation.lines.is_empty() {
            return Err(ScoreError::Empty {
                path: results.to_path_buf(),
            });
        }
        let Some(scores) = evaluation.scores.clone() else {
            return Err(ScoreError::Invalid {
                path: results.to_path_buf(),
                problems: evaluation.problems,
            });
        };
        Ok(Report {
            scores,
            evaluation,
            options: options.clone(),
        })
    }

    /// The reference scorer's score file (`metrics.py --score_file`), as a Python-style value;
    /// [`PyJson::to_python_string`] gives the file's bytes.
    pub fn score_file(&self) -> PyJson {
        score_file::score_file(&self.scores)
    }

    /// Every problem found (warnings only: a file with errors is not scored).
    pub fn problems(&self) -> &[Problem] {
        &self.evaluation.problems
    }

    /// The headline table `rationale score` prints.
    pub fn summary_table(&self) -> String {
        score_file::summary_table(&self.scores)
    }

    /// One row per (annotation, document), as `--per-instance` writes them.
    pub fn rows(&self) -> Vec<per_instance::Row> {
        per_instance::rows(&self.evaluation, &self.options)
    }
}

/// Why a results file was not scored.
#[derive(Debug, thiserror::Error)]
pub enum ScoreError {
    /// The dataset or the results file could not be read, or the options are invalid.
    #[error(transparent)]
    Eval(#[from] EvalError),
    /// The results file has no records.
    #[error("{path}: no results lines (the file is empty); nothing to score")]
    Empty {
        /// The results file.
        path: PathBuf,
    },
    /// The results file has errors; every problem found is listed.
    #[error("{path}: {} error(s): nothing scored; the problems list says where and what to do", .problems.iter().filter(|p| p.is_error()).count())]
    Invalid {
        /// The results file.
        path: PathBuf,
        /// Every problem found, errors and warnings.
        problems: Vec<Problem>,
    },
}

/// Scores `results` against `data_dir`'s `split` with the ERASER metrics, exactly as
/// `rationale score` does.
///
/// ```
/// let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/movies");
/// let results = data.join("movies_union_human_perf.jsonl");
/// let report = rationale::score(&data, "test", &results, &Default::default())?;
/// let token_f1 = report.scores.token_prf.as_ref().unwrap().macro_avg.f1;
/// assert!(token_f1 > 0.0 && token_f1 < 1.0);
/// assert!(report.score_file().to_python_string().contains("\"iou_scores\""));
/// # Ok::<(), rationale::report::ScoreError>(())
/// ```
pub fn score(
    data_dir: &Path,
    split: &str,
    results: &Path,
    options: &ScoreOptions,
) -> Result<Report, ScoreError> {
    let evaluation = evaluate(data_dir, split, results, options, &mut |_| {})?;
    Report::new(evaluation, results, options)
}

/// Checks `results` against `data_dir`'s `split` and returns every problem found, as
/// `rationale validate` does (an empty list: the file is clean).
///
/// ```
/// let data = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("datasets/movies");
/// let problems = rationale::validate(&data, "test", &data.join("movies_union_human_perf.jsonl"))?;
/// assert!(problems.iter().all(|p| !p.is_error()));
/// # Ok::<(), rationale::eval::EvalError>(())
/// ```
pub fn validate(data_dir: &Path, split: &str, results: &Path) -> Result<Vec<Problem>, EvalError> {
    Ok(evaluate(
        data_dir,
        split,
        results,
        &ScoreOptions::default(),
        &mut |_| {},
    )?
    .problems)
}
