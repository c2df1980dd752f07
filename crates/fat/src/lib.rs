//! FAT edits on a disk without mounting it (copy-on-write overlay), listing and reading files, kickstart media
#![deny(missing_docs)]
