#![no_main]
//! Fuzz target: see `scoregeo::fuzzing::pytorch`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = scoregeo::fuzzing::pytorch(data);
});
