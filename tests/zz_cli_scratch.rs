#![allow(dead_code)]
mod data { pub use scoregeo::data::*; }
mod common { pub use scoregeo::cli::common::*; }
#[path = "../src/cli/generate.rs"]
mod generate;
