//! The free clusters of a FAT volume as byte ranges, for `convert --zero-free`: what the
//! volume itself says no file, directory or FAT uses, so the converter may write zeros
//! there instead of the deleted data they still hold.
//!
//! Only a volume that is checked and clean gives ranges: the boot sector and the whole
//! directory tree are checked as for an edit (no chain leaves the volume, none is shared,
//! none runs into a free cluster), the volume's dirty flag must be clear (byte 0x25 of a
//! FAT12/16 boot sector, 0x41 of a FAT32 one, bit 0: set by Linux while mounted) and so
//! must FAT entry 1's "not cleanly shut down" and "I/O error" bits (FAT spec 1.03,
//! section 4: bit 15 / 14 of a FAT16 entry, 27 / 26 of a FAT32 one, set when clean). A
//! cluster is free when its entry is 0 in *every* FAT copy. The FAT is read in pieces:
//! memory does not grow with the volume.

use std::ops::Range;

use ddgz_disk::Disk;

use crate::bpb::FatType;
use crate::{read, Result};

/// Bytes of FAT read at a time (a multiple of every entry width, 12-bit pairs included).
const PIECE: u64 = 3 << 18;

/// What the free-space walk found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FreeSpace {
    /// The free ranges were given to the caller: this many bytes in all.
    Listed {
        /// Bytes of the free clusters.
        bytes: u64,
    },
    /// The volume is not clean: nothing was given, and why.
    Unclean(String),
}

/// Gives `emit` every run of free clusters of the FAT volume at `range` of `disk`, as
/// byte ranges from the start of the volume, in ascending order, adjacent runs merged.
/// A volume that is not clean gives nothing ([`FreeSpace::Unclean`]); a corrupt one is
/// an error.
pub fn free_space(
    disk: &dyn Disk,
    range: Range<u64>,
    emit: &mut dyn FnMut(Range<u64>),
) -> Result<FreeSpace> {
    let vol = read::open(disk, &range, None)?;
    let geo = &vol.geo;
    let mut boot = [0u8; 512];
    vol.read(0, &mut boot, "read the boot sector")?;
    let state = match geo.fat_type {
        FatType::Fat32 => boot[0x41],
        _ => boot[0x25],
    };
    if state & 1 != 0 {
        return Ok(FreeSpace::Unclean(
            "the boot sector's dirty flag is set (mounted, or not cleanly unmounted)".into(),
        ));
    }
    let (clean, ok) = match geo.fat_type {
        FatType::Fat12 => (0, 0),
        FatType::Fat16 => (0x8000, 0x4000),
        FatType::Fat32 => (0x0800_0000, 0x0400_0000),
    };
    let e1 = vol.fat_entry(1)?;
    if e1 & clean != clean {
        return Ok(FreeSpace::Unclean(
            "FAT entry 1 says the volume was not cleanly shut down".into(),
        ));
    }
    if e1 & ok != ok {
        return Ok(FreeSpace::Unclean(
            "FAT entry 1 says the volume met an I/O error".into(),
        ));
    }
    let end = u64::from(geo.clusters) + 2;
    let (bits, bytes_for) = match geo.fat_type {
        FatType::Fat12 => (12u64, (end * 3).div_ceil(2)),
        FatType::Fat16 => (16, end * 2),
        FatType::Fat32 => (32, end * 4),
    };
    let fat_bytes = bytes_for.min(geo.fat_len);
    let cs = u64::from(geo.cluster_size);
    let mut run: Option<Range<u64>> = None;
    let mut total = 0u64;
    let mut flush = |run: &mut Option<Range<u64>>, total: &mut u64| {
        if let Some(r) = run.take() {
            *total += r.end - r.start;
            emit(r);
        }
    };
    let mut pieces = vec![Vec::new(); geo.fats as usize];
    let mut at = 0u64;
    while at < fat_bytes {
        let n = PIECE.min(fat_bytes - at);
        for (k, p) in pieces.iter_mut().enumerate() {
            p.resize(n as usize, 0);
            vol.read(
                geo.fat_offset + k as u64 * geo.fat_len + at,
                p,
                "read the FAT",
            )?;
        }
        // Entries wholly inside this piece.
        let first = (at * 8).div_ceil(bits);
        let last = ((at + n) * 8 / bits).min(end);
        for c in first.max(2)..last {
            let free = pieces.iter().all(|p| entry(p, at, c, geo.fat_type) == 0);
            if free {
                let off = geo.cluster_offset(c as u32);
                match &mut run {
                    Some(r) if r.end == off => r.end = off + cs,
                    _ => {
                        flush(&mut run, &mut total);
                        run = Some(off..off + cs);
                    }
                }
            } else {
                flush(&mut run, &mut total);
            }
        }
        at += n;
    }
    flush(&mut run, &mut total);
    Ok(FreeSpace::Listed { bytes: total })
}

/// FAT entry `c` from `piece`, which holds the FAT's bytes from `at`.
fn entry(piece: &[u8], at: u64, c: u64, t: FatType) -> u32 {
    let b = |o: u64| u32::from(piece[(o - at) as usize]);
    match t {
        FatType::Fat12 => {
            let o = c + c / 2;
            let v = b(o) | b(o + 1) << 8;
            if c & 1 == 1 {
                v >> 4
            } else {
                v & 0xFFF
            }
        }
        FatType::Fat16 => b(2 * c) | b(2 * c + 1) << 8,
        FatType::Fat32 => {
            (b(4 * c) | b(4 * c + 1) << 8 | b(4 * c + 2) << 16 | b(4 * c + 3) << 24) & 0x0FFF_FFFF
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ddgz_disk::MemoryDisk;

    /// A FAT16 volume made by `fatfs` with one file written.
    fn volume() -> Vec<u8> {
        use std::io::Write;
        let mut img = std::io::Cursor::new(vec![0u8; 20 << 20]);
        fatfs::format_volume(
            &mut img,
            fatfs::FormatVolumeOptions::new().fat_type(fatfs::FatType::Fat16),
        )
        .unwrap();
        {
            let fs = fatfs::FileSystem::new(&mut img, fatfs::FsOptions::new()).unwrap();
            let mut f = fs.root_dir().create_file("A.BIN").unwrap();
            f.write_all(&vec![7u8; 100_000]).unwrap();
        }
        img.into_inner()
    }

    #[test]
    fn free_clusters_are_listed_and_exclude_the_file() {
        let v = volume();
        let disk = MemoryDisk::new(v.clone());
        let mut ranges = Vec::new();
        let r = free_space(&disk, 0..v.len() as u64, &mut |r| ranges.push(r)).unwrap();
        let FreeSpace::Listed { bytes } = r else {
            panic!("{r:?}")
        };
        assert!(bytes > 18 << 20, "{bytes}");
        assert_eq!(bytes, ranges.iter().map(|r| r.end - r.start).sum::<u64>());
        for w in ranges.windows(2) {
            assert!(w[0].end < w[1].start);
        }
        // No free range holds a byte of the file.
        let pos = v.windows(64).position(|w| w == [7u8; 64]).unwrap() as u64;
        assert!(ranges
            .iter()
            .all(|r| r.end <= pos || r.start >= pos + 100_000));
    }

    #[test]
    fn a_dirty_volume_gives_nothing() {
        let mut v = volume();
        v[0x25] |= 1;
        let disk = MemoryDisk::new(v.clone());
        let mut n = 0;
        let r = free_space(&disk, 0..v.len() as u64, &mut |_| n += 1).unwrap();
        assert!(matches!(r, FreeSpace::Unclean(_)), "{r:?}");
        assert_eq!(n, 0);
    }
}
