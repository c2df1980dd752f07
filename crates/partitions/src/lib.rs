//! Partition tables: GPT (primary and backup), MBR (with logical partitions), GUIDs, and
//! the one table a disk is read through.
//!
//! Everything here reads a [`Disk`] through `read_at` and reads only the table sectors.
//! Every value read from the disk is untrusted: sizes are range-checked before use,
//! allocations are capped, and problems come back as typed errors that name the LBA and
//! the value.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod gpt;
pub mod guid;
pub mod mbr;

use std::ops::Range;

use ddgz_disk::Disk;
use serde::Serialize;

pub use guid::Guid;

/// The only logical sector size supported (ESXi and the MAAS images use 512).
pub const SECTOR: u64 = 512;

/// Why a disk's partition table could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading the disk failed.
    #[error(transparent)]
    Read(#[from] ddgz_disk::Error),
    /// Neither a GPT nor an MBR partition table is present.
    #[error("no partition table: {0}")]
    NoTable(String),
    /// A structure is present but damaged beyond use.
    #[error("{0}")]
    Corrupt(String),
    /// The partition asked for is not in the table.
    #[error("partition {number} does not exist (the disk has {})", list_partitions(.existing))]
    NoSuchPartition {
        /// The number asked for.
        number: u32,
        /// The numbers that exist.
        existing: Vec<u32>,
    },
    /// The partition's entry does not describe a usable byte range of the disk.
    #[error("partition {number}: {reason}")]
    BadPartition {
        /// The partition concerned.
        number: u32,
        /// Why its range is unusable.
        reason: String,
    },
}

fn list_partitions(n: &[u32]) -> String {
    match n {
        [] => "no partitions".into(),
        [one] => format!("partition {one}"),
        _ => format!(
            "partitions {}",
            n.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Reads `buf.len()` bytes at `offset`.
pub(crate) fn read(disk: &dyn Disk, offset: u64, buf: &mut [u8]) -> Result<(), Error> {
    Ok(disk.read_at(offset, buf)?)
}

/// A partition's type: a GPT type GUID or an MBR type byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionType {
    /// GPT partition type GUID.
    Gpt(Guid),
    /// MBR system ID.
    Mbr(u8),
}

impl PartitionType {
    /// Human name, if known.
    pub fn name(&self) -> Option<&'static str> {
        match self {
            PartitionType::Gpt(g) => guid::types::name(g),
            PartitionType::Mbr(b) => mbr::type_name(*b),
        }
    }
}

impl std::fmt::Display for PartitionType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PartitionType::Gpt(g) => g.fmt(f),
            PartitionType::Mbr(b) => write!(f, "0x{b:02x}"),
        }
    }
}

impl Serialize for PartitionType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One partition of the table in use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Partition {
    /// Partition number (GPT: 1-based entry index; MBR: 1-4 primary, 5+ logical).
    pub number: u32,
    /// First LBA.
    pub first_lba: u64,
    /// Last LBA, inclusive (may be < first_lba on a corrupt table).
    pub last_lba: u64,
    /// Size in bytes (0 when last < first).
    pub size: u64,
    /// Type GUID (GPT) or `0xNN` (MBR).
    #[serde(rename = "type")]
    pub kind: PartitionType,
    /// Name of the type, when known.
    pub type_name: Option<&'static str>,
    /// GPT partition name.
    pub name: Option<String>,
    /// GPT unique partition GUID.
    pub guid: Option<Guid>,
}

impl Partition {
    /// Byte range on the disk, if the LBAs make sense (not checked against the disk size).
    pub fn byte_range(&self) -> Option<Range<u64>> {
        let start = self.first_lba.checked_mul(SECTOR)?;
        let end = self.last_lba.checked_add(1)?.checked_mul(SECTOR)?;
        (start < end).then_some(start..end)
    }
}

/// Which table the partition list comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TableSource {
    /// The primary GPT (LBA 1).
    GptPrimary,
    /// The backup GPT (primary damaged).
    GptBackup,
    /// An MBR without GPT.
    Mbr,
}

/// The partition table in use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Table {
    /// Where it was read from.
    pub source: TableSource,
    /// GPT disk GUID.
    pub disk_guid: Option<Guid>,
    /// GPT first usable LBA.
    pub first_usable_lba: Option<u64>,
    /// GPT last usable LBA.
    pub last_usable_lba: Option<u64>,
    /// The partitions, by number.
    pub partitions: Vec<Partition>,
}

