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
    if n < 4 {
        // Records 0-3 have a copy in $MFTMirr, which ntfs-3g compares.
        let mirror = u64::from_le_bytes(img[0x38..0x40].try_into().unwrap()) * 4096;
        let m = (mirror + n * 1024) as usize;
        img[m..m + 1024].copy_from_slice(&r);
    }
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

/// Facts of an image.
fn facts(img: &[u8]) -> ddgz_ntfs::Facts {
    let d = MemoryDisk::new(img.to_vec());
    let vol = Volume::open(&d, 0, d.0.len() as u64).unwrap();
    vol.facts().unwrap()
}

/// Writes `img` to a file in `dir` for the ntfs-3g tools.
fn to_file(dir: &std::path::Path, img: &[u8]) -> std::path::PathBuf {
    let p = dir.join("vol.img");
    std::fs::write(&p, img).unwrap();
    p
}

/// Tries an `ntfs-3g` mount (read-write when `rw`); `Ok(read_write)` when it mounted
/// (then unmounted; ntfs-3g may fall back to read-only), `Err(stderr)` when it refused.
/// `None` when no mount can be tried here.
fn try_mount(
    dir: &std::path::Path,
    img: &std::path::Path,
    rw: bool,
) -> Option<Result<bool, String>> {
    mount_said(dir, img, rw).map(|(r, _)| r)
}

/// [`try_mount`], with what ntfs-3g printed.
fn mount_said(
    dir: &std::path::Path,
    img: &std::path::Path,
    rw: bool,
) -> Option<(Result<bool, String>, String)> {
    if let Some(why) = no_mount() {
        eprintln!("SKIP the ntfs-3g mount check: {why}");
        return None;
    }
    let m = dir.join("mnt");
    std::fs::create_dir_all(&m).unwrap();
    let o = Command::new("ntfs-3g")
        .args(["-o", if rw { "rw" } else { "ro" }])
        .arg(img)
        .arg(&m)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&o.stderr).into_owned();
    eprintln!("ntfs-3g: {}", said.trim());
    if o.status.success() {
        let mounts = std::fs::read_to_string("/proc/mounts").unwrap();
        let line = mounts
            .lines()
            .find(|l| l.split(' ').nth(1) == m.to_str())
            .unwrap_or_else(|| panic!("{} not in /proc/mounts", m.display()))
            .to_string();
        umount(&m);
        let opts = line.split(' ').nth(3).unwrap_or("");
        Some((Ok(opts.split(',').any(|o| o == "rw")), said))
    } else {
        Some((Err(said.clone()), said))
    }
}

#[test]
fn state_dirty_flag() {
    let Some(mut b) = base() else { return };
    assert!(!facts(&b.img).dirty);
    edit_record(&mut b.img, ddgz_ntfs::VOLUME_RECORD, |r| {
        let at = attr_at(r, kind::VOLUME_INFORMATION);
        let v = at + usize::from(le16(r, at + 0x14));
        r[v + 10] |= 1;
    });
    let f = facts(&b.img);
    assert!(f.dirty, "{f:?}");
    if missing(&["ntfsinfo"]).is_none() {
        let dir = tempfile::tempdir().unwrap();
        let p = to_file(dir.path(), &b.img);
        let o = Command::new("ntfsinfo").arg("-m").arg(&p).output().unwrap();
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && e.contains("scheduled for check"),
            "ntfsinfo: {e}"
        );
        let info =
            String::from_utf8(run(Command::new("ntfsinfo").args(["-f", "-m"]).arg(&p))).unwrap();
        assert!(
            info.contains(&format!("Volume Flags: {:#06x}", f.flags)),
            "{info}"
        );
    }
}

/// The base volume with a `hiberfil.sys` starting with `magic`, as a file in `dir`.
fn with_hiberfil(b: &Base, dir: &std::path::Path, magic: &[u8; 4]) -> std::path::PathBuf {
    let p = to_file(dir, &b.img);
    let hiber = dir.join("hiberfil.sys");
    let mut h = magic.to_vec();
    h.resize(64 << 10, 0x11);
    std::fs::write(&hiber, &h).unwrap();
    run(Command::new("ntfscp")
        .arg(&p)
        .arg(&hiber)
        .arg("hiberfil.sys"));
    p
}

