//! A file opened read-only (or, for fuzzing, bytes in memory), read with positional
//! reads, with its size at open for bounds and messages.

use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use ddgz_disk::InputFile;

use crate::error::{Error, ErrorKind};

#[derive(Debug)]
enum Backend {
    File(InputFile),
    Memory(Vec<u8>),
}

/// One file of the image: the descriptor, an extent file or a parent's.
#[derive(Debug)]
pub(crate) struct Source {
    backend: Backend,
    path: PathBuf,
    size: u64,
}

/// Turns an error of the shared file layer into ours, adding `role` ("(extent 2 of
/// x.vmdk)") to say why the file was opened.
pub(crate) fn open_error(path: &Path, e: ddgz_disk::Error, role: &str) -> Error {
    let reason = match e {
        ddgz_disk::Error::Io { what, source, .. } => format!("cannot {what}{role}: {source}"),
        ddgz_disk::Error::Format { reason, .. } => format!("{reason}{role}"),
        other => format!("{other}{role}"),
    };
    Error::new(path, ErrorKind::Io, reason)
}

impl Source {
    /// Opens `path` read-only through [`InputFile`] (FIFOs, sockets, devices refused).
    pub(crate) fn open(path: &Path, role: &str) -> Result<Self, Error> {
        let input = InputFile::open(path).map_err(|e| open_error(path, e, role))?;
        Ok(Self::from_input(input))
    }

    /// The file's identity as opened (`None` in memory), for [`ddgz_disk::Disk::files`].
    pub(crate) fn file_id(&self) -> Option<ddgz_disk::FileId> {
        match &self.backend {
            Backend::File(f) => Some(f.file_id()),
            Backend::Memory(_) => None,
        }
    }

    /// A file already opened.
    pub(crate) fn from_input(input: InputFile) -> Self {
        Self {
            path: input.path().to_path_buf(),
            size: input.size(),
            backend: Backend::File(input),
        }
    }

    /// Bytes held in memory, named `path` in messages.
    pub(crate) fn memory(path: &Path, bytes: Vec<u8>) -> Self {
        Self {
            size: bytes.len() as u64,
            backend: Backend::Memory(bytes),
            path: path.into(),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    pub(crate) fn is_memory(&self) -> bool {
        matches!(self.backend, Backend::Memory(_))
    }

    /// Fills `buf` from `offset`; `what` names the structure for the error, which says
    /// the file ended early (and how long it was at open) when it is shorter.
    pub(crate) fn read(&self, buf: &mut [u8], offset: u64, what: &str) -> Result<(), Error> {
        let len = buf.len();
        let short = || {
            Error::new(
                &self.path,
                ErrorKind::Truncated,
                format!(
                    "file ended early reading {} bytes of {what} at 0x{offset:x} (file was \
                     0x{:x} bytes when opened): truncated?",
                    len, self.size
                ),
            )
        };
        match &self.backend {
            Backend::File(f) => f.file().read_exact_at(buf, offset).map_err(|e| {
                if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    short()
                } else {
                    Error::new(
                        &self.path,
                        ErrorKind::Io,
                        format!("reading {len} bytes of {what} at 0x{offset:x}: {e}"),
                    )
                }
            }),
            Backend::Memory(m) => {
                let src = usize::try_from(offset)
                    .ok()
                    .and_then(|o| m.get(o..o.checked_add(buf.len())?));
                match src {
                    Some(src) => {
                        buf.copy_from_slice(src);
                        Ok(())
                    }
                    None => Err(short()),
                }
            }
        }
    }
}
