//! Unit tests on images built here byte by byte (the end-to-end tests in `tests/vdi.rs`
//! compare with `qemu-img`).

use super::*;
use ddgz_disk::ExtentKind;

/// A VDI of `blocks` blocks of 4 KiB; `map` entries; stored blocks filled with their
/// index + 1.
fn build(disk_size: u64, map: &[u32], stored: u32, extra: u32) -> Vec<u8> {
    let bs = 4096u32;
    let mut h = vec![0u8; 512];
    h[..8].copy_from_slice(b"<<< VDI ");
    h[64..68].copy_from_slice(&header::SIGNATURE.to_le_bytes());
    h[68..72].copy_from_slice(&0x0001_0001u32.to_le_bytes());
    h[72..76].copy_from_slice(&0x180u32.to_le_bytes());
    h[76..80].copy_from_slice(&1u32.to_le_bytes());
    let bmap_len = (map.len() * 4).next_multiple_of(512) as u32;
    h[340..344].copy_from_slice(&512u32.to_le_bytes());
    h[344..348].copy_from_slice(&(512 + bmap_len).to_le_bytes());
    h[360..364].copy_from_slice(&512u32.to_le_bytes());
    h[368..376].copy_from_slice(&disk_size.to_le_bytes());
    h[376..380].copy_from_slice(&bs.to_le_bytes());
    h[380..384].copy_from_slice(&extra.to_le_bytes());
    h[384..388].copy_from_slice(&(map.len() as u32).to_le_bytes());
    let mut out = h;
    let mut m: Vec<u8> = map.iter().flat_map(|e| e.to_le_bytes()).collect();
    m.resize(bmap_len as usize, 0);
    out.extend(m);
    for i in 0..stored {
        out.extend(std::iter::repeat_n(0xee, extra as usize));
        out.extend(std::iter::repeat_n(i as u8 + 1, bs as usize));
    }
    out
}

fn open(b: Vec<u8>) -> Result<Vdi, String> {
    Vdi::from_bytes(Path::new("t.vdi"), b).map_err(|e| e.to_string())
}

#[test]
fn block_map_values() {
    for extra in [0, 512] {
        let v = open(build(
            5 * 4096 - 100,
            &[1, NOT_ALLOCATED, 0, ZERO, 1],
            2,
            extra,
        ))
        .unwrap();
        // Rounded up to whole sectors.
        assert_eq!(v.size(), 5 * 4096);
        let i = v.info();
        assert_eq!((i.blocks_allocated, i.blocks_zero), (3, 1));
        let mut buf = vec![0xaa; 5 * 4096 - 512];
        v.read_at(0, &mut buf).unwrap();
        assert!(buf[..4096].iter().all(|&b| b == 2));
        assert!(buf[4096..8192].iter().all(|&b| b == 0));
        assert!(buf[8192..12288].iter().all(|&b| b == 1));
        assert!(buf[12288..16384].iter().all(|&b| b == 0));
        assert!(buf[16384..].iter().all(|&b| b == 2));
        let e = v.extents(0, v.size()).unwrap();
        let kinds: Vec<_> = e.iter().map(|e| (e.offset, e.kind)).collect();
        assert_eq!(
            kinds,
            [
                (0, ExtentKind::Data),
                (4096, ExtentKind::Zero),
                (8192, ExtentKind::Data),
                (12288, ExtentKind::Zero),
                (16384, ExtentKind::Data)
            ]
        );
    }
}

#[test]
fn hostile_headers_and_maps() {
    let good = build(4 * 4096, &[0, NOT_ALLOCATED, NOT_ALLOCATED, 0], 1, 0);
    let patched = |at: usize, v: &[u8]| {
        let mut b = good.clone();
        b[at..at + v.len()].copy_from_slice(v);
        open(b).unwrap_err()
    };
    assert!(patched(64, &[0; 4]).contains("not a VDI image: signature 0x00000000"));
    assert!(patched(68, &0x0001_0000u32.to_le_bytes()).contains("VDI version 1.0"));
    assert!(patched(376, &3000u32.to_le_bytes()).contains("block size 3000"));
    assert!(patched(360, &4096u32.to_le_bytes()).contains("sector size 4096"));
    assert!(patched(340, &100u32.to_le_bytes()).contains("not a multiple of 512"));
    assert!(patched(340, &0x7fff_fe00u32.to_le_bytes()).contains("block map at 0x7ffffe00"));
    assert!(patched(368, &(1u64 << 40).to_le_bytes()).contains("exceeds the 4 blocks"));
    assert!(patched(368, &u64::MAX.to_le_bytes()).contains("overflows"));
    assert!(patched(440, &[1]).contains("differencing VDI"));
    let e = patched(512, &7u32.to_le_bytes());
    assert!(
        e.contains("block 0 is stored as block 7") && e.contains("past the end"),
        "{e}"
    );
    let mut big = good.clone();
    big[368..376].copy_from_slice(&(1u64 << 40).to_le_bytes());
    big[384..388].copy_from_slice(&u32::MAX.to_le_bytes());
    big[376..380].copy_from_slice(&512u32.to_le_bytes());
    assert!(open(big).unwrap_err().contains("the limit is 16777216"));
    assert!(open(good[..100].to_vec())
        .unwrap_err()
        .contains("shorter than the 512-byte"));
}

#[test]
fn fuzz_entry_survives_garbage() {
    let good = build(4 * 4096, &[0, NOT_ALLOCATED, ZERO, 1], 2, 0);
    fuzz_image(&good);
    for i in (0..good.len()).step_by(37) {
        let mut x = good.clone();
        x[i] ^= 0xff;
        fuzz_image(&x);
        fuzz_image(&x[..i]);
    }
}
