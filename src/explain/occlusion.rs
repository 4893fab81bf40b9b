//! Occlusion: the drop in the target probability when a window of words is deleted
//! (window 1 is leave-one-out). All variants run batched.

use super::Result;
use crate::models::{Classifier, Encoded};

/// Per word: p_target(full) − p_target(input without the word's window).
pub fn explain<M: Classifier + ?Sized>(
    model: &M,
    enc: &Encoded,
    target: usize,
    window: usize,
) -> Result<Vec<f32>> {
    // Only windows that contain a word the model sees change anything.
    let seen: Vec<bool> = {
        let mut s = vec![false; enc.n_words];
        for w in enc.word_of.iter().flatten() {
            s[*w] = true;
        }
        s
    };
    let starts: Vec<usize> = (0..enc.n_words)
        .step_by(window)
        .filter(|&s| seen[s..(s + window).min(enc.n_words)].iter().any(|x| *x))
        .collect();
    let mut variants = vec![enc.ids.clone()];
    for &s in &starts {
        variants.push(enc.keep_words(|w| w < s || w >= s + window).ids);
    }
    let refs: Vec<&[u32]> = variants.iter().map(Vec::as_slice).collect();
    let probs = model.predict_proba(&refs)?;
    let full = probs[[0, target]];
    let mut out = vec![0f32; enc.n_words];
    for (i, &s) in starts.iter().enumerate() {
        let d = full - probs[[i + 1, target]];
        for o in out.iter_mut().take((s + window).min(enc.n_words)).skip(s) {
            *o = d;
        }
    }
    Ok(out)
}
