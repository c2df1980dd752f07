//! Our own bounded reader of a FAT volume: FAT entries, cluster chains, directory entries
//! with long names. It checks the whole directory tree once when a volume is opened
//! (every chain inside the volume, no cluster used twice, no cycle), so that `fatfs`, which
//! trusts the on-disk chains and may loop forever on a cyclic one, is only ever given a
//! volume whose walks end. It also serves `ls` and `cat`, and finds the directory entries
//! that the directory fix rewrites.
//!
//! Directory entry layout (FAT spec 1.03, section 6; long names, section 7), 32 bytes:
//! name 8+3 at 0x00 (0x00 = end of directory, 0xE5 = deleted, 0x05 = a name starting with
//! 0xE5), attributes at 0x0B (0x0F = long-name slot, 0x10 = directory, 0x08 = volume
//! label), NT case flags at 0x0C (0x08 = base lower case, 0x10 = extension lower case),
//! creation time 0x0D..0x14, cluster high 16 bits at 0x14 (FAT32), write time at 0x16,
//! write date at 0x18, cluster low 16 bits at 0x1A, size at 0x1C.
//! Long-name slot: order at 0x00 (0x40 = last), UTF-16 name parts at 0x01 (5 units),
//! 0x0E (6) and 0x1C (2), checksum of the 8.3 name at 0x0D.

use std::cell::RefCell;
use std::rc::Rc;

use crate::bpb::{FatType, Geometry, Root};
use crate::cow::Store;
use crate::Error;

/// Attribute bits (spec section 6).
pub(crate) const ATTR_VOLUME: u8 = 0x08;
pub(crate) const ATTR_DIR: u8 = 0x10;
pub(crate) const ATTR_LFN: u8 = 0x0F;

/// The largest directory the spec allows: 65536 entries of 32 bytes (section 6.1).
pub(crate) const MAX_DIR_BYTES: u64 = 65536 * 32;

/// Where a directory's entries are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DirLoc {
    /// The FAT12/16 fixed root region.
    FixedRoot,
    /// A cluster chain (any subdirectory, and the FAT32 root).
    Chain(u32),
}

/// One directory entry as found on disk (`.`, `..`, deleted slots and labels left out).
#[derive(Debug, Clone)]
pub(crate) struct RawEntry {
    /// The long name if it is intact, else the 8.3 name (lower-cased as the NT flags say).
    pub name: String,
    /// The 8.3 name as `NAME.EXT`, upper case as stored.
    pub short: String,
    /// The 32-byte short entry.
    pub raw: [u8; 32],
    /// First cluster (0: none).
    pub cluster: u32,
    /// Index of the 32-byte short entry in its directory.
    pub slot: u64,
}

impl RawEntry {
    pub(crate) fn is_dir(&self) -> bool {
        self.raw[11] & ATTR_DIR != 0
    }
    pub(crate) fn size(&self) -> u32 {
        u32::from_le_bytes(self.raw[28..32].try_into().expect("4 bytes"))
    }
    /// (date, time) of the last write, DOS encoded.
    pub(crate) fn modified(&self) -> (u16, u16) {
        (
            u16::from_le_bytes([self.raw[24], self.raw[25]]),
            u16::from_le_bytes([self.raw[22], self.raw[23]]),
        )
    }
    /// Whether `name` names this entry: its long or its short name, ignoring case.
    pub(crate) fn matches(&self, name: &str) -> bool {
        eq_ignore_case(&self.name, name) || eq_ignore_case(&self.short, name)
    }
}

/// Compares as FAT does: letters in either case are equal.
pub(crate) fn eq_ignore_case(a: &str, b: &str) -> bool {
    a.chars()
        .flat_map(char::to_uppercase)
        .eq(b.chars().flat_map(char::to_uppercase))
}

