//! Why LVM2 could not be read. Every message names the byte offset, the volume or the
//! metadata line concerned and, for a limit, the limit.

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why reading failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The disk under a physical volume could not be read.
    #[error("reading {len} bytes at byte {offset} of the physical volume ({what})")]
    Read {
        /// What was being read, e.g. "metadata area header".
        what: &'static str,
        /// Byte offset inside the physical volume.
        offset: u64,
        /// Bytes asked for.
        len: u64,
        /// The disk's error.
        #[source]
        source: ddgz_disk::Error,
    },
    /// No `LABELONE` label in the first four sectors: not an LVM2 physical volume.
    #[error("not an LVM2 physical volume: {0}")]
    NotLvm(String),
    /// A structure or the metadata is inconsistent: what, where, and the bad value.
    #[error("corrupt LVM2 metadata: {0}")]
    Corrupt(String),
    /// A logical volume whose segment type this reader does not map (thin, snapshot,
    /// mirror, raid, cache, …): the volume and the type, so the caller can say which and
    /// why (the CLI's exit code 3).
    #[error("logical volume {lv}: segment type \"{segtype}\" is not supported ({detail})")]
    Unsupported {
        /// `VG/LV`.
        lv: String,
        /// The segment type as the metadata names it.
        segtype: String,
        /// What it is and why it cannot be read as a plain volume.
        detail: String,
    },
    /// A physical volume the metadata names is not among the disks given.
    #[error("logical volume {lv} needs physical volume {pv} (uuid {uuid}), which was not found")]
    MissingPv {
        /// `VG/LV`.
        lv: String,
        /// The metadata's name for the PV (`pv0`, …).
        pv: String,
        /// Its uuid.
        uuid: String,
    },
    /// No volume group or logical volume of that name.
    #[error("{0}: no such volume")]
    NotFound(String),
    /// A bound that keeps memory and time finite on hostile input was reached.
    #[error("limit exceeded: {0}")]
    Limit(String),
}

/// Shorthand for [`Error::Corrupt`].
pub(crate) fn corrupt(msg: impl Into<String>) -> Error {
    Error::Corrupt(msg.into())
}
