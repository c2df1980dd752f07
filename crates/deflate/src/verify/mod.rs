//! Verification of gzip streams: is a `.dd.gz` whole and sound, and does it equal its
//! source?
//!
//! curtin writes whatever `zcat` produces and its pipeline has no `pipefail`
//! (`domain/MAAS.md`): a truncated or corrupt stream is written to the target disk without
//! an error. This module is the check that stands in for it. It reads the stream once,
//! sequentially, in bounded memory (a 256 KiB input buffer, a 256 KiB output buffer, the
//! decoder's 32 KiB window), and checks, per RFC 1952 / RFC 1951:
//!
//! - each member's header: magic `1f 8b`, CM = 8 (deflate), no reserved FLG bits (5-7),
//!   FEXTRA (`XLEN` bytes), FNAME and FCOMMENT (NUL-terminated) skipped, FHCRC (the low
//!   16 bits of the CRC32 of the header bytes before it) checked;
//! - every deflate block of the member (decoded with zlib-rs through `flate2`);
//! - the trailer: CRC32 of the member's decoded bytes and ISIZE (their count mod 2^32);
//! - that nothing but further valid members follows (GNU `zcat` decodes concatenated
//!   members; anything else after the last member, zeros included, is an error here).
//!
//! One module per job:
//! - `stream`: [`check_stream`], the gzip stream checker;
//! - `against`: the [`Sink`]s the decoded bytes go to: [`Against`] compares them with a
//!   source [`ddgz_disk::Disk`] extent by extent (zero extents by scanning the decoded
//!   bytes, never reading the source there); [`Capture`] (from `ddgz-disk`) keeps the few
//!   ranges a layout validator needs, so that the decompressed disk can be validated
//!   without holding it;
//! - `chunk`: [`decode_chunk`], the compressor's self-check: it decodes one raw-deflate
//!   chunk and returns the CRC32 and length of what it decodes to.

use std::io;

mod against;
mod chunk;
mod stream;
mod xz;

pub use against::Against;
pub use chunk::{decode_chunk, decode_chunk_into, Decoded};
pub use ddgz_disk::{first_nonzero, Capture, CaptureView, CAPTURE_HEAD, CAPTURE_TAIL};
pub use stream::check_stream;
pub use xz::check_xz_stream;

/// Bytes decoded at a time (and handed to the sinks at most at once).
pub(crate) const OUT_BUF: usize = 256 * 1024;

/// Result with this module's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a stream did not verify. [`Error::is_finding`] tells a finding about the stream (or
/// its difference from the source) from a failure to read a file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The compressed input could not be read.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// The stream is not a sound gzip stream.
    #[error("{reason} (member {member}, compressed offset {compressed}, uncompressed offset {uncompressed})")]
    Corrupt {
        /// Offset in the compressed input at which the problem was detected.
        compressed: u64,
        /// Offset in the decoded output (all members) at which the problem was detected.
        uncompressed: u64,
        /// 1-based number of the gzip member concerned.
        member: u64,
        /// What is wrong.
        reason: String,
    },
    /// The decoded stream differs from the source.
    #[error("the decompressed disk differs from the source at byte {offset} (0x{offset:x}; compressed offset {compressed}): {detail}")]
    Differs {
        /// First differing byte of the disk.
        offset: u64,
        /// Offset in the compressed input reached when the difference was found.
        compressed: u64,
        /// How it differs.
        detail: String,
    },
    /// The source disk could not be read.
    #[error("reading the source: {0}")]
    Source(#[from] ddgz_disk::Error),
}

impl Error {
    /// True for a finding about the stream (corrupt, truncated, differs from the source),
    /// false when a file could not be read.
    pub fn is_finding(&self) -> bool {
        matches!(self, Error::Corrupt { .. } | Error::Differs { .. })
    }
}

/// What a sound stream holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Summary {
    /// Number of gzip members (1 for ddgz and pigz output).
    pub members: u64,
    /// Bytes of compressed input.
    pub compressed: u64,
    /// Bytes decoded, over all members: the size of the disk.
    pub uncompressed: u64,
    /// CRC32 of all decoded bytes.
    pub crc32: u32,
}

/// Receives the decoded bytes, in order.
pub trait Sink {
    /// `data` are the decoded bytes at `offset` of the disk. `compressed` is the offset
    /// reached in the compressed input, for error messages.
    fn write(&mut self, offset: u64, data: &[u8], compressed: u64) -> Result<()>;
    /// The stream ended soundly after `total` decoded bytes.
    fn finish(&mut self, _total: u64, _compressed: u64) -> Result<()> {
        Ok(())
    }
}

/// Position in the stream, for error messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct At {
    pub(crate) member: u64,
    pub(crate) uncompressed: u64,
}

impl At {
    pub(crate) fn corrupt(&self, compressed: u64, reason: impl Into<String>) -> Error {
        Error::Corrupt {
            compressed,
            uncompressed: self.uncompressed,
            member: self.member,
            reason: reason.into(),
        }
    }
}

/// Helpers for the tests of the submodules.
#[cfg(test)]
pub(crate) mod test_util {
    use flate2::write::GzEncoder;
    use std::io::Write;

    pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    pub(crate) fn sample() -> Vec<u8> {
        let mut d = vec![0u8; 3 << 20];
        for (i, b) in d.iter_mut().enumerate().skip(1 << 20).take(500_000) {
            *b = (i * 7 % 251) as u8;
        }
        d
    }
}
