//! Whether the log is clean, found as the kernel finds it at mount (`xlog_find_head`,
//! `xlog_find_tail`, `xlog_check_unmount_rec` in `fs/xfs/xfs_log_recover.c`) and as
//! `xfs_logprint` shows it.
//!
//! The log is a ring of 512-byte basic blocks, each stamped with the cycle (pass over
//! the ring) it was written in; the head is where the cycle number drops. The last
//! record before the head must be an unmount record (one operation with the
//! `XLOG_UNMOUNT_TRANS` flag) that ends exactly at the head: then nothing is waiting to
//! be replayed. A log never written (all cycles 0, as `xfs_repair -L` leaves it) is clean.

use crate::error::{corrupt, Error, Result};
use crate::Fs;
use ddgz_disk::bytes::be32;
use ddgz_disk::Disk;

const BB: u64 = 512;
const HEADER_MAGIC: u32 = 0xFEED_BABE;
const UNMOUNT_TRANS: u8 = 0x20;
/// A log record's data is at most 256 KiB, its headers at most 8 blocks more: the last
/// record header lies within this many blocks before the head.
const SEARCH_BBS: u64 = 1024;

struct Log<'a, D: Disk> {
    fs: &'a Fs<D>,
    /// Byte offset of the log in the filesystem, and its size in basic blocks.
    start: u64,
    bbs: u64,
}

impl<D: Disk> Log<'_, D> {
    fn bb(&self, i: u64) -> Result<[u8; BB as usize]> {
        let mut b = [0u8; BB as usize];
        self.fs.read_raw(self.start + (i % self.bbs) * BB, &mut b)?;
        Ok(b)
    }

    /// The cycle stamped on block `i` (a record header keeps it in `h_cycle`).
    fn cycle(&self, i: u64) -> Result<u32> {
        let b = self.bb(i)?;
        Ok(if be32(&b, 0) == HEADER_MAGIC {
            be32(&b, 4)
        } else {
            be32(&b, 0)
        })
    }
}

/// Checks that the log of `fs` is clean; `Err(DirtyLog)` names what was found.
pub fn check<D: Disk>(fs: &Fs<D>) -> Result<()> {
    let sb = &fs.sb;
    if sb.log_start == 0 {
        return Err(Error::Unsupported(
            "the log is on an external device, so whether it is clean cannot be told".into(),
        ));
    }
    let bs = u64::from(sb.block_size);
    let start = sb
        .linear(sb.log_start)
        .filter(|&l| l + u64::from(sb.log_blocks) <= sb.dblocks);
    let Some(start) = start.filter(|_| sb.log_blocks >= 2) else {
        return Err(corrupt(format!(
            "superblock: log of {} blocks at block {} lies outside the filesystem",
            sb.log_blocks, sb.log_start
        )));
    };
    let log = Log {
        fs,
        start: start * bs,
        bbs: u64::from(sb.log_blocks) * bs / BB,
    };
    let c0 = log.cycle(0)?;
    if c0 == 0 {
        return Ok(());
    }
    // Blocks [0, head) carry cycle c0, the rest an older one (or 0 where never written).
    let (mut lo, mut hi) = (0u64, log.bbs);
    while hi - lo > 1 {
        let mid = lo + (hi - lo) / 2;
        if log.cycle(mid)? == c0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let head = hi % log.bbs;
    let mut found = None;
    for back in 1..=SEARCH_BBS.min(log.bbs) {
        let i = (head + log.bbs - back) % log.bbs;
        let b = log.bb(i)?;
        if be32(&b, 0) == HEADER_MAGIC {
            found = Some((i, b));
            break;
        }
    }
    let Some((rec, h)) = found else {
        return Err(Error::DirtyLog(format!(
            "no log record header within {SEARCH_BBS} blocks before the head (block {head})"
        )));
    };
    let version = be32(&h, 8);
    let len = u64::from(be32(&h, 12));
    let ops = be32(&h, 40);
    let size = u64::from(be32(&h, 320));
    let hblks = if version & 2 != 0 && size > 32768 {
        size.div_ceil(32768)
    } else {
        1
    };
    let after = (rec + hblks + len.div_ceil(BB)) % log.bbs;
    let data = log.bb(rec + hblks)?;
    if after == head && ops == 1 && data[9] & UNMOUNT_TRANS != 0 {
        return Ok(());
    }
    Err(Error::DirtyLog(format!(
        "the last log record (block {rec} of the log, {ops} operations, {len} bytes) is not an \
         unmount record ending at the head (block {head})"
    )))
}
