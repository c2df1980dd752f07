//! The header section ([MS-VHDX] 2.2): the file type identifier at 0, two headers at
//! 64 KiB and 128 KiB, two copies of the region table at 192 KiB and 256 KiB. All
//! little-endian; GUIDs in Microsoft's mixed-endian layout, compared as their 16 bytes.
//!
//! ```text
//! header (4 KiB, CRC-32C over all of it):
//!   0 signature "head"   4 checksum   8 sequence number u64   16 file write GUID
//!  32 data write GUID   48 log GUID  64 log version u16   66 version u16 (1)
//!  68 log length u32    72 log offset u64
//! region table (64 KiB, CRC-32C over all of it):
//!   0 signature "regi"   4 checksum   8 entry count u32 (<= 2047)   12 reserved
//!  16 entries of 32 bytes: GUID, file offset u64, length u32, required u32 (bit 0)
//! ```

pub(crate) use ddgz_disk::bytes::{le16, le32, le64};
use ddgz_disk::crc32c;
use ddgz_disk::Problem;

/// Offsets of the structures (defined by the specification).
pub(crate) const HEADER_OFFSETS: [u64; 2] = [64 << 10, 128 << 10];
pub(crate) const REGION_OFFSETS: [u64; 2] = [192 << 10, 256 << 10];
pub(crate) const HEADER_SIZE: usize = 4 << 10;
pub(crate) const REGION_TABLE_SIZE: usize = 64 << 10;
/// The header section, which no object may overlap: 1 MiB.
pub(crate) const HEADER_SECTION: u64 = 1 << 20;

/// Builds the 16 on-disk bytes of a GUID written `d1-d2-d3-d4`.
pub(crate) const fn guid(d1: u32, d2: u16, d3: u16, d4: [u8; 8]) -> [u8; 16] {
    let a = d1.to_le_bytes();
    let b = d2.to_le_bytes();
    let c = d3.to_le_bytes();
    [
        a[0], a[1], a[2], a[3], b[0], b[1], c[0], c[1], d4[0], d4[1], d4[2], d4[3], d4[4], d4[5],
        d4[6], d4[7],
    ]
}

/// The BAT region (2DC27766-F623-4200-9D64-115E9BFD4A08).
pub(crate) const BAT_GUID: [u8; 16] = guid(
    0x2dc2_7766,
    0xf623,
    0x4200,
    [0x9d, 0x64, 0x11, 0x5e, 0x9b, 0xfd, 0x4a, 0x08],
);
/// The metadata region (8B7CA206-4790-4B9A-B8FE-575F050F886E).
pub(crate) const METADATA_GUID: [u8; 16] = guid(
    0x8b7c_a206,
    0x4790,
    0x4b9a,
    [0xb8, 0xfe, 0x57, 0x5f, 0x05, 0x0f, 0x88, 0x6e],
);

pub(crate) fn guid_at(b: &[u8], at: usize) -> [u8; 16] {
    b[at..at + 16].try_into().expect("16 bytes")
}

/// Shows a GUID the way Windows writes it.
pub(crate) fn show_guid(g: &[u8; 16]) -> String {
    format!(
        "{:08X}-{:04X}-{:04X}-{}",
        le32(g, 0),
        le16(g, 4),
        le16(g, 6),
        g[8..]
            .iter()
            .enumerate()
            .map(|(i, b)| if i == 2 {
                format!("-{b:02X}")
            } else {
                format!("{b:02X}")
            })
            .collect::<String>()
    )
}

/// A header that passed its checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    pub sequence: u64,
    pub data_write_guid: [u8; 16],
    pub log_guid: [u8; 16],
    pub log_version: u16,
    pub log_length: u32,
    pub log_offset: u64,
}

impl Header {
    /// Parses one 4 KiB header: signature, CRC-32C, version 1.
    pub(crate) fn parse(b: &[u8]) -> Result<Self, Problem> {
        if &b[..4] != b"head" {
            return Err(Problem::invalid("no \"head\" signature"));
        }
        if !crc32c::valid(b, 4) {
            return Err(Problem::corrupt("CRC-32C mismatch"));
        }
        let version = le16(b, 66);
        if version != 1 {
            return Err(Problem::unsupported(format!(
                "version {version}; only 1 is read"
            )));
        }
        Ok(Self {
            sequence: le64(b, 8),
            data_write_guid: guid_at(b, 32),
            log_guid: guid_at(b, 48),
            log_version: le16(b, 64),
            log_length: le32(b, 68),
            log_offset: le64(b, 72),
        })
    }

    /// The current header of the pair: the valid one, or of two valid ones the one with
    /// the higher sequence number (equal numbers only if both are identical, as
    /// Disk2VHD writes them; QEMU accepts that too). `pair` holds each header's bytes.
    pub(crate) fn current(pair: [&[u8]; 2]) -> Result<(Self, usize), Problem> {
        let h = [Self::parse(pair[0]), Self::parse(pair[1])];
        match h {
            [Ok(a), Err(_)] => Ok((a, 0)),
            [Err(_), Ok(b)] => Ok((b, 1)),
            [Ok(a), Ok(b)] => {
                if a.sequence > b.sequence {
                    Ok((a, 0))
                } else if b.sequence > a.sequence {
                    Ok((b, 1))
                } else if pair[0][..80] == pair[1][..80] {
                    Ok((a, 0))
                } else {
                    Err(Problem::corrupt(format!(
                        "both headers have sequence number {} but differ",
                        a.sequence
                    )))
                }
            }
            [Err(a), Err(b)] => Err(Problem::new(
                a.kind,
                format!(
                    "no valid header: the one at 0x10000: {}; the one at 0x20000: {}",
                    a.message, b.message
                ),
            )),
        }
    }
}

