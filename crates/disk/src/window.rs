//! A byte range of a disk (a partition) as a `Read + Seek` stream, for parsers that want
//! one (e.g. `fatfs`). Writes are refused: the disk is read-only.

use std::io::{self, Read, Seek, SeekFrom, Write};

use crate::Disk;

/// `[start, start + len)` of a disk as a read-only stream.
#[derive(Debug)]
pub struct Window<'a> {
    disk: &'a dyn Disk,
    start: u64,
    len: u64,
    pos: u64,
}

impl<'a> Window<'a> {
    /// A window on `[start, start + len)`; fails if that range is not inside the disk.
    pub fn new(disk: &'a dyn Disk, start: u64, len: u64) -> crate::Result<Self> {
        crate::check_range(disk.size(), start, len)?;
        Ok(Self {
            disk,
            start,
            len,
            pos: 0,
        })
    }

    /// Length of the window.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the window is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Read for Window<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (self.len.saturating_sub(self.pos)).min(buf.len() as u64) as usize;
        if n == 0 {
            return Ok(0);
        }
        self.disk
            .read_at(self.start + self.pos, &mut buf[..n])
            .map_err(io::Error::other)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for Window<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.pos = seek_target(self.pos, self.len, to)?;
        Ok(self.pos)
    }
}

/// Where `to` leads from `pos` in a stream of `len` bytes; an error before the start or on
/// overflow. Shared by every `Seek` over a byte range of a disk.
pub fn seek_target(pos: u64, len: u64, to: SeekFrom) -> io::Result<u64> {
    match to {
        SeekFrom::Start(o) => Some(o),
        SeekFrom::End(d) => len.checked_add_signed(d),
        SeekFrom::Current(d) => pos.checked_add_signed(d),
    }
    .ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "seek before the start of the range",
        )
    })
}

impl Write for Window<'_> {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            "the disk is opened read-only",
        ))
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}
