//! Text → model tokens → back: a `tokenizers` tokenizer (trained offline or a pretrained
//! model's `tokenizer.json`) that keeps, for every model token, the dataset token it came from.

use super::{ModelError, Result};
use std::path::Path;
use tokenizers::models::wordlevel::{WordLevel, WordLevelTrainer};
use tokenizers::models::TrainerWrapper;
use tokenizers::normalizers::{Lowercase, NormalizerWrapper};
use tokenizers::pre_tokenizers::whitespace::WhitespaceSplit;
use tokenizers::{AddedToken, EncodeInput, InputSequence, Tokenizer};

/// The padding token of tokenizers trained here (id 0).
pub const PAD: &str = "[PAD]";
/// The unknown-word token of tokenizers trained here (id 1).
pub const UNK: &str = "[UNK]";

/// One input encoded for a model, with the alignment back to dataset tokens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// Model token ids.
    pub ids: Vec<u32>,
    /// For each model token, the dataset token (word) it belongs to; `None` for special tokens.
    pub word_of: Vec<Option<usize>>,
    /// Number of dataset tokens of the input (including any the model never sees).
    pub n_words: usize,
    /// The id used when an input would otherwise be empty.
    pub pad_id: u32,
}

impl Encoded {
    /// The input with only the dataset tokens for which `keep` is true (special tokens stay).
    /// An input left with no tokens at all becomes the single padding token.
    pub fn keep_words(&self, keep: impl Fn(usize) -> bool) -> Encoded {
        let mut ids = Vec::with_capacity(self.ids.len());
        let mut word_of = Vec::with_capacity(self.ids.len());
        for (&id, &w) in self.ids.iter().zip(&self.word_of) {
            if w.is_none_or(&keep) {
                ids.push(id);
                word_of.push(w);
            }
        }
        if ids.is_empty() {
            ids.push(self.pad_id);
            word_of.push(None);
        }
        Encoded {
            ids,
            word_of,
            n_words: self.n_words,
            pad_id: self.pad_id,
        }
    }

    /// Sums per-model-token scores into per-dataset-token scores (sub-word pieces add up;
    /// special tokens and dataset tokens the model never saw get nothing).
    pub fn to_words(&self, token_scores: &[f32]) -> Vec<f32> {
        let mut out = vec![0.0f32; self.n_words];
        for (s, w) in token_scores.iter().zip(&self.word_of) {
            if let Some(w) = w {
                out[*w] += s;
            }
        }
        out
    }
}

/// A tokenizer that maps dataset tokens to model tokens and keeps the alignment.
#[derive(Clone)]
pub struct ModelTokenizer {
    tok: Tokenizer,
    pad_id: u32,
}

impl std::fmt::Debug for ModelTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelTokenizer")
            .field("vocab_size", &self.vocab_size())
            .finish()
    }
}

fn tk_err(e: impl std::fmt::Display) -> ModelError {
    ModelError::Tokenizer(e.to_string())
}

