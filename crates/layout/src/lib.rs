//! Identify and validate what is on a disk: GPT/MBR, ESXi layouts, FAT and VMFS/VMFS-L
//! headers.
//!
//! Everything here reads a [`Disk`] through `read_at` and `extents` and reads only
//! headers, FAT metadata and extent maps — never whole partitions — so [`validate`] is cheap
//! enough to run before every conversion. Every value read from the disk is untrusted:
//! sizes are range-checked before use, allocations are capped, and problems come back as
//! typed errors or findings that name the offset and the value.
#![deny(missing_docs)]

pub mod bootcfg;
mod checks;
pub mod codes;
pub mod esxi;
pub mod fat;
pub mod files;
pub mod gpt;
pub mod guid;
pub mod mbr;
pub mod readiness;
pub mod report;
pub mod vmfs;

use std::ops::Range;

use ddgz_disk::Disk;
use serde::Serialize;

pub use guid::Guid;
pub use report::{Content, PartitionReport, Report, TableInfo};

/// The only logical sector size supported (ESXi and the MAAS images use 512).
pub const SECTOR: u64 = 512;

/// Why a disk's layout could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading the disk failed.
    #[error(transparent)]
    Read(#[from] ddgz_disk::Error),
    /// Neither a GPT nor an MBR partition table is present.
    #[error("no partition table: {0}")]
    NoTable(String),
    /// A structure is present but damaged beyond use.
    #[error("{0}")]
    Corrupt(String),
    /// The partition asked for is not in the table.
    #[error("partition {number} does not exist (the disk has {})", list_partitions(.existing))]
    NoSuchPartition {
        /// The number asked for.
        number: u32,
        /// The numbers that exist.
        existing: Vec<u32>,
    },
    /// The partition's entry does not describe a usable byte range of the disk.
    #[error("partition {number}: {reason}")]
    BadPartition {
        /// The partition concerned.
        number: u32,
        /// Why its range is unusable.
        reason: String,
    },
}

fn list_partitions(n: &[u32]) -> String {
    match n {
        [] => "no partitions".into(),
        [one] => format!("partition {one}"),
        _ => format!(
            "partitions {}",
            n.iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
        ),
    }
}

/// Reads `buf.len()` bytes at `offset`.
pub(crate) fn read(disk: &dyn Disk, offset: u64, buf: &mut [u8]) -> Result<(), Error> {
    Ok(disk.read_at(offset, buf)?)
}

/// A partition's type: a GPT type GUID or an MBR type byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PartitionType {
    /// GPT partition type GUID.
    Gpt(Guid),
    /// MBR system ID.
    Mbr(u8),
}

impl PartitionType {
    /// Human name, if known.
    pub fn name(&self) -> Option<&'static str> {
        match self {
            PartitionType::Gpt(g) => guid::types::name(g),
            PartitionType::Mbr(b) => mbr::type_name(*b),
        }
    }
}

impl std::fmt::Display for PartitionType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PartitionType::Gpt(g) => g.fmt(f),
            PartitionType::Mbr(b) => write!(f, "0x{b:02x}"),
        }
    }
}

impl Serialize for PartitionType {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One partition of the table in use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Partition {
    /// Partition number (GPT: 1-based entry index; MBR: 1-4 primary, 5+ logical).
    pub number: u32,
    /// First LBA.
    pub first_lba: u64,
    /// Last LBA, inclusive (may be < first_lba on a corrupt table).
    pub last_lba: u64,
    /// Size in bytes (0 when last < first).
    pub size: u64,
    /// Type GUID (GPT) or `0xNN` (MBR).
    #[serde(rename = "type")]
    pub kind: PartitionType,
    /// Name of the type, when known.
    pub type_name: Option<&'static str>,
    /// GPT partition name.
    pub name: Option<String>,
    /// GPT unique partition GUID.
    pub guid: Option<Guid>,
}

impl Partition {
    /// Byte range on the disk, if the LBAs make sense (not checked against the disk size).
    pub fn byte_range(&self) -> Option<Range<u64>> {
        let start = self.first_lba.checked_mul(SECTOR)?;
        let end = self.last_lba.checked_add(1)?.checked_mul(SECTOR)?;
        (start < end).then_some(start..end)
    }
}

/// Which table the partition list comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TableSource {
    /// The primary GPT (LBA 1).
    GptPrimary,
    /// The backup GPT (primary damaged).
    GptBackup,
    /// An MBR without GPT.
    Mbr,
}

