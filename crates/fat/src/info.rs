//! What a FAT volume is, as `inspect` shows it: type, label, serial, size, free space and
//! root directory names. The boot sector is checked by the one BPB parser of this crate
//! ([`Geometry::parse`](crate::bpb)), then the FAT (for free space, unless a FAT32 FSInfo
//! sector states it) and the root directory are read with the bounded reader — nothing
//! else: the tree is not walked, so a huge volume costs what a small one does.
//!
//! Fields read besides the BPB (Microsoft "FAT32 File System Specification" 1.03, section
//! 3, little-endian):
//!
//! | off (FAT12/16) | off (FAT32) | size | field |
//! |---|---|---|---|
//! | 0x25 | 0x41 | 1 | reserved; bit 0 = volume dirty (an FSInfo count is then not trusted) |
//! | 0x26 | 0x42 | 1 | extended boot signature (0x29: the next two fields are set) |
//! | 0x27 | 0x43 | 4 | volume serial number |
//! | 0x2B | 0x47 | 11 | volume label |
//!
//! FSInfo (section 5): lead signature 0x41615252 at 0, struct signature 0x61417272 at
//! 0x1E4, free cluster count at 0x1E8 (0xFFFFFFFF = unknown), trail signature 0xAA550000
//! at 0x1FC.

use std::cell::RefCell;
use std::ops::Range;
use std::rc::Rc;

use ddgz_disk::bytes::le32;
use ddgz_disk::Disk;
use serde::Serialize;

use crate::bpb::{FatType, Geometry};
use crate::cow::Store;
use crate::volume::Volume;

/// At most this many root directory entries are listed (bounds a looping cluster chain).
pub const MAX_ROOT_ENTRIES: usize = 4096;

/// What a FAT filesystem holds, as far as inspection goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Info {
    /// `FAT12`, `FAT16` or `FAT32`.
    pub fat_type: &'static str,
    /// Volume label (root directory label entry, else the BPB's), trimmed; `None` if unset.
    pub label: Option<String>,
    /// Volume serial number, `XXXX-XXXX`.
    pub volume_id: String,
    /// Bytes per cluster.
    pub cluster_size: u32,
    /// Size of the data area in bytes (clusters × cluster size).
    pub total_bytes: u64,
    /// Free bytes (free clusters × cluster size).
    pub free_bytes: u64,
    /// Names in the root directory (long names when present), at most [`MAX_ROOT_ENTRIES`].
    pub root_entries: Vec<String>,
}

impl Info {
    /// Whether the root directory has an entry named `name` (case-insensitive, as FAT is).
    pub fn has_root_entry(&self, name: &str) -> bool {
        self.root_entries
            .iter()
            .any(|e| e.eq_ignore_ascii_case(name))
    }
}

/// Result of probing a partition for FAT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// The first sector does not look like a FAT boot sector.
    NotFat,
    /// A FAT filesystem that parses.
    Fat(Info),
    /// Looks like FAT, but does not parse: why.
    Invalid(String),
}

/// Whether `boot` looks like a FAT boot sector at all: a jump instruction, a power-of-two
/// sector size in 512..=4096, and a FAT type string or the boot signature.
pub fn looks_like_fat(boot: &[u8]) -> bool {
    if boot.len() < 512 {
        return false;
    }
    let jump = boot[0] == 0xEB && boot[2] == 0x90 || boot[0] == 0xE9;
    let bps = ddgz_disk::bytes::le16(boot, 11);
    let typed = &boot[54..57] == b"FAT" || &boot[82..85] == b"FAT";
    let signed = boot[510] == 0x55 && boot[511] == 0xAA;
    jump && bps.is_power_of_two() && (512..=4096).contains(&bps) && (typed || signed)
}

fn trim_label(s: &str) -> Option<String> {
    let t = s.trim_end_matches([' ', '\0']).to_string();
    (!t.is_empty() && t != "NO NAME").then_some(t)
}

