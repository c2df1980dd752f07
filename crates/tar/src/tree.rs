//! The walk: every inode reachable from a directory of a filesystem ([`Tree`]), as tar
//! members, in name order.
//!
//! As GNU tar writes them: directories before their content, named with a trailing `/`;
//! an inode with several names is stored once and later names become hard links to the
//! first; sockets are skipped (and reported); `--exclude-backups` drops names matching
//! `.#*`, `*~` and `#*#` with their subtrees. One filesystem is one partition, so
//! `--one-file-system` holds by construction.
//!
//! Hostile trees: a directory reached twice (a hard-linked directory, a loop) is an
//! error naming both paths; memory is bounded by [`MAX_PENDING`] entries and paths of
//! [`MAX_PATH`] bytes.

use std::collections::{HashMap, HashSet};
use std::io::Write;

use ddgz_fs::{acl, FileType, Run, Stat, Tree, Xattr};

use crate::format::{xattr_keyword, Header, Kind, Writer};
use crate::{Error, Names, Result};

/// Most directory entries waiting in the walk at once (those of every directory on the
/// current path): bounds memory on hostile images.
pub const MAX_PENDING: usize = 8 << 20;
/// Longest member name: deeper trees are refused rather than grown without bound.
pub const MAX_PATH: usize = 32 << 10;
/// Most data segments of a sparse file; a file fragmented beyond that is stored whole.
const MAX_SEGMENTS: usize = 1 << 20;
/// Bytes read from the filesystem at once.
const PIECE: usize = 1 << 20;

/// GNU tar's `--exclude-backups` patterns (`backup_file_table` in tar's source).
pub const BACKUP_PATTERNS: [&str; 3] = [".#*", "*~", "#*#"];

/// What to write and what to leave out.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Options {
    /// Drop names matching [`BACKUP_PATTERNS`] (GNU tar's `--exclude-backups`).
    pub exclude_backups: bool,
    /// Store files with holes as GNU sparse members (`tar -S`).
    pub sparse: bool,
    /// Member names (e.g. `./etc/machine-id`) of regular files stored empty. The name is
    /// resolved inside the filesystem, symlinks followed (`/etc/machine-id` →
    /// `/var/lib/dbus/machine-id`), and the file it reaches is emptied under every name
    /// it has (hard links included), so that no copy of its content survives.
    pub empty: Vec<Vec<u8>>,
    /// Patterns on member names (`*` and `?` within one component) left out with
    /// their subtrees, e.g. `./var/log/cloud-init*.log`.
    pub exclude: Vec<Vec<u8>>,
    /// Member names left out because something else replaces them (added files).
    pub replaced: HashSet<Vec<u8>>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            exclude_backups: true,
            sparse: true,
            empty: Vec::new(),
            exclude: Vec::new(),
            replaced: HashSet::new(),
        }
    }
}

/// What the walk wrote and left out.
#[derive(Debug, Default, Clone)]
#[non_exhaustive]
pub struct Report {
    /// Members written.
    pub members: u64,
    /// Bytes of file content (real sizes).
    pub file_bytes: u64,
    /// Sockets skipped (GNU tar: "socket ignored").
    pub sockets: Vec<Vec<u8>>,
    /// Names dropped by `--exclude-backups`.
    pub backups: Vec<Vec<u8>>,
    /// Names dropped by [`Options::exclude`].
    pub excluded: Vec<Vec<u8>>,
    /// Files stored empty by [`Options::empty`].
    pub emptied: Vec<Vec<u8>>,
    /// Symlinks with an empty target, left out: no system can create one (`symlink("")`
    /// fails with ENOENT), so GNU tar cannot extract the member it would write.
    pub empty_symlinks: Vec<Vec<u8>>,
    /// Members stored as hard links.
    pub hard_links: u64,
    /// Members stored as sparse files.
    pub sparse_files: u64,
}

