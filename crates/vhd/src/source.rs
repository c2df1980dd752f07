//! The bytes of an image: a file opened read-only (through [`ddgz_disk::InputFile`]:
//! FIFOs and other special files refused) or, for fuzzing, a buffer in memory.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use ddgz_disk::InputFile;

use crate::error::{Error, ErrorKind};

#[derive(Debug)]
pub(crate) enum Source {
    File(InputFile),
    Memory { path: PathBuf, bytes: Vec<u8> },
}

impl Source {
    /// Opens `path` read-only; `role` (e.g. " (the parent of x.vhd)") is added to errors.
    pub(crate) fn open_input(path: &Path, role: &str) -> Result<InputFile, Error> {
        InputFile::open(path).map_err(|e| {
            let msg = match &e {
                ddgz_disk::Error::Io { what, source, .. } => {
                    format!("cannot {what}{role}: {source}")
                }
                ddgz_disk::Error::Format { reason, .. } => format!("{reason}{role}"),
                other => format!("{other}{role}"),
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

    /// The file's identity as opened (`None` in memory), for [`ddgz_disk::Disk::files`].
    pub(crate) fn file_id(&self) -> Option<ddgz_disk::FileId> {
        match self {
            Source::File(f) => Some(f.file_id()),
            Source::Memory { .. } => None,
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
            Source::File(f) => f.file().read_exact_at(buf, offset).map_err(|e| {
                if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    short()
                } else {
                    Error::new(
                        f.path(),
                        ErrorKind::Io,
                        format!("reading {} bytes of {what} at 0x{offset:x}: {e}", buf.len()),
                    )
                }
            }),
            Source::Memory { bytes, .. } => {
                let src = usize::try_from(offset)
                    .ok()
                    .and_then(|o| bytes.get(o..o.checked_add(buf.len())?));
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
}
