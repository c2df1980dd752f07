//! Adding files and directory trees into a FAT partition, copy-on-write.
//!
//! Two passes. **Plan**: walk the sources (sizes, names FAT can hold), the destination
//! volume (what exists, file or directory, `--replace`), and count the clusters needed —
//! file data, new directories, directories that grow — against the free clusters (plus
//! those of replaced files). Every refusal happens here, before anything is changed.
//! **Apply**: on the copy-on-write view, with our own entry writer (each directory read
//! once into a name map, entries appended, the FAT held in memory and written to every
//! copy), create directories and files, each stamped with its source's mtime, then check
//! the volume again with our reader, and return the changed blocks.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::time::{SystemTime, UNIX_EPOCH};

use ddgz_disk::{check_range, Disk, Patch};

use crate::cow::Store;
use crate::spec::check_name;
use crate::volume::{DirLoc, Volume};
use crate::write::{key, Writer};
use crate::{AddSpec, Error, Result};

/// Source trees nested deeper than this are refused (a symlink loop, most likely).
const MAX_DEPTH: usize = 64;
/// Entries (32-byte slots) a FAT directory may hold (spec section 6.1).
const MAX_DIR_SLOTS: u64 = 65536;
/// The largest file FAT can hold: sizes are 32-bit (spec section 6).
const MAX_FILE: u64 = u32::MAX as u64;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dir,
    File { len: u64 },
}

/// One thing to create: a directory or a file at `dest` (components).
#[derive(Debug)]
struct Op {
    dest: Vec<String>,
    src: PathBuf,
    kind: Kind,
    mtime: SystemTime,
}

/// Copies the files and trees of `specs` into the FAT filesystem at byte range `partition`
/// of `disk`, in memory, and returns the changed byte ranges (at disk offsets, sorted, not
/// overlapping) for an [`ddgz_disk::Overlay`]. `disk` is only read.
///
/// All `specs` are taken to be for this partition (their `partition` field only names it
/// in errors). An existing file is overwritten only with `replace`; existing directories
/// are merged into. Fails before changing anything if a source is missing, a name cannot
/// be held by FAT, the partition is not (sane) FAT, or the files do not fit.
pub fn add_files(
    disk: &dyn Disk,
    partition: Range<u64>,
    specs: &[AddSpec],
    replace: bool,
) -> Result<Vec<Patch>> {
    if specs.is_empty() {
        return Ok(Vec::new());
    }
    let label = match specs[0].partition {
        n if specs.iter().all(|s| s.partition == n) => format!("partition {n}"),
        _ => crate::range_label(&partition),
    };
    let len = partition.end.saturating_sub(partition.start);
    check_range(disk.size(), partition.start, len)?;

    let mut ops = Vec::new();
    for s in specs {
        gather(s, &mut ops)?;
    }

    let store = Rc::new(RefCell::new(Store::new(disk, partition.start, len)));
    let vol = Volume::open(store.clone(), label.clone())?;
    check_plan(&vol, &ops, replace)?;
    apply(&vol, &ops)?;
    drop(vol);
    // Our own output must pass our own checks.
    drop(Volume::open(store.clone(), label.clone())?);
    let store = Rc::try_unwrap(store)
        .map_err(|_| ())
        .expect("every cursor and volume is dropped")
        .into_inner();
    store
        .into_patches()
        .map_err(|e| Error::io(&label, "", "read the original blocks", e))
}

/// [`add_files`] for specs of several partitions: groups them by partition, resolves each
/// partition number to a byte range with `resolve`, and returns all patches.
pub fn plan<E>(
    disk: &dyn Disk,
    specs: &[AddSpec],
    replace: bool,
    resolve: impl Fn(u32) -> std::result::Result<Range<u64>, E>,
) -> Result<Vec<Patch>>
where
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let mut groups: BTreeMap<u32, Vec<AddSpec>> = BTreeMap::new();
    for s in specs {
        groups.entry(s.partition).or_default().push(s.clone());
    }
    // Sources first, for every partition: a missing one fails before any FAT work.
    for s in specs {
        gather(s, &mut Vec::new())?;
    }
    let mut out = Vec::new();
    for (n, group) in groups {
        let range = resolve(n).map_err(|e| Error::Partition {
            partition: n,
            source: e.into(),
        })?;
        out.extend(add_files(disk, range, &group, replace)?);
    }
    out.sort_by_key(|p| p.offset);
    Ok(out)
}

/// The files [`plan`] reads for `specs` (trees walked as it walks them), so that a writer
/// can refuse an output that is one of them.
pub fn source_files(specs: &[AddSpec]) -> Result<Vec<PathBuf>> {
    let mut ops = Vec::new();
    for s in specs {
        gather(s, &mut ops)?;
    }
    Ok(ops
        .into_iter()
        .filter(|o| matches!(o.kind, Kind::File { .. }))
        .map(|o| o.src)
        .collect())
}