/// `*` (any bytes) and `?` (one byte) glob match, as fnmatch without flags.
pub fn glob(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == name[n]) {
            p += 1;
            n += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, n));
            p += 1;
        } else if let Some((sp, sn)) = star {
            p = sp + 1;
            n = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// Whether the last component `name` is a backup file for `--exclude-backups`.
pub fn is_backup(name: &[u8]) -> bool {
    BACKUP_PATTERNS.iter().any(|p| glob(p.as_bytes(), name))
}

/// Whether member name `path` (without a trailing `/`) matches `pattern` component by
/// component.
fn path_matches(pattern: &[u8], path: &[u8]) -> bool {
    let pc: Vec<&[u8]> = pattern.split(|&b| b == b'/').collect();
    let nc: Vec<&[u8]> = path.split(|&b| b == b'/').collect();
    pc.len() == nc.len() && pc.iter().zip(&nc).all(|(p, n)| glob(p, n))
}

/// A directory being walked: its member name (with a trailing `/`) and the entries
/// still to visit, last first.
struct Frame {
    path: Vec<u8>,
    entries: Vec<ddgz_fs::DirEntry>,
}

/// The pax records GNU tar writes for these xattrs, in its order: the ACLs as text,
/// the SELinux context, then every xattr as `SCHILY.xattr.NAME`.
fn xattr_records(inode: &Stat, xattrs: &[Xattr], is_dir: bool) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut out = Vec::new();
    let find = |n: &[u8]| xattrs.iter().find(|x| x.name == n);
    let access = find(b"system.posix_acl_access");
    let default = find(b"system.posix_acl_default").filter(|_| is_dir);
    if access.is_some() || default.is_some() {
        let entries = access
            .and_then(|x| acl::parse_xattr(&x.value).ok())
            .unwrap_or_else(|| acl::from_mode(inode.perm));
        out.push((
            b"SCHILY.acl.access".to_vec(),
            acl::to_text(&entries).into_bytes(),
        ));
        if let Some(d) = default.and_then(|x| acl::parse_xattr(&x.value).ok()) {
            if !d.is_empty() {
                out.push((
                    b"SCHILY.acl.default".to_vec(),
                    acl::to_text(&d).into_bytes(),
                ));
            }
        }
    }
    if let Some(se) = find(b"security.selinux") {
        // The kernel's value ends in a NUL that the context string does not have.
        let v = se.value.strip_suffix(b"\0").unwrap_or(&se.value);
        out.push((b"RHT.security.selinux".to_vec(), v.to_vec()));
    }
    for x in xattrs {
        out.push((xattr_keyword(&x.name), x.value.clone()));
    }
    out
}

