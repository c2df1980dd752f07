//! A directory's `$I30` index held in memory while names are added: the root node (in
//! the directory's record) and the `INDX` nodes, as entries with their raw keys, so that
//! existing entries are written back as they were.
//!
//! Insertion is NTFS's B-tree insertion: descend by `$UpCase` collation to a leaf, insert;
//! a node that overflows is split at its middle (by bytes), the middle entry moving up
//! into the parent with the left half as its child; a root that no longer fits in the
//! directory's record moves into a new `INDX` node, the root keeping only its end entry
//! pointing there (ntfs-3g and Windows do the same; the tree grows at the root).

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

use ddgz_disk::bytes::{le16, le32, le64};

use super::encode::{self, entry_len};
use super::error::{corrupt, WriteError, WriteResult};
use super::Clusters;
use crate::attr::FileName;
use crate::runs::Run;
use crate::upcase::UpCase;

/// Depth of the tree at most (as the reader).
const MAX_DEPTH: usize = 64;
/// `INDX` nodes held in memory for one directory at most (4 KiB each: 256 MiB).
const MAX_NODES: usize = 1 << 16;

/// One index entry.
#[derive(Debug, Clone)]
pub struct IEntry {
    /// File reference (0 in the last entry).
    pub file: u64,
    /// The `$FILE_NAME` key; empty in the last entry.
    pub key: Vec<u8>,
    /// The name in the key.
    pub name: Vec<u16>,
    /// The child node's VCN.
    pub child: Option<u64>,
}

impl IEntry {
    /// The keyless entry that ends a node.
    pub fn last(child: Option<u64>) -> Self {
        Self {
            file: 0,
            key: Vec::new(),
            name: Vec::new(),
            child,
        }
    }
    fn is_last(&self) -> bool {
        self.key.is_empty()
    }
    fn len(&self) -> usize {
        entry_len(self.key.len(), self.child.is_some())
    }
    fn encode(&self) -> Vec<u8> {
        encode::index_entry(self.file, &self.key, self.child, self.is_last())
    }
    /// The DOS attributes of the key (0 for the last entry).
    pub fn attributes(&self) -> u32 {
        if self.key.len() >= 0x3C {
            le32(&self.key, 0x38)
        } else {
            0
        }
    }
}

/// The non-resident `$INDEX_ALLOCATION`.
#[derive(Debug, Clone)]
pub struct Alloc {
    /// Its runs from VCN 0.
    pub runs: Vec<Run>,
    /// Allocated bytes.
    pub allocated: u64,
    /// Bytes of index records in use (data size).
    pub data: u64,
    /// Its instance (`None` when created by this run).
    pub instance: Option<u16>,
}

#[derive(Debug, Clone)]
struct Node {
    entries: Vec<IEntry>,
    usn: u16,
}

/// Node id: the root or an `INDX` node's VCN.
type Id = Option<u64>;

/// A directory's index in memory.
#[derive(Debug)]
pub struct DirIndex {
    /// The directory's record.
    pub dir: u64,
    /// `$INDEX_ROOT`'s fixed 16 bytes (indexed type, collation, record size, clusters
    /// per record).
    root_fixed: [u8; 16],
    root: Vec<IEntry>,
    nodes: BTreeMap<u64, Node>,
    /// Nodes changed (VCNs), and whether the root did.
    pub dirty: BTreeSet<u64>,
    /// Whether the root, the allocation or its bitmap changed.
    pub record_dirty: bool,
    /// Bytes per `INDX` record.
    irs: usize,
    /// Bytes per VCN of the allocation.
    vcn_size: u64,
    /// The allocation, when the index has one.
    pub alloc: Option<Alloc>,
    /// `$BITMAP` value (resident) and its instance.
    pub bitmap: Option<(Vec<u8>, Option<u16>)>,
    /// Bytes the directory's record has for `$INDEX_ROOT`, `$INDEX_ALLOCATION` and
    /// `$BITMAP` together (headers included).
    pub room: usize,
}

