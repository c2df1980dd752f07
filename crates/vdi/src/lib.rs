//! Read-only VDI reader (VirtualBox Disk Image, version 1.1).
//!
//! Opens dynamic and static VDI images and implements [`ddgz_disk::Disk`]: the block map
//! says which blocks are in the file; a block marked *not allocated* (0xFFFFFFFF) or
//! *zero* (0xFFFFFFFE, a discarded block) reads as zeros and is never read, and within
//! an allocated block the file's own holes (a static image preallocated sparsely, as
//! qemu-img does) are zero extents too.
//!
//! QEMU (`block/vdi.c`) is the oracle; where it differs from VirtualBox we say so:
//! - a block's data lies at `data offset + index × (block size + block extra) + block
//!   extra` (VirtualBox); QEMU ignores the extra bytes, which every image QEMU or
//!   VirtualBox writes has as 0;
//! - any power-of-two block size from 512 B to 256 MiB is read (QEMU: 1 MiB only);
//! - a differencing image (a link or parent UUID) is refused, as QEMU does: its parent is
//!   found through VirtualBox's settings, not the image.
//!
//! Every value read from the file is untrusted: the header is checked before anything is
//! derived from it, the block map is capped at [`MAX_BLOCKS`] entries and must lie in the
//! file, every allocated block must lie in the file. A [`Vdi`] is `Send + Sync`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod facts;
mod header;
mod map;

use std::path::{Path, PathBuf};

use ddgz_disk::{Disk, ImageFile, Map, Mapping, Runs};

pub use ddgz_disk::{ReaderError as Error, ReaderKind as ErrorKind};
pub use header::ImageType;

use header::{Header, HEADER_SIZE};

/// Most block map entries read: 16 Mi (64 MiB of map, 16 TiB with 1 MiB blocks). Our
/// limit, to bound memory.
pub const MAX_BLOCKS: u64 = 1 << 24;

/// Block map value of a block never written (VirtualBox `VDI_IMAGE_BLOCK_FREE`).
const NOT_ALLOCATED: u32 = 0xffff_ffff;
/// Block map value of a block known to be zeros (VirtualBox `VDI_IMAGE_BLOCK_ZERO`).
const ZERO: u32 = 0xffff_fffe;

/// Container details, for `ddgz inspect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// The image file.
    pub path: PathBuf,
    /// Dynamic or static.
    pub image_type: ImageType,
    /// Virtual size in bytes.
    pub virtual_size: u64,
    /// Block size in bytes.
    pub block_size: u64,
    /// Blocks present in the file (of those the virtual size covers).
    pub blocks_allocated: u64,
    /// Blocks marked zero (discarded).
    pub blocks_zero: u64,
}

/// An opened VDI image.
#[derive(Debug)]
pub struct Vdi {
    source: ImageFile,
    header: Header,
    /// Block map entries the virtual size needs (at most [`MAX_BLOCKS`]).
    entries: u64,
    /// Blocks stored in the file, and blocks marked zero (counted at open).
    allocated: u64,
    zero: u64,
    /// The block map, read in windows on demand: never held whole.
    windows: map::Windows,
}

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Vdi>();
    send_sync::<Error>();
};

/// Whether the first bytes of a file (at least 512) are a VDI header.
pub fn probe(head: &[u8]) -> bool {
    header::probe(head)
}

impl Vdi {
    /// Opens `path` read-only.
    pub fn open(path: &Path) -> Result<Self, Error> {
        Self::open_source(ImageFile::open(path, "")?)
    }

    /// Reads a file already opened (by the format registry).
    pub fn open_input(input: ddgz_disk::InputFile) -> Result<Self, Error> {
        Self::open_source(ImageFile::file(input))
    }

    /// Parses an image held in memory, named `name` in messages (for fuzzing).
    pub fn from_bytes(name: &Path, bytes: Vec<u8>) -> Result<Self, Error> {
        Self::open_source(ImageFile::memory(name, bytes))
    }

    fn open_source(source: ImageFile) -> Result<Self, Error> {
        let path = source.path().to_path_buf();
        let file_size = source.size();
        if file_size < HEADER_SIZE as u64 {
            return Err(Error::new(
                &path,
                ErrorKind::InvalidFormat,
                format!("file is {file_size} bytes, shorter than the 512-byte VDI header"),
            ));
        }
        let mut hb = [0u8; HEADER_SIZE];
        source.read(&mut hb, 0, "the header")?;
        let header = Header::parse(&hb).map_err(|p| p.at(&path))?;
        let bs = u64::from(header.block_size);
        let needed = header.disk_size.div_ceil(bs);
        if needed > MAX_BLOCKS {
            return Err(Error::new(
                &path,
                ErrorKind::Unsupported,
                format!(
                    "the disk needs {needed} block map entries ({bs}-byte blocks); the limit \
                     is {MAX_BLOCKS}"
                ),
            ));
        }
        let at = header.offset_bmap;
        if at.checked_add(needed * 4).is_none_or(|e| e > file_size) {
            return Err(Error::new(
                &path,
                ErrorKind::Corrupt,
                format!(
                    "block map at 0x{at:x} ({needed} entries) lies past the end of the file \
                     (size 0x{file_size:x})"
                ),
            ));
        }
        // needed * 4 <= file size (checked) and <= 64 MiB: checked and counted one window
        // at a time, then read again in windows on demand (a 4 PiB disk's map is 64 MiB).
        let mut vdi = Self {
            source,
            header,
            entries: needed,
            allocated: 0,
            zero: 0,
            windows: map::Windows::new(),
        };
        let mut w = 0;
        while w * map::WINDOW < needed {
            let win = vdi.read_window(w)?;
            vdi.allocated += win.iter().filter(|&&e| e < ZERO).count() as u64;
            vdi.zero += win.iter().filter(|&&e| e == ZERO).count() as u64;
            w += 1;
        }
        Ok(vdi)
    }

