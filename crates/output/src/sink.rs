//! The one finish step of every command that writes a stream (convert's `.dd.gz`, tar's
//! `.tar.gz`): the stream goes to a [`Sink`] (a file written atomically, or any writer),
//! is hashed on the way (the sha256 MAAS asks for), flushed, and a file is committed.

use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::{DirectWriter, OutputError, OutputFile};

/// Where a stream goes.
pub enum Sink<'w> {
    /// A file: written past the page cache ([`DirectWriter`]), renamed into place by
    /// [`OutputFile::commit`] once complete.
    File(OutputFile),
    /// Any writer (a pipe, a socket, memory): written as it is made (through a 1 MiB
    /// buffer), no rename. `Send`: the compressing pipelines write on a thread of their
    /// own.
    Writer(Box<dyn Write + Send + 'w>),
}

impl std::fmt::Debug for Sink<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Sink::File(o) => f.debug_tuple("File").field(&o.path()).finish(),
            Sink::Writer(_) => f.write_str("Writer"),
        }
    }
}

/// What [`Sink::write`] wrote.
#[derive(Debug)]
pub struct Written<T> {
    /// What the producer returned.
    pub value: T,
    /// The committed file (`None` for a writer).
    pub path: Option<PathBuf>,
    /// The sha256 of the bytes written, in lowercase hex.
    pub sha256: String,
}

impl Sink<'_> {
    /// The output file's path (`None` for a writer), to name it in messages.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Sink::File(o) => Some(o.path()),
            Sink::Writer(_) => None,
        }
    }

    /// Runs `produce` on a writer into this sink that hashes what passes, flushes it and
    /// commits a file. A failure of the sink itself is an [`OutputError`]; a file is
    /// removed unless committed.
    pub fn write<T, E: From<OutputError>>(
        self,
        produce: impl FnOnce(&mut (dyn Write + Send + '_)) -> Result<T, E>,
    ) -> Result<Written<T>, E> {
        let failed = |what, source| OutputError::Write { what, source };
        match self {
            Sink::Writer(w) => {
                let (value, sha256) =
                    hashed(BufWriter::with_capacity(1 << 20, w), produce, failed)?;
                Ok(Written {
                    value,
                    path: None,
                    sha256,
                })
            }
            Sink::File(file) => {
                let w = DirectWriter::new(file.file())
                    .map_err(|e| failed("starting the output writer", e))?;
                let (value, sha256) = hashed(w, produce, failed)?;
                let path = file.path().to_path_buf();
                file.commit()?;
                Ok(Written {
                    value,
                    path: Some(path),
                    sha256,
                })
            }
        }
    }
}

/// `produce` on `out` through a [`Hashing`] writer, then `out` flushed (and dropped).
fn hashed<T, E: From<OutputError>>(
    out: impl Write + Send,
    produce: impl FnOnce(&mut (dyn Write + Send + '_)) -> Result<T, E>,
    failed: impl Fn(&'static str, io::Error) -> OutputError,
) -> Result<(T, String), E> {
    let mut w = Hashing {
        inner: out,
        sha: Sha256::new(),
    };
    let value = produce(&mut w)?;
    w.inner
        .flush()
        .map_err(|e| failed("writing the output", e))?;
    Ok((value, hex::encode(w.sha.finalize())))
}

/// A writer that hashes what passes through.
struct Hashing<W> {
    inner: W,
    sha: Sha256,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}
