//! Parameters: created from a seeded generator (candle's CPU generator cannot be seeded), or
//! taken from a weights file, always as trainable [`Var`]s in one [`VarMap`].

use super::{ModelError, Result};
use candle_core::{DType, Device, Tensor, Var};
use candle_nn::VarMap;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// How many times parameters changed in place in this process (optimizer steps, restores).
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Records that parameters changed in place: every [`Derived`] value is rebuilt on next use.
pub(crate) fn weights_changed() {
    GENERATION.fetch_add(1, Ordering::AcqRel);
}

/// A value derived from parameters (weights packed for inference), built on first use and
/// rebuilt after any in-place change of parameters ([`weights_changed`]), so a model can be
/// evaluated between training steps without reading stale weights.
pub(crate) struct Derived<T>(Mutex<Option<(u64, Arc<T>)>>);

impl<T> Derived<T> {
    /// The value, built by `build` when there is none or the parameters changed since.
    pub(crate) fn get(&self, build: impl FnOnce() -> Result<T>) -> Result<Arc<T>> {
        let now = GENERATION.load(Ordering::Acquire);
        let mut cell = self.0.lock().expect("derived value poisoned");
        if let Some((at, value)) = cell.as_ref() {
            if *at == now {
                return Ok(value.clone());
            }
        }
        let value = Arc::new(build()?);
        *cell = Some((now, value.clone()));
        Ok(value)
    }
}

impl<T> Default for Derived<T> {
    fn default() -> Self {
        Derived(Mutex::new(None))
    }
}

/// A clone starts empty (it builds its own value on first use).
impl<T> Clone for Derived<T> {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl<T> std::fmt::Debug for Derived<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Derived")
    }
}

/// How a fresh parameter is drawn.
#[derive(Debug, Clone, Copy)]
pub enum Init {
    /// All zeros.
    Zeros,
    /// All ones.
    Ones,
    /// Uniform on [-a, a].
    Uniform(f64),
    /// Normal with mean 0 and this standard deviation.
    Normal(f64),
}

/// Where parameters come from.
#[allow(clippy::large_enum_variant)]
enum Source {
    /// Fresh parameters; names found in `overrides` (pretrained weights) are taken from there.
    Fresh {
        rng: RefCell<ChaCha8Rng>,
        overrides: HashMap<String, Tensor>,
        overrides_path: Option<PathBuf>,
    },
    /// Every parameter must come from this weights file, with the right shape.
    Load {
        tensors: HashMap<String, Tensor>,
        path: PathBuf,
    },
}

/// The parameters of one model: a [`VarMap`] filled in a deterministic order.
pub struct ParamStore {
    varmap: VarMap,
    drawn: RefCell<Vec<String>>,
    source: Source,
    device: Device,
}

impl ParamStore {
    /// Fresh parameters drawn from a generator seeded with `seed`.
    pub fn fresh(seed: u64) -> Self {
        ParamStore {
            varmap: VarMap::new(),
            drawn: RefCell::new(Vec::new()),
            source: Source::Fresh {
                rng: RefCell::new(ChaCha8Rng::seed_from_u64(seed)),
                overrides: HashMap::new(),
                overrides_path: None,
            },
            device: Device::Cpu,
        }
    }

    /// Fresh parameters, except those present in `tensors` (pretrained weights, already renamed
    /// to this model's names), which are copied.
    pub fn fresh_with(seed: u64, tensors: HashMap<String, Tensor>, path: &Path) -> Self {
        ParamStore {
            varmap: VarMap::new(),
            drawn: RefCell::new(Vec::new()),
            source: Source::Fresh {
                rng: RefCell::new(ChaCha8Rng::seed_from_u64(seed)),
                overrides: tensors,
                overrides_path: Some(path.to_path_buf()),
            },
            device: Device::Cpu,
        }
    }

    /// Parameters read from a safetensors file: every parameter the model asks for must be there.
    pub fn load(path: &Path) -> Result<Self> {
        if !path.is_file() {
            return Err(ModelError::MissingFile {
                path: path.to_path_buf(),
            });
        }
        let tensors = candle_core::safetensors::load(path, &Device::Cpu).map_err(|e| {
            ModelError::Architecture {
                path: path.to_path_buf(),
                message: format!("not a readable safetensors file: {e}"),
            }
        })?;
        Ok(Self::from_tensors(tensors, path))
    }

    /// Parameters from tensors already read from `path` (named in messages): every parameter the
    /// model asks for must be there.
    pub fn from_tensors(tensors: HashMap<String, Tensor>, path: &Path) -> Self {
        ParamStore {
            varmap: VarMap::new(),
            drawn: RefCell::new(Vec::new()),
            source: Source::Load {
                tensors,
                path: path.to_path_buf(),
            },
            device: Device::Cpu,
        }
    }

