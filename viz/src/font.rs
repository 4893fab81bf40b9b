//! The bundled font (DejaVu Sans) and text measurement.
//!
//! Widths are the sum of the glyphs' advance widths plus the font's pair kerning, which is what
//! FreeType/HarfBuzz-based SVG viewers lay out for Latin text, so a token's box fits its glyphs.

use std::sync::OnceLock;

use ab_glyph::{Font, FontRef, GlyphId};

/// The bytes of `DejaVuSans.ttf` (Bitstream Vera license, see `assets/README.md`).
pub const FONT_BYTES: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");

/// The font family name the SVGs ask for (with generic fallbacks after it).
pub const FONT_FAMILY: &str = "DejaVu Sans";

/// The `font-family` attribute written on every figure.
pub(crate) const FONT_FAMILY_ATTR: &str =
    "'DejaVu Sans', 'Bitstream Vera Sans', Arial, Helvetica, sans-serif";

fn font() -> &'static FontRef<'static> {
    static FONT: OnceLock<FontRef<'static>> = OnceLock::new();
    FONT.get_or_init(|| {
        // The bytes are compiled in and known to parse; a failure here is a build defect.
        FontRef::try_from_slice(FONT_BYTES).expect("bundled DejaVu Sans parses")
    })
}

fn units_per_em() -> f64 {
    f64::from(font().units_per_em().unwrap_or(2048.0))
}

/// Ascent above the baseline, in em (0.928 for DejaVu Sans).
pub fn ascent_em() -> f64 {
    f64::from(font().ascent_unscaled()) / units_per_em()
}

/// Descent below the baseline, in em, as a positive number (0.236 for DejaVu Sans).
pub fn descent_em() -> f64 {
    -f64::from(font().descent_unscaled()) / units_per_em()
}

/// Width in em of a character the font lacks (the viewer draws it from a fallback font).
fn fallback_em(c: char) -> f64 {
    let u = c as u32;
    if is_zero_width(c) {
        0.0
    } else if (0x1F000..=0x1FAFF).contains(&u) || (0x2600..=0x27BF).contains(&u) {
        1.25 // colour emoji fonts advance ~1.245 em
    } else {
        1.0 // CJK and other wide scripts; generous for the rest so text fits its box
    }
}

/// Combining marks, joiners, bidi controls and variation selectors take no room of their own.
fn is_zero_width(c: char) -> bool {
    matches!(c as u32,
        0x0300..=0x036F | 0x0483..=0x0489 | 0x0591..=0x05BD | 0x0610..=0x061A
        | 0x064B..=0x065F | 0x0E31 | 0x0E34..=0x0E3A | 0x0E47..=0x0E4E
        | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x200B..=0x200F | 0x202A..=0x202E
        | 0x2060..=0x2069 | 0x20D0..=0x20FF | 0xFE00..=0xFE0F | 0xFE20..=0xFE2F
        | 0xFEFF | 0x1F3FB..=0x1F3FF | 0xE0000..=0xE01EF)
}

/// Width in pixels of `text` set in DejaVu Sans at `font_size` pixels per em.
///
/// Advance widths plus pair kerning; characters missing from the font get a fallback width
/// (1 em, 1.25 em for emoji, 0 for combining marks and format controls).
pub fn text_width(text: &str, font_size: f64) -> f64 {
    let f = font();
    let mut units = 0.0;
    let mut ems = 0.0;
    let mut prev: Option<GlyphId> = None;
    for c in text.chars() {
        let g = f.glyph_id(c);
        if g.0 == 0 {
            ems += fallback_em(c);
            prev = None;
            continue;
        }
        units += f64::from(f.h_advance_unscaled(g));
        if let Some(p) = prev {
            units += f64::from(f.kern_unscaled(p, g));
        }
        prev = Some(g);
    }
    (units / units_per_em() + ems) * font_size
}

/// Registers the bundled font with plotters under [`FONT_FAMILY`] and `sans-serif`
/// (plotters' `ab_glyph` text measurement fails for unregistered families).
pub(crate) fn register_with_plotters() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        use plotters::style::{register_font, FontStyle};
        for name in [FONT_FAMILY, "sans-serif"] {
            // Cannot fail: the same bytes parse in `font()`.
            let _ = register_font(name, FontStyle::Normal, FONT_BYTES);
            let _ = register_font(name, FontStyle::Bold, FONT_BYTES);
        }
    });
}
