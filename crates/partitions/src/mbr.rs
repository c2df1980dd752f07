//! Master Boot Record partition table (LBA 0).
//!
//! Layout: boot code (0..446), four 16-byte entries at 446, signature `55 AA` at 510.
//! Entry: status (0x80 = active), CHS first (3), type (1), CHS last (3), first LBA (u32 LE),
//! sector count (u32 LE). Type 0xEE is the protective entry of a GPT disk (UEFI 2.10, 5.2.3);
//! types 0x05 / 0x0F / 0x85 are extended partitions whose logical partitions (numbered 5 and
//! up, Linux's convention) are chained through extended boot records.

use crate::{read, Error, SECTOR};
use ddgz_disk::Disk;

/// The boot signature at byte 510.
pub const BOOT_SIGNATURE: [u8; 2] = [0x55, 0xAA];
/// The partition type of a GPT protective entry.
pub const TYPE_GPT_PROTECTIVE: u8 = 0xEE;
/// Our cap on the length of a logical partition chain (corrupt chains may loop).
pub const MAX_LOGICAL: usize = 128;

/// One used MBR entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Partition number: 1-4 primary, 5+ logical.
    pub number: u32,
    /// Status byte (0x80 active).
    pub status: u8,
    /// System ID / partition type byte.
    pub kind: u8,
    /// First LBA.
    pub first_lba: u64,
    /// Number of sectors.
    pub sectors: u64,
}

/// A parsed MBR.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mbr {
    /// Used entries (primary, then logical).
    pub entries: Vec<Entry>,
}

impl Mbr {
    /// Whether this is a GPT protective MBR: one entry of type 0xEE.
    pub fn is_protective(&self) -> bool {
        self.entries.iter().any(|e| e.kind == TYPE_GPT_PROTECTIVE)
    }
}

fn is_extended(kind: u8) -> bool {
    matches!(kind, 0x05 | 0x0F | 0x85)
}

fn parse_entries(sector: &[u8]) -> [(u8, u8, u64, u64); 4] {
    let mut out = [(0, 0, 0, 0); 4];
    for (i, o) in out.iter_mut().enumerate() {
        let e = &sector[446 + 16 * i..446 + 16 * (i + 1)];
        *o = (
            e[0],
            e[4],
            u64::from(u32::from_le_bytes([e[8], e[9], e[10], e[11]])),
            u64::from(u32::from_le_bytes([e[12], e[13], e[14], e[15]])),
        );
    }
    out
}

/// A human name for an MBR type byte, if known.
pub fn type_name(kind: u8) -> Option<&'static str> {
    Some(match kind {
        0x01 => "FAT12",
        0x04 | 0x06 | 0x0E => "FAT16",
        0x0B | 0x0C => "FAT32",
        0x05 | 0x0F | 0x85 => "Extended",
        0x07 => "NTFS/exFAT",
        0x27 => "Windows recovery",
        0x82 => "Linux swap",
        0x83 => "Linux",
        0x8E => "Linux LVM",
        0xEE => "GPT protective",
        0xEF => "EFI System",
        0xFB => "VMware VMFS",
        0xFC => "VMware vmkDiagnostic",
        _ => return None,
    })
}

/// Reads the MBR at LBA 0; `Ok(None)` when there is no boot signature.
pub fn read_mbr(disk: &dyn Disk) -> Result<Option<Mbr>, Error> {
    if disk.size() < SECTOR {
        return Ok(None);
    }
    let mut sector = [0u8; SECTOR as usize];
    read(disk, 0, &mut sector)?;
    if sector[510..512] != BOOT_SIGNATURE {
        return Ok(None);
    }
    let disk_sectors = disk.size() / SECTOR;
    let mut entries = Vec::new();
    let mut extended = None;
    for (i, (status, kind, first, count)) in parse_entries(&sector).into_iter().enumerate() {
        if kind == 0 || count == 0 {
            continue;
        }
        entries.push(Entry {
            number: i as u32 + 1,
            status,
            kind,
            first_lba: first,
            sectors: count,
        });
        if is_extended(kind) && extended.is_none() {
            extended = Some(first);
        }
    }
    // Logical partitions: each EBR's entry 0 is relative to the EBR, entry 1 points to the
    // next EBR relative to the start of the extended partition.
    if let Some(ext) = extended {
        let mut ebr = ext;
        let mut number = 5;
        for _ in 0..MAX_LOGICAL {
            if ebr == 0 || ebr >= disk_sectors {
                break;
            }
            read(disk, ebr * SECTOR, &mut sector)?;
            if sector[510..512] != BOOT_SIGNATURE {
                break;
            }
            let e = parse_entries(&sector);
            let (status, kind, rel, count) = e[0];
            if kind != 0 && count != 0 {
                entries.push(Entry {
                    number,
                    status,
                    kind,
                    first_lba: ebr.saturating_add(rel),
                    sectors: count,
                });
                number += 1;
            }
            let (_, next_kind, next_rel, _) = e[1];
            if next_kind == 0 || next_rel == 0 {
                break;
            }
            let next = ext.saturating_add(next_rel);
            if next <= ebr {
                break; // a loop or a backwards chain
            }
            ebr = next;
        }
    }
    Ok(Some(Mbr { entries }))
}
