//! Why an NTFS volume could not be read. Every message names the MFT record, attribute or
//! byte offset concerned and, for a limit, the limit.

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why reading failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The disk under the volume could not be read.
    #[error("reading {len} bytes at byte {offset} of the NTFS volume")]
    Read {
        /// Byte offset inside the volume (partition).
        offset: u64,
        /// Bytes asked for.
        len: u64,
        /// The disk's error.
        #[source]
        source: ddgz_disk::Error,
    },
    /// No NTFS boot sector at byte 0.
    #[error("not an NTFS volume: {0}")]
    NotNtfs(String),
    /// A structure is inconsistent: what, where, and the bad value.
    #[error("corrupt NTFS volume: {0}")]
    Corrupt(String),
    /// A feature this reader does not implement, named.
    #[error("unsupported NTFS feature: {0}")]
    Unsupported(String),
    /// A path or stream does not exist in the volume.
    #[error("{0}: no such file, directory or stream in the NTFS volume")]
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

/// Prefixes a corruption (or limit) message with `ctx` (where it was met); other errors,
/// a failed read above all, pass unchanged so that their kind and cause survive.
pub(crate) fn within(e: Error, ctx: impl FnOnce() -> String) -> Error {
    match e {
        Error::Corrupt(m) => Error::Corrupt(format!("{}: {m}", ctx())),
        Error::Limit(m) => Error::Limit(format!("{}: {m}", ctx())),
        Error::Unsupported(m) => Error::Unsupported(format!("{}: {m}", ctx())),
        other => other,
    }
}
