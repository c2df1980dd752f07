//! The superblock: the first sector of the filesystem (and of every AG), big-endian
//! (`xfs_dsb` in `libxfs/xfs_format.h`). It gives the geometry this reader needs — block
//! and inode sizes, AG size and count (an inode number is AG, block in AG and slot in
//! block), the root inode, the directory block size — and the feature bits that change
//! the on-disk format (v5 CRCs and headers, ftype in directory entries, bigtime).

use crate::crc;
use crate::error::{Error, Result};
use ddgz_disk::bytes::{be16, be32, be64};

/// `XFSB`.
const MAGIC: u32 = 0x5846_5342;
/// `sb_versionnum` bits: the version number and the "more features" flag.
const VERSION_NUMBITS: u16 = 0x000f;
const VERSION_MOREBITS: u16 = 0x8000;
/// `sb_features2`: directory entries carry a file type (v4).
const FEATURES2_FTYPE: u32 = 0x200;
/// `sb_features_incompat` bits this reader understands.
pub mod incompat {
    /// Directory entries carry a file type.
    pub const FTYPE: u32 = 0x1;
    /// Sparse inode chunks (only the inode B+ tree cares).
    pub const SPINODES: u32 = 0x2;
    /// `sb_meta_uuid` stamps metadata in place of `sb_uuid`.
    pub const META_UUID: u32 = 0x4;
    /// 64-bit nanosecond timestamps (`di_flags2` says per inode).
    pub const BIGTIME: u32 = 0x8;
    /// `xfs_repair` must run before the filesystem is used.
    pub const NEEDSREPAIR: u32 = 0x10;
    /// 64-bit extent counters (`di_flags2` says per inode).
    pub const NREXT64: u32 = 0x20;
    /// File range exchange (log only).
    pub const EXCHRANGE: u32 = 0x40;
    /// Parent pointers (extra xattrs, not listed).
    pub const PARENT: u32 = 0x80;
    /// Every bit above.
    pub const KNOWN: u32 = 0xff;
}

/// The fields of the superblock this reader uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Superblock {
    /// 4 (v4) or 5 (v5, metadata with CRCs and self-describing headers).
    pub version: u8,
    /// Filesystem block size in bytes (512..=65536).
    pub block_size: u32,
    /// Data blocks.
    pub dblocks: u64,
    /// Realtime blocks (files on the realtime device are not read).
    pub rblocks: u64,
    /// First block of the internal log (0: the log is on another device).
    pub log_start: u64,
    /// Blocks of the log.
    pub log_blocks: u32,
    /// The root directory's inode number.
    pub root_ino: u64,
    /// Blocks per AG.
    pub ag_blocks: u32,
    /// AGs.
    pub ag_count: u32,
    /// Sector size.
    pub sect_size: u16,
    /// Inode size in bytes (256..=2048).
    pub inode_size: u16,
    /// log2 of the block size.
    pub block_log: u8,
    /// log2 of inodes per block.
    pub inopb_log: u8,
    /// log2 of `ag_blocks`, rounded up: the width of the block field of numbers.
    pub agblk_log: u8,
    /// log2 of (directory block / filesystem block).
    pub dirblk_log: u8,
    /// `sb_features_incompat` (v5).
    pub incompat: u32,
    /// Whether directory entries carry a file type.
    pub ftype: bool,
    /// The filesystem's UUID (`sb_meta_uuid` with the meta_uuid feature): v5 metadata
    /// blocks carry it.
    pub uuid: [u8; 16],
    /// The label (`sb_fname`), NULs trimmed.
    pub label: Vec<u8>,
}

