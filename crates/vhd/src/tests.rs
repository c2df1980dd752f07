//! Unit tests on images built here byte by byte (the end-to-end tests in `tests/vhd.rs`
//! compare with `qemu-img`).

use super::*;
use crate::footer::checksum;
use ddgz_disk::{Extent, ExtentKind};

const SECTOR: usize = 512;

/// A dynamic or differencing VHD: blocks are `(index, bitmap byte, fill byte)` (every
/// byte of the bitmap the same).
struct Build {
    size: u64,
    block: u32,
    blocks: Vec<(u32, u8, u8)>,
    disk_type: u32,
    uuid: [u8; 16],
    parent_uuid: [u8; 16],
    w2ru: Option<String>,
    app: [u8; 4],
}

impl Build {
    fn new(size: u64, block: u32) -> Self {
        Self {
            size,
            block,
            blocks: Vec::new(),
            disk_type: 3,
            uuid: [1; 16],
            parent_uuid: [0; 16],
            w2ru: None,
            app: *b"qem2",
        }
    }

    fn footer(&self, data_offset: u64) -> [u8; 512] {
        let mut f = [0u8; 512];
        f[..8].copy_from_slice(b"conectix");
        f[12..16].copy_from_slice(&0x0001_0000u32.to_be_bytes());
        f[16..24].copy_from_slice(&data_offset.to_be_bytes());
        f[28..32].copy_from_slice(&self.app);
        f[40..48].copy_from_slice(&self.size.to_be_bytes());
        f[48..56].copy_from_slice(&self.size.to_be_bytes());
        f[56..60].copy_from_slice(&[0xff, 0xff, 16, 255]);
        f[60..64].copy_from_slice(&self.disk_type.to_be_bytes());
        f[68..84].copy_from_slice(&self.uuid);
        let c = checksum(&f, 64);
        f[64..68].copy_from_slice(&c.to_be_bytes());
        f
    }

    fn bytes(&self) -> Vec<u8> {
        let entries = self.size.div_ceil(u64::from(self.block)) as usize;
        let bat_at = 1536usize;
        let bat_len = (entries * 4).next_multiple_of(SECTOR);
        let loc_at = bat_at + bat_len;
        let mut out = vec![0u8; loc_at + SECTOR];
        out[..512].copy_from_slice(&self.footer(512));
        let h = &mut out[512..1536];
        h[..8].copy_from_slice(b"cxsparse");
        h[8..16].copy_from_slice(&u64::MAX.to_be_bytes());
        h[16..24].copy_from_slice(&(bat_at as u64).to_be_bytes());
        h[24..28].copy_from_slice(&0x0001_0000u32.to_be_bytes());
        h[28..32].copy_from_slice(&(entries as u32).to_be_bytes());
        h[32..36].copy_from_slice(&self.block.to_be_bytes());
        h[40..56].copy_from_slice(&self.parent_uuid);
        for (i, u) in "parent.vhd".encode_utf16().enumerate() {
            h[64 + 2 * i..66 + 2 * i].copy_from_slice(&u.to_be_bytes());
        }
        if let Some(name) = &self.w2ru {
            let data: Vec<u8> = name.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
            h[576..580].copy_from_slice(b"W2ru");
            h[580..584].copy_from_slice(&1u32.to_be_bytes());
            h[584..588].copy_from_slice(&(data.len() as u32).to_be_bytes());
            h[592..600].copy_from_slice(&(loc_at as u64).to_be_bytes());
            out[loc_at..loc_at + data.len()].copy_from_slice(&data);
        }
        let h = &mut out[512..1536];
        let c = checksum(h, 36);
        h[36..40].copy_from_slice(&c.to_be_bytes());
        for i in 0..entries {
            out[bat_at + 4 * i..bat_at + 4 * i + 4].copy_from_slice(&NOT_PRESENT.to_be_bytes());
        }
        let bitmap = ((self.block as usize / SECTOR).div_ceil(8)).next_multiple_of(SECTOR);
        for &(i, bits, fill) in &self.blocks {
            let at = out.len();
            let e = (at / SECTOR) as u32;
            out[bat_at + 4 * i as usize..bat_at + 4 * i as usize + 4]
                .copy_from_slice(&e.to_be_bytes());
            out.extend(std::iter::repeat_n(bits, bitmap));
            out.extend(std::iter::repeat_n(fill, self.block as usize));
        }
        let f = self.footer(512);
        out.extend_from_slice(&f);
        out
    }
}

fn open(b: &Build) -> Vhd {
    Vhd::from_bytes(Path::new("t.vhd"), b.bytes()).unwrap()
}

fn err(bytes: Vec<u8>) -> String {
    Vhd::from_bytes(Path::new("t.vhd"), bytes)
        .unwrap_err()
        .to_string()
}

