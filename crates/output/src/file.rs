//! Writing an output file so that no file is ever lost: not the input, not a file that
//! happens to sit where the temporary goes, not a device named as the output.
//!
//! The rules, each closing a way a plain `File::create("OUT.partial")` loses data:
//! - The temporary is created with `O_CREAT | O_EXCL | O_NOFOLLOW` under a unique name in
//!   the output's directory (`.OUT.XXXXXX.partial`, mode 0644 less the umask): it is a
//!   new file that no one else can have created, so an existing symlink or hard link at
//!   that name is never followed or truncated, and two runs writing the same `OUT` never
//!   share a temporary.
//! - The output is never one of the files the run reads (the image, its backing chain,
//!   its data file, the sources of added files, a kickstart file): compared by device and
//!   inode ([`FileId`]), not by name, before the temporary is created and again just
//!   before the rename.
//! - An existing output is replaced only when asked (`force`), and only if it is a regular
//!   file: a symbolic link is refused (neither followed nor replaced: the user named a
//!   link, and either reading of that is a surprise), and so are a directory, a FIFO, a
//!   socket and a device node.
//! - Commit is fsync of the file, rename into place (without `force`, a rename that fails
//!   if `OUT` appeared meanwhile), fsync of the directory. Dropping an uncommitted output
//!   (an error, a cancel) removes the temporary.

use std::ffi::{OsStr, OsString};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use ddgz_disk::FileId;

/// How many unique names to try before giving up (each try fails only if that exact
/// name exists: practically never more than one).
const NAME_TRIES: u32 = 64;
/// The longest output file name kept whole in the temporary's name: a file name is at
/// most 255 bytes on Linux file systems, and the temporary adds 16.
const NAME_KEEP: usize = 200;

/// Why an output was refused or could not be written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OutputError {
    /// The output exists and replacing it was not asked for.
    #[error("{}: already exists (use --force to overwrite)", path.display())]
    Exists {
        /// The output path.
        path: PathBuf,
    },
    /// The output appeared while the temporary was written, and replacing it was not
    /// asked for.
    #[error("{}: appeared while writing (use --force to overwrite)", path.display())]
    Appeared {
        /// The output path.
        path: PathBuf,
    },
    /// The output is one of the files the run reads.
    #[error(
        "{}: is a file this run reads (the input, a backing or data file, or a file to add); \
         write the output elsewhere",
        path.display()
    )]
    IsInput {
        /// The output path.
        path: PathBuf,
    },
    /// The output exists and is not a regular file: it is never replaced.
    #[error("{}: {what}; only a regular file is replaced (with --force)", path.display())]
    NotRegular {
        /// The output path.
        path: PathBuf,
        /// What it is.
        what: &'static str,
    },
    /// A file system call failed.
    #[error("{}: {what}", path.display())]
    Io {
        /// The output path.
        path: PathBuf,
        /// What was being done.
        what: String,
        /// The system's error.
        #[source]
        source: io::Error,
    },
    /// Writing the stream failed (no path: the output may be a writer).
    #[error("{what}")]
    Write {
        /// What was being done.
        what: &'static str,
        /// The system's error.
        #[source]
        source: io::Error,
    },
}

/// An output being written: a temporary beside it, renamed into place by
/// [`OutputFile::commit`], removed if dropped before (see the module docs).
///
/// ```
/// use std::io::Write;
/// # let dir = tempfile::tempdir()?;
/// # let out = dir.path().join("disk.dd.gz");
/// let mut o = ddgz_output::OutputFile::create(&out, false, &[])?;
/// o.write_all(b"bytes")?;
/// o.commit()?;
/// assert_eq!(std::fs::read(&out)?, b"bytes");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct OutputFile {
    path: PathBuf,
    dir: PathBuf,
    temp: PathBuf,
    file: File,
    id: FileId,
    force: bool,
    reads: Vec<FileId>,
    committed: bool,
}

impl OutputFile {
    /// Checks `path` (it must not exist unless `force`, then only as a regular file; it
    /// must not be any of `reads`, the files the run reads) and creates the temporary,
    /// opened for reading and writing.
    pub fn create(path: &Path, force: bool, reads: &[FileId]) -> Result<Self, OutputError> {
        let name = path.file_name().ok_or_else(|| OutputError::NotRegular {
            path: path.into(),
            what: "names no file",
        })?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        check_target(path, force, reads)?;
        let (temp, file) = create_temp(&dir, name).map_err(|source| OutputError::Io {
            path: path.into(),
            what: format!("cannot create a temporary file in {}", dir.display()),
            source,
        })?;
        let id = match file.metadata() {
            Ok(m) => FileId::of(&m),
            Err(source) => {
                let _ = fs::remove_file(&temp);
                return Err(OutputError::Io {
                    path: temp,
                    what: "stat".into(),
                    source,
                });
            }
        };
        let out = Self {
            path: path.into(),
            dir,
            temp,
            file,
            id,
            force,
            reads: reads.to_vec(),
            committed: false,
        };
        if out.reads.contains(&id) {
            // A new file cannot be an input; refuse rather than reason about how.
            return Err(OutputError::IsInput { path: path.into() });
        }
        Ok(out)
    }

