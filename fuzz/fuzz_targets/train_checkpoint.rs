#![no_main]
//! Fuzz target: see `scoregeo::fuzzing::train_checkpoint`.

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = scoregeo::fuzzing::train_checkpoint(data);
});
