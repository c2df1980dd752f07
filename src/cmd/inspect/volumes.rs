//! `inspect`'s filesystem facts, from `ddgz-volumes`: for each partition (the whole disk
//! when it has no table) what its filesystem says about itself — label, UUID or serial,
//! block or cluster size, clean or dirty, NTFS's `$LogFile` and hibernation — and the
//! LVM volume groups with the size, segment types and filesystem of each logical volume.

use std::collections::BTreeMap;
use std::sync::Arc;

use ddgz_image::Container;
use ddgz_layout::Report;
use ddgz_volumes::{Facts, LvmReport, Volumes};

use super::ordered::Node;
use crate::cli::human;

/// The facts `inspect` adds to the layout's report.
pub(super) struct FsReport {
    /// Per partition number.
    partitions: BTreeMap<u32, Facts>,
    /// The whole disk's, when it has no partition table.
    whole: Option<Facts>,
    /// The volume groups, when a partition is (or claims to be) a physical volume.
    lvm: Option<LvmReport>,
}

/// Reads the facts of the partitions `report` lists, and the LVM on them.
pub(super) fn gather(image: &dyn Container, report: &Report) -> FsReport {
    let vols = Volumes::new(Arc::new(image));
    let partitions = report
        .partitions
        .iter()
        .filter_map(|p| {
            let n = p.partition.number;
            vols.facts(n).map(|f| (n, f))
        })
        .collect();
    let whole = if report.partitions.is_empty() {
        vols.facts(0)
    } else {
        None
    };
    FsReport {
        partitions,
        whole,
        lvm: vols.lvm_report(),
    }
}

impl FsReport {
    /// Adds `filesystem` to each partition of the JSON report, and the top-level
    /// `filesystem` (a disk without a table) and `lvm`, after the fields already there.
    pub(super) fn add_json(&self, v: &mut Node) -> serde_json::Result<()> {
        if let Some(Node::Array(parts)) = v.get_mut("partitions") {
            for p in parts {
                let n = match p.get_mut("number") {
                    Some(Node::Number(n)) => n.as_u64(),
                    _ => None,
                };
                let f = n.and_then(|n| self.partitions.get(&(n as u32)));
                p.set("filesystem", Node::of(&f)?);
            }
        }
        v.set("filesystem", Node::of(&self.whole)?);
        v.set("lvm", Node::of(&self.lvm)?);
        Ok(())
    }

    /// The line under partition `n` of the text report, when the content line does not
    /// already say it all (FAT, VMFS, swap, blank and the rest are described there).
    pub(super) fn partition_line(&self, n: u32) -> Option<String> {
        match self.partitions.get(&n)? {
            Facts::Fat { .. } | Facts::Other { .. } => None,
            f => Some(f.describe()),
        }
    }

    /// The whole disk's filesystem (no table) and the LVM section, as text.
    pub(super) fn print(&self, out: &mut impl std::io::Write) -> std::io::Result<()> {
        if let Some(f) = &self.whole {
            writeln!(out, "filesystem: {}", f.describe())?;
        }
        let Some(l) = &self.lvm else {
            return Ok(());
        };
        writeln!(out)?;
        if let Some(e) = &l.error {
            writeln!(
                out,
                "LVM:        unreadable: {}",
                ddgz_image::escape(e.as_bytes())
            )?;
        }
        for g in &l.groups {
            let pvs: Vec<String> = g.pvs.iter().map(u32::to_string).collect();
            writeln!(
                out,
                "LVM:        volume group {} on partition{} {}, {} extents, seqno {}, uuid {}",
                ddgz_image::escape(g.name.as_bytes()),
                if pvs.len() == 1 { "" } else { "s" },
                pvs.join(", "),
                human(g.extent_size),
                g.seqno,
                ddgz_image::escape(g.uuid.as_bytes())
            )?;
            if !g.missing_pvs.is_empty() {
                writeln!(
                    out,
                    "            missing PVs: {}",
                    ddgz_image::escape(g.missing_pvs.join(", ").as_bytes())
                )?;
            }
            for lv in &g.lvs {
                let what = match (&lv.filesystem, &lv.error) {
                    (Some(f), _) => f.describe(),
                    (None, Some(e)) => {
                        format!("cannot be read: {}", ddgz_image::escape(e.as_bytes()))
                    }
                    (None, None) => String::new(),
                };
                writeln!(
                    out,
                    "  {:<20}  {:>9}  {:<8}  {what}",
                    ddgz_image::escape(lv.name.as_bytes()),
                    human(lv.size),
                    ddgz_image::escape(lv.segments.join(",").as_bytes()),
                )?;
            }
        }
        for n in &l.orphans {
            writeln!(
                out,
                "LVM:        partition {n} is a physical volume of no volume group"
            )?;
        }
        for (n, why) in &l.refused {
            writeln!(
                out,
                "LVM:        partition {n}: {}",
                ddgz_image::escape(why.as_bytes())
            )?;
        }
        Ok(())
    }
}
