//! xz output as a stream of independent blocks, for the ordered parallel pipeline.
//!
//! - [`BlockEncoder::encode`] turns one chunk into one complete xz Block: block header with
//!   both sizes, one LZMA2 filter (xz's preset, dictionary no larger than the chunk), the
//!   LZMA2 data from a fresh encoder, padding, CRC-64 check. Stateless per chunk, so
//!   workers run in parallel and equal input gives equal bytes.
//! - Zeros cost no compression: LZMA2 of 2 MiB of zeros is computed once per process (once
//!   from an empty dictionary, once after zeros with a state reset only, which may repeat
//!   itself), and a zero block of any length is those units copied, the remainder encoded
//!   (under 2 MiB), and its CRC-64 computed arithmetically.
//! - [`XzStreamWriter`] writes the stream header, the blocks in the order given, then the
//!   index and footer; it keeps only the index records (a few bytes per block).
//!
//! The check is CRC-64, xz's default (what `xz -6` writes, so what curtin's `xzcat` sees
//! every day): `xz -t`, `xzcat`, Python's `lzma` and ddgz's reader (lzma-rust2) verify it
//! (tested), and it costs nothing measurable next to LZMA (a table CRC runs at hundreds of
//! MB/s, LZMA at a few). CRC-32 would be accepted by the same tools; it buys nothing here.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod block;
pub mod crc64;
mod stream;

pub use block::{BlockEncoder, EncodedBlock, IndexRecord};
pub use stream::{Summary, XzStreamWriter, ZERO_BLOCK_MAX};
