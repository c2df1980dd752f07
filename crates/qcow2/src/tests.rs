//! Hand-made hostile images, opened from memory: each refusal asserts its message.

use std::path::Path;

use ddgz_disk::{Extent, ExtentKind};

use crate::{ErrorKind, OpenOptions, Qcow2};

/// A minimal version 3 image: header in cluster 0, L1 in cluster 1, one L2 table in
/// cluster 2, room for data clusters 3..6; nothing mapped yet.
struct Img {
    bits: u32,
    ext: bool,
    buf: Vec<u8>,
}

impl Img {
    fn new(bits: u32, ext: bool, size: u64) -> Self {
        let cs = 1usize << bits;
        let mut buf = vec![0u8; 6 * cs];
        buf[..4].copy_from_slice(b"QFI\xfb");
        let mut img = Img { bits, ext, buf };
        img.put32(4, 3);
        img.put32(20, bits);
        img.put64(24, size);
        img.put32(36, 1);
        img.put64(40, cs as u64);
        img.put32(96, 4);
        img.put32(100, 104);
        if ext {
            img.put64(72, 1 << 4);
        }
        img.put64(cs, (2 * cs as u64) | 1 << 63);
        img
    }
    fn cs(&self) -> u64 {
        1 << self.bits
    }
    fn put32(&mut self, at: usize, v: u32) {
        self.buf[at..at + 4].copy_from_slice(&v.to_be_bytes());
    }
    fn put64(&mut self, at: usize, v: u64) {
        self.buf[at..at + 8].copy_from_slice(&v.to_be_bytes());
    }
    fn l2(&mut self, idx: usize, word: u64, bitmap: u64) {
        let es = if self.ext { 16 } else { 8 };
        let at = 2 * self.cs() as usize + idx * es;
        self.put64(at, word);
        if self.ext {
            self.put64(at + 8, bitmap);
        }
    }
    fn open(&self) -> Result<Qcow2, crate::Error> {
        Qcow2::from_bytes(
            Path::new("h.qcow2"),
            self.buf.clone(),
            &OpenOptions::default(),
        )
    }
    /// The message of the error from opening, mapping, or reading everything.
    fn fail(&self) -> String {
        let e = match self.open() {
            Err(e) => e,
            Ok(q) => {
                let size = q.virtual_size();
                match q.extents(0, size) {
                    Err(e) => e,
                    Ok(_) => q.read_at(0, &mut vec![0; size as usize]).unwrap_err(),
                }
            }
        };
        e.to_string()
    }
}

#[test]
fn reads_a_hand_made_image() {
    let mut i = Img::new(9, false, 2048);
    i.l2(0, (3 * 512) | (1 << 63), 0);
    i.l2(1, 1, 0);
    i.buf[3 * 512..4 * 512].fill(0x5a);
    let q = i.open().unwrap();
    assert_eq!(
        q.extents(0, 2048).unwrap(),
        [
            Extent {
                offset: 0,
                len: 512,
                kind: ExtentKind::Data
            },
            Extent {
                offset: 512,
                len: 1536,
                kind: ExtentKind::Zero
            }
        ]
    );
    let mut b = [1u8; 700];
    q.read_at(100, &mut b).unwrap();
    assert!(b[..412].iter().all(|&x| x == 0x5a) && b[412..].iter().all(|&x| x == 0));
    let e = q.read_at(2000, &mut [0u8; 100]).unwrap_err();
    assert_eq!(e.kind, ErrorKind::OutOfRange);
    assert_eq!(
        e.to_string(),
        "h.qcow2: guest range 0x7d0+0x64 lies outside the virtual disk (size 0x800)"
    );
}

#[test]
fn refuses_bad_table_entries() {
    let mut i = Img::new(9, false, 2048);
    i.l2(0, 2, 0);
    assert_eq!(
        i.fail(),
        "h.qcow2: L2 entry 0 (0x0000000000000002) has reserved bits set (0x2) (L2 table at \
         0x400, guest offset 0x0)"
    );
    let mut i = Img::new(9, false, 2048);
    i.l2(1, 100 * 512, 0);
    assert_eq!(
        i.fail(),
        "h.qcow2: data cluster at 0xc800 for guest offset 0x200 lies past the end of the file \
         (size 0xc00)"
    );
    let mut i = Img::new(9, false, 2048);
    i.put64(512, 1000 * 512);
    assert_eq!(
        i.fail(),
        "h.qcow2: L2 table at 0x7d000 (L1 entry 0) lies past the end of the file (size 0xc00)"
    );
    let mut i = Img::new(9, false, 2048);
    i.put64(512, 1024 | 1 << 57);
    assert!(i
        .fail()
        .contains("L1 entry 0 (0x0200000000000400) has reserved bits set"));
    let mut i = Img::new(9, false, 1 << 20);
    assert_eq!(
        i.fail(),
        "h.qcow2: L1 table has 1 entries but the virtual size 0x100000 needs 32"
    );
    i.put64(24, 2048);
    i.put64(40, 0);
    assert!(i
        .fail()
        .contains("L1 table at 0x0 overlaps the header cluster"));
}