/// Writes the tree under directory inode `dir_ino` of `fs` as members named `prefix`
/// (`./`, or `./boot/`) and below, into `tar`.
pub fn write_fs<T: Tree, W: Write>(
    fs: &T,
    dir_ino: impl Into<u64>,
    prefix: &[u8],
    tar: &mut Writer<W>,
    opts: &Options,
    names: &Names,
    report: &mut Report,
) -> Result<()> {
    let fs_err = |path: &[u8]| {
        let path = path.to_vec();
        move |source: T::Error| Error::Fs {
            path,
            source: Box::new(source),
        }
    };
    let dir_ino = dir_ino.into();
    let root = fs.inode(dir_ino).map_err(fs_err(prefix))?;
    if fs.stat(&root).kind != Some(FileType::Directory) {
        return Err(Error::Tree(format!(
            "{}: inode {dir_ino} is not a directory",
            String::from_utf8_lossy(prefix)
        )));
    }
    let empty_inodes = empty_inodes(fs, prefix, &opts.empty).map_err(fs_err(prefix))?;
    let mut dirs_seen: HashMap<u64, Vec<u8>> = HashMap::new();
    let mut links: HashMap<u64, Vec<u8>> = HashMap::new();
    let mut pending = 0usize;
    let mut stack: Vec<Frame> = Vec::new();

    let mut visit_dir = |inode: &T::Inode,
                         path: Vec<u8>,
                         stack: &mut Vec<Frame>,
                         pending: &mut usize,
                         tar: &mut Writer<W>,
                         report: &mut Report|
     -> Result<()> {
        let st = fs.stat(inode);
        if let Some(first) = dirs_seen.get(&st.ino) {
            return Err(Error::Tree(format!(
                "directory inode {} is reached as {} and again as {} (a directory loop or a \
                 hard-linked directory)",
                st.ino,
                String::from_utf8_lossy(first),
                String::from_utf8_lossy(&path)
            )));
        }
        dirs_seen.insert(st.ino, path.clone());
        let xattrs = fs.xattrs(inode).map_err(fs_err(&path))?;
        let h = header(&st, path.clone(), Kind::Directory, &xattrs, names);
        tar.begin(&h).map_err(Error::Write)?;
        tar.end().map_err(Error::Write)?;
        report.members += 1;
        let mut entries = fs.read_dir(inode).map_err(fs_err(&path))?;
        *pending += entries.len();
        if *pending > MAX_PENDING {
            return Err(Error::Limit(format!(
                "more than {MAX_PENDING} directory entries pending at {}",
                String::from_utf8_lossy(&path)
            )));
        }
        // Name order, reversed so that popping visits them in order.
        entries.sort_unstable_by(|a, b| b.name.cmp(&a.name));
        stack.push(Frame { path, entries });
        Ok(())
    };

    visit_dir(
        &root,
        prefix.to_vec(),
        &mut stack,
        &mut pending,
        tar,
        report,
    )?;
    while let Some(frame) = stack.last_mut() {
        let Some(entry) = frame.entries.pop() else {
            stack.pop();
            continue;
        };
        pending -= 1;
        let mut path = frame.path.clone();
        path.extend_from_slice(&entry.name);
        if path.len() > MAX_PATH {
            return Err(Error::Limit(format!(
                "a path longer than {MAX_PATH} bytes: {}…",
                String::from_utf8_lossy(&path[..200])
            )));
        }
        if opts.exclude_backups && is_backup(&entry.name) {
            report.backups.push(path);
            continue;
        }
        if opts.exclude.iter().any(|p| path_matches(p, &path)) {
            report.excluded.push(path);
            continue;
        }
        if opts.replaced.contains(&path) {
            continue;
        }
        let inode = fs.inode(entry.ino).map_err(fs_err(&path))?;
        let st = fs.stat(&inode);
        let Some(ft) = st.kind else {
            return Err(Error::Fs {
                path,
                source: Box::new(fs.corrupt(format!(
                    "inode {} has mode 0{:o}, which is no file type (a free inode?)",
                    st.ino, st.mode
                ))),
            });
        };
        if ft == FileType::Directory {
            path.push(b'/');
            visit_dir(&inode, path, &mut stack, &mut pending, tar, report)?;
            continue;
        }
        if ft == FileType::Socket {
            report.sockets.push(path);
            continue;
        }
        if ft == FileType::Regular {
            fs.check_size(&inode).map_err(fs_err(&path))?;
        }
        // GNU tar links only regular files and symlinks to an earlier name
        // (`file_count_links` in its create.c): devices and FIFOs with several names are
        // written as separate nodes.
        let linkable = matches!(ft, FileType::Regular | FileType::Symlink);
        if linkable && st.nlink > 1 {
            if let Some(first) = links.get(&st.ino) {
                let h = Header {
                    records: Vec::new(),
                    ..header(&st, path, Kind::HardLink(first.clone()), &[], names)
                };
                tar.begin(&h).map_err(Error::Write)?;
                tar.end().map_err(Error::Write)?;
                report.members += 1;
                report.hard_links += 1;
                continue;
            }
            links.insert(st.ino, path.clone());
        }
        let xattrs = fs.xattrs(&inode).map_err(fs_err(&path))?;
        let kind = match ft {
            FileType::Regular => Kind::Regular { size: st.size },
            FileType::Symlink => {
                let target = fs.read_link(&inode).map_err(fs_err(&path))?;
                if target.is_empty() {
                    links.remove(&st.ino);
                    report.empty_symlinks.push(path);
                    continue;
                }
                Kind::Symlink(target)
            }
            FileType::CharDevice => Kind::CharDevice(st.rdev.0, st.rdev.1),
            FileType::BlockDevice => Kind::BlockDevice(st.rdev.0, st.rdev.1),
            FileType::Fifo => Kind::Fifo,
            FileType::Directory | FileType::Socket => unreachable!("handled above"),
        };
        if ft == FileType::Regular && empty_inodes.contains(&st.ino) {
            let h = header(&st, path.clone(), Kind::Regular { size: 0 }, &xattrs, names);
            tar.begin(&h).map_err(Error::Write)?;
            tar.end().map_err(Error::Write)?;
            report.members += 1;
            report.emptied.push(path);
            continue;
        }
        let mut h = header(&st, path.clone(), kind, &xattrs, names);
        if ft == FileType::Regular {
            if opts.sparse {
                h.sparse = segments(fs, &inode, &st).map_err(fs_err(&path))?;
            }
            tar.begin(&h).map_err(Error::Write)?;
            write_data(fs, &inode, st.size, h.sparse.is_some(), tar).map_err(|e| match e {
                DataError::Fs(source) => Error::Fs {
                    path: path.clone(),
                    source: Box::new(source),
                },
                DataError::Write(e) => Error::Write(e),
            })?;
            report.file_bytes += st.size;
            report.sparse_files += u64::from(h.sparse.is_some());
        } else {
            tar.begin(&h).map_err(Error::Write)?;
        }
        tar.end().map_err(Error::Write)?;
        report.members += 1;
    }
    Ok(())
}

