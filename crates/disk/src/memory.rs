//! A disk held in memory: for tests, fuzzing and small generated media.

use crate::{check_range, Disk, Extent, ExtentKind, Result};

/// A disk whose bytes are a `Vec<u8>`. Every byte is reported as `Data`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryDisk(pub Vec<u8>);

impl MemoryDisk {
    /// A disk holding `bytes`.
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }
}

impl Disk for MemoryDisk {
    fn size(&self) -> u64 {
        self.0.len() as u64
    }
    fn extents(&self, offset: u64, len: u64) -> Result<Vec<Extent>> {
        check_range(self.size(), offset, len)?;
        Ok(if len == 0 {
            Vec::new()
        } else {
            vec![Extent {
                offset,
                len,
                kind: ExtentKind::Data,
            }]
        })
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        check_range(self.size(), offset, buf.len() as u64)?;
        buf.copy_from_slice(&self.0[offset as usize..offset as usize + buf.len()]);
        Ok(())
    }
}
