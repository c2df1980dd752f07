//! The library against real tools: volumes made by mkfs.fat + mcopy, files added with
//! `add_files`, the result read back through an `Overlay` and checked with `fsck.fat -n`
//! and mtools — for FAT12, FAT16 (the ESXi 4 MiB and 100 MiB cases) and FAT32.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use ddgz_disk::{Disk, Overlay, RawDisk};
use ddgz_fat::{add_files, list, read_file, AddSpec, Error};

const MIB: u64 = 1 << 20;

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Deterministic pseudo-random bytes.
fn bytes(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A volume made by mkfs.fat with one file and one directory already there, inside a
/// disk with 1 MiB before and after it. Returns (disk path, partition range).
fn make_disk(dir: &Path, mkfs_args: &[&str], size_kib: u64) -> (PathBuf, std::ops::Range<u64>) {
    let part = dir.join("part.img");
    let _ = fs::remove_file(&part);
    run(Command::new("mkfs.fat")
        .args(["-C", "-i", "12345678"])
        .args(mkfs_args)
        .arg(&part)
        .arg(size_kib.to_string()));
    fs::write(dir.join("old.txt"), b"was there before\n").unwrap();
    run(Command::new("mcopy")
        .arg("-i")
        .arg(&part)
        .arg(dir.join("old.txt"))
        .arg("::/OLD.TXT"));
    run(Command::new("mmd").arg("-i").arg(&part).arg("::/EFI"));
    run(Command::new("mcopy")
        .arg("-i")
        .arg(&part)
        .arg(dir.join("old.txt"))
        .arg("::/EFI/boot.cfg"));
    let disk = dir.join("disk.img");
    let mut d = bytes(MIB as usize, 7);
    d.extend(fs::read(&part).unwrap());
    d.extend(bytes(MIB as usize, 8));
    fs::write(&disk, &d).unwrap();
    (disk, MIB..MIB + size_kib * 1024)
}

/// The source tree packer-maas adds, with nested directories and long names.
fn make_sources(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let files: Vec<(String, Vec<u8>)> = vec![
        (
            "curtin/curtin-hooks".into(),
            b"#!/bin/sh\necho hooks\n".to_vec(),
        ),
        (
            "curtin/A rather long file name, with spaces & more.txt".into(),
            bytes(5000, 1),
        ),
        ("curtin/sub/dir/deep/payload.bin".into(), bytes(70_000, 2)),
        ("curtin/sub/empty.file".into(), Vec::new()),
        ("curtin/Ünïcödé-名前.cfg".into(), bytes(100, 3)),
    ];
    for (p, data) in &files {
        let p = dir.join("src").join(p);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, data).unwrap();
    }
    fs::set_permissions(
        dir.join("src/curtin/curtin-hooks"),
        fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    fs::write(dir.join("src/scripts.tar.xz"), bytes(300_000, 4)).unwrap();
    let mut all = files;
    all.push(("curtin/scripts.tar.xz".into(), bytes(300_000, 4)));
    all
}

/// Applies `patches` to the disk, writes the result, returns (whole disk, partition).
fn apply(
    disk: &Path,
    range: &std::ops::Range<u64>,
    patches: Vec<ddgz_disk::Patch>,
    out: &Path,
) -> Vec<u8> {
    let raw = RawDisk::open(disk).unwrap();
    let o = Overlay::new(&raw, patches).unwrap();
    let mut buf = vec![0u8; o.size() as usize];
    o.read_at(0, &mut buf).unwrap();
    fs::write(out, &buf[range.start as usize..range.end as usize]).unwrap();
    buf
}

/// `fsck.fat -n` prints its version and one summary line, nothing else, and exits 0.
fn fsck_clean(part: &Path) {
    let out = Command::new("fsck.fat")
        .arg("-n")
        .arg(part)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.lines().count() == 2 && out.stderr.is_empty(),
        "fsck.fat -n {}: {}\n{}",
        part.display(),
        stdout,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn mtype(part: &Path, path: &str) -> Vec<u8> {
    let out = Command::new("mtype")
        .arg("-i")
        .arg(part)
        .arg(format!("::/{path}"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "mtype {path}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn add_and_check(mkfs_args: &[&str], size_kib: u64) {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    let (disk, range) = make_disk(dir, mkfs_args, size_kib);
    let files = make_sources(dir);
    let before = fs::read(&disk).unwrap();
    let specs = [
        AddSpec::parse(&format!("{}", dir.join("src/curtin").display())).unwrap(),
        AddSpec::parse(&format!(
            "{}:curtin/",
            dir.join("src/scripts.tar.xz").display()
        ))
        .unwrap(),
    ];
    let raw = RawDisk::open(&disk).unwrap();
    let patches = add_files(&raw, range.clone(), &specs, false).unwrap();
    let patched: u64 = patches.iter().map(|p| p.data.len() as u64).sum();
    assert!(patched < 2 * MIB, "{patched} bytes patched");
    let part = dir.join("out-part.img");
    let after = apply(&disk, &range, patches, &part);
    assert_eq!(fs::read(&disk).unwrap(), before, "the input changed");
    // Outside the partition: byte-identical.
    assert_eq!(
        after[..range.start as usize],
        before[..range.start as usize]
    );
    assert_eq!(after[range.end as usize..], before[range.end as usize..]);
    fsck_clean(&part);
    for (path, data) in &files {
        assert_eq!(&mtype(&part, path), data, "{path}");
    }
    assert_eq!(mtype(&part, "OLD.TXT"), b"was there before\n");
    assert_eq!(mtype(&part, "EFI/boot.cfg"), b"was there before\n");
    let mdir = run(Command::new("mdir")
        .arg("-i")
        .arg(&part)
        .arg("-/")
        .arg("::/curtin"));
    assert!(
        mdir.contains("curtin-hooks") && mdir.contains("payload.bin"),
        "{mdir}"
    );
    // Our reader agrees.
    let o = Overlay::new(&raw, add_files(&raw, range.clone(), &specs, false).unwrap()).unwrap();
    let names: Vec<String> = list(&o, range.clone(), "/curtin")
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert!(
        names.contains(&"curtin-hooks".to_string()) && names.contains(&"sub".to_string()),
        "{names:?}"
    );
    assert_eq!(
        read_file(&o, range.clone(), "/CURTIN/sub/dir/deep/payload.bin").unwrap(),
        files[2].1
    );

    // Again on top, without --replace: refused, naming the file; with it: replaced.
    let mut o_disk = after.clone();
    let e = add_files(&o, range.clone(), &specs[1..], false).unwrap_err();
    assert!(matches!(e, Error::Exists { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("/curtin/scripts.tar.xz already exists"),
        "{e}"
    );
    fs::write(dir.join("src/scripts.tar.xz"), b"new contents").unwrap();
    let p2 = add_files(&o, range.clone(), &specs[1..], true).unwrap();
    for p in p2 {
        o_disk[p.offset as usize..p.offset as usize + p.data.len()].copy_from_slice(&p.data);
    }
    fs::write(&part, &o_disk[range.start as usize..range.end as usize]).unwrap();
    fsck_clean(&part);
    assert_eq!(mtype(&part, "curtin/scripts.tar.xz"), b"new contents");
    assert_eq!(mtype(&part, "curtin/curtin-hooks"), files[0].1);
}

#[test]
fn fat12() {
    add_and_check(&["-F", "12"], 2048);
}

#[test]
fn fat16_esxi6_4mib_one_sector_clusters() {
    add_and_check(&["-F", "16", "-s", "1"], 4064);
}

#[test]
fn fat16_esxi7_100mib() {
    add_and_check(&["-F", "16"], 102_400);
}

#[test]
fn fat32() {
    add_and_check(&["-F", "32"], 65536);
}

#[test]
fn fat32_with_4k_clusters_and_a_dir_at_every_level() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    let (disk, range) = make_disk(dir, &["-F", "32", "-s", "8"], 300 * 1024);
    fs::create_dir_all(dir.join("tree/a/b/c/d")).unwrap();
    fs::write(dir.join("tree/a/b/c/d/f"), b"deep").unwrap();
    fs::write(dir.join("tree/top"), b"top").unwrap();
    let raw = RawDisk::open(&disk).unwrap();
    let specs =
        [AddSpec::parse(&format!("2:{}/:/opt/payload", dir.join("tree").display())).unwrap()];
    let patches = add_files(&raw, range.clone(), &specs, false).unwrap();
    let part = dir.join("p.img");
    apply(&disk, &range, patches, &part);
    fsck_clean(&part);
    assert_eq!(mtype(&part, "opt/payload/a/b/c/d/f"), b"deep");
    assert_eq!(mtype(&part, "opt/payload/top"), b"top");
}

#[test]
fn refusals_come_before_any_change() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    let (disk, range) = make_disk(dir, &["-F", "12"], 1024);
    let raw = RawDisk::open(&disk).unwrap();
    // Full partition.
    fs::write(dir.join("big"), bytes(2 * MIB as usize, 9)).unwrap();
    let e = add_files(
        &raw,
        range.clone(),
        &[AddSpec::parse(&dir.join("big").display().to_string()).unwrap()],
        false,
    )
    .unwrap_err();
    assert!(matches!(e, Error::NoSpace { .. }), "{e}");
    assert!(e.to_string().contains("not enough free space"), "{e}");
    // Source missing.
    let e = add_files(
        &raw,
        range.clone(),
        &[AddSpec::parse("/nonexistent/curtin").unwrap()],
        false,
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("/nonexistent/curtin: no such file or directory"),
        "{e}"
    );
    // Not FAT: the 1 MiB before the partition.
    fs::write(dir.join("small"), b"x").unwrap();
    let small = [AddSpec::parse(&dir.join("small").display().to_string()).unwrap()];
    let e = add_files(&raw, 0..MIB, &small, false).unwrap_err();
    assert!(matches!(e, Error::NotFat { .. }), "{e}");
    assert!(
        e.to_string()
            .starts_with("partition 1: not a FAT filesystem"),
        "{e}"
    );
    // A name FAT cannot hold.
    fs::create_dir_all(dir.join("names")).unwrap();
    fs::write(dir.join("names/what?"), b"x").unwrap();
    let e = add_files(
        &raw,
        range.clone(),
        &[AddSpec::parse(&dir.join("names").display().to_string()).unwrap()],
        false,
    )
    .unwrap_err();
    assert!(matches!(e, Error::BadName { .. }), "{e}");
    // A file where a directory is needed.
    let e = add_files(
        &raw,
        range.clone(),
        &[AddSpec::parse(&format!("{}:OLD.TXT/x", dir.join("small").display())).unwrap()],
        false,
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("/OLD.TXT is a file, not a directory"),
        "{e}"
    );
    // Range outside the disk.
    let e = add_files(&raw, 0..raw.size() + 512, &small, false).unwrap_err();
    assert!(matches!(e, Error::Disk(_)), "{e}");
}

/// A cyclic chain in a directory: an error, not a hang; same for a file chain.
#[test]
fn cyclic_chains_are_refused() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    let (disk, range) = make_disk(dir, &["-F", "16", "-s", "1"], 4064);
    let mut d = fs::read(&disk).unwrap();
    // FAT16: reserved sectors at 0x0E, FAT at reserved * 512. EFI is the first directory
    // mkfs/mmd made after OLD.TXT: find its cluster from the root directory.
    let p = range.start as usize;
    let reserved = u16::from_le_bytes([d[p + 14], d[p + 15]]) as usize;
    let fatsz = u16::from_le_bytes([d[p + 22], d[p + 23]]) as usize;
    let root = p + (reserved + 2 * fatsz) * 512;
    let efi = (0..512)
        .map(|i| root + i * 32)
        .find(|&o| &d[o..o + 8] == b"EFI     ")
        .unwrap();
    let cl = u16::from_le_bytes([d[efi + 26], d[efi + 27]]) as usize;
    // Point the directory's cluster at itself in both FATs.
    for f in 0..2 {
        let at = p + (reserved + f * fatsz) * 512 + cl * 2;
        d[at..at + 2].copy_from_slice(&(cl as u16).to_le_bytes());
    }
    let bad = dir.join("bad.img");
    fs::write(&bad, &d).unwrap();
    fs::write(dir.join("f"), b"x").unwrap();
    let raw = RawDisk::open(&bad).unwrap();
    let e = add_files(
        &raw,
        range.clone(),
        &[AddSpec::parse(&format!("{}:EFI/f", dir.join("f").display())).unwrap()],
        false,
    )
    .unwrap_err();
    assert!(matches!(e, Error::Corrupt { .. }), "{e}");
    assert!(e.to_string().contains("used twice"), "{e}");
    assert!(list(&raw, range.clone(), "/").is_err());
}

/// Source mtimes become the entries' times (UTC), for files and directories.
#[test]
fn timestamps_come_from_the_sources() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    let (disk, range) = make_disk(dir, &["-F", "16", "-s", "1"], 4064);
    fs::create_dir_all(dir.join("stamped")).unwrap();
    fs::write(dir.join("stamped/file.txt"), b"x").unwrap();
    // 2021-06-15 10:20:30 UTC
    let when = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_623_752_430);
    fs::File::options()
        .write(true)
        .open(dir.join("stamped/file.txt"))
        .unwrap()
        .set_modified(when)
        .unwrap();
    let raw = RawDisk::open(&disk).unwrap();
    let specs = [AddSpec::parse(&dir.join("stamped").display().to_string()).unwrap()];
    let o = Overlay::new(&raw, add_files(&raw, range.clone(), &specs, false).unwrap()).unwrap();
    let e = list(&o, range.clone(), "/stamped").unwrap();
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].modified, "2021-06-15 10:20:30");
    let part = dir.join("p.img");
    apply(&disk, &range, o.patches().to_vec(), &part);
    let mdir = Command::new("mdir")
        .env("TZ", "UTC")
        .arg("-i")
        .arg(&part)
        .arg("::/stamped")
        .output()
        .unwrap();
    let mdir = String::from_utf8_lossy(&mdir.stdout);
    assert!(mdir.contains("2021-06-15  10:20"), "{mdir}");
}

