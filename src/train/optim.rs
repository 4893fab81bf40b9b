//! AdamW with its moments exposed, so training can be saved and resumed exactly: the
//! library's one optimizer. Its update is `candle_nn::AdamW`'s operation for operation (the
//! same f32 arithmetic with the same constants, checked bit for bit in the tests), so models
//! trained before with `candle_nn::AdamW` (word-dropout fine-tuning) come out the same; with
//! weight decay 0 it skips the multiplication of the weights by 1.0, which only ever turns a
//! −0.0 weight into +0.0. It runs as one loop over each tensor on rayon's threads, writing the
//! weights in place, not as candle's dozen tensor ops (each a pass over memory and a new
//! allocation).

use crate::models::cpu_op::f32_slice;
use crate::models::{ModelError, Result};
use candle_core::backprop::GradStore;
use candle_core::{CpuStorage, Device, InplaceOp2, Layout, Tensor, Var};
use rayon::prelude::*;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Mutex;

/// Hyper-parameters of AdamW (decoupled weight decay, Loshchilov & Hutter).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AdamWParams {
    /// First-moment decay.
    pub beta1: f64,
    /// Second-moment decay.
    pub beta2: f64,
    /// Denominator epsilon.
    pub eps: f64,
    /// Decoupled weight decay (0 gives Adam).
    pub weight_decay: f64,
}

impl Default for AdamWParams {
    fn default() -> Self {
        AdamWParams {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            weight_decay: 0.0,
        }
    }
}

struct Slot {
    name: String,
    var: Var,
    /// The moments, row-major in the variable's shape.
    m: Vec<f32>,
    v: Vec<f32>,
}

/// AdamW over named variables.
pub struct AdamW {
    slots: Vec<Slot>,
    params: AdamWParams,
    step: u64,
}

impl AdamW {
    /// An optimizer for `vars` (name, variable) with zero moments.
    pub fn new(vars: Vec<(String, Var)>, params: AdamWParams) -> Result<Self> {
        let slots = vars
            .into_iter()
            .map(|(name, var)| {
                let n = var.elem_count();
                Slot {
                    name,
                    var,
                    m: vec![0.0; n],
                    v: vec![0.0; n],
                }
            })
            .collect();
        Ok(AdamW {
            slots,
            params,
            step: 0,
        })
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.step
    }

    /// Scales all gradients so their global L2 norm is at most `max_norm`; returns the norm
    /// before clipping.
    pub fn clip_grad_norm(&self, grads: &mut GradStore, max_norm: f64) -> Result<f64> {
        let mut total = 0f64;
        for s in &self.slots {
            if let Some(g) = grads.get(s.var.as_tensor()) {
                total += g.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
            }
        }
        let norm = total.sqrt();
        if !norm.is_finite() {
            return Err(ModelError::NonFinite("gradient norm".into()));
        }
        if max_norm > 0.0 && norm > max_norm {
            let scale = max_norm / (norm + 1e-6);
            for s in &self.slots {
                if let Some(g) = grads.remove(s.var.as_tensor()) {
                    grads.insert(s.var.as_tensor(), (g * scale)?);
                }
            }
        }
        Ok(norm)
    }

    /// One update with learning rate `lr`.
    pub fn step(&mut self, grads: &GradStore, lr: f64) -> Result<()> {
        self.step += 1;
        let p = self.params;
        let t = self.step as i32;
        let c1 = 1.0 - p.beta1.powi(t);
        let c2 = 1.0 - p.beta2.powi(t);
        // candle's scalar ops (`x * f`, `x / f`, `x + f`) compute `x * mul + add` with both
        // factors cast to f32; these are those factors.
        let k = Factors {
            beta1: p.beta1 as f32,
            rest1: (1.0 - p.beta1) as f32,
            beta2: p.beta2 as f32,
            rest2: (1.0 - p.beta2) as f32,
            inv_c1: (1.0 / c1) as f32,
            inv_c2: (1.0 / c2) as f32,
            eps: p.eps as f32,
            lr: lr as f32,
            decay: (p.weight_decay > 0.0).then_some((1.0 - lr * p.weight_decay) as f32),
        };
        for s in &mut self.slots {
            let Some(g) = grads.get(s.var.as_tensor()) else {
                continue;
            };
            let update = InPlace {
                k: &k,
                moments: Mutex::new((&mut s.m, &mut s.v)),
            };
            s.var.as_tensor().inplace_op2(&g.contiguous()?, &update)?;
        }
        crate::models::params::weights_changed();
        Ok(())
    }

    /// Saves the moments (`m.NAME`, `v.NAME`) and the step count (`step`).
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut map: HashMap<String, Tensor> = HashMap::new();
        for s in &self.slots {
            for (key, moment) in [("m", &s.m), ("v", &s.v)] {
                let t = Tensor::from_slice(moment, s.var.shape(), &Device::Cpu)?;
                map.insert(format!("{key}.{}", s.name), t);
            }
        }
        map.insert(
            "step".into(),
            Tensor::new(&[self.step as f64], &Device::Cpu)?,
        );
        candle_core::safetensors::save(&map, path)?;
        Ok(())
    }

    /// Restores moments and step count saved by [`AdamW::save`].
    pub fn load(&mut self, path: &Path) -> Result<()> {
        if !path.is_file() {
            return Err(ModelError::MissingFile {
                path: path.to_path_buf(),
            });
        }
        let map = candle_core::safetensors::load(path, &Device::Cpu)?;
        let arch = |message: String| ModelError::Architecture {
            path: path.to_path_buf(),
            message,
        };
        for s in &mut self.slots {
            for (key, slot) in [("m", &mut s.m), ("v", &mut s.v)] {
                let name = format!("{key}.{}", s.name);
                let t = map
                    .get(&name)
                    .ok_or_else(|| arch(format!("no tensor {name:?}")))?;
                if t.dims() != s.var.dims() {
                    return Err(arch(format!("{name:?} has the wrong shape")));
                }
                *slot = t.flatten_all()?.to_vec1::<f32>()?;
            }
        }
        let step = map.get("step").ok_or_else(|| arch("no step".into()))?;
        self.step = step.to_vec1::<f64>()?[0] as u64;
        Ok(())
    }
}

