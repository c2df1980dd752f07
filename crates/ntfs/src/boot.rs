//! The NTFS boot sector (`$Boot`, the first sector of the volume): the geometry every
//! other structure is addressed by.
//!
//! Layout (little-endian): 0x03 OEM id `"NTFS    "`; 0x0B bytes per sector (u16);
//! 0x0D sectors per cluster (u8; a value above 0x80 is a negative power of two, as
//! Windows writes for 64 KiB and larger clusters); 0x28 total sectors (u64); 0x30 `$MFT`
//! cluster (u64); 0x38 `$MFTMirr` cluster (u64); 0x40 clusters per MFT record and 0x44
//! clusters per index record (i8: negative means `2^-n` bytes); 0x48 serial (u64);
//! 0x1FE signature `55 AA`.

use ddgz_disk::bytes::{le16, le64};

use crate::error::{Error, Result};

/// Bytes of the boot sector that are parsed.
pub const BOOT_LEN: usize = 512;
/// Smallest and largest sector sizes NTFS defines.
const SECTOR_SIZES: std::ops::RangeInclusive<u32> = 256..=4096;
/// Largest cluster size: 2 MiB (Windows 10 1709 and later).
pub const MAX_CLUSTER: u32 = 2 << 20;
/// Largest MFT and index record sizes accepted (Windows uses 1 KiB/4 KiB and 4 KiB).
pub const MAX_RECORD: u32 = 64 << 10;
/// The stride of update-sequence fixups, defined by NTFS whatever the sector size.
pub const FIXUP_STRIDE: usize = 512;

/// Geometry read from the boot sector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootSector {
    /// Bytes per sector.
    pub sector_size: u32,
    /// Bytes per cluster.
    pub cluster_size: u32,
    /// Sectors in the volume (the backup boot sector lies just past them).
    pub total_sectors: u64,
    /// Clusters in the volume.
    pub total_clusters: u64,
    /// First cluster of `$MFT`.
    pub mft_lcn: u64,
    /// First cluster of `$MFTMirr`.
    pub mftmirr_lcn: u64,
    /// Bytes per MFT record.
    pub record_size: u32,
    /// Bytes per index (`INDX`) record.
    pub index_record_size: u32,
    /// Volume serial number.
    pub serial: u64,
}

impl BootSector {
    /// Parses and checks the first sector of a volume of `fs_len` bytes.
    pub fn parse(b: &[u8], fs_len: u64) -> Result<Self> {
        if b.len() < BOOT_LEN {
            return Err(Error::NotNtfs(format!(
                "the volume has {} bytes, too few for a boot sector",
                b.len()
            )));
        }
        if &b[3..11] != b"NTFS    " {
            return Err(Error::NotNtfs(format!(
                "no \"NTFS    \" OEM id at byte 3 (found {:02x?})",
                &b[3..11]
            )));
        }
        let bad = |what: &str, v: u64| Error::NotNtfs(format!("boot sector: {what} {v}"));
        let sector_size = u32::from(le16(b, 0x0B));
        if !SECTOR_SIZES.contains(&sector_size) || !sector_size.is_power_of_two() {
            return Err(bad(
                "bytes per sector is not a power of two in 256..=4096:",
                sector_size.into(),
            ));
        }
        let spc = b[0x0D];
        let cluster_size = if spc <= 0x80 {
            u32::from(spc) * sector_size
        } else {
            // Windows stores 2^n as -n for clusters of 64 KiB and more.
            let shift = 256 - u32::from(spc);
            if shift > 31 {
                return Err(bad("sectors per cluster exponent", shift.into()));
            }
            1u32 << shift
        };
        if cluster_size == 0
            || !cluster_size.is_power_of_two()
            || cluster_size > MAX_CLUSTER
            || cluster_size < sector_size
        {
            return Err(bad(
                "cluster size is not a power of two in sector size..=2 MiB:",
                cluster_size.into(),
            ));
        }
        let total_sectors = le64(b, 0x28);
        let size = total_sectors
            .checked_mul(sector_size.into())
            .ok_or_else(|| bad("total sectors overflow:", total_sectors))?;
        if size > fs_len {
            return Err(Error::Corrupt(format!(
                "boot sector: {total_sectors} sectors of {sector_size} bytes ({size} bytes) do \
                 not fit in the partition ({fs_len} bytes)"
            )));
        }
        let total_clusters = size / u64::from(cluster_size);
        let record = |at: usize, what: &str| -> Result<u32> {
            let v = b[at] as i8;
            let bytes = if v < 0 {
                let shift = u32::from(v.unsigned_abs());
                if shift > 31 {
                    return Err(bad(what, shift.into()));
                }
                1u64 << shift
            } else {
                u64::from(v as u8) * u64::from(cluster_size)
            };
            if !bytes.is_power_of_two() || bytes < FIXUP_STRIDE as u64 || bytes > MAX_RECORD.into()
            {
                return Err(bad(what, bytes));
            }
            Ok(bytes as u32)
        };
        let record_size = record(
            0x40,
            "MFT record size is not a power of two in 512..=65536:",
        )?;
        let index_record_size = record(
            0x44,
            "index record size is not a power of two in 512..=65536:",
        )?;
        let mft_lcn = le64(b, 0x30);
        let mftmirr_lcn = le64(b, 0x38);
        for (what, lcn) in [("$MFT", mft_lcn), ("$MFTMirr", mftmirr_lcn)] {
            if lcn == 0 || lcn >= total_clusters {
                return Err(Error::Corrupt(format!(
                    "boot sector: {what} at cluster {lcn} lies outside the volume's \
                     {total_clusters} clusters"
                )));
            }
        }
        Ok(Self {
            sector_size,
            cluster_size,
            total_sectors,
            total_clusters,
            mft_lcn,
            mftmirr_lcn,
            record_size,
            index_record_size,
            serial: le64(b, 0x48),
        })
    }

    /// Bytes in the volume (excluding the backup boot sector past its end).
    pub fn volume_size(&self) -> u64 {
        self.total_clusters * u64::from(self.cluster_size)
    }
}
