//! The VDI header (VirtualBox `VDIHEADER1PLUS`, as QEMU's `block/vdi.c` reads it):
//! 512 bytes, little-endian.
//!
//! ```text
//!   0  pre-header text [64]       340  block map offset u32    376  block size u32
//!  64  signature 0xbeda107f       344  data offset u32         380  block extra u32
//!  68  version u32 (1.1)          348  cylinders, heads,       384  blocks in image u32
//!  72  header size u32                 sectors u32 ×3          388  blocks allocated u32
//!  76  image type u32             360  sector size u32         392  uuid image, last
//!  80  image flags u32            364  unused u32                   snapshot, link,
//!  84  description [256]          368  disk size u64                parent [16] ×4
//! ```

use ddgz_disk::bytes::{le32, le64};
use ddgz_disk::Problem;

/// Size of the header QEMU reads (the rest of the first sector is unused).
pub(crate) const HEADER_SIZE: usize = 512;

/// The signature at offset 64 (VirtualBox).
pub(crate) const SIGNATURE: u32 = 0xbeda_107f;

/// Version 1.1, the only one QEMU (and we) read.
const VERSION_1_1: u32 = 0x0001_0001;

/// Largest block size accepted: 256 MiB (our limit; VirtualBox and QEMU write 1 MiB).
const MAX_BLOCK_SIZE: u32 = 256 << 20;

/// Image types (VirtualBox `VDI_IMAGE_TYPE_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageType {
    /// Blocks allocated on write (`VDI_IMAGE_TYPE_NORMAL`).
    Dynamic,
    /// Every block allocated at creation (`VDI_IMAGE_TYPE_FIXED`).
    Static,
    /// Another type value (undo, differencing): read like a dynamic image, as QEMU does.
    Other(u32),
}

impl ImageType {
    /// The name `qemu-img info` would suggest ("dynamic", "static").
    pub fn name(self) -> String {
        match self {
            ImageType::Dynamic => "dynamic".into(),
            ImageType::Static => "static".into(),
            ImageType::Other(t) => format!("type {t}"),
        }
    }
}

/// A header that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    pub image_type: ImageType,
    pub offset_bmap: u64,
    pub offset_data: u64,
    /// Disk size, rounded up to whole sectors as QEMU does.
    pub disk_size: u64,
    pub block_size: u32,
    pub block_extra: u32,
    pub blocks_in_image: u32,
}

/// Whether the first 512 bytes of a file are a VDI header (the signature, as QEMU
/// probes it).
pub(crate) fn probe(b: &[u8]) -> bool {
    b.len() >= HEADER_SIZE && le32(b, 64) == SIGNATURE
}

fn is_null(u: &[u8]) -> bool {
    u.iter().all(|&b| b == 0)
}

impl Header {
    /// Parses and checks the header, in the order QEMU does.
    pub(crate) fn parse(b: &[u8; HEADER_SIZE]) -> Result<Self, Problem> {
        let sig = le32(b, 64);
        if sig != SIGNATURE {
            return Err(Problem::invalid(format!(
                "not a VDI image: signature 0x{sig:08x} at offset 64, not 0x{SIGNATURE:08x}"
            )));
        }
        let version = le32(b, 68);
        if version != VERSION_1_1 {
            return Err(Problem::unsupported(format!(
                "VDI version {}.{}; only 1.1 is read",
                version >> 16,
                version & 0xffff
            )));
        }
        let offset_bmap = u64::from(le32(b, 340));
        let offset_data = u64::from(le32(b, 344));
        if offset_bmap % 512 != 0 || offset_data % 512 != 0 {
            return Err(Problem::invalid(format!(
                "block map offset 0x{offset_bmap:x} or data offset 0x{offset_data:x} is not a \
                 multiple of 512"
            )));
        }
        let sector_size = le32(b, 360);
        if sector_size != 512 {
            return Err(Problem::unsupported(format!(
                "sector size {sector_size}; only 512 is read"
            )));
        }
        let block_size = le32(b, 376);
        if !block_size.is_power_of_two() || !(512..=MAX_BLOCK_SIZE).contains(&block_size) {
            return Err(Problem::invalid(format!(
                "block size {block_size}; must be a power of two from 512 to {MAX_BLOCK_SIZE}"
            )));
        }
        let block_extra = le32(b, 380);
        if block_extra % 512 != 0 || block_extra > MAX_BLOCK_SIZE {
            return Err(Problem::invalid(format!(
                "block extra data of {block_extra} bytes; must be a multiple of 512 up to \
                 {MAX_BLOCK_SIZE}"
            )));
        }
        // VBoxManage convertfromraw can write a size that is not whole sectors; QEMU
        // rounds it up.
        let raw_size = le64(b, 368);
        let disk_size = raw_size.checked_next_multiple_of(512).ok_or_else(|| {
            Problem::invalid(format!(
                "disk size {raw_size} overflows when rounded to sectors"
            ))
        })?;
        let blocks_in_image = le32(b, 384);
        let room = u64::from(blocks_in_image) * u64::from(block_size);
        if disk_size > room {
            return Err(Problem::invalid(format!(
                "disk size {disk_size} exceeds the {blocks_in_image} blocks of {block_size} \
                 bytes of the block map ({room} bytes)"
            )));
        }
        if !is_null(&b[424..440]) || !is_null(&b[440..456]) {
            return Err(Problem::unsupported(
                "a differencing VDI (non-null link or parent UUID): VirtualBox finds its \
                 parent by UUID in the VM's settings, not in the image; merge it first \
                 (VBoxManage clonemedium)",
            ));
        }
        let image_type = match le32(b, 76) {
            1 => ImageType::Dynamic,
            2 => ImageType::Static,
            t => ImageType::Other(t),
        };
        Ok(Self {
            image_type,
            offset_bmap,
            offset_data,
            disk_size,
            block_size,
            block_extra,
            blocks_in_image,
        })
    }
}
