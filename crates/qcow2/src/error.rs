//! The error type: which file, what kind of problem, and a message carrying the bad
//! value, the limit it broke and the offset where it was found.

use std::path::{Path, PathBuf};

/// What kind of problem stopped the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The operating system refused an operation (open, stat, read).
    Io,
    /// The file ended before a structure the image points to (truncated, possibly while
    /// being read).
    Truncated,
    /// Not a qcow2 image, or a header field outside what the specification allows.
    InvalidFormat,
    /// A table entry or offset that a well-formed image cannot contain (reserved bits,
    /// misaligned or out-of-file offsets, undecodable compressed data).
    Corrupt,
    /// The image's corrupt bit is set and [`OpenOptions::force_corrupt`](crate::OpenOptions)
    /// was not given.
    CorruptBit,
    /// The image is encrypted: its clusters hold ciphertext.
    Encrypted,
    /// A valid image using a feature this reader does not implement (unknown
    /// incompatible bits, non-file backing protocols, other backing formats).
    Unsupported,
    /// The backing chain is too deep or loops.
    BackingChain,
    /// A guest range outside the virtual disk was requested.
    OutOfRange,
}

/// Errors opening or reading a qcow2 image.
///
/// Displays as `FILE: reason`, the reason naming the offending value, the limit it broke
/// and where it was found.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct Error {
    /// The file concerned (the image, one of its backing files, or its data file).
    pub path: PathBuf,
    /// What kind of problem.
    pub kind: ErrorKind,
    /// What is wrong, with the bad value and the limit.
    pub message: String,
}

impl Error {
    /// Builds an error about `path`.
    pub fn new(path: impl Into<PathBuf>, kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            kind,
            message: message.into(),
        }
    }

    /// The kind of problem.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
}

/// A problem found by a parser that works on bytes and does not know the file name; the
/// caller attaches the path with [`Problem::at`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub kind: ErrorKind,
    pub message: String,
}

impl Problem {
    pub(crate) fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
    pub(crate) fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidFormat, message)
    }
    pub(crate) fn corrupt(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Corrupt, message)
    }
    pub(crate) fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Unsupported, message)
    }
    /// Attaches the file name.
    pub(crate) fn at(self, path: &Path) -> Error {
        Error::new(path, self.kind, self.message)
    }
}

/// Reads exactly `buf.len()` bytes at `offset` with a positional read, naming `what` and
/// the file size seen at open in the error if the file is shorter (truncated, possibly
/// while being read).
pub(crate) fn read_exact_at(
    file: &std::fs::File,
    path: &Path,
    size_at_open: u64,
    buf: &mut [u8],
    offset: u64,
    what: &str,
) -> Result<(), Error> {
    use std::os::unix::fs::FileExt;
    file.read_exact_at(buf, offset).map_err(|e| {
        if e.kind() == std::io::ErrorKind::UnexpectedEof {
            Error::new(
                path,
                ErrorKind::Truncated,
                format!(
                    "file ended early reading {} bytes of {what} at 0x{offset:x} \
                     (file was 0x{size_at_open:x} bytes when opened): truncated?",
                    buf.len()
                ),
            )
        } else {
            Error::new(
                path,
                ErrorKind::Io,
                format!("reading {} bytes of {what} at 0x{offset:x}: {e}", buf.len()),
            )
        }
    })
}
