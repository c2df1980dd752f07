//! GUID Partition Table (UEFI 2.10, section 5.3).
//!
//! On a disk of 512-byte sectors: LBA 0 holds a protective MBR, LBA 1 the primary header,
//! the primary entry array follows it (usually LBA 2..=33); the backup entry array sits just
//! before the backup header, which occupies the last LBA. Header fields (little-endian):
//!
//! | off | size | field |
//! |---|---|---|
//! | 0 | 8 | signature `EFI PART` |
//! | 8 | 4 | revision (0x00010000) |
//! | 12 | 4 | header size (92..=sector size) |
//! | 16 | 4 | CRC32 of the header (this field zeroed) |
//! | 24 | 8 | my LBA |
//! | 32 | 8 | alternate LBA |
//! | 40 | 8 | first usable LBA |
//! | 48 | 8 | last usable LBA |
//! | 56 | 16 | disk GUID |
//! | 72 | 8 | partition entry array LBA |
//! | 80 | 4 | number of entries |
//! | 84 | 4 | size of one entry (128 × 2^n) |
//! | 88 | 4 | CRC32 of the entry array |
//!
//! Entry: type GUID (16), unique GUID (16), first LBA (8), last LBA (8, inclusive),
//! attributes (8), name (72 bytes of UTF-16LE).

use crate::guid::Guid;
use crate::{read, Error, SECTOR};
use ddgz_disk::bytes::{le32, le64};
use ddgz_disk::Disk;

/// `EFI PART`, the header signature (UEFI 5.3.2).
pub const SIGNATURE: [u8; 8] = *b"EFI PART";
/// Smallest header size the spec allows (the fields up to the entry array CRC).
pub const MIN_HEADER_SIZE: u32 = 92;
/// Our cap on the entry array size (the spec's minimum is 16 KiB; tools write 16 KiB).
/// Bounds what an untrusted header makes us allocate.
pub const MAX_ENTRY_ARRAY_BYTES: u64 = 1 << 20;
/// Our cap on one entry's size (the spec allows any 128 × 2^n).
pub const MAX_ENTRY_SIZE: u32 = 4096;

/// One GPT header, fields as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// Revision, 0x00010000 for 1.0.
    pub revision: u32,
    /// Header size in bytes.
    pub header_size: u32,
    /// Stored header CRC.
    pub header_crc: u32,
    /// LBA of this header.
    pub my_lba: u64,
    /// LBA of the other header.
    pub alternate_lba: u64,
    /// First LBA a partition may use.
    pub first_usable_lba: u64,
    /// Last LBA a partition may use.
    pub last_usable_lba: u64,
    /// The disk GUID.
    pub disk_guid: Guid,
    /// First LBA of the entry array.
    pub entries_lba: u64,
    /// Number of entries in the array.
    pub num_entries: u32,
    /// Size of one entry.
    pub entry_size: u32,
    /// Stored CRC32 of the array.
    pub entries_crc: u32,
}

/// One used GPT entry (type GUID not zero).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// 1-based index in the array: the partition number (`sda5` is entry 5).
    pub number: u32,
    /// Partition type.
    pub type_guid: Guid,
    /// Unique partition GUID.
    pub unique_guid: Guid,
    /// First LBA.
    pub first_lba: u64,
    /// Last LBA, inclusive.
    pub last_lba: u64,
    /// Attribute bits.
    pub attributes: u64,
    /// Name (UTF-16LE up to the first NUL, decoded lossily).
    pub name: String,
}

/// A header whose checks passed, with its used entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gpt {
    /// The header.
    pub header: Header,
    /// Used entries, by number.
    pub entries: Vec<Entry>,
    /// Problems that do not make the table unusable (e.g. unknown revision).
    pub notes: Vec<String>,
}

/// Why the table at one location is unusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unusable {
    /// Whether the `EFI PART` signature was there (a damaged table, rather than none).
    pub signature: bool,
    /// What is wrong, naming the LBA and the values.
    pub reason: String,
}