fn read(v: &Vhd, off: u64, len: usize) -> Vec<u8> {
    let mut b = vec![0xaa; len];
    v.read_at(off, &mut b).unwrap();
    b
}

#[test]
fn dynamic_blocks_and_bitmaps() {
    let mut b = Build::new(64 * 4096, 4096);
    b.blocks = vec![(1, 0xff, 0x11), (3, 0xa0, 0x22)];
    let v = open(&b);
    assert_eq!(v.size(), 64 * 4096);
    let i = v.info();
    assert_eq!(i.disk_type, DiskType::Dynamic);
    assert_eq!(i.block_size, Some(4096));
    assert_eq!(i.size_rule, SizeRule::CurrentSize);
    let e = v.extents(0, 5 * 4096).unwrap();
    let k = |o: u64, l: u64, kind| Extent {
        offset: o,
        len: l,
        kind,
    };
    // Block 3's bitmap 0xa0: sectors 0 and 2 present, the rest not.
    assert_eq!(
        e,
        vec![
            k(0, 4096, ExtentKind::Zero),
            k(4096, 4096, ExtentKind::Data),
            k(8192, 4096, ExtentKind::Zero),
            k(12288, 512, ExtentKind::Data),
            k(12800, 512, ExtentKind::Zero),
            k(13312, 512, ExtentKind::Data),
            k(13824, 6656, ExtentKind::Zero),
        ]
    );
    assert_eq!(read(&v, 4000, 200), [vec![0; 96], vec![0x11; 104]].concat());
    let r = read(&v, 12288, 2048);
    assert_eq!(
        r,
        [vec![0x22; 512], vec![0; 512], vec![0x22; 512], vec![0; 512]].concat()
    );
    assert_eq!(v.allocated_bytes().unwrap(), 4096 + 1024);
    assert!(v.read_at(64 * 4096 - 1, &mut [0u8; 2]).is_err());
    assert!(v.extents(1, 64 * 4096).is_err());
}

#[test]
fn damaged_footer_uses_the_copy_at_offset_0() {
    let mut b = Build::new(16 * 4096, 4096);
    b.blocks = vec![(0, 0xff, 0x33)];
    let mut bytes = b.bytes();
    let n = bytes.len();
    bytes[n - 512 + 100] ^= 1;
    let v = Vhd::from_bytes(Path::new("t.vhd"), bytes.clone()).unwrap();
    assert_eq!(v.info().footer, FooterCopy::Head);
    assert_eq!(read(&v, 0, 4), [0x33; 4]);
    // Without the end footer at all (a truncated file still ends with a block).
    let v = Vhd::from_bytes(Path::new("t.vhd"), bytes[..n - 512].to_vec()).unwrap();
    assert_eq!(v.info().footer, FooterCopy::Head);
    // Both damaged.
    bytes[100] ^= 1;
    let e = err(bytes);
    assert!(
        e.contains("footer checksum mismatch") && e.contains("its copy at offset 0"),
        "{e}"
    );
    // Not a VHD at all.
    let e = err(vec![0; 4096]);
    assert!(e.contains("the cookie is"), "{e}");
    let e = err(vec![0; 100]);
    assert!(e.contains("too short for a VHD footer"), "{e}");
}

#[test]
fn fixed_from_memory_and_probe() {
    let b = Build::new(8192, 4096);
    let mut bytes = vec![0x5a; 8192];
    let mut f = b.footer(u64::MAX);
    f[60..64].copy_from_slice(&2u32.to_be_bytes());
    let c = checksum(&f, 64);
    f[64..68].copy_from_slice(&c.to_be_bytes());
    bytes.extend_from_slice(&f);
    assert!(probe(&bytes[..512], &bytes[bytes.len() - 512..]));
    assert!(!probe(&[0; 512], &[0; 512]));
    assert!(probe(&b.bytes()[..512], &[0; 512]));
    let v = Vhd::from_bytes(Path::new("f.vhd"), bytes.clone()).unwrap();
    assert_eq!(v.info().disk_type, DiskType::Fixed);
    assert_eq!(v.size(), 8192);
    assert_eq!(read(&v, 8190, 2), [0x5a; 2]);
    // A size larger than the file.
    let e = err(bytes[4096..].to_vec());
    assert!(
        e.contains("fixed disk of 8192 bytes needs 8704 bytes"),
        "{e}"
    );
}

