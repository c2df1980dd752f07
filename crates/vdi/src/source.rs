//! The bytes of an image: a file opened read-only (a [`RawDisk`] over it, so that holes
//! in the file, e.g. a static image qemu preallocated sparsely, are known without reading
//! them) or, for fuzzing, a buffer in memory.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use ddgz_disk::{Disk, Extent, ExtentKind, InputFile, RawDisk};

use crate::error::{Error, ErrorKind};

#[derive(Debug)]
pub(crate) enum Source {
    File(RawDisk),
    Memory { path: PathBuf, bytes: Vec<u8> },
}

impl Source {
    /// Opens `path` read-only ([`InputFile::open`]: special files refused).
    pub(crate) fn open(path: &Path) -> Result<Self, Error> {
        InputFile::open(path)
            .map(|i| Source::File(RawDisk::new(i)))
            .map_err(|e| {
                let msg = match &e {
                    ddgz_disk::Error::Io { what, source, .. } => format!("cannot {what}: {source}"),
                    ddgz_disk::Error::Format { reason, .. } => reason.clone(),
                    other => other.to_string(),
                };
                Error::new(path, ErrorKind::Io, msg)
            })
    }

    pub(crate) fn path(&self) -> &Path {
        match self {
            Source::File(f) => f.path(),
            Source::Memory { path, .. } => path,
        }
    }

    pub(crate) fn size(&self) -> u64 {
        match self {
            Source::File(f) => f.size(),
            Source::Memory { bytes, .. } => bytes.len() as u64,
        }
    }

    /// Fills `buf` from `offset`; `what` names the structure for the error.
    pub(crate) fn read(&self, buf: &mut [u8], offset: u64, what: &str) -> Result<(), Error> {
        let n = buf.len();
        let short = || {
            Error::new(
                self.path(),
                ErrorKind::Truncated,
                format!(
                    "file ended early reading {n} bytes of {what} at 0x{offset:x} (file is \
                     0x{:x} bytes)",
                    self.size()
                ),
            )
        };
        match self {
            Source::File(f) => f.input().file().read_exact_at(buf, offset).map_err(|e| {
                if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    short()
                } else {
                    Error::new(
                        f.path(),
                        ErrorKind::Io,
                        format!("reading {n} bytes of {what} at 0x{offset:x}: {e}"),
                    )
                }
            }),
            Source::Memory { bytes, .. } => {
                let src = usize::try_from(offset)
                    .ok()
                    .and_then(|o| bytes.get(o..o.checked_add(n)?));
                match src {
                    Some(s) => {
                        buf.copy_from_slice(s);
                        Ok(())
                    }
                    None => Err(short()),
                }
            }
        }
    }

    /// The file's own extents of `[offset, offset + len)` (holes are zero extents), which
    /// lies inside the file; in memory, all data.
    pub(crate) fn extents(&self, offset: u64, len: u64) -> ddgz_disk::Result<Vec<Extent>> {
        match self {
            Source::File(f) => f.extents(offset, len),
            Source::Memory { .. } => Ok(vec![Extent {
                offset,
                len,
                kind: ExtentKind::Data,
            }]),
        }
    }
}
