//! Read ext2, ext3 and ext4 inside a disk image, without mounting and without root.
//!
//! ddgz turns a Linux root filesystem into the tarball MAAS deploys (`ddgz tar`); this
//! crate is the reading half. It works on any [`Disk`] (a qcow2, a raw file, …) at a byte
//! range (the partition), never writes, and exposes what a faithful tarball needs and the
//! maintained pure-Rust reader (`ext4-view` 1.0) does not: raw inode fields (uid/gid,
//! mode with setuid/sticky, nanosecond times, device numbers, link counts, inode numbers
//! for hard links), extended attributes (in-inode, in a block, in an ea_inode), POSIX
//! ACLs, the extent map with holes and unwritten extents (sparse files), inline data and
//! a journal replay in memory.
//!
//! Untrusted input: every number read from the image is checked before use; loops are
//! impossible by construction (extent trees strictly descend and strictly advance,
//! block maps have fixed depth) or counted; allocations driven by the image are capped.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let disk = ddgz_disk::MemoryDisk::new(vec![]);
//! let fs = ddgz_ext4::Fs::open(&disk, 1 << 20, 64 << 20)?;
//! let root = fs.inode(ddgz_ext4::ROOT_INO)?;
//! for e in fs.read_dir(&root)? {
//!     println!("{} {}", String::from_utf8_lossy(&e.name), e.ino);
//! }
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod acl;
mod dir;
mod error;
mod free;
mod inode;
mod journal;
mod map;
pub mod superblock;
mod tree;
mod xattr;

use std::collections::BTreeMap;

use ddgz_disk::Disk;

pub use dir::DirEntry;
pub use error::{Error, Result};
pub use free::FreeSpace;
pub use inode::{FileType, Inode, Time};
pub use map::Run;
pub use superblock::Superblock;
pub use xattr::Xattr;

/// `i_flags` bits callers may want to look at.
pub mod inode_flags {
    pub use crate::inode::{
        FLAG_EA_INODE as EA_INODE, FLAG_ENCRYPT as ENCRYPT, FLAG_EXTENTS as EXTENTS,
        FLAG_INLINE_DATA as INLINE_DATA,
    };
}

use error::{corrupt, read_err};
use superblock::{incompat, SUPERBLOCK_LEN, SUPERBLOCK_OFFSET};

/// The root directory's inode number.
pub const ROOT_INO: u32 = 2;

/// `bg_flags`: the group's inode table is not initialized (all its inodes are free).
const BG_INODE_UNINIT: u16 = 0x1;
/// `s_feature_ro_compat` bits under which `bg_flags`/`bg_itable_unused` are maintained.
const RO_COMPAT_GDT_CSUM: u32 = 0x10;
const RO_COMPAT_METADATA_CSUM: u32 = 0x400;

/// One block group's inode table location and how much of it is in use.
#[derive(Debug, Clone, Copy)]
struct Group {
    inode_table: u64,
    flags: u16,
    itable_unused: u32,
}

/// An ext2/3/4 filesystem at `[base, base + len)` of a disk, opened read-only.
#[derive(Debug)]
pub struct Fs<D: Disk> {
    disk: D,
    base: u64,
    len: u64,
    sb: Superblock,
    groups: Vec<Group>,
    /// Blocks whose current content is in the journal (a replay in memory).
    replay: BTreeMap<u64, journal::Copy>,
    replayed_transactions: u64,
}

impl<D: Disk> Fs<D> {
    /// Opens the filesystem at `[base, base + len)` of `disk`: reads and checks the
    /// superblock and the group descriptors and, when the journal holds transactions
    /// not yet written home (`needs_recovery`), replays it in memory. The disk is never
    /// written.
    pub fn open(disk: D, base: u64, len: u64) -> Result<Self> {
        ddgz_disk::check_range(disk.size(), base, len).map_err(read_err(0, len))?;
        let mut fs = Self {
            disk,
            base,
            len,
            sb: placeholder_sb(),
            groups: Vec::new(),
            replay: BTreeMap::new(),
            replayed_transactions: 0,
        };
        fs.sb = fs.read_superblock()?;
        fs.groups = fs.read_groups()?;
        if fs.sb.has_incompat(incompat::RECOVER) {
            let (map, transactions) = journal::replay(&fs)?;
            fs.replay = map;
            fs.replayed_transactions = transactions;
            if transactions > 0 {
                // The superblock and the descriptors may be among the replayed blocks.
                let sb = fs.read_superblock()?;
                if sb.block_size != fs.sb.block_size || sb.blocks_count != fs.sb.blocks_count {
                    return Err(Error::Unsupported(
                        "the journal replay changes the filesystem's geometry (an online resize \
                         in flight)"
                            .into(),
                    ));
                }
                fs.sb = sb;
                fs.groups = fs.read_groups()?;
            }
        }
        Ok(fs)
    }

    /// The superblock.
    pub fn superblock(&self) -> &Superblock {
        &self.sb
    }

