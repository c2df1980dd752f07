//! Journal replay in memory (JBD2, `Documentation/filesystems/ext4/journal.rst`).
//!
//! A filesystem whose `needs_recovery` flag is set was not unmounted cleanly: committed
//! transactions in the journal (inode `s_journal_inum`) may not have reached their home
//! blocks. The kernel and e2fsck replay them on mount; we do it in memory: a map from
//! filesystem block to the journal block holding its newest committed copy, consulted
//! by every read. The input is never written.
//!
//! The log (all big-endian): from `s_start`, blocks with a 12-byte header (magic
//! 0xC03B3998, block type, transaction sequence). A descriptor block lists tags (target
//! block, flags) for the data blocks that follow it; a commit block closes the
//! transaction; a revoke block lists blocks whose earlier copies must not be replayed.
//! The log ends at the first block whose magic or sequence does not fit. As in the
//! kernel's three passes: find the committed transactions, gather revokes, replay.

use std::collections::BTreeMap;

use crate::error::{corrupt, Error, Result};
use crate::map::Run;
use crate::superblock::{incompat, COMPAT_HAS_JOURNAL};
use crate::Fs;
use ddgz_disk::bytes::{be16, be32};
use ddgz_disk::Disk;

const MAGIC: u32 = 0xC03B_3998;
const DESCRIPTOR: u32 = 1;
const COMMIT: u32 = 2;
const SUPERBLOCK_V1: u32 = 3;
const SUPERBLOCK_V2: u32 = 4;
const REVOKE: u32 = 5;

/// Journal `s_feature_incompat` bits.
const J_REVOKE: u32 = 0x1;
const J_64BIT: u32 = 0x2;
const J_ASYNC_COMMIT: u32 = 0x4;
const J_CSUM_V2: u32 = 0x8;
const J_CSUM_V3: u32 = 0x10;
const J_FAST_COMMIT: u32 = 0x20;

/// Tag flags.
const TAG_ESCAPE: u32 = 0x1;
const TAG_SAME_UUID: u32 = 0x2;
const TAG_LAST: u32 = 0x8;

/// Most runs the journal inode may map to (a 1 GiB journal of 4 KiB blocks, fragmented
/// at worst block by block, has 262144).
const MAX_JOURNAL_RUNS: usize = 1 << 20;

/// Where the newest committed copy of a block is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Copy {
    /// Physical block (in the filesystem) of the copy inside the journal.
    pub physical: u64,
    /// The copy's first 4 bytes were the journal magic and were zeroed (`JBD2_FLAG_ESCAPE`).
    pub escaped: bool,
}

/// Reads the copy `c` into `buf` (one block), undoing the escape.
pub fn read_copy<D: Disk>(fs: &Fs<D>, c: &Copy, buf: &mut [u8]) -> Result<()> {
    fs.read_raw(c.physical * u64::from(fs.sb.block_size), buf)?;
    if c.escaped {
        buf[..4].copy_from_slice(&MAGIC.to_be_bytes());
    }
    Ok(())
}

/// The journal as a sequence of blocks.
struct Log<'a, D: Disk> {
    fs: &'a Fs<D>,
    runs: Vec<Run>,
    buf: Vec<u8>,
}

impl<D: Disk> Log<'_, D> {
    fn physical(&self, logical: u64) -> Result<u64> {
        let i = self.runs.partition_point(|r| r.logical + r.len <= logical);
        match self.runs.get(i) {
            Some(r) if r.logical <= logical && !r.unwritten => Ok(r.physical + logical - r.logical),
            _ => Err(corrupt(format!("journal block {logical} is not mapped"))),
        }
    }
    fn read(&mut self, logical: u64) -> Result<&[u8]> {
        let p = self.physical(logical)?;
        self.fs
            .read_raw(p * u64::from(self.fs.sb.block_size), &mut self.buf)?;
        Ok(&self.buf)
    }
}

/// One committed tag: target block, where its copy is, escaped, transaction sequence.
struct Tag {
    target: u64,
    copy: u64,
    escaped: bool,
    seq: u32,
}

