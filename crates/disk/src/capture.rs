//! Keeping the few ranges of a disk that arrives as a stream (a decompressed `.dd.gz`)
//! that a reader needs, so that it can be validated or browsed without holding the disk:
//! see [`Capture`].

use std::collections::BTreeMap;
use std::ops::Range;
use std::sync::Mutex;

use crate::{Disk, Extent, ExtentKind};

/// Index of the first non-zero byte of `buf`, scanning a machine word at a time.
pub fn first_nonzero(buf: &[u8]) -> Option<usize> {
    // SAFETY: every bit pattern is a valid u64.
    let (head, words, _) = unsafe { buf.align_to::<u64>() };
    if let Some(i) = head.iter().position(|&b| b != 0) {
        return Some(i);
    }
    let mut base = head.len();
    for block in words.chunks(16) {
        if block.iter().fold(0, |acc, &w| acc | w) != 0 {
            let w = block.iter().position(|&w| w != 0).unwrap_or(0);
            let start = base + w * 8;
            return buf[start..start + 8]
                .iter()
                .position(|&b| b != 0)
                .map(|i| start + i);
        }
        base += block.len() * 8;
    }
    buf[base..].iter().position(|&b| b != 0).map(|i| base + i)
}

/// Granularity of captured ranges: what a validator asks for is widened to this, so that
/// neighbouring reads (a FAT, its directories) come in one pass.
const CAPTURE_ALIGN: u64 = 256 * 1024;
/// Granularity of the zero map [`Capture`] keeps of the whole disk: one bit per block.
/// 2 KiB of map per GiB of disk.
const ZERO_BLOCK: u64 = 64 * 1024;
/// How much of the end of the stream [`Capture`] always keeps (the backup GPT lives in
/// the last 33 sectors; the disk size is only known once the stream has ended).
pub const CAPTURE_TAIL: u64 = 1024 * 1024;
/// How much of the start of the stream [`Capture`] keeps from the first pass on (MBR,
/// primary GPT).
pub const CAPTURE_HEAD: u64 = 1024 * 1024;

/// Keeps the parts of a decoded stream that a validator reads, so that the decompressed
/// disk can be validated without holding it.
///
/// The stream is sequential and the validator reads where it likes, so this works in
/// passes. Every pass keeps the head ([`CAPTURE_HEAD`]) and the tail ([`CAPTURE_TAIL`])
/// of the disk, the ranges asked for with [`Capture::want`], and a map of which 64 KiB
/// blocks are all zeros. The validator then runs on [`Capture::view`]: a [`Disk`] whose
/// extents are the zero map (as a sparse file's would be) and whose reads are served from
/// zero blocks and kept ranges; any other read is recorded and served as zeros, so that
/// one run learns every range it would need, not just the first. If a run needed nothing
/// that was missing, its findings are those of the real disk; otherwise the caller adds
/// [`CaptureView::misses`] with [`Capture::want`] and decodes the stream again. Memory is
/// bounded by `budget` (plus head, tail and the zero map).
///
/// Most of those passes can be saved by looking ahead: a validator run on
/// [`Capture::view_so_far`] while the stream is being decoded (the partition table is at
/// the head) learns which ranges further on it will read, and [`Capture::want_ahead`]
/// keeps them as they go by, in the same pass.
#[derive(Debug)]
pub struct Capture {
    /// Ranges to keep, sorted, disjoint, aligned to [`CAPTURE_ALIGN`].
    wanted: Vec<Range<u64>>,
    /// Kept bytes of the wanted ranges, in pieces of at most one [`ZERO_BLOCK`] keyed by
    /// their first byte (a block's start, or a wanted range's start inside it). A block
    /// of a wanted range seen so far with no piece is all zeros: zeros cost no memory, so
    /// the 64 MiB head of a disk of zeros (a `.dd.xz` bomb) holds nothing.
    kept: BTreeMap<u64, Vec<u8>>,
    /// The last [`CAPTURE_TAIL`] bytes of the stream: byte `o` is at `o % CAPTURE_TAIL`.
    tail: Vec<u8>,
    /// Bit `b` set: block `b` ([`ZERO_BLOCK`] bytes) holds a non-zero byte.
    nonzero: Vec<u64>,
    /// Decoded bytes seen so far in this pass.
    seen: u64,
    /// The furthest end seen in any pass: the disk's size once a pass has ended (the zero
    /// map and the tail describe the same stream in every pass, so they are kept).
    total: u64,
    budget: u64,
}