impl ModelTokenizer {
    /// Trains a word-level vocabulary (deterministic) from texts already split into dataset
    /// tokens: the `vocab_size` most frequent tokens seen at least `min_frequency` times, plus
    /// `[PAD]` (id 0) and `[UNK]` (id 1).
    pub fn train_word_level<'a>(
        texts: impl Iterator<Item = &'a [String]>,
        vocab_size: usize,
        min_frequency: u64,
        lowercase: bool,
    ) -> Result<Self> {
        let model = WordLevel::builder()
            .unk_token(UNK.to_owned())
            .build()
            .map_err(tk_err)?;
        let mut tok = Tokenizer::new(model);
        if lowercase {
            tok.with_normalizer(Some(NormalizerWrapper::from(Lowercase)))
                .map_err(tk_err)?;
        }
        tok.with_pre_tokenizer(Some(WhitespaceSplit));
        let mut trainer: TrainerWrapper = WordLevelTrainer::builder()
            .vocab_size(vocab_size + 2)
            .min_frequency(min_frequency)
            .show_progress(false)
            .special_tokens(vec![
                AddedToken::from(PAD, true),
                AddedToken::from(UNK, true),
            ])
            .build()
            .map_err(tk_err)?
            .into();
        let docs: Vec<String> = texts.map(|t| t.join(" ")).collect();
        tok.train(&mut trainer, docs.iter()).map_err(tk_err)?;
        Self::from_tokenizer(tok)
    }

    /// Loads a `tokenizer.json` (trained here or a pretrained model's), with any fixed
    /// padding or truncation switched off (MiniLM's file pads everything to 128).
    pub fn from_file(path: &Path) -> Result<Self> {
        if !path.is_file() {
            return Err(ModelError::MissingFile {
                path: path.to_path_buf(),
            });
        }
        let tok = Tokenizer::from_file(path)
            .map_err(|e| ModelError::Tokenizer(format!("{}: {e}", path.display())))?;
        Self::from_tokenizer(tok)
    }

    fn from_tokenizer(mut tok: Tokenizer) -> Result<Self> {
        tok.with_padding(None);
        tok.with_truncation(None).map_err(tk_err)?;
        let pad_id = tok
            .token_to_id(PAD)
            .or_else(|| tok.token_to_id("<pad>"))
            .unwrap_or(0);
        Ok(ModelTokenizer { tok, pad_id })
    }

    /// Writes `tokenizer.json`.
    pub fn save(&self, path: &Path) -> Result<()> {
        self.tok
            .save(path, false)
            .map_err(|e| ModelError::Tokenizer(format!("{}: {e}", path.display())))
    }

    /// Vocabulary size including special and added tokens.
    pub fn vocab_size(&self) -> usize {
        self.tok.get_vocab_size(true)
    }

    /// The padding id.
    pub fn pad_id(&self) -> u32 {
        self.pad_id
    }

    /// The id of a token, if in the vocabulary.
    pub fn token_to_id(&self, token: &str) -> Option<u32> {
        self.tok.token_to_id(token)
    }

    /// The vocabulary as (token, id) pairs.
    pub fn vocab(&self) -> Vec<(String, u32)> {
        let mut v: Vec<(String, u32)> = self.tok.get_vocab(true).into_iter().collect();
        v.sort_by_key(|(_, id)| *id);
        v
    }

    /// Encodes dataset tokens (with the tokenizer's special tokens), keeping at most `max_len`
    /// model tokens: content is cut at the end, leading and trailing special tokens are kept.
    pub fn encode_words(&self, words: &[String], max_len: usize) -> Result<Encoded> {
        let refs: Vec<&str> = words.iter().map(String::as_str).collect();
        let enc = self
            .tok
            .encode(
                EncodeInput::Single(InputSequence::from(refs.as_slice())),
                true,
            )
            .map_err(tk_err)?;
        let word_of: Vec<Option<usize>> = enc
            .get_word_ids()
            .iter()
            .map(|w| w.map(|w| w as usize))
            .collect();
        let keep = kept_tokens(&word_of, max_len);
        Ok(self.gather(enc.get_ids(), &word_of, &keep, words.len()))
    }

    /// Encodes a raw text exactly as the tokenizer does (normalizer, pre-tokenizer, special
    /// tokens), keeping at most `max_len` model tokens as [`ModelTokenizer::encode_words`] does.
    /// The words are the text split on whitespace; a model token belongs to the word holding
    /// the first non-whitespace character of its span (special tokens to none).
    pub fn encode_text(&self, text: &str, max_len: usize) -> Result<EncodedText> {
        let spans = word_spans(text);
        let enc = self.tok.encode(text, true).map_err(tk_err)?;
        let special = enc.get_special_tokens_mask();
        let word_of: Vec<Option<usize>> = enc
            .get_offsets()
            .iter()
            .zip(special)
            .map(|(&(a, b), &sp)| {
                let first = text
                    .get(a..b)?
                    .char_indices()
                    .find(|(_, c)| !c.is_whitespace())?;
                let at = a + first.0;
                (sp == 0)
                    .then(|| spans.iter().position(|&(s, e)| s <= at && at < e))
                    .flatten()
            })
            .collect();
        let keep = kept_tokens(&word_of, max_len);
        let tokens = enc.get_tokens();
        Ok(EncodedText {
            words: spans.iter().map(|&(s, e)| text[s..e].to_owned()).collect(),
            tokens: keep.iter().map(|&i| tokens[i].clone()).collect(),
            tokens_before_cut: enc.len(),
            encoded: self.gather(enc.get_ids(), &word_of, &keep, spans.len()),
        })
    }

    /// The tokens at `keep`; an input left empty becomes the padding token.
    fn gather(
        &self,
        ids: &[u32],
        word_of: &[Option<usize>],
        keep: &[usize],
        n_words: usize,
    ) -> Encoded {
        let mut out = Encoded {
            ids: keep.iter().map(|&i| ids[i]).collect(),
            word_of: keep.iter().map(|&i| word_of[i]).collect(),
            n_words,
            pad_id: self.pad_id,
        };
        if out.ids.is_empty() {
            out.ids.push(self.pad_id);
            out.word_of.push(None);
        }
        out
    }
}

/// Which of the tokens to keep so that at most `max_len` remain: content is cut at the end,
/// leading and trailing special tokens (those with no word) are kept.
fn kept_tokens(word_of: &[Option<usize>], max_len: usize) -> Vec<usize> {
    let n = word_of.len();
    let lead = word_of.iter().take_while(|w| w.is_none()).count();
    let trail = if lead == n {
        0
    } else {
        word_of.iter().rev().take_while(|w| w.is_none()).count()
    };
    let content = (n - lead - trail).min(max_len.saturating_sub(lead + trail).max(1));
    (0..lead + content).chain(n - trail..n).collect()
}

/// Byte spans of the whitespace-separated words of `text`.
fn word_spans(text: &str) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (c.is_whitespace(), start) {
            (true, Some(s)) => {
                spans.push((s, i));
                start = None;
            }
            (false, None) => start = Some(i),
            _ => {}
        }
    }
    if let Some(s) = start {
        spans.push((s, text.len()));
    }
    spans
}

/// A raw text encoded for a model ([`ModelTokenizer::encode_text`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedText {
    /// The text's whitespace-separated words (what `encoded.word_of` points into).
    pub words: Vec<String>,
    /// The model tokens kept, as strings.
    pub tokens: Vec<String>,
    /// How many model tokens the text had before it was cut to the model's length.
    pub tokens_before_cut: usize,
    /// Ids and word alignment.
    pub encoded: Encoded,
}
