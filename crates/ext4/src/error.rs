//! Why a filesystem could not be read. Every message names the inode, block or byte
//! offset concerned and, for a limit, the limit.

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
    /// No ext2/3/4 superblock at byte 1024.
    #[error("not an ext2/ext3/ext4 filesystem: {0}")]
    NotExt(String),
    /// A structure is inconsistent: what, where, and the bad value.
    #[error("corrupt ext filesystem: {0}")]
    Corrupt(String),
    /// A feature this reader does not implement, named.
    #[error("unsupported ext filesystem: {0}")]
    Unsupported(String),
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

/// Prefixes a corruption message with `ctx` (where it was met); other errors, a failed
/// read above all, pass unchanged so that their kind and cause survive.
pub(crate) fn within(e: Error, ctx: impl FnOnce() -> String) -> Error {
    match e {
        Error::Corrupt(m) => Error::Corrupt(format!("{}: {m}", ctx())),
        other => other,
    }
}
