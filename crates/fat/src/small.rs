//! Files inside a FAT partition looked up by path and read whole only up to a size the
//! caller names (what a profile reads: `boot.cfg`, hooks, a scripts tarball).

use std::ops::Range;

use crate::Entry;
use ddgz_disk::Disk;

/// A file looked up by path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Small {
    /// Its content.
    File(Vec<u8>),
    /// A file larger than the limit: its size.
    TooLarge(u64),
    /// A directory, not a file.
    Dir,
    /// Nothing by that name.
    Missing,
}

fn label(part: u32) -> String {
    format!("partition {part}")
}

/// The entry at `path` (`/`-separated, from the root; matched without case, as FAT does)
/// in the FAT filesystem at `range`, or `None`.
pub fn stat(
    disk: &dyn Disk,
    range: Range<u64>,
    part: u32,
    path: &str,
) -> Result<Option<Entry>, crate::Error> {
    let path = path.trim_matches('/');
    let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
    let listing = match crate::list_in(disk, range, Some(&label(part)), dir) {
        Ok(l) => l,
        Err(crate::Error::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e),
    };
    // A `dir` that is a file lists as that one file: its name differs from `name`, or the
    // caller asked for `file/file`; either way `name` is not inside a directory.
    let parent_is_dir = dir.is_empty()
        || listing.len() != 1
        || listing[0].is_dir
        || !listing[0]
            .name
            .eq_ignore_ascii_case(dir.rsplit('/').next().unwrap_or(dir));
    if !parent_is_dir {
        return Ok(None);
    }
    Ok(listing
        .into_iter()
        .find(|e| e.name.eq_ignore_ascii_case(name) || e.short_name.eq_ignore_ascii_case(name)))
}

/// The file at `path`, read whole when it has at most `max` bytes.
pub fn read_small(
    disk: &dyn Disk,
    range: Range<u64>,
    part: u32,
    path: &str,
    max: u64,
) -> Result<Small, crate::Error> {
    match stat(disk, range.clone(), part, path)? {
        None => Ok(Small::Missing),
        Some(e) if e.is_dir => Ok(Small::Dir),
        Some(e) if e.size > max => Ok(Small::TooLarge(e.size)),
        Some(_) => {
            let mut v = Vec::new();
            crate::copy_file_in(disk, range, Some(&label(part)), path, &mut v)?;
            Ok(Small::File(v))
        }
    }
}

/// The entries of the directory at `path`, or `None` when there is no directory there.
pub fn list_dir(
    disk: &dyn Disk,
    range: Range<u64>,
    part: u32,
    path: &str,
) -> Result<Option<Vec<Entry>>, crate::Error> {
    match stat(disk, range.clone(), part, path)? {
        Some(e) if e.is_dir => crate::list_in(disk, range, Some(&label(part)), path).map(Some),
        _ => Ok(None),
    }
}
