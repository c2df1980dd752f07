//! `--add` routed by filesystem: files for a FAT partition go to `ddgz-fat`, files for an
//! NTFS partition to `ddgz-ntfs`'s writer. On a Windows image (an NTFS partition holding
//! `Windows/System32`, whose partition 1 is the FAT ESP), the specs that name no partition
//! (`--add curtin`: partition 1 by default) go to the Windows partition, where curtin looks
//! for `curtin/`; `--add N:SRC` names partition N itself.

use std::collections::BTreeMap;
use std::ops::Range;

use ddgz_disk::{Disk, Patch};
use ddgz_fat::AddSpec;
use ddgz_ntfs::find::{probe, windows_partition, Probe};
use ddgz_ntfs::write::{self, Spec, WriteError};

use crate::{Error, ErrorKind, Result};

/// The partitions of `disk` with their byte ranges (none when it has no partition table:
/// then every spec goes to FAT as before).
fn ranges(disk: &dyn Disk) -> Vec<(u32, Range<u64>)> {
    let Ok(parts) = ddgz_layout::partitions(disk) else {
        return Vec::new();
    };
    parts
        .iter()
        .filter_map(|p| {
            ddgz_layout::range_in_disk(p, disk.size())
                .ok()
                .map(|r| (p.number, r))
        })
        .collect()
}

fn is_ntfs(disk: &dyn Disk, parts: &[(u32, Range<u64>)], n: u32) -> bool {
    parts
        .iter()
        .find(|p| p.0 == n)
        .is_some_and(|(_, r)| !matches!(probe(disk, r.clone()), Probe::NotNtfs(_)))
}

/// The exit-code kind of a writer error.
fn from_write(e: WriteError) -> Error {
    let kind = match e {
        WriteError::Exists(_) | WriteError::Conflict { .. } | WriteError::BadName { .. } => {
            ErrorKind::Usage
        }
        _ => ErrorKind::Input,
    };
    Error::wrap(kind, e)
}

/// The patches for `specs`: FAT partitions through `ddgz_fat::plan`, NTFS ones through the
/// NTFS writer. `default_to_windows`: specs for partition 1 go to the Windows partition
/// when partition 1 is not NTFS and one NTFS partition holds `Windows/System32`.
pub fn plan(
    disk: &dyn Disk,
    specs: &[AddSpec],
    replace: bool,
    default_to_windows: bool,
) -> Result<Vec<Patch>> {
    let parts = ranges(disk);
    let mut ntfs_cache: BTreeMap<u32, bool> = BTreeMap::new();
    let mut ntfs = |n: u32| {
        *ntfs_cache
            .entry(n)
            .or_insert_with(|| is_ntfs(disk, &parts, n))
    };
    let windows = if default_to_windows
        && specs.iter().any(|s| s.partition == 1)
        && !ntfs(1)
        && parts.iter().any(|p| p.0 != 1)
    {
        windows_partition(disk, &parts, None).ok().map(|(n, _)| n)
    } else {
        None
    };
    let mut fat = Vec::new();
    let mut by_ntfs: BTreeMap<u32, Vec<Spec>> = BTreeMap::new();
    for s in specs {
        let n = match windows {
            Some(w) if s.partition == 1 => w,
            _ => s.partition,
        };
        if ntfs(n) {
            by_ntfs.entry(n).or_default().push(Spec {
                src: s.src.clone(),
                dest: s.dest.clone(),
            });
        } else {
            fat.push(s.clone());
        }
    }
    let mut out = if fat.is_empty() {
        Vec::new()
    } else {
        ddgz_fat::plan(disk, &fat, replace, |n| {
            ddgz_layout::partition_range(disk, n)
        })?
    };
    for (n, group) in by_ntfs {
        let range = parts
            .iter()
            .find(|p| p.0 == n)
            .map(|p| p.1.clone())
            .expect("an NTFS partition was found in the list");
        let patches = write::add_files(disk, range, &group, replace)
            .map_err(|e| from_write(e).context(format!("partition {n} (NTFS)")))?;
        out.extend(patches);
    }
    out.sort_by_key(|p| p.offset);
    Ok(out)
}
