//! Directories (`libxfs/xfs_da_format.h`), read for a tree walk: only the entries are
//! needed, never the hash index, so every format reduces to two cases.
//!
//! - Short form (local data fork): a header (count, i8count, parent as 4 or 8 bytes),
//!   then entries of name length, a 2-byte offset, the name, a file type (ftype
//!   feature) and the inode number (8 bytes when i8count is not 0, else 4).
//! - Block, leaf, node and B+ tree directories keep every entry in data blocks below
//!   byte 32 GiB of the data fork (`XFS_DIR2_LEAF_OFFSET`); the leaf, node and free-index
//!   blocks above it only index them. Each data block (`XD2B`/`XD2D`, v5 `XDB3`/`XDD3`
//!   with a CRC and the owner) holds entries (inode u64, name length, name, file type,
//!   tag, padded to 8 bytes) and free regions (0xFFFF, length); a single-block directory
//!   ends with leaf entries and a tail giving their count.

use crate::bmap::{self, Fork};
use crate::crc;
use crate::error::{corrupt, Error, Result};
use crate::inode::{FileType, Format, Inode};
use crate::Fs;
use ddgz_disk::bytes::{be16, be32, be64};
use ddgz_disk::Disk;

/// Most entries read from one directory: a bound on memory for hostile images.
pub const MAX_DIR_ENTRIES: usize = 4 << 20;
/// Byte offset of the leaf section of a directory's data fork.
const LEAF_OFFSET: u64 = 32 << 30;
const MAGIC_BLOCK_V4: u32 = 0x5844_3242;
const MAGIC_DATA_V4: u32 = 0x5844_3244;
const MAGIC_BLOCK_V5: u32 = 0x5844_4233;
const MAGIC_DATA_V5: u32 = 0x5844_4433;

/// One directory entry; `file_type` in the ext4 numbering (0 unknown, 1 regular, 2 dir,
/// 3 char, 4 block, 5 fifo, 6 socket, 7 symlink).
pub use ddgz_fs::DirEntry;

