//! Read-only VMDK reader (VMware Virtual Disk Format 5.0).
//!
//! Opens the VMDK files `qemu-img` and VMware products write — `monolithicSparse` and
//! `streamOptimized` (one hosted sparse file with an embedded descriptor; compressed
//! grains with markers and the footer copy of the header), `monolithicFlat`, and the split
//! `twoGbMaxExtentSparse` / `twoGbMaxExtentFlat` (a text descriptor naming its extent
//! files) — with extents of type SPARSE, FLAT, VMFS (flat) and ZERO, zeroed grains, and a
//! parent chain named by `parentFileNameHint`. It answers *what is at guest range
//! [a, b)* ([`ddgz_disk::Disk::extents`]: unallocated and zeroed grains are reported as
//! zeros and never read; holes of flat extent files too) and *give me those bytes*.
//!
//! Every value read from a file is untrusted: header fields are validated in dependency
//! order, every grain table and grain is checked to lie inside its file, sizes are summed
//! with overflow checks, and no allocation is sized by an unchecked value (grain
//! directory ≤ file size, compressed grains ≤ two grains of 16 MiB at most). Extent and
//! parent names resolve relative to the file that names them, with the guards of
//! [`ddgz_disk::resolve_name`] (no protocols, no NUL). The parent chain is at most
//! [`OpenOptions::max_chain_depth`] deep, may not loop, and each child's `parentCID` must
//! equal its parent's `CID` (QEMU refuses the read otherwise).
//!
//! Where QEMU 10 and the specification differ, on descriptors QEMU reads wrongly: QEMU
//! drops `RDONLY` and `ZERO` extent lines (the disk comes out shorter); we read them as
//! the specification says. Files are opened read-only and read with positional reads.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod descriptor;
mod header;
mod sparse;

use std::path::{Path, PathBuf};

use std::sync::Arc;

use ddgz_disk::{
    Chain, Container, Disk, Facts, ImageFile, Map, Mapping, MemoryDisk, OpenBacking, Problem,
    RawDisk, Runs, UnitCache,
};

pub use ddgz_disk::{ReaderError as Error, ReaderKind as ErrorKind};
pub use descriptor::looks_like_descriptor;

use descriptor::{Access, Descriptor, ExtentType};
use header::{Header, SECTOR};
use sparse::SparseExtent;

pub use ddgz_disk::{Opening, OwnBacking, DEFAULT_MAX_CHAIN_DEPTH};

/// The name of the CID fact in [`Facts::details`]: how a child checks its parent's content
/// ID whatever opened the parent.
const CID_FACT: &str = "content id";

/// Options for [`Vmdk::open`].
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

/// Whether `head`, the first bytes of a file, is a VMDK: a hosted sparse extent (`KDMV`),
/// an ESX 2 sparse extent (`COWD`, recognised to be refused by name) or a text descriptor.
pub fn probe(head: &[u8]) -> bool {
    head.starts_with(&header::MAGIC)
        || head.starts_with(&header::COWD_MAGIC)
        || looks_like_descriptor(head)
}

/// One extent of the disk, for [`Info`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtentInfo {
    /// `SPARSE`, `FLAT`, `VMFS` or `ZERO`.
    pub kind: &'static str,
    /// The file it resolved to (none for ZERO).
    pub file: Option<PathBuf>,
    /// Guest bytes it holds.
    pub len: u64,
    /// Byte offset into its file (FLAT).
    pub offset: u64,
}

/// One file of the parent chain, for [`Info`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentInfo {
    /// The descriptor (or monolithic file) it resolved to.
    pub path: PathBuf,
    /// Its `createType`.
    pub create_type: String,
    /// Its virtual size in bytes.
    pub virtual_size: u64,
}

