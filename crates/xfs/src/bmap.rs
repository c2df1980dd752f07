//! Where a fork's blocks are: an extent list in the inode, or a B+ tree of extent
//! records (`bmbt`) whose root sits in the inode (`libxfs/xfs_bmap_btree.h`).
//!
//! An extent record is 128 bits, big-endian: 1 bit "unwritten", 54 bits of file offset,
//! 52 bits of filesystem block number (AG << agblklog | block in AG), 21 bits of length.
//! The tree's root in the inode is a level (u16), a record count (u16), then keys and
//! pointers each sized for as many records as the fork can hold; blocks below start with
//! `BMAP` (v4, 24-byte header) or `BMA3` (v5, 72 bytes, CRC at 64, owner at 56).
//!
//! The walk checks that levels strictly descend, every block is non-empty, and every
//! record's offset strictly advances: a block reached twice would repeat offsets, so no
//! walk loops, and no more records are read than the inode declares.

use crate::crc;
use crate::error::{self, corrupt, Error, Result};
use crate::inode::{Format, Inode};
use crate::Fs;
use ddgz_disk::bytes::{be16, be32, be64};
use ddgz_disk::Disk;

/// A run of a fork's blocks: `physical` is a linear block (`AG * ag_blocks + block in
/// AG`, what [`Fs::read_blocks`] takes).
pub use ddgz_fs::Run;

/// Which fork of an inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fork {
    /// File content, directory blocks, symlink target.
    Data,
    /// Extended attributes.
    Attr,
}

/// `BMAP`, `BMA3`.
const MAGIC_V4: u32 = 0x424d_4150;
const MAGIC_V5: u32 = 0x424d_4133;
/// Deepest extent tree read (`XFS_BM_MAXLEVELS` is at most 9 with 64-bit counters).
const MAX_LEVELS: u16 = 10;
/// Most extent records held for one fork: about 128 MiB of runs.
pub const MAX_EXTENTS: u64 = 1 << 22;

struct Walk<'a, D: Disk> {
    fs: &'a Fs<D>,
    ino: u64,
    /// Records the inode declares.
    declared: u64,
    /// Next logical block a record may start at.
    next: u64,
    runs: Vec<Run>,
}

impl<D: Disk> Walk<'_, D> {
    fn record(&mut self, rec: &[u8]) -> Result<()> {
        let l0 = be64(rec, 0);
        let l1 = be64(rec, 8);
        let unwritten = l0 >> 63 != 0;
        let logical = (l0 & ((1 << 63) - 1)) >> 9;
        let fsb = ((l0 & 0x1ff) << 43) | (l1 >> 21);
        let len = l1 & ((1 << 21) - 1);
        let bad = |m: String| {
            corrupt(format!(
                "inode {}: extent at file block {logical}: {m}",
                self.ino
            ))
        };
        if self.runs.len() as u64 >= self.declared {
            return Err(bad(format!(
                "more extent records than the {} the inode declares",
                self.declared
            )));
        }
        if len == 0 {
            return Err(bad("zero length".into()));
        }
        if logical < self.next {
            return Err(bad(format!(
                "overlaps or goes back (next expected block {})",
                self.next
            )));
        }
        let sb = &self.fs.sb;
        let agbno = fsb & ((1u64 << sb.agblk_log) - 1);
        let physical = match sb.linear(fsb) {
            Some(p) if agbno + len <= u64::from(sb.ag_blocks) && p + len <= sb.dblocks => p,
            _ => {
                return Err(bad(format!(
                    "blocks {fsb}..+{len} lie outside the filesystem or cross an AG"
                )))
            }
        };
        self.next = logical + len;
        self.runs.push(Run {
            logical,
            physical,
            len,
            unwritten,
        });
        Ok(())
    }

    /// Walks the subtree whose root is at filesystem block `fsb`, `level` above leaves.
    fn block(&mut self, fsb: u64, level: u16) -> Result<()> {
        let sb = &self.fs.sb;
        let lin = sb.linear(fsb).ok_or_else(|| {
            corrupt(format!(
                "inode {}: extent tree block {fsb} outside the filesystem",
                self.ino
            ))
        })?;
        let mut b = vec![0u8; sb.block_size as usize];
        self.fs.read_blocks(lin, &mut b)?;
        let v5 = sb.has_crc();
        let hdr = if v5 { 72 } else { 24 };
        let bad = |m: String| corrupt(format!("inode {}: extent tree block {fsb}: {m}", self.ino));
        let magic = be32(&b, 0);
        if magic != if v5 { MAGIC_V5 } else { MAGIC_V4 } {
            return Err(bad(format!("magic 0x{magic:08x}")));
        }
        if v5 {
            if !crc::verify(&b, 64) {
                return Err(bad("CRC mismatch".into()));
            }
            if be64(&b, 56) != self.ino {
                return Err(bad(format!("owned by inode {}", be64(&b, 56))));
            }
        }
        let got = be16(&b, 4);
        let n = usize::from(be16(&b, 6));
        let maxrecs = (b.len() - hdr) / 16;
        if got != level || n == 0 || n > maxrecs {
            return Err(bad(format!(
                "level {got} (expected {level}), {n} records (1..={maxrecs})"
            )));
        }
        if level == 0 {
            for i in 0..n {
                self.record(&b[hdr + 16 * i..hdr + 16 * (i + 1)])?;
            }
        } else {
            let ptrs = hdr + 8 * maxrecs;
            for i in 0..n {
                self.block(be64(&b, ptrs + 8 * i), level - 1)?;
            }
        }
        Ok(())
    }
}

