//! Encoders for the on-disk structures the writer makes: MFT record headers, resident and
//! non-resident attributes, `$STANDARD_INFORMATION`, `$FILE_NAME`, `$I30` index entries,
//! `INDX` records, and the security descriptor ntfs-3g gives files on volumes without
//! `$Secure` ids. Layouts are the ones the reader documents (`record.rs`, `attr.rs`,
//! `index.rs`); fixups are applied by the caller ([`crate::fixup::protect`]) at write time.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::attr::NtTime;
use crate::boot::FIXUP_STRIDE;
use crate::runs::{self, Run};

/// Rounds up to a multiple of 8 (attributes, entries and values are 8-byte aligned).
pub fn align8(n: usize) -> usize {
    n.div_ceil(8) * 8
}

/// Offset of the update-sequence array in a `FILE` record (NTFS 3.1).
const FILE_USA: usize = 0x30;
/// Offset of the update-sequence array in an `INDX` record.
const INDX_USA: usize = 0x28;
/// The end-of-attributes marker and its padding.
pub const END_MARKER: [u8; 8] = [0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0];

/// Entries in the update-sequence array of a `len`-byte record (the number and one word
/// per 512-byte stride).
fn usa_count(len: usize) -> usize {
    len / FIXUP_STRIDE + 1
}

/// Offset of the first attribute of a `FILE` record of `len` bytes.
pub fn first_attribute(len: usize) -> usize {
    align8(FILE_USA + 2 * usa_count(len))
}

/// Offset of the first index entry of an `INDX` record of `len` bytes (from byte 0).
pub fn first_index_entry(len: usize) -> usize {
    align8(INDX_USA + 2 * usa_count(len))
}

/// An NTFS time (100 ns since 1601) from a system time; times before 1601 clamp to 0.
pub fn nt_time(t: SystemTime) -> NtTime {
    const EPOCH_DIFF: u64 = 11_644_473_600;
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => (d.as_secs() + EPOCH_DIFF)
            .saturating_mul(10_000_000)
            .saturating_add(u64::from(d.subsec_nanos() / 100)),
        Err(e) => {
            let back = e.duration();
            let secs = EPOCH_DIFF.saturating_sub(back.as_secs());
            secs.saturating_mul(10_000_000)
        }
    }
}

/// The fixed fields of a `FILE` record.
pub struct RecordHeader {
    /// Its number in `$MFT`.
    pub number: u64,
    /// Sequence number.
    pub sequence: u16,
    /// Hard links.
    pub links: u16,
    /// `IN_USE`, `DIRECTORY`.
    pub flags: u16,
    /// Next attribute instance.
    pub next_instance: u16,
}

/// A whole `FILE` record of `len` bytes (fixups not applied) holding `attrs` (encoded,
/// in type order); `None` when they do not fit.
pub fn record(len: usize, h: &RecordHeader, attrs: &[Vec<u8>]) -> Option<Vec<u8>> {
    let first = first_attribute(len);
    let used = first + attrs.iter().map(Vec::len).sum::<usize>() + END_MARKER.len();
    if used > len {
        return None;
    }
    let mut b = vec![0u8; len];
    b[..4].copy_from_slice(b"FILE");
    put16(&mut b, 4, FILE_USA as u16);
    put16(&mut b, 6, usa_count(len) as u16);
    put16(&mut b, 0x10, h.sequence);
    put16(&mut b, 0x12, h.links);
    put16(&mut b, 0x14, first as u16);
    put16(&mut b, 0x16, h.flags);
    put32(&mut b, 0x18, used as u32);
    put32(&mut b, 0x1C, len as u32);
    put16(&mut b, 0x28, h.next_instance);
    put32(&mut b, 0x2C, h.number as u32);
    // The update sequence number protect() will increment.
    put16(&mut b, FILE_USA, 0);
    let mut at = first;
    for a in attrs {
        b[at..at + a.len()].copy_from_slice(a);
        at += a.len();
    }
    b[at..at + 8].copy_from_slice(&END_MARKER);
    Some(b)
}

