//! The error type: which file, what kind of problem, and a message carrying the bad
//! value, the limit it broke and the offset where it was found.

use std::path::{Path, PathBuf};

/// What kind of problem stopped the reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The operating system refused an operation (open, stat, read).
    Io,
    /// The file ended before a structure the image points to.
    Truncated,
    /// Not a VHDX, or a field outside what the specification (or QEMU) allows.
    InvalidFormat,
    /// A table entry or offset that a well-formed image cannot contain.
    Corrupt,
    /// A valid image using something this reader does not do.
    Unsupported,
    /// A differencing disk (it has a parent), which is not read.
    Parent,
    /// The log holds entries that must be replayed, and they cannot be.
    Log,
    /// A guest range outside the virtual disk was requested.
    OutOfRange,
}

/// Errors opening or reading a VHDX. Displays as `FILE: reason`.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct Error {
    /// The file concerned (the image).
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

/// A problem found by a parser that works on bytes and does not know the file name.
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
        Self {
            kind: ErrorKind::InvalidFormat,
            message: message.into(),
        }
    }
    pub(crate) fn corrupt(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Corrupt,
            message: message.into(),
        }
    }
    pub(crate) fn unsupported(message: impl Into<String>) -> Self {
        Self {
            kind: ErrorKind::Unsupported,
            message: message.into(),
        }
    }
    /// Attaches the file name.
    pub(crate) fn at(self, path: &Path) -> Error {
        Error::new(path, self.kind, self.message)
    }
}

impl From<Error> for ddgz_disk::Error {
    fn from(e: Error) -> Self {
        ddgz_disk::Error::Reader(Box::new(e))
    }
}