/// Parses the entries of a node whose entries lie in `b[first..end]`.
fn parse_entries(
    b: &[u8],
    first: usize,
    end: usize,
    what: &dyn Fn() -> String,
) -> WriteResult<Vec<IEntry>> {
    let mut out = Vec::new();
    let mut at = first;
    loop {
        if at + 0x10 > end || end > b.len() {
            return Err(corrupt(format!(
                "{}: entry at byte {at} runs past {end}",
                what()
            )));
        }
        let len = usize::from(le16(b, at + 8));
        let key_len = usize::from(le16(b, at + 0x0A));
        let flags = le16(b, at + 0x0C);
        let child = flags & encode::ENTRY_CHILD != 0;
        if len < 0x10 || at + len > end || 0x10 + key_len + if child { 8 } else { 0 } > len {
            return Err(corrupt(format!(
                "{}: entry at byte {at} of length {len}",
                what()
            )));
        }
        let last = flags & encode::ENTRY_LAST != 0;
        let key = if last {
            Vec::new()
        } else {
            b[at + 0x10..at + 0x10 + key_len].to_vec()
        };
        let name = if last {
            Vec::new()
        } else {
            FileName::parse(&key)?.name
        };
        if !last && key.is_empty() {
            return Err(corrupt(format!(
                "{}: entry at byte {at} has no key",
                what()
            )));
        }
        out.push(IEntry {
            file: le64(b, at),
            key,
            name,
            child: child.then(|| le64(b, at + len - 8)),
        });
        if last {
            return Ok(out);
        }
        if out.len() > 1 << 16 {
            return Err(corrupt(format!("{}: too many entries", what())));
        }
        at += len;
    }
}

impl DirIndex {
    /// An index from a `$INDEX_ROOT` value; `alloc`, `bitmap` and `read_node` give the
    /// rest (`read_node(vcn)` returns an `INDX` record with fixups removed).
    pub fn load(
        dir: u64,
        root_value: &[u8],
        alloc: Option<Alloc>,
        bitmap: Option<(Vec<u8>, Option<u16>)>,
        cluster_size: u64,
        room: usize,
        read_node: &mut dyn FnMut(u64) -> WriteResult<Vec<u8>>,
    ) -> WriteResult<Self> {
        let what = || format!("MFT record {dir} $INDEX_ROOT");
        if root_value.len() < 0x20 {
            return Err(corrupt(format!("{}: {} bytes", what(), root_value.len())));
        }
        let mut root_fixed = [0u8; 16];
        root_fixed.copy_from_slice(&root_value[..16]);
        let irs = le32(root_value, 8) as usize;
        if !irs.is_power_of_two() || !(512..=crate::boot::MAX_RECORD as usize).contains(&irs) {
            return Err(corrupt(format!("{}: index record size {irs}", what())));
        }
        let first = 0x10 + le32(root_value, 0x10) as usize;
        let end = 0x10usize.saturating_add(le32(root_value, 0x14) as usize);
        let root = parse_entries(root_value, first, end.min(root_value.len()), &what)?;
        let mut ix = Self {
            dir,
            root_fixed,
            root,
            nodes: BTreeMap::new(),
            dirty: BTreeSet::new(),
            record_dirty: false,
            irs,
            vcn_size: if irs as u64 >= cluster_size {
                cluster_size
            } else {
                512
            },
            alloc,
            bitmap,
            room,
        };
        let mut todo: Vec<(u64, usize)> = ix
            .root
            .iter()
            .filter_map(|e| e.child)
            .map(|c| (c, 1))
            .collect();
        while let Some((vcn, depth)) = todo.pop() {
            if depth > MAX_DEPTH || ix.nodes.contains_key(&vcn) || ix.nodes.len() >= MAX_NODES {
                return Err(corrupt(format!(
                    "MFT record {dir} $I30: node at VCN {vcn} is reached twice, too deep, or one \
                     of more than {MAX_NODES}"
                )));
            }
            let b = read_node(vcn)?;
            let w = || format!("MFT record {dir} $I30 node at VCN {vcn}");
            if b.len() != irs || &b[..4] != b"INDX" || le64(&b, 0x10) != vcn {
                return Err(corrupt(format!("{}: not an INDX record for this VCN", w())));
            }
            let first = 0x18 + le32(&b, 0x18) as usize;
            let end = 0x18usize.saturating_add(le32(&b, 0x1C) as usize);
            let entries = parse_entries(&b, first, end.min(irs), &w)?;
            todo.extend(
                entries
                    .iter()
                    .filter_map(|e| e.child)
                    .map(|c| (c, depth + 1)),
            );
            let usn = le16(&b, usize::from(le16(&b, 4)).min(irs - 2));
            ix.nodes.insert(vcn, Node { entries, usn });
        }
        Ok(ix)
    }

