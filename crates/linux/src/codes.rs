//! The codes of the Linux dd profile's findings (all MAAS readiness).

use ddgz_findings::code as c;
use ddgz_findings::Code;
use ddgz_findings::Severity::{Error, Info, Warning};

/// Every code of this profile.
pub const CODES: &[Code] = &[
    c(
        "linux-no-root",
        Error,
        "no ext2/3/4 or XFS filesystem holds /etc/os-release",
    ),
    c(
        "linux-several-roots",
        Warning,
        "several filesystems hold /etc/os-release",
    ),
    c(
        "linux-root-unreadable",
        Error,
        "the root filesystem cannot be read",
    ),
    c(
        "linux-no-curtin",
        Error,
        "no curtin/ at the root's top: curtin cannot find the root of a dd image",
    ),
    c(
        "linux-hooks-not-executable",
        Error,
        "curtin/curtin-hooks is not executable",
    ),
    c(
        "linux-builtin-hooks",
        Info,
        "curtin/ without curtin-hooks: curtin runs its built-in hooks",
    ),
    c(
        "linux-fstab-no-root",
        Warning,
        "/etc/fstab has no entry for /",
    ),
    c(
        "linux-fstab-root-mismatch",
        Error,
        "/etc/fstab's entry for / names another filesystem: the machine will not boot",
    ),
    c(
        "linux-fstab-root-device",
        Warning,
        "/etc/fstab names the root by a kernel device name",
    ),
    c(
        "linux-no-cloud-init",
        Warning,
        "cloud-init is not installed",
    ),
    c(
        "linux-ready",
        Info,
        "curtin/ on the root, fstab names the root, cloud-init installed",
    ),
];

#[cfg(test)]
mod tests {
    #[test]
    fn codes_are_unique_and_kebab_case() {
        ddgz_findings::check_codes(super::CODES).unwrap();
    }
}
