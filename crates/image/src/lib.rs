//! The format registry of ddgz: probe an image file, open it once, hand back a [`Disk`].
//!
//! Each container format lives in a crate of its own that implements [`Disk`]; this crate
//! only knows how to recognise each one by its content and how to open it. The disk
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
#![deny(missing_docs)]

mod image;

pub use ddgz_disk::*;
pub use image::{detect_format, Format, Image, OpenOptions};