/// Container facts, for `ddgz inspect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// The file opened.
    pub path: PathBuf,
    /// `createType` (subformat): monolithicSparse, streamOptimized, monolithicFlat, …
    pub create_type: String,
    /// Virtual size in bytes.
    pub virtual_size: u64,
    /// Sparse extent header version (of the first sparse extent).
    pub version: Option<u32>,
    /// Grain size in bytes (of the first sparse extent).
    pub grain_size: Option<u64>,
    /// Grains are deflate-compressed (streamOptimized).
    pub compressed: bool,
    /// The directory was read from the footer (streamOptimized written as a stream).
    pub footer: bool,
    /// Grain table entry 1 means a zeroed grain.
    pub zeroed_grains: bool,
    /// A redundant grain directory is kept (not read: QEMU does not either).
    pub redundant_directory: bool,
    /// Some sparse extent was not closed cleanly.
    pub unclean_shutdown: bool,
    /// Content ID.
    pub cid: Option<u32>,
    /// Parent content ID (ffffffff: none).
    pub parent_cid: Option<u32>,
    /// `parentFileNameHint`, as stored.
    pub parent_hint: Option<String>,
    /// The extents, in guest order.
    pub extents: Vec<ExtentInfo>,
    /// The parent chain, nearest first.
    pub parents: Vec<ParentInfo>,
}

#[derive(Debug)]
enum Data {
    Sparse(Box<SparseExtent>),
    /// A flat file from byte `start` (holes reported by the filesystem are zeros).
    Flat {
        disk: RawDisk,
        start: u64,
    },
    Zero,
}

#[derive(Debug)]
struct Extent {
    /// First guest byte.
    start: u64,
    len: u64,
    kind: &'static str,
    data: Data,
}

/// An opened VMDK image with its extent files and parent chain.
#[derive(Debug)]
pub struct Vmdk {
    path: PathBuf,
    create_type: String,
    size: u64,
    extents: Vec<Extent>,
    desc: Descriptor,
    parent: Option<Box<dyn Container>>,
    /// The last decompressed grain.
    cache: UnitCache,
}

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Vmdk>();
    send_sync::<Error>();
};

/// The checked byte size of `sectors`.
fn sector_bytes(sectors: u64, what: &str) -> Result<u64, Problem> {
    sectors
        .checked_mul(SECTOR)
        .filter(|b| *b <= i64::MAX as u64)
        .ok_or_else(|| Problem::invalid(format!("{what} of {sectors} sectors is too large")))
}

impl Vmdk {
    /// Opens `path` (a descriptor or a monolithic file) read-only, with its extent files
    /// and parent chain (parents opened as VMDK). The format registry (`ddgz-image`) uses
    /// [`OwnBacking::open_input`] instead.
    pub fn open(path: &Path, opts: &OpenOptions) -> Result<Self, Error> {
        ddgz_disk::open_own(path, opts, opts.max_chain_depth)
    }

    /// Parses an image held in memory, named `name` in messages. It may not name extent
    /// files or a parent. Meant for fuzzing (see [`fuzz_image`]).
    pub fn from_bytes(name: &Path, bytes: Vec<u8>) -> Result<Self, Error> {
        Self::open_source(
            ImageFile::memory(name, bytes),
            &OpenOptions::default(),
            None,
        )
    }

