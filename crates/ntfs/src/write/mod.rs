//! Adding files and directories into an NTFS volume without mounting it: the writing half
//! of this crate, in the overlay style of ddgz's FAT writer. The volume is opened through
//! a copy-on-write view ([`cow::Cow`]) that the reader itself reads, so each step sees the
//! ones before; the result is the set of changed blocks ([`Patch`]es) a converter reads in
//! place of the input's. The input is never written, and a refusal at any point leaves
//! nothing behind.
//!
//! It lives in this crate, not one of its own, because it re-encodes the reader's own
//! structures (records, attributes, run lists, index nodes, fixups) and reads through the
//! reader after every step; a separate crate would need half the reader's internals public.
//!
//! What it does, as NTFS does it:
//! - refuses a volume that is dirty, hibernated or whose `$LogFile` is not clean, and
//!   compressed or encrypted target directories (Windows would replay or repair them);
//! - allocates MFT records from `$MFT`'s `$BITMAP` (from record 64 on, as ntfs-3g and
//!   Windows keep the first ones for the system), extending `$MFT` (and its `$BITMAP`)
//!   when none is free and its record 0 can map the extension; clusters from `$Bitmap`,
//!   one run when one is free, else first fit;
//! - writes each new record with `$STANDARD_INFORMATION` (its `security_id` the parent
//!   directory's, so the file gets the parent's permissions; on a volume whose parent has
//!   none, the parent's own resident security descriptor, else ntfs-3g's default one),
//!   `$FILE_NAME` and `$DATA` (resident when it fits in the record, else in clusters) or
//!   an empty `$INDEX_ROOT`;
//! - inserts each name into its parent's `$I30` B-tree in `$UpCase` order ([`tree`]),
//!   moving the root into a new `$INDEX_ALLOCATION` and splitting full nodes;
//! - updates the parent's times, applies update-sequence arrays to every record and index
//!   node it writes, and keeps `$MFTMirr` equal to the records it mirrors.
//!
//! Names are written in the POSIX namespace only, as ntfs-3g writes them (it is what
//! packer-maas's mount-and-copy step produced, and what curtin reads): one `$FILE_NAME`
//! per file, no DOS 8.3 alias to generate. Windows reads and opens such names (its look-ups
//! collate without case); names Win32 cannot hold, or that equal an existing name without
//! case, are refused.

pub mod bits;
pub mod cow;
mod dir;
pub mod encode;
mod error;
mod file;
#[doc(hidden)]
pub mod fuzz;
mod mft;
pub mod source;
pub mod tree;

use std::collections::{BTreeMap, BTreeSet};
use std::ops::Range;

use ddgz_disk::{Disk, Patch};

use crate::attr::{self, kind, NtTime};
use crate::file::{Stream, StreamData};
use crate::record::Record;
use crate::runs::Run;
use crate::{LogState, Volume};
use bits::Bits;
use cow::Cow;
use encode::I30;
pub use error::{WriteError, WriteResult};
pub use source::{source_files, Kind, Op, Spec};
use tree::DirIndex;

/// The first MFT record handed to a new file (ntfs-3g and Windows reserve the ones below).
pub const FIRST_USER_RECORD: u64 = 64;
/// `$MFTMirr`'s record.
const MFTMIRR_RECORD: u64 = 1;
/// `$STANDARD_INFORMATION` file attribute: archive (what ntfs-3g gives new files).
const ATTR_ARCHIVE: u32 = 0x20;
/// File attributes of a directory the writer refuses to add into.
const ATTR_COMPRESSED: u32 = 0x0800;
const ATTR_ENCRYPTED: u32 = 0x4000;
/// `$SECURITY_DESCRIPTOR`'s type.
const SECURITY_DESCRIPTOR: u32 = 0x50;
/// Bytes of a `$Bitmap` held in memory at most (an 8 TiB volume of 4 KiB clusters).
const MAX_BITMAP: u64 = 256 << 20;
/// Bytes of a file read from the host at once.
const PIECE: usize = 1 << 20;

/// The cluster allocator: `$Bitmap` in memory.
#[derive(Debug)]
pub struct Clusters {
    bits: Bits,
    /// Bytes per cluster.
    pub cluster_size: u64,
    /// Where the next file's data is looked for.
    hint: u64,
    /// Where the next directory index is looked for.
    index_hint: u64,
}

