//! The filesystems of a disk image, read without mounting: what `ddgz ls`, `cat` and
//! `inspect` show, and what any image builder needs to look inside an image.
//!
//! A disk holds volumes: its partitions (the whole disk as partition 0) and the LVM
//! logical volumes on them, addressed as `PART:PATH` or `VG/LV:PATH` ([`parse_spec`]).
//! The filesystem of a volume is detected from its bytes, never named by the user, and
//! opened by the right reader ([`Volumes::open`]): FAT (`ddgz-fat`), ext2/3/4
//! (`ddgz-ext4`), XFS (`ddgz-xfs`), NTFS (`ddgz-ntfs`). [`Volume`] is the one small
//! interface over them: list a directory ([`Volume::list`], [`Volume::walk`]), copy a
//! file out ([`Volume::copy`]), say what the filesystem is ([`Volume::facts`]). Anything
//! else (swap, an LVM physical volume, VMFS, unknown data) is named in the error.
//!
//! The partition table is read with `ddgz-partitions` (not `ddgz-layout`), so the layout
//! checks may come to use this crate without an import circle.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let disk = ddgz_disk::MemoryDisk::new(vec![]);
//! let vols = ddgz_volumes::Volumes::new(std::sync::Arc::new(disk));
//! let (place, path) = ddgz_volumes::parse_spec("rl/root:/etc");
//! let vol = vols.open(&place)?;
//! for e in vol.list(path)? {
//!     println!("{}", String::from_utf8_lossy(&e.name));
//! }
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod detect;
mod entry;
mod error;
mod facts;
mod fs;
mod lvm;
mod time;

use std::fmt;
use std::ops::Range;
use std::sync::Arc;

use ddgz_disk::Disk;

pub use entry::{Entry, Kind};
pub use error::{Error, ErrorKind, Result};
pub use facts::{Facts, LogFacts};
pub use fs::Volume;
pub use lvm::{LvReport, LvmReport, VgReport};

/// A disk shared by the volumes opened on it.
pub type SharedDisk<'a> = Arc<dyn Disk + 'a>;

/// Where a filesystem is: a partition (0: the whole disk) or an LVM logical volume.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Place {
    /// A partition's number; 0 is the whole disk.
    Partition(u32),
    /// `VG/LV`.
    Lv(String),
}

impl fmt::Display for Place {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Partition(0) => write!(f, "the image"),
            Self::Partition(n) => write!(f, "partition {n}"),
            Self::Lv(name) => write!(f, "logical volume {name}"),
        }
    }
}

/// `PART:PATH`, `VG/LV:PATH` or a bare `PATH` (partition 1) → where and which path. The
/// split is at the first `:` whose prefix is a number or a valid `VG/LV` name; any
/// other text is a path of partition 1.
pub fn parse_spec(s: &str) -> (Place, &str) {
    if let Some((p, rest)) = s.split_once(':') {
        if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) {
            return (Place::Partition(p.parse().unwrap_or(u32::MAX)), rest);
        }
        if ddgz_lvm::split_name(p).is_some() {
            return (Place::Lv(p.to_string()), rest);
        }
    }
    (Place::Partition(1), s)
}

/// A partition of the disk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Its number (0: the whole disk, when there is no partition table).
    pub number: u32,
    /// Its bytes on the disk.
    pub range: Range<u64>,
    /// Whether its type says Linux LVM.
    pub lvm_type: bool,
}

/// The volumes of one disk.
pub struct Volumes<'a> {
    disk: SharedDisk<'a>,
}

impl<'a> Volumes<'a> {
    /// The volumes of `disk`.
    pub fn new(disk: SharedDisk<'a>) -> Self {
        Self { disk }
    }

