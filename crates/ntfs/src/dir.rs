//! Directories: the `$I30` B+ tree walked in order (listing) or descended by `$UpCase`
//! collation (look-up), and paths resolved through it.

use std::cmp::Ordering;
use std::collections::BTreeSet;

use ddgz_disk::Disk;

use crate::attr::{kind, namespace, FileName, FILE_ATTR_DIRECTORY};
use crate::error::{corrupt, within, Error, Result};
use crate::file::{File, Stream};
use crate::index::{self, IndexRoot, Node};
use crate::record::FileRef;
use crate::Volume;

/// Index nodes visited in one directory at most (a directory of millions of files has
/// fewer than this many 4 KiB nodes).
const MAX_NODES: usize = 1 << 20;
/// Depth of an index B+ tree at most.
const MAX_DEPTH: usize = 64;
/// The name of the directory index.
const I30: [u16; 4] = [b'$' as u16, b'I' as u16, b'3' as u16, b'0' as u16];
/// The root directory's record.
pub const ROOT_RECORD: u64 = 5;

/// One name in a directory, as its index entry says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The file named.
    pub file: FileRef,
    /// The `$FILE_NAME` key (name, namespace, parent, times and sizes as of the last
    /// name update).
    pub name: FileName,
}

impl DirEntry {
    /// The name as text (lossy for unpaired surrogates).
    pub fn name_string(&self) -> String {
        String::from_utf16_lossy(&self.name.name)
    }
    /// Whether the entry names a directory.
    pub fn is_directory(&self) -> bool {
        self.name.file_attributes & FILE_ATTR_DIRECTORY != 0
    }
    /// Whether this is only a DOS 8.3 alias (a listing shows the long name instead).
    pub fn is_dos_alias(&self) -> bool {
        self.name.namespace == namespace::DOS
    }
}

/// A directory's index: its root node and the allocation holding the other nodes.
struct Index {
    root: Node,
    alloc: Option<Stream>,
    bitmap: Option<Vec<u8>>,
    record_size: u32,
    /// Bytes per VCN of the allocation (a cluster, or 512 when records are smaller).
    vcn_size: u64,
}

impl<D: Disk> Volume<D> {
    fn index(&self, dir: &File) -> Result<Index> {
        let n = dir.reference.record;
        let cs = self.boot().cluster_size;
        let root = dir.stream(kind::INDEX_ROOT, &I30, cs)?.ok_or_else(|| {
            corrupt(format!(
                "MFT record {n} is not a directory (no $INDEX_ROOT $I30)"
            ))
        })?;
        let crate::file::StreamData::Resident(v) = &root.data else {
            return Err(corrupt(format!(
                "MFT record {n}: $INDEX_ROOT is not resident"
            )));
        };
        let root_v = IndexRoot::parse(v).map_err(|e| within(e, || format!("MFT record {n}")))?;
        if root_v.indexed_type != kind::FILE_NAME || root_v.collation != index::COLLATION_FILE_NAME
        {
            return Err(Error::Unsupported(format!(
                "MFT record {n}: $I30 indexes attribute {:#x} with collation {}",
                root_v.indexed_type, root_v.collation
            )));
        }
        let rsz = root_v.record_size;
        if !rsz.is_power_of_two() || !(512..=crate::boot::MAX_RECORD).contains(&rsz) {
            return Err(corrupt(format!(
                "MFT record {n}: $INDEX_ROOT record size {rsz}"
            )));
        }
        let alloc = dir.stream(kind::INDEX_ALLOCATION, &I30, cs)?;
        let bitmap = match dir.stream(kind::BITMAP, &I30, cs)? {
            Some(b) if b.len() <= 1 << 20 => {
                let mut v = vec![0u8; b.len() as usize];
                self.read_at(&b, 0, &mut v)?;
                Some(v)
            }
            Some(b) => {
                return Err(Error::Limit(format!("{}: {} bytes", b.describe(), b.len())));
            }
            None => None,
        };
        Ok(Index {
            root: root_v.node,
            alloc,
            bitmap,
            record_size: rsz,
            vcn_size: if rsz >= cs { u64::from(cs) } else { 512 },
        })
    }

    /// The `INDX` node at `vcn` of `ix`, checked against the `$BITMAP`.
    fn node(&self, dir: u64, ix: &Index, vcn: u64) -> Result<Node> {
        let ctx = || format!("MFT record {dir} $I30 node at VCN {vcn}");
        let alloc = ix.alloc.as_ref().ok_or_else(|| {
            corrupt(format!(
                "{}: the index has children but no $INDEX_ALLOCATION",
                ctx()
            ))
        })?;
        let bit = vcn.saturating_mul(ix.vcn_size) / u64::from(ix.record_size);
        if let Some(bm) = &ix.bitmap {
            let used = bm
                .get((bit / 8) as usize)
                .is_some_and(|b| b >> (bit % 8) & 1 != 0);
            if !used {
                return Err(corrupt(format!("{}: marked free in $BITMAP", ctx())));
            }
        }
        let off = vcn.checked_mul(ix.vcn_size).filter(|o| {
            o.checked_add(u64::from(ix.record_size))
                .is_some_and(|e| e <= alloc.len())
        });
        let off = off.ok_or_else(|| {
            corrupt(format!(
                "{}: past the end of $INDEX_ALLOCATION ({} bytes)",
                ctx(),
                alloc.len()
            ))
        })?;
        let mut b = vec![0u8; ix.record_size as usize];
        self.read_at(alloc, off, &mut b)?;
        if &b[..4] == b"INDX" {
            crate::fixup::unprotect(&mut b).map_err(|m| corrupt(format!("{}: {m}", ctx())))?;
        }
        index::parse_indx(&b, vcn).map_err(|e| within(e, || format!("MFT record {dir} $I30")))
    }

