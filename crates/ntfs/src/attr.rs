//! Attributes of an MFT record, and the values of the small ones this crate decodes.
//!
//! Common header: 0x00 type (u32); 0x04 length (u32); 0x08 non-resident (u8); 0x09 name
//! length in UTF-16 units (u8); 0x0A name offset (u16); 0x0C flags (u16: 0x0001
//! compressed, 0x4000 encrypted, 0x8000 sparse); 0x0E instance (u16). Resident: 0x10
//! value length (u32), 0x14 value offset (u16). Non-resident: 0x10 lowest VCN, 0x18
//! highest VCN (u64), 0x20 run-list offset (u16), 0x22 compression unit (u8, log2 of
//! clusters), 0x28 allocated, 0x30 data, 0x38 initialized size (u64), 0x40 compressed
//! size (u64, when compressed or sparse).

use ddgz_disk::bytes::{le16, le32, le64};

use crate::error::{corrupt, Result};
use crate::fileref::FileRef;
use crate::runs::{self, Run};

/// Attribute type codes.
pub mod kind {
    /// `$STANDARD_INFORMATION`: times, DOS attributes, security id.
    pub const STANDARD_INFORMATION: u32 = 0x10;
    /// `$ATTRIBUTE_LIST`: where the attributes of a file spread over several records are.
    pub const ATTRIBUTE_LIST: u32 = 0x20;
    /// `$FILE_NAME`: a name and its parent directory.
    pub const FILE_NAME: u32 = 0x30;
    /// `$VOLUME_NAME`: the label (in `$Volume`).
    pub const VOLUME_NAME: u32 = 0x60;
    /// `$VOLUME_INFORMATION`: version and flags (in `$Volume`).
    pub const VOLUME_INFORMATION: u32 = 0x70;
    /// `$DATA`: file contents (unnamed) and alternate data streams (named).
    pub const DATA: u32 = 0x80;
    /// `$INDEX_ROOT`: the root node of an index.
    pub const INDEX_ROOT: u32 = 0x90;
    /// `$INDEX_ALLOCATION`: the other nodes of an index, as `INDX` records.
    pub const INDEX_ALLOCATION: u32 = 0xA0;
    /// `$BITMAP`: which index records (or MFT records) are in use.
    pub const BITMAP: u32 = 0xB0;
    /// `$REPARSE_POINT`: symlinks, junctions, deduplicated or cloud files.
    pub const REPARSE_POINT: u32 = 0xC0;
}

/// Attribute flag: compressed (LZNT1).
pub const FLAG_COMPRESSED: u16 = 0x0001;
/// Attribute flag: encrypted (EFS).
pub const FLAG_ENCRYPTED: u16 = 0x4000;
/// Attribute flag: sparse.
pub const FLAG_SPARSE: u16 = 0x8000;

/// Runs one attribute extent may decode to (a 64 KiB record holds fewer).
const MAX_RUNS_PER_EXTENT: usize = 1 << 15;

/// Where an attribute's value lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// In the record.
    Resident(Vec<u8>),
    /// In clusters, described by a run list.
    NonResident(NonResident),
}

/// The non-resident part of an attribute header, with its runs decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonResident {
    /// First VCN this extent maps.
    pub lowest_vcn: u64,
    /// Last VCN this extent maps (`lowest_vcn - 1` when it maps none).
    pub highest_vcn: i64,
    /// log2 of the clusters in a compression unit (0: not compressed).
    pub compression_unit: u8,
    /// Bytes allocated (meaningful in the extent with `lowest_vcn` 0).
    pub allocated_size: u64,
    /// Bytes of value.
    pub data_size: u64,
    /// Bytes written; the rest up to `data_size` reads as zeros.
    pub initialized_size: u64,
    /// The runs of this extent.
    pub runs: Vec<Run>,
}

