//! Shared by the tests: the tree walk through the crate and through a mount, compared
//! as one map of path → what `stat`, `readlink`, `read` and `getxattr` would say.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashSet};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;
use std::process::Command;

use ddgz_disk::RawDisk;
use ddgz_xfs::{FileType, Fs};

/// What a test compares of one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub kind: char,
    pub perm: u32,
    pub uid: u32,
    pub gid: u32,
    pub nlink: u32,
    pub size: u64,
    pub mtime: (i64, u32),
    pub rdev: (u32, u32),
    pub target: Vec<u8>,
    pub data: Vec<u8>,
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

pub fn run(mut cmd: impl std::borrow::BorrowMut<Command>) {
    let cmd = cmd.borrow_mut();
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

pub fn open(img: &Path) -> Fs<RawDisk> {
    let disk = RawDisk::open(img).unwrap();
    let len = std::fs::metadata(img).unwrap().len();
    Fs::open(disk, 0, len).unwrap()
}

/// The whole tree through the crate.
pub fn walk_crate(fs: &Fs<RawDisk>) -> BTreeMap<Vec<u8>, Node> {
    let mut out = BTreeMap::new();
    let mut seen = HashSet::new();
    let mut todo = vec![(b".".to_vec(), fs.root_ino())];
    while let Some((path, ino)) = todo.pop() {
        let i = fs.inode(ino).unwrap();
        let ft = i.file_type().unwrap();
        let mut xattrs: Vec<_> = fs
            .xattrs(&i)
            .unwrap_or_else(|e| panic!("{}: {e}", String::from_utf8_lossy(&path)))
            .into_iter()
            .map(|x| (x.name, x.value))
            .collect();
        xattrs.sort();
        let kind = match ft {
            FileType::Regular => '-',
            FileType::Directory => 'd',
            FileType::Symlink => 'l',
            FileType::CharDevice => 'c',
            FileType::BlockDevice => 'b',
            FileType::Fifo => 'p',
            FileType::Socket => 's',
        };
        let mut n = Node {
            kind,
            perm: u32::from(i.permissions()),
            uid: i.uid,
            gid: i.gid,
            nlink: i.links,
            size: if kind == 'd' { 0 } else { i.size },
            mtime: (i.mtime.sec, i.mtime.nsec),
            rdev: if matches!(kind, 'c' | 'b') {
                i.device()
            } else {
                (0, 0)
            },
            target: Vec::new(),
            data: Vec::new(),
            xattrs,
        };
        match ft {
            FileType::Directory => {
                assert!(seen.insert(ino), "directory inode {ino} reached twice");
                for e in fs.read_dir(&i).unwrap() {
                    let mut p = path.clone();
                    p.push(b'/');
                    p.extend_from_slice(&e.name);
                    todo.push((p, e.ino));
                }
            }
            FileType::Symlink => n.target = fs.read_link(&i).unwrap(),
            FileType::Regular => n.data = fs.read_small(&i, 64 << 20).unwrap(),
            _ => {}
        }
        out.insert(path, n);
    }
    out
}

fn xattrs_of(p: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    let c = CString::new(p.as_os_str().as_bytes()).unwrap();
    let mut names = vec![0u8; 1 << 20];
    // SAFETY: the buffers are valid for the lengths given.
    let n = unsafe { libc::llistxattr(c.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    assert!(n >= 0, "llistxattr {}", p.display());
    let mut out = Vec::new();
    for name in names[..n as usize]
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
    {
        // The kernel's privileged alias of the ACLs (see the crate's attr module).
        if name.starts_with(b"trusted.SGI_ACL_") {
            continue;
        }
        let cn = CString::new(name).unwrap();
        let mut v = vec![0u8; 1 << 17];
        // SAFETY: as above.
        let m = unsafe { libc::lgetxattr(c.as_ptr(), cn.as_ptr(), v.as_mut_ptr().cast(), v.len()) };
        assert!(m >= 0, "lgetxattr {} {:?}", p.display(), cn);
        v.truncate(m as usize);
        out.push((name.to_vec(), v));
    }
    out.sort();
    out
}

/// The whole tree through a mount at `root`.
pub fn walk_mount(root: &Path) -> BTreeMap<Vec<u8>, Node> {
    let mut out = BTreeMap::new();
    let mut todo = vec![(b".".to_vec(), root.to_path_buf())];
    while let Some((path, p)) = todo.pop() {
        let m = std::fs::symlink_metadata(&p).unwrap();
        let t = m.file_type();
        let kind = if t.is_dir() {
            'd'
        } else if t.is_symlink() {
            'l'
        } else if t.is_char_device() {
            'c'
        } else if t.is_block_device() {
            'b'
        } else if t.is_fifo() {
            'p'
        } else if t.is_socket() {
            's'
        } else {
            '-'
        };
        let mut n = Node {
            kind,
            perm: m.mode() & 0o7777,
            uid: m.uid(),
            gid: m.gid(),
            nlink: m.nlink() as u32,
            size: if kind == 'd' { 0 } else { m.size() },
            mtime: (m.mtime(), m.mtime_nsec() as u32),
            rdev: if matches!(kind, 'c' | 'b') {
                (libc::major(m.rdev()), libc::minor(m.rdev()))
            } else {
                (0, 0)
            },
            target: Vec::new(),
            data: Vec::new(),
            xattrs: xattrs_of(&p),
        };
        match kind {
            'd' => {
                for e in std::fs::read_dir(&p).unwrap() {
                    let e = e.unwrap();
                    let mut q = path.clone();
                    q.push(b'/');
                    q.extend_from_slice(e.file_name().as_bytes());
                    todo.push((q, e.path()));
                }
            }
            'l' => {
                n.target = std::fs::read_link(&p)
                    .unwrap()
                    .as_os_str()
                    .as_bytes()
                    .to_vec()
            }
            '-' => n.data = std::fs::read(&p).unwrap(),
            _ => {}
        }
        out.insert(path, n);
    }
    out
}

/// Asserts two walks are equal, naming the first difference.
pub fn assert_same(ours: &BTreeMap<Vec<u8>, Node>, theirs: &BTreeMap<Vec<u8>, Node>) {
    let a: Vec<_> = ours.keys().collect();
    let b: Vec<_> = theirs.keys().collect();
    if a != b {
        let only_a: Vec<_> = a
            .iter()
            .filter(|k| !theirs.contains_key(**k))
            .take(5)
            .map(|k| String::from_utf8_lossy(k))
            .collect();
        let only_b: Vec<_> = b
            .iter()
            .filter(|k| !ours.contains_key(**k))
            .take(5)
            .map(|k| String::from_utf8_lossy(k))
            .collect();
        panic!("paths differ: only in the crate's walk {only_a:?}, only in the mount {only_b:?}");
    }
    for (k, x) in ours {
        let y = &theirs[k];
        if x != y {
            let mut x = x.clone();
            let mut y = y.clone();
            if x.data != y.data {
                panic!(
                    "{}: content differs ({} vs {} bytes)",
                    String::from_utf8_lossy(k),
                    x.data.len(),
                    y.data.len()
                );
            }
            x.data.clear();
            y.data.clear();
            panic!("{}: crate {x:?}\nmount {y:?}", String::from_utf8_lossy(k));
        }
    }
}
