//! Symlink targets: in the inode (local data fork) or in blocks. On v5 each block of a
//! remote target starts with a 56-byte header (`xfs_dsymlink_hdr`: `XSLM`, offset and
//! length of the piece, CRC, UUID, owner, block number, LSN).

use crate::bmap::{self, Fork};
use crate::error::{corrupt, Result};
use crate::inode::{FileType, Format, Inode};
use crate::{crc, Fs};
use ddgz_disk::bytes::{be32, be64};
use ddgz_disk::Disk;

/// `PATH_MAX`: the kernel refuses longer targets (`XFS_SYMLINK_MAXLEN` is 1024).
const MAX_TARGET: u64 = 4096;
const MAGIC: u32 = 0x5853_4c4d;
const HDR: usize = 56;

/// The target of symlink `inode`.
pub fn read_link<D: Disk>(fs: &Fs<D>, inode: &Inode) -> Result<Vec<u8>> {
    let ino = inode.ino;
    if inode.file_type() != Some(FileType::Symlink) {
        return Err(corrupt(format!("inode {ino} is not a symlink")));
    }
    if inode.size == 0 || inode.size > MAX_TARGET {
        return Err(corrupt(format!(
            "symlink inode {ino} has a target of {} bytes (1..={MAX_TARGET})",
            inode.size
        )));
    }
    let len = inode.size as usize;
    if inode.format == Format::Local {
        let d = inode.data_fork();
        if len > d.len() {
            return Err(corrupt(format!(
                "symlink inode {ino}: {len} bytes in a {}-byte fork",
                d.len()
            )));
        }
        return Ok(d[..len].to_vec());
    }
    let runs = bmap::runs(fs, inode, Fork::Data)?;
    let bs = fs.block_size() as usize;
    let v5 = fs.superblock().has_crc();
    let per = if v5 { bs - HDR } else { bs };
    let mut out = Vec::with_capacity(len);
    let mut buf = vec![0u8; bs];
    let mut blk = 0u64;
    while out.len() < len {
        let what = || format!("symlink inode {ino}");
        bmap::read_mapped(fs, &runs, blk, &mut buf, &what)?;
        let n = (len - out.len()).min(per);
        if v5 {
            let bad = |m: String| corrupt(format!("symlink inode {ino}, block {blk}: {m}"));
            if be32(&buf, 0) != MAGIC || !crc::verify(&buf, 12) {
                return Err(bad("bad magic or CRC".into()));
            }
            if be32(&buf, 4) as usize != out.len()
                || be32(&buf, 8) as usize != n
                || be64(&buf, 32) != ino
            {
                return Err(bad(format!(
                    "header says offset {}, {} bytes, owner {}",
                    be32(&buf, 4),
                    be32(&buf, 8),
                    be64(&buf, 32)
                )));
            }
            out.extend_from_slice(&buf[HDR..HDR + n]);
        } else {
            out.extend_from_slice(&buf[..n]);
        }
        blk += 1;
    }
    Ok(out)
}
