//! A GPT writer: protective MBR, primary and backup headers and entry arrays with their
//! CRCs (UEFI 2.10, section 5.3), for 512-byte sectors.
//!
//! [`Gpt::patches`] returns the bytes to write and where, so a caller can write them into a
//! sparse file ([`Gpt::write`]), into a buffer, or corrupt them on purpose before writing.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use ddgz_disk::Patch;

/// Logical sector size.
pub const SECTOR: u64 = 512;
/// Entries in the arrays we write (what sgdisk, parted and ESXi write).
pub const NUM_ENTRIES: u32 = 128;
/// Size of one entry.
pub const ENTRY_SIZE: u32 = 128;
/// Sectors taken by one entry array (128 × 128 bytes = 32 sectors).
pub const ARRAY_SECTORS: u64 = (NUM_ENTRIES as u64 * ENTRY_SIZE as u64) / SECTOR;

/// Partition type GUIDs (text form) of the ESXi roles (ESXI.md).
pub mod types {
    /// EFI System.
    pub const EFI_SYSTEM: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
    /// Basic Data (partedUtil's linuxNative).
    pub const BASIC_DATA: &str = "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7";
    /// vmkDiagnostic.
    pub const VMKDIAGNOSTIC: &str = "9D275380-40AD-11DB-BF97-000C2911D1B8";
    /// VMFS.
    pub const VMFS: &str = "AA31E02A-400F-11DB-9590-000C2911D1B8";
    /// VMFS-L.
    pub const VMFSL: &str = "4EB2EA39-7855-4790-A79E-FAE495E21F8D";
    /// Linux filesystem.
    pub const LINUX: &str = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";
}

/// The on-disk (mixed-endian) bytes of a GUID in text form. Panics on a malformed string:
/// inputs are the constants of the fixtures.
pub fn guid(s: &str) -> [u8; 16] {
    let hex: Vec<u8> = s.bytes().filter(|&b| b != b'-').collect();
    assert_eq!(hex.len(), 32, "malformed GUID {s}");
    let mut b = [0u8; 16];
    for (i, pair) in hex.chunks(2).enumerate() {
        b[i] = u8::from_str_radix(std::str::from_utf8(pair).expect("ascii"), 16)
            .unwrap_or_else(|_| panic!("malformed GUID {s}"));
    }
    b[0..4].reverse();
    b[4..6].reverse();
    b[6..8].reverse();
    b
}

/// A deterministic random-looking GUID (version 4 bits set) from `(seed, n)`.
pub fn seeded_guid(seed: u64, n: u64) -> [u8; 16] {
    let mut x = seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5DEE_CE66_D1CE_4E5B;
    let mut out = [0u8; 16];
    for chunk in out.chunks_mut(8) {
        // splitmix64
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        chunk.copy_from_slice(&z.to_le_bytes());
    }
    out[7] = (out[7] & 0x0F) | 0x40;
    out[8] = (out[8] & 0x3F) | 0x80;
    out
}

/// One partition entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Partition number = 1-based index in the entry array.
    pub number: u32,
    /// First LBA.
    pub first_lba: u64,
    /// Last LBA, inclusive.
    pub last_lba: u64,
    /// Type GUID, on-disk bytes (see [`guid`]).
    pub type_guid: [u8; 16],
    /// Unique GUID, on-disk bytes.
    pub unique_guid: [u8; 16],
    /// GPT name (at most 36 UTF-16 units).
    pub name: String,
}

impl Part {
    /// Byte offset of the first sector.
    pub fn start(&self) -> u64 {
        self.first_lba * SECTOR
    }
    /// Size in bytes.
    pub fn len(&self) -> u64 {
        (self.last_lba + 1).saturating_sub(self.first_lba) * SECTOR
    }
    /// Whether the partition is empty (never, for a valid entry).
    pub fn is_empty(&self) -> bool {
        self.last_lba < self.first_lba
    }
    /// Byte range on the disk.
    pub fn range(&self) -> std::ops::Range<u64> {
        self.start()..self.start() + self.len()
    }
}

/// A GPT to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gpt {
    /// Disk size in sectors.
    pub disk_sectors: u64,
    /// Disk GUID, on-disk bytes.
    pub disk_guid: [u8; 16],
    /// The partitions.
    pub parts: Vec<Part>,
}

impl Gpt {
    /// First usable LBA: after the protective MBR, the primary header and its array.
    pub fn first_usable_lba(&self) -> u64 {
        2 + ARRAY_SECTORS
    }
    /// Last usable LBA: before the backup array and header.
    pub fn last_usable_lba(&self) -> u64 {
        self.disk_sectors.saturating_sub(2 + ARRAY_SECTORS)
    }

