//! Read-only qcow2 reader.
//!
//! Opens the qcow2 images QEMU writes — versions 2 and 3, clusters of 512 B to 2 MiB,
//! any refcount width, zlib- and zstd-compressed clusters, zero clusters, extended L2
//! entries (subclusters), backing chains, external data files,
//! internal snapshots and bitmaps (the active state is read) — and answers two
//! questions: *what is at guest range [a, b)* ([`Qcow2::extents`], so that zero regions
//! are never read) and *give me those bytes* ([`Qcow2::read_at`]). Encrypted images,
//! unknown incompatible features and (unless forced) images with the corrupt bit are
//! refused with a message naming the reason.
//!
//! Every value read from the file is untrusted: header fields are validated in
//! dependency order before anything is derived from them, every offset and length is
//! checked against the file, reserved bits are rejected, and no allocation is sized by
//! an unchecked on-disk value.
//!
//! Files are opened and read through `ddgz-disk`'s [`InputFile`] (FIFOs and character
//! devices refused, block devices by their real size, positional reads, not `mmap`: a
//! file truncated while it is being read gives a clear "file ended early" error,
//! [`ErrorKind::Truncated`], where a mapping would kill the process with `SIGBUS`).
//! A backing file is any [`Container`], opened by the caller's [`OpenBacking`] (the
//! format registry; [`Qcow2::open`] knows qcow2 and raw); a raw backing file reports its
//! holes as zero extents and they are never read.
//! The L1 table is loaded at open; L2 tables are read when a request first touches them
//! and kept in a bounded cache (`l2cache.rs`, like QEMU's L2 cache: 1 MiB, slices of at
//! most 64 KiB), so [`Qcow2::extents`] over a whole disk costs one read per 512 MiB of
//! guest space (64 KiB clusters) and reading the bytes of a range already mapped reads no
//! table again. A [`Qcow2`] is `Send + Sync`: reads may run on several threads at once.
//!
//! The modules follow the on-disk structures: the header (`header.rs`), header
//! extensions (`extensions.rs`), L1 and L2 tables (`l1.rs`, `l2.rs`), compressed
//! clusters (`compressed.rs`), backing files and data files (`backing.rs`), address
//! newtypes and geometry (`types.rs`).
//!
//! Two deliberate differences from QEMU 10: a relative external data file name is
//! resolved against the image's directory, like a backing file name (QEMU resolves it
//! against its working directory, so both agree when run from the image's directory);
//! and a backing file without a recorded format is refused instead of probed.
#![deny(missing_docs)]

mod backing;
mod compressed;
mod error;
mod extensions;
mod header;
mod l1;
mod l2;
mod l2cache;
mod types;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ddgz_disk::{
    push_merged, Chain, Container, Disk, Extent, ExtentKind, Facts, InputFile, OpenBacking,
    RawBackingOnly,
};

pub use ddgz_disk::DEFAULT_MAX_CHAIN_DEPTH;
pub use error::{Error, ErrorKind};
pub use header::Compression;

use error::Problem;
use extensions::Extensions;
use header::{be64, Header};
use l2::L2Entry;
use l2cache::L2Cache;
use types::{Geometry, GuestOffset, HostOffset, SUBCLUSTERS};

/// Options for [`Qcow2::open`].
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// Open images whose corrupt bit is set (QEMU found inconsistent metadata).
    pub force_corrupt: bool,
    /// Longest backing chain accepted by [`Qcow2::open`], not counting the image itself
    /// (default [`DEFAULT_MAX_CHAIN_DEPTH`]); [`Qcow2::open_input`] takes the limit of the
    /// [`Chain`] it is given.
    pub max_chain_depth: usize,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            force_corrupt: false,
            max_chain_depth: DEFAULT_MAX_CHAIN_DEPTH,
        }
    }
}

/// An external data file (incompatible feature bit 2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFileInfo {
    /// The path it resolved to.
    pub path: PathBuf,
    /// Whether the data file is a consistent raw image by itself (`data_file_raw`).
    pub raw: bool,
}

/// One file of the backing chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackingInfo {
    /// The path it resolved to.
    pub path: PathBuf,
    /// Its format, as the backing opener named it ("qcow2", "raw", …).
    pub format: &'static str,
    /// Its virtual size (raw: file size) in bytes.
    pub virtual_size: u64,
}