    fn open_source(
        file: ImageFile,
        _opts: &OpenOptions,
        mut parents: Option<(&dyn OpenBacking, &mut Chain)>,
    ) -> Result<Self, Error> {
        let path = file.path().to_path_buf();
        let mut head = vec![0u8; file.size().min(512) as usize];
        file.read(&mut head, 0, "the first sector")?;
        let (desc, extents, default_type) = if head.starts_with(&header::MAGIC) {
            let h = Header::parse(&head).map_err(|p| p.at(&path))?;
            let desc = Self::embedded_descriptor(&file, &h)?;
            if h.capacity == 0 && h.descriptor_offset != 0 {
                // A sparse file that holds only a descriptor: its extents are elsewhere.
                let extents =
                    Self::descriptor_extents(&file, &desc, parents.as_mut().map(|p| &mut *p.1))?;
                (desc, extents, "monolithicSparse")
            } else {
                let sp = SparseExtent::open(file, h)?;
                let ty = if sp.header.compressed() {
                    "streamOptimized"
                } else {
                    "monolithicSparse"
                };
                let e = Extent {
                    start: 0,
                    len: sp.geo.capacity,
                    kind: "SPARSE",
                    data: Data::Sparse(Box::new(sp)),
                };
                (desc, vec![e], ty)
            }
        } else if head.starts_with(&header::COWD_MAGIC) {
            return Err(Self::cowd(&path));
        } else if looks_like_descriptor(&head) {
            if file.size() > header::MAX_DESCRIPTOR {
                return Err(Error::new(
                    &path,
                    ErrorKind::InvalidFormat,
                    format!(
                        "looks like a VMDK descriptor but is {} bytes; a descriptor file is at \
                         most {} bytes",
                        file.size(),
                        header::MAX_DESCRIPTOR
                    ),
                ));
            }
            let mut text = vec![0u8; file.size() as usize];
            file.read(&mut text, 0, "the descriptor")?;
            let desc = Descriptor::parse(&text).map_err(|p| p.at(&path))?;
            let extents =
                Self::descriptor_extents(&file, &desc, parents.as_mut().map(|p| &mut *p.1))?;
            (desc, extents, "monolithicFlat")
        } else {
            return Err(Error::new(
                &path,
                ErrorKind::InvalidFormat,
                "not a VMDK file: no sparse extent magic \"KDMV\" and no text descriptor \
                 (a \"version=N\" line)",
            ));
        };
        let size = extents.last().map_or(0, |e| e.start + e.len);
        let create_type = desc
            .create_type
            .clone()
            .unwrap_or_else(|| default_type.to_string());

        let parent = match &desc.parent_hint {
            None => None,
            Some(hint) => {
                let ppath = Self::resolve(
                    parents.as_mut().map(|p| &mut *p.1),
                    &path,
                    hint,
                    "parent file",
                )?;
                let Some((backing, chain)) = parents else {
                    return Err(Error::new(
                        &path,
                        ErrorKind::Unsupported,
                        "an image read from memory cannot open its parent file",
                    ));
                };
                let role = format!(" (the parent of {})", path.display());
                let parent = backing
                    .open_backing(&ppath, "vmdk", chain)
                    .map_err(|e| Error::from_disk(e, &ppath, &role))?;
                let have = parent
                    .facts()
                    .details
                    .iter()
                    .find(|(k, _)| *k == CID_FACT)
                    .and_then(|(_, v)| u32::from_str_radix(v, 16).ok());
                if let (Some(want), Some(have)) = (desc.parent_cid, have) {
                    if want != have {
                        return Err(Error::new(
                            &path,
                            ErrorKind::BackingChain,
                            format!(
                                "parentCID {want:08x} does not match the CID {have:08x} of \
                                 the parent {}: the parent changed after this image was made",
                                ppath.display()
                            ),
                        ));
                    }
                }
                Some(parent)
            }
        };
        Ok(Self {
            path,
            create_type,
            size,
            extents,
            desc,
            parent,
            cache: UnitCache::default(),
        })
    }

    fn cowd(path: &Path) -> Error {
        Error::new(
            path,
            ErrorKind::Unsupported,
            "a VMFS sparse extent (\"COWD\", ESX 2 / vmfsSparse snapshots) is not supported; \
             convert it with VMware tools or qemu-img first",
        )
    }

    /// Resolves a stored name through `chain` (refused when it leaves the image's
    /// directory unless allowed; recorded as a file pulled in), or with the default rules
    /// for an image read from memory.
    fn resolve(
        chain: Option<&mut Chain>,
        path: &Path,
        name: &[u8],
        what: &str,
    ) -> Result<PathBuf, Error> {
        let r = match chain {
            Some(c) => c.resolve(path, name, what),
            None => Chain::default().resolve(path, name, what),
        };
        r.map_err(|e| {
            let kind = if e.unsupported {
                ErrorKind::Unsupported
            } else {
                ErrorKind::InvalidFormat
            };
            Error::new(path, kind, e.message)
        })
    }

    /// The descriptor embedded in a sparse file, if the header names one.
    fn embedded_descriptor(file: &ImageFile, h: &Header) -> Result<Descriptor, Error> {
        if h.descriptor_offset == 0 || h.descriptor_sectors == 0 {
            return Ok(Descriptor::default());
        }
        let path = file.path();
        let at =
            sector_bytes(h.descriptor_offset, "the descriptor offset").map_err(|p| p.at(path))?;
        let len =
            sector_bytes(h.descriptor_sectors, "the descriptor size").map_err(|p| p.at(path))?;
        if len > header::MAX_DESCRIPTOR {
            return Err(Error::new(
                path,
                ErrorKind::InvalidFormat,
                format!(
                    "embedded descriptor of {} sectors; the limit is {} bytes",
                    h.descriptor_sectors,
                    header::MAX_DESCRIPTOR
                ),
            ));
        }
        if at.checked_add(len).is_none_or(|e| e > file.size()) {
            return Err(Error::new(
                path,
                ErrorKind::Corrupt,
                format!(
                    "embedded descriptor at 0x{at:x} ({len} bytes) lies past the end of the \
                     file (size 0x{:x})",
                    file.size()
                ),
            ));
        }
        let mut text = vec![0u8; len as usize];
        file.read(&mut text, at, "the embedded descriptor")?;
        Descriptor::parse(&text).map_err(|p| p.at(path))
    }