impl Clusters {
    /// Takes `n` clusters (one run if there is one, else pieces), for `what` (named in the
    /// refusal when there is no room).
    pub fn alloc(&mut self, n: u64, what: &str) -> WriteResult<Vec<(u64, u64)>> {
        self.alloc_near(n, self.hint, what)
    }

    /// Takes `n` clusters for a directory index: right after `near` (its last run) when
    /// free, else from the index hint, so that indexes stay in few runs.
    pub fn alloc_index(&mut self, n: u64, near: Option<u64>) -> WriteResult<Vec<(u64, u64)>> {
        if let Some(at) = near {
            if (at..at.saturating_add(n)).all(|i| i < self.bits.len && !self.bits.get(i)) {
                self.bits.set_run(at, n);
                return Ok(vec![(at, n)]);
            }
        }
        let data_hint = self.hint;
        let r = self.alloc_near(n, self.index_hint, "a directory index");
        if let Ok(p) = &r {
            self.index_hint = p.last().map_or(self.index_hint, |&(l, len)| l + len);
        }
        self.hint = data_hint;
        r
    }

    /// An allocator over `bits` for unit tests.
    #[cfg(test)]
    pub(crate) fn for_tests(bits: Bits, cluster_size: u64) -> Self {
        Self {
            bits,
            cluster_size,
            hint: 0,
            index_hint: 0,
        }
    }

    fn alloc_near(&mut self, n: u64, hint: u64, what: &str) -> WriteResult<Vec<(u64, u64)>> {
        let pieces = self.bits.find(n, hint).ok_or_else(|| {
            WriteError::NoSpace(format!(
                "{what} needs {n} clusters of {} bytes; {} are free",
                self.cluster_size,
                self.bits.count_free(0, self.bits.len)
            ))
        })?;
        for &(l, len) in &pieces {
            self.bits.set_run(l, len);
            self.hint = l + len;
        }
        Ok(pieces)
    }
}

/// How a new file gets its permissions from its parent.
#[derive(Debug, Clone)]
struct Security {
    /// The parent's `$Secure` id (0: none).
    id: u32,
    /// A descriptor to store in the file when there is no id.
    descriptor: Option<Vec<u8>>,
}

/// What the writer keeps about a directory it adds into.
#[derive(Debug)]
struct DirInfo {
    /// Its reference (record and sequence).
    reference: u64,
    security: Security,
    /// The latest time of what was added (the directory's new modification time).
    stamp: NtTime,
}

/// Adds the files and trees of `specs` into the NTFS volume at byte range `partition` of
/// `disk`, in memory, and returns the changed byte ranges (disk offsets, sorted, not
/// overlapping). `disk` is only read. Existing directories are merged into; an existing
/// file is an error ([`WriteError::Exists`]), or with `replace` [`WriteError::Unsupported`]
/// (replacing a file's data is not implemented).
pub fn add_files(
    disk: &dyn Disk,
    partition: Range<u64>,
    specs: &[Spec],
    replace: bool,
) -> WriteResult<Vec<Patch>> {
    let ops = source::gather(specs)?;
    if ops.is_empty() {
        return Ok(Vec::new());
    }
    let len = partition.end.saturating_sub(partition.start);
    let cow = Cow::new(disk, partition.start, len)?;
    {
        let mut w = Writer::open(&cow)?;
        w.reserve_records(&ops)?;
        for op in &ops {
            w.apply(op, replace)?;
        }
        w.flush()?;
        verify(&cow, &ops)?;
    }
    Ok(cow.into_patches()?)
}

/// The refusals that depend only on the volume's state.
pub fn check_writable<D: Disk>(vol: &Volume<D>) -> WriteResult<()> {
    let f = vol.facts()?;
    if f.version.0 != 3 {
        return Err(WriteError::Unsupported(format!(
            "NTFS version {}.{} (3.0 and 3.1 are written)",
            f.version.0, f.version.1
        )));
    }
    if f.dirty {
        return Err(WriteError::Refused(
            "the volume is dirty ($Volume's dirty flag is set): Windows will run chkdsk on it; \
             boot it and shut it down cleanly, or run chkdsk, first"
                .into(),
        ));
    }
    if f.hibernated {
        return Err(WriteError::Refused(
            "hiberfil.sys holds a hibernation image (Windows hibernated, or shut down with Fast \
             Startup): Windows would resume its own view of the volume and lose what is added; \
             shut it down fully (shutdown /s /f /t 0, or Fast Startup off)"
                .into(),
        ));
    }
    match f.log {
        LogState::Clean => Ok(()),
        LogState::NeedsReplay { lsn } => Err(WriteError::Refused(format!(
            "$LogFile has journal work to replay (restart area at LSN {lsn} is not clean): \
             Windows would replay it over what is added"
        ))),
        LogState::Unreadable(why) => Err(WriteError::Refused(format!(
            "$LogFile's restart pages cannot be read ({why}), so the volume may not be clean"
        ))),
    }
}