#[test]
fn state_hibernated() {
    let Some(b) = base() else { return };
    // Fast Startup's "HIBR": ntfs-3g's tools refuse to write, its mount falls back to
    // read-only.
    let dir = tempfile::tempdir().unwrap();
    let p = with_hiberfil(&b, dir.path(), b"HIBR");
    assert!(facts(&std::fs::read(&p).unwrap()).hibernated);
    let o = Command::new("ntfscp")
        .arg(&p)
        .arg(dir.path().join("hiberfil.sys"))
        .arg("x")
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && e.contains("hibernated"),
        "ntfscp: {e}"
    );
    if let Some(r) = try_mount(dir.path(), &p, true) {
        assert!(
            r != Ok(true),
            "ntfs-3g mounted a hibernated volume read-write"
        );
    }
    // Hibernation's "hibr".
    let dir = tempfile::tempdir().unwrap();
    let p = with_hiberfil(&b, dir.path(), b"hibr");
    assert!(facts(&std::fs::read(&p).unwrap()).hibernated);
    if let Some(r) = try_mount(dir.path(), &p, true) {
        assert!(
            r != Ok(true),
            "ntfs-3g mounted a hibernated volume read-write"
        );
    }
    // A resumed one ("wake"): not hibernated, ntfs-3g mounts it read-write.
    let dir = tempfile::tempdir().unwrap();
    let p = with_hiberfil(&b, dir.path(), b"wake");
    assert!(!facts(&std::fs::read(&p).unwrap()).hibernated);
    if let Some(r) = try_mount(dir.path(), &p, true) {
        assert_eq!(r, Ok(true), "ntfs-3g: the volume is not hibernated");
    }
}

/// A restart page of `$LogFile` (4 KiB), clean or with a client in use.
fn restart_page(clean: bool, lsn: u64) -> Vec<u8> {
    let mut p = vec![0u8; 4096];
    let put16 =
        |p: &mut Vec<u8>, at: usize, v: u16| p[at..at + 2].copy_from_slice(&v.to_le_bytes());
    let put32 =
        |p: &mut Vec<u8>, at: usize, v: u32| p[at..at + 4].copy_from_slice(&v.to_le_bytes());
    let put64 =
        |p: &mut Vec<u8>, at: usize, v: u64| p[at..at + 8].copy_from_slice(&v.to_le_bytes());
    p[..4].copy_from_slice(b"RSTR");
    put16(&mut p, 4, 0x1E);
    put16(&mut p, 6, 9);
    put32(&mut p, 0x10, 4096);
    put32(&mut p, 0x14, 4096);
    put16(&mut p, 0x18, 0x30);
    put16(&mut p, 0x1A, 1);
    put16(&mut p, 0x1C, 1);
    let ra = 0x30;
    put64(&mut p, ra, lsn);
    put16(&mut p, ra + 8, 1);
    put16(&mut p, ra + 0x0A, 0xFFFF);
    put16(&mut p, ra + 0x0C, if clean { 0xFFFF } else { 0 });
    put16(&mut p, ra + 0x0E, if clean { 2 } else { 0 });
    // 67 - fls(file size): 67 - 21.
    put32(&mut p, ra + 0x10, 46);
    put16(&mut p, ra + 0x14, 0xD0);
    put16(&mut p, ra + 0x16, 0x30);
    put64(&mut p, ra + 0x18, 1 << 20);
    put16(&mut p, ra + 0x24, 0x30);
    put16(&mut p, ra + 0x26, 0x40);
    put32(&mut p, ra + 0x28, 1);
    let c = ra + 0x30;
    put64(&mut p, c, lsn);
    put64(&mut p, c + 8, lsn);
    put16(&mut p, c + 0x10, 0xFFFF);
    put16(&mut p, c + 0x12, 0xFFFF);
    put32(&mut p, c + 0x1C, 8);
    for (i, u) in "NTFS".encode_utf16().enumerate() {
        put16(&mut p, c + 0x20 + 2 * i, u);
    }
    fixup::protect(&mut p).unwrap();
    p
}