/// A directory that grows over many clusters, and a fixed root directory that is full.
#[test]
fn directories_grow_and_a_full_root_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    let (disk, range) = make_disk(dir, &["-F", "12", "-r", "32"], 2048);
    fs::create_dir_all(dir.join("many")).unwrap();
    for i in 0..200 {
        fs::write(
            dir.join(format!("many/a rather long file name number {i:03}.txt")),
            format!("{i}\n"),
        )
        .unwrap();
    }
    let raw = RawDisk::open(&disk).unwrap();
    let specs = [AddSpec::parse(&dir.join("many").display().to_string()).unwrap()];
    let patches = add_files(&raw, range.clone(), &specs, false).unwrap();
    let part = dir.join("p.img");
    apply(&disk, &range, patches, &part);
    fsck_clean(&part);
    assert_eq!(
        mtype(&part, "many/a rather long file name number 199.txt"),
        b"199\n"
    );
    // 32 root entries, 3 used (OLD.TXT, EFI, label): 20 long names at the root do not fit.
    let specs: Vec<AddSpec> = (0..20)
        .map(|i| {
            AddSpec::parse(&format!(
                "{}:/root file with a long name {i}",
                dir.join("many/a rather long file name number 000.txt")
                    .display()
            ))
            .unwrap()
        })
        .collect();
    let e = add_files(&raw, range.clone(), &specs, false).unwrap_err();
    assert!(matches!(e, Error::RootFull { .. }), "{e}");
}

