//! Identify and validate what is on a disk: the partition table ([`ddgz_partitions`]), what
//! each partition holds ([`ddgz_content`]), and the checks of a profile — those every disk
//! gets (table, filesystems) and, for ESXi, [`ddgz_esxi`]'s layout and MAAS readiness, for
//! Windows [`ddgz_windows`]'s, for a Linux dd image [`ddgz_linux`]'s readiness — as
//! [`Findings`] with stable codes ([`codes`]).
//!
//! Which profile's errors stop `convert` (and fail `verify`): the layout's always, and MAAS
//! readiness's when the profile is one whose images exist only for MAAS (ESXi, Windows:
//! packer-maas builds them to be deployed). A Linux disk is converted for many purposes,
//! so the Linux dd readiness is *advisory* ([`Readiness::advisory`]): `validate` fails on
//! its errors (the image is not fit for a MAAS dd deployment), `convert` and `verify`
//! print them and go on, unless `convert --upload` sends the image to MAAS now.
//!
//! Everything here reads a [`Disk`] through `read_at` and `extents` and reads only
//! headers, FAT metadata and extent maps — never whole partitions — so [`validate`] is cheap
//! enough to run before every conversion. Every value read from the disk is untrusted:
//! sizes are range-checked before use, allocations are capped, and problems come back as
//! typed errors or findings that name the offset and the value.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod checks;
pub mod codes;
mod report;

use ddgz_disk::Disk;
use serde::Serialize;

pub use ddgz_content::{Content, PartitionReport};
pub use ddgz_findings::{Finding, Severity};
pub use ddgz_partitions::{
    gpt, guid, mbr, partition_range, partitions, range_in_disk, table, Error, Guid, Partition,
    PartitionType, Table, TableSource, SECTOR,
};
pub use report::{Report, TableInfo};

/// Which set of checks to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// `esxi` when the partition type GUIDs say ESXi, else `generic`.
    #[default]
    Auto,
    /// Partition table, VMFS headers and the ESXi 6.x / 7.0 / 8.0 layouts.
    Esxi,
    /// Partition table (GPT or MBR) and whatever filesystems are recognised.
    Generic,
    /// A Windows disk (an NTFS partition holding `Windows/System32`): its layout, edition
    /// and MAAS readiness ([`ddgz_windows`]).
    Windows,
    /// A Linux dd image (a root on a partition or a logical volume): MAAS readiness
    /// ([`ddgz_linux`]).
    Linux,
}

impl Profile {
    /// Its name, as `--profile` and the JSON say it.
    pub fn name(self) -> &'static str {
        match self {
            Profile::Auto => "auto",
            Profile::Esxi => "esxi",
            Profile::Generic => "generic",
            Profile::Windows => "windows",
            Profile::Linux => "linux",
        }
    }
}

/// The findings of [`validate`]: the layout's, and MAAS readiness in a section of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Findings {
    /// The profile actually applied (`auto` resolved to `esxi` or `generic`).
    pub profile: Profile,
    /// Partition table, filesystem and layout findings, errors first.
    pub items: Vec<Finding>,
    /// What a MAAS deployment needs from the image (curtin hooks, scripts, room to unpack
    /// them): [`ddgz_esxi::readiness`].
    pub maas_readiness: Readiness,
}

/// The MAAS readiness section of [`Findings`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
#[non_exhaustive]
pub struct Readiness {
    /// Whether the checks ran (they do for the `esxi`, `windows` and `linux` profiles).
    pub checked: bool,
    /// Whether its errors only fail `validate`, not `convert` or `verify` (the `linux`
    /// profile: see the crate's documentation).
    pub advisory: bool,
    /// Findings, errors first.
    pub items: Vec<Finding>,
}

impl Findings {
    /// Every finding, the layout's then readiness's.
    pub fn all(&self) -> impl Iterator<Item = &Finding> {
        self.items.iter().chain(&self.maas_readiness.items)
    }
    /// How many findings have severity `s`.
    pub fn count(&self, s: Severity) -> usize {
        self.all().filter(|f| f.severity == s).count()
    }
    /// Whether any finding is an error.
    pub fn has_errors(&self) -> bool {
        self.count(Severity::Error) > 0
    }
    /// How many errors stop `convert` and fail `verify`: every error, but those of an
    /// [`Readiness::advisory`] readiness section.
    pub fn blocking_errors(&self) -> usize {
        let readiness = if self.maas_readiness.advisory {
            0
        } else {
            self.maas_readiness
                .items
                .iter()
                .filter(|f| f.severity == Severity::Error)
                .count()
        };
        self.items
            .iter()
            .filter(|f| f.severity == Severity::Error)
            .count()
            + readiness
    }
    /// Whether any finding is a warning.
    pub fn has_warnings(&self) -> bool {
        self.count(Severity::Warning) > 0
    }
    /// Turns every error or warning whose code is in `codes` into a [`Severity::Note`]
    /// (what `--allow CODE` does); returns the codes that matched nothing.
    pub fn allow<'c>(&mut self, codes: &'c [String]) -> Vec<&'c str> {
        let mut used = vec![false; codes.len()];
        for f in self.items.iter_mut().chain(&mut self.maas_readiness.items) {
            if let Some(i) = codes.iter().position(|c| c == f.code) {
                used[i] = true;
                if matches!(f.severity, Severity::Error | Severity::Warning) {
                    f.allowed = Some(f.severity);
                    f.severity = Severity::Note;
                }
            }
        }
        codes
            .iter()
            .zip(used)
            .filter(|(_, u)| !u)
            .map(|(c, _)| c.as_str())
            .collect()
    }
}