/// An empty, unused `FILE` record (how a new part of `$MFT` is formatted).
pub fn empty_record(len: usize, number: u64) -> Vec<u8> {
    let h = RecordHeader {
        number,
        sequence: 0,
        links: 0,
        flags: 0,
        next_instance: 0,
    };
    record(len, &h, &[]).expect("an empty record fits")
}

/// Attribute name `$I30`.
pub const I30: [u16; 4] = [b'$' as u16, b'I' as u16, b'3' as u16, b'0' as u16];

/// A resident attribute: header (0x18 bytes), name, value (8-aligned).
pub fn resident(
    type_code: u32,
    name: &[u16],
    instance: u16,
    indexed: bool,
    value: &[u8],
) -> Vec<u8> {
    let name_at = 0x18;
    let value_at = align8(name_at + 2 * name.len());
    let len = align8(value_at + value.len());
    let mut b = vec![0u8; len];
    put32(&mut b, 0, type_code);
    put32(&mut b, 4, len as u32);
    b[8] = 0;
    b[9] = name.len() as u8;
    put16(
        &mut b,
        0x0A,
        if name.is_empty() { 0 } else { name_at as u16 },
    );
    put16(&mut b, 0x0E, instance);
    put32(&mut b, 0x10, value.len() as u32);
    put16(&mut b, 0x14, value_at as u16);
    b[0x16] = u8::from(indexed);
    put_name(&mut b, name_at, name);
    b[value_at..value_at + value.len()].copy_from_slice(value);
    b
}

/// Sizes of a non-resident attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sizes {
    /// Bytes allocated (clusters × cluster size).
    pub allocated: u64,
    /// Bytes of value.
    pub data: u64,
    /// Bytes written.
    pub initialized: u64,
}

/// A non-resident attribute mapping `runs` from VCN 0 (one extent, not compressed).
pub fn non_resident(
    type_code: u32,
    name: &[u16],
    instance: u16,
    flags: u16,
    runs: &[Run],
    sizes: Sizes,
) -> Vec<u8> {
    let name_at = 0x40;
    let rl = runs::encode(runs);
    let rl_at = align8(name_at + 2 * name.len());
    let len = align8(rl_at + rl.len());
    let mut b = vec![0u8; len];
    put32(&mut b, 0, type_code);
    put32(&mut b, 4, len as u32);
    b[8] = 1;
    b[9] = name.len() as u8;
    put16(
        &mut b,
        0x0A,
        if name.is_empty() { 0 } else { name_at as u16 },
    );
    put16(&mut b, 0x0C, flags);
    put16(&mut b, 0x0E, instance);
    let vcns: u64 = runs.iter().map(|r| r.len).sum();
    put64(&mut b, 0x10, 0);
    put64(&mut b, 0x18, vcns.wrapping_sub(1));
    put16(&mut b, 0x20, rl_at as u16);
    put64(&mut b, 0x28, sizes.allocated);
    put64(&mut b, 0x30, sizes.data);
    put64(&mut b, 0x38, sizes.initialized);
    put_name(&mut b, name_at, name);
    b[rl_at..rl_at + rl.len()].copy_from_slice(&rl);
    b
}

/// `$STANDARD_INFORMATION` (NTFS 3.x, 72 bytes): all four times `t`.
pub fn standard_information(t: NtTime, file_attributes: u32, security_id: u32) -> Vec<u8> {
    let mut v = vec![0u8; 0x48];
    for i in 0..4 {
        put64(&mut v, 8 * i, t);
    }
    put32(&mut v, 0x20, file_attributes);
    put32(&mut v, 0x34, security_id);
    v
}

/// What a `$FILE_NAME` says.
pub struct Name<'a> {
    /// The parent directory (reference with sequence).
    pub parent: u64,
    /// All four times.
    pub time: NtTime,
    /// Allocated bytes of the unnamed `$DATA`.
    pub allocated: u64,
    /// Bytes of the unnamed `$DATA`.
    pub size: u64,
    /// DOS attributes (with `FILE_ATTR_DIRECTORY` for a directory).
    pub attributes: u32,
    /// Namespace.
    pub namespace: u8,
    /// The name.
    pub name: &'a [u16],
}

