//! Reading the inputs of a fused candle op ([`candle_core::CustomOp3`]) as f32 slices.

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, Layout, Storage, Tensor};

type CResult<T> = candle_core::Result<T>;

/// The f32 slice of a contiguous CPU tensor, or an error naming the op and the argument.
pub(crate) fn f32_slice<'a>(
    op: &str,
    s: &'a CpuStorage,
    l: &Layout,
    what: &str,
) -> CResult<&'a [f32]> {
    let data = match s {
        CpuStorage::F32(v) => v.as_slice(),
        other => candle_core::bail!("{op}: {what} must be f32, got {:?}", other.dtype()),
    };
    match l.contiguous_offsets() {
        Some((a, z)) => Ok(&data[a..z]),
        None => candle_core::bail!("{op}: {what} must be contiguous"),
    }
}

/// Runs `f` on the f32 values of `t` (made contiguous first if it is not).
pub(crate) fn with_values<R>(
    op: &str,
    t: &Tensor,
    what: &str,
    f: impl FnOnce(&[f32]) -> CResult<R>,
) -> CResult<R> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    match &*storage {
        Storage::Cpu(cpu) => f(f32_slice(op, cpu, layout, what)?),
        _ => candle_core::bail!("{op}: {what} must be on the CPU"),
    }
}
