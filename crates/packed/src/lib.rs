//! A finished `.dd.gz` (or `.dd.xz`) as a read-only input, without unpacking it.
//!
//! A compressed stream cannot be read at random offsets, and unpacking a 32 GiB disk to
//! look at four files is what this crate avoids. Instead the stream is decoded in passes
//! into a [`Capture`] (`ddgz-disk`), which keeps only some ranges of the disk:
//!
//! 1. the first pass decodes the whole stream: it learns the disk's size and which 64 KiB
//!    blocks are all zeros, and keeps the first [`Options::head`] bytes (MBR, GPT and the
//!    first partitions) and the last MiB (the backup GPT);
//! 2. the caller's reader (inspect, validate, ls, cat) runs on what was kept
//!    ([`Packed::run`]); every read of a range not kept is recorded and served as zeros;
//! 3. if it read anything not kept, those ranges are asked for and the stream is decoded
//!    again — only up to the end of the last range asked for — and the reader runs again.
//!
//! The reader's result is returned only from a run that read nothing it had not been given,
//! so it is the result on the real disk. Memory is bounded by [`Options::budget`] (plus the
//! head, one MiB of tail and 2 KiB of zero map per GiB) whatever the disk's size; a reader
//! that needs more, or more than [`Options::max_passes`] passes, is refused with the
//! reason. Nothing is written to disk. All-zero blocks are kept as the zero map, never as
//! bytes, so a stream that expands enormously (a bomb) is decoded in the same memory, at
//! the decoder's speed; the decoder adds its dictionary (xz: at most 64 MiB, `xz -9`'s;
//! more is refused). The xz container is read by this crate (`xz.rs`), LZMA2 by
//! lzma-rust2.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use ddgz_disk::{Capture, CaptureView, Container, Disk, Extent, Facts, InputFile};

mod xz;

/// The stream's compression, from its magic number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// gzip (RFC 1952), one member or several.
    Gzip,
    /// xz (the .xz container with LZMA2), one stream or several.
    Xz,
}

impl Compression {
    /// Its name, as in the file suffix.
    pub fn name(self) -> &'static str {
        match self {
            Compression::Gzip => "gzip",
            Compression::Xz => "xz",
        }
    }
}

/// The compression `head` (a file's first bytes) starts with, if any: gzip `1f 8b 08`
/// (deflate), xz `fd 37 7a 58 5a 00`.
pub fn detect(head: &[u8]) -> Option<Compression> {
    if head.starts_with(&[0x1f, 0x8b, 0x08]) {
        Some(Compression::Gzip)
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Some(Compression::Xz)
    } else {
        None
    }
}

/// Limits of [`Packed`].
#[derive(Debug, Clone)]
pub struct Options {
    /// Bytes at the start of the disk kept from the first pass on.
    pub head: u64,
    /// Bytes of the disk kept besides the head and tail (the memory bound).
    pub budget: u64,
    /// Passes over the stream at most.
    pub max_passes: u32,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            head: 64 << 20,
            budget: 256 << 20,
            max_passes: 8,
        }
    }
}

/// Why a packed disk could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The file could not be opened or read.
    #[error(transparent)]
    Disk(#[from] ddgz_disk::Error),
    /// The stream does not decode.
    #[error("{}: {} stream broken after {decoded} decoded bytes", path.display(), compression.name())]
    Decode {
        /// The file.
        path: PathBuf,
        /// Its compression.
        compression: Compression,
        /// Decoded bytes before the error.
        decoded: u64,
        /// The decoder's error.
        #[source]
        source: std::io::Error,
    },
    /// The reader needs more than the limits allow.
    #[error("{}: {reason}", path.display())]
    Limit {
        /// The file.
        path: PathBuf,
        /// Which limit, and what to do instead.
        reason: String,
    },
    /// A later pass decoded something else than the first.
    #[error("{}: the file changed while being read ({reason})", path.display())]
    Changed {
        /// The file.
        path: PathBuf,
        /// What differed.
        reason: String,
    },
}

/// Reads an [`InputFile`] from the start with positional reads: one open file, read again
/// from 0 for every pass. `pos` is shared, so that the pass can report how far into the
/// compressed file its decoder has read.
struct At<'a> {
    file: &'a InputFile,
    pos: &'a std::cell::Cell<u64>,
}

impl Read for At<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.file().read_at(buf, self.pos.get())?;
        self.pos.set(self.pos.get() + n as u64);
        Ok(n)
    }
}

/// Called during a pass with the pass's number (1 for the first) and the compressed bytes
/// read so far, for a progress bar (`ddgz ls` of a 32 GiB `.dd.gz` decodes for seconds).
pub type Progress = Box<dyn FnMut(u32, u64) + Send>;

/// A `.dd.gz` or `.dd.xz` opened for reading in passes; see the crate docs.
pub struct Packed {
    input: InputFile,
    compression: Compression,
    opts: Options,
    capture: Capture,
    size: u64,
    passes: u32,
    progress: Option<Progress>,
}