    /// Window `w` of the block map, from the cache or the file.
    fn window(&self, w: u64) -> Result<std::sync::Arc<[u32]>, Error> {
        if let Some(win) = self.windows.get(w) {
            return Ok(win);
        }
        let win = self.read_window(w)?;
        self.windows.put(w, win.clone());
        Ok(win)
    }

    /// Reads window `w` of the block map from the file, checking that every stored block
    /// it names lies inside the file.
    fn read_window(&self, w: u64) -> Result<std::sync::Arc<[u32]>, Error> {
        let first = w * map::WINDOW;
        let k = (self.entries - first).min(map::WINDOW);
        let mut raw = vec![0u8; (k * 4) as usize];
        let at = self.header.offset_bmap + first * 4;
        self.source.read(&mut raw, at, "the block map")?;
        let win: std::sync::Arc<[u32]> = raw
            .chunks_exact(4)
            .map(|c| ddgz_disk::bytes::le32(c, 0))
            .collect();
        let bs = u64::from(self.header.block_size);
        let file_size = self.source.size();
        for (i, &e) in win.iter().enumerate() {
            if e >= ZERO {
                continue;
            }
            let ok = self
                .block_offset(e)
                .and_then(|o| o.checked_add(bs))
                .is_some_and(|end| end <= file_size);
            if !ok {
                return Err(Error::new(
                    self.source.path(),
                    ErrorKind::Corrupt,
                    format!(
                        "block {} is stored as block {e}, at 0x{:x}, past the end of the file \
                         (size 0x{file_size:x})",
                        first + i as u64,
                        self.block_offset(e).unwrap_or(u64::MAX)
                    ),
                ));
            }
        }
        Ok(win)
    }

    /// File offset of stored block `index`: data offset + index × (block size + extra)
    /// + extra. `None` on overflow.
    fn block_offset(&self, index: u32) -> Option<u64> {
        let h = &self.header;
        let stride = u64::from(h.block_size) + u64::from(h.block_extra);
        u64::from(index)
            .checked_mul(stride)?
            .checked_add(h.offset_data)?
            .checked_add(u64::from(h.block_extra))
    }

    /// Virtual disk size in bytes.
    pub fn virtual_size(&self) -> u64 {
        self.header.disk_size
    }

    /// The image file.
    pub fn path(&self) -> &Path {
        self.source.path()
    }

    /// Container details.
    pub fn info(&self) -> Info {
        Info {
            path: self.path().into(),
            image_type: self.header.image_type,
            virtual_size: self.header.disk_size,
            block_size: u64::from(self.header.block_size),
            blocks_allocated: self.allocated,
            blocks_zero: self.zero,
        }
    }
}

impl Mapping for Vdi {
    fn disk_size(&self) -> u64 {
        self.header.disk_size
    }

    fn image_path(&self) -> &Path {
        self.source.path()
    }

    /// One run per block: zeros (not allocated, or discarded) or the stored block.
    fn map(&self, offset: u64, end: u64, runs: &mut Runs) -> Result<(), Error> {
        let bs = u64::from(self.header.block_size);
        let mut pos = offset;
        while pos < end && !runs.full() {
            // pos < disk size <= entries × bs: the block's entry exists.
            let bi = pos / bs;
            let win = self.window(bi / map::WINDOW)?;
            let first = bi / map::WINDOW * map::WINDOW;
            let before = pos;
            while pos < end && !runs.full() {
                let bi = pos / bs;
                let Some(&e) = win.get((bi - first) as usize) else {
                    break;
                };
                let bstart = bi * bs;
                let bend = (bstart + bs).min(end);
                let map = if e == NOT_ALLOCATED || e == ZERO {
                    Map::Zero
                } else {
                    // Checked when the window was read: the block lies inside the file.
                    let base = self.block_offset(e).unwrap_or(0);
                    Map::Data {
                        source: 0,
                        offset: base + (pos - bstart),
                    }
                };
                runs.push(pos, bend - pos, map);
                pos = bend;
            }
            if pos == before {
                return Err(Error::new(
                    self.source.path(),
                    ErrorKind::Corrupt,
                    format!("the block map has no entry for block {bi}"),
                ));
            }
        }
        Ok(())
    }

    /// The image file; its holes inside stored blocks are zeros too.
    fn source(&self, _: u32) -> &dyn Disk {
        &self.source
    }

    /// The image file (a VDI has no parents here: a differencing one is refused).
    fn file_ids(&self) -> Vec<ddgz_disk::FileId> {
        self.source.files()
    }
}

ddgz_disk::mapped_disk!(Vdi);

/// Fuzzing entry point: parses `data` as an image in memory and, if it opens, maps and
/// reads it (at most 64 MiB mapped, 8 MiB read). Must never panic, loop forever or
/// allocate without bound, whatever the input.
#[doc(hidden)]
pub fn fuzz_image(data: &[u8]) {
    let _ = probe(data);
    let Ok(v) = Vdi::from_bytes(Path::new("fuzz.vdi"), data.to_vec()) else {
        return;
    };
    let _ = v.info();
    ddgz_disk::map::fuzz_disk(&v);
}

#[cfg(test)]
mod tests;
