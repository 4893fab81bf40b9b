//! Training and integrated-gradients throughput of the BiGRU classifier (candle, CPU).
//!
//! Model: Embedding(20002, 100) → BiGRU(100) → masked max-pool → Linear(200 → 2); batch B ×
//! T tokens (default 16 × 256; the Movies classifier trains at 16 × 1024); a step is forward +
//! cross-entropy + backward + AdamW. IG: 20 steps, one T-token input per call, all steps
//! batched. Prints tokens/s; `benches/gru_throughput_torch.py` is the PyTorch twin, run it in
//! the same shell session with the same thread count:
//!
//! ```sh
//! RAYON_NUM_THREADS=2 cargo bench --bench gru_throughput -- 4 16 1024
//! OMP_WAIT_POLICY=PASSIVE python benches/gru_throughput_torch.py 4 2 16 1024
//! ```
//!
//! (Arguments: timed steps, batch, length; the script takes the thread count second. On a
//! loaded machine PyTorch's spinning OpenMP threads slow it down by an order of magnitude;
//! `OMP_WAIT_POLICY=PASSIVE` avoids that.)

use candle_core::{Device, Tensor};
use rand::{Rng, SeedableRng};
use rationale::explain::{self, ExplainConfig, Method};
use rationale::models::classifier::{ClassifierConfig, EncoderConfig, Pooling, TextClassifier};
use rationale::models::transformer::Pass;
use rationale::models::{ModelTokenizer, TextModel};
use rationale::train::{AdamW, AdamWParams};
use std::time::Instant;

fn main() {
    // `cargo bench` adds `--bench` to the arguments.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let arg =
        |i: usize, default: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(default);
    let (steps, b, t) = (arg(0, 6), arg(1, 16), arg(2, 256));
    std::thread::Builder::new()
        .stack_size(1 << 30)
        .spawn(move || run(steps, b, t))
        .unwrap()
        .join()
        .unwrap();
}

fn run(steps: usize, b: usize, t: usize) {
    let v = 20_000usize;
    println!("batch {b} × {t} tokens, {steps} timed steps");
    // A word-level vocabulary of v words ("w0".."w19999") plus [PAD], [UNK].
    let vocab: Vec<String> = (0..v).map(|i| format!("w{i}")).collect();
    let tok =
        ModelTokenizer::train_word_level(std::iter::once(vocab.as_slice()), v, 1, false).unwrap();
    let cfg = ClassifierConfig {
        encoder: EncoderConfig::Gru {
            embed_dim: 100,
            hidden: 100,
            pooling: Pooling::Max,
            attention_dim: 0,
        },
        labels: vec!["NEG".into(), "POS".into()],
        vocab_size: tok.vocab_size(),
        max_len: t,
        dropout: 0.0,
    };
    let model = TextClassifier::fresh(cfg, tok, 1, None).unwrap();
    let mut opt = AdamW::new(model.params().named_vars(), AdamWParams::default()).unwrap();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let batch: Vec<Vec<u32>> = (0..b)
        .map(|_| (0..t).map(|_| rng.gen_range(2..v as u32 + 2)).collect())
        .collect();
    let ys: Vec<u32> = (0..b as u32).map(|i| i % 2).collect();
    let mut times = Vec::new();
    for step in 0..steps + 1 {
        let t0 = Instant::now();
        let refs: Vec<&[u32]> = batch.iter().map(Vec::as_slice).collect();
        let (ids, mask) = model.pad_batch(&refs).unwrap();
        let emb = model.embed_ids(&ids).unwrap();
        let fwd = model.forward(&emb, &mask, None, Pass::Train).unwrap();
        let target = Tensor::from_vec(ys.clone(), b, &Device::Cpu).unwrap();
        let loss = candle_nn::loss::cross_entropy(&fwd.logits, &target).unwrap();
        let grads = loss.backward().unwrap();
        opt.step(&grads, 1e-3).unwrap();
        if step > 0 {
            times.push(t0.elapsed().as_secs_f64());
        }
    }
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    println!(
        "candle train: {:.1} ms/step, {:.0} tokens/s",
        mean * 1e3,
        (b * t) as f64 / mean
    );
    let enc = model
        .encode(
            &(0..t)
                .map(|i| format!("w{}", i * 7 % v))
                .collect::<Vec<_>>(),
        )
        .unwrap();
    let ig = ExplainConfig {
        method: Method::IntegratedGradients,
        ig_steps: 20,
        ..Default::default()
    };
    let mut times = Vec::new();
    for i in 0..steps + 1 {
        let t0 = Instant::now();
        explain::explain(&model, &enc, 1, &ig, 0).unwrap();
        if i > 0 {
            times.push(t0.elapsed().as_secs_f64());
        }
    }
    let mean = times.iter().sum::<f64>() / times.len() as f64;
    println!(
        "candle IG-20: {:.1} ms/input, {:.0} input tokens/s",
        mean * 1e3,
        t as f64 / mean
    );
}
