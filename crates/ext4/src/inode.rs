//! The inode: `s_inode_size` bytes in its group's inode table, little-endian
//! (kernel `Documentation/filesystems/ext4/inodes.rst`). The first 128 bytes are the
//! ext2 inode; `i_extra_isize` bytes of ext4 fields follow (sub-second times), then the
//! in-inode extended attributes.
use ddgz_disk::bytes::{le16, le32};

/// `i_flags`: the file uses an extent tree.
pub const FLAG_EXTENTS: u32 = 0x8_0000;
/// `i_flags`: the data (or directory) lives in `i_block` and the `system.data` xattr.
pub const FLAG_INLINE_DATA: u32 = 0x1000_0000;
/// `i_flags`: the content is encrypted (fscrypt).
pub const FLAG_ENCRYPT: u32 = 0x800;
/// `i_flags`: this inode holds a large xattr value (ea_inode).
pub const FLAG_EA_INODE: u32 = 0x20_0000;

/// Size of `i_block`: block map, extent root, inline data or fast symlink target.
pub const I_BLOCK_LEN: usize = 60;

pub use ddgz_fs::Time;

pub use ddgz_fs::FileType;

/// One inode, decoded; the raw bytes are kept for the in-inode xattrs.
#[derive(Debug, Clone)]
pub struct Inode {
    /// Inode number.
    pub ino: u32,
    /// `i_mode`: type and permission bits (setuid, setgid, sticky included).
    pub mode: u16,
    /// Owner: `i_uid` | `l_i_uid_high` << 16.
    pub uid: u32,
    /// Group: `i_gid` | `l_i_gid_high` << 16.
    pub gid: u32,
    /// Size in bytes: `i_size_lo` | `i_size_high` << 32.
    pub size: u64,
    /// Last access.
    pub atime: Time,
    /// Last status change.
    pub ctime: Time,
    /// Last modification.
    pub mtime: Time,
    /// `i_links_count`.
    pub links: u16,
    /// `i_flags`.
    pub flags: u32,
    /// `i_block`.
    pub block: [u8; I_BLOCK_LEN],
    /// The xattr block: `i_file_acl_lo` | `l_i_file_acl_high` << 32; 0 for none.
    pub file_acl: u64,
    /// `i_dtime`: set on deleted inodes.
    pub dtime: u32,
    /// The raw inode (`s_inode_size` bytes).
    pub raw: Vec<u8>,
}

impl Inode {
    /// Decodes the `raw` inode number `ino` (`raw.len()` is `s_inode_size`, at least 128).
    pub fn parse(ino: u32, raw: Vec<u8>) -> Self {
        let r = &raw;
        let extra_isize = if r.len() > 128 {
            usize::from(le16(r, 0x80))
        } else {
            0
        };
        // An extra field exists if the inode is large enough and `i_extra_isize` covers it.
        let extra = |at: usize| -> Option<u32> {
            (at + 4 <= r.len() && at + 4 <= 128 + extra_isize).then(|| le32(r, at))
        };
        let time = |lo: usize, ex: usize| {
            let base = i64::from(le32(r, lo) as i32);
            match extra(ex) {
                // Bits 0-1 extend the seconds past 2038; bits 2-31 are nanoseconds.
                Some(x) => Time {
                    sec: base + (i64::from(x & 3) << 32),
                    nsec: (x >> 2).min(999_999_999),
                },
                None => Time { sec: base, nsec: 0 },
            }
        };
        let mut block = [0u8; I_BLOCK_LEN];
        block.copy_from_slice(&r[0x28..0x28 + I_BLOCK_LEN]);
        Self {
            ino,
            mode: le16(r, 0x00),
            uid: u32::from(le16(r, 0x02)) | u32::from(le16(r, 0x78)) << 16,
            gid: u32::from(le16(r, 0x18)) | u32::from(le16(r, 0x7A)) << 16,
            size: u64::from(le32(r, 0x04)) | u64::from(le32(r, 0x6C)) << 32,
            atime: time(0x08, 0x8C),
            ctime: time(0x0C, 0x84),
            mtime: time(0x10, 0x88),
            dtime: le32(r, 0x14),
            links: le16(r, 0x1A),
            flags: le32(r, 0x20),
            block,
            file_acl: u64::from(le32(r, 0x68)) | u64::from(le16(r, 0x76)) << 32,
            raw,
        }
    }

    /// The file type, or `None` for a mode with no valid type (a free or corrupt inode).
    pub fn file_type(&self) -> Option<FileType> {
        FileType::from_mode(u32::from(self.mode))
    }

    /// Permission bits, setuid, setgid and sticky included (`i_mode & 07777`).
    pub fn permissions(&self) -> u16 {
        self.mode & 0o7777
    }

    /// Whether `flag` is set in `i_flags`.
    pub fn has_flag(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    /// Device number (major, minor) of a character or block device. Two encodings exist
    /// (`ext4_decode_old_dev`/`new_decode_dev`): the old one in `i_block[0]` when it is not
    /// zero, else the new one in `i_block[1]`.
    pub fn device(&self) -> (u32, u32) {
        let old = le32(&self.block, 0);
        if old != 0 {
            ((old >> 8) & 0xff, old & 0xff)
        } else {
            let new = le32(&self.block, 4);
            ((new & 0xfff00) >> 8, (new & 0xff) | ((new >> 12) & 0xfff00))
        }
    }

    /// Whether a symlink keeps its target in `i_block` (a "fast" symlink): as e2fsprogs
    /// decides it, a target shorter than `i_block` that is not inline data.
    pub fn is_fast_symlink(&self) -> bool {
        self.file_type() == Some(FileType::Symlink)
            && !self.has_flag(FLAG_INLINE_DATA)
            && !self.has_flag(FLAG_EXTENTS)
            && self.size > 0
            && self.size < I_BLOCK_LEN as u64
    }

    /// The in-inode xattr area: after the 128-byte base and `i_extra_isize`, to the end of
    /// the inode; `None` when there is no room or `i_extra_isize` is out of range.
    pub fn xattr_area(&self) -> Option<&[u8]> {
        if self.raw.len() <= 128 {
            return None;
        }
        let extra = usize::from(le16(&self.raw, 0x80));
        let start = 128usize.checked_add(extra)?;
        if extra % 4 != 0 || start + 4 > self.raw.len() {
            return None;
        }
        Some(&self.raw[start..])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_times_ids_and_devices() {
        let mut r = vec![0u8; 256];
        r[0..2].copy_from_slice(&0o020644u16.to_le_bytes());
        r[2..4].copy_from_slice(&0x1234u16.to_le_bytes());
        r[0x78..0x7A].copy_from_slice(&0x0001u16.to_le_bytes());
        r[0x10..0x14].copy_from_slice(&(-5i32).to_le_bytes());
        r[0x80..0x82].copy_from_slice(&32u16.to_le_bytes());
        r[0x88..0x8C].copy_from_slice(&((123u32 << 2) | 1).to_le_bytes());
        // new encoding: major 259, minor 70000
        let (ma, mi) = (259u32, 70000u32);
        let dev = (mi & 0xff) | (ma << 8) | ((mi & !0xff) << 12);
        r[0x2C..0x30].copy_from_slice(&dev.to_le_bytes());
        let i = Inode::parse(12, r);
        assert_eq!(i.file_type(), Some(FileType::CharDevice));
        assert_eq!(i.uid, 0x11234);
        assert_eq!(
            i.mtime,
            Time {
                sec: -5 + (1 << 32),
                nsec: 123
            }
        );
        assert_eq!(i.device(), (259, 70000));
    }
}
