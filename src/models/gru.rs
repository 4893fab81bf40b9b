//! A bidirectional GRU encoder (PyTorch gate order r, z, n), both directions advanced together.
//!
//! candle's own GRU has no bidirectional mode and slices per time step in a way whose backward
//! pass is quadratic in the length (`research/stack.md` §5.3). Here the whole layer is one
//! fused op ([`BiGruScan`]) with its own backward pass, so
//! gradients reach the embeddings, `w_ih`, `b_ih`, `w_hh` and `b_hh` (and the mask). Padding is
//! masked: a padded step leaves the state unchanged, so the reversed direction starts at each
//! sequence's own last token. The parameters keep their names and shapes (checkpoints load
//! as before); `tests/fixtures/gru_reference.py` pins the layout to `torch.nn.GRU`'s.

use super::gru_scan::BiGruScan;
use super::params::{Init, ParamStore};
use super::Result;
use candle_core::{DType, Tensor};

/// A one-layer bidirectional GRU: (B, T, E) → (B, T, 2H).
#[derive(Debug, Clone)]
pub struct BiGru {
    w_ih: Tensor,
    b_ih: Tensor,
    w_hh: Tensor,
    b_hh: Tensor,
    hidden: usize,
}

impl BiGru {
    /// Creates (or loads) the parameters under `prefix`.
    pub fn new(params: &ParamStore, prefix: &str, input: usize, hidden: usize) -> Result<Self> {
        let a = 1.0 / (hidden as f64).sqrt();
        Ok(BiGru {
            w_ih: params.get(
                &format!("{prefix}.w_ih"),
                &[input, 6 * hidden],
                Init::Uniform(a),
            )?,
            b_ih: params.get(&format!("{prefix}.b_ih"), &[6 * hidden], Init::Uniform(a))?,
            w_hh: params.get(
                &format!("{prefix}.w_hh"),
                &[2, hidden, 3 * hidden],
                Init::Uniform(a),
            )?,
            b_hh: params.get(
                &format!("{prefix}.b_hh"),
                &[2, 1, 3 * hidden],
                Init::Uniform(a),
            )?,
            hidden,
        })
    }

    /// Output width (2H).
    pub fn output_dim(&self) -> usize {
        2 * self.hidden
    }

    /// Runs both directions over `x` (B, T, E) with `mask` (B, T) of 0/1.
    pub fn forward(&self, x: &Tensor, mask: &Tensor) -> Result<Tensor> {
        let packed = Tensor::cat(
            &[
                self.w_ih.flatten_all()?,
                self.b_ih.clone(),
                self.w_hh.flatten_all()?,
                self.b_hh.flatten_all()?,
            ],
            0,
        )?;
        let x = x.to_dtype(DType::F32)?.contiguous()?;
        let mask = mask.to_dtype(DType::F32)?.contiguous()?;
        Ok(x.apply_op3(&packed, &mask, BiGruScan::new(self.hidden))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{Device, Var, D};
    use std::collections::HashMap;
    use std::path::Path;

    /// The GRU as plain candle ops, step by step (the implementation before the fused op).
    fn reference(g: &BiGru, x: &Tensor, mask: &Tensor) -> Tensor {
        let (b, t, e) = x.dims3().unwrap();
        let h = g.hidden;
        let xp = x
            .reshape((b * t, e))
            .unwrap()
            .matmul(&g.w_ih)
            .unwrap()
            .broadcast_add(&g.b_ih)
            .unwrap()
            .reshape((b, t, 6 * h))
            .unwrap();
        let step = |d: usize, xt: Tensor, mt: Tensor, state: &Tensor| -> Tensor {
            let gh = state
                .matmul(&g.w_hh.get(d).unwrap())
                .unwrap()
                .broadcast_add(&g.b_hh.get(d).unwrap())
                .unwrap();
            let xt = xt.narrow(1, 3 * h * d, 3 * h).unwrap();
            let sig = |a: usize| {
                candle_nn::ops::sigmoid(
                    &(xt.narrow(1, a * h, h).unwrap() + gh.narrow(1, a * h, h).unwrap()).unwrap(),
                )
                .unwrap()
            };
            let (r, z) = (sig(0), sig(1));
            let n = (xt.narrow(1, 2 * h, h).unwrap() + (r * gh.narrow(1, 2 * h, h).unwrap()))
                .unwrap()
                .tanh()
                .unwrap();
            let cand = (&n + (z * (state - &n).unwrap()).unwrap()).unwrap();
            (state + (cand - state).unwrap().broadcast_mul(&mt).unwrap()).unwrap()
        };
        let mut dirs = Vec::new();
        for d in 0..2 {
            let mut state = Tensor::zeros((b, h), DType::F32, &Device::Cpu).unwrap();
            let mut outs = vec![None; t];
            for s in 0..t {
                let ti = if d == 0 { s } else { t - 1 - s };
                let xt = xp.narrow(1, ti, 1).unwrap().squeeze(1).unwrap();
                let mt = mask.narrow(1, ti, 1).unwrap();
                state = step(d, xt, mt, &state);
                outs[ti] = Some(state.clone());
            }
            let outs: Vec<Tensor> = outs.into_iter().map(Option::unwrap).collect();
            dirs.push(Tensor::stack(&outs, 1).unwrap());
        }
        Tensor::cat(&dirs, D::Minus1).unwrap()
    }

    fn values(t: &Tensor) -> Vec<f32> {
        t.flatten_all().unwrap().to_vec1().unwrap()
    }

    fn assert_close(what: &str, got: &[f32], want: &[f32], tol: f32) {
        assert_eq!(got.len(), want.len(), "{what}: lengths differ");
        for (i, (a, b)) in got.iter().zip(want).enumerate() {
            assert!((a - b).abs() <= tol, "{what}[{i}]: got {a}, expected {b}");
        }
    }

    fn gru_from(tensors: HashMap<String, Tensor>, e: usize, h: usize) -> BiGru {
        let params = ParamStore::fresh_with(0, tensors, Path::new("test"));
        BiGru::new(&params, "gru", e, h).unwrap()
    }

    fn grads_of(g: &BiGru, x: &Var, out: &Tensor, w: &Tensor) -> Vec<Vec<f32>> {
        let grads = (out * w).unwrap().sum_all().unwrap().backward().unwrap();
        [x.as_tensor(), &g.w_ih, &g.b_ih, &g.w_hh, &g.b_hh]
            .iter()
            .map(|t| values(grads.get(t).expect("gradient missing")))
            .collect()
    }

    /// Outputs and gradients against torch.nn.GRU(bidirectional=True) on the same weights
    /// (fixture written by tests/fixtures/gru_reference.py, padded sequences included).
    #[test]
    fn matches_pytorch_outputs_and_gradients() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/gru_reference.json"
        );
        let fix: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let get = |k: &str| -> Vec<f32> {
            fix[k]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect()
        };
        let dims: Vec<usize> = fix["dims"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as usize)
            .collect();
        let (b, t, e, h) = (dims[0], dims[1], dims[2], dims[3]);
        let dev = Device::Cpu;
        let tensor = |k: &str, shape: &[usize]| Tensor::from_vec(get(k), shape, &dev).unwrap();
        let weights = HashMap::from([
            ("gru.w_ih".to_string(), tensor("w_ih", &[e, 6 * h])),
            ("gru.b_ih".to_string(), tensor("b_ih", &[6 * h])),
            ("gru.w_hh".to_string(), tensor("w_hh", &[2, h, 3 * h])),
            ("gru.b_hh".to_string(), tensor("b_hh", &[2, 1, 3 * h])),
        ]);
        let g = gru_from(weights, e, h);
        let x = Var::from_tensor(&tensor("x", &[b, t, e])).unwrap();
        let mask = tensor("mask", &[b, t]);
        let out = g.forward(x.as_tensor(), &mask).unwrap();
        assert_close("out", &values(&out), &get("out"), 1e-5);
        let got = grads_of(&g, &x, &out, &tensor("g", &[b, t, 2 * h]));
        let names = ["grad_x", "grad_w_ih", "grad_b_ih", "grad_w_hh", "grad_b_hh"];
        for (name, got) in names.iter().zip(&got) {
            assert_close(name, got, &get(name), 1e-5);
        }
    }

