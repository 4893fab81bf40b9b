//! The README's figures, drawn from the bundled data (`cargo run --example gallery`).

use super::{doc_figure, pr_figure, FigureOptions};
use crate::corpus::{DataDir, Prediction};
use crate::eval::{evaluate, ScoreOptions};
use std::path::Path;

/// Gallery figures as (file name, SVG), from the repository root `root`.
pub fn gallery(root: &Path) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let movies = root.join("datasets/movies");
    let human = |which: &str| -> Result<Vec<Prediction>, String> {
        let path = movies.join(format!("movies_{which}_human_perf.jsonl"));
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        text.lines()
            .map(|l| Prediction::parse(l).map_err(|e| e.to_string()))
            .collect()
    };
    let (majority, union) = (human("majority")?, human("union")?);
    let data = DataDir::new(&movies);
    let annotations = data.annotations("test").map_err(|e| e.to_string())?;
    let docs = data.documents().map_err(|e| e.to_string())?;
    let find = |preds: &[Prediction], id: &str| {
        preds
            .iter()
            .find(|p| p.annotation_id.as_text() == id)
            .cloned()
    };
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
            .ok_or(format!("{id} not in Movies test"))?;
        let doc = docs.document(id).map_err(|e| format!("{id}: {e}"))?;
        let (m, u) = (find(&majority, id), find(&union, id));
        let fig = doc_figure(
            ann,
            &doc,
            &[("majority", m.as_ref()), ("union", u.as_ref())],
        );
        let pages = fig.render(&options).map_err(|e| e.to_string())?;
        out.push((
            name.to_string(),
            pages.into_iter().next().unwrap_or_default(),
        ));
    }
    // The reference scorer's fixture carries soft scores, comprehensiveness and AOPC bins.
    let tiny = root.join("tests/fixtures/eraser_tiny");
    let preds_path = tiny.join("preds.jsonl");
    let text = std::fs::read_to_string(&preds_path)
        .map_err(|e| format!("{}: {e}", preds_path.display()))?;
    let preds: Vec<Prediction> = text
        .lines()
        .map(Prediction::parse)
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    let tiny_data = DataDir::new(&tiny);
    let tiny_anns = tiny_data.annotations("test").map_err(|e| e.to_string())?;
    let tiny_docs = tiny_data.documents().map_err(|e| e.to_string())?;
    let a1 = &tiny_anns[0];
    let fig = doc_figure(
        a1,
        &tiny_docs.document("m1").map_err(|e| format!("m1: {e:?}"))?,
        &[("soft scores", Some(&preds[0]))],
    );
    out.push((
        "soft_scores.svg".into(),
        fig.render(&FigureOptions::default())
            .map_err(|e| e.to_string())?
            .remove(0),
    ));
    out.push((
        "precision_recall.svg".into(),
        pr_figure(&fig).map_err(|e| e.to_string())?,
    ));
    let eval = evaluate(
        &tiny,
        "test",
        &preds_path,
        &ScoreOptions::default(),
        &mut |_| {},
    )
    .map_err(|e| e.to_string())?;
    let aopc = eval
        .scores
        .and_then(|s| s.classification_scores)
        .and_then(|c| c.aopc)
        .ok_or("the fixture has AOPC scores")?;
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
        rationale_viz::aopc_curves(&curves, &opts).map_err(|e| e.to_string())?,
    ));
    Ok(out)
}
