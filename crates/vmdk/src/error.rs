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
    /// Not a VMDK file, or a header or descriptor field outside what the specification
    /// (or our stated limit) allows.
    InvalidFormat,
    /// A table entry or offset a well-formed image cannot contain (grain tables or grains
    /// past the end of the file, undecodable compressed grains).
    Corrupt,
    /// A valid VMDK using something this reader does not implement (VMFS sparse or
    /// seSparse extents, raw device maps, other compression algorithms, protocols).
    Unsupported,
    /// The parent chain is too deep, loops, or its content IDs do not match.
    ParentChain,
    /// A guest range outside the virtual disk was requested.
    OutOfRange,
}

/// Errors opening or reading a VMDK image.
///
/// Displays as `FILE: reason`, the reason naming the offending value, the limit it broke
/// and where it was found.
#[derive(Debug, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct Error {
    /// The file concerned (the descriptor, an extent file or a parent).
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

    /// An error of the disk layer (opening or reading `path`, or a parent opened by the
    /// registry) in this crate's terms; `role` says which file `path` is, e.g. " (the
    /// parent of top.vmdk)". A VMDK error keeps its own file and kind.
    pub(crate) fn from_disk(e: ddgz_disk::Error, path: &Path, role: &str) -> Self {
        use ddgz_disk::Error as D;
        match e {
            D::Reader(inner) => match inner.downcast::<Error>() {
                Ok(v) => *v,
                Err(other) => Error::new(path, ErrorKind::ParentChain, format!("{other}{role}")),
            },
            D::Io { path, what, source } => {
                let kind = if source.kind() == std::io::ErrorKind::UnexpectedEof {
                    ErrorKind::Truncated
                } else {
                    ErrorKind::Io
                };
                let what = if what == "open" {
                    "cannot open".into()
                } else {
                    what
                };
                Error::new(path, kind, format!("{what}{role}: {source}"))
            }
            D::Format { path, reason } => {
                Error::new(path, ErrorKind::Io, format!("{reason}{role}"))
            }
            D::Chain { path, reason } => {
                Error::new(path, ErrorKind::ParentChain, format!("{reason}{role}"))
            }
            other => Error::new(path, ErrorKind::Io, format!("{other}{role}")),
        }
    }
}

impl From<Error> for ddgz_disk::Error {
    fn from(e: Error) -> Self {
        ddgz_disk::Error::Reader(Box::new(e))
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
