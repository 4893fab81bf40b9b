//! The bidirectional GRU layer as one fused candle op with a hand-written backward pass.
//!
//! Inputs: the embeddings `x` (B, T, E); all parameters packed in one vector (see [`Packed`]:
//! `w_ih` (E, 6H), `b_ih` (6H), `w_hh` (2, H, 3H), `b_hh` (2, 3H), PyTorch gate order r, z, n
//! per direction); the mask (B, T). Output: (B, T, 2H), the forward direction's states in the
//! first H columns, the backward direction's in the last H. One step of direction `d` at time
//! `t` (the backward direction walks `t` from T−1 down to 0):
//!
//! ```text
//! x' = x_t·W_ih,d + b_ih,d         gh = h_prev·W_hh,d + b_hh,d
//! r  = σ(x'_r + gh_r)              z  = σ(x'_z + gh_z)       n = tanh(x'_n + r ⊙ gh_n)
//! ĥ  = n + z ⊙ (h_prev − n)        h  = h_prev + m_t (ĥ − h_prev)
//! ```
//!
//! so a padded step (m_t = 0) leaves the state unchanged. The two directions are independent
//! and run on two threads when candle may use two. Each projects all its inputs in one matmul,
//! then loops over time in plain Rust on contiguous buffers with one small matmul per step, and
//! keeps the gates and states the backward pass needs. Fusing the input projection keeps the
//! (B, T, 6H) projections and their gradient out of candle's graph, whose backward pass would
//! allocate and add a zero tensor of that size per node.

use super::cpu_op::{f32_slice, with_values};
use super::gru_kernels::{gate_backward, gate_forward, gemm_acc};
use candle_core::{CpuStorage, CustomOp3, Layout, Shape, Tensor};
use std::sync::{Arc, Mutex};

type CResult<T> = candle_core::Result<T>;

/// The fused layer; one instance per forward call (it keeps that call's saved gates).
pub struct BiGruScan {
    hidden: usize,
    saved: Mutex<Option<Arc<Saved>>>,
}

/// Offsets in the packed parameter vector: `w_ih` (E, 6H), `b_ih` (6H), `w_hh` (2, H, 3H),
/// `b_hh` (2, 3H), each row-major, in this order.
#[derive(Clone, Copy, Debug)]
pub struct Packed {
    e: usize,
    h: usize,
}

impl Packed {
    /// The layout for input width `e` and hidden size `h`.
    pub fn new(e: usize, h: usize) -> Self {
        Packed { e, h }
    }

    /// Total length.
    pub fn len(&self) -> usize {
        self.b_hh(2)
    }

    /// True when there is nothing to pack (E and H both zero).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Start of `b_ih`.
    fn b_ih(&self) -> usize {
        self.e * 6 * self.h
    }

    /// Start of `w_hh` of direction `d`.
    fn w_hh(&self, d: usize) -> usize {
        self.b_ih() + 6 * self.h + d * 3 * self.h * self.h
    }

    /// Start of `b_hh` of direction `d`.
    fn b_hh(&self, d: usize) -> usize {
        self.w_hh(2) + d * 3 * self.h
    }
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
    e: usize,
    h: usize,
    /// Threads for each direction's large matmuls.
    threads: usize,
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

    fn packed(&self) -> Packed {
        Packed::new(self.e, self.h)
    }
}

/// A pointer to the output that may cross threads.
#[derive(Clone, Copy)]
struct SharedMut(*mut f32);
// SAFETY: the two direction threads write disjoint column ranges of the (B, T, 2H) output
// (direction d owns columns d·H..(d+1)·H), and the scope joins both before it is read.
unsafe impl Send for SharedMut {}
unsafe impl Sync for SharedMut {}

impl BiGruScan {
    /// A fresh op for hidden size `hidden`, with nothing saved.
    pub fn new(hidden: usize) -> Self {
        BiGruScan {
            hidden,
            saved: Mutex::new(None),
        }
    }

    fn check(&self, x: &Shape, params: &Shape, mask: &Shape) -> CResult<Dims> {
        let (b, t, e) = x.dims3()?;
        let h = self.hidden;
        let want = Packed::new(e, h).len();
        if params.dims() != [want] {
            candle_core::bail!(
                "bigru: packed parameters {params:?}, expected ({want}) for input width {e}, hidden {h}"
            );
        }
        if mask.dims() != [b, t] {
            candle_core::bail!("bigru: mask {mask:?}, expected ({b}, {t})");
        }
        let threads = (candle_core::utils::get_num_threads() / 2).max(1);
        Ok(Dims {
            b,
            t,
            e,
            h,
            threads,
        })
    }