    /// Outputs and gradients (the mask's included) against the step-by-step candle ops, with
    /// masks that have holes and an all-padding row.
    #[test]
    fn matches_candle_ops_reference_with_holes_in_the_mask() {
        let (b, t, e, h) = (4, 9, 3, 6);
        let params = ParamStore::fresh(11);
        let g = BiGru::new(&params, "gru", e, h).unwrap();
        let dev = Device::Cpu;
        let x = Var::from_tensor(&Tensor::randn(0f32, 1.0, (b, t, e), &dev).unwrap()).unwrap();
        let m: Vec<f32> = (0..b * t)
            .map(|i| match i / t {
                0 => 1.0,
                1 => f32::from(i % t < 5),
                2 => f32::from(i % 3 != 1),
                _ => 0.0,
            })
            .collect();
        let mask = Var::from_tensor(&Tensor::from_vec(m, (b, t), &dev).unwrap()).unwrap();
        let w = Tensor::randn(0f32, 1.0, (b, t, 2 * h), &dev).unwrap();
        let ours = g.forward(x.as_tensor(), mask.as_tensor()).unwrap();
        let theirs = reference(&g, x.as_tensor(), mask.as_tensor());
        assert_close("out", &values(&ours), &values(&theirs), 1e-5);
        let mask_grad = |out: &Tensor| {
            let grads = (out * &w).unwrap().sum_all().unwrap().backward().unwrap();
            values(grads.get(mask.as_tensor()).expect("mask gradient missing"))
        };
        assert_close("grad_mask", &mask_grad(&ours), &mask_grad(&theirs), 1e-4);
        let (a, c) = (grads_of(&g, &x, &ours, &w), grads_of(&g, &x, &theirs, &w));
        let names = ["grad_x", "grad_w_ih", "grad_b_ih", "grad_w_hh", "grad_b_hh"];
        for ((name, a), c) in names.iter().zip(&a).zip(&c) {
            assert_close(name, a, c, 1e-4);
        }
    }

    #[test]
    fn bad_shapes_are_errors_not_panics() {
        let dev = Device::Cpu;
        let x = Tensor::zeros((2, 3, 4), DType::F32, &dev).unwrap();
        let mask = Tensor::ones((2, 3), DType::F32, &dev).unwrap();
        let packed = Tensor::zeros(
            super::super::gru_scan::Packed::new(4, 5).len(),
            DType::F32,
            &dev,
        )
        .unwrap();
        let err = x.apply_op3(&packed, &mask, BiGruScan::new(6)).unwrap_err();
        assert!(err.to_string().contains("packed parameters"), "{err}");
        let err = x
            .apply_op3(&packed, &mask.narrow(1, 0, 2).unwrap(), BiGruScan::new(5))
            .unwrap_err();
        assert!(err.to_string().contains("mask"), "{err}");
        let g = BiGru::new(&ParamStore::fresh(1), "gru", 4, 5).unwrap();
        let err = g.forward(&x.narrow(2, 0, 3).unwrap(), &mask).unwrap_err();
        assert!(err.to_string().contains("input width 3"), "{err}");
    }
}