/// A directory's entries and how full it is.
#[derive(Debug, Clone)]
pub(crate) struct Listing {
    pub entries: Vec<RawEntry>,
    /// Slots before the end marker (used or deleted).
    pub used_slots: u64,
    /// Slots the directory holds now (chain length × slots per cluster, or the root size).
    pub capacity_slots: u64,
    /// Deleted slots among the used ones.
    pub deleted_slots: u64,
    /// Clusters of the directory (0 for the fixed root).
    pub chain_len: u64,
    /// The 8.3 name field of the first volume-label entry, if any (the root's is the
    /// volume's label).
    pub label: Option<[u8; 11]>,
}

/// An opened, checked volume over a copy-on-write store.
#[derive(Debug)]
pub(crate) struct Volume<'d> {
    pub store: Rc<RefCell<Store<'d>>>,
    pub geo: Geometry,
    /// "partition 1" or "FAT volume at bytes A..B": how errors name it.
    pub label: String,
}

impl<'d> Volume<'d> {
    /// Reads and checks the boot sector and then the whole directory tree.
    pub(crate) fn open(store: Rc<RefCell<Store<'d>>>, label: String) -> Result<Self, Error> {
        let len = store.borrow().len();
        if len < 512 {
            return Err(Error::NotFat {
                volume: label,
                reason: format!("the partition is only {len} bytes"),
            });
        }
        let mut boot = [0u8; 512];
        store
            .borrow_mut()
            .read_at(0, &mut boot)
            .map_err(|e| Error::io(&label, "", "read the boot sector", e))?;
        let geo = Geometry::parse(&boot, len).map_err(|reason| Error::NotFat {
            volume: label.clone(),
            reason,
        })?;
        let v = Self::shallow(store, label, geo);
        v.check_tree()?;
        Ok(v)
    }

    /// A volume whose boot sector `geo` was checked but whose tree was not walked: fit for
    /// reading the FAT and one directory (every chain walk is bounded on its own), not for
    /// writing.
    pub(crate) fn shallow(store: Rc<RefCell<Store<'d>>>, label: String, geo: Geometry) -> Self {
        Self { store, geo, label }
    }

    fn corrupt(&self, reason: String) -> Error {
        Error::Corrupt {
            volume: self.label.clone(),
            reason,
        }
    }

    pub(crate) fn read(&self, pos: u64, buf: &mut [u8], what: &str) -> Result<(), Error> {
        self.store
            .borrow_mut()
            .read_at(pos, buf)
            .map_err(|e| Error::io(&self.label, "", what, e))
    }

    /// The FAT entry of cluster `c` (from the first FAT).
    pub(crate) fn fat_entry(&self, c: u32) -> Result<u32, Error> {
        let c64 = c as u64;
        let (off, n) = match self.geo.fat_type {
            FatType::Fat12 => (c64 + c64 / 2, 2),
            FatType::Fat16 => (c64 * 2, 2),
            FatType::Fat32 => (c64 * 4, 4),
        };
        let mut b = [0u8; 4];
        self.read(self.geo.fat_offset + off, &mut b[..n], "read the FAT")?;
        let v = u32::from_le_bytes(b);
        Ok(match self.geo.fat_type {
            FatType::Fat12 if c & 1 == 1 => v >> 4,
            FatType::Fat12 => v & 0xFFF,
            FatType::Fat16 => v,
            FatType::Fat32 => v & 0x0FFF_FFFF,
        })
    }

    /// The clusters of the chain starting at `first`. Fails, instead of looping, on a chain
    /// that leaves the volume, meets a free or bad cluster, or is longer than the volume.
    /// With `seen`, also fails on a cluster already seen (cross-link or cycle).
    pub(crate) fn chain(
        &self,
        first: u32,
        what: &str,
        mut seen: Option<&mut Bitset>,
    ) -> Result<Vec<u32>, Error> {
        let mut out = Vec::new();
        let mut c = first;
        loop {
            if !self.geo.is_valid_cluster(c) {
                return Err(self.corrupt(format!(
                    "{what}: its cluster chain reaches cluster {c}, outside 2..={}",
                    self.geo.clusters as u64 + 1
                )));
            }
            if out.len() as u64 >= self.geo.clusters as u64 {
                return Err(self.corrupt(format!(
                    "{what}: its cluster chain is longer than the volume (a cycle)"
                )));
            }
            if let Some(s) = seen.as_deref_mut() {
                if s.test_and_set(c) {
                    return Err(self.corrupt(format!(
                        "{what}: cluster {c} is used twice (cross-linked or cyclic chain)"
                    )));
                }
            }
            out.push(c);
            let next = self.fat_entry(c)?;
            if next >= self.geo.fat_type.eoc_min() {
                return Ok(out);
            }
            if next == 0 {
                return Err(self.corrupt(format!(
                    "{what}: its cluster chain runs into free cluster after cluster {c}"
                )));
            }
            if next == self.geo.fat_type.eoc_min() - 1 {
                return Err(self.corrupt(format!(
                    "{what}: its cluster chain runs into a bad cluster after cluster {c}"
                )));
            }
            c = next;
        }
    }

