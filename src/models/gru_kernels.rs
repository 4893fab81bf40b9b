//! The inner loops of the fused GRU op ([`super::gru_scan`]): strided matmuls through the
//! `gemm` crate (the one candle uses) and the per-step gate arithmetic, forward and backward.

use super::fast_math::{sigmoid, tanh};

/// `dst (m×n) += lhs (m×k) · rhs (k×n)` with explicit (row, column) strides, on `threads`
/// threads (rayon's pool; 1: the calling thread only).
#[allow(clippy::too_many_arguments)]
pub(super) fn gemm_acc(
    (m, n, k): (usize, usize, usize),
    dst: &mut [f32],
    (dst_rs, dst_cs): (usize, usize),
    lhs: &[f32],
    (lhs_rs, lhs_cs): (usize, usize),
    rhs: &[f32],
    (rhs_rs, rhs_cs): (usize, usize),
    threads: usize,
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
            if threads > 1 {
                gemm::Parallelism::Rayon(threads)
            } else {
                gemm::Parallelism::None
            },
        )
    }
}

/// One step's gates for one sequence: reads the projections `x` (3H), `gh` = h_prev·W + b
/// (3H) and `hp` = h_prev (H); writes the new state and r, z, n, gh_n (H each). Every output is
/// its own `&mut` argument, so the compiler knows they do not alias and vectorizes the loop.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
pub(super) fn gate_forward(
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
pub(super) type StepInputs<'a> = (&'a [f32], &'a [f32], &'a [f32], &'a [f32], f32);
/// Three H-long output slices, one per gate.
pub(super) type GateSlices<'a> = (&'a mut [f32], &'a mut [f32], &'a mut [f32]);

/// One step's BPTT for one sequence: writes dL/dh_prev before the recurrent matmul's share,
/// the gradient of gh (r, z, n parts), of the input projections, and the mask terms per unit.
#[inline(never)]
pub(super) fn gate_backward(
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