#[test]
fn state_log_needs_replay() {
    let Some(b) = base() else { return };
    assert_eq!(
        facts(&b.img).log,
        ddgz_ntfs::LogState::Clean,
        "mkntfs leaves $LogFile all 0xFF"
    );
    let d = MemoryDisk::new(b.img.clone());
    let vol = Volume::open(&d, 0, d.0.len() as u64).unwrap();
    let log = vol.file(ddgz_ntfs::LOGFILE_RECORD).unwrap();
    let s = vol.data(&log, "").unwrap().unwrap();
    let ddgz_ntfs::StreamData::NonResident { runs, .. } = &s.data else {
        panic!()
    };
    let at = (runs[0].lcn.unwrap() * 4096) as usize;
    let with = |clean: bool| {
        let mut img = b.img.clone();
        img[at..at + 4096].copy_from_slice(&restart_page(clean, 0x1000));
        img[at + 4096..at + 8192].copy_from_slice(&restart_page(clean, 0x1000));
        img
    };
    // ntfs-3g agrees: it calls the second "unclean" (and resets the log, which Windows
    // would have replayed), not the first.
    for (clean, want) in [
        (true, ddgz_ntfs::LogState::Clean),
        (false, ddgz_ntfs::LogState::NeedsReplay { lsn: 0x1000 }),
    ] {
        let img = with(clean);
        assert_eq!(facts(&img).log, want);
        let dir = tempfile::tempdir().unwrap();
        let p = to_file(dir.path(), &img);
        if let Some((_, said)) = mount_said(dir.path(), &p, true) {
            assert_eq!(
                said.contains("unclean file system"),
                !clean,
                "ntfs-3g: {said}"
            );
        }
    }
}

#[test]
fn reads_past_the_end_return_nothing() {
    let Some(b) = base() else { return };
    let d = MemoryDisk::new(b.img.clone());
    let vol = Volume::open(&d, 0, d.0.len() as u64).unwrap();
    for n in [b.small, b.big] {
        let f = vol.file(n).unwrap();
        let s = vol.data(&f, "").unwrap().unwrap();
        let mut buf = [7u8; 16];
        assert_eq!(vol.read_at(&s, s.len() + 1000, &mut buf).unwrap(), 0);
        assert_eq!(vol.read_at(&s, u64::MAX, &mut buf).unwrap(), 0);
        assert_eq!(vol.read_at(&s, s.len() - 1, &mut buf).unwrap(), 1);
    }
}

#[test]
fn directory_entry_points_back_at_the_root() {
    let Some(mut b) = base() else { return };
    // $Extend (record 11): its first index entry now names the root, as a directory.
    let mut name = String::new();
    edit_record(&mut b.img, 11, |r| {
        let at = attr_at(r, kind::INDEX_ROOT);
        let v = at + usize::from(le16(r, at + 0x14));
        let e = v + 0x10 + le32(r, v + 0x10) as usize;
        let key = e + 0x10;
        let n = usize::from(r[key + 0x40]);
        let units: Vec<u16> = (0..n).map(|i| le16(r, key + 0x42 + 2 * i)).collect();
        name = String::from_utf16(&units).unwrap();
        r[e..e + 8].copy_from_slice(&(5u64 | 5 << 48).to_le_bytes());
        let attrs = le32(r, key + 0x38) | 0x1000_0000;
        r[key + 0x38..key + 0x3C].copy_from_slice(&attrs.to_le_bytes());
    });
    assert_eq!(
        first_error(&b.img),
        format!(
            "corrupt NTFS volume: $Extend/{name}: directory MFT record 5 is reached twice (a \
             loop or a hard-linked directory)"
        )
    );
}
