//! The boot sector's BIOS parameter block, parsed and checked by us before `fatfs` sees
//! the volume, so that a corrupt or foreign partition gives an error, never a panic or a
//! walk outside the partition.
//!
//! Layout (Microsoft "FAT: General Overview of On-Disk Format", 1.03, section 3), all
//! little-endian, offsets from the first byte of the volume:
//!
//! | off | size | field |
//! |---|---|---|
//! | 0x0B | 2 | bytes per sector (512, 1024, 2048, 4096) |
//! | 0x0D | 1 | sectors per cluster (power of two, 1..=128) |
//! | 0x0E | 2 | reserved sectors (>= 1) |
//! | 0x10 | 1 | number of FATs |
//! | 0x11 | 2 | root directory entries (0 on FAT32) |
//! | 0x13 | 2 | total sectors, 16 bit (0: use 0x20) |
//! | 0x16 | 2 | sectors per FAT, 16 bit (0 on FAT32) |
//! | 0x20 | 4 | total sectors, 32 bit |
//! | 0x24 | 4 | FAT32: sectors per FAT |
//! | 0x2A | 2 | FAT32: version (0) |
//! | 0x2C | 4 | FAT32: root directory's first cluster |
//! | 0x30 | 2 | FAT32: FSInfo sector |
//! | 0x32 | 2 | FAT32: backup boot sector |
//! | 0x1FE | 2 | signature 0x55 0xAA |
//!
//! The FAT type follows from the cluster count alone (same section): fewer than 4085
//! clusters is FAT12, fewer than 65525 is FAT16, else FAT32.

use ddgz_disk::bytes::{le16, le32};

/// FAT12 holds fewer clusters than this (spec section 3.5).
const FAT12_MAX_CLUSTERS: u32 = 4085;
/// FAT16 holds fewer clusters than this (spec section 3.5).
const FAT16_MAX_CLUSTERS: u32 = 65525;
/// Highest cluster count FAT32 can address: entries are 28 bits, 0x0FFFFFF7 and up are
/// reserved (bad / end of chain).
const FAT32_MAX_CLUSTERS: u32 = 0x0FFF_FFF5;

/// The three FAT widths.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FatType {
    /// 12-bit entries.
    Fat12,
    /// 16-bit entries.
    Fat16,
    /// 28-bit entries in 32-bit slots.
    Fat32,
}

impl FatType {
    /// Name as `mkfs.fat` prints it.
    pub fn name(self) -> &'static str {
        match self {
            FatType::Fat12 => "FAT12",
            FatType::Fat16 => "FAT16",
            FatType::Fat32 => "FAT32",
        }
    }

    /// Smallest value that means "end of chain" (spec section 4).
    pub(crate) fn eoc_min(self) -> u32 {
        match self {
            FatType::Fat12 => 0xFF8,
            FatType::Fat16 => 0xFFF8,
            FatType::Fat32 => 0x0FFF_FFF8,
        }
    }
}

/// Where the root directory lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Root {
    /// FAT12/16: a fixed region between the FATs and the data area.
    Fixed {
        /// Byte offset in the volume.
        offset: u64,
        /// Number of 32-byte entries.
        entries: u32,
    },
    /// FAT32: an ordinary cluster chain.
    Cluster(u32),
}

/// Everything derived from a checked boot sector. Offsets are bytes from the volume start.
#[derive(Debug, Clone)]
pub(crate) struct Geometry {
    pub fat_type: FatType,
    pub cluster_size: u32,
    /// First FAT.
    pub fat_offset: u64,
    /// Bytes per FAT.
    pub fat_len: u64,
    pub root: Root,
    /// Byte offset of cluster 2.
    pub data_offset: u64,
    /// Number of data clusters: valid cluster numbers are `2..clusters + 2`.
    pub clusters: u32,
    /// Number of FAT copies (each `fat_len` bytes, one after the other).
    pub fats: u32,
    /// FAT32: byte offset of the FSInfo sector.
    pub fsinfo: Option<u64>,
}

