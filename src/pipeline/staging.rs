//! All-or-nothing output folders: the job writes into a hidden sibling folder, which replaces
//! the output folder only on success and is removed on failure (or by the next run after a
//! Ctrl-C).

use super::PipelineError;
use std::path::{Path, PathBuf};

/// A staging folder for `out`.
pub struct Staging {
    tmp: PathBuf,
    out: PathBuf,
    committed: bool,
}

/// The marker that says a folder was written by `rationale run` and may be replaced.
const MARKER: &str = "run.json";

impl Staging {
    /// Creates `.<name>.partial` beside `out`, after checking that `out` is either missing, empty
    /// or an earlier run's output (never replaces anything else).
    pub fn new(out: &Path) -> Result<Self, PipelineError> {
        if out.exists() {
            let empty = std::fs::read_dir(out)
                .map_err(|e| PipelineError::io(out, e))?
                .next()
                .is_none();
            if !empty && !out.join(MARKER).is_file() {
                return Err(PipelineError::Config(format!(
                    "{} exists and is not the output of `rationale run` (no {MARKER}); \
                     choose another --out or remove it",
                    out.display()
                )));
            }
        }
        let parent = out
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(parent).map_err(|e| PipelineError::io(parent, e))?;
        let name = out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| {
                PipelineError::Config(format!("--out {}: not a folder name", out.display()))
            })?;
        let tmp = parent.join(format!(".{name}.partial"));
        if tmp.exists() {
            std::fs::remove_dir_all(&tmp).map_err(|e| PipelineError::io(&tmp, e))?;
        }
        std::fs::create_dir_all(&tmp).map_err(|e| PipelineError::io(&tmp, e))?;
        Ok(Staging {
            tmp,
            out: out.to_path_buf(),
            committed: false,
        })
    }

    /// The staging folder.
    pub fn path(&self) -> &Path {
        &self.tmp
    }

    /// Replaces the output folder with the staging folder.
    /// The earlier output is first renamed aside, so that an interruption leaves either the old
    /// or the new folder in place, never a mix.
    pub fn commit(mut self) -> Result<(), PipelineError> {
        let old = self.tmp.with_extension("old");
        if self.out.exists() {
            if old.exists() {
                std::fs::remove_dir_all(&old).map_err(|e| PipelineError::io(&old, e))?;
            }
            std::fs::rename(&self.out, &old).map_err(|e| PipelineError::io(&self.out, e))?;
        }
        std::fs::rename(&self.tmp, &self.out).map_err(|e| PipelineError::io(&self.tmp, e))?;
        self.committed = true;
        if old.exists() {
            std::fs::remove_dir_all(&old).map_err(|e| PipelineError::io(&old, e))?;
        }
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.tmp);
        }
    }
}

/// Every file under `dir`, relative to it, sorted.
pub fn list_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(rel) = p.strip_prefix(dir) {
                out.push(rel.to_path_buf());
            }
        }
    }
    out.sort();
    out
}
