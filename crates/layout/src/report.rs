//! The whole-disk report behind `ddgz inspect`.

use serde::Serialize;

use crate::{Findings, Guid, PartitionReport, TableSource};

/// The table in use, without its partitions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct TableInfo {
    /// `gpt_primary`, `gpt_backup` or `mbr`.
    pub source: TableSource,
    /// GPT disk GUID.
    pub disk_guid: Option<Guid>,
    /// GPT first usable LBA.
    pub first_usable_lba: Option<u64>,
    /// GPT last usable LBA.
    pub last_usable_lba: Option<u64>,
}

/// Everything `inspect` reports about a disk. The JSON shape is documented in
/// the `ddgz` binary's `src/cmd/inspect.rs` (schema version 1) and pinned by `tests/inspect.rs`.
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Report {
    /// Virtual size of the disk in bytes.
    pub disk_size: u64,
    /// The partition table in use (`None` when there is none or it is unusable).
    pub table: Option<TableInfo>,
    /// Every partition with its content, by number.
    pub partitions: Vec<PartitionReport>,
    /// The ESXi layout the table matches, if it looks like ESXi.
    pub esxi: Option<ddgz_esxi::Layout>,
    /// The Windows found (its partition, boot, edition), for the `windows` profile.
    pub windows: Option<ddgz_windows::Windows>,
    /// The Linux root found, for the `linux` profile.
    pub linux: Option<ddgz_linux::Root>,
    /// What `validate --profile auto` finds.
    pub findings: Findings,
}