impl Geometry {
    /// Parses and checks the boot sector (`boot` = the volume's first 512 bytes) of a volume
    /// of `volume_len` bytes. The error is the reason in words, with the values.
    pub(crate) fn parse(boot: &[u8; 512], volume_len: u64) -> Result<Self, String> {
        let u8_at = |o: usize| boot[o];
        let u16_at = |o: usize| le16(boot, o);
        let u32_at = |o: usize| le32(boot, o);

        if boot[0x1FE..] != [0x55, 0xAA] {
            return Err(format!(
                "no boot sector signature (bytes 510-511 are {:02x} {:02x}, want 55 aa)",
                boot[0x1FE], boot[0x1FF]
            ));
        }
        let bps = u16_at(0x0B) as u32;
        if !matches!(bps, 512 | 1024 | 2048 | 4096) {
            return Err(format!(
                "bytes per sector is {bps}; must be 512, 1024, 2048 or 4096"
            ));
        }
        let spc = u8_at(0x0D) as u32;
        if !spc.is_power_of_two() {
            return Err(format!(
                "sectors per cluster is {spc}; must be a power of two from 1 to 128"
            ));
        }
        let cluster_size = bps * spc;
        let reserved = u16_at(0x0E) as u32;
        if reserved == 0 {
            return Err("reserved sector count is 0; must be at least 1".into());
        }
        let fats = u8_at(0x10) as u32;
        if !(1..=4).contains(&fats) {
            return Err(format!("number of FATs is {fats}; must be 1 to 4"));
        }
        let root_entries = u16_at(0x11) as u32;
        let total16 = u16_at(0x13) as u32;
        let fatsz16 = u16_at(0x16) as u32;
        let total32 = u32_at(0x20);
        // fatfs (and the Linux driver) take a zero 16-bit FAT size to mean FAT32 layout.
        let fat32_layout = fatsz16 == 0;
        let total = match (total16, total32) {
            (0, 0) => return Err("total sector count is 0".into()),
            (t, 0) => t,
            (0, t) => t,
            (a, b) => {
                return Err(format!(
                    "both total sector counts are set ({a} and {b}); one must be 0"
                ))
            }
        };
        let total_bytes = total as u64 * bps as u64;
        if total_bytes > volume_len {
            return Err(format!(
                "the boot sector claims {total} sectors of {bps} bytes ({total_bytes} bytes), \
                 but the partition holds only {volume_len} bytes"
            ));
        }
        let mut fsinfo_sector = None;
        let (fatsz, root) = if fat32_layout {
            if root_entries != 0 {
                return Err(format!(
                    "FAT32 layout with {root_entries} root directory entries; must be 0"
                ));
            }
            if total16 != 0 {
                return Err("FAT32 layout with a 16-bit total sector count; must be 0".into());
            }
            let fatsz32 = u32_at(0x24);
            if fatsz32 == 0 {
                return Err("sectors per FAT is 0".into());
            }
            let version = u16_at(0x2A);
            if version != 0 {
                return Err(format!("FAT32 version is {version:#x}; only 0 is known"));
            }
            let fsinfo = u16_at(0x30) as u32;
            let backup = u16_at(0x32) as u32;
            if fsinfo == 0 || fsinfo >= reserved {
                return Err(format!(
                    "FSInfo sector is {fsinfo}; must be inside the {reserved} reserved sectors (and not 0)"
                ));
            }
            if backup >= reserved {
                return Err(format!(
                    "backup boot sector is {backup}; must be inside the {reserved} reserved sectors"
                ));
            }
            fsinfo_sector = Some(fsinfo as u64);
            (fatsz32, Root::Cluster(u32_at(0x2C)))
        } else {
            if root_entries == 0 {
                return Err("FAT12/16 layout with 0 root directory entries".into());
            }
            (
                fatsz16,
                Root::Fixed {
                    offset: 0,
                    entries: root_entries,
                },
            )
        };
        let root_sectors = (root_entries * 32).div_ceil(bps);
        let fat_sectors = fats as u64 * fatsz as u64;
        let first_data = reserved as u64 + fat_sectors + root_sectors as u64;
        if first_data >= total as u64 {
            return Err(format!(
                "the data area would start at sector {first_data}, past the last sector ({total})"
            ));
        }
        let clusters64 = (total as u64 - first_data) / spc as u64;
        let clusters = u32::try_from(clusters64).unwrap_or(u32::MAX);
        if clusters == 0 {
            return Err("the volume has no data cluster".into());
        }
        let fat_type = if clusters < FAT12_MAX_CLUSTERS {
            FatType::Fat12
        } else if clusters < FAT16_MAX_CLUSTERS {
            FatType::Fat16
        } else {
            FatType::Fat32
        };
        if fat32_layout != (fat_type == FatType::Fat32) {
            return Err(format!(
                "{clusters} clusters make this {}, but the boot sector has the {} layout",
                fat_type.name(),
                if fat32_layout { "FAT32" } else { "FAT12/16" }
            ));
        }
        if clusters > FAT32_MAX_CLUSTERS {
            return Err(format!(
                "{clusters} clusters; FAT32 holds at most {FAT32_MAX_CLUSTERS}"
            ));
        }
        let bits: u64 = match fat_type {
            FatType::Fat12 => 12,
            FatType::Fat16 => 16,
            FatType::Fat32 => 32,
        };
        let fat_len = fatsz as u64 * bps as u64;
        let entries = fat_len * 8 / bits;
        if entries < clusters as u64 + 2 {
            return Err(format!(
                "a FAT of {fatsz} sectors holds {entries} entries, fewer than the {} the {clusters} clusters need",
                clusters as u64 + 2
            ));
        }
        let bps64 = bps as u64;
        let root = match root {
            Root::Cluster(c) => {
                if c < 2 || c as u64 >= clusters as u64 + 2 {
                    return Err(format!(
                        "root directory cluster is {c}; must be from 2 to {}",
                        clusters as u64 + 1
                    ));
                }
                Root::Cluster(c)
            }
            Root::Fixed { entries, .. } => Root::Fixed {
                offset: (reserved as u64 + fat_sectors) * bps64,
                entries,
            },
        };
        Ok(Self {
            fat_type,
            cluster_size,
            fat_offset: reserved as u64 * bps64,
            fat_len,
            root,
            data_offset: first_data * bps64,
            clusters,
            fats,
            fsinfo: fsinfo_sector.map(|s| s * bps64),
        })
    }

