//! The main job (`rationale run`): train a classifier and a selective rationalizer with noise
//! injection, explain the classifier post hoc, measure faithfulness on the models, score
//! everything with the ERASER metrics, draw figures and print one comparison table.
//!
//! Everything is written into a staging folder beside the output folder, which replaces the
//! output folder only when the whole job succeeded (module `staging`).

mod config;
mod error;
mod page;
mod staging;
mod subset;
mod table;

pub use config::RunConfig;
pub use error::PipelineError;
pub use table::{comparison_table, MethodRow};

use crate::corpus::{read_results, DataDir};
use crate::eval::{evaluate, Evaluation, ScoreOptions};
use crate::explain::results::{explain_split, mean_rationale_k, results_jsonl, ExplainJob};
use crate::explain::{ExplainConfig, Method};
use crate::figures::{doc_figure, file_safe, FigureOptions};
use crate::progress::{Event, Observer};
use crate::report::score_file::score_file;
use crate::select::train_select;
use crate::train::train_classifier;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What the job produced.
#[derive(Debug, Clone)]
pub struct RunReport {
    /// One row per method, in table order (the rationalizer first).
    pub rows: Vec<MethodRow>,
    /// The output folder.
    pub out: PathBuf,
    /// Every file written, relative to `out`.
    pub files: Vec<PathBuf>,
    /// Wall-clock seconds of the whole job.
    pub seconds: f64,
    /// Each stage's name and wall-clock seconds, in order.
    pub stages: Vec<(String, f64)>,
}

/// Numbered stage lines, each closed by the seconds it took, reported to the observer.
struct Stages<'a> {
    observer: &'a dyn Observer,
    start: Instant,
    stages: usize,
    /// Finished stages and their seconds; the last one is running since `since`.
    done: Vec<(String, f64)>,
    since: Instant,
}

impl Stages<'_> {
    /// Closes the running stage (if any) and opens `what`.
    fn stage(&mut self, what: &str) {
        self.finish();
        self.done.push((what.to_string(), f64::NAN));
        self.observer.event(Event::Line(&format!(
            "[{}/{}] {what}",
            self.done.len(),
            self.stages
        )));
    }

    /// Records and reports the running stage's seconds.
    fn finish(&mut self) {
        if let Some(last) = self.done.last_mut().filter(|s| s.1.is_nan()) {
            last.1 = self.since.elapsed().as_secs_f64();
            self.observer
                .event(Event::Line(&format!("      done in {:.1} s", last.1)));
        }
        self.since = Instant::now();
    }

    fn line(&self, text: &str) {
        self.observer.event(Event::Line(text));
    }
}

/// A method's name as used in file names and the table.
fn method_name(m: Method) -> String {
    serde_json::to_value(m)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| format!("{m:?}"))
}

