//! VMFS and VMFS-L volume headers (ESXI.md, "VMFS on-disk headers"; the offsets are those
//! glandium/vmfs-tools and vmfs6-tools read). All little-endian, offsets from the start of
//! the partition:
//!
//! - LVM device header at [`LVM_HEADER`] (1 MiB): magic 0xC001D00D at +0x00, major version
//!   at +0x04 (3 = VMFS3, 5 = VMFS5, 6 = VMFS6 / VMFS6-L), device size / 256 at +0x5F
//!   (u32), device UUID at +0x82.
//! - Volume descriptor ("LVM info") at +0x200 after the LVM header (LVM 3 and 5) or +0x1000
//!   (LVM 6): logical size (u64, +0x00), LV UUID as text (+0x14), LV UUID (+0x54), number of
//!   256 MiB segments (+0x74), first segment (+0x78), last segment (+0x80), number of
//!   extents (+0x90).
//! - The logical volume's data starts 16 MiB after the LVM header ([`LV_DATA`]), and the
//!   filesystem descriptor sits at LV offset 0x200000, i.e. partition offset
//!   [`FS_DESCRIPTOR`] (0x1300000): magic 0x2FABF15E (VMFS) / 0x2FABF15F (VMFS-L) at
//!   +0x00, volume version (4 = VMFS3, 14 = VMFS5, 24 = VMFS6) at +0x04, minor (u8) at
//!   +0x08, FS UUID at +0x09, mode / config at +0x19, label (128 bytes) at +0x1D, disk
//!   block size (u32) at +0x9D, file block size (u64) at +0xA1, creation time (u32, Unix
//!   seconds) at +0xA9, LV UUID at +0xB1 (must equal the volume descriptor's).
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use std::ops::Range;

use ddgz_disk::Disk;
use serde::Serialize;

use ddgz_disk::bytes::{le32, le64};

/// Offset of the LVM device header in the partition.
pub const LVM_HEADER: u64 = 0x10_0000;
/// The LVM device header magic.
pub const LVM_MAGIC: u32 = 0xC001_D00D;
/// Volume descriptor offset after the LVM header, LVM 3 and 5 (vmfs-tools).
pub const VOLUME_DESCRIPTOR_LVM5: u64 = 0x200;
/// Volume descriptor offset after the LVM header, LVM 6 (vmfs6-tools; the header's md
/// alignment field, 0x1000 in practice).
pub const VOLUME_DESCRIPTOR_LVM6: u64 = 0x1000;
/// Where the logical volume's data begins, from the LVM header.
pub const LV_DATA: u64 = 0x100_0000;
/// Filesystem descriptor offset inside the logical volume.
pub const FS_DESCRIPTOR_LV: u64 = 0x20_0000;
/// Filesystem descriptor offset in the partition (head extent, segment 0 first).
pub const FS_DESCRIPTOR: u64 = LVM_HEADER + LV_DATA + FS_DESCRIPTOR_LV;
/// Filesystem descriptor magic of VMFS.
pub const FS_MAGIC_VMFS: u32 = 0x2FAB_F15E;
/// Filesystem descriptor magic of VMFS-L (ESXi 7+ OSDATA).
pub const FS_MAGIC_VMFSL: u32 = 0x2FAB_F15F;
/// The LVM maps the logical volume in segments of 256 MiB (vmfs-tools
/// `VMFS_LVM_SEGMENT_SIZE`).
pub const SEGMENT: u64 = 256 << 20;

/// Which filesystem the descriptor announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Flavor {
    /// VMFS (datastores).
    #[serde(rename = "VMFS")]
    Vmfs,
    /// VMFS-L (ESXi 7+ OSDATA).
    #[serde(rename = "VMFS-L")]
    VmfsL,
}

impl Flavor {
    /// `VMFS` or `VMFS-L`.
    pub fn name(self) -> &'static str {
        match self {
            Flavor::Vmfs => "VMFS",
            Flavor::VmfsL => "VMFS-L",
        }
    }
}

/// A VMFS UUID (16 bytes), shown as vmfs-tools shows it: `%08x-%08x-%04x-%012x` from two
/// little-endian u32, one little-endian u16 and six bytes in order (the creator's MAC).
#[derive(Clone, Copy, PartialEq, Eq, Default)]
pub struct VmfsUuid(pub [u8; 16]);