    /// The disk.
    pub fn disk(&self) -> &SharedDisk<'a> {
        &self.disk
    }

    /// The partitions whose range lies inside the disk; the whole disk as partition 0
    /// when there is no partition table.
    pub fn partitions(&self) -> Vec<Part> {
        let parts = ddgz_partitions::partitions(&*self.disk).unwrap_or_default();
        if parts.is_empty() {
            return vec![Part {
                number: 0,
                range: 0..self.disk.size(),
                lvm_type: false,
            }];
        }
        let lvm_guid = ddgz_partitions::Guid::parse(ddgz_lvm::scan::GPT_LINUX_LVM);
        parts
            .iter()
            .filter_map(|p| {
                let range = ddgz_partitions::range_in_disk(p, self.disk.size()).ok()?;
                let lvm_type = match &p.kind {
                    ddgz_partitions::PartitionType::Gpt(g) => Some(*g) == lvm_guid,
                    ddgz_partitions::PartitionType::Mbr(t) => *t == ddgz_lvm::scan::MBR_LINUX_LVM,
                };
                Some(Part {
                    number: p.number,
                    range,
                    lvm_type,
                })
            })
            .collect()
    }

    /// The byte range of partition `n` (0: the whole disk).
    pub fn partition_range(&self, n: u32) -> Result<Range<u64>> {
        if n == 0 {
            return Ok(0..self.disk.size());
        }
        ddgz_partitions::partition_range(&*self.disk, n).map_err(|e| match e {
            ddgz_partitions::Error::NoTable(why) => {
                Error::Partition(ddgz_partitions::Error::NoTable(format!(
                    "{why} (0:PATH reads the whole image as one filesystem)"
                )))
            }
            e => Error::Partition(e),
        })
    }

    /// Opens the filesystem at `place`, detected from its bytes.
    pub fn open(&self, place: &Place) -> Result<Volume<'a>> {
        match place {
            Place::Partition(n) => {
                let range = self.partition_range(*n)?;
                Volume::open(self.disk.clone(), range, place.clone())
            }
            Place::Lv(name) => {
                let found = self.scan_lvm()?;
                let (disk, range) = lvm::open_lv(&found.0, &found.1, name)?;
                Volume::open(disk, range, place.clone())
            }
        }
    }

    /// Reads every data byte of the volume at `place` once, when it holds at most
    /// `limit` bytes of data (else nothing), and says whether it did. On a disk read in
    /// passes over a compressed stream (`ddgz-packed`), a filesystem walk is a chain of
    /// dependent reads — record, index, child record — each costing a pass; reading the
    /// whole volume first asks for all of it in one pass.
    pub fn prefetch(&self, place: &Place, limit: u64) -> Result<bool> {
        let (disk, range) = match place {
            Place::Partition(n) => (self.disk.clone(), self.partition_range(*n)?),
            Place::Lv(name) => {
                let found = self.scan_lvm()?;
                lvm::open_lv(&found.0, &found.1, name)?
            }
        };
        let read = |e: ddgz_disk::Error| crate::error::fs_err(place, e);
        let len = range.end - range.start;
        if ddgz_disk::data_bytes_in(&*disk, range.start, len).map_err(read)? > limit {
            return Ok(false);
        }
        let mut data = Vec::new();
        ddgz_disk::walk_extents(&*disk, range.start, len, |e| {
            if e.kind == ddgz_disk::ExtentKind::Data {
                data.push((e.offset, e.len));
            }
            std::ops::ControlFlow::<()>::Continue(())
        })
        .map_err(read)?;
        let mut buf = vec![0u8; 1 << 20];
        for (mut at, len) in data {
            let end = at + len;
            while at < end {
                let n = (end - at).min(buf.len() as u64) as usize;
                disk.read_at(at, &mut buf[..n]).map_err(read)?;
                at += n as u64;
            }
        }
        Ok(true)
    }

    /// The volume groups on the partitions, with notes on the partitions that look like
    /// LVM but could not be read.
    pub(crate) fn scan_lvm(&self) -> Result<(ddgz_lvm::Found<SharedDisk<'a>>, Vec<String>)> {
        let parts = self.partitions();
        let candidates = parts.iter().map(|p| ddgz_lvm::Candidate {
            number: p.number,
            range: p.range.clone(),
            lvm_type: p.lvm_type,
        });
        let found = ddgz_lvm::scan(self.disk.clone(), candidates).map_err(|source| Error::Lvm {
            what: "LVM".into(),
            source,
        })?;
        let notes = found
            .refused
            .iter()
            .map(|(n, e)| format!("partition {n}: {e}"))
            .collect();
        Ok((found, notes))
    }
}

#[cfg(test)]
mod tests;