impl std::fmt::Debug for Packed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Packed")
            .field("path", &self.input.path())
            .field("compression", &self.compression)
            .field("size", &self.size)
            .field("passes", &self.passes)
            .finish()
    }
}

impl Packed {
    /// Opens `path` read-only and makes the first pass: the whole stream decoded once.
    pub fn open(path: &Path, opts: &Options) -> Result<Self, Error> {
        Self::from_input(InputFile::open(path)?, opts)
    }

    /// Like [`Packed::open`], for a file already opened.
    pub fn from_input(input: InputFile, opts: &Options) -> Result<Self, Error> {
        Self::from_input_progress(input, opts, None)
    }

    /// Like [`Packed::from_input`], calling `progress` during every pass (this one and
    /// those [`Packed::run`] makes).
    pub fn from_input_progress(
        input: InputFile,
        opts: &Options,
        progress: Option<Progress>,
    ) -> Result<Self, Error> {
        let path = input.path().to_path_buf();
        let path = path.as_path();
        let mut head = [0u8; 6];
        let n = input.size().min(6) as usize;
        input.read_exact_at(&mut head[..n], 0, "the magic number")?;
        let compression = detect(&head[..n]).ok_or_else(|| Error::Limit {
            path: path.into(),
            reason: "is neither gzip nor xz compressed".into(),
        })?;
        let mut capture = Capture::new(opts.budget);
        if !capture.want(std::slice::from_ref(&(0..opts.head))) {
            return Err(Error::Limit {
                path: path.into(),
                reason: format!(
                    "the head of {} bytes exceeds the budget of {} bytes",
                    opts.head, opts.budget
                ),
            });
        }
        let mut p = Self {
            input,
            compression,
            opts: opts.clone(),
            capture,
            size: 0,
            passes: 0,
            progress,
        };
        p.size = p.pass(None)?;
        Ok(p)
    }

    /// The decompressed disk's size in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The stream's compression.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Passes made over the stream so far.
    pub fn passes(&self) -> u32 {
        self.passes
    }

    /// The file.
    pub fn path(&self) -> &Path {
        self.input.path()
    }

    /// Decodes the stream from the start into the capture, up to `stop` decoded bytes (or
    /// the end); returns the decoded length reached.
    fn pass(&mut self, stop: Option<u64>) -> Result<u64, Error> {
        self.passes += 1;
        match self.decode(stop, false) {
            // A filter or check our xz reader leaves to lzma-rust2's: the pass again.
            Err(Error::Decode { source, .. }) if xz::is_unsupported(&source) => {
                self.capture.want(&[]);
                self.decode(stop, true)
            }
            r => r,
        }
    }

    /// One pass; xz by [`xz::XzDecoder`], or by lzma-rust2's reader when `general`.
    fn decode(&mut self, stop: Option<u64>, general: bool) -> Result<u64, Error> {
        let consumed = std::cell::Cell::new(0);
        let at = At {
            file: &self.input,
            pos: &consumed,
        };
        let src = std::io::BufReader::with_capacity(1 << 20, at);
        let mut r: Box<dyn Read + '_> = match self.compression {
            Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(src)),
            Compression::Xz if general => Box::new(lzma_rust2::XzReader::new_mem_limit(
                src,
                true,
                xz::MEM_LIMIT_KIB,
            )),
            Compression::Xz => Box::new(xz::XzDecoder::new(src)),
        };
        let mut buf = vec![0u8; 1 << 20];
        let mut off = 0u64;
        loop {
            if stop.is_some_and(|s| off >= s) {
                return Ok(off);
            }
            let n = match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(source) => {
                    return Err(Error::Decode {
                        path: self.input.path().into(),
                        compression: self.compression,
                        decoded: off,
                        source,
                    })
                }
            };
            self.capture.keep(off, &buf[..n]);
            off += n as u64;
            if let Some(p) = self.progress.as_mut() {
                p(self.passes, consumed.get());
            }
        }
        if self.passes > 1 && off != self.size {
            return Err(Error::Changed {
                path: self.input.path().into(),
                reason: format!(
                    "pass {} decoded {off} bytes, the first {}",
                    self.passes, self.size
                ),
            });
        }
        Ok(off)
    }

    /// Runs `reader` on the disk until a run reads only bytes that were kept, asking for
    /// the missing ranges and decoding again between runs; returns that run's result.
    pub fn run<T>(&mut self, mut reader: impl FnMut(&PackedDisk) -> T) -> Result<T, Error> {
        loop {
            let (out, misses) = {
                let disk = PackedDisk {
                    view: self.capture.view(self.size),
                    facts: self.facts(),
                };
                let out = reader(&disk);
                (out, disk.view.misses())
            };
            if misses.is_empty() {
                return Ok(out);
            }
            if self.passes >= self.opts.max_passes {
                return Err(Error::Limit {
                    path: self.input.path().into(),
                    reason: format!(
                        "reading it needs more than {} passes over the stream; unpack it \
                         (zcat/xzcat) and read the raw disk instead",
                        self.opts.max_passes
                    ),
                });
            }
            if !self.capture.want(&misses) {
                return Err(Error::Limit {
                    path: self.input.path().into(),
                    reason: format!(
                        "reading it needs more than {} MiB of the decompressed disk kept in \
                         memory (our limit); unpack it (zcat/xzcat) and read the raw disk \
                         instead",
                        self.opts.budget >> 20
                    ),
                });
            }
            let stop = self.capture.wanted_end().min(self.size);
            self.pass(Some(stop))?;
        }
    }

    fn facts(&self) -> Facts {
        let mut f = Facts::new(self.compression.name(), self.input.path(), self.size);
        f.subformat = Some(format!("raw disk, {} compressed", self.compression.name()));
        f.details
            .push(("compressed size", self.input.size().to_string()));
        f.details
            .push(("passes over the stream", self.passes.to_string()));
        f
    }
}

