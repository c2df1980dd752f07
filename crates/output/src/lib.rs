//! How every ddgz command writes a file (convert's `.dd.gz`, tar's `.tar.gz`, ks-media's
//! image): [`OutputFile`], a temporary no one else can have created, never one of the
//! files the run reads, fsynced and renamed into place only when complete (removed if
//! dropped before); [`DirectWriter`], which writes it past the page cache where the
//! file system allows; [`SparseWriter`], which writes a raw disk with holes; and [`Sink`],
//! the finish step of a stream (hashed, flushed, committed). A crate of its own so that a
//! command writing a file does not
//! depend on the converter.
#![deny(missing_docs)]

mod direct;
mod file;
mod sink;
mod sparse;

pub use direct::DirectWriter;
pub use file::{files_under, OutputError, OutputFile};
pub use sink::{Sink, Written};
pub use sparse::{SparseWriter, HOLE_BLOCK};
