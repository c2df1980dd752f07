//! The codes of the Windows profile's findings: the layout's, then MAAS readiness's.

use ddgz_findings::code as c;
use ddgz_findings::Code;
use ddgz_findings::Severity::{Error, Info, Warning};

/// Every code of this profile, grouped: Windows layout, then MAAS readiness.
pub const CODES: &[Code] = &[
    c(
        "windows-not-found",
        Error,
        "no NTFS partition holds Windows/System32",
    ),
    c(
        "windows-several",
        Error,
        "several NTFS partitions hold Windows/System32",
    ),
    c(
        "windows-ntfs-unreadable",
        Error,
        "the Windows partition's NTFS cannot be read",
    ),
    c(
        "windows-no-esp",
        Error,
        "a GPT disk without a FAT EFI System partition: UEFI cannot boot Windows",
    ),
    c(
        "windows-no-bootmgfw",
        Error,
        "no EFI/Microsoft/Boot/bootmgfw.efi on the EFI System partition",
    ),
    c(
        "windows-bios",
        Info,
        "an MBR (BIOS) layout: the machine must boot in legacy mode",
    ),
    c(
        "windows-no-bootmgr",
        Error,
        "an MBR layout with no bootmgr on any NTFS partition",
    ),
    c(
        "windows-recovery-after",
        Info,
        "a recovery partition after the Windows partition: MAAS cannot grow Windows",
    ),
    c(
        "windows-edition-unknown",
        Info,
        "the SOFTWARE registry hive gave no edition",
    ),
    c(
        "windows-hooks-missing",
        Error,
        "no curtin/curtin-hooks on the Windows partition",
    ),
    c(
        "windows-finalize-missing",
        Warning,
        "no curtin/finalize on the Windows partition",
    ),
    c(
        "windows-volume-dirty",
        Error,
        "the Windows volume's dirty flag is set",
    ),
    c(
        "windows-hibernated",
        Error,
        "Windows is hibernated (or shut down with Fast Startup)",
    ),
    c(
        "windows-log-dirty",
        Error,
        "the Windows volume's $LogFile needs replay",
    ),
    c(
        "windows-no-cloudbase-init",
        Warning,
        "Cloudbase-Init is not installed",
    ),
    c(
        "windows-ready",
        Info,
        "curtin hooks present, volume clean, Cloudbase-Init installed",
    ),
];

#[cfg(test)]
mod tests {
    #[test]
    fn codes_are_unique_and_kebab_case() {
        ddgz_findings::check_codes(super::CODES).unwrap();
    }
}