/// A region table entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Region {
    pub offset: u64,
    pub length: u32,
}

/// The regions the reader needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Regions {
    pub bat: Region,
    pub metadata: Region,
}

impl Regions {
    /// Parses a 64 KiB region table: signature, CRC-32C, at most 2047 entries, each
    /// region 1 MiB aligned, past the header section, inside the file, not overlapping
    /// another; the BAT and metadata regions once each; an unknown region marked
    /// required is refused.
    pub(crate) fn parse(b: &[u8], file_size: u64) -> Result<Self, Problem> {
        if &b[..4] != b"regi" {
            return Err(Problem::invalid("no \"regi\" signature"));
        }
        if !crc32c::valid(b, 4) {
            return Err(Problem::corrupt("CRC-32C mismatch"));
        }
        let count = le32(b, 8);
        if count > 2047 {
            return Err(Problem::invalid(format!(
                "{count} entries; the limit is 2047"
            )));
        }
        let mut bat = None;
        let mut metadata = None;
        let mut seen: Vec<(u64, u64)> = Vec::new();
        for i in 0..count as usize {
            let e = 16 + i * 32;
            let g = guid_at(b, e);
            let r = Region {
                offset: le64(b, e + 16),
                length: le32(b, e + 24),
            };
            let required = le32(b, e + 28) & 1 != 0;
            let end = r.offset.checked_add(u64::from(r.length));
            let what = if g == BAT_GUID {
                "BAT"
            } else if g == METADATA_GUID {
                "metadata"
            } else {
                "unknown"
            };
            if what == "unknown" {
                if required {
                    return Err(Problem::unsupported(format!(
                        "region {} is required and unknown",
                        show_guid(&g)
                    )));
                }
                continue;
            }
            if r.offset % (1 << 20) != 0 || r.offset < HEADER_SECTION || r.length == 0 {
                return Err(Problem::invalid(format!(
                    "{what} region at 0x{:x} ({} bytes): must be 1 MiB aligned, past the \
                     1 MiB header section, and not empty",
                    r.offset, r.length
                )));
            }
            let Some(end) = end.filter(|&e| e <= file_size) else {
                return Err(Problem::corrupt(format!(
                    "{what} region at 0x{:x} ({} bytes) lies past the end of the file (size \
                     0x{file_size:x})",
                    r.offset, r.length
                )));
            };
            if let Some(o) = seen.iter().find(|(a, z)| r.offset < *z && end > *a) {
                return Err(Problem::corrupt(format!(
                    "{what} region at 0x{:x} overlaps the region at 0x{:x}",
                    r.offset, o.0
                )));
            }
            seen.push((r.offset, end));
            let slot = if what == "BAT" {
                &mut bat
            } else {
                &mut metadata
            };
            if slot.replace(r).is_some() {
                return Err(Problem::corrupt(format!("two {what} regions")));
            }
        }
        match (bat, metadata) {
            (Some(bat), Some(metadata)) => Ok(Self { bat, metadata }),
            (None, _) => Err(Problem::invalid("no BAT region")),
            (_, None) => Err(Problem::invalid("no metadata region")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_and_headers() {
        assert_eq!(show_guid(&BAT_GUID), "2DC27766-F623-4200-9D64-115E9BFD4A08");
        let mut h = vec![0u8; HEADER_SIZE];
        h[..4].copy_from_slice(b"head");
        h[8..16].copy_from_slice(&5u64.to_le_bytes());
        h[66..68].copy_from_slice(&1u16.to_le_bytes());
        let fix = |h: &mut Vec<u8>| {
            let c = crc32c::crc32c_zeroed(h, 4);
            h[4..8].copy_from_slice(&c.to_le_bytes());
        };
        fix(&mut h);
        let mut h2 = h.clone();
        h2[8..16].copy_from_slice(&6u64.to_le_bytes());
        fix(&mut h2);
        assert_eq!(Header::current([&h, &h2]).unwrap().1, 1);
        assert_eq!(Header::current([&h2, &h]).unwrap().1, 0);
        assert_eq!(Header::current([&h, &h]).unwrap().1, 0);
        let mut bad = h2.clone();
        bad[100] = 1;
        assert_eq!(Header::current([&h, &bad]).unwrap().1, 0);
        let mut h3 = h.clone();
        h3[20] = 1;
        fix(&mut h3);
        assert!(Header::current([&h, &h3])
            .unwrap_err()
            .message
            .contains("differ"));
        let e = Header::current([&bad, &bad]).unwrap_err().message;
        assert!(
            e.contains("no valid header") && e.contains("CRC-32C"),
            "{e}"
        );
    }
}