    /// The index of a new, empty directory.
    pub fn empty(dir: u64, root_fixed: [u8; 16], cluster_size: u64, room: usize) -> Self {
        let irs = le32(&root_fixed, 8) as usize;
        Self {
            dir,
            root_fixed,
            root: vec![IEntry::last(None)],
            nodes: BTreeMap::new(),
            dirty: BTreeSet::new(),
            record_dirty: true,
            irs,
            vcn_size: if irs as u64 >= cluster_size {
                cluster_size
            } else {
                512
            },
            alloc: None,
            bitmap: None,
            room,
        }
    }

    fn entries(&self, id: Id) -> &Vec<IEntry> {
        match id {
            None => &self.root,
            Some(v) => &self.nodes[&v].entries,
        }
    }

    fn entries_mut(&mut self, id: Id) -> &mut Vec<IEntry> {
        match id {
            None => {
                self.record_dirty = true;
                &mut self.root
            }
            Some(v) => {
                self.dirty.insert(v);
                &mut self.nodes.get_mut(&v).expect("a loaded node").entries
            }
        }
    }

    fn node_cap(&self) -> usize {
        self.irs - encode::first_index_entry(self.irs)
    }

    fn fits(&self, id: Id) -> bool {
        let used: usize = self.entries(id).iter().map(IEntry::len).sum();
        match id {
            None => self.index_attributes_len(used) <= self.room,
            Some(_) => used <= self.node_cap(),
        }
    }

    /// Bytes `$INDEX_ROOT` (with root entries of `entries` bytes), `$INDEX_ALLOCATION`
    /// and `$BITMAP` take in the record.
    fn index_attributes_len(&self, entries: usize) -> usize {
        // Header with the $I30 name (0x20), fixed part and node header (0x20).
        let root = 0x40 + entries;
        let alloc = self.alloc.as_ref().map_or(0, |a| {
            encode::align8(0x48 + crate::runs::encode(&a.runs).len())
        });
        let bitmap = self
            .bitmap
            .as_ref()
            .map_or(0, |b| encode::align8(0x20 + b.0.len()));
        root + alloc + bitmap
    }

    /// Descends to where `name` is or would be: the path of (node, index) pairs, and
    /// whether the last one holds `name` (equal under `$UpCase`).
    fn descend(&self, name: &[u16], up: &UpCase) -> WriteResult<(Vec<(Id, usize)>, bool)> {
        let mut path = Vec::new();
        let mut cur: Id = None;
        loop {
            if path.len() > MAX_DEPTH {
                return Err(corrupt(format!("MFT record {} $I30: too deep", self.dir)));
            }
            let entries = self.entries(cur);
            let mut at = entries.len() - 1;
            for (j, x) in entries.iter().enumerate() {
                if x.is_last() {
                    at = j;
                    break;
                }
                match up.cmp(name, &x.name) {
                    Ordering::Less => {
                        at = j;
                        break;
                    }
                    Ordering::Equal => {
                        path.push((cur, j));
                        return Ok((path, true));
                    }
                    Ordering::Greater => {}
                }
            }
            path.push((cur, at));
            match entries[at].child {
                Some(c) if self.nodes.contains_key(&c) => cur = Some(c),
                Some(c) => {
                    return Err(corrupt(format!(
                        "MFT record {} $I30: child VCN {c} was not loaded",
                        self.dir
                    )))
                }
                None => return Ok((path, false)),
            }
        }
    }

    /// The entry named `name` (`$UpCase`-equal, any namespace).
    pub fn find(&self, name: &[u16], up: &UpCase) -> WriteResult<Option<&IEntry>> {
        let (path, found) = self.descend(name, up)?;
        Ok(found.then(|| {
            let (id, i) = *path.last().expect("a path has a node");
            &self.entries(id)[i]
        }))
    }

    /// Replaces the key of the entry named `name` (after a file's sizes changed).
    pub fn set_key(&mut self, name: &[u16], key: Vec<u8>, up: &UpCase) -> WriteResult<bool> {
        let (path, found) = self.descend(name, up)?;
        if !found {
            return Ok(false);
        }
        let (id, i) = *path.last().expect("a path has a node");
        self.entries_mut(id)[i].key = key;
        Ok(true)
    }