/// Container details of a qcow2 image ([`Qcow2::facts`] gives the format-neutral form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// The image file.
    pub path: PathBuf,
    /// qcow2 version, 2 or 3.
    pub version: u32,
    /// Virtual disk size in bytes.
    pub virtual_size: u64,
    /// Cluster size in bytes.
    pub cluster_size: u64,
    /// Compression of compressed clusters.
    pub compression: Compression,
    /// Width of a refcount in bits (1..=64).
    pub refcount_bits: u32,
    /// 128-bit L2 entries with subclusters.
    pub extended_l2: bool,
    /// The dirty bit (not closed cleanly; the mapping is still valid).
    pub dirty: bool,
    /// The corrupt bit (only seen with [`OpenOptions::force_corrupt`]).
    pub corrupt: bool,
    /// Lazy refcounts (compatible bit 0).
    pub lazy_refcounts: bool,
    /// Number of internal snapshots (the active state is what is read).
    pub nb_snapshots: u32,
    /// Whether a bitmaps extension is present.
    pub has_bitmaps: bool,
    /// The external data file, if any.
    pub data_file: Option<DataFileInfo>,
    /// The backing chain, nearest first.
    pub backing_chain: Vec<BackingInfo>,
}

/// The image file's own bytes: an input file ([`InputFile`]: safe open, real size,
/// positional reads), or bytes in memory for fuzzing.
#[derive(Debug)]
enum ImageBytes {
    File(InputFile),
    Memory { path: PathBuf, bytes: Vec<u8> },
}

impl ImageBytes {
    fn path(&self) -> &Path {
        match self {
            ImageBytes::File(f) => f.path(),
            ImageBytes::Memory { path, .. } => path,
        }
    }

    /// Its size when opened.
    fn size(&self) -> u64 {
        match self {
            ImageBytes::File(f) => f.size(),
            ImageBytes::Memory { bytes, .. } => bytes.len() as u64,
        }
    }

    fn is_memory(&self) -> bool {
        matches!(self, ImageBytes::Memory { .. })
    }

    fn read(&self, buf: &mut [u8], offset: u64, what: &str) -> Result<(), Error> {
        match self {
            ImageBytes::File(f) => f
                .read_exact_at(buf, offset, what)
                .map_err(|e| Error::from_disk(e, f.path(), "")),
            ImageBytes::Memory { path, bytes } => {
                let src = usize::try_from(offset)
                    .ok()
                    .and_then(|o| bytes.get(o..o.checked_add(buf.len())?));
                match src {
                    Some(src) => {
                        buf.copy_from_slice(src);
                        Ok(())
                    }
                    None => Err(Error::new(
                        path,
                        ErrorKind::Truncated,
                        format!(
                            "file ended early reading {} bytes of {what} at 0x{offset:x} \
                             (file is 0x{:x} bytes)",
                            buf.len(),
                            bytes.len()
                        ),
                    )),
                }
            }
        }
    }
}

/// Opens qcow2 and raw backing files: what [`Qcow2::open`] uses when no format registry
/// supplies an [`OpenBacking`].
struct Qcow2OrRaw<'a> {
    opts: &'a OpenOptions,
}

impl OpenBacking for Qcow2OrRaw<'_> {
    fn knows(&self, format: &str) -> bool {
        format == "qcow2" || RawBackingOnly.knows(format)
    }

    fn open_backing(
        &self,
        path: &Path,
        format: &str,
        chain: &mut Chain,
    ) -> ddgz_disk::Result<Box<dyn Container>> {
        if format != "qcow2" {
            return RawBackingOnly.open_backing(path, format, chain);
        }
        let input = InputFile::open(path)?;
        chain.enter(&input)?;
        Ok(Box::new(Qcow2::open_input(input, self.opts, self, chain)?))
    }
}

/// Where the bytes of one run of guest space come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Src {
    /// Reads as zeros.
    Zero,
    /// Not allocated here: the backing file, or zeros.
    Unallocated,
    /// Stored at this host offset (image file, or the data file if there is one).
    Data(HostOffset),
    /// Part of a compressed cluster: stream at `offset`, `len` bytes at most; the run
    /// starts `skip` bytes into the decompressed cluster.
    Compressed {
        offset: HostOffset,
        len: u64,
        skip: u64,
    },
}

#[derive(Debug, Clone, Copy)]
struct Run {
    guest: GuestOffset,
    len: u64,
    src: Src,
}

