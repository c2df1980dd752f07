//! A raw disk file, read sparse-aware: holes reported by the filesystem
//! (`lseek(SEEK_DATA / SEEK_HOLE)`) are zero extents and are never read.

use std::os::unix::io::AsRawFd;
use std::path::Path;

use crate::extent::push_merged;
use crate::{check_range, Disk, Error, Extent, ExtentKind, InputFile, Result};

/// A raw disk image: a regular file (sparse-aware) or a block device, opened read-only.
#[derive(Debug)]
pub struct RawDisk {
    input: InputFile,
    size: u64,
}

impl RawDisk {
    /// Opens `path` read-only ([`InputFile::open`]: FIFOs, sockets and character devices
    /// are refused); its length (a block device's real size) is the disk size.
    pub fn open(path: &Path) -> Result<Self> {
        Ok(Self::new(InputFile::open(path)?))
    }

    /// The disk held by an input file: all of it.
    pub fn new(input: InputFile) -> Self {
        let size = input.size();
        Self::with_size(input, size)
    }

    /// The first `size` bytes of a file already opened (read-only or not).
    pub fn from_file(path: &Path, file: std::fs::File, size: u64) -> Result<Self> {
        Ok(Self::with_size(InputFile::from_file(path, file)?, size))
    }

    /// The first `size` bytes of an input file (e.g. a fixed VHD without its footer).
    pub fn with_size(input: InputFile, size: u64) -> Self {
        Self {
            size: size.min(input.size()),
            input,
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        self.input.path()
    }

    /// The input file.
    pub fn input(&self) -> &InputFile {
        &self.input
    }

    /// `lseek(fd, offset, whence)`, `None` when there is no further data (ENXIO),
    /// `Err` with `Unsupported` when the filesystem cannot tell.
    fn seek(&self, offset: u64, whence: libc::c_int) -> std::io::Result<Option<u64>> {
        let off = libc::off_t::try_from(offset).map_err(|_| std::io::ErrorKind::InvalidInput)?;
        // SAFETY: lseek on a file descriptor we own; no memory is passed.
        let r = unsafe { libc::lseek(self.input.file().as_raw_fd(), off, whence) };
        if r >= 0 {
            return Ok(Some(r as u64));
        }
        let err = std::io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::ENXIO) => Ok(None),
            Some(libc::EINVAL) | Some(libc::EOPNOTSUPP) => {
                Err(std::io::ErrorKind::Unsupported.into())
            }
            _ => Err(err),
        }
    }
}

impl Disk for RawDisk {
    fn size(&self) -> u64 {
        self.size
    }

    fn files(&self) -> Vec<crate::FileId> {
        vec![self.input.file_id()]
    }

    fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>> {
        check_range(self.size, offset, len)?;
        let end = offset + len;
        let mut out = Vec::new();
        if self.input.is_block_device() {
            // A device has no holes to ask about.
            push_merged(
                &mut out,
                Extent {
                    offset,
                    len,
                    kind: ExtentKind::Data,
                },
            );
            return Ok(out);
        }
        let mut pos = offset;
        while pos < end {
            let data = match self.seek(pos, libc::SEEK_DATA) {
                Ok(Some(d)) => d.min(end),
                Ok(None) => end,
                Err(e) if e.kind() == std::io::ErrorKind::Unsupported => {
                    push_merged(
                        &mut out,
                        Extent {
                            offset: pos,
                            len: end - pos,
                            kind: ExtentKind::Data,
                        },
                    );
                    break;
                }
                Err(source) => {
                    return Err(Error::Io {
                        path: self.path().into(),
                        what: format!("lseek(SEEK_DATA, {pos})"),
                        source,
                    })
                }
            };
            // A concurrent change to the file could make the answer go backwards; never loop.
            let data = data.max(pos);
            push_merged(
                &mut out,
                Extent {
                    offset: pos,
                    len: data - pos,
                    kind: ExtentKind::Zero,
                },
            );
            if data >= end {
                break;
            }
            let hole = match self.seek(data, libc::SEEK_HOLE) {
                Ok(Some(h)) => h.min(end),
                Ok(None) => end,
                Err(source) => {
                    return Err(Error::Io {
                        path: self.path().into(),
                        what: format!("lseek(SEEK_HOLE, {data})"),
                        source,
                    })
                }
            };
            // Guarantee progress even if the file changes under us.
            let hole = hole.max(data + 1).min(end);
            push_merged(
                &mut out,
                Extent {
                    offset: data,
                    len: hole - data,
                    kind: ExtentKind::Data,
                },
            );
            pos = hole;
        }
        // A file truncated while being read answers "no more data" (a hole) for what it
        // lost: those bytes must not turn into zeros.
        let now = self.input.file().metadata().map_err(|source| Error::Io {
            path: self.path().into(),
            what: "stat".into(),
            source,
        })?;
        if now.len() < end {
            return Err(Error::Io {
                path: self.path().into(),
                what: format!(
                    "the file is now {} bytes, {} when opened: truncated while being read",
                    now.len(),
                    self.size
                ),
                source: std::io::ErrorKind::UnexpectedEof.into(),
            });
        }
        Ok(out)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        check_range(self.size, offset, buf.len() as u64)?;
        self.input.read_exact_at(buf, offset, "disk data")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Seek, SeekFrom, Write};

    #[test]
    fn holes_are_zero_extents_and_data_reads_back() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.as_file_mut().set_len(64 << 20).unwrap();
        f.seek(SeekFrom::Start(8 << 20)).unwrap();
        f.write_all(&[0xab; 1 << 20]).unwrap();
        f.flush().unwrap();
        let d = RawDisk::open(f.path()).unwrap();
        let ex = d.extents(0, d.size()).unwrap();
        assert_eq!(ex.iter().map(|e| e.len).sum::<u64>(), 64 << 20);
        let data: Vec<_> = ex.iter().filter(|e| e.kind == ExtentKind::Data).collect();
        assert!(!data.is_empty());
        assert!(data
            .iter()
            .all(|e| e.offset <= 8 << 20 && e.end() >= 9 << 20 || e.offset >= 8 << 20));
        assert!(
            data.iter().map(|e| e.len).sum::<u64>() < 64 << 20,
            "a hole was reported"
        );
        let mut buf = [0u8; 4];
        d.read_at((8 << 20) - 2, &mut buf).unwrap();
        assert_eq!(buf, [0, 0, 0xab, 0xab]);
        assert!(d.read_at((64 << 20) - 2, &mut buf).is_err());
    }
}
