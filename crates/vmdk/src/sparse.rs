//! A hosted sparse extent: header (or its footer copy), grain directory, grain tables,
//! grains — plain, zeroed (GTE 1 with the zeroed-grain flag) or compressed with markers
//! (streamOptimized).
//!
//! The grain directory is loaded at open (4 bytes per 32 MiB of guest space with the
//! default geometry) and every table it names is checked to lie inside the file; grain
//! table entries are read per request, one read per table touched. QEMU reads the primary
//! directory only; so do we (the redundant one is a copy for repair tools).

use ddgz_disk::{Disk, ImageFile, Map, Problem, Runs};

use crate::header::{self, Geometry, Header, SECTOR};
use crate::{Error, ErrorKind};

/// Size of a grain marker before the compressed data: `lba: u64, size: u32`.
const GRAIN_MARKER: u64 = 12;

/// Grain directory entries read at once: 4 Ki (16 KiB, 128 GiB of guest space with the
/// default geometry).
const GD_WINDOW: u64 = 4096;

/// An opened hosted sparse extent file.
#[derive(Debug)]
pub(crate) struct SparseExtent {
    pub(crate) file: ImageFile,
    pub(crate) header: Header,
    /// Whether the header was read from the footer (streamOptimized).
    pub(crate) footer: bool,
    pub(crate) geo: Geometry,
}

impl SparseExtent {
    /// Opens the extent in `file`, whose first sector `sector0` has already been read and
    /// parsed into `header`.
    pub(crate) fn open(file: ImageFile, header: Header) -> Result<Self, Error> {
        let path = file.path().to_path_buf();
        let size = file.size();
        let (header, footer) = if header.gd_offset == header::GD_AT_END {
            // The footer: marker, header copy, end-of-stream marker, in the file's last
            // three whole sectors (QEMU reads there).
            let end = size / SECTOR * SECTOR;
            if end < 1536 + SECTOR {
                return Err(Error::new(
                    &path,
                    ErrorKind::Truncated,
                    format!(
                        "the grain directory is at the end, but the file is only 0x{size:x} \
                         bytes: no room for a footer"
                    ),
                ));
            }
            let mut b = [0u8; 1536];
            file.read(&mut b, end - 1536, "the footer")?;
            let f = header::parse_footer(&b).map_err(|p| p.at(&path))?;
            (f, true)
        } else {
            (header, false)
        };
        let geo = header.geometry(size).map_err(|p| p.at(&path))?;
        Ok(Self {
            file,
            header,
            footer,
            geo,
        })
    }

    /// The grain table named by grain directory entry `i`, whose value is `sectors`:
    /// `None` for 0; it must lie inside the file.
    fn table(&self, i: u64, sectors: u32) -> Result<Option<u64>, Error> {
        if sectors == 0 {
            return Ok(None);
        }
        let size = self.file.size();
        let at = u64::from(sectors) * SECTOR;
        if at + u64::from(self.geo.gtes) * 4 > size {
            return Err(Problem::corrupt(format!(
                "grain table at 0x{at:x} (grain directory entry {i}) lies past the end of \
                 the file (size 0x{size:x})"
            ))
            .at(self.file.path()));
        }
        Ok(Some(at))
    }

