//! Why an XFS filesystem could not be read. Every message names the inode, block or
//! byte offset concerned and, for a limit, the limit.

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why reading failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The disk under the filesystem could not be read.
    #[error("reading {len} bytes at byte {offset} of the filesystem")]
    Read {
        /// Byte offset inside the filesystem (partition).
        offset: u64,
        /// Bytes asked for.
        len: u64,
        /// The disk's error.
        #[source]
        source: ddgz_disk::Error,
    },
    /// No XFS superblock at byte 0.
    #[error("not an XFS filesystem: {0}")]
    NotXfs(String),
    /// A structure is inconsistent: what, where, and the bad value.
    #[error("corrupt XFS filesystem: {0}")]
    Corrupt(String),
    /// A feature this reader does not implement, named.
    #[error("unsupported XFS filesystem: {0}")]
    Unsupported(String),
    /// The log holds changes not yet written home: the filesystem was not unmounted
    /// cleanly. Reading it as it is would miss them; the input is never written, so the
    /// log is not replayed here (mount it once, or run `xfs_repair`, on a copy).
    #[error("XFS log is dirty (not unmounted cleanly): {0}")]
    DirtyLog(String),
    /// A path does not exist in the filesystem.
    #[error("{0}: no such file or directory in the filesystem")]
    NotFound(String),
    /// A bound that keeps memory and time finite on hostile input was reached.
    #[error("limit exceeded: {0}")]
    Limit(String),
}

/// What a failed read of `len` bytes at byte `offset` becomes: [`Error::Read`].
pub(crate) fn read_err(offset: u64, len: u64) -> impl FnOnce(ddgz_disk::Error) -> Error {
    move |source| Error::Read {
        offset,
        len,
        source,
    }
}

/// Shorthand for [`Error::Corrupt`].
pub(crate) fn corrupt(msg: impl Into<String>) -> Error {
    Error::Corrupt(msg.into())
}

/// Prefixes a corruption message with `ctx` (where it was met); other errors pass
/// unchanged so that their kind and cause survive.
pub(crate) fn within(e: Error, ctx: impl FnOnce() -> String) -> Error {
    match e {
        Error::Corrupt(m) => Error::Corrupt(format!("{}: {m}", ctx())),
        other => other,
    }
}