struct Writer<'a, 'd> {
    cow: &'a Cow<'d>,
    vol: Volume<&'a Cow<'d>>,
    rs: usize,
    clusters: Clusters,
    /// `$MFT`'s `$BITMAP`.
    mft_bits: Bits,
    dirs: BTreeMap<u64, DirIndex>,
    info: BTreeMap<u64, DirInfo>,
    /// Records written (for `$MFTMirr`).
    written: BTreeSet<u64>,
    /// `$INDEX_ROOT`'s fixed part for new directories (the root directory's).
    root_fixed: [u8; 16],
}

/// Reads a whole non-resident or resident stream.
fn read_all<D: Disk>(vol: &Volume<D>, s: &Stream, limit: u64) -> WriteResult<Vec<u8>> {
    if s.len() > limit {
        return Err(WriteError::Read(crate::Error::Limit(format!(
            "{}: {} bytes, more than {limit}",
            s.describe(),
            s.len()
        ))));
    }
    let mut v = vec![0u8; s.len() as usize];
    vol.read_at(s, 0, &mut v)?;
    Ok(v)
}

fn runs_of(s: &Stream) -> WriteResult<&[Run]> {
    match &s.data {
        StreamData::NonResident { runs, .. } => Ok(runs),
        StreamData::Resident(_) => Err(WriteError::Unsupported(format!(
            "{} is resident",
            s.describe()
        ))),
    }
}

/// The attribute `t` named `name` of a record, with its raw bytes.
fn find_attr<'r>(
    attrs: &'r [attr::Attribute],
    t: u32,
    name: &[u16],
) -> Option<&'r attr::Attribute> {
    attrs.iter().find(|a| a.type_code == t && a.name == name)
}

impl<'a, 'd> Writer<'a, 'd> {
    fn open(cow: &'a Cow<'d>) -> WriteResult<Self> {
        let vol = Volume::open(cow, 0, cow.size())?;
        check_writable(&vol)?;
        let rs = vol.boot().record_size as usize;
        let cs = u64::from(vol.boot().cluster_size);
        let bm = vol.file(crate::BITMAP_RECORD)?;
        let bs = vol
            .data(&bm, "")?
            .ok_or_else(|| error::corrupt("$Bitmap (MFT record 6) has no $DATA"))?;
        let total = vol.boot().total_clusters;
        if bs.len().saturating_mul(8) < total {
            return Err(error::corrupt(format!(
                "$Bitmap has {} bytes, fewer than its {total} clusters need",
                bs.len()
            )));
        }
        let bytes = read_all(&vol, &bs, MAX_BITMAP)?;
        let clusters = Clusters {
            bits: Bits::new(bytes, total),
            cluster_size: cs,
            // New data after the MFT zone (an eighth of the volume past $MFT), as Windows.
            hint: vol.boot().mft_lcn.saturating_add(total / 8).min(total),
            // Indexes in the middle of the data zone, away from file data.
            index_hint: vol.boot().mft_lcn.saturating_add(total / 2).min(total),
        };
        let mft_bits = Self::mft_bitmap(&vol)?;
        let root = vol.file(crate::ROOT_RECORD)?;
        let ir = root
            .stream(kind::INDEX_ROOT, &I30, cs as u32)?
            .ok_or_else(|| error::corrupt("the root directory has no $INDEX_ROOT"))?;
        let StreamData::Resident(v) = &ir.data else {
            return Err(error::corrupt(
                "the root directory's $INDEX_ROOT is not resident",
            ));
        };
        if v.len() < 16 {
            return Err(error::corrupt(
                "the root directory's $INDEX_ROOT is too short",
            ));
        }
        let mut root_fixed = [0u8; 16];
        root_fixed.copy_from_slice(&v[..16]);
        Ok(Self {
            cow,
            vol,
            rs,
            clusters,
            mft_bits,
            dirs: BTreeMap::new(),
            info: BTreeMap::new(),
            written: BTreeSet::new(),
            root_fixed,
        })
    }

