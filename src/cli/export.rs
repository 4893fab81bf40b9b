//! `rationale export`: a classifier fine-tuned here from a BERT checkpoint, written as a
//! Hugging Face `BertForSequenceClassification` folder.

use crate::models::classifier::TextClassifier;
use crate::models::hf::save_bert_classifier;
use crate::models::ModelError;
use clap::Args;
use std::path::PathBuf;
use std::process::ExitCode;

/// Options of `rationale export`.
#[derive(Args, Debug, Clone)]
#[command(after_help = "Example:
  rationale train classifier --data-dir datasets/movies --out runs/minilm --encoder bert:models/minilm
  rationale export --model runs/minilm --out minilm-movies
Then, in Python: AutoModelForSequenceClassification.from_pretrained(\"minilm-movies\") and
AutoTokenizer.from_pretrained(\"minilm-movies\") give the same logits as rationale predict.")]
pub(crate) struct ExportArgs {
    /// A classifier trained with --encoder bert:PATH: a training output folder (its best/ is used) or a checkpoint folder.
    #[arg(long)]
    model: PathBuf,
    /// The Hugging Face folder to write (replaced as a whole if it exists).
    #[arg(long)]
    out: PathBuf,
}

/// Runs `rationale export`.
pub(crate) fn export(a: ExportArgs) -> ExitCode {
    let dir = crate::explain::results::model_dir(&a.model);
    let run = || -> Result<usize, ModelError> {
        let model = TextClassifier::load(&dir)?;
        crate::io::write_dir_atomic(
            &a.out,
            |p, e| ModelError::io(p, e),
            |tmp| save_bert_classifier(&model, tmp),
        )?;
        Ok(model.config().labels.len())
    };
    match run() {
        Ok(labels) => {
            eprintln!(
                "wrote {} (BertForSequenceClassification, {labels} labels)",
                a.out.display()
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {}: {e}", dir.display());
            ExitCode::from(super::exit::UNUSABLE)
        }
    }
}