    /// Opens the extents a descriptor (stored in `file`) lists, in guest order.
    fn descriptor_extents(
        file: &ImageFile,
        desc: &Descriptor,
        mut chain: Option<&mut Chain>,
    ) -> Result<Vec<Extent>, Error> {
        let path = file.path();
        let mut out = Vec::with_capacity(desc.extents.len());
        let mut start = 0u64;
        for (i, l) in desc.extents.iter().enumerate() {
            let at_line = |m: String| format!("extent on descriptor line {}: {m}", l.line);
            if l.access == Access::None {
                return Err(Error::new(
                    path,
                    ErrorKind::Unsupported,
                    at_line("access NOACCESS: the extent may not be read".into()),
                ));
            }
            let role = format!(" (extent {} of {})", i + 1, path.display());
            let mut named = |what: &str| -> Result<PathBuf, Error> {
                let name = l.file.as_deref().unwrap_or_default();
                let p = Self::resolve(chain.as_deref_mut(), path, name, what)?;
                if file.is_memory() {
                    return Err(Error::new(
                        path,
                        ErrorKind::Unsupported,
                        "an image read from memory cannot open its extent files",
                    ));
                }
                Ok(p)
            };
            let (kind, len, data) = match &l.kind {
                ExtentType::Zero => {
                    let len = sector_bytes(l.sectors, "the extent size").map_err(|p| p.at(path))?;
                    ("ZERO", len, Data::Zero)
                }
                ExtentType::Flat | ExtentType::Vmfs => {
                    let fp = named("extent file")?;
                    let disk =
                        RawDisk::open(&fp).map_err(|e| ddgz_disk::open_error(&fp, e, &role))?;
                    let len = sector_bytes(l.sectors, "the extent size").map_err(|p| p.at(path))?;
                    let off =
                        sector_bytes(l.offset, "the extent offset").map_err(|p| p.at(path))?;
                    let need = off.saturating_add(len);
                    if need > disk.size() {
                        return Err(Error::new(
                            &fp,
                            ErrorKind::Truncated,
                            format!(
                                "flat extent file is {} bytes; the extent needs {need} \
                                 (offset {off} + size {len}){role}",
                                disk.size()
                            ),
                        ));
                    }
                    let kind = if l.kind == ExtentType::Flat {
                        "FLAT"
                    } else {
                        "VMFS"
                    };
                    (kind, len, Data::Flat { disk, start: off })
                }
                ExtentType::Sparse => {
                    let fp = named("extent file")?;
                    let src = ImageFile::open(&fp, &role)?;
                    let mut head = vec![0u8; src.size().min(512) as usize];
                    src.read(&mut head, 0, "the sparse extent header")?;
                    if head.starts_with(&header::COWD_MAGIC) {
                        return Err(Self::cowd(&fp));
                    }
                    let h = Header::parse(&head).map_err(|p| p.at(&fp))?;
                    if h.capacity == 0 && h.descriptor_offset != 0 {
                        return Err(Error::new(
                            &fp,
                            ErrorKind::InvalidFormat,
                            format!(
                                "a SPARSE extent holds another descriptor instead of data{role}"
                            ),
                        ));
                    }
                    let sp = SparseExtent::open(src, h)?;
                    // QEMU sizes a sparse extent by its header's capacity, not by the
                    // descriptor line: so do we.
                    ("SPARSE", sp.geo.capacity, Data::Sparse(Box::new(sp)))
                }
                ExtentType::Other(t) => {
                    let what = match t.as_str() {
                        "VMFSSPARSE" => "VMFS sparse (COWD) extents are",
                        "SESPARSE" => "seSparse extents are",
                        "VMFSRDM" | "VMFSRAW" => "raw device mappings are",
                        _ => "this extent type is",
                    };
                    return Err(Error::new(
                        path,
                        ErrorKind::Unsupported,
                        at_line(format!("type {t:?}: {what} not supported")),
                    ));
                }
            };
            let end = start.checked_add(len).filter(|e| *e <= i64::MAX as u64);
            let Some(end) = end else {
                return Err(Error::new(
                    path,
                    ErrorKind::InvalidFormat,
                    at_line("the extents add up to more than 2^63 bytes".into()),
                ));
            };
            out.push(Extent {
                start,
                len,
                kind,
                data,
            });
            start = end;
        }
        if out.is_empty() {
            return Err(Error::new(
                path,
                ErrorKind::InvalidFormat,
                "the descriptor lists no extents",
            ));
        }
        Ok(out)
    }