/// One variable's update, written into its weights (a candle in-place op on the weights, with
/// the gradient as its operand): no new weight tensor, no copy into the variable.
struct InPlace<'a> {
    k: &'a Factors,
    /// The variable's first and second moments.
    moments: Mutex<(&'a mut Vec<f32>, &'a mut Vec<f32>)>,
}

impl InplaceOp2 for InPlace<'_> {
    fn name(&self) -> &'static str {
        "adamw"
    }

    fn cpu_fwd(
        &self,
        weights: &mut CpuStorage,
        wl: &Layout,
        grad: &CpuStorage,
        gl: &Layout,
    ) -> candle_core::Result<()> {
        let g = f32_slice("adamw", grad, gl, "gradient")?;
        let (CpuStorage::F32(w), Some((a, z))) = (weights, wl.contiguous_offsets()) else {
            candle_core::bail!("adamw: weights must be contiguous f32");
        };
        let mut moments = self.moments.lock().expect("adamw moments poisoned");
        let (m, v) = &mut *moments;
        if g.len() != z - a || m.len() != g.len() {
            candle_core::bail!("adamw: {} weights, {} gradients", z - a, g.len());
        }
        self.k.update(&mut w[a..z], g, m, v);
        Ok(())
    }
}

/// One step's constants, as f32.
struct Factors {
    beta1: f32,
    rest1: f32,
    beta2: f32,
    rest2: f32,
    inv_c1: f32,
    inv_c2: f32,
    eps: f32,
    lr: f32,
    /// 1 − lr·weight decay, when there is weight decay.
    decay: Option<f32>,
}

impl Factors {
    /// Updates the weights and the moments in place; each line is one of `candle_nn::AdamW`'s
    /// tensor ops (the `+ 0.0` of its scalar ops included: it turns −0.0 into +0.0).
    fn update(&self, theta: &mut [f32], g: &[f32], m: &mut [f32], v: &mut [f32]) {
        const CHUNK: usize = 1 << 14;
        theta
            .par_chunks_mut(CHUNK)
            .zip(m.par_chunks_mut(CHUNK))
            .zip(v.par_chunks_mut(CHUNK))
            .zip(g.par_chunks(CHUNK))
            .for_each(|(((theta, m), v), g)| {
                let items = theta.iter_mut().zip(m).zip(v).zip(g);
                for (((theta, m), v), &g) in items {
                    *m = (*m * self.beta1 + 0.0) + (g * self.rest1 + 0.0);
                    *v = (*v * self.beta2 + 0.0) + (g * g * self.rest2 + 0.0);
                    let mhat = *m * self.inv_c1 + 0.0;
                    let vhat = *v * self.inv_c2 + 0.0;
                    let upd = mhat / (vhat.sqrt() + self.eps);
                    let decayed = match self.decay {
                        Some(c) => *theta * c + 0.0,
                        None => *theta,
                    };
                    *theta = decayed - (upd * self.lr + 0.0);
                }
            });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_nn::Optimizer;

    #[test]
    fn the_update_is_candle_nn_adamw_bit_for_bit() {
        for weight_decay in [0.0, 0.01] {
            let init = Tensor::new(&[0.5f32, -1.25, 3.0, 1e-3], &Device::Cpu).unwrap();
            let a = Var::from_tensor(&init).unwrap();
            let b = Var::from_tensor(&init).unwrap();
            let mut ours = AdamW::new(
                vec![("w".into(), a.clone())],
                AdamWParams {
                    weight_decay,
                    ..Default::default()
                },
            )
            .unwrap();
            let params = candle_nn::ParamsAdamW {
                lr: 0.01,
                weight_decay,
                ..Default::default()
            };
            let mut theirs = candle_nn::AdamW::new(vec![b.clone()], params).unwrap();
            let x = Tensor::new(&[1.5f32, -0.5, 0.25, 2.0], &Device::Cpu).unwrap();
            for _ in 0..5 {
                let la = (a.as_tensor() * &x)
                    .unwrap()
                    .sqr()
                    .unwrap()
                    .sum_all()
                    .unwrap();
                ours.step(&la.backward().unwrap(), 0.01).unwrap();
                let lb = (b.as_tensor() * &x)
                    .unwrap()
                    .sqr()
                    .unwrap()
                    .sum_all()
                    .unwrap();
                theirs.backward_step(&lb).unwrap();
                let bits = |v: &Var| -> Vec<u32> {
                    let t = v.as_tensor().to_vec1::<f32>().unwrap();
                    t.iter().map(|f| f.to_bits()).collect()
                };
                assert_eq!(bits(&a), bits(&b), "weight decay {weight_decay}");
            }
        }
    }
}
