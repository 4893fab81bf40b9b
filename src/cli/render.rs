//! `rationale render`: SVG heatmaps of human vs model rationales, and curves.

use super::exit;
use crate::corpus::{read_results, Annotation, DataDir, DocStore, Prediction};
use crate::eval::{evaluate, ScoreOptions};
use crate::figures::{annotation_figures, file_safe, pr_figure, DocFigure, FigureOptions};
use crate::io::write_atomic;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
#[command(after_help = "Examples:
  rationale render --data-dir datasets/movies --split test \\
      --results datasets/movies/movies_majority_human_perf.jsonl --label majority \\
      --compare datasets/movies/movies_union_human_perf.jsonl --label union \\
      --id negR_900.txt --context 8 --out fig.svg
  rationale render --data-dir DIR --split test --results preds.jsonl --all --out-dir figs/
  rationale render curves --data-dir DIR --split test --results a.jsonl --compare b.jsonl --out-dir figs/
  rationale render sequential --greedy greedy.json --target 12 --out seq.svg")]
pub(crate) struct RenderArgs {
    #[command(subcommand)]
    curves: Option<RenderCommand>,
    #[command(flatten)]
    heatmap: HeatmapArgs,
}

#[derive(Subcommand, Debug)]
enum RenderCommand {
    /// AOPC curves (comprehensiveness and sufficiency vs fraction of tokens) per method, and
    /// per-document precision–recall curves with --id.
    Curves(CurveArgs),
    /// The sequential figure of one greedy rationale (the JSON of `rationale greedy --text`):
    /// the context with each rationale token numbered by the step that added it.
    Sequential(SequentialArgs),
}

#[derive(Args, Debug)]
struct SequentialArgs {
    /// Output of `rationale greedy --model LM --text ... -o greedy.json`.
    #[arg(long, value_name = "GREEDY.json")]
    greedy: PathBuf,
    /// Position of the rationalized token to draw (default: the last one in the file).
    #[arg(long)]
    target: Option<usize>,
    /// Output SVG.
    #[arg(long, value_name = "FIG.svg")]
    out: PathBuf,
}

/// Data, results and method labels (shared by heatmaps and curves). The fields are options only
/// so that `render curves` can stand without them; clap requires them otherwise.
#[derive(Args, Debug)]
struct Sources {
    /// ERASER data directory: <split>.jsonl and docs/ (or docs.jsonl).
    #[arg(
        long = "data-dir",
        alias = "data_dir",
        value_name = "DIR",
        required = true
    )]
    data_dir: Option<PathBuf>,
    /// Split whose annotations give the gold rationales.
    #[arg(long, required = true)]
    split: Option<String>,
    /// Results file (ERASER results JSON lines) of the first method.
    #[arg(long, value_name = "PREDS.jsonl", required = true)]
    results: Option<PathBuf>,
    /// More results files, drawn as further rows / curves over the same text and scale
    /// [default: none].
    #[arg(long, value_name = "OTHER.jsonl", num_args = 1..)]
    compare: Vec<PathBuf>,
    /// Method names, in the order of --results then --compare (default: file stems).
    #[arg(long, num_args = 1..)]
    label: Vec<String>,
}

impl Sources {
    fn data_dir(&self) -> &Path {
        self.data_dir.as_deref().expect("clap requires --data-dir")
    }

    fn split(&self) -> &str {
        self.split.as_deref().expect("clap requires --split")
    }

    fn methods(&self) -> Vec<(String, &Path)> {
        self.results
            .iter()
            .chain(&self.compare)
            .map(PathBuf::as_path)
            .enumerate()
            .map(|(i, p)| {
                let stem = p.file_stem().map(|s| s.to_string_lossy().into_owned());
                (self.label.get(i).cloned().or(stem).unwrap_or_default(), p)
            })
            .collect()
    }
}

#[derive(Args, Debug)]
struct HeatmapArgs {
    #[command(flatten)]
    sources: Sources,
    /// Annotation to draw (one figure per document of the annotation); required unless --all.
    #[arg(long, required_unless_present = "all", conflicts_with = "all")]
    id: Option<String>,
    /// Output SVG (with --id; required unless --all). Several documents or pages get
    /// -<docid> / -p<N> suffixes.
    #[arg(long, value_name = "FIG.svg", required_unless_present = "all")]
    out: Option<PathBuf>,
    /// Draw every annotation of the split into --out-dir.
    #[arg(long, requires = "out_dir")]
    all: bool,
    /// Folder for --all (required with it).
    #[arg(long = "out-dir", value_name = "DIR")]
    out_dir: Option<PathBuf>,
    /// Show N tokens either side of rationale tokens, eliding the rest with "…"
    /// [default: whole documents].
    #[arg(long, value_name = "N")]
    context: Option<usize>,
    /// Signed attributions: diverging scale centred on 0.
    #[arg(long)]
    signed: bool,
    /// Divide each method's row by its largest magnitude, so methods on different scales
    /// compare by colour.
    #[arg(long = "per-row")]
    per_row: bool,
    /// Figure width in px.
    #[arg(long, default_value_t = 720.0)]
    width: f64,
    /// Split whole documents into pages of N text lines (ignored with --context)
    /// [default: one page].
    #[arg(long = "page-lines", value_name = "N")]
    page_lines: Option<usize>,
    /// Also write each figure as PNG (2× resolution) beside the SVG.
    #[arg(long)]
    png: bool,
}

