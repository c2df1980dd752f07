//! Parallel single-member gzip of a Disk: chunked raw deflate, zero chunks for free, combined CRC
#![deny(missing_docs)]
