//! Read XFS (v4 and v5) inside a disk image, without mounting and without root.
//!
//! The RHEL family installs its root on XFS; `ddgz tar` needs to read it as it reads
//! ext4. This crate is the reading half, shaped like `ddgz-ext4` so that one tree walk
//! serves both: inodes (mode, owner, nanosecond and bigtime timestamps, device numbers,
//! link counts), directories in every format, file content as runs of blocks with the
//! holes and unwritten extents of sparse files, inline and remote symlinks, and
//! extended attributes in every form with POSIX ACLs in the kernel's xattr form. It
//! works on any [`Disk`] at a byte range (the partition) and never writes. A log that is
//! not clean is refused ([`Error::DirtyLog`]): replaying it is left out.
//!
//! The inode B+ trees are not read: a tree walk starts at the root inode and follows
//! directory entries. The free-space trees by block number are, for `convert
//! --zero-free` ([`Fs::free_space`]). v5 metadata (superblock, inodes, extent tree,
//! directory and attribute blocks, remote values) has its CRC and owner checked.
//!
//! Untrusted input: every number read from the image is checked before use; extent
//! trees strictly descend and strictly advance, attribute trees are walked with a set of
//! blocks seen, allocations driven by the image are capped.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let disk = ddgz_disk::MemoryDisk::new(vec![]);
//! let fs = ddgz_xfs::Fs::open(&disk, 1 << 20, 512 << 20)?;
//! let root = fs.inode(fs.root_ino())?;
//! for e in fs.read_dir(&root)? {
//!     println!("{} {}", String::from_utf8_lossy(&e.name), e.ino);
//! }
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod acl;
mod attr;
mod bmap;
mod crc;
mod dir;
mod error;
mod free;
#[doc(hidden)]
pub mod fuzz;
mod inode;
mod log;
pub mod superblock;
mod symlink;
mod tree;

use ddgz_disk::Disk;

pub use attr::Xattr;
pub use bmap::{Fork, Run};
pub use crc::crc32c;
pub use dir::DirEntry;
pub use error::{Error, Result};
pub use free::FreeSpace;
pub use inode::{FileType, Format, Inode, Time};
pub use superblock::Superblock;

use error::{corrupt, read_err};

/// An XFS filesystem at `[base, base + len)` of a disk, opened read-only.
#[derive(Debug)]
pub struct Fs<D: Disk> {
    disk: D,
    base: u64,
    len: u64,
    sb: Superblock,
}

impl<D: Disk> Fs<D> {
    /// Opens the filesystem at `[base, base + len)` of `disk`: reads and checks the
    /// superblock and that the log is clean. The disk is never written.
    pub fn open(disk: D, base: u64, len: u64) -> Result<Self> {
        ddgz_disk::check_range(disk.size(), base, len).map_err(read_err(0, len))?;
        if len < 512 {
            return Err(Error::NotXfs(format!(
                "the partition has {len} bytes, too small for a superblock"
            )));
        }
        let mut head = vec![0u8; 512];
        disk.read_at(base, &mut head)
            .map_err(|source| Error::Read {
                offset: 0,
                len: 512,
                source,
            })?;
        if head[..4] != *b"XFSB" {
            return Err(Error::NotXfs("no XFSB magic at byte 0".into()));
        }
        // The CRC covers one sector, which may be larger than 512 bytes.
        let sect = usize::from(u16::from_be_bytes([head[102], head[103]]));
        if sect > 512 && sect.is_power_of_two() && sect <= 32768 && sect as u64 <= len {
            head.resize(sect, 0);
            disk.read_at(base, &mut head)
                .map_err(|source| Error::Read {
                    offset: 0,
                    len: sect as u64,
                    source,
                })?;
        }
        let sb = Superblock::parse(&head, len)?;
        let fs = Self {
            disk,
            base,
            len,
            sb,
        };
        log::check(&fs)?;
        Ok(fs)
    }