    /// The device parameters live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Gets (creates) the parameter `name` with `shape`.
    pub fn get(&self, name: &str, shape: &[usize], init: Init) -> Result<Tensor> {
        let t = match &self.source {
            Source::Fresh {
                rng,
                overrides,
                overrides_path,
            } => match overrides.get(name) {
                Some(t) => {
                    check_shape(
                        t,
                        name,
                        shape,
                        overrides_path.as_deref().unwrap_or(Path::new("")),
                    )?;
                    t.to_dtype(DType::F32)?
                }
                None => {
                    self.drawn.borrow_mut().push(name.to_owned());
                    draw(&mut rng.borrow_mut(), shape, init)?
                }
            },
            Source::Load { tensors, path } => {
                let t = tensors.get(name).ok_or_else(|| ModelError::Architecture {
                    path: path.clone(),
                    message: format!("no tensor named {name:?} (expected shape {shape:?})"),
                })?;
                check_shape(t, name, shape, path)?;
                t.to_dtype(DType::F32)?
            }
        };
        let var = Var::from_tensor(&t)?;
        let out = var.as_tensor().clone();
        self.varmap
            .data()
            .lock()
            .expect("parameter map poisoned")
            .insert(name.to_owned(), var);
        Ok(out)
    }

    /// Names of the parameters drawn fresh (not taken from pretrained weights), in order.
    pub fn drawn_names(&self) -> Vec<String> {
        self.drawn.borrow().clone()
    }

    /// Checks that a loaded weights file holds no tensor the model did not use.
    pub fn check_all_used(&self) -> Result<()> {
        if let Source::Load { tensors, path } = &self.source {
            let used = self.varmap.data().lock().expect("parameter map poisoned");
            let mut extra: Vec<&String> =
                tensors.keys().filter(|k| !used.contains_key(*k)).collect();
            extra.sort();
            if let Some(first) = extra.first() {
                return Err(ModelError::Architecture {
                    path: path.clone(),
                    message: format!(
                        "{} tensor(s) the model does not use, e.g. {first:?}: a checkpoint of another architecture?",
                        extra.len()
                    ),
                });
            }
        }
        Ok(())
    }

    /// All parameters with their names, sorted by name.
    pub fn named_vars(&self) -> Vec<(String, Var)> {
        let data = self.varmap.data().lock().expect("parameter map poisoned");
        let mut v: Vec<(String, Var)> = data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Number of scalar parameters.
    pub fn num_parameters(&self) -> usize {
        self.named_vars().iter().map(|(_, v)| v.elem_count()).sum()
    }

    /// Writes all parameters to a safetensors file.
    pub fn save(&self, path: &Path) -> Result<()> {
        self.varmap.save(path).map_err(ModelError::from)
    }

    /// Overwrites every parameter from a safetensors file written by [`ParamStore::save`].
    pub fn restore(&self, path: &Path) -> Result<()> {
        let other = ParamStore::load(path)?;
        let Source::Load { tensors, .. } = &other.source else {
            unreachable!("ParamStore::load gives a Load source")
        };
        for (name, var) in self.named_vars() {
            let t = tensors.get(&name).ok_or_else(|| ModelError::Architecture {
                path: path.to_path_buf(),
                message: format!("no tensor named {name:?}"),
            })?;
            check_shape(t, &name, var.dims(), path)?;
            var.set(t)?;
        }
        weights_changed();
        if tensors.len() != self.named_vars().len() {
            return Err(ModelError::Architecture {
                path: path.to_path_buf(),
                message: format!(
                    "{} tensors in the file, {} in the model",
                    tensors.len(),
                    self.named_vars().len()
                ),
            });
        }
        Ok(())
    }
}

fn check_shape(t: &Tensor, name: &str, shape: &[usize], path: &Path) -> Result<()> {
    if t.dims() != shape {
        return Err(ModelError::Architecture {
            path: path.to_path_buf(),
            message: format!(
                "{name:?} has shape {:?}, the model needs {shape:?}",
                t.dims()
            ),
        });
    }
    Ok(())
}

/// Draws a tensor from the seeded generator.
pub(crate) fn draw(rng: &mut ChaCha8Rng, shape: &[usize], init: Init) -> Result<Tensor> {
    let n: usize = shape.iter().product();
    let v: Vec<f32> = match init {
        Init::Zeros => vec![0.0; n],
        Init::Ones => vec![1.0; n],
        Init::Uniform(a) => (0..n).map(|_| rng.gen_range(-a..=a) as f32).collect(),
        Init::Normal(s) => (0..n).map(|_| (normal(rng) * s) as f32).collect(),
    };
    Ok(Tensor::from_vec(v, shape, &Device::Cpu)?)
}

/// Inverted dropout: each element is zeroed with probability `p` and the rest scaled by
/// 1 / (1 − p), with one draw per element from the seeded generator (none when `p` ≤ 0, which
/// returns `x` unchanged).
pub(crate) fn dropout(x: &Tensor, p: f64, rng: &mut ChaCha8Rng) -> Result<Tensor> {
    if p <= 0.0 {
        return Ok(x.clone());
    }
    let scale = (1.0 / (1.0 - p)) as f32;
    let mask: Vec<f32> = (0..x.elem_count())
        .map(|_| if rng.gen::<f64>() < p { 0.0 } else { scale })
        .collect();
    Ok((x * Tensor::from_vec(mask, x.dims(), x.device())?)?)
}

/// A standard normal draw (Box–Muller).
pub(crate) fn normal(rng: &mut impl Rng) -> f64 {
    let u1: f64 = rng.gen_range(f64::EPSILON..1.0);
    let u2: f64 = rng.gen();
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}
