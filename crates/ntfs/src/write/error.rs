//! Why files could not be added to an NTFS volume. Each refusal happens before anything
//! leaves memory: the edits live in a copy-on-write view, so a failed run writes nothing.

use std::path::PathBuf;

/// Result with [`WriteError`].
pub type WriteResult<T> = std::result::Result<T, WriteError>;

/// Why adding failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The volume could not be read, or is inconsistent (the reader's error).
    #[error(transparent)]
    Read(#[from] crate::Error),
    /// The volume must not be written in its state: dirty, hibernated, `$LogFile` not
    /// clean.
    #[error("NTFS volume refused: {0}; nothing was written")]
    Refused(String),
    /// Not enough free clusters or MFT records.
    #[error("NTFS volume has no room: {0}; nothing was written")]
    NoSpace(String),
    /// A case of NTFS the writer does not handle, named.
    #[error("unsupported for adding files into NTFS: {0}")]
    Unsupported(String),
    /// The destination exists and `--replace` was not given.
    #[error("{0} already exists in the NTFS volume (--replace overwrites it)")]
    Exists(String),
    /// The destination is of the wrong kind (a file where a directory is needed, …).
    #[error("{path}: {reason}")]
    Conflict {
        /// The path in the volume.
        path: String,
        /// Why.
        reason: String,
    },
    /// A name NTFS (as Windows uses it) cannot hold.
    #[error("{path}: the name {name:?} cannot be used: {reason}")]
    BadName {
        /// The source path.
        path: PathBuf,
        /// The name.
        name: String,
        /// Why.
        reason: String,
    },
    /// A source file or directory could not be read.
    #[error("{}: {what}", path.display())]
    Source {
        /// The source path.
        path: PathBuf,
        /// What went wrong.
        what: String,
        /// The I/O error.
        #[source]
        source: Option<std::io::Error>,
    },
    /// The copy-on-write view could not read the disk underneath.
    #[error("reading the disk under the NTFS volume: {0}")]
    Disk(#[from] ddgz_disk::Error),
}

/// Shorthand for a corrupt-volume error.
pub(crate) fn corrupt(m: impl Into<String>) -> WriteError {
    WriteError::Read(crate::Error::Corrupt(m.into()))
}
