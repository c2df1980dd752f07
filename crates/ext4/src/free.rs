//! The free blocks of an ext2/3/4 filesystem as byte ranges, for `convert --zero-free`:
//! what the block bitmaps say no file, directory, journal or metadata uses.
//!
//! Only a clean filesystem gives ranges. From the superblock as it is on disk (not as a
//! journal replay would make it): `s_state` (0x3A) must say "cleanly unmounted" (bit 0)
//! and not "errors detected" (bit 1), `needs_recovery` (incompat 0x4) must be clear, and
//! bigalloc (ro_compat 0x200: a bitmap bit is a cluster) is not handled. Then, group by
//! group (one bitmap block in memory at a time): the descriptor gives the block bitmap
//! (`bg_block_bitmap` lo 0x00, hi 0x20), `bg_flags` (0x12) and the free count
//! (`bg_free_blocks_count` lo 0x0C, hi 0x2C). A group whose bitmap is not initialised
//! (`BLOCK_UNINIT`, under uninit_bg or metadata_csum) is left as it is: its bitmap would
//! have to be computed from every group's metadata placement (flex_bg puts other groups'
//! bitmaps and inode tables in it), and a group never written holds nothing to clear. The
//! count of clear bits must equal the descriptor's free count, else the filesystem is
//! inconsistent and gives nothing. Metadata (superblock copies, descriptors, bitmaps,
//! inode tables, the journal) is always marked in use, so it is never among the ranges.

use std::ops::Range;

use ddgz_disk::bytes::{le16, le32};

use crate::error::{corrupt, within};
use crate::superblock::{incompat, SUPERBLOCK_LEN, SUPERBLOCK_OFFSET};
use crate::{Fs, Result, RO_COMPAT_GDT_CSUM, RO_COMPAT_METADATA_CSUM};
use ddgz_disk::Disk;

/// `bg_flags`: the group's block bitmap is not initialised.
const BG_BLOCK_UNINIT: u16 = 0x2;
/// `s_feature_ro_compat`: bigalloc (bitmaps count clusters of blocks).
const RO_COMPAT_BIGALLOC: u32 = 0x200;
/// `s_state` bits.
const STATE_VALID: u16 = 0x1;
const STATE_ERROR: u16 = 0x2;

/// What the free-space walk found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FreeSpace {
    /// The free ranges were given to the caller.
    Listed {
        /// Bytes in them.
        bytes: u64,
        /// Groups left as they are because their bitmap is not initialised.
        uninit_groups: u32,
    },
    /// The filesystem is not clean (or not handled): nothing was given, and why.
    Unclean(String),
}

impl<D: Disk> Fs<D> {
    /// Gives `emit` every run of free blocks, as byte ranges from the start of the
    /// filesystem, in ascending order, adjacent runs merged. A filesystem that is not
    /// clean gives nothing ([`FreeSpace::Unclean`]); a corrupt one is an error. Unless the
    /// answer is [`FreeSpace::Listed`], what `emit` was given must be dropped (a group
    /// found inconsistent ends the walk part way).
    pub fn free_space(&self, emit: &mut dyn FnMut(Range<u64>)) -> Result<FreeSpace> {
        let mut raw = vec![0u8; SUPERBLOCK_LEN];
        self.read_raw(SUPERBLOCK_OFFSET, &mut raw)?;
        let state = le16(&raw, 0x3A);
        let on_disk_incompat = le32(&raw, 0x60);
        if on_disk_incompat & incompat::RECOVER != 0 || self.replayed_transactions > 0 {
            return Ok(FreeSpace::Unclean(
                "needs_recovery: its journal holds transactions not yet written home".into(),
            ));
        }
        if state & STATE_ERROR != 0 {
            return Ok(FreeSpace::Unclean(
                "its superblock says errors were detected (s_state)".into(),
            ));
        }
        if state & STATE_VALID == 0 {
            return Ok(FreeSpace::Unclean(
                "its superblock says it was not cleanly unmounted (s_state)".into(),
            ));
        }
        let sb = &self.sb;
        if sb.ro_compat & RO_COMPAT_BIGALLOC != 0 {
            return Ok(FreeSpace::Unclean(
                "bigalloc (bitmaps of clusters) is not handled".into(),
            ));
        }
        let csum = sb.ro_compat & (RO_COMPAT_GDT_CSUM | RO_COMPAT_METADATA_CSUM) != 0;
        let bs = u64::from(sb.block_size);
        let per_group = u64::from(sb.blocks_per_group);
        let mut bitmap = vec![0u8; bs as usize];
        let mut desc = vec![0u8; bs as usize];
        let mut desc_block = None;
        let mut run: Option<Range<u64>> = None;
        let mut total = 0u64;
        let mut uninit_groups = 0;
        for g in 0..sb.groups {
            let (block, off) = sb.descriptor_location(g);
            if desc_block != Some(block) {
                self.read_block(block, &mut desc)
                    .map_err(|e| within(e, || format!("group descriptor {g} in block {block}")))?;
                desc_block = Some(block);
            }
            let d = &desc[off as usize..off as usize + usize::from(sb.desc_size)];
            let big = sb.desc_size >= 64;
            let hi32 = |at: usize| if big { u64::from(le32(d, at)) << 32 } else { 0 };
            let hi16 = |at: usize| if big { u64::from(le16(d, at)) << 16 } else { 0 };
            let flags = le16(d, 0x12);
            if csum && flags & BG_BLOCK_UNINIT != 0 {
                uninit_groups += 1;
                continue;
            }
            let bitmap_block = u64::from(le32(d, 0x00)) | hi32(0x20);
            let free_count = u64::from(le16(d, 0x0C)) | hi16(0x2C);
            let first = sb.group_first_block(g);
            let blocks = sb.blocks_count.saturating_sub(first).min(per_group);
            if bitmap_block < u64::from(sb.first_data_block) || bitmap_block >= sb.blocks_count {
                return Err(corrupt(format!(
                    "group {g}: block bitmap at block {bitmap_block}, outside the filesystem \
                     ({} blocks)",
                    sb.blocks_count
                )));
            }
            self.read_block(bitmap_block, &mut bitmap)
                .map_err(|e| within(e, || format!("group {g}'s block bitmap")))?;
            if blocks > bs * 8 {
                return Err(corrupt(format!(
                    "group {g}: {blocks} blocks, more than a {bs}-byte bitmap holds"
                )));
            }
            // Count first: a group that disagrees with its descriptor gives nothing.
            let clear = (0..blocks)
                .filter(|&i| bitmap[(i / 8) as usize] & (1 << (i % 8)) == 0)
                .count() as u64;
            if clear != free_count {
                return Ok(FreeSpace::Unclean(format!(
                    "group {g}: its block bitmap has {clear} free blocks, its descriptor says \
                     {free_count} (inconsistent: run e2fsck)"
                )));
            }
            for i in 0..blocks {
                if bitmap[(i / 8) as usize] & (1 << (i % 8)) != 0 {
                    continue;
                }
                let at = (first + i) * bs;
                match &mut run {
                    Some(r) if r.end == at => r.end = at + bs,
                    _ => {
                        if let Some(r) = run.replace(at..at + bs) {
                            total += r.end - r.start;
                            emit(r);
                        }
                    }
                }
            }
        }
        if let Some(r) = run.take() {
            total += r.end - r.start;
            emit(r);
        }
        Ok(FreeSpace::Listed {
            bytes: total,
            uninit_groups,
        })
    }
}
