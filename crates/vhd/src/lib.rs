//! Read-only VHD reader (Microsoft Virtual Hard Disk Image Format Specification 1.0).
//!
//! Opens fixed, dynamic and differencing VHDs and implements [`ddgz_disk::Disk`]:
//! *what is at guest range [a, b)* (unallocated blocks, and sectors whose bit in the
//! block's sector bitmap is clear, are zeros or the parent's, and are never read) and
//! *give me those bytes*.
//!
//! Where QEMU (`block/vpc.c`, the oracle) and the specification differ, we follow:
//! - QEMU for the virtual size: the CHS geometry unless the creator application is one
//!   known to write the exact size (see [`SizeRule`]);
//! - the specification for the footer: the one at the end of the file is used, and its
//!   copy at offset 0 only when the end one is damaged (a bad cookie, checksum or disk
//!   type) — QEMU reads the copy at offset 0 of a dynamic disk and nothing else;
//! - the specification for sector bitmaps: a sector whose bit is clear is not in this
//!   file (zeros, or the parent's). QEMU reads the whole block and ignores the bitmap;
//!   the two agree on every image QEMU writes (it sets every bit of a block it
//!   allocates);
//! - the specification for differencing disks: the parent is found through the parent
//!   locators ([`parent`](crate) rules) and followed; QEMU reads a differencing disk as
//!   a dynamic one without its parent.
//!
//! Every value read from the file is untrusted: header fields are checked in dependency
//! order, every table and block is checked against the file size, the block allocation
//! table is capped at [`MAX_BAT_ENTRIES`], and the parent chain at
//! [`OpenOptions::max_chain_depth`] files, without loops. Files are read with positional
//! reads; a [`Vhd`] is `Send + Sync`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod dynamic;
mod facts;
mod footer;
mod parent;

use std::path::{Path, PathBuf};

use ddgz_disk::{Chain, Disk, ImageFile, InputFile, Map, Mapping, Runs};

pub use ddgz_disk::{ReaderError as Error, ReaderKind as ErrorKind};
pub use footer::{DiskType, SizeRule};
pub use parent::DEFAULT_MAX_CHAIN_DEPTH;

use dynamic::{DynHeader, HEADER_SIZE, MAX_LOCATOR_LEN};
use footer::{Footer, FOOTER_SIZE};

/// Most block allocation table entries read (16 Mi entries, 64 MiB): a 2040 GiB disk
/// with blocks of 128 KiB or more. Our limit, to bound memory; the default block is
/// 2 MiB (1 Mi entries at the largest size).
pub const MAX_BAT_ENTRIES: u64 = 1 << 24;

/// A block allocation table entry for a block not present in the file (specification).
const NOT_PRESENT: u32 = 0xffff_ffff;

/// Options for [`Vhd::open`].
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// Longest parent chain accepted, not counting the image itself.
    pub max_chain_depth: usize,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            max_chain_depth: DEFAULT_MAX_CHAIN_DEPTH,
        }
    }
}

/// Which copy of the footer was used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FooterCopy {
    /// The footer at the end of the file.
    End,
    /// The copy at offset 0: the end one is damaged.
    Head,
}

/// One parent of a differencing disk.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ParentInfo {
    /// The path it resolved to.
    pub path: PathBuf,
    /// How its path was found (which locator).
    pub found_by: String,
    /// Its subformat.
    pub disk_type: DiskType,
    /// Its virtual size in bytes.
    pub virtual_size: u64,
}

/// Container details, for `ddgz inspect`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Info {
    /// The image file.
    pub path: PathBuf,
    /// Fixed, dynamic or differencing.
    pub disk_type: DiskType,
    /// Virtual size in bytes.
    pub virtual_size: u64,
    /// Whether the size came from the CHS geometry or `current_size`.
    pub size_rule: SizeRule,
    /// The creator application tag (`qemu`, `win `, `vpc `, …), printable.
    pub creator_app: String,
    /// Block size in bytes (dynamic and differencing disks).
    pub block_size: Option<u64>,
    /// Which footer copy was used.
    pub footer: FooterCopy,
    /// The parent chain, nearest first.
    pub parents: Vec<ParentInfo>,
}

/// A dynamic or differencing disk's tables.
#[derive(Debug)]
struct Sparse {
    block_size: u64,
    /// Bytes of the sector bitmap before each block's data (a multiple of 512).
    bitmap_size: u64,
    /// Sector offsets of the blocks, as many as the virtual size needs.
    bat: Vec<u32>,
    parent: Option<(Box<Vhd>, String)>,
}

