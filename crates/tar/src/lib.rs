//! Write a root filesystem as the tarball MAAS deploys (`filetype=tgz`), the way
//! `tar -Scpf --acls --selinux --xattrs --one-file-system --exclude-backups -C ROOT .`
//! writes it — from an ext2/3/4 or XFS filesystem inside an image (any [`ddgz_fs::Tree`]), without mounting it.
//!
//! - [`format`](mod@format): the pax archive format GNU tar writes (xattrs, ACLs, SELinux contexts,
//!   sub-second times, GNU sparse 1.0). Written by hand rather than with the `tar` crate:
//!   that crate writes no sparse members and we want GNU tar's exact record set.
//! - [`tree`]: the walk of an ext filesystem: members in name order (the same image
//!   gives the same bytes), hard links as links, sockets skipped as GNU tar does, backup
//!   files excluded, paths emptied or excluded for the image edits.
//! - [`host`]: files from the host added to the stream (curtin hooks).
//! - [`names`]: user and group names from the image's own `/etc/passwd` and `/etc/group`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod format;
pub mod host;
pub mod names;
pub mod tree;

pub use format::{Header, Kind, Writer};
pub use names::Names;
pub use tree::{write_fs, Options, Report};

/// Why writing the tarball failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The filesystem could not be read at a path.
    #[error("{}", String::from_utf8_lossy(path))]
    Fs {
        /// Member name being read.
        path: Vec<u8>,
        /// The reader's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The image's tree is inconsistent in a way the walk detects (a directory loop).
    #[error("{0}")]
    Tree(String),
    /// A bound that keeps memory finite was reached.
    #[error("limit exceeded: {0}")]
    Limit(String),
    /// A host file to add could not be read.
    #[error("{}", path.display())]
    Host {
        /// The host path.
        path: std::path::PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The output could not be written.
    #[error("writing the tarball")]
    Write(#[source] std::io::Error),
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
