//! Finding NTFS on a disk: which partitions hold an NTFS volume, and which of them holds
//! Windows (`Windows/System32`), for the CLI's `ls`/`cat`/`inspect` and the Windows
//! layout checks. The partition table is read by the caller (`ddgz-layout`); this module
//! takes the byte ranges, so the crate stays below the layout checks that will use it.

use std::ops::Range;

use ddgz_disk::Disk;

use crate::{Error, Volume};

/// The directory whose presence marks the Windows partition.
pub const WINDOWS_MARK: &str = "Windows/System32";

/// What one partition turned out to be.
#[derive(Debug)]
pub enum Probe<D: Disk> {
    /// An NTFS volume, opened.
    Ntfs(Volume<D>),
    /// No NTFS boot sector (another filesystem, or none): why.
    NotNtfs(String),
    /// An NTFS boot sector, but the volume could not be opened.
    Broken(Error),
}

/// Opens partition `range` of `disk` as NTFS, telling apart "not NTFS" from "NTFS but
/// broken" (which a caller reports rather than skips).
pub fn probe<D: Disk>(disk: D, range: Range<u64>) -> Probe<D> {
    let len = range.end.saturating_sub(range.start);
    match Volume::open(disk, range.start, len) {
        Ok(v) => Probe::Ntfs(v),
        Err(Error::NotNtfs(why)) => Probe::NotNtfs(why),
        Err(e) => Probe::Broken(e),
    }
}

/// Why the Windows partition could not be chosen.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FindError {
    /// `--partition N` names no partition.
    #[error("no partition {number} (partitions: {existing:?})")]
    NoSuchPartition {
        /// The number asked for.
        number: u32,
        /// The numbers there are.
        existing: Vec<u32>,
    },
    /// The partition asked for, or the only candidate, is NTFS but broken.
    #[error("partition {number}: {source}")]
    Open {
        /// The partition.
        number: u32,
        /// Why it could not be read.
        #[source]
        source: Error,
    },
    /// The partition asked for is not NTFS.
    #[error("partition {number} is not NTFS: {why}")]
    NotNtfs {
        /// The partition.
        number: u32,
        /// Why.
        why: String,
    },
    /// No NTFS partition holds `Windows/System32`; what each partition is.
    #[error("no NTFS partition holds {WINDOWS_MARK} ({})", notes.join("; "))]
    None {
        /// One note per partition: "3: NTFS, no Windows/System32".
        notes: Vec<String>,
    },
    /// Several do: the caller must choose.
    #[error("partitions {numbers:?} all hold {WINDOWS_MARK}; choose one")]
    Several {
        /// Their numbers.
        numbers: Vec<u32>,
    },
}

/// The Windows partition among `parts` (number and byte range): partition `want` when
/// given (it must be NTFS), else the one NTFS partition holding `Windows/System32`.
pub fn windows_partition<D: Disk + Clone>(
    disk: D,
    parts: &[(u32, Range<u64>)],
    want: Option<u32>,
) -> Result<(u32, Volume<D>), FindError> {
    if let Some(n) = want {
        let Some((_, r)) = parts.iter().find(|p| p.0 == n) else {
            return Err(FindError::NoSuchPartition {
                number: n,
                existing: parts.iter().map(|p| p.0).collect(),
            });
        };
        return match probe(disk, r.clone()) {
            Probe::Ntfs(v) => Ok((n, v)),
            Probe::NotNtfs(why) => Err(FindError::NotNtfs { number: n, why }),
            Probe::Broken(source) => Err(FindError::Open { number: n, source }),
        };
    }
    let mut found = Vec::new();
    let mut notes = Vec::new();
    for (n, r) in parts {
        match probe(disk.clone(), r.clone()) {
            Probe::Ntfs(v) => match v.lookup(WINDOWS_MARK) {
                Ok(Some(f)) if f.is_directory() => found.push((*n, v)),
                Ok(_) => notes.push(format!("{n}: NTFS, no {WINDOWS_MARK}")),
                Err(e) => notes.push(format!("{n}: NTFS, {e}")),
            },
            Probe::NotNtfs(_) => notes.push(format!("{n}: not NTFS")),
            Probe::Broken(e) => notes.push(format!("{n}: {e}")),
        }
    }
    match found.len() {
        1 => Ok(found.pop().expect("one")),
        0 => Err(FindError::None { notes }),
        _ => Err(FindError::Several {
            numbers: found.iter().map(|f| f.0).collect(),
        }),
    }
}