/// Runs the whole job into `out` (replaced atomically when everything succeeded).
/// Stage lines, per-epoch lines and progress go to `observer`.
pub fn run(
    cfg: &RunConfig,
    out: &Path,
    observer: &dyn Observer,
) -> Result<RunReport, PipelineError> {
    cfg.validate()?;
    let stage_dir = staging::Staging::new(out)?;
    let dir = stage_dir.path().to_path_buf();
    let mut p = Stages {
        observer,
        start: Instant::now(),
        stages: 6,
        done: Vec::new(),
        since: Instant::now(),
    };
    let data = &cfg.data_dir;
    let config_json = serde_json::to_string_pretty(cfg).expect("config serialises");
    std::fs::write(dir.join("run.json"), config_json)
        .map_err(|e| PipelineError::io(&dir.join("run.json"), e))?;

    p.stage("training the classifier (explained post hoc)");
    let mut cls_cfg = cfg.classifier.clone();
    cls_cfg.data_dir = data.clone();
    let cls_dir = dir.join("classifier");
    let cls = train_classifier(&cls_cfg, &cls_dir, false, observer, None)
        .map_err(PipelineError::Classifier)?;
    p.line(&format!(
        "      best epoch {} (validation accuracy {:.3})",
        cls.best_epoch, cls.best_val_accuracy
    ));

    p.stage("training the selective rationalizer (noise injection)");
    let mut sel_cfg = cfg.select.clone();
    sel_cfg.data_dir = data.clone();
    let sel_dir = dir.join("select");
    let sel = train_select(&sel_cfg, &sel_dir, observer).map_err(PipelineError::Rationalizer)?;
    p.line(&format!(
        "      best epoch {} (validation objective {:.3})",
        sel.best_epoch, sel.best_val_objective
    ));

    p.stage("explaining and measuring faithfulness on the models");
    // With a limit, a seeded sample of the split becomes its own data directory, so that
    // scoring sees exactly the annotations explained.
    let eval_data = match cfg.limit {
        Some(n) => {
            let sub = dir.join("subset");
            let kept = subset::write_subset(data, &cfg.split, n, cfg.seed, &sub)?;
            p.line(&format!(
                "      {kept} annotations of {} (seed {})",
                cfg.split, cfg.seed
            ));
            sub
        }
        None => data.clone(),
    };
    let (k, from) = mean_rationale_k(&DataDir::new(data), &cfg.classifier.train_split, &cfg.split)
        .map_err(|source| PipelineError::Explain {
            method: "k".into(),
            source,
        })?;
    p.line(&format!(
        "      post-hoc rationales: top {k} tokens (mean human rationale length of {from})"
    ));
    std::fs::create_dir_all(dir.join("results"))
        .map_err(|e| PipelineError::io(&dir.join("results"), e))?;
    let mut methods: Vec<(String, PathBuf)> = Vec::new();
    let mut jobs = vec![(Method::Select, sel_dir.clone())];
    jobs.extend(cfg.methods.iter().map(|m| (*m, cls_dir.clone())));
    for (method, model) in jobs {
        let name = method_name(method);
        let mut job = ExplainJob::new(
            &model,
            &eval_data,
            &cfg.split,
            ExplainConfig {
                method,
                seed: cfg.seed,
                ..ExplainConfig::default()
            },
        );
        job.k = Some(k);
        let got = explain_split(&job, observer).map_err(|source| PipelineError::Explain {
            method: name.clone(),
            source,
        })?;
        if method == Method::Select {
            p.line(&format!(
                "      rationalizer selected {:.1}% of the dataset tokens",
                100.0 * got.selection_rate
            ));
        }
        let path = dir.join("results").join(format!("{name}.jsonl"));
        std::fs::write(&path, results_jsonl(&got.predictions))
            .map_err(|e| PipelineError::io(&path, e))?;
        methods.push((name, path));
    }

    p.stage("scoring with the ERASER metrics");
    let options = ScoreOptions::default();
    std::fs::create_dir_all(dir.join("scores"))
        .map_err(|e| PipelineError::io(&dir.join("scores"), e))?;
    let mut rows = Vec::new();
    let mut evals: Vec<(String, Evaluation)> = Vec::new();
    for (name, path) in &methods {
        let eval =
            evaluate(&eval_data, &cfg.split, path, &options, &mut |_| {}).map_err(|source| {
                PipelineError::Score {
                    method: name.clone(),
                    source,
                }
            })?;
        let Some(scores) = eval.scores.as_ref() else {
            let why: Vec<String> = eval
                .problems
                .iter()
                .filter(|p| p.is_error())
                .take(3)
                .map(|p| p.display_with(&path.display().to_string()).to_string())
                .collect();
            return Err(PipelineError::NothingScored {
                method: name.clone(),
                problems: why.join("; "),
            });
        };
        let score_path = dir.join("scores").join(format!("{name}.json"));
        std::fs::write(&score_path, score_file(scores).to_python_string())
            .map_err(|e| PipelineError::io(&score_path, e))?;
        let rows_path = dir
            .join("scores")
            .join(format!("{name}.{}", table::PER_INSTANCE_EXT));
        crate::report::per_instance::write(&rows_path, &eval, &options).map_err(|e| {
            PipelineError::Output {
                what: rows_path.display().to_string(),
                message: e.to_string(),
            }
        })?;
        rows.push(MethodRow::new(name, scores));
        evals.push((name.clone(), eval));
    }

    p.stage("drawing figures");
    let figures = dir.join("figures");
    std::fs::create_dir_all(&figures).map_err(|e| PipelineError::io(&figures, e))?;
    draw_heatmaps(cfg, &eval_data, &methods, &figures)?;
    draw_aopc_curves(&evals, &figures)?;

    p.stage("comparison table and index.html");
    let table = comparison_table(&rows);
    std::fs::write(dir.join("table.md"), &table)
        .map_err(|e| PipelineError::io(&dir.join("table.md"), e))?;
    let summary = serde_json::to_string_pretty(&rows).expect("rows serialise");
    std::fs::write(dir.join("summary.json"), summary)
        .map_err(|e| PipelineError::io(&dir.join("summary.json"), e))?;
    p.finish();
    let about = format!(
        "Data: {}, split {}. Classifier: {} encoder (best epoch {}, validation accuracy {:.3}), \
         explained post hoc by {}; each post-hoc rationale is its top {k} tokens (the mean human \
         rationale length of {from}). Rationalizer (select): {} generator and predictors, \
         {:.0} % of the first {} words, window {}, noise p = {}. Seed {}; configuration in run.json. In the heatmaps each \
         method's row is divided by its largest magnitude; boxes mark its rationale, underlines \
         the human one.",
        data.display(),
        cfg.split,
        cfg.classifier.encoder,
        cls.best_epoch,
        cls.best_val_accuracy,
        cfg.methods.iter().map(|m| method_name(*m)).collect::<Vec<_>>().join(", "),
        cfg.select.encoder,
        100.0 * cfg.select.budget,
        cfg.select.max_len,
        cfg.select.window,
        cfg.select.noise,
        cfg.seed,
    );
    let mut files = staging::list_files(&dir);
    files.push(PathBuf::from("index.html"));
    files.sort();
    let listed: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let html = page::index_html(&rows, &about, &p.done, &listed);
    std::fs::write(dir.join("index.html"), html)
        .map_err(|e| PipelineError::io(&dir.join("index.html"), e))?;
    stage_dir.commit()?;
    Ok(RunReport {
        rows,
        out: out.to_path_buf(),
        files,
        seconds: p.start.elapsed().as_secs_f64(),
        stages: p.done,
    })
}