#[test]
fn refuses_bad_compressed_clusters() {
    // 512 B clusters: x = 61, one sector bit.
    let c = 1u64 << 62;
    let mut i = Img::new(9, false, 2048);
    i.l2(0, c | (5 * 512 + 100) | 1 << 61, 0);
    assert!(i
        .fail()
        .contains("compressed cluster at 0xa64 (924 bytes) runs past the end"));
    let mut i = Img::new(9, false, 2048);
    i.l2(0, c | 100, 0);
    assert!(i
        .fail()
        .contains("compressed cluster at 0x64 overlaps the header cluster"));
    let mut i = Img::new(9, false, 2048);
    i.l2(0, c | (3 * 512), 0);
    i.buf[3 * 512..4 * 512].fill(0xff);
    let m = i.fail();
    assert!(
        m.starts_with("h.qcow2: compressed cluster at 0x600: invalid deflate data"),
        "{m}"
    );
}

#[test]
fn refuses_bad_extended_entries() {
    let mut i = Img::new(14, true, 1 << 20);
    i.l2(0, 0, 1);
    assert!(i
        .fail()
        .contains("subclusters 0x00000001 are allocated but the entry has no host"));
    let mut i = Img::new(14, true, 1 << 20);
    i.l2(0, 3 << 14, 0x8000_0000_8000_0000);
    assert!(i
        .fail()
        .contains("subclusters 0x80000000 are marked both allocated and zero"));
    // A valid mix: subcluster 0 data, 1 zero, the rest unallocated (zeros).
    let mut i = Img::new(14, true, 1 << 20);
    i.l2(0, 3 << 14, 0x0000_0002_0000_0001);
    i.buf[3 << 14..(3 << 14) + 512].fill(7);
    let q = i.open().unwrap();
    let m = q.extents(0, 1 << 20).unwrap();
    assert_eq!(m.len(), 2);
    assert_eq!((m[0].len, m[0].kind), (512, ExtentKind::Data));
}

#[test]
fn refuses_features() {
    let mut i = Img::new(9, false, 2048);
    i.put32(32, 1);
    assert_eq!(
        i.fail(),
        "h.qcow2: image is encrypted (AES, crypt_method 1); refusing to read ciphertext"
    );
    let mut i = Img::new(9, false, 2048);
    i.put64(72, 1 << 2);
    assert!(i
        .fail()
        .contains("external data file bit is set but no data file name"));
    let mut i = Img::new(9, false, 2048);
    i.put64(72, 1 << 1);
    let e = i.open().unwrap_err();
    assert_eq!(e.kind, ErrorKind::CorruptBit);
    let forced = OpenOptions {
        force_corrupt: true,
        ..OpenOptions::default()
    };
    let q = Qcow2::from_bytes(Path::new("h"), i.buf.clone(), &forced).unwrap();
    assert!(q.info().corrupt);
    let mut i = Img::new(9, false, 2048);
    i.put64(72, 1 << 63 | 1);
    let m = i.fail();
    assert!(
        m.contains("unsupported incompatible features: bit 63 (unnamed)"),
        "{m}"
    );
    // Backing file named: not openable from memory.
    let mut i = Img::new(9, false, 2048);
    i.put64(8, 200);
    i.put32(16, 4);
    i.buf[200..204].copy_from_slice(b"base");
    assert!(i.fail().contains("no recorded format"));
    i.buf[104..112].copy_from_slice(&[0xe2, 0x79, 0x2a, 0xca, 0, 0, 0, 3]);
    i.buf[112..115].copy_from_slice(b"raw");
    assert!(i
        .fail()
        .contains("an image read from memory cannot open its backing file"));
}

#[test]
fn fuzz_entry_survives_garbage() {
    crate::fuzz_image(&[]);
    crate::fuzz_image(b"QFI\xfb");
    let mut i = Img::new(9, false, 2048);
    i.l2(0, u64::MAX, u64::MAX);
    crate::fuzz_image(&i.buf);
    i.put64(24, u64::MAX);
    crate::fuzz_image(&i.buf);
}
