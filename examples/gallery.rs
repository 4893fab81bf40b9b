//! Regenerates the README's figures in `viz/gallery/` from the bundled data:
//! `cargo run --example gallery`.

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("viz/gallery");
    std::fs::create_dir_all(&dir).expect("viz/gallery is writable");
    match rationale::figures::gallery::gallery(root) {
        Ok(figures) => {
            for (name, svg) in figures {
                let path = dir.join(&name);
                std::fs::write(&path, svg).expect("figure written");
                println!("{}", path.display());
            }
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