    /// Maps extent-relative `[from, to)` (inside the extent) into `runs`, guest offsets
    /// `base` on, data from byte source `source`. Stops early, after a whole grain
    /// table, when `runs` is full; returns where it stopped. The grain directory is read
    /// as far as the range needs, [`GD_WINDOW`] entries at a time, never held whole: its
    /// size is what the header claims, not what the file holds.
    pub(crate) fn walk(
        &self,
        from: u64,
        to: u64,
        base: u64,
        source: u32,
        runs: &mut Runs,
    ) -> Result<u64, Error> {
        let g = &self.geo;
        let size = self.file.size();
        let mut gd: (u64, Vec<u8>) = (0, Vec::new());
        let mut pos = from;
        while pos < to && !runs.full() {
            let gdi = pos / g.span;
            let table_start = gdi * g.span;
            let span_end = table_start.saturating_add(g.span).min(to);
            // gdi < gd_entries (pos < capacity); the directory lies inside the file
            // (checked by `geometry`).
            if gdi < gd.0 || gdi >= gd.0 + gd.1.len() as u64 / 4 {
                let need = ((to - 1) / g.span + 1 - gdi).min(g.gd_entries - gdi);
                // Entries in a hole of the file are 0 (no table): skipped without reading,
                // so a directory of millions of entries over a hole costs one look-up.
                let at = g.gd_offset + gdi * 4;
                let hole = ddgz_disk::Disk::extents(&self.file, at, need * 4)
                    .ok()
                    .and_then(|x| x.first().copied())
                    .filter(|e| e.kind == ddgz_disk::ExtentKind::Zero && e.offset == at)
                    .map_or(0, |e| e.len / 4);
                if hole > 0 {
                    let stop = (gdi + hole).saturating_mul(g.span).min(to);
                    runs.push(base + pos, stop - pos, Map::Unallocated);
                    pos = stop;
                    continue;
                }
                let n = need.min(GD_WINDOW);
                gd = (gdi, vec![0u8; (n * 4) as usize]);
                self.file
                    .read(&mut gd.1, g.gd_offset + gdi * 4, "the grain directory")?;
            }
            let k = ((gdi - gd.0) * 4) as usize;
            let sectors = u32::from_le_bytes([gd.1[k], gd.1[k + 1], gd.1[k + 2], gd.1[k + 3]]);
            let Some(table) = self.table(gdi, sectors)? else {
                runs.push(base + pos, span_end - pos, Map::Unallocated);
                pos = span_end;
                continue;
            };
            let first = (pos - table_start) / g.grain;
            let last = (span_end - 1 - table_start) / g.grain;
            // At most 512 entries (2 KiB); the table lies inside the file (checked above).
            let mut buf = vec![0u8; ((last - first + 1) * 4) as usize];
            self.file
                .read(&mut buf, table + first * 4, "a grain table")?;
            for (k, e) in buf.chunks_exact(4).enumerate() {
                let idx = first + k as u64;
                let gstart = table_start + idx * g.grain;
                let a = pos.max(gstart);
                let b = span_end.min(gstart + g.grain);
                let entry = u32::from_le_bytes([e[0], e[1], e[2], e[3]]);
                let map = match entry {
                    0 => Map::Unallocated,
                    1 if self.header.zero_grain() => Map::Zero,
                    s => {
                        let at = u64::from(s) * SECTOR;
                        if self.header.compressed() {
                            if at >= size {
                                return Err(self.past_end(at, gstart));
                            }
                            Map::Compressed {
                                source,
                                at,
                                len: 0,
                                skip: a - gstart,
                            }
                        } else {
                            if at + (b - gstart) > size {
                                return Err(self.past_end(at, gstart));
                            }
                            Map::Data {
                                source,
                                offset: at + (a - gstart),
                            }
                        }
                    }
                };
                runs.push(base + a, b - a, map);
            }
            pos = span_end;
        }
        Ok(pos)
    }

    fn past_end(&self, at: u64, guest: u64) -> Error {
        Error::new(
            self.file.path(),
            ErrorKind::Corrupt,
            format!(
                "grain at 0x{at:x} for extent offset 0x{guest:x} lies past the end of the \
                 file (size 0x{:x})",
                self.file.size()
            ),
        )
    }

    /// The decompressed grain whose marker (or stream) starts at `at`: at most one grain
    /// of bytes, shorter only if the stream ends early (the disk's last grain).
    pub(crate) fn compressed_grain(&self, at: u64) -> Result<Vec<u8>, Error> {
        let path = self.file.path();
        let grain = self.geo.grain;
        let avail = self.file.size().saturating_sub(at);
        // QEMU reads two grains' worth: a grain compresses to at most a little more than
        // itself.
        let limit = 2 * grain;
        let (start, len) = if self.header.markers() {
            let mut m = [0u8; GRAIN_MARKER as usize];
            self.file.read(&mut m, at, "a grain marker")?;
            let size = u64::from(u32::from_le_bytes([m[8], m[9], m[10], m[11]]));
            if size == 0 {
                return Err(Error::new(
                    path,
                    ErrorKind::Corrupt,
                    format!(
                        "a grain table entry points at 0x{at:x}, a metadata marker (size 0), \
                         not a grain"
                    ),
                ));
            }
            if size > limit {
                return Err(Error::new(
                    path,
                    ErrorKind::Corrupt,
                    format!(
                        "compressed grain at 0x{at:x} claims {size} bytes; a grain of \
                         {grain} bytes compresses to at most {limit}"
                    ),
                ));
            }
            if GRAIN_MARKER + size > avail {
                return Err(Error::new(
                    path,
                    ErrorKind::Corrupt,
                    format!(
                        "compressed grain at 0x{at:x} ({size} bytes) runs past the end of the \
                         file (size 0x{:x})",
                        self.file.size()
                    ),
                ));
            }
            (at + GRAIN_MARKER, size)
        } else {
            (at, limit.min(avail))
        };
        // len <= 2 grains <= 32 MiB.
        let mut input = vec![0u8; len as usize];
        self.file.read(&mut input, start, "a compressed grain")?;
        let mut out = vec![0u8; grain as usize];
        let mut z = flate2::Decompress::new(true);
        let bad = |why: String| {
            Error::new(
                path,
                ErrorKind::Corrupt,
                format!("compressed grain at 0x{at:x}: {why}"),
            )
        };
        let status = z
            .decompress(&input, &mut out, flate2::FlushDecompress::Finish)
            .map_err(|e| bad(format!("corrupt zlib data: {e}")))?;
        if status != flate2::Status::StreamEnd {
            return Err(bad(if z.total_out() == grain {
                format!("decompresses to more than the grain size ({grain} bytes)")
            } else {
                format!(
                    "the zlib stream ends early (after {} input bytes)",
                    z.total_in()
                )
            }));
        }
        out.truncate(z.total_out() as usize);
        Ok(out)
    }
}