/// Appends a run, merging it into the previous one when they continue each other.
fn push_run(runs: &mut Vec<Run>, guest: u64, len: u64, src: Src) {
    if len == 0 {
        return;
    }
    if let Some(last) = runs.last_mut() {
        if last.guest.0 + last.len == guest {
            let merge = match (last.src, src) {
                (Src::Zero, Src::Zero) | (Src::Unallocated, Src::Unallocated) => true,
                (Src::Data(a), Src::Data(b)) => a.0.checked_add(last.len) == Some(b.0),
                _ => false,
            };
            if merge {
                last.len += len;
                return;
            }
        }
    }
    runs.push(Run {
        guest: GuestOffset(guest),
        len,
        src,
    });
}

/// The last decompressed cluster, keyed by its host offset: sequential readers touch
/// the same compressed cluster several times when their chunks are smaller than it.
#[derive(Default)]
struct ClusterCache(Mutex<Option<(u64, Arc<Vec<u8>>)>>);

impl std::fmt::Debug for ClusterCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClusterCache")
    }
}

/// An opened qcow2 image with its backing chain and data file.
#[derive(Debug)]
pub struct Qcow2 {
    image: ImageBytes,
    header: Header,
    ext: Extensions,
    geo: Geometry,
    /// L2 table offsets of the active L1 table, as many as the virtual size needs.
    l1: Vec<Option<HostOffset>>,
    /// The external data file: raw bytes at host offsets, never a format of its own.
    data: Option<InputFile>,
    /// The backing file, in any format the backing opener knows (a raw one is
    /// hole-aware: its holes are zero extents and are never read).
    backing: Option<Box<dyn Container>>,
    cache: ClusterCache,
    /// Slices of L2 tables, bounded ([`l2cache::BUDGET`]).
    l2_cache: L2Cache,
}

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Qcow2>();
    send_sync::<Error>();
};

impl Qcow2 {
    /// Opens `path` read-only, with its backing chain (qcow2 and raw files) and external
    /// data file. The format registry (`ddgz-image`) uses [`Qcow2::open_input`] instead,
    /// so that a backing file may be in any format it knows.
    pub fn open(path: &Path, opts: &OpenOptions) -> Result<Self, Error> {
        let input = InputFile::open(path).map_err(|e| Error::from_disk(e, path, ""))?;
        let mut chain = Chain::new(opts.max_chain_depth);
        chain
            .enter(&input)
            .map_err(|e| Error::from_disk(e, path, ""))?;
        Self::open_input(input, opts, &Qcow2OrRaw { opts }, &mut chain)
    }

    /// Reads the image held by `input`, already opened (and entered into `chain` by the
    /// caller). Its backing file, if it names one, is opened by `backing` as the next file
    /// of `chain`.
    pub fn open_input(
        input: InputFile,
        opts: &OpenOptions,
        backing: &dyn OpenBacking,
        chain: &mut Chain,
    ) -> Result<Self, Error> {
        Self::open_bytes(ImageBytes::File(input), opts, backing, chain)
    }

    /// Parses an image held in memory, named `name` in messages. It may not have a
    /// backing file or an external data file. Meant for fuzzing the parsers (see
    /// [`fuzz_image`]).
    pub fn from_bytes(name: &Path, bytes: Vec<u8>, opts: &OpenOptions) -> Result<Self, Error> {
        let image = ImageBytes::Memory {
            path: name.into(),
            bytes,
        };
        Self::open_bytes(
            image,
            opts,
            &RawBackingOnly,
            &mut Chain::new(opts.max_chain_depth),
        )
    }