fn push<D: Disk>(
    fs: &Fs<D>,
    dir: u64,
    name: &[u8],
    ino: u64,
    file_type: u8,
    out: &mut Vec<DirEntry>,
) -> Result<()> {
    if name == b"." || name == b".." {
        return Ok(());
    }
    let shown = || String::from_utf8_lossy(name).into_owned();
    if name.is_empty() || name.iter().any(|&c| c == b'/' || c == 0) {
        return Err(corrupt(format!(
            "directory inode {dir}: entry name {:?} is empty or holds '/' or NUL",
            shown()
        )));
    }
    if fs.sb.inode_offset(ino).is_none() {
        return Err(corrupt(format!(
            "directory inode {dir}: entry {:?} names invalid inode {ino}",
            shown()
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
        file_type,
    });
    Ok(())
}

fn short_form<D: Disk>(fs: &Fs<D>, dir: &Inode, out: &mut Vec<DirEntry>) -> Result<()> {
    let area = dir.data_fork();
    let size = usize::try_from(dir.size).unwrap_or(usize::MAX);
    let bad = |m: String| corrupt(format!("short-form directory inode {}: {m}", dir.ino));
    if size < 6 || size > area.len() {
        return Err(bad(format!("size {size} outside 6..={}", area.len())));
    }
    let b = &area[..size];
    let count = usize::from(b[0]);
    let wide = b[1] != 0;
    let inum = if wide { 8 } else { 4 };
    let mut pos = 2 + inum;
    let ftype = usize::from(fs.sb.ftype);
    for i in 0..count {
        let fixed = 1 + 2 + ftype + inum;
        let namelen = b.get(pos).map_or(0, |&n| usize::from(n));
        if pos + fixed + namelen > b.len() {
            return Err(bad(format!(
                "entry {i} at byte {pos} runs past the {size} bytes"
            )));
        }
        let name = &b[pos + 3..pos + 3 + namelen];
        let at = pos + 3 + namelen;
        let t = if ftype == 1 { b[at] } else { 0 };
        let at = at + ftype;
        let ino = if wide {
            be64(b, at)
        } else {
            u64::from(be32(b, at))
        };
        push(fs, dir.ino, name, ino, t, out)?;
        pos = at + inum;
    }
    Ok(())
}

/// Parses the entries of one directory data block (`b` is one directory block).
fn data_block<D: Disk>(
    fs: &Fs<D>,
    dir: u64,
    db: u64,
    b: &[u8],
    out: &mut Vec<DirEntry>,
) -> Result<()> {
    let v5 = fs.sb.has_crc();
    let bad = |m: String| corrupt(format!("directory inode {dir}, directory block {db}: {m}"));
    let magic = be32(b, 0);
    let (block, hdr) = match (magic, v5) {
        (MAGIC_BLOCK_V4, false) => (true, 16),
        (MAGIC_DATA_V4, false) => (false, 16),
        (MAGIC_BLOCK_V5, true) => (true, 64),
        (MAGIC_DATA_V5, true) => (false, 64),
        _ => return Err(bad(format!("magic 0x{magic:08x}"))),
    };
    if v5 {
        if !crc::verify(b, 4) {
            return Err(bad("CRC mismatch".into()));
        }
        if be64(b, 40) != dir {
            return Err(bad(format!("owned by inode {}", be64(b, 40))));
        }
    }
    let mut end = b.len();
    if block {
        let count = be32(b, end - 8) as usize;
        match count.checked_mul(8).and_then(|n| n.checked_add(8 + hdr)) {
            Some(n) if n <= b.len() => end -= n - hdr,
            _ => return Err(bad(format!("{count} leaf entries do not fit the block"))),
        }
    }
    let ftype = usize::from(fs.sb.ftype);
    let mut pos = hdr;
    while pos < end {
        if end - pos < 8 {
            return Err(bad(format!("byte {pos}: a record runs past byte {end}")));
        }
        if be16(b, pos) == 0xffff {
            let len = usize::from(be16(b, pos + 2));
            if len < 8 || len % 8 != 0 || len > end - pos {
                return Err(bad(format!("byte {pos}: free region of {len} bytes")));
            }
            pos += len;
            continue;
        }
        // The smallest entry: inode, name length, one byte of name, tag (16 padded).
        if end - pos < 16 {
            return Err(bad(format!("byte {pos}: an entry runs past byte {end}")));
        }
        let namelen = usize::from(b[pos + 8]);
        let len = (8 + 1 + namelen + ftype + 2).next_multiple_of(8);
        if namelen == 0 || len > end - pos {
            return Err(bad(format!(
                "byte {pos}: entry of {len} bytes (name of {namelen})"
            )));
        }
        let t = if ftype == 1 { b[pos + 9 + namelen] } else { 0 };
        push(
            fs,
            dir,
            &b[pos + 9..pos + 9 + namelen],
            be64(b, pos),
            t,
            out,
        )?;
        pos += len;
    }
    Ok(())
}

/// Entries of directory `dir`, without `.` and `..`, in on-disk order.
pub fn read_dir<D: Disk>(fs: &Fs<D>, dir: &Inode) -> Result<Vec<DirEntry>> {
    if dir.file_type() != Some(FileType::Directory) {
        return Err(corrupt(format!("inode {} is not a directory", dir.ino)));
    }
    let mut out = Vec::new();
    match dir.format {
        Format::Local => short_form(fs, dir, &mut out)?,
        Format::Extents | Format::Btree => {
            let runs = bmap::runs(fs, dir, Fork::Data)?;
            let log = fs.sb.dirblk_log;
            let dbs = u64::from(fs.sb.dir_block_size());
            // Data blocks lie below the leaf section and below the directory's size.
            let limit = dir.size.min(LEAF_OFFSET).div_ceil(dbs);
            let mut buf = vec![0u8; dbs as usize];
            let mut last = None;
            for r in &runs {
                let first = r.logical >> log;
                let end = ((r.logical + r.len - 1) >> log).min(limit.saturating_sub(1));
                if first >= limit {
                    break;
                }
                for db in first..=end {
                    if last.is_some_and(|l| db <= l) {
                        continue;
                    }
                    last = Some(db);
                    let what = || format!("directory inode {}, directory block {db}", dir.ino);
                    bmap::read_mapped(fs, &runs, db << log, &mut buf, &what)?;
                    data_block(fs, dir.ino, db, &buf, &mut out)?;
                }
            }
        }
        Format::Device => {
            return Err(corrupt(format!(
                "directory inode {} has a device fork",
                dir.ino
            )));
        }
    }
    Ok(out)
}
