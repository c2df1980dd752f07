//! The superblock: 1024 bytes at byte 1024 of the filesystem, little-endian
//! (kernel `Documentation/filesystems/ext4/super.rst`). Validated field by field, in
//! dependency order, before anything is derived from it.

use crate::error::{Error, Result};
use ddgz_disk::bytes::{le16, le32};

/// Byte offset of the superblock in the filesystem.
pub const SUPERBLOCK_OFFSET: u64 = 1024;
/// Size of the superblock.
pub const SUPERBLOCK_LEN: usize = 1024;
/// `s_magic`.
const MAGIC: u16 = 0xEF53;
/// Fewest blocks per group `mke2fs` makes: fewer would only multiply the descriptors.
const MIN_BLOCKS_PER_GROUP: u32 = 256;
/// Most block groups read: one descriptor each is kept in memory (16 bytes), so this
/// bounds memory on a hostile superblock to 128 MiB.
const MAX_GROUPS: u64 = 1 << 23;

/// `s_feature_compat` bit: the filesystem has a journal.
pub const COMPAT_HAS_JOURNAL: u32 = 0x4;
/// `s_feature_compat` bit: backup superblocks only in the groups `s_backup_bgs` names.
pub const COMPAT_SPARSE_SUPER2: u32 = 0x200;
/// `s_feature_ro_compat` bit: backup superblocks in groups 0, 1 and powers of 3, 5, 7.
pub const RO_COMPAT_SPARSE_SUPER: u32 = 0x1;

/// `s_feature_incompat` bits, with the names `mke2fs`/`tune2fs` use and whether this
/// reader handles them.
pub mod incompat {
    /// Compression (never finished in the kernel).
    pub const COMPRESSION: u32 = 0x1;
    /// Directory entries carry a file type.
    pub const FILETYPE: u32 = 0x2;
    /// The journal holds transactions not yet written home.
    pub const RECOVER: u32 = 0x4;
    /// This is an external journal device, not a filesystem.
    pub const JOURNAL_DEV: u32 = 0x8;
    /// Group descriptors are spread over the disk.
    pub const META_BG: u32 = 0x10;
    /// Files use extent trees.
    pub const EXTENTS: u32 = 0x40;
    /// Block numbers above 2^32; group descriptors of `s_desc_size` bytes.
    pub const BIT64: u32 = 0x80;
    /// Multiple-mount protection.
    pub const MMP: u32 = 0x100;
    /// Flexible block groups.
    pub const FLEX_BG: u32 = 0x200;
    /// Large xattr values in inodes of their own.
    pub const EA_INODE: u32 = 0x400;
    /// Data in directory entries.
    pub const DIRDATA: u32 = 0x1000;
    /// Checksum seed in the superblock.
    pub const CSUM_SEED: u32 = 0x2000;
    /// Directories over 2 GiB, 3-level htrees.
    pub const LARGEDIR: u32 = 0x4000;
    /// Small files and directories inside the inode.
    pub const INLINE_DATA: u32 = 0x8000;
    /// Encrypted directories may exist.
    pub const ENCRYPT: u32 = 0x10000;
    /// Case-insensitive directories may exist.
    pub const CASEFOLD: u32 = 0x20000;

    /// Every bit with its name.
    pub const NAMES: [(u32, &str); 16] = [
        (COMPRESSION, "compression"),
        (FILETYPE, "filetype"),
        (RECOVER, "needs_recovery"),
        (JOURNAL_DEV, "journal_dev"),
        (META_BG, "meta_bg"),
        (EXTENTS, "extent"),
        (BIT64, "64bit"),
        (MMP, "mmp"),
        (FLEX_BG, "flex_bg"),
        (EA_INODE, "ea_inode"),
        (DIRDATA, "dirdata"),
        (CSUM_SEED, "metadata_csum_seed"),
        (LARGEDIR, "large_dir"),
        (INLINE_DATA, "inline_data"),
        (ENCRYPT, "encrypt"),
        (CASEFOLD, "casefold"),
    ];

    /// The bits this reader handles. Encryption is handled by refusing each encrypted
    /// inode by name (a filesystem with the feature on may hold none).
    pub const SUPPORTED: u32 = FILETYPE
        | RECOVER
        | META_BG
        | EXTENTS
        | BIT64
        | MMP
        | FLEX_BG
        | EA_INODE
        | CSUM_SEED
        | LARGEDIR
        | INLINE_DATA
        | ENCRYPT
        | CASEFOLD;

