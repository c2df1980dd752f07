//! Deterministic synthetic disk images for tests, demos and benchmarks: GPT, ESXi layouts, realistic content
#![deny(missing_docs)]
