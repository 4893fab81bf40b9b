//! Atomic file and folder writes: a reader never sees half a file, and an interrupted write
//! leaves the earlier contents in place.

use std::path::{Path, PathBuf};

/// The hidden sibling `.{name}.{tag}{pid}` of `path`, in the same folder (so a rename is atomic).
fn sibling(path: &Path, tag: &str) -> PathBuf {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    dir.join(format!(".{name}.{tag}{}", std::process::id()))
}

/// Writes `contents` to `path` atomically (a temporary file in the same folder, then a rename).
pub fn write_atomic(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let tmp = sibling(path, "tmp");
    std::fs::write(&tmp, contents)?;
    std::fs::rename(&tmp, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

/// Writes a folder all-or-nothing: `fill` writes into a temporary sibling, which then replaces
/// `dest`. An error from `fill` removes the temporary folder and leaves `dest` as it was; an
/// I/O failure is reported as `E::from` the error and the path it concerns.
pub fn write_dir_atomic<E>(
    dest: &Path,
    io_error: impl Fn(&Path, std::io::Error) -> E,
    fill: impl FnOnce(&Path) -> Result<(), E>,
) -> Result<(), E> {
    let tmp = sibling(dest, "tmp");
    let old = sibling(dest, "old");
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).map_err(|e| io_error(&tmp, e))?;
    if let Err(e) = fill(&tmp) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if dest.exists() {
        std::fs::rename(dest, &old).map_err(|e| io_error(dest, e))?;
    }
    std::fs::rename(&tmp, dest).map_err(|e| io_error(dest, e))?;
    let _ = std::fs::remove_dir_all(&old);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_fill_leaves_the_folder_as_it_was() {
        let root = tempfile::tempdir().unwrap();
        let dest = root.path().join("ckpt");
        let io = |p: &Path, e: std::io::Error| format!("{}: {e}", p.display());
        write_dir_atomic(&dest, io, |d| {
            std::fs::write(d.join("a"), "1").map_err(|e| io(d, e))
        })
        .unwrap();
        let failed = write_dir_atomic(&dest, io, |d| {
            std::fs::write(d.join("a"), "2").map_err(|e| io(d, e))?;
            Err("stopped".to_string())
        });
        assert_eq!(failed.unwrap_err(), "stopped");
        assert_eq!(std::fs::read_to_string(dest.join("a")).unwrap(), "1");
        let leftovers = std::fs::read_dir(root.path()).unwrap().count();
        assert_eq!(leftovers, 1, "only the folder itself remains");
    }

    #[test]
    fn write_atomic_replaces_the_file() {
        let root = tempfile::tempdir().unwrap();
        let p = root.path().join("f.json");
        write_atomic(&p, b"one").unwrap();
        write_atomic(&p, b"two").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1);
    }
}