    /// Names of the bits of `bits`; unknown ones as hex.
    pub fn describe(bits: u32) -> String {
        let mut names = Vec::new();
        let mut left = bits;
        for (bit, name) in NAMES {
            if bits & bit != 0 {
                names.push(name.to_string());
                left &= !bit;
            }
        }
        if left != 0 {
            names.push(format!("unknown 0x{left:x}"));
        }
        names.join(", ")
    }
}

/// The fields of the superblock this reader uses, validated.
#[derive(Debug, Clone)]
pub struct Superblock {
    /// `s_inodes_count`.
    pub inodes_count: u32,
    /// `s_blocks_count_lo` | `s_blocks_count_hi` << 32 (the high half only with 64bit).
    pub blocks_count: u64,
    /// `s_first_data_block`: 1 on 1 KiB-block filesystems, else 0.
    pub first_data_block: u32,
    /// Block size in bytes, 1024 << `s_log_block_size` (1 KiB to 64 KiB).
    pub block_size: u32,
    /// `s_blocks_per_group`.
    pub blocks_per_group: u32,
    /// `s_inodes_per_group`.
    pub inodes_per_group: u32,
    /// `s_inode_size` (128 on revision 0).
    pub inode_size: u16,
    /// `s_first_ino`: the first inode that is not reserved.
    pub first_ino: u32,
    /// `s_feature_compat`.
    pub compat: u32,
    /// `s_feature_incompat`.
    pub incompat: u32,
    /// `s_feature_ro_compat`.
    pub ro_compat: u32,
    /// `s_journal_inum`: the journal's inode when it is internal.
    pub journal_inum: u32,
    /// Size of a group descriptor: 32, or `s_desc_size` with 64bit.
    pub desc_size: u16,
    /// `s_first_meta_bg`.
    pub first_meta_bg: u32,
    /// `s_backup_bgs` (sparse_super2).
    pub backup_bgs: [u32; 2],
    /// Number of block groups.
    pub groups: u32,
    /// `s_volume_name`, up to the first NUL.
    pub label: Vec<u8>,
}