    /// Virtual disk size in bytes.
    pub fn virtual_size(&self) -> u64 {
        self.size
    }

    /// The file opened.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Container facts: subformat, grain size, extents, parent chain.
    pub fn info(&self) -> Info {
        let first_sparse = self.extents.iter().find_map(|e| match &e.data {
            Data::Sparse(s) => Some(s),
            _ => None,
        });
        let sparse = || {
            self.extents.iter().filter_map(|e| match &e.data {
                Data::Sparse(s) => Some(s),
                _ => None,
            })
        };
        let parents = match &self.parent {
            None => Vec::new(),
            Some(p) => {
                let f = p.facts();
                std::iter::once(&f)
                    .chain(f.chain())
                    .map(|x| ParentInfo {
                        path: x.path.clone(),
                        create_type: x.subformat.clone().unwrap_or_default(),
                        virtual_size: x.virtual_size,
                    })
                    .collect()
            }
        };
        Info {
            path: self.path.clone(),
            create_type: self.create_type.clone(),
            virtual_size: self.size,
            version: first_sparse.map(|s| s.header.version),
            grain_size: first_sparse.map(|s| s.geo.grain),
            compressed: sparse().any(|s| s.header.compressed()),
            footer: sparse().any(|s| s.footer),
            zeroed_grains: sparse().any(|s| s.header.zero_grain()),
            redundant_directory: sparse().any(|s| s.header.flags & header::FLAG_RGD != 0),
            unclean_shutdown: sparse().any(|s| s.header.unclean_shutdown),
            cid: self.desc.cid,
            parent_cid: self.desc.parent_cid,
            parent_hint: self
                .desc
                .parent_hint
                .as_ref()
                .map(|h| String::from_utf8_lossy(h).into_owned()),
            extents: self
                .extents
                .iter()
                .map(|e| ExtentInfo {
                    kind: e.kind,
                    file: match &e.data {
                        Data::Sparse(s) => Some(s.file.path().to_path_buf()),
                        Data::Flat { disk, .. } => Some(disk.path().to_path_buf()),
                        Data::Zero => None,
                    },
                    len: e.len,
                    offset: match &e.data {
                        Data::Flat { start, .. } => *start,
                        _ => 0,
                    },
                })
                .collect(),
            parents,
        }
    }
}

/// Its parent (`parentFileNameHint`) is opened by `o.backing` as a "vmdk" file.
impl OwnBacking for Vmdk {
    type Options = OpenOptions;
    const FORMAT: &'static str = "vmdk";
    const RAW_BACKING: bool = false;

    fn open_input(o: Opening<'_, Self>) -> Result<Self, Error> {
        Self::open_source(ImageFile::file(o.input), o.opts, Some((o.backing, o.chain)))
    }
}

/// An empty byte source, for the extents that have none (ZERO).
static NO_BYTES: MemoryDisk = MemoryDisk(Vec::new());

/// Byte source `i` is extent `i`: its sparse file (grains are data as the tables say) or
/// its flat file (whose holes are zeros).
impl Mapping for Vmdk {
    fn disk_size(&self) -> u64 {
        self.size
    }

    fn image_path(&self) -> &Path {
        &self.path
    }

