//! `index.html`: the job's results on one page — the comparison table with what each column
//! means, the stage timings, and every figure, linked relative to the output folder.

use super::table::MethodRow;
use std::fmt::Write;
use std::path::Path;

/// The table's columns: header, which direction is better, what it measures.
const COLUMNS: [(&str, &str, &str); 9] = [
    ("method", "", "the rationalizer (`select`) or a post-hoc method explaining the classifier"),
    (
        "Perf",
        "↑",
        "macro-F1 of the predicted labels: the classifier's for post-hoc methods, the label \
         predicted from the rationale alone for `select`",
    ),
    (
        "IOU F1",
        "↑",
        "F1 of predicted spans that overlap a human span with intersection-over-union ≥ 0.5",
    ),
    ("Token F1", "↑", "F1 of the rationale's tokens against the human rationale's tokens"),
    (
        "AUPRC",
        "↑",
        "area under the precision–recall curve of the soft token scores against the human tokens",
    ),
    (
        "Comp",
        "↑",
        "comprehensiveness: drop in the predicted class's probability when the rationale is removed",
    ),
    (
        "Suff",
        "↓",
        "sufficiency: drop in that probability when only the rationale is kept",
    ),
    (
        "AOPC comp",
        "↑",
        "comprehensiveness averaged over rationales of the top 1, 5, 10, 20 and 50 % of tokens",
    ),
    ("AOPC suff", "↓", "sufficiency averaged over the same bins"),
];

/// Escapes text for HTML.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The page. `about` is one paragraph describing the run; `stages` the stage names with their
/// seconds; `files` every file of the output folder (relative), whose SVGs under `figures/`
/// are shown.
pub fn index_html(
    rows: &[MethodRow],
    about: &str,
    stages: &[(String, f64)],
    files: &[&Path],
) -> String {
    let mut h = String::from(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <title>rationale run</title>\n<style>\n\
         body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}\n\
         table{border-collapse:collapse;margin:1em 0}\n\
         th,td{border:1px solid #ccc;padding:4px 10px;text-align:right}\n\
         th:first-child,td:first-child{text-align:left}\n\
         th{background:#f3f3f3}\n\
         td.best{font-weight:bold}\n\
         dl{display:grid;grid-template-columns:max-content auto;gap:2px 12px}\n\
         dt{font-weight:bold}dd{margin:0}\n\
         figure{margin:1.5em 0}figure img{max-width:100%;border:1px solid #eee}\n\
         figcaption{color:#555;font-size:90%}\n\
         </style>\n</head>\n<body>\n<h1>rationale run</h1>\n",
    );
    let _ = writeln!(h, "<p>{}</p>", esc(about));
    h.push_str("<h2>Comparison</h2>\n<table>\n<tr>");
    for (name, dir, _) in COLUMNS {
        let _ = write!(h, "<th>{} {}</th>", esc(name), dir);
    }
    h.push_str("</tr>\n");
    let values = |r: &MethodRow| {
        [
            r.perf,
            r.iou_f1,
            r.token_f1,
            r.auprc,
            r.comprehensiveness,
            r.sufficiency,
            r.aopc_comprehensiveness,
            r.aopc_sufficiency,
        ]
    };
    // The best value of each column (highest, or lowest where lower is better) is bold.
    let best: Vec<Option<f64>> = (0..8)
        .map(|c| {
            let lower = COLUMNS[c + 1].1 == "↓";
            rows.iter()
                .filter_map(|r| values(r)[c])
                .map(|v| if lower { -v } else { v })
                .max_by(f64::total_cmp)
                .map(|v| if lower { -v } else { v })
        })
        .collect();
    for r in rows {
        let _ = write!(h, "<tr><td>{}</td>", esc(&r.method));
        for (c, v) in values(r).into_iter().enumerate() {
            match v {
                Some(x) if Some(x) == best[c] => {
                    let _ = write!(h, "<td class=\"best\">{x:.3}</td>");
                }
                Some(x) => {
                    let _ = write!(h, "<td>{x:.3}</td>");
                }
                None => h.push_str("<td>–</td>"),
            }
        }
        h.push_str("</tr>\n");
    }
    h.push_str(
        "</table>\n<p>Bold: the best value of each column (↑ higher is better, ↓ lower \
                is better).</p>\n<dl>\n",
    );
    for (name, dir, what) in COLUMNS {
        let _ = writeln!(h, "<dt>{} {}</dt><dd>{}</dd>", esc(name), dir, esc(what));
    }
    h.push_str(
        "</dl>\n<p>Comp and Suff are measured on each method's own model (the \
                rationalizer's predictor, the classifier): they compare rationales to their \
                model, not models to each other.</p>\n",
    );
    if !stages.is_empty() {
        h.push_str("<h2>Stages</h2>\n<table>\n<tr><th>stage</th><th>seconds</th></tr>\n");
        for (name, secs) in stages {
            let _ = writeln!(h, "<tr><td>{}</td><td>{secs:.1}</td></tr>", esc(name));
        }
        h.push_str("</table>\n");
    }
    h.push_str("<h2>Figures</h2>\n");
    for f in files
        .iter()
        .filter(|f| f.starts_with("figures") && f.extension().is_some_and(|e| e == "svg"))
    {
        let rel = f.to_string_lossy().replace('\\', "/");
        let name = f
            .file_stem()
            .map(|s| s.to_string_lossy())
            .unwrap_or_default();
        let caption = match name.strip_prefix("heatmap_") {
            Some(id) => format!(
                "{id}: the human rationale (first row) and each method's scores (darker = \
                 higher), its rationale outlined"
            ),
            None => name.replace('_', " "),
        };
        let _ = writeln!(
            h,
            "<figure><img src=\"{0}\" alt=\"{1}\"><figcaption>{1} (<a href=\"{0}\">{0}</a>)</figcaption></figure>",
            esc(&rel),
            esc(&caption)
        );
    }
    h.push_str("<h2>Files</h2>\n<ul>\n");
    for f in files {
        let rel = esc(&f.to_string_lossy().replace('\\', "/"));
        let _ = writeln!(h, "<li><a href=\"{rel}\">{rel}</a></li>");
    }
    h.push_str("</ul>\n</body>\n</html>\n");
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(method: &str, perf: f64, suff: f64) -> MethodRow {
        MethodRow {
            method: method.into(),
            perf: Some(perf),
            iou_f1: None,
            token_f1: Some(0.2),
            auprc: Some(0.3),
            comprehensiveness: Some(0.1),
            sufficiency: Some(suff),
            aopc_comprehensiveness: Some(0.1),
            aopc_sufficiency: Some(suff),
        }
    }

    #[test]
    fn marks_the_best_of_each_column_in_its_direction() {
        let rows = [row("a", 0.9, 0.2), row("b<x>", 0.8, -0.1)];
        let files = [Path::new("figures/heatmap_doc.svg"), Path::new("table.md")];
        let h = index_html(&rows, "about", &[("train".into(), 1.5)], &files);
        assert!(h.contains("<td class=\"best\">0.900</td>"));
        assert!(h.contains("<td>0.800</td>"));
        // lower sufficiency is better: -0.100 is bold, 0.200 is not
        assert!(h.contains("<td class=\"best\">-0.100</td>"));
        assert!(h.contains("<td>0.200</td>"));
        assert!(h.contains("b&lt;x&gt;"));
        assert!(h.contains("<img src=\"figures/heatmap_doc.svg\""));
        assert!(!h.contains("<img src=\"table.md\""));
        assert!(h.contains("<td>–</td>"));
        assert!(h.contains("<td>1.5</td>"));
    }
}
