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
pub mod encode;
mod error;
#[doc(hidden)]
pub mod fuzz;
pub mod source;
pub mod tree;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::ops::Range;

use ddgz_disk::{Disk, Patch};

use crate::attr::{self, kind, NtTime, Value};
use crate::file::{Stream, StreamData};
use crate::record::{self as rec, Record};
use crate::runs::Run;
use crate::{LogState, Volume};
use bits::Bits;
use cow::Cow;
use encode::{align8, Sizes, I30};
pub use error::{WriteError, WriteResult};
pub use source::{source_files, Kind, Op, Spec};
use tree::{Alloc, DirIndex, IEntry};

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

    /// Makes sure enough MFT records are free for `ops`, extending `$MFT` if not.
    fn reserve_records(&mut self, ops: &[Op]) -> WriteResult<()> {
        let mut paths = BTreeSet::new();
        for op in ops {
            for i in 1..=op.dest.len() {
                paths.insert(op.dest[..i].join("/").to_uppercase());
            }
        }
        let need = paths.len() as u64;
        let count = self.vol.record_count();
        let free = self.mft_bits.count_free(FIRST_USER_RECORD, count);
        if free >= need {
            return Ok(());
        }
        let per_cluster = (self.cs() / self.rs as u64).max(1);
        let target =
            (count.max(FIRST_USER_RECORD) + need - free).div_ceil(per_cluster) * per_cluster;
        self.extend_mft(target)
    }

    /// Extends `$MFT` to `target` records (formatted, free), and its `$BITMAP` to cover
    /// them; record 0 is rewritten (and mirrored).
    fn extend_mft(&mut self, target: u64) -> WriteResult<()> {
        let rs = self.rs as u64;
        let cs = self.cs();
        let r0 = self.vol.record(0)?;
        let attrs = r0.attributes(self.vol.boot().total_clusters)?;
        if attrs.iter().any(|a| a.type_code == kind::ATTRIBUTE_LIST) {
            return Err(WriteError::NoSpace(
                "no MFT record is free, and $MFT is spread over several records (it has an \
                 $ATTRIBUTE_LIST), which this writer does not extend"
                    .into(),
            ));
        }
        let data = find_attr(&attrs, kind::DATA, &[])
            .ok_or_else(|| error::corrupt("$MFT has no $DATA"))?;
        let Value::NonResident(nr) = &data.value else {
            return Err(error::corrupt("$MFT's $DATA is resident"));
        };
        let old_count = nr.data_size / rs;
        if old_count != self.vol.record_count() {
            return Err(error::corrupt(format!(
                "$MFT's data size ({} bytes) disagrees with the {} records its runs map",
                nr.data_size,
                self.vol.record_count()
            )));
        }
        let mut runs = nr.runs.clone();
        let mut allocated = nr.allocated_size;
        let new_size = target * rs;
        if new_size > allocated {
            let n = (new_size - allocated).div_ceil(cs);
            let end = runs
                .last()
                .and_then(|r| r.lcn.map(|l| l + r.len))
                .unwrap_or(0);
            let pieces = self.clusters.alloc_near(n, end, "extending $MFT")?;
            append_runs(&mut runs, allocated / cs, &pieces);
            allocated += n * cs;
        }
        // Format the new records.
        for k in old_count..target {
            let mut b = encode::empty_record(self.rs, k);
            crate::fixup::protect(&mut b).map_err(error::corrupt)?;
            self.write_runs(&runs, k * rs, &b, "$MFT")?;
        }
        let data_attr = encode::non_resident(
            kind::DATA,
            &[],
            data.instance,
            data.flags,
            &runs,
            Sizes {
                allocated,
                data: new_size,
                initialized: new_size,
            },
        );
        // $BITMAP: one bit per record, 8-byte multiples.
        let bm = find_attr(&attrs, kind::BITMAP, &[])
            .ok_or_else(|| error::corrupt("$MFT has no $BITMAP"))?;
        let need = align8(target.div_ceil(8) as usize) as u64;
        let bm_attr = match &bm.value {
            Value::Resident(v) => {
                let mut v = v.clone();
                v.resize(need.max(v.len() as u64) as usize, 0);
                encode::resident(kind::BITMAP, &[], bm.instance, false, &v)
            }
            Value::NonResident(b) => {
                let mut bruns = b.runs.clone();
                let mut balloc = b.allocated_size;
                if need > balloc {
                    let n = (need - balloc).div_ceil(cs);
                    let pieces = self.clusters.alloc(n, "extending $MFT's $BITMAP")?;
                    append_runs(&mut bruns, balloc / cs, &pieces);
                    balloc += n * cs;
                }
                let old = b.initialized_size.min(need);
                let zeros = vec![0u8; (need - old) as usize];
                self.write_runs(&bruns, old, &zeros, "$MFT $BITMAP")?;
                let size = need.max(b.data_size);
                encode::non_resident(
                    kind::BITMAP,
                    &[],
                    bm.instance,
                    bm.flags,
                    &bruns,
                    Sizes {
                        allocated: balloc,
                        data: size,
                        initialized: size,
                    },
                )
            }
        };
        let new_attrs: Vec<Vec<u8>> = attrs
            .iter()
            .map(|a| match (a.type_code, a.name.is_empty()) {
                (kind::DATA, true) => data_attr.clone(),
                (kind::BITMAP, true) => bm_attr.clone(),
                _ => r0.bytes[a.offset..a.offset + a.length as usize].to_vec(),
            })
            .collect();
        let b = rebuild(&r0, &new_attrs, r0.next_instance, self.rs).ok_or_else(|| {
            WriteError::NoSpace("no MFT record is free, and $MFT's record 0 cannot map more".into())
        })?;
        self.write_record(0, b)?;
        // The reader's view of $MFT (its runs) is re-read.
        self.vol = Volume::open(self.cow, 0, self.cow.size())?;
        let mut bits = Self::mft_bitmap(&self.vol)?;
        // Bits this run set before are kept (none yet: reserve happens first).
        bits.len = self.vol.record_count();
        self.mft_bits = bits;
        Ok(())
    }

    /// A free MFT record, marked used: its number and the sequence number to give it.
    fn new_record(&mut self) -> WriteResult<(u64, u16)> {
        let count = self.vol.record_count();
        let n = self
            .mft_bits
            .first_free(FIRST_USER_RECORD, count)
            .ok_or_else(|| WriteError::NoSpace("no MFT record is free".into()))?;
        let seq = match self.vol.record(n) {
            Ok(r) if r.in_use() => {
                return Err(error::corrupt(format!(
                    "MFT record {n} is marked free in $MFT's $BITMAP but is in use"
                )))
            }
            Ok(r) if r.sequence != 0 => r.sequence,
            _ => 1,
        };
        self.mft_bits.set(n);
        Ok((n, seq))
    }

    /// The index of directory `n`, loaded once.
    fn dir(&mut self, n: u64) -> WriteResult<&mut DirIndex> {
        if !self.dirs.contains_key(&n) {
            let ix = self.load_dir(n)?;
            self.dirs.insert(n, ix);
        }
        Ok(self.dirs.get_mut(&n).expect("inserted"))
    }

    fn load_dir(&mut self, n: u64) -> WriteResult<DirIndex> {
        let cs = self.cs();
        let f = self.vol.file(n)?;
        let what = || format!("directory MFT record {n}");
        if !f.is_directory() {
            return Err(error::corrupt(format!("{}: not a directory", what())));
        }
        if f.attributes
            .iter()
            .any(|(r, a)| *r != n || a.type_code == kind::ATTRIBUTE_LIST)
        {
            return Err(WriteError::Unsupported(format!(
                "{}: its attributes are spread over several MFT records ($ATTRIBUTE_LIST)",
                what()
            )));
        }
        // The reader must accept the index as it is.
        self.vol.read_dir(&f)?;
        let si = f.standard_information()?;
        let ir_attr = f
            .attributes
            .iter()
            .map(|(_, a)| a)
            .find(|a| a.type_code == kind::INDEX_ROOT && a.name == I30)
            .ok_or_else(|| error::corrupt(format!("{}: no $INDEX_ROOT", what())))?;
        if si.file_attributes & (ATTR_COMPRESSED | ATTR_ENCRYPTED) != 0
            || ir_attr.flags & (attr::FLAG_COMPRESSED | attr::FLAG_ENCRYPTED) != 0
        {
            return Err(WriteError::Unsupported(format!(
                "{} is compressed or encrypted (file attributes {:#x}); files added there would \
                 have to be too",
                what(),
                si.file_attributes
            )));
        }
        let security = Security {
            id: si.security_id,
            descriptor: if si.security_id != 0 {
                None
            } else {
                Some(
                    f.attributes
                        .iter()
                        .find_map(|(_, a)| match &a.value {
                            Value::Resident(v) if a.type_code == SECURITY_DESCRIPTOR => {
                                Some(v.clone())
                            }
                            _ => None,
                        })
                        .unwrap_or_else(encode::default_security_descriptor),
                )
            },
        };
        self.info.insert(
            n,
            DirInfo {
                reference: f.reference.to_u64(),
                security,
                stamp: 0,
            },
        );
        let ir_value = ir_attr.resident()?.to_vec();
        let rec = self.vol.record(n)?;
        let ia = f.stream(kind::INDEX_ALLOCATION, &I30, cs as u32)?;
        let alloc = match &ia {
            None => None,
            Some(s) => {
                let inst = f
                    .attributes
                    .iter()
                    .find(|(_, a)| a.type_code == kind::INDEX_ALLOCATION && a.name == I30)
                    .map(|(_, a)| a.instance);
                match &s.data {
                    StreamData::NonResident {
                        runs,
                        allocated_size,
                        data_size,
                        ..
                    } => Some(Alloc {
                        runs: runs.clone(),
                        allocated: *allocated_size,
                        data: *data_size,
                        instance: inst,
                    }),
                    StreamData::Resident(_) => {
                        return Err(error::corrupt(format!(
                            "{}: $INDEX_ALLOCATION is resident",
                            what()
                        )))
                    }
                }
            }
        };
        let bitmap = match f
            .attributes
            .iter()
            .map(|(_, a)| a)
            .find(|a| a.type_code == kind::BITMAP && a.name == I30)
        {
            None => None,
            Some(a) => match &a.value {
                Value::Resident(v) => Some((v.clone(), Some(a.instance))),
                Value::NonResident(_) => {
                    return Err(WriteError::Unsupported(format!(
                        "{}: its index $BITMAP is non-resident",
                        what()
                    )))
                }
            },
        };
        let index_attrs: usize = f
            .attributes
            .iter()
            .map(|(_, a)| a)
            .filter(|a| {
                a.name == I30
                    && matches!(
                        a.type_code,
                        kind::INDEX_ROOT | kind::INDEX_ALLOCATION | kind::BITMAP
                    )
            })
            .map(|a| a.length as usize)
            .sum();
        let room = self
            .rs
            .saturating_sub((rec.bytes_in_use as usize).saturating_sub(index_attrs));
        let irs = ddgz_disk::bytes::le32(&ir_value, 8) as u64;
        let vcn_size = if irs >= cs { cs } else { 512 };
        let vol = &self.vol;
        let mut read_node = |vcn: u64| -> WriteResult<Vec<u8>> {
            let s = ia.as_ref().ok_or_else(|| {
                error::corrupt(format!("MFT record {n}: children but no $INDEX_ALLOCATION"))
            })?;
            let mut b = vec![0u8; irs as usize];
            let off = vcn
                .checked_mul(vcn_size)
                .ok_or_else(|| error::corrupt("VCN overflows"))?;
            if vol.read_at(s, off, &mut b)? != b.len() {
                return Err(error::corrupt(format!(
                    "MFT record {n}: node at VCN {vcn} past the allocation"
                )));
            }
            crate::fixup::unprotect(&mut b)
                .map_err(|m| error::corrupt(format!("MFT record {n} VCN {vcn}: {m}")))?;
            Ok(b)
        };
        DirIndex::load(n, &ir_value, alloc, bitmap, cs, room, &mut read_node)
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

    /// Creates a directory (`file` None) or a file named `name` in directory `parent`;
    /// returns its record number.
    fn create(
        &mut self,
        parent: u64,
        name: &[u16],
        t: NtTime,
        file: Option<(&Op, u64)>,
    ) -> WriteResult<u64> {
        self.dir(parent)?;
        let (parent_ref, security) = {
            let info = self
                .info
                .get_mut(&parent)
                .expect("loaded with the directory");
            info.stamp = info.stamp.max(t);
            (info.reference, info.security.clone())
        };
        let (n, seq) = self.new_record()?;
        let mut attrs = Vec::new();
        let mut inst = 0u16;
        let mut next = || {
            inst += 1;
            inst - 1
        };
        attrs.push(encode::resident(
            kind::STANDARD_INFORMATION,
            &[],
            next(),
            false,
            &encode::standard_information(t, ATTR_ARCHIVE, security.id),
        ));
        let fn_inst = next();
        let sd_inst = security.descriptor.as_ref().map(|_| next());
        let body_inst = next();
        let is_dir = file.is_none();
        let (body, allocated, size) = match file {
            None => {
                let mut v = self.root_fixed.to_vec();
                v.extend_from_slice(&encode::node_header(0x10, 0x10, 0x10, false));
                v.extend(encode::index_entry(0, &[], None, true));
                (
                    encode::resident(kind::INDEX_ROOT, &I30, body_inst, false, &v),
                    0,
                    0,
                )
            }
            Some((op, len)) => {
                // Header, SI (0x60), FN, SD (up to 0x18 + 80), $DATA header, end.
                let fixed = encode::first_attribute(self.rs)
                    + 0x60
                    + align8(0x18 + 0x42 + 2 * name.len())
                    + 0x70
                    + 0x18
                    + 8;
                self.file_data(op, len, body_inst, fixed)?
            }
        };
        let attributes = if is_dir {
            ATTR_ARCHIVE | attr::FILE_ATTR_DIRECTORY
        } else {
            ATTR_ARCHIVE
        };
        let key = encode::file_name(&encode::Name {
            parent: parent_ref,
            time: t,
            allocated,
            size,
            attributes,
            namespace: attr::namespace::POSIX,
            name,
        });
        attrs.push(encode::resident(kind::FILE_NAME, &[], fn_inst, true, &key));
        if let (Some(sd), Some(i)) = (&security.descriptor, sd_inst) {
            attrs.push(encode::resident(SECURITY_DESCRIPTOR, &[], i, false, sd));
        }
        let body_len = body.len();
        attrs.push(body);
        let h = encode::RecordHeader {
            number: n,
            sequence: seq,
            links: 1,
            flags: rec::IN_USE | if is_dir { rec::DIRECTORY } else { 0 },
            next_instance: inst,
        };
        let b = encode::record(self.rs, &h, &attrs).ok_or_else(|| {
            WriteError::Unsupported(format!(
                "the record of {} does not fit in {} bytes",
                String::from_utf16_lossy(name),
                self.rs
            ))
        })?;
        let used = ddgz_disk::bytes::le32(&b, 0x18) as usize;
        self.write_record(n, b)?;
        let reference = n | u64::from(seq) << 48;
        if is_dir {
            // The record's room for the index attributes: all but the others.
            let room = self.rs.saturating_sub(used - body_len);
            self.dirs
                .insert(n, DirIndex::empty(n, self.root_fixed, self.cs(), room));
            self.info.insert(
                n,
                DirInfo {
                    reference,
                    security: Security {
                        id: security.id,
                        descriptor: security.descriptor.clone(),
                    },
                    stamp: 0,
                },
            );
        }
        let up = self.vol.upcase().clone();
        let entry = IEntry {
            file: reference,
            key,
            name: name.to_vec(),
            child: None,
        };
        let ix = self.dirs.remove(&parent).expect("loaded above");
        let mut ix = ix;
        let r = ix.insert(entry, &up, &mut self.clusters);
        self.dirs.insert(parent, ix);
        r?;
        Ok(n)
    }

    /// The `$DATA` attribute of a new file of `len` bytes from `op.src`: resident when a
    /// record holds it, else in new clusters. Returns it with the allocated and data sizes.
    fn file_data(
        &mut self,
        op: &Op,
        len: u64,
        inst: u16,
        fixed: usize,
    ) -> WriteResult<(Vec<u8>, u64, u64)> {
        let src_err = |e: std::io::Error| WriteError::Source {
            path: op.src.clone(),
            what: "cannot be read".into(),
            source: Some(e),
        };
        let mut f = std::fs::File::open(&op.src).map_err(src_err)?;
        if (len as usize).saturating_add(fixed) <= self.rs && len < 4096 {
            let mut v = Vec::with_capacity(len as usize);
            f.by_ref()
                .take(len + 1)
                .read_to_end(&mut v)
                .map_err(src_err)?;
            if v.len() as u64 != len {
                return Err(changed(op, len));
            }
            let a = encode::resident(kind::DATA, &[], inst, false, &v);
            return Ok((a, align8(v.len()) as u64, len));
        }
        let cs = self.cs();
        let n = len.div_ceil(cs);
        let shown = op.dest.join("/");
        let pieces = self.clusters.alloc(n, &format!("the data of {shown}"))?;
        let mut runs = Vec::new();
        append_runs(&mut runs, 0, &pieces);
        let mut buf = vec![0u8; PIECE.min((n * cs) as usize).max(1)];
        let mut at = 0u64;
        let total = n * cs;
        while at < total {
            let want = buf.len().min((total - at) as usize);
            let b = &mut buf[..want];
            let real = len.saturating_sub(at).min(want as u64) as usize;
            f.read_exact(&mut b[..real]).map_err(|e| {
                if e.kind() == std::io::ErrorKind::UnexpectedEof {
                    changed(op, len)
                } else {
                    src_err(e)
                }
            })?;
            b[real..].fill(0);
            self.write_runs(&runs, at, b, &shown)?;
            at += want as u64;
        }
        let a = encode::non_resident(
            kind::DATA,
            &[],
            inst,
            0,
            &runs,
            Sizes {
                allocated: total,
                data: len,
                initialized: len,
            },
        );
        Ok((a, total, len))
    }

    /// Replaces the unnamed `$DATA` of the existing file `e` in directory `parent` with
    /// `op`'s bytes: its clusters freed, the new data resident or in new clusters, its
    /// `$FILE_NAME`s and the parent's index entries given the new sizes and times. Only
    /// the plain case: one name, all attributes in the base record, `$DATA` neither
    /// compressed, encrypted nor sparse.
    fn replace_file(
        &mut self,
        parent: u64,
        e: &IEntry,
        op: &Op,
        len: u64,
        t: NtTime,
        shown: &str,
    ) -> WriteResult<()> {
        let n = e.file & 0xFFFF_FFFF_FFFF;
        let unsupported =
            |why: &str| WriteError::Unsupported(format!("--replace of {shown}: {why}"));
        let f = self.vol.file(n)?;
        if f.is_directory() {
            return Err(unsupported("it is a directory"));
        }
        if f.link_count != 1 || f.attributes.iter().any(|(r, _)| *r != n) {
            return Err(unsupported("it has several names or several MFT records"));
        }
        let r = self.vol.record(n)?;
        let attrs = r.attributes(self.vol.boot().total_clusters)?;
        let data = find_attr(&attrs, kind::DATA, &[])
            .ok_or_else(|| unsupported("it has no unnamed $DATA"))?;
        if data.flags & (attr::FLAG_COMPRESSED | attr::FLAG_ENCRYPTED | attr::FLAG_SPARSE) != 0 {
            return Err(unsupported("its data is compressed, encrypted or sparse"));
        }
        if attrs.iter().any(|a| a.type_code == kind::REPARSE_POINT) {
            return Err(unsupported("it is a reparse point"));
        }
        if let Value::NonResident(nr) = &data.value {
            for run in &nr.runs {
                if let Some(l) = run.lcn {
                    self.clusters.bits.clear_run(l, run.len);
                }
            }
        }
        let fixed = r.bytes_in_use as usize - data.length as usize + 0x18;
        let (new_data, allocated, size) = self.file_data(op, len, data.instance, fixed)?;
        self.info
            .get_mut(&parent)
            .expect("a loaded directory")
            .stamp = self.info[&parent].stamp.max(t);
        let patch_name = |v: &mut Vec<u8>| {
            if v.len() >= 0x38 {
                encode::put64(v, 0x10, t);
                encode::put64(v, 0x18, t);
                encode::put64(v, 0x28, allocated);
                encode::put64(v, 0x30, size);
            }
        };
        let mut keys = Vec::new();
        let mut list = Vec::new();
        for a in &attrs {
            let raw = r.bytes[a.offset..a.offset + a.length as usize].to_vec();
            list.push(match (a.type_code, &a.value) {
                (kind::DATA, _) if a.name.is_empty() => new_data.clone(),
                (kind::FILE_NAME, Value::Resident(v)) => {
                    let mut v = v.clone();
                    patch_name(&mut v);
                    keys.push(v.clone());
                    encode::resident(kind::FILE_NAME, &a.name, a.instance, true, &v)
                }
                (kind::STANDARD_INFORMATION, Value::Resident(v)) => {
                    let mut v = v.clone();
                    if v.len() >= 0x20 {
                        encode::put64(&mut v, 0x08, t);
                        encode::put64(&mut v, 0x10, t);
                    }
                    encode::resident(kind::STANDARD_INFORMATION, &a.name, a.instance, false, &v)
                }
                _ => raw,
            });
        }
        let b = rebuild(&r, &list, r.next_instance, self.rs)
            .ok_or_else(|| unsupported("its record is full"))?;
        self.write_record(n, b)?;
        let up = self.vol.upcase().clone();
        let ix = self.dir(parent)?;
        for k in keys {
            let name = attr::FileName::parse(&k)?.name;
            ix.set_key(&name, k, &up)?;
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

    /// Rewrites directory `d`: its changed nodes, and its record (root, allocation,
    /// bitmap, times).
    fn flush_dir(&mut self, d: u64) -> WriteResult<()> {
        let stamp = self.info.get(&d).map_or(0, |i| i.stamp);
        let ix = &self.dirs[&d];
        if ix.dirty.is_empty() && !ix.record_dirty && stamp == 0 {
            return Ok(());
        }
        if let Some(a) = &ix.alloc {
            let runs = a.runs.clone();
            for (off, mut b) in ix.dirty_nodes() {
                crate::fixup::protect(&mut b).map_err(error::corrupt)?;
                self.write_runs(&runs, off, &b, "$INDEX_ALLOCATION")?;
            }
        }
        let ix = &self.dirs[&d];
        let r = self.vol.record(d)?;
        let attrs = r.attributes(self.vol.boot().total_clusters)?;
        let mut next = r.next_instance;
        let mut out: Vec<(u32, Vec<u16>, Vec<u8>)> = Vec::new();
        let mut have_alloc = false;
        let mut have_bitmap = false;
        for a in &attrs {
            let raw = r.bytes[a.offset..a.offset + a.length as usize].to_vec();
            let bytes = match (a.type_code, a.name == I30) {
                (kind::STANDARD_INFORMATION, _) => {
                    let mut raw = raw;
                    let vo = usize::from(ddgz_disk::bytes::le16(&raw, 0x14));
                    for field in [0x08, 0x10, 0x18] {
                        if vo + field + 8 <= raw.len() {
                            let old = ddgz_disk::bytes::le64(&raw, vo + field);
                            encode::put64(&mut raw, vo + field, old.max(stamp));
                        }
                    }
                    raw
                }
                (kind::INDEX_ROOT, true) => {
                    encode::resident(kind::INDEX_ROOT, &I30, a.instance, false, &ix.root_value())
                }
                (kind::INDEX_ALLOCATION, true) => {
                    have_alloc = true;
                    alloc_attr(ix, a.instance, a.flags)
                }
                (kind::BITMAP, true) => {
                    have_bitmap = true;
                    let v = ix.bitmap.as_ref().map(|b| b.0.clone()).unwrap_or_default();
                    encode::resident(kind::BITMAP, &I30, a.instance, false, &v)
                }
                _ => raw,
            };
            out.push((a.type_code, a.name.clone(), bytes));
        }
        if !have_alloc && ix.alloc.is_some() {
            out.push((
                kind::INDEX_ALLOCATION,
                I30.to_vec(),
                alloc_attr(ix, next, 0),
            ));
            next += 1;
        }
        if !have_bitmap {
            if let Some((v, _)) = &ix.bitmap {
                out.push((
                    kind::BITMAP,
                    I30.to_vec(),
                    encode::resident(kind::BITMAP, &I30, next, false, v),
                ));
                next += 1;
            }
        }
        out.sort_by(|a, b| (a.0, &a.1).cmp(&(b.0, &b.1)));
        let list: Vec<Vec<u8>> = out.into_iter().map(|x| x.2).collect();
        let b = rebuild(&r, &list, next, self.rs).ok_or_else(|| {
            WriteError::Unsupported(format!(
                "directory MFT record {d}: its index root no longer fits in the record"
            ))
        })?;
        self.write_record(d, b)
    }

    /// Copies every written record that `$MFTMirr` mirrors into it.
    fn mirror(&mut self) -> WriteResult<()> {
        let f = self.vol.file(MFTMIRR_RECORD)?;
        let s = self
            .vol
            .data(&f, "")?
            .ok_or_else(|| error::corrupt("$MFTMirr (MFT record 1) has no $DATA"))?;
        let rs = self.rs as u64;
        let mirrored = s.len() / rs;
        let runs = runs_of(&s)?.to_vec();
        let mft = self.vol.mft().clone();
        for &n in self.written.range(..mirrored) {
            let mut b = vec![0u8; self.rs];
            self.vol.read_at(&mft, n * rs, &mut b)?;
            self.write_runs(&runs, n * rs, &b, "$MFTMirr")?;
        }
        Ok(())
    }
}

/// The `$INDEX_ALLOCATION` attribute of `ix`.
fn alloc_attr(ix: &DirIndex, instance: u16, flags: u16) -> Vec<u8> {
    let a = ix.alloc.as_ref().expect("called with an allocation");
    encode::non_resident(
        kind::INDEX_ALLOCATION,
        &I30,
        a.instance.unwrap_or(instance),
        flags,
        &a.runs,
        Sizes {
            allocated: a.allocated,
            data: a.data,
            initialized: a.data,
        },
    )
}

/// A source file whose length changed while it was read.
fn changed(op: &Op, len: u64) -> WriteError {
    WriteError::Source {
        path: op.src.clone(),
        what: format!("changed while it was read (it had {len} bytes)"),
        source: None,
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
