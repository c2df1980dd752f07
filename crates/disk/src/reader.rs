//! The error every container reader (qcow2, VMDK, VHD, VHDX, VDI) returns: which file,
//! what kind of problem, a message carrying the bad value, the limit it broke and the
//! offset where it was found, and the cause (an I/O error, a backing file's error) as
//! its [`source`](std::error::Error::source).
//!
//! One type for all readers, so that an error crossing a backing chain (a qcow2 over a
//! VMDK over a raw file) keeps its own file and kind without being boxed and downcast.

use std::path::{Path, PathBuf};

use crate::Error;

/// What kind of problem stopped a reader.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReaderKind {
    /// The operating system refused an operation (open, stat, read).
    Io,
    /// The file ended before a structure the image points to (truncated, possibly while
    /// being read).
    Truncated,
    /// Not an image of the format, or a header field outside what its specification allows.
    InvalidFormat,
    /// A table entry or offset that a well-formed image cannot contain (reserved bits,
    /// misaligned or out-of-file offsets, undecodable compressed data).
    Corrupt,
    /// The image's corrupt bit is set (qcow2) and the user did not ask to read it anyway.
    CorruptBit,
    /// The image is encrypted: its clusters hold ciphertext.
    Encrypted,
    /// A valid image using a feature the reader does not implement.
    Unsupported,
    /// The backing (parent) chain is too deep or loops.
    BackingChain,
    /// A guest range outside the virtual disk was requested.
    OutOfRange,
    /// The backing file, in another format, could not be opened or read.
    Backing,
    /// A parent (differencing disk) that cannot be found, opened or used.
    Parent,
    /// A log (VHDX) that cannot be replayed.
    Log,
}

/// Errors opening or reading a container image. Displays as `FILE: reason`.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct ReaderError {
    /// The file concerned (the image, one of its backing or extent files, its data file).
    pub path: PathBuf,
    /// What kind of problem.
    pub kind: ReaderKind,
    /// What is wrong, with the bad value and the limit.
    pub message: String,
    /// What caused it, if anything below the reader did (an I/O error).
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl ReaderError {
    /// Builds an error about `path`.
    pub fn new(path: impl Into<PathBuf>, kind: ReaderKind, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// The same error with `cause` as its source.
    pub fn with_source(mut self, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(cause));
        self
    }

    /// The kind of problem.
    pub fn kind(&self) -> ReaderKind {
        self.kind
    }

    /// An error of the disk layer (opening or reading `path`, or a backing file opened by
    /// the registry) in a reader's terms. `role` says which file `path` is, e.g.
    /// " (the backing file of top.qcow2)"; a reader's error keeps its own file and kind.
    pub fn from_disk(e: Error, path: &Path, role: &str) -> Self {
        match e {
            Error::Reader(inner) => *inner,
            Error::Io { path, what, source } => {
                let kind = if source.kind() == std::io::ErrorKind::UnexpectedEof {
                    ReaderKind::Truncated
                } else {
                    ReaderKind::Io
                };
                let what = if what == "open" {
                    "cannot open".to_string()
                } else {
                    what
                };
                let message = format!("{what}{role}: {source}");
                ReaderError::new(path, kind, message).with_source(source)
            }
            Error::Format { path, reason } => {
                ReaderError::new(path, ReaderKind::Io, format!("{reason}{role}"))
            }
            Error::Chain { path, reason } => {
                ReaderError::new(path, ReaderKind::BackingChain, format!("{reason}{role}"))
            }
            other => ReaderError::new(path, ReaderKind::Backing, format!("{other}{role}"))
                .with_source(other),
        }
    }
}

impl From<ReaderError> for Error {
    fn from(e: ReaderError) -> Self {
        Error::Reader(Box::new(e))
    }
}

/// A problem found by a parser that works on bytes and does not know the file name; the
/// caller attaches the path with [`Problem::at`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What kind of problem.
    pub kind: ReaderKind,
    /// What is wrong.
    pub message: String,
}

impl Problem {
    /// A problem of `kind`.
    pub fn new(kind: ReaderKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
    /// A field outside what the specification allows ([`ReaderKind::InvalidFormat`]).
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ReaderKind::InvalidFormat, message)
    }
    /// A value a well-formed image cannot hold ([`ReaderKind::Corrupt`]).
    pub fn corrupt(message: impl Into<String>) -> Self {
        Self::new(ReaderKind::Corrupt, message)
    }
    /// A feature the reader does not implement ([`ReaderKind::Unsupported`]).
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(ReaderKind::Unsupported, message)
    }
    /// A parent that cannot be found or used ([`ReaderKind::Parent`]).
    pub fn parent(message: impl Into<String>) -> Self {
        Self::new(ReaderKind::Parent, message)
    }
    /// Attaches the file name.
    pub fn at(self, path: &Path) -> ReaderError {
        ReaderError::new(path, self.kind, self.message)
    }
}
