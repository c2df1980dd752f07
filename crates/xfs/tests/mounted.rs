//! Filesystems made by `mkfs.xfs` and filled through a loop mount (root only; the test
//! prints why it skips otherwise): every format of directory, extent map and xattr,
//! ACLs, a `security.selinux` label, bigtime and pre-1970 times with nanoseconds,
//! symlinks inline and remote, devices, fifos, sockets, sparse and unwritten extents,
//! hard links. The crate's walk must equal the mounted view.
mod common;

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use ddgz_xfs::{Format, Fs};

/// A mounted loop filesystem, unmounted on drop.
struct Mount(PathBuf);

impl Mount {
    fn new(img: &Path, dir: &Path, ro: bool) -> Option<Self> {
        std::fs::create_dir_all(dir).unwrap();
        let opts = if ro { "loop,ro" } else { "loop" };
        let out = Command::new("mount")
            .args(["-o", opts])
            .arg(img)
            .arg(dir)
            .output()
            .ok()?;
        if !out.status.success() {
            eprintln!(
                "skip: mount -o {opts} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            return None;
        }
        Some(Self(dir.to_path_buf()))
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn setxattr(p: &Path, name: &str, value: &[u8]) {
    let c = CString::new(p.as_os_str().as_bytes()).unwrap();
    let n = CString::new(name).unwrap();
    // SAFETY: valid C strings and buffer.
    let r = unsafe {
        libc::lsetxattr(
            c.as_ptr(),
            n.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    assert_eq!(
        r,
        0,
        "setxattr {} {name}: {}",
        p.display(),
        std::io::Error::last_os_error()
    );
}

fn write(p: &Path, data: &[u8]) {
    std::fs::write(p, data).unwrap();
}

/// Fills the mounted filesystem at `m`.
fn fill(m: &Path) {
    let p = |s: &str| m.join(s);
    // Directories of each format.
    for (name, n) in [("sf", 3), ("block", 20), ("leaf", 300), ("node", 2000)] {
        std::fs::create_dir(p(name)).unwrap();
        for i in 0..n {
            std::fs::File::create(p(&format!("{name}/entry-with-a-longish-name-{i:05}"))).unwrap();
        }
    }
    // Hundreds of extents: every other block written.
    let f = std::fs::File::create(p("every-other")).unwrap();
    for i in 0..400u64 {
        f.write_all_at(&[(i % 251) as u8 + 1; 4096], i * 8192)
            .unwrap();
    }
    f.sync_all().unwrap();
    // Sparse: data, a hole, an unwritten extent, a hole at the end.
    let f = std::fs::File::create(p("sparse")).unwrap();
    f.write_all_at(b"head", 0).unwrap();
    f.write_all_at(b"middle", 5 << 20).unwrap();
    f.set_len(12 << 20).unwrap();
    run(Command::new("fallocate")
        .args(["-o", "8388608", "-l", "1048576"])
        .arg(p("sparse")));
    run(Command::new("fallocate")
        .args(["-l", "65536"])
        .arg(p("unwritten-only")));
    write(&p("empty"), b"");
    write(&p("plain"), b"hello, xfs\n");
    // Symlinks: inline and remote.
    std::os::unix::fs::symlink("plain", p("link-short")).unwrap();
    std::os::unix::fs::symlink("d/".repeat(400) + "end", p("link-long")).unwrap();
    // Devices, fifo, socket, hard link, modes and owners.
    run(Command::new("mknod").arg(p("null")).args(["c", "1", "3"]));
    run(Command::new("mknod")
        .arg(p("blk"))
        .args(["b", "259", "70000"]));
    run(Command::new("mkfifo").arg(p("fifo")));
    drop(std::os::unix::net::UnixListener::bind(p("sock")).unwrap());
    std::fs::hard_link(p("plain"), p("plain-link")).unwrap();
    write(&p("suid"), b"#!/bin/sh\n");
    run(Command::new("chmod").args(["4755"]).arg(p("suid")));
    run(Command::new("chown").args(["1234:5678"]).arg(p("suid")));
    std::fs::create_dir(p("sticky")).unwrap();
    run(Command::new("chmod").args(["1777"]).arg(p("sticky")));
    // Xattrs of each form.
    write(&p("x-short"), b"s");
    setxattr(&p("x-short"), "user.a", b"1");
    setxattr(&p("x-short"), "trusted.t", b"two");
    write(&p("x-leaf"), b"l");
    for i in 0..30 {
        setxattr(&p("x-leaf"), &format!("user.leaf{i}"), &[b'v'; 100]);
    }
    write(&p("x-node"), b"n");
    for i in 0..600 {
        setxattr(
            &p("x-node"),
            &format!("user.node-attribute-{i:04}"),
            format!("value {i}").as_bytes(),
        );
    }
    write(&p("x-remote"), b"r");
    setxattr(
        &p("x-remote"),
        "user.big",
        &(0..20000u32).map(|i| (i % 253) as u8).collect::<Vec<_>>(),
    );
    setxattr(&p("x-remote"), "user.small", b"s");
    run(Command::new("setfattr")
        .args(["-n", "security.selinux", "-v", "system_u:object_r:etc_t:s0"])
        .arg(p("plain")));
    // ACLs.
    write(&p("acl-file"), b"a");
    run(Command::new("setfacl")
        .args(["-m", "u:1234:rw,g:5:r,m::rw"])
        .arg(p("acl-file")));
    std::fs::create_dir(p("acl-dir")).unwrap();
    run(Command::new("setfacl")
        .args(["-m", "u:42:rwx", "-d", "-m", "u:1234:rwx,g::r-x"])
        .arg(p("acl-dir")));
    write(&p("acl-dir/inherits"), b"i");
    // Times: nanoseconds, before 1970, past 2038 (bigtime keeps them; v4 clamps).
    for (name, t) in [
        ("t-ns", "@1700000000.123456789"),
        ("t-old", "@-100000.5"),
        ("t-2100", "@4102444800.987654321"),
    ] {
        write(&p(name), name.as_bytes());
        run(Command::new("touch")
            .args(["-h", "-m", "-d", t])
            .arg(p(name)));
    }
    run(Command::new("touch")
        .args(["-h", "-m", "-d", "@1600000000.5"])
        .arg(p("link-short")));
    // A B+ tree directory: thousands of hard links (no new inodes, which need
    // contiguous space on v4) whose directory blocks land in free space cut into single
    // blocks, so that the directory needs more extents than the inode holds.
    let free = {
        let out = Command::new("df")
            .args(["-B1", "--output=avail"])
            .arg(m)
            .output()
            .unwrap();
        let s = String::from_utf8_lossy(&out.stdout);
        s.lines().nth(1).unwrap().trim().parse::<u64>().unwrap()
    };
    run(Command::new("fallocate")
        .args(["-l", &(free - (8 << 20)).to_string()])
        .arg(p("filler")));
    std::fs::create_dir(p("frag")).unwrap();
    let mut made = 0;
    while made < 10000 && std::fs::write(p(&format!("frag/{made}")), [2u8; 4096]).is_ok() {
        made += 1;
        if made % 500 == 0 {
            run(Command::new("sync"));
        }
    }
    run(Command::new("sync"));
    for i in (0..made).step_by(2) {
        std::fs::remove_file(p(&format!("frag/{i}"))).unwrap();
    }
    run(Command::new("sync"));
    std::fs::create_dir(p("btree")).unwrap();
    write(&p("btree-target"), b"t");
    for i in 0..6000 {
        std::fs::hard_link(
            p("btree-target"),
            p(&format!(
                "btree/a-rather-long-file-name-to-fill-blocks-{i:06}"
            )),
        )
        .unwrap();
    }
    std::fs::remove_file(p("filler")).unwrap();
}

fn check(opts: &[&str], label: &str) {
    if !is_root() || !have("mkfs.xfs") {
        eprintln!("skip {label}: needs root (loop mount) and mkfs.xfs");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("xfs.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(320 << 20)
        .unwrap();
    run(Command::new("mkfs.xfs")
        .args(["-q", "-f"])
        .args(opts)
        .arg(&img));
    let mnt = dir.path().join("mnt");
    {
        let Some(m) = Mount::new(&img, &mnt, false) else {
            return;
        };
        fill(&m.0);
    }
    let fs = open(&img);
    assert_eq!(
        fs.superblock().version,
        if opts.contains(&"crc=0") { 4 } else { 5 }
    );
    let ours = walk_crate(&fs);
    let theirs = {
        let m = Mount::new(&img, &mnt, true).expect("remount read-only");
        walk_mount(&m.0)
    };
    assert!(ours.len() > 9000, "{} files", ours.len());
    assert_same(&ours, &theirs);
    formats(&fs);
}

/// The fixtures hold what they claim: each format is really exercised.
fn formats(fs: &Fs<ddgz_disk::RawDisk>) {
    let f = |path: &str| fs.lookup(path.as_bytes(), false).unwrap().unwrap();
    assert_eq!(f("sf").format, Format::Local);
    assert_eq!(f("block").format, Format::Extents);
    assert_eq!(f("block").size, u64::from(fs.superblock().dir_block_size()));
    assert!(f("leaf").size > u64::from(fs.superblock().dir_block_size()));
    assert_eq!(f("btree").format, Format::Btree, "the B+ tree directory");
    assert_eq!(f("every-other").format, Format::Btree, "400 extents");
    assert!(f("every-other").nextents >= 400);
    assert_eq!(f("x-short").aformat, Some(Format::Local));
    assert_eq!(f("x-leaf").aformat, Some(Format::Extents));
    assert_eq!(f("link-short").format, Format::Local);
    assert_eq!(f("link-long").format, Format::Extents);
    let t = f("t-2100").mtime;
    if fs.superblock().version == 5 {
        assert_eq!((t.sec, t.nsec), (4102444800, 987654321));
    }
    let t = f("t-old").mtime;
    assert_eq!((t.sec, t.nsec), (-100001, 500_000_000));
}

#[test]
fn v5_bigtime_matches_the_mount() {
    check(&["-m", "crc=1,bigtime=1"], "v5");
}

#[test]
fn v4_matches_the_mount() {
    check(&["-m", "crc=0"], "v4");
}
