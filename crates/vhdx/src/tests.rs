//! Unit tests on files built here byte by byte (the end-to-end tests in `tests/vhdx.rs`
//! compare with `qemu-img`).

use super::*;
use crate::header::{guid, BAT_GUID, METADATA_GUID};
use ddgz_disk::crc32c::crc32c_zeroed;
use ddgz_disk::ExtentKind;

const MIB: usize = 1 << 20;

fn fix(b: &mut [u8], at: usize, len: usize) {
    let c = crc32c_zeroed(&b[at..at + len], 4);
    b[at + 4..at + 8].copy_from_slice(&c.to_le_bytes());
}

/// An 8 MiB disk of 1 MiB blocks: log at 1 MiB, metadata at 2 MiB, BAT at 3 MiB, data
/// from 4 MiB. `bat` gives each block's entry (state | offset).
fn build(bat: &[u64], log_guid: [u8; 16]) -> Vec<u8> {
    let mut f = vec![0u8; 4 * MIB];
    f[..8].copy_from_slice(b"vhdxfile");
    for (at, seq) in [(64 << 10, 1u64), (128 << 10, 2)] {
        let h = &mut f[at..at + 4096];
        h[..4].copy_from_slice(b"head");
        h[8..16].copy_from_slice(&seq.to_le_bytes());
        h[48..64].copy_from_slice(&log_guid);
        h[66..68].copy_from_slice(&1u16.to_le_bytes());
        h[68..72].copy_from_slice(&(MIB as u32).to_le_bytes());
        h[72..80].copy_from_slice(&(MIB as u64).to_le_bytes());
        fix(&mut f, at, 4096);
    }
    for at in [192 << 10, 256 << 10] {
        let r = &mut f[at..at + 65536];
        r[..4].copy_from_slice(b"regi");
        r[8..12].copy_from_slice(&2u32.to_le_bytes());
        for (i, (g, off)) in [(BAT_GUID, 3 * MIB), (METADATA_GUID, 2 * MIB)]
            .iter()
            .enumerate()
        {
            let e = 16 + i * 32;
            r[e..e + 16].copy_from_slice(g);
            r[e + 16..e + 24].copy_from_slice(&(*off as u64).to_le_bytes());
            r[e + 24..e + 28].copy_from_slice(&(MIB as u32).to_le_bytes());
            r[e + 28..e + 32].copy_from_slice(&1u32.to_le_bytes());
        }
        fix(&mut f, at, 65536);
    }
    let m = 2 * MIB;
    f[m..m + 8].copy_from_slice(b"metadata");
    let items: [([u8; 16], Vec<u8>); 5] = [
        (
            guid(
                0xcaa1_6737,
                0xfa36,
                0x4d43,
                [0xb3, 0xb6, 0x33, 0xf0, 0xaa, 0x44, 0xe7, 0x6b],
            ),
            [(MIB as u32).to_le_bytes(), 0u32.to_le_bytes()].concat(),
        ),
        (
            guid(
                0x2fa5_4224,
                0xcd1b,
                0x4876,
                [0xb2, 0x11, 0x5d, 0xbe, 0xd8, 0x3b, 0xf4, 0xb8],
            ),
            (8 * MIB as u64).to_le_bytes().to_vec(),
        ),
        (
            guid(
                0xbeca_12ab,
                0xb2e6,
                0x4523,
                [0x93, 0xef, 0xc3, 0x09, 0xe0, 0x00, 0xc7, 0x46],
            ),
            vec![1; 16],
        ),
        (
            guid(
                0x8141_bf1d,
                0xa96f,
                0x4709,
                [0xba, 0x47, 0xf2, 0x33, 0xa8, 0xfa, 0xab, 0x5f],
            ),
            512u32.to_le_bytes().to_vec(),
        ),
        (
            guid(
                0xcda3_48c7,
                0x445d,
                0x4471,
                [0x9c, 0xc9, 0xe9, 0x88, 0x52, 0x51, 0xc5, 0x56],
            ),
            4096u32.to_le_bytes().to_vec(),
        ),
    ];
    f[m + 10..m + 12].copy_from_slice(&(items.len() as u16).to_le_bytes());
    for (i, (g, v)) in items.iter().enumerate() {
        let e = m + 32 + i * 32;
        let off = 65536 + i * 64;
        f[e..e + 16].copy_from_slice(g);
        f[e + 16..e + 20].copy_from_slice(&(off as u32).to_le_bytes());
        f[e + 20..e + 24].copy_from_slice(&(v.len() as u32).to_le_bytes());
        f[e + 24..e + 28].copy_from_slice(&4u32.to_le_bytes());
        f[m + off..m + off + v.len()].copy_from_slice(v);
    }
    for (i, e) in bat.iter().enumerate() {
        let at = 3 * MIB + i * 8;
        f[at..at + 8].copy_from_slice(&e.to_le_bytes());
    }
    // Data blocks: block k (stored at 4 + k MiB) filled with k + 1.
    let stored = bat.iter().filter(|e| *e & 7 == 6).count();
    for k in 0..stored {
        f.extend(std::iter::repeat_n(k as u8 + 1, MIB));
    }
    f
}

fn present(k: u64) -> u64 {
    ((4 + k) << 20) | 6
}

fn open(b: Vec<u8>) -> Result<Vhdx, String> {
    Vhdx::from_bytes(Path::new("t.vhdx"), b).map_err(|e| e.to_string())
}

