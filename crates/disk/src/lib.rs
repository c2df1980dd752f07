//! The `Disk` abstraction of ddgz: the bottom of the crate graph.
//!
//! Every source of guest bytes — a raw file, a qcow2 image with its backing chain, a disk
//! with some byte ranges replaced — answers two questions: *what is at guest range
//! [a, b)* ([`Disk::extents`], so that zero regions are never read) and *give me those
//! bytes* ([`Disk::read_at`]). The compressor, the validators and the FAT editor all work
//! on a `&dyn Disk` and never care where the bytes come from.
//!
//! Every format reader (qcow2, …) implements [`Disk`] in its own crate; the consumers
//! (layout validation, FAT edits, compression) depend on this crate only.
//!
//! ```
//! use ddgz_disk::{Disk, MemoryDisk};
//! let disk = MemoryDisk::new(vec![0u8; 4096]);
//! for e in disk.extents(0, disk.size())? {
//!     println!("{:>12} +{:<12} {:?}", e.offset, e.len, e.kind);
//! }
//! # Ok::<(), ddgz_disk::Error>(())
//! ```
#![deny(missing_docs)]

pub mod bytes;
mod capture;
mod container;
pub mod crc32c;
mod error;
mod extent;
mod file;
mod image_file;
pub mod map;
mod memory;
mod name;
mod overlay;
mod raw;
mod reader;
pub mod size;
mod walk;
mod window;

pub use capture::{first_nonzero, Capture, CaptureView, CAPTURE_HEAD, CAPTURE_TAIL};
pub use container::{
    open_own, open_top, Chain, Container, Facts, OpenBacking, Opening, OwnBacking, RawBackingOnly,
    DEFAULT_MAX_CHAIN_DEPTH,
};
pub use error::{Error, Result};
pub use extent::{push_merged, Extent, ExtentKind};
pub use file::{FileId, InputFile};
pub use image_file::{open_error, ImageFile};
pub use map::{Map, Mapping, Runs, UnitCache};
pub use memory::MemoryDisk;
pub use name::{confine, escape, escape_message, resolve_name, show_name, NameError, OUTSIDE_FLAG};
pub use overlay::{Overlay, Patch};
pub use raw::RawDisk;
pub use reader::{Problem, ReaderError, ReaderKind};
pub use walk::{data_bytes_in, first_data, walk_extents, EXTENT_WINDOW};
pub use window::{seek_target, Window};

/// A read-only source of guest bytes.
///
/// Implementations must be usable from several threads at once: the compressor reads
/// chunks in parallel.
pub trait Disk: Send + Sync + std::fmt::Debug {
    /// Virtual size in bytes.
    fn size(&self) -> u64;

    /// Describes `[offset, offset + len)` as runs of [`ExtentKind::Zero`] and
    /// [`ExtentKind::Data`], in order, adjacent runs of one kind merged, covering the range
    /// exactly. `Data` may still contain zeros; `Zero` never contains anything else.
    /// Fails if the range does not lie inside the disk.
    fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>>;

    /// The extents of a prefix of `[offset, offset + len)`, as [`Disk::extents`] gives
    /// them, with at least one extent when `len > 0`: a walker ([`walk_extents`]) calls it
    /// again from where the list ends. A format answers with a bounded number of runs,
    /// however many bytes they cover, so walking a huge disk costs in proportion to its
    /// metadata, not its size. The default asks for at most [`EXTENT_WINDOW`] bytes.
    fn extents_from(&self, offset: u64, len: u64) -> Result<Vec<Extent>> {
        self.extents(offset, len.min(EXTENT_WINDOW))
    }

    /// Fills `buf` with the guest bytes at `offset`. Fails if the range does not lie inside
    /// the disk or the source cannot be read.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()>;

    /// Bytes that are not known to be zero (the sum of the `Data` extents). The default
    /// walks the extents in [`EXTENT_WINDOW`]s, so memory does not grow with the disk; a
    /// format that can count from its tables more cheaply overrides it.
    fn allocated_bytes(&self) -> Result<u64> {
        data_bytes_in(self, 0, self.size())
    }

    /// Every file this disk reads: the image, its backing chain, its data file. A writer
    /// refuses an output that is one of them (compared by identity, not by name), so a
    /// run never replaces or truncates its own input. A disk that reads files must list
    /// them all; the default (none) is for disks held in memory.
    fn files(&self) -> Vec<FileId> {
        Vec::new()
    }
}

/// `Disk` for a pointer to a disk: every method forwards to the disk pointed at.
macro_rules! forward_disk {
    ($($ptr:ty),+) => {$(
        impl<D: Disk + ?Sized> Disk for $ptr {
            fn size(&self) -> u64 {
                (**self).size()
            }
            fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>> {
                (**self).extents(offset, len)
            }
            fn extents_from(&self, offset: u64, len: u64) -> Result<Vec<Extent>> {
                (**self).extents_from(offset, len)
            }
            fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
                (**self).read_at(offset, buf)
            }
            fn allocated_bytes(&self) -> Result<u64> {
                (**self).allocated_bytes()
            }
            fn files(&self) -> Vec<FileId> {
                (**self).files()
            }
        }
    )+};
}

forward_disk!(&D, Box<D>, std::sync::Arc<D>);

/// Checks that `[offset, offset + len)` lies inside a disk of `size` bytes.
pub fn check_range(size: u64, offset: u64, len: u64) -> Result<()> {
    match offset.checked_add(len) {
        Some(end) if end <= size => Ok(()),
        _ => Err(Error::OutOfRange { offset, len, size }),
    }
}

/// Reads `buf.len()` bytes at byte `offset` of the window of `size` bytes that starts at
/// byte `base` of `disk` (a filesystem inside a partition), refusing a range past the
/// window: the one bounds-checked read of the filesystem readers.
pub fn read_within<D: Disk + ?Sized>(
    disk: &D,
    base: u64,
    size: u64,
    offset: u64,
    buf: &mut [u8],
) -> Result<()> {
    let len = buf.len() as u64;
    check_range(size, offset, len)?;
    let at = base
        .checked_add(offset)
        .ok_or(Error::OutOfRange { offset, len, size })?;
    disk.read_at(at, buf)
}

/// Bytes of `disk` that are not known to be zero: [`Disk::allocated_bytes`].
pub fn allocated_bytes(disk: &dyn Disk) -> Result<u64> {
    disk.allocated_bytes()
}
