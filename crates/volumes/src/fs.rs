//! A volume's filesystem, detected and opened, behind one small interface: list, walk,
//! copy a file out, facts.

use std::collections::BTreeSet;
use std::io::Write;
use std::ops::Range;

use ddgz_fs::Tree;

use crate::detect::{detect, head, unsupported};
use crate::entry::{Entry, Kind, Node};
use crate::error::{fs_err, Error, Result};
use crate::{time, Place, SharedDisk};

/// Directory levels a recursive listing descends at most.
const MAX_DEPTH: usize = 256;
/// Names a recursive listing shows at most (a Windows volume has about a million; a
/// damaged FAT whose directories point at their ancestors would otherwise never end).
const MAX_ENTRIES: u64 = 1 << 23;
/// NTFS records below this are the volume's own metafiles (`$MFT`, `$Bitmap`, `$Extend`
/// …), which Windows and `ntfsls` do not list.
const NTFS_FIRST_USER_RECORD: u64 = 16;

pub(crate) type ExtFs<'a> = ddgz_ext4::Fs<SharedDisk<'a>>;
pub(crate) type XfsFs<'a> = ddgz_xfs::Fs<SharedDisk<'a>>;
pub(crate) type NtfsVol<'a> = ddgz_ntfs::Volume<SharedDisk<'a>>;