#[derive(Debug)]
enum Layout {
    /// The disk is the first `size` bytes of the file.
    Fixed,
    Sparse(Sparse),
}

/// An opened VHD, with its parent chain.
#[derive(Debug)]
pub struct Vhd {
    path: PathBuf,
    /// The file: the disk itself (fixed), or the blocks the BAT points to.
    file: ImageFile,
    footer: Footer,
    copy: FooterCopy,
    size: u64,
    rule: SizeRule,
    layout: Layout,
}

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Vhd>();
    send_sync::<Error>();
};

/// Whether `head` (the first bytes of a file) and `tail` (its last 512 bytes) look like
/// a VHD: the footer cookie at offset 0 (dynamic, differencing) or a valid fixed-disk
/// footer at the end (cookie, checksum, disk type 2). This is how ddgz probes a fixed
/// VHD, which QEMU reads as raw unless told `-f vpc`.
pub fn probe(head: &[u8], tail: &[u8]) -> bool {
    if Footer::has_cookie(head) {
        return true;
    }
    let Ok(t) = <&[u8; 512]>::try_from(tail) else {
        return false;
    };
    matches!(Footer::parse(t), Ok(f) if f.disk_type == DiskType::Fixed)
}

impl Vhd {
    /// Opens `path` read-only, with its parent chain.
    pub fn open(path: &Path, opts: &OpenOptions) -> Result<Self, Error> {
        let input = InputFile::open(path).map_err(|e| ddgz_disk::open_error(path, e, ""))?;
        let mut chain = Chain::new(opts.max_chain_depth);
        enter(&mut chain, &input, "")?;
        Self::open_input(input, opts, &mut chain)
    }

    /// Reads a file already opened (by the format registry), which `chain` already holds;
    /// its parents are entered into `chain` (loops and depth refused).
    pub fn open_input(
        input: InputFile,
        opts: &OpenOptions,
        chain: &mut Chain,
    ) -> Result<Self, Error> {
        Self::open_source(ImageFile::file(input), opts, chain)
    }

    /// Parses an image held in memory, named `name` in messages; a differencing disk is
    /// refused (its parent cannot be opened). Meant for fuzzing ([`fuzz_image`]).
    pub fn from_bytes(name: &Path, bytes: Vec<u8>) -> Result<Self, Error> {
        let source = ImageFile::memory(name, bytes);
        let opts = OpenOptions::default();
        Self::open_source(source, &opts, &mut Chain::new(opts.max_chain_depth))
    }

    /// Finds the footer: the one at the end, or its copy at offset 0 if the end one is
    /// damaged and the copy describes a dynamic or differencing disk.
    fn find_footer(source: &ImageFile) -> Result<(Footer, FooterCopy), Error> {
        let path = source.path();
        let size = source.size();
        if size < FOOTER_SIZE {
            return Err(Error::new(
                path,
                ErrorKind::InvalidFormat,
                format!("file is {size} bytes, too short for a VHD footer (512 bytes)"),
            ));
        }
        let mut tail = [0u8; 512];
        source.read(&mut tail, size - FOOTER_SIZE, "the footer")?;
        let end = Footer::parse(&tail);
        let end_problem = match end {
            Ok(f) => return Ok((f, FooterCopy::End)),
            Err(p) => p,
        };
        let mut head = [0u8; 512];
        source.read(&mut head, 0, "the footer copy")?;
        if Footer::has_cookie(&head) {
            match Footer::parse(&head) {
                Ok(f) if f.disk_type != DiskType::Fixed => return Ok((f, FooterCopy::Head)),
                Ok(_) => {}
                Err(p) => {
                    if Footer::has_cookie(&tail) {
                        return Err(Error::new(
                            path,
                            p.kind,
                            format!(
                                "footer at 0x{:x}: {}; its copy at offset 0: {}",
                                size - FOOTER_SIZE,
                                end_problem.message,
                                p.message
                            ),
                        ));
                    }
                    return Err(Error::new(
                        path,
                        p.kind,
                        format!(
                            "no footer at the end of the file (0x{:x}) and its copy at \
                             offset 0 is damaged: {}",
                            size - FOOTER_SIZE,
                            p.message
                        ),
                    ));
                }
            }
        }
        Err(Error::new(
            path,
            end_problem.kind,
            format!(
                "footer at 0x{:x}: {}",
                size - FOOTER_SIZE,
                end_problem.message
            ),
        ))
    }

