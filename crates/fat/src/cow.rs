//! A copy-on-write view of one partition of a read-only [`Disk`]: reads go through to the
//! disk, writes stay in memory as 4 KiB blocks.
//! At the end the written blocks that really differ become [`Patch`]es at disk offsets.
//!
//! Memory is what changed (plus a few cached blocks), whatever the partition size.

use std::collections::BTreeMap;
use std::io;

use ddgz_disk::{Disk, Patch};

/// Granularity of the copy-on-write store: a page, and a multiple of every FAT sector size
/// (512..4096).
pub(crate) const BLOCK: u64 = 4096;

/// Clean blocks kept to serve the many small reads of FAT entries and directory entries.
const CLEAN_CACHE_BLOCKS: usize = 16;

/// The shared state: the disk range and the written blocks.
#[derive(Debug)]
pub(crate) struct Store<'d> {
    disk: &'d dyn Disk,
    /// First byte of the partition on the disk.
    start: u64,
    /// Length of the partition.
    len: u64,
    /// Written blocks, by block index inside the partition. The last block of a partition
    /// whose length is not a multiple of [`BLOCK`] is shorter.
    dirty: BTreeMap<u64, Box<[u8]>>,
    /// Recently read clean blocks, most recent last.
    clean: Vec<(u64, Box<[u8]>)>,
}

impl<'d> Store<'d> {
    /// A store over `[start, start + len)` of `disk`; the range must lie inside the disk.
    pub(crate) fn new(disk: &'d dyn Disk, start: u64, len: u64) -> Self {
        Self {
            disk,
            start,
            len,
            dirty: BTreeMap::new(),
            clean: Vec::new(),
        }
    }

    /// Length of the partition.
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    fn block_len(&self, idx: u64) -> usize {
        (self.len - idx * BLOCK).min(BLOCK) as usize
    }

    fn read_original(&self, idx: u64) -> io::Result<Box<[u8]>> {
        let mut b = vec![0u8; self.block_len(idx)].into_boxed_slice();
        self.disk
            .read_at(self.start + idx * BLOCK, &mut b)
            .map_err(io::Error::other)?;
        Ok(b)
    }

