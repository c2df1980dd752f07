//! Read-only qcow2 reader (placeholder: being written).
#![deny(missing_docs)]

use std::path::{Path, PathBuf};

/// Errors opening or reading a qcow2 image.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {message}")]
pub struct Error {
    /// The image file concerned.
    pub path: PathBuf,
    /// What is wrong.
    pub message: String,
}

/// Options for [`Qcow2::open`].
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Open images whose corrupt bit is set.
    pub force_corrupt: bool,
}

/// What a guest range maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MappingKind {
    /// Reads as zeros (zero flag, unallocated without backing, past a backing file's end).
    Zero,
    /// Holds data (allocated, compressed, or from a backing file).
    Data,
}

/// A run of guest bytes with one kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    /// First guest byte.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
    /// What it holds.
    pub kind: MappingKind,
}

/// An opened qcow2 image with its backing chain.
#[derive(Debug)]
pub struct Qcow2 {
    size: u64,
}

impl Qcow2 {
    /// Opens `path` read-only.
    pub fn open(path: &Path, _opts: &OpenOptions) -> Result<Self, Error> {
        Err(Error {
            path: path.into(),
            message: "qcow2 not implemented yet".into(),
        })
    }
    /// Virtual disk size in bytes.
    pub fn virtual_size(&self) -> u64 {
        self.size
    }
    /// Maps `[offset, offset + len)` into runs, in order, covering the range exactly.
    pub fn mappings(&self, _offset: u64, _len: u64) -> Result<Vec<Mapping>, Error> {
        unimplemented!()
    }
    /// Reads guest bytes at `offset` into `buf` (zeros where nothing is allocated).
    pub fn read_at(&self, _offset: u64, _buf: &mut [u8]) -> Result<(), Error> {
        unimplemented!()
    }
}
