//! SVG → PNG with resvg (pure Rust), text set in the bundled DejaVu Sans.

use super::FigureError;
use resvg::{tiny_skia, usvg};

/// Rasterises an SVG figure at `scale` × its size on a white background.
pub fn svg_to_png(svg: &str, scale: f32) -> Result<Vec<u8>, FigureError> {
    let mut options = usvg::Options {
        font_family: rationale_viz::FONT_FAMILY.to_string(),
        ..usvg::Options::default()
    };
    options
        .fontdb_mut()
        .load_font_data(rationale_viz::FONT_BYTES.to_vec());
    let tree = usvg::Tree::from_str(svg, &options)
        .map_err(|e| FigureError::Png(format!("SVG not readable: {e}")))?;
    let size = tree
        .size()
        .to_int_size()
        .scale_by(scale)
        .ok_or_else(|| FigureError::Png(format!("cannot scale the figure by {scale}")))?;
    let mut pixmap = tiny_skia::Pixmap::new(size.width(), size.height()).ok_or_else(|| {
        FigureError::Png(format!(
            "figure of {}×{} px is too large to rasterise",
            size.width(),
            size.height()
        ))
    })?;
    pixmap.fill(tiny_skia::Color::WHITE);
    resvg::render(
        &tree,
        tiny_skia::Transform::from_scale(scale, scale),
        &mut pixmap.as_mut(),
    );
    pixmap
        .encode_png()
        .map_err(|e| FigureError::Png(e.to_string()))
}
