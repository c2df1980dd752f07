//! MFT records (`FILE`): a fixed header, then attributes until the type `0xFFFFFFFF`.
//!
//! Header (little-endian): 0x00 `"FILE"`; 0x04/0x06 update-sequence array; 0x08 `$LogFile`
//! LSN (u64); 0x10 sequence number (u16); 0x12 hard links (u16); 0x14 first attribute
//! (u16); 0x16 flags (u16: 1 in use, 2 directory); 0x18 bytes in use (u32); 0x1C bytes
//! allocated (u32); 0x20 base record reference (u64; 0 in a base record); 0x28 next
//! attribute instance (u16); 0x2C this record's number (u32, NTFS 3.1).

use ddgz_disk::bytes::{le16, le32, le64};

use crate::attr::Attribute;
use crate::error::{corrupt, Result};
pub use crate::fileref::FileRef;
use crate::fixup;

/// `flags` bit: the record is in use.
pub const IN_USE: u16 = 0x0001;
/// `flags` bit: the record is a directory (has a `$I30` index).
pub const DIRECTORY: u16 = 0x0002;
/// The attribute type that ends a record's attributes.
pub const END: u32 = 0xFFFF_FFFF;
/// Attributes one record may hold: a 64 KiB record of 24-byte attributes holds fewer.
const MAX_ATTRS: usize = 4096;

/// An MFT record after its fixups, with its header fields decoded and its bytes kept (a
/// writer edits the bytes and calls [`fixup::protect`] before writing them back).
#[derive(Debug, Clone)]
pub struct Record {
    /// Its number in `$MFT`.
    pub number: u64,
    /// `$LogFile` sequence number of the last change.
    pub lsn: u64,
    /// Sequence number (bumped each time the record is reused).
    pub sequence: u16,
    /// Hard links (names in directories).
    pub link_count: u16,
    /// Offset of the first attribute.
    pub attrs_offset: u16,
    /// `IN_USE`, `DIRECTORY`, …
    pub flags: u16,
    /// Bytes used, up to and including the end marker.
    pub bytes_in_use: u32,
    /// The record's length on disk.
    pub bytes_allocated: u32,
    /// The base record for an extension record; `None` in a base record.
    pub base: Option<FileRef>,
    /// Next attribute instance number to hand out.
    pub next_instance: u16,
    /// The whole record, fixups applied.
    pub bytes: Vec<u8>,
}

impl Record {
    /// Applies the fixups of `bytes` (one record, as read at record `number`) and checks
    /// its header. Errors name the record.
    pub fn parse(number: u64, mut bytes: Vec<u8>) -> Result<Self> {
        let ctx = |m: String| corrupt(format!("MFT record {number}: {m}"));
        if bytes.len() < crate::boot::FIXUP_STRIDE {
            return Err(ctx(format!("{} bytes, fewer than 512", bytes.len())));
        }
        if &bytes[..4] != b"FILE" {
            return Err(ctx(format!(
                "no \"FILE\" magic (found {:02x?})",
                &bytes[..4]
            )));
        }
        fixup::unprotect(&mut bytes).map_err(ctx)?;
        let b = &bytes;
        let len = b.len();
        let attrs_offset = le16(b, 0x14);
        let bytes_in_use = le32(b, 0x18);
        let bytes_allocated = le32(b, 0x1C);
        if bytes_allocated as usize != len {
            return Err(ctx(format!(
                "allocated size {bytes_allocated} differs from the volume's record size {len}"
            )));
        }
        if bytes_in_use as usize > len || usize::from(attrs_offset) + 4 > bytes_in_use as usize {
            return Err(ctx(format!(
                "first attribute at {attrs_offset} and bytes in use {bytes_in_use} do not fit \
                 in {len} bytes"
            )));
        }
        let base = le64(b, 0x20);
        Ok(Self {
            number,
            lsn: le64(b, 0x08),
            sequence: le16(b, 0x10),
            link_count: le16(b, 0x12),
            attrs_offset,
            flags: le16(b, 0x16),
            bytes_in_use,
            bytes_allocated,
            base: (base != 0).then(|| FileRef::from_u64(base)),
            next_instance: le16(b, 0x28),
            bytes,
        })
    }

    /// Whether the record is in use.
    pub fn in_use(&self) -> bool {
        self.flags & IN_USE != 0
    }

    /// Whether the record is a directory.
    pub fn is_directory(&self) -> bool {
        self.flags & DIRECTORY != 0
    }

    /// The attributes held in this record, in order. Errors name the record, the
    /// attribute's offset and the bad value.
    pub fn attributes(&self, total_clusters: u64) -> Result<Vec<Attribute>> {
        let mut out = Vec::new();
        let mut at = usize::from(self.attrs_offset);
        let end = self.bytes_in_use as usize;
        loop {
            if at + 4 > end {
                return Err(corrupt(format!(
                    "MFT record {}: attribute at byte {at} runs past the bytes in use ({end}) \
                     without an end marker",
                    self.number
                )));
            }
            if le32(&self.bytes, at) == END {
                return Ok(out);
            }
            if out.len() >= MAX_ATTRS {
                return Err(corrupt(format!(
                    "MFT record {}: more than {MAX_ATTRS} attributes",
                    self.number
                )));
            }
            let a = Attribute::parse(&self.bytes[..end], at, total_clusters).map_err(|e| {
                crate::error::within(e, || {
                    format!("MFT record {}: attribute at byte {at}", self.number)
                })
            })?;
            at += a.length as usize;
            out.push(a);
        }
    }
}
