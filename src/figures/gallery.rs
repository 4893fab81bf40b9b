//! The README's figures, drawn from the bundled data (`cargo run --example gallery`).

use super::{doc_figure, pr_figure, FigureError, FigureOptions};
use crate::corpus::{read_results, DataDir};
use crate::eval::{evaluate, ScoreOptions};
use std::path::Path;

/// Gallery figures as (file name, SVG), from the repository root `root`.
pub fn gallery(root: &Path) -> Result<Vec<(String, String)>, FigureError> {
    let mut out = Vec::new();
    let movies = root.join("datasets/movies");
    let human =
        |which: &str| read_results(&movies.join(format!("movies_{which}_human_perf.jsonl")));
    let (majority, union) = (human("majority")?, human("union")?);
    let data = DataDir::new(&movies);
    let annotations = data.annotations("test")?;
    let docs = data.documents()?;
    for (id, name, options) in [
        (
            "negR_904.txt",
            "movies_human_vs_gold.svg",
            FigureOptions {
                context: Some(4),
                ..FigureOptions::default()
            },
        ),
        (
            "posR_901.txt",
            "movies_whole_document.svg",
            FigureOptions {
                page_lines: Some(14),
                ..FigureOptions::default()
            },
        ),
    ] {
        let ann = annotations
            .iter()
            .find(|a| a.annotation_id.as_text() == id)
            .ok_or_else(|| FigureError::Missing(format!("{id} not in Movies test")))?;
        let doc = docs
            .document(id)
            .map_err(|e| FigureError::Missing(format!("{id}: {e}")))?;
        let fig = doc_figure(
            ann,
            &doc,
            &[("majority", majority.get(id)), ("union", union.get(id))],
        );
        let pages = fig.render(&options)?;
        out.push((
            name.to_string(),
            pages.into_iter().next().unwrap_or_default(),
        ));
    }
    // The reference scorer's fixture carries soft scores, comprehensiveness and AOPC bins.
    let tiny = root.join("tests/fixtures/eraser_tiny");
    let preds_path = tiny.join("preds.jsonl");
    let preds = read_results(&preds_path)?;
    let tiny_data = DataDir::new(&tiny);
    let tiny_anns = tiny_data.annotations("test")?;
    let tiny_docs = tiny_data.documents()?;
    let a1 = &tiny_anns[0];
    let fig = doc_figure(
        a1,
        &tiny_docs
            .document("m1")
            .map_err(|e| FigureError::Missing(format!("m1: {e:?}")))?,
        &[("soft scores", preds.get(&a1.annotation_id.as_text()))],
    );
    out.push((
        "soft_scores.svg".into(),
        fig.render(&FigureOptions::default())?.remove(0),
    ));
    out.push(("precision_recall.svg".into(), pr_figure(&fig)?));
    let eval = evaluate(
        &tiny,
        "test",
        &preds_path,
        &ScoreOptions::default(),
        &mut |_| {},
    )?;
    let aopc = eval
        .scores
        .and_then(|s| s.classification_scores)
        .and_then(|c| c.aopc)
        .ok_or_else(|| FigureError::Missing("the fixture has no AOPC scores".into()))?;
    let curves = [
        rationale_viz::Curve {
            label: "comprehensiveness",
            x: &aopc.thresholds,
            y: &aopc.comprehensiveness_points,
        },
        rationale_viz::Curve {
            label: "sufficiency",
            x: &aopc.thresholds,
            y: &aopc.sufficiency_points,
        },
    ];
    let mut opts = rationale_viz::CurveOptions::aopc(
        "AOPC per bin (reference fixture)",
        "drop in p(predicted class)",
    );
    opts.x_label =
        "fraction of top tokens removed (comprehensiveness) or kept (sufficiency)".into();
    out.push((
        "aopc.svg".into(),
        rationale_viz::aopc_curves(&curves, &opts)?,
    ));
    Ok(out)
}
