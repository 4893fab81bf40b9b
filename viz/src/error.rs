//! The crate's error type.

use thiserror::Error;

/// Everything that can go wrong while drawing a figure. Rendering never panics on bad input.
#[derive(Debug, Clone, PartialEq, Error)]
pub enum VizError {
    /// A score or coordinate is NaN or infinite.
    #[error("{what}: value at index {index} is {value}, not a finite number")]
    NonFinite {
        /// Which input holds the value, e.g. `scores of row "IG"` or `curve "LIME" y`.
        what: String,
        /// Position of the value within that input.
        index: usize,
        /// The offending value.
        value: f64,
    },
    /// Two inputs that must be parallel have different lengths.
    #[error("{what}: expected {expected} values (one per token or point), got {got}")]
    LengthMismatch {
        /// Which input is too short or too long.
        what: String,
        /// The length it must have.
        expected: usize,
        /// The length it has.
        got: usize,
    },
    /// A token index points outside the document.
    #[error("{what}: index {index} is out of range for {len} tokens")]
    IndexOutOfRange {
        /// Which input holds the index.
        what: String,
        /// The index given.
        index: usize,
        /// Number of tokens.
        len: usize,
    },
    /// An option or argument has a value the figure cannot use.
    #[error("invalid {name}: {reason}")]
    InvalidOption {
        /// The option's name.
        name: &'static str,
        /// Why it is rejected.
        reason: String,
    },
    /// There is nothing to draw (e.g. a curve figure without a point).
    #[error("nothing to draw: {0}")]
    Empty(String),
    /// The plotting backend failed (curves).
    #[error("plotting failed: {0}")]
    Plot(String),
}

/// Result alias for this crate.
pub type Result<T> = std::result::Result<T, VizError>;

/// Checks that every value is finite.
pub(crate) fn check_finite(what: impl Fn() -> String, values: &[f64]) -> Result<()> {
    match values.iter().position(|v| !v.is_finite()) {
        Some(index) => Err(VizError::NonFinite {
            what: what(),
            index,
            value: values[index],
        }),
        None => Ok(()),
    }
}

/// Checks that `got == expected`.
pub(crate) fn check_len(what: impl Fn() -> String, expected: usize, got: usize) -> Result<()> {
    if expected == got {
        Ok(())
    } else {
        Err(VizError::LengthMismatch {
            what: what(),
            expected,
            got,
        })
    }
}
