//! Parallel single-member gzip of a Disk: chunked raw deflate, zero chunks for free,
//! combined CRC (being written).
#![deny(missing_docs)]

pub mod verify;
