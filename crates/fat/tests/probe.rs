//! `probe` (what `inspect` shows of a FAT volume) against mkfs.fat and mtools: type, label,
//! serial, free space and root names as `mdir` reports them, for FAT12, FAT16 and FAT32.

use std::fs;
use std::path::Path;
use std::process::Command;

use ddgz_disk::RawDisk;
use ddgz_fat::{probe, Probe};

fn run(cmd: &mut Command) -> String {
    let out = cmd
        .env("MTOOLS_SKIP_CHECK", "1")
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A volume made by mkfs.fat with a label, a file with a long name and a directory.
fn volume(dir: &Path, fat: &str, size_kib: u64) -> std::path::PathBuf {
    let img = dir.join(format!("fat{fat}.img"));
    run(Command::new("mkfs.fat")
        .args(["-C", "-i", "12345678", "-n", "MYLABEL", "-F", fat])
        .arg(&img)
        .arg(size_kib.to_string()));
    fs::write(dir.join("a.txt"), vec![b'x'; 5000]).unwrap();
    run(Command::new("mcopy")
        .arg("-i")
        .arg(&img)
        .arg(dir.join("a.txt"))
        .arg("::/Long Name.txt"));
    run(Command::new("mmd").arg("-i").arg(&img).arg("::/EFI"));
    img
}

/// `NNN bytes free` from `mdir`, without its thousands separators.
fn mdir_free(img: &Path) -> u64 {
    let out = run(Command::new("mdir").arg("-i").arg(img).arg("::/"));
    let line = out
        .lines()
        .find(|l| l.ends_with("bytes free"))
        .unwrap_or_else(|| panic!("no 'bytes free' in {out}"));
    line.trim_end_matches("bytes free")
        .chars()
        .filter(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .unwrap()
}

fn info(img: &Path) -> ddgz_fat::Info {
    let disk = RawDisk::open(img).unwrap();
    let len = fs::metadata(img).unwrap().len();
    match probe(&disk, 0..len).unwrap() {
        Probe::Fat(i) => i,
        other => panic!("{}: {other:?}", img.display()),
    }
}

#[test]
fn probe_agrees_with_mtools() {
    let dir = tempfile::tempdir().unwrap();
    for (fat, kib, name) in [
        ("12", 4096, "FAT12"),
        ("16", 65536, "FAT16"),
        ("32", 81920, "FAT32"),
    ] {
        let img = volume(dir.path(), fat, kib);
        let i = info(&img);
        assert_eq!(i.fat_type, name);
        assert_eq!(i.label.as_deref(), Some("MYLABEL"));
        assert_eq!(i.volume_id, "1234-5678");
        assert_eq!(i.free_bytes, mdir_free(&img), "{name}");
        assert_eq!(i.root_entries, ["Long Name.txt", "EFI"], "{name}");
        assert!(i.total_bytes > i.free_bytes && i.total_bytes <= kib * 1024);
    }
}

/// A FAT32 FSInfo sector whose signature is damaged does not make the volume unreadable
/// (Linux mounts it, `fsck.fat` rewrites it): the free space is counted in the FAT instead.
/// A stale count in an intact FSInfo is what the volume states, and is shown as such.
#[test]
fn fat32_free_space_without_a_usable_fsinfo() {
    let dir = tempfile::tempdir().unwrap();
    let img = volume(dir.path(), "32", 81920);
    let counted = mdir_free(&img);
    let mut b = fs::read(&img).unwrap();
    let fsinfo = 512 * u16::from_le_bytes([b[0x30], b[0x31]]) as usize;
    b[fsinfo] ^= 0xFF; // lead signature
    b[fsinfo + 0x1E8..fsinfo + 0x1EC].copy_from_slice(&7u32.to_le_bytes());
    fs::write(&img, &b).unwrap();
    assert_eq!(info(&img).free_bytes, counted);
    b[fsinfo] ^= 0xFF; // intact again, with a count of 7 clusters
    fs::write(&img, &b).unwrap();
    assert_eq!(info(&img).free_bytes, 7 * 512);
}