impl std::fmt::Display for Unusable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

/// What was found at the two header locations.
#[derive(Debug, Clone)]
pub struct Scan {
    /// The primary header at LBA 1, or why it is unusable.
    pub primary: Result<Gpt, Unusable>,
    /// The backup header (at the primary's alternate LBA, else the last LBA), or why it is
    /// unusable.
    pub backup: Result<Gpt, Unusable>,
    /// The LBA the backup was read from.
    pub backup_lba: u64,
}

impl Scan {
    /// The table to use: the primary if valid, else the backup.
    pub fn best(&self) -> Option<&Gpt> {
        self.primary.as_ref().ok().or(self.backup.as_ref().ok())
    }
}

/// Whether the sector holds the GPT signature.
pub fn has_signature(sector: &[u8]) -> bool {
    sector.len() >= 8 && sector[..8] == SIGNATURE
}

/// Parses and checks the header in `sector` (one 512-byte sector read at `lba`) on a disk of
/// `disk_sectors` sectors. Checks, in order: signature, header size, header CRC, my LBA,
/// usable range, entry size and count, entry array placement.
pub fn parse_header(sector: &[u8], lba: u64, disk_sectors: u64) -> Result<Header, String> {
    if sector.len() < SECTOR as usize {
        return Err(format!("header at LBA {lba}: short read"));
    }
    if !has_signature(sector) {
        return Err(format!(
            "no GPT signature at LBA {lba} (found {:02x?})",
            &sector[..8]
        ));
    }
    let header_size = le32(sector, 12);
    if !(MIN_HEADER_SIZE..=SECTOR as u32).contains(&header_size) {
        return Err(format!(
            "header at LBA {lba}: header size {header_size}; must be between {MIN_HEADER_SIZE} and {SECTOR}"
        ));
    }
    let header_crc = le32(sector, 16);
    let mut copy = sector[..header_size as usize].to_vec();
    copy[16..20].fill(0);
    let computed = crc32fast::hash(&copy);
    if computed != header_crc {
        return Err(format!(
            "header at LBA {lba}: CRC mismatch (stored 0x{header_crc:08x}, computed 0x{computed:08x})"
        ));
    }
    let h = Header {
        revision: le32(sector, 8),
        header_size,
        header_crc,
        my_lba: le64(sector, 24),
        alternate_lba: le64(sector, 32),
        first_usable_lba: le64(sector, 40),
        last_usable_lba: le64(sector, 48),
        disk_guid: Guid(sector[56..72].try_into().expect("16 bytes")),
        entries_lba: le64(sector, 72),
        num_entries: le32(sector, 80),
        entry_size: le32(sector, 84),
        entries_crc: le32(sector, 88),
    };
    if h.my_lba != lba {
        return Err(format!(
            "header at LBA {lba}: its my-LBA field says {}",
            h.my_lba
        ));
    }
    if h.first_usable_lba > h.last_usable_lba {
        return Err(format!(
            "header at LBA {lba}: first usable LBA {} > last usable LBA {}",
            h.first_usable_lba, h.last_usable_lba
        ));
    }
    if h.entry_size < 128 || !h.entry_size.is_power_of_two() || h.entry_size > MAX_ENTRY_SIZE {
        return Err(format!(
            "header at LBA {lba}: entry size {}; must be 128 × 2^n, at most {MAX_ENTRY_SIZE}",
            h.entry_size
        ));
    }
    let array = u64::from(h.num_entries) * u64::from(h.entry_size);
    if array > MAX_ENTRY_ARRAY_BYTES {
        return Err(format!(
            "header at LBA {lba}: entry array of {} × {} bytes exceeds our limit of {MAX_ENTRY_ARRAY_BYTES} bytes",
            h.num_entries, h.entry_size
        ));
    }
    let array_sectors = array.div_ceil(SECTOR);
    let array_end = h.entries_lba.checked_add(array_sectors);
    match array_end {
        Some(end) if h.entries_lba >= 1 && end <= disk_sectors => {}
        _ => {
            return Err(format!(
                "header at LBA {lba}: entry array at LBA {} ({array_sectors} sectors) lies outside the disk ({disk_sectors} sectors)",
                h.entries_lba
            ))
        }
    }
    Ok(h)
}

