#![no_main]
//! Fuzz target: see `scoregeo::fuzzing::npy`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = scoregeo::fuzzing::npy(data);
});
