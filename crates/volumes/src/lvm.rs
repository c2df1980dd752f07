//! Logical volumes: opened as disks by `VG/LV`, and described for `inspect` (the volume
//! groups, their logical volumes, segment types and the filesystem each holds).

use std::ops::Range;
use std::sync::Arc;

use ddgz_disk::Disk;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::{Facts, Place, SharedDisk, Volumes};

/// Logical volume `name` (`VG/LV`) of `found` as a disk and its whole range.
pub(crate) fn open_lv<'a>(
    found: &ddgz_lvm::Found<SharedDisk<'a>>,
    notes: &[String],
    name: &str,
) -> Result<(SharedDisk<'a>, Range<u64>)> {
    let names = found.names();
    if !names.iter().any(|n| n == name) {
        let mut known = if names.is_empty() {
            "none".to_string()
        } else {
            names.join(", ")
        };
        if !notes.is_empty() {
            known = format!("{known}; {}", notes.join("; "));
        }
        return Err(Error::NoLv {
            name: name.into(),
            found: known,
        });
    }
    let lv = found.open(name).map_err(|source| Error::Lvm {
        what: format!("logical volume {name}"),
        source,
    })?;
    let size = lv.size();
    Ok((Arc::new(lv), 0..size))
}

/// The LVM of a disk, for `inspect`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LvmReport {
    /// The volume groups.
    pub groups: Vec<VgReport>,
    /// Partitions that are PVs of no volume group.
    pub orphans: Vec<u32>,
    /// Partitions that look like LVM but could not be read, with the reason.
    pub refused: Vec<(u32, String)>,
    /// Why the volume groups could not be put together at all.
    pub error: Option<String>,
}

/// A volume group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VgReport {
    /// Its name.
    pub name: String,
    /// Its uuid.
    pub uuid: String,
    /// The metadata's sequence number.
    pub seqno: u64,
    /// Bytes per extent.
    pub extent_size: u64,
    /// The partitions that are its PVs.
    pub pvs: Vec<u32>,
    /// Its PVs the disk does not hold (uuids).
    pub missing_pvs: Vec<String>,
    /// Its visible logical volumes.
    pub lvs: Vec<LvReport>,
}

/// A logical volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LvReport {
    /// `VG/LV`.
    pub name: String,
    /// Size in bytes.
    pub size: u64,
    /// Segment types in order: `linear`, `striped`, `zero`, or lvm2's name of an
    /// unsupported one (`thin`, `snapshot`, `raid1`, `cache`, …).
    pub segments: Vec<String>,
    /// What it holds (`None` when it cannot be opened: see `error`).
    pub filesystem: Option<Facts>,
    /// Why it cannot be opened as a disk (an unsupported segment type, a missing PV).
    pub error: Option<String>,
}

fn segtype(s: &ddgz_lvm::Segment) -> String {
    match &s.kind {
        ddgz_lvm::SegmentKind::Striped { areas, .. } if areas.len() == 1 => "linear".into(),
        ddgz_lvm::SegmentKind::Striped { .. } => "striped".into(),
        ddgz_lvm::SegmentKind::Zero => "zero".into(),
        ddgz_lvm::SegmentKind::Unsupported { segtype, .. } => segtype.clone(),
    }
}

impl Volumes<'_> {
    /// The volume groups on the disk's partitions and what each logical volume holds;
    /// `None` when no partition is (or claims to be) a physical volume.
    pub fn lvm_report(&self) -> Option<LvmReport> {
        let (found, _) = match self.scan_lvm() {
            Ok(f) => f,
            Err(e) => {
                return Some(LvmReport {
                    groups: Vec::new(),
                    orphans: Vec::new(),
                    refused: Vec::new(),
                    error: Some(e.to_string()),
                })
            }
        };
        if found.groups.is_empty() && found.orphans.is_empty() && found.refused.is_empty() {
            return None;
        }
        let groups = found
            .groups
            .iter()
            .zip(&found.members)
            .map(|(vg, pvs)| {
                let m = vg.metadata();
                let lvs = vg
                    .lvs()
                    .iter()
                    .filter(|l| l.visible)
                    .map(|l| {
                        let name = format!("{}/{}", m.name, l.name);
                        let (filesystem, error) = match &l.snapshot_of {
                            Some(origin) => (
                                None,
                                Some(format!("the copy-on-write store of a snapshot of {origin}")),
                            ),
                            None => match vg.open_lv(&l.name) {
                                Ok(lv) => {
                                    let size = lv.size();
                                    let disk: SharedDisk<'_> = Arc::new(lv);
                                    let f = crate::facts::probe(
                                        &disk,
                                        &(0..size),
                                        &Place::Lv(name.clone()),
                                    );
                                    (Some(f), None)
                                }
                                Err(e) => (None, Some(e.to_string())),
                            },
                        };
                        LvReport {
                            name,
                            size: l.size,
                            segments: l.segments.iter().map(segtype).collect(),
                            filesystem,
                            error,
                        }
                    })
                    .collect();
                VgReport {
                    name: m.name.clone(),
                    uuid: m.id.clone(),
                    seqno: m.seqno,
                    extent_size: m.extent_size,
                    pvs: pvs.clone(),
                    missing_pvs: vg.missing_pvs().iter().map(|s| s.to_string()).collect(),
                    lvs,
                }
            })
            .collect();
        Some(LvmReport {
            groups,
            orphans: found.orphans.clone(),
            refused: found
                .refused
                .iter()
                .map(|(n, e)| (*n, e.to_string()))
                .collect(),
            error: None,
        })
    }

    /// What partition `n`'s filesystem says about itself (`None` when there is no such
    /// partition).
    pub fn facts(&self, n: u32) -> Option<Facts> {
        let range = self.partition_range(n).ok()?;
        Some(crate::facts::probe(
            self.disk(),
            &range,
            &Place::Partition(n),
        ))
    }
}
