//! `rationale._rationale`: the Rust side of the Python package. Each function does the work of
//! one `rationale` command with the interpreter released; configurations and results cross as
//! JSON text (the package's Python layer turns them into dicts), per-instance tables as Arrow
//! arrays through the C data interface.

use arrow_array::{Array, RecordBatch, StructArray};
use pyo3::exceptions::{PyFileNotFoundError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyCapsule, PyDict};
use rationale::eval::NoGoldAuprc;
use rationale::figures::{self, DocFigure, FigureOptions, MethodRow};
use rationale::progress::{Event, Observer};
use rationale::report::{per_instance, ScoreError};
use rationale::{ExplainConfig, ScoreOptions, TextModel};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The Python exception for a Rust error: `FileNotFoundError` when a file or folder is missing,
/// else `ValueError`; the message is the one the command line prints.
fn py_err(e: impl std::error::Error + 'static) -> PyErr {
    let message = e.to_string();
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(c) = cause {
        let missing = match c.downcast_ref::<std::io::Error>() {
            Some(io) => io.kind() == std::io::ErrorKind::NotFound,
            None => matches!(
                c.downcast_ref::<rationale::models::ModelError>(),
                Some(rationale::models::ModelError::MissingFile { .. })
            ),
        };
        if missing {
            return PyFileNotFoundError::new_err(message);
        }
        cause = c.source();
    }
    PyValueError::new_err(message)
}

fn to_json(value: &impl Serialize) -> PyResult<String> {
    serde_json::to_string(value).map_err(py_err)
}

/// `base` with every key of `overrides` replacing it (objects merge key by key), read back as `T`:
/// unknown keys and wrong types are errors naming the key.
fn config<T: Serialize + DeserializeOwned>(base: &T, overrides: &str, what: &str) -> PyResult<T> {
    fn merge(base: &mut Value, over: Value) {
        match (base, over) {
            (Value::Object(b), Value::Object(o)) => {
                for (k, v) in o {
                    match b.get_mut(&k) {
                        Some(slot) => merge(slot, v),
                        None => {
                            b.insert(k, v);
                        }
                    }
                }
            }
            (b, o) => *b = o,
        }
    }
    let mut value = serde_json::to_value(base).map_err(py_err)?;
    let over: Value = serde_json::from_str(overrides).map_err(py_err)?;
    merge(&mut value, over);
    serde_json::from_value(value)
        .map_err(|e| PyValueError::new_err(format!("{what} configuration: {e}")))
}

fn score_options(
    iou_thresholds: Vec<f64>,
    aopc_thresholds: Vec<f64>,
    auprc_no_gold: &str,
    iou_matching: &str,
    strict: bool,
    allow_missing: bool,
) -> PyResult<ScoreOptions> {
    let no_gold_auprc = match auprc_no_gold {
        "nan" => NoGoldAuprc::Nan,
        "half" => NoGoldAuprc::Half,
        "skip" => NoGoldAuprc::Skip,
        other => {
            return Err(PyValueError::new_err(format!(
                "auprc_no_gold={other:?}: use \"nan\" (the reference), \"half\" or \"skip\""
            )))
        }
    };
    let one_to_one_iou = match iou_matching {
        "reference" => false,
        "one-to-one" => true,
        other => {
            return Err(PyValueError::new_err(format!(
                "iou_matching={other:?}: use \"reference\" or \"one-to-one\""
            )))
        }
    };
    Ok(ScoreOptions {
        iou_thresholds,
        aopc_thresholds,
        no_gold_auprc,
        one_to_one_iou,
        strict,
        allow_missing,
    })
}

/// A results file scored as `rationale score` scores it, its errors listed in the exception.
fn report(
    data_dir: &Path,
    split: &str,
    results: &Path,
    options: &ScoreOptions,
) -> PyResult<rationale::Report> {
    rationale::score(data_dir, split, results, options).map_err(|e| match e {
        ScoreError::Invalid { problems, .. } => {
            let file = results.display().to_string();
            let mut message = format!(
                "{file}: {} error(s): nothing scored",
                problems.iter().filter(|p| p.is_error()).count()
            );
            for p in problems.iter().filter(|p| p.is_error()) {
                message.push_str(&format!("\n{}", p.display_with(&file)));
            }
            PyValueError::new_err(message)
        }
        other => py_err(other),
    })
}

