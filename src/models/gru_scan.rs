//! The recurrence of the bidirectional GRU as one fused candle op with a hand-written BPTT
//! backward.
//!
//! Inputs: the input projections of both directions `xp` (B, T, 6H) (PyTorch gate order r, z, n
//! per direction, `b_ih` already added), the recurrent weights with their bias appended as a last
//! row `whb` (2, H+1, 3H), and the mask (B, T). Output: (B, T, 2H), the forward direction's
//! states in the first H columns, the backward direction's in the last H. One step of direction
//! `d` at time `t` (the backward direction walks `t` from T−1 down to 0):
//!
//! ```text
//! gh = h_prev·W_d + b_d            r = σ(xr + gh_r)    z = σ(xz + gh_z)
//! n  = tanh(xn + r ⊙ gh_n)         ĥ = n + z ⊙ (h_prev − n)
//! h  = h_prev + m_t (ĥ − h_prev)   (a padded step, m_t = 0, leaves the state unchanged)
//! ```
//!
//! The two directions are independent, so they run on two threads when candle may use two.
//! Each loops over time in plain Rust on contiguous buffers with one small `gemm` per step, and
//! keeps the gates and states that the backward pass needs.

use super::fast_math::{sigmoid, tanh};
use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor};
use std::sync::{Arc, Mutex};

type CResult<T> = candle_core::Result<T>;

/// The fused recurrence; one instance per forward call (it keeps that call's saved gates).
#[derive(Default)]
pub struct BiGruScan {
    saved: Mutex<Option<Arc<Saved>>>,
}

/// What the backward pass needs from the forward one, per direction.
struct Saved {
    dirs: [DirState; 2],
}

/// One direction's trajectory, in its own step order (step s = time s forward, T−1−s backward).
struct DirState {
    /// States before each step and after the last: (T+1, B, H), the first all zero.
    hist: Vec<f32>,
    /// Gates per step: (T, B, 4H) as r, z, n, gh_n.
    gates: Vec<f32>,
}

/// Sizes of one call.
#[derive(Clone, Copy)]
struct Dims {
    b: usize,
    t: usize,
    h: usize,
}

impl Dims {
    /// The time index of step `s` of direction `d`.
    fn time(&self, d: usize, s: usize) -> usize {
        if d == 0 {
            s
        } else {
            self.t - 1 - s
        }
    }
}

/// A pointer that may cross threads; each thread writes only its own columns.
#[derive(Clone, Copy)]
struct SharedMut(*mut f32);
// SAFETY: the two direction threads write disjoint column ranges (direction d owns columns
// d·H..(d+1)·H of the output and d·3H..(d+1)·3H of the input gradient), and the scope joins
// both before the buffer is read.
unsafe impl Send for SharedMut {}
unsafe impl Sync for SharedMut {}

impl BiGruScan {
    /// A fresh op with nothing saved.
    pub fn new() -> Self {
        Self::default()
    }

    fn forward_all(&self, xp: &[f32], whb: &[f32], mask: &[f32], dims: Dims) -> (Vec<f32>, Saved) {
        let Dims { b, t, h } = dims;
        let mut out = vec![0f32; b * t * 2 * h];
        let ptr = SharedMut(out.as_mut_ptr());
        let w_len = (h + 1) * 3 * h;
        let run = |d: usize| forward_dir(xp, &whb[d * w_len..(d + 1) * w_len], mask, dims, d, ptr);
        let dirs = both(run);
        (out, Saved { dirs })
    }
}

/// Runs `f(0)` and `f(1)` on two threads when candle may use more than one, else in turn.
fn both<R: Send>(f: impl Fn(usize) -> R + Sync) -> [R; 2] {
    if candle_core::utils::get_num_threads() > 1 {
        std::thread::scope(|s| {
            let other = s.spawn(|| f(1));
            let first = f(0);
            [first, other.join().expect("GRU direction thread panicked")]
        })
    } else {
        [f(0), f(1)]
    }
}

/// `dst (m×n) += lhs (m×k) · rhs (k×n)` with explicit row/column strides, single-threaded.
#[allow(clippy::too_many_arguments)]
fn gemm_acc(
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    (dst_rs, dst_cs): (usize, usize),
    lhs: &[f32],
    (lhs_rs, lhs_cs): (usize, usize),
    rhs: &[f32],
    (rhs_rs, rhs_cs): (usize, usize),
) {
    if m == 0 || n == 0 || k == 0 {
        return;
    }
    let last = |rs: usize, cs: usize, rows: usize, cols: usize| (rows - 1) * rs + (cols - 1) * cs;
    assert!(
        last(dst_rs, dst_cs, m, n) < dst.len(),
        "gemm dst out of bounds"
    );
    assert!(
        last(lhs_rs, lhs_cs, m, k) < lhs.len(),
        "gemm lhs out of bounds"
    );
    assert!(
        last(rhs_rs, rhs_cs, k, n) < rhs.len(),
        "gemm rhs out of bounds"
    );
    // SAFETY: the asserts above keep every index the strides reach inside the slices.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst.as_mut_ptr(),
            dst_cs as isize,
            dst_rs as isize,
            true,
            lhs.as_ptr(),
            lhs_cs as isize,
            lhs_rs as isize,
            rhs.as_ptr(),
            rhs_cs as isize,
            rhs_rs as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            gemm::Parallelism::None,
        )
    }
}

