//! Volume groups put together from physical volumes: the newest valid metadata copy by
//! `seqno` over every metadata area of every PV, PVs matched to the metadata by uuid.

use std::sync::Arc;

use ddgz_disk::Disk;

use crate::error::{corrupt, Error, Result};
use crate::lv::{LogicalVolume, Mapping, Piece};
use crate::meta::{parse_vg, vg_section, LvMeta, SegmentKind, VgMeta};
use crate::pv::{read_label, read_metadata, Label};
use crate::text::parse;

/// A physical volume: its label and the metadata copies of its areas, parsed.
#[derive(Debug)]
pub struct PhysicalVolume<D: Disk> {
    disk: Arc<D>,
    label: Label,
    /// The newest copy (by `seqno`) that passed its checksums and parsed, as a VG
    /// model: one per PV, so memory grows with the PVs, not with their areas.
    copy: Option<VgMeta>,
    /// Why the other copies were refused.
    refused: Vec<String>,
}

impl<D: Disk> PhysicalVolume<D> {
    /// Reads the label, the PV header and the committed metadata of each metadata
    /// area. A damaged area is set aside (its reason kept) as long as the label is good:
    /// another area or PV may hold a good copy.
    pub fn open(disk: D) -> Result<Self> {
        let label = read_label(&disk)?;
        let mut copy: Option<VgMeta> = None;
        let mut refused = Vec::new();
        for &area in &label.metadata_areas {
            let this = read_metadata(&disk, area).and_then(|c| match c {
                None => Ok(None),
                Some(c) => {
                    let top = parse(&c.text)?;
                    let (name, vg) = vg_section(&top)?;
                    parse_vg(name, vg).map(Some)
                }
            });
            match this {
                Ok(Some(m)) => {
                    if copy.as_ref().is_none_or(|c| c.seqno < m.seqno) {
                        copy = Some(m);
                    }
                }
                Ok(None) => {}
                Err(e @ Error::Read { .. }) => return Err(e),
                Err(Error::Corrupt(m)) if m.starts_with("metadata area at") => {
                    refused.push(format!("PV {}: {m}", dashed(&label.uuid)));
                }
                Err(Error::Corrupt(m)) => refused.push(format!(
                    "PV {}: metadata area at byte {}: {m}",
                    dashed(&label.uuid),
                    area.offset
                )),
                Err(e) => refused.push(format!(
                    "PV {}: metadata area at byte {}: {e}",
                    dashed(&label.uuid),
                    area.offset
                )),
            }
        }
        Ok(Self {
            disk: Arc::new(disk),
            label,
            copy,
            refused,
        })
    }

    /// The label and PV header.
    pub fn label(&self) -> &Label {
        &self.label
    }

    /// The uuid as lvm2 prints it (`xxxxxx-xxxx-…`).
    pub fn uuid(&self) -> String {
        dashed(&self.label.uuid)
    }

    /// Why metadata copies on this PV were refused (empty when all were good).
    pub fn refused(&self) -> &[String] {
        &self.refused
    }

    /// The name of the VG the newest good copy on this PV describes, if any.
    pub fn vg_name(&self) -> Option<&str> {
        self.copy.as_ref().map(|m| m.name.as_str())
    }
}

/// lvm2's printed form of a 32-character uuid: 6-4-4-4-4-4-6.
pub fn dashed(uuid: &str) -> String {
    let mut out = String::with_capacity(38);
    for (i, c) in uuid.chars().enumerate() {
        if matches!(i, 6 | 10 | 14 | 18 | 22 | 26) {
            out.push('-');
        }
        out.push(c);
    }
    out
}

/// A volume group: its metadata and the disks of its PVs that were found.
#[derive(Debug)]
pub struct VolumeGroup<D: Disk> {
    meta: VgMeta,
    /// One per PV of the metadata, in its order; `None` when missing.
    disks: Vec<Option<Arc<D>>>,
}

impl<D: Disk> VolumeGroup<D> {
    /// Puts together the volume group of `disks`, which must all be PVs of one VG.
    pub fn open(disks: impl IntoIterator<Item = D>) -> Result<Self> {
        let pvs = disks
            .into_iter()
            .map(PhysicalVolume::open)
            .collect::<Result<Vec<_>>>()?;
        let given = pvs.len();
        let Assembly {
            groups: mut vgs,
            orphans,
        } = assemble(pvs)?;
        if vgs.is_empty() {
            return Err(corrupt(format!("none of the {given} PVs holds metadata")));
        }
        if let Some(pv) = orphans.first() {
            return Err(corrupt(format!(
                "PV {} is in no volume group the metadata describes",
                pv.uuid()
            )));
        }
        if vgs.len() > 1 {
            return Err(corrupt(format!(
                "the PVs belong to {} volume groups ({})",
                vgs.len(),
                vgs.iter().map(|v| v.name()).collect::<Vec<_>>().join(", ")
            )));
        }
        Ok(vgs.remove(0))
    }

    /// The checked metadata.
    pub fn metadata(&self) -> &VgMeta {
        &self.meta
    }

    /// The VG's name.
    pub fn name(&self) -> &str {
        &self.meta.name
    }

    /// The metadata's sequence number (the newest copy's).
    pub fn seqno(&self) -> u64 {
        self.meta.seqno
    }

    /// The logical volumes, hidden ones included (see [`LvMeta::visible`]).
    pub fn lvs(&self) -> &[LvMeta] {
        &self.meta.lvs
    }

