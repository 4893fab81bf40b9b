//! Colour scales (ColorBrewer PuOr: colour-blind safe, monotone in lightness on each side) and
//! contrast-aware text colour.

use crate::error::{Result, VizError};

/// An sRGB colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    /// `#rrggbb`.
    pub fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }

    /// WCAG relative luminance in [0, 1].
    pub fn luminance(self) -> f64 {
        fn lin(c: u8) -> f64 {
            let c = f64::from(c) / 255.0;
            if c <= 0.04045 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        }
        0.2126 * lin(self.0) + 0.7152 * lin(self.1) + 0.0722 * lin(self.2)
    }

    /// Black or white, whichever contrasts more with `self` as a background (WCAG ratio).
    pub fn text_color(self) -> Rgb {
        let l = self.luminance();
        if (l + 0.05) / 0.05 >= 1.05 / (l + 0.05) {
            Rgb(0, 0, 0)
        } else {
            Rgb(255, 255, 255)
        }
    }
}

/// ColorBrewer PuOr (11 classes), from purple (−1) through near-white (0) to brown-orange (+1).
const PUOR: [Rgb; 11] = [
    Rgb(0x2d, 0x00, 0x4b),
    Rgb(0x54, 0x27, 0x88),
    Rgb(0x80, 0x73, 0xac),
    Rgb(0xb2, 0xab, 0xd2),
    Rgb(0xd8, 0xda, 0xeb),
    Rgb(0xf7, 0xf7, 0xf7),
    Rgb(0xfe, 0xe0, 0xb6),
    Rgb(0xfd, 0xb8, 0x63),
    Rgb(0xe0, 0x82, 0x14),
    Rgb(0xb3, 0x58, 0x06),
    Rgb(0x7f, 0x3b, 0x08),
];

/// Piecewise-linear interpolation over evenly spaced stops, `t` in [0, 1].
fn interpolate(stops: &[Rgb], t: f64) -> Rgb {
    let t = t.clamp(0.0, 1.0) * (stops.len() - 1) as f64;
    let i = (t.floor() as usize).min(stops.len() - 2);
    let f = t - i as f64;
    let (a, b) = (stops[i], stops[i + 1]);
    let mix = |x: u8, y: u8| (f64::from(x) + (f64::from(y) - f64::from(x)) * f).round() as u8;
    Rgb(mix(a.0, b.0), mix(a.1, b.1), mix(a.2, b.2))
}

/// How scores map to colours. Values outside the range are clamped to its ends.
///
/// Both scales share one convention: near-white means "nothing", orange-brown means "supports
/// the prediction", so a sequential and a diverging figure never contradict each other.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scale {
    /// Unsigned scores: `min` is near-white, `max` dark brown-orange (the PuOr orange half).
    Sequential {
        /// Score drawn near-white.
        min: f64,
        /// Score drawn darkest.
        max: f64,
    },
    /// Signed scores centred on 0: `-limit` dark purple, 0 near-white, `+limit` dark orange.
    Diverging {
        /// Magnitude drawn darkest on either side.
        limit: f64,
    },
}

impl Scale {
    /// The unsigned scale for scores in [0, 1].
    pub const UNIT: Scale = Scale::Sequential { min: 0.0, max: 1.0 };

    /// Picks a scale shared by all `rows`: diverging with `limit = max |score|` when any score is
    /// negative, otherwise sequential over `[0, max(1, max score)]`. Non-finite values are ignored.
    pub fn auto<R: AsRef<[f64]>>(rows: &[R]) -> Scale {
        let all = || rows.iter().flat_map(|r| r.as_ref().iter().copied());
        let finite = |v: &f64| v.is_finite();
        if all().filter(finite).any(|v| v < 0.0) {
            let limit = all().filter(finite).fold(0.0_f64, |m, v| m.max(v.abs()));
            Scale::Diverging { limit }
        } else {
            let max = all().filter(finite).fold(1.0_f64, f64::max);
            Scale::Sequential { min: 0.0, max }
        }
    }

    /// A diverging scale over all `rows` with `limit = max |score|` (1 when every score is 0),
    /// for signed attributions even when none happens to be negative.
    pub fn symmetric<R: AsRef<[f64]>>(rows: &[R]) -> Scale {
        let limit = rows
            .iter()
            .flat_map(|r| r.as_ref().iter().copied())
            .filter(|v| v.is_finite())
            .fold(0.0_f64, |m, v| m.max(v.abs()));
        Scale::Diverging {
            limit: if limit > 0.0 { limit } else { 1.0 },
        }
    }

    /// Checks the parameters are finite and the range is not empty.
    pub fn validate(&self) -> Result<()> {
        let bad = |reason: String| {
            Err(VizError::InvalidOption {
                name: "scale",
                reason,
            })
        };
        match *self {
            Scale::Sequential { min, max }
                if !(min.is_finite() && max.is_finite() && min < max) =>
            {
                bad(format!(
                    "sequential range [{min}, {max}] must be finite with min < max"
                ))
            }
            Scale::Diverging { limit } if !(limit.is_finite() && limit > 0.0) => {
                bad(format!("diverging limit {limit} must be finite and > 0"))
            }
            _ => Ok(()),
        }
    }

    /// Position of `value` along the colour bar, in [0, 1].
    pub fn position(&self, value: f64) -> f64 {
        let t = match *self {
            Scale::Sequential { min, max } => (value - min) / (max - min),
            Scale::Diverging { limit } => 0.5 + 0.5 * value / limit,
        };
        if t.is_nan() {
            0.0
        } else {
            t.clamp(0.0, 1.0)
        }
    }

    /// The colour of `value`.
    pub fn color(&self, value: f64) -> Rgb {
        interpolate(self.stops(), self.position(value))
    }

    /// The evenly spaced colour stops the scale interpolates.
    pub(crate) fn stops(&self) -> &'static [Rgb] {
        match self {
            Scale::Sequential { .. } => &PUOR[5..],
            Scale::Diverging { .. } => &PUOR,
        }
    }

    /// The range drawn on the colour bar: `(low, high)`.
    pub fn range(&self) -> (f64, f64) {
        match *self {
            Scale::Sequential { min, max } => (min, max),
            Scale::Diverging { limit } => (-limit, limit),
        }
    }
}

/// Series colours for curves: Okabe–Ito, distinguishable with colour-vision deficiencies.
pub(crate) const SERIES: [Rgb; 7] = [
    Rgb(0x00, 0x72, 0xb2), // blue
    Rgb(0xd5, 0x5e, 0x00), // vermillion
    Rgb(0x00, 0x9e, 0x73), // bluish green
    Rgb(0xcc, 0x79, 0xa7), // reddish purple
    Rgb(0xe6, 0x9f, 0x00), // orange
    Rgb(0x56, 0xb4, 0xe9), // sky blue
    Rgb(0x00, 0x00, 0x00), // black
];