/// The filesystems read.
pub(crate) enum Fs<'a> {
    /// FAT12/16/32, read by path through `ddgz-fat`.
    Fat,
    /// ext2/3/4.
    Ext(ExtFs<'a>),
    /// XFS.
    Xfs(XfsFs<'a>),
    /// NTFS.
    Ntfs(NtfsVol<'a>),
}

/// A filesystem on a partition or logical volume, opened.
pub struct Volume<'a> {
    pub(crate) disk: SharedDisk<'a>,
    pub(crate) range: Range<u64>,
    pub(crate) place: Place,
    pub(crate) fs: Fs<'a>,
}

impl<'a> Volume<'a> {
    /// Opens the filesystem in `range` of `disk`.
    pub(crate) fn open(disk: SharedDisk<'a>, range: Range<u64>, place: Place) -> Result<Self> {
        let head = head(&disk, &range, &place)?;
        let len = range.end - range.start;
        let fs = match detect(&disk, &range, &head) {
            Some("NTFS") => Fs::Ntfs(
                ddgz_ntfs::Volume::open(disk.clone(), range.start, len)
                    .map_err(|e| fs_err(&place, e))?,
            ),
            Some("ext") => Fs::Ext(
                ddgz_ext4::Fs::open(disk.clone(), range.start, len)
                    .map_err(|e| fs_err(&place, e))?,
            ),
            Some("XFS") => Fs::Xfs(
                ddgz_xfs::Fs::open(disk.clone(), range.start, len)
                    .map_err(|e| fs_err(&place, e))?,
            ),
            Some("FAT") => Fs::Fat,
            other => {
                return Err(Error::Unsupported {
                    what: unsupported(&disk, &range, &head, other),
                    place: place.to_string(),
                })
            }
        };
        Ok(Self {
            disk,
            range,
            place,
            fs,
        })
    }

    /// Where it is.
    pub fn place(&self) -> &Place {
        &self.place
    }

    /// `FAT`, `ext2/3/4`, `XFS` or `NTFS`.
    pub fn kind(&self) -> &'static str {
        match self.fs {
            Fs::Fat => "FAT",
            Fs::Ext(_) => "ext2/3/4",
            Fs::Xfs(_) => "XFS",
            Fs::Ntfs(_) => "NTFS",
        }
    }

    /// What the filesystem says about itself.
    pub fn facts(&self) -> crate::Facts {
        crate::facts::probe(&self.disk, &self.range, &self.place)
    }

    fn err(&self, e: impl std::error::Error + Send + Sync + 'static) -> Error {
        fs_err(&self.place, e)
    }

    fn not_found(&self, path: &str) -> Error {
        Error::NotFound {
            place: self.place.to_string(),
            path: clean(path),
        }
    }

    /// The entries of directory `path` (FAT in directory order, NTFS in index order as
    /// Windows lists them, ext and XFS sorted by name), or the one entry of the file it
    /// names. Symlinks on the way, and at the end, are followed inside the filesystem.
    pub fn list(&self, path: &str) -> Result<Vec<Entry>> {
        if let Fs::Fat = self.fs {
            let label = self.place.to_string();
            let v = ddgz_fat::list_in(&*self.disk, self.range.clone(), Some(&label), path)
                .map_err(Error::Fat)?;
            let base = clean(path);
            return Ok(v.into_iter().map(|e| fat_entry(e, &base)).collect());
        }
        let (node, entry) = self.lookup(path)?;
        match node {
            Some(n) => self.entries(&n),
            None => Ok(vec![entry]),
        }
    }

    /// Every name under `path`, depth first, each directory's entries in [`list`]'s
    /// order: `f(relative path, entry)`. A directory reached twice (a loop) or deeper
    /// than 256 levels is an error.
    ///
    /// [`list`]: Self::list
    pub fn walk(&self, path: &str, f: &mut dyn FnMut(&[u8], &Entry) -> Result<()>) -> Result<()> {
        let top = self.list(path)?;
        let mut seen = BTreeSet::new();
        let mut count = 0u64;
        let mut counted = |p: &[u8], e: &Entry| -> Result<()> {
            count += 1;
            if count > MAX_ENTRIES {
                return Err(fs_err(
                    &self.place,
                    Limit(format!(
                        "more than {MAX_ENTRIES} names below /{}",
                        clean(path)
                    )),
                ));
            }
            f(p, e)
        };
        self.walk_in(Vec::new(), top, 0, &mut seen, &mut counted)
    }

    fn walk_in(
        &self,
        prefix: Vec<u8>,
        entries: Vec<Entry>,
        depth: usize,
        seen: &mut BTreeSet<u64>,
        f: &mut dyn FnMut(&[u8], &Entry) -> Result<()>,
    ) -> Result<()> {
        if depth > MAX_DEPTH {
            return Err(self.err(Limit(format!(
                "/{}: deeper than {MAX_DEPTH} directories",
                String::from_utf8_lossy(&prefix)
            ))));
        }
        for e in entries {
            let mut p = prefix.clone();
            if !p.is_empty() {
                p.push(b'/');
            }
            p.extend_from_slice(&e.name);
            f(&p, &e)?;
            let Some(node) = &e.node else {
                continue;
            };
            if let Node::Number(n) = node {
                if !seen.insert(*n) {
                    return Err(self.err(Limit(format!(
                        "/{}: directory {n} is reached twice (a loop)",
                        String::from_utf8_lossy(&p)
                    ))));
                }
            }
            let children = self.entries(node)?;
            self.walk_in(p, children, depth + 1, seen, f)?;
        }
        Ok(())
    }

    /// Writes the regular file at `path` to `out` (holes as zeros; NTFS: the unnamed
    /// stream, alternate data streams left out); returns its size.
    pub fn copy(&self, path: &str, out: &mut dyn Write) -> Result<u64> {
        let wr = |e| Error::Output {
            what: "stdout".into(),
            source: e,
        };
        match &self.fs {
            Fs::Fat => {
                let label = self.place.to_string();
                ddgz_fat::copy_file_in(&*self.disk, self.range.clone(), Some(&label), path, out)
                    .map_err(Error::Fat)
            }
            Fs::Ext(t) => self.copy_tree(t, path, out),
            Fs::Xfs(t) => self.copy_tree(t, path, out),
            Fs::Ntfs(v) => {
                let f = v
                    .lookup(path)
                    .map_err(|e| self.err(e))?
                    .ok_or_else(|| self.not_found(path))?;
                if f.is_directory() {
                    return Err(self.not_file(path, Kind::Directory));
                }
                let Some(s) = v.data(&f, "").map_err(|e| self.err(e))? else {
                    return Ok(0);
                };
                let r: Result<(), Either<ddgz_ntfs::Error>> =
                    v.for_each_piece(&s, 1 << 20, |_, b: &[u8]| {
                        out.write_all(b).map_err(Either::Io)
                    });
                match r {
                    Ok(()) => Ok(s.len()),
                    Err(Either::Io(e)) => Err(wr(e)),
                    Err(Either::Fs(e)) => Err(self.err(e)),
                }
            }
        }
    }

    fn not_file(&self, path: &str, kind: Kind) -> Error {
        Error::NotFile {
            place: self.place.to_string(),
            path: clean(path),
            what: kind.what().into(),
        }
    }

    fn copy_tree<T: Tree>(&self, t: &T, path: &str, out: &mut dyn Write) -> Result<u64>
    where
        T::Error: Send + Sync + 'static,
    {
        let i = t
            .lookup(path.as_bytes(), true)
            .map_err(|e| self.err(e))?
            .ok_or_else(|| self.not_found(path))?;
        let st = t.stat(&i);
        let kind = Kind::of(st.kind);
        if kind != Kind::File {
            return Err(self.not_file(path, kind));
        }
        t.check_size(&i).map_err(|e| self.err(e))?;
        let mut at = 0u64;
        let zeros = vec![0u8; 64 << 10];
        let fill = |to: u64, at: &mut u64, out: &mut dyn Write| -> std::io::Result<()> {
            while *at < to {
                let n = (to - *at).min(zeros.len() as u64) as usize;
                out.write_all(&zeros[..n])?;
                *at += n as u64;
            }
            Ok(())
        };
        let r: Result<(), Either<T::Error>> = t.for_each_data(&i, 1 << 20, |off, b| {
            fill(off, &mut at, out).map_err(Either::Io)?;
            out.write_all(b).map_err(Either::Io)?;
            at = off + b.len() as u64;
            Ok(())
        });
        let r = r.and_then(|()| fill(st.size, &mut at, out).map_err(Either::Io));
        match r {
            Ok(()) => Ok(st.size),
            Err(Either::Io(e)) => Err(Error::Output {
                what: "stdout".into(),
                source: e,
            }),
            Err(Either::Fs(e)) => Err(self.err(e)),
        }
    }

    /// The directory (as a node) or file (as an entry) at `path`.
    fn lookup(&self, path: &str) -> Result<(Option<Node>, Entry)> {
        let name = path
            .rsplit('/')
            .find(|c| !c.is_empty())
            .unwrap_or("/")
            .as_bytes()
            .to_vec();
        match &self.fs {
            // FAT is listed by path ([`Self::list`]), never looked up here.
            Fs::Fat => Err(self.err(Limit("FAT is read by path".into()))),
            Fs::Ext(t) => self.lookup_tree(t, path, name),
            Fs::Xfs(t) => self.lookup_tree(t, path, name),
            Fs::Ntfs(v) => {
                let f = v
                    .lookup(path)
                    .map_err(|e| self.err(e))?
                    .ok_or_else(|| self.not_found(path))?;
                let rec = f.reference.record;
                if f.is_directory() {
                    return Ok((Some(Node::Number(rec)), ntfs_placeholder(name)));
                }
                // The name as stored (the path may spell it in another case).
                let typed: Vec<u16> = String::from_utf8_lossy(&name).encode_utf16().collect();
                let name = match f.file_names() {
                    Ok(names) => names
                        .iter()
                        .filter(|n| n.namespace != ddgz_ntfs::attr::namespace::DOS)
                        .find(|n| v.upcase().eq(&n.name, &typed))
                        .map_or(name, |n| String::from_utf16_lossy(&n.name).into_bytes()),
                    Err(_) => name,
                };
                Ok((None, self.ntfs_entry(v, rec, name)?))
            }
        }
    }

    fn lookup_tree<T: Tree>(
        &self,
        t: &T,
        path: &str,
        name: Vec<u8>,
    ) -> Result<(Option<Node>, Entry)>
    where
        T::Error: Send + Sync + 'static,
    {
        let i = t
            .lookup(path.as_bytes(), true)
            .map_err(|e| self.err(e))?
            .ok_or_else(|| self.not_found(path))?;
        let st = t.stat(&i);
        if st.kind == Some(ddgz_fs::FileType::Directory) {
            return Ok((Some(Node::Number(st.ino)), tree_entry(t, &i, name)));
        }
        Ok((None, tree_entry(t, &i, name)))
    }

    /// The entries of directory `node`.
    fn entries(&self, node: &Node) -> Result<Vec<Entry>> {
        match (&self.fs, node) {
            (Fs::Fat, Node::Path(p)) => {
                let label = self.place.to_string();
                let v = ddgz_fat::list_in(&*self.disk, self.range.clone(), Some(&label), p)
                    .map_err(Error::Fat)?;
                Ok(v.into_iter().map(|e| fat_entry(e, p)).collect())
            }
            (Fs::Ext(t), Node::Number(n)) => self.tree_entries(t, *n),
            (Fs::Xfs(t), Node::Number(n)) => self.tree_entries(t, *n),
            (Fs::Ntfs(v), Node::Number(n)) => {
                let dir = v.file(*n).map_err(|e| self.err(e))?;
                let mut out = Vec::new();
                for e in v.read_dir(&dir).map_err(|e| self.err(e))? {
                    let rec = e.file.record;
                    if e.is_dos_alias() || rec == *n || rec < NTFS_FIRST_USER_RECORD {
                        continue;
                    }
                    out.push(self.ntfs_entry(v, rec, e.name_string().into_bytes())?);
                }
                Ok(out)
            }
            _ => Err(self.err(Limit("a directory of another filesystem".into()))),
        }
    }

    fn tree_entries<T: Tree>(&self, t: &T, ino: u64) -> Result<Vec<Entry>>
    where
        T::Error: Send + Sync + 'static,
    {
        let dir = t.inode(ino).map_err(|e| self.err(e))?;
        let mut out = Vec::new();
        for e in t.read_dir(&dir).map_err(|e| self.err(e))? {
            let i = t.inode(e.ino).map_err(|e| self.err(e))?;
            out.push(tree_entry(t, &i, e.name));
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    fn ntfs_entry(&self, v: &NtfsVol<'a>, rec: u64, name: Vec<u8>) -> Result<Entry> {
        let f = v.file(rec).map_err(|e| self.err(e))?;
        let st = v.stat(&f).map_err(|e| self.err(e))?;
        let dir = st.is_directory;
        Ok(Entry {
            name,
            kind: if dir { Kind::Directory } else { Kind::File },
            size: if dir { 0 } else { st.size },
            modified: time::utc(ddgz_ntfs::attr::unix_seconds(st.info.modified)),
            target: None,
            node: dir.then_some(Node::Number(rec)),
        })
    }
}

/// An error a walk finds itself.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Limit(String);

/// The reader's error or the output's, from inside a data callback.
enum Either<E> {
    Fs(E),
    Io(std::io::Error),
}

impl<E> From<E> for Either<E> {
    fn from(e: E) -> Self {
        Either::Fs(e)
    }
}

fn ntfs_placeholder(name: Vec<u8>) -> Entry {
    Entry {
        name,
        kind: Kind::Directory,
        size: 0,
        modified: String::new(),
        target: None,
        node: None,
    }
}

/// The entry of inode `i` named `name`.
fn tree_entry<T: Tree>(t: &T, i: &T::Inode, name: Vec<u8>) -> Entry {
    let st = t.stat(i);
    let kind = Kind::of(st.kind);
    Entry {
        name,
        kind,
        size: if kind == Kind::Directory { 0 } else { st.size },
        modified: time::utc(st.mtime.sec),
        target: (kind == Kind::Symlink)
            .then(|| t.read_link(i).ok())
            .flatten(),
        node: (kind == Kind::Directory).then_some(Node::Number(st.ino)),
    }
}

/// A FAT entry of directory `dir`.
fn fat_entry(e: ddgz_fat::Entry, dir: &str) -> Entry {
    let node = e.is_dir.then(|| {
        let d = clean(dir);
        Node::Path(if d.is_empty() {
            e.name.clone()
        } else {
            format!("{d}/{}", e.name)
        })
    });
    Entry {
        name: e.name.into_bytes(),
        kind: if e.is_dir {
            Kind::Directory
        } else {
            Kind::File
        },
        size: e.size,
        modified: e.modified,
        target: None,
        node,
    }
}

/// `path` without empty components and without its leading `/`.
fn clean(path: &str) -> String {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("/")
}
