//! The Windows profile, a sibling of `ddgz-esxi`: where Windows is on the disk (the NTFS
//! partition holding `Windows/System32`), how it boots (GPT with an EFI System partition
//! holding `bootmgfw.efi`, or MBR with `bootmgr`), which edition and build it is (from the
//! `SOFTWARE` registry hive, [`hive`]), and what a MAAS deployment needs beyond that
//! (curtin hooks on the Windows partition, a clean volume, Cloudbase-Init): [`check`],
//! each finding with one of this profile's [`CODES`].
//!
//! Like the ESXi profile, it reads what the partition table ([`ddgz_partitions`]) and the
//! content probes ([`ddgz_content`]) found, and opens NTFS with [`ddgz_ntfs`]; it never
//! writes.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod check;
mod codes;
pub mod hive;
#[doc(hidden)]
pub mod synth;

pub use check::{
    check, edition, locate, Boot, Checked, Located, Windows, BOOTMGFW, BOOTMGR, CLOUDBASE_INIT,
    FINALIZE, HOOKS, SOFTWARE_HIVE,
};
pub use codes::CODES;
pub use hive::Edition;
