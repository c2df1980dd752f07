//! Finding the Windows partition on a GPT disk laid out as packer-maas's Windows one:
//! 1 ESP, 2 MSR, 3 recovery (NTFS), 4 Windows (NTFS, `Windows/System32`).

mod common;

use std::ops::Range;
use std::path::Path;
use std::process::Command;

use common::*;
use ddgz_ntfs::find::{windows_partition, FindError};

/// Byte range of partition `n` as `sgdisk -i` reports it.
fn range(disk: &Path, n: u32) -> Range<u64> {
    let out =
        String::from_utf8(run(Command::new("sgdisk").arg(format!("-i{n}")).arg(disk))).unwrap();
    let sector = |key: &str| -> u64 {
        let l = out.lines().find(|l| l.starts_with(key)).unwrap();
        l[key.len()..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    sector("First sector:") * 512..(sector("Last sector:") + 1) * 512
}

/// An NTFS volume of `len` bytes; with a `Windows/System32` directory when `windows`
/// (made through an ntfs-3g mount).
fn volume(dir: &Path, name: &str, len: u64, windows: bool) -> Vec<u8> {
    let img = dir.join(name);
    std::fs::File::create(&img).unwrap().set_len(len).unwrap();
    run(Command::new("mkntfs")
        .args(["-F", "-Q", "-L", name])
        .arg(&img));
    if windows {
        let m = dir.join("mnt");
        std::fs::create_dir_all(&m).unwrap();
        run(Command::new("ntfs-3g").arg(&img).arg(&m));
        let r = std::fs::create_dir_all(m.join("Windows/System32"));
        umount(&m);
        r.unwrap();
    }
    std::fs::read(&img).unwrap()
}

/// The disk with p3 and p4 as given, and its partitions.
fn disk(dir: &Path, p3: &[u8], p4: &[u8]) -> (ddgz_disk::MemoryDisk, Vec<(u32, Range<u64>)>) {
    let d = dir.join("disk.raw");
    std::fs::File::create(&d)
        .unwrap()
        .set_len(64 << 20)
        .unwrap();
    run(Command::new("sgdisk")
        .args([
            "-n1:2048:+8M",
            "-t1:ef00",
            "-n2:0:+16M",
            "-t2:0c01",
            "-n3:0:+16M",
            "-t3:2700",
        ])
        .args(["-n4:0:0", "-t4:0700"])
        .arg(&d));
    let parts: Vec<(u32, Range<u64>)> = (1..=4).map(|n| (n, range(&d, n))).collect();
    let mut bytes = std::fs::read(&d).unwrap();
    for (n, v) in [(3usize, p3), (4, p4)] {
        let r = &parts[n - 1].1;
        assert!(v.len() as u64 <= r.end - r.start);
        bytes[r.start as usize..r.start as usize + v.len()].copy_from_slice(v);
    }
    (ddgz_disk::MemoryDisk::new(bytes), parts)
}

#[test]
fn the_windows_partition_is_found() {
    if let Some(why) = missing(&["mkntfs", "sgdisk"]) {
        eprintln!("SKIP: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let recovery = volume(dir.path(), "recovery", 16 << 20, false);
    let plain = volume(dir.path(), "plain", 20 << 20, false);
    let (d, parts) = disk(dir.path(), &recovery, &plain);

    // Nothing holds Windows: each partition said.
    let e = windows_partition(&d, &parts, None).unwrap_err();
    assert_eq!(
        e.to_string(),
        "no NTFS partition holds Windows/System32 (1: not NTFS; 2: not NTFS; 3: NTFS, no \
         Windows/System32; 4: NTFS, no Windows/System32)"
    );
    // Asked for: any NTFS partition; others refused with the reason.
    let (n, v) = windows_partition(&d, &parts, Some(3)).unwrap();
    assert_eq!((n, v.facts().unwrap().label.as_str()), (3, "recovery"));
    assert!(matches!(
        windows_partition(&d, &parts, Some(2)),
        Err(FindError::NotNtfs { number: 2, .. })
    ));
    assert!(matches!(
        windows_partition(&d, &parts, Some(9)),
        Err(FindError::NoSuchPartition { number: 9, .. })
    ));

    if let Some(why) = no_mount() {
        eprintln!("SKIP the Windows/System32 part: {why}");
        return;
    }
    let windows = volume(dir.path(), "windows", 20 << 20, true);
    let (d, parts) = disk(dir.path(), &recovery, &windows);
    let (n, v) = windows_partition(&d, &parts, None).unwrap();
    assert_eq!((n, v.facts().unwrap().label.as_str()), (4, "windows"));
    let both = volume(dir.path(), "both", 16 << 20, true);
    let (d, parts) = disk(dir.path(), &both, &windows);
    assert_eq!(
        windows_partition(&d, &parts, None).unwrap_err().to_string(),
        "partitions [3, 4] all hold Windows/System32; choose one"
    );
}
