//! FAT12/16/32 identification: type, label, size, free space, root directory names.
//!
//! The boot sector (BIOS Parameter Block, Microsoft "FAT32 File System Specification" 1.03,
//! section 3) is checked here first — every size inside the partition, sane sector and
//! cluster sizes, the FAT big enough for the clusters, nothing that overflows — and only then
//! handed to `fatfs`, so that corrupt input cannot make it panic (its arithmetic is
//! unchecked) or run away. BPB fields used (little-endian):
//!
//! | off | size | field |
//! |---|---|---|
//! | 0 | 3 | jump (0xEB xx 0x90 or 0xE9 xx xx) |
//! | 11 | 2 | bytes per sector |
//! | 13 | 1 | sectors per cluster |
//! | 14 | 2 | reserved sectors |
//! | 16 | 1 | number of FATs |
//! | 17 | 2 | root directory entries (0 on FAT32) |
//! | 19 | 2 | total sectors (16-bit; 0 → use offset 32) |
//! | 22 | 2 | sectors per FAT (16-bit; 0 on FAT32 → use offset 36) |
//! | 32 | 4 | total sectors (32-bit) |
//! | 36 | 4 | FAT32: sectors per FAT |
//! | 42 | 2 | FAT32: version (must be 0) |
//! | 44 | 4 | FAT32: root directory cluster |
//! | 48 | 2 | FAT32: FSInfo sector |
//! | 50 | 2 | FAT32: backup boot sector |

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::ops::Range;

use ddgz_disk::{Disk, Window};
use serde::Serialize;

use crate::{read, Error};

/// Cluster-count limits that decide the FAT type (spec section 3.5).
const FAT12_MAX_CLUSTERS: u64 = 4084;
const FAT16_MAX_CLUSTERS: u64 = 65524;
/// Largest FAT32 cluster count (28-bit entries minus reserved values).
const FAT32_MAX_CLUSTERS: u64 = 0x0FFF_FFF5;
/// At most this many root directory entries are listed (bounds a looping cluster chain).
pub const MAX_ROOT_ENTRIES: usize = 4096;
/// Size of the read cache between `fatfs` and the disk.
const CACHE_BLOCK: u64 = 64 * 1024;

/// What a FAT filesystem holds, as far as inspection goes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fat {
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

impl Fat {
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
    Fat(Fat),
    /// Looks like FAT, but does not parse: why.
    Invalid(String),
}

fn u16_at(b: &[u8], o: usize) -> u64 {
    u64::from(u16::from_le_bytes([b[o], b[o + 1]]))
}
fn u32_at(b: &[u8], o: usize) -> u64 {
    u64::from(u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]))
}

/// Whether `boot` looks like a FAT boot sector at all: a jump instruction, a power-of-two
/// sector size in 512..=4096, and a FAT type string or the boot signature.
pub fn looks_like_fat(boot: &[u8]) -> bool {
    if boot.len() < 512 {
        return false;
    }
    let jump = boot[0] == 0xEB && boot[2] == 0x90 || boot[0] == 0xE9;
    let bps = u16_at(boot, 11);
    let typed = &boot[54..57] == b"FAT" || &boot[82..85] == b"FAT";
    let signed = boot[510] == 0x55 && boot[511] == 0xAA;
    jump && bps.is_power_of_two() && (512..=4096).contains(&bps) && (typed || signed)
}

/// Geometry derived from a checked BPB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// `FAT12`, `FAT16` or `FAT32`.
    pub fat_type: &'static str,
    /// Bytes per sector.
    pub bytes_per_sector: u64,
    /// Bytes per cluster.
    pub cluster_size: u64,
    /// Number of data clusters.
    pub clusters: u64,
    /// Total bytes the filesystem claims.
    pub fs_bytes: u64,
}

