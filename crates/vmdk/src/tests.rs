//! Unit tests on images built in memory: the grain walk, zeroed grains, compressed grains,
//! hostile tables. The oracle tests against qemu-img live in the workspace's `tests/`.

use super::*;
use std::io::Write;

/// A monolithicSparse image in memory: `capacity` sectors, 8-sector grains, 4 GTEs per
/// table, `grains` = (grain index, GTE) pairs, the grain data (for GTE >= overhead)
/// filled with the grain index.
fn sparse(capacity: u64, flags: u32, gtes: &[(u64, u32)], compressed: bool) -> Vec<u8> {
    let grain = 8u64;
    let per_gt = 4u64;
    let gd_entries = capacity.div_ceil(grain * per_gt);
    // Layout: header (sector 0), GD (sector 1), GTs (one sector each from 2), grains.
    let gt0 = 2u64;
    let overhead = gt0 + gd_entries;
    let mut f = vec![0u8; (overhead * 512) as usize];
    f[0..4].copy_from_slice(b"KDMV");
    f[4..8].copy_from_slice(&1u32.to_le_bytes());
    f[8..12].copy_from_slice(&flags.to_le_bytes());
    f[12..20].copy_from_slice(&capacity.to_le_bytes());
    f[20..28].copy_from_slice(&grain.to_le_bytes());
    f[44..48].copy_from_slice(&(per_gt as u32).to_le_bytes());
    f[56..64].copy_from_slice(&1u64.to_le_bytes());
    f[64..72].copy_from_slice(&overhead.to_le_bytes());
    if compressed {
        f[77..79].copy_from_slice(&1u16.to_le_bytes());
    }
    for i in 0..gd_entries {
        let at = 512 + i as usize * 4;
        f[at..at + 4].copy_from_slice(&((gt0 + i) as u32).to_le_bytes());
    }
    for &(g, e) in gtes {
        let (t, k) = (g / per_gt, g % per_gt);
        let at = ((gt0 + t) * 512 + k * 4) as usize;
        let e = if e == u32::MAX {
            // Allocate: append the grain.
            let sector = (f.len() / 512) as u32;
            let data = vec![g as u8 + 1; (grain * 512) as usize];
            if compressed {
                let mut z = flate2::write::ZlibEncoder::new(Vec::new(), Default::default());
                z.write_all(&data).unwrap();
                let c = z.finish().unwrap();
                f.extend_from_slice(&(g * grain).to_le_bytes());
                f.extend_from_slice(&(c.len() as u32).to_le_bytes());
                f.extend_from_slice(&c);
                f.resize(f.len().div_ceil(512) * 512, 0);
            } else {
                f.extend_from_slice(&data);
            }
            sector
        } else {
            e
        };
        f[at..at + 4].copy_from_slice(&e.to_le_bytes());
    }
    f
}

fn open(b: Vec<u8>) -> Result<Vmdk, Error> {
    Vmdk::from_bytes(Path::new("t.vmdk"), b)
}

fn kinds(v: &Vmdk) -> Vec<(u64, u64, ddgz_disk::ExtentKind)> {
    v.extents(0, v.size())
        .unwrap()
        .iter()
        .map(|e| (e.offset / 4096, e.len / 4096, e.kind))
        .collect()
}

#[test]
fn grains_zeroed_and_unallocated() {
    use ddgz_disk::ExtentKind::*;
    // 12 grains of 4 KiB; grain 1 allocated, grain 2 zeroed (flag set), grain 5 allocated.
    let b = sparse(
        96,
        header::FLAG_ZERO_GRAIN,
        &[(1, u32::MAX), (2, 1), (5, u32::MAX)],
        false,
    );
    let v = open(b).unwrap();
    assert_eq!(v.size(), 96 * 512);
    assert_eq!(
        kinds(&v),
        vec![
            (0, 1, Zero),
            (1, 1, Data),
            (2, 3, Zero),
            (5, 1, Data),
            (6, 6, Zero)
        ]
    );
    let mut buf = vec![9u8; 3 * 4096];
    v.read_at(4096 - 10, &mut buf[..4096 + 20]).unwrap();
    assert!(buf[..10].iter().all(|&c| c == 0));
    assert!(buf[10..4106].iter().all(|&c| c == 2));
    assert!(buf[4106..4116].iter().all(|&c| c == 0));
    v.read_at(5 * 4096, &mut buf[..4096]).unwrap();
    assert!(buf[..4096].iter().all(|&c| c == 6));
    assert!(v.read_at(96 * 512 - 1, &mut buf[..2]).is_err());
    let i = v.info();
    assert_eq!(i.create_type, "monolithicSparse");
    assert_eq!(i.grain_size, Some(4096));
    assert!(i.zeroed_grains);
}