impl Capture {
    /// Keeps the head and tail of the stream, and at most `budget` bytes besides.
    pub fn new(budget: u64) -> Self {
        Self {
            wanted: std::iter::once(0..CAPTURE_HEAD).collect(),
            kept: BTreeMap::new(),
            tail: Vec::new(),
            nonzero: Vec::new(),
            seen: 0,
            total: 0,
            budget,
        }
    }

    /// Where the last wanted range ends: a later pass over the same stream may stop
    /// decoding there (the zero map and tail of an earlier complete pass stay valid).
    pub fn wanted_end(&self) -> u64 {
        self.wanted.last().map_or(0, |r| r.end)
    }

    /// Decoded bytes seen so far in this pass.
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// Asks for the parts of `ranges` still ahead in this pass (at or after
    /// [`Capture::seen`]) to be kept as they go by, keeping what was kept so far (widened
    /// to 256 KiB, but never back past what was seen). Returns false, changing nothing,
    /// when that would exceed the budget.
    pub fn want_ahead(&mut self, ranges: &[Range<u64>]) -> bool {
        let mut all = self.wanted.clone();
        for r in ranges {
            let start = (r.start / CAPTURE_ALIGN * CAPTURE_ALIGN).max(self.seen);
            let end = r.end.div_ceil(CAPTURE_ALIGN).saturating_mul(CAPTURE_ALIGN);
            if start < end {
                all.push(start..end);
            }
        }
        let Some(merged) = self.merge(all) else {
            return false;
        };
        // A kept range's bytes grow at its end, from its start: a range that merged with
        // one behind `seen` continues it, and one that starts ahead has nothing yet.
        self.wanted = merged;
        true
    }

    /// `ranges` sorted and merged, or `None` if they exceed the budget.
    fn merge(&self, mut all: Vec<Range<u64>>) -> Option<Vec<Range<u64>>> {
        all.sort_by_key(|r| r.start);
        let mut merged: Vec<Range<u64>> = Vec::new();
        for r in all {
            match merged.last_mut() {
                Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
                _ => merged.push(r),
            }
        }
        let bytes = merged.iter().map(|r| r.end - r.start).sum::<u64>();
        (bytes <= self.budget + CAPTURE_HEAD).then_some(merged)
    }

    /// Bytes the wanted ranges add up to.
    pub fn wanted_bytes(&self) -> u64 {
        self.wanted.iter().map(|r| r.end - r.start).sum()
    }

    /// Asks for `ranges` to be kept on the next pass (widened to 256 KiB). Returns false,
    /// changing nothing, when that would exceed the budget.
    pub fn want(&mut self, ranges: &[Range<u64>]) -> bool {
        let mut all = self.wanted.clone();
        for r in ranges {
            let start = r.start / CAPTURE_ALIGN * CAPTURE_ALIGN;
            let end = r.end.div_ceil(CAPTURE_ALIGN).saturating_mul(CAPTURE_ALIGN);
            all.push(start..end.max(start));
        }
        let Some(merged) = self.merge(all) else {
            return false;
        };
        self.wanted = merged;
        self.kept.clear();
        self.seen = 0;
        true
    }

