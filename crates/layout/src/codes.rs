//! Every finding's stable code, with its severity and what it means: those of the checks
//! every disk gets (partition table, filesystems) here, each profile's in its own crate,
//! and [`all`] of them together.
//!
//! Codes are part of the interface: `--allow CODE` names them, scripts match on them in
//! `--json`. A code is never renamed or reused for another meaning; new ones are added.

use ddgz_findings::code as c;
pub use ddgz_findings::Code;
use ddgz_findings::Severity::{Error, Info, Warning};

/// The codes of the checks every disk gets: partition table, then filesystems.
pub const TABLE: &[Code] = &[
    c(
        "disk-size-unaligned",
        Warning,
        "the disk size is not a multiple of 512 bytes",
    ),
    c("gpt-4k-sectors", Error, "a GPT for 4096-byte sectors"),
    c("mbr-only", Info, "an MBR partition table, no GPT"),
    c("gpt-missing", Error, "a protective MBR but no GPT header"),
    c("no-partition-table", Error, "neither GPT nor MBR"),
    c("pmbr-missing", Warning, "no protective MBR before the GPT"),
    c("pmbr-not-protective", Warning, "the MBR has no 0xEE entry"),
    c("pmbr-hybrid", Warning, "a hybrid MBR"),
    c(
        "pmbr-start",
        Warning,
        "the protective entry does not start at LBA 1",
    ),
    c(
        "gpt-header-note",
        Warning,
        "a GPT header field off the norm",
    ),
    c(
        "image-truncated",
        Error,
        "the image ends before the backup GPT",
    ),
    c(
        "gpt-backup-misplaced",
        Warning,
        "the backup GPT is not at the last LBA",
    ),
    c(
        "gpt-backup-damaged",
        Warning,
        "the backup GPT is damaged, the primary intact",
    ),
    c(
        "gpt-primary-damaged",
        Warning,
        "the primary GPT is damaged, the backup used",
    ),
    c("gpt-damaged", Error, "both GPT copies damaged"),
    c(
        "gpt-copies-differ",
        Warning,
        "primary and backup GPT disagree",
    ),
    c(
        "partition-range-inverted",
        Error,
        "a partition ends before it starts",
    ),
    c(
        "partition-outside-usable",
        Error,
        "a partition outside the GPT's usable LBAs",
    ),
    c(
        "partition-past-end",
        Error,
        "a partition past the end of the disk",
    ),
    c("partitions-overlap", Error, "two partitions overlap"),
    c(
        "vmfs-damaged",
        Error,
        "VMFS headers present but inconsistent",
    ),
    c(
        "fat-damaged",
        Warning,
        "a FAT boot sector that does not parse",
    ),
    c(
        "vmfs-clone-uuid",
        Warning,
        "every deployed host gets the same VMFS UUIDs (inherent to cloned ESXi images)",
    ),
];

/// Every code, grouped: partition table, filesystems, then each profile's (ESXi layout and
/// MAAS readiness, Windows's, Linux dd readiness).
pub fn all() -> impl Iterator<Item = &'static Code> {
    TABLE
        .iter()
        .chain(ddgz_esxi::CODES)
        .chain(ddgz_windows::CODES)
        .chain(ddgz_linux::CODES)
}

/// The code named `code`, if there is one.
pub fn find(code: &str) -> Option<&'static Code> {
    all().find(|c| c.code == code)
}

#[cfg(test)]
mod tests {
    #[test]
    fn codes_are_unique_and_kebab_case() {
        ddgz_findings::check_codes(super::all()).unwrap();
    }
}
