#![no_main]
//! Fuzz target: see `scoregeo::fuzzing::csv`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = scoregeo::fuzzing::csv(data);
});