    /// A disk made of the kept bytes, `size` bytes long (the stream's decoded length).
    pub fn view(&self, size: u64) -> CaptureView<'_> {
        CaptureView {
            capture: self,
            size,
            known: u64::MAX,
            misses: Mutex::new(Vec::new()),
        }
    }

    /// The same during a pass, on a guessed `size`: what lies past [`Capture::seen`] is
    /// data not kept (its reads are misses), not zeros.
    pub fn view_so_far(&self, size: u64) -> CaptureView<'_> {
        CaptureView {
            capture: self,
            size,
            known: self.seen,
            misses: Mutex::new(Vec::new()),
        }
    }

    /// Whether block `b` was seen to be all zeros.
    fn zero_block(&self, b: u64) -> bool {
        let (w, bit) = ((b / 64) as usize, b % 64);
        self.nonzero.get(w).is_none_or(|x| x & (1 << bit) == 0)
    }

    /// Copies the bytes at `[offset, offset + buf.len())` into `buf` from the kept ranges
    /// or the tail; false if they were not all kept.
    fn read_kept(&self, offset: u64, buf: &mut [u8]) -> bool {
        let end = offset + buf.len() as u64;
        if offset >= self.total.saturating_sub(CAPTURE_TAIL) && end <= self.total {
            ring_read(&self.tail, offset, buf);
            return true;
        }
        // Kept: inside one wanted range, and seen in this pass.
        let i = self.wanted.partition_point(|r| r.end <= offset);
        let Some(r) = self.wanted.get(i) else {
            return false;
        };
        if r.start > offset || end > r.end || end > self.seen {
            return false;
        }
        buf.fill(0);
        let from = offset / ZERO_BLOCK * ZERO_BLOCK;
        for (&start, data) in self.kept.range(from..end) {
            let a = start.max(offset);
            let b = (start + data.len() as u64).min(end);
            if a < b {
                buf[(a - offset) as usize..(b - offset) as usize]
                    .copy_from_slice(&data[(a - start) as usize..(b - start) as usize]);
            }
        }
        true
    }
}

impl Capture {
    /// Takes the decoded bytes at `offset` of the disk; they must arrive in order, from 0.
    pub fn keep(&mut self, offset: u64, data: &[u8]) {
        let end = offset + data.len() as u64;
        let first = self.wanted.partition_point(|r| r.end <= offset);
        for r in &self.wanted[first..] {
            if r.start >= end {
                break;
            }
            let (from, to) = (r.start.max(offset), r.end.min(end));
            // Block by block; bytes arrive in order, so a block's piece grows at its end.
            let mut pos = from;
            while pos < to {
                let block = pos / ZERO_BLOCK * ZERO_BLOCK;
                let upto = (block + ZERO_BLOCK).min(to);
                let piece = &data[(pos - offset) as usize..(upto - offset) as usize];
                let key = block.max(r.start);
                if let Some(kept) = self.kept.get_mut(&key) {
                    kept.extend_from_slice(piece);
                } else if first_nonzero(piece).is_some() {
                    // The block's earlier bytes (if any) were zeros.
                    let mut kept = Vec::with_capacity((block + ZERO_BLOCK - key) as usize);
                    kept.resize((pos - key) as usize, 0);
                    kept.extend_from_slice(piece);
                    self.kept.insert(key, kept);
                }
                pos = upto;
            }
        }
        // The zero map.
        let mut pos = offset;
        while pos < end {
            let block = pos / ZERO_BLOCK;
            let upto = ((block + 1) * ZERO_BLOCK).min(end);
            let piece = &data[(pos - offset) as usize..(upto - offset) as usize];
            if first_nonzero(piece).is_some() {
                let w = (block / 64) as usize;
                if self.nonzero.len() <= w {
                    self.nonzero.resize(w + 1, 0);
                }
                self.nonzero[w] |= 1 << (block % 64);
            }
            pos = upto;
        }
        // The tail ring: only bytes within CAPTURE_TAIL of the furthest end seen can matter
        // (in a later pass, only those of the stream's last CAPTURE_TAIL bytes).
        if self.tail.is_empty() {
            self.tail = vec![0; CAPTURE_TAIL as usize];
        }
        self.total = self.total.max(end);
        let from = self.total.saturating_sub(CAPTURE_TAIL).max(offset);
        if from < end {
            let skip = (from - offset) as usize;
            ring_write(&mut self.tail, from, &data[skip..]);
        }
        self.seen = end;
    }
}

/// Writes `data` (at most the ring's length) into the ring at stream offset `offset`.
fn ring_write(ring: &mut [u8], offset: u64, data: &[u8]) {
    let at = (offset % ring.len() as u64) as usize;
    let first = data.len().min(ring.len() - at);
    ring[at..at + first].copy_from_slice(&data[..first]);
    ring[..data.len() - first].copy_from_slice(&data[first..]);
}

/// Reads `buf` (at most the ring's length) from the ring at stream offset `offset`.
fn ring_read(ring: &[u8], offset: u64, buf: &mut [u8]) {
    let at = (offset % ring.len() as u64) as usize;
    let first = buf.len().min(ring.len() - at);
    let n = buf.len();
    buf[..first].copy_from_slice(&ring[at..at + first]);
    buf[first..].copy_from_slice(&ring[..n - first]);
}

