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
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod backing;
mod compressed;
mod extensions;
mod header;
mod l1;
mod l2;
mod l2cache;
mod types;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ddgz_disk::{
    Chain, Container, Disk, Extent, Facts, ImageFile, InputFile, Map, Mapping, OpenBacking,
    Problem, RawBackingOnly, Runs, UnitCache,
};

pub use ddgz_disk::{Opening, OwnBacking, DEFAULT_MAX_CHAIN_DEPTH};
pub use ddgz_disk::{ReaderError as Error, ReaderKind as ErrorKind};
pub use header::Compression;

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
#[non_exhaustive]
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

/// An opened qcow2 image with its backing chain and data file.
#[derive(Debug)]
pub struct Qcow2 {
    image: ImageFile,
    header: Header,
    ext: Extensions,
    geo: Geometry,
    /// L2 table offsets of the active L1 table, as many as the virtual size needs.
    /// (0: no table; 8 bytes an entry, read in 64 KiB windows: no second copy.)
    l1: Vec<u64>,
    /// The external data file: raw bytes at host offsets, never a format of its own.
    data: Option<ImageFile>,
    /// The backing file, in any format the backing opener knows (a raw one is
    /// hole-aware: its holes are zero extents and are never read).
    backing: Option<Box<dyn Container>>,
    /// The last decompressed cluster.
    cache: UnitCache,
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
    /// data file. The format registry (`ddgz-image`) uses [`OwnBacking::open_input`]
    /// instead, so that a backing file may be in any format it knows.
    pub fn open(path: &Path, opts: &OpenOptions) -> Result<Self, Error> {
        ddgz_disk::open_own(path, opts, opts.max_chain_depth)
    }

    /// Parses an image held in memory, named `name` in messages. It may not have a
    /// backing file or an external data file. Meant for fuzzing the parsers (see
    /// [`fuzz_image`]).
    pub fn from_bytes(name: &Path, bytes: Vec<u8>, opts: &OpenOptions) -> Result<Self, Error> {
        let image = ImageFile::memory(name, bytes);
        Self::open_bytes(
            image,
            opts,
            &RawBackingOnly,
            &mut Chain::new(opts.max_chain_depth),
        )
    }