    /// Describes `[offset, end)` (inside the disk) as runs of this image alone.
    fn map(&self, offset: u64, end: u64, runs: &mut Runs) -> Result<(), Error> {
        let first = self.extents.partition_point(|e| e.start + e.len <= offset);
        for (i, e) in self.extents.iter().enumerate().skip(first) {
            if e.start >= end || runs.full() {
                break;
            }
            let a = offset.max(e.start);
            let b = end.min(e.start + e.len);
            // Extents are fewer than 2^32 (a descriptor is at most a few MiB).
            let source = i as u32;
            match &e.data {
                Data::Zero => runs.push(a, b - a, Map::Zero),
                Data::Flat { start, .. } => runs.push(
                    a,
                    b - a,
                    Map::Data {
                        source,
                        offset: start + (a - e.start),
                    },
                ),
                Data::Sparse(sp) => {
                    let stop = sp.walk(a - e.start, b - e.start, e.start, source, runs)?;
                    if stop < b - e.start {
                        // `runs` is full: the request maps a prefix.
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    }

    fn source(&self, source: u32) -> &dyn Disk {
        match self.extents.get(source as usize).map(|e| &e.data) {
            Some(Data::Sparse(sp)) => &sp.file,
            Some(Data::Flat { disk, .. }) => disk,
            _ => &NO_BYTES,
        }
    }

    fn holes(&self, source: u32) -> bool {
        matches!(
            self.extents.get(source as usize).map(|e| &e.data),
            Some(Data::Flat { .. })
        )
    }

    fn backing(&self) -> Option<&dyn Disk> {
        self.parent.as_deref().map(|p| p as &dyn Disk)
    }

    fn unit(&self, source: u32, at: u64, _: u64) -> Result<Arc<Vec<u8>>, Error> {
        let Some(Data::Sparse(sp)) = self.extents.get(source as usize).map(|e| &e.data) else {
            return Err(Error::new(
                &self.path,
                ErrorKind::Corrupt,
                format!("extent {source} has no compressed grains"),
            ));
        };
        self.cache.get(source, at, || sp.compressed_grain(at))
    }

    /// Every extent file and the whole parent chain (a separate descriptor is read only
    /// while opening).
    fn file_ids(&self) -> Vec<ddgz_disk::FileId> {
        let mut out = Vec::new();
        for e in &self.extents {
            match &e.data {
                Data::Sparse(x) => out.extend(x.file.file_id()),
                Data::Flat { disk, .. } => out.extend(disk.files()),
                Data::Zero => {}
            }
        }
        if let Some(p) = &self.parent {
            out.extend(p.files());
        }
        out
    }
}

ddgz_disk::mapped_disk!(Vmdk);

/// Container facts in the format-neutral shape `inspect` prints.
impl Container for Vmdk {
    fn facts(&self) -> Facts {
        let i = self.info();
        let mut f = Facts::new("vmdk", &self.path, self.size);
        f.subformat = Some(i.create_type.clone());
        f.allocation_unit = i.grain_size.map(|g| ("grain", g));
        let d = &mut f.details;
        if i.compressed {
            d.push(("compression", "deflate (zlib)".into()));
        }
        if i.footer {
            d.push(("header", "footer copy (directory at the end)".into()));
        }
        if i.zeroed_grains {
            d.push(("zeroed grains", "on".into()));
        }
        if i.unclean_shutdown {
            d.push(("unclean shutdown", "yes".into()));
        }
        if i.extents.len() > 1 || i.extents.iter().any(|e| e.kind != "SPARSE") {
            let kinds: Vec<&str> = i.extents.iter().map(|e| e.kind).collect();
            d.push(("extents", format!("{} ({})", kinds.len(), kinds.join(", "))));
        }
        if let Some(c) = i.cid {
            d.push((CID_FACT, format!("{c:08x}")));
        }
        if let Some(h) = &i.parent_hint {
            d.push(("parent hint", h.clone()));
        }
        f.backing = self.parent.as_ref().map(|p| Box::new(p.facts()));
        f
    }
}

/// Opens parents as VMDK files: what [`Vmdk::open`] uses without the registry.
/// Fuzzing entry point: parses `data` as a VMDK in memory and, if it opens, maps and
/// reads it (bounded: at most 64 MiB of guest space mapped, 8 MiB read). Must never
/// panic, loop forever or allocate without bound, whatever the input.
#[doc(hidden)]
pub fn fuzz_image(data: &[u8]) {
    let Ok(v) = Vmdk::from_bytes(Path::new("fuzz.vmdk"), data.to_vec()) else {
        return;
    };
    let _ = v.info();
    ddgz_disk::map::fuzz_disk(&v);
}

#[cfg(test)]
mod tests;
