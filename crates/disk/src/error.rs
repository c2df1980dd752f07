use std::path::PathBuf;

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why a disk could not be opened or read. Every variant names the file or range concerned.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O call on a file failed.
    #[error("{}: {what}: {source}", path.display())]
    Io {
        /// The file concerned.
        path: PathBuf,
        /// What was being done, e.g. "read 1048576 bytes at offset 0x100000".
        what: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A format reader refused or failed; its own error says where and why.
    #[error(transparent)]
    Reader(Box<crate::ReaderError>),
    /// The file is not in the format asked for, or in none we read.
    #[error("{}: {reason}", path.display())]
    Format {
        /// The file concerned.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A backing chain loops or is longer than its limit.
    #[error("{}: {reason}", path.display())]
    Chain {
        /// The file that would have closed the loop or exceeded the limit.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A read or map request reaches past the end of the disk.
    #[error("range of {len} bytes at offset {offset} lies outside the disk ({size} bytes)")]
    OutOfRange {
        /// Start of the request.
        offset: u64,
        /// Length of the request.
        len: u64,
        /// The disk's size.
        size: u64,
    },
    /// A disk answered a request for extents with a list that does not continue the walk.
    #[error("extents: {0}")]
    Extents(String),
    /// An overlay's patches are not valid for its base disk.
    #[error("overlay: {0}")]
    Overlay(String),
}
