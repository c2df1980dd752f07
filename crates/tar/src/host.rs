//! Files of the host added to the stream (`--add curtin`): what `cp -r SRC ROOT/DEST`
//! leaves in the image — regular files, directories and symlinks (not followed), owned
//! by root, with their permission bits and modification times (so the same input gives
//! the same bytes). Directories are walked in name order.

use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use ddgz_fs::Time;

use crate::format::{Header, Kind, Writer};
use crate::{Error, Result};

/// Most members one `--add` may bring: a bound for a mistaken `--add /`.
const MAX_MEMBERS: u64 = 1 << 20;

fn time(sec: i64, nsec: i64) -> Time {
    Time {
        sec,
        nsec: u32::try_from(nsec).unwrap_or(0),
    }
}

/// A directory member for `path` (with a trailing `/`) owned by root, mode 0755, at
/// time `t`: the parents of an added path that the image lacks.
pub fn directory(path: Vec<u8>, t: Time) -> Header {
    Header {
        path,
        kind: Kind::Directory,
        mode: 0o755,
        uid: 0,
        gid: 0,
        uname: Some(b"root".to_vec()),
        gname: Some(b"root".to_vec()),
        mtime: t,
        atime: t,
        ctime: t,
        records: Vec::new(),
        sparse: None,
    }
}

/// Adds host path `src` as member `dest` (e.g. `./curtin`) and, for a directory, its
/// content. `skip_dir` is called with each directory member name: `true` when the image
/// already has that directory, whose metadata is then kept (its content is merged).
/// Returns the members written.
pub fn add<W: Write>(
    tar: &mut Writer<W>,
    src: &Path,
    dest: &[u8],
    skip_dir: &mut dyn FnMut(&[u8]) -> bool,
) -> Result<u64> {
    let mut count = 0u64;
    add_one(tar, src, dest.to_vec(), skip_dir, &mut count)?;
    Ok(count)
}

fn add_one<W: Write>(
    tar: &mut Writer<W>,
    src: &Path,
    dest: Vec<u8>,
    skip_dir: &mut dyn FnMut(&[u8]) -> bool,
    count: &mut u64,
) -> Result<()> {
    let host = |source| Error::Host {
        path: src.to_path_buf(),
        source,
    };
    *count += 1;
    if *count > MAX_MEMBERS {
        return Err(Error::Limit(format!(
            "{}: more than {MAX_MEMBERS} files to add",
            src.display()
        )));
    }
    let m = std::fs::symlink_metadata(src).map_err(host)?;
    let t = time(m.mtime(), m.mtime_nsec());
    let base = Header {
        mode: m.permissions().mode() & 0o7777,
        mtime: t,
        atime: t,
        ctime: t,
        ..directory(dest.clone(), t)
    };
    let ft = m.file_type();
    if ft.is_dir() {
        let mut path = dest;
        path.push(b'/');
        if !skip_dir(&path) {
            tar.begin(&Header {
                path: path.clone(),
                ..base
            })
            .map_err(Error::Write)?;
            tar.end().map_err(Error::Write)?;
        }
        let mut names: Vec<_> = std::fs::read_dir(src)
            .map_err(host)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<std::io::Result<_>>()
            .map_err(host)?;
        names.sort();
        for n in names {
            use std::os::unix::ffi::OsStrExt;
            let mut child = path.clone();
            child.extend_from_slice(n.as_bytes());
            add_one(tar, &src.join(&n), child, skip_dir, count)?;
        }
    } else if ft.is_symlink() {
        use std::os::unix::ffi::OsStrExt;
        let target = std::fs::read_link(src).map_err(host)?;
        tar.begin(&Header {
            kind: Kind::Symlink(target.as_os_str().as_bytes().to_vec()),
            ..base
        })
        .map_err(Error::Write)?;
        tar.end().map_err(Error::Write)?;
    } else if ft.is_file() {
        let mut f = std::fs::File::open(src).map_err(host)?;
        let size = m.len();
        tar.begin(&Header {
            kind: Kind::Regular { size },
            ..base
        })
        .map_err(Error::Write)?;
        let mut buf = vec![0u8; 1 << 20];
        let mut left = size;
        while left > 0 {
            let n = f
                .read(&mut buf[..left.min(1 << 20) as usize])
                .map_err(host)?;
            if n == 0 {
                return Err(host(std::io::Error::other(format!(
                    "shrank while being read ({left} bytes missing)"
                ))));
            }
            tar.data(&buf[..n]).map_err(Error::Write)?;
            left -= n as u64;
        }
        tar.end().map_err(Error::Write)?;
    } else {
        return Err(host(std::io::Error::other(
            "not a regular file, directory or symlink",
        )));
    }
    Ok(())
}
