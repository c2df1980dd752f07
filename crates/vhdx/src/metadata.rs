//! The metadata region ([MS-VHDX] 2.6): a table of items at the region's start, each
//! item at an offset inside the region.
//!
//! ```text
//! table header (32 bytes): "metadata", reserved u16, entry count u16 (<= 2047)
//! entry (32 bytes): item GUID, offset u32 (>= 64 KiB, or 0 with length 0),
//!                   length u32 (<= 1 MiB), flags u32 (bit 2: required)
//! file parameters: block size u32 (1 MiB..256 MiB, a power of two), flags u32
//!                  (bit 0: leave blocks allocated = fixed, bit 1: has parent)
//! virtual disk size: u64        logical / physical sector size: u32 (512 or 4096)
//! parent locator: type GUID, reserved u16, key-value count u16, then entries
//!                 (key offset u32, value offset u32, key length u16, value length u16)
//!                 of UTF-16 LE strings inside the item
//! ```

use crate::header::{guid, guid_at, le16, le32, le64, show_guid};
use ddgz_disk::Problem;

const FILE_PARAMETERS: [u8; 16] = guid(
    0xcaa1_6737,
    0xfa36,
    0x4d43,
    [0xb3, 0xb6, 0x33, 0xf0, 0xaa, 0x44, 0xe7, 0x6b],
);
const VIRTUAL_DISK_SIZE: [u8; 16] = guid(
    0x2fa5_4224,
    0xcd1b,
    0x4876,
    [0xb2, 0x11, 0x5d, 0xbe, 0xd8, 0x3b, 0xf4, 0xb8],
);
const PAGE_83: [u8; 16] = guid(
    0xbeca_12ab,
    0xb2e6,
    0x4523,
    [0x93, 0xef, 0xc3, 0x09, 0xe0, 0x00, 0xc7, 0x46],
);
const LOGICAL_SECTOR_SIZE: [u8; 16] = guid(
    0x8141_bf1d,
    0xa96f,
    0x4709,
    [0xba, 0x47, 0xf2, 0x33, 0xa8, 0xfa, 0xab, 0x5f],
);
const PHYSICAL_SECTOR_SIZE: [u8; 16] = guid(
    0xcda3_48c7,
    0x445d,
    0x4471,
    [0x9c, 0xc9, 0xe9, 0x88, 0x52, 0x51, 0xc5, 0x56],
);
const PARENT_LOCATOR: [u8; 16] = guid(
    0xa8d3_5f2d,
    0xb30b,
    0x454d,
    [0xab, 0xf7, 0xd3, 0xd8, 0x48, 0x34, 0xab, 0x0c],
);

/// Size of the metadata table (defined by the specification).
pub(crate) const TABLE_SIZE: usize = 64 << 10;
/// Largest virtual disk: 64 TiB (defined by the specification).
pub(crate) const MAX_DISK_SIZE: u64 = 64 << 40;

/// Where one item is, relative to the metadata region.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Item {
    pub offset: u32,
    pub length: u32,
}

/// The items found in the table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Table {
    pub file_parameters: Option<Item>,
    pub virtual_disk_size: Option<Item>,
    pub page83: Option<Item>,
    pub logical_sector_size: Option<Item>,
    pub physical_sector_size: Option<Item>,
    pub parent_locator: Option<Item>,
}

impl Table {
    /// Parses the 64 KiB table of a region of `region_len` bytes: every item lies inside
    /// the region, each known item appears once, an unknown required item is refused.
    pub(crate) fn parse(b: &[u8], region_len: u32) -> Result<Self, Problem> {
        if &b[..8] != b"metadata" {
            return Err(Problem::invalid(
                "metadata table: no \"metadata\" signature",
            ));
        }
        let count = le16(b, 10);
        if count > 2047 {
            return Err(Problem::invalid(format!(
                "metadata table has {count} entries; the limit is 2047"
            )));
        }
        let mut t = Table::default();
        for i in 0..usize::from(count) {
            let e = 32 + i * 32;
            let id = guid_at(b, e);
            let item = Item {
                offset: le32(b, e + 16),
                length: le32(b, e + 20),
            };
            let required = le32(b, e + 24) & 4 != 0;
            let slot = match id {
                FILE_PARAMETERS => &mut t.file_parameters,
                VIRTUAL_DISK_SIZE => &mut t.virtual_disk_size,
                PAGE_83 => &mut t.page83,
                LOGICAL_SECTOR_SIZE => &mut t.logical_sector_size,
                PHYSICAL_SECTOR_SIZE => &mut t.physical_sector_size,
                PARENT_LOCATOR => &mut t.parent_locator,
                _ if required => {
                    return Err(Problem::unsupported(format!(
                        "metadata item {} is required and unknown",
                        show_guid(&id)
                    )))
                }
                _ => continue,
            };
            let end = u64::from(item.offset) + u64::from(item.length);
            if item.length > 0
                && (u64::from(item.offset) < TABLE_SIZE as u64 || end > u64::from(region_len))
            {
                return Err(Problem::corrupt(format!(
                    "metadata item {} at offset 0x{:x} ({} bytes) lies outside the metadata \
                     region's items (0x10000..0x{region_len:x})",
                    show_guid(&id),
                    item.offset,
                    item.length
                )));
            }
            if slot.replace(item).is_some() {
                return Err(Problem::corrupt(format!(
                    "metadata item {} appears twice",
                    show_guid(&id)
                )));
            }
        }
        Ok(t)
    }
}