/// Turns one spec into operations, walking its source tree (sorted, symlinks followed).
fn gather(spec: &AddSpec, ops: &mut Vec<Op>) -> Result<()> {
    let meta = fs::metadata(&spec.src).map_err(|e| Error::unreadable(&spec.src, e))?;
    let dest: Vec<String> = spec
        .dest
        .split('/')
        .filter(|c| !c.is_empty())
        .map(String::from)
        .collect();
    walk(&spec.src, &meta, dest, 0, ops)
}

fn walk(
    src: &Path,
    meta: &fs::Metadata,
    dest: Vec<String>,
    depth: usize,
    ops: &mut Vec<Op>,
) -> Result<()> {
    let mtime = meta.modified().unwrap_or(UNIX_EPOCH);
    let bad = |what: String| Error::Source {
        path: src.into(),
        what,
        source: None,
    };
    if meta.is_file() {
        if dest.is_empty() {
            return Err(bad(
                "a file cannot replace the root directory; give a DEST name".into(),
            ));
        }
        if meta.len() > MAX_FILE {
            return Err(bad(format!(
                "{} bytes; a FAT file holds at most {MAX_FILE} bytes",
                meta.len()
            )));
        }
        ops.push(Op {
            dest,
            src: src.into(),
            kind: Kind::File { len: meta.len() },
            mtime,
        });
    } else if meta.is_dir() {
        if depth >= MAX_DEPTH {
            return Err(bad(format!(
                "directories nested more than {MAX_DEPTH} deep (a symbolic link loop?)"
            )));
        }
        if !dest.is_empty() {
            ops.push(Op {
                dest: dest.clone(),
                src: src.into(),
                kind: Kind::Dir,
                mtime,
            });
        }
        let mut children = Vec::new();
        for ent in fs::read_dir(src).map_err(|e| Error::unreadable(src, e))? {
            let ent = ent.map_err(|e| Error::unreadable(src, e))?;
            let path = ent.path();
            let name = ent.file_name();
            let Some(name) = name.to_str() else {
                return Err(Error::BadName {
                    name: name.to_string_lossy().into(),
                    path,
                    reason: "not valid UTF-8".into(),
                });
            };
            check_name(name).map_err(|reason| Error::BadName {
                path: path.clone(),
                name: name.into(),
                reason,
            })?;
            children.push((name.to_string(), path));
        }
        children.sort();
        for (name, path) in children {
            let m = fs::metadata(&path).map_err(|e| Error::unreadable(&path, e))?;
            let mut d = dest.clone();
            d.push(name);
            walk(&path, &m, d, depth + 1, ops)?;
        }
    } else {
        return Err(bad("neither a regular file nor a directory".into()));
    }
    Ok(())
}

/// 32-byte slots a new entry takes: `fatfs` writes long-name slots (13 UTF-16 units each)
/// for every name, then the 8.3 slot.
fn slots_for(name: &str) -> u64 {
    (name.encode_utf16().count() as u64).div_ceil(13) + 1
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Missing,
    Dir,
    /// A file; `Some(clusters)` if it is on the volume (not created by this run).
    File(Option<u64>),
}

struct Planner<'a, 'd> {
    vol: &'a Volume<'d>,
    replace: bool,
    /// Names in the existing directories looked at, by key: each is read once.
    listings: HashMap<String, HashMap<String, State>>,
    /// What this run creates, by key.
    created: HashMap<String, State>,
    /// Slots added per directory (by key, with its components; "" = root).
    slots: BTreeMap<String, (Vec<String>, u64, bool)>,
    data_clusters: u64,
    freed_clusters: u64,
}

impl Planner<'_, '_> {
    fn clusters(&self, bytes: u64) -> u64 {
        bytes.div_ceil(self.vol.geo.cluster_size as u64)
    }

    fn state(&mut self, comps: &[String]) -> Result<State> {
        if let Some(s) = self.created.get(&key(comps)) {
            return Ok(*s);
        }
        let (parent, name) = comps.split_at(comps.len() - 1);
        let pk = key(parent);
        if self.created.contains_key(&pk) {
            return Ok(State::Missing); // a directory this run creates holds only our entries
        }
        if !self.listings.contains_key(&pk) {
            let refs: Vec<&str> = parent.iter().map(String::as_str).collect();
            let mut names = HashMap::new();
            if let Some(loc) = self.vol.dir_at(&refs)? {
                let shown = format!("/{}", parent.join("/"));
                for e in self.vol.read_dir(loc, &shown)?.entries {
                    let s = if e.is_dir() {
                        State::Dir
                    } else {
                        State::File(Some(self.clusters(e.size() as u64)))
                    };
                    names.insert(e.name.to_uppercase(), s);
                    names.insert(e.short.to_uppercase(), s);
                }
            }
            self.listings.insert(pk.clone(), names);
        }
        Ok(self.listings[&pk]
            .get(&name[0].to_uppercase())
            .copied()
            .unwrap_or(State::Missing))
    }

    fn conflict(&self, comps: &[String], reason: String) -> Error {
        Error::Conflict {
            volume: self.vol.label.clone(),
            path: comps.join("/"),
            reason,
        }
    }

