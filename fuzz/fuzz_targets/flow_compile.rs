//! Any bytes as a `cairn.flow/v1` document: reading and compiling never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let _ = flows::CompiledFlow::from_json(text);
});