/// The score file `rationale score --score-file` writes, as its JSON text; writes it and the
/// per-instance table too when asked.
#[pyfunction]
#[pyo3(signature = (data_dir, split, results, iou_thresholds, aopc_thresholds, auprc_no_gold,
    iou_matching, strict, allow_missing, score_file=None, per_instance=None))]
#[allow(clippy::too_many_arguments)]
fn score(
    py: Python<'_>,
    data_dir: PathBuf,
    split: String,
    results: PathBuf,
    iou_thresholds: Vec<f64>,
    aopc_thresholds: Vec<f64>,
    auprc_no_gold: &str,
    iou_matching: &str,
    strict: bool,
    allow_missing: bool,
    score_file: Option<PathBuf>,
    per_instance: Option<PathBuf>,
) -> PyResult<String> {
    let options = score_options(
        iou_thresholds,
        aopc_thresholds,
        auprc_no_gold,
        iou_matching,
        strict,
        allow_missing,
    )?;
    py.detach(|| {
        let report = report(&data_dir, &split, &results, &options)?;
        let text = report.score_file().to_python_string();
        if let Some(path) = &score_file {
            rationale::io::write_atomic(path, text.as_bytes())
                .map_err(|e| PyValueError::new_err(format!("{}: {e}", path.display())))?;
        }
        if let Some(path) = &per_instance {
            per_instance::write(path, &report.evaluation, &options)
                .map_err(|e| PyValueError::new_err(format!("{}: {e}", path.display())))?;
        }
        Ok(text)
    })
}

/// Every problem `rationale validate` reports, as a JSON list of objects.
#[pyfunction]
fn validate(
    py: Python<'_>,
    data_dir: PathBuf,
    split: String,
    results: PathBuf,
) -> PyResult<String> {
    let problems = py
        .detach(|| rationale::validate(&data_dir, &split, &results))
        .map_err(py_err)?;
    let file = results.display().to_string();
    let rows: Vec<Value> = problems
        .iter()
        .map(|p| {
            serde_json::json!({
                "file": file,
                "line": p.line,
                "severity": if p.is_error() { "error" } else { "warning" },
                "annotation_id": p.annotation_id,
                "docid": p.docid,
                "message": p.what,
                "fix": p.fix,
                "text": p.display_with(&file).to_string(),
            })
        })
        .collect();
    to_json(&rows)
}

/// The per-instance rows of a scored results file, exported through the Arrow C data interface
/// (`__arrow_c_array__`, which `pyarrow.record_batch` reads without copying).
#[pyclass(frozen)]
struct ArrowBatch {
    batch: RecordBatch,
}

#[pymethods]
impl ArrowBatch {
    /// The Arrow PyCapsule protocol: (schema capsule, array capsule).
    #[pyo3(signature = (requested_schema=None))]
    fn __arrow_c_array__<'py>(
        &self,
        py: Python<'py>,
        requested_schema: Option<Bound<'py, PyAny>>,
    ) -> PyResult<(Bound<'py, PyCapsule>, Bound<'py, PyCapsule>)> {
        let _ = requested_schema; // the batch's own schema is the only one offered
        let data = StructArray::from(self.batch.clone()).into_data();
        let (array, schema) = arrow_array::ffi::to_ffi(&data).map_err(py_err)?;
        Ok((
            PyCapsule::new_with_value(py, schema, c"arrow_schema")?,
            PyCapsule::new_with_value(py, array, c"arrow_array")?,
        ))
    }

    /// The number of rows.
    fn __len__(&self) -> usize {
        self.batch.num_rows()
    }
}

/// The per-instance table of `rationale score --per-instance`, as an Arrow batch.
#[pyfunction]
#[pyo3(signature = (data_dir, split, results, iou_thresholds, aopc_thresholds, auprc_no_gold,
    iou_matching, strict, allow_missing))]