#[test]
fn block_states() {
    let bat = [present(0), 0, 2, 3, 5, 1, present(1), 0];
    let v = open(build(&bat, [0; 16])).unwrap();
    assert_eq!(v.size(), 8 << 20);
    let i = v.info();
    assert_eq!(
        (i.subformat, i.block_size, i.header),
        ("dynamic", 1 << 20, (2, 2))
    );
    let e = v.extents(0, v.size()).unwrap();
    let k: Vec<_> = e
        .iter()
        .map(|e| (e.offset >> 20, e.len >> 20, e.kind))
        .collect();
    assert_eq!(
        k,
        [
            (0, 1, ExtentKind::Data),
            (1, 5, ExtentKind::Zero),
            (6, 1, ExtentKind::Data),
            (7, 1, ExtentKind::Zero)
        ]
    );
    let mut b = vec![9u8; 2 << 20];
    v.read_at(5 << 20, &mut b).unwrap();
    assert!(b[..1 << 20].iter().all(|&x| x == 0));
    assert!(b[1 << 20..].iter().all(|&x| x == 2));
}

#[test]
fn hostile_entries_and_tables() {
    let e = |bat: &[u64]| {
        let v = open(build(bat, [0; 16])).unwrap();
        v.extents(0, v.size()).unwrap_err().to_string()
    };
    assert!(e(&[6]).contains("inside the 1 MiB header section"));
    assert!(e(&[(1000 << 20) | 6]).contains("past the end of the file"));
    assert!(e(&[7]).contains("partially present"));
    assert!(e(&[4]).contains("unknown block state 4"));
    // Region table damaged: the copy is used; both damaged: refused.
    let mut b = build(&[present(0)], [0; 16]);
    b[(192 << 10) + 100] ^= 1;
    open(b.clone()).unwrap();
    b[(256 << 10) + 100] ^= 1;
    let m = open(b).unwrap_err();
    assert!(
        m.contains("region table at 0x30000: CRC-32C mismatch"),
        "{m}"
    );
    // Both headers damaged.
    let mut b = build(&[], [0; 16]);
    b[(64 << 10) + 200] ^= 1;
    b[(128 << 10) + 200] ^= 1;
    assert!(open(b).unwrap_err().contains("no valid header"));
    // A BAT region too small for the disk.
    let mut b = build(&[], [0; 16]);
    for at in [192 << 10, 256 << 10] {
        b[at + 16 + 24..at + 16 + 28].copy_from_slice(&8u32.to_le_bytes());
        fix(&mut b, at, 65536);
    }
    assert!(open(b)
        .unwrap_err()
        .contains("the BAT region holds 1 entries"));
    assert!(open(b"vhdxfil".to_vec()).unwrap_err().contains("too short"));
    assert!(open(vec![0; 4096]).unwrap_err().contains("not a VHDX"));
}

#[test]
fn log_replayed_in_memory() {
    let g = [5u8; 16];
    // On disk, block 0 is not present; the log allocates it at 4 MiB (where data 1s
    // are) and zeroes its second 4 KiB.
    let mut f = build(&[0, present(0)], g);
    let mut bat_sector = f[3 * MIB..3 * MIB + 4096].to_vec();
    bat_sector[..8].copy_from_slice(&present(0).to_le_bytes());
    let size = f.len() as u64;
    let entry = crate::log::tests::entry(
        &g,
        1,
        0,
        &[(3 << 20, Some(bat_sector)), ((4 << 20) + 4096, None)],
        size,
    );
    f[MIB..MIB + entry.len()].copy_from_slice(&entry);
    let v = open(f.clone()).unwrap();
    let l = v.info().log.unwrap();
    assert_eq!((l.entries, l.sequence, l.writes), (1, (1, 1), 2));
    let mut b = vec![9u8; 12288];
    v.read_at(0, &mut b).unwrap();
    assert!(b[..4096].iter().all(|&x| x == 1));
    assert!(b[4096..8192].iter().all(|&x| x == 0));
    assert!(b[8192..].iter().all(|&x| x == 1));
    // Without the log GUID in the header, the log is not looked at.
    let v = open(build(&[0, present(0)], [0; 16])).unwrap();
    assert!(v.info().log.is_none());
    let mut b = vec![9u8; 4096];
    v.read_at(0, &mut b).unwrap();
    assert!(b.iter().all(|&x| x == 0));
}

#[test]
fn fuzz_entry_survives_garbage() {
    let good = build(&[present(0), 0, 2], [0; 16]);
    fuzz_image(&good);
    for at in [
        0usize,
        8,
        64 << 10,
        (64 << 10) + 66,
        192 << 10,
        (192 << 10) + 8,
        2 << 20,
        (2 << 20) + 10,
        3 << 20,
    ] {
        for v in [0u8, 1, 0x80, 0xff] {
            let mut x = good.clone();
            x[at] = v;
            fuzz_image(&x);
        }
    }
    fuzz_image(&good[..300 << 10]);
    // The sparse form: the non-zero 4 KiB sectors as runs.
    let mut runs = Vec::new();
    for (k, s) in good.chunks(4096).enumerate() {
        if s.iter().any(|&b| b != 0) {
            runs.extend(((k * 4096) as u32).to_le_bytes());
            runs.extend((s.len() as u16).to_le_bytes());
            runs.extend(s);
        }
    }
    fuzz_sparse(&runs);
    fuzz_sparse(&runs[..runs.len() / 2]);
    fuzz_sparse(&[0xff; 7]);
}