    /// The output path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The temporary's path (gone once committed or dropped).
    pub fn temp_path(&self) -> &Path {
        &self.temp
    }

    /// The temporary, open for reading and writing at positions (`FileExt`).
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Makes the output permanent: fsync the file, check the output path again, rename
    /// the temporary into place, fsync the directory.
    pub fn commit(mut self) -> Result<(), OutputError> {
        let io = |path: &Path, what: &str, source| OutputError::Io {
            path: path.into(),
            what: what.into(),
            source,
        };
        self.file
            .sync_all()
            .map_err(|e| io(&self.temp, "fsync", e))?;
        check_target(&self.path, self.force, &self.reads).map_err(|e| match e {
            OutputError::Exists { path } => OutputError::Appeared { path },
            e => e,
        })?;
        if self.force {
            fs::rename(&self.temp, &self.path)
                .map_err(|e| io(&self.path, "rename the temporary into place", e))?;
        } else {
            match rename_noreplace(&self.temp, &self.path) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    return Err(OutputError::Appeared {
                        path: self.path.clone(),
                    })
                }
                Err(e) => return Err(io(&self.path, "rename the temporary into place", e)),
            }
        }
        self.committed = true;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| io(&self.dir, "fsync the directory after the rename", e))
    }
}

impl Write for OutputFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.file.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

impl Drop for OutputFile {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        // Remove the temporary only if the name still leads to our file.
        if fs::symlink_metadata(&self.temp).is_ok_and(|m| FileId::of(&m) == self.id) {
            let _ = fs::remove_file(&self.temp);
        }
    }
}

/// Most entries [`files_under`] walks: a tree to add is files for a boot partition or a
/// tarball, not a file system.
const MAX_TREE_ENTRIES: usize = 1 << 20;

/// The identities of the regular files at or under `path` (directories walked, symbolic
/// links not followed), for [`OutputFile::create`]'s `reads` when a run copies a host
/// tree as it is.
pub fn files_under(path: &Path) -> io::Result<Vec<FileId>> {
    let mut out = Vec::new();
    let mut todo = vec![path.to_path_buf()];
    let mut seen = 0usize;
    while let Some(p) = todo.pop() {
        seen += 1;
        if seen > MAX_TREE_ENTRIES {
            return Err(io::Error::other(format!(
                "{}: more than {MAX_TREE_ENTRIES} entries",
                path.display()
            )));
        }
        let m = fs::symlink_metadata(&p)?;
        if m.is_file() {
            out.push(FileId::of(&m));
        } else if m.is_dir() {
            for e in fs::read_dir(&p)? {
                todo.push(e?.path());
            }
        }
    }
    Ok(out)
}

/// Whether `path` may become the output (see the module docs).
fn check_target(path: &Path, force: bool, reads: &[FileId]) -> Result<(), OutputError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(source) => {
            return Err(OutputError::Io {
                path: path.into(),
                what: "cannot examine it".into(),
                source,
            })
        }
    };
    // The link itself, and what it leads to: either being an input is worth saying.
    let is_input = reads.contains(&FileId::of(&meta))
        || fs::metadata(path).is_ok_and(|m| reads.contains(&FileId::of(&m)));
    if is_input {
        return Err(OutputError::IsInput { path: path.into() });
    }
    // What is never replaced is said first, so that --force is suggested only where it
    // would help.
    let t = meta.file_type();
    let what = if t.is_file() {
        return if force {
            Ok(())
        } else {
            Err(OutputError::Exists { path: path.into() })
        };
    } else if t.is_symlink() {
        "is a symbolic link (neither followed nor replaced)"
    } else if t.is_dir() {
        "is a directory"
    } else if t.is_fifo() {
        "is a FIFO"
    } else if t.is_socket() {
        "is a socket"
    } else if t.is_block_device() || t.is_char_device() {
        "is a device node"
    } else {
        "is not a regular file"
    };
    Err(OutputError::NotRegular {
        path: path.into(),
        what,
    })
}

