//! SVG figures for rationales: token heatmaps, human-vs-model comparisons, sequential
//! (greedy) rationales and metric curves.
//!
//! Inputs are plain: tokens as strings, one `f64` score per token, gold and predicted rationales
//! as one `bool` per token. Outputs are standalone SVG strings, identical bytes for identical
//! input, with every token XML-escaped. Bad input (NaN/inf, length mismatches) is a
//! [`VizError`], never a panic. Text widths come from the bundled DejaVu Sans, so boxes fit.

#![warn(missing_docs)]

mod color;
mod curves;
mod error;
mod font;
mod heatmap;
mod layout;
mod marks;
mod sequential;
mod svg;

pub use color::{Rgb, Scale};
pub use curves::{aopc_curves, precision_recall_curves, Curve, CurveOptions};
pub use error::{Result, VizError};
pub use font::{text_width, FONT_BYTES, FONT_FAMILY};
pub use heatmap::{context_windows, Heatmap, HeatmapOptions};
pub use sequential::SequentialRationale;
pub use svg::{clean_text, escape};