impl Superblock {
    /// Parses and validates `raw` (the 1024 bytes at byte 1024) for a filesystem of
    /// `fs_len` bytes (the partition).
    pub fn parse(raw: &[u8], fs_len: u64) -> Result<Self> {
        if raw.len() < SUPERBLOCK_LEN {
            return Err(Error::NotExt(format!(
                "the partition has {fs_len} bytes, too small for a superblock at byte 1024"
            )));
        }
        let magic = le16(raw, 0x38);
        if magic != MAGIC {
            return Err(Error::NotExt(format!(
                "magic at byte 0x438 is 0x{magic:04x}, not 0xef53"
            )));
        }
        let rev = le32(raw, 0x4C);
        if rev > 1 {
            return Err(Error::Unsupported(format!(
                "superblock revision {rev} (0 and 1 exist)"
            )));
        }
        let (compat, incompat, ro_compat) = if rev == 0 {
            (0, 0, 0)
        } else {
            (le32(raw, 0x5C), le32(raw, 0x60), le32(raw, 0x64))
        };
        if incompat & incompat::JOURNAL_DEV != 0 {
            return Err(Error::Unsupported(
                "this is an external journal device (journal_dev), not a filesystem".into(),
            ));
        }
        let unsupported = incompat & !incompat::SUPPORTED;
        if unsupported != 0 {
            return Err(Error::Unsupported(format!(
                "incompatible feature(s) {} (s_feature_incompat 0x{incompat:x})",
                incompat::describe(unsupported)
            )));
        }
        let log = le32(raw, 0x18);
        if log > 6 {
            return Err(Error::Corrupt(format!(
                "s_log_block_size {log}: block size 1024 << {log}; must be 1 KiB to 64 KiB"
            )));
        }
        let block_size = 1024u32 << log;
        let first_data_block = le32(raw, 0x14);
        let expect_first = u32::from(block_size == 1024);
        if first_data_block != expect_first {
            return Err(Error::Corrupt(format!(
                "s_first_data_block {first_data_block}; must be {expect_first} with {block_size}-byte blocks"
            )));
        }
        let bit64 = incompat & incompat::BIT64 != 0;
        let blocks_count = u64::from(le32(raw, 0x04))
            | if bit64 {
                u64::from(le32(raw, 0x150)) << 32
            } else {
                0
            };
        let fs_bytes = blocks_count
            .checked_mul(u64::from(block_size))
            .ok_or_else(|| Error::Corrupt(format!("s_blocks_count {blocks_count} overflows")))?;
        if fs_bytes > fs_len {
            return Err(Error::Corrupt(format!(
                "the superblock claims {blocks_count} blocks of {block_size} bytes ({fs_bytes} bytes), \
                 the partition has {fs_len} bytes (truncated image or wrong partition)"
            )));
        }
        if blocks_count <= u64::from(first_data_block) {
            return Err(Error::Corrupt(format!(
                "s_blocks_count {blocks_count} leaves no block group"
            )));
        }
        let blocks_per_group = le32(raw, 0x20);
        if !(MIN_BLOCKS_PER_GROUP..=8 * block_size).contains(&blocks_per_group) {
            return Err(Error::Corrupt(format!(
                "s_blocks_per_group {blocks_per_group}; must be {MIN_BLOCKS_PER_GROUP} (mke2fs's \
                 least) to {} (bits in a bitmap block)",
                8 * block_size
            )));
        }
        let inodes_per_group = le32(raw, 0x28);
        if inodes_per_group == 0 || inodes_per_group > 8 * block_size {
            return Err(Error::Corrupt(format!(
                "s_inodes_per_group {inodes_per_group}; must be 1 to {}",
                8 * block_size
            )));
        }
        let groups64 =
            (blocks_count - u64::from(first_data_block)).div_ceil(u64::from(blocks_per_group));
        if groups64 > MAX_GROUPS {
            return Err(Error::Limit(format!(
                "{groups64} block groups; at most {MAX_GROUPS} are read (a 1 PiB filesystem of \
                 4 KiB blocks has 2^23)"
            )));
        }
        let groups = groups64 as u32;
        let inodes_count = le32(raw, 0x00);
        let max_inodes = u64::from(groups) * u64::from(inodes_per_group);
        if inodes_count == 0 || u64::from(inodes_count) > max_inodes {
            return Err(Error::Corrupt(format!(
                "s_inodes_count {inodes_count}; {groups} groups of {inodes_per_group} inodes hold {max_inodes}"
            )));
        }
        let (inode_size, first_ino) = if rev == 0 {
            (128, 11)
        } else {
            (le16(raw, 0x58), le32(raw, 0x54))
        };
        if inode_size < 128 || !inode_size.is_power_of_two() || u32::from(inode_size) > block_size {
            return Err(Error::Corrupt(format!(
                "s_inode_size {inode_size}; must be a power of two from 128 to the block size {block_size}"
            )));
        }
        let desc_size = if bit64 { le16(raw, 0xFE) } else { 32 };
        if bit64
            && (desc_size < 64 || !desc_size.is_power_of_two() || u32::from(desc_size) > block_size)
        {
            return Err(Error::Corrupt(format!(
                "s_desc_size {desc_size} with 64bit; must be a power of two from 64 to {block_size}"
            )));
        }
        let label_raw = &raw[0x78..0x88];
        let label_len = label_raw.iter().position(|&b| b == 0).unwrap_or(16);
        Ok(Self {
            inodes_count,
            blocks_count,
            first_data_block,
            block_size,
            blocks_per_group,
            inodes_per_group,
            inode_size,
            first_ino,
            compat,
            incompat,
            ro_compat,
            journal_inum: le32(raw, 0xE0),
            desc_size,
            first_meta_bg: le32(raw, 0x104),
            backup_bgs: [le32(raw, 0x24C), le32(raw, 0x250)],
            groups,
            label: label_raw[..label_len].to_vec(),
        })
    }

    /// Whether `bit` of `s_feature_incompat` is set.
    pub fn has_incompat(&self, bit: u32) -> bool {
        self.incompat & bit != 0
    }

    /// First block of group `g`.
    pub fn group_first_block(&self, g: u32) -> u64 {
        u64::from(self.first_data_block) + u64::from(g) * u64::from(self.blocks_per_group)
    }

