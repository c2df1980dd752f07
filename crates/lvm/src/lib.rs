//! Read LVM2 inside a disk image, without activating it, without device-mapper and
//! without root.
//!
//! RHEL-family installers put the root filesystem on LVM (`rhel/root`, `rl/root`); to
//! tar or check such a root, ddgz must find the logical volume's bytes in the image.
//! This crate reads the physical volume label and header ([`pv`]), the metadata areas
//! and their circular buffers (checksums checked), the text metadata ([`text`], a
//! small strict parser) and what it says ([`meta`]), puts volume groups together from
//! one or several PVs ([`VolumeGroup`], the newest valid copy by `seqno`), and exposes
//! linear and striped logical volumes as [`Disk`]s ([`LogicalVolume`]). Thin pools,
//! snapshots, mirrors, RAID, cache and the rest are named as
//! [`Error::Unsupported`], with the volume and the segment type.
//!
//! Untrusted input: every number from the image is checked before use, text is read
//! up to [`pv::MAX_TEXT`] per copy, the parser bounds depth, values and strings, counts
//! in the text are compared with what is there, and segments must tile their volume,
//! lie inside their PV and not share extents.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use ddgz_disk::Disk;
//! # let disk = ddgz_disk::MemoryDisk::new(vec![]);
//! let pv = ddgz_lvm::Slice::new(&disk, 1 << 20, 64 << 20)?; // a partition
//! let vg = ddgz_lvm::VolumeGroup::open([pv])?;
//! for lv in vg.lvs() {
//!     println!("{}/{} {} bytes", vg.name(), lv.name, lv.size);
//! }
//! let root = vg.open_lv("root")?;
//! let mut first = [0u8; 512];
//! root.read_at(0, &mut first)?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod crc;
mod error;
mod lv;
pub mod meta;
pub mod pv;
pub mod scan;
#[doc(hidden)]
pub mod synth;
pub mod text;
mod vg;

use ddgz_disk::{check_range, Disk, Extent, FileId};

pub use error::{Error, Result};
pub use lv::LogicalVolume;
pub use meta::{LvMeta, PvMeta, Segment, SegmentKind, VgMeta};
pub use pv::{probe, Label};
pub use scan::{scan, split_name, Candidate, Found};
pub use vg::{assemble, dashed, Assembly, PhysicalVolume, VolumeGroup};

/// `[start, start + len)` of a disk as a disk of its own: a partition holding a PV.
#[derive(Debug, Clone)]
pub struct Slice<D: Disk> {
    disk: D,
    start: u64,
    len: u64,
}

impl<D: Disk> Slice<D> {
    /// The slice `[start, start + len)` of `disk`; fails if it does not lie inside.
    pub fn new(disk: D, start: u64, len: u64) -> ddgz_disk::Result<Self> {
        check_range(disk.size(), start, len)?;
        Ok(Self { disk, start, len })
    }
}

impl<D: Disk> Disk for Slice<D> {
    fn size(&self) -> u64 {
        self.len
    }
    fn extents(&self, offset: u64, len: u64) -> ddgz_disk::Result<Vec<Extent>> {
        check_range(self.len, offset, len)?;
        let mut v = self.disk.extents(self.start + offset, len)?;
        for e in &mut v {
            e.offset -= self.start;
        }
        Ok(v)
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> ddgz_disk::Result<()> {
        check_range(self.len, offset, buf.len() as u64)?;
        self.disk.read_at(self.start + offset, buf)
    }
    fn files(&self) -> Vec<FileId> {
        self.disk.files()
    }
}

/// Fuzzing entry: `data` as the start of one PV held in memory (zero-padded to 1 MiB, so
/// a small input can still describe lvm2's default 1 MiB metadata area); put its volume
/// group together, then map and read (up to 16 MiB in all) every logical volume.
#[doc(hidden)]
pub fn fuzz_pv(data: &[u8]) {
    let mut bytes = data.to_vec();
    bytes.resize(data.len().max(1 << 20), 0);
    let disk = ddgz_disk::MemoryDisk::new(bytes);
    let _ = probe(&disk);
    let Ok(pv) = PhysicalVolume::open(&disk) else {
        return;
    };
    let Ok(a) = assemble(vec![pv]) else {
        return;
    };
    for vg in &a.groups {
        fuzz_read(vg);
    }
}

/// Fuzzing entry: `text` as the metadata of a 2 MiB PV whose label and
/// checksums are made right, so the fuzzer reaches the parser and the mapping.
#[doc(hidden)]
pub fn fuzz_text(text: &[u8]) {
    let disk = ddgz_disk::MemoryDisk::new(synth::pv_with_text(
        b"0123456789abcdefABCDEF0123456789",
        text,
        2 << 20,
    ));
    let Ok(pv) = PhysicalVolume::open(&disk) else {
        return;
    };
    if let Ok(a) = assemble(vec![pv]) {
        for vg in &a.groups {
            fuzz_read(vg);
        }
    }
}

fn fuzz_read<D: Disk>(vg: &VolumeGroup<D>) {
    let mut budget: u64 = 16 << 20;
    let mut buf = vec![0u8; 1 << 20];
    for lv in vg.lvs() {
        let Ok(d) = vg.open_lv(&lv.name) else {
            continue;
        };
        let len = d.size().min(64 << 20);
        let Ok(ext) = d.extents(0, len) else {
            continue;
        };
        for e in ext.iter().filter(|e| e.kind == ddgz_disk::ExtentKind::Data) {
            let n = e.len.min(buf.len() as u64).min(budget);
            if n == 0 || d.read_at(e.offset, &mut buf[..n as usize]).is_err() {
                break;
            }
            budget -= n;
        }
    }
}

#[cfg(test)]
mod tests;
