//! What a volume holds, from its first bytes: the filesystem to open, or what to name
//! when it is none that ddgz reads.

use std::ops::Range;

use crate::error::{fs_err, Result};
use crate::{Place, SharedDisk};

/// What the first bytes of a volume say it is.
pub(crate) fn sniff(head: &[u8]) -> Option<&'static str> {
    let at = |r: Range<usize>| head.get(r);
    if at(3..11) == Some(b"NTFS    ") {
        Some("NTFS")
    } else if at(3..11) == Some(b"EXFAT   ") {
        Some("exFAT")
    } else if at(1080..1082) == Some(&[0x53, 0xEF]) {
        Some("ext")
    } else if at(0..4) == Some(b"XFSB") {
        Some("XFS")
    } else if head.len() >= 512 && ddgz_fat::looks_like_fat(head) {
        Some("FAT")
    } else if at(512..520) == Some(b"LABELONE") || at(0..8) == Some(b"LABELONE") {
        Some("LVM")
    } else if at(4086..4096) == Some(b"SWAPSPACE2") {
        Some("swap")
    } else {
        None
    }
}

/// What `range` of `disk` holds, from its first bytes `head` ([`sniff`]); a volume that
/// carries both a FAT boot sector and the ext magic is FAT when it reads as FAT (the
/// magic's bytes are then a FAT entry).
pub(crate) fn detect(
    disk: &SharedDisk<'_>,
    range: &Range<u64>,
    head: &[u8],
) -> Option<&'static str> {
    match sniff(head) {
        Some("ext")
            if ddgz_fat::looks_like_fat(head)
                && matches!(
                    ddgz_fat::probe(&**disk, range.clone()),
                    Ok(ddgz_fat::Probe::Fat(_))
                ) =>
        {
            Some("FAT")
        }
        other => other,
    }
}

/// The first 8 KiB of `range` (fewer when it is smaller).
pub(crate) fn head(disk: &SharedDisk<'_>, range: &Range<u64>, place: &Place) -> Result<Vec<u8>> {
    let len = (range.end - range.start).min(8192) as usize;
    let mut head = vec![0u8; len];
    disk.read_at(range.start, &mut head)
        .map_err(|e| fs_err(place, e))?;
    Ok(head)
}

/// What a volume that is not a readable filesystem holds, for the error.
pub(crate) fn unsupported(
    disk: &SharedDisk<'_>,
    range: &Range<u64>,
    head: &[u8],
    sniffed: Option<&str>,
) -> String {
    match sniffed {
        Some("LVM") => "an LVM2 physical volume (name its logical volumes as VG/LV:PATH)".into(),
        Some("swap") => "Linux swap".into(),
        Some("exFAT") => "exFAT".into(),
        _ => match ddgz_vmfs::probe(&**disk, range.clone()) {
            Ok(ddgz_vmfs::Probe::Volume(_) | ddgz_vmfs::Probe::Invalid { .. }) => "VMFS".into(),
            _ => match ddgz_disk::first_data(&**disk, range.start, range.end - range.start) {
                Ok(None) => "blank (all zero)".into(),
                _ if head.iter().all(|&b| b == 0) => {
                    "no filesystem (its first 8 KiB are zero)".into()
                }
                _ => "unknown data".into(),
            },
        },
    }
}