/// The table, the content of every partition and all findings, computed once.
fn analyze(disk: &dyn Disk, profile: Profile) -> Result<Report, Error> {
    let checked = checks::check_table(disk)?;
    let mut items = checked.findings;
    let mut parts = Vec::new();
    if let Some(t) = &checked.table {
        for p in &t.partitions {
            parts.push(PartitionReport {
                partition: p.clone(),
                content: ddgz_content::probe_content(disk, p)?,
            });
        }
    }
    // Filesystem findings, whatever the profile.
    let mut volumes = Vec::new();
    for p in &parts {
        let n = Some(p.partition.number);
        match &p.content {
            Content::Invalid { what, reason } if what == "VMFS" => {
                items.push(Finding::error("vmfs-damaged", n, format!("VMFS: {reason}")))
            }
            Content::Invalid { what, reason } => items.push(Finding::warning(
                "fat-damaged",
                n,
                format!("{what}: {reason}"),
            )),
            Content::Vmfs(v) => volumes.push((p.partition.number, v)),
            _ => {}
        }
    }
    if !volumes.is_empty() {
        let list = volumes
            .iter()
            .map(|(n, v)| {
                format!(
                    "partition {n} {} \"{}\" UUID {}",
                    v.version_name, v.label, v.uuid
                )
            })
            .collect::<Vec<_>>()
            .join(", ");
        items.push(Finding::warning("vmfs-clone-uuid", 
            None,
            format!(
                "every host deployed from this image gets the same VMFS volume UUIDs ({list}); VMware does not support cloning ESXi boot devices (KB 84280) and reports data corruption on shared VMFS when cloned hosts carry the same UUIDs (KB 84349)"
            ),
        ));
    }
    let mut resolved = match (profile, &checked.table) {
        (Profile::Auto, Some(t)) if ddgz_esxi::looks_esxi(t) => Profile::Esxi,
        (Profile::Auto, Some(_))
            if !matches!(
                ddgz_windows::locate(disk, &parts),
                ddgz_windows::Located::None(_)
            ) =>
        {
            Profile::Windows
        }
        (Profile::Auto, _) => Profile::Linux, // Generic below when no root is found
        (p, _) => p,
    };
    let mut maas_readiness = Readiness::default();
    let mut windows = None;
    let mut linux = None;
    match (resolved, &checked.table) {
        (Profile::Esxi, Some(t)) => {
            ddgz_esxi::check(t, &parts, &mut items);
            maas_readiness = Readiness {
                checked: true,
                advisory: false,
                items: ddgz_esxi::readiness::check(disk, &parts),
            };
        }
        (Profile::Windows, Some(t)) => {
            let c = ddgz_windows::check(disk, t, &parts);
            items.extend(c.layout);
            windows = c.windows;
            maas_readiness = Readiness {
                checked: true,
                advisory: false,
                items: c.readiness,
            };
        }
        (Profile::Linux, _) => {
            let c = ddgz_linux::check(disk, &parts);
            if profile == Profile::Auto && c.roots == 0 {
                resolved = Profile::Generic;
            } else {
                linux = c.root;
                maas_readiness = Readiness {
                    checked: true,
                    advisory: true,
                    items: c.readiness,
                };
            }
        }
        _ => {}
    }
    maas_readiness.items.sort_by_key(|f| f.severity);
    items.sort_by_key(|f| f.severity); // stable: keeps the order of discovery within a severity
    let mut layout = checked
        .table
        .as_ref()
        .and_then(|t| ddgz_esxi::layout(t, disk.size()));
    if let Some(l) = layout.as_mut() {
        match ddgz_esxi::bootcfg::lookup(disk, &parts) {
            ddgz_esxi::bootcfg::Lookup::Found(v) => l.version = Some(v),
            ddgz_esxi::bootcfg::Lookup::Missing(why) => l.version_missing = Some(why),
        }
    }
    debug_assert!(
        items
            .iter()
            .chain(&maas_readiness.items)
            .all(|f| codes::all().any(|c| c.code == f.code && c.severity == f.severity)),
        "a finding's code or severity is not in codes::all(): {items:?} {maas_readiness:?}"
    );
    Ok(Report {
        disk_size: disk.size(),
        table: checked.table.as_ref().map(|t| TableInfo {
            source: t.source,
            disk_guid: t.disk_guid,
            first_usable_lba: t.first_usable_lba,
            last_usable_lba: t.last_usable_lba,
        }),
        partitions: parts,
        esxi: layout,
        windows,
        linux,
        findings: Findings {
            profile: resolved,
            items,
            maas_readiness,
        },
    })
}

/// Checks that `disk` is fit for MAAS under `profile`. Reads headers, FAT metadata and
/// extent maps only (plus at most [`ddgz_content::BLANK_SCAN`] bytes per partition whose extents
/// say data but that holds no known filesystem). `Err` only when the disk cannot be read;
/// a damaged table is an error finding.
pub fn validate(disk: &dyn Disk, profile: Profile) -> Result<Findings, Error> {
    Ok(analyze(disk, profile)?.findings)
}

/// What is on `disk`: table, partitions and their content, ESXi layout, and the findings of
/// the `auto` profile.
pub fn inspect(disk: &dyn Disk) -> Result<Report, Error> {
    analyze(disk, Profile::Auto)
}

#[cfg(test)]
mod tests;
