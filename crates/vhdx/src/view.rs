//! The image file as the reader sees it: the bytes on disk (a [`RawDisk`] over the file,
//! so holes are known, or a buffer in memory for fuzzing), with the writes of a replayed
//! log laid over them in memory. The file itself is never written.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use ddgz_disk::{Disk, Extent, ExtentKind, RawDisk};

use crate::error::{Error, ErrorKind};

#[derive(Debug)]
pub(crate) enum Source {
    File(RawDisk),
    Memory { path: PathBuf, bytes: Vec<u8> },
}

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
    source: Source,
    /// Applied in order: a later patch wins where two overlap.
    patches: Vec<Patch>,
    /// The file's size after the log (a replayed log may extend it); bytes past the real
    /// end read as zeros.
    size: u64,
}

impl View {
    pub(crate) fn new(source: Source) -> Self {
        let size = source.size();
        Self {
            source,
            patches: Vec::new(),
            size,
        }
    }

    pub(crate) fn path(&self) -> &Path {
        match &self.source {
            Source::File(f) => f.path(),
            Source::Memory { path, .. } => path,
        }
    }

    /// The file read (none in memory), for the output-safety check.
    pub(crate) fn files(&self) -> Vec<ddgz_disk::FileId> {
        match &self.source {
            Source::File(f) => f.files(),
            Source::Memory { .. } => Vec::new(),
        }
    }

    /// The size of the file on disk.
    pub(crate) fn real_size(&self) -> u64 {
        self.source.size()
    }

    /// The size of the file as read (after the log).
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// Lays the writes of a replayed log over the file; `size` is the file size the log
    /// leaves (at least the real size).
    pub(crate) fn replay(&mut self, patches: Vec<Patch>, size: u64) {
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
        for p in &self.patches {
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

    /// The file's own extents of `[offset, offset + len)` (holes are zero extents); a
    /// range a log patch touches is data.
    pub(crate) fn extents(&self, offset: u64, len: u64) -> ddgz_disk::Result<Vec<Extent>> {
        let end = offset + len;
        let touched = self.patches.iter().any(|p| {
            let (a, b) = p.range();
            a < end && b > offset
        });
        let real = self.source.size();
        if touched || matches!(self.source, Source::Memory { .. }) {
            return Ok(vec![Extent {
                offset,
                len,
                kind: ExtentKind::Data,
            }]);
        }
        let Source::File(f) = &self.source else {
            unreachable!("memory handled above")
        };
        let mut out = Vec::new();
        if offset < real {
            out = f.extents(offset, end.min(real) - offset)?;
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
}

impl Source {
    pub(crate) fn size(&self) -> u64 {
        match self {
            Source::File(f) => f.size(),
            Source::Memory { bytes, .. } => bytes.len() as u64,
        }
    }

    fn path(&self) -> &Path {
        match self {
            Source::File(f) => f.path(),
            Source::Memory { path, .. } => path,
        }
    }

    /// Reads bytes that lie inside the file.
    fn read(&self, buf: &mut [u8], offset: u64, what: &str) -> Result<(), Error> {
        let n = buf.len();
        match self {
            Source::File(f) => f.input().file().read_exact_at(buf, offset).map_err(|e| {
                let kind = if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    ErrorKind::Truncated
                } else {
                    ErrorKind::Io
                };
                Error::new(
                    self.path(),
                    kind,
                    format!(
                        "reading {n} bytes of {what} at 0x{offset:x} (file was 0x{:x} bytes \
                         when opened): {e}",
                        self.size()
                    ),
                )
            }),
            Source::Memory { bytes, .. } => {
                // The caller keeps the range inside the buffer.
                let o = offset as usize;
                buf.copy_from_slice(&bytes[o..o + n]);
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patches_and_extension() {
        let mut v = View::new(Source::Memory {
            path: "m".into(),
            bytes: vec![1; 100],
        });
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
