//! A Windows-like NTFS volume made by ntfs-3g's own tools, shared by this crate's tests
//! and the `ddgz ls`/`cat`/`inspect` tests of the command line (which include this
//! module by path): `mkntfs`, a file by `ntfscp`, and — as root with /dev/fuse — an
//! `ntfs-3g` mount filling in `Windows/System32`, `Program Files`, a directory of
//! thousands of entries, long and non-ASCII names, a DOS alias, alternate data streams,
//! an attribute list, a sparse, compressed and fragmented files.

use std::path::Path;
use std::process::Command;

use super::{mkntfs, no_mount, run, umount};

/// Files in the directory whose index must grow several levels.
pub const MANY: usize = 3000;

/// Bytes that compress (text) or not (a pseudo-random stream), deterministic.
pub fn content(seed: u64, len: usize, text: bool) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|i| {
            if text {
                b"The quick brown fox jumps over the lazy dog. "[i % 45]
            } else {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            }
        })
        .collect()
}

/// Populates the mounted volume at `m` with a Windows-like tree and the hard cases.
pub fn populate(m: &Path, cluster: u32) {
    let w = |p: &str, b: &[u8]| {
        let p = m.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, b).unwrap();
    };
    w("Windows/System32/ntoskrnl.exe", &content(1, 300_000, false));
    w(
        "Windows/System32/drivers/etc/hosts",
        b"127.0.0.1 localhost\r\n",
    );
    w(
        "Windows/System32/config/SOFTWARE",
        &content(2, 70_000, false),
    );
    w(
        "Program Files/Cloudbase Solutions/Cloudbase-Init/conf/cloudbase-init.conf",
        b"[DEFAULT]\r\nusername=Admin\r\n",
    );
    w("Program Files (x86)/Common Files/readme.txt", b"x86\r\n");
    for i in 0..MANY {
        w(
            &format!("many/file-{i:05}-with-a-longer-name.txt"),
            &content(i as u64, i % 700, false),
        );
    }
    let long = format!("{}.txt", "L".repeat(250));
    w(&format!("names/{long}"), b"long name");
    w(
        "names/Ünïcødé — ελληνικά 日本語.txt",
        "non-ASCII".as_bytes(),
    );
    w("names/MixedCase Name With Spaces.Document", b"dos alias");
    // A DOS 8.3 alias beside the long name, as Windows makes them.
    run(Command::new("setfattr")
        .args(["-n", "system.ntfs_dos_name", "-v", "MIXEDC~1.DOC"])
        .arg(m.join("names/MixedCase Name With Spaces.Document")));
    w("names/a.b.c.d", b"dots");
    // Alternate data streams through ntfs-3g's xattr interface.
    w("ads/file.txt", b"main stream");
    let ads = m.join("ads/file.txt");
    run(Command::new("setfattr")
        .args(["-n", "user.Zone.Identifier", "-v", "[ZoneTransfer]"])
        .arg(&ads));
    run(Command::new("setfattr")
        .args(["-n", "user.second", "-v", "0x00ff00ff"])
        .arg(&ads));
    // Many streams push the attributes out of the base record: an $ATTRIBUTE_LIST.
    w("ads/listed.txt", b"has an attribute list");
    let listed = m.join("ads/listed.txt");
    for i in 0..40 {
        let v = String::from_utf8(content(i, 300, true)).unwrap();
        run(Command::new("setfattr")
            .args(["-n", &format!("user.s{i:02}"), "-v", &v])
            .arg(&listed));
    }
    // Sparse: a hole, data in the middle, data at the end.
    let sp = m.join("sparse.bin");
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut f = std::fs::File::create(&sp).unwrap();
        f.seek(SeekFrom::Start(3_000_000)).unwrap();
        f.write_all(b"middle").unwrap();
        f.seek(SeekFrom::Start(9_000_000)).unwrap();
        f.write_all(&content(9, 5000, false)).unwrap();
    }
    // Compressed (ntfs-3g compresses only with clusters up to 4 KiB).
    if cluster <= 4096 {
        std::fs::create_dir(m.join("compressed")).unwrap();
        run(Command::new("setfattr")
            .args(["-h", "-v", "0x00000800", "-n", "system.ntfs_attrib_be"])
            .arg(m.join("compressed")));
        w("compressed/text.txt", &content(3, 500_000, true));
        w("compressed/random.bin", &content(4, 100_000, false));
        let mut mixed = content(5, 70_000, true);
        mixed.extend(content(6, 70_000, false));
        w("compressed/mixed.bin", &mixed);
    }
    // Fragmented: two files grown in turns.
    for i in 0..20 {
        use std::io::Write;
        for name in ["frag-a.bin", "frag-b.bin"] {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(m.join(name))
                .unwrap();
            f.write_all(&content(100 + i, cluster as usize * 3, false))
                .unwrap();
        }
    }
}

/// Builds a volume: ntfscp into the unmounted file, then the tree through a mount.
pub fn build(dir: &Path, cluster: u32) -> std::path::PathBuf {
    let img = mkntfs(dir, cluster, 64, &format!("DDGZ{cluster}"));
    let src = dir.join("src.bin");
    std::fs::write(&src, content(7, 123_457, false)).unwrap();
    run(Command::new("ntfscp")
        .arg(&img)
        .arg(&src)
        .arg("copied-by-ntfscp.bin"));
    match no_mount() {
        Some(why) => eprintln!("SKIP the ntfs-3g mount part: {why}; only ntfscp files"),
        None => {
            let m = dir.join("mnt");
            std::fs::create_dir_all(&m).unwrap();
            run(Command::new("ntfs-3g")
                .args(["-o", "rw,compression"])
                .arg(&img)
                .arg(&m));
            let r = std::panic::catch_unwind(|| populate(&m, cluster));
            umount(&m);
            if let Err(e) = r {
                std::panic::resume_unwind(e);
            }
        }
    }
    img
}
