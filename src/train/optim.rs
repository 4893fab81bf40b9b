//! AdamW with its moments exposed, so training can be saved and resumed exactly: the
//! library's one optimizer. Its update is `candle_nn::AdamW`'s operation for operation (the
//! same f32 tensor ops with the same f64 constants, checked bit for bit in the tests), so
//! models trained before with `candle_nn::AdamW` (word-dropout fine-tuning) come out the same;
//! with weight decay 0 it skips the multiplication of the weights by 1.0, which only ever
//! turns a −0.0 weight into +0.0.

use crate::models::{ModelError, Result};
use candle_core::backprop::GradStore;
use candle_core::{Device, Tensor, Var};
use std::collections::HashMap;
use std::path::Path;

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
    m: Tensor,
    v: Tensor,
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
                let m = var.zeros_like()?;
                let v = var.zeros_like()?;
                Ok(Slot { name, var, m, v })
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
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
        for s in &mut self.slots {
            let Some(g) = grads.get(s.var.as_tensor()) else {
                continue;
            };
            // Detached: gradients can carry an op graph, and moments that keep it chain every
            // earlier step's tensors alive (memory grows with the number of steps).
            let g = g.detach();
            s.m = ((&s.m * p.beta1)? + (&g * (1.0 - p.beta1))?)?.detach();
            s.v = ((&s.v * p.beta2)? + (g.sqr()? * (1.0 - p.beta2))?)?.detach();
            let mhat = (&s.m / c1)?;
            let vhat = (&s.v / c2)?;
            let upd = (mhat / (vhat.sqrt()? + p.eps)?)?;
            let theta = s.var.as_tensor();
            let decayed = if p.weight_decay > 0.0 {
                (theta * (1.0 - lr * p.weight_decay))?
            } else {
                theta.clone()
            };
            s.var.set(&(decayed - (upd * lr)?)?)?;
        }
        crate::models::params::weights_changed();
        Ok(())
    }

    /// Saves the moments (`m.NAME`, `v.NAME`) and the step count (`step`).
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut map: HashMap<String, Tensor> = HashMap::new();
        for s in &self.slots {
            map.insert(format!("m.{}", s.name), s.m.clone());
            map.insert(format!("v.{}", s.name), s.v.clone());
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
                if t.dims() != slot.dims() {
                    return Err(arch(format!("{name:?} has the wrong shape")));
                }
                *slot = t.clone();
            }
        }
        let step = map.get("step").ok_or_else(|| arch("no step".into()))?;
        self.step = step.to_vec1::<f64>()?[0] as u64;
        Ok(())
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
