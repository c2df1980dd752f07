//! FAT edits on a disk image without mounting it, listing and reading files, identifying a
//! volume ([`probe`]), kickstart media.
//!
//! The input disk is never written. [`add_files`] opens one partition of a [`Disk`](ddgz_disk::Disk) as a
//! copy-on-write view (reads go to the disk, writes stay in memory in 4 KiB blocks),
//! creates files and directories in it with our own writer (each directory read once,
//! entries appended: O(N) for N files), and returns the changed blocks as [`Patch`]es for
//! an [`ddgz_disk::Overlay`]. Memory is what changed plus the FAT, whatever the partition
//! size.
//!
//! Before anything is written, our reader checks the boot sector (sizes inside the
//! partition, sane values) and walks every directory and file chain once with bounds (no
//! chain leaves the volume, none is shared, none loops): a corrupt volume is an error,
//! never a hang or a panic. `fatfs` only formats kickstart media.
//!
//! ```no_run
//! use ddgz_fat::{add_files, AddSpec};
//! use ddgz_disk::{Disk, Overlay, RawDisk};
//! let disk = RawDisk::open("esxi.raw".as_ref())?; // or any Disk: ddgz_image::Image::open
//! let part1 = 64 * 512..8192 * 512; // from the partition table
//! let specs = [AddSpec::parse("curtin")?];
//! let patches = add_files(&disk, part1, &specs, false)?;
//! let edited = Overlay::new(&disk, patches)?; // convert this instead of `disk`
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod add;
mod bpb;
mod cow;
mod free;
mod info;
mod ks;
mod read;
mod small;
mod spec;
mod time;
mod volume;
mod write;

use std::io;
use std::path::PathBuf;

pub use add::{add_files, plan, source_files};
pub use bpb::FatType;
pub use free::{free_space, FreeSpace};
pub use info::{looks_like_fat, probe, Info, Probe, MAX_ROOT_ENTRIES};
pub use ks::{ks_media, KsOptions, KS_MIN_SIZE, KS_PARTITION_START};
pub use read::{copy_file, copy_file_in, list, list_in, read_file, Entry};
pub use small::{list_dir, read_small, stat, Small};
pub use spec::AddSpec;

pub use ddgz_disk::Patch;

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Why an edit, a listing or a read failed. Every variant names the volume ("partition 1")
/// and the path concerned, and says why.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An `--add` argument that cannot be parsed.
    #[error("--add {spec:?}: {reason}")]
    Spec {
        /// The argument as given.
        spec: String,
        /// Why it was refused.
        reason: String,
    },
    /// An option value that cannot be used (e.g. a kickstart medium size or label).
    #[error("{option} {value:?}: {reason}")]
    BadOption {
        /// The option, e.g. "--size".
        option: String,
        /// Its value.
        value: String,
        /// Why it was refused, with the limit.
        reason: String,
    },
    /// A source file or directory is missing, unreadable or of an unsupported kind.
    #[error("{}: {what}", path.display())]
    Source {
        /// The source path.
        path: PathBuf,
        /// What went wrong.
        what: String,
        /// The operating system's error, if any.
        #[source]
        source: Option<io::Error>,
    },
    /// A source name that FAT cannot hold.
    #[error("{}: FAT cannot hold the name {name:?}: {reason}", path.display())]
    BadName {
        /// The source path.
        path: PathBuf,
        /// The offending name.
        name: String,
        /// Why.
        reason: String,
    },
    /// The partition does not hold a FAT filesystem (or its boot sector is not sane).
    #[error("{volume}: not a FAT filesystem: {reason}")]
    NotFat {
        /// The volume, e.g. "partition 1".
        volume: String,
        /// What is wrong, with the values read.
        reason: String,
    },
    /// The FAT filesystem is damaged in a way that makes editing or reading unsafe.
    #[error("{volume}: damaged FAT filesystem: {reason} (fsck.fat can repair it)")]
    Corrupt {
        /// The volume.
        volume: String,
        /// What is wrong.
        reason: String,
    },
    /// The destination file exists and `--replace` was not given.
    #[error("{volume}: /{path} already exists (add --replace to overwrite it)")]
    Exists {
        /// The volume.
        volume: String,
        /// The path inside the filesystem.
        path: String,
    },
    /// A file is where a directory is needed, or the other way round.
    #[error("{volume}: /{path} {reason}")]
    Conflict {
        /// The volume.
        volume: String,
        /// The path inside the filesystem.
        path: String,
        /// E.g. "is a file, not a directory".
        reason: String,
    },
    /// A path that is not in the filesystem.
    #[error("{volume}: /{path}: no such file or directory")]
    NotFound {
        /// The volume.
        volume: String,
        /// The path inside the filesystem.
        path: String,
    },
    /// The files do not fit.
    #[error("{volume}: not enough free space: the files need {needed} bytes ({} clusters of {cluster_size} bytes), {free} bytes are free", needed / *cluster_size as u64)]
    NoSpace {
        /// The volume.
        volume: String,
        /// Bytes needed (whole clusters, directories included).
        needed: u64,
        /// Bytes free (whole clusters, including those of files being replaced).
        free: u64,
        /// Cluster size.
        cluster_size: u32,
    },
    /// The fixed root directory of a FAT12/16 volume has no room for more entries.
    #[error("{volume}: the root directory is full ({capacity} entries; {needed} more needed)")]
    RootFull {
        /// The volume.
        volume: String,
        /// Entries it holds.
        capacity: u64,
        /// Entries missing.
        needed: u64,
    },
    /// A directory would pass the 65,536 entries (32-byte slots) FAT allows.
    #[error("{volume}: /{path}: the directory is full: FAT allows 65,536 entries per directory, and these files need {needed} (a long name takes one more per 13 characters)")]
    DirFull {
        /// The volume.
        volume: String,
        /// The directory.
        path: String,
        /// Entries it would need.
        needed: u64,
    },
    /// Reading or writing the volume failed (a disk read error, or `fatfs` refused).
    #[error("{volume}: {}{what}: {source}", if path.is_empty() { String::new() } else { format!("/{path}: ") })]
    Io {
        /// The volume.
        volume: String,
        /// The path inside the filesystem, if any.
        path: String,
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// A partition number that could not be resolved to a byte range (the resolver's
    /// message, which should name the partition, is shown as it is).
    #[error("{source}")]
    Partition {
        /// The partition number.
        partition: u32,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// Writing an output file (or stream) failed.
    #[error("{}: {what}", path.display())]
    Output {
        /// The output path ("-" for standard output).
        path: PathBuf,
        /// What was being done.
        what: String,
        /// The error.
        #[source]
        source: Option<io::Error>,
    },
    /// The byte range given for a partition does not lie inside the disk.
    #[error(transparent)]
    Disk(#[from] ddgz_disk::Error),
}

impl Error {
    /// A source file or directory that cannot be read, in words a user acts on.
    pub(crate) fn unreadable(path: &std::path::Path, e: io::Error) -> Self {
        let what = match e.kind() {
            io::ErrorKind::NotFound => "no such file or directory".to_string(),
            io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            _ => format!("cannot read it: {e}"),
        };
        Error::Source {
            path: path.into(),
            what,
            source: Some(e),
        }
    }

    pub(crate) fn io(volume: &str, path: &str, what: &str, source: io::Error) -> Self {
        Error::Io {
            volume: volume.into(),
            path: path.into(),
            what: what.into(),
            source,
        }
    }
}

/// How errors name a volume that has no partition number.
pub(crate) fn range_label(r: &std::ops::Range<u64>) -> String {
    format!("FAT volume at bytes {}..{}", r.start, r.end)
}