/// One direction's forward scan; writes its states into the output columns d·H..(d+1)·H.
fn forward_dir(
    xp: &[f32],
    wb: &[f32],
    mask: &[f32],
    dims: Dims,
    d: usize,
    out: SharedMut,
) -> DirState {
    let Dims { b, t, h } = dims;
    let (g3, g4) = (3 * h, 4 * h);
    let (w, bias) = wb.split_at(h * g3);
    let mut hist = vec![0f32; (t + 1) * b * h];
    let mut gates = vec![0f32; t * b * g4];
    let mut gh = vec![0f32; b * g3];
    for s in 0..t {
        let ti = dims.time(d, s);
        for row in gh.chunks_exact_mut(g3) {
            row.copy_from_slice(bias);
        }
        let (done, next) = hist.split_at_mut((s + 1) * b * h);
        let prev = &done[s * b * h..];
        gemm_acc((b, g3, h), &mut gh, (g3, 1), prev, (h, 1), w, (g3, 1));
        let gate_s = &mut gates[s * b * g4..(s + 1) * b * g4];
        for bi in 0..b {
            let m = mask[bi * t + ti];
            let x = &xp[(bi * t + ti) * 2 * g3 + d * g3..][..g3];
            let ghb = &gh[bi * g3..(bi + 1) * g3];
            let hp = &prev[bi * h..(bi + 1) * h];
            let hn = &mut next[bi * h..(bi + 1) * h];
            let (gr, gs) = gate_s[bi * g4..(bi + 1) * g4].split_at_mut(h);
            let (gz, gs) = gs.split_at_mut(h);
            let (gn, gg) = gs.split_at_mut(h);
            gate_forward(x, ghb, hp, m, hn, gr, gz, gn, gg);
            let dst = (bi * t + ti) * 2 * h + d * h;
            // SAFETY: `dst..dst + h` lies in this direction's columns of a (B, T, 2H) buffer.
            unsafe { std::ptr::copy_nonoverlapping(hn.as_ptr(), out.0.add(dst), h) };
        }
    }
    DirState { hist, gates }
}

/// One step's gates for one sequence: reads the projections `x` (3H), `gh` = h_prev·W + b
/// (3H) and `hp` = h_prev (H); writes the new state and r, z, n, gh_n (H each). Every output is
/// its own `&mut` argument, so the compiler knows they do not alias and vectorizes the loop.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn gate_forward(
    x: &[f32],
    gh: &[f32],
    hp: &[f32],
    m: f32,
    hn: &mut [f32],
    gr: &mut [f32],
    gz: &mut [f32],
    gn: &mut [f32],
    gg: &mut [f32],
) {
    let h = hp.len();
    let (xr, xz, xn) = (&x[..h], &x[h..2 * h], &x[2 * h..3 * h]);
    let (ghr, ghz, ghn) = (&gh[..h], &gh[h..2 * h], &gh[2 * h..3 * h]);
    let (hn, gr, gz, gn, gg) = (
        &mut hn[..h],
        &mut gr[..h],
        &mut gz[..h],
        &mut gn[..h],
        &mut gg[..h],
    );
    for j in 0..h {
        let r = sigmoid(xr[j] + ghr[j]);
        let z = sigmoid(xz[j] + ghz[j]);
        let n = tanh(xn[j] + r * ghn[j]);
        let cand = n + z * (hp[j] - n);
        hn[j] = hp[j] + m * (cand - hp[j]);
        gr[j] = r;
        gz[j] = z;
        gn[j] = n;
        gg[j] = ghn[j];
    }
}

/// The slices one backward step reads: gates r, z, n, gh_n (4H), h_prev, the carried state
/// gradient and the output gradient (H each), and the mask value.
type StepInputs<'a> = (&'a [f32], &'a [f32], &'a [f32], &'a [f32], f32);
/// Three H-long output slices, one per gate.
type GateSlices<'a> = (&'a mut [f32], &'a mut [f32], &'a mut [f32]);