#[derive(Args, Debug)]
#[command(after_help = "Example:
  rationale render curves --data-dir datasets/movies --split test --results ig.jsonl \\
      --compare sel.jsonl --label ig --label select --out-dir figs/ --id negR_900.txt")]
struct CurveArgs {
    #[command(flatten)]
    sources: Sources,
    /// Folder for aopc_comprehensiveness.svg, aopc_sufficiency.svg (and pr_<id>.svg).
    #[arg(long = "out-dir", value_name = "DIR")]
    out_dir: PathBuf,
    /// Also draw precision–recall curves of this annotation's documents [default: none].
    #[arg(long)]
    id: Option<String>,
    /// AOPC bins to read from thresholded_scores.
    #[arg(long = "aopc-thresholds", num_args = 1.., default_values_t = [0.01, 0.05, 0.1, 0.2, 0.5])]
    aopc_thresholds: Vec<f64>,
    /// Also write each figure as PNG (2× resolution) beside the SVG.
    #[arg(long)]
    png: bool,
}

/// Reads a results file into annotation id (as text) → prediction; an empty file draws only
/// the human rationale.
fn read_predictions(path: &Path) -> Result<HashMap<String, Prediction>, String> {
    let out = read_results(path).map_err(|e| e.to_string())?;
    if out.is_empty() {
        eprintln!(
            "warning: {}: no results records (empty file); only the human rationale is drawn",
            path.display()
        );
    }
    Ok(out)
}

struct Loaded {
    annotations: Vec<Annotation>,
    docs: DocStore,
    methods: Vec<(String, HashMap<String, Prediction>)>,
}

fn load(sources: &Sources) -> Result<Loaded, String> {
    let data = DataDir::new(sources.data_dir());
    let annotations = data
        .annotations(sources.split())
        .map_err(|e| e.to_string())?;
    let docs = data.documents().map_err(|e| e.to_string())?;
    let methods = sources
        .methods()
        .into_iter()
        .map(|(label, path)| Ok((label, read_predictions(path)?)))
        .collect::<Result<_, String>>()?;
    Ok(Loaded {
        annotations,
        docs,
        methods,
    })
}

impl Loaded {
    /// The split's annotation with this id (as text).
    fn annotation(&self, id: &str, sources: &Sources) -> Result<&Annotation, String> {
        self.annotations
            .iter()
            .find(|a| a.annotation_id.as_text() == id)
            .ok_or_else(|| {
                let split = DataDir::new(sources.data_dir()).split_path(sources.split());
                format!("annotation {id:?} is not in {}", split.display())
            })
    }
}

/// The figures of one annotation: one per document with gold or predicted rationales.
fn figures_for(loaded: &Loaded, annotation: &Annotation) -> Result<Vec<DocFigure>, String> {
    let id = annotation.annotation_id.as_text();
    let methods: Vec<(&str, Option<&Prediction>)> = loaded
        .methods
        .iter()
        .map(|(l, m)| (l.as_str(), m.get(&id)))
        .collect();
    annotation_figures(annotation, &loaded.docs, &methods).map_err(|e| e.to_string())
}

/// `fig.svg` → `fig-<suffix>.svg`.
fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or("svg".into());
    path.with_file_name(format!("{stem}-{suffix}.{ext}"))
}

/// Writes an SVG figure and, with `png`, a PNG at twice its size beside it.
fn write_figure(path: &Path, svg: &str, png: bool) -> Result<Vec<PathBuf>, String> {
    write_atomic(path, svg.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))?;
    if !png {
        return Ok(vec![path.to_path_buf()]);
    }
    #[cfg(feature = "png")]
    {
        let png_path = path.with_extension("png");
        let bytes = crate::figures::png::svg_to_png(svg, 2.0)
            .map_err(|e| format!("{}: {e}", png_path.display()))?;
        write_atomic(&png_path, &bytes).map_err(|e| format!("{}: {e}", png_path.display()))?;
        Ok(vec![path.to_path_buf(), png_path])
    }
    #[cfg(not(feature = "png"))]
    Err("this build has no PNG support: rebuild with the `png` feature (on by default)".into())
}

