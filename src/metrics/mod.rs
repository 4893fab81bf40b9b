//! The ERASER metrics as pure functions, each computed exactly as the reference scorer does.

pub mod bias;
pub mod classification;
pub mod faithfulness;
pub(crate) mod numeric;
pub mod ranking;
pub mod spans;