#[allow(clippy::too_many_arguments)]
fn per_instance_batch(
    py: Python<'_>,
    data_dir: PathBuf,
    split: String,
    results: PathBuf,
    iou_thresholds: Vec<f64>,
    aopc_thresholds: Vec<f64>,
    auprc_no_gold: &str,
    iou_matching: &str,
    strict: bool,
    allow_missing: bool,
) -> PyResult<ArrowBatch> {
    let options = score_options(
        iou_thresholds,
        aopc_thresholds,
        auprc_no_gold,
        iou_matching,
        strict,
        allow_missing,
    )?;
    py.detach(|| {
        let report = report(&data_dir, &split, &results, &options)?;
        let batch = per_instance::record_batch(&report.rows()).map_err(py_err)?;
        Ok(ArrowBatch { batch })
    })
}

fn figure_options(
    context: Option<usize>,
    signed: bool,
    width: f64,
    per_row: bool,
) -> FigureOptions {
    FigureOptions {
        context,
        signed,
        width: Some(width),
        page_lines: None,
        per_row,
    }
}

/// The heatmap `rationale render` draws for one annotation: human rationale vs each results
/// file, as SVG text.
#[pyfunction]
#[pyo3(signature = (data_dir, split, id, sources, context, signed, width, per_row))]
#[allow(clippy::too_many_arguments)]
fn render(
    py: Python<'_>,
    data_dir: PathBuf,
    split: String,
    id: String,
    sources: Vec<(String, PathBuf)>,
    context: Option<usize>,
    signed: bool,
    width: f64,
    per_row: bool,
) -> PyResult<String> {
    let options = figure_options(context, signed, width, per_row);
    py.detach(|| {
        let methods: Vec<(&str, &Path)> = sources
            .iter()
            .map(|(l, p)| (l.as_str(), p.as_path()))
            .collect();
        let pages = figures::render(&data_dir, &split, &id, &methods, &options).map_err(py_err)?;
        pages
            .into_iter()
            .next()
            .ok_or_else(|| PyValueError::new_err(format!("annotation {id:?}: nothing to draw")))
    })
}

/// A heatmap of any scores: one row per (label, scores, predicted rationale or None) over
/// `tokens`, `gold` underlined.
#[pyfunction]
#[pyo3(signature = (tokens, rows, gold, title, context, signed, width, per_row))]
#[allow(clippy::too_many_arguments)]
fn heatmap(
    tokens: Vec<String>,
    rows: Vec<(String, Vec<f64>, Option<Vec<bool>>)>,
    gold: Option<Vec<bool>>,
    title: String,
    context: Option<usize>,
    signed: bool,
    width: f64,
    per_row: bool,
) -> PyResult<String> {
    let n = tokens.len();
    for (label, scores, predicted) in &rows {
        if scores.len() != n || predicted.as_ref().is_some_and(|p| p.len() != n) {
            return Err(PyValueError::new_err(format!(
                "row {label:?}: {} scores for {n} tokens; give one score (and one predicted flag) per token",
                scores.len()
            )));
        }
    }
    if gold.as_ref().is_some_and(|g| g.len() != n) {
        return Err(PyValueError::new_err(format!(
            "gold: one flag per token needed ({n} tokens)"
        )));
    }
    let figure = DocFigure {
        docid: String::new(),
        title,
        gold: gold.unwrap_or_else(|| vec![false; n]),
        tokens,
        rows: rows
            .into_iter()
            .map(|(label, scores, predicted)| MethodRow {
                label,
                scores,
                predicted,
            })
            .collect(),
    };
    let pages = figure
        .render(&figure_options(context, signed, width, per_row))
        .map_err(py_err)?;
    Ok(pages.into_iter().next().unwrap_or_default())
}

/// An SVG figure rasterised at `scale` × its size (PNG bytes).
#[pyfunction]
fn svg_to_png(py: Python<'_>, svg: String, scale: f32) -> PyResult<Vec<u8>> {
    py.detach(|| figures::png::svg_to_png(&svg, scale))
        .map_err(py_err)
}

/// Reports the library's progress events to a Python callable as dicts; the first exception the
/// callable raises stops further calls and is raised when the work is over.
struct Callback {
    callable: Option<Py<PyAny>>,
    error: Mutex<Option<PyErr>>,
}

impl Callback {
    fn new(callable: Option<Py<PyAny>>) -> Self {
        Callback {
            callable,
            error: Mutex::new(None),
        }
    }

