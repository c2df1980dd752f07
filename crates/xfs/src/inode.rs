//! The inode (`xfs_dinode` in `libxfs/xfs_format.h`), big-endian: a core of 100 bytes
//! (v1/v2) or 176 bytes (v3, with a CRC, on v5 filesystems), then the data fork and, from
//! `di_forkoff * 8` past the core, the attribute fork. Each fork has a format: device
//! number, local (the content itself: short-form directory, symlink target, short-form
//! xattrs), extent list or the root of an extent B+ tree.

use crate::crc;
use crate::error::{corrupt, Result};
use crate::superblock::Superblock;
use ddgz_disk::bytes::{be16, be32, be64};

/// `IN`.
const MAGIC: u16 = 0x494e;
/// `di_flags`: the data lives on the realtime device.
pub const FLAG_REALTIME: u16 = 0x1;
/// `di_flags2`: timestamps are 64-bit nanosecond counters.
const FLAG2_BIGTIME: u64 = 0x8;
/// `di_flags2`: 64-bit data fork extent counter.
const FLAG2_NREXT64: u64 = 0x10;
/// Seconds between the bigtime epoch and the Unix epoch (`XFS_BIGTIME_EPOCH_OFFSET`).
const BIGTIME_EPOCH_OFFSET: i64 = 1 << 31;

pub use ddgz_fs::Time;

pub use ddgz_fs::FileType;

/// How a fork stores its content (`xfs_dinode_fmt`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A device number (character and block devices).
    Device,
    /// The content itself, in the inode.
    Local,
    /// A list of extent records.
    Extents,
    /// The root of a B+ tree of extent records.
    Btree,
}

/// One inode, decoded; the raw bytes are kept for the forks.
#[derive(Debug, Clone)]
pub struct Inode {
    /// Inode number.
    pub ino: u64,
    /// `di_mode`: type and permission bits (setuid, setgid, sticky included).
    pub mode: u16,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes.
    pub size: u64,
    /// Last access.
    pub atime: Time,
    /// Last status change.
    pub ctime: Time,
    /// Last modification.
    pub mtime: Time,
    /// Hard links.
    pub links: u32,
    /// `di_flags`.
    pub flags: u16,
    /// `di_flags2` (v3 inodes; 0 before).
    pub flags2: u64,
    /// Data fork format.
    pub format: Format,
    /// Data fork extent records.
    pub nextents: u64,
    /// Attribute fork format (`None`: no attribute fork).
    pub aformat: Option<Format>,
    /// Attribute fork extent records.
    pub anextents: u32,
    /// The raw inode.
    raw: Vec<u8>,
    /// Where the literal area starts (core size) and the attribute fork starts.
    core: usize,
    attr_at: usize,
}

fn format(b: u8) -> Option<Format> {
    Some(match b {
        0 => Format::Device,
        1 => Format::Local,
        2 => Format::Extents,
        3 => Format::Btree,
        _ => return None,
    })
}

impl Inode {
    /// Decodes and checks the raw inode `ino` (`sb.inode_size` bytes).
    pub fn parse(sb: &Superblock, ino: u64, raw: Vec<u8>) -> Result<Self> {
        let r = &raw;
        let bad = |m: String| corrupt(format!("inode {ino}: {m}"));
        if be16(r, 0) != MAGIC {
            return Err(bad(format!("magic 0x{:04x}, not IN", be16(r, 0))));
        }
        let version = r[4];
        let core = match version {
            1 | 2 if !sb.has_crc() => 100,
            3 if sb.has_crc() => 176,
            v => {
                return Err(bad(format!(
                    "inode version {v} on a v{} filesystem",
                    sb.version
                )))
            }
        };
        if version == 3 {
            if !crc::verify(r, 100) {
                return Err(bad("CRC mismatch".into()));
            }
            if be64(r, 152) != ino {
                return Err(bad(format!("the inode says it is number {}", be64(r, 152))));
            }
        }
        let flags2 = if version == 3 { be64(r, 120) } else { 0 };
        let time = |at: usize| {
            if flags2 & FLAG2_BIGTIME != 0 {
                let ns = be64(r, at);
                Time {
                    sec: (ns / 1_000_000_000) as i64 - BIGTIME_EPOCH_OFFSET,
                    nsec: (ns % 1_000_000_000) as u32,
                }
            } else {
                Time {
                    sec: i64::from(be32(r, at) as i32),
                    nsec: be32(r, at + 4).min(999_999_999),
                }
            }
        };
        let dformat = format(r[5]).ok_or_else(|| bad(format!("data fork format {}", r[5])))?;
        let forkoff = usize::from(r[82]) * 8;
        let attr_at = if forkoff == 0 {
            r.len()
        } else {
            core + forkoff
        };
        if attr_at > r.len() {
            return Err(bad(format!(
                "attribute fork offset {forkoff} past the inode"
            )));
        }
        let aformat = if forkoff == 0 {
            None
        } else {
            Some(format(r[83]).ok_or_else(|| bad(format!("attribute fork format {}", r[83])))?)
        };
        let (nextents, anextents) = if flags2 & FLAG2_NREXT64 != 0 {
            (be64(r, 24), be32(r, 76))
        } else {
            (u64::from(be32(r, 76)), u32::from(be16(r, 80)))
        };
        Ok(Self {
            ino,
            mode: be16(r, 2),
            uid: be32(r, 8),
            gid: be32(r, 12),
            size: be64(r, 56),
            atime: time(32),
            mtime: time(40),
            ctime: time(48),
            links: if version == 1 {
                u32::from(be16(r, 6))
            } else {
                be32(r, 16)
            },
            flags: be16(r, 90),
            flags2,
            format: dformat,
            nextents,
            aformat,
            anextents,
            core,
            attr_at,
            raw,
        })
    }

    /// The file type, or `None` for a mode with no valid type (a free or corrupt inode).
    pub fn file_type(&self) -> Option<FileType> {
        FileType::from_mode(u32::from(self.mode))
    }

    /// Permission bits, setuid, setgid and sticky included (`di_mode & 07777`).
    pub fn permissions(&self) -> u16 {
        self.mode & 0o7777
    }

    /// Device number (major, minor) of a character or block device: XFS stores a 32-bit
    /// number, 14 bits of major above 18 bits of minor (`sysv_major`/`sysv_minor`); the
    /// kernel keeps 9 bits of the major (`xfs_to_linux_dev_t`).
    pub fn device(&self) -> (u32, u32) {
        let d = self.data_fork();
        if self.format != Format::Device || d.len() < 4 {
            return (0, 0);
        }
        let v = be32(d, 0);
        ((v >> 18) & 0x1ff, v & 0x3ffff)
    }

    /// The data fork's bytes in the inode (local content, extent records or B+ tree root).
    pub fn data_fork(&self) -> &[u8] {
        &self.raw[self.core..self.attr_at]
    }

    /// The attribute fork's bytes in the inode (empty without one).
    pub fn attr_fork(&self) -> &[u8] {
        &self.raw[self.attr_at..]
    }
}