    /// Inserts `e` in collation order, splitting nodes and moving the root down as needed;
    /// new nodes take clusters from `space`.
    pub fn insert(&mut self, e: IEntry, up: &UpCase, space: &mut Clusters) -> WriteResult<()> {
        // A split needs three entries per node: the entry, with a child, at most a third.
        if 3 * (e.len() + 8) + entry_len(0, true) > self.node_cap() {
            return Err(WriteError::Unsupported(format!(
                "a name of {} units in an index of {}-byte records",
                e.name.len(),
                self.irs
            )));
        }
        let (mut path, found) = self.descend(&e.name, up)?;
        if found {
            return Err(WriteError::Conflict {
                path: String::from_utf16_lossy(&e.name),
                reason: "the name exists (NTFS compares names without case)".into(),
            });
        }
        let (leaf, i) = path.pop().expect("a path has a node");
        self.entries_mut(leaf).insert(i, e);
        let mut cur = leaf;
        let mut steps = 0;
        while !self.fits(cur) {
            steps += 1;
            if steps > 2 * MAX_DEPTH + 2 {
                return Err(WriteError::Unsupported(format!(
                    "directory MFT record {}: the index cannot be rebalanced to fit (its record \
                     has {} bytes of room)",
                    self.dir, self.room
                )));
            }
            match cur {
                None => {
                    let w = self.new_node(space)?;
                    let moved = std::mem::replace(&mut self.root, vec![IEntry::last(Some(w))]);
                    self.nodes.insert(
                        w,
                        Node {
                            entries: moved,
                            usn: 0,
                        },
                    );
                    self.dirty.insert(w);
                    self.record_dirty = true;
                    path = vec![(None, 0)];
                    cur = Some(w);
                }
                Some(v) => {
                    let (parent, pi) = path.pop().expect("a node below the root has a parent");
                    let w = self.new_node(space)?;
                    let mut left =
                        std::mem::take(&mut self.nodes.get_mut(&v).expect("loaded").entries);
                    let m = median(&left);
                    let right = left.split_off(m + 1);
                    let mut mid = left.pop().expect("the median");
                    left.push(IEntry::last(mid.child));
                    mid.child = Some(v);
                    self.nodes.get_mut(&v).expect("loaded").entries = left;
                    self.nodes.insert(
                        w,
                        Node {
                            entries: right,
                            usn: 0,
                        },
                    );
                    self.dirty.insert(v);
                    self.dirty.insert(w);
                    let pe = self.entries_mut(parent);
                    pe.insert(pi, mid);
                    pe[pi + 1].child = Some(w);
                    cur = parent;
                }
            }
        }
        if let Some(v) = self.dirty.iter().find(|&&v| !self.fits(Some(v))) {
            return Err(WriteError::Unsupported(format!(
                "directory MFT record {}: index node at VCN {v} cannot be split to fit (its \
                 entries are too large)",
                self.dir
            )));
        }
        if !self.fits(None) {
            return Err(WriteError::Unsupported(format!(
                "directory MFT record {}: its index attributes no longer fit in the record \
                 (the index allocation has too many runs)",
                self.dir
            )));
        }
        Ok(())
    }

    /// A free `INDX` record of the allocation (growing it by a cluster, or by one record
    /// when records are larger than clusters), marked used; its VCN.
    fn new_node(&mut self, space: &mut Clusters) -> WriteResult<u64> {
        let irs = self.irs as u64;
        let cs = space.cluster_size;
        let records = self.alloc.as_ref().map_or(0, |a| a.allocated / irs);
        let bm = self.bitmap.get_or_insert_with(|| (Vec::new(), None));
        let mut k = (0..records).find(|&k| {
            bm.0.get((k / 8) as usize)
                .is_some_and(|b| b >> (k % 8) & 1 == 0)
        });
        if k.is_none() {
            // Grow by half the allocation (at least a record or a cluster), next to its
            // end when free: few runs, so the record keeps room for the run list.
            let unit = irs.max(cs);
            let have = self.alloc.as_ref().map_or(0, |a| a.allocated);
            let step = (have / 2).div_ceil(unit).max(1) * unit;
            let near = self
                .alloc
                .as_ref()
                .and_then(|a| a.runs.last())
                .and_then(|r| r.lcn.map(|l| l + r.len));
            let pieces = space.alloc_index(step / cs, near)?;
            let a = self.alloc.get_or_insert_with(|| Alloc {
                runs: Vec::new(),
                allocated: 0,
                data: 0,
                instance: None,
            });
            let mut vcn = a.allocated / cs;
            for (lcn, len) in pieces {
                match a.runs.last_mut() {
                    Some(r) if r.lcn.is_some_and(|l| l + r.len == lcn) => r.len += len,
                    _ => a.runs.push(Run {
                        vcn,
                        lcn: Some(lcn),
                        len,
                    }),
                }
                vcn += len;
            }
            a.allocated += step;
            k = Some(records);
        }
        let k = k.expect("set above");
        let need = usize::try_from(k / 8 + 1).expect("small");
        let want = encode::align8(need);
        if bm.0.len() < want {
            bm.0.resize(want, 0);
        }
        bm.0[(k / 8) as usize] |= 1 << (k % 8);
        let a = self.alloc.as_mut().expect("an allocation exists");
        a.data = a.data.max((k + 1) * irs);
        self.record_dirty = true;
        if self.nodes.len() >= MAX_NODES {
            return Err(WriteError::Unsupported(format!(
                "a directory index of more than {MAX_NODES} nodes"
            )));
        }
        Ok(k * irs / self.vcn_size)
    }