    fn forward_all(
        &self,
        x: &[f32],
        params: &[f32],
        mask: &[f32],
        dims: Dims,
    ) -> (Vec<f32>, Saved) {
        let Dims { b, t, h, .. } = dims;
        let mut out = vec![0f32; b * t * 2 * h];
        let ptr = SharedMut(out.as_mut_ptr());
        let dirs = both(|d| forward_dir(x, params, mask, dims, d, ptr));
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

/// Direction `d`'s input projections (B·T, 3H): x·W_ih,d + b_ih,d.
fn project(x: &[f32], params: &[f32], dims: Dims, d: usize) -> Vec<f32> {
    let Dims { b, t, e, h, .. } = dims;
    let (g3, g6) = (3 * h, 6 * h);
    let p = dims.packed();
    let bias = &params[p.b_ih() + d * g3..][..g3];
    let mut xp = bias.repeat(b * t);
    let w = &params[d * g3..p.b_ih()];
    gemm_acc(
        (b * t, g3, e),
        &mut xp,
        (g3, 1),
        x,
        (e, 1),
        w,
        (g6, 1),
        dims.threads,
    );
    xp
}

/// One direction's forward scan; writes its states into the output columns d·H..(d+1)·H.
fn forward_dir(
    x: &[f32],
    params: &[f32],
    mask: &[f32],
    dims: Dims,
    d: usize,
    out: SharedMut,
) -> DirState {
    let Dims { b, t, h, .. } = dims;
    let (g3, g4) = (3 * h, 4 * h);
    let p = dims.packed();
    let xp = project(x, params, dims, d);
    let w = &params[p.w_hh(d)..][..h * g3];
    let bias = &params[p.b_hh(d)..][..g3];
    let mut hist = vec![0f32; (t + 1) * b * h];
    let mut gates = vec![0f32; t * b * g4];
    let mut gh = bias.repeat(b);
    for s in 0..t {
        let ti = dims.time(d, s);
        for row in gh.chunks_exact_mut(g3) {
            row.copy_from_slice(bias);
        }
        let (done, next) = hist.split_at_mut((s + 1) * b * h);
        let prev = &done[s * b * h..];
        gemm_acc((b, g3, h), &mut gh, (g3, 1), prev, (h, 1), w, (g3, 1), 1);
        let gate_s = &mut gates[s * b * g4..(s + 1) * b * g4];
        for bi in 0..b {
            let m = mask[bi * t + ti];
            let xrow = &xp[(bi * t + ti) * g3..][..g3];
            let ghb = &gh[bi * g3..(bi + 1) * g3];
            let hp = &prev[bi * h..(bi + 1) * h];
            let hn = &mut next[bi * h..(bi + 1) * h];
            let (gr, gs) = gate_s[bi * g4..(bi + 1) * g4].split_at_mut(h);
            let (gz, gs) = gs.split_at_mut(h);
            let (gn, gg) = gs.split_at_mut(h);
            gate_forward(xrow, ghb, hp, m, hn, gr, gz, gn, gg);
            let dst = (bi * t + ti) * 2 * h + d * h;
            // SAFETY: `dst..dst + h` lies in this direction's columns of a (B, T, 2H) buffer.
            unsafe { std::ptr::copy_nonoverlapping(hn.as_ptr(), out.0.add(dst), h) };
        }
    }
    DirState { hist, gates }
}

/// Gradients from one direction: the input's (B·T·E) and the mask's (B·T) shares, and its
/// own parameters' `w_ih` columns (E, 3H), `b_ih` (3H), `w_hh` (H, 3H), `b_hh` (3H).
struct DirGrads {
    x: Vec<f32>,
    mask: Vec<f32>,
    w_ih: Vec<f32>,
    b_ih: Vec<f32>,
    w_hh: Vec<f32>,
    b_hh: Vec<f32>,
}

/// Column sums of a row-major matrix with `cols` columns.
fn column_sums(m: &[f32], cols: usize) -> Vec<f32> {
    let mut acc = vec![0f32; cols];
    for row in m.chunks_exact(cols) {
        for (a, v) in acc.iter_mut().zip(row) {
            *a += v;
        }
    }
    acc
}

/// One direction's backward pass through time, then its parameter and input gradients.
fn backward_dir(
    st: &DirState,
    (x, params, mask, grad_out): (&[f32], &[f32], &[f32], &[f32]),
    dims: Dims,
    d: usize,
) -> DirGrads {
    let Dims { b, t, e, h, .. } = dims;
    let (g3, g4, g6) = (3 * h, 4 * h, 6 * h);
    let p = dims.packed();
    let w = &params[p.w_hh(d)..][..h * g3];
    let mut dgh = vec![0f32; t * b * g3];
    let mut dxp = vec![0f32; b * t * g3];
    let mut dmask = vec![0f32; b * t];
    let mut dh = vec![0f32; b * h];
    let mut dh_prev = vec![0f32; b * h];
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
            let (dxr, dx_rest) = dxp[(bi * t + ti) * g3..][..g3].split_at_mut(h);
            let (dxz, dxn) = dx_rest.split_at_mut(h);
            let dmj = &mut dm_terms[..h];
            gate_backward(
                (gs, hp, dhb, go, m),
                dpb,
                (dgr, dgz, dgn),
                (dxr, dxz, dxn),
                dmj,
            );
            dmask[bi * t + ti] = dmj.iter().sum();
        }
        // dh_prev += dgh_s · W_hhᵀ; W_hh is (H, 3H) row-major, so W_hhᵀ[k][j] = w[j·3H + k].
        gemm_acc(
            (b, h, g3),
            &mut dh_prev,
            (h, 1),
            dgh_s,
            (g3, 1),
            w,
            (1, g3),
            1,
        );
        std::mem::swap(&mut dh, &mut dh_prev);
    }
    let th = dims.threads;
    // dW_hh = Σ_s h_prevᵀ · dgh_s as one (H × TB)·(TB × 3H) product.
    let mut w_hh = vec![0f32; h * g3];
    gemm_acc(
        (h, g3, t * b),
        &mut w_hh,
        (g3, 1),
        &st.hist,
        (1, h),
        &dgh,
        (g3, 1),
        th,
    );
    // dx = dxp · W_ih,dᵀ with W_ih,dᵀ[k][i] = params[i·6H + d·3H + k]; dW_ih,d = xᵀ · dxp.
    let mut dx = vec![0f32; b * t * e];
    let w_ih = &params[d * g3..p.b_ih()];
    gemm_acc(
        (b * t, e, g3),
        &mut dx,
        (e, 1),
        &dxp,
        (g3, 1),
        w_ih,
        (1, g6),
        th,
    );
    let mut dw_ih = vec![0f32; e * g3];
    gemm_acc(
        (e, g3, b * t),
        &mut dw_ih,
        (g3, 1),
        x,
        (1, e),
        &dxp,
        (g3, 1),
        th,
    );
    DirGrads {
        x: dx,
        mask: dmask,
        w_ih: dw_ih,
        b_ih: column_sums(&dxp, g3),
        w_hh,
        b_hh: column_sums(&dgh, g3),
    }
}