    /// Every entry of directory `dir` in index (collation) order, DOS aliases included.
    /// Each node is visited once: a child pointing back is an error, not a loop.
    pub fn read_dir(&self, dir: &File) -> Result<Vec<DirEntry>> {
        let n = dir.reference.record;
        let ix = self.index(dir)?;
        let mut out = Vec::new();
        let mut seen = BTreeSet::new();
        self.walk_node(n, &ix, &ix.root, 0, &mut seen, &mut out)?;
        Ok(out)
    }

    fn walk_node(
        &self,
        dir: u64,
        ix: &Index,
        node: &Node,
        depth: usize,
        seen: &mut BTreeSet<u64>,
        out: &mut Vec<DirEntry>,
    ) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(corrupt(format!(
                "MFT record {dir} $I30: deeper than {MAX_DEPTH} levels"
            )));
        }
        for e in &node.entries {
            if let Some(vcn) = e.child {
                if !seen.insert(vcn) {
                    return Err(corrupt(format!(
                        "MFT record {dir} $I30: node at VCN {vcn} is reached twice (a loop)"
                    )));
                }
                if seen.len() > MAX_NODES {
                    return Err(Error::Limit(format!(
                        "MFT record {dir} $I30: more than {MAX_NODES} nodes"
                    )));
                }
                let child = self.node(dir, ix, vcn)?;
                self.walk_node(dir, ix, &child, depth + 1, seen, out)?;
            }
            if let Some(k) = &e.key {
                out.push(DirEntry {
                    file: e.file,
                    name: k.clone(),
                });
            }
        }
        Ok(())
    }

    /// The entry of `dir` named `name`, compared with `$UpCase` (any namespace),
    /// descending the B+ tree.
    pub fn find(&self, dir: &File, name: &[u16]) -> Result<Option<DirEntry>> {
        let n = dir.reference.record;
        let ix = self.index(dir)?;
        let up = self.upcase();
        let mut node = ix.root.clone();
        for _ in 0..=MAX_DEPTH {
            let mut next = None;
            for e in &node.entries {
                match &e.key {
                    Some(k) => match up.cmp(name, &k.name) {
                        Ordering::Equal => {
                            return Ok(Some(DirEntry {
                                file: e.file,
                                name: k.clone(),
                            }))
                        }
                        Ordering::Less => {
                            next = e.child;
                            break;
                        }
                        Ordering::Greater => {}
                    },
                    None => next = e.child,
                }
            }
            match next {
                Some(vcn) => node = self.node(n, &ix, vcn)?,
                None => return Ok(None),
            }
        }
        Err(corrupt(format!(
            "MFT record {n} $I30: deeper than {MAX_DEPTH} levels"
        )))
    }

    /// The file at `path` (`/`-separated, from the root, case-insensitive); `None` when
    /// a component does not exist.
    pub fn lookup(&self, path: &str) -> Result<Option<File>> {
        let mut f = self.file(ROOT_RECORD)?;
        for c in path
            .split(['/', '\\'])
            .filter(|c| !c.is_empty() && *c != ".")
        {
            if !f.is_directory() {
                return Ok(None);
            }
            let name: Vec<u16> = c.encode_utf16().collect();
            let Some(e) = self.find(&f, &name)? else {
                return Ok(None);
            };
            f = self.file(e.file.record)?;
        }
        Ok(Some(f))
    }

    /// Walks the tree under the root depth first, calling `f(path, entry)` for every
    /// name but DOS aliases and the root's `.`; paths are `/`-joined, without a leading
    /// slash. A directory reached twice (a loop) is an error.
    pub fn walk<E: From<Error>>(
        &self,
        mut f: impl FnMut(&str, &DirEntry) -> Result<(), E>,
    ) -> Result<(), E> {
        let mut seen = BTreeSet::from([ROOT_RECORD]);
        let mut todo: Vec<(String, u64, usize)> = vec![(String::new(), ROOT_RECORD, 0)];
        while let Some((path, rec, depth)) = todo.pop() {
            if depth > 1024 {
                return Err(Error::Limit(format!("{path}: deeper than 1024 directories")).into());
            }
            let dir = self.file(rec)?;
            let entries = self.read_dir(&dir)?;
            let mut subdirs = Vec::new();
            for e in &entries {
                if e.is_dos_alias() || e.file.record == rec {
                    continue;
                }
                let p = if path.is_empty() {
                    e.name_string()
                } else {
                    format!("{path}/{}", e.name_string())
                };
                f(&p, e)?;
                if e.is_directory() {
                    if !seen.insert(e.file.record) {
                        return Err(Error::Corrupt(format!(
                            "{p}: directory MFT record {} is reached twice (a loop or a hard-linked \
                             directory)",
                            e.file.record
                        ))
                        .into());
                    }
                    subdirs.push((p, e.file.record, depth + 1));
                }
            }
            todo.extend(subdirs.into_iter().rev());
        }
        Ok(())
    }
}