    /// The root directory.
    pub(crate) fn root(&self) -> DirLoc {
        match self.geo.root {
            Root::Fixed { .. } => DirLoc::FixedRoot,
            Root::Cluster(c) => DirLoc::Chain(c),
        }
    }

    /// Reads a directory (chain checks without a seen-set: the tree was checked at open).
    pub(crate) fn read_dir(&self, loc: DirLoc, what: &str) -> Result<Listing, Error> {
        self.read_dir_checked(loc, what, None)
    }

    fn read_dir_checked(
        &self,
        loc: DirLoc,
        what: &str,
        seen: Option<&mut Bitset>,
    ) -> Result<Listing, Error> {
        let cs = self.geo.cluster_size as u64;
        // (volume offset, length) runs holding the directory.
        let (runs, chain_len): (Vec<(u64, u64)>, u64) = match (loc, self.geo.root) {
            (DirLoc::FixedRoot, Root::Fixed { offset, entries }) => {
                (vec![(offset, entries as u64 * 32)], 0)
            }
            (DirLoc::FixedRoot, Root::Cluster(_)) => unreachable!("no fixed root on FAT32"),
            (DirLoc::Chain(first), _) => {
                let chain = self.chain(first, what, seen)?;
                if chain.len() as u64 * cs > MAX_DIR_BYTES + cs {
                    return Err(self.corrupt(format!(
                        "{what}: directory of {} clusters, more than the 65536 entries a FAT directory may hold",
                        chain.len()
                    )));
                }
                let n = chain.len() as u64;
                (
                    chain
                        .into_iter()
                        .map(|c| (self.geo.cluster_offset(c), cs))
                        .collect(),
                    n,
                )
            }
        };
        let capacity_slots = runs.iter().map(|r| r.1 / 32).sum();
        let mut entries = Vec::new();
        let mut lfn = Lfn::default();
        let mut slot = 0u64;
        let mut deleted = 0u64;
        let mut label = None;
        let mut buf = Vec::new();
        'runs: for (off, len) in runs {
            buf.resize(len as usize, 0);
            self.read(off, &mut buf, "read a directory")?;
            for e in buf.chunks_exact(32) {
                let e: &[u8; 32] = e.try_into().expect("32 bytes");
                if e[0] == 0 {
                    break 'runs;
                }
                slot += 1;
                if e[0] == 0xE5 {
                    deleted += 1;
                    lfn = Lfn::default();
                    continue;
                }
                if e[11] & 0x3F == ATTR_LFN {
                    lfn.push(e);
                    continue;
                }
                let long = lfn.take(&e[..11]);
                if e[11] & ATTR_VOLUME != 0 && e[11] & ATTR_DIR == 0 {
                    if label.is_none() {
                        label = e[..11].try_into().ok();
                    }
                    continue;
                }
                if e[0] == b'.' {
                    continue; // "." and ".."
                }
                let short = short_name(e, false);
                let name = long.unwrap_or_else(|| short_name(e, true));
                let lo = u16::from_le_bytes([e[26], e[27]]) as u32;
                let hi = if self.geo.fat_type == FatType::Fat32 {
                    u16::from_le_bytes([e[20], e[21]]) as u32
                } else {
                    0
                };
                entries.push(RawEntry {
                    name,
                    short,
                    raw: *e,
                    cluster: hi << 16 | lo,
                    slot: slot - 1,
                });
            }
        }
        Ok(Listing {
            entries,
            used_slots: slot,
            deleted_slots: deleted,
            capacity_slots,
            chain_len,
            label,
        })
    }

    /// Walks every directory and file chain once: all inside the volume, none shared, no
    /// cycle, every file's chain long enough for its size.
    fn check_tree(&self) -> Result<(), Error> {
        let mut seen = Bitset::new(self.geo.clusters as u64 + 2);
        let mut stack = vec![(self.root(), String::new())];
        let cs = self.geo.cluster_size as u64;
        while let Some((loc, path)) = stack.pop() {
            let what = if path.is_empty() {
                "/".to_string()
            } else {
                path.clone()
            };
            let l = self.read_dir_checked(loc, &what, Some(&mut seen))?;
            for e in l.entries {
                let p = format!("{path}/{}", e.name);
                if e.is_dir() {
                    if e.cluster == 0 {
                        return Err(self.corrupt(format!("{p}: directory without a cluster")));
                    }
                    stack.push((DirLoc::Chain(e.cluster), p));
                } else if e.cluster != 0 {
                    let chain = self.chain(e.cluster, &p, Some(&mut seen))?;
                    if (chain.len() as u64) * cs < e.size() as u64 {
                        return Err(self.corrupt(format!(
                            "{p}: file of {} bytes, but its chain holds only {} clusters of {cs} bytes",
                            e.size(),
                            chain.len()
                        )));
                    }
                } else if e.size() != 0 {
                    return Err(
                        self.corrupt(format!("{p}: file of {} bytes without a cluster", e.size()))
                    );
                }
            }
        }
        Ok(())
    }

    /// Number of free clusters, counted in the first FAT.
    pub(crate) fn free_clusters(&self) -> Result<u64, Error> {
        let end = self.geo.clusters as u64 + 2;
        let bytes = match self.geo.fat_type {
            FatType::Fat12 => (end * 3).div_ceil(2),
            FatType::Fat16 => end * 2,
            FatType::Fat32 => end * 4,
        }
        .min(self.geo.fat_len);
        let mut fat = vec![0u8; bytes as usize];
        self.read(self.geo.fat_offset, &mut fat, "read the FAT")?;
        let mut free = 0;
        for c in 2..end as usize {
            let v = match self.geo.fat_type {
                FatType::Fat12 => {
                    let o = c + c / 2;
                    let v = u16::from_le_bytes([fat[o], fat[o + 1]]);
                    if c & 1 == 1 { v >> 4 } else { v & 0xFFF }.into()
                }
                FatType::Fat16 => u16::from_le_bytes([fat[2 * c], fat[2 * c + 1]]) as u32,
                FatType::Fat32 => {
                    u32::from_le_bytes(fat[4 * c..4 * c + 4].try_into().expect("4")) & 0x0FFF_FFFF
                }
            };
            if v == 0 {
                free += 1;
            }
        }
        Ok(free)
    }

    /// Follows `path` (components) from the root. `Ok(None)`: some component is missing.
    /// Fails if a component before the last is a file.
    pub(crate) fn lookup(&self, path: &[&str]) -> Result<Option<(DirLoc, RawEntry)>, Error> {
        let mut dir = self.root();
        let mut shown = String::new();
        for (i, comp) in path.iter().enumerate() {
            let l = self.read_dir(dir, if shown.is_empty() { "/" } else { &shown })?;
            shown.push('/');
            shown.push_str(comp);
            let Some(e) = l.entries.into_iter().find(|e| e.matches(comp)) else {
                return Ok(None);
            };
            if i + 1 == path.len() {
                return Ok(Some((dir, e)));
            }
            if !e.is_dir() {
                return Err(Error::Conflict {
                    volume: self.label.clone(),
                    path: shown.trim_start_matches('/').into(),
                    reason: "is a file, not a directory".into(),
                });
            }
            dir = DirLoc::Chain(e.cluster);
        }
        Ok(None)
    }

    /// The directory at `path` (components; empty = root).
    pub(crate) fn dir_at(&self, path: &[&str]) -> Result<Option<DirLoc>, Error> {
        if path.is_empty() {
            return Ok(Some(self.root()));
        }
        match self.lookup(path)? {
            Some((_, e)) if e.is_dir() => Ok(Some(DirLoc::Chain(e.cluster))),
            Some(_) => Err(Error::Conflict {
                volume: self.label.clone(),
                path: path.join("/"),
                reason: "is a file, not a directory".into(),
            }),
            None => Ok(None),
        }
    }
}

