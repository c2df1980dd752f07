//! What each partition holds: a FAT volume, a VMFS / VMFS-L volume, a filesystem known by
//! its signature only, zeros, or data that matches nothing known.
//!
//! Identification is cheap by construction: extents first (an all-`Zero` partition is blank
//! without a read), then the FAT boot sector and FAT, the VMFS headers, a few signature
//! sectors, and at most [`BLANK_SCAN`] bytes of data to tell "blank" from "unknown".
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use ddgz_disk::size::human;
use std::ops::Range;

use ddgz_disk::{Disk, ExtentKind};
use serde::Serialize;

use ddgz_disk::Error;
use ddgz_partitions::Partition;

/// How many bytes at the start of a partition are scanned to call it blank when extents
/// alone cannot tell (they say `Data`).
pub const BLANK_SCAN: u64 = 4 << 20;

/// What a partition holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Content {
    /// A FAT filesystem that parses.
    Fat(ddgz_fat::Info),
    /// A VMFS or VMFS-L volume whose headers are consistent.
    Vmfs(ddgz_vmfs::Volume),
    /// All zeros (by extents, or by scanning the first [`BLANK_SCAN`] bytes).
    Blank,
    /// Recognised by signature only (ext2/3/4, NTFS, swap, LVM2, …).
    Other {
        /// What it looks like.
        name: String,
    },
    /// Data that matches nothing known.
    Unknown,
    /// A FAT or VMFS structure is there but does not parse.
    Invalid {
        /// `FAT` or `VMFS`.
        what: String,
        /// Why, naming offsets and values.
        reason: String,
    },
    /// The partition's range is not inside the disk.
    Unreadable {
        /// Why.
        reason: String,
    },
}

impl Content {
    /// One-line human description.
    pub fn describe(&self) -> String {
        match self {
            Content::Fat(f) => format!(
                "{}{}, {} free of {}",
                f.fat_type,
                f.label
                    .as_ref()
                    .map_or(String::new(), |l| format!(" \"{l}\"")),
                human(f.free_bytes),
                human(f.total_bytes)
            ),
            Content::Vmfs(v) => format!(
                "{} (LVM {}, version {}.{}) \"{}\", UUID {}, {} blocks",
                v.version_name,
                v.lvm_version,
                v.fs_version,
                v.fs_minor,
                v.label,
                v.uuid,
                human(v.block_size)
            ),
            Content::Blank => "blank (all zero)".into(),
            Content::Other { name } => name.clone(),
            Content::Unknown => "unknown data".into(),
            Content::Invalid { what, reason } => format!("damaged {what}: {reason}"),
            Content::Unreadable { reason } => format!("unreadable: {reason}"),
        }
    }
}

/// Whether `[range)` reads as zeros: by extents, then by reading the data extents within
/// its first [`BLANK_SCAN`] bytes.
pub fn is_blank(disk: &dyn Disk, range: Range<u64>) -> Result<bool, Error> {
    let len = range.end - range.start;
    // Data past the first BLANK_SCAN bytes would not change the answer: only the extents
    // of that prefix are asked for, so a huge partition costs no more than a small one.
    let limit = range.start + len.min(BLANK_SCAN);
    let extents = disk.extents(range.start, limit - range.start)?;
    if extents.iter().all(|e| e.kind == ExtentKind::Zero) {
        return Ok(true);
    }
    let mut buf = vec![0u8; 1 << 20];
    for e in extents.iter().filter(|e| e.kind == ExtentKind::Data) {
        let mut pos = e.offset;
        let end = e.end().min(limit);
        while pos < end {
            let n = (end - pos).min(buf.len() as u64) as usize;
            disk.read_at(pos, &mut buf[..n])?;
            if buf[..n].iter().any(|&b| b != 0) {
                return Ok(false);
            }
            pos += n as u64;
        }
    }
    Ok(true)
}

/// Cheap signatures of filesystems we do not parse.
fn sniff_other(disk: &dyn Disk, range: &Range<u64>) -> Result<Option<String>, Error> {
    let len = range.end - range.start;
    if len < 8192 {
        return Ok(None);
    }
    let mut head = vec![0u8; 8192];
    disk.read_at(range.start, &mut head)?;
    if &head[3..11] == b"NTFS    " {
        return Ok(Some("NTFS".into()));
    }
    if &head[3..11] == b"EXFAT   " {
        return Ok(Some("exFAT".into()));
    }
    if head[1024 + 56..1024 + 58] == [0x53, 0xEF] {
        return Ok(Some("ext2/3/4".into()));
    }
    if &head[512..520] == b"LABELONE" {
        return Ok(Some("LVM2 physical volume".into()));
    }
    if &head[4086..4096] == b"SWAPSPACE2" {
        return Ok(Some("Linux swap".into()));
    }
    if &head[0..4] == b"XFSB" {
        return Ok(Some("XFS".into()));
    }
    Ok(None)
}

/// Identifies what partition `p` holds.
pub fn probe_content(disk: &dyn Disk, p: &Partition) -> Result<Content, Error> {
    let range = match ddgz_partitions::range_in_disk(p, disk.size()) {
        Ok(r) => r,
        Err(e) => {
            return Ok(Content::Unreadable {
                reason: e.to_string(),
            })
        }
    };
    let len = range.end - range.start;
    // Walked in windows: a partition's extent list can be as long as it has clusters.
    if ddgz_disk::first_data(disk, range.start, len)?.is_none() {
        return Ok(Content::Blank);
    }
    // NTFS and exFAT boot sectors carry a BPB with zeros where FAT needs values: named by
    // their OEM id, not reported as damaged FAT.
    let mut oem = [0u8; 11];
    let other_fs = len >= 11
        && disk.read_at(range.start, &mut oem).is_ok()
        && matches!(&oem[3..11], b"NTFS    " | b"EXFAT   ");
    match if other_fs {
        ddgz_fat::Probe::NotFat
    } else {
        ddgz_fat::probe(disk, range.clone())?
    } {
        ddgz_fat::Probe::Fat(f) => return Ok(Content::Fat(f)),
        ddgz_fat::Probe::Invalid(reason) => {
            return Ok(Content::Invalid {
                what: "FAT".into(),
                reason,
            })
        }
        ddgz_fat::Probe::NotFat => {}
    }
    match ddgz_vmfs::probe(disk, range.clone())? {
        ddgz_vmfs::Probe::Volume(v) => return Ok(Content::Vmfs(v)),
        ddgz_vmfs::Probe::Invalid { reason, .. } => {
            return Ok(Content::Invalid {
                what: "VMFS".into(),
                reason,
            })
        }
        ddgz_vmfs::Probe::NotVmfs => {}
    }
    if let Some(name) = sniff_other(disk, &range)? {
        return Ok(Content::Other { name });
    }
    if is_blank(disk, range)? {
        return Ok(Content::Blank);
    }
    Ok(Content::Unknown)
}

/// A partition and what it holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionReport {
    /// The table entry.
    #[serde(flatten)]
    pub partition: Partition,
    /// What it holds.
    pub content: Content,
}
