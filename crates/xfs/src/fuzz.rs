//! The fuzz harness, here so that it is built and tested with the crate: an XFS image
//! is at least 300 MiB of mostly zeros, so the fuzzer's input is the image's non-zero
//! 512-byte sectors as records (sector index, u32 little-endian, then 512 bytes) over
//! a 1 GiB disk of zeros; the harness opens it and walks the whole tree.

use std::collections::{BTreeMap, HashSet};

use crate::{FileType, Fs};
use ddgz_disk::{check_range, Disk, Extent, ExtentKind};
use ddgz_fs::Tree;

/// Sector size of the records.
pub const SECTOR: usize = 512;
/// Virtual size of the disk the records describe.
pub const SIZE: u64 = 1 << 30;

/// A disk of zeros with some sectors given.
#[derive(Debug, Default)]
pub struct SectorDisk(pub BTreeMap<u64, Vec<u8>>);

impl SectorDisk {
    /// Decodes records (a trailing partial record is ignored; later records win).
    pub fn from_records(data: &[u8]) -> Self {
        let mut m = BTreeMap::new();
        for r in data.chunks_exact(4 + SECTOR) {
            let i = u64::from(u32::from_le_bytes([r[0], r[1], r[2], r[3]]));
            if i < SIZE / SECTOR as u64 {
                m.insert(i, r[4..].to_vec());
            }
        }
        Self(m)
    }

    /// Encodes the given sectors as records.
    pub fn records_of(disk: &SectorDisk) -> Vec<u8> {
        let mut out = Vec::new();
        for (&i, s) in &disk.0 {
            out.extend_from_slice(&(i as u32).to_le_bytes());
            out.extend_from_slice(s);
        }
        out
    }

    /// Encodes the non-zero sectors of `image` as records.
    pub fn records(image: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, s) in image.chunks(SECTOR).enumerate() {
            if s.iter().any(|&b| b != 0) {
                out.extend_from_slice(&(i as u32).to_le_bytes());
                out.extend_from_slice(s);
                out.resize(out.len() + SECTOR - s.len(), 0);
            }
        }
        out
    }
}

impl Disk for SectorDisk {
    fn size(&self) -> u64 {
        SIZE
    }
    fn extents(&self, offset: u64, len: u64) -> ddgz_disk::Result<Vec<Extent>> {
        check_range(SIZE, offset, len)?;
        Ok(vec![Extent {
            offset,
            len,
            kind: ExtentKind::Data,
        }])
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> ddgz_disk::Result<()> {
        check_range(SIZE, offset, buf.len() as u64)?;
        buf.fill(0);
        let end = offset + buf.len() as u64;
        let first = offset / SECTOR as u64;
        for (&i, s) in self.0.range(first..end.div_ceil(SECTOR as u64)) {
            let at = i * SECTOR as u64;
            let from = offset.max(at);
            let to = end.min(at + SECTOR as u64);
            buf[(from - offset) as usize..(to - offset) as usize]
                .copy_from_slice(&s[(from - at) as usize..(to - at) as usize]);
        }
        Ok(())
    }
}

/// Opens the records as a filesystem and walks every directory, inode, xattr, symlink
/// and file's data (at most `max_nodes` entries and 64 MiB of data), ignoring errors.
/// Returns the entries visited.
pub fn walk_records(data: &[u8], max_nodes: usize) -> usize {
    let disk = SectorDisk::from_records(data);
    let Ok(fs) = Fs::open(&disk, 0, SIZE) else {
        return 0;
    };
    let _ = fs.lookup(b"/etc/os-release", true);
    let mut seen = HashSet::new();
    let mut todo = vec![fs.root_ino()];
    let mut nodes = 0;
    let mut budget: u64 = 64 << 20;
    while let Some(ino) = todo.pop() {
        nodes += 1;
        if nodes > max_nodes {
            break;
        }
        let Ok(inode) = fs.inode(ino) else { continue };
        let _ = fs.xattrs(&inode);
        match inode.file_type() {
            Some(FileType::Directory) if seen.insert(ino) => {
                if let Ok(entries) = fs.read_dir(&inode) {
                    todo.extend(entries.into_iter().map(|e| e.ino));
                }
            }
            Some(FileType::Symlink) => {
                let _ = fs.read_link(&inode);
            }
            Some(FileType::Regular) => {
                let _ = fs.for_each_data(&inode, 1 << 20, |_, d: &[u8]| {
                    budget = budget.saturating_sub(d.len() as u64);
                    if budget == 0 {
                        return Err(crate::Error::Limit("fuzz data budget".into()));
                    }
                    Ok(())
                });
            }
            _ => {}
        }
    }
    nodes
}