fn write_figures(
    figures: &[DocFigure],
    out: &Path,
    options: &FigureOptions,
    png: bool,
) -> Result<Vec<PathBuf>, String> {
    let mut written = Vec::new();
    for fig in figures {
        let pages = fig
            .render(options)
            .map_err(|e| format!("{}: {e}", fig.title))?;
        let base = if figures.len() > 1 {
            suffixed(out, &file_safe(&fig.docid))
        } else {
            out.to_path_buf()
        };
        for (i, page) in pages.iter().enumerate() {
            let path = if pages.len() > 1 {
                suffixed(&base, &format!("p{}", i + 1))
            } else {
                base.clone()
            };
            written.extend(write_figure(&path, page, png)?);
        }
    }
    Ok(written)
}

fn fail(message: String, code: u8) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(code)
}

/// `rationale render` and `rationale render curves`.
pub(crate) fn render(args: RenderArgs) -> ExitCode {
    match args.curves {
        Some(RenderCommand::Curves(c)) => curves(c),
        Some(RenderCommand::Sequential(a)) => match sequential(&a) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(e, exit::UNUSABLE),
        },
        None => heatmaps(args.heatmap),
    }
}

fn heatmaps(args: HeatmapArgs) -> ExitCode {
    let loaded = match load(&args.sources) {
        Ok(l) => l,
        Err(e) => return fail(e, exit::UNUSABLE),
    };
    let options = FigureOptions {
        context: args.context,
        signed: args.signed,
        width: Some(args.width),
        page_lines: args.page_lines,
        per_row: args.per_row,
    };
    if let (Some(id), Some(out)) = (&args.id, &args.out) {
        let annotation = match loaded.annotation(id, &args.sources) {
            Ok(a) => a,
            Err(e) => return fail(e, exit::PROBLEMS),
        };
        return match figures_for(&loaded, annotation)
            .and_then(|f| write_figures(&f, out, &options, args.png))
        {
            Ok(paths) => {
                paths.iter().for_each(|p| println!("{}", p.display()));
                ExitCode::SUCCESS
            }
            Err(e) => fail(e, exit::PROBLEMS),
        };
    }
    let out_dir = args.out_dir.expect("clap requires --out-dir with --all");
    if let Err(e) = std::fs::create_dir_all(&out_dir) {
        return fail(format!("{}: {e}", out_dir.display()), exit::UNUSABLE);
    }
    let bar = ProgressBar::new(loaded.annotations.len() as u64).with_style(
        ProgressStyle::with_template("{spinner} rendering {pos}/{len} {wide_bar} {eta}")
            .expect("valid template"),
    );
    let errors: Vec<String> = loaded
        .annotations
        .par_iter()
        .filter_map(|a| {
            let out = out_dir.join(format!("{}.svg", file_safe(&a.annotation_id.as_text())));
            let result =
                figures_for(&loaded, a).and_then(|f| write_figures(&f, &out, &options, args.png));
            bar.inc(1);
            result.err()
        })
        .collect();
    bar.finish_and_clear();
    for e in &errors {
        eprintln!("error: {e}");
    }
    println!(
        "{} figure set(s) in {}, {} error(s)",
        loaded.annotations.len() - errors.len(),
        out_dir.display(),
        errors.len()
    );
    if errors.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(exit::PROBLEMS)
    }
}

