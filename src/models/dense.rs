//! `x · W + b` for inference on the CPU, with `W` packed once into column panels.
//!
//! The weights of a model are fixed while it scores many inputs, so each `(k, n)` matrix is
//! rearranged at load into panels of 32 columns, depth-major; a product then streams one
//! panel block (kept in L1) past tiles of 8 input rows, with sixteen running sums in
//! registers. On x86-64 the tile is written with intrinsics for AVX-512 or, failing that, for
//! AVX2 + FMA (tiles of 3 rows, twelve running sums), detected at run time; elsewhere
//! the same loops in plain Rust, which the compiler vectorizes for the baseline target. Panels
//! are split across rayon's threads. Transposed operands are read in place, with no
//! transposed copy: a weight stored `(out, in)` ([`PackedMatrix::from_transposed`]) and a
//! column-major input ([`Input::Columns`], the weight gradients and attention products of
//! training). Speed against candle's matmul and PyTorch's:
//! `benches/dense_bench.rs` and `benches/dense_bench_torch.py`.

use super::cpu_op::with_values;
use candle_core::Tensor;
use rayon::prelude::*;
use std::mem::MaybeUninit;

/// Columns per panel (two 16-lane registers).
const NR: usize = 32;
/// Rows per register tile (AVX2's tile takes 3: see `avx2::ROWS`).
const MR: usize = 8;
/// Depth per block: a panel block of `KC × NR` floats is 32 KiB.
const KC: usize = 256;
/// Rows per block: a block of inputs (`MC × KC` floats, 256 KiB) stays in L2.
const MC: usize = 256;
/// Rows per block of a feed-forward pass (two products with a wide intermediate between
/// them): run block by block, the intermediate stays in cache instead of filling fresh pages.
pub(crate) const FEED_FORWARD_ROWS: usize = MC;
/// Matrices of at least this many floats are packed (and zeroed) on rayon's threads.
const PARALLEL_COPY: usize = 1 << 16;

