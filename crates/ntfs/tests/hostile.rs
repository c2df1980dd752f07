//! Hostile volumes: a mkntfs-made volume (4 KiB clusters, files put in by `ntfscp`) with
//! one structure broken per class — run lists out of bounds or overlapping, an attribute
//! list naming a record that is not its own, an index node pointing back at itself, an
//! attribute length that lies, a huge data size. Each must fail with the error pinned
//! here (naming the record, attribute and offset), never panic or hang.
//!
//! With `DDGZ_NTFS_SEEDS=DIR`, the valid and corrupt volumes are also written to DIR in
//! the fuzz target's sparse-run encoding (seeds for `fuzz/corpus/ntfs`).

mod common;

use std::process::Command;

use common::*;
use ddgz_disk::bytes::{le16, le32};
use ddgz_disk::MemoryDisk;
use ddgz_ntfs::attr::kind;
use ddgz_ntfs::{fixup, Error, Volume};

/// The valid base volume and what the tests need to know about it.
struct Base {
    img: Vec<u8>,
    /// Record of `big.bin` (non-resident, 10 clusters).
    big: u64,
    /// Record of `small.txt` (resident).
    small: u64,
}

fn base() -> Option<Base> {
    if let Some(why) = missing(&["mkntfs", "ntfscp"]) {
        eprintln!("SKIP: {why}");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let img = mkntfs(dir.path(), 4096, 4, "HOSTILE");
    let big = dir.path().join("big.bin");
    std::fs::write(&big, vec![0xA5u8; 40_000]).unwrap();
    run(Command::new("ntfscp").arg(&img).arg(&big).arg("big.bin"));
    let small = dir.path().join("small.txt");
    std::fs::write(&small, b"small").unwrap();
    run(Command::new("ntfscp")
        .arg(&img)
        .arg(&small)
        .arg("small.txt"));
    let bytes = std::fs::read(&img).unwrap();
    let d = MemoryDisk::new(bytes.clone());
    let vol = Volume::open(&d, 0, d.0.len() as u64).unwrap();
    let rec = |p: &str| vol.lookup(p).unwrap().unwrap().reference.record;
    Some(Base {
        big: rec("big.bin"),
        small: rec("small.txt"),
        img: bytes,
    })
}

/// Byte offset of MFT record `n` in the image (the MFT is contiguous on these volumes).
fn record_at(img: &[u8], n: u64) -> usize {
    let d = MemoryDisk::new(img.to_vec());
    let vol = Volume::open(&d, 0, d.0.len() as u64).unwrap();
    let ddgz_ntfs::StreamData::NonResident { runs, .. } = &vol.mft().data else {
        panic!("resident $MFT")
    };
    let cs = u64::from(vol.boot().cluster_size);
    let pos = n * u64::from(vol.boot().record_size);
    let lcn = runs[0].lcn.unwrap();
    assert!(pos / cs < runs[0].len, "record {n} is not in the first run");
    (lcn * cs + pos) as usize
}

/// Edits MFT record `n` with its fixups undone, then protects it again.
fn edit_record(img: &mut [u8], n: u64, f: impl FnOnce(&mut Vec<u8>)) {
    let at = record_at(img, n);
    let mut r = img[at..at + 1024].to_vec();
    fixup::unprotect(&mut r).unwrap();
    f(&mut r);
    fixup::protect(&mut r).unwrap();
    img[at..at + 1024].copy_from_slice(&r);
}

/// Offset of the first attribute of type `t` in a record's bytes.
fn attr_at(r: &[u8], t: u32) -> usize {
    let mut at = usize::from(le16(r, 0x14));
    while le32(r, at) != t {
        assert_ne!(le32(r, at), 0xFFFF_FFFF, "no attribute {t:#x}");
        at += le32(r, at + 4) as usize;
    }
    at
}

/// Opens the image, walks it, reads every file: the first error, as text.
fn first_error(img: &[u8]) -> String {
    let d = MemoryDisk::new(img.to_vec());
    let r = (|| -> Result<(), Error> {
        let vol = Volume::open(&d, 0, d.0.len() as u64)?;
        vol.facts()?;
        vol.walk(|_, e| {
            if !e.is_directory() {
                let f = vol.file(e.file.record)?;
                if let Some(s) = vol.data(&f, "")? {
                    vol.for_each_piece(&s, 1 << 20, |_, _| Ok::<(), Error>(()))?;
                }
            }
            Ok::<(), Error>(())
        })
    })();
    if let Ok(dir) = std::env::var("DDGZ_NTFS_SEEDS") {
        let name = format!("{dir}/ntfs-{:016x}.bin", img.len() as u64 ^ hash(img));
        std::fs::write(name, ddgz_ntfs::fuzz::sparse_runs(img)).unwrap();
    }
    // The fuzz entry point must survive it too.
    ddgz_ntfs::fuzz::fuzz_sparse(&ddgz_ntfs::fuzz::sparse_runs(img));
    match r {
        Ok(()) => "no error".into(),
        Err(e) => e.to_string(),
    }
}

fn hash(b: &[u8]) -> u64 {
    b.iter().fold(0xcbf29ce484222325u64, |h, &x| {
        (h ^ u64::from(x)).wrapping_mul(0x100000001b3)
    })
}

#[test]
fn the_base_volume_reads() {
    let Some(b) = base() else { return };
    assert_eq!(first_error(&b.img), "no error");
}

#[test]
fn run_out_of_bounds() {
    let Some(mut b) = base() else { return };
    let mut at = 0;
    edit_record(&mut b.img, b.big, |r| {
        at = attr_at(r, kind::DATA);
        let rl = at + usize::from(le16(r, at + 0x20));
        // 10 clusters at LCN 0x7000 (the volume has 1023).
        r[rl..rl + 5].copy_from_slice(&[0x21, 10, 0x00, 0x70, 0]);
    });
    assert_eq!(
        first_error(&b.img),
        format!(
            "corrupt NTFS volume: MFT record {}: attribute at byte {at}: type 0x80: run list: run \
             0 at byte 0: clusters 28672..+10 lie outside the volume (1023 clusters)",
            b.big
        )
    );
}

#[test]
fn runs_overlap() {
    let Some(mut b) = base() else { return };
    let mut lcn = 0u64;
    edit_record(&mut b.img, b.big, |r| {
        let at = attr_at(r, kind::DATA);
        let rl = at + usize::from(le16(r, at + 0x20));
        assert!(
            le32(r, at + 4) as usize - (rl - at) >= 8,
            "room for two runs"
        );
        assert_eq!(r[rl], 0x21, "one run, a 2-byte LCN");
        let l = [r[rl + 2], r[rl + 3]];
        lcn = u64::from(u16::from_le_bytes(l));
        // 6 clusters at LCN, then 4 clusters at LCN + 1: the second overlaps the first.
        r[rl..rl + 8].copy_from_slice(&[0x21, 6, l[0], l[1], 0x11, 4, 1, 0]);
    });
    assert_eq!(
        first_error(&b.img),
        format!(
            "corrupt NTFS volume: MFT record {} $DATA: runs at VCN 0 and VCN 6 overlap \
             (clusters {lcn}..{} and {}..{})",
            b.big,
            lcn + 6,
            lcn + 1,
            lcn + 5
        )
    );
}

#[test]
fn attribute_length_lies() {
    let Some(mut b) = base() else { return };
    let mut at = 0;
    let mut in_use = 0;
    edit_record(&mut b.img, b.small, |r| {
        at = attr_at(r, kind::DATA);
        in_use = le32(r, 0x18);
        r[at + 4..at + 8].copy_from_slice(&0x7FFF_0000u32.to_le_bytes());
    });
    assert_eq!(
        first_error(&b.img),
        format!(
            "corrupt NTFS volume: MFT record {}: attribute at byte {at}: length 2147418112 is \
             not a multiple of 8 of at least 24 inside the record's {in_use} bytes in use",
            b.small
        )
    );
}

#[test]
fn huge_data_size() {
    let Some(mut b) = base() else { return };
    edit_record(&mut b.img, b.big, |r| {
        let at = attr_at(r, kind::DATA);
        for f in [0x28, 0x30, 0x38] {
            r[at + f..at + f + 8].copy_from_slice(&(1u64 << 62).to_le_bytes());
        }
    });
    assert_eq!(
        first_error(&b.img),
        format!(
            "corrupt NTFS volume: MFT record {} $DATA: data size 4611686018427387904 bytes lies \
             beyond its runs (10 clusters, 40960 bytes)",
            b.big
        )
    );
}

#[test]
fn attribute_list_names_a_foreign_record() {
    let Some(mut b) = base() else { return };
    edit_record(&mut b.img, b.small, |r| {
        // A resident $ATTRIBUTE_LIST whose one entry says $DATA lives in record 0 ($MFT).
        let end = le32(r, 0x18) as usize - 8;
        assert_eq!(le32(r, end), 0xFFFF_FFFF);
        let mut a = [0u8; 0x18 + 0x20];
        a[0..4].copy_from_slice(&kind::ATTRIBUTE_LIST.to_le_bytes());
        let len = a.len() as u32;
        a[4..8].copy_from_slice(&len.to_le_bytes());
        a[0x0A..0x0C].copy_from_slice(&0x18u16.to_le_bytes());
        a[0x0E..0x10].copy_from_slice(&7u16.to_le_bytes());
        a[0x10..0x14].copy_from_slice(&0x20u32.to_le_bytes());
        a[0x14..0x16].copy_from_slice(&0x18u16.to_le_bytes());
        let e = &mut a[0x18..];
        e[0..4].copy_from_slice(&kind::DATA.to_le_bytes());
        e[4..6].copy_from_slice(&0x20u16.to_le_bytes());
        e[7] = 0x1A;
        e[0x10..0x18].copy_from_slice(&(1u64 << 48).to_le_bytes());
        r.splice(end..end, a.iter().copied());
        r.truncate(1024);
        let in_use = le32(r, 0x18) + a.len() as u32;
        r[0x18..0x1C].copy_from_slice(&in_use.to_le_bytes());
    });
    assert_eq!(
        first_error(&b.img),
        format!(
            "corrupt NTFS volume: MFT record {n} $ATTRIBUTE_LIST: record 0 is not an extension \
             of record {n} (in use: true, base: None)",
            n = b.small
        )
    );
}

#[test]
fn index_node_points_back_at_itself() {
    let Some(mut b) = base() else { return };
    // The root directory's node at VCN 0: its last entry gains a child, VCN 0.
    let d = MemoryDisk::new(b.img.clone());
    let vol = Volume::open(&d, 0, d.0.len() as u64).unwrap();
    let root = vol.file(ddgz_ntfs::ROOT_RECORD).unwrap();
    let i30: Vec<u16> = "$I30".encode_utf16().collect();
    let alloc = root
        .stream(kind::INDEX_ALLOCATION, &i30, 4096)
        .unwrap()
        .unwrap();
    let ddgz_ntfs::StreamData::NonResident { runs, .. } = &alloc.data else {
        panic!()
    };
    let at = (runs[0].lcn.unwrap() * 4096) as usize;
    let mut n = b.img[at..at + 4096].to_vec();
    fixup::unprotect(&mut n).unwrap();
    let h = 0x18;
    let first = le32(&n, h) as usize;
    let in_use = le32(&n, h + 4) as usize;
    let mut e = h + first;
    while le16(&n, e + 0x0C) & 2 == 0 {
        e += usize::from(le16(&n, e + 8));
    }
    n[e + 8..e + 10].copy_from_slice(&0x18u16.to_le_bytes());
    n[e + 0x0C] |= 1;
    n[e + 0x10..e + 0x18].copy_from_slice(&0u64.to_le_bytes());
    n[h + 4..h + 8].copy_from_slice(&((in_use + 8) as u32).to_le_bytes());
    fixup::protect(&mut n).unwrap();
    b.img[at..at + 4096].copy_from_slice(&n);
    assert_eq!(
        first_error(&b.img),
        "corrupt NTFS volume: MFT record 5 $I30: node at VCN 0 is reached twice (a loop)"
    );
}