    fn open_source(
        source: ImageFile,
        opts: &OpenOptions,
        chain: &mut Chain,
    ) -> Result<Self, Error> {
        let path = source.path().to_path_buf();
        let file_size = source.size();
        let (footer, copy) = Self::find_footer(&source)?;
        let (size, rule) = footer.virtual_size().map_err(|p| p.at(&path))?;
        let layout = match footer.disk_type {
            DiskType::Fixed => {
                let data = file_size - FOOTER_SIZE;
                if size > data {
                    return Err(Error::new(
                        &path,
                        ErrorKind::Truncated,
                        format!(
                            "fixed disk of {size} bytes needs {} bytes with its footer; the \
                             file has {file_size}",
                            size + FOOTER_SIZE
                        ),
                    ));
                }
                Layout::Fixed
            }
            DiskType::Dynamic | DiskType::Differencing => {
                Layout::Sparse(Self::open_sparse(&source, &footer, size, opts, chain)?)
            }
        };
        Ok(Self {
            path,
            file: source,
            footer,
            copy,
            size,
            rule,
            layout,
        })
    }

    fn open_sparse(
        source: &ImageFile,
        footer: &Footer,
        size: u64,
        opts: &OpenOptions,
        chain: &mut Chain,
    ) -> Result<Sparse, Error> {
        let path = source.path().to_path_buf();
        let file_size = source.size();
        let at = footer.data_offset;
        if at
            .checked_add(HEADER_SIZE as u64)
            .is_none_or(|e| e > file_size)
        {
            return Err(Error::new(
                &path,
                ErrorKind::Corrupt,
                format!(
                    "dynamic disk header at 0x{at:x} (1024 bytes) lies past the end of the \
                     file (size 0x{file_size:x})"
                ),
            ));
        }
        let mut hb = [0u8; HEADER_SIZE];
        source.read(&mut hb, at, "the dynamic disk header")?;
        let h = DynHeader::parse(&hb)
            .map_err(|p| Error::new(&path, p.kind, format!("{} (at 0x{at:x})", p.message)))?;
        let bs = u64::from(h.block_size);
        // One bit per sector, padded to whole sectors (specification, "Block Format").
        let bitmap_size = (bs / 512).div_ceil(8).next_multiple_of(512);
        let needed = size.div_ceil(bs);
        if needed > u64::from(h.max_table_entries) {
            return Err(Error::new(
                &path,
                ErrorKind::InvalidFormat,
                format!(
                    "the block allocation table has {} entries of {bs} bytes, fewer than the \
                     {needed} blocks of the {size}-byte disk",
                    h.max_table_entries
                ),
            ));
        }
        if needed > MAX_BAT_ENTRIES {
            return Err(Error::new(
                &path,
                ErrorKind::Unsupported,
                format!(
                    "the disk needs {needed} block allocation table entries ({bs}-byte \
                     blocks); the limit is {MAX_BAT_ENTRIES}"
                ),
            ));
        }
        let t = h.table_offset;
        let bat_bytes = needed * 4;
        if t.checked_add(bat_bytes).is_none_or(|e| e > file_size) {
            return Err(Error::new(
                &path,
                ErrorKind::Corrupt,
                format!(
                    "block allocation table at 0x{t:x} ({needed} entries) lies past the end of \
                     the file (size 0x{file_size:x})"
                ),
            ));
        }
        // bat_bytes <= file size (checked) and <= 64 MiB.
        let mut raw = vec![0u8; bat_bytes as usize];
        source.read(&mut raw, t, "the block allocation table")?;
        let bat: Vec<u32> = raw
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes(c.try_into().expect("4 bytes")))
            .collect();
        for (i, &e) in bat.iter().enumerate() {
            if e == NOT_PRESENT {
                continue;
            }
            let start = u64::from(e) * 512;
            let end = start + bitmap_size + bs;
            if end > file_size {
                return Err(Error::new(
                    &path,
                    ErrorKind::Corrupt,
                    format!(
                        "block {i} at 0x{start:x} (bitmap and data, {} bytes) lies past the \
                         end of the file (size 0x{file_size:x}); BAT entry 0x{e:08x}",
                        bitmap_size + bs
                    ),
                ));
            }
        }
        let parent = if footer.disk_type == DiskType::Differencing {
            if source.is_memory() {
                return Err(Error::new(
                    &path,
                    ErrorKind::Unsupported,
                    "an image read from memory cannot open its parent",
                ));
            }
            Some(Self::open_parent(source, &h, opts, chain)?)
        } else {
            None
        };
        Ok(Sparse {
            block_size: bs,
            bitmap_size,
            bat,
            parent,
        })
    }

    fn open_parent(
        source: &ImageFile,
        h: &DynHeader,
        opts: &OpenOptions,
        chain: &mut Chain,
    ) -> Result<(Box<Vhd>, String), Error> {
        let path = source.path();
        let file_size = source.size();
        let mut tried = Vec::new();
        let mut candidates = Vec::new();
        // W2ru first, then W2ku, then MacX, then the codes we do not read (so that the
        // error lists them).
        let order = [*b"W2ru", *b"W2ku", *b"MacX"];
        let mut locators: Vec<_> = h.locators.iter().collect();
        locators.sort_by_key(|l| order.iter().position(|c| *c == l.code).unwrap_or(3));
        for l in locators {
            if l.len == 0 {
                continue;
            }
            if l.len > MAX_LOCATOR_LEN {
                tried.push(format!(
                    "{} locator of {} bytes (the limit is {MAX_LOCATOR_LEN})",
                    l.code_name(),
                    l.len
                ));
                continue;
            }
            if l.offset
                .checked_add(u64::from(l.len))
                .is_none_or(|e| e > file_size)
            {
                return Err(Error::new(
                    path,
                    ErrorKind::Corrupt,
                    format!(
                        "{} parent locator at 0x{:x} ({} bytes) lies past the end of the file \
                         (size 0x{file_size:x})",
                        l.code_name(),
                        l.offset,
                        l.len
                    ),
                ));
            }
            let mut data = vec![0u8; l.len as usize];
            source.read(&mut data, l.offset, "a parent locator")?;
            match parent::from_locator(path, &l.code, &data) {
                Ok(c) => candidates.push(c),
                Err(p) => tried.push(p.message),
            }
        }
        match parent::from_unicode_name(path, &h.parent_name) {
            Ok(c) => candidates.push(c),
            Err(p) => tried.push(p.message),
        }
        let Some(c) = candidates
            .iter()
            .find(|c| std::fs::symlink_metadata(&c.path).is_ok())
        else {
            for c in &candidates {
                tried.push(format!("{} ({}) does not exist", c.path.display(), c.from));
            }
            return Err(Error::new(
                path,
                ErrorKind::Parent,
                format!(
                    "differencing disk: no parent found; tried: {}",
                    if tried.is_empty() {
                        "nothing (no parent locator or name)".to_string()
                    } else {
                        tried.join("; ")
                    }
                ),
            ));
        };
        chain
            .admit(
                path,
                c.path.as_os_str().as_encoded_bytes(),
                &c.path,
                "parent file",
            )
            .map_err(|e| Error::new(path, ErrorKind::Unsupported, e.message))?;
        let role = format!(" (the parent of {})", path.display());
        let input =
            InputFile::open(&c.path).map_err(|e| ddgz_disk::open_error(&c.path, e, &role))?;
        enter(chain, &input, &role)?;
        let p = Self::open_source(ImageFile::file(input), opts, chain)?;
        if p.footer.uuid != h.parent_uuid {
            return Err(Error::new(
                &c.path,
                ErrorKind::Parent,
                format!(
                    "unique id {} differs from the parent id {} recorded in {} (found by its \
                     {}): the parent changed after the child was made, or it is another file",
                    uuid(&p.footer.uuid),
                    uuid(&h.parent_uuid),
                    path.display(),
                    c.from
                ),
            ));
        }
        Ok((Box::new(p), c.from.clone()))
    }

    /// Virtual disk size in bytes.
    pub fn virtual_size(&self) -> u64 {
        self.size
    }

    /// The image file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Container details: subformat, size rule, block size, parents.
    pub fn info(&self) -> Info {
        let mut parents = Vec::new();
        let mut p = self.parent();
        while let Some((v, from)) = p {
            parents.push(ParentInfo {
                path: v.path.clone(),
                found_by: from.clone(),
                disk_type: v.footer.disk_type,
                virtual_size: v.size,
            });
            p = v.parent();
        }
        Info {
            path: self.path.clone(),
            disk_type: self.footer.disk_type,
            virtual_size: self.size,
            size_rule: self.rule,
            creator_app: footer::tag(&self.footer.creator_app),
            block_size: match &self.layout {
                Layout::Fixed => None,
                Layout::Sparse(s) => Some(s.block_size),
            },
            footer: self.copy,
            parents,
        }
    }

    fn parent(&self) -> Option<&(Box<Vhd>, String)> {
        match &self.layout {
            Layout::Sparse(s) => s.parent.as_ref(),
            Layout::Fixed => None,
        }
    }
}