#[test]
fn compressed_grains() {
    use ddgz_disk::ExtentKind::*;
    let b = sparse(
        64,
        header::FLAG_MARKERS | header::FLAG_COMPRESSED,
        &[(0, u32::MAX), (3, u32::MAX)],
        true,
    );
    let v = open(b).unwrap();
    assert_eq!(
        kinds(&v),
        vec![(0, 1, Data), (1, 2, Zero), (3, 1, Data), (4, 4, Zero)]
    );
    let mut buf = vec![0u8; 8192];
    v.read_at(3 * 4096 - 4096, &mut buf).unwrap();
    assert!(buf[..4096].iter().all(|&c| c == 0));
    assert!(buf[4096..].iter().all(|&c| c == 4));
    assert_eq!(v.info().create_type, "streamOptimized");
}

#[test]
fn hostile_tables_refused() {
    // GTE 1 without the zeroed-grain flag points at sector 1 (inside the file: QEMU reads
    // it as data, so do we).
    let v = open(sparse(64, 0, &[(0, 1), (3, u32::MAX)], false)).unwrap();
    assert_eq!(v.allocated_bytes().unwrap(), 8192);
    let mut b = [0u8; 512];
    v.read_at(0, &mut b).unwrap();
    // A grain past the end of the file.
    let v = open(sparse(64, 0, &[(0, 0x00ff_0000)], false)).unwrap();
    let e = v.read_at(0, &mut [0u8; 512]).unwrap_err().to_string();
    assert!(
        e.contains("grain at 0x1fe000000 for extent offset 0x0 lies past the end"),
        "{e}"
    );
    // A compressed grain pointing at garbage.
    let mut b = sparse(64, header::FLAG_MARKERS, &[(0, u32::MAX)], true);
    // Overhead: header, directory, two tables; the marker's data starts 12 bytes in.
    b[4 * 512 + 14..4 * 512 + 20].fill(0x55);
    let v = open(b).unwrap();
    let e = v.read_at(0, &mut [0u8; 512]).unwrap_err().to_string();
    assert!(e.contains("compressed grain at"), "{e}");
    // A grain table past the end of the file.
    let mut b = sparse(64, 0, &[], false);
    b[512..516].copy_from_slice(&0x0100_0000u32.to_le_bytes());
    // The directory is read when a request needs it, not held whole from the open.
    let v = open(b).unwrap();
    let e = v.extents(0, v.size()).unwrap_err().to_string();
    assert!(
        e.contains("grain table at 0x200000000 (grain directory entry 0) lies past"),
        "{e}"
    );
    // Truncated header, garbage, descriptors naming files from memory.
    assert!(open(b"KDMV".to_vec()).is_err());
    assert!(open(vec![0u8; 4096])
        .unwrap_err()
        .to_string()
        .contains("not a VMDK"));
    let e = open(b"version=1\nRW 8 FLAT \"x\" 0\n".to_vec())
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot open its extent files"), "{e}");
    let e = open(b"version=1\nparentFileNameHint=\"p.vmdk\"\nRW 8 ZERO\n".to_vec())
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot open its parent file"), "{e}");
    let e = open(b"version=1\nRW 8 VMFSRDM \"x\"\n".to_vec())
        .unwrap_err()
        .to_string();
    assert!(e.contains("raw device mappings are not supported"), "{e}");
    let e = open(b"version=1\nRW 18014398509481983 ZERO\nRW 18014398509481983 ZERO\n".to_vec())
        .unwrap_err()
        .to_string();
    assert!(e.contains("more than 2^63"), "{e}");
}

#[test]
fn zero_extent_descriptor() {
    let v = open(b"# Disk DescriptorFile\nversion=1\ncreateType=\"custom\"\nRW 8 ZERO\n".to_vec())
        .unwrap();
    assert_eq!(v.size(), 4096);
    assert_eq!(v.allocated_bytes().unwrap(), 0);
    assert_eq!(v.info().create_type, "custom");
}

#[test]
fn fuzz_entry_survives_mutations() {
    let base = sparse(
        96,
        header::FLAG_ZERO_GRAIN,
        &[(1, u32::MAX), (2, 1), (5, u32::MAX)],
        false,
    );
    let mut x = 0x1234_5678u32;
    for _ in 0..2000 {
        let mut b = base.clone();
        for _ in 0..4 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let i = (x as usize) % b.len().min(2048);
            b[i] = (x >> 8) as u8;
        }
        fuzz_image(&b);
    }
}
