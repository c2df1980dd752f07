//! The image file as the reader sees it: the bytes on disk (an [`ImageFile`]: holes
//! known, or a buffer in memory for fuzzing), with the writes of a replayed log laid over
//! them in memory. The file itself is never written. A [`Disk`]: the byte source of the
//! payload blocks.

use std::path::Path;

use ddgz_disk::{Disk, Extent, ExtentKind, ImageFile};

use crate::{Error, ErrorKind};

/// A write of the replayed log: 4 KiB of data, or a run of zeros.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Patch {
    Data { offset: u64, bytes: Box<[u8]> },
    Zero { offset: u64, len: u64 },
}

impl Patch {
    fn range(&self) -> (u64, u64) {
        match self {
            Patch::Data { offset, bytes } => (*offset, offset + bytes.len() as u64),
            Patch::Zero { offset, len } => (*offset, offset + len),
        }
    }
}

#[derive(Debug)]
pub(crate) struct View {
    source: ImageFile,
    /// Applied in order: a later patch wins where two overlap.
    patches: Vec<Patch>,
    /// The patches' indices sorted by first byte, and the furthest end among the first
    /// `k` of them (`reach[k - 1]`): which patches touch a range is a binary search, so
    /// a log of half a million writes costs its size once, not once per request.
    by_start: Vec<(u64, u32)>,
    reach: Vec<u64>,
    /// The file's size after the log (a replayed log may extend it); bytes past the real
    /// end read as zeros.
    size: u64,
}

impl View {
    pub(crate) fn new(source: ImageFile) -> Self {
        let size = source.size();
        Self {
            source,
            patches: Vec::new(),
            by_start: Vec::new(),
            reach: Vec::new(),
            size,
        }
    }

    pub(crate) fn path(&self) -> &Path {
        self.source.path()
    }

    /// The size of the file on disk.
    pub(crate) fn real_size(&self) -> u64 {
        self.source.size()
    }

    /// Lays the writes of a replayed log over the file; `size` is the file size the log
    /// leaves (at least the real size).
    pub(crate) fn replay(&mut self, patches: Vec<Patch>, size: u64) {
        // At most MAX_LOG / 32 descriptors: the indices fit in u32.
        let mut by_start: Vec<(u64, u32)> = patches
            .iter()
            .enumerate()
            .map(|(i, p)| (p.range().0, i as u32))
            .collect();
        by_start.sort_unstable();
        let mut far = 0;
        self.reach = by_start
            .iter()
            .map(|&(_, i)| {
                far = far.max(patches[i as usize].range().1);
                far
            })
            .collect();
        self.by_start = by_start;
        self.patches = patches;
        self.size = size.max(self.source.size());
    }

    /// Fills `buf` from `offset` of the file as read; `what` names the structure.
    pub(crate) fn read(&self, buf: &mut [u8], offset: u64, what: &str) -> Result<(), Error> {
        let n = buf.len() as u64;
        let end = offset.checked_add(n).filter(|&e| e <= self.size);
        let Some(end) = end else {
            return Err(Error::new(
                self.path(),
                ErrorKind::Truncated,
                format!(
                    "file ended early reading {n} bytes of {what} at 0x{offset:x} (file is \
                     0x{:x} bytes)",
                    self.size
                ),
            ));
        };
        let real = self.source.size();
        let on_disk = real.clamp(offset, end) - offset;
        self.source
            .read(&mut buf[..on_disk as usize], offset, what)?;
        buf[on_disk as usize..].fill(0);
        for p in self.touching(offset, end) {
            let (a, b) = p.range();
            if b <= offset || a >= end {
                continue;
            }
            let s = a.max(offset);
            let t = b.min(end);
            let dst = &mut buf[(s - offset) as usize..(t - offset) as usize];
            match p {
                Patch::Data { bytes, .. } => {
                    dst.copy_from_slice(&bytes[(s - a) as usize..(t - a) as usize])
                }
                Patch::Zero { .. } => dst.fill(0),
            }
        }
        Ok(())
    }
}

impl View {
    /// The patches that touch `[offset, end)`, in log order (a later one wins).
    fn touching(&self, offset: u64, end: u64) -> impl Iterator<Item = &Patch> {
        let k = self.by_start.partition_point(|&(a, _)| a < end);
        // Patches starting before `end`; those ending after `offset` touch the range.
        let mut hit: Vec<u32> = if k > 0 && self.reach[k - 1] > offset {
            self.by_start[..k]
                .iter()
                .filter(|&&(_, i)| self.patches[i as usize].range().1 > offset)
                .map(|&(_, i)| i)
                .collect()
        } else {
            Vec::new()
        };
        hit.sort_unstable();
        hit.into_iter().map(|i| &self.patches[i as usize])
    }
}

impl Disk for View {
    /// The size of the file as read (after the log).
    fn size(&self) -> u64 {
        self.size
    }

    /// The file's own extents of `[offset, offset + len)` (holes are zero extents, and so
    /// is what a log's extension adds past the real end); a range a log patch touches is
    /// data.
    fn extents(&self, offset: u64, len: u64) -> ddgz_disk::Result<Vec<Extent>> {
        ddgz_disk::check_range(self.size, offset, len)?;
        let end = offset + len;
        let k = self.by_start.partition_point(|&(a, _)| a < end);
        let touched = k > 0 && self.reach[k - 1] > offset;
        if touched {
            return Ok(vec![Extent {
                offset,
                len,
                kind: ExtentKind::Data,
            }]);
        }
        let real = self.source.size();
        let mut out = Vec::new();
        if offset < real {
            out = self.source.extents(offset, end.min(real) - offset)?;
        }
        if end > real {
            let s = offset.max(real);
            ddgz_disk::push_merged(
                &mut out,
                Extent {
                    offset: s,
                    len: end - s,
                    kind: ExtentKind::Zero,
                },
            );
        }
        Ok(out)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> ddgz_disk::Result<()> {
        Ok(self.read(buf, offset, "payload data")?)
    }

    fn files(&self) -> Vec<ddgz_disk::FileId> {
        self.source.files()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_and_extension() {
        let mut v = View::new(ImageFile::memory(Path::new("m"), vec![1; 100]));
        v.replay(
            vec![
                Patch::Data {
                    offset: 10,
                    bytes: vec![7; 10].into(),
                },
                Patch::Zero {
                    offset: 15,
                    len: 10,
                },
            ],
            200,
        );
        let mut b = vec![9; 40];
        v.read(&mut b, 90, "x").unwrap();
        assert_eq!(&b[..10], &[1; 10]);
        assert_eq!(&b[10..], &[0; 30]);
        let mut b = vec![9; 20];
        v.read(&mut b, 5, "x").unwrap();
        assert_eq!(b, [[1; 5], [7; 5], [0; 5], [0; 5]].concat());
        assert!(v.read(&mut b, 190, "x").is_err());
    }
}