    /// Byte offset of cluster `c` (which must be a valid data cluster).
    pub(crate) fn cluster_offset(&self, c: u32) -> u64 {
        self.data_offset + (c as u64 - 2) * self.cluster_size as u64
    }

    /// Whether `c` names a data cluster.
    pub(crate) fn is_valid_cluster(&self, c: u32) -> bool {
        c >= 2 && (c as u64) < self.clusters as u64 + 2
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A FAT16 boot sector like `mkfs.fat -F 16` makes for 100 MiB.
    fn fat16() -> [u8; 512] {
        let mut b = [0u8; 512];
        b[0] = 0xEB;
        b[0x0B..0x0D].copy_from_slice(&512u16.to_le_bytes());
        b[0x0D] = 4;
        b[0x0E..0x10].copy_from_slice(&4u16.to_le_bytes());
        b[0x10] = 2;
        b[0x11..0x13].copy_from_slice(&512u16.to_le_bytes());
        b[0x16..0x18].copy_from_slice(&200u16.to_le_bytes());
        b[0x20..0x24].copy_from_slice(&204800u32.to_le_bytes());
        b[0x1FE] = 0x55;
        b[0x1FF] = 0xAA;
        b
    }

    #[test]
    fn a_sane_fat16_parses() {
        let g = Geometry::parse(&fat16(), 100 << 20).unwrap();
        assert_eq!(g.fat_type, FatType::Fat16);
        assert_eq!(g.cluster_size, 2048);
        assert_eq!(g.fat_offset, 4 * 512);
        assert_eq!(
            g.root,
            Root::Fixed {
                offset: (4 + 400) * 512,
                entries: 512
            }
        );
        assert_eq!(g.data_offset, (4 + 400 + 32) * 512);
    }

    #[test]
    fn corrupt_fields_are_refused_with_the_value() {
        type Mutation = Box<dyn Fn(&mut [u8; 512])>;
        let cases: Vec<(Mutation, &str)> = vec![
            (Box::new(|b| b[0x1FF] = 0), "signature"),
            (Box::new(|b| b[0x0B] = 7), "bytes per sector is 519"),
            (Box::new(|b| b[0x0D] = 3), "sectors per cluster is 3"),
            (Box::new(|b| b[0x10] = 0), "number of FATs is 0"),
            (
                Box::new(|b| b[0x0E..0x10].fill(0)),
                "reserved sector count is 0",
            ),
            (
                Box::new(|b| b[0x20..0x24].copy_from_slice(&409600u32.to_le_bytes())),
                "claims 409600 sectors",
            ),
            (
                Box::new(|b| b[0x16..0x18].copy_from_slice(&10u16.to_le_bytes())),
                "a FAT of 10 sectors",
            ),
            (Box::new(|b| b[0x16..0x18].fill(0)), "FAT32 layout"),
            (
                Box::new(|b| b[0x20..0x24].copy_from_slice(&400u32.to_le_bytes())),
                "data area would start",
            ),
        ];
        for (f, want) in cases {
            let mut b = fat16();
            f(&mut b);
            let e = Geometry::parse(&b, 100 << 20).unwrap_err();
            assert!(e.contains(want), "{e:?} should contain {want:?}");
        }
        // Every byte value in every BPB position: never a panic.
        for pos in 0x0B..0x40 {
            for v in [0u8, 1, 0x7F, 0x80, 0xFF] {
                let mut b = fat16();
                b[pos] = v;
                let _ = Geometry::parse(&b, 100 << 20);
                let _ = Geometry::parse(&b, 0);
            }
        }
    }
}