impl Mapping for Vhd {
    fn disk_size(&self) -> u64 {
        self.size
    }

    fn image_path(&self) -> &Path {
        &self.path
    }

    /// A fixed disk is the file; a sparse one is walked block by block, reading the
    /// sector bitmaps of the allocated blocks the range touches.
    fn map(&self, offset: u64, end: u64, runs: &mut Runs) -> Result<(), Error> {
        let Layout::Sparse(s) = &self.layout else {
            runs.push(offset, end - offset, Map::Data { source: 0, offset });
            return Ok(());
        };
        let data = |offset| Map::Data { source: 0, offset };
        let bs = s.block_size;
        let mut pos = offset;
        while pos < end && !runs.full() {
            let bi = pos / bs;
            let bstart = bi * bs;
            let bend = bstart.saturating_add(bs).min(end);
            // bi < bat.len(): the table covers the virtual size (checked at open).
            let e = s.bat[bi as usize];
            if e == NOT_PRESENT {
                runs.push(pos, bend - pos, Map::Unallocated);
                pos = bend;
                continue;
            }
            let bitmap_at = u64::from(e) * 512;
            let data_at = bitmap_at + s.bitmap_size;
            let i0 = (pos - bstart) / 512;
            let i1 = (bend - 1 - bstart) / 512;
            let mut bits = vec![0u8; (i1 / 8 - i0 / 8 + 1) as usize];
            self.file
                .read(&mut bits, bitmap_at + i0 / 8, "a sector bitmap")?;
            if bits.iter().all(|&b| b == 0xff) {
                runs.push(pos, bend - pos, data(data_at + (pos - bstart)));
            } else {
                for i in i0..=i1 {
                    let set = bits[(i / 8 - i0 / 8) as usize] & (0x80 >> (i % 8)) != 0;
                    let a = (bstart + i * 512).max(pos);
                    let b = (bstart + (i + 1) * 512).min(bend);
                    let map = if set {
                        data(data_at + (a - bstart))
                    } else {
                        Map::Unallocated
                    };
                    runs.push(a, b - a, map);
                }
            }
            pos = bend;
        }
        Ok(())
    }

