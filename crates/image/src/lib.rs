//! The format registry of ddgz: probe an image file, open it once, hand back a [`Disk`].
//!
//! Each container format lives in a crate of its own that implements [`Container`] (a
//! [`Disk`] that describes itself); this crate holds the table of formats, [`FORMATS`]:
//! a name, a probe of the file's first and last bytes, and an open function per format.
//! [`identify`] is the one answer to "what is this file?" (an image of a registered
//! format, a packed `.dd.gz`/`.dd.xz`, or a known kind ddgz does not read, named).
//! [`Image::open`] opens the file once, probes it (or takes `--format`) and hands the open
//! file to the chosen reader, with a backing opener that uses the same table, so a qcow2
//! may sit over a raw file, another qcow2 or any format listed. The disk
//! abstraction itself ([`Disk`], [`Extent`], [`Window`], [`Overlay`], …) is re-exported
//! from `ddgz-disk` so that a caller needs one crate to open and read an image.
//!
//! ```no_run
//! use ddgz_image::{Disk, Image, OpenOptions};
//! let disk = Image::open("disk.qcow2".as_ref(), &OpenOptions::default())?;
//! for e in disk.extents(0, disk.size())? {
//!     println!("{:>12} +{:<12} {:?}", e.offset, e.len, e.kind);
//! }
//! # Ok::<(), ddgz_image::Error>(())
//! ```
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod image;
mod registry;
pub mod unsupported;

pub use ddgz_disk::*;
pub use image::{Image, OpenOptions};
pub use registry::{
    format_names, identify, identify_file, probe, Foreign, Format, FormatEntry, Identity, OpenFn,
    ProbeInput, FORMATS, PROBE_HEAD, PROBE_TAIL,
};