/// Packs both directions' parameter gradients in the layout of [`Packed`].
fn pack_grads(g: &[DirGrads; 2], p: Packed) -> Vec<f32> {
    let g3 = 3 * p.h;
    let mut out = Vec::with_capacity(p.len());
    for i in 0..p.e {
        for gd in g {
            out.extend_from_slice(&gd.w_ih[i * g3..(i + 1) * g3]);
        }
    }
    for gd in g {
        out.extend_from_slice(&gd.b_ih);
    }
    for gd in g {
        out.extend_from_slice(&gd.w_hh);
    }
    for gd in g {
        out.extend_from_slice(&gd.b_hh);
    }
    out
}

impl CustomOp3 for BiGruScan {
    fn name(&self) -> &'static str {
        "bigru"
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
        let dims = self.check(l1.shape(), l2.shape(), l3.shape())?;
        let x = f32_slice("bigru", s1, l1, "input")?;
        let params = f32_slice("bigru", s2, l2, "packed parameters")?;
        let mask = f32_slice("bigru", s3, l3, "mask")?;
        let (out, saved) = self.forward_all(x, params, mask, dims);
        *self.saved.lock().expect("bigru saved state poisoned") = Some(Arc::new(saved));
        let shape = Shape::from((dims.b, dims.t, 2 * dims.h));
        Ok((CpuStorage::F32(out), shape))
    }

    fn bwd(
        &self,
        x: &Tensor,
        params: &Tensor,
        mask: &Tensor,
        _res: &Tensor,
        grad_res: &Tensor,
    ) -> CResult<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let dims = self.check(x.shape(), params.shape(), mask.shape())?;
        let Dims { b, t, e, .. } = dims;
        let saved = self
            .saved
            .lock()
            .expect("bigru saved state poisoned")
            .clone();
        let grads = with_values("bigru", x, "input", |xv| {
            with_values("bigru", params, "packed parameters", |pv| {
                with_values("bigru", mask, "mask", |mv| {
                    with_values("bigru", grad_res, "output gradient", |gv| {
                        let saved = match &saved {
                            Some(s) => s.clone(),
                            None => Arc::new(self.forward_all(xv, pv, mv, dims).1),
                        };
                        let run =
                            |d: usize| backward_dir(&saved.dirs[d], (xv, pv, mv, gv), dims, d);
                        Ok(both(run))
                    })
                })
            })
        })?;
        let [g0, g1] = &grads;
        let add = |a: &[f32], c: &[f32]| a.iter().zip(c).map(|(u, v)| u + v).collect::<Vec<_>>();
        let dev = x.device();
        Ok((
            Some(Tensor::from_vec(add(&g0.x, &g1.x), (b, t, e), dev)?),
            Some(Tensor::from_vec(
                pack_grads(&grads, dims.packed()),
                dims.packed().len(),
                dev,
            )?),
            Some(Tensor::from_vec(add(&g0.mask, &g1.mask), (b, t), dev)?),
        ))
    }
}
