//! The mapping layer every container reader shares.
//!
//! A format (qcow2, VMDK, VHD, VHDX, VDI) says only what each run of its guest space maps
//! to — a [`Map`]: data at an offset of one of its byte sources (each a [`Disk`]), zeros,
//! unallocated (the backing disk's bytes, or zeros), or part of a compressed unit — by
//! implementing [`Mapping`]. The generic functions here do the rest once for all of them:
//! range checks, [`extents`] (the sources' own holes, the backing chain's extents asked
//! once per request and consumed with a cursor), [`read_at`] (one read per run of
//! contiguous data, zeros filled, compressed units through a [`UnitCache`]), and the
//! bounded [`fuzz_disk`] loop. [`mapped_disk!`](crate::mapped_disk) implements [`Disk`]
//! for a mapping in one line.

use std::path::Path;
use std::sync::{Arc, Mutex};

use crate::{push_merged, Disk, Extent, ExtentKind, FileId, ReaderError, ReaderKind};

/// What one run of guest bytes maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Map {
    /// Reads as zeros (a zero flag, a discarded block, a ZERO extent).
    Zero,
    /// Not allocated in this image: the backing disk's bytes, or zeros without one (and
    /// past the backing disk's end).
    Unallocated,
    /// Stored in byte source `source` ([`Mapping::source`]) from byte `offset`.
    Data {
        /// Which byte source.
        source: u32,
        /// Where in it the run starts.
        offset: u64,
    },
    /// Part of a compressed unit of byte source `source`: the stream at `at`, at most
    /// `len` bytes; the run starts `skip` bytes into the decompressed unit.
    Compressed {
        /// Which byte source.
        source: u32,
        /// Where the stream starts.
        at: u64,
        /// Its length, at most.
        len: u64,
        /// Where the run starts in the decompressed unit.
        skip: u64,
    },
}

/// A run of guest bytes `[guest, guest + len)` and what it maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// First guest byte.
    pub guest: u64,
    /// Length in bytes.
    pub len: u64,
    /// What it maps to.
    pub map: Map,
}

/// The runs of one request, in order, each merged into the one before when it continues
/// it (so that contiguous data is read with one call).
#[derive(Debug)]
pub struct Runs {
    runs: Vec<Run>,
    limit: usize,
}

impl Default for Runs {
    fn default() -> Self {
        Self::with_limit(usize::MAX)
    }
}

/// The runs one [`extents_from`] call maps at most (a format may go past it by the runs
/// of one table).
pub const RUNS_PER_LIST: usize = 1 << 16;

impl Runs {
    /// An empty list that is [`Runs::full`] at `limit` runs.
    pub fn with_limit(limit: usize) -> Self {
        Self {
            runs: Vec::new(),
            limit,
        }
    }

    /// Whether the format may stop mapping (at a run boundary): the request maps only
    /// a prefix of its range then, and is asked again from where the runs end. A format
    /// checks it once per table or block, so that a request costs in proportion to the
    /// runs it returns.
    pub fn full(&self) -> bool {
        self.runs.len() >= self.limit
    }

    /// Appends `[guest, guest + len)` mapped to `map`, merging it into the last run when
    /// it continues it (same kind; for data, the next bytes of the same source).
    pub fn push(&mut self, guest: u64, len: u64, map: Map) {
        if len == 0 {
            return;
        }
        if let Some(last) = self.runs.last_mut() {
            if last.guest + last.len == guest {
                let merge = match (last.map, map) {
                    (Map::Zero, Map::Zero) | (Map::Unallocated, Map::Unallocated) => true,
                    (
                        Map::Data {
                            source: s,
                            offset: a,
                        },
                        Map::Data {
                            source: t,
                            offset: b,
                        },
                    ) => s == t && a.checked_add(last.len) == Some(b),
                    _ => false,
                };
                if merge {
                    last.len += len;
                    return;
                }
            }
        }
        self.runs.push(Run { guest, len, map });
    }

    /// The runs.
    pub fn as_slice(&self) -> &[Run] {
        &self.runs
    }
}