/// Reads and checks the entry array of `h` (its CRC), returning the used entries.
pub fn read_entries(disk: &dyn Disk, h: &Header) -> Result<Vec<Entry>, Error> {
    let len = u64::from(h.num_entries) * u64::from(h.entry_size);
    let mut buf = vec![0u8; len as usize];
    read(disk, h.entries_lba * SECTOR, &mut buf)?;
    let computed = crc32fast::hash(&buf);
    if computed != h.entries_crc {
        return Err(Error::Corrupt(format!(
            "partition entry array at LBA {} (of the header at LBA {}): CRC mismatch (stored 0x{:08x}, computed 0x{computed:08x})",
            h.entries_lba, h.my_lba, h.entries_crc
        )));
    }
    let mut out = Vec::new();
    for (i, e) in buf.chunks_exact(h.entry_size as usize).enumerate() {
        let type_guid = Guid(e[0..16].try_into().expect("16 bytes"));
        if type_guid.is_zero() {
            continue;
        }
        let units: Vec<u16> = e[56..128]
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .take_while(|&u| u != 0)
            .collect();
        out.push(Entry {
            number: i as u32 + 1,
            type_guid,
            unique_guid: Guid(e[16..32].try_into().expect("16 bytes")),
            first_lba: le64(e, 32),
            last_lba: le64(e, 40),
            attributes: le64(e, 48),
            name: String::from_utf16_lossy(&units),
        });
    }
    Ok(out)
}

/// Reads one header and its entries; `Err` says why the table at `lba` is unusable.
pub fn read_table(disk: &dyn Disk, lba: u64) -> Result<Result<Gpt, Unusable>, Error> {
    let damaged = |reason| Unusable {
        signature: true,
        reason,
    };
    let disk_sectors = disk.size() / SECTOR;
    let Some(off) = lba.checked_mul(SECTOR).filter(|_| lba < disk_sectors) else {
        return Ok(Err(Unusable {
            signature: false,
            reason: format!(
                "header LBA {lba} lies past the end of the disk ({disk_sectors} sectors)"
            ),
        }));
    };
    let mut sector = [0u8; SECTOR as usize];
    read(disk, off, &mut sector)?;
    let header = match parse_header(&sector, lba, disk_sectors) {
        Ok(h) => h,
        Err(why) => {
            return Ok(Err(Unusable {
                signature: has_signature(&sector),
                reason: why,
            }))
        }
    };
    let mut notes = Vec::new();
    if header.revision != 0x0001_0000 {
        notes.push(format!(
            "header at LBA {lba}: revision 0x{:08x} (expected 0x00010000)",
            header.revision
        ));
    }
    match read_entries(disk, &header) {
        Ok(entries) => Ok(Ok(Gpt {
            header,
            entries,
            notes,
        })),
        Err(Error::Corrupt(why)) => Ok(Err(damaged(why))),
        Err(e) => Err(e),
    }
}

/// Reads the primary header (LBA 1) and the backup (at the primary's alternate LBA when the
/// primary is valid, else at the last LBA of the disk).
pub fn scan(disk: &dyn Disk) -> Result<Scan, Error> {
    let disk_sectors = disk.size() / SECTOR;
    let primary = read_table(disk, 1)?;
    let last = disk_sectors.saturating_sub(1);
    let backup_lba = match &primary {
        Ok(p) if p.header.alternate_lba < disk_sectors => p.header.alternate_lba,
        _ => last,
    };
    let backup = read_table(disk, backup_lba)?;
    Ok(Scan {
        primary,
        backup,
        backup_lba,
    })
}
