//! File references: how records and index entries name an MFT record.

/// A file reference: MFT record number (48 bits) and sequence number (16 bits).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileRef {
    /// MFT record number.
    pub record: u64,
    /// Sequence number the record had when the reference was made (0: not checked).
    pub sequence: u16,
}

impl FileRef {
    /// Splits the on-disk u64.
    pub fn from_u64(v: u64) -> Self {
        Self {
            record: v & 0xFFFF_FFFF_FFFF,
            sequence: (v >> 48) as u16,
        }
    }
    /// The on-disk u64.
    pub fn to_u64(self) -> u64 {
        self.record | u64::from(self.sequence) << 48
    }
}