/// Bytes of an 8.3 name or a label as text: ASCII as is, any other byte (a code page we do
/// not know) as U+FFFD.
pub(crate) fn oem_text(b: &[u8]) -> String {
    b.iter()
        .map(|&c| {
            if c < 0x80 {
                c as char
            } else {
                char::REPLACEMENT_CHARACTER
            }
        })
        .collect()
}

/// Formats the 8.3 name of a short entry: `NAME.EXT`, optionally lower-cased per the NT
/// flags (what Linux and mtools show).
fn short_name(e: &[u8; 32], nt_case: bool) -> String {
    let mut base: Vec<u8> = e[..8].to_vec();
    if base[0] == 0x05 {
        base[0] = 0xE5;
    }
    let dec = |b: &[u8], lower: bool| -> String {
        let s = oem_text(b);
        let s = s.trim_end_matches(' ').to_string();
        if lower {
            s.to_ascii_lowercase()
        } else {
            s
        }
    };
    let b = dec(&base, nt_case && e[12] & 0x08 != 0);
    let x = dec(&e[8..11], nt_case && e[12] & 0x10 != 0);
    if x.is_empty() {
        b
    } else {
        format!("{b}.{x}")
    }
}

/// Checksum of an 8.3 name, stored in each of its long-name slots (spec section 7.2).
pub(crate) fn lfn_checksum(short: &[u8]) -> u8 {
    short
        .iter()
        .fold(0u8, |s, &b| s.rotate_right(1).wrapping_add(b))
}