/// What a container format implements: its size, what a guest range maps to, and the
/// byte sources and backing disk the map refers to. [`extents`], [`read_at`] and
/// [`mapped_disk!`](crate::mapped_disk) do the rest.
pub trait Mapping: Send + Sync {
    /// Virtual size in bytes.
    fn disk_size(&self) -> u64;

    /// The image file, named in errors.
    fn image_path(&self) -> &Path;

    /// Appends the runs of `[offset, end)` of this image alone (not resolved through the
    /// backing disk), in order, covering it exactly. The range is non-empty and lies
    /// inside the disk.
    fn map(&self, offset: u64, end: u64, runs: &mut Runs) -> Result<(), ReaderError>;

    /// The byte source `source` of a [`Map::Data`] run. Called only with indices the
    /// format's own [`Mapping::map`] produced.
    fn source(&self, source: u32) -> &dyn Disk;

    /// Whether the holes of byte source `source` are zero extents (a flat or preallocated
    /// file), or its data runs are reported as data without asking (allocated clusters).
    fn holes(&self, _source: u32) -> bool {
        true
    }

    /// The disk [`Map::Unallocated`] runs are read from, if any.
    fn backing(&self) -> Option<&dyn Disk> {
        None
    }

    /// The decompressed unit whose stream starts at `at` of byte source `source` (at most
    /// `len` bytes), for [`Map::Compressed`] runs; [`UnitCache`] keeps the last one.
    fn unit(&self, _source: u32, at: u64, _len: u64) -> Result<Arc<Vec<u8>>, ReaderError> {
        Err(ReaderError::new(
            self.image_path(),
            ReaderKind::Unsupported,
            format!("compressed unit at 0x{at:x} in a format without compression"),
        ))
    }

    /// Every file this disk reads ([`Disk::files`]).
    fn file_ids(&self) -> Vec<FileId>;
}

/// Checks that `[offset, offset + len)` lies inside the disk; returns its end.
pub fn check<M: Mapping + ?Sized>(m: &M, offset: u64, len: u64) -> Result<u64, ReaderError> {
    match offset.checked_add(len) {
        Some(end) if end <= m.disk_size() => Ok(end),
        _ => Err(ReaderError::new(
            m.image_path(),
            ReaderKind::OutOfRange,
            format!(
                "guest range 0x{offset:x}+0x{len:x} lies outside the virtual disk (size 0x{:x})",
                m.disk_size()
            ),
        )),
    }
}

fn runs_of<M: Mapping + ?Sized>(
    m: &M,
    offset: u64,
    end: u64,
    limit: usize,
) -> Result<Runs, ReaderError> {
    let mut runs = Runs::with_limit(limit);
    if end > offset {
        m.map(offset, end, &mut runs)?;
    }
    // Without a limit, the runs cover the range exactly.
    if limit == usize::MAX {
        let covered = runs.as_slice().last().map_or(offset, |r| r.guest + r.len);
        if covered != end && end > offset {
            return Err(ReaderError::new(
                m.image_path(),
                ReaderKind::Corrupt,
                format!("the map of 0x{offset:x}..0x{end:x} ends at 0x{covered:x}"),
            ));
        }
    }
    Ok(runs)
}

fn backing_error<M: Mapping + ?Sized>(m: &M, e: crate::Error) -> ReaderError {
    let role = format!(" (the backing file of {})", m.image_path().display());
    ReaderError::from_disk(e, m.image_path(), &role)
}

/// [`Disk::extents`] of a mapping: `[offset, offset + len)` as extents, in order, merged,
/// covering the range exactly, resolved through the backing disk. Zero means the range
/// reads as zeros without reading anything (zero runs, unallocated without a backing
/// disk or past its end, holes of a byte source or of the backing disk).
pub fn extents<M: Mapping + ?Sized>(
    m: &M,
    offset: u64,
    len: u64,
) -> Result<Vec<Extent>, ReaderError> {
    let end = check(m, offset, len)?;
    extents_of(m, runs_of(m, offset, end, usize::MAX)?.as_slice())
}

