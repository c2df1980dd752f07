//! Every finding's stable code, with its severity and what it means.
//!
//! Codes are part of the interface: `--allow CODE` names them, scripts match on them in
//! `--json`. A code is never renamed or reused for another meaning; new ones are added.

use crate::Severity::{self, Error, Info, Warning};

/// A finding's code, its severity and a one-line summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    /// The code, e.g. `vmfs-clone-uuid`.
    pub code: &'static str,
    /// The severity findings of this code have (before `--allow`).
    pub severity: Severity,
    /// What it means.
    pub summary: &'static str,
}

const fn c(code: &'static str, severity: Severity, summary: &'static str) -> Code {
    Code {
        code,
        severity,
        summary,
    }
}

/// Every code, grouped: partition table, filesystems, ESXi layout, MAAS readiness.
pub const ALL: &[Code] = &[
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
    c("esxi-needs-gpt", Error, "an ESXi disk with an MBR only"),
    c(
        "esxi-layout-unknown",
        Error,
        "partition types of neither ESXi 6.x nor 7.0/8.0",
    ),
    c(
        "esxi-after-datastore",
        Error,
        "a partition where MAAS grows or creates the datastore",
    ),
    c(
        "esxi-extra-partition",
        Error,
        "a partition not in the ESXi layout",
    ),
    c(
        "esxi-partition-missing",
        Error,
        "a partition the ESXi layout needs is missing",
    ),
    c(
        "esxi-partition-absent",
        Info,
        "an optional ESXi partition is absent (created at deploy time)",
    ),
    c(
        "esxi-partition-type",
        Error,
        "an ESXi partition with the wrong type GUID",
    ),
    c(
        "esxi-fs-blank",
        Info,
        "a filesystem ESXi creates at first boot is blank",
    ),
    c(
        "esxi-not-fat",
        Error,
        "an ESXi partition that must be FAT is not",
    ),
    c(
        "esxi-vmfs-flavor",
        Error,
        "VMFS where VMFS-L belongs, or the reverse",
    ),
    c(
        "esxi-not-vmfs",
        Error,
        "an ESXi VMFS partition holds something else",
    ),
    c(
        "esxi-partition-order",
        Error,
        "ESXi partitions out of order on disk",
    ),
    c(
        "esxi-boot-cfg-alt",
        Warning,
        "boot.cfg only in the altbootbank",
    ),
    c("esxi-no-boot-cfg", Error, "no boot.cfg in either bootbank"),
    c(
        "maas-no-hooks-partition",
        Error,
        "partition 1 is missing or not FAT: curtin cannot find its hooks",
    ),
    c(
        "maas-hooks-missing",
        Error,
        "no curtin/curtin-hooks in partition 1",
    ),
    c(
        "maas-hooks-not-script",
        Warning,
        "curtin/curtin-hooks does not start with #!",
    ),
    c(
        "maas-scripts-missing",
        Error,
        "no curtin/scripts.tar.xz in partition 1",
    ),
    c(
        "maas-scripts-unreadable",
        Error,
        "curtin/scripts.tar.xz is not an xz-compressed tar archive",
    ),
    c(
        "maas-scripts-no-maas-dir",
        Error,
        "scripts.tar.xz has no maas/ directory",
    ),
    c(
        "maas-script-missing",
        Error,
        "a MAAS script the first boot needs is missing from maas/",
    ),
    c(
        "maas-script-optional-missing",
        Warning,
        "an optional MAAS script is missing from maas/",
    ),
    c(
        "maas-package-missing",
        Error,
        "a Python package the MAAS scripts import is not vendored",
    ),
    c(
        "maas-package-optional-missing",
        Warning,
        "a package only optional scripts import is not vendored",
    ),
    c(
        "maas-altbootbank-missing",
        Error,
        "partition 6 is missing or not FAT: the hooks unpack there",
    ),
    c(
        "maas-altbootbank-full",
        Error,
        "partition 6 lacks room for the unpacked scripts",
    ),
    c(
        "maas-ready",
        Info,
        "hooks and scripts present, with room to unpack them",
    ),
];

/// The code named `code`, if there is one.
pub fn find(code: &str) -> Option<&'static Code> {
    ALL.iter().find(|c| c.code == code)
}

#[cfg(test)]
mod tests {
    #[test]
    fn codes_are_unique_and_kebab_case() {
        let mut seen = std::collections::HashSet::new();
        for c in super::ALL {
            assert!(seen.insert(c.code), "{} twice", c.code);
            assert!(
                c.code
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{}",
                c.code
            );
        }
    }
}
