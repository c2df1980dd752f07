//! Index structures: `$INDEX_ROOT`, `INDX` records of `$INDEX_ALLOCATION`, and their
//! entries. Directories are the `$I30` index (keys are `$FILE_NAME` values), a B+ tree in
//! `$UpCase` order whose root lives in the record and whose other nodes are `INDX`
//! records addressed by VCN.
//!
//! `$INDEX_ROOT` value: 0x00 indexed attribute type (u32, 0x30 for `$I30`); 0x04
//! collation rule (u32, 1 = file names); 0x08 index record size (u32); 0x0C clusters
//! per index record (u8); 0x10 the node header. `INDX` record: 0x00 `"INDX"`; 0x04/0x06
//! update-sequence array; 0x10 its VCN (u64); 0x18 the node header. Node header: 0x00
//! first entry, 0x04 bytes in use, 0x08 bytes allocated (u32, relative to the header);
//! 0x0C flags (1: the node has children). Entry: 0x00 file reference (u64); 0x08 length
//! (u16); 0x0A key length (u16); 0x0C flags (u16: 1 has a child, 2 last); 0x10 the key;
//! the child node's VCN in the last 8 bytes when it has one.

use ddgz_disk::bytes::{le16, le32, le64};

use crate::attr::FileName;
use crate::error::{corrupt, Result};
use crate::record::FileRef;

/// Entry flag: the entry has a child node (its VCN is in its last 8 bytes).
pub const ENTRY_CHILD: u16 = 0x0001;
/// Entry flag: the last entry of a node (no key).
pub const ENTRY_LAST: u16 = 0x0002;
/// `$INDEX_ROOT` collation rule of `$I30`.
pub const COLLATION_FILE_NAME: u32 = 1;
/// Entries one node may hold (a 64 KiB node of 16-byte entries holds fewer).
const MAX_ENTRIES: usize = 4096;

/// `$INDEX_ROOT`'s fixed fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexRoot {
    /// Type of the indexed attribute (0x30 for `$I30`).
    pub indexed_type: u32,
    /// Collation rule.
    pub collation: u32,
    /// Bytes per `INDX` record.
    pub record_size: u32,
    /// Clusters per `INDX` record (or 512-byte blocks when the record is smaller than a
    /// cluster).
    pub clusters_per_record: u8,
    /// The root node.
    pub node: Node,
}

/// One node of an index: its entries in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    /// Whether the node has children (`LARGE_INDEX`).
    pub has_children: bool,
    /// The entries, the last (keyless) one included.
    pub entries: Vec<Entry>,
}

/// An index entry of `$I30`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The file the entry names.
    pub file: FileRef,
    /// `ENTRY_CHILD`, `ENTRY_LAST`.
    pub flags: u16,
    /// The key: the file's `$FILE_NAME` (absent in the last entry).
    pub key: Option<FileName>,
    /// The child node's VCN.
    pub child: Option<u64>,
}

impl IndexRoot {
    /// Decodes a `$INDEX_ROOT` value.
    pub fn parse(v: &[u8]) -> Result<Self> {
        if v.len() < 0x20 {
            return Err(corrupt(format!(
                "$INDEX_ROOT of {} bytes, fewer than 32",
                v.len()
            )));
        }
        Ok(Self {
            indexed_type: le32(v, 0),
            collation: le32(v, 4),
            record_size: le32(v, 8),
            clusters_per_record: v[0x0C],
            node: Node::parse(v, 0x10)
                .map_err(|e| crate::error::within(e, || "$INDEX_ROOT".into()))?,
        })
    }
}

/// Decodes the `INDX` record `b` (fixups already applied) expected at `vcn`.
pub fn parse_indx(b: &[u8], vcn: u64) -> Result<Node> {
    if b.len() < 0x28 || &b[..4] != b"INDX" {
        return Err(corrupt(format!(
            "index record at VCN {vcn}: no \"INDX\" magic (found {:02x?})",
            &b[..4.min(b.len())]
        )));
    }
    let own = le64(b, 0x10);
    if own != vcn {
        return Err(corrupt(format!(
            "index record at VCN {vcn} says it is at VCN {own}"
        )));
    }
    Node::parse(b, 0x18)
        .map_err(|e| crate::error::within(e, || format!("index record at VCN {vcn}")))
}

impl Node {
    /// Decodes the node whose header is at byte `h` of `b`.
    pub fn parse(b: &[u8], h: usize) -> Result<Self> {
        let first = le32(b, h) as usize;
        let in_use = le32(b, h + 4) as usize;
        let flags = b[h + 0x0C];
        let end = h.saturating_add(in_use);
        if end > b.len() || first < 0x10 || h + first > end {
            return Err(corrupt(format!(
                "node header: entries at {first}, {in_use} bytes in use, do not fit in {} bytes",
                b.len() - h
            )));
        }
        let mut entries = Vec::new();
        let mut at = h + first;
        loop {
            if entries.len() >= MAX_ENTRIES {
                return Err(corrupt(format!(
                    "more than {MAX_ENTRIES} entries in one node"
                )));
            }
            let e = b
                .get(at..at + 0x10)
                .filter(|_| at + 0x10 <= end)
                .ok_or_else(|| {
                    corrupt(format!(
                        "entry at byte {at} runs past the bytes in use ({end})"
                    ))
                })?;
            let len = usize::from(le16(e, 8));
            let key_len = usize::from(le16(e, 0x0A));
            let eflags = le16(e, 0x0C);
            let child_bytes = if eflags & ENTRY_CHILD != 0 { 8 } else { 0 };
            if len < 0x10 + child_bytes
                || len % 8 != 0
                || at + len > end
                || 0x10 + key_len + child_bytes > len
            {
                return Err(corrupt(format!(
                    "entry at byte {at}: length {len}, key length {key_len}, flags {eflags:#x} \
                     do not fit (bytes in use end at {end})"
                )));
            }
            let ent = &b[at..at + len];
            let last = eflags & ENTRY_LAST != 0;
            let key = if last {
                None
            } else {
                Some(
                    FileName::parse(&ent[0x10..0x10 + key_len])
                        .map_err(|e| crate::error::within(e, || format!("entry at byte {at}")))?,
                )
            };
            let child = (child_bytes != 0).then(|| le64(ent, len - 8));
            entries.push(Entry {
                file: FileRef::from_u64(le64(ent, 0)),
                flags: eflags,
                key,
                child,
            });
            if last {
                break;
            }
            at += len;
        }
        Ok(Self {
            has_children: flags & 1 != 0,
            entries,
        })
    }
}
