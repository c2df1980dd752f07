//! What is verified: a file read once or more, from its start.

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::{Error, ErrorKind, Result};

/// The `.dd.gz` / `.dd.xz` to verify: opened once per pass over it.
pub trait Input {
    /// Its name in messages and the report (a path, as given).
    fn name(&self) -> String;
    /// Whether it can be read only once (a pipe, a FIFO): then no further pass is made.
    fn once(&self) -> bool;
    /// Opens it for one pass, from its start.
    fn open(&mut self) -> Result<Box<dyn Read + '_>>;
}

/// A file at a path: a regular file or a block device, read again for a further pass; a
/// pipe or character device, read once.
#[derive(Debug, Clone)]
pub struct FileInput {
    path: PathBuf,
}

impl FileInput {
    /// The file at `path`.
    pub fn new(path: &Path) -> Self {
        Self {
            path: path.to_owned(),
        }
    }
}

impl Input for FileInput {
    fn name(&self) -> String {
        self.path.display().to_string()
    }

    fn once(&self) -> bool {
        std::fs::metadata(&self.path).is_ok_and(|m| !m.is_file() && !m.is_dir())
            && !is_block(&self.path)
    }

    fn open(&mut self) -> Result<Box<dyn Read + '_>> {
        let name = self.name();
        if std::fs::metadata(&self.path).is_ok_and(|m| m.is_dir()) {
            return Err(Error::new(
                ErrorKind::Input,
                format!("{name}: is a directory, not a .dd.gz file"),
            ));
        }
        let f = std::fs::File::open(&self.path)
            .map_err(|e| Error::wrap(ErrorKind::Input, format!("cannot open {name}"), e))?;
        Ok(Box::new(f))
    }
}

/// Whether `path` is a block device (read again like a file).
fn is_block(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(path).is_ok_and(|m| m.file_type().is_block_device())
}
