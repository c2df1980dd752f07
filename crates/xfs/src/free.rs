//! The free space of an XFS filesystem as byte ranges, for `convert --zero-free`: the
//! records of each allocation group's free-space B+ tree by block number (bnobt).
//!
//! Each AG's AGF (sector 1 of the AG; big-endian): magic `XAGF` at 0x00, seqno 0x08,
//! length 0x0C, bnobt root 0x10, bnobt levels 0x1C, free blocks 0x34, CRC 0xD8 (v5).
//! A bnobt block (short-form header): magic `ABTB` (v4) / `AB3B` (v5) at 0x00, level
//! 0x04, numrecs 0x06, left / right siblings 0x08 / 0x0C, and on v5 blkno, lsn, uuid,
//! owner and the CRC at 0x34: 16 or 56 bytes. A leaf holds `(startblock, blockcount)`
//! records of 8 bytes; a node holds its keys (8 bytes each) and then, at header +
//! maxrecs × 8 with maxrecs = (block − header) / 12, its child pointers (4 bytes).
//!
//! Blocks on the AG free list (AGFL) are not in the bnobt: they stay. The walk is depth
//! first in pointer order, so records come in ascending block order; a tree whose levels,
//! magic, CRC or record order are wrong is corrupt, and one whose records do not add up to
//! the AGF's free count gives nothing (inconsistent: `xfs_repair` first). The log was
//! found clean when the filesystem was opened ([`Fs::open`]). One block in memory per
//! level.

use std::ops::Range;

use ddgz_disk::bytes::{be16, be32};
use ddgz_disk::Disk;

use crate::error::corrupt;
use crate::{crc, Fs, Result};

const AGF_MAGIC: u32 = 0x5841_4746;
const BNO_MAGIC_V4: u32 = 0x4142_5442;
const BNO_MAGIC_V5: u32 = 0x4142_3342;
/// `XFS_BTREE_MAXLEVELS` of the per-AG trees (xfs_format.h): deeper is corrupt.
const MAX_LEVELS: u32 = 9;

/// What the free-space walk found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FreeSpace {
    /// The free ranges were given to the caller: this many bytes in all.
    Listed {
        /// Bytes of the free extents.
        bytes: u64,
    },
    /// The filesystem is inconsistent: nothing usable was given (drop what was), and why.
    Unclean(String),
}

impl<D: Disk> Fs<D> {
    /// Gives `emit` every free extent of every AG, as byte ranges from the start of the
    /// filesystem, in ascending order. Unless the answer is [`FreeSpace::Listed`], what
    /// `emit` was given must be dropped.
    pub fn free_space(&self, emit: &mut dyn FnMut(Range<u64>)) -> Result<FreeSpace> {
        let sb = &self.sb;
        let bs = u64::from(sb.block_size);
        let v5 = sb.has_crc();
        let hdr: usize = if v5 { 56 } else { 16 };
        let mut total = 0u64;
        for ag in 0..sb.ag_count {
            let ag_first = u64::from(ag) * u64::from(sb.ag_blocks);
            let mut agf = vec![0u8; usize::from(sb.sect_size)];
            self.read_raw(ag_first * bs + u64::from(sb.sect_size), &mut agf)?;
            let bad = |what: String| corrupt(format!("AG {ag}: AGF: {what}"));
            if be32(&agf, 0) != AGF_MAGIC {
                return Err(bad(format!("magic 0x{:08x}", be32(&agf, 0))));
            }
            if v5 && !crc::verify(&agf, 0xD8) {
                return Err(bad("CRC mismatch".into()));
            }
            let length = u64::from(be32(&agf, 0x0C));
            let expect = sb
                .dblocks
                .saturating_sub(ag_first)
                .min(u64::from(sb.ag_blocks));
            if be32(&agf, 0x08) != ag || length != expect {
                return Err(bad(format!(
                    "seqno {} length {length}; want {ag} and {expect}",
                    be32(&agf, 0x08)
                )));
            }
            let root = u64::from(be32(&agf, 0x10));
            let levels = be32(&agf, 0x1C);
            let freeblks = u64::from(be32(&agf, 0x34));
            if root >= length || !(1..=MAX_LEVELS).contains(&levels) {
                return Err(bad(format!("bnobt root {root}, {levels} levels")));
            }
            // Depth-first, in pointer order: (block, level expected), children pushed in
            // reverse so the leftmost is next.
            let mut stack = vec![(root, levels - 1)];
            let mut visited = 0u64;
            let mut next_free = 0u64;
            let mut sum = 0u64;
            let mut b = vec![0u8; bs as usize];
            while let Some((agbno, level)) = stack.pop() {
                visited += 1;
                if agbno >= length || visited > length {
                    return Err(bad(format!(
                        "bnobt block {agbno} outside the AG, or a loop"
                    )));
                }
                self.read_raw((ag_first + agbno) * bs, &mut b)?;
                let bad = |what: String| corrupt(format!("AG {ag}: bnobt block {agbno}: {what}"));
                let magic = be32(&b, 0);
                if magic != if v5 { BNO_MAGIC_V5 } else { BNO_MAGIC_V4 } {
                    return Err(bad(format!("magic 0x{magic:08x}")));
                }
                if v5 && !crc::verify(&b, 52) {
                    return Err(bad("CRC mismatch".into()));
                }
                if u32::from(be16(&b, 4)) != level {
                    return Err(bad(format!("level {}, want {level}", be16(&b, 4))));
                }
                let n = usize::from(be16(&b, 6));
                if level == 0 {
                    if n > (b.len() - hdr) / 8 {
                        return Err(bad(format!("{n} records")));
                    }
                    for i in 0..n {
                        let at = hdr + 8 * i;
                        let (start, count) = (u64::from(be32(&b, at)), u64::from(be32(&b, at + 4)));
                        if start < next_free || count == 0 || start + count > length {
                            return Err(bad(format!(
                                "record {start}+{count} out of order or outside the AG ({length} blocks)"
                            )));
                        }
                        next_free = start + count;
                        sum += count;
                        emit((ag_first + start) * bs..(ag_first + start + count) * bs);
                    }
                } else {
                    let maxrecs = (b.len() - hdr) / 12;
                    if n == 0 || n > maxrecs {
                        return Err(bad(format!("{n} keys (at most {maxrecs})")));
                    }
                    let ptrs = hdr + maxrecs * 8;
                    for i in (0..n).rev() {
                        stack.push((u64::from(be32(&b, ptrs + 4 * i)), level - 1));
                    }
                }
            }
            if sum != freeblks {
                return Ok(FreeSpace::Unclean(format!(
                    "AG {ag}: its free-space tree holds {sum} blocks, its AGF says {freeblks} \
                     (inconsistent: run xfs_repair)"
                )));
            }
            total += sum * bs;
        }
        Ok(FreeSpace::Listed { bytes: total })
    }
}
