//! The ESXi profile: the disk layouts of ESXi 6.x and 7.0 / 8.0 and their checks
//! ([`layout`](mod@layout)), the release a bootbank's `boot.cfg` names ([`bootcfg`]), and what a MAAS
//! deployment of an ESXi image needs beyond a bootable layout ([`readiness`]), each finding
//! with one of this profile's [`CODES`].
//!
//! A profile reads what the partition tables ([`ddgz_partitions`]) and the content probes
//! ([`ddgz_content`]) found; it never reads a table itself. Another operating system's
//! profile is a sibling crate of this one.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod bootcfg;
mod codes;
pub mod layout;
pub mod readiness;

pub use bootcfg::EsxiVersion;
pub use codes::CODES;
pub use layout::{check, generation, layout, looks_esxi, Generation, Layout};
