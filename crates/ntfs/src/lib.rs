//! Read NTFS inside a disk image, without mounting, without root.
//!
//! ddgz checks and edits Windows images for MAAS; this crate is the reading half. It works
//! on any [`Disk`] at a byte range (the partition), never writes, and exposes the on-disk
//! structures as plain data ([`Record`], [`Attribute`], [`Run`], [`index::Node`],
//! [`FileName`]) so that a writer can build on the same definitions: boot sector and
//! geometry, `$MFT` records with update-sequence fixups, `$ATTRIBUTE_LIST`, resident and
//! non-resident attributes and run lists (sparse runs, LZNT1-compressed units), `$I30`
//! B+ trees with their `$BITMAP`, `$UpCase` look-ups, `$Bitmap`, `$Volume` and the
//! `$LogFile` and hibernation state.
//!
//! The `ntfs` crate (0.4, MIT/Apache) reads records, attribute lists, runs, sparse data and
//! `$I30` with `$UpCase`, but its README lists compression, journaling (`$LogFile`) and
//! any write support as not supported, it has no hibernation or `$Bitmap` facts, and it
//! hands out views over its own reader rather than structures a writer can own and
//! re-encode (part 2 writes NTFS); so this crate owns its definitions.
//!
//! Untrusted input: every number read from the image is checked before use; every walk
//! is bounded (index nodes and directories are visited once, attribute lists are not
//! followed from extension records); allocations driven by the image are capped.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let disk = ddgz_disk::MemoryDisk::new(vec![]);
//! let vol = ddgz_ntfs::Volume::open(&disk, 0, disk.0.len() as u64)?;
//! let facts = vol.facts()?;
//! println!("{} {:?}", facts.label, facts.log);
//! vol.walk(|path, e| {
//!     println!("{path} {}", e.is_directory());
//!     Ok::<(), ddgz_ntfs::Error>(())
//! })?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod attr;
pub mod boot;
mod dir;
mod error;
mod file;
mod fileref;
pub mod find;
pub mod fixup;
mod free;
#[doc(hidden)]
pub mod fuzz;
pub mod index;
pub mod logfile;
pub mod lznt1;
mod read;
pub mod record;
pub mod runs;
pub mod upcase;
mod volume;
pub mod write;

use ddgz_disk::Disk;

pub use attr::{Attribute, FileName, StandardInformation};
pub use dir::{DirEntry, ROOT_RECORD};
pub use error::{Error, Result};
pub use file::{File, Stream, StreamData};
pub use free::FreeSpace;
pub use logfile::LogState;
pub use record::{FileRef, Record};
pub use runs::Run;
pub use volume::Volume;

use attr::kind;

/// `$LogFile`'s record.
pub const LOGFILE_RECORD: u64 = 2;
/// `$Volume`'s record.
pub const VOLUME_RECORD: u64 = 3;
/// `$Bitmap`'s record.
pub const BITMAP_RECORD: u64 = 6;
/// `$VOLUME_INFORMATION` flag: the volume is dirty (chkdsk will run).
pub const VOLUME_DIRTY: u16 = 0x0001;
/// Bytes at the start of `$LogFile` holding the two restart pages (4 KiB each usually).
const LOG_HEAD: u64 = 64 << 10;

/// What a volume says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    /// `$VOLUME_NAME`.
    pub label: String,
    /// Bytes per sector.
    pub sector_size: u32,
    /// Bytes per cluster.
    pub cluster_size: u32,
    /// Clusters in the volume.
    pub total_clusters: u64,
    /// Clusters marked free in `$Bitmap`.
    pub free_clusters: u64,
    /// Volume serial number.
    pub serial: u64,
    /// NTFS version (major, minor): 3.1 since Windows XP.
    pub version: (u8, u8),
    /// `$VOLUME_INFORMATION` flags.
    pub flags: u16,
    /// The dirty flag is set.
    pub dirty: bool,
    /// `$LogFile`'s state.
    pub log: LogState,
    /// `hiberfil.sys` holds a hibernation image (Windows hibernated or shut down with
    /// Fast Startup): the volume must not be written.
    pub hibernated: bool,
}

/// What `stat` says about a file: from its records, not from a directory entry (whose
/// copy of sizes and times may be stale).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    /// The file's base record.
    pub file: FileRef,
    /// Whether it is a directory.
    pub is_directory: bool,
    /// Bytes in the unnamed `$DATA` (0 for a directory).
    pub size: u64,
    /// Hard links.
    pub links: u16,
    /// Times, DOS attributes and security id.
    pub info: StandardInformation,
    /// Names of its alternate data streams.
    pub streams: Vec<String>,
}