    /// The `$INDEX_ROOT` value.
    pub fn root_value(&self) -> Vec<u8> {
        let entries: Vec<u8> = self.root.iter().flat_map(IEntry::encode).collect();
        let children = self.root.iter().any(|e| e.child.is_some());
        let mut v = self.root_fixed.to_vec();
        v.extend_from_slice(&encode::node_header(
            0x10,
            entries.len(),
            0x10 + entries.len(),
            children,
        ));
        v.extend(entries);
        v
    }

    /// The changed `INDX` records: (byte offset in the allocation, bytes without fixups).
    pub fn dirty_nodes(&self) -> Vec<(u64, Vec<u8>)> {
        self.dirty
            .iter()
            .map(|&vcn| {
                let n = &self.nodes[&vcn];
                let entries: Vec<u8> = n.entries.iter().flat_map(IEntry::encode).collect();
                let children = n.entries.iter().any(|e| e.child.is_some());
                (
                    vcn * self.vcn_size,
                    encode::indx(self.irs, vcn, n.usn, &entries, children),
                )
            })
            .collect()
    }

    /// Every name in collation order (for checks).
    pub fn names(&self) -> Vec<Vec<u16>> {
        let mut out = Vec::new();
        self.collect(None, &mut out, 0);
        out
    }

    fn collect(&self, id: Id, out: &mut Vec<Vec<u16>>, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        for e in self.entries(id) {
            if let Some(c) = e.child.filter(|c| self.nodes.contains_key(c)) {
                self.collect(Some(c), out, depth + 1);
            }
            if !e.is_last() {
                out.push(e.name.clone());
            }
        }
    }
}

/// Where to split the entries of a full node: the key whose preceding bytes first reach
/// half the node, never the first or the last key.
fn median(entries: &[IEntry]) -> usize {
    let keys = entries.len() - 1;
    let total: usize = entries[..keys].iter().map(IEntry::len).sum();
    let mut acc = 0;
    for (i, e) in entries[..keys].iter().enumerate() {
        acc += e.len();
        if acc * 2 >= total {
            return i.clamp(1, keys.saturating_sub(2).max(1));
        }
    }
    keys / 2
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::write::bits::Bits;

    fn key(name: &str) -> IEntry {
        let n: Vec<u16> = name.encode_utf16().collect();
        let key = encode::file_name(&encode::Name {
            parent: 5,
            time: 0,
            allocated: 0,
            size: 0,
            attributes: 0,
            namespace: 0,
            name: &n,
        });
        IEntry {
            file: 100,
            key,
            name: n,
            child: None,
        }
    }

    #[test]
    fn inserts_keep_collation_order_through_splits() {
        let up = UpCase::ascii();
        let mut fixed = [0u8; 16];
        encode::put32(&mut fixed, 0, 0x30);
        encode::put32(&mut fixed, 4, 1);
        encode::put32(&mut fixed, 8, 4096);
        fixed[12] = 1;
        let mut ix = DirIndex::empty(64, fixed, 4096, 400);
        let mut space = Clusters::for_tests(Bits::new(vec![0u8; 1024], 8192), 4096);
        let mut names = Vec::new();
        for i in 0..1000u32 {
            let n = match i % 4 {
                0 => format!("file-{i:04}.txt"),
                1 => format!("File_{:04}-{}.dat", 1000 - i, "x".repeat((i % 40) as usize)),
                2 => format!("zz{i}"),
                _ => format!("q-{i}"),
            };
            names.push(n);
        }
        let mut sorted_bytes = names.clone();
        sorted_bytes.sort();
        for n in &sorted_bytes {
            ix.insert(key(n), &up, &mut space).unwrap();
        }
        let mut want: Vec<Vec<u16>> = names.iter().map(|n| n.encode_utf16().collect()).collect();
        want.sort_by(|a, b| up.cmp(a, b));
        assert_eq!(ix.names(), want);
    }
}
