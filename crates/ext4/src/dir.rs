//! Directory entries (`Documentation/filesystems/ext4/directory.rst`): in each directory
//! block, records of `inode` (u32), `rec_len` (u16), `name_len` (u8) and `file_type`
//! (u8, with the filetype feature; else `name_len` is a u16), then the name. Read
//! linearly: htree interior blocks look like one empty record spanning the block, and
//! the metadata_csum tail is a record with inode 0, so both are skipped as free space.
//! Inline directories keep the parent's inode number in the first 4 bytes of `i_block`,
//! then records, continued in the `system.data` xattr.

use crate::error::{corrupt, Error, Result};
use crate::inode::{FileType, Inode, FLAG_ENCRYPT, FLAG_INLINE_DATA, I_BLOCK_LEN};
use crate::map::Run;
use crate::superblock::incompat;
use crate::Fs;
use ddgz_disk::Disk;

/// Most entries read from one directory: a bound on memory for hostile images (about
/// 256 MiB of names; a real directory of this size would hold 4 million files).
pub const MAX_DIR_ENTRIES: usize = 4 << 20;

/// One directory entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The name: any bytes but `/` and NUL, not `.` or `..`.
    pub name: Vec<u8>,
    /// The inode it names.
    pub ino: u32,
    /// The type recorded in the entry (0 unknown, 1 regular, 2 dir, …); the inode's mode
    /// is what counts.
    pub file_type: u8,
}

/// Parses the records of one directory block (or inline region) into `out`.
fn parse_records<D: Disk>(
    fs: &Fs<D>,
    dir: u32,
    where_: &dyn Fn() -> String,
    block: &[u8],
    out: &mut Vec<DirEntry>,
) -> Result<()> {
    let filetype = fs.sb.has_incompat(incompat::FILETYPE);
    let len = block.len();
    let mut pos = 0usize;
    while pos < len {
        let bad = |m: String| {
            corrupt(format!(
                "directory inode {dir}, {} byte {pos}: {m}",
                where_()
            ))
        };
        if pos + 8 > len {
            return Err(bad(format!(
                "a record header runs past the end ({len} bytes)"
            )));
        }
        let ino = u32::from_le_bytes([block[pos], block[pos + 1], block[pos + 2], block[pos + 3]]);
        let raw_rec = u16::from_le_bytes([block[pos + 4], block[pos + 5]]);
        // 64 KiB blocks store a full-block record as 65535 or 0 (ext4_rec_len_from_disk).
        let rec_len = if len >= 65536 && (raw_rec == 65535 || raw_rec == 0) {
            len
        } else {
            usize::from(raw_rec)
        };
        let (name_len, ftype) = if filetype {
            (usize::from(block[pos + 6]), block[pos + 7])
        } else {
            (
                usize::from(u16::from_le_bytes([block[pos + 6], block[pos + 7]])),
                0,
            )
        };
        if rec_len < 8 || rec_len % 4 != 0 || pos + rec_len > len {
            return Err(bad(format!(
                "rec_len {rec_len}: must be a multiple of 4, at least 8, within the {len} bytes"
            )));
        }
        if ino != 0 {
            if 8 + name_len > rec_len || name_len == 0 {
                return Err(bad(format!(
                    "name of {name_len} bytes in a record of {rec_len}"
                )));
            }
            let name = &block[pos + 8..pos + 8 + name_len];
            if name != b"." && name != b".." {
                if name.iter().any(|&c| c == b'/' || c == 0) {
                    return Err(bad(format!(
                        "name {:?} contains '/' or NUL",
                        String::from_utf8_lossy(name)
                    )));
                }
                if ino > fs.sb.inodes_count {
                    return Err(bad(format!(
                        "entry {:?} names inode {ino}; the filesystem has {}",
                        String::from_utf8_lossy(name),
                        fs.sb.inodes_count
                    )));
                }
                if out.len() >= MAX_DIR_ENTRIES {
                    return Err(Error::Limit(format!(
                        "directory inode {dir} has more than {MAX_DIR_ENTRIES} entries"
                    )));
                }
                out.push(DirEntry {
                    name: name.to_vec(),
                    ino,
                    file_type: ftype,
                });
            }
        }
        pos += rec_len;
    }
    Ok(())
}

/// Entries of `dir` (not `.` and `..`), in on-disk order.
pub fn read_dir<D: Disk>(fs: &Fs<D>, dir: &Inode) -> Result<Vec<DirEntry>> {
    if dir.file_type() != Some(FileType::Directory) {
        return Err(corrupt(format!("inode {} is not a directory", dir.ino)));
    }
    if dir.has_flag(FLAG_ENCRYPT) {
        return Err(Error::Unsupported(format!(
            "directory inode {} is encrypted (encrypt feature)",
            dir.ino
        )));
    }
    let mut out = Vec::new();
    if dir.has_flag(FLAG_INLINE_DATA) {
        let size = usize::try_from(dir.size).unwrap_or(usize::MAX);
        if size < 4 {
            return Err(corrupt(format!(
                "inline directory inode {} of {size} bytes (at least 4)",
                dir.ino
            )));
        }
        let first = &dir.block[4..size.min(I_BLOCK_LEN)];
        parse_records(fs, dir.ino, &|| "i_block".into(), first, &mut out)?;
        if size > I_BLOCK_LEN {
            let more = crate::xattr::system_data(fs, dir)?;
            let n = (size - I_BLOCK_LEN).min(more.len());
            parse_records(fs, dir.ino, &|| "system.data".into(), &more[..n], &mut out)?;
        }
        return Ok(out);
    }
    let bs = u64::from(fs.sb.block_size);
    let mut buf = vec![0u8; bs as usize];
    let mut next = 0u64;
    crate::map::for_each_run(fs, dir, |r: Run| {
        if r.logical != next || r.unwritten {
            return Err(corrupt(format!(
                "directory inode {} has a hole or an unwritten extent at block {next}",
                dir.ino
            )));
        }
        for i in 0..r.len {
            fs.read_block(r.physical + i, &mut buf)?;
            let logical = r.logical + i;
            parse_records(fs, dir.ino, &|| format!("block {logical}"), &buf, &mut out)?;
        }
        next = r.logical + r.len;
        Ok(())
    })?;
    if next != dir.size.div_ceil(bs) {
        return Err(corrupt(format!(
            "directory inode {} has a hole at block {next} (size {} bytes)",
            dir.ino, dir.size
        )));
    }
    Ok(out)
}