/// Assembles a long name from its slots, which come last part first.
#[derive(Default)]
struct Lfn {
    units: Vec<u16>,
    /// Order number the next slot must have (0: nothing in progress).
    expect: u8,
    checksum: u8,
}

impl Lfn {
    fn push(&mut self, e: &[u8; 32]) {
        let order = e[0] & 0x1F;
        if e[0] & 0x40 != 0 && order != 0 {
            self.units = vec![0xFFFF; order as usize * 13];
            self.checksum = e[13];
        } else if self.expect == 0 || order != self.expect || e[13] != self.checksum {
            *self = Lfn::default();
            return;
        }
        let at = (order as usize - 1) * 13;
        let parts = [(1usize, 5usize), (14, 6), (28, 2)];
        let mut k = at;
        for (o, n) in parts {
            for j in 0..n {
                self.units[k] = u16::from_le_bytes([e[o + 2 * j], e[o + 2 * j + 1]]);
                k += 1;
            }
        }
        self.expect = order - 1;
    }

    /// The long name, if the slots were complete and belong to `short`.
    fn take(&mut self, short: &[u8]) -> Option<String> {
        let me = std::mem::take(self);
        if me.units.is_empty() || me.expect != 0 || me.checksum != lfn_checksum(short) {
            return None;
        }
        let end = me.units.iter().position(|&u| u == 0 || u == 0xFFFF);
        let units = &me.units[..end.unwrap_or(me.units.len())];
        String::from_utf16(units).ok().filter(|s| !s.is_empty())
    }
}

/// One bit per cluster.
pub(crate) struct Bitset(Vec<u64>);

impl Bitset {
    pub(crate) fn new(n: u64) -> Self {
        Self(vec![0; n.div_ceil(64) as usize])
    }
    /// Sets bit `i`; returns whether it was set before.
    pub(crate) fn test_and_set(&mut self, i: u32) -> bool {
        let (w, b) = ((i / 64) as usize, i % 64);
        let was = self.0[w] >> b & 1 == 1;
        self.0[w] |= 1 << b;
        was
    }
}
