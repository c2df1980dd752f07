//! The clean-log check against `xfs_logprint -t` (its `state: <CLEAN>`/`<DIRTY>`): a
//! fresh filesystem, one unmounted cleanly, one shut down while mounted (root only) and
//! one whose unmount record is patched away (rootless).
mod common;

use std::path::Path;
use std::process::Command;

use common::*;
use ddgz_disk::RawDisk;
use ddgz_xfs::{Error, Fs};

fn logprint_state(img: &Path) -> String {
    let out = Command::new("xfs_logprint")
        .arg("-t")
        .arg(img)
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    let line = s
        .lines()
        .find(|l| l.contains("state:"))
        .unwrap_or_else(|| panic!("xfs_logprint: {s}"));
    line.split("state:").nth(1).unwrap().trim().to_string()
}

fn open_err(img: &Path) -> Option<Error> {
    let len = std::fs::metadata(img).unwrap().len();
    Fs::open(RawDisk::open(img).unwrap(), 0, len).err()
}

fn mkfs(dir: &Path, opts: &[&str]) -> std::path::PathBuf {
    let img = dir.join("xfs.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(320 << 20)
        .unwrap();
    run(Command::new("mkfs.xfs")
        .args(["-q", "-f"])
        .args(opts)
        .arg(&img));
    img
}

#[test]
fn fresh_is_clean_and_patched_unmount_record_is_dirty() {
    if !have("mkfs.xfs") || !have("xfs_logprint") {
        eprintln!("skip: needs mkfs.xfs and xfs_logprint (xfsprogs)");
        return;
    }
    for opts in [&["-m", "crc=1"][..], &["-m", "crc=0"]] {
        let dir = tempfile::tempdir().unwrap();
        let img = mkfs(dir.path(), opts);
        assert_eq!(logprint_state(&img), "<CLEAN>");
        assert!(open_err(&img).is_none(), "{opts:?}: {:?}", open_err(&img));
        // Clear XLOG_UNMOUNT_TRANS in the unmount record's operation header (byte 9 of
        // the block after the record header at the log's start).
        let fs = open(&img);
        let sb = fs.superblock();
        let ag = sb.log_start >> sb.agblk_log;
        let lin = ag * u64::from(sb.ag_blocks) + (sb.log_start & ((1 << sb.agblk_log) - 1));
        let at = lin * u64::from(sb.block_size) + 512 + 9;
        drop(fs);
        let mut b = std::fs::read(&img).unwrap();
        assert_eq!(
            b[at as usize] & 0x20,
            0x20,
            "the unmount flag where expected"
        );
        b[at as usize] &= !0x20;
        std::fs::write(&img, &b).unwrap();
        assert_eq!(logprint_state(&img), "<DIRTY>");
        let e = open_err(&img).expect("a dirty log is refused");
        assert!(matches!(e, Error::DirtyLog(_)), "{e}");
        assert!(e.to_string().contains("not an unmount record"), "{e}");
    }
}

#[test]
fn shut_down_is_dirty_and_remounted_is_clean() {
    if !is_root() || !have("mkfs.xfs") || !have("xfs_logprint") || !have("xfs_io") {
        eprintln!("skip: needs root (loop mount), mkfs.xfs, xfs_io and xfs_logprint");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let img = mkfs(dir.path(), &[]);
    let mnt = dir.path().join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    let mount = || {
        Command::new("mount")
            .args(["-o", "loop"])
            .arg(&img)
            .arg(&mnt)
            .status()
            .unwrap()
            .success()
    };
    if !mount() {
        eprintln!("skip: mount -o loop failed");
        return;
    }
    std::fs::create_dir(mnt.join("x")).unwrap();
    std::fs::write(mnt.join("x/f"), b"hi").unwrap();
    run(Command::new("xfs_io")
        .args(["-x", "-c", "shutdown -f"])
        .arg(&mnt));
    run(Command::new("umount").arg(&mnt));
    assert_eq!(logprint_state(&img), "<DIRTY>");
    let e = open_err(&img).expect("a dirty log is refused");
    assert!(matches!(e, Error::DirtyLog(_)), "{e}");
    // Mounting replays the log; unmounting leaves it clean.
    assert!(mount());
    run(Command::new("umount").arg(&mnt));
    assert_eq!(logprint_state(&img), "<CLEAN>");
    let fs = open(&img);
    // The create was in the log (replayed); the data never reached the disk.
    assert!(fs.lookup(b"/x/f", false).unwrap().is_some());
}
