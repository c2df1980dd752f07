//! A copy-on-write view of the volume: reads go through to the read-only disk, writes stay
//! in memory as 4 KiB blocks; the reader ([`crate::Volume`]) opens over it, so every later
//! look-up sees the edits made so far. At the end, the written blocks that really differ
//! from the disk become [`Patch`]es at disk offsets: the overlay the converter reads.

use std::collections::BTreeMap;
use std::sync::RwLock;

use ddgz_disk::{check_range, Disk, Extent, ExtentKind, Patch};

/// Granularity of the store: a page, a multiple of every sector size NTFS allows.
const BLOCK: u64 = 4096;

/// The volume `[start, start + len)` of `disk`, with the blocks written so far.
#[derive(Debug)]
pub struct Cow<'d> {
    disk: &'d dyn Disk,
    start: u64,
    len: u64,
    dirty: RwLock<BTreeMap<u64, Box<[u8]>>>,
}

impl<'d> Cow<'d> {
    /// A view of `[start, start + len)` of `disk` (checked to lie inside it).
    pub fn new(disk: &'d dyn Disk, start: u64, len: u64) -> ddgz_disk::Result<Self> {
        check_range(disk.size(), start, len)?;
        Ok(Self {
            disk,
            start,
            len,
            dirty: RwLock::new(BTreeMap::new()),
        })
    }

    fn block_len(&self, idx: u64) -> usize {
        (self.len - idx * BLOCK).min(BLOCK) as usize
    }

    fn original(&self, idx: u64) -> ddgz_disk::Result<Box<[u8]>> {
        let mut b = vec![0u8; self.block_len(idx)].into_boxed_slice();
        self.disk.read_at(self.start + idx * BLOCK, &mut b)?;
        Ok(b)
    }

    /// Writes `buf` at volume offset `pos`.
    pub fn write_at(&self, pos: u64, buf: &[u8]) -> ddgz_disk::Result<()> {
        check_range(self.len, pos, buf.len() as u64)?;
        let mut dirty = self.dirty.write().unwrap_or_else(|p| p.into_inner());
        let end = pos + buf.len() as u64;
        let mut p = pos;
        while p < end {
            let idx = p / BLOCK;
            let off = (p % BLOCK) as usize;
            let n = (BLOCK - off as u64).min(end - p) as usize;
            let b = match dirty.entry(idx) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => {
                    let blen = (self.len - idx * BLOCK).min(BLOCK) as usize;
                    let fresh = if n == blen {
                        vec![0u8; n].into_boxed_slice()
                    } else {
                        self.original(idx)?
                    };
                    e.insert(fresh)
                }
            };
            b[off..off + n].copy_from_slice(&buf[(p - pos) as usize..(p - pos) as usize + n]);
            p += n as u64;
        }
        Ok(())
    }

    /// The written blocks that differ from the disk, at disk offsets, adjacent ones merged.
    pub fn into_patches(self) -> ddgz_disk::Result<Vec<Patch>> {
        let dirty = self.dirty.into_inner().unwrap_or_else(|p| p.into_inner());
        let mut out: Vec<Patch> = Vec::new();
        for (idx, b) in dirty {
            let mut orig = vec![0u8; b.len()];
            self.disk.read_at(self.start + idx * BLOCK, &mut orig)?;
            if *orig == *b {
                continue;
            }
            let at = self.start + idx * BLOCK;
            match out.last_mut() {
                Some(p) if p.offset + p.data.len() as u64 == at => p.data.extend_from_slice(&b),
                _ => out.push(Patch {
                    offset: at,
                    data: b.into_vec(),
                }),
            }
        }
        Ok(out)
    }
}

impl Disk for Cow<'_> {
    fn size(&self) -> u64 {
        self.len
    }

    fn extents(&self, offset: u64, len: u64) -> ddgz_disk::Result<Vec<Extent>> {
        check_range(self.len, offset, len)?;
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

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> ddgz_disk::Result<()> {
        check_range(self.len, offset, buf.len() as u64)?;
        let dirty = self.dirty.read().unwrap_or_else(|p| p.into_inner());
        let end = offset + buf.len() as u64;
        let mut p = offset;
        while p < end {
            let idx = p / BLOCK;
            let off = (p % BLOCK) as usize;
            let n = (BLOCK - off as u64).min(end - p) as usize;
            let out = &mut buf[(p - offset) as usize..(p - offset) as usize + n];
            match dirty.get(&idx) {
                Some(b) => out.copy_from_slice(&b[off..off + n]),
                None => {
                    // Clean bytes up to the next dirty block in one read.
                    let next_dirty = dirty
                        .range(idx + 1..)
                        .next()
                        .map_or(end, |(k, _)| (k * BLOCK).min(end));
                    let m = (next_dirty - p) as usize;
                    let out = &mut buf[(p - offset) as usize..(p - offset) as usize + m];
                    self.disk.read_at(self.start + p, out)?;
                    p += m as u64;
                    continue;
                }
            }
            p += n as u64;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ddgz_disk::MemoryDisk;

    #[test]
    fn writes_read_back_and_only_changes_become_patches() {
        let d = MemoryDisk::new((0..20000u32).map(|i| i as u8).collect());
        let c = Cow::new(&d, 1000, 15000).unwrap();
        c.write_at(10, b"abc").unwrap();
        c.write_at(4090, &[7u8; 10]).unwrap();
        // Same bytes as the disk: no patch for that block.
        let mut same = vec![0u8; 100];
        d.read_at(1000 + 12000, &mut same).unwrap();
        c.write_at(12000, &same).unwrap();
        let mut b = vec![0u8; 8200];
        c.read_at(0, &mut b).unwrap();
        assert_eq!(&b[10..13], b"abc");
        assert_eq!(b[4095], 7);
        assert_eq!(b[4099], 7);
        assert_eq!(b[4100], (1000 + 4100u32) as u8);
        assert_eq!(b[13], (1013u32) as u8);
        assert_eq!(b[8199], (1000 + 8199u32) as u8);
        let p = c.into_patches().unwrap();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].offset, 1000);
        assert_eq!(p[0].data.len(), 8192);
        assert!(Cow::new(&d, 10000, 15000).is_err());
    }
}