    fn mft_bitmap(vol: &Volume<&'a Cow<'d>>) -> WriteResult<Bits> {
        let mft = vol.file(0)?;
        let s = mft
            .stream(kind::BITMAP, &[], vol.boot().cluster_size)?
            .ok_or_else(|| error::corrupt("$MFT (record 0) has no $BITMAP"))?;
        let v = read_all(vol, &s, MAX_BITMAP)?;
        Ok(Bits::new(v, vol.record_count()))
    }

    fn cs(&self) -> u64 {
        self.clusters.cluster_size
    }

    /// Writes `bytes` at byte `offset` of a non-resident attribute mapped by `runs`.
    fn write_runs(&self, runs: &[Run], offset: u64, bytes: &[u8], what: &str) -> WriteResult<()> {
        let cs = self.cs();
        let mut done = 0usize;
        while done < bytes.len() {
            let pos = offset + done as u64;
            let vcn = pos / cs;
            let r = runs
                .iter()
                .find(|r| r.vcn <= vcn && vcn < r.vcn + r.len)
                .ok_or_else(|| error::corrupt(format!("{what}: no run maps byte {pos}")))?;
            let lcn = r.lcn.ok_or_else(|| {
                WriteError::Unsupported(format!("{what}: byte {pos} lies in a sparse run"))
            })?;
            let n = ((r.vcn + r.len) * cs - pos).min((bytes.len() - done) as u64) as usize;
            self.cow
                .write_at((lcn + vcn - r.vcn) * cs + pos % cs, &bytes[done..done + n])?;
            done += n;
        }
        Ok(())
    }

    /// Writes record `n` (`bytes` without fixups) into `$MFT`.
    fn write_record(&mut self, n: u64, mut bytes: Vec<u8>) -> WriteResult<()> {
        crate::fixup::protect(&mut bytes)
            .map_err(|m| error::corrupt(format!("MFT record {n}: {m}")))?;
        let runs = runs_of(self.vol.mft())?.to_vec();
        self.write_runs(&runs, n * self.rs as u64, &bytes, "$MFT")?;
        self.written.insert(n);
        Ok(())
    }

    /// Applies one operation: the parents, then the directory or file.
    fn apply(&mut self, op: &Op, replace: bool) -> WriteResult<()> {
        let mut dir = crate::ROOT_RECORD;
        let t = encode::nt_time(op.mtime);
        for (i, c) in op.dest.iter().enumerate() {
            let last = i + 1 == op.dest.len();
            let name: Vec<u16> = c.encode_utf16().collect();
            let up = self.vol.upcase().clone();
            let found = self.dir(dir)?.find(&name, &up)?.cloned();
            let shown = op.dest[..=i].join("/");
            match (found, last, op.kind) {
                (Some(e), _, Kind::Dir) | (Some(e), false, _) => {
                    if e.attributes() & attr::FILE_ATTR_DIRECTORY == 0 {
                        return Err(WriteError::Conflict {
                            path: shown,
                            reason: "is a file, not a directory".into(),
                        });
                    }
                    dir = e.file & 0xFFFF_FFFF_FFFF;
                }
                (Some(e), true, Kind::File { .. }) => {
                    if e.attributes() & attr::FILE_ATTR_DIRECTORY != 0 {
                        return Err(WriteError::Conflict {
                            path: shown,
                            reason: format!(
                                "is a directory; the file {} cannot be copied onto it",
                                op.src.display()
                            ),
                        });
                    }
                    if !replace {
                        return Err(WriteError::Exists(shown));
                    }
                    let Kind::File { len } = op.kind else {
                        unreachable!("matched a file")
                    };
                    self.replace_file(dir, &e, op, len, t, &shown)?;
                }
                (None, false, _) | (None, true, Kind::Dir) => {
                    dir = self.create(dir, &name, t, None)?;
                }
                (None, true, Kind::File { len }) => {
                    self.create(dir, &name, t, Some((op, len)))?;
                }
            }
        }
        Ok(())
    }