    /// The superblock.
    pub fn superblock(&self) -> &Superblock {
        &self.sb
    }

    /// Block size in bytes.
    pub fn block_size(&self) -> u32 {
        self.sb.block_size
    }

    /// The root directory's inode number.
    pub fn root_ino(&self) -> u64 {
        self.sb.root_ino
    }

    /// Reads `buf.len()` bytes at byte `offset` of the filesystem.
    fn read_raw(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        let len = buf.len() as u64;
        ddgz_disk::read_within(&self.disk, self.base, self.len, offset, buf)
            .map_err(read_err(offset, len))
    }

    /// Reads `buf.len() / block_size` blocks from linear block `block` (see [`Run`]).
    pub fn read_blocks(&self, block: u64, buf: &mut [u8]) -> Result<()> {
        let n = buf.len() as u64 >> self.sb.block_log;
        if block.checked_add(n).is_none_or(|end| end > self.sb.dblocks) {
            return Err(corrupt(format!(
                "blocks {block}..+{n} lie past the end of the filesystem ({} blocks)",
                self.sb.dblocks
            )));
        }
        self.read_raw(block << self.sb.block_log, buf)
    }

    /// Reads inode `ino`.
    pub fn inode(&self, ino: u64) -> Result<Inode> {
        let at = self.sb.inode_offset(ino).ok_or_else(|| {
            corrupt(format!(
                "inode number {ino} lies outside the filesystem's AGs"
            ))
        })?;
        let mut raw = vec![0u8; usize::from(self.sb.inode_size)];
        self.read_raw(at, &mut raw)?;
        Inode::parse(&self.sb, ino, raw)
    }

    /// Every run of `fork` of `inode` in logical order, unclipped (an attribute fork has
    /// no size; a directory's index blocks lie past its size).
    pub fn fork_runs(&self, inode: &Inode, fork: Fork) -> Result<Vec<Run>> {
        bmap::runs(self, inode, fork)
    }

    /// Refuses content this reader cannot map.
    fn check_data(&self, inode: &Inode) -> Result<()> {
        if inode.flags & inode::FLAG_REALTIME != 0 {
            return Err(Error::Unsupported(format!(
                "inode {} keeps its data on the realtime device",
                inode.ino
            )));
        }
        Ok(())
    }

    /// The whole content of a small file (`/etc/passwd`), refusing more than `max` bytes:
    /// [`ddgz_fs::read_small`], a symlink through [`read_link`](Self::read_link) (a v5
    /// remote target carries a header per block).
    pub fn read_small(&self, inode: &Inode, max: u64) -> Result<Vec<u8>> {
        if inode.size <= max && inode.file_type() == Some(FileType::Symlink) {
            return self.read_link(inode);
        }
        ddgz_fs::read_small(self, inode, max)
    }

    /// Entries of directory `dir`, without `.` and `..`, in on-disk order.
    pub fn read_dir(&self, dir: &Inode) -> Result<Vec<DirEntry>> {
        dir::read_dir(self, dir)
    }

    /// Extended attributes of `inode` as `listxattr` shows them (ACLs in the kernel's
    /// xattr form), in on-disk order.
    pub fn xattrs(&self, inode: &Inode) -> Result<Vec<Xattr>> {
        attr::list(self, inode)
    }

    /// The target of symlink `inode`: local, or in blocks (on v5 each block starts with
    /// a 56-byte `XSLM` header with a CRC).
    pub fn read_link(&self, inode: &Inode) -> Result<Vec<u8>> {
        symlink::read_link(self, inode)
    }

    /// Resolves `path` (absolute or relative to the root) inside the filesystem as a
    /// chroot would, following symlinks (those of the last component too when
    /// `follow_last`), at most 40 of them. `Ok(None)` when it does not exist.
    pub fn lookup(&self, path: &[u8], follow_last: bool) -> Result<Option<Inode>> {
        ddgz_fs::lookup(self, path, follow_last)
    }
}
