//! Deterministic synthetic disk images for tests, demos and benchmarks: GPT, ESXi layouts,
//! realistic (compressible like real OS files) content. Same seed, same bytes.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod content;
pub mod esxi;
pub mod gpt;
