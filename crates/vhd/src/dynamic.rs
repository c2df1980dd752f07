//! The dynamic disk header (VHD specification, "Dynamic Disk Header Format"): 1024
//! bytes, big-endian, at the footer's `data_offset`, for dynamic and differencing disks.
//!
//! ```text
//!   0  cookie "cxsparse"      32  block size u32            64  parent unicode name
//!   8  data offset u64        36  checksum u32                  [512] (UTF-16 BE)
//!  16  table (BAT) offset u64 40  parent unique id [16]    576  8 parent locator
//!  24  header version u32     56  parent timestamp u32          entries × 24 bytes
//!  28  max table entries u32  60  reserved u32             768  reserved [256]
//! ```
//!
//! A parent locator entry: platform code u32, platform data space u32, platform data
//! length u32 (bytes), reserved u32, platform data offset u64 (bytes in the file).

use crate::footer::{be32, be64, checksum, tag};
use ddgz_disk::Problem;

/// Size of the dynamic disk header (defined by the specification).
pub(crate) const HEADER_SIZE: usize = 1024;

/// The header cookie (defined by the specification).
const COOKIE: &[u8; 8] = b"cxsparse";

/// Longest parent locator we read: 64 KiB is far more than any path (ours).
pub(crate) const MAX_LOCATOR_LEN: u32 = 64 << 10;

/// A parent locator entry with a non-zero platform code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Locator {
    pub code: [u8; 4],
    pub len: u32,
    pub offset: u64,
}

/// A dynamic disk header whose cookie and checksum are valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DynHeader {
    pub table_offset: u64,
    pub max_table_entries: u32,
    pub block_size: u32,
    pub parent_uuid: [u8; 16],
    /// The parent's file name, decoded from UTF-16 BE up to the first NUL.
    pub parent_name: String,
    pub locators: Vec<Locator>,
}

impl DynHeader {
    /// Parses and checks the header: cookie, checksum, block size (a power of two of at
    /// least 512 bytes, as QEMU requires).
    pub(crate) fn parse(b: &[u8; HEADER_SIZE]) -> Result<Self, Problem> {
        if &b[..8] != COOKIE {
            return Err(Problem::invalid(format!(
                "no dynamic disk header: the cookie is {:?}, not \"cxsparse\"",
                String::from_utf8_lossy(&b[..8])
            )));
        }
        let stored = be32(b, 36);
        let computed = checksum(b, 36);
        if stored != computed {
            return Err(Problem::corrupt(format!(
                "dynamic disk header checksum mismatch: stored 0x{stored:08x}, computed \
                 0x{computed:08x}"
            )));
        }
        let block_size = be32(b, 32);
        if !block_size.is_power_of_two() || block_size < 512 {
            return Err(Problem::invalid(format!(
                "block size {block_size}; must be a power of two of at least 512"
            )));
        }
        let units: Vec<u16> = b[64..576]
            .chunks_exact(2)
            .map(|c| u16::from_be_bytes([c[0], c[1]]))
            .take_while(|&u| u != 0)
            .collect();
        let parent_name = String::from_utf16_lossy(&units);
        let locators = (0..8)
            .map(|i| 576 + i * 24)
            .filter(|&at| be32(b, at) != 0)
            .map(|at| Locator {
                code: b[at..at + 4].try_into().expect("4 bytes"),
                len: be32(b, at + 8),
                offset: be64(b, at + 16),
            })
            .collect();
        Ok(Self {
            table_offset: be64(b, 16),
            max_table_entries: be32(b, 28),
            block_size,
            parent_uuid: b[40..56].try_into().expect("16 bytes"),
            parent_name,
            locators,
        })
    }
}

impl Locator {
    /// The platform code, printable.
    pub(crate) fn code_name(&self) -> String {
        tag(&self.code)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_checks() {
        let mut b = [0u8; HEADER_SIZE];
        b[..8].copy_from_slice(COOKIE);
        b[16..24].copy_from_slice(&1536u64.to_be_bytes());
        b[28..32].copy_from_slice(&10u32.to_be_bytes());
        b[32..36].copy_from_slice(&(2u32 << 20).to_be_bytes());
        for (i, c) in "base.vhd".encode_utf16().enumerate() {
            b[64 + 2 * i..66 + 2 * i].copy_from_slice(&c.to_be_bytes());
        }
        b[576..580].copy_from_slice(b"W2ru");
        b[584..588].copy_from_slice(&16u32.to_be_bytes());
        b[592..600].copy_from_slice(&4096u64.to_be_bytes());
        let c = checksum(&b, 36);
        b[36..40].copy_from_slice(&c.to_be_bytes());
        let h = DynHeader::parse(&b).unwrap();
        assert_eq!(h.parent_name, "base.vhd");
        assert_eq!(h.block_size, 2 << 20);
        assert_eq!(
            h.locators,
            vec![Locator {
                code: *b"W2ru",
                len: 16,
                offset: 4096
            }]
        );
        let mut bad = b;
        bad[32..36].copy_from_slice(&3000u32.to_be_bytes());
        let c = checksum(&bad, 36);
        bad[36..40].copy_from_slice(&c.to_be_bytes());
        assert!(DynHeader::parse(&bad)
            .unwrap_err()
            .message
            .contains("block size 3000"));
        b[700] ^= 1;
        assert!(DynHeader::parse(&b)
            .unwrap_err()
            .message
            .contains("checksum mismatch"));
    }
}