/// The disk as one run of the reader sees it: kept ranges and zero blocks; see
/// [`Packed::run`].
#[derive(Debug)]
pub struct PackedDisk<'a> {
    view: CaptureView<'a>,
    facts: Facts,
}

impl Disk for PackedDisk<'_> {
    fn size(&self) -> u64 {
        self.view.size()
    }
    fn extents(&self, offset: u64, len: u64) -> ddgz_disk::Result<Vec<Extent>> {
        self.view.extents(offset, len)
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> ddgz_disk::Result<()> {
        self.view.read_at(offset, buf)
    }
}

impl Container for PackedDisk<'_> {
    fn facts(&self) -> Facts {
        self.facts.clone()
    }
}

/// Fuzzing entry point: decodes `data` as an xz file with this crate's reader, at most
/// 64 MiB of output. Must never panic, loop forever or allocate without bound, whatever
/// the input.
#[doc(hidden)]
pub fn fuzz_xz(data: &[u8]) {
    let mut r = xz::XzDecoder::new(data);
    let mut buf = vec![0u8; 1 << 16];
    let mut out = 0usize;
    while out < 64 << 20 {
        match r.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => out += n,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn disk() -> Vec<u8> {
        let mut d = vec![0u8; 200 << 20];
        for (i, b) in d.iter_mut().enumerate().skip(150 << 20).take(6 << 20) {
            *b = (i % 241) as u8;
        }
        d[100] = 1;
        d
    }

    fn check(path: &Path, d: &[u8]) {
        let opts = Options {
            head: 1 << 20,
            budget: 4 << 20,
            max_passes: 3,
        };
        let mut p = Packed::open(path, &opts).unwrap();
        assert_eq!(p.size(), d.len() as u64);
        let at = (150 << 20) + 12345;
        let got = p
            .run(|disk| {
                let mut b = vec![0u8; 70_000];
                disk.read_at(at, &mut b).unwrap();
                let mut t = [0u8; 16];
                disk.read_at(disk.size() - 16, &mut t).unwrap();
                (b, t)
            })
            .unwrap();
        assert_eq!(&got.0[..], &d[at as usize..at as usize + 70_000]);
        assert_eq!(&got.1[..], &d[d.len() - 16..]);
        assert_eq!(p.passes(), 2);
        // More than the budget: refused with the reason.
        let e = p
            .run(|disk| {
                let mut b = vec![0u8; 8 << 20];
                disk.read_at(150 << 20, &mut b).unwrap();
            })
            .unwrap_err()
            .to_string();
        assert!(e.contains("more than 4 MiB"), "{e}");
    }

    #[test]
    fn gzip_and_xz_streams() {
        let d = disk();
        let dir = tempfile::tempdir().unwrap();
        let gz = dir.path().join("d.dd.gz");
        let mut w = flate2::write::GzEncoder::new(
            std::fs::File::create(&gz).unwrap(),
            flate2::Compression::fast(),
        );
        w.write_all(&d).unwrap();
        w.finish().unwrap();
        check(&gz, &d);
        // xz from xz-utils: the real tool's streams.
        let raw = dir.path().join("d.raw");
        std::fs::write(&raw, &d).unwrap();
        let st = std::process::Command::new("xz")
            .args(["-0", "-T1", "-k"])
            .arg(&raw)
            .status()
            .unwrap();
        assert!(st.success());
        check(&dir.path().join("d.raw.xz"), &d);
        assert_eq!(detect(b"\x1f\x8b\x08\0"), Some(Compression::Gzip));
        assert_eq!(detect(b"QFI\xfb"), None);
    }

    #[test]
    fn corrupt_stream_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let gz = dir.path().join("bad.dd.gz");
        let mut w = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        w.write_all(&disk()[..1 << 20]).unwrap();
        let mut b = w.finish().unwrap();
        let n = b.len();
        b.truncate(n / 2);
        std::fs::write(&gz, &b).unwrap();
        let e = Packed::open(&gz, &Options::default())
            .unwrap_err()
            .to_string();
        assert!(e.contains("bad.dd.gz: gzip stream broken after"), "{e}");
    }
}
