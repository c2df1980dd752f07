//! The codes of the ESXi profile's findings: the layout's, then MAAS readiness's.

use ddgz_findings::code as c;
use ddgz_findings::Code;
use ddgz_findings::Severity::{Error, Info, Warning};

/// Every code of this profile, grouped: ESXi layout, then MAAS readiness.
pub const CODES: &[Code] = &[
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

#[cfg(test)]
mod tests {
    #[test]
    fn codes_are_unique_and_kebab_case() {
        ddgz_findings::check_codes(super::CODES).unwrap();
    }
}