/// The runs of `fork` of `inode` in logical order (holes are the gaps between them).
/// Local and device forks have none.
pub fn runs<D: Disk>(fs: &Fs<D>, inode: &Inode, fork: Fork) -> Result<Vec<Run>> {
    let (format, declared, area) = match fork {
        Fork::Data => (Some(inode.format), inode.nextents, inode.data_fork()),
        Fork::Attr => (inode.aformat, u64::from(inode.anextents), inode.attr_fork()),
    };
    let ino = inode.ino;
    let mut w = Walk {
        fs,
        ino,
        declared,
        next: 0,
        runs: Vec::new(),
    };
    match format {
        Some(Format::Extents) => {
            let n = usize::try_from(declared).unwrap_or(usize::MAX);
            if n > area.len() / 16 {
                return Err(corrupt(format!(
                    "inode {ino}: {declared} extent records do not fit the {}-byte fork",
                    area.len()
                )));
            }
            for rec in area.chunks_exact(16).take(n) {
                w.record(rec)?;
            }
        }
        Some(Format::Btree) => {
            if declared > MAX_EXTENTS || declared > fs.sb.dblocks {
                return Err(Error::Limit(format!(
                    "inode {ino} declares {declared} extents; at most {MAX_EXTENTS} and no more \
                     than the filesystem's {} blocks are read",
                    fs.sb.dblocks
                )));
            }
            if area.len() < 4 {
                return Err(corrupt(format!(
                    "inode {ino}: extent tree root in a {}-byte fork",
                    area.len()
                )));
            }
            let level = be16(area, 0);
            let n = usize::from(be16(area, 2));
            let maxrecs = (area.len() - 4) / 16;
            if level == 0 || level > MAX_LEVELS || n == 0 || n > maxrecs {
                return Err(corrupt(format!(
                    "inode {ino}: extent tree root of level {level} with {n} records (1..={maxrecs})"
                )));
            }
            let ptrs = 4 + 8 * maxrecs;
            for i in 0..n {
                w.block(be64(area, ptrs + 8 * i), level - 1)
                    .map_err(|e| error::within(e, || format!("{fork:?} fork")))?;
            }
        }
        Some(Format::Local | Format::Device) | None => {}
    }
    if w.runs.len() as u64 != declared {
        return Err(corrupt(format!(
            "inode {ino}: {fork:?} fork has {} extent records, the inode declares {declared}",
            w.runs.len()
        )));
    }
    Ok(w.runs)
}

/// Reads `buf.len() / block_size` blocks of a fork from logical block `logical`, which
/// must all be mapped and written (directory and attribute blocks are never sparse).
pub fn read_mapped<D: Disk>(
    fs: &Fs<D>,
    runs: &[Run],
    logical: u64,
    buf: &mut [u8],
    what: &dyn Fn() -> String,
) -> Result<()> {
    let bs = u64::from(fs.sb.block_size);
    let n = buf.len() as u64 / bs;
    let mut done = 0u64;
    while done < n {
        let want = logical + done;
        // Runs are sorted and disjoint: the last one starting at or before `want`.
        let i = runs.partition_point(|r| r.logical <= want);
        let r = i
            .checked_sub(1)
            .map(|i| runs[i])
            .filter(|r| want < r.logical + r.len && !r.unwritten);
        let Some(r) = r else {
            return Err(corrupt(format!(
                "{}: block {want} is a hole or unwritten",
                what()
            )));
        };
        let k = (r.logical + r.len - want).min(n - done);
        let at = (done * bs) as usize;
        fs.read_blocks(
            r.physical + (want - r.logical),
            &mut buf[at..at + (k * bs) as usize],
        )?;
        done += k;
    }
    Ok(())
}
