//! What the `ddgz` command line and other image builders call to turn a disk image into a
//! MAAS `ddgz` file.
//!
//! For now this holds the one way ddgz writes an output file: [`OutputFile`], a temporary
//! that no one else can have created, never one of the files the run reads, fsynced and
//! renamed into place only when complete.
#![deny(missing_docs)]

pub mod output;

pub use output::{files_under, OutputError, OutputFile};