/// One step's BPTT for one sequence: writes dL/dh_prev before the recurrent matmul's share,
/// the gradient of gh (r, z, n parts), of the input projections, and the mask terms per unit.
#[inline(never)]
fn gate_backward(
    (gs, hp, dhb, go, m): StepInputs<'_>,
    dpb: &mut [f32],
    (dgr, dgz, dgn): GateSlices<'_>,
    (dxr, dxz, dxn): GateSlices<'_>,
    dmj: &mut [f32],
) {
    let h = hp.len();
    let (gr, gz, gn, gg) = (
        &gs[..h],
        &gs[h..2 * h],
        &gs[2 * h..3 * h],
        &gs[3 * h..4 * h],
    );
    let (dhb, go, dpb, dmj) = (&dhb[..h], &go[..h], &mut dpb[..h], &mut dmj[..h]);
    let (dgr, dgz, dgn) = (&mut dgr[..h], &mut dgz[..h], &mut dgn[..h]);
    let (dxr, dxz, dxn) = (&mut dxr[..h], &mut dxz[..h], &mut dxn[..h]);
    for j in 0..h {
        let (r, z, n) = (gr[j], gz[j], gn[j]);
        let dhv = dhb[j] + go[j];
        let cand = n + z * (hp[j] - n);
        dmj[j] = dhv * (cand - hp[j]);
        let dc = m * dhv;
        let dn = dc * (1.0 - z);
        let dz = dc * (hp[j] - n);
        let dan = dn * (1.0 - n * n);
        let dar = dan * gg[j] * r * (1.0 - r);
        let daz = dz * z * (1.0 - z);
        dpb[j] = (1.0 - m) * dhv + dc * z;
        dgr[j] = dar;
        dgz[j] = daz;
        dgn[j] = dan * r;
        dxr[j] = dar;
        dxz[j] = daz;
        dxn[j] = dan;
    }
}

/// Gradients of one direction: its weights and bias (H+1, 3H) and its share of the mask's (B, T).
struct DirGrads {
    whb: Vec<f32>,
    mask: Vec<f32>,
}

/// One direction's backward scan; writes the input-projection gradient columns d·3H..(d+1)·3H.
#[allow(clippy::too_many_arguments)]
fn backward_dir(
    st: &DirState,
    wb: &[f32],
    mask: &[f32],
    grad_out: &[f32],
    dims: Dims,
    d: usize,
    dxp: SharedMut,
) -> DirGrads {
    let Dims { b, t, h } = dims;
    let (g3, g4) = (3 * h, 4 * h);
    let w = &wb[..h * g3];
    let mut dgh = vec![0f32; t * b * g3];
    let mut dmask = vec![0f32; b * t];
    let mut dh = vec![0f32; b * h];
    let mut dh_prev = vec![0f32; b * h];
    let mut dx = vec![0f32; g3];
    let mut dm_terms = vec![0f32; h];
    for s in (0..t).rev() {
        let ti = dims.time(d, s);
        let prev = &st.hist[s * b * h..(s + 1) * b * h];
        let gate_s = &st.gates[s * b * g4..(s + 1) * b * g4];
        let dgh_s = &mut dgh[s * b * g3..(s + 1) * b * g3];
        for bi in 0..b {
            let m = mask[bi * t + ti];
            let go = &grad_out[(bi * t + ti) * 2 * h + d * h..][..h];
            let hp = &prev[bi * h..(bi + 1) * h];
            let gs = &gate_s[bi * g4..(bi + 1) * g4];
            let dhb = &dh[bi * h..(bi + 1) * h];
            let dpb = &mut dh_prev[bi * h..(bi + 1) * h];
            let (dgr, dg) = dgh_s[bi * g3..(bi + 1) * g3].split_at_mut(h);
            let (dgz, dgn) = dg.split_at_mut(h);
            let (dxr, dx_rest) = dx.split_at_mut(h);
            let (dxz, dxn) = dx_rest.split_at_mut(h);
            let dmj = &mut dm_terms[..h];
            gate_backward(
                (gs, hp, dhb, go, m),
                dpb,
                (dgr, dgz, dgn),
                (dxr, dxz, dxn),
                dmj,
            );
            let dm: f32 = dmj.iter().sum();
            dmask[bi * t + ti] = dm;
            let dst = (bi * t + ti) * 2 * g3 + d * g3;
            // SAFETY: `dst..dst + 3H` lies in this direction's columns of a (B, T, 6H) buffer.
            unsafe { std::ptr::copy_nonoverlapping(dx.as_ptr(), dxp.0.add(dst), g3) };
        }
        // dh_prev += dgh_s · Wᵀ; W is (H, 3H) row-major, so Wᵀ[k][j] = w[j·3H + k].
        gemm_acc((b, h, g3), &mut dh_prev, (h, 1), dgh_s, (g3, 1), w, (1, g3));
        std::mem::swap(&mut dh, &mut dh_prev);
    }
    // dW = Σ_s h_prevᵀ · dgh_s as one (H × TB)·(TB × 3H) product; db = Σ rows of dgh.
    let mut whb = vec![0f32; (h + 1) * g3];
    let (dw, db) = whb.split_at_mut(h * g3);
    gemm_acc((h, g3, t * b), dw, (g3, 1), &st.hist, (1, h), &dgh, (g3, 1));
    for row in dgh.chunks_exact(g3) {
        for (acc, v) in db.iter_mut().zip(row) {
            *acc += v;
        }
    }
    DirGrads { whb, mask: dmask }
}