#[test]
fn hostile_tables_are_refused() {
    let mut b = Build::new(16 * 4096, 4096);
    b.blocks = vec![(0, 0xff, 0x33)];
    let good = b.bytes();
    let patch = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut x = good.clone();
        f(&mut x);
        // Re-checksum the dynamic header; drop the end footer so the copy is used.
        let c = checksum(&x[512..1536], 36);
        x[548..552].copy_from_slice(&c.to_be_bytes());
        let n = x.len();
        x.truncate(n - 512);
        x
    };
    let e = err(patch(&|x| {
        x[528..536].copy_from_slice(&(1u64 << 40).to_be_bytes())
    }));
    assert!(e.contains("block allocation table at 0x10000000000"), "{e}");
    let e = err(patch(&|x| x[540..544].copy_from_slice(&2u32.to_be_bytes())));
    assert!(
        e.contains("has 2 entries of 4096 bytes, fewer than the 16 blocks"),
        "{e}"
    );
    let e = err(patch(&|x| {
        x[544..548].copy_from_slice(&1000u32.to_be_bytes())
    }));
    assert!(e.contains("block size 1000"), "{e}");
    let e = err(patch(&|x| {
        x[1536..1540].copy_from_slice(&0x0fff_fff0u32.to_be_bytes())
    }));
    assert!(
        e.contains("block 0 at 0x1fffffe000") && e.contains("past the end"),
        "{e}"
    );
    let e = err(patch(&|x| x[512] = b'X'));
    assert!(e.contains("no dynamic disk header"), "{e}");
    let mut x = good.clone();
    x[531] ^= 1;
    let e = err(x);
    assert!(e.contains("dynamic disk header checksum mismatch"), "{e}");
}

#[test]
fn differencing_chain() {
    let dir = tempfile::tempdir().unwrap();
    let mut parent = Build::new(8 * 4096, 4096);
    parent.uuid = [7; 16];
    parent.blocks = vec![(0, 0xff, 0x10), (2, 0xff, 0x12)];
    std::fs::write(dir.path().join("parent.vhd"), parent.bytes()).unwrap();
    let mut child = Build::new(8 * 4096, 4096);
    child.disk_type = 4;
    child.parent_uuid = [7; 16];
    child.w2ru = Some(".\\parent.vhd".into());
    // Block 0: the first 4 sectors are the child's.
    child.blocks = vec![(0, 0xf0, 0x20), (1, 0xff, 0x21)];
    let cpath = dir.path().join("child.vhd");
    std::fs::write(&cpath, child.bytes()).unwrap();
    let v = Vhd::open(&cpath, &OpenOptions::default()).unwrap();
    let i = v.info();
    assert_eq!(i.disk_type, DiskType::Differencing);
    assert_eq!(i.parents.len(), 1);
    assert!(i.parents[0].found_by.contains("W2ru"), "{:?}", i.parents);
    let r = read(&v, 0, 4 * 4096);
    let want = [
        vec![0x20; 2048],
        vec![0x10; 2048],
        vec![0x21; 4096],
        vec![0x12; 4096],
        vec![0; 4096],
    ]
    .concat();
    assert_eq!(r, want);
    let e = v.extents(0, 8 * 4096).unwrap();
    assert_eq!(
        e,
        vec![
            Extent {
                offset: 0,
                len: 3 * 4096,
                kind: ExtentKind::Data
            },
            Extent {
                offset: 3 * 4096,
                len: 5 * 4096,
                kind: ExtentKind::Zero
            }
        ]
    );

    // A parent that changed: its unique id differs.
    let mut other = Build::new(8 * 4096, 4096);
    other.uuid = [9; 16];
    std::fs::write(dir.path().join("parent.vhd"), other.bytes()).unwrap();
    let e = Vhd::open(&cpath, &OpenOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("unique id 09090909-") && e.contains("differs"),
        "{e}"
    );

    // A child that is its own parent.
    let mut selfp = child;
    selfp.uuid = [7; 16];
    selfp.w2ru = Some("self.vhd".into());
    let spath = dir.path().join("self.vhd");
    std::fs::write(&spath, selfp.bytes()).unwrap();
    let e = Vhd::open(&spath, &OpenOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("backing chain loops") && e.contains("(the parent of"),
        "{e}"
    );

    // No parent anywhere.
    std::fs::remove_file(dir.path().join("parent.vhd")).unwrap();
    let e = Vhd::open(&cpath, &OpenOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("no parent found; tried:") && e.contains("does not exist"),
        "{e}"
    );

    // From memory, a parent cannot be opened.
    let e = err(std::fs::read(&cpath).unwrap());
    assert!(e.contains("cannot open its parent"), "{e}");
}

#[test]
fn fuzz_entry_survives_garbage() {
    let mut b = Build::new(16 * 4096, 4096);
    b.blocks = vec![(0, 0x5a, 0x33)];
    let good = b.bytes();
    fuzz_image(&good);
    for i in (0..good.len()).step_by(97) {
        let mut x = good.clone();
        x[i] ^= 0xff;
        fuzz_image(&x);
        fuzz_image(&x[..i]);
    }
}
