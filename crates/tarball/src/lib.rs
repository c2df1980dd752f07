//! What the `ddgz tar` command and other image builders call to turn a Linux image into
//! the root tarball MAAS deploys (`filetype=tgz`), as packer-maas's `fuse-tar-root` does
//! with qemu-nbd, FUSE and GNU tar — without any of them: open the image (any format of
//! the registry) → find the root (the ext2/3/4 or XFS filesystem holding `/etc/os-release`,
//! on a partition or an LVM logical volume) →
//! the edits in the stream (machine-id emptied, cloud-init's state left out, a bls_boot
//! partition under `boot/`, host files added) → tar ([`ddgz_tar`]) through the parallel
//! gzip of [`ddgz_deflate`] → written atomically ([`ddgz_output::OutputFile`]), with the
//! sha256 and size MAAS asks for.
//!
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::path::Path;
//! let out = ddgz_tarball::Output::File { path: "root.tar.gz".into(), force: false };
//! let archiver = ddgz_tarball::Archiver::new(Path::new("disk.qcow2"), out, Default::default())?;
//! println!("root on partition {}", archiver.root_partition());
//! let summary = archiver.run(&mut |_tar_bytes| {})?;
//! println!("{} bytes, sha256 {}", summary.output_bytes, summary.sha256);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]
#![forbid(unsafe_code)]

mod archiver;
mod error;
mod root;
mod volume;

pub use archiver::{archive, Add, Archiver, Options, Output, Summary};
pub use error::{Error, ErrorKind, Result};
