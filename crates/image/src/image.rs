//! Opening an image file: opened once, probed, handed to its format's reader.

use std::path::{Path, PathBuf};

use ddgz_disk::{Chain, Container, Disk, Extent, Facts, InputFile, Result};

use crate::registry::{identify_file, Format, Identity, Registry};
use crate::unsupported::{self, refuse};

/// How to open an image.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct OpenOptions {
    /// Force a format instead of detecting it from the content.
    pub format: Option<Format>,
    /// Open images whose corrupt bit is set (qcow2).
    pub force_corrupt: bool,
    /// Let an image name files outside its own directory (absolute or `../` extent,
    /// backing, data or parent names): `--allow-outside-files`. Refused by default, so that
    /// an image from elsewhere cannot pull a host file into the output.
    pub allow_outside_files: bool,
}

/// An opened image file, of any format in [`FORMATS`](crate::FORMATS).
#[derive(Debug)]
pub struct Image {
    path: PathBuf,
    format: Format,
    disk: Box<dyn Container>,
    named: Vec<PathBuf>,
}

impl Image {
    /// Opens `path` read-only (once: the probe reads the open file), detecting its format
    /// unless `opts.format` forces one. Backing files are opened through the same table,
    /// by the format their image records.
    pub fn open(path: &Path, opts: &OpenOptions) -> Result<Self> {
        let input = InputFile::open(path)?;
        let mut chain = Chain::default().allow_outside_files(opts.allow_outside_files);
        chain.enter(&input)?;
        let format = match opts.format {
            Some(f) => f,
            None => match identify_file(&input)? {
                Identity::Image(f) => f,
                // A compressed stream or an ISO read as a raw disk would only say "no
                // partition table": name it instead. `--format raw` still reads it.
                Identity::Packed(c) => return Err(refuse(&input, unsupported::packed(c))),
                Identity::Foreign(f) => return Err(refuse(&input, f)),
            },
        };
        let disk = (format.entry().open)(input, opts, &Registry { opts }, &mut chain)?;
        Ok(Self {
            path: path.into(),
            format,
            disk,
            named: chain.named_files().to_vec(),
        })
    }

    /// The file this image was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every other file the image named and had opened (extent, backing, data and parent
    /// files, through the whole chain), as resolved paths, in the order they were named.
    pub fn named_files(&self) -> &[PathBuf] {
        &self.named
    }

    /// Every file the run reads through this image: its own, its backing chain and data
    /// files, and the file its path names now (a symbolic link to it counts): what an
    /// output must never be ([`ddgz_disk::FileId`]).
    pub fn files_read(&self) -> Vec<ddgz_disk::FileId> {
        let mut reads = self.disk.files();
        if let Ok(m) = std::fs::metadata(&self.path) {
            reads.push(ddgz_disk::FileId::of(&m));
        }
        reads
    }

    /// The container format.
    pub fn format(&self) -> Format {
        self.format
    }
}

impl Disk for Image {
    fn size(&self) -> u64 {
        self.disk.size()
    }
    fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>> {
        self.disk.extents(offset, len)
    }
    fn extents_from(&self, offset: u64, len: u64) -> Result<Vec<Extent>> {
        self.disk.extents_from(offset, len)
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        self.disk.read_at(offset, buf)
    }
    fn allocated_bytes(&self) -> Result<u64> {
        self.disk.allocated_bytes()
    }
    fn files(&self) -> Vec<ddgz_disk::FileId> {
        self.disk.files()
    }
}

impl Container for Image {
    fn facts(&self) -> Facts {
        self.disk.facts()
    }
}