/// The `(m, k)` input of a product: row-major, or column-major (the row-major values of its
/// `(k, m)` transpose, read in place with no transposed copy).
#[derive(Debug, Clone, Copy)]
pub enum Input<'a> {
    /// Row-major `(m, k)` values.
    Rows(&'a [f32]),
    /// Column-major values: the row-major `(k, m)` transpose.
    Columns(&'a [f32]),
}

/// A `(k, n)` weight matrix and bias, packed for [`PackedMatrix::apply`].
#[derive(Debug, Clone)]
pub struct PackedMatrix {
    k: usize,
    n: usize,
    /// Panel `p` holds columns `p·NR ..` for every depth `0..k`, `NR` per depth, zero-padded.
    panels: Vec<f32>,
    bias: Vec<f32>,
}

impl PackedMatrix {
    /// Packs the row-major `(k, n)` matrix `w` with an optional bias of length `n`.
    ///
    /// # Panics
    /// When `w.len() != k · n` or the bias length is not `n` (a caller bug, not bad input).
    pub fn new(w: &[f32], k: usize, n: usize, bias: Option<&[f32]>) -> Self {
        assert_eq!(w.len(), k * n, "weight is not ({k}, {n})");
        Self::pack(k, n, bias, |col, width, panel| {
            for d in 0..k {
                panel[d * NR..d * NR + width].copy_from_slice(&w[d * n + col..][..width]);
            }
        })
    }

    /// Packs the `(k, n)` matrix `W` from its transpose, the row-major `(n, k)` matrix `wt`
    /// (a linear layer's weight as `nn.Linear` stores it, `(out, in)`), read in place with no
    /// transposed copy; with an optional bias of length `n`.
    ///
    /// # Panics
    /// As [`PackedMatrix::new`].
    pub fn from_transposed(wt: &[f32], k: usize, n: usize, bias: Option<&[f32]>) -> Self {
        assert_eq!(wt.len(), k * n, "transposed weight is not ({n}, {k})");
        Self::pack(k, n, bias, |col, width, panel| {
            for j in 0..width {
                for (d, &x) in wt[(col + j) * k..][..k].iter().enumerate() {
                    panel[d * NR + j] = x;
                }
            }
        })
    }

    /// Packs the weight of a linear layer `x Wᵀ + b`, stored `(out, in)` as `nn.Linear` stores
    /// it, with its optional bias ([`PackedMatrix::from_transposed`]).
    pub fn from_linear(w: &Tensor, b: Option<&Tensor>) -> candle_core::Result<Self> {
        let (n, k) = w.dims2()?;
        let bias = b.map(|b| b.to_vec1::<f32>()).transpose()?;
        with_values("PackedMatrix::from_linear", w, "the weight", |w| {
            Ok(Self::from_transposed(w, k, n, bias.as_deref()))
        })
    }

    /// A `(k, n)` matrix whose panels `fill(first column, width, panel)` writes (`NR` values
    /// per depth, the rest left zero).
    fn pack(
        k: usize,
        n: usize,
        bias: Option<&[f32]>,
        fill: impl Fn(usize, usize, &mut [f32]) + Sync,
    ) -> Self {
        let count = n.div_ceil(NR);
        let len = count * k * NR;
        let mut panels = Vec::with_capacity(len);
        // Each panel zeroed (its padding) and filled by the same task, with no zeroing pass
        // over the whole matrix on the calling thread before.
        let fill = |(p, panel): (usize, &mut [MaybeUninit<f32>])| {
            fill(p * NR, NR.min(n - p * NR), zeroed(panel))
        };
        let spare = &mut panels.spare_capacity_mut()[..len];
        // Large matrices (weights, activations in training) on rayon's threads.
        let chunk = (k * NR).max(1);
        if k * n >= PARALLEL_COPY {
            spare.par_chunks_mut(chunk).enumerate().for_each(fill);
        } else {
            spare.chunks_mut(chunk).enumerate().for_each(fill);
        }
        // SAFETY: every float of every panel was written by `zeroed`.
        unsafe { panels.set_len(len) };
        let bias = match bias {
            Some(b) => {
                assert_eq!(b.len(), n, "bias is not of length {n}");
                b.to_vec()
            }
            None => vec![0.0; n],
        };
        PackedMatrix { k, n, panels, bias }
    }

    /// Input width.
    pub fn k(&self) -> usize {
        self.k
    }

    /// Output width.
    pub fn n(&self) -> usize {
        self.n
    }

    /// `x · W + b` for the row-major `(m, k)` input `x`, as a row-major `(m, n)` vector.
    ///
    /// # Panics
    /// When `x.len() != m · k`.
    pub fn apply(&self, x: &[f32], m: usize) -> Vec<f32> {
        self.apply_with(Input::Rows(x), m, rayon::current_num_threads())
    }

    /// [`PackedMatrix::apply`] on the calling thread only (for products inside parallel work).
    pub fn apply_serial(&self, x: &[f32], m: usize) -> Vec<f32> {
        self.apply_with(Input::Rows(x), m, 1)
    }

    /// `x · W + b` for an input of `m` rows laid out as [`Input`] says, on up to `threads` of
    /// rayon's threads (1: the calling thread only), as a row-major `(m, n)` vector.
    ///
    /// # Panics
    /// When the input does not hold `m · k` values.
    pub fn apply_with(&self, x: Input<'_>, m: usize, threads: usize) -> Vec<f32> {
        let (x, columns) = match x {
            Input::Rows(x) => (x, false),
            Input::Columns(x) => (x, true),
        };
        assert_eq!(x.len(), m * self.k, "input is not ({m}, {})", self.k);
        let (k, n) = (self.k, self.n);
        if n == 0 {
            return Vec::new();
        }
        if m == 0 || k == 0 {
            return self.bias.repeat(m);
        }
        // Left unwritten: the first depth block writes each output as bias + its sums.
        let mut out = Vec::with_capacity(m * n);
        let count = n.div_ceil(NR);
        let threads = threads.min(count);
        let c = SharedOut(out.as_mut_ptr());
        let run = |panels: std::ops::Range<usize>| {
            // SAFETY: each call writes only the columns of its own panels, which no other call
            // touches, inside the `m × n` buffer.
            unsafe { self.accumulate(x, m, columns, panels, &c) }
        };
        if threads <= 1 {
            run(0..count);
        } else {
            let per = count.div_ceil(threads);
            (0..threads)
                .into_par_iter()
                .for_each(|t| run(t * per..((t + 1) * per).min(count)));
        }
        // SAFETY: the tiles of the first depth block wrote all `m` rows of `n` floats.
        unsafe { out.set_len(m * n) };
        out
    }

    /// Adds `x · W` for the given panels into `c` (row-major `(m, n)`); `x` row-major, or
    /// column-major where `columns`.
    ///
    /// # Safety
    /// `c` points to `m × n` floats; no other thread writes these panels' columns meanwhile.
    unsafe fn accumulate(
        &self,
        x: &[f32],
        m: usize,
        columns: bool,
        panels: std::ops::Range<usize>,
        c: &SharedOut,
    ) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return self.accumulate_avx512(x, m, columns, panels, c);
            }
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
            {
                return self.accumulate_avx2(x, m, columns, panels, c);
            }
        }
        match columns {
            false => self.blocks::<MR>(x, m, false, panels, c, |t| portable_tile::<false>(t)),
            true => self.blocks::<MR>(x, m, true, panels, c, |t| portable_tile::<true>(t)),
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn accumulate_avx2(
        &self,
        x: &[f32],
        m: usize,
        columns: bool,
        panels: std::ops::Range<usize>,
        c: &SharedOut,
    ) {
        const R: usize = avx2::ROWS;
        match columns {
            false => self.blocks::<R>(x, m, false, panels, c, |t| avx2::tile::<false>(t)),
            true => self.blocks::<R>(x, m, true, panels, c, |t| avx2::tile::<true>(t)),
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f")]
    unsafe fn accumulate_avx512(
        &self,
        x: &[f32],
        m: usize,
        columns: bool,
        panels: std::ops::Range<usize>,
        c: &SharedOut,
    ) {
        match columns {
            false => self.blocks::<MR>(x, m, false, panels, c, |t| avx512::tile::<false>(t)),
            true => self.blocks::<MR>(x, m, true, panels, c, |t| avx512::tile::<true>(t)),
        }
    }

    /// The blocking loops around a register tile of at most `ROWS` rows; `x` row-major, or
    /// column-major where `columns`.
    #[inline(always)]
    unsafe fn blocks<const ROWS: usize>(
        &self,
        x: &[f32],
        m: usize,
        columns: bool,
        panels: std::ops::Range<usize>,
        c: &SharedOut,
        tile: impl Fn(Tile),
    ) {
        let (k, n) = (self.k, self.n);
        let lda = if columns { m } else { k };
        for k0 in (0..k).step_by(KC) {
            let kc = KC.min(k - k0);
            for i0 in (0..m).step_by(MC) {
                let rows_end = (i0 + MC).min(m);
                for p in panels.clone() {
                    let b = self.panels.as_ptr().add(p * k * NR + k0 * NR);
                    let ncols = NR.min(n - p * NR);
                    for i in (i0..rows_end).step_by(ROWS) {
                        tile(Tile {
                            a: x.as_ptr()
                                .add(if columns { k0 * m + i } else { i * k + k0 }),
                            lda,
                            rows: ROWS.min(rows_end - i),
                            b,
                            kc,
                            c: c.0.add(i * n + p * NR),
                            ldc: n,
                            ncols,
                            bias: (k0 == 0).then(|| self.bias.as_ptr().add(p * NR)),
                        });
                    }
                }
            }
        }
    }
}

/// `chunk` with every float set to zero, as initialized floats.
fn zeroed(chunk: &mut [MaybeUninit<f32>]) -> &mut [f32] {
    chunk.fill(MaybeUninit::new(0.0));
    // SAFETY: every element was just written, and `MaybeUninit<f32>` has `f32`'s layout.
    unsafe { &mut *(chunk as *mut [MaybeUninit<f32>] as *mut [f32]) }
}

/// `len` zeros, written on rayon's threads when there are many: `vec![0.0; len]` zeroes reused
/// heap memory on the calling thread, a tenth of a training step at two threads.
pub(crate) fn zeros(len: usize) -> Vec<f32> {
    let mut v = Vec::with_capacity(len);
    let spare = &mut v.spare_capacity_mut()[..len];
    if len >= PARALLEL_COPY {
        spare.par_chunks_mut(PARALLEL_COPY).for_each(|c| {
            zeroed(c);
        });
    } else {
        zeroed(spare);
    }
    // SAFETY: `zeroed` set every float.
    unsafe { v.set_len(len) };
    v
}

/// The output buffer, shared by the threads that fill disjoint columns of it.
struct SharedOut(*mut f32);
// SAFETY: threads write disjoint panels (see `PackedMatrix::apply`).
unsafe impl Sync for SharedOut {}

/// The operands of one register tile: `rows` (at most the tile's height) rows of `a` (`kc`
/// values each), a panel block `b` (`kc × NR` values), and `rows` rows of `c` (stride `ldc`,
/// `ncols ≤ NR` values each) that receive `c[r][j] += Σ_d a[r][d] · b[d][j]`, or, given a
/// `bias` (the first depth block, `c` not yet written), `c[r][j] = bias[j] + Σ_d …`.
#[derive(Clone, Copy)]
struct Tile {
    a: *const f32,
    /// The stride of `a` between rows, or between depths for a column-major `a`.
    lda: usize,
    rows: usize,
    b: *const f32,
    kc: usize,
    c: *mut f32,
    ldc: usize,
    ncols: usize,
    /// `ncols` values that `c` starts from, in place of its own.
    bias: Option<*const f32>,
}

impl Tile {
    /// `a[r][d]`, from a column-major `a` where `COLUMNS`.
    ///
    /// # Safety
    /// `r < rows`, `d < kc`.
    #[inline(always)]
    unsafe fn a<const COLUMNS: bool>(&self, r: usize, d: usize) -> *const f32 {
        match COLUMNS {
            false => self.a.add(r * self.lda + d),
            true => self.a.add(d * self.lda + r),
        }
    }
}

/// A tile in plain Rust; `a` column-major where `COLUMNS`.
///
/// # Safety
/// The pointers of `t` hold what [`Tile`] describes.
unsafe fn portable_tile<const COLUMNS: bool>(t: Tile) {
    let mut acc = [[0f32; NR]; MR];
    for d in 0..t.kc {
        let bd = std::slice::from_raw_parts(t.b.add(d * NR), NR);
        for (r, sums) in acc.iter_mut().enumerate().take(t.rows) {
            let av = *t.a::<COLUMNS>(r, d);
            for (s, &bv) in sums.iter_mut().zip(bd) {
                *s += av * bv;
            }
        }
    }
    for (r, sums) in acc.iter().enumerate().take(t.rows) {
        let out = t.c.add(r * t.ldc);
        let start = t.bias.unwrap_or(out);
        for (j, s) in sums.iter().enumerate().take(t.ncols) {
            out.add(j).write(*start.add(j) + s);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{Tile, MR, NR};
    use std::arch::x86_64::*;

    /// A tile with AVX-512 intrinsics (same contract as [`super::portable_tile`]).
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn tile<const COLUMNS: bool>(t: Tile) {
        match t.rows {
            8 => rows_tile::<8, COLUMNS>(t),
            7 => rows_tile::<7, COLUMNS>(t),
            6 => rows_tile::<6, COLUMNS>(t),
            5 => rows_tile::<5, COLUMNS>(t),
            4 => rows_tile::<4, COLUMNS>(t),
            3 => rows_tile::<3, COLUMNS>(t),
            2 => rows_tile::<2, COLUMNS>(t),
            _ => rows_tile::<1, COLUMNS>(t),
        }
    }

    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn rows_tile<const R: usize, const COLUMNS: bool>(t: Tile) {
        const { assert!(R <= MR && NR == 32) };
        let mut lo = [_mm512_setzero_ps(); R];
        let mut hi = [_mm512_setzero_ps(); R];
        for d in 0..t.kc {
            let b0 = _mm512_loadu_ps(t.b.add(d * NR));
            let b1 = _mm512_loadu_ps(t.b.add(d * NR + 16));
            for r in 0..R {
                let av = _mm512_set1_ps(*t.a::<COLUMNS>(r, d));
                lo[r] = _mm512_fmadd_ps(av, b0, lo[r]);
                hi[r] = _mm512_fmadd_ps(av, b1, hi[r]);
            }
        }
        let lanes = |w: usize| -> __mmask16 { ((1u32 << w.min(16)) - 1) as __mmask16 };
        let (m0, m1) = (lanes(t.ncols), lanes(t.ncols.saturating_sub(16)));
        for r in 0..R {
            let p = t.c.add(r * t.ldc);
            let start = t.bias.unwrap_or(p);
            let sum = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, start), lo[r]);
            _mm512_mask_storeu_ps(p, m0, sum);
            let sum = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, start.add(16)), hi[r]);
            _mm512_mask_storeu_ps(p.add(16), m1, sum);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{Tile, NR};
    use std::arch::x86_64::*;

    /// Rows of a tile: 3 rows × 32 columns are twelve 8-lane running sums, enough independent
    /// chains to hide the FMA latency, and with the three broadcast inputs and one panel load
    /// they fill AVX2's sixteen registers.
    pub(super) const ROWS: usize = 3;
    /// 8-lane registers per panel row.
    const V: usize = NR / 8;

    /// A tile of at most [`ROWS`] rows with AVX2 + FMA intrinsics (otherwise the contract of
    /// [`super::portable_tile`]).
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn tile<const COLUMNS: bool>(t: Tile) {
        match t.rows {
            3 => rows_tile::<3, COLUMNS>(t),
            2 => rows_tile::<2, COLUMNS>(t),
            _ => rows_tile::<1, COLUMNS>(t),
        }
    }

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn rows_tile<const R: usize, const COLUMNS: bool>(t: Tile) {
        const { assert!(R <= ROWS) };
        let mut acc = [[_mm256_setzero_ps(); V]; R];
        for d in 0..t.kc {
            let mut a = [_mm256_setzero_ps(); R];
            for (r, a) in a.iter_mut().enumerate() {
                *a = _mm256_broadcast_ss(&*t.a::<COLUMNS>(r, d));
            }
            for v in 0..V {
                let b = _mm256_loadu_ps(t.b.add(d * NR + 8 * v));
                for (sums, &a) in acc.iter_mut().zip(&a) {
                    sums[v] = _mm256_fmadd_ps(a, b, sums[v]);
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            let p = t.c.add(r * t.ldc);
            let start = t.bias.unwrap_or(p);
            for (v, &sum) in acc.iter().enumerate() {
                let (p, start) = (p.add(8 * v), start.add(8 * v));
                if t.ncols == NR {
                    _mm256_storeu_ps(p, _mm256_add_ps(_mm256_loadu_ps(start), sum));
                } else {
                    // Masked stores are slow on some CPUs (microcoded on AMD's), so only the
                    // last panel of a matrix takes them.
                    let m = lanes(t.ncols.saturating_sub(8 * v));
                    _mm256_maskstore_ps(p, m, _mm256_add_ps(_mm256_maskload_ps(start, m), sum));
                }
            }
        }
    }

    /// The mask of lanes `0..w.min(8)`.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn lanes(w: usize) -> __m256i {
        let index = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
        _mm256_cmpgt_epi32(_mm256_set1_epi32(w.min(8) as i32), index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(x: &[f32], w: &[f32], b: &[f32], m: usize, k: usize, n: usize) -> Vec<f32> {
        let mut out = vec![0f32; m * n];
        for i in 0..m {
            for j in 0..n {
                let s: f64 = (0..k)
                    .map(|d| x[i * k + d] as f64 * w[d * n + j] as f64)
                    .sum();
                out[i * n + j] = s as f32 + b[j];
            }
        }
        out
    }

    fn values(len: usize, seed: usize) -> Vec<f32> {
        (0..len)
            .map(|i| ((i * 7919 + seed * 104_729) % 2003) as f32 / 1001.0 - 1.0)
            .collect()
    }

    /// Edge sizes for every blocking constant: rows not a multiple of `MR` or `MC`, columns
    /// not a multiple of `NR` (masked stores), depth not a multiple of `KC`, no depth, no rows.
    const SHAPES: [(usize, usize, usize); 10] = [
        (1, 1, 1),
        (3, 5, 7),
        (8, 16, 32),
        (9, 33, 17),
        (13, 300, 47),
        (300, 257, 65),
        (64, 256, 96),
        (2, 600, 31),
        (4, 0, 5),
        (0, 4, 5),
    ];

    /// The row-major `(cols, rows)` transpose of the row-major `(rows, cols)` matrix `a`.
    fn transposed(a: &[f32], rows: usize, cols: usize) -> Vec<f32> {
        (0..rows * cols)
            .map(|i| a[(i % rows) * cols + i / rows])
            .collect()
    }

    /// `apply(matrix, input, m)` against a naive product on every shape, with the input
    /// row-major and column-major, the matrix packed as it is and from its transpose.
    fn check(apply: impl Fn(&PackedMatrix, Input, usize) -> Vec<f32>) {
        for (s, &(m, k, n)) in SHAPES.iter().enumerate() {
            let (x, w, b) = (values(m * k, s), values(k * n, s + 1), values(n, s + 2));
            let packed = PackedMatrix::new(&w, k, n, Some(&b));
            let from_transposed =
                PackedMatrix::from_transposed(&transposed(&w, k, n), k, n, Some(&b));
            assert_eq!(packed.panels, from_transposed.panels, "({k}, {n}) packed");
            let want = naive(&x, &w, &b, m, k, n);
            let xt = transposed(&x, m, k);
            for (layout, x) in [("rows", Input::Rows(&x)), ("columns", Input::Columns(&xt))] {
                let got = apply(&packed, x, m);
                assert_eq!(got.len(), want.len());
                let worst = got
                    .iter()
                    .zip(&want)
                    .map(|(g, e)| (g - e).abs() / (1.0 + e.abs()))
                    .fold(0f32, f32::max);
                assert!(
                    worst < 1e-5,
                    "({m}, {k}, {n}), {layout}: worst relative error {worst}"
                );
            }
        }
    }

    #[test]
    fn product_matches_a_naive_one_on_edge_shapes() {
        check(|p, x, m| p.apply_with(x, m, rayon::current_num_threads()));
        check(|p, x, m| p.apply_with(x, m, 1));
    }

    /// `check` on the given tiles (of at most `ROWS` rows; row-major and column-major inputs)
    /// inside the blocking loops.
    fn check_tile<const ROWS: usize>(rows: unsafe fn(Tile), columns: unsafe fn(Tile)) {
        check(|p, x, m| {
            if m == 0 || p.k == 0 {
                return p.bias.repeat(m);
            }
            // NaN until written: the first depth block must write every output.
            let mut out = vec![f32::NAN; m * p.n];
            let c = SharedOut(out.as_mut_ptr());
            let count = p.n.div_ceil(NR);
            let (x, is_columns, tile) = match x {
                Input::Rows(x) => (x, false, rows),
                Input::Columns(x) => (x, true, columns),
            };
            // SAFETY: one thread, the whole buffer; the caller checked the CPU's features.
            unsafe { p.blocks::<ROWS>(x, m, is_columns, 0..count, &c, |t| tile(t)) };
            out
        });
    }

    #[test]
    fn every_tile_the_cpu_has_matches_a_naive_one_on_edge_shapes() {
        check_tile::<MR>(portable_tile::<false>, portable_tile::<true>);
        #[cfg(target_arch = "x86_64")]
        {
            use std::arch::is_x86_feature_detected as has;
            if has!("avx2") && has!("fma") {
                check_tile::<{ avx2::ROWS }>(
                    |t| unsafe { avx2::tile::<false>(t) },
                    |t| unsafe { avx2::tile::<true>(t) },
                );
            } else {
                eprintln!("skipping the AVX2 tile: this CPU has no AVX2 + FMA");
            }
            if has!("avx512f") {
                check_tile::<MR>(
                    |t| unsafe { avx512::tile::<false>(t) },
                    |t| unsafe { avx512::tile::<true>(t) },
                );
            } else {
                eprintln!("skipping the AVX-512 tile: this CPU has no AVX-512F");
            }
        }
    }

    #[test]
    fn several_threads_give_the_same_product() {
        let (m, k, n) = (37, 129, 200);
        let (x, w) = (values(m * k, 1), values(k * n, 2));
        let packed = PackedMatrix::new(&w, k, n, None);
        let one = packed.apply(&x, m);
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(3)
            .build()
            .unwrap();
        assert_eq!(pool.install(|| packed.apply(&x, m)), one);
    }
}