/// One attribute of a record, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    /// Type code ([`kind`]).
    pub type_code: u32,
    /// Bytes the attribute takes in its record.
    pub length: u32,
    /// Offset of the attribute inside its record.
    pub offset: usize,
    /// Name in UTF-16 (empty for the unnamed one).
    pub name: Vec<u16>,
    /// `FLAG_COMPRESSED`, `FLAG_ENCRYPTED`, `FLAG_SPARSE`.
    pub flags: u16,
    /// Instance number, unique inside the base record.
    pub instance: u16,
    /// The value or where it lies.
    pub value: Value,
}

impl Attribute {
    /// Parses the attribute at byte `at` of `rec` (a record cut at its bytes in use).
    pub fn parse(rec: &[u8], at: usize, total_clusters: u64) -> Result<Self> {
        if at + 0x18 > rec.len() {
            return Err(corrupt(format!(
                "header runs past the record's bytes in use ({})",
                rec.len()
            )));
        }
        let length = le32(rec, at + 4);
        if length < 0x18 || length % 8 != 0 || at as u64 + u64::from(length) > rec.len() as u64 {
            return Err(corrupt(format!(
                "length {length} is not a multiple of 8 of at least 24 inside the record's \
                 {} bytes in use",
                rec.len()
            )));
        }
        let a = &rec[at..at + length as usize];
        let type_code = le32(a, 0);
        let name_len = usize::from(a[9]);
        let name_ofs = usize::from(le16(a, 0x0A));
        let name = utf16(a, name_ofs, name_len).ok_or_else(|| {
            corrupt(format!(
                "type {type_code:#x}: name of {name_len} units at {name_ofs} lies outside its \
                 {length} bytes"
            ))
        })?;
        let flags = le16(a, 0x0C);
        let value = if a[8] == 0 {
            let vlen = le32(a, 0x10) as usize;
            let vofs = usize::from(le16(a, 0x14));
            let v = a.get(vofs..vofs.saturating_add(vlen)).ok_or_else(|| {
                corrupt(format!(
                    "type {type_code:#x}: resident value of {vlen} bytes at {vofs} lies outside \
                     its {length} bytes"
                ))
            })?;
            Value::Resident(v.to_vec())
        } else {
            if a.len() < 0x40 {
                return Err(corrupt(format!(
                    "type {type_code:#x}: non-resident header needs 64 bytes, the attribute has \
                     {length}"
                )));
            }
            let lowest_vcn = le64(a, 0x10);
            let highest_vcn = le64(a, 0x18) as i64;
            let rl_ofs = usize::from(le16(a, 0x20));
            let rl = a.get(rl_ofs..).filter(|_| rl_ofs >= 0x40).ok_or_else(|| {
                corrupt(format!(
                    "type {type_code:#x}: run list at {rl_ofs} lies outside its {length} bytes"
                ))
            })?;
            let runs =
                runs::decode(rl, lowest_vcn, total_clusters, MAX_RUNS_PER_EXTENT).map_err(|e| {
                    crate::error::within(e, || format!("type {type_code:#x}: run list"))
                })?;
            let mapped_end = runs.last().map_or(lowest_vcn, |r| r.vcn + r.len);
            if highest_vcn.checked_add(1) != i64::try_from(mapped_end).ok() {
                return Err(corrupt(format!(
                    "type {type_code:#x}: runs map VCNs {lowest_vcn}..{mapped_end} but the \
                     header says the highest VCN is {highest_vcn}"
                )));
            }
            let nr = NonResident {
                lowest_vcn,
                highest_vcn,
                compression_unit: a[0x22],
                allocated_size: le64(a, 0x28),
                data_size: le64(a, 0x30),
                initialized_size: le64(a, 0x38),
                runs,
            };
            if lowest_vcn == 0
                && (nr.data_size > nr.allocated_size && flags & FLAG_COMPRESSED == 0
                    || nr.initialized_size > nr.data_size)
            {
                return Err(corrupt(format!(
                    "type {type_code:#x}: sizes disagree (allocated {}, data {}, initialized {})",
                    nr.allocated_size, nr.data_size, nr.initialized_size
                )));
            }
            Value::NonResident(nr)
        };
        Ok(Self {
            type_code,
            length,
            offset: at,
            name,
            flags,
            instance: le16(a, 0x0E),
            value,
        })
    }

