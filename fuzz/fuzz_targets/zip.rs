#![no_main]
//! Fuzz target: see `scoregeo::fuzzing::zip`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = scoregeo::fuzzing::zip(data);
});