/// The f32 slice of a contiguous CPU tensor, or an error naming the argument.
fn f32_slice<'a>(s: &'a CpuStorage, l: &Layout, what: &str) -> CResult<&'a [f32]> {
    let data = match s {
        CpuStorage::F32(v) => v.as_slice(),
        other => candle_core::bail!("bigru: {what} must be f32, got {:?}", other.dtype()),
    };
    match l.contiguous_offsets() {
        Some((a, z)) => Ok(&data[a..z]),
        None => candle_core::bail!("bigru: {what} must be contiguous"),
    }
}

/// Checks the shapes of (xp, whb, mask) and returns the sizes.
fn check_dims(xp: &Shape, whb: &Shape, mask: &Shape) -> CResult<Dims> {
    let (b, t, g6) = xp.dims3()?;
    if g6 % 6 != 0 {
        candle_core::bail!("bigru: input projections have {g6} columns, not a multiple of 6");
    }
    let h = g6 / 6;
    if whb.dims() != [2, h + 1, 3 * h] {
        candle_core::bail!(
            "bigru: recurrent weights {whb:?}, expected (2, {}, {})",
            h + 1,
            3 * h
        );
    }
    if mask.dims() != [b, t] {
        candle_core::bail!("bigru: mask {mask:?}, expected ({b}, {t})");
    }
    Ok(Dims { b, t, h })
}

impl CustomOp3 for BiGruScan {
    fn name(&self) -> &'static str {
        "bigru-scan"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> CResult<(CpuStorage, Shape)> {
        let dims = check_dims(l1.shape(), l2.shape(), l3.shape())?;
        let xp = f32_slice(s1, l1, "input projections")?;
        let whb = f32_slice(s2, l2, "recurrent weights")?;
        let mask = f32_slice(s3, l3, "mask")?;
        let (out, saved) = self.forward_all(xp, whb, mask, dims);
        *self.saved.lock().expect("bigru saved state poisoned") = Some(Arc::new(saved));
        Ok((
            CpuStorage::F32(out),
            Shape::from((dims.b, dims.t, 2 * dims.h)),
        ))
    }

    fn bwd(
        &self,
        xp: &Tensor,
        whb: &Tensor,
        mask: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> CResult<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let dims = check_dims(xp.shape(), whb.shape(), mask.shape())?;
        let Dims { b, t, h } = dims;
        let whb_v = whb.flatten_all()?.to_vec1::<f32>()?;
        let mask_v = mask.flatten_all()?.to_vec1::<f32>()?;
        let grad_v = grad_res.flatten_all()?.to_vec1::<f32>()?;
        let saved = self
            .saved
            .lock()
            .expect("bigru saved state poisoned")
            .clone();
        let saved = match saved {
            Some(s) => s,
            None => {
                let xp_v = xp.flatten_all()?.to_vec1::<f32>()?;
                Arc::new(self.forward_all(&xp_v, &whb_v, &mask_v, dims).1)
            }
        };
        let mut dxp = vec![0f32; b * t * 6 * h];
        let ptr = SharedMut(dxp.as_mut_ptr());
        let w_len = (h + 1) * 3 * h;
        let run = |d: usize| {
            let wb = &whb_v[d * w_len..(d + 1) * w_len];
            backward_dir(&saved.dirs[d], wb, &mask_v, &grad_v, dims, d, ptr)
        };
        let [g0, g1] = both(run);
        let dev = xp.device();
        let dmask: Vec<f32> = g0.mask.iter().zip(&g1.mask).map(|(a, c)| a + c).collect();
        let dwhb = [g0.whb, g1.whb].concat();
        Ok((
            Some(Tensor::from_vec(dxp, (b, t, 6 * h), dev)?),
            Some(Tensor::from_vec(dwhb, (2, h + 1, 3 * h), dev)?),
            Some(Tensor::from_vec(dmask, (b, t), dev)?),
        ))
    }
}
