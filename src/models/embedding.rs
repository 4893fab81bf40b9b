//! Word embeddings, optionally initialised from a local GloVe-format text file (plain or
//! gzip-compressed, `.gz`).

use super::params::{Init, ParamStore};
use super::tokenizer::ModelTokenizer;
use super::{ModelError, Result};
use candle_core::Tensor;
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

/// A lookup table (vocab, dim).
#[derive(Debug, Clone)]
pub struct Embedding {
    weight: Tensor,
    dim: usize,
}

impl Embedding {
    /// Creates (or loads) the table `name` of shape (vocab, dim), N(0, 0.1²) when fresh.
    pub fn new(params: &ParamStore, name: &str, vocab: usize, dim: usize) -> Result<Self> {
        let weight = params.get(name, &[vocab, dim], Init::Normal(0.1))?;
        Ok(Embedding { weight, dim })
    }

    /// Embedding width.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// The table.
    pub fn weight(&self) -> &Tensor {
        &self.weight
    }

    /// Looks up ids of shape (B, T) (u32) → (B, T, dim).
    pub fn forward(&self, ids: &Tensor) -> Result<Tensor> {
        let dims = ids.dims().to_vec();
        let flat = ids.flatten_all()?;
        let out = self.weight.index_select(&flat, 0)?;
        let mut shape = dims;
        shape.push(self.dim);
        Ok(out.reshape(shape)?)
    }
}

/// A `(vocab, dim)` embedding table: rows drawn N(0, 0.1²) from a generator seeded with `seed`,
/// replaced by the vectors of a GloVe-format file for the tokenizer's words it covers. Returns
/// the table and how many rows came from the file.
pub fn glove_table(
    path: &Path,
    tok: &ModelTokenizer,
    vocab: usize,
    dim: usize,
    seed: u64,
) -> Result<(Tensor, usize)> {
    let (gdim, found) = read_glove(path, tok, true)?;
    if gdim != dim {
        return Err(ModelError::Config {
            path: path.to_path_buf(),
            message: format!("embeddings have {gdim} dimensions, the model's embed_dim is {dim}"),
        });
    }
    let mut rng = <ChaCha8Rng as rand::SeedableRng>::seed_from_u64(seed);
    let base = super::params::draw(&mut rng, &[vocab, dim], Init::Normal(0.1))?;
    let mut rows = base.to_vec2::<f32>()?;
    for (id, v) in &found {
        if let Some(r) = rows.get_mut(*id as usize) {
            r.copy_from_slice(v);
        }
    }
    let flat: Vec<f32> = rows.into_iter().flatten().collect();
    Ok((
        Tensor::from_vec(flat, (vocab, dim), &candle_core::Device::Cpu)?,
        found.len(),
    ))
}

/// Reads a GloVe-format text file (`word v1 v2 … vd` per line; gzip-compressed when its name
/// ends in `.gz`) for the words of `tokenizer`, returning the vectors found and how many
/// vocabulary entries were covered. Every line must have the same width; the first line's
/// width sets it.
pub fn read_glove(
    path: &Path,
    tokenizer: &ModelTokenizer,
    lowercase: bool,
) -> Result<(usize, HashMap<u32, Vec<f32>>)> {
    let file = std::fs::File::open(path).map_err(|e| ModelError::io(path, e))?;
    let reader: Box<dyn std::io::Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    let vocab: HashMap<String, u32> = tokenizer.vocab().into_iter().collect();
    let mut dim = 0usize;
    let mut found = HashMap::new();
    for (i, line) in std::io::BufReader::new(reader).lines().enumerate() {
        let line = line.map_err(|e| ModelError::io(path, e))?;
        let mut parts = line.split(' ');
        let Some(word) = parts.next() else { continue };
        if word.is_empty() {
            continue;
        }
        let values: std::result::Result<Vec<f32>, _> = parts.map(str::parse::<f32>).collect();
        let values = values.map_err(|e| ModelError::Embeddings {
            path: path.to_path_buf(),
            line: i + 1,
            message: format!("not a number: {e}"),
        })?;
        if dim == 0 {
            dim = values.len();
        }
        if values.len() != dim || dim == 0 {
            return Err(ModelError::Embeddings {
                path: path.to_path_buf(),
                line: i + 1,
                message: format!("{} values, expected {dim}", values.len()),
            });
        }
        if values.iter().any(|v| !v.is_finite()) {
            return Err(ModelError::Embeddings {
                path: path.to_path_buf(),
                line: i + 1,
                message: "non-finite value".into(),
            });
        }
        let key = if lowercase {
            word.to_lowercase()
        } else {
            word.to_owned()
        };
        if let Some(&id) = vocab.get(&key) {
            found.entry(id).or_insert(values);
        }
    }
    if dim == 0 {
        return Err(ModelError::Embeddings {
            path: path.to_path_buf(),
            line: 1,
            message: "empty embeddings file".into(),
        });
    }
    Ok((dim, found))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn tokenizer() -> ModelTokenizer {
        let docs = [
            vec!["good".to_string(), "bad".into()],
            vec!["good".into(), "bad".into()],
        ];
        ModelTokenizer::train_word_level(docs.iter().map(|d| d.as_slice()), 10, 1, true).unwrap()
    }

    #[test]
    fn reads_plain_and_gzip_files_alike() {
        let dir = tempfile::tempdir().unwrap();
        let text = "good 0.5 -1\nugly 1 1\nBad 2 3\n";
        let plain = dir.path().join("v.txt");
        std::fs::write(&plain, text).unwrap();
        let gz = dir.path().join("v.txt.gz");
        let mut enc = flate2::write::GzEncoder::new(
            std::fs::File::create(&gz).unwrap(),
            flate2::Compression::default(),
        );
        enc.write_all(text.as_bytes()).unwrap();
        enc.finish().unwrap();
        let tok = tokenizer();
        let (dim, found) = read_glove(&plain, &tok, true).unwrap();
        assert_eq!(dim, 2);
        assert_eq!(found.len(), 2, "good and bad (lower-cased), not ugly");
        assert_eq!(found[&tok.token_to_id("bad").unwrap()], vec![2.0, 3.0]);
        assert_eq!(read_glove(&gz, &tok, true).unwrap(), (dim, found));
    }

    #[test]
    fn a_ragged_line_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("v.txt");
        std::fs::write(&path, "good 0.5 -1\nbad 1\n").unwrap();
        let err = read_glove(&path, &tokenizer(), true)
            .unwrap_err()
            .to_string();
        assert!(err.contains("2") && err.contains("expected 2"), "{err}");
    }
}