    /// Transactions replayed from the journal in memory (0 when it was clean).
    pub fn replayed_transactions(&self) -> u64 {
        self.replayed_transactions
    }

    /// Block size in bytes.
    pub fn block_size(&self) -> u32 {
        self.sb.block_size
    }

    /// Largest size a file of this filesystem can have: 2³² blocks, since logical block
    /// numbers (extents and block maps alike) are 32-bit. An `i_size` past it is a lying
    /// inode, not a file.
    pub fn max_file_size(&self) -> u64 {
        u64::from(self.sb.block_size) << 32
    }

    fn read_superblock(&self) -> Result<Superblock> {
        if self.len < SUPERBLOCK_OFFSET + SUPERBLOCK_LEN as u64 {
            return Err(Error::NotExt(format!(
                "the partition has {} bytes, too small for a superblock at byte 1024",
                self.len
            )));
        }
        let mut raw = vec![0u8; SUPERBLOCK_LEN];
        if self.replay.is_empty() {
            self.read_raw(SUPERBLOCK_OFFSET, &mut raw)?;
        } else {
            // Through the replay: the superblock lives in block 0 (1 on 1 KiB blocks).
            let bs = u64::from(self.sb.block_size);
            let block = SUPERBLOCK_OFFSET / bs;
            let mut b = vec![0u8; bs as usize];
            self.read_block(block, &mut b)?;
            let off = (SUPERBLOCK_OFFSET % bs) as usize;
            raw.copy_from_slice(&b[off..off + SUPERBLOCK_LEN]);
        }
        Superblock::parse(&raw, self.len)
    }

    fn read_groups(&self) -> Result<Vec<Group>> {
        let sb = &self.sb;
        let bs = sb.block_size as usize;
        let itable_blocks = (u64::from(sb.inodes_per_group) * u64::from(sb.inode_size))
            .div_ceil(u64::from(sb.block_size));
        let csum = sb.ro_compat & (RO_COMPAT_GDT_CSUM | RO_COMPAT_METADATA_CSUM) != 0;
        let mut groups = Vec::with_capacity(sb.groups as usize);
        let mut cached: Option<(u64, Vec<u8>)> = None;
        for g in 0..sb.groups {
            let (block, off) = sb.descriptor_location(g);
            if cached.as_ref().map(|c| c.0) != Some(block) {
                let mut b = vec![0u8; bs];
                self.read_block(block, &mut b).map_err(|e| {
                    error::within(e, || format!("group descriptor {g} in block {block}"))
                })?;
                cached = Some((block, b));
            }
            let d = &cached.as_ref().expect("just filled").1[off as usize..];
            let d = &d[..usize::from(sb.desc_size)];
            let le32 = |at: usize| u32::from_le_bytes([d[at], d[at + 1], d[at + 2], d[at + 3]]);
            let le16 = |at: usize| u16::from_le_bytes([d[at], d[at + 1]]);
            let big = sb.desc_size >= 64;
            let inode_table =
                u64::from(le32(0x08)) | if big { u64::from(le32(0x28)) << 32 } else { 0 };
            let flags = le16(0x12);
            let itable_unused =
                u32::from(le16(0x1C)) | if big { u32::from(le16(0x32)) << 16 } else { 0 };
            let uninit = csum && flags & BG_INODE_UNINIT != 0;
            if !uninit
                && (inode_table == 0
                    || inode_table
                        .checked_add(itable_blocks)
                        .is_none_or(|end| end > sb.blocks_count))
            {
                return Err(corrupt(format!(
                    "group {g}: inode table at block {inode_table} ({itable_blocks} blocks) lies \
                     outside the filesystem ({} blocks)",
                    sb.blocks_count
                )));
            }
            groups.push(Group {
                inode_table,
                flags: if csum { flags } else { 0 },
                itable_unused: if csum { itable_unused } else { 0 },
            });
        }
        Ok(groups)
    }

    /// Reads `buf.len()` bytes at byte `offset` of the filesystem, bypassing the journal.
    fn read_raw(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let len = buf.len() as u64;
        ddgz_disk::read_within(&self.disk, self.base, self.len, offset, buf)
            .map_err(read_err(offset, len))
    }

    /// Reads block `block` (as the filesystem sees it after the journal replay).
    pub fn read_block(&self, block: u64, buf: &mut [u8]) -> Result<()> {
        debug_assert_eq!(buf.len(), self.sb.block_size as usize);
        self.read_blocks(block, buf)
    }