impl std::fmt::Display for VmfsUuid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let b = &self.0;
        let a = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        let c = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
        let d = u16::from_le_bytes([b[8], b[9]]);
        write!(f, "{a:08x}-{c:08x}-{d:04x}-{}", hex::encode(&b[10..]))
    }
}

impl std::fmt::Debug for VmfsUuid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl Serialize for VmfsUuid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// What the headers of a VMFS / VMFS-L volume say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Volume {
    /// VMFS or VMFS-L.
    pub flavor: Flavor,
    /// LVM major version (3, 5, 6).
    pub lvm_version: u32,
    /// Filesystem volume version (4 = VMFS3, 14 = VMFS5, 24 = VMFS6).
    pub fs_version: u32,
    /// Filesystem minor version (31, 81, 82…).
    pub fs_minor: u8,
    /// Human version: `VMFS3`, `VMFS5`, `VMFS6`, `VMFS6-L`…
    pub version_name: String,
    /// Label.
    pub label: String,
    /// Filesystem UUID.
    pub uuid: VmfsUuid,
    /// File block size in bytes.
    pub block_size: u64,
    /// Disk block size in bytes.
    pub disk_block_size: u32,
    /// Creation time (Unix seconds).
    pub ctime: u32,
    /// Mode / config word of the descriptor (0x800 marks OSDATA).
    pub mode: u32,
    /// LVM device UUID.
    pub device_uuid: VmfsUuid,
    /// Logical volume UUID (from the volume descriptor).
    pub lv_uuid: VmfsUuid,
    /// Logical volume size in bytes.
    pub lv_size: u64,
    /// Number of 256 MiB segments on this device.
    pub segments: u32,
    /// Number of extents (devices) of the volume.
    pub extents: u32,
}

/// Result of probing a partition for VMFS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// No LVM magic at 1 MiB.
    NotVmfs,
    /// Headers read and consistent.
    Volume(Volume),
    /// An LVM header is there but something is wrong; `partial` holds what could be read.
    Invalid {
        /// Why, naming offsets and values.
        reason: String,
        /// The volume as far as it could be parsed (for reporting UUIDs).
        partial: Option<Volume>,
    },
}

fn uuid_at(b: &[u8], o: usize) -> VmfsUuid {
    VmfsUuid(b[o..o + 16].try_into().expect("16 bytes"))
}