    fn finish<T>(self, result: PyResult<T>) -> PyResult<T> {
        let value = result?;
        match self.error.into_inner().unwrap_or_else(|e| e.into_inner()) {
            Some(e) => Err(e),
            None => Ok(value),
        }
    }
}

impl Observer for Callback {
    fn event(&self, event: Event<'_>) {
        let Some(callable) = &self.callable else {
            return;
        };
        let mut error = self.error.lock().unwrap_or_else(|e| e.into_inner());
        if error.is_some() {
            return;
        }
        let outcome = Python::attach(|py| -> PyResult<()> {
            let d = PyDict::new(py);
            match event {
                Event::Start { label, total } => {
                    d.set_item("kind", "start")?;
                    d.set_item("label", label)?;
                    d.set_item("total", total)?;
                }
                Event::Step { status } => {
                    d.set_item("kind", "step")?;
                    d.set_item("status", status)?;
                }
                Event::Finish => d.set_item("kind", "finish")?,
                Event::Line(text) => {
                    d.set_item("kind", "line")?;
                    d.set_item("text", text)?;
                }
                Event::Warning(text) => {
                    d.set_item("kind", "warning")?;
                    d.set_item("text", text)?;
                }
            }
            callable.call1(py, (d,))?;
            py.check_signals()
        });
        if let Err(e) = outcome {
            *error = Some(e);
        }
    }
}

/// `rationale train classifier` (or `train supervise` when the configuration has `align`):
/// the training report as JSON.
#[pyfunction]
#[pyo3(signature = (config, out, supervise, resume, progress=None))]
fn train_classifier(
    py: Python<'_>,
    config: &str,
    out: PathBuf,
    supervise: bool,
    resume: bool,
    progress: Option<Py<PyAny>>,
) -> PyResult<String> {
    let base = rationale::TrainConfig {
        align: supervise.then(Default::default),
        ..Default::default()
    };
    let cfg = self::config(&base, config, "classifier")?;
    let callback = Callback::new(progress);
    let result = py.detach(|| {
        rationale::train_classifier(&cfg, &out, resume, &callback, None).map_err(py_err)
    });
    to_json(&callback.finish(result)?)
}

/// `rationale train select`: the training report as JSON.
#[pyfunction]
#[pyo3(signature = (config, out, progress=None))]
fn train_select(
    py: Python<'_>,
    config: &str,
    out: PathBuf,
    progress: Option<Py<PyAny>>,
) -> PyResult<String> {
    let cfg = self::config(&rationale::SelectConfig::default(), config, "select")?;
    let callback = Callback::new(progress);
    let result = py.detach(|| rationale::train_select(&cfg, &out, &callback).map_err(py_err));
    to_json(&callback.finish(result)?)
}

/// `rationale run` (the main job) with a `run.json` configuration: its table rows, files and
/// stage timings as JSON.
#[pyfunction]
#[pyo3(signature = (config, out, progress=None))]
fn run(
    py: Python<'_>,
    config: &str,
    out: PathBuf,
    progress: Option<Py<PyAny>>,
) -> PyResult<String> {
    let cfg = self::config(&rationale::pipeline::RunConfig::default(), config, "run")?;
    let callback = Callback::new(progress);
    let result = py.detach(|| rationale::pipeline::run(&cfg, &out, &callback).map_err(py_err));
    let report = callback.finish(result)?;
    to_json(&serde_json::json!({
        "rows": report.rows,
        "out": report.out,
        "files": report.files,
        "seconds": report.seconds,
        "stages": report.stages,
    }))
}

/// A classifier loaded for prediction and explanation: a checkpoint trained here or a Hugging
/// Face classifier folder (one call at a time: the model keeps per-call state).
#[pyclass(frozen)]
struct Model {
    classifier: Mutex<Box<dyn TextModel + Send>>,
    labels: Vec<String>,
}

impl Model {
    fn classifier(&self) -> std::sync::MutexGuard<'_, Box<dyn TextModel + Send>> {
        self.classifier.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[pymethods]
impl Model {
    /// Loads a checkpoint folder, a training output folder (its `best/`), or a Hugging Face
    /// classifier folder.
    #[staticmethod]
    fn load(py: Python<'_>, path: PathBuf) -> PyResult<Model> {
        let dir = rationale::explain::results::model_dir(&path);
        let classifier = py
            .detach(|| rationale::load_text_model(&dir))
            .map_err(py_err)?;
        let labels = classifier.labels().to_vec();
        Ok(Model {
            classifier: Mutex::new(classifier),
            labels,
        })
    }