    /// The attribute's name as text (lossy), for messages and stream names.
    pub fn name_string(&self) -> String {
        String::from_utf16_lossy(&self.name)
    }

    /// The resident value, or an error naming the attribute when it is not resident.
    pub fn resident(&self) -> Result<&[u8]> {
        match &self.value {
            Value::Resident(v) => Ok(v),
            Value::NonResident(_) => Err(corrupt(format!(
                "attribute {:#x} at byte {} should be resident but is not",
                self.type_code, self.offset
            ))),
        }
    }
}

/// `n` UTF-16 units at byte `at` of `b`.
pub(crate) fn utf16(b: &[u8], at: usize, n: usize) -> Option<Vec<u16>> {
    let raw = b.get(at..at.checked_add(2 * n)?)?;
    Some(
        raw.chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect(),
    )
}

/// NTFS times: 100-ns intervals since 1601-01-01 UTC.
pub type NtTime = u64;

/// Seconds between 1601-01-01 and 1970-01-01.
const EPOCH_DIFF: i64 = 11_644_473_600;

/// Unix seconds of an NTFS time.
pub fn unix_seconds(t: NtTime) -> i64 {
    (t / 10_000_000) as i64 - EPOCH_DIFF
}

/// `$FILE_NAME` value: 0x00 parent reference; 0x08 creation, 0x10 modification, 0x18
/// MFT change, 0x20 access time; 0x28 allocated, 0x30 data size (as of the last name
/// update); 0x38 file attributes (u32); 0x40 name length (u8); 0x41 namespace (u8); 0x42
/// the name in UTF-16.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileName {
    /// The directory holding this name.
    pub parent: FileRef,
    /// Creation time.
    pub created: NtTime,
    /// Content modification time.
    pub modified: NtTime,
    /// MFT record change time.
    pub changed: NtTime,
    /// Access time.
    pub accessed: NtTime,
    /// Allocated size.
    pub allocated_size: u64,
    /// Data size.
    pub data_size: u64,
    /// DOS attributes (0x10000000: a directory).
    pub file_attributes: u32,
    /// [`namespace`].
    pub namespace: u8,
    /// The name.
    pub name: Vec<u16>,
}

/// `$FILE_NAME` namespaces.
pub mod namespace {
    /// Case-sensitive, any character but `/` and NUL.
    pub const POSIX: u8 = 0;
    /// A long Windows name with a separate DOS alias.
    pub const WIN32: u8 = 1;
    /// An 8.3 alias.
    pub const DOS: u8 = 2;
    /// A name valid both as a long and an 8.3 name.
    pub const WIN32_AND_DOS: u8 = 3;
}

/// `file_attributes` bit of `$FILE_NAME`: the file is a directory (has `$I30`).
pub const FILE_ATTR_DIRECTORY: u32 = 0x1000_0000;
/// `file_attributes` bit: a reparse point (symlink, junction, …).
pub const FILE_ATTR_REPARSE: u32 = 0x0400;

impl FileName {
    /// Length of the fixed part.
    pub const FIXED: usize = 0x42;