    fn open_bytes(
        image: ImageBytes,
        opts: &OpenOptions,
        opener: &dyn OpenBacking,
        chain: &mut Chain,
    ) -> Result<Self, Error> {
        let path = &image.path().to_path_buf();
        let from_memory = |what: &str| {
            Error::new(
                path,
                ErrorKind::Unsupported,
                format!("an image read from memory cannot open its {what}"),
            )
        };

        // The header lives in the first cluster; read a sector to learn the cluster
        // size, then the whole cluster (or the whole file, if shorter).
        let mut c0 = vec![0u8; image.size().min(512) as usize];
        image.read(&mut c0, 0, "the header")?;
        if c0.len() >= 24 {
            let bits = header::be32(&c0, 20);
            if (header::MIN_CLUSTER_BITS..=header::MAX_CLUSTER_BITS).contains(&bits) {
                let want = image.size().min(1u64 << bits) as usize;
                if want > c0.len() {
                    c0 = vec![0u8; want];
                    image.read(&mut c0, 0, "the header cluster")?;
                }
            }
        }
        let header = Header::parse(&c0).map_err(|p| p.at(path))?;
        let cs = header.cluster_size();
        let ext_end = if header.backing_file_offset != 0 {
            header.backing_file_offset
        } else {
            cs
        };
        let ext =
            Extensions::parse(&c0, header.extensions_offset(), ext_end).map_err(|p| p.at(path))?;

        // Features, in the order a reader must refuse them.
        let unknown = header.incompatible & !header::INCOMPAT_KNOWN;
        if unknown != 0 {
            let bits: Vec<String> = (0..64)
                .filter(|b| unknown & (1u64 << b) != 0)
                .map(|b| match ext.incompatible_name(b) {
                    Some(n) => format!("bit {b} ({n:?})"),
                    None => format!("bit {b} (unnamed)"),
                })
                .collect();
            return Err(Error::new(
                path,
                ErrorKind::Unsupported,
                format!(
                    "unsupported incompatible features: {} (incompatible_features \
                     0x{:x})",
                    bits.join(", "),
                    header.incompatible
                ),
            ));
        }
        if header.crypt_method != 0 || ext.crypto {
            let how = match header.crypt_method {
                1 => "AES".to_string(),
                2 => "LUKS".to_string(),
                0 => "an encryption header extension".to_string(),
                n => format!("unknown method {n}"),
            };
            return Err(Error::new(
                path,
                ErrorKind::Encrypted,
                format!(
                    "image is encrypted ({how}, crypt_method {}); refusing to read \
                     ciphertext",
                    header.crypt_method
                ),
            ));
        }
        if header.incompatible & header::INCOMPAT_CORRUPT != 0 && !opts.force_corrupt {
            return Err(Error::new(
                path,
                ErrorKind::CorruptBit,
                "the corrupt bit is set (QEMU found inconsistent metadata); refusing to \
                 read it unless forced (force_corrupt)",
            ));
        }

        let data = if header.incompatible & header::INCOMPAT_DATA_FILE != 0 {
            let name = ext.data_file.as_deref().ok_or_else(|| {
                Error::new(
                    path,
                    ErrorKind::Unsupported,
                    "the external data file bit is set but no data file name is recorded",
                )
            })?;
            let p = backing::resolve(path, name, "data file").map_err(|e| e.at(path))?;
            if image.is_memory() {
                return Err(from_memory("external data file"));
            }
            let role = format!(" (the external data file of {})", path.display());
            Some(InputFile::open(&p).map_err(|e| Error::from_disk(e, &p, &role))?)
        } else {
            None
        };

        let geo = Geometry::new(
            header.cluster_bits,
            header.extended_l2(),
            header.version >= 3,
            data.is_some(),
        );
        let n = l1::check_table(
            &geo,
            header.size,
            header.l1_size,
            header.l1_table_offset,
            image.size(),
        )
        .map_err(|p| p.at(path))?;
        // n * 8 <= file size (checked) and n <= MAX_L1_ENTRIES.
        let mut raw = vec![0u8; (n * 8) as usize];
        image.read(&mut raw, header.l1_table_offset, "the L1 table")?;
        let l1 = raw
            .chunks_exact(8)
            .enumerate()
            .map(|(i, e)| l1::decode(&geo, i as u64, be64(e, 0), image.size()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|p| p.at(path))?;

        let backing = if header.backing_file_offset != 0 && header.backing_file_size != 0 {
            let start = header.backing_file_offset as usize;
            let name = c0
                .get(start..start + header.backing_file_size as usize)
                .ok_or_else(|| {
                    Error::new(
                        path,
                        ErrorKind::Truncated,
                        format!(
                            "file is 0x{:x} bytes, too short for the backing file name at \
                             0x{start:x}",
                            image.size()
                        ),
                    )
                })?;
            let format =
                backing::format(ext.backing_format.as_deref(), name).map_err(|p| p.at(path))?;
            if !opener.knows(&format) {
                return Err(Error::new(
                    path,
                    ErrorKind::Unsupported,
                    format!(
                        "the backing file {} has format {}, which is not supported",
                        backing::show(name),
                        backing::show(format.as_bytes())
                    ),
                ));
            }
            let bpath = backing::resolve(path, name, "backing file").map_err(|p| p.at(path))?;
            if chain.depth() >= chain.max_depth() {
                return Err(Error::new(
                    path,
                    ErrorKind::BackingChain,
                    format!(
                        "backing chain is longer than the limit of {} files (next: {})",
                        chain.max_depth(),
                        backing::show(name)
                    ),
                ));
            }
            if image.is_memory() {
                return Err(from_memory("backing file"));
            }
            let role = format!(" (the backing file of {})", path.display());
            Some(
                opener
                    .open_backing(&bpath, &format, chain)
                    .map_err(|e| Error::from_disk(e, &bpath, &role))?,
            )
        } else {
            None
        };

        Ok(Self {
            image,
            header,
            ext,
            geo,
            l1,
            data,
            backing,
            cache: ClusterCache::default(),
            l2_cache: L2Cache::new(geo.cluster_size()),
        })
    }

    /// Virtual disk size in bytes.
    pub fn virtual_size(&self) -> u64 {
        self.header.size
    }

    /// The image file.
    pub fn path(&self) -> &Path {
        self.image.path()
    }

    /// Container details: version, cluster size, features, data file, backing chain.
    pub fn info(&self) -> Info {
        let backing_chain = self
            .backing
            .as_ref()
            .map(|b| b.facts())
            .map(|top| {
                std::iter::once(&top)
                    .chain(top.chain())
                    .map(|f| BackingInfo {
                        path: f.path.clone(),
                        format: f.format,
                        virtual_size: f.virtual_size,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let h = &self.header;
        Info {
            path: self.image.path().into(),
            version: h.version,
            virtual_size: h.size,
            cluster_size: h.cluster_size(),
            compression: h.compression,
            refcount_bits: 1 << h.refcount_order,
            extended_l2: h.extended_l2(),
            dirty: h.incompatible & header::INCOMPAT_DIRTY != 0,
            corrupt: h.incompatible & header::INCOMPAT_CORRUPT != 0,
            lazy_refcounts: h.compatible & header::COMPAT_LAZY_REFCOUNTS != 0,
            nb_snapshots: h.nb_snapshots,
            has_bitmaps: self.ext.bitmaps.is_some(),
            data_file: self.data.as_ref().map(|d| DataFileInfo {
                path: d.path().into(),
                raw: h.autoclear & header::AUTOCLEAR_DATA_FILE_RAW != 0,
            }),
            backing_chain,
        }
    }

    fn check_range(&self, offset: u64, len: u64) -> Result<u64, Error> {
        match offset.checked_add(len) {
            Some(end) if end <= self.header.size => Ok(end),
            _ => Err(Error::new(
                self.image.path(),
                ErrorKind::OutOfRange,
                format!(
                    "guest range 0x{offset:x}+0x{len:x} lies outside the virtual disk \
                     (size 0x{:x})",
                    self.header.size
                ),
            )),
        }
    }

    /// The path and size of the file guest clusters are stored in.
    fn data_file(&self) -> (&Path, u64) {
        match &self.data {
            Some(d) => (d.path(), d.size()),
            None => (self.image.path(), self.image.size()),
        }
    }

    /// Reads a data cluster's bytes from the image or the external data file.
    fn read_data(&self, buf: &mut [u8], host: HostOffset) -> Result<(), Error> {
        match &self.data {
            Some(d) => d
                .read_exact_at(buf, host.0, "a data cluster")
                .map_err(|e| Error::from_disk(e, d.path(), "")),
            None => self.image.read(buf, host.0, "a data cluster"),
        }
    }

    /// The slice of the L2 table at `table` that starts `rel` bytes into it, from the cache.
    fn l2_slice(&self, table: HostOffset, rel: u64) -> Result<Arc<[u8]>, Error> {
        // The whole table lies inside the file (checked at open), so every slice does.
        let at = table.0 + rel;
        self.l2_cache
            .get(at, |buf| self.image.read(buf, at, "an L2 table"))
    }

    /// Describes `[offset, end)` (inside the disk) as runs of this image alone.
    fn walk(&self, offset: u64, end: u64) -> Result<Vec<Run>, Error> {
        let geo = &self.geo;
        let cs = geo.cluster_size();
        let span = 1u64 << geo.l1_span_bits();
        let es = geo.l2_entry_size();
        let path = self.image.path();
        let (data_path, data_size) = self.data_file();
        let mut runs = Vec::new();
        let mut pos = offset;
        while pos < end {
            let l1i = geo.l1_index(GuestOffset(pos));
            let table_start = l1i * span;
            let span_end = table_start.saturating_add(span).min(end);
            let table = *self.l1.get(l1i as usize).ok_or_else(|| {
                Error::new(
                    path,
                    ErrorKind::Corrupt,
                    format!("guest offset 0x{pos:x} needs L1 entry {l1i}, beyond the table"),
                )
            })?;
            let Some(table) = table else {
                push_run(&mut runs, pos, span_end - pos, Src::Unallocated);
                pos = span_end;
                continue;
            };
            let first = geo.l2_index(GuestOffset(pos));
            let last = geo.l2_index(GuestOffset(span_end - 1));
            // Entries come from cached slices of the table, so walking a range again (its
            // extents, then its bytes) reads nothing.
            let per_slice = self.l2_cache.slice_bytes() / es;
            let mut slice: (u64, Arc<[u8]>) = (u64::MAX, Arc::from(Vec::new()));
            for idx in first..=last {
                if slice.0 != idx / per_slice {
                    let s = idx / per_slice;
                    slice = (s, self.l2_slice(table, s * per_slice * es)?);
                }
                let at = ((idx % per_slice) * es) as usize;
                let e = &slice.1[at..at + es as usize];
                let cstart = table_start + (idx << geo.cluster_bits);
                let a = pos.max(cstart);
                let b = span_end.min(cstart + cs);
                let bitmap = if geo.extended_l2 { be64(e, 8) } else { 0 };
                let ctx = |p: Problem| {
                    Error::new(
                        path,
                        p.kind,
                        format!(
                            "{} (L2 table at 0x{:x}, guest offset 0x{cstart:x})",
                            p.message, table.0
                        ),
                    )
                };
                let entry = l2::decode(geo, idx, be64(e, 0), bitmap).map_err(ctx)?;
                let data_at = |host: HostOffset, from: u64, to: u64| -> Result<Src, Error> {
                    // The host bytes of guest [from, to) must lie inside the file.
                    let hend = host.0.checked_add(to - cstart);
                    if hend.is_none_or(|e| e > data_size) {
                        return Err(Error::new(
                            data_path,
                            ErrorKind::Corrupt,
                            format!(
                                "data cluster at 0x{:x} for guest offset 0x{cstart:x} lies \
                                 past the end of the file (size 0x{data_size:x})",
                                host.0
                            ),
                        ));
                    }
                    Ok(Src::Data(HostOffset(host.0 + (from - cstart))))
                };
                match entry {
                    L2Entry::Unallocated => push_run(&mut runs, a, b - a, Src::Unallocated),
                    L2Entry::Zero => push_run(&mut runs, a, b - a, Src::Zero),
                    L2Entry::Data(h) => {
                        let src = data_at(h, a, b)?;
                        push_run(&mut runs, a, b - a, src)
                    }
                    L2Entry::Compressed { offset, len } => {
                        let size = self.image.size();
                        let avail = size.saturating_sub(offset.0);
                        // The stream may stop short of its last sector at the file's end,
                        // but never start past it or miss a whole sector.
                        if offset.0 < cs {
                            return Err(ctx(Problem::corrupt(format!(
                                "compressed cluster at 0x{:x} overlaps the header cluster",
                                offset.0
                            ))));
                        }
                        if avail == 0 || len.saturating_sub(avail) >= l2::SECTOR {
                            return Err(ctx(Problem::corrupt(format!(
                                "compressed cluster at 0x{:x} ({len} bytes) runs past the \
                                 end of the file (size 0x{size:x})",
                                offset.0
                            ))));
                        }
                        let src = Src::Compressed {
                            offset,
                            len: len.min(avail),
                            skip: a - cstart,
                        };
                        push_run(&mut runs, a, b - a, src)
                    }
                    L2Entry::Subclusters { host, alloc, zero } => {
                        let scs = geo.subcluster_size();
                        let i0 = (a - cstart) / scs;
                        let i1 = (b - 1 - cstart) / scs;
                        for i in i0..=i1.min(u64::from(SUBCLUSTERS) - 1) {
                            let s = (cstart + i * scs).max(a);
                            let t = (cstart + (i + 1) * scs).min(b);
                            let src = if alloc & (1 << i) != 0 {
                                // alloc != 0 implies host is set (checked by decode).
                                match host {
                                    Some(h) => data_at(h, s, t)?,
                                    None => Src::Unallocated,
                                }
                            } else if zero & (1 << i) != 0 {
                                Src::Zero
                            } else {
                                Src::Unallocated
                            };
                            push_run(&mut runs, s, t - s, src);
                        }
                    }
                }
            }
            pos = span_end;
        }
        Ok(runs)
    }

    /// Describes `[offset, offset + len)` as extents, in order, merged, covering the range
    /// exactly, resolved through the backing chain: [`ExtentKind::Zero`] means the range
    /// reads as zeros without reading anything (zero flags, unallocated without a
    /// backing file, past a backing file's end, a hole of a raw backing file).
    /// [`Disk::extents`] is the same with the disk layer's error.
    pub fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>, Error> {
        let end = self.check_range(offset, len)?;
        let runs = self.walk(offset, end)?;
        let mut out = Vec::new();
        let push = |out: &mut Vec<Extent>, offset, len, kind| {
            push_merged(out, Extent { offset, len, kind })
        };
        // Backing extents, computed once for the span of all unallocated runs and
        // consumed with a cursor.
        let mut below: Option<(Vec<Extent>, usize)> = None;
        for r in &runs {
            let (g, len) = (r.guest.0, r.len);
            match r.src {
                Src::Zero => push(&mut out, g, len, ExtentKind::Zero),
                Src::Data(_) | Src::Compressed { .. } => push(&mut out, g, len, ExtentKind::Data),
                Src::Unallocated => {
                    let Some(b) = &self.backing else {
                        push(&mut out, g, len, ExtentKind::Zero);
                        continue;
                    };
                    let bsize = b.size();
                    let covered_end = (g + len).min(bsize).max(g);
                    if covered_end > g {
                        let (bm, j) = match below {
                            Some(ref mut x) => x,
                            None => {
                                let last = runs
                                    .iter()
                                    .rev()
                                    .find(|r| r.src == Src::Unallocated)
                                    .map_or(g + len, |r| r.guest.0 + r.len);
                                let hi = last.min(bsize);
                                let ext =
                                    b.extents(g, hi - g).map_err(|e| self.backing_error(e))?;
                                below.insert((ext, 0))
                            }
                        };
                        while *j < bm.len() && bm[*j].end() <= g {
                            *j += 1;
                        }
                        let mut k = *j;
                        while k < bm.len() && bm[k].offset < covered_end {
                            let s = bm[k].offset.max(g);
                            let t = bm[k].end().min(covered_end);
                            push(&mut out, s, t - s, bm[k].kind);
                            k += 1;
                        }
                    }
                    push(
                        &mut out,
                        covered_end,
                        g + len - covered_end,
                        ExtentKind::Zero,
                    );
                }
            }
        }
        Ok(out)
    }

    /// Reads guest bytes at `offset` into `buf`, through the backing chain (zeros where
    /// nothing is allocated; a backing file's zero extents are filled, not read). May be
    /// called from several threads at once.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), Error> {
        let end = self.check_range(offset, buf.len() as u64)?;
        for r in self.walk(offset, end)? {
            let at = (r.guest.0 - offset) as usize;
            let dst = &mut buf[at..at + r.len as usize];
            match r.src {
                Src::Zero => dst.fill(0),
                Src::Data(h) => self.read_data(dst, h)?,
                Src::Compressed { offset, len, skip } => {
                    let c = self.compressed_cluster(offset, len)?;
                    let skip = skip as usize;
                    dst.copy_from_slice(&c[skip..skip + dst.len()]);
                }
                Src::Unallocated => match &self.backing {
                    None => dst.fill(0),
                    Some(b) => {
                        let g = r.guest.0;
                        let n = b.size().saturating_sub(g).min(dst.len() as u64) as usize;
                        self.read_backing(b.as_ref(), g, &mut dst[..n])?;
                        dst[n..].fill(0);
                    }
                },
            }
        }
        Ok(())
    }

    /// Reads `buf` from the backing file at `offset` (inside it), reading only its data
    /// extents: the holes of a raw backing file are filled with zeros, never read.
    fn read_backing(&self, b: &dyn Container, offset: u64, buf: &mut [u8]) -> Result<(), Error> {
        if buf.is_empty() {
            return Ok(());
        }
        let ext = b
            .extents(offset, buf.len() as u64)
            .map_err(|e| self.backing_error(e))?;
        for e in ext {
            let range = (e.offset - offset) as usize..(e.end() - offset) as usize;
            match e.kind {
                ExtentKind::Zero => buf[range].fill(0),
                ExtentKind::Data => b
                    .read_at(e.offset, &mut buf[range])
                    .map_err(|e| self.backing_error(e))?,
            }
        }
        Ok(())
    }

    /// An error from the backing file, in this crate's terms.
    fn backing_error(&self, e: ddgz_disk::Error) -> Error {
        let role = format!(" (the backing file of {})", self.image.path().display());
        Error::from_disk(e, self.image.path(), &role)
    }

    /// Decompresses the cluster whose stream starts at `offset` (at most `len` bytes).
    fn compressed_cluster(&self, offset: HostOffset, len: u64) -> Result<Arc<Vec<u8>>, Error> {
        {
            let g = self.cache.0.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((k, v)) = &*g {
                if *k == offset.0 {
                    return Ok(v.clone());
                }
            }
        }
        // len <= 2^13 sectors (4 MiB), checked against the file size in `walk`.
        let mut input = vec![0u8; len as usize];
        self.image
            .read(&mut input, offset.0, "a compressed cluster")?;
        let mut out = vec![0u8; self.geo.cluster_size() as usize];
        compressed::decompress(self.header.compression, &input, &mut out).map_err(|p| {
            Error::new(
                self.image.path(),
                p.kind,
                format!("compressed cluster at 0x{:x}: {}", offset.0, p.message),
            )
        })?;
        let out = Arc::new(out);
        *self.cache.0.lock().unwrap_or_else(|e| e.into_inner()) = Some((offset.0, out.clone()));
        Ok(out)
    }
}

/// Fuzzing entry point: parses `data` as an image in memory and, if it opens, maps and
/// reads it (bounded: at most 64 MiB of guest space mapped, 8 MiB read). Must never
/// panic, loop forever or allocate without bound, whatever the input.
#[doc(hidden)]
pub fn fuzz_image(data: &[u8]) {
    let Ok(q) = Qcow2::from_bytes(
        Path::new("fuzz.qcow2"),
        data.to_vec(),
        &OpenOptions::default(),
    ) else {
        return;
    };
    let _ = q.info();
    let len = q.virtual_size().min(64 << 20);
    let Ok(maps) = q.extents(0, len) else {
        return;
    };
    let mut budget: u64 = 8 << 20;
    let mut buf = vec![0u8; 1 << 20];
    for m in maps {
        if m.kind != ExtentKind::Data {
            continue;
        }
        let mut off = m.offset;
        let end = m.offset + m.len;
        while off < end && budget > 0 {
            let n = (end - off).min(buf.len() as u64).min(budget);
            if q.read_at(off, &mut buf[..n as usize]).is_err() {
                return;
            }
            off += n;
            budget -= n;
        }
    }
}

#[cfg(test)]
mod tests;

impl From<Error> for ddgz_disk::Error {
    fn from(e: Error) -> Self {
        ddgz_disk::Error::Reader(Box::new(e))
    }
}

impl Disk for Qcow2 {
    fn size(&self) -> u64 {
        self.virtual_size()
    }

    fn extents(&self, offset: u64, len: u64) -> ddgz_disk::Result<Vec<Extent>> {
        ddgz_disk::check_range(self.virtual_size(), offset, len)?;
        Ok(Qcow2::extents(self, offset, len)?)
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> ddgz_disk::Result<()> {
        ddgz_disk::check_range(self.virtual_size(), offset, buf.len() as u64)?;
        Ok(Qcow2::read_at(self, offset, buf)?)
    }

    /// The image, its data file and its whole backing chain.
    fn files(&self) -> Vec<ddgz_disk::FileId> {
        let mut out = Vec::new();
        if let ImageBytes::File(f) = &self.image {
            out.push(f.file_id());
        }
        out.extend(self.data.as_ref().map(InputFile::file_id));
        if let Some(b) = &self.backing {
            out.extend(b.files());
        }
        out
    }
}

impl Container for Qcow2 {
    /// Version, cluster size, compression and the features worth knowing, and the backing
    /// chain.
    fn facts(&self) -> Facts {
        let i = self.info();
        let mut f = Facts::new("qcow2", self.path(), i.virtual_size);
        f.subformat = Some(format!("v{}", i.version));
        f.allocation_unit = Some(("cluster", i.cluster_size));
        let d = &mut f.details;
        d.push(("compression", i.compression.name().into()));
        d.push(("refcount bits", i.refcount_bits.to_string()));
        if i.extended_l2 {
            d.push(("extended L2", "on".into()));
        }
        if i.lazy_refcounts {
            d.push(("lazy refcounts", "on".into()));
        }
        if i.dirty {
            d.push(("dirty bit", "set".into()));
        }
        if i.corrupt {
            d.push(("corrupt bit", "SET".into()));
        }
        if i.nb_snapshots > 0 {
            d.push(("internal snapshots", i.nb_snapshots.to_string()));
        }
        if i.has_bitmaps {
            d.push(("bitmaps", "present".into()));
        }
        if let Some(df) = &i.data_file {
            let raw = if df.raw { " (data_file_raw)" } else { "" };
            d.push(("data file", format!("{}{raw}", df.path.display())));
        }
        f.backing = self.backing.as_ref().map(|b| Box::new(b.facts()));
        f
    }
}
