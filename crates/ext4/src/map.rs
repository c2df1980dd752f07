//! Where a file's blocks are: the extent tree (ext4) or the block map (ext2/3).
//!
//! Extent tree (`Documentation/filesystems/ext4/ifork.rst`): a 12-byte header (magic
//! 0xF30A, entries, max, depth) then 12-byte entries — index entries (`ei_block`,
//! `ei_leaf_lo`, `ei_leaf_hi`) above leaves (`ee_block`, `ee_len`, `ee_start_hi`,
//! `ee_start_lo`; a length above 32768 marks an unwritten extent). The root sits in
//! `i_block`. The walk checks that depth strictly descends, every node below the root is
//! non-empty and every key strictly advances inside its parent's range: so no node can
//! be visited twice and no walk can loop.
//!
//! Block map: 12 direct pointers, then single, double and triple indirect blocks of
//! 32-bit pointers; 0 is a hole. Fixed depth, so finite by construction.

use crate::error::{self, corrupt, Error, Result};
use crate::inode::{Inode, FLAG_EXTENTS, FLAG_INLINE_DATA};
use crate::Fs;
use ddgz_disk::bytes::{le16, le32};
use ddgz_disk::Disk;

pub use ddgz_fs::Run;

const EXTENT_MAGIC: u16 = 0xF30A;
/// Deepest extent tree the kernel builds (`EXT4_MAX_EXTENT_DEPTH`).
const MAX_DEPTH: u16 = 5;
/// `ee_len` above this marks an unwritten extent (`EXT_INIT_MAX_LEN`).
const INIT_MAX_LEN: u16 = 32768;

struct Walk<'a, D: Disk, F> {
    fs: &'a Fs<D>,
    ino: u32,
    /// Logical blocks of the file (its size, rounded up): runs are clipped to it.
    limit: u64,
    /// Next logical block a run may start at.
    next: u64,
    /// Blocks mapped so far: a file cannot map more than the filesystem holds.
    mapped: u64,
    pending: Option<Run>,
    f: F,
}

