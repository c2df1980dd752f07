//! Read-only VHDX reader ([MS-VHDX] v1, Hyper-V's virtual disk format).
//!
//! Opens dynamic and fixed VHDX files and implements [`ddgz_disk::Disk`]: the block
//! allocation table (BAT) says, per payload block, whether it is in the file; blocks
//! *not present*, *undefined*, *zero* and *unmapped* read as zeros and are never read,
//! and inside a *fully present* block the file's own holes are zero extents too.
//!
//! The header pair is checked (signature, CRC-32C, version) and the current header is
//! the valid one with the higher sequence number; the region table (the copy at 256 KiB
//! if the one at 192 KiB is damaged) gives the BAT and metadata regions; the metadata
//! items give the block size, virtual size and sector sizes. A log that needs replaying
//! (a non-zero log GUID and a valid active sequence) is replayed **in memory**: its
//! writes are laid over the file as it is read, and the file is never written. QEMU
//! (`block/vhdx*.c`, the oracle) refuses such a file when it opens it read-only, and
//! replays it into the file when it may write (`qemu-img check -r all`); the tests check
//! that our in-memory replay reads what QEMU reads after its replay.
//!
//! A differencing VHDX (the *has parent* flag) is refused with the parent's locator, as
//! QEMU does. Unmapped blocks are state 3 (the published specification) or 5 (its v0.95
//! draft, which QEMU also accepts).
//!
//! Every value read from the file is untrusted: region and metadata items must lie
//! inside the file and their region; the BAT is read per request, each entry checked
//! (state, offset past the header section, block inside the file); the log is at most
//! 64 MiB (`MAX_LOG`) and every entry's CRC-32C, descriptors and data sectors are
//! checked before anything is replayed. A [`Vhdx`] is `Send + Sync`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod facts;
mod header;
mod log;
mod metadata;
mod view;

use std::path::Path;

use ddgz_disk::{Disk, ImageFile, InputFile, Map, Mapping, Problem, Runs};

pub use ddgz_disk::{ReaderError as Error, ReaderKind as ErrorKind};

use header::{
    Header, Regions, HEADER_OFFSETS, HEADER_SECTION, HEADER_SIZE, REGION_OFFSETS, REGION_TABLE_SIZE,
};
use metadata::{Params, Table, TABLE_SIZE};
use view::View;

/// Payload block states (the low 3 bits of a BAT entry, [MS-VHDX] 2.5.1.1).
mod state {
    pub const NOT_PRESENT: u64 = 0;
    pub const UNDEFINED: u64 = 1;
    pub const ZERO: u64 = 2;
    pub const UNMAPPED: u64 = 3;
    /// Unmapped in the v0.95 draft; QEMU accepts it too.
    pub const UNMAPPED_V095: u64 = 5;
    pub const FULLY_PRESENT: u64 = 6;
    pub const PARTIALLY_PRESENT: u64 = 7;
}

/// What a replayed log did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogReplay {
    /// Entries replayed.
    pub entries: usize,
    /// Sequence numbers of the first and the last.
    pub sequence: (u64, u64),
    /// Writes (data sectors and zero runs) laid over the file.
    pub writes: usize,
}

/// Container details, for `ddgz inspect`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    /// "dynamic" or "fixed" (the leave-blocks-allocated flag).
    pub subformat: &'static str,
    /// Virtual size in bytes.
    pub virtual_size: u64,
    /// Payload block size in bytes.
    pub block_size: u64,
    /// Logical and physical sector sizes.
    pub logical_sector_size: u32,
    /// Physical sector size.
    pub physical_sector_size: u32,
    /// Which header is current (1 or 2) and its sequence number.
    pub header: (usize, u64),
    /// The log replayed in memory, if one needed replaying.
    pub log: Option<LogReplay>,
}

/// An opened VHDX file.
#[derive(Debug)]
pub struct Vhdx {
    view: View,
    params: Params,
    regions: Regions,
    header: (usize, u64),
    log: Option<LogReplay>,
}

const _: () = {
    const fn send_sync<T: Send + Sync>() {}
    send_sync::<Vhdx>();
    send_sync::<Error>();
};

/// Whether the first bytes of a file are a VHDX file identifier (`vhdxfile`).
pub fn probe(head: &[u8]) -> bool {
    head.starts_with(b"vhdxfile")
}

