//! A disk with some byte ranges read as zeros: the free space of its filesystems under
//! `--zero-free`. The ranges become [`ExtentKind::Zero`] extents, so the compressor never
//! reads them and writes them at the cost of zeros (nothing); the base disk is never
//! written.

use std::ops::Range;

use ddgz_disk::{check_range, push_merged, Disk, Extent, ExtentKind, FileId, Result};

/// `base` with `ranges` reading as zeros.
#[derive(Debug)]
pub struct Zeroed<D> {
    base: D,
    /// Sorted, disjoint, non-empty, inside the disk.
    ranges: Vec<Range<u64>>,
}

impl<D: Disk> Zeroed<D> {
    /// `base` with `ranges` (any order; overlapping and touching ones are merged) read
    /// as zeros. Fails if a range does not lie inside the disk.
    pub fn new(base: D, mut ranges: Vec<Range<u64>>) -> Result<Self> {
        ranges.retain(|r| r.start < r.end);
        ranges.sort_by_key(|r| r.start);
        let mut merged: Vec<Range<u64>> = Vec::with_capacity(ranges.len());
        for r in ranges {
            check_range(base.size(), r.start, r.end - r.start)?;
            match merged.last_mut() {
                Some(last) if last.end >= r.start => last.end = last.end.max(r.end),
                _ => merged.push(r),
            }
        }
        Ok(Self {
            base,
            ranges: merged,
        })
    }

    /// Bytes read as zeros.
    pub fn zeroed_bytes(&self) -> u64 {
        self.ranges.iter().map(|r| r.end - r.start).sum()
    }

    /// The ranges intersecting `[offset, end)`.
    fn touching(&self, offset: u64, end: u64) -> &[Range<u64>] {
        let first = self.ranges.partition_point(|r| r.end <= offset);
        let last = self.ranges.partition_point(|r| r.start < end);
        &self.ranges[first..last.max(first)]
    }

    /// `extents` with the zeroed ranges made zero.
    fn carve(&self, extents: Vec<Extent>) -> Vec<Extent> {
        let (Some(first), Some(last)) = (extents.first(), extents.last()) else {
            return extents;
        };
        if self.touching(first.offset, last.end()).is_empty() {
            return extents;
        }
        let mut out = Vec::with_capacity(extents.len() + 8);
        for e in extents {
            if e.kind == ExtentKind::Zero {
                push_merged(&mut out, e);
                continue;
            }
            let mut pos = e.offset;
            for r in self.touching(e.offset, e.end()) {
                let (s, t) = (r.start.max(pos), r.end.min(e.end()));
                let piece = |offset, end, kind| Extent {
                    offset,
                    len: end - offset,
                    kind,
                };
                push_merged(&mut out, piece(pos, s, ExtentKind::Data));
                push_merged(&mut out, piece(s, t, ExtentKind::Zero));
                pos = t;
            }
            push_merged(
                &mut out,
                Extent {
                    offset: pos,
                    len: e.end() - pos,
                    kind: ExtentKind::Data,
                },
            );
        }
        out
    }
}

impl<D: Disk> Disk for Zeroed<D> {
    fn size(&self) -> u64 {
        self.base.size()
    }

    fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>> {
        Ok(self.carve(self.base.extents(offset, len)?))
    }

    fn extents_from(&self, offset: u64, len: u64) -> Result<Vec<Extent>> {
        Ok(self.carve(self.base.extents_from(offset, len)?))
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.base.read_at(offset, buf)?;
        let end = offset + buf.len() as u64;
        for r in self.touching(offset, end) {
            let (s, t) = (r.start.max(offset), r.end.min(end));
            buf[(s - offset) as usize..(t - offset) as usize].fill(0);
        }
        Ok(())
    }

    fn files(&self) -> Vec<FileId> {
        self.base.files()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ddgz_disk::MemoryDisk;

    #[test]
    fn zeroed_ranges_are_zero_extents_and_read_as_zeros() {
        let d = Zeroed::new(
            MemoryDisk::new(vec![9u8; 100]),
            vec![60..70, 10..20, 15..30],
        )
        .unwrap();
        assert_eq!(d.zeroed_bytes(), 30);
        let ex: Vec<_> = d
            .extents(5, 90)
            .unwrap()
            .iter()
            .map(|e| (e.offset, e.len, e.kind))
            .collect();
        use ExtentKind::*;
        assert_eq!(
            ex,
            [
                (5, 5, Data),
                (10, 20, Zero),
                (30, 30, Data),
                (60, 10, Zero),
                (70, 25, Data)
            ]
        );
        let mut b = vec![1u8; 20];
        d.read_at(25, &mut b).unwrap();
        assert_eq!(&b[..5], &[0; 5]);
        assert_eq!(&b[5..], &[9; 15]);
        assert!(Zeroed::new(MemoryDisk::new(vec![0; 10]), vec![5..11, 0..1]).is_err());
    }
}
