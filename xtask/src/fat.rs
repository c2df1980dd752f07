//! FAT partitions of synthetic disks, made with `fatfs` inside a sparse disk file (no mkfs,
//! no mount). Files at the root only: `fatfs` 0.3.6 writes broken `.`/`..` entries in new
//! directories (domain/FAT.md). Timestamps are fixed, so the bytes depend on the seed only.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;

use anyhow::{Context, Result};
use ddgz_synth::content::{Content, Kind};

/// A byte range of a file, seen as a whole stream (what `fatfs` formats and mounts).
#[derive(Debug)]
pub struct FileWindow<'a> {
    file: &'a File,
    start: u64,
    len: u64,
    pos: u64,
}

impl<'a> FileWindow<'a> {
    pub fn new(file: &'a File, start: u64, len: u64) -> Self {
        Self {
            file,
            start,
            len,
            pos: 0,
        }
    }
}

impl Read for FileWindow<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = (buf.len() as u64).min(self.len.saturating_sub(self.pos)) as usize;
        if n == 0 {
            return Ok(0);
        }
        let n = self.file.read_at(&mut buf[..n], self.start + self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Write for FileWindow<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = (buf.len() as u64).min(self.len.saturating_sub(self.pos)) as usize;
        if n == 0 && !buf.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                "write past the end of the partition",
            ));
        }
        // Writing zeros over a hole would allocate it: keep the file sparse.
        if buf[..n].iter().all(|&b| b == 0) {
            let mut cur = vec![0u8; n];
            let got = self.file.read_at(&mut cur, self.start + self.pos)?;
            if cur[..got].iter().all(|&b| b == 0) {
                self.pos += n as u64;
                return Ok(n);
            }
        }
        self.file.write_all_at(&buf[..n], self.start + self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Seek for FileWindow<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let p = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.len.checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match p {
            Some(p) => {
                self.pos = p;
                Ok(p)
            }
            None => Err(io::Error::new(io::ErrorKind::InvalidInput, "seek before 0")),
        }
    }
}

/// 2024-03-01 12:00:00, for every timestamp.
#[derive(Debug)]
struct FixedTime;

impl fatfs::TimeProvider for FixedTime {
    fn get_current_date(&self) -> fatfs::Date {
        fatfs::Date {
            year: 2024,
            month: 3,
            day: 1,
        }
    }
    fn get_current_date_time(&self) -> fatfs::DateTime {
        fatfs::DateTime {
            date: self.get_current_date(),
            time: fatfs::Time {
                hour: 12,
                min: 0,
                sec: 0,
                millis: 0,
            },
        }
    }
}

static FIXED_TIME: FixedTime = FixedTime;

/// A file to put at the root of a FAT volume.
#[derive(Debug, Clone)]
pub struct FatFile {
    /// 8.3 or long name.
    pub name: String,
    /// What it holds.
    pub body: Body,
}

/// The bytes of a [`FatFile`].
#[derive(Debug, Clone)]
pub enum Body {
    /// Exactly these bytes.
    Bytes(Vec<u8>),
    /// `len` bytes of generated content of `kind`, from stream offset `at`.
    Generated { kind: Kind, at: u64, len: u64 },
}

impl FatFile {
    pub fn bytes(name: &str, data: impl Into<Vec<u8>>) -> Self {
        Self {
            name: name.into(),
            body: Body::Bytes(data.into()),
        }
    }
    pub fn generated(name: &str, kind: Kind, at: u64, len: u64) -> Self {
        Self {
            name: name.into(),
            body: Body::Generated { kind, at, len },
        }
    }
}

/// Formats `[start, start + len)` of `file` as FAT (`fat_type`, `cluster` bytes per cluster)
/// labelled `label`, and writes `files` at its root.
#[allow(clippy::too_many_arguments)]
pub fn make_fat(
    file: &File,
    start: u64,
    len: u64,
    fat_type: fatfs::FatType,
    cluster: u32,
    label: &str,
    volume_id: u32,
    files: &[FatFile],
    content: &Content,
) -> Result<()> {
    let mut l = [b' '; 11];
    for (d, s) in l.iter_mut().zip(label.bytes()) {
        *d = s;
    }
    fatfs::format_volume(
        FileWindow::new(file, start, len),
        fatfs::FormatVolumeOptions::new()
            .fat_type(fat_type)
            .bytes_per_cluster(cluster)
            .volume_label(l)
            .volume_id(volume_id),
    )
    .with_context(|| format!("formatting FAT {label} at {start}"))?;
    let fs = fatfs::FileSystem::new(
        FileWindow::new(file, start, len),
        fatfs::FsOptions::new().time_provider(&FIXED_TIME),
    )
    .with_context(|| format!("mounting FAT {label}"))?;
    let root = fs.root_dir();
    let mut buf = vec![0u8; 8 << 20];
    for f in files {
        let mut out = root
            .create_file(&f.name)
            .with_context(|| format!("creating {} in FAT {label}", f.name))?;
        match &f.body {
            Body::Bytes(b) => out.write_all(b)?,
            Body::Generated { kind, at, len } => {
                let mut done = 0u64;
                while done < *len {
                    let n = (buf.len() as u64).min(len - done) as usize;
                    content.fill_parallel(*kind, at + done, &mut buf[..n]);
                    out.write_all(&buf[..n])
                        .with_context(|| format!("writing {} in FAT {label}", f.name))?;
                    done += n as u64;
                }
            }
        }
        out.flush()?;
    }
    drop(root);
    fs.unmount()
        .with_context(|| format!("unmounting FAT {label}"))?;
    Ok(())
}