    /// Decodes a `$FILE_NAME` value (from the attribute or an index key).
    pub fn parse(v: &[u8]) -> Result<Self> {
        if v.len() < Self::FIXED {
            return Err(corrupt(format!(
                "$FILE_NAME of {} bytes, fewer than {}",
                v.len(),
                Self::FIXED
            )));
        }
        let n = usize::from(v[0x40]);
        let name = utf16(v, Self::FIXED, n).ok_or_else(|| {
            corrupt(format!(
                "$FILE_NAME: name of {n} units does not fit in {} bytes",
                v.len()
            ))
        })?;
        Ok(Self {
            parent: FileRef::from_u64(le64(v, 0)),
            created: le64(v, 0x08),
            modified: le64(v, 0x10),
            changed: le64(v, 0x18),
            accessed: le64(v, 0x20),
            allocated_size: le64(v, 0x28),
            data_size: le64(v, 0x30),
            file_attributes: le32(v, 0x38),
            namespace: v[0x41],
            name,
        })
    }
}

/// `$STANDARD_INFORMATION` value: 0x00 creation, 0x08 modification, 0x10 MFT change,
/// 0x18 access time; 0x20 DOS attributes (u32); NTFS 3.x adds 0x30 owner id, 0x34
/// security id (u32), 0x38 quota, 0x40 USN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandardInformation {
    /// Creation time.
    pub created: NtTime,
    /// Content modification time.
    pub modified: NtTime,
    /// MFT record change time.
    pub changed: NtTime,
    /// Access time.
    pub accessed: NtTime,
    /// DOS attributes (read-only 0x1, hidden 0x2, system 0x4, …).
    pub file_attributes: u32,
    /// Index into `$Secure` (NTFS 3.x; 0 when absent).
    pub security_id: u32,
}

impl StandardInformation {
    /// Decodes the value (48 bytes in NTFS 1.2, 72 in 3.x).
    pub fn parse(v: &[u8]) -> Result<Self> {
        if v.len() < 0x30 {
            return Err(corrupt(format!(
                "$STANDARD_INFORMATION of {} bytes, fewer than 48",
                v.len()
            )));
        }
        Ok(Self {
            created: le64(v, 0),
            modified: le64(v, 0x08),
            changed: le64(v, 0x10),
            accessed: le64(v, 0x18),
            file_attributes: le32(v, 0x20),
            security_id: if v.len() >= 0x38 { le32(v, 0x34) } else { 0 },
        })
    }
}

/// An `$ATTRIBUTE_LIST` entry: 0x00 type (u32); 0x04 length (u16); 0x06 name length (u8);
/// 0x07 name offset (u8); 0x08 lowest VCN (u64); 0x10 the record holding it (u64
/// reference); 0x18 instance (u16); the name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListEntry {
    /// Attribute type.
    pub type_code: u32,
    /// Attribute name.
    pub name: Vec<u16>,
    /// First VCN of that extent (0 for resident attributes).
    pub lowest_vcn: u64,
    /// The record that holds it.
    pub record: FileRef,
    /// Its instance in that record.
    pub instance: u16,
}

/// Decodes a whole `$ATTRIBUTE_LIST` value.
pub fn parse_list(v: &[u8]) -> Result<Vec<ListEntry>> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < v.len() {
        let e = v
            .get(at..at + 0x1A)
            .ok_or_else(|| corrupt(format!("$ATTRIBUTE_LIST entry at byte {at} is truncated")))?;
        let len = usize::from(le16(e, 4));
        if len < 0x1A || len % 8 != 0 || at + len > v.len() {
            return Err(corrupt(format!(
                "$ATTRIBUTE_LIST entry at byte {at}: length {len} (the list has {} bytes)",
                v.len()
            )));
        }
        let ent = &v[at..at + len];
        let name = utf16(ent, usize::from(e[7]), usize::from(e[6])).ok_or_else(|| {
            corrupt(format!(
                "$ATTRIBUTE_LIST entry at byte {at}: name lies outside its {len} bytes"
            ))
        })?;
        out.push(ListEntry {
            type_code: le32(e, 0),
            name,
            lowest_vcn: le64(e, 8),
            record: FileRef::from_u64(le64(e, 0x10)),
            instance: le16(e, 0x18),
        });
        at += len;
    }
    Ok(out)
}
