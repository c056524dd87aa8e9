#![no_main]
//! Fuzz target: see `scoregeo::fuzzing::flow`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = scoregeo::fuzzing::flow(data);
});
