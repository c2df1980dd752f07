//! A disk with some byte ranges replaced, e.g. a FAT partition after files were added.
//! The base disk is never written: reads of a patched range come from memory.

use crate::extent::push_merged;
use crate::{check_range, Disk, Error, Extent, ExtentKind, Result};

/// Replacement bytes for `[offset, offset + data.len())`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patch {
    /// First guest byte replaced.
    pub offset: u64,
    /// The new bytes.
    pub data: Vec<u8>,
}

impl Patch {
    fn end(&self) -> u64 {
        self.offset + self.data.len() as u64
    }
}

/// `base` with `patches` applied on top.
#[derive(Debug)]
pub struct Overlay<D> {
    base: D,
    /// Sorted by offset, non-overlapping, non-empty.
    patches: Vec<Patch>,
}

impl<D: Disk> Overlay<D> {
    /// Builds the overlay. Patches must lie inside the disk and must not overlap.
    pub fn new(base: D, mut patches: Vec<Patch>) -> Result<Self> {
        patches.retain(|p| !p.data.is_empty());
        patches.sort_by_key(|p| p.offset);
        for p in &patches {
            check_range(base.size(), p.offset, p.data.len() as u64)?;
        }
        for w in patches.windows(2) {
            if w[0].end() > w[1].offset {
                return Err(Error::Overlay(format!(
                    "patches at offsets {} and {} overlap",
                    w[0].offset, w[1].offset
                )));
            }
        }
        Ok(Self { base, patches })
    }

    /// The disk underneath.
    pub fn base(&self) -> &D {
        &self.base
    }

    /// The patches, sorted by offset.
    pub fn patches(&self) -> &[Patch] {
        &self.patches
    }

    /// Patches intersecting `[offset, end)`.
    fn touching(&self, offset: u64, end: u64) -> &[Patch] {
        let first = self.patches.partition_point(|p| p.end() <= offset);
        let last = self.patches.partition_point(|p| p.offset < end);
        &self.patches[first..last.max(first)]
    }
}

impl<D: Disk> Disk for Overlay<D> {
    fn size(&self) -> u64 {
        self.base.size()
    }

    fn files(&self) -> Vec<crate::FileId> {
        self.base.files()
    }

    fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>> {
        let base = self.base.extents(offset, len)?;
        let end = offset + len;
        let patches = self.touching(offset, end);
        if patches.is_empty() {
            return Ok(base);
        }
        let mut out = Vec::with_capacity(base.len() + 2 * patches.len());
        let mut pi = 0;
        for e in base {
            let mut pos = e.offset;
            while pos < e.end() {
                // Skip patches entirely before pos.
                while pi < patches.len() && patches[pi].end() <= pos {
                    pi += 1;
                }
                match patches.get(pi) {
                    Some(p) if p.offset <= pos => {
                        let stop = p.end().min(e.end());
                        push_merged(
                            &mut out,
                            Extent {
                                offset: pos,
                                len: stop - pos,
                                kind: ExtentKind::Data,
                            },
                        );
                        pos = stop;
                    }
                    Some(p) if p.offset < e.end() => {
                        push_merged(
                            &mut out,
                            Extent {
                                offset: pos,
                                len: p.offset - pos,
                                kind: e.kind,
                            },
                        );
                        pos = p.offset;
                    }
                    _ => {
                        push_merged(
                            &mut out,
                            Extent {
                                offset: pos,
                                len: e.end() - pos,
                                kind: e.kind,
                            },
                        );
                        pos = e.end();
                    }
                }
            }
        }
        Ok(out)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.base.read_at(offset, buf)?;
        let end = offset + buf.len() as u64;
        for p in self.touching(offset, end) {
            let from = p.offset.max(offset);
            let to = p.end().min(end);
            let src = &p.data[(from - p.offset) as usize..(to - p.offset) as usize];
            buf[(from - offset) as usize..(to - offset) as usize].copy_from_slice(src);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 100 bytes: Zero [0,40), Data [40,100) holding 7s.
    #[derive(Debug)]
    struct Base;
    impl Disk for Base {
        fn size(&self) -> u64 {
            100
        }
        fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>> {
            check_range(100, offset, len)?;
            let mut v = Vec::new();
            let end = offset + len;
            if offset < 40 {
                push_merged(
                    &mut v,
                    Extent {
                        offset,
                        len: end.min(40) - offset,
                        kind: ExtentKind::Zero,
                    },
                );
            }
            if end > 40 {
                let s = offset.max(40);
                push_merged(
                    &mut v,
                    Extent {
                        offset: s,
                        len: end - s,
                        kind: ExtentKind::Data,
                    },
                );
            }
            Ok(v)
        }
        fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
            check_range(100, offset, buf.len() as u64)?;
            for (i, b) in buf.iter_mut().enumerate() {
                *b = if offset + i as u64 >= 40 { 7 } else { 0 };
            }
            Ok(())
        }
    }

    #[test]
    fn patches_shadow_base_in_extents_and_reads() {
        let o = Overlay::new(
            Base,
            vec![
                Patch {
                    offset: 10,
                    data: vec![1; 5],
                },
                Patch {
                    offset: 38,
                    data: vec![2; 4],
                },
            ],
        )
        .unwrap();
        let ex = o.extents(0, 100).unwrap();
        let kinds: Vec<_> = ex.iter().map(|e| (e.offset, e.len, e.kind)).collect();
        assert_eq!(
            kinds,
            vec![
                (0, 10, ExtentKind::Zero),
                (10, 5, ExtentKind::Data),
                (15, 23, ExtentKind::Zero),
                (38, 62, ExtentKind::Data)
            ]
        );
        let mut buf = vec![0u8; 100];
        o.read_at(0, &mut buf).unwrap();
        assert_eq!(&buf[9..16], &[0, 1, 1, 1, 1, 1, 0]);
        assert_eq!(&buf[37..43], &[0, 2, 2, 2, 2, 7]);
        let mut small = [0u8; 3];
        o.read_at(12, &mut small).unwrap();
        assert_eq!(small, [1, 1, 1]);
    }

    #[test]
    fn overlapping_or_outside_patches_are_refused() {
        assert!(Overlay::new(
            Base,
            vec![Patch {
                offset: 95,
                data: vec![0; 10]
            }]
        )
        .is_err());
        assert!(Overlay::new(
            Base,
            vec![
                Patch {
                    offset: 0,
                    data: vec![0; 10]
                },
                Patch {
                    offset: 5,
                    data: vec![0; 10]
                }
            ]
        )
        .is_err());
    }
}