/// [`Disk::extents_from`] of a mapping: the extents of a prefix of `[offset, offset +
/// len)` that the format maps in about [`RUNS_PER_LIST`] runs, however many bytes they
/// cover (a hole of an exabyte is one run).
pub fn extents_from<M: Mapping + ?Sized>(
    m: &M,
    offset: u64,
    len: u64,
) -> Result<Vec<Extent>, ReaderError> {
    let end = check(m, offset, len)?;
    extents_of(m, runs_of(m, offset, end, RUNS_PER_LIST)?.as_slice())
}

fn extents_of<M: Mapping + ?Sized>(m: &M, runs: &[Run]) -> Result<Vec<Extent>, ReaderError> {
    let mut out = Vec::new();
    let push =
        |out: &mut Vec<Extent>, offset, len, kind| push_merged(out, Extent { offset, len, kind });
    // Backing extents, asked once for the span of all unallocated runs and consumed with
    // a cursor.
    let mut below: Option<(Vec<Extent>, usize)> = None;
    for r in runs {
        let (g, len) = (r.guest, r.len);
        match r.map {
            Map::Zero => push(&mut out, g, len, ExtentKind::Zero),
            Map::Compressed { .. } => push(&mut out, g, len, ExtentKind::Data),
            Map::Data { source, offset: h } => {
                if !m.holes(source) {
                    push(&mut out, g, len, ExtentKind::Data);
                    continue;
                }
                let ext = m
                    .source(source)
                    .extents(h, len)
                    .map_err(|e| ReaderError::from_disk(e, m.image_path(), ""))?;
                for e in ext {
                    push(&mut out, g + (e.offset - h), e.len, e.kind);
                }
            }
            Map::Unallocated => {
                let Some(b) = m.backing() else {
                    push(&mut out, g, len, ExtentKind::Zero);
                    continue;
                };
                let bsize = b.size();
                let covered = (g + len).min(bsize).max(g);
                if covered > g {
                    let (bm, j) = match below {
                        Some(ref mut x) => x,
                        None => {
                            let last = runs
                                .iter()
                                .rev()
                                .find(|r| r.map == Map::Unallocated)
                                .map_or(g + len, |r| r.guest + r.len);
                            let hi = last.min(bsize);
                            let ext = b.extents(g, hi - g).map_err(|e| backing_error(m, e))?;
                            below.insert((ext, 0))
                        }
                    };
                    while *j < bm.len() && bm[*j].end() <= g {
                        *j += 1;
                    }
                    let mut k = *j;
                    while k < bm.len() && bm[k].offset < covered {
                        let s = bm[k].offset.max(g);
                        let t = bm[k].end().min(covered);
                        push(&mut out, s, t - s, bm[k].kind);
                        k += 1;
                    }
                }
                push(&mut out, covered, g + len - covered, ExtentKind::Zero);
            }
        }
    }
    Ok(out)
}

/// [`Disk::read_at`] of a mapping: fills `buf` with the guest bytes at `offset`, one read
/// per run of contiguous data, zeros filled, the backing disk's zero extents filled and
/// not read. May be called from several threads at once.
pub fn read_at<M: Mapping + ?Sized>(m: &M, offset: u64, buf: &mut [u8]) -> Result<(), ReaderError> {
    let end = check(m, offset, buf.len() as u64)?;
    for r in runs_of(m, offset, end, usize::MAX)?.as_slice() {
        let at = (r.guest - offset) as usize;
        let dst = &mut buf[at..at + r.len as usize];
        match r.map {
            Map::Zero => dst.fill(0),
            Map::Data { source, offset: h } => m
                .source(source)
                .read_at(h, dst)
                .map_err(|e| ReaderError::from_disk(e, m.image_path(), ""))?,
            Map::Compressed {
                source,
                at,
                len,
                skip,
            } => {
                let unit = m.unit(source, at, len)?;
                let skip = skip as usize;
                let Some(src) = skip.checked_add(dst.len()).and_then(|e| unit.get(skip..e)) else {
                    return Err(ReaderError::new(
                        m.image_path(),
                        ReaderKind::Corrupt,
                        format!(
                            "compressed unit at 0x{at:x} decompresses to {} bytes; the read \
                             needs {}",
                            unit.len(),
                            skip + dst.len()
                        ),
                    ));
                };
                dst.copy_from_slice(src);
            }
            Map::Unallocated => match m.backing() {
                None => dst.fill(0),
                Some(b) => {
                    let n = b.size().saturating_sub(r.guest).min(dst.len() as u64) as usize;
                    read_backing(m, b, r.guest, &mut dst[..n])?;
                    dst[n..].fill(0);
                }
            },
        }
    }
    Ok(())
}

