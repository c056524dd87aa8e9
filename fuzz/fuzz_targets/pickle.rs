#![no_main]
//! Fuzz target: see `scoregeo::fuzzing::pickle`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = scoregeo::fuzzing::pickle(data);
});