/// The partition table in use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Table {
    /// Where it was read from.
    pub source: TableSource,
    /// GPT disk GUID.
    pub disk_guid: Option<Guid>,
    /// GPT first usable LBA.
    pub first_usable_lba: Option<u64>,
    /// GPT last usable LBA.
    pub last_usable_lba: Option<u64>,
    /// The partitions, by number.
    pub partitions: Vec<Partition>,
}

fn table_from_gpt(g: &gpt::Gpt, source: TableSource) -> Table {
    Table {
        source,
        disk_guid: Some(g.header.disk_guid),
        first_usable_lba: Some(g.header.first_usable_lba),
        last_usable_lba: Some(g.header.last_usable_lba),
        partitions: g
            .entries
            .iter()
            .map(|e| Partition {
                number: e.number,
                first_lba: e.first_lba,
                last_lba: e.last_lba,
                size: e
                    .last_lba
                    .checked_sub(e.first_lba)
                    .and_then(|n| n.checked_add(1))
                    .and_then(|n| n.checked_mul(SECTOR))
                    .unwrap_or(0),
                kind: PartitionType::Gpt(e.type_guid),
                type_name: guid::types::name(&e.type_guid),
                name: Some(e.name.clone()),
                guid: Some(e.unique_guid),
            })
            .collect(),
    }
}

fn table_from_mbr(m: &mbr::Mbr) -> Table {
    Table {
        source: TableSource::Mbr,
        disk_guid: None,
        first_usable_lba: None,
        last_usable_lba: None,
        partitions: m
            .entries
            .iter()
            .map(|e| Partition {
                number: e.number,
                first_lba: e.first_lba,
                last_lba: e.first_lba + e.sectors - 1, // both < 2^32, sectors >= 1
                size: e.sectors * SECTOR,
                kind: PartitionType::Mbr(e.kind),
                type_name: mbr::type_name(e.kind),
                name: None,
                guid: None,
            })
            .collect(),
    }
}

/// The partition table of `disk`: the primary GPT, else the backup GPT, else an MBR.
/// Fails when there is none, or when a GPT is announced (protective MBR or signature) but
/// both copies are damaged.
pub fn table(disk: &dyn Disk) -> Result<Table, Error> {
    let scan = gpt::scan(disk)?;
    match (&scan.primary, &scan.backup) {
        (Ok(p), _) => return Ok(table_from_gpt(p, TableSource::GptPrimary)),
        (_, Ok(b)) => return Ok(table_from_gpt(b, TableSource::GptBackup)),
        _ => {}
    }
    let m = mbr::read_mbr(disk)?;
    let gpt_announced = m.as_ref().is_some_and(|m| m.is_protective())
        || scan.primary.as_ref().is_err_and(|e| e.signature)
        || scan.backup.as_ref().is_err_and(|e| e.signature);
    if gpt_announced {
        return Err(Error::Corrupt(format!(
            "GPT damaged beyond use: primary: {}; backup: {}",
            scan.primary.as_ref().err().map_or("", |u| &u.reason),
            scan.backup.as_ref().err().map_or("", |u| &u.reason)
        )));
    }
    match m {
        Some(m) => Ok(table_from_mbr(&m)),
        None => Err(Error::NoTable(
            "no GPT header at LBA 1 or at the last LBA, and no MBR boot signature at LBA 0".into(),
        )),
    }
}

/// The partitions of `disk` (see [`table`] for which table is used).
pub fn partitions(disk: &dyn Disk) -> Result<Vec<Partition>, Error> {
    Ok(table(disk)?.partitions)
}

/// The byte range of partition `number`, checked to lie inside the disk.
pub fn partition_range(disk: &dyn Disk, number: u32) -> Result<Range<u64>, Error> {
    let parts = partitions(disk)?;
    let Some(p) = parts.iter().find(|p| p.number == number) else {
        return Err(Error::NoSuchPartition {
            number,
            existing: parts.iter().map(|p| p.number).collect(),
        });
    };
    range_in_disk(p, disk.size())
}

/// The byte range of `p`, checked to lie inside a disk of `disk_size` bytes.
pub fn range_in_disk(p: &Partition, disk_size: u64) -> Result<Range<u64>, Error> {
    let bad = |reason: String| Error::BadPartition {
        number: p.number,
        reason,
    };
    let r = p.byte_range().ok_or_else(|| {
        bad(format!(
            "first LBA {} and last LBA {} do not form a range",
            p.first_lba, p.last_lba
        ))
    })?;
    if r.end > disk_size {
        return Err(bad(format!(
            "LBA {}..={} ends at byte {}, past the end of the disk ({} bytes)",
            p.first_lba, p.last_lba, r.end, disk_size
        )));
    }
    Ok(r)
}

