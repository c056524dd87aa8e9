#![no_main]
//! Fuzz target: see `scoregeo::fuzzing::manifest`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = scoregeo::fuzzing::manifest(data);
});
