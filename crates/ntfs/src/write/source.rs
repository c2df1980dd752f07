//! The files and trees to add, read from the host: each becomes an operation (a
//! directory or a file at a path inside the volume), in a stable order (sorted,
//! depth-first), with the names checked against what NTFS and Windows accept.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use super::error::{WriteError, WriteResult};

/// Source trees nested deeper than this are refused (a symlink loop, most likely).
const MAX_DEPTH: usize = 64;
/// Units in an NTFS name (`$FILE_NAME` holds the length in a byte).
const MAX_NAME: usize = 255;

/// One thing to copy: `src` (a file or a directory tree) to `dest` (`/`-separated, no
/// leading `/`; empty for the root, when `src` is a directory whose contents go there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spec {
    /// The file or directory on the host.
    pub src: PathBuf,
    /// Where it goes in the volume.
    pub dest: String,
}

/// What an operation makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A directory.
    Dir,
    /// A file of `len` bytes.
    File {
        /// Its length when walked.
        len: u64,
    },
}

/// One directory or file to create.
#[derive(Debug, Clone)]
pub struct Op {
    /// Path components in the volume.
    pub dest: Vec<String>,
    /// The host file or directory.
    pub src: PathBuf,
    /// Directory or file.
    pub kind: Kind,
    /// Its modification time (the new file's times).
    pub mtime: SystemTime,
}

/// Why NTFS as Windows uses it cannot hold `name`, if it cannot: Win32's forbidden
/// characters, control characters, `.`/`..`, a trailing dot or space, more than 255 units.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() || name == "." || name == ".." {
        return Err("empty, `.` and `..` are not names".into());
    }
    let units = name.encode_utf16().count();
    if units > MAX_NAME {
        return Err(format!(
            "{units} UTF-16 units; NTFS names hold at most {MAX_NAME}"
        ));
    }
    if name.ends_with('.') || name.ends_with(' ') {
        return Err("ends with a dot or a space, which Windows strips".into());
    }
    if let Some(c) = name
        .chars()
        .find(|c| (*c as u32) < 0x20 || "\"*/:<>?\\|".contains(*c))
    {
        return Err(format!(
            "the character {c:?} cannot appear in a Windows name (not allowed: control \
             characters and \" * / : < > ? \\ |)"
        ));
    }
    Ok(())
}

/// The operations of `specs`, in order.
pub fn gather(specs: &[Spec]) -> WriteResult<Vec<Op>> {
    let mut ops = Vec::new();
    for s in specs {
        let meta = fs::metadata(&s.src).map_err(|e| unreadable(&s.src, e))?;
        let dest: Vec<String> = s
            .dest
            .split('/')
            .filter(|c| !c.is_empty())
            .map(String::from)
            .collect();
        for c in &dest {
            check_name(c).map_err(|reason| WriteError::BadName {
                path: s.src.clone(),
                name: c.clone(),
                reason,
            })?;
        }
        walk(&s.src, &meta, dest, 0, &mut ops)?;
    }
    Ok(ops)
}

fn unreadable(p: &Path, e: std::io::Error) -> WriteError {
    WriteError::Source {
        path: p.into(),
        what: "cannot be read".into(),
        source: Some(e),
    }
}

fn walk(
    src: &Path,
    meta: &fs::Metadata,
    dest: Vec<String>,
    depth: usize,
    ops: &mut Vec<Op>,
) -> WriteResult<()> {
    let mtime = meta.modified().unwrap_or(UNIX_EPOCH);
    let bad = |what: &str| WriteError::Source {
        path: src.into(),
        what: what.into(),
        source: None,
    };
    if meta.is_file() {
        if dest.is_empty() {
            return Err(bad(
                "a file cannot replace the root directory; give a DEST name",
            ));
        }
        ops.push(Op {
            dest,
            src: src.into(),
            kind: Kind::File { len: meta.len() },
            mtime,
        });
        return Ok(());
    }
    if !meta.is_dir() {
        return Err(bad("neither a regular file nor a directory"));
    }
    if depth >= MAX_DEPTH {
        return Err(bad("directories nested too deep (a symbolic link loop?)"));
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
    for ent in fs::read_dir(src).map_err(|e| unreadable(src, e))? {
        let ent = ent.map_err(|e| unreadable(src, e))?;
        let path = ent.path();
        let name = ent.file_name();
        let Some(name) = name.to_str() else {
            return Err(WriteError::BadName {
                name: name.to_string_lossy().into(),
                path,
                reason: "not valid UTF-8".into(),
            });
        };
        check_name(name).map_err(|reason| WriteError::BadName {
            path: path.clone(),
            name: name.into(),
            reason,
        })?;
        children.push((name.to_string(), path));
    }
    children.sort();
    for (name, path) in children {
        let m = fs::metadata(&path).map_err(|e| unreadable(&path, e))?;
        let mut d = dest.clone();
        d.push(name);
        walk(&path, &m, d, depth + 1, ops)?;
    }
    Ok(())
}

/// The host files the operations read (for a caller that must not overwrite them).
pub fn source_files(specs: &[Spec]) -> WriteResult<Vec<PathBuf>> {
    Ok(gather(specs)?
        .into_iter()
        .filter(|o| matches!(o.kind, Kind::File { .. }))
        .map(|o| o.src)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_windows_cannot_hold_are_refused() {
        check_name("curtin-hooks").unwrap();
        check_name("Ünïcødé 日本語.txt").unwrap();
        for (n, why) in [
            ("a:b", "cannot appear"),
            ("a?", "cannot appear"),
            ("x.", "dot or a space"),
            ("..", "not names"),
            (&"x".repeat(256), "at most 255"),
        ] {
            assert!(check_name(n).unwrap_err().contains(why), "{n}");
        }
    }
}