/// Checks the BPB in `boot` against a partition of `part_len` bytes, in dependency order.
/// Everything `fatfs` computes from the BPB is computed here first with checked arithmetic.
pub fn check_bpb(boot: &[u8], part_len: u64) -> Result<Geometry, String> {
    if boot.len() < 512 {
        return Err("boot sector: short".into());
    }
    let bps = u16_at(boot, 11);
    if !bps.is_power_of_two() || !(512..=4096).contains(&bps) {
        return Err(format!(
            "BPB: bytes per sector {bps}; must be a power of two between 512 and 4096"
        ));
    }
    let spc = u64::from(boot[13]);
    if !spc.is_power_of_two() || spc > 128 {
        return Err(format!(
            "BPB: sectors per cluster {spc}; must be a power of two between 1 and 128"
        ));
    }
    let reserved = u16_at(boot, 14);
    if reserved == 0 {
        return Err("BPB: reserved sectors 0; must be at least 1".into());
    }
    let fats = u64::from(boot[16]);
    if !(1..=2).contains(&fats) {
        return Err(format!("BPB: number of FATs {fats}; must be 1 or 2"));
    }
    let root_entries = u16_at(boot, 17);
    let total16 = u16_at(boot, 19);
    let total32 = u32_at(boot, 32);
    if (total16 == 0) == (total32 == 0) {
        return Err(format!(
            "BPB: total sectors (16-bit {total16}, 32-bit {total32}): exactly one must be non-zero"
        ));
    }
    let total = if total16 != 0 { total16 } else { total32 };
    let fs_bytes = total * bps;
    if fs_bytes > part_len {
        return Err(format!(
            "BPB: {total} sectors of {bps} bytes = {fs_bytes} bytes; the partition has only {part_len}"
        ));
    }
    let fat16_size = u16_at(boot, 22);
    let is_fat32 = fat16_size == 0;
    let fat_size = if is_fat32 {
        u32_at(boot, 36)
    } else {
        fat16_size
    };
    if fat_size == 0 {
        return Err("BPB: sectors per FAT is 0".into());
    }
    if is_fat32 {
        if root_entries != 0 {
            return Err(format!(
                "BPB: FAT32 with {root_entries} root directory entries (must be 0)"
            ));
        }
        if total16 != 0 {
            return Err("BPB: FAT32 with a 16-bit total sector count".into());
        }
        if u16_at(boot, 42) != 0 {
            return Err(format!("BPB: unknown FAT32 version {}", u16_at(boot, 42)));
        }
        let fsinfo = u16_at(boot, 48);
        let backup = u16_at(boot, 50);
        if fsinfo >= reserved || backup >= reserved {
            return Err(format!(
                "BPB: FSInfo sector {fsinfo} or backup boot sector {backup} outside the {reserved} reserved sectors"
            ));
        }
    } else if root_entries == 0 {
        return Err("BPB: FAT12/16 without root directory entries".into());
    }
    let root_sectors = (root_entries * 32).div_ceil(bps);
    let first_data = reserved + fats * fat_size + root_sectors; // all < 2^34: no overflow
    if first_data >= total {
        return Err(format!(
            "BPB: metadata ({first_data} sectors: {reserved} reserved, {fats} FATs of {fat_size}, {root_sectors} root directory) fills the {total} sectors"
        ));
    }
    let clusters = (total - first_data) / spc;
    let fat_type = if clusters <= FAT12_MAX_CLUSTERS {
        "FAT12"
    } else if clusters <= FAT16_MAX_CLUSTERS {
        "FAT16"
    } else {
        "FAT32"
    };
    if is_fat32 != (fat_type == "FAT32") {
        return Err(format!(
            "BPB: {clusters} clusters make this {fat_type}, but the 16-bit FAT size field says {}",
            if is_fat32 { "FAT32" } else { "FAT12/16" }
        ));
    }
    if clusters > FAT32_MAX_CLUSTERS {
        return Err(format!(
            "BPB: {clusters} clusters; FAT32 allows at most {FAT32_MAX_CLUSTERS}"
        ));
    }
    let bits = match fat_type {
        "FAT12" => 12,
        "FAT16" => 16,
        _ => 32,
    };
    let fat_bytes = fat_size * bps;
    if fat_bytes > u64::from(u32::MAX) / 8 {
        return Err(format!("BPB: FAT of {fat_bytes} bytes is too large"));
    }
    let entries = fat_bytes * 8 / bits;
    if entries < clusters + 2 {
        return Err(format!(
            "BPB: a FAT of {fat_size} sectors holds {entries} entries; {} are needed for {clusters} clusters",
            clusters + 2
        ));
    }
    if is_fat32 {
        let root = u32_at(boot, 44);
        if root < 2 || root >= clusters + 2 {
            return Err(format!(
                "BPB: FAT32 root directory cluster {root}; must be between 2 and {}",
                clusters + 1
            ));
        }
    }
    Ok(Geometry {
        fat_type,
        bytes_per_sector: bps,
        cluster_size: bps * spc,
        clusters,
        fs_bytes,
    })
}

