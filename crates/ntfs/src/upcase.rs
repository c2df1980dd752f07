//! `$UpCase` collation: how NTFS orders and compares names in `$I30` indexes.
//!
//! `$UpCase` (MFT record 10) is a table of 65536 UTF-16 units, the upper case of each.
//! Two names compare equal when their upcased units are equal; the index orders names
//! by upcased units, a prefix first.

use std::cmp::Ordering;

/// Units in the table.
pub const UPCASE_LEN: usize = 1 << 16;

/// The volume's upper-case table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpCase(Vec<u16>);

impl UpCase {
    /// The table from `$UpCase`'s bytes (little-endian u16s); a shorter table leaves the
    /// rest of the units unchanged, longer bytes are ignored.
    pub fn from_bytes(b: &[u8]) -> Self {
        let mut t: Vec<u16> = b
            .chunks_exact(2)
            .take(UPCASE_LEN)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        let n = t.len();
        t.extend((n..UPCASE_LEN).map(|u| u as u16));
        Self(t)
    }

    /// The table that changes nothing (until `$UpCase` is read).
    pub fn identity() -> Self {
        Self(Vec::new())
    }

    /// A table folding ASCII only, for volumes whose `$UpCase` cannot be read.
    pub fn ascii() -> Self {
        Self(
            (0..=u16::MAX)
                .map(|u| {
                    if (0x61..=0x7A).contains(&u) {
                        u - 0x20
                    } else {
                        u
                    }
                })
                .collect(),
        )
    }

    /// The upper case of one unit.
    pub fn up(&self, u: u16) -> u16 {
        self.0.get(usize::from(u)).copied().unwrap_or(u)
    }

    /// Orders two names as an `$I30` index does (`COLLATION_FILE_NAME`).
    pub fn cmp(&self, a: &[u16], b: &[u16]) -> Ordering {
        let ua = a.iter().map(|&u| self.up(u));
        let ub = b.iter().map(|&u| self.up(u));
        ua.cmp(ub)
    }

    /// Whether two names are equal ignoring case.
    pub fn eq(&self, a: &[u16], b: &[u16]) -> bool {
        self.cmp(a, b) == Ordering::Equal
    }
}