    /// Reads `buf.len()` bytes at partition offset `pos`; fails past the end.
    pub(crate) fn read_at(&mut self, pos: u64, buf: &mut [u8]) -> io::Result<()> {
        let end = pos
            .checked_add(buf.len() as u64)
            .filter(|&e| e <= self.len)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "read of {} bytes at offset {pos} passes the end of the volume ({} bytes)",
                        buf.len(),
                        self.len
                    ),
                )
            })?;
        let mut p = pos;
        while p < end {
            let idx = p / BLOCK;
            let off = (p % BLOCK) as usize;
            let n = ((BLOCK - off as u64).min(end - p)) as usize;
            let out = &mut buf[(p - pos) as usize..(p - pos) as usize + n];
            if let Some(b) = self.dirty.get(&idx) {
                out.copy_from_slice(&b[off..off + n]);
            } else if n as u64 == BLOCK {
                // Whole clean block: straight from the disk, not through the cache.
                self.disk
                    .read_at(self.start + p, out)
                    .map_err(io::Error::other)?;
            } else {
                let b = self.clean_block(idx)?;
                out.copy_from_slice(&b[off..off + n]);
            }
            p += n as u64;
        }
        Ok(())
    }

    fn clean_block(&mut self, idx: u64) -> io::Result<&[u8]> {
        if let Some(i) = self.clean.iter().position(|(k, _)| *k == idx) {
            let e = self.clean.remove(i);
            self.clean.push(e);
        } else {
            let b = self.read_original(idx)?;
            if self.clean.len() >= CLEAN_CACHE_BLOCKS {
                self.clean.remove(0);
            }
            self.clean.push((idx, b));
        }
        Ok(&self.clean.last().expect("just pushed").1)
    }

    /// Writes `buf` at partition offset `pos`; fails past the end.
    pub(crate) fn write_at(&mut self, pos: u64, buf: &[u8]) -> io::Result<()> {
        let end = pos
            .checked_add(buf.len() as u64)
            .filter(|&e| e <= self.len)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::WriteZero,
                    format!(
                        "write of {} bytes at offset {pos} passes the end of the volume ({} bytes)",
                        buf.len(),
                        self.len
                    ),
                )
            })?;
        let mut p = pos;
        while p < end {
            let idx = p / BLOCK;
            let off = (p % BLOCK) as usize;
            let n = ((BLOCK - off as u64).min(end - p)) as usize;
            let src = &buf[(p - pos) as usize..(p - pos) as usize + n];
            if !self.dirty.contains_key(&idx) {
                let b = match self.clean.iter().position(|(k, _)| *k == idx) {
                    Some(i) => self.clean.remove(i).1,
                    None if n == self.block_len(idx) => {
                        vec![0u8; n].into_boxed_slice() // fully overwritten below
                    }
                    None => self.read_original(idx)?,
                };
                self.dirty.insert(idx, b);
            }
            let b = self.dirty.get_mut(&idx).expect("inserted above");
            b[off..off + n].copy_from_slice(src);
            p += n as u64;
        }
        Ok(())
    }

    /// Bytes held in written blocks.
    #[cfg(test)]
    pub(crate) fn dirty_bytes(&self) -> u64 {
        self.dirty.values().map(|b| b.len() as u64).sum()
    }

    /// The written blocks that differ from the disk, as patches at *disk* offsets,
    /// adjacent blocks merged.
    pub(crate) fn into_patches(self) -> io::Result<Vec<Patch>> {
        let mut out: Vec<Patch> = Vec::new();
        let mut next_idx = None;
        for (&idx, b) in &self.dirty {
            if *self.read_original(idx)? == **b {
                continue;
            }
            match out.last_mut() {
                Some(last) if next_idx == Some(idx) => last.data.extend_from_slice(b),
                _ => out.push(Patch {
                    offset: self.start + idx * BLOCK,
                    data: b.to_vec(),
                }),
            }
            next_idx = Some(idx + 1);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A disk of `n` bytes where byte i is `i % 251`.
    #[derive(Debug)]
    struct Pattern(u64);
    impl Disk for Pattern {
        fn size(&self) -> u64 {
            self.0
        }
        fn extents(&self, offset: u64, len: u64) -> ddgz_disk::Result<Vec<ddgz_disk::Extent>> {
            ddgz_disk::check_range(self.0, offset, len)?;
            Ok(vec![ddgz_disk::Extent {
                offset,
                len,
                kind: ddgz_disk::ExtentKind::Data,
            }])
        }
        fn read_at(&self, offset: u64, buf: &mut [u8]) -> ddgz_disk::Result<()> {
            ddgz_disk::check_range(self.0, offset, buf.len() as u64)?;
            for (i, b) in buf.iter_mut().enumerate() {
                *b = ((offset + i as u64) % 251) as u8;
            }
            Ok(())
        }
    }

    #[test]
    fn writes_stay_in_memory_and_become_merged_patches() {
        let disk = Pattern(100_000);
        let mut s = Store::new(&disk, 1000, 50_000);
        s.write_at(4000, &[0xEE; 300]).unwrap(); // spans blocks 0 and 1
        s.write_at(49_990, &[1; 10]).unwrap(); // last, short block
        assert!(s.write_at(50_000, &[1]).is_err(), "past the end");
        // Same bytes as the disk: no patch.
        let mut same = [0u8; 8];
        s.read_at(20_000, &mut same).unwrap();
        s.write_at(20_000, &same).unwrap();

        let mut back = [0u8; 310];
        s.read_at(3995, &mut back).unwrap();
        assert_eq!(back[0], ((1000 + 3995) % 251) as u8);
        assert!(back[5..305].iter().all(|&b| b == 0xEE));
        assert_eq!(back[305], ((1000 + 4300) % 251) as u8);

        assert_eq!(s.dirty_bytes(), 3 * 4096 + (50_000 - 12 * 4096));
        let p = s.into_patches().unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].offset, 1000);
        assert_eq!(p[0].data.len(), 8192);
        assert_eq!(p[1].offset, 1000 + 12 * 4096);
        assert_eq!(p[1].data.len(), 50_000 - 12 * 4096);
        assert_eq!(&p[1].data[p[1].data.len() - 10..], &[1; 10]);
    }
}