    /// The class labels, in the model's output order.
    #[getter]
    fn labels(&self) -> Vec<String> {
        self.labels.clone()
    }

    /// Class probabilities of each text (rows in the order of `labels`).
    fn predict(&self, py: Python<'_>, texts: Vec<String>) -> PyResult<Vec<Vec<f32>>> {
        py.detach(|| {
            let classifier = self.classifier();
            let preds =
                rationale::predict_texts(classifier.as_ref(), &texts, None).map_err(py_err)?;
            Ok(preds.into_iter().map(|p| p.probs).collect())
        })
    }

    /// `explain_text` on each text with the method and options of `config` (JSON): a JSON list
    /// of {words, scores, target, probs}.
    fn explain(&self, py: Python<'_>, texts: Vec<String>, config: &str) -> PyResult<String> {
        let cfg = self::config(&ExplainConfig::default(), config, "explain")?;
        cfg.validate().map_err(py_err)?;
        let out = py.detach(|| {
            let classifier = self.classifier();
            texts
                .iter()
                .map(|t| rationale::explain_text(classifier.as_ref(), t, &cfg))
                .collect::<Result<Vec<_>, _>>()
                .map_err(py_err)
        })?;
        // Serialised as `rationale explain` writes scores (shortest f32 digits); probabilities
        // as (label, p) pairs in the model's label order.
        #[derive(Serialize)]
        struct Row<'a> {
            words: &'a [String],
            scores: &'a [f32],
            target: &'a str,
            probs: &'a [(String, f32)],
        }
        let rows: Vec<Row> = out
            .iter()
            .map(|e| Row {
                words: &e.words,
                scores: &e.scores,
                target: &e.target,
                probs: &e.probs,
            })
            .collect();
        to_json(&rows)
    }
}

/// The results of `rationale explain --data-dir`: explains a split with the model, measures
/// faithfulness, writes the ERASER results file `out`; returns how many records it wrote.
#[pyfunction]
#[pyo3(signature = (model, data_dir, split, config, out, k=None, limit=None, progress=None))]
#[allow(clippy::too_many_arguments)]
fn explain_split(
    py: Python<'_>,
    model: PathBuf,
    data_dir: PathBuf,
    split: String,
    config: &str,
    out: PathBuf,
    k: Option<usize>,
    limit: Option<usize>,
    progress: Option<Py<PyAny>>,
) -> PyResult<usize> {
    let cfg = self::config(&ExplainConfig::default(), config, "explain")?;
    let job = rationale::ExplainJob {
        k,
        limit,
        ..rationale::ExplainJob::new(&model, &data_dir, &split, cfg)
    };
    let callback = Callback::new(progress);
    let result = py.detach(|| {
        let output = rationale::explain_split(&job, &callback).map_err(py_err)?;
        let text = rationale::explain::results::results_jsonl(&output.predictions);
        rationale::io::write_atomic(&out, text.as_bytes())
            .map_err(|e| PyValueError::new_err(format!("{}: {e}", out.display())))?;
        Ok(output.predictions.len())
    });
    callback.finish(result)
}

#[pymodule]
fn _rationale(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<ArrowBatch>()?;
    m.add_class::<Model>()?;
    m.add_function(wrap_pyfunction!(score, m)?)?;
    m.add_function(wrap_pyfunction!(validate, m)?)?;
    m.add_function(wrap_pyfunction!(per_instance_batch, m)?)?;
    m.add_function(wrap_pyfunction!(render, m)?)?;
    m.add_function(wrap_pyfunction!(heatmap, m)?)?;
    m.add_function(wrap_pyfunction!(svg_to_png, m)?)?;
    m.add_function(wrap_pyfunction!(train_classifier, m)?)?;
    m.add_function(wrap_pyfunction!(train_select, m)?)?;
    m.add_function(wrap_pyfunction!(run, m)?)?;
    m.add_function(wrap_pyfunction!(explain_split, m)?)?;
    Ok(())
}
