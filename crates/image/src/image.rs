//! Opening a disk image file of either format, detected by content.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use ddgz_qcow2::Qcow2;
use ddgz_vhd::Vhd;

use ddgz_disk::{Disk, Error, Extent, RawDisk, Result};

/// The qcow2 magic, `QFI\xfb` (qcow2 spec, "Header").
const QCOW2_MAGIC: [u8; 4] = *b"QFI\xfb";

/// On-disk container format of an image file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Format {
    /// The guest bytes as they are.
    Raw,
    /// QEMU copy-on-write v2/v3.
    Qcow2,
    /// Virtual PC / Hyper-V VHD: fixed, dynamic, differencing (QEMU's `vpc`).
    Vhd,
}

impl Format {
    /// Lower-case name, as on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Raw => "raw",
            Format::Qcow2 => "qcow2",
            Format::Vhd => "vhd",
        }
    }
}

/// How to open an image.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Force a format instead of detecting it from the content.
    pub format: Option<Format>,
    /// Open qcow2 images whose corrupt bit is set.
    pub force_corrupt: bool,
}

/// Detects the format of `path` from its first bytes (the qcow2 magic, a VHD footer
/// copy) and its last 512 (a fixed VHD's footer), else raw.
pub fn detect_format(path: &Path) -> Result<Format> {
    let io = |what: &str, source| Error::Io {
        path: path.into(),
        what: what.into(),
        source,
    };
    let mut f = File::open(path).map_err(|e| io("open", e))?;
    let mut magic = [0u8; 8];
    let mut got = 0;
    while got < magic.len() {
        match f.read(&mut magic[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io("read the first bytes", e)),
        }
    }
    if got >= 4 && magic[..4] == QCOW2_MAGIC {
        return Ok(Format::Qcow2);
    }
    // A fixed VHD is its data followed by a footer: probed by the footer at the end.
    let mut tail = [0u8; 512];
    let len = f.metadata().map_err(|e| io("stat", e))?.len();
    if len >= 512 {
        use std::os::unix::fs::FileExt;
        f.read_exact_at(&mut tail, len - 512)
            .map_err(|e| io("read the last 512 bytes", e))?;
    }
    if ddgz_vhd::probe(&magic[..got], &tail) {
        return Ok(Format::Vhd);
    }
    Ok(Format::Raw)
}

/// An opened image file: raw or qcow2.
#[derive(Debug)]
pub struct Image {
    path: PathBuf,
    inner: Inner,
}

#[derive(Debug)]
enum Inner {
    Raw(RawDisk),
    Qcow2(Box<Qcow2>),
    Vhd(Box<Vhd>),
}

impl Image {
    /// Opens `path` read-only, detecting its format unless `opts.format` forces one.
    pub fn open(path: &Path, opts: &OpenOptions) -> Result<Self> {
        let format = match opts.format {
            Some(f) => f,
            None => detect_format(path)?,
        };
        let inner = match format {
            Format::Raw => Inner::Raw(RawDisk::open(path)?),
            Format::Qcow2 => {
                let q = ddgz_qcow2::OpenOptions {
                    force_corrupt: opts.force_corrupt,
                    ..Default::default()
                };
                Inner::Qcow2(Box::new(Qcow2::open(path, &q)?))
            }
            Format::Vhd => Inner::Vhd(Box::new(Vhd::open(path, &Default::default())?)),
        };
        Ok(Self {
            path: path.into(),
            inner,
        })
    }

    /// The file this image was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The container format.
    pub fn format(&self) -> Format {
        match self.inner {
            Inner::Raw(_) => Format::Raw,
            Inner::Qcow2(_) => Format::Qcow2,
            Inner::Vhd(_) => Format::Vhd,
        }
    }

    /// The qcow2 reader, for container details (version, cluster size, backing chain).
    pub fn qcow2(&self) -> Option<&Qcow2> {
        match &self.inner {
            Inner::Qcow2(q) => Some(q),
            _ => None,
        }
    }

    /// The VHD reader, for container details (subformat, block size, parents).
    pub fn vhd(&self) -> Option<&Vhd> {
        match &self.inner {
            Inner::Vhd(v) => Some(v),
            _ => None,
        }
    }
}

impl Disk for Image {
    fn size(&self) -> u64 {
        match &self.inner {
            Inner::Raw(r) => r.size(),
            Inner::Qcow2(q) => q.virtual_size(),
            Inner::Vhd(v) => v.size(),
        }
    }

    fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>> {
        match &self.inner {
            Inner::Raw(r) => r.extents(offset, len),
            Inner::Qcow2(q) => Disk::extents(q, offset, len),
            Inner::Vhd(v) => v.extents(offset, len),
        }
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        match &self.inner {
            Inner::Raw(r) => r.read_at(offset, buf),
            Inner::Qcow2(q) => Disk::read_at(q, offset, buf),
            Inner::Vhd(v) => v.read_at(offset, buf),
        }
    }
}