/// Heatmaps of the first `cfg.figures` annotations: the human rationale, then each method.
fn draw_heatmaps(
    cfg: &RunConfig,
    data: &Path,
    methods: &[(String, PathBuf)],
    dir: &Path,
) -> Result<(), PipelineError> {
    let data = DataDir::new(data);
    let annotations = data.annotations(&cfg.split)?;
    let docs = data.documents()?;
    let mut loaded = Vec::new();
    for (name, path) in methods {
        loaded.push((name.clone(), read_results(path)?));
    }
    let options = FigureOptions {
        context: Some(8),
        signed: false,
        width: Some(720.0),
        page_lines: None,
        per_row: true,
    };
    for annotation in annotations
        .iter()
        .filter(|a| a.all_evidence().next().is_some())
        .take(cfg.figures)
    {
        let id = annotation.annotation_id.as_text();
        let preds: Vec<(&str, Option<&crate::corpus::Prediction>)> = loaded
            .iter()
            .map(|(n, m)| (n.as_str(), m.get(&id)))
            .collect();
        if preds.iter().all(|(_, p)| p.is_none()) {
            continue;
        }
        let Some(docid) = annotation.all_evidence().next().map(|e| e.docid.clone()) else {
            continue;
        };
        let doc = docs.document(&docid).map_err(|e| {
            PipelineError::Data(format!(
                "annotation {id}: document {}: {e}",
                docs.describe(&docid)
            ))
        })?;
        let fig = doc_figure(annotation, &doc, &preds);
        let pages = fig.render(&options).map_err(|e| PipelineError::Output {
            what: fig.title.clone(),
            message: e.to_string(),
        })?;
        let safe = file_safe(&id);
        for (i, page) in pages.iter().enumerate() {
            let name = if pages.len() > 1 {
                format!("heatmap_{safe}-p{}.svg", i + 1)
            } else {
                format!("heatmap_{safe}.svg")
            };
            std::fs::write(dir.join(&name), page)
                .map_err(|e| PipelineError::io(&dir.join(name), e))?;
        }
    }
    Ok(())
}

/// AOPC curves (comprehensiveness and sufficiency per bin) of every method.
fn draw_aopc_curves(evals: &[(String, Evaluation)], dir: &Path) -> Result<(), PipelineError> {
    // (method, thresholds, comprehensiveness points, sufficiency points)
    type Series = (String, Vec<f64>, Vec<f64>, Vec<f64>);
    let series: Vec<Series> = evals
        .iter()
        .filter_map(|(name, e)| {
            let a = e
                .scores
                .as_ref()?
                .classification_scores
                .as_ref()?
                .aopc
                .as_ref()?;
            let mut x = a.thresholds.clone();
            x.sort_by(f64::total_cmp);
            Some((
                name.clone(),
                x,
                a.comprehensiveness_points.clone(),
                a.sufficiency_points.clone(),
            ))
        })
        .collect();
    if series.is_empty() {
        return Ok(());
    }
    for (file, title, metric, x_label, comp) in [
        (
            "aopc_comprehensiveness.svg",
            "AOPC: comprehensiveness",
            "comprehensiveness (drop in p of predicted class)",
            "fraction of tokens removed",
            true,
        ),
        (
            "aopc_sufficiency.svg",
            "AOPC: sufficiency",
            "sufficiency (drop in p of predicted class)",
            "fraction of tokens kept",
            false,
        ),
    ] {
        let curves: Vec<rationale_viz::Curve> = series
            .iter()
            .map(|s| rationale_viz::Curve {
                label: &s.0,
                x: &s.1,
                y: if comp { &s.2 } else { &s.3 },
            })
            .collect();
        let mut opts = rationale_viz::CurveOptions::aopc(title, metric);
        opts.x_label = x_label.into();
        let svg =
            rationale_viz::aopc_curves(&curves, &opts).map_err(|e| PipelineError::Output {
                what: file.to_string(),
                message: e.to_string(),
            })?;
        std::fs::write(dir.join(file), svg).map_err(|e| PipelineError::io(&dir.join(file), e))?;
    }
    Ok(())
}