/// Replays the journal in memory: the map of replaced blocks and the number of committed
/// transactions found.
pub fn replay<D: Disk>(fs: &Fs<D>) -> Result<(BTreeMap<u64, Copy>, u64)> {
    let sb = &fs.sb;
    if sb.compat & COMPAT_HAS_JOURNAL == 0 || sb.journal_inum == 0 {
        return Err(Error::Unsupported(
            "the filesystem needs recovery from an external journal device, which is not in \
             this image"
                .into(),
        ));
    }
    debug_assert!(sb.has_incompat(incompat::RECOVER));
    let jinode = fs.inode(sb.journal_inum)?;
    let mut runs = Vec::new();
    crate::map::for_each_run(fs, &jinode, |r: Run| {
        if runs.len() >= MAX_JOURNAL_RUNS {
            return Err(Error::Limit(format!(
                "the journal inode maps to more than {MAX_JOURNAL_RUNS} runs"
            )));
        }
        runs.push(r);
        Ok(())
    })?;
    let bs = sb.block_size as usize;
    let mut log = Log {
        fs,
        runs,
        buf: vec![0u8; bs],
    };
    let jsb = log.read(0)?.to_vec();
    let jtype = be32(&jsb, 4);
    if be32(&jsb, 0) != MAGIC || !(jtype == SUPERBLOCK_V1 || jtype == SUPERBLOCK_V2) {
        return Err(corrupt(
            "the journal superblock has no JBD2 magic".to_string(),
        ));
    }
    let jbs = be32(&jsb, 0x0C);
    let maxlen = u64::from(be32(&jsb, 0x10));
    let first = u64::from(be32(&jsb, 0x14));
    let mut seq = be32(&jsb, 0x18);
    let start = u64::from(be32(&jsb, 0x1C));
    let jincompat = if jtype == SUPERBLOCK_V2 {
        be32(&jsb, 0x28)
    } else {
        0
    };
    if jbs as usize != bs {
        return Err(corrupt(format!(
            "the journal's block size {jbs} differs from the filesystem's {bs}"
        )));
    }
    let journal_blocks = jinode.size / bs as u64;
    if maxlen > journal_blocks || first == 0 || first >= maxlen {
        return Err(corrupt(format!(
            "journal superblock: s_first {first}, s_maxlen {maxlen}; the journal has {journal_blocks} blocks"
        )));
    }
    let known = J_REVOKE | J_64BIT | J_ASYNC_COMMIT | J_CSUM_V2 | J_CSUM_V3 | J_FAST_COMMIT;
    if jincompat & !known != 0 {
        return Err(Error::Unsupported(format!(
            "the journal needs replay and has unknown incompatible features 0x{:x}",
            jincompat & !known
        )));
    }
    if start == 0 {
        return Ok((BTreeMap::new(), 0)); // clean: nothing to replay
    }
    if jincompat & J_FAST_COMMIT != 0 {
        return Err(Error::Unsupported(
            "the journal needs replay and uses fast commits (fast_commit), which this reader \
             does not replay"
                .into(),
        ));
    }
    if start < first || start >= maxlen {
        return Err(corrupt(format!(
            "journal s_start {start} outside {first}..{maxlen}"
        )));
    }
    let csum = jincompat & (J_CSUM_V2 | J_CSUM_V3) != 0;
    let bit64 = jincompat & J_64BIT != 0;
    let tag_bytes = if jincompat & J_CSUM_V3 != 0 {
        16
    } else {
        8 + if jincompat & J_CSUM_V2 != 0 { 2 } else { 0 } + if bit64 { 4 } else { 0 }
    };
    let tail = if csum { 4 } else { 0 };
    let next = |p: u64| if p + 1 >= maxlen { first } else { p + 1 };

    // Pass 1: committed transactions and revokes, walking at most the whole log once.
    let mut committed: Vec<Tag> = Vec::new();
    let mut pending: Vec<Tag> = Vec::new();
    let mut revoked: BTreeMap<u64, u32> = BTreeMap::new();
    let mut pending_revokes: Vec<u64> = Vec::new();
    let mut transactions = 0u64;
    let mut pos = start;
    let mut steps = 0u64;
    let log_len = maxlen - first;
    while steps < log_len {
        let b = log.read(pos)?;
        if be32(b, 0) != MAGIC || be32(b, 8) != seq {
            break;
        }
        let kind = be32(b, 4);
        steps += 1;
        match kind {
            DESCRIPTOR => {
                let b = b.to_vec();
                let mut at = 12;
                let end = bs - tail;
                let mut data = next(pos);
                while at + tag_bytes <= end {
                    let lo = u64::from(be32(&b, at));
                    let flags = if jincompat & J_CSUM_V3 != 0 {
                        be32(&b, at + 4)
                    } else {
                        u32::from(be16(&b, at + 6))
                    };
                    let hi = if bit64 {
                        u64::from(be32(&b, at + 8))
                    } else {
                        0
                    };
                    pending.push(Tag {
                        target: lo | hi << 32,
                        copy: log.physical(data)?,
                        escaped: flags & TAG_ESCAPE != 0,
                        seq,
                    });
                    data = next(data);
                    steps += 1;
                    at += tag_bytes;
                    if flags & TAG_SAME_UUID == 0 {
                        at += 16;
                    }
                    if flags & TAG_LAST != 0 || steps >= log_len {
                        break;
                    }
                }
                pos = data;
                continue;
            }
            COMMIT => {
                committed.append(&mut pending);
                for r in pending_revokes.drain(..) {
                    let e = revoked.entry(r).or_insert(seq);
                    *e = (*e).max(seq);
                }
                transactions += 1;
                seq = seq.wrapping_add(1);
            }
            REVOKE => {
                let count = (be32(b, 12) as usize).min(bs - tail);
                let rec = if bit64 { 8 } else { 4 };
                let mut at = 16;
                while at + rec <= count {
                    let blk = if bit64 {
                        u64::from(be32(b, at)) << 32 | u64::from(be32(b, at + 4))
                    } else {
                        u64::from(be32(b, at))
                    };
                    pending_revokes.push(blk);
                    at += rec;
                }
            }
            _ => break,
        }
        pos = next(pos);
    }

    // Pass 2: replay, oldest first; a revoke at sequence R cancels copies from <= R.
    let mut map = BTreeMap::new();
    for t in committed {
        if revoked.get(&t.target).is_some_and(|&r| seq_le(t.seq, r)) {
            continue;
        }
        if t.target >= sb.blocks_count {
            return Err(corrupt(format!(
                "journal transaction {} writes block {}, past the end ({} blocks)",
                t.seq, t.target, sb.blocks_count
            )));
        }
        map.insert(
            t.target,
            Copy {
                physical: t.copy,
                escaped: t.escaped,
            },
        );
    }
    Ok((map, transactions))
}

/// `a <= b` for sequence numbers that wrap (as `tid_geq` in the kernel).
fn seq_le(a: u32, b: u32) -> bool {
    (b.wrapping_sub(a) as i32) >= 0
}