impl<D: Disk> Volume<D> {
    /// [`Stat`] of `file`.
    pub fn stat(&self, file: &File) -> Result<Stat> {
        let size = match self.data(file, "")? {
            Some(s) => s.len(),
            None => 0,
        };
        Ok(Stat {
            file: file.reference,
            is_directory: file.is_directory(),
            size,
            links: file.link_count,
            info: file.standard_information()?,
            streams: file
                .stream_names()
                .iter()
                .map(|n| String::from_utf16_lossy(n))
                .collect(),
        })
    }

    /// The volume's facts: label, geometry, version, dirty, `$LogFile`, hibernation, free
    /// clusters.
    pub fn facts(&self) -> Result<Facts> {
        let cs = self.boot().cluster_size;
        let vol = self.file(VOLUME_RECORD)?;
        let label = match vol.stream(kind::VOLUME_NAME, &[], cs)? {
            Some(Stream {
                data: StreamData::Resident(v),
                ..
            }) => {
                let u: Vec<u16> = v
                    .chunks_exact(2)
                    .map(|c| u16::from_le_bytes([c[0], c[1]]))
                    .collect();
                String::from_utf16_lossy(&u)
            }
            _ => String::new(),
        };
        let info = match vol.stream(kind::VOLUME_INFORMATION, &[], cs)? {
            Some(Stream {
                data: StreamData::Resident(v),
                ..
            }) if v.len() >= 12 => v,
            _ => {
                return Err(error::corrupt(
                    "$Volume (MFT record 3) has no $VOLUME_INFORMATION",
                ))
            }
        };
        let flags = u16::from_le_bytes([info[10], info[11]]);
        let log = self.log_state()?;
        Ok(Facts {
            label,
            sector_size: self.boot().sector_size,
            cluster_size: cs,
            total_clusters: self.boot().total_clusters,
            free_clusters: self.free_clusters()?,
            serial: self.boot().serial,
            version: (info[8], info[9]),
            flags,
            dirty: flags & VOLUME_DIRTY != 0,
            log,
            hibernated: self.hibernated()?,
        })
    }

    /// `$LogFile`'s restart state.
    pub fn log_state(&self) -> Result<LogState> {
        let f = self.file(LOGFILE_RECORD)?;
        let s = self
            .data(&f, "")?
            .ok_or_else(|| error::corrupt("$LogFile (MFT record 2) has no $DATA"))?;
        let mut head = vec![0u8; s.len().min(LOG_HEAD) as usize];
        self.read_at(&s, 0, &mut head)?;
        Ok(logfile::state(&head))
    }

    /// Whether `hiberfil.sys` in the root starts with a hibernation signature (`hibr`,
    /// as ntfs-3g checks).
    pub fn hibernated(&self) -> Result<bool> {
        let Some(f) = self.lookup("hiberfil.sys")? else {
            return Ok(false);
        };
        let Some(s) = self.data(&f, "")? else {
            return Ok(false);
        };
        let mut magic = [0u8; 4];
        if self.read_at(&s, 0, &mut magic)? < 4 {
            return Ok(false);
        }
        Ok(magic.eq_ignore_ascii_case(b"hibr"))
    }

    /// Clusters marked free in `$Bitmap`, read in pieces.
    pub fn free_clusters(&self) -> Result<u64> {
        let f = self.file(BITMAP_RECORD)?;
        let s = self
            .data(&f, "")?
            .ok_or_else(|| error::corrupt("$Bitmap (MFT record 6) has no $DATA"))?;
        let total = self.boot().total_clusters;
        if s.len().saturating_mul(8) < total {
            return Err(error::corrupt(format!(
                "$Bitmap has {} bytes, fewer than its {total} clusters need",
                s.len()
            )));
        }
        let mut used = 0u64;
        self.for_each_piece(&s, 1 << 20, |at, b: &[u8]| {
            let keep = total.div_ceil(8).saturating_sub(at).min(b.len() as u64) as usize;
            for (i, &byte) in b[..keep].iter().enumerate() {
                let first = (at + i as u64) * 8;
                let bits = (total - first).min(8) as u32;
                let mask = if bits >= 8 { 0xFF } else { (1u8 << bits) - 1 };
                used += u64::from((byte & mask).count_ones());
            }
            Ok::<(), Error>(())
        })?;
        Ok(total - used.min(total))
    }
}