impl<D: Disk, F, E> Walk<'_, D, F>
where
    F: FnMut(Run) -> Result<(), E>,
    E: From<Error>,
{
    /// Emits `r` (clipped to the file), merged with the pending run when contiguous.
    fn push(&mut self, r: Run) -> Result<(), E> {
        let blocks = self.fs.sb.blocks_count;
        if r.len == 0 || r.physical.checked_add(r.len).is_none_or(|e| e > blocks) || r.physical == 0
        {
            return Err(corrupt(format!(
                "inode {}: logical block {} maps to blocks {}..+{} outside the filesystem ({blocks} blocks)",
                self.ino, r.logical, r.physical, r.len
            ))
            .into());
        }
        if r.logical < self.next {
            return Err(corrupt(format!(
                "inode {}: mapping of logical block {} overlaps or goes back (next expected {})",
                self.ino, r.logical, self.next
            ))
            .into());
        }
        self.next = r.logical + r.len;
        if r.logical >= self.limit {
            return Ok(());
        }
        let r = Run {
            len: r.len.min(self.limit - r.logical),
            ..r
        };
        self.mapped += r.len;
        if self.mapped > blocks {
            return Err(corrupt(format!(
                "inode {} maps more blocks than the filesystem has ({blocks})",
                self.ino
            ))
            .into());
        }
        match &mut self.pending {
            Some(p)
                if p.logical + p.len == r.logical
                    && p.physical + p.len == r.physical
                    && p.unwritten == r.unwritten =>
            {
                p.len += r.len;
            }
            _ => {
                if let Some(p) = self.pending.replace(r) {
                    (self.f)(p)?;
                }
            }
        }
        Ok(())
    }

    /// Walks the extent node `node` (header + entries) whose keys must lie in
    /// `[lo, hi)`; `depth` is what the header must say (`None` for the root).
    fn extent_node(&mut self, node: &[u8], depth: Option<u16>, lo: u64, hi: u64) -> Result<(), E> {
        let ino = self.ino;
        let bad = |m: String| -> E { corrupt(format!("inode {ino}: extent tree: {m}")).into() };
        if node.len() < 12 || le16(node, 0) != EXTENT_MAGIC {
            return Err(bad(format!(
                "node without the 0xF30A magic (depth {depth:?})"
            )));
        }
        let entries = le16(node, 2);
        let max = le16(node, 4);
        let d = le16(node, 6);
        let capacity = (node.len() - 12) / 12;
        if usize::from(max) > capacity || entries > max {
            return Err(bad(format!(
                "{entries} entries, max {max}; the node holds {capacity}"
            )));
        }
        match depth {
            None if d > MAX_DEPTH => return Err(bad(format!("depth {d}; at most {MAX_DEPTH}"))),
            Some(want) if d != want => {
                return Err(bad(format!(
                    "a node of depth {d} under one of depth {}",
                    want + 1
                )))
            }
            Some(_) if entries == 0 => return Err(bad("an empty node below the root".into())),
            _ => {}
        }
        let bs = self.fs.sb.block_size as usize;
        let mut prev: Option<u64> = None;
        let mut child = Vec::new();
        for i in 0..usize::from(entries) {
            let e = &node[12 + 12 * i..24 + 12 * i];
            let key = u64::from(le32(e, 0));
            if key < lo || key >= hi || prev.is_some_and(|p| key <= p) {
                return Err(bad(format!(
                    "key {key} out of order or outside its parent's range {lo}..{hi}"
                )));
            }
            prev = Some(key);
            if d == 0 {
                let raw_len = le16(e, 4);
                let (len, unwritten) = if raw_len > INIT_MAX_LEN {
                    (raw_len - INIT_MAX_LEN, true)
                } else {
                    (raw_len, false)
                };
                let physical = u64::from(le32(e, 8)) | u64::from(le16(e, 6)) << 32;
                if key + u64::from(len) > hi {
                    return Err(bad(format!(
                        "extent {key}+{len} runs past its parent's range {lo}..{hi}"
                    )));
                }
                self.push(Run {
                    logical: key,
                    physical,
                    len: u64::from(len),
                    unwritten,
                })?;
            } else {
                let next_key = if i + 1 < usize::from(entries) {
                    u64::from(le32(&node[24 + 12 * i..], 0))
                } else {
                    hi
                };
                if key >= self.limit {
                    // Beyond the end of the file (preallocated): nothing to read there.
                    return Ok(());
                }
                let block = u64::from(le32(e, 4)) | u64::from(le16(e, 8)) << 32;
                child.resize(bs, 0);
                self.fs.read_block(block, &mut child).map_err(|err| -> E {
                    error::within(err, || {
                        format!("inode {ino}: extent tree: index block {block}")
                    })
                    .into()
                })?;
                let c = std::mem::take(&mut child);
                self.extent_node(&c, Some(d - 1), key, next_key.max(key + 1))?;
                child = c;
            }
        }
        Ok(())
    }

    /// Walks the block map: `ptrs` are the pointers of one level, covering logical blocks
    /// from `first`, each spanning `span` blocks (1 for data, ×P per indirection).
    fn block_map(&mut self, ptrs: &[u8], first: u64, span: u64) -> Result<(), E> {
        let bs = self.fs.sb.block_size as usize;
        let per_block = (bs / 4) as u64;
        let mut buf = Vec::new();
        for (i, p) in ptrs.chunks_exact(4).enumerate() {
            let logical = first + i as u64 * span;
            if logical >= self.limit {
                break;
            }
            let block = u64::from(le32(p, 0));
            if block == 0 {
                continue; // a hole
            }
            if span == 1 {
                self.push(Run {
                    logical,
                    physical: block,
                    len: 1,
                    unwritten: false,
                })?;
            } else {
                buf.resize(bs, 0);
                self.fs.read_block(block, &mut buf).map_err(|e| -> E {
                    error::within(e, || format!("inode {}: indirect block {block}", self.ino))
                        .into()
                })?;
                let b = std::mem::take(&mut buf);
                self.block_map(&b, logical, span / per_block)?;
                buf = b;
            }
        }
        Ok(())
    }
}

/// Calls `f` with the runs of `inode`'s blocks below its size, in logical order,
/// contiguous runs merged.
pub fn for_each_run<D: Disk, E: From<Error>>(
    fs: &Fs<D>,
    inode: &Inode,
    f: impl FnMut(Run) -> Result<(), E>,
) -> Result<(), E> {
    if inode.has_flag(FLAG_INLINE_DATA) {
        return Ok(());
    }
    let bs = u64::from(fs.sb.block_size);
    let mut w = Walk {
        fs,
        ino: inode.ino,
        limit: inode.size.div_ceil(bs),
        next: 0,
        mapped: 0,
        pending: None,
        f,
    };
    if inode.has_flag(FLAG_EXTENTS) {
        w.extent_node(&inode.block, None, 0, 1 << 32)?;
    } else {
        let p = bs / 4;
        w.block_map(&inode.block[..48], 0, 1)?;
        w.block_map(&inode.block[48..52], 12, p)?;
        w.block_map(&inode.block[52..56], 12 + p, p * p)?;
        w.block_map(&inode.block[56..60], 12 + p + p * p, p * p * p)?;
    }
    if let Some(p) = w.pending.take() {
        (w.f)(p)?;
    }
    Ok(())
}
