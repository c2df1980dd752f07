//! The first pass's look-ahead (see the crate's doc).

use std::ops::Range;

use ddgz_deflate::verify::{self, Capture};
use ddgz_image::Disk;

use crate::MAX_LOOKAHEAD_RUNS;

/// The first pass's capture, looking ahead (see the crate's doc): the validator runs on
/// what was decoded so far, and the ranges it read further on are kept as they go by.
pub(crate) struct Lookahead<'a> {
    pub(crate) capture: &'a mut Capture,
    pub(crate) allow: &'a [String],
    /// Run the validator once the stream has reached this offset.
    pub(crate) next: u64,
    pub(crate) runs: u32,
}

impl verify::Sink for Lookahead<'_> {
    fn write(&mut self, offset: u64, data: &[u8], _compressed: u64) -> verify::Result<()> {
        self.capture.keep(offset, data);
        if self.capture.seen() >= self.next {
            self.look();
        }
        Ok(())
    }
}

impl Lookahead<'_> {
    fn look(&mut self) {
        self.next = u64::MAX;
        let seen = self.capture.seen();
        let Some(size) = guessed_size(self.capture) else {
            return;
        };
        if self.runs >= MAX_LOOKAHEAD_RUNS {
            return;
        }
        self.runs += 1;
        let view = self.capture.view_so_far(size.max(seen));
        // Its findings do not count (it read zeros where it read ahead): its reads do.
        let _ = crate::layout::check(&view, self.allow);
        let ahead: Vec<Range<u64>> = view.misses().into_iter().filter(|m| m.end > seen).collect();
        drop(view);
        if !ahead.is_empty() && self.capture.want_ahead(&ahead) {
            // Again once the first of them has gone by: it may point further on.
            self.next = ahead.iter().map(|m| m.end).min().unwrap_or(u64::MAX);
        }
    }
}

/// The disk size the partition table of the head implies, before the stream's end says:
/// the GPT header's backup LBA, else the end of the furthest MBR partition (the layout
/// crate's parsers, on what was kept so far).
pub(crate) fn guessed_size(capture: &Capture) -> Option<u64> {
    const SECTOR: u64 = 512;
    let view = capture.view_so_far(u64::MAX);
    let mut head = [0u8; 2 * SECTOR as usize];
    view.read_at(0, &mut head).ok()?;
    if !view.misses().is_empty() {
        return None;
    }
    if let Ok(h) = ddgz_layout::gpt::parse_header(&head[SECTOR as usize..], 1, u64::MAX) {
        return h.alternate_lba.checked_add(1)?.checked_mul(SECTOR);
    }
    let mbr = ddgz_layout::mbr::read_mbr(&view).ok()??;
    let end = mbr
        .entries
        .iter()
        .filter_map(|e| e.first_lba.checked_add(e.sectors))
        .max()?;
    (end > 0).then_some(end.checked_mul(SECTOR)?)
}