/// A `$FILE_NAME` value (also the key of the parent's index entry).
pub fn file_name(n: &Name<'_>) -> Vec<u8> {
    let mut v = vec![0u8; 0x42 + 2 * n.name.len()];
    put64(&mut v, 0, n.parent);
    for i in 0..4 {
        put64(&mut v, 8 + 8 * i, n.time);
    }
    put64(&mut v, 0x28, n.allocated);
    put64(&mut v, 0x30, n.size);
    put32(&mut v, 0x38, n.attributes);
    v[0x40] = n.name.len() as u8;
    v[0x41] = n.namespace;
    put_name(&mut v, 0x42, n.name);
    v
}

/// The self-relative security descriptor ntfs-3g writes for a file when no inherited one
/// is used: owner and group Administrators (S-1-5-32-544), a DACL allowing Everyone
/// (S-1-1-0) full control, inherited by files and directories below.
pub fn default_security_descriptor() -> Vec<u8> {
    let mut v = vec![0u8; 80];
    v[0] = 1; // revision
    put16(&mut v, 2, 0x8004); // self-relative, DACL present
    put32(&mut v, 4, 48); // owner
    put32(&mut v, 8, 64); // group
    put32(&mut v, 12, 0); // no SACL
    put32(&mut v, 16, 20); // DACL
                           // ACL: revision 2, size 28, one ACE.
    v[20] = 2;
    put16(&mut v, 22, 28);
    put16(&mut v, 24, 1);
    // ACE: allow, object + container inherit, 20 bytes, full control, S-1-1-0.
    v[28] = 0;
    v[29] = 3;
    put16(&mut v, 30, 20);
    put32(&mut v, 32, 0x001F_01FF);
    v[36..48].copy_from_slice(&[1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0]);
    let admins = [1, 2, 0, 0, 0, 0, 0, 5, 32, 0, 0, 0, 0x20, 2, 0, 0];
    v[48..64].copy_from_slice(&admins);
    v[64..80].copy_from_slice(&admins);
    v
}

/// Entry flag: has a child node.
pub const ENTRY_CHILD: u16 = crate::index::ENTRY_CHILD;
/// Entry flag: the last entry of a node.
pub const ENTRY_LAST: u16 = crate::index::ENTRY_LAST;

/// One `$I30` index entry: `key` empty for the last entry.
pub fn index_entry(file: u64, key: &[u8], child: Option<u64>, last: bool) -> Vec<u8> {
    let len = entry_len(key.len(), child.is_some());
    let mut b = vec![0u8; len];
    if !last {
        put64(&mut b, 0, file);
    }
    put16(&mut b, 8, len as u16);
    put16(&mut b, 0x0A, key.len() as u16);
    let mut flags = 0;
    if child.is_some() {
        flags |= ENTRY_CHILD;
    }
    if last {
        flags |= ENTRY_LAST;
    }
    put16(&mut b, 0x0C, flags);
    b[0x10..0x10 + key.len()].copy_from_slice(key);
    if let Some(c) = child {
        put64(&mut b, len - 8, c);
    }
    b
}

/// Bytes an index entry with a key of `key_len` bytes takes.
pub fn entry_len(key_len: usize, child: bool) -> usize {
    align8(0x10 + key_len) + if child { 8 } else { 0 }
}

/// A node header (16 bytes) for entries of `entries_len` bytes starting `first` bytes
/// after the header, in a space of `allocated` bytes (also relative to the header).
pub fn node_header(first: usize, entries_len: usize, allocated: usize, children: bool) -> [u8; 16] {
    let mut h = [0u8; 16];
    put32(&mut h, 0, first as u32);
    put32(&mut h, 4, (first + entries_len) as u32);
    put32(&mut h, 8, allocated as u32);
    h[12] = u8::from(children);
    h
}