/// Reads the VMFS headers of the partition `[range)`. Reads at most three sectors.
pub fn probe(disk: &dyn Disk, range: Range<u64>) -> Result<Probe, ddgz_disk::Error> {
    let len = range.end.saturating_sub(range.start);
    let invalid = |reason: String| {
        Ok(Probe::Invalid {
            reason,
            partial: None,
        })
    };
    if len < LVM_HEADER + 512 {
        return Ok(Probe::NotVmfs);
    }
    let mut lvm = [0u8; 512];
    disk.read_at(range.start + LVM_HEADER, &mut lvm)?;
    if le32(&lvm, 0) != LVM_MAGIC {
        return Ok(Probe::NotVmfs);
    }
    let lvm_version = le32(&lvm, 4);
    let vd_off = match lvm_version {
        3 | 5 => VOLUME_DESCRIPTOR_LVM5,
        6 => VOLUME_DESCRIPTOR_LVM6,
        v => {
            return invalid(format!(
                "LVM header at partition offset 0x{LVM_HEADER:x}: major version {v}; known versions are 3, 5 and 6"
            ))
        }
    };
    if len < FS_DESCRIPTOR + 512 {
        return invalid(format!(
            "partition of {len} bytes is too small for a VMFS filesystem descriptor at offset 0x{FS_DESCRIPTOR:x}"
        ));
    }
    let mut vd = [0u8; 512];
    disk.read_at(range.start + LVM_HEADER + vd_off, &mut vd)?;
    let mut fs = [0u8; 512];
    disk.read_at(range.start + FS_DESCRIPTOR, &mut fs)?;

    let lv_size = le64(&vd, 0);
    let lv_uuid = uuid_at(&vd, 0x54);
    let segments = le32(&vd, 0x74);
    let first_segment = le32(&vd, 0x78);
    let last_segment = le32(&vd, 0x80);
    let extents = le32(&vd, 0x90);

    let fs_magic = le32(&fs, 0);
    let flavor = match fs_magic {
        FS_MAGIC_VMFS => Flavor::Vmfs,
        FS_MAGIC_VMFSL => Flavor::VmfsL,
        m => {
            return invalid(format!(
                "filesystem descriptor at partition offset 0x{FS_DESCRIPTOR:x}: magic 0x{m:08x}; expected 0x{FS_MAGIC_VMFS:08x} (VMFS) or 0x{FS_MAGIC_VMFSL:08x} (VMFS-L)"
            ))
        }
    };
    let fs_version = le32(&fs, 4);
    let fs_minor = fs[8];
    let label_bytes = &fs[0x1D..0x1D + 128];
    let label_end = label_bytes.iter().position(|&b| b == 0).unwrap_or(128);
    let version_name = match (lvm_version, fs_version, flavor) {
        (_, 4, Flavor::Vmfs) => "VMFS3".to_string(),
        (_, 14, Flavor::Vmfs) => "VMFS5".to_string(),
        (_, 24, Flavor::Vmfs) => "VMFS6".to_string(),
        (_, 24, Flavor::VmfsL) => "VMFS6-L".to_string(),
        (_, v, f) => format!("{} volume version {v}", f.name()),
    };
    let vol = Volume {
        flavor,
        lvm_version,
        fs_version,
        fs_minor,
        version_name,
        label: String::from_utf8_lossy(&label_bytes[..label_end]).into_owned(),
        uuid: uuid_at(&fs, 9),
        block_size: le64(&fs, 0xA1),
        disk_block_size: le32(&fs, 0x9D),
        ctime: le32(&fs, 0xA9),
        mode: le32(&fs, 0x19),
        device_uuid: uuid_at(&lvm, 0x82),
        lv_uuid,
        lv_size,
        segments,
        extents,
    };
    let bad = |reason: String, v: &Volume| {
        Ok(Probe::Invalid {
            reason,
            partial: Some(v.clone()),
        })
    };
    // Segment 0 (which holds the FS descriptor) must be on this device.
    if first_segment != 0 || last_segment < first_segment {
        return bad(
            format!(
                "volume descriptor at partition offset 0x{:x}: segments {first_segment}..={last_segment}; this device does not hold segment 0 (not the head extent of the volume)",
                LVM_HEADER + vd_off
            ),
            &vol,
        );
    }
    let fs_lv_uuid = uuid_at(&fs, 0xB1);
    if fs_lv_uuid != lv_uuid {
        return bad(
            format!(
                "LV UUID mismatch: the filesystem descriptor (offset 0x{:x}) names {fs_lv_uuid}, the volume descriptor (offset 0x{:x}) {lv_uuid}: the filesystem does not belong to this logical volume",
                FS_DESCRIPTOR + 0xB1,
                LVM_HEADER + vd_off + 0x54
            ),
            &vol,
        );
    }
    if !vol.block_size.is_power_of_two() || !(512..=(1 << 30)).contains(&vol.block_size) {
        return bad(
            format!(
                "filesystem descriptor: file block size {}; must be a power of two between 512 and 1 GiB",
                vol.block_size
            ),
            &vol,
        );
    }
    // The segments this device maps must fit in the partition.
    let needed = u64::from(segments)
        .checked_mul(SEGMENT)
        .and_then(|s| s.checked_add(LVM_HEADER + LV_DATA));
    match needed {
        Some(n) if n <= len => {}
        _ => {
            return bad(
                format!(
                    "volume does not fit its partition: {segments} segments of 256 MiB after the 17 MiB header area need {} bytes, the partition has {len}",
                    needed.map_or("more than 2^64".into(), |n| n.to_string())
                ),
                &vol,
            )
        }
    }
    Ok(Probe::Volume(vol))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuid_text() {
        let u = VmfsUuid([
            0x44, 0xf8, 0xed, 0x49, 0xf3, 0x28, 0xfc, 0xeb, 0xcb, 0x65, 0x00, 0x21, 0x28, 0x00,
            0x83, 0xcf,
        ]);
        assert_eq!(u.to_string(), "49edf844-ebfc28f3-65cb-0021280083cf");
    }
}