    /// The entry array (128 entries of 128 bytes).
    pub fn entry_array(&self) -> Vec<u8> {
        let mut a = vec![0u8; (NUM_ENTRIES * ENTRY_SIZE) as usize];
        for p in &self.parts {
            assert!(p.number >= 1 && p.number <= NUM_ENTRIES, "partition number");
            let e = &mut a[(p.number as usize - 1) * ENTRY_SIZE as usize..][..ENTRY_SIZE as usize];
            e[0..16].copy_from_slice(&p.type_guid);
            e[16..32].copy_from_slice(&p.unique_guid);
            e[32..40].copy_from_slice(&p.first_lba.to_le_bytes());
            e[40..48].copy_from_slice(&p.last_lba.to_le_bytes());
            for (i, u) in p.name.encode_utf16().take(36).enumerate() {
                e[56 + 2 * i..58 + 2 * i].copy_from_slice(&u.to_le_bytes());
            }
        }
        a
    }

    /// A header sector (92 bytes of header, zero padded) with its CRC.
    pub fn header(
        &self,
        my_lba: u64,
        alternate_lba: u64,
        entries_lba: u64,
        entries_crc: u32,
    ) -> Vec<u8> {
        let mut h = vec![0u8; SECTOR as usize];
        h[0..8].copy_from_slice(b"EFI PART");
        h[8..12].copy_from_slice(&0x0001_0000u32.to_le_bytes());
        h[12..16].copy_from_slice(&92u32.to_le_bytes());
        h[24..32].copy_from_slice(&my_lba.to_le_bytes());
        h[32..40].copy_from_slice(&alternate_lba.to_le_bytes());
        h[40..48].copy_from_slice(&self.first_usable_lba().to_le_bytes());
        h[48..56].copy_from_slice(&self.last_usable_lba().to_le_bytes());
        h[56..72].copy_from_slice(&self.disk_guid);
        h[72..80].copy_from_slice(&entries_lba.to_le_bytes());
        h[80..84].copy_from_slice(&NUM_ENTRIES.to_le_bytes());
        h[84..88].copy_from_slice(&ENTRY_SIZE.to_le_bytes());
        h[88..92].copy_from_slice(&entries_crc.to_le_bytes());
        let crc = crc32fast::hash(&h[..92]);
        h[16..20].copy_from_slice(&crc.to_le_bytes());
        h
    }

    /// The protective MBR: one entry of type 0xEE covering LBA 1 to the end (capped at
    /// 0xFFFFFFFF sectors).
    pub fn protective_mbr(&self) -> Vec<u8> {
        let mut m = vec![0u8; SECTOR as usize];
        let e = &mut m[446..462];
        e[1..4].copy_from_slice(&[0x00, 0x02, 0x00]);
        e[4] = 0xEE;
        e[5..8].copy_from_slice(&[0xFF, 0xFF, 0xFF]);
        e[8..12].copy_from_slice(&1u32.to_le_bytes());
        let n = u32::try_from(self.disk_sectors - 1).unwrap_or(u32::MAX);
        e[12..16].copy_from_slice(&n.to_le_bytes());
        m[510] = 0x55;
        m[511] = 0xAA;
        m
    }

    /// Everything to write: protective MBR, primary header, primary array, backup array,
    /// backup header (in that order).
    pub fn patches(&self) -> Vec<Patch> {
        let array = self.entry_array();
        let crc = crc32fast::hash(&array);
        let last = self.disk_sectors - 1;
        let backup_array_lba = last - ARRAY_SECTORS;
        vec![
            Patch {
                offset: 0,
                data: self.protective_mbr(),
            },
            Patch {
                offset: SECTOR,
                data: self.header(1, last, 2, crc),
            },
            Patch {
                offset: 2 * SECTOR,
                data: array.clone(),
            },
            Patch {
                offset: backup_array_lba * SECTOR,
                data: array,
            },
            Patch {
                offset: last * SECTOR,
                data: self.header(last, 1, backup_array_lba, crc),
            },
        ]
    }

    /// Writes [`Self::patches`] into `f` (which must already be the disk's size).
    pub fn write(&self, f: &File) -> io::Result<()> {
        write_patches(f, &self.patches())
    }
}

/// Writes each patch at its offset.
pub fn write_patches(f: &File, patches: &[Patch]) -> io::Result<()> {
    for p in patches {
        f.write_all_at(&p.data, p.offset)?;
    }
    Ok(())
}

/// Recomputes the CRC of the header sector in `h` (after a deliberate edit).
pub fn fix_header_crc(h: &mut [u8]) {
    let size = u32::from_le_bytes(h[12..16].try_into().expect("4 bytes")) as usize;
    h[16..20].fill(0);
    let crc = crc32fast::hash(&h[..size.min(h.len())]);
    h[16..20].copy_from_slice(&crc.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guid_bytes() {
        assert_eq!(
            guid(types::VMFS),
            [
                0x2a, 0xe0, 0x31, 0xaa, 0x0f, 0x40, 0xdb, 0x11, 0x95, 0x90, 0x00, 0x0c, 0x29, 0x11,
                0xd1, 0xb8
            ]
        );
    }
}