    /// Names of the PVs of the metadata that were not among the disks.
    pub fn missing_pvs(&self) -> Vec<&str> {
        self.meta
            .pvs
            .iter()
            .zip(&self.disks)
            .filter(|(_, d)| d.is_none())
            .map(|(p, _)| p.name.as_str())
            .collect()
    }

    /// The logical volume `name` as a [`Disk`]. Fails, naming the LV and the type, for
    /// a segment type other than linear, striped or zero, or for a snapshot's store; and
    /// for a segment on a missing PV or past the end of its PV's disk.
    pub fn open_lv(&self, name: &str) -> Result<LogicalVolume<D>> {
        let vg = &self.meta.name;
        let lv = self
            .meta
            .lvs
            .iter()
            .find(|l| l.name == name)
            .ok_or_else(|| Error::NotFound(format!("{vg}/{name}")))?;
        let full = format!("{vg}/{name}");
        if let Some(origin) = &lv.snapshot_of {
            return Err(Error::Unsupported {
                lv: full,
                segtype: "snapshot".into(),
                detail: format!(
                    "a snapshot of {vg}/{origin}: this volume holds its copy-on-write \
                     exceptions, not its content"
                ),
            });
        }
        self.map(lv, full)
    }

    fn map(&self, lv: &LvMeta, full: String) -> Result<LogicalVolume<D>> {
        let es = self.meta.extent_size;
        let mut pieces = Vec::with_capacity(lv.segments.len());
        for seg in &lv.segments {
            // Both products are bounded by the LV size, checked when parsed.
            let start = seg.start_extent * es;
            let len = seg.extent_count * es;
            let mapping = match &seg.kind {
                SegmentKind::Zero => Mapping::Zero,
                SegmentKind::Unsupported {
                    segtype, detail, ..
                } => {
                    return Err(Error::Unsupported {
                        lv: full,
                        segtype: segtype.clone(),
                        detail: detail.clone(),
                    })
                }
                SegmentKind::Striped { stripe_size, areas } => {
                    let width = len / areas.len() as u64;
                    let mut stripes = Vec::with_capacity(areas.len());
                    for &(pv, pe) in areas {
                        let meta = &self.meta.pvs[pv];
                        let Some(disk) = &self.disks[pv] else {
                            return Err(Error::MissingPv {
                                lv: full,
                                pv: meta.name.clone(),
                                uuid: dashed(&meta.uuid),
                            });
                        };
                        // pe + width/es <= pe_count, and pe_start + pe_count * es was
                        // checked not to overflow.
                        let at = meta.pe_start + pe * es;
                        if at + width > disk.size() {
                            return Err(corrupt(format!(
                                "logical volume {full}: bytes {at}..{} on {} lie past the end \
                                 of its disk ({} bytes)",
                                at + width,
                                meta.name,
                                disk.size()
                            )));
                        }
                        stripes.push((Arc::clone(disk), at));
                    }
                    Mapping::Striped {
                        stripe_size: *stripe_size,
                        stripes,
                    }
                }
            };
            pieces.push(Piece {
                start,
                len,
                mapping,
            });
        }
        Ok(LogicalVolume::new(full, lv.size, pieces))
    }
}

/// What [`assemble`] made of a set of PVs.
#[derive(Debug)]
pub struct Assembly<D: Disk> {
    /// The volume groups, in the order their metadata was first met.
    pub groups: Vec<VolumeGroup<D>>,
    /// PVs that no group's metadata lists (fresh `pvcreate`s, stale leftovers).
    pub orphans: Vec<PhysicalVolume<D>>,
}

/// Groups physical volumes into volume groups: for each VG (by uuid) the copy with the
/// highest `seqno` over all PVs wins, and each PV joins the VG whose winning copy lists
/// its uuid. Returns the VGs and the PVs in none (orphans). Fails when two PVs share a
/// uuid, and when no copy at all is good but some were refused (every reason given).
pub fn assemble<D: Disk>(pvs: Vec<PhysicalVolume<D>>) -> Result<Assembly<D>> {
    for (i, a) in pvs.iter().enumerate() {
        if let Some(b) = pvs[..i].iter().find(|b| b.label.uuid == a.label.uuid) {
            return Err(corrupt(format!(
                "two PVs carry uuid {} (a cloned disk?)",
                b.uuid()
            )));
        }
    }
    let mut newest: Vec<VgMeta> = Vec::new();
    for m in pvs.iter().filter_map(|p| p.copy.as_ref()) {
        match newest.iter_mut().find(|n| n.id == m.id) {
            Some(n) if n.seqno >= m.seqno => {}
            Some(n) => *n = m.clone(),
            None => newest.push(m.clone()),
        }
    }
    if newest.is_empty() {
        let refused: Vec<&String> = pvs.iter().flat_map(|p| &p.refused).collect();
        if !refused.is_empty() {
            return Err(corrupt(format!(
                "no valid metadata copy: {}",
                refused
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join("; ")
            )));
        }
    }
    let mut slots: Vec<Option<PhysicalVolume<D>>> = pvs.into_iter().map(Some).collect();
    let mut vgs = Vec::new();
    for meta in newest {
        let disks = meta
            .pvs
            .iter()
            .map(|p| {
                slots
                    .iter_mut()
                    .find(|s| s.as_ref().is_some_and(|s| s.label.uuid == p.uuid))
                    .and_then(Option::take)
                    .map(|pv| pv.disk)
            })
            .collect();
        vgs.push(VolumeGroup { meta, disks });
    }
    Ok(Assembly {
        groups: vgs,
        orphans: slots.into_iter().flatten().collect(),
    })
}
