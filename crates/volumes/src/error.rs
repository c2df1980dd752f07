//! What can go wrong, in two kinds a command line tells apart: the request (no such
//! partition, path, or a directory where a file is wanted) and the image (a filesystem
//! ddgz does not read, or one that is damaged).

/// Why a volume could not be opened, listed or read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The partition asked for is not in the table (or the table cannot be read).
    #[error("{0}")]
    Partition(#[source] ddgz_partitions::Error),
    /// The logical volume asked for is not in any volume group found.
    #[error("no logical volume {name} (found: {found})")]
    NoLv {
        /// `VG/LV` as asked.
        name: String,
        /// What was found, and why other partitions could not be read.
        found: String,
    },
    /// The path does not exist.
    #[error("{place}: /{path}: no such file or directory")]
    NotFound {
        /// "partition 1", "logical volume rl/root".
        place: String,
        /// The path inside the filesystem, without its leading `/`.
        path: String,
    },
    /// A directory, or another kind of file, where a regular file is needed.
    #[error("{place}: /{path} {what}")]
    NotFile {
        /// The volume.
        place: String,
        /// The path.
        path: String,
        /// "is a directory", "is a character device (not a regular file)".
        what: String,
    },
    /// The volume holds no filesystem ddgz reads: what it holds instead.
    #[error("{place}: {what}: not a filesystem ddgz reads (it reads FAT, ext2/3/4, XFS and NTFS)")]
    Unsupported {
        /// The volume.
        place: String,
        /// "Linux swap", "an LVM2 physical volume (…)", "VMFS", "unknown data".
        what: String,
    },
    /// A FAT error, as the FAT reader says it (it names the volume).
    #[error(transparent)]
    Fat(ddgz_fat::Error),
    /// A filesystem reader's error (damaged, unsupported feature, read error).
    #[error("{place}: {source}")]
    Fs {
        /// The volume.
        place: String,
        /// The reader's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// LVM metadata that could not be read or put together.
    #[error("{what}: {source}")]
    Lvm {
        /// The volume or group.
        what: String,
        /// The LVM reader's error.
        #[source]
        source: ddgz_lvm::Error,
    },
    /// Writing a file's content out failed (a closed pipe among the reasons).
    #[error("write to {what}")]
    Output {
        /// Where: "stdout".
        what: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// The kind of an [`Error`], for an exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The request names something that is not there (exit 2 at the command line).
    Usage,
    /// The image cannot be read as asked (exit 3).
    Input,
    /// The output could not be written.
    Output,
}

impl Error {
    /// Whether this is the request's fault, the image's, or the output's.
    pub fn kind(&self) -> ErrorKind {
        use ddgz_fat::Error as F;
        match self {
            Error::Partition(ddgz_partitions::Error::NoSuchPartition { .. })
            | Error::NoLv { .. }
            | Error::NotFound { .. }
            | Error::NotFile { .. } => ErrorKind::Usage,
            Error::Fat(F::NotFound { .. } | F::Conflict { .. } | F::Partition { .. }) => {
                ErrorKind::Usage
            }
            Error::Fat(F::Output { .. }) | Error::Output { .. } => ErrorKind::Output,
            _ => ErrorKind::Input,
        }
    }
}

/// Results of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A reader's error on `place`.
pub(crate) fn fs_err(
    place: &impl std::fmt::Display,
    e: impl std::error::Error + Send + Sync + 'static,
) -> Error {
    Error::Fs {
        place: place.to_string(),
        source: Box::new(e),
    }
}