/// Reads `buf` from the backing disk at `offset` (inside it), reading only its data
/// extents: the holes of a raw backing file are filled with zeros, never read.
fn read_backing<M: Mapping + ?Sized>(
    m: &M,
    b: &dyn Disk,
    offset: u64,
    buf: &mut [u8],
) -> Result<(), ReaderError> {
    if buf.is_empty() {
        return Ok(());
    }
    let ext = b
        .extents(offset, buf.len() as u64)
        .map_err(|e| backing_error(m, e))?;
    for e in ext {
        let range = (e.offset - offset) as usize..(e.end() - offset) as usize;
        match e.kind {
            ExtentKind::Zero => buf[range].fill(0),
            ExtentKind::Data => b
                .read_at(e.offset, &mut buf[range])
                .map_err(|e| backing_error(m, e))?,
        }
    }
    Ok(())
}

/// The last decompressed unit, keyed by its byte source and offset: sequential readers
/// touch the same compressed cluster or grain several times when their chunks are
/// smaller than it.
#[derive(Default)]
pub struct UnitCache(Mutex<Option<CachedUnit>>);

/// A unit's key (byte source, offset) and its bytes.
type CachedUnit = ((u32, u64), Arc<Vec<u8>>);

impl UnitCache {
    /// The unit at `at` of `source`, from the cache or decompressed by `make`.
    pub fn get(
        &self,
        source: u32,
        at: u64,
        make: impl FnOnce() -> Result<Vec<u8>, ReaderError>,
    ) -> Result<Arc<Vec<u8>>, ReaderError> {
        {
            let g = self.0.lock().unwrap_or_else(|e| e.into_inner());
            if let Some((k, v)) = &*g {
                if *k == (source, at) {
                    return Ok(v.clone());
                }
            }
        }
        let v = Arc::new(make()?);
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(((source, at), v.clone()));
        Ok(v)
    }
}

impl std::fmt::Debug for UnitCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UnitCache")
    }
}

/// The fuzzing loop every reader's `fuzz_image` ends with: maps the first 64 MiB of
/// `disk` and reads at most 8 MiB of its data. Must never panic, loop forever or
/// allocate without bound, whatever the image.
pub fn fuzz_disk(disk: &dyn Disk) {
    let len = disk.size().min(64 << 20);
    let Ok(ext) = disk.extents(0, len) else {
        return;
    };
    let mut budget: u64 = 8 << 20;
    let mut buf = vec![0u8; 1 << 20];
    for e in ext.iter().filter(|e| e.kind == ExtentKind::Data) {
        let mut off = e.offset;
        while off < e.end() && budget > 0 {
            let n = (e.end() - off).min(buf.len() as u64).min(budget);
            if disk.read_at(off, &mut buf[..n as usize]).is_err() {
                return;
            }
            off += n;
            budget -= n;
        }
    }
}