/// Creates `.NAME.XXXXXX.partial` in `dir`: exclusive, not following links, mode 0644
/// (less the umask).
fn create_temp(dir: &Path, name: &OsStr) -> io::Result<(PathBuf, File)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut last = None;
    for _ in 0..NAME_TRIES {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        let tag = mix(u64::from(std::process::id()) << 32 ^ nanos ^ n.wrapping_mul(0x9E37_79B9));
        let temp = dir.join(temp_name(name, tag));
        match OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&temp)
        {
            Ok(f) => return Ok((temp, f)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no unique temporary name")))
}

/// `.NAME.XXXXXX.partial`, `XXXXXX` six base-36 digits of `tag`, NAME cut to
/// [`NAME_KEEP`] bytes.
fn temp_name(name: &OsStr, mut tag: u64) -> OsString {
    const DIGITS: &[u8; 36] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let bytes = name.as_bytes();
    let mut s = Vec::with_capacity(bytes.len().min(NAME_KEEP) + 16);
    s.push(b'.');
    s.extend_from_slice(&bytes[..bytes.len().min(NAME_KEEP)]);
    s.push(b'.');
    for _ in 0..6 {
        s.push(DIGITS[(tag % 36) as usize]);
        tag /= 36;
    }
    s.extend_from_slice(b".partial");
    OsString::from_vec(s)
}

/// A 64-bit mixer (splitmix64's finaliser): nearby inputs give unrelated names.
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Renames `from` to `to` unless `to` exists (`AlreadyExists` then): `renameat2` with
/// `RENAME_NOREPLACE` on Linux, else (or where the file system lacks it) a hard link and
/// an unlink, else a checked rename.
fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        let c =
            |p: &Path| std::ffi::CString::new(p.as_os_str().as_bytes()).map_err(io::Error::other);
        let (f, t) = (c(from)?, c(to)?);
        // SAFETY: two valid NUL-terminated paths, relative to the working directory.
        let r = unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                f.as_ptr(),
                libc::AT_FDCWD,
                t.as_ptr(),
                libc::RENAME_NOREPLACE,
            )
        };
        if r == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if !matches!(e.raw_os_error(), Some(libc::EINVAL | libc::ENOSYS)) {
            return Err(e);
        }
    }
    match fs::hard_link(from, to) {
        Ok(()) => fs::remove_file(from),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(e),
        Err(_) if fs::symlink_metadata(to).is_ok() => {
            Err(io::Error::from(io::ErrorKind::AlreadyExists))
        }
        Err(_) => fs::rename(from, to),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(p: &Path) -> FileId {
        FileId::of(&fs::metadata(p).unwrap())
    }

    fn entries(d: &Path) -> Vec<String> {
        let mut v: Vec<_> = fs::read_dir(d)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn temporary_is_unique_hidden_and_removed_on_drop() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("x.gz");
        let a = OutputFile::create(&out, false, &[]).unwrap();
        let b = OutputFile::create(&out, false, &[]).unwrap();
        assert_ne!(a.temp_path(), b.temp_path());
        let name = a
            .temp_path()
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        assert!(
            name.starts_with(".x.gz.") && name.ends_with(".partial"),
            "{name}"
        );
        assert_eq!(name.len(), ".x.gz.".len() + 6 + ".partial".len());
        drop((a, b));
        assert!(entries(d.path()).is_empty());
    }

    #[test]
    fn commit_without_force_never_replaces() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("x.gz");
        let mut a = OutputFile::create(&out, false, &[]).unwrap();
        a.write_all(b"a").unwrap();
        fs::write(&out, b"appeared").unwrap();
        assert!(matches!(a.commit(), Err(OutputError::Appeared { .. })));
        assert_eq!(fs::read(&out).unwrap(), b"appeared");
        assert_eq!(entries(d.path()), ["x.gz"]);
        assert!(matches!(
            OutputFile::create(&out, false, &[]),
            Err(OutputError::Exists { .. })
        ));
        let mut b = OutputFile::create(&out, true, &[]).unwrap();
        b.write_all(b"b").unwrap();
        b.commit().unwrap();
        assert_eq!(fs::read(&out).unwrap(), b"b");
    }

    #[test]
    fn refuses_inputs_links_and_special_files() {
        let d = tempfile::tempdir().unwrap();
        let input = d.path().join("in");
        fs::write(&input, b"input").unwrap();
        let reads = [id(&input)];
        let hard = d.path().join("hard");
        fs::hard_link(&input, &hard).unwrap();
        let sym = d.path().join("sym");
        std::os::unix::fs::symlink(&input, &sym).unwrap();
        let other = d.path().join("other");
        fs::write(&other, b"other").unwrap();
        let sym_other = d.path().join("sym-other");
        std::os::unix::fs::symlink(&other, &sym_other).unwrap();
        for p in [&input, &hard, &sym] {
            for force in [false, true] {
                let e = OutputFile::create(p, force, &reads).unwrap_err();
                assert!(matches!(e, OutputError::IsInput { .. }), "{p:?}: {e}");
            }
        }
        let e = OutputFile::create(&sym_other, true, &reads).unwrap_err();
        assert!(e.to_string().contains("symbolic link"), "{e}");
        for force in [false, true] {
            // A directory is never replaced: say so first, not "use --force".
            let e = OutputFile::create(d.path(), force, &reads).unwrap_err();
            assert!(matches!(e, OutputError::NotRegular { .. }), "{e}");
            assert!(!e.to_string().contains("use --force"), "{e}");
        }
        let e = OutputFile::create(Path::new("/dev/null"), true, &reads).unwrap_err();
        assert!(e.to_string().contains("device node"), "{e}");
        assert_eq!(fs::read(&input).unwrap(), b"input");
        assert_eq!(fs::read(&other).unwrap(), b"other");
        assert_eq!(
            entries(d.path()),
            ["hard", "in", "other", "sym", "sym-other"]
        );
    }

    #[test]
    fn long_names_fit() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("n".repeat(255));
        let o = OutputFile::create(&out, false, &[]).unwrap();
        o.commit().unwrap();
        assert!(out.exists());
    }
}