/// A [`Window`] with a one-block read cache (fatfs reads FAT entries a few bytes at a time).
/// Writes are refused.
struct Cached<'a> {
    w: Window<'a>,
    pos: u64,
    block: Vec<u8>,
    block_start: u64,
}

impl Read for Cached<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let len = self.w.len();
        if self.pos >= len || buf.is_empty() {
            return Ok(0);
        }
        let in_block =
            self.pos >= self.block_start && self.pos < self.block_start + self.block.len() as u64;
        if !in_block {
            let start = self.pos - self.pos % CACHE_BLOCK;
            let n = CACHE_BLOCK.min(len - start) as usize;
            self.block.resize(n, 0);
            self.w.seek(SeekFrom::Start(start))?;
            self.w.read_exact(&mut self.block)?;
            self.block_start = start;
        }
        let off = (self.pos - self.block_start) as usize;
        let n = buf.len().min(self.block.len() - off);
        buf[..n].copy_from_slice(&self.block[off..off + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for Cached<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.pos = ddgz_disk::seek_target(self.pos, self.w.len(), to)?;
        Ok(self.pos)
    }
}

impl Write for Cached<'_> {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "the disk is opened read-only",
        ))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn trim_label(s: &str) -> Option<String> {
    let t = s.trim_end_matches([' ', '\0']).to_string();
    (!t.is_empty() && t != "NO NAME").then_some(t)
}

/// Identifies a FAT filesystem in the partition `[range)`: reads the boot sector, checks it,
/// then lets `fatfs` read the FAT (for free space) and the root directory.
pub fn probe(disk: &dyn Disk, range: Range<u64>) -> Result<Probe, Error> {
    let len = range.end.saturating_sub(range.start);
    if len < 512 {
        return Ok(Probe::NotFat);
    }
    let mut boot = [0u8; 512];
    read(disk, range.start, &mut boot)?;
    if !looks_like_fat(&boot) {
        return Ok(Probe::NotFat);
    }
    let geo = match check_bpb(&boot, len) {
        Ok(g) => g,
        Err(why) => return Ok(Probe::Invalid(why)),
    };
    let window = Window::new(disk, range.start, len)?;
    let stream = Cached {
        w: window,
        pos: 0,
        block: Vec::new(),
        block_start: 0,
    };
    // Last line of defence: the BPB was checked, but a parser panic must not take the
    // process down.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        read_with_fatfs(stream, geo)
    }));
    Ok(match result {
        Ok(Ok(fat)) => Probe::Fat(fat),
        Ok(Err(e)) => Probe::Invalid(format!("{}: {e}", geo.fat_type)),
        Err(_) => Probe::Invalid(format!("{}: the FAT parser failed", geo.fat_type)),
    })
}

fn read_with_fatfs(stream: Cached<'_>, geo: Geometry) -> io::Result<Fat> {
    let fs = fatfs::FileSystem::new(stream, fatfs::FsOptions::new())?;
    let stats = fs.stats()?;
    let root_label = fs.read_volume_label_from_root_dir().ok().flatten();
    let label = root_label
        .as_deref()
        .and_then(trim_label)
        .or_else(|| trim_label(&fs.volume_label()));
    let mut root_entries = Vec::new();
    for entry in fs.root_dir().iter().take(MAX_ROOT_ENTRIES) {
        let entry = entry?;
        let name = entry.file_name();
        if name == "." || name == ".." {
            continue;
        }
        root_entries.push(name);
    }
    let id = fs.volume_id();
    Ok(Fat {
        fat_type: geo.fat_type,
        label,
        volume_id: format!("{:04X}-{:04X}", id >> 16, id & 0xFFFF),
        cluster_size: stats.cluster_size(),
        total_bytes: u64::from(stats.total_clusters()) * u64::from(stats.cluster_size()),
        free_bytes: u64::from(stats.free_clusters()) * u64::from(stats.cluster_size()),
        root_entries,
    })
}