/// Implements [`Disk`] for a type implementing [`Mapping`], through [`extents`] and
/// [`read_at`]: `ddgz_disk::mapped_disk!(Vdi);`.
#[macro_export]
macro_rules! mapped_disk {
    ($t:ty) => {
        impl $crate::Disk for $t {
            fn size(&self) -> u64 {
                $crate::map::Mapping::disk_size(self)
            }
            fn extents(&self, offset: u64, len: u64) -> $crate::Result<Vec<$crate::Extent>> {
                $crate::check_range($crate::map::Mapping::disk_size(self), offset, len)?;
                Ok($crate::map::extents(self, offset, len)?)
            }
            fn extents_from(&self, offset: u64, len: u64) -> $crate::Result<Vec<$crate::Extent>> {
                $crate::check_range($crate::map::Mapping::disk_size(self), offset, len)?;
                Ok($crate::map::extents_from(self, offset, len)?)
            }
            fn read_at(&self, offset: u64, buf: &mut [u8]) -> $crate::Result<()> {
                $crate::check_range(
                    $crate::map::Mapping::disk_size(self),
                    offset,
                    buf.len() as u64,
                )?;
                Ok($crate::map::read_at(self, offset, buf)?)
            }
            fn files(&self) -> Vec<$crate::FileId> {
                $crate::map::Mapping::file_ids(self)
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ImageFile, MemoryDisk};
    use std::path::PathBuf;

    /// 4 blocks of 4 bytes: data (source 0 from 8), zero, unallocated, data (from 0).
    #[derive(Debug)]
    struct Toy {
        path: PathBuf,
        file: ImageFile,
        backing: Option<MemoryDisk>,
    }

    impl Mapping for Toy {
        fn disk_size(&self) -> u64 {
            16
        }
        fn image_path(&self) -> &Path {
            &self.path
        }
        fn map(&self, offset: u64, end: u64, runs: &mut Runs) -> Result<(), ReaderError> {
            let mut pos = offset;
            while pos < end {
                let b = pos / 4;
                let t = ((b + 1) * 4).min(end);
                let map = match b {
                    0 => Map::Data {
                        source: 0,
                        offset: 8 + pos,
                    },
                    1 => Map::Zero,
                    2 => Map::Unallocated,
                    _ => Map::Data {
                        source: 0,
                        offset: pos - 12,
                    },
                };
                runs.push(pos, t - pos, map);
                pos = t;
            }
            Ok(())
        }
        fn source(&self, _: u32) -> &dyn Disk {
            &self.file
        }
        fn backing(&self) -> Option<&dyn Disk> {
            self.backing.as_ref().map(|b| b as &dyn Disk)
        }
        fn file_ids(&self) -> Vec<FileId> {
            Vec::new()
        }
    }

    fn toy(backing: Option<MemoryDisk>) -> Toy {
        Toy {
            path: "toy".into(),
            file: ImageFile::memory(Path::new("toy"), (0u8..12).collect()),
            backing,
        }
    }

    #[test]
    fn extents_and_reads_follow_the_map_and_the_backing_disk() {
        let t = toy(None);
        let e = extents(&t, 0, 16).unwrap();
        let kinds: Vec<_> = e.iter().map(|e| (e.offset, e.len, e.kind)).collect();
        assert_eq!(
            kinds,
            [
                (0, 4, ExtentKind::Data),
                (4, 8, ExtentKind::Zero),
                (12, 4, ExtentKind::Data)
            ]
        );
        let mut b = [9u8; 16];
        read_at(&t, 0, &mut b).unwrap();
        assert_eq!(b, [8, 9, 10, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3]);
        // A backing disk of 10 bytes covers half of the unallocated block.
        let t = toy(Some(MemoryDisk::new(vec![7; 10])));
        let mut b = [9u8; 8];
        read_at(&t, 6, &mut b).unwrap();
        assert_eq!(b, [0, 0, 7, 7, 0, 0, 0, 1]);
        let e = extents(&t, 8, 4).unwrap();
        assert_eq!((e[0].len, e[0].kind), (2, ExtentKind::Data));
        assert_eq!((e[1].len, e[1].kind), (2, ExtentKind::Zero));
    }

    #[test]
    fn out_of_range_and_short_sources_are_errors_with_causes() {
        let t = toy(None);
        let e = extents(&t, 10, 7).unwrap_err();
        assert_eq!(e.kind, ReaderKind::OutOfRange, "{e}");
        let e = t.file.read(&mut [0u8; 4], 10, "a table").unwrap_err();
        assert_eq!(e.kind, ReaderKind::Truncated, "{e}");
        assert!(e.to_string().contains("4 bytes of a table at 0xa"), "{e}");
        // An I/O error keeps its cause as `source()`.
        let io = crate::Error::Io {
            path: "f".into(),
            what: "read".into(),
            source: std::io::Error::other("boom"),
        };
        let e = ReaderError::from_disk(io, Path::new("f"), "");
        let cause = std::error::Error::source(&e).expect("a source");
        assert_eq!(cause.to_string(), "boom");
    }
}