    fn open_bytes(
        image: ImageFile,
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
                 read it unless forced (`ddgz convert --force` or `ddgz inspect --force`; \
                 `ls` and `cat` do not read such an image)",
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
            let p = backing::resolve(chain, path, name, "data file").map_err(|e| e.at(path))?;
            if image.is_memory() {
                return Err(from_memory("external data file"));
            }
            let role = format!(" (the external data file of {})", path.display());
            let input = InputFile::open(&p).map_err(|e| Error::from_disk(e, &p, &role))?;
            Some(ImageFile::file(input))
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
        let mut l1 = Vec::with_capacity(n as usize);
        let mut raw = vec![0u8; (n * 8).min(64 << 10) as usize];
        while (l1.len() as u64) < n {
            let i = l1.len() as u64;
            let k = (n - i).min(raw.len() as u64 / 8) as usize;
            let buf = &mut raw[..k * 8];
            image.read(buf, header.l1_table_offset + i * 8, "the L1 table")?;
            for (j, e) in buf.chunks_exact(8).enumerate() {
                let t = l1::decode(&geo, i + j as u64, be64(e, 0), image.size());
                l1.push(t.map_err(|p| p.at(path))?.map_or(0, |h| h.0));
            }
        }

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
            let bpath =
                backing::resolve(chain, path, name, "backing file").map_err(|p| p.at(path))?;
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
            cache: UnitCache::default(),
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

    /// The path and size of the file guest clusters are stored in.
    fn data_file(&self) -> (&Path, u64) {
        match &self.data {
            Some(d) => (d.path(), d.size()),
            None => (self.image.path(), self.image.size()),
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
    fn walk(&self, offset: u64, end: u64, runs: &mut Runs) -> Result<(), Error> {
        let geo = &self.geo;
        let cs = geo.cluster_size();
        let span = 1u64 << geo.l1_span_bits();
        let es = geo.l2_entry_size();
        let path = self.image.path();
        let (data_path, data_size) = self.data_file();
        // Byte source 1 is the external data file, 0 the image.
        let source = u32::from(self.data.is_some());
        let mut pos = offset;
        while pos < end && !runs.full() {
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
            let Some(table) = (table != 0).then_some(HostOffset(table)) else {
                runs.push(pos, span_end - pos, Map::Unallocated);
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
                let data_at = |host: HostOffset, from: u64, to: u64| -> Result<Map, Error> {
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
                    Ok(Map::Data {
                        source,
                        offset: host.0 + (from - cstart),
                    })
                };
                match entry {
                    L2Entry::Unallocated => runs.push(a, b - a, Map::Unallocated),
                    L2Entry::Zero => runs.push(a, b - a, Map::Zero),
                    L2Entry::Data(h) => runs.push(a, b - a, data_at(h, a, b)?),
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
                        let map = Map::Compressed {
                            source: 0,
                            at: offset.0,
                            len: len.min(avail),
                            skip: a - cstart,
                        };
                        runs.push(a, b - a, map)
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
                                    None => Map::Unallocated,
                                }
                            } else if zero & (1 << i) != 0 {
                                Map::Zero
                            } else {
                                Map::Unallocated
                            };
                            runs.push(s, t - s, src);
                        }
                    }
                }
            }
            pos = span_end;
        }
        Ok(())
    }

    /// Describes `[offset, offset + len)` as extents, in order, merged, covering the range
    /// exactly, resolved through the backing chain ([`ddgz_disk::map::extents`]):
    /// [`ddgz_disk::ExtentKind::Zero`] means the range reads as zeros without reading
    /// anything (zero flags, unallocated without a backing file, past a backing file's
    /// end, a hole of a raw backing file). [`Disk::extents`] is the same with the disk
    /// layer's error.
    pub fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>, Error> {
        ddgz_disk::map::extents(self, offset, len)
    }

    /// Reads guest bytes at `offset` into `buf`, through the backing chain (zeros where
    /// nothing is allocated; a backing file's zero extents are filled, not read). May be
    /// called from several threads at once.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), Error> {
        ddgz_disk::map::read_at(self, offset, buf)
    }

    /// Decompresses the cluster whose stream starts at `offset` (at most `len` bytes).
    fn compressed_cluster(&self, offset: HostOffset, len: u64) -> Result<Vec<u8>, Error> {
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
        Ok(out)
    }
}

/// Its backing file is opened by `o.backing` in the format the image records.
impl OwnBacking for Qcow2 {
    type Options = OpenOptions;
    const FORMAT: &'static str = "qcow2";
    const RAW_BACKING: bool = true;

    fn open_input(o: Opening<'_, Self>) -> Result<Self, Error> {
        Self::open_bytes(ImageFile::file(o.input), o.opts, o.backing, o.chain)
    }
}

/// Fuzzing entry point: parses `data` as an image in memory and, if it opens, maps and
/// reads it ([`ddgz_disk::map::fuzz_disk`]). Must never panic, loop forever or allocate
/// without bound, whatever the input.
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
    ddgz_disk::map::fuzz_disk(&q);
}

#[cfg(test)]
mod tests;

impl Mapping for Qcow2 {
    fn disk_size(&self) -> u64 {
        self.header.size
    }

    fn image_path(&self) -> &Path {
        self.image.path()
    }

    fn map(&self, offset: u64, end: u64, runs: &mut Runs) -> Result<(), Error> {
        self.walk(offset, end, runs)
    }

    /// 0: the image; 1: the external data file.
    fn source(&self, source: u32) -> &dyn Disk {
        match (&self.data, source) {
            (Some(d), 1) => d,
            _ => &self.image,
        }
    }

    /// Allocated clusters are data (the file's holes inside them are not asked for).
    fn holes(&self, _: u32) -> bool {
        false
    }

    fn backing(&self) -> Option<&dyn Disk> {
        self.backing.as_deref().map(|b| b as &dyn Disk)
    }

    fn unit(&self, _: u32, at: u64, len: u64) -> Result<Arc<Vec<u8>>, Error> {
        self.cache
            .get(0, at, || self.compressed_cluster(HostOffset(at), len))
    }

    /// The image, its data file and its whole backing chain.
    fn file_ids(&self) -> Vec<ddgz_disk::FileId> {
        let mut out = self.image.files();
        out.extend(self.data.as_ref().and_then(ImageFile::file_id));
        if let Some(b) = &self.backing {
            out.extend(b.files());
        }
        out
    }
}

ddgz_disk::mapped_disk!(Qcow2);

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