    fn add_slots(&mut self, comps: &[String], new_dir: bool) {
        let (parent, name) = comps.split_at(comps.len() - 1);
        let e = self
            .slots
            .entry(key(parent))
            .or_insert_with(|| (parent.to_vec(), 0, false));
        e.1 += slots_for(&name[0]);
        if new_dir {
            // "." and ".." once repaired.
            self.slots.insert(key(comps), (comps.to_vec(), 2, true));
        }
    }

    fn ensure_dir(&mut self, comps: &[String]) -> Result<()> {
        match self.state(comps)? {
            State::Dir => Ok(()),
            State::File(_) => Err(self.conflict(comps, "is a file, not a directory".into())),
            State::Missing => {
                self.created.insert(key(comps), State::Dir);
                self.add_slots(comps, true);
                Ok(())
            }
        }
    }

    fn op(&mut self, op: &Op) -> Result<()> {
        for i in 1..op.dest.len() {
            self.ensure_dir(&op.dest[..i])?;
        }
        match op.kind {
            Kind::Dir => match self.state(&op.dest)? {
                State::File(_) => Err(self.conflict(
                    &op.dest,
                    format!(
                        "is a file; the directory {} cannot be copied onto it",
                        op.src.display()
                    ),
                )),
                _ => self.ensure_dir(&op.dest),
            },
            Kind::File { len } => {
                match self.state(&op.dest)? {
                    State::Dir => {
                        return Err(self.conflict(
                            &op.dest,
                            format!(
                                "is a directory; the file {} cannot be copied onto it",
                                op.src.display()
                            ),
                        ))
                    }
                    State::File(on_disk) => {
                        if !self.replace {
                            return Err(Error::Exists {
                                volume: self.vol.label.clone(),
                                path: op.dest.join("/"),
                            });
                        }
                        self.freed_clusters += on_disk.unwrap_or(0);
                    }
                    State::Missing => self.add_slots(&op.dest, false),
                }
                self.created.insert(key(&op.dest), State::File(None));
                self.data_clusters += self.clusters(len);
                Ok(())
            }
        }
    }

    /// Clusters the directories need for their new entries.
    fn dir_clusters(&self) -> Result<u64> {
        let cs = self.vol.geo.cluster_size as u64;
        let mut total = 0;
        for (comps, new_slots, is_new) in self.slots.values() {
            let full = |have: u64| Error::DirFull {
                volume: self.vol.label.clone(),
                path: comps.join("/"),
                needed: have + new_slots,
            };
            if *is_new {
                if *new_slots > MAX_DIR_SLOTS {
                    return Err(full(0));
                }
                total += (new_slots * 32).div_ceil(cs).max(1);
                continue;
            }
            let refs: Vec<&str> = comps.iter().map(String::as_str).collect();
            let loc = self
                .vol
                .dir_at(&refs)?
                .expect("an existing directory: planned ones are new");
            let l = self.vol.read_dir(loc, &format!("/{}", comps.join("/")))?;
            match loc {
                DirLoc::FixedRoot => {
                    let live = l.used_slots - l.deleted_slots;
                    if l.used_slots + new_slots > l.capacity_slots
                        && live + new_slots > l.capacity_slots
                    {
                        return Err(Error::RootFull {
                            volume: self.vol.label.clone(),
                            capacity: l.capacity_slots,
                            needed: live + new_slots - l.capacity_slots,
                        });
                    }
                }
                DirLoc::Chain(_) => {
                    if l.used_slots + new_slots > MAX_DIR_SLOTS {
                        return Err(full(l.used_slots));
                    }
                    let want = ((l.used_slots + new_slots) * 32).div_ceil(cs);
                    total += want.saturating_sub(l.chain_len);
                }
            }
        }
        Ok(total)
    }
}

/// Every refusal: conflicts, existing files, names, space.
fn check_plan(vol: &Volume<'_>, ops: &[Op], replace: bool) -> Result<()> {
    let mut p = Planner {
        vol,
        replace,
        listings: HashMap::new(),
        created: HashMap::new(),
        slots: BTreeMap::new(),
        data_clusters: 0,
        freed_clusters: 0,
    };
    for op in ops {
        p.op(op)?;
    }
    let needed = p.data_clusters + p.dir_clusters()?;
    let free = vol.free_clusters()? + p.freed_clusters;
    if needed > free {
        let cs = vol.geo.cluster_size;
        return Err(Error::NoSpace {
            volume: vol.label.clone(),
            needed: needed * cs as u64,
            free: free * cs as u64,
            cluster_size: cs,
        });
    }
    Ok(())
}

fn apply(vol: &Volume<'_>, ops: &[Op]) -> Result<()> {
    let mut w = Writer::new(vol)?;
    for op in ops {
        for i in 1..op.dest.len() {
            w.ensure_dir(&op.dest[..i], op.mtime)?;
        }
        match op.kind {
            Kind::Dir => w.ensure_dir(&op.dest, op.mtime)?,
            Kind::File { len } => w.write_file(&op.dest, &op.src, len, op.mtime)?,
        }
    }
    w.finish()
}