    /// Writes every changed index, directory record, bitmap and mirror record.
    fn flush(&mut self) -> WriteResult<()> {
        let dirs: Vec<u64> = self.dirs.keys().copied().collect();
        for d in dirs {
            self.flush_dir(d)?;
        }
        // $Bitmap.
        if let Some((a, b)) = self.clusters.bits.changed {
            let f = self.vol.file(crate::BITMAP_RECORD)?;
            let s = self
                .vol
                .data(&f, "")?
                .ok_or_else(|| error::corrupt("$Bitmap has no $DATA"))?;
            let runs = runs_of(&s)?.to_vec();
            let bytes = self.clusters.bits.bytes[a..b].to_vec();
            self.write_runs(&runs, a as u64, &bytes, "$Bitmap")?;
        }
        // $MFT's $BITMAP.
        if let Some((a, b)) = self.mft_bits.changed {
            let f = self.vol.file(0)?;
            let s = f
                .stream(kind::BITMAP, &[], self.cs() as u32)?
                .ok_or_else(|| error::corrupt("$MFT has no $BITMAP"))?;
            let bytes = self.mft_bits.bytes[a..b].to_vec();
            match &s.data {
                StreamData::NonResident { runs, .. } => {
                    let runs = runs.clone();
                    self.write_runs(&runs, a as u64, &bytes, "$MFT $BITMAP")?;
                }
                StreamData::Resident(_) => {
                    let r0 = self.vol.record(0)?;
                    let attrs = r0.attributes(self.vol.boot().total_clusters)?;
                    let new: Vec<Vec<u8>> = attrs
                        .iter()
                        .map(|x| {
                            if x.type_code == kind::BITMAP && x.name.is_empty() {
                                encode::resident(
                                    kind::BITMAP,
                                    &[],
                                    x.instance,
                                    false,
                                    &self.mft_bits.bytes,
                                )
                            } else {
                                r0.bytes[x.offset..x.offset + x.length as usize].to_vec()
                            }
                        })
                        .collect();
                    let b = rebuild(&r0, &new, r0.next_instance, self.rs).ok_or_else(|| {
                        WriteError::NoSpace("$MFT's record 0 cannot hold its $BITMAP".into())
                    })?;
                    self.write_record(0, b)?;
                }
            }
        }
        self.mirror()
    }
}

/// Appends `pieces` (LCN, clusters) to `runs` from VCN `vcn`, merging contiguous ones.
fn append_runs(runs: &mut Vec<Run>, mut vcn: u64, pieces: &[(u64, u64)]) {
    for &(lcn, len) in pieces {
        match runs.last_mut() {
            Some(r) if r.lcn.is_some_and(|l| l + r.len == lcn) && r.vcn + r.len == vcn => {
                r.len += len
            }
            _ => runs.push(Run {
                vcn,
                lcn: Some(lcn),
                len,
            }),
        }
        vcn += len;
    }
}

/// Record `r` with its attributes replaced by `attrs` (encoded, in order): the header
/// kept, bytes in use and next instance updated; `None` when they do not fit.
fn rebuild(r: &Record, attrs: &[Vec<u8>], next_instance: u16, len: usize) -> Option<Vec<u8>> {
    let first = usize::from(r.attrs_offset);
    let used = first + attrs.iter().map(Vec::len).sum::<usize>() + encode::END_MARKER.len();
    if used > len || r.bytes.len() != len {
        return None;
    }
    let mut b = r.bytes.clone();
    b[first..].fill(0);
    let mut at = first;
    for a in attrs {
        b[at..at + a.len()].copy_from_slice(a);
        at += a.len();
    }
    b[at..at + 8].copy_from_slice(&encode::END_MARKER);
    encode::put32(&mut b, 0x18, used as u32);
    encode::put16(&mut b, 0x28, next_instance);
    Some(b)
}

/// Our own output must pass our own reader: every path added is found, of its kind and
/// size, and every directory on the way lists.
fn verify(cow: &Cow<'_>, ops: &[Op]) -> WriteResult<()> {
    let vol = Volume::open(cow, 0, cow.size())?;
    let mut listed = BTreeSet::new();
    for op in ops {
        let path = op.dest.join("/");
        let f = vol
            .lookup(&path)?
            .ok_or_else(|| error::corrupt(format!("{path}: not found after it was added")))?;
        match op.kind {
            Kind::Dir => {
                if !f.is_directory() {
                    return Err(error::corrupt(format!(
                        "{path}: added as a directory, reads as a file"
                    )));
                }
                if listed.insert(f.reference.record) {
                    vol.read_dir(&f)?;
                }
            }
            Kind::File { len } => {
                let size = vol.data(&f, "")?.map_or(0, |s| s.len());
                if size != len {
                    return Err(error::corrupt(format!(
                        "{path}: added with {len} bytes, reads {size}"
                    )));
                }
            }
        }
    }
    Ok(())
}
