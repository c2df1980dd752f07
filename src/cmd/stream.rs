//! Inputs that may be streams, and how they are opened without hanging.
//!
//! Which commands read a stream (a pipe, a FIFO, `/dev/stdin`, a character device):
//! - `verify FILE` reads its file once, from start to end: a stream works (the layout
//!   check then uses only what that one pass kept; `--against` or `--no-layout` need no
//!   more);
//! - `upload --api-key-file FILE` reads at most [`MAX_KEY_FILE`] bytes of it;
//! - `upload FILE` reads its file twice (sha256, then the chunks) and needs its size up
//!   front: a stream is refused at once;
//! - an image (`convert`, `inspect`, `validate`, `ls`, `cat`, `verify --against`) is read
//!   at random offsets: a regular file or a block device only, anything else refused at once.
//!
//! Opening a FIFO blocks until a writer opens it: a FIFO is opened on a helper thread and
//! refused when no writer comes within [`WRITER_WAIT`].

use std::fs::File;
use std::os::unix::fs::FileTypeExt;
use std::path::Path;
use std::time::Duration;

/// How long a FIFO may wait for its writer to open it.
pub const WRITER_WAIT: Duration = Duration::from_secs(10);

/// Longest API key file: a key is three short tokens; this bounds a file of `/dev/zero`.
pub const MAX_KEY_FILE: u64 = 64 * 1024;

/// What a path names, as far as reading it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A regular file or a block device: it has a size and can be read again.
    Seekable,
    /// A pipe, FIFO, character device or socket: read once, in order, size unknown.
    Stream,
    /// A directory.
    Directory,
}

impl Kind {
    /// What `path` names (following symlinks, so `/dev/stdin` is the pipe it stands for).
    pub fn of(path: &Path) -> std::io::Result<Kind> {
        let t = std::fs::metadata(path)?.file_type();
        Ok(if t.is_dir() {
            Kind::Directory
        } else if t.is_file() || t.is_block_device() {
            Kind::Seekable
        } else {
            Kind::Stream
        })
    }
}

/// Opens `path` for reading; a FIFO whose writer does not open it within `wait` is an
/// error (`TimedOut`) instead of a hang.
pub fn open(path: &Path, wait: Duration) -> std::io::Result<(File, Kind)> {
    let kind = Kind::of(path)?;
    let is_fifo = std::fs::metadata(path)?.file_type().is_fifo();
    if !is_fifo {
        return Ok((File::open(path)?, kind));
    }
    let (tx, rx) = std::sync::mpsc::channel();
    let p = path.to_owned();
    // The thread stays blocked in open(2) if no writer ever comes; the process exits anyway.
    std::thread::spawn(move || {
        let _ = tx.send(File::open(p));
    });
    match rx.recv_timeout(wait) {
        Ok(r) => Ok((r?, kind)),
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!(
                "is a FIFO and no writer opened it within {} s",
                wait.as_secs()
            ),
        )),
    }
}

/// Reads a small text file (at most `max` bytes), which may be a stream.
pub fn read_small(path: &Path, max: u64) -> std::io::Result<String> {
    use std::io::Read;
    let (f, kind) = open(path, WRITER_WAIT)?;
    if kind == Kind::Directory {
        return Err(std::io::Error::other("is a directory"));
    }
    let mut buf = Vec::new();
    f.take(max + 1).read_to_end(&mut buf)?;
    if buf.len() as u64 > max {
        return Err(std::io::Error::other(format!(
            "is longer than {max} bytes: not an API key"
        )));
    }
    String::from_utf8(buf).map_err(|_| std::io::Error::other("is not UTF-8 text"))
}