/// A 4 GiB FAT16 bootbank (64 KiB clusters) and a 4 GiB FAT32, sparse: the patches are
/// what changed, not the partition.
#[test]
fn four_gib_partitions_cost_only_what_changed() {
    for args in [&["-F", "16"][..], &["-F", "32"][..]] {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path();
        let disk = dir.join("big.img");
        let size_kib = 4095 * 1024;
        fs::File::create(&disk)
            .unwrap()
            .set_len(MIB + size_kib * 1024 + MIB)
            .unwrap();
        run(Command::new("mkfs.fat")
            .args(args)
            .args(["--offset", "2048"])
            .arg(&disk)
            .arg(size_kib.to_string()));
        fs::create_dir_all(dir.join("curtin")).unwrap();
        fs::write(dir.join("curtin/curtin-hooks"), bytes(300_000, 5)).unwrap();
        let raw = RawDisk::open(&disk).unwrap();
        let range = MIB..MIB + size_kib * 1024;
        let specs = [AddSpec::parse(&dir.join("curtin").display().to_string()).unwrap()];
        let patches = add_files(&raw, range.clone(), &specs, false).unwrap();
        let patched: u64 = patches.iter().map(|p| p.data.len() as u64).sum();
        assert!(patched < 2 * MIB, "{args:?}: {patched} bytes of patches");
        let o = Overlay::new(&raw, patches).unwrap();
        assert_eq!(
            read_file(&o, range.clone(), "/curtin/curtin-hooks").unwrap(),
            bytes(300_000, 5)
        );
    }
}