/// An `INDX` record of `len` bytes at `vcn` holding the encoded `entries` (fixups not
/// applied; `usn` is the update sequence number it had, for protect() to increment).
pub fn indx(len: usize, vcn: u64, usn: u16, entries: &[u8], children: bool) -> Vec<u8> {
    let mut b = vec![0u8; len];
    b[..4].copy_from_slice(b"INDX");
    put16(&mut b, 4, INDX_USA as u16);
    put16(&mut b, 6, usa_count(len) as u16);
    put64(&mut b, 0x10, vcn);
    let first = first_index_entry(len);
    let h = node_header(first - 0x18, entries.len(), len - 0x18, children);
    b[0x18..0x28].copy_from_slice(&h);
    put16(&mut b, INDX_USA, usn);
    b[first..first + entries.len()].copy_from_slice(entries);
    b
}

fn put_name(b: &mut [u8], at: usize, name: &[u16]) {
    for (i, u) in name.iter().enumerate() {
        put16(b, at + 2 * i, *u);
    }
}

/// Writes a little-endian u16.
pub fn put16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}
/// Writes a little-endian u32.
pub fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
/// Writes a little-endian u64.
pub fn put64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr::{Attribute, FileName, StandardInformation, Value};
    use crate::record::Record;

    #[test]
    fn a_record_built_here_parses_with_the_reader() {
        let name: Vec<u16> = "curtin-hooks".encode_utf16().collect();
        let si = resident(
            0x10,
            &[],
            0,
            false,
            &standard_information(1 << 57, 0x20, 261),
        );
        let fnv = file_name(&Name {
            parent: 5 | 5 << 48,
            time: 1 << 57,
            allocated: 8,
            size: 5,
            attributes: 0x20,
            namespace: 0,
            name: &name,
        });
        let fna = resident(0x30, &[], 1, true, &fnv);
        let runs = [Run {
            vcn: 0,
            lcn: Some(100),
            len: 3,
        }];
        let sizes = Sizes {
            allocated: 3 * 4096,
            data: 9000,
            initialized: 9000,
        };
        let data = non_resident(0x80, &[], 2, 0, &runs, sizes);
        let h = RecordHeader {
            number: 64,
            sequence: 1,
            links: 1,
            flags: 1,
            next_instance: 3,
        };
        let mut b = record(1024, &h, &[si, fna, data]).unwrap();
        crate::fixup::protect(&mut b).unwrap();
        let r = Record::parse(64, b).unwrap();
        assert_eq!((r.sequence, r.link_count, r.flags), (1, 1, 1));
        let attrs: Vec<Attribute> = r.attributes(1000).unwrap();
        assert_eq!(attrs.len(), 3);
        let si = StandardInformation::parse(attrs[0].resident().unwrap()).unwrap();
        assert_eq!(si.security_id, 261);
        let f = FileName::parse(attrs[1].resident().unwrap()).unwrap();
        assert_eq!(f.name, name);
        assert_eq!(f.parent.record, 5);
        let Value::NonResident(nr) = &attrs[2].value else {
            panic!("resident")
        };
        assert_eq!(nr.runs, runs);
        assert_eq!(nr.data_size, 9000);
        assert!(record(1024, &h, &[vec![0u8; 1000]]).is_none());
    }

    #[test]
    fn an_indx_record_built_here_parses_with_the_reader() {
        let name: Vec<u16> = "a".encode_utf16().collect();
        let key = file_name(&Name {
            parent: 5,
            time: 0,
            allocated: 0,
            size: 0,
            attributes: 0,
            namespace: 0,
            name: &name,
        });
        let mut e = index_entry(70, &key, Some(3), false);
        e.extend(index_entry(0, &[], Some(4), true));
        let mut b = indx(4096, 2, 0, &e, true);
        crate::fixup::protect(&mut b).unwrap();
        crate::fixup::unprotect(&mut b).unwrap();
        let n = crate::index::parse_indx(&b, 2).unwrap();
        assert!(n.has_children);
        assert_eq!(n.entries.len(), 2);
        assert_eq!(n.entries[0].child, Some(3));
        assert_eq!(n.entries[1].child, Some(4));
        assert_eq!(n.entries[0].key.as_ref().unwrap().name, name);
    }
}