    fn source(&self, _: u32) -> &dyn Disk {
        &self.file
    }

    /// A fixed disk's holes are zeros; a sparse disk's blocks are data as the bitmap says.
    fn holes(&self, _: u32) -> bool {
        matches!(self.layout, Layout::Fixed)
    }

    fn backing(&self) -> Option<&dyn Disk> {
        self.parent().map(|(p, _)| p.as_ref() as &dyn Disk)
    }

    /// The file and its whole parent chain.
    fn file_ids(&self) -> Vec<ddgz_disk::FileId> {
        let mut out = self.file.files();
        if let Some((p, _)) = self.parent() {
            out.extend(p.files());
        }
        out
    }
}

ddgz_disk::mapped_disk!(Vhd);

/// Enters `input` into `chain`, naming its role in the error (loops, depth).
fn enter(chain: &mut Chain, input: &InputFile, role: &str) -> Result<(), Error> {
    chain.enter(input).map_err(|e| match e {
        ddgz_disk::Error::Chain { path, reason } => {
            Error::new(path, ErrorKind::Parent, format!("{reason}{role}"))
        }
        other => Error::new(input.path(), ErrorKind::Io, format!("{other}{role}")),
    })
}

fn uuid(u: &[u8; 16]) -> String {
    let h = hex::encode(u);
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Fuzzing entry point: parses `data` as an image in memory and, if it opens, maps and
/// reads it (at most 64 MiB of guest space mapped, 8 MiB read). Must never panic, loop
/// forever or allocate without bound, whatever the input.
#[doc(hidden)]
pub fn fuzz_image(data: &[u8]) {
    let _ = probe(
        data,
        data.get(data.len().saturating_sub(512)..).unwrap_or(&[]),
    );
    let Ok(v) = Vhd::from_bytes(Path::new("fuzz.vhd"), data.to_vec()) else {
        return;
    };
    let _ = v.info();
    ddgz_disk::map::fuzz_disk(&v);
}

#[cfg(test)]
mod tests;
