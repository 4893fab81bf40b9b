//! Speed of the packed inference product (`rationale::models::dense::PackedMatrix`) against
//! candle's matmul on the shapes of GPT-2 inference, in GFLOP/s; the PyTorch side of the same
//! shapes is `benches/dense_bench_torch.py`.
//!
//! `RAYON_NUM_THREADS=1 cargo bench --bench dense_bench`

use candle_core::{Device, Tensor};
use rationale::models::dense::PackedMatrix;
use std::time::Instant;

/// Shapes `(rows, in, out)`: GPT-2 small's attention, MLP and LM head over a few hundred tokens.
const SHAPES: [(usize, usize, usize); 6] = [
    (64, 768, 768),
    (512, 768, 2304),
    (512, 768, 3072),
    (512, 3072, 768),
    (2048, 768, 3072),
    (300, 768, 50257),
];

/// Seconds per call of `f`, over at least half a second after two warm-up calls.
fn time(mut f: impl FnMut()) -> f64 {
    f();
    f();
    let (t, mut calls) = (Instant::now(), 0);
    while t.elapsed().as_secs_f64() < 0.5 {
        f();
        calls += 1;
    }
    t.elapsed().as_secs_f64() / calls as f64
}

fn main() -> candle_core::Result<()> {
    println!("threads {}", rayon::current_num_threads());
    for (m, k, n) in SHAPES {
        let x: Vec<f32> = (0..m * k).map(|i| (i % 13) as f32 * 0.1 - 0.6).collect();
        let w: Vec<f32> = (0..k * n).map(|i| (i % 7) as f32 * 0.1 - 0.3).collect();
        let packed = PackedMatrix::new(&w, k, n, None);
        let (xt, wt) = (
            Tensor::from_slice(&x, (m, k), &Device::Cpu)?,
            Tensor::from_slice(&w, (k, n), &Device::Cpu)?,
        );
        let flops = 2.0 * (m * k * n) as f64 / 1e9;
        let ours = time(|| {
            std::hint::black_box(packed.apply(&x, m));
        });
        let candle = time(|| {
            std::hint::black_box(xt.matmul(&wt).unwrap());
        });
        println!(
            "{m}x{k}x{n}: packed {:.1} GFLOP/s, candle {:.1} GFLOP/s ({:.2}x)",
            flops / ours,
            flops / candle,
            candle / ours
        );
    }
    Ok(())
}
