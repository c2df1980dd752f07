//! The free clusters of an NTFS volume as byte ranges, for `convert --zero-free`: the
//! clear bits of `$Bitmap` (MFT record 6; bit `n` of byte `n / 8`, least significant
//! first, is cluster `n`). Every file, `$MFT`, `$LogFile` and the other metafiles have
//! their clusters set there, so none of them is ever among the ranges.
//!
//! Only a clean volume gives ranges: not dirty (`$VOLUME_INFORMATION` flag 0x0001), its
//! `$LogFile` clean (nothing Windows would replay), not hibernated (`hiberfil.sys` holding
//! a hibernation image, Fast Startup included: Windows would resume with its own idea of
//! what is free). `$Bitmap` is read in pieces: memory does not grow with the volume.

use std::ops::Range;

use ddgz_disk::Disk;

use crate::{error, Error, LogState, Result, Volume, BITMAP_RECORD};

/// Bytes of `$Bitmap` read at a time.
const PIECE: usize = 1 << 20;

/// What the free-space walk found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FreeSpace {
    /// The free ranges were given to the caller: this many bytes in all.
    Listed {
        /// Bytes of the free clusters.
        bytes: u64,
    },
    /// The volume is not clean: nothing was given, and why.
    Unclean(String),
}

impl<D: Disk> Volume<D> {
    /// Gives `emit` every run of free clusters, as byte ranges from the start of the
    /// volume, in ascending order, adjacent runs merged. A volume that is not clean gives
    /// nothing ([`FreeSpace::Unclean`]); a corrupt one is an error (and what `emit` was
    /// given must then be dropped).
    pub fn free_space(&self, emit: &mut dyn FnMut(Range<u64>)) -> Result<FreeSpace> {
        let facts = self.facts()?;
        if facts.dirty {
            return Ok(FreeSpace::Unclean(
                "the volume's dirty flag is set (chkdsk would run)".into(),
            ));
        }
        if facts.hibernated {
            return Ok(FreeSpace::Unclean(
                "Windows is hibernated on it (hiberfil.sys holds an image; Fast Startup)".into(),
            ));
        }
        match facts.log {
            LogState::Clean => {}
            LogState::NeedsReplay { lsn } => {
                return Ok(FreeSpace::Unclean(format!(
                    "its $LogFile holds work to replay (LSN {lsn})"
                )))
            }
            LogState::Unreadable(why) => {
                return Ok(FreeSpace::Unclean(format!(
                    "its $LogFile cannot be read: {why}"
                )))
            }
        }
        let f = self.file(BITMAP_RECORD)?;
        let s = self
            .data(&f, "")?
            .ok_or_else(|| error::corrupt("$Bitmap (MFT record 6) has no $DATA"))?;
        let total = self.boot().total_clusters;
        if s.len().saturating_mul(8) < total {
            return Err(error::corrupt(format!(
                "$Bitmap has {} bytes, fewer than its {total} clusters need",
                s.len()
            )));
        }
        let cs = u64::from(self.boot().cluster_size);
        let mut run: Option<Range<u64>> = None;
        let mut bytes = 0u64;
        self.for_each_piece(&s, PIECE, |at, b: &[u8]| {
            let keep = total.div_ceil(8).saturating_sub(at).min(b.len() as u64) as usize;
            for (i, &byte) in b[..keep].iter().enumerate() {
                if byte == 0xFF {
                    continue;
                }
                let first = (at + i as u64) * 8;
                for bit in 0..(total - first).min(8) {
                    if byte & (1 << bit) != 0 {
                        continue;
                    }
                    let off = (first + bit) * cs;
                    match &mut run {
                        Some(r) if r.end == off => r.end = off + cs,
                        _ => {
                            if let Some(r) = run.replace(off..off + cs) {
                                bytes += r.end - r.start;
                                emit(r);
                            }
                        }
                    }
                }
            }
            Ok::<(), Error>(())
        })?;
        if let Some(r) = run.take() {
            bytes += r.end - r.start;
            emit(r);
        }
        Ok(FreeSpace::Listed { bytes })
    }
}
