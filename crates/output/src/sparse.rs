//! Writing a raw disk image with holes: a block that is all zeros is never written, so
//! the file takes the room of its data only (a 32 GiB disk with 2 GiB written takes
//! 2 GiB), and reads of a hole give zeros as the disk had them.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// Granularity of the holes: a page, and the block size of the common file systems (a
/// smaller hole would be allocated anyway).
pub const HOLE_BLOCK: u64 = 4096;

/// Writes into a new, empty file at given offsets, leaving every all-zero
/// [`HOLE_BLOCK`] (aligned to the file's start) as a hole; [`SparseWriter::finish`] sets
/// the length. Only for a file that is empty when it starts (an [`crate::OutputFile`]'s
/// temporary): a hole reads as zeros only where nothing was written before.
#[derive(Debug)]
pub struct SparseWriter<'f> {
    file: &'f File,
    written: u64,
}

impl<'f> SparseWriter<'f> {
    /// A writer into `file`, which must be empty.
    pub fn new(file: &'f File) -> Self {
        Self { file, written: 0 }
    }

    /// Writes `data` at `offset`, skipping the all-zero blocks; runs of blocks with data
    /// are written with one call each.
    pub fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        let end = offset
            .checked_add(data.len() as u64)
            .ok_or_else(|| io::Error::other("write past 2^64 bytes"))?;
        let mut pos = offset;
        // Start and end of the pending run of blocks with data.
        let mut run: Option<u64> = None;
        while pos < end {
            let stop = ((pos / HOLE_BLOCK + 1) * HOLE_BLOCK).min(end);
            let block = &data[(pos - offset) as usize..(stop - offset) as usize];
            let zero = ddgz_disk::first_nonzero(block).is_none();
            match (zero, run) {
                (false, None) => run = Some(pos),
                (true, Some(s)) => {
                    self.put(offset, data, s, pos)?;
                    run = None;
                }
                _ => {}
            }
            pos = stop;
        }
        if let Some(s) = run {
            self.put(offset, data, s, end)?;
        }
        Ok(())
    }

    /// Writes `data`'s bytes for file range `[from, to)` (`data` starts at `offset`).
    fn put(&mut self, offset: u64, data: &[u8], from: u64, to: u64) -> io::Result<()> {
        let bytes = &data[(from - offset) as usize..(to - offset) as usize];
        self.file.write_all_at(bytes, from)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    /// Sets the file's length to `len` (holes to the end) and returns the bytes written.
    pub fn finish(self, len: u64) -> io::Result<u64> {
        self.file.set_len(len)?;
        Ok(self.written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[test]
    fn zero_blocks_become_holes_and_read_back_as_zeros() {
        let f = tempfile::tempfile().unwrap();
        let mut w = SparseWriter::new(&f);
        let mut data = vec![0u8; 5 * HOLE_BLOCK as usize];
        data[100] = 1; // block 0 of the piece (file block 1, from offset 4096 + 1000)
        data[3 * HOLE_BLOCK as usize] = 2;
        w.write_at(HOLE_BLOCK + 1000, &data).unwrap();
        w.write_at(64 << 20, &[3u8; 10]).unwrap();
        let written = w.finish(128 << 20).unwrap();
        // The partial first block, and one aligned block, and the 10 bytes.
        assert!(written <= 2 * HOLE_BLOCK + 10, "{written}");
        let mut back = Vec::new();
        (&f).read_to_end(&mut back).unwrap();
        assert_eq!(back.len(), 128 << 20);
        let mut want = vec![0u8; 128 << 20];
        want[HOLE_BLOCK as usize + 1000..][..data.len()].copy_from_slice(&data);
        want[64 << 20..][..10].fill(3);
        assert!(back == want);
    }
}