/// Reads an item of at least `min` bytes: `read(offset, len)` reads inside the region.
pub(crate) fn require(item: Option<Item>, name: &str, min: u32) -> Result<Item, Problem> {
    let i = item
        .ok_or_else(|| Problem::invalid(format!("the required metadata item {name} is missing")))?;
    if i.length < min {
        return Err(Problem::corrupt(format!(
            "metadata item {name} is {} bytes; it needs {min}",
            i.length
        )));
    }
    Ok(i)
}

/// The parameters derived from the metadata items, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Params {
    pub block_size: u32,
    pub fixed: bool,
    pub has_parent: bool,
    pub virtual_size: u64,
    pub logical_sector_size: u32,
    pub physical_sector_size: u32,
}

impl Params {
    /// Checks the raw values, in dependency order.
    pub(crate) fn check(
        file_params: &[u8],
        size: &[u8],
        lss: &[u8],
        pss: &[u8],
    ) -> Result<Self, Problem> {
        let block_size = le32(file_params, 0);
        let flags = le32(file_params, 4);
        if !block_size.is_power_of_two() || !((1 << 20)..=(256 << 20)).contains(&block_size) {
            return Err(Problem::invalid(format!(
                "block size {block_size}; must be a power of two from 1 MiB to 256 MiB"
            )));
        }
        let logical_sector_size = le32(lss, 0);
        let physical_sector_size = le32(pss, 0);
        for (name, v) in [
            ("logical", logical_sector_size),
            ("physical", physical_sector_size),
        ] {
            if v != 512 && v != 4096 {
                return Err(Problem::invalid(format!(
                    "{name} sector size {v}; must be 512 or 4096"
                )));
            }
        }
        let virtual_size = le64(size, 0);
        if virtual_size > MAX_DISK_SIZE || virtual_size % u64::from(logical_sector_size) != 0 {
            return Err(Problem::invalid(format!(
                "virtual disk size {virtual_size}; must be a multiple of the {logical_sector_size}-byte \
                 logical sector, at most 64 TiB"
            )));
        }
        Ok(Self {
            block_size,
            fixed: flags & 1 != 0,
            has_parent: flags & 2 != 0,
            virtual_size,
            logical_sector_size,
            physical_sector_size,
        })
    }

    /// Payload blocks per sector bitmap block: 2^23 sectors of the logical sector size
    /// over the block size ([MS-VHDX] 2.5).
    pub(crate) fn chunk_ratio(&self) -> u64 {
        (1u64 << 23) * u64::from(self.logical_sector_size) / u64::from(self.block_size)
    }
}

/// The key-value pairs of a parent locator item, decoded (for the message refusing a
/// differencing disk).
pub(crate) fn parent_locator(b: &[u8]) -> Vec<(String, String)> {
    if b.len() < 20 {
        return Vec::new();
    }
    let count = usize::from(le16(b, 18));
    let text = |off: u32, len: u16| -> Option<String> {
        let s = b.get(off as usize..off as usize + usize::from(len))?;
        let units: Vec<u16> = s
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        Some(String::from_utf16_lossy(&units))
    };
    (0..count.min(64))
        .filter_map(|i| {
            let e = b.get(20 + i * 12..32 + i * 12)?;
            Some((
                text(le32(e, 0), le16(e, 8))?,
                text(le32(e, 4), le16(e, 10))?,
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_checked() {
        let fp = |bs: u32, fl: u32| [bs.to_le_bytes(), fl.to_le_bytes()].concat();
        let p = Params::check(
            &fp(32 << 20, 1),
            &(1u64 << 30).to_le_bytes(),
            &512u32.to_le_bytes(),
            &4096u32.to_le_bytes(),
        )
        .unwrap();
        assert!(p.fixed && !p.has_parent);
        assert_eq!(p.chunk_ratio(), 128);
        let e = Params::check(
            &fp(3 << 20, 0),
            &[0; 8],
            &512u32.to_le_bytes(),
            &512u32.to_le_bytes(),
        )
        .unwrap_err();
        assert!(e.message.contains("block size 3145728"));
        let e = Params::check(
            &fp(1 << 20, 0),
            &[0; 8],
            &1024u32.to_le_bytes(),
            &512u32.to_le_bytes(),
        )
        .unwrap_err();
        assert!(e.message.contains("logical sector size 1024"));
        let e = Params::check(
            &fp(1 << 20, 0),
            &100u64.to_le_bytes(),
            &512u32.to_le_bytes(),
            &512u32.to_le_bytes(),
        )
        .unwrap_err();
        assert!(e.message.contains("virtual disk size 100"));
    }
}
