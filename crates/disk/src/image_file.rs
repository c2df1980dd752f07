//! The file a container reader parses: an input file opened read-only (a [`RawDisk`]
//! over it, so the file's holes are known without reading them) or, for fuzzing, bytes
//! in memory. Either way a [`Disk`], with one read that names the structure read when
//! the file is too short.

use std::path::{Path, PathBuf};

use crate::{
    Disk, Extent, FileId, InputFile, MemoryDisk, RawDisk, ReaderError, ReaderKind, Result,
};

/// One file of an image (the image itself, an extent file, a data file).
#[derive(Debug)]
pub struct ImageFile {
    path: PathBuf,
    bytes: Bytes,
}

#[derive(Debug)]
enum Bytes {
    File(RawDisk),
    Memory(MemoryDisk),
}

impl ImageFile {
    /// Opens `path` read-only ([`InputFile::open`]: FIFOs and other special files
    /// refused); `role` (e.g. " (extent 2 of x.vmdk)") is added to the error.
    pub fn open(path: &Path, role: &str) -> Result<Self, ReaderError> {
        let input = InputFile::open(path).map_err(|e| open_error(path, e, role))?;
        Ok(Self::file(input))
    }

    /// A file already opened.
    pub fn file(input: InputFile) -> Self {
        Self {
            path: input.path().to_path_buf(),
            bytes: Bytes::File(RawDisk::new(input)),
        }
    }

    /// Bytes held in memory, named `path` in messages.
    pub fn memory(path: &Path, bytes: Vec<u8>) -> Self {
        Self {
            path: path.into(),
            bytes: Bytes::Memory(MemoryDisk::new(bytes)),
        }
    }

    /// The file's name.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the bytes are held in memory (a fuzzed image: it opens no other file).
    pub fn is_memory(&self) -> bool {
        matches!(self.bytes, Bytes::Memory(_))
    }

    /// The file's identity as opened (`None` in memory), for [`Disk::files`].
    pub fn file_id(&self) -> Option<FileId> {
        match &self.bytes {
            Bytes::File(f) => Some(f.input().file_id()),
            Bytes::Memory(_) => None,
        }
    }

    /// Fills `buf` from `offset`; `what` names the structure read, for the error, which
    /// says that the file ended early (and its size) when it is too short.
    pub fn read(&self, buf: &mut [u8], offset: u64, what: &str) -> Result<(), ReaderError> {
        let n = buf.len();
        let short = || {
            ReaderError::new(
                &self.path,
                ReaderKind::Truncated,
                format!(
                    "the file ended early reading {n} bytes of {what} at 0x{offset:x} (it was \
                     0x{:x} bytes when opened: truncated?)",
                    self.size()
                ),
            )
        };
        if offset.checked_add(n as u64).is_none_or(|e| e > self.size()) {
            return Err(short());
        }
        match &self.bytes {
            Bytes::File(f) => f
                .input()
                .read_exact_at(buf, offset, what)
                .map_err(|e| match e {
                    crate::Error::Io { source, .. }
                        if source.kind() == std::io::ErrorKind::UnexpectedEof =>
                    {
                        short().with_source(source)
                    }
                    other => ReaderError::from_disk(other, &self.path, ""),
                }),
            Bytes::Memory(m) => m.read_at(offset, buf).map_err(|_| short()),
        }
    }
}

/// An error opening a file an image names, in a reader's terms: `role` says why it was
/// opened.
pub fn open_error(path: &Path, e: crate::Error, role: &str) -> ReaderError {
    let reason = match &e {
        crate::Error::Io { what, source, .. } => format!("cannot {what}{role}: {source}"),
        crate::Error::Format { reason, .. } => format!("{reason}{role}"),
        other => format!("{other}{role}"),
    };
    ReaderError::new(path, ReaderKind::Io, reason).with_source(e)
}

impl Disk for ImageFile {
    fn size(&self) -> u64 {
        match &self.bytes {
            Bytes::File(f) => f.size(),
            Bytes::Memory(m) => m.size(),
        }
    }

    /// The file's holes are zero extents; bytes in memory are all data.
    fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>> {
        match &self.bytes {
            Bytes::File(f) => f.extents(offset, len),
            Bytes::Memory(m) => m.extents(offset, len),
        }
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        Ok(self.read(buf, offset, "data")?)
    }

    fn files(&self) -> Vec<FileId> {
        self.file_id().into_iter().collect()
    }
}