/// The inodes of the regular files that the member names `empty` (under `prefix`) reach
/// inside `fs`, symlinks followed.
fn empty_inodes<T: Tree>(
    fs: &T,
    prefix: &[u8],
    empty: &[Vec<u8>],
) -> Result<HashSet<u64>, T::Error> {
    let mut out = HashSet::new();
    for name in empty {
        let Some(rest) = name.strip_prefix(prefix) else {
            continue;
        };
        let inside = [b"/", rest].concat();
        if let Some(i) = fs.lookup(&inside, true)? {
            let st = fs.stat(&i);
            if st.kind == Some(FileType::Regular) {
                out.insert(st.ino);
            }
        }
    }
    Ok(out)
}

/// The header of `inode` named `path`.
fn header(inode: &Stat, path: Vec<u8>, kind: Kind, xattrs: &[Xattr], names: &Names) -> Header {
    Header {
        path,
        records: xattr_records(inode, xattrs, matches!(kind, Kind::Directory)),
        kind,
        mode: u32::from(inode.perm),
        uid: inode.uid,
        gid: inode.gid,
        uname: names.user(inode.uid).map(<[u8]>::to_vec),
        gname: names.group(inode.gid).map(<[u8]>::to_vec),
        mtime: inode.mtime,
        atime: inode.atime,
        ctime: inode.ctime,
        sparse: None,
    }
}

/// The data segments of a file with holes (GNU sparse map, ending with a zero-length
/// segment at the real size when the file ends in a hole), or `None` when the file has
/// no holes or too many segments to be worth it.
fn segments<T: Tree>(
    fs: &T,
    inode: &T::Inode,
    st: &Stat,
) -> Result<Option<Vec<(u64, u64)>>, T::Error> {
    let size = st.size;
    if size == 0 {
        return Ok(None);
    }
    let bs = u64::from(fs.block_size());
    let mut segs: Vec<(u64, u64)> = Vec::new();
    let mut too_many = false;
    if fs.is_local(inode) {
        fs.for_each_data(inode, PIECE, |off, data: &[u8]| {
            segs.push((off, data.len() as u64));
            Ok::<(), T::Error>(())
        })?;
    }
    fs.for_each_run(inode, |r: Run| {
        if r.unwritten || too_many {
            return Ok::<(), T::Error>(());
        }
        let start = r.logical * bs;
        let end = ((r.logical + r.len) * bs).min(size);
        match segs.last_mut() {
            Some(last) if last.0 + last.1 == start => last.1 = end - last.0,
            _ => {
                if segs.len() >= MAX_SEGMENTS {
                    too_many = true;
                } else {
                    segs.push((start, end - start));
                }
            }
        }
        Ok(())
    })?;
    let data: u64 = segs.iter().map(|s| s.1).sum();
    if too_many || data == size {
        return Ok(None);
    }
    if segs.last().is_none_or(|l| l.0 + l.1 < size) {
        segs.push((size, 0));
    }
    Ok(Some(segs))
}

enum DataError<F> {
    Fs(F),
    Write(std::io::Error),
}

impl<F> From<F> for DataError<F> {
    fn from(e: F) -> Self {
        Self::Fs(e)
    }
}

/// Writes the content of regular file `inode`: only its data segments when `sparse`,
/// else every byte, holes as zeros.
fn write_data<T: Tree, W: Write>(
    fs: &T,
    inode: &T::Inode,
    size: u64,
    sparse: bool,
    tar: &mut Writer<W>,
) -> Result<(), DataError<T::Error>> {
    let mut pos = 0u64;
    fs.for_each_data(inode, PIECE, |off, data: &[u8]| {
        if !sparse && off > pos {
            tar.zeros(off - pos).map_err(DataError::Write)?;
        }
        tar.data(data).map_err(DataError::Write)?;
        pos = off + data.len() as u64;
        Ok::<(), DataError<T::Error>>(())
    })?;
    if !sparse && size > pos {
        tar.zeros(size - pos).map_err(DataError::Write)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_patterns_as_gnu_tar() {
        for b in ["x~", ".#lock", "#autosave#", "~", "#x#"] {
            assert!(is_backup(b.as_bytes()), "{b}");
        }
        for n in ["x", "x~y", "#x", ".x#", "a.#b"] {
            assert!(!is_backup(n.as_bytes()), "{n}");
        }
    }

    #[test]
    fn exclusion_patterns_match_whole_components() {
        assert!(path_matches(
            b"./var/log/cloud-init*.log",
            b"./var/log/cloud-init.log"
        ));
        assert!(path_matches(
            b"./var/log/cloud-init*.log",
            b"./var/log/cloud-init-output.log"
        ));
        assert!(!path_matches(
            b"./var/log/cloud-init*.log",
            b"./var/log/x/cloud-init.log"
        ));
        assert!(path_matches(
            b"./var/lib/cloud/instances",
            b"./var/lib/cloud/instances"
        ));
    }
}
