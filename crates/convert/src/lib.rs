//! What the `ddgz` command line and other image builders call to turn a disk image into a
//! MAAS `ddgz` file: open (any format of the registry) → add files into FAT partitions, in
//! memory → (with [`Options::zero_free`]) read the filesystems' free space as zeros →
//! validate the layout → compress in parallel → write atomically (or to any `Write`), with
//! the sha256 and size MAAS asks for; or ([`Options::raw`]) write the raw disk with holes.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let input = dir.path().join("disk.raw");
//! # std::fs::File::create(&input)?.set_len(4 << 20)?;
//! # let output = dir.path().join("disk.dd.gz");
//! let mut opts = ddgz_convert::Options::default();
//! opts.validate = false; // a bare disk with no partition table
//! let summary = ddgz_convert::convert(&input, &output, false, opts)?;
//! println!("{summary}"); // the text report; serde_json::to_string(&summary) for JSON
//! assert_eq!(summary.virtual_size, 4 << 20);
//! assert_eq!(summary.sha256.len(), 64);
//! # Ok(()) }
//! ```
//!
//! For progress, cancellation, a look at the layout before compressing, or a writer
//! instead of a file, use [`Converter`]. Every failure is one [`Error`] with an
//! [`ErrorKind`] and the cause chain. [`OutputFile`] is the one way ddgz writes a file:
//! a temporary no one else can have created, never one of the files the run reads,
//! fsynced and renamed into place only when complete.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod add;
mod convert;
mod error;
mod raw;
mod summary;
mod zeroed;
mod zerofree;

pub use add::plan as add_plan;
pub use convert::{convert, Converter, Options, Output};
pub use ddgz_deflate::{Codec, Progress};
/// Atomic output, re-exported from `ddgz-output` (its home) for this crate's callers.
pub use ddgz_output::{files_under, OutputError, OutputFile};
pub use error::{Error, ErrorKind, Result};
pub use summary::Summary;
pub use zeroed::Zeroed;
pub use zerofree::{plan as zero_free_plan, VolumeZeroing, ZeroFree, MAX_RANGES};

/// `disk` with the free space of its clean filesystems read as zeros ([`zero_free_plan`]),
/// and what was zeroed: what `convert --zero-free` writes, and what `verify --against
/// --zero-free` compares with.
pub fn zero_free(disk: Box<dyn ddgz_image::Disk>) -> Result<(Box<dyn ddgz_image::Disk>, ZeroFree)> {
    let (ranges, report) = zerofree::plan(&*disk);
    if ranges.is_empty() {
        return Ok((disk, report));
    }
    let z = Zeroed::new(disk, ranges).map_err(|e| Error::wrap(ErrorKind::Input, e))?;
    Ok((Box::new(z), report))
}