fn curves(args: CurveArgs) -> ExitCode {
    if let Err(e) = std::fs::create_dir_all(&args.out_dir) {
        return fail(format!("{}: {e}", args.out_dir.display()), exit::UNUSABLE);
    }
    let options = ScoreOptions {
        aopc_thresholds: args.aopc_thresholds.clone(),
        ..ScoreOptions::default()
    };
    // (method, thresholds, comprehensiveness points, sufficiency points)
    type Series = (String, Vec<f64>, Vec<f64>, Vec<f64>);
    let mut series: Vec<Series> = Vec::new();
    for (label, path) in args.sources.methods() {
        let eval = match evaluate(
            args.sources.data_dir(),
            args.sources.split(),
            path,
            &options,
            &mut |_| {},
        ) {
            Ok(e) => e,
            Err(e) => return fail(e.to_string(), exit::UNUSABLE),
        };
        let aopc = eval
            .scores
            .as_ref()
            .and_then(|s| s.classification_scores.as_ref())
            .and_then(|c| c.aopc.clone());
        let Some(aopc) = aopc else {
            let why = eval
                .problems
                .iter()
                .find(|p| p.is_error())
                .map(|p| p.display_with(&path.display().to_string()).to_string());
            return fail(
                why.unwrap_or_else(|| {
                    format!(
                        "{}: no thresholded_scores, so no AOPC curve (run `rationale validate`)",
                        path.display()
                    )
                }),
                exit::PROBLEMS,
            );
        };
        let mut x = aopc.thresholds.clone();
        x.sort_by(f64::total_cmp);
        series.push((
            label,
            x,
            aopc.comprehensiveness_points,
            aopc.sufficiency_points,
        ));
    }
    let mut written = Vec::new();
    for (name, metric, pick) in [
        (
            "aopc_comprehensiveness.svg",
            "comprehensiveness (drop in p of predicted class)",
            2usize,
        ),
        (
            "aopc_sufficiency.svg",
            "sufficiency (drop in p of predicted class)",
            3,
        ),
    ] {
        let curves: Vec<rationale_viz::Curve> = series
            .iter()
            .map(|s| rationale_viz::Curve {
                label: &s.0,
                x: &s.1,
                y: if pick == 2 { &s.2 } else { &s.3 },
            })
            .collect();
        let title = format!("AOPC: {}", metric.split(' ').next().unwrap_or(metric));
        let mut opts = rationale_viz::CurveOptions::aopc(&title, metric);
        if pick == 3 {
            opts.x_label = "fraction of tokens kept".into();
        }
        match rationale_viz::aopc_curves(&curves, &opts) {
            Ok(svg) => match write_figure(&args.out_dir.join(name), &svg, args.png) {
                Ok(paths) => written.extend(paths),
                Err(e) => return fail(e, exit::UNUSABLE),
            },
            Err(e) => return fail(e.to_string(), exit::PROBLEMS),
        }
    }
    if let Some(id) = &args.id {
        let loaded = match load(&args.sources) {
            Ok(l) => l,
            Err(e) => return fail(e, exit::UNUSABLE),
        };
        let annotation = match loaded.annotation(id, &args.sources) {
            Ok(a) => a,
            Err(e) => return fail(e, exit::PROBLEMS),
        };
        let figures = match figures_for(&loaded, annotation) {
            Ok(f) => f,
            Err(e) => return fail(e, exit::PROBLEMS),
        };
        for fig in &figures {
            let path = args.out_dir.join(format!(
                "pr_{}_{}.svg",
                file_safe(id),
                file_safe(&fig.docid)
            ));
            match pr_figure(fig) {
                Ok(svg) => match write_figure(&path, &svg, args.png) {
                    Ok(paths) => written.extend(paths),
                    Err(e) => return fail(e, exit::UNUSABLE),
                },
                Err(e) => eprintln!("warning: {e}"),
            }
        }
    }
    written.iter().for_each(|p| println!("{}", p.display()));
    ExitCode::SUCCESS
}

/// Draws one token's greedy rationale from `rationale greedy --text` output.
fn sequential(a: &SequentialArgs) -> Result<(), String> {
    let at = |what: &str| format!("{}: {what}", a.greedy.display());
    let text = std::fs::read_to_string(&a.greedy).map_err(|e| at(&e.to_string()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|e| at(&format!("not JSON: {e}")))?;
    let tokens: Vec<String> = serde_json::from_value(v["tokens"].clone()).map_err(|_| {
        at("no \"tokens\" list; expected the output of `rationale greedy --text ... -o FILE`")
    })?;
    let rats = v["rationales"]
        .as_array()
        .ok_or_else(|| at("no \"rationales\" list"))?;
    let position = |r: &serde_json::Value| r["target_position"].as_u64().map(|p| p as usize);
    let r = match a.target {
        Some(t) => rats
            .iter()
            .find(|r| position(r) == Some(t))
            .ok_or_else(|| {
                let known: Vec<usize> = rats.iter().filter_map(position).collect();
                at(&format!(
                    "no rationale for position {t}; the file has {known:?}"
                ))
            })?,
        None => rats
            .last()
            .ok_or_else(|| at("the file has no rationales"))?,
    };
    let target = position(r).ok_or_else(|| at("a rationale has no target_position"))?;
    let order: Vec<usize> = serde_json::from_value(r["order"].clone())
        .map_err(|_| at("a rationale has no \"order\" list"))?;
    if target >= tokens.len() || order.iter().any(|&p| p >= target) {
        return Err(at("positions outside the context"));
    }
    draw_sequential(&a.out, &tokens, target, &order)
}

/// Writes the sequential-rationale SVG of `target` with the rationale added in `order`.
pub(super) fn draw_sequential(
    path: &Path,
    tokens: &[String],
    target: usize,
    order: &[usize],
) -> Result<(), String> {
    let svg = rationale_viz::SequentialRationale::new(tokens, target, order)
        .render()
        .map_err(|e| e.to_string())?;
    write_atomic(path, svg.as_bytes()).map_err(|e| format!("{}: {e}", path.display()))
}