    /// Whether group `g` holds a superblock backup (and so, without meta_bg, a copy of the
    /// group descriptors).
    pub fn group_has_super(&self, g: u32) -> bool {
        if g == 0 {
            return true;
        }
        if self.compat & COMPAT_SPARSE_SUPER2 != 0 {
            return self.backup_bgs.contains(&g);
        }
        if self.ro_compat & RO_COMPAT_SPARSE_SUPER == 0 {
            return true;
        }
        if g == 1 {
            return true;
        }
        [3u32, 5, 7].iter().any(|&base| {
            let mut p = base;
            while p < g {
                match p.checked_mul(base) {
                    Some(n) => p = n,
                    None => return false,
                }
            }
            p == g
        })
    }

    /// Block holding group descriptor `g`, and the byte offset inside it.
    pub fn descriptor_location(&self, g: u32) -> (u64, u32) {
        let per_block = self.block_size / u32::from(self.desc_size);
        let index = g / per_block;
        let offset = (g % per_block) * u32::from(self.desc_size);
        let meta_bg = self.has_incompat(incompat::META_BG) && index >= self.first_meta_bg;
        let block = if meta_bg {
            // Meta block group `index` keeps its descriptor block in its first group,
            // after the superblock backup if that group has one.
            let first = index * per_block;
            self.group_first_block(first) + u64::from(self.group_has_super(first))
        } else {
            u64::from(self.first_data_block) + 1 + u64::from(index)
        };
        (block, offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minimal() -> Vec<u8> {
        let mut sb = vec![0u8; 1024];
        sb[0x00..0x04].copy_from_slice(&64u32.to_le_bytes()); // inodes
        sb[0x04..0x08].copy_from_slice(&1024u32.to_le_bytes()); // blocks
        sb[0x14..0x18].copy_from_slice(&1u32.to_le_bytes());
        sb[0x20..0x24].copy_from_slice(&8192u32.to_le_bytes());
        sb[0x28..0x2C].copy_from_slice(&64u32.to_le_bytes());
        sb[0x38..0x3A].copy_from_slice(&MAGIC.to_le_bytes());
        sb[0x4C..0x50].copy_from_slice(&1u32.to_le_bytes());
        sb[0x54..0x58].copy_from_slice(&11u32.to_le_bytes());
        sb[0x58..0x5A].copy_from_slice(&256u16.to_le_bytes());
        sb
    }

    #[test]
    fn parses_and_names_what_it_refuses() {
        let sb = Superblock::parse(&minimal(), 1 << 20).unwrap();
        assert_eq!((sb.block_size, sb.groups, sb.inode_size), (1024, 1, 256));
        let mut raw = minimal();
        raw[0x60..0x64].copy_from_slice(&(incompat::DIRDATA | 0x8000_0000).to_le_bytes());
        let e = Superblock::parse(&raw, 1 << 20).unwrap_err().to_string();
        assert!(e.contains("dirdata, unknown 0x80000000"), "{e}");
        let e = Superblock::parse(&minimal(), 1000 * 1024)
            .unwrap_err()
            .to_string();
        assert!(e.contains("claims 1024 blocks"), "{e}");
        let mut raw = minimal();
        raw[0x00..0x04].copy_from_slice(&65u32.to_le_bytes());
        let e = Superblock::parse(&raw, 1 << 20).unwrap_err().to_string();
        assert!(e.contains("s_inodes_count 65"), "{e}");
        let mut raw = minimal();
        raw[0x20..0x24].copy_from_slice(&8u32.to_le_bytes());
        let e = Superblock::parse(&raw, 1 << 20).unwrap_err().to_string();
        assert!(e.contains("s_blocks_per_group 8; must be 256"), "{e}");
    }

    #[test]
    fn sparse_super_groups() {
        let mut raw = minimal();
        raw[0x64..0x68].copy_from_slice(&RO_COMPAT_SPARSE_SUPER.to_le_bytes());
        let sb = Superblock::parse(&raw, 1 << 20).unwrap();
        let with: Vec<u32> = (0..60).filter(|&g| sb.group_has_super(g)).collect();
        assert_eq!(with, [0, 1, 3, 5, 7, 9, 25, 27, 49]);
    }
}