impl Superblock {
    /// Decodes and checks the first sector of a filesystem of `len` bytes.
    pub fn parse(b: &[u8], len: u64) -> Result<Self> {
        let bad = |m: String| Error::NotXfs(m);
        if b.len() < 512 {
            return Err(bad(format!("{} bytes, too few for a superblock", b.len())));
        }
        if be32(b, 0) != MAGIC {
            return Err(bad(format!(
                "magic 0x{:08x} at byte 0, not XFSB",
                be32(b, 0)
            )));
        }
        let versionnum = be16(b, 100);
        let version = (versionnum & VERSION_NUMBITS) as u8;
        let corrupt = |m: String| Error::Corrupt(format!("superblock: {m}"));
        if !(4..=5).contains(&version) {
            return Err(Error::Unsupported(format!(
                "superblock version {version} (versionnum 0x{versionnum:04x}); only 4 and 5 are read"
            )));
        }
        let block_size = be32(b, 4);
        let block_log = b[120];
        let sect_size = be16(b, 102);
        let inode_size = be16(b, 104);
        let inopb = be16(b, 106);
        let inode_log = b[122];
        let inopb_log = b[123];
        let agblk_log = b[124];
        let dirblk_log = b[192];
        if !(9..=16).contains(&block_log) || block_size != 1 << block_log {
            return Err(corrupt(format!(
                "block size {block_size} (log {block_log})"
            )));
        }
        if !sect_size.is_power_of_two()
            || !(512..=32768).contains(&sect_size)
            || u32::from(sect_size) > block_size
        {
            return Err(corrupt(format!("sector size {sect_size}")));
        }
        if !(8..=11).contains(&inode_log)
            || inode_size != 1 << inode_log
            || u32::from(inode_size) > block_size
            || u32::from(inopb) != block_size >> inode_log
            || u32::from(inopb_log) != block_log.saturating_sub(inode_log).into()
        {
            return Err(corrupt(format!(
                "inode size {inode_size} (log {inode_log}), {inopb} per block (log {inopb_log}), block size {block_size}"
            )));
        }
        if u32::from(block_log) + u32::from(dirblk_log) > 16 {
            return Err(corrupt(format!(
                "directory block log {dirblk_log} over block log {block_log}"
            )));
        }
        let dblocks = be64(b, 8);
        let ag_blocks = be32(b, 84);
        let ag_count = be32(b, 88);
        // An AG holds at least its headers and at most 2^31 blocks; agblklog is its
        // size rounded up to a power of two.
        if !(5..=1 << 31).contains(&ag_blocks)
            || ag_count == 0
            || !(1..=31).contains(&agblk_log)
            || u64::from(ag_blocks) > 1 << agblk_log
            || u64::from(ag_blocks) <= (1 << agblk_log) >> 1
        {
            return Err(corrupt(format!(
                "AG geometry: {ag_count} AGs of {ag_blocks} blocks, agblklog {agblk_log}"
            )));
        }
        let full = u64::from(ag_count - 1) * u64::from(ag_blocks);
        if dblocks <= full || dblocks > full + u64::from(ag_blocks) {
            return Err(corrupt(format!(
                "{dblocks} data blocks do not fit {ag_count} AGs of {ag_blocks} blocks"
            )));
        }
        let bytes = dblocks.checked_mul(u64::from(block_size));
        if bytes.is_none_or(|n| n > len) {
            return Err(corrupt(format!(
                "{dblocks} blocks of {block_size} bytes, but the partition has {len} bytes"
            )));
        }
        let features2 = if versionnum & VERSION_MOREBITS != 0 {
            be32(b, 200)
        } else {
            0
        };
        let incompat = if version == 5 { be32(b, 216) } else { 0 };
        if version == 5 {
            let n = usize::from(sect_size);
            if b.len() < n || !crc::verify(&b[..n], 224) {
                return Err(corrupt("CRC mismatch (v5 superblock)".into()));
            }
            if incompat & !incompat::KNOWN != 0 {
                return Err(Error::Unsupported(format!(
                    "incompatible feature bits 0x{:x}",
                    incompat & !incompat::KNOWN
                )));
            }
            if incompat & incompat::NEEDSREPAIR != 0 {
                return Err(Error::Unsupported(
                    "the needsrepair flag is set: xfs_repair must run first".into(),
                ));
            }
        }
        let mut uuid = [0u8; 16];
        let from = if incompat & incompat::META_UUID != 0 {
            248
        } else {
            32
        };
        uuid.copy_from_slice(&b[from..from + 16]);
        let label: Vec<u8> = b[108..120]
            .iter()
            .copied()
            .take_while(|&c| c != 0)
            .collect();
        Ok(Self {
            version,
            block_size,
            dblocks,
            rblocks: be64(b, 16),
            log_start: be64(b, 48),
            log_blocks: be32(b, 96),
            root_ino: be64(b, 56),
            ag_blocks,
            ag_count,
            sect_size,
            inode_size,
            block_log,
            inopb_log,
            agblk_log,
            dirblk_log,
            incompat,
            ftype: if version == 5 {
                incompat & incompat::FTYPE != 0
            } else {
                features2 & FEATURES2_FTYPE != 0
            },
            uuid,
            label,
        })
    }

    /// Whether metadata carries CRCs and self-describing headers (v5).
    pub fn has_crc(&self) -> bool {
        self.version == 5
    }

    /// Directory block size in bytes.
    pub fn dir_block_size(&self) -> u32 {
        self.block_size << self.dirblk_log
    }

    /// The linear block number (`AG * ag_blocks + block in AG`) of filesystem block
    /// number `fsb` (`AG << agblklog | block in AG`), if it lies inside the filesystem.
    pub fn linear(&self, fsb: u64) -> Option<u64> {
        let ag = fsb >> self.agblk_log;
        let agbno = fsb & ((1u64 << self.agblk_log) - 1);
        if ag >= u64::from(self.ag_count) || agbno >= u64::from(self.ag_blocks) {
            return None;
        }
        let lin = ag * u64::from(self.ag_blocks) + agbno;
        (lin < self.dblocks).then_some(lin)
    }

    /// The byte offset of inode `ino` inside the filesystem, if the number is valid.
    pub fn inode_offset(&self, ino: u64) -> Option<u64> {
        let shift = u32::from(self.inopb_log) + u32::from(self.agblk_log);
        if shift >= 64 {
            return None;
        }
        let slot = ino & ((1u64 << self.inopb_log) - 1);
        let fsb = ino >> self.inopb_log;
        let lin = self.linear(fsb)?;
        Some((lin << self.block_log) + slot * u64::from(self.inode_size))
    }
}