/// Damaged metadata (random bytes in the boot sector, FATs and directories): an error or
/// a clean result, never a panic or a hang — and whatever `add_files` accepts, fatfs
/// handled without looping.
#[test]
fn mutated_volumes_never_panic_or_hang() {
    let t = tempfile::tempdir().unwrap();
    let dir = t.path();
    let mut seeds = 0u64;
    let rounds: usize = std::env::var("DDGZ_FAT_MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(60);
    let (mut ok, mut refused) = (0, 0);
    for (args, kib) in [
        (&["-F", "12"][..], 1024u64),
        (&["-F", "16", "-s", "1"][..], 4064),
        (&["-F", "32"][..], 34 * 1024),
    ] {
        let (disk, range) = make_disk(dir, args, kib);
        let orig = fs::read(&disk).unwrap();
        fs::create_dir_all(dir.join("src/sub")).unwrap();
        fs::write(dir.join("src/sub/f.txt"), b"hello").unwrap();
        let specs = [AddSpec::parse(&format!("{}:EFI/new", dir.join("src").display())).unwrap()];
        let p = range.start as usize;
        let fat_start = u16::from_le_bytes([orig[p + 14], orig[p + 15]]) as usize * 512;
        // Metadata lives in the first ~300 KiB of these volumes.
        let meta = 300 * 1024usize;
        for round in 0..rounds {
            seeds += 1;
            let mut d = orig.clone();
            let r = bytes(16, seeds);
            for k in 0..(1 + round % 8) {
                // A third in the BPB, a third in the first FAT's used entries (where
                // chains, cycles and cross-links live), a third anywhere.
                let x = u32::from_le_bytes([r[k], r[k + 1], r[k + 2], r[k + 3]]) as usize;
                let pos = match k % 3 {
                    0 => 11 + x % 80,
                    1 => fat_start + x % 48,
                    _ => x % meta,
                };
                d[range.start as usize + pos] = r[k + 8];
            }
            let img = dir.join("m.img");
            fs::write(&img, &d).unwrap();
            let raw = RawDisk::open(&img).unwrap();
            let _ = list(&raw, range.clone(), "/EFI");
            match add_files(&raw, range.clone(), &specs, true) {
                Ok(_) => ok += 1,
                Err(_) => refused += 1,
            }
        }
    }
    eprintln!("mutations: {ok} edited, {refused} refused");
}
