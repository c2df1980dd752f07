//! Finding LVM on a disk: which partitions are physical volumes, which volume groups
//! they make, and the `VG/LV` names a caller can offer (`ddgz ls disk.qcow2
//! rl/root:/etc`).
//!
//! This crate does not read partition tables (ddgz-layout does, and may come to depend
//! on this crate): the caller passes each partition's number and byte range, with a
//! hint when its type says LVM. Every partition is probed for the label whatever its
//! type (2 KiB read each), as lvm does; a partition typed LVM without a label is
//! reported, not skipped in silence.

use std::ops::Range;

use ddgz_disk::Disk;

use crate::error::{Error, Result};
use crate::lv::LogicalVolume;
use crate::pv::probe;
use crate::vg::{assemble, PhysicalVolume, VolumeGroup};
use crate::Slice;

/// GPT partition type GUID of "Linux LVM".
pub const GPT_LINUX_LVM: &str = "E6D6D379-F507-44C2-A23C-238F2A3DF928";
/// MBR partition type byte of "Linux LVM".
pub const MBR_LINUX_LVM: u8 = 0x8e;

/// A partition to look at.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Its number, as the partition table gives it (0 for a whole disk).
    pub number: u32,
    /// Its bytes on the disk.
    pub range: Range<u64>,
    /// Whether its type says Linux LVM ([`GPT_LINUX_LVM`], [`MBR_LINUX_LVM`]).
    pub lvm_type: bool,
}

/// What a scan found.
#[derive(Debug)]
pub struct Found<D: Disk> {
    /// The volume groups, each over the partitions that are its PVs.
    pub groups: Vec<VolumeGroup<Slice<D>>>,
    /// Partition numbers of each group's PVs, in the order of `groups`.
    pub members: Vec<Vec<u32>>,
    /// PVs in no volume group (partition numbers).
    pub orphans: Vec<u32>,
    /// Partitions that look like LVM but could not be read, with the reason: a damaged
    /// label, or the LVM type without a label.
    pub refused: Vec<(u32, Error)>,
}

/// Looks for physical volumes among `parts` of `disk` and puts their volume groups
/// together. A partition that fails to read is listed in [`Found::refused`], so one bad
/// partition does not hide the others; only a read error of the disk itself, or PVs
/// that cannot be grouped at all (two with one uuid), fails the scan.
pub fn scan<D: Disk + Clone>(
    disk: D,
    parts: impl IntoIterator<Item = Candidate>,
) -> Result<Found<D>> {
    let mut pvs = Vec::new();
    let mut numbers = Vec::new();
    let mut refused = Vec::new();
    for c in parts {
        let len = c.range.end.saturating_sub(c.range.start);
        let Ok(slice) = Slice::new(disk.clone(), c.range.start, len) else {
            refused.push((
                c.number,
                Error::Corrupt(format!(
                    "partition {}: bytes {}..{} lie outside the disk ({} bytes)",
                    c.number,
                    c.range.start,
                    c.range.end,
                    disk.size()
                )),
            ));
            continue;
        };
        match PhysicalVolume::open(slice) {
            Ok(pv) => {
                pvs.push(pv);
                numbers.push(c.number);
            }
            Err(Error::NotLvm(why)) if c.lvm_type => refused.push((
                c.number,
                Error::NotLvm(format!(
                    "partition {} has the Linux LVM type but {why}",
                    c.number
                )),
            )),
            Err(Error::NotLvm(_)) => {}
            Err(e) => refused.push((c.number, e)),
        }
    }
    let uuids: Vec<(String, u32)> = pvs
        .iter()
        .map(|p| p.label().uuid.clone())
        .zip(numbers)
        .collect();
    let number_of = |uuid: &str| uuids.iter().find(|(u, _)| u == uuid).map(|(_, n)| *n);
    let a = assemble(pvs)?;
    let members = a
        .groups
        .iter()
        .map(|vg| {
            vg.metadata()
                .pvs
                .iter()
                .filter_map(|p| number_of(&p.uuid))
                .collect()
        })
        .collect();
    let orphans = a
        .orphans
        .iter()
        .filter_map(|p| number_of(&p.label().uuid))
        .collect();
    Ok(Found {
        groups: a.groups,
        members,
        orphans,
        refused,
    })
}

/// Whether `disk` (a partition) starts with an LVM2 label: [`crate::probe`].
pub fn is_pv(disk: &dyn Disk) -> bool {
    probe(disk)
}

/// Splits `VG/LV` into its names, if both are valid lvm2 names (letters, digits,
/// `+_.-`, not starting with `-`, not `.` or `..`).
pub fn split_name(s: &str) -> Option<(&str, &str)> {
    let (vg, lv) = s.split_once('/')?;
    let ok = |n: &str| {
        !n.is_empty()
            && n.len() <= 127
            && !n.starts_with('-')
            && n != "."
            && n != ".."
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'_' | b'.' | b'-'))
    };
    (ok(vg) && ok(lv)).then_some((vg, lv))
}

impl<D: Disk> Found<D> {
    /// `VG/LV` of every visible logical volume, in metadata order.
    pub fn names(&self) -> Vec<String> {
        self.groups
            .iter()
            .flat_map(|vg| {
                vg.lvs()
                    .iter()
                    .filter(|l| l.visible)
                    .map(move |l| format!("{}/{}", vg.name(), l.name))
            })
            .collect()
    }

    /// The logical volume named `VG/LV` as a disk.
    pub fn open(&self, name: &str) -> Result<LogicalVolume<Slice<D>>> {
        let Some((vg, lv)) = split_name(name) else {
            return Err(Error::NotFound(format!("{name} (not a VG/LV name)")));
        };
        let Some(g) = self.groups.iter().find(|g| g.name() == vg) else {
            let known: Vec<&str> = self.groups.iter().map(|g| g.name()).collect();
            return Err(Error::NotFound(format!(
                "{name} (volume groups found: {})",
                if known.is_empty() {
                    "none".into()
                } else {
                    known.join(", ")
                }
            )));
        };
        g.open_lv(lv)
    }
}
