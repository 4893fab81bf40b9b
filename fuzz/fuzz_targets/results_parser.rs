//! Any bytes as one results line: parsing must return Ok or Err, never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = rationale::corpus::Prediction::parse(text);
    }
});