/// The label bytes as FAT tools show them: ASCII as is, any other byte as U+FFFD, trailing
/// blanks and NULs dropped; `None` when empty or "NO NAME".
fn label_text(b: &[u8]) -> Option<String> {
    trim_label(&crate::volume::oem_text(b))
}

/// Identifies a FAT filesystem in the partition `[range)`: reads the boot sector, checks it,
/// then reads the FAT (for free space) and the root directory. `Err` only when the disk
/// cannot be read; a damaged volume is [`Probe::Invalid`].
pub fn probe(disk: &dyn Disk, range: Range<u64>) -> Result<Probe, ddgz_disk::Error> {
    let len = range.end.saturating_sub(range.start);
    if len < 512 {
        return Ok(Probe::NotFat);
    }
    let mut boot = [0u8; 512];
    disk.read_at(range.start, &mut boot)?;
    if !looks_like_fat(&boot) {
        return Ok(Probe::NotFat);
    }
    let geo = match Geometry::parse(&boot, len) {
        Ok(g) => g,
        Err(why) => return Ok(Probe::Invalid(why)),
    };
    ddgz_disk::check_range(disk.size(), range.start, len)?;
    let store = Rc::new(RefCell::new(Store::new(disk, range.start, len)));
    let vol = Volume::shallow(store, crate::range_label(&range), geo);
    Ok(match read_info(&vol, &boot) {
        Ok(info) => Probe::Fat(info),
        Err(crate::Error::Corrupt { reason, .. }) => {
            Probe::Invalid(format!("{}: {reason}", vol.geo.fat_type.name()))
        }
        Err(crate::Error::Io { what, source, .. }) => {
            Probe::Invalid(format!("{}: {what}: {source}", vol.geo.fat_type.name()))
        }
        Err(e) => Probe::Invalid(format!("{}: {e}", vol.geo.fat_type.name())),
    })
}

/// The free cluster count of a FAT32 FSInfo sector, if it can be trusted: both signatures
/// in place, the volume not marked dirty, the count known and not above `clusters`.
fn fsinfo_free(vol: &Volume<'_>, boot: &[u8; 512]) -> Result<Option<u64>, crate::Error> {
    let Some(at) = vol.geo.fsinfo else {
        return Ok(None);
    };
    let mut s = [0u8; 512];
    vol.read(at, &mut s, "read the FSInfo sector")?;
    let signed = le32(&s, 0) == 0x4161_5252
        && le32(&s, 0x1E4) == 0x6141_7272
        && le32(&s, 0x1FC) == 0xAA55_0000;
    let dirty = boot[0x41] & 1 != 0;
    let free = u64::from(le32(&s, 0x1E8));
    Ok((signed && !dirty && free <= u64::from(vol.geo.clusters)).then_some(free))
}

fn read_info(vol: &Volume<'_>, boot: &[u8; 512]) -> Result<Info, crate::Error> {
    let geo = &vol.geo;
    let fat32 = geo.fat_type == FatType::Fat32;
    let ext = if fat32 { 0x42 } else { 0x26 };
    let (volume_id, bpb_label) = if boot[ext] == 0x29 {
        (le32(boot, ext + 1), &boot[ext + 5..ext + 16])
    } else {
        (0, &[][..])
    };
    let free = match fsinfo_free(vol, boot)? {
        Some(n) => n,
        None => vol.free_clusters()?,
    };
    let root = vol.read_dir(vol.root(), "/")?;
    let label = root
        .label
        .as_ref()
        .and_then(|l| label_text(l))
        .or_else(|| label_text(bpb_label));
    let cs = u64::from(geo.cluster_size);
    Ok(Info {
        fat_type: geo.fat_type.name(),
        label,
        volume_id: format!("{:04X}-{:04X}", volume_id >> 16, volume_id & 0xFFFF),
        cluster_size: geo.cluster_size,
        total_bytes: u64::from(geo.clusters) * cs,
        free_bytes: free * cs,
        root_entries: root
            .entries
            .into_iter()
            .take(MAX_ROOT_ENTRIES)
            .map(|e| e.name)
            .collect(),
    })
}