/// How severe a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The image is not fit for MAAS: `validate` exits 1, `convert` refuses.
    Error,
    /// Worth fixing; fails `validate --strict` only.
    Warning,
    /// A fact worth saying (e.g. "datastore blank: created at first boot"); never fails.
    Info,
    /// An error or warning acknowledged with `--allow CODE` ([`Findings::allow`]); never
    /// fails.
    Note,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
            Severity::Note => "note",
        })
    }
}

/// One thing `validate` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Error, warning, info, or note (an error or warning acknowledged with `--allow`).
    pub severity: Severity,
    /// Stable identifier of the kind of finding ([`codes::ALL`]), e.g. `vmfs-clone-uuid`.
    pub code: &'static str,
    /// The severity before `--allow` made it a note.
    pub allowed: Option<Severity>,
    /// The partition concerned, if one is.
    pub partition: Option<u32>,
    /// What, naming the values.
    pub message: String,
}

impl Finding {
    fn new(
        severity: Severity,
        code: &'static str,
        partition: Option<u32>,
        message: String,
    ) -> Self {
        debug_assert!(
            codes::ALL
                .iter()
                .any(|c| c.code == code && c.severity == severity),
            "finding code {code} ({severity}) is not in codes::ALL"
        );
        Self {
            severity,
            code,
            allowed: None,
            partition,
            message,
        }
    }
    pub(crate) fn error(code: &'static str, p: Option<u32>, m: impl Into<String>) -> Self {
        Self::new(Severity::Error, code, p, m.into())
    }
    pub(crate) fn warning(code: &'static str, p: Option<u32>, m: impl Into<String>) -> Self {
        Self::new(Severity::Warning, code, p, m.into())
    }
    pub(crate) fn info(code: &'static str, p: Option<u32>, m: impl Into<String>) -> Self {
        Self::new(Severity::Info, code, p, m.into())
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} [{}", self.severity, self.code)?;
        if let Some(was) = self.allowed {
            write!(f, ", allowed {was}")?;
        }
        f.write_str("]: ")?;
        match self.partition {
            Some(n) => write!(f, "partition {n}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

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
}

/// The findings of [`validate`]: the layout's, and MAAS readiness in a section of its own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Findings {
    /// The profile actually applied (`auto` resolved to `esxi` or `generic`).
    pub profile: Profile,
    /// Partition table, filesystem and layout findings, errors first.
    pub items: Vec<Finding>,
    /// What a MAAS deployment needs from the image (curtin hooks, scripts, room to unpack
    /// them): [`readiness`].
    pub maas_readiness: Readiness,
}

/// The MAAS readiness section of [`Findings`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Readiness {
    /// Whether the checks ran (they do for the `esxi` profile).
    pub checked: bool,
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
                content: report::probe_content(disk, p)?,
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
    let resolved = match (profile, &checked.table) {
        (Profile::Auto, Some(t)) if esxi::looks_esxi(t) => Profile::Esxi,
        (Profile::Auto, _) => Profile::Generic,
        (p, _) => p,
    };
    let mut maas_readiness = Readiness::default();
    if let (Profile::Esxi, Some(t)) = (resolved, &checked.table) {
        esxi::check(t, &parts, &mut items);
        maas_readiness = Readiness {
            checked: true,
            items: readiness::check(disk, &parts),
        };
        maas_readiness.items.sort_by_key(|f| f.severity);
    }
    items.sort_by_key(|f| f.severity); // stable: keeps the order of discovery within a severity
    let mut layout = checked
        .table
        .as_ref()
        .and_then(|t| esxi::layout(t, disk.size()));
    if let Some(l) = layout.as_mut() {
        match bootcfg::lookup(disk, &parts) {
            bootcfg::Lookup::Found(v) => l.version = Some(v),
            bootcfg::Lookup::Missing(why) => l.version_missing = Some(why),
        }
    }
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
        findings: Findings {
            profile: resolved,
            items,
            maas_readiness,
        },
    })
}

/// Checks that `disk` is fit for MAAS under `profile`. Reads headers, FAT metadata and
/// extent maps only (plus at most [`report::BLANK_SCAN`] bytes per partition whose extents
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
