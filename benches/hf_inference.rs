//! Inference throughput of a Hugging Face folder (`rationale predict`'s path): the first N
//! Movies documents cut to T model tokens, forward only, in batches of B: class logits of a
//! classifier, or every next token's log-probability for a causal language model (GPT-2, Llama,
//! Mistral, Qwen2).
//! `benches/hf_inference_torch.py` is the PyTorch twin (same folder, same texts, same cut,
//! eager attention); run both in the same shell with the same thread count:
//!
//! ```sh
//! python benches/hf_inference_torch.py --make MINILM_DIR /tmp/minilm-cls   # once: MiniLM + a seeded 2-class head
//! RAYON_NUM_THREADS=2 cargo bench --bench hf_inference -- /tmp/minilm-cls 64 16 128
//! OMP_WAIT_POLICY=PASSIVE python benches/hf_inference_torch.py /tmp/minilm-cls 64 16 128 2
//! ```
//!
//! (Arguments: folder, documents, batch, tokens; the script takes the thread count last.) With
//! `BENCH_SENTENCES=1` set for both, the texts are the first N sentences of those documents (a
//! line each: variable length, mostly under T, where packing without padding pays) instead of
//! whole documents. With `BENCH_IG=1` set for both, a classifier runs integrated gradients
//! instead (`explain --method integrated-gradients`' path): each document's B steps in one
//! batch, forward and backward, the gradient of class 0's probability in the word embeddings.
//! Both print tokens/s counting real tokens (padding excluded; with `BENCH_IG`, tokens × steps).

use rationale::explain::integrated_gradients;
use rationale::models::hf::{HfConfig, HfKind};
use rationale::models::{load_text_model, LanguageModel, ModelTokenizer};
use std::path::PathBuf;
use std::time::Instant;

/// One forward pass over a batch of token ids.
type Pass = Box<dyn Fn(&[&[u32]])>;

fn main() {
    rationale::cli::keep_freed_memory(); // as the `rationale` binary does
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let Some(dir) = args.first().map(PathBuf::from) else {
        eprintln!(
            "usage: cargo bench --bench hf_inference -- DIR [docs=64] [batch=16] [tokens=128]"
        );
        std::process::exit(2);
    };
    let arg = |i: usize, d: usize| args.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (n, b, t) = (arg(1, 64), arg(2, 16), arg(3, 128));
    let kind = HfConfig::read(&dir).and_then(|c| c.kind()).ok();
    let decoder = matches!(kind, Some(HfKind::Decoder(_) | HfKind::Gpt2));
    let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("datasets/movies/docs");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&docs)
        .expect("datasets/movies/docs")
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let words = |text: &str| text.split_whitespace().collect::<Vec<_>>().join(" ");
    let sentences = std::env::var_os("BENCH_SENTENCES").is_some();
    let unit = if sentences { "sentences" } else { "docs" };
    let texts: Vec<String> = files
        .iter()
        .flat_map(|f| {
            let text = std::fs::read_to_string(f).unwrap();
            match sentences {
                true => text.lines().map(words).filter(|s| !s.is_empty()).collect(),
                false => vec![words(&text)],
            }
        })
        .take(n)
        .collect();
    let encode = |tok: &ModelTokenizer| -> Vec<Vec<u32>> {
        let ids = |x: &String| tok.encode_text(x, t).unwrap().encoded.ids;
        texts.iter().map(ids).collect()
    };
    let ig = std::env::var_os("BENCH_IG").is_some() && !decoder;
    let (enc, run): (Vec<Vec<u32>>, Pass) = if ig {
        let model = load_text_model(&dir).expect("model folder");
        let enc: Vec<_> = texts
            .iter()
            .map(|x| model.tokenizer().encode_text(x, t).unwrap().encoded)
            .collect();
        let ids = enc.iter().map(|e| e.ids.clone()).collect();
        let run = move |_: &[&[u32]]| {
            let gradients = model.gradients().expect("a classifier with gradients");
            for e in &enc {
                drop(integrated_gradients::explain(gradients, e, 0, b).unwrap());
            }
        };
        (ids, Box::new(run))
    } else if decoder {
        let model = LanguageModel::load(&dir).expect("model folder");
        let enc = encode(model.tokenizer());
        let run = move |texts: &[&[u32]]| drop(model.model().next_token_logprobs(texts).unwrap());
        (enc, Box::new(run))
    } else {
        let model = load_text_model(&dir).expect("model folder");
        let enc = encode(model.tokenizer());
        (
            enc,
            Box::new(move |texts: &[&[u32]]| drop(model.logits(texts).unwrap())),
        )
    };
    let run = || match ig {
        true => run(&[]),
        false => {
            for batch in enc.chunks(b) {
                run(&batch.iter().map(Vec::as_slice).collect::<Vec<_>>());
            }
        }
    };
    let passes = if ig { b } else { 1 };
    let tokens: usize = enc.iter().map(Vec::len).sum::<usize>() * passes;
    run(); // warm-up
    let mut times = Vec::new();
    for _ in 0..3 {
        let t0 = Instant::now();
        run();
        times.push(t0.elapsed().as_secs_f64());
    }
    times.sort_by(f64::total_cmp);
    let s = times[1];
    println!(
        "rationale {}: {n} {unit} x <= {t} tokens ({tokens} tokens), batch {b}: {:.3} s, {:.0} tokens/s (median of 3)",
        if ig { "integrated gradients" } else { "inference" },
        s,
        tokens as f64 / s
    );
}
