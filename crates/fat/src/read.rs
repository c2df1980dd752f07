//! `ls` and `cat` inside a FAT partition of an image, with our bounded reader only (the
//! volume is checked when opened; `fatfs` is not involved).

use std::cell::RefCell;
use std::io::Write;
use std::ops::Range;
use std::rc::Rc;

use ddgz_disk::{check_range, Disk};

use crate::cow::Store;
use crate::volume::{DirLoc, RawEntry, Volume};
use crate::{Error, Result};

/// A file or directory as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The long name (or the 8.3 name when there is none).
    pub name: String,
    /// The 8.3 name as stored, `NAME.EXT`.
    pub short_name: String,
    /// Whether it is a directory.
    pub is_dir: bool,
    /// Size in bytes (0 for directories).
    pub size: u64,
    /// Last write, as stored (DOS time has no zone; we write UTC), `YYYY-MM-DD HH:MM:SS`.
    pub modified: String,
}

impl From<&RawEntry> for Entry {
    fn from(e: &RawEntry) -> Self {
        let (d, t) = e.modified();
        Entry {
            name: e.name.clone(),
            short_name: e.short.clone(),
            is_dir: e.is_dir(),
            size: if e.is_dir() { 0 } else { e.size() as u64 },
            modified: crate::time::format_dos(d, t),
        }
    }
}

pub(crate) fn open<'d>(
    disk: &'d dyn Disk,
    range: &Range<u64>,
    label: Option<&str>,
) -> Result<Volume<'d>> {
    let len = range.end.saturating_sub(range.start);
    check_range(disk.size(), range.start, len)?;
    let store = Rc::new(RefCell::new(Store::new(disk, range.start, len)));
    let label = label.map_or_else(|| crate::range_label(range), str::to_string);
    Volume::open(store, label)
}

fn components(path: &str) -> Vec<&str> {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect()
}

/// Lists the directory at `path` (`/`-separated, `/` or empty for the root) of the FAT
/// filesystem at byte range `range` of `disk`; for a file, that one entry. Entries come in
/// directory order, without `.` and `..`.
pub fn list(disk: &dyn Disk, range: Range<u64>, path: &str) -> Result<Vec<Entry>> {
    list_in(disk, range, None, path)
}

/// [`list`], with errors naming the volume `label` (e.g. "partition 1").
pub fn list_in(
    disk: &dyn Disk,
    range: Range<u64>,
    label: Option<&str>,
    path: &str,
) -> Result<Vec<Entry>> {
    let vol = open(disk, &range, label)?;
    let comps = components(path);
    let loc = if comps.is_empty() {
        vol.root()
    } else {
        match vol.lookup(&comps)? {
            None => {
                return Err(Error::NotFound {
                    volume: vol.label.clone(),
                    path: comps.join("/"),
                })
            }
            Some((_, e)) if !e.is_dir() => return Ok(vec![Entry::from(&e)]),
            Some((_, e)) => DirLoc::Chain(e.cluster),
        }
    };
    let l = vol.read_dir(loc, path)?;
    Ok(l.entries.iter().map(Entry::from).collect())
}

/// Writes the file at `path` of the FAT filesystem at `range` of `disk` to `out`; returns
/// its size. Errors writing `out` are [`Error::Output`] with path `-`, their `io::Error`
/// as source (so a closed pipe can be recognised).
pub fn copy_file(
    disk: &dyn Disk,
    range: Range<u64>,
    path: &str,
    out: &mut dyn Write,
) -> Result<u64> {
    copy_file_in(disk, range, None, path, out)
}

/// [`copy_file`], with errors naming the volume `label` (e.g. "partition 1").
pub fn copy_file_in(
    disk: &dyn Disk,
    range: Range<u64>,
    label: Option<&str>,
    path: &str,
    out: &mut dyn Write,
) -> Result<u64> {
    let vol = open(disk, &range, label)?;
    let comps = components(path);
    let shown = comps.join("/");
    let e = match vol.lookup(&comps)? {
        Some((_, e)) if !e.is_dir() => e,
        Some(_) => {
            return Err(Error::Conflict {
                volume: vol.label.clone(),
                path: shown,
                reason: "is a directory".into(),
            })
        }
        None => {
            return Err(Error::NotFound {
                volume: vol.label.clone(),
                path: shown,
            })
        }
    };
    let size = e.size() as u64;
    if size == 0 {
        return Ok(0);
    }
    let chain = vol.chain(e.cluster, &shown, None)?;
    let cs = vol.geo.cluster_size as u64;
    let mut left = size;
    let mut buf = Vec::new();
    // Read runs of consecutive clusters at once.
    let mut i = 0;
    while i < chain.len() && left > 0 {
        let mut j = i + 1;
        while j < chain.len() && chain[j] == chain[j - 1] + 1 && ((j - i) as u64) * cs < 8 << 20 {
            j += 1;
        }
        let n = (((j - i) as u64) * cs).min(left);
        buf.resize(n as usize, 0);
        vol.store
            .borrow_mut()
            .read_at(vol.geo.cluster_offset(chain[i]), &mut buf)
            .map_err(|e| Error::io(&vol.label, &shown, "read", e))?;
        out.write_all(&buf).map_err(|e| Error::Output {
            path: "-".into(),
            what: format!("write /{shown}"),
            source: Some(e),
        })?;
        left -= n;
        i = j;
    }
    Ok(size)
}

/// The contents of the file at `path` (see [`copy_file`]).
pub fn read_file(disk: &dyn Disk, range: Range<u64>, path: &str) -> Result<Vec<u8>> {
    let mut v = Vec::new();
    copy_file(disk, range, path, &mut v)?;
    Ok(v)
}
