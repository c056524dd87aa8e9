#![no_main]
//! Fuzz target: see `scoregeo::fuzzing::native_model`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = scoregeo::fuzzing::native_model(data);
});
