//! The file layer every reader shares: an input file opened read-only, safely, with its
//! real size, read with positional reads.
//!
//! Safe open means: the path is examined *before* it is opened (opening a FIFO named by a
//! hostile image, or by mistake, would block forever), and only a regular file or a block
//! device is accepted. A block device's size is where its end is (`metadata().len()` is 0
//! for one); a FIFO, socket, character device or directory is refused with a reason that
//! names the file, never read as a 0-byte disk.
//!
//! Reads are positional (`pread`, not `mmap`): a file truncated while it is being read
//! gives an error naming the offset instead of a `SIGBUS`.

use std::fs::File;
use std::io::Seek;
use std::os::unix::fs::{FileExt, FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The identity of a file: device and inode (`st_dev`, `st_ino`). Two paths name the same
/// file exactly when their identities are equal, whatever links or names lead to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId {
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
}

impl FileId {
    /// The identity in `meta` (from `stat`, `lstat` or `fstat`).
    pub fn of(meta: &std::fs::Metadata) -> Self {
        Self {
            dev: meta.dev(),
            ino: meta.ino(),
        }
    }
}

/// An input file, opened read-only: a regular file or a block device.
#[derive(Debug)]
pub struct InputFile {
    file: File,
    path: PathBuf,
    size: u64,
    block_device: bool,
    id: FileId,
}

/// What kind of file `meta` describes, as a reason to refuse it, or `None` if it is a
/// regular file or a block device.
fn refusal(meta: &std::fs::Metadata) -> Option<&'static str> {
    let t = meta.file_type();
    if t.is_file() || t.is_block_device() {
        None
    } else if t.is_fifo() {
        Some("is a FIFO (named pipe): an image must be a regular file or a block device")
    } else if t.is_socket() {
        Some("is a socket: an image must be a regular file or a block device")
    } else if t.is_char_device() {
        Some("is a character device: an image must be a regular file or a block device")
    } else if t.is_dir() {
        Some("is a directory: an image must be a regular file or a block device")
    } else {
        Some("is not a regular file or block device")
    }
}

impl InputFile {
    /// Opens `path` read-only after checking what it is (see the module docs).
    pub fn open(path: &Path) -> Result<Self> {
        let io = |what: &str, source| Error::Io {
            path: path.into(),
            what: what.into(),
            source,
        };
        // Stat before opening: opening a FIFO would block.
        let meta = std::fs::metadata(path).map_err(|e| io("open", e))?;
        if let Some(why) = refusal(&meta) {
            return Err(Error::Format {
                path: path.into(),
                reason: why.into(),
            });
        }
        let file = File::open(path).map_err(|e| io("open", e))?;
        Self::from_file(path, file)
    }

    /// Wraps a file already opened read-only (e.g. by the format registry), checking what
    /// it is and finding its size.
    pub fn from_file(path: &Path, file: File) -> Result<Self> {
        let io = |what: &str, source| Error::Io {
            path: path.into(),
            what: what.into(),
            source,
        };
        let meta = file.metadata().map_err(|e| io("stat", e))?;
        if let Some(why) = refusal(&meta) {
            return Err(Error::Format {
                path: path.into(),
                reason: why.into(),
            });
        }
        let block_device = meta.file_type().is_block_device();
        let size = if block_device {
            // A block device's size is where its end is.
            (&file)
                .seek(std::io::SeekFrom::End(0))
                .map_err(|e| io("find the size of the block device", e))?
        } else {
            meta.len()
        };
        Ok(Self {
            file,
            path: path.into(),
            size,
            block_device,
            id: FileId::of(&meta),
        })
    }

    /// The path it was opened as.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its size in bytes when it was opened.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Whether it is a block device (its size does not change; it has no holes).
    pub fn is_block_device(&self) -> bool {
        self.block_device
    }

    /// The open file.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Device and inode as found when it was opened: what a writer compares its output
    /// with (see [`crate::Disk::files`]).
    pub fn file_id(&self) -> FileId {
        self.id
    }

    /// Device and inode: the identity of the file, to detect loops in backing chains.
    pub fn id(&self) -> Result<(u64, u64)> {
        let m = self.file.metadata().map_err(|source| Error::Io {
            path: self.path.clone(),
            what: "stat".into(),
            source,
        })?;
        Ok((m.dev(), m.ino()))
    }

    /// Fills `buf` from `offset` with a positional read; `what` names the structure read,
    /// for the error. A short file gives [`std::io::ErrorKind::UnexpectedEof`] in the
    /// error's source and says that the file ended early.
    pub fn read_exact_at(&self, buf: &mut [u8], offset: u64, what: &str) -> Result<()> {
        self.file
            .read_exact_at(buf, offset)
            .map_err(|source| Error::Io {
                path: self.path.clone(),
                what: if source.kind() == std::io::ErrorKind::UnexpectedEof {
                    format!(
                        "read of {} bytes of {what} at offset {offset}: the file ended early \
                         (it was {} bytes when opened: truncated while being read?)",
                        buf.len(),
                        self.size
                    )
                } else {
                    format!("read of {} bytes of {what} at offset {offset}", buf.len())
                },
                source,
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_fifos_and_character_devices_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let e = InputFile::open(&fifo).unwrap_err().to_string();
        assert!(e.contains("pipe: is a FIFO (named pipe)"), "{e}");
        let e = InputFile::open(Path::new("/dev/null"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("/dev/null: is a character device"), "{e}");
        let e = InputFile::open(dir.path()).unwrap_err().to_string();
        assert!(e.contains("is a directory"), "{e}");
        let e = InputFile::open(&dir.path().join("none"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("none: open: "), "{e}");
    }

    #[test]
    fn regular_file_size_and_short_read() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        std::io::Write::write_all(&mut f, &[7u8; 1000]).unwrap();
        let i = InputFile::open(f.path()).unwrap();
        assert_eq!(i.size(), 1000);
        let mut b = [0u8; 8];
        i.read_exact_at(&mut b, 992, "x").unwrap();
        assert_eq!(b, [7; 8]);
        let e = i
            .read_exact_at(&mut b, 996, "the header")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("of the header at offset 996: the file ended early"),
            "{e}"
        );
    }
}