impl Vhdx {
    /// Opens `path` read-only.
    pub fn open(path: &Path) -> Result<Self, Error> {
        Self::open_view(View::new(ImageFile::open(path, "")?))
    }

    /// Reads a file already opened (by the format registry).
    pub fn open_input(input: InputFile) -> Result<Self, Error> {
        Self::open_view(View::new(ImageFile::file(input)))
    }

    /// Parses an image held in memory, named `name` in messages (for fuzzing).
    pub fn from_bytes(name: &Path, bytes: Vec<u8>) -> Result<Self, Error> {
        Self::open_view(View::new(ImageFile::memory(name, bytes)))
    }

    fn open_view(mut view: View) -> Result<Self, Error> {
        let path = view.path().to_path_buf();
        let err = |p: Problem| p.at(&path);
        let size = view.real_size();
        let mut id = [0u8; 8];
        if size < 8 {
            return Err(Error::new(
                &path,
                ErrorKind::InvalidFormat,
                format!("file is {size} bytes, too short for a VHDX file identifier"),
            ));
        }
        view.read(&mut id, 0, "the file identifier")?;
        if !probe(&id) {
            return Err(Error::new(
                &path,
                ErrorKind::InvalidFormat,
                format!(
                    "not a VHDX: the file identifier is {:?}, not \"vhdxfile\"",
                    String::from_utf8_lossy(&id)
                ),
            ));
        }

        // The header pair.
        let mut h = [vec![0u8; HEADER_SIZE], vec![0u8; HEADER_SIZE]];
        for (b, at) in h.iter_mut().zip(HEADER_OFFSETS) {
            view.read(b, at, "a header")?;
        }
        let (header, current) = Header::current([&h[0], &h[1]]).map_err(err)?;

        // The log, replayed in memory if it must be.
        let mut log = None;
        if let Some((at, len)) = log::location(&header, size).map_err(err)? {
            // len <= MAX_LOG (64 MiB) and lies inside the file (checked).
            let mut bytes = vec![0u8; len as usize];
            view.read(&mut bytes, at, "the log")?;
            let replayed = log::replay(&bytes, &header.log_guid, size).map_err(err)?;
            drop(bytes);
            if let Some(r) = replayed {
                log = Some(LogReplay {
                    entries: r.entries,
                    sequence: (r.first_seq, r.last_seq),
                    writes: r.patches.len(),
                });
                view.replay(r.patches, r.size);
            }
        }

        // The region table, or its copy.
        let mut rt = vec![0u8; REGION_TABLE_SIZE];
        view.read(&mut rt, REGION_OFFSETS[0], "the region table")?;
        let regions = match Regions::parse(&rt, view.size()) {
            Ok(r) => r,
            Err(first) => {
                view.read(&mut rt, REGION_OFFSETS[1], "the region table copy")?;
                Regions::parse(&rt, view.size()).map_err(|_| {
                    Error::new(
                        &path,
                        first.kind,
                        format!(
                            "region table at 0x{:x}: {} (and its copy at 0x{:x} is no better)",
                            REGION_OFFSETS[0], first.message, REGION_OFFSETS[1]
                        ),
                    )
                })?
            }
        };

        // The metadata items.
        let md = regions.metadata;
        if (md.length as usize) < TABLE_SIZE {
            return Err(Error::new(
                &path,
                ErrorKind::Corrupt,
                format!(
                    "metadata region of {} bytes is smaller than its 64 KiB table",
                    md.length
                ),
            ));
        }
        let mut tb = vec![0u8; TABLE_SIZE];
        view.read(&mut tb, md.offset, "the metadata table")?;
        let table = Table::parse(&tb, md.length).map_err(err)?;
        let item = |i: Option<metadata::Item>, name: &str, n: u32| -> Result<Vec<u8>, Error> {
            let i = metadata::require(i, name, n).map_err(err)?;
            let mut b = vec![0u8; n as usize];
            view.read(&mut b, md.offset + u64::from(i.offset), name)?;
            Ok(b)
        };
        let fp = item(table.file_parameters, "file parameters", 8)?;
        let vs = item(table.virtual_disk_size, "virtual disk size", 8)?;
        let lss = item(table.logical_sector_size, "logical sector size", 4)?;
        let pss = item(table.physical_sector_size, "physical sector size", 4)?;
        item(table.page83, "page 83 data", 16)?;
        let params = Params::check(&fp, &vs, &lss, &pss).map_err(err)?;
        if params.has_parent {
            let locator = match table.parent_locator {
                Some(i) if i.length > 0 => {
                    // An item is at most its region; read at most 64 KiB of it.
                    let n = i.length.min(64 << 10);
                    let mut b = vec![0u8; n as usize];
                    view.read(
                        &mut b,
                        md.offset + u64::from(i.offset),
                        "the parent locator",
                    )?;
                    metadata::parent_locator(&b)
                        .into_iter()
                        .map(|(k, v)| format!("{k}={v:?}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
                _ => "no parent locator".into(),
            };
            return Err(Error::new(
                &path,
                ErrorKind::Parent,
                format!(
                    "a differencing VHDX (has parent; {locator}): not read, as QEMU does not; \
                     merge it into its parent first"
                ),
            ));
        }

        // The BAT must hold an entry per payload block plus the interleaved sector
        // bitmap entries.
        let blocks = params.virtual_size.div_ceil(u64::from(params.block_size));
        let entries = if blocks == 0 {
            0
        } else {
            blocks + (blocks - 1) / params.chunk_ratio()
        };
        if entries * 8 > u64::from(regions.bat.length) {
            return Err(Error::new(
                &path,
                ErrorKind::Corrupt,
                format!(
                    "the BAT region holds {} entries; the {}-byte disk needs {entries}",
                    regions.bat.length / 8,
                    params.virtual_size
                ),
            ));
        }
        Ok(Self {
            view,
            params,
            regions,
            header: (current + 1, header.sequence),
            log,
        })
    }

    /// Virtual disk size in bytes.
    pub fn virtual_size(&self) -> u64 {
        self.params.virtual_size
    }

    /// The image file.
    pub fn path(&self) -> &Path {
        self.view.path()
    }

    /// Container details.
    pub fn info(&self) -> Info {
        Info {
            subformat: if self.params.fixed {
                "fixed"
            } else {
                "dynamic"
            },
            virtual_size: self.params.virtual_size,
            block_size: u64::from(self.params.block_size),
            logical_sector_size: self.params.logical_sector_size,
            physical_sector_size: self.params.physical_sector_size,
            header: self.header,
            log: self.log,
        }
    }
}

/// BAT entries read at once while mapping: 64 Ki blocks (512 KiB of BAT).
const BAT_WINDOW: u64 = 1 << 16;

impl Mapping for Vhdx {
    fn disk_size(&self) -> u64 {
        self.params.virtual_size
    }

    fn image_path(&self) -> &Path {
        self.view.path()
    }

    /// Describes `[offset, end)` (inside the disk) as runs, reading the BAT entries of
    /// the blocks it touches (one read).
    fn map(&self, offset: u64, end: u64, runs: &mut Runs) -> Result<(), Error> {
        let bs = u64::from(self.params.block_size);
        let cr = self.params.chunk_ratio();
        let index = |b: u64| b + b / cr;
        let mut pos = offset;
        // The BAT entries of at most BAT_WINDOW blocks are read at once.
        while pos < end && !runs.full() {
            let b0 = pos / bs;
            let b1 = ((end - 1) / bs).min(b0 + BAT_WINDOW - 1);
            let (i0, i1) = (index(b0), index(b1));
            // Inside the BAT region: the region holds every entry the disk needs (checked).
            let mut raw = vec![0u8; ((i1 - i0 + 1) * 8) as usize];
            self.view
                .read(&mut raw, self.regions.bat.offset + i0 * 8, "the BAT")?;
            // b1 < blocks, so (b1 + 1) * bs <= virtual size rounded up to a block.
            let window_end = ((b1 + 1) * bs).min(end);
            pos = self.map_window(pos, window_end, i0, &raw, runs)?;
        }
        Ok(())
    }

    /// The file as read, the log's writes laid over it; its holes are zeros too.
    fn source(&self, _: u32) -> &dyn Disk {
        &self.view
    }

    fn file_ids(&self) -> Vec<ddgz_disk::FileId> {
        self.view.files()
    }
}

impl Vhdx {
    /// Maps `[pos, end)`, whose BAT entries from entry `i0` on are `raw`; returns `end`.
    fn map_window(
        &self,
        mut pos: u64,
        end: u64,
        i0: u64,
        raw: &[u8],
        runs: &mut Runs,
    ) -> Result<u64, Error> {
        let bs = u64::from(self.params.block_size);
        let cr = self.params.chunk_ratio();
        let index = |b: u64| b + b / cr;
        while pos < end {
            let b = pos / bs;
            let bstart = b * bs;
            let bend = (bstart + bs).min(end);
            let i = index(b);
            let at = ((i - i0) * 8) as usize;
            let e = u64::from_le_bytes(raw[at..at + 8].try_into().expect("8 bytes"));
            let bad = |why: String| {
                Error::new(
                    self.path(),
                    ErrorKind::Corrupt,
                    format!(
                        "payload block {b} (BAT entry {i} = 0x{e:016x} at 0x{:x}): {why}",
                        self.regions.bat.offset + i * 8
                    ),
                )
            };
            let src = match e & 7 {
                state::NOT_PRESENT
                | state::UNDEFINED
                | state::ZERO
                | state::UNMAPPED
                | state::UNMAPPED_V095 => Map::Zero,
                state::FULLY_PRESENT => {
                    // The file offset in MiB lives in bits 20..63; the bits between
                    // the state and it are reserved (QEMU ignores them, and so do we).
                    let host = e & !((1 << 20) - 1);
                    let used = bs.min(self.params.virtual_size - bstart);
                    if host < HEADER_SECTION {
                        return Err(bad(format!(
                            "data at 0x{host:x}, inside the 1 MiB header section"
                        )));
                    }
                    if host.checked_add(used).is_none_or(|x| x > self.view.size()) {
                        return Err(bad(format!(
                            "data at 0x{host:x} ({used} bytes) lies past the end of the file \
                             (size 0x{:x})",
                            self.view.size()
                        )));
                    }
                    Map::Data {
                        source: 0,
                        offset: host + (pos - bstart),
                    }
                }
                state::PARTIALLY_PRESENT => {
                    return Err(bad(
                        "partially present, which only a differencing disk may be".into(),
                    ))
                }
                s => return Err(bad(format!("unknown block state {s}"))),
            };
            runs.push(pos, bend - pos, src);
            pos = bend;
        }
        Ok(pos)
    }
}

ddgz_disk::mapped_disk!(Vhdx);

/// Fuzzing entry point: parses `data` as an image in memory and, if it opens, maps and
/// reads it (at most 64 MiB mapped, 8 MiB read). Must never panic, loop forever or
/// allocate without bound, whatever the input.
#[doc(hidden)]
pub fn fuzz_image(data: &[u8]) {
    fuzz_owned(data.to_vec());
}

/// Fuzzing entry point for a VHDX given sparsely, since a VHDX is at least 1 MiB of
/// mostly zeros: `data` is a sequence of runs `[offset u32 LE][length u16 LE][bytes]`
/// laid over zeros; the image ends at the furthest run, at most 16 MiB (runs past it are
/// dropped). Then as [`fuzz_image`].
#[doc(hidden)]
pub fn fuzz_sparse(data: &[u8]) {
    const MAX: usize = 16 << 20;
    let mut runs = Vec::new();
    let mut end = 0;
    let mut i = 0;
    while i + 6 <= data.len() {
        let off = u32::from_le_bytes(data[i..i + 4].try_into().expect("4 bytes")) as usize;
        let len = usize::from(u16::from_le_bytes([data[i + 4], data[i + 5]]));
        i += 6;
        let bytes = &data[i..(i + len).min(data.len())];
        i += bytes.len();
        if off.checked_add(bytes.len()).is_some_and(|e| e <= MAX) {
            end = end.max(off + bytes.len());
            runs.push((off, bytes));
        }
    }
    let mut img = vec![0u8; end];
    for (off, bytes) in runs {
        img[off..off + bytes.len()].copy_from_slice(bytes);
    }
    fuzz_owned(img);
}

fn fuzz_owned(data: Vec<u8>) {
    let _ = probe(&data);
    let Ok(v) = Vhdx::from_bytes(Path::new("fuzz.vhdx"), data) else {
        return;
    };
    let _ = v.info();
    ddgz_disk::map::fuzz_disk(&v);
}

#[cfg(test)]
mod tests;