/// A [`Disk`] view of the bytes a [`Capture`] kept; see there.
#[derive(Debug)]
pub struct CaptureView<'a> {
    capture: &'a Capture,
    size: u64,
    /// Blocks that start at or past this have not been decoded yet.
    known: u64,
    misses: Mutex<Vec<Range<u64>>>,
}

impl CaptureView<'_> {
    /// Whether block `b` is known to be all zeros.
    fn zero_block(&self, b: u64) -> bool {
        b.saturating_mul(ZERO_BLOCK).saturating_add(ZERO_BLOCK) <= self.known
            && self.capture.zero_block(b)
    }
}

impl CaptureView<'_> {
    /// The ranges read that had not been kept (their bytes were served as zeros).
    pub fn misses(&self) -> Vec<Range<u64>> {
        self.misses
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}

impl Disk for CaptureView<'_> {
    fn size(&self) -> u64 {
        self.size
    }

    fn extents(&self, offset: u64, len: u64) -> crate::Result<Vec<Extent>> {
        crate::check_range(self.size, offset, len)?;
        let end = offset + len;
        let mut out: Vec<Extent> = Vec::new();
        let mut pos = offset;
        while pos < end {
            let block = pos / ZERO_BLOCK;
            let upto = ((block + 1) * ZERO_BLOCK).min(end);
            let kind = if self.zero_block(block) {
                ExtentKind::Zero
            } else {
                ExtentKind::Data
            };
            match out.last_mut() {
                Some(last) if last.kind == kind => last.len += upto - pos,
                _ => out.push(Extent {
                    offset: pos,
                    len: upto - pos,
                    kind,
                }),
            }
            pos = upto;
        }
        Ok(out)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> crate::Result<()> {
        crate::check_range(self.size, offset, buf.len() as u64)?;
        if buf.is_empty() || self.capture.read_kept(offset, buf) {
            return Ok(());
        }
        // Block by block: zero blocks read as zeros, others from what was kept.
        let end = offset + buf.len() as u64;
        let mut pos = offset;
        while pos < end {
            let block = pos / ZERO_BLOCK;
            let upto = ((block + 1) * ZERO_BLOCK).min(end);
            let piece = &mut buf[(pos - offset) as usize..(upto - offset) as usize];
            if self.zero_block(block) {
                piece.fill(0);
            } else if !self.capture.read_kept(pos, piece) {
                piece.fill(0);
                let mut m = self.misses.lock().unwrap_or_else(|p| p.into_inner());
                match m.last_mut() {
                    Some(last) if last.end == pos => last.end = upto,
                    _ => m.push(pos..upto),
                }
            }
            pos = upto;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_head_tail_and_wanted_ranges() {
        let mut d = vec![0u8; 4 << 20];
        for (i, b) in d.iter_mut().enumerate().skip(2 << 20).take(100_000) {
            *b = (i % 251) as u8 | 1;
        }
        let size = d.len() as u64;
        let feed = |c: &mut Capture| {
            for (i, piece) in d.chunks(100_000).enumerate() {
                c.keep(i as u64 * 100_000, piece);
            }
        };
        let mut c = Capture::new(1 << 20);
        feed(&mut c);
        let mut buf = [0u8; 64];
        {
            let v = c.view(size);
            v.read_at(size - 64, &mut buf).unwrap();
            assert_eq!(&buf[..], &d[d.len() - 64..]);
            v.read_at((2 << 20) + 10, &mut buf).unwrap();
            assert_eq!(buf, [0; 64], "not kept: served as zeros");
            assert_eq!(v.misses(), vec![(2 << 20) + 10..(2 << 20) + 74]);
            let m = v.misses();
            assert!(c.want(&m));
        }
        feed(&mut c);
        let v = c.view(size);
        v.read_at((2 << 20) + 10, &mut buf).unwrap();
        assert_eq!(&buf[..], &d[(2 << 20) + 10..(2 << 20) + 74]);
        assert!(v.misses().is_empty());
        assert_eq!(first_nonzero(&d), Some(2 << 20));
    }

    #[test]
    fn ranges_wanted_ahead_are_kept_in_the_same_pass() {
        let mut d = vec![0u8; 16 << 20];
        for (i, b) in d.iter_mut().enumerate().skip(4 << 20).take(3 << 20) {
            *b = (i % 251) as u8 | 1;
        }
        d[100] = 9;
        let size = d.len() as u64;
        let mut c = Capture::new(2 << 20);
        let pieces: Vec<(u64, &[u8])> = d
            .chunks(100_000)
            .enumerate()
            .map(|(i, p)| (i as u64 * 100_000, p))
            .collect();
        let mut it = pieces.iter();
        // Decode the first 5 MB.
        for (at, p) in it.by_ref().take(50) {
            c.keep(*at, p);
        }
        assert_eq!(c.seen(), 5_000_000);
        let mut buf = [0u8; 100];
        {
            // Past what was seen: misses, and extents say data, not zeros.
            let v = c.view_so_far(size);
            v.read_at(6 << 20, &mut buf).unwrap();
            assert_eq!(v.misses(), vec![(6 << 20)..(6 << 20) + 100]);
            let e = v.extents(5 << 20, 2 << 20).unwrap();
            assert!(e.iter().all(|x| x.kind == ExtentKind::Data), "{e:?}");
            assert_eq!(
                v.extents(8 << 20, 1 << 20).unwrap()[0].kind,
                ExtentKind::Data
            );
            // Seen zeros are zeros; the head is kept.
            assert_eq!(
                v.extents(2 << 20, 1 << 20).unwrap()[0].kind,
                ExtentKind::Zero
            );
            v.read_at(50, &mut buf).unwrap();
            assert_eq!(buf[50], 9);
        }
        // Wanted ahead (one range starting behind `seen`: only its part ahead is kept).
        assert!(c.want_ahead(&[(6 << 20)..(6 << 20) + 100, 4_900_000..5_300_000]));
        assert!(
            !c.want_ahead(std::slice::from_ref(&((8 << 20)..(15 << 20)))),
            "over the budget"
        );
        for (at, p) in it {
            c.keep(*at, p);
        }
        let v = c.view(size);
        v.read_at(6 << 20, &mut buf).unwrap();
        assert_eq!(&buf[..], &d[6 << 20..(6 << 20) + 100]);
        v.read_at(5_000_000, &mut buf).unwrap();
        assert_eq!(&buf[..], &d[5_000_000..5_000_100]);
        assert!(v.misses().is_empty(), "{:?}", v.misses());
        // The part behind was not kept: a miss.
        v.read_at(4_950_000, &mut buf).unwrap();
        assert_eq!(v.misses().len(), 1);
    }

    #[test]
    fn later_passes_may_stop_after_the_last_wanted_range() {
        let mut d = vec![0u8; 8 << 20];
        for (i, b) in d.iter_mut().enumerate().skip(3 << 20).take(300_000) {
            *b = (i % 13) as u8 | 1;
        }
        d[(8 << 20) - 1] = 7;
        let size = d.len() as u64;
        let mut c = Capture::new(1 << 20);
        for (i, piece) in d.chunks(65_536).enumerate() {
            c.keep(i as u64 * 65_536, piece);
        }
        assert!(c.want(std::slice::from_ref(&((3 << 20)..(3 << 20) + 1000))));
        let stop = c.wanted_end();
        assert!(stop < size / 2);
        // Pass 2 stops at the last wanted byte: the tail and the zero map of pass 1 hold.
        for (i, piece) in d.chunks(65_536).enumerate() {
            let at = i as u64 * 65_536;
            if at >= stop {
                break;
            }
            c.keep(at, piece);
        }
        let v = c.view(size);
        let mut buf = [0u8; 100];
        v.read_at((3 << 20) + 500, &mut buf).unwrap();
        assert_eq!(&buf[..], &d[(3 << 20) + 500..(3 << 20) + 600]);
        v.read_at(size - 100, &mut buf).unwrap();
        assert_eq!(&buf[..], &d[d.len() - 100..]);
        let e = v.extents(0, size).unwrap();
        assert_eq!(e.iter().filter(|x| x.kind == ExtentKind::Data).count(), 2);
        assert!(v.misses().is_empty());
    }
}