/// The [`Table`] a valid GPT describes (`source`: which copy it is).
pub fn table_from_gpt(g: &gpt::Gpt, source: TableSource) -> Table {
    Table {
        source,
        disk_guid: Some(g.header.disk_guid),
        first_usable_lba: Some(g.header.first_usable_lba),
        last_usable_lba: Some(g.header.last_usable_lba),
        partitions: g
            .entries
            .iter()
            .map(|e| Partition {
                number: e.number,
                first_lba: e.first_lba,
                last_lba: e.last_lba,
                size: e
                    .last_lba
                    .checked_sub(e.first_lba)
                    .and_then(|n| n.checked_add(1))
                    .and_then(|n| n.checked_mul(SECTOR))
                    .unwrap_or(0),
                kind: PartitionType::Gpt(e.type_guid),
                type_name: guid::types::name(&e.type_guid),
                name: Some(e.name.clone()),
                guid: Some(e.unique_guid),
            })
            .collect(),
    }
}

/// The [`Table`] an MBR describes (primary, then logical partitions).
pub fn table_from_mbr(m: &mbr::Mbr) -> Table {
    Table {
        source: TableSource::Mbr,
        disk_guid: None,
        first_usable_lba: None,
        last_usable_lba: None,
        partitions: m
            .entries
            .iter()
            .map(|e| Partition {
                number: e.number,
                first_lba: e.first_lba,
                last_lba: e.first_lba + e.sectors - 1, // both < 2^32, sectors >= 1
                size: e.sectors * SECTOR,
                kind: PartitionType::Mbr(e.kind),
                type_name: mbr::type_name(e.kind),
                name: None,
                guid: None,
            })
            .collect(),
    }
}

/// The partition table of `disk`: the primary GPT, else the backup GPT, else an MBR.
/// Fails when there is none, or when a GPT is announced (protective MBR or signature) but
/// both copies are damaged.
pub fn table(disk: &dyn Disk) -> Result<Table, Error> {
    let scan = gpt::scan(disk)?;
    match (&scan.primary, &scan.backup) {
        (Ok(p), _) => return Ok(table_from_gpt(p, TableSource::GptPrimary)),
        (_, Ok(b)) => return Ok(table_from_gpt(b, TableSource::GptBackup)),
        _ => {}
    }
    let m = mbr::read_mbr(disk)?;
    let gpt_announced = m.as_ref().is_some_and(|m| m.is_protective())
        || scan.primary.as_ref().is_err_and(|e| e.signature)
        || scan.backup.as_ref().is_err_and(|e| e.signature);
    if gpt_announced {
        return Err(Error::Corrupt(format!(
            "GPT damaged beyond use: primary: {}; backup: {}",
            scan.primary.as_ref().err().map_or("", |u| &u.reason),
            scan.backup.as_ref().err().map_or("", |u| &u.reason)
        )));
    }
    match m {
        Some(m) => Ok(table_from_mbr(&m)),
        None => Err(Error::NoTable(
            "no GPT header at LBA 1 or at the last LBA, and no MBR boot signature at LBA 0".into(),
        )),
    }
}

/// The partitions of `disk` (see [`table`] for which table is used).
pub fn partitions(disk: &dyn Disk) -> Result<Vec<Partition>, Error> {
    Ok(table(disk)?.partitions)
}

/// The byte range of partition `number`, checked to lie inside the disk.
pub fn partition_range(disk: &dyn Disk, number: u32) -> Result<Range<u64>, Error> {
    let parts = partitions(disk)?;
    let Some(p) = parts.iter().find(|p| p.number == number) else {
        return Err(Error::NoSuchPartition {
            number,
            existing: parts.iter().map(|p| p.number).collect(),
        });
    };
    range_in_disk(p, disk.size())
}

/// The byte range of `p`, checked to lie inside a disk of `disk_size` bytes.
pub fn range_in_disk(p: &Partition, disk_size: u64) -> Result<Range<u64>, Error> {
    let bad = |reason: String| Error::BadPartition {
        number: p.number,
        reason,
    };
    let r = p.byte_range().ok_or_else(|| {
        bad(format!(
            "first LBA {} and last LBA {} do not form a range",
            p.first_lba, p.last_lba
        ))
    })?;
    if r.end > disk_size {
        return Err(bad(format!(
            "LBA {}..={} ends at byte {}, past the end of the disk ({} bytes)",
            p.first_lba, p.last_lba, r.end, disk_size
        )));
    }
    Ok(r)
}