    /// Reads `buf.len() / block_size` consecutive blocks from `block` (after the replay).
    pub fn read_blocks(&self, block: u64, buf: &mut [u8]) -> Result<()> {
        let bs = u64::from(self.sb.block_size);
        let n = buf.len() as u64 / bs;
        if block
            .checked_add(n)
            .is_none_or(|end| end > self.sb.blocks_count)
        {
            return Err(corrupt(format!(
                "blocks {block}..+{n} lie past the end of the filesystem ({} blocks)",
                self.sb.blocks_count
            )));
        }
        let mut at = 0u64;
        for (&b, copy) in self.replay.range(block..block + n) {
            let i = b - block;
            if i > at {
                self.read_raw(
                    (block + at) * bs,
                    &mut buf[(at * bs) as usize..(i * bs) as usize],
                )?;
            }
            journal::read_copy(
                self,
                copy,
                &mut buf[(i * bs) as usize..((i + 1) * bs) as usize],
            )?;
            at = i + 1;
        }
        if at < n {
            self.read_raw((block + at) * bs, &mut buf[(at * bs) as usize..])?;
        }
        Ok(())
    }

    /// Reads inode `ino`.
    pub fn inode(&self, ino: u32) -> Result<Inode> {
        let sb = &self.sb;
        if ino == 0 || ino > sb.inodes_count {
            return Err(corrupt(format!(
                "inode number {ino} is out of range 1..={}",
                sb.inodes_count
            )));
        }
        let g = (ino - 1) / sb.inodes_per_group;
        let index = (ino - 1) % sb.inodes_per_group;
        let group = self
            .groups
            .get(g as usize)
            .ok_or_else(|| corrupt(format!("inode {ino}: group {g} does not exist")))?;
        if group.flags & BG_INODE_UNINIT != 0
            || index >= sb.inodes_per_group.saturating_sub(group.itable_unused)
        {
            return Err(corrupt(format!(
                "inode {ino} lies in the unused part of group {g}'s inode table (a directory \
                 entry points at a free inode)"
            )));
        }
        let isz = u64::from(sb.inode_size);
        let bs = u64::from(sb.block_size);
        let byte = u64::from(index) * isz;
        let block = group.inode_table + byte / bs;
        let mut b = vec![0u8; bs as usize];
        self.read_block(block, &mut b)?;
        let off = (byte % bs) as usize;
        Ok(Inode::parse(ino, b[off..off + isz as usize].to_vec()))
    }

    /// The whole content of a small file (symlink target, `/etc/passwd`, an xattr value
    /// in an ea_inode), refusing more than `max` bytes: [`ddgz_fs::read_small`].
    pub fn read_small(&self, inode: &Inode, max: u64) -> Result<Vec<u8>> {
        ddgz_fs::read_small(self, inode, max)
    }

    /// Inline data: the first 60 bytes in `i_block`, the rest in the `system.data` xattr.
    /// A size beyond what both hold reads as zeros (a hole), as e2fsprogs reads it:
    /// `mkfs.ext4 -d` stores a file of holes that way.
    fn inline_data(&self, inode: &Inode) -> Result<Vec<u8>> {
        let size = usize::try_from(inode.size).unwrap_or(usize::MAX);
        let mut data = inode.block[..size.min(inode::I_BLOCK_LEN)].to_vec();
        if size > inode::I_BLOCK_LEN {
            let more = xattr::system_data(self, inode)?;
            data.extend_from_slice(&more[..more.len().min(size - inode::I_BLOCK_LEN)]);
        }
        Ok(data)
    }

    /// Entries of directory `dir`, without `.` and `..`, in on-disk order.
    pub fn read_dir(&self, dir: &Inode) -> Result<Vec<DirEntry>> {
        dir::read_dir(self, dir)
    }

    /// Extended attributes of `inode` as `listxattr` shows them: in-inode ones, then the
    /// xattr block's, in on-disk order. ACLs are returned in the kernel's xattr format.
    pub fn xattrs(&self, inode: &Inode) -> Result<Vec<Xattr>> {
        xattr::list(self, inode)
    }

    /// The target of symlink `inode`.
    pub fn read_link(&self, inode: &Inode) -> Result<Vec<u8>> {
        /// `PATH_MAX`: the kernel refuses longer targets.
        const MAX_TARGET: u64 = 4096;
        self.read_small(inode, MAX_TARGET)
    }

    /// Resolves `path` (absolute or relative to the root) inside the filesystem as a
    /// chroot would, following symlinks (those of the last component too when
    /// `follow_last`), at most 40 of them. `Ok(None)` when it does not exist.
    pub fn lookup(&self, path: &[u8], follow_last: bool) -> Result<Option<Inode>> {
        ddgz_fs::lookup(self, path, follow_last)
    }
}

/// A placeholder until the real superblock is read (never observed by callers).
fn placeholder_sb() -> Superblock {
    Superblock {
        inodes_count: 0,
        blocks_count: 0,
        first_data_block: 0,
        block_size: 1024,
        blocks_per_group: 1,
        inodes_per_group: 1,
        inode_size: 128,
        first_ino: 11,
        compat: 0,
        incompat: 0,
        ro_compat: 0,
        journal_inum: 0,
        desc_size: 32,
        first_meta_bg: 0,
        backup_bgs: [0; 2],
        groups: 0,
        label: Vec::new(),
    }
}
