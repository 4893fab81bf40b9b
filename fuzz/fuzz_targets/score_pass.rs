//! Any bytes as a results file, scored against the bundled tiny fixture: the pass must report
//! problems or scores, never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;

fuzz_target!(|data: &[u8]| {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/eraser_tiny");
    let path = std::env::temp_dir().join(format!("rationale-fuzz-{}.jsonl", std::process::id()));
    std::fs::write(&path, data).unwrap();
    let options = rationale::eval::ScoreOptions::default();
    let _ = rationale::eval::evaluate(&fixture, "test", &path, &options, &mut |_| {});
});
