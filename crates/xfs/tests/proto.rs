//! Filesystems populated by `mkfs.xfs -p protofile` (no root needed): v4 (`crc=0`, the
//! only way to get one here, as this kernel mounts no v4) and v5. The crate's walk must
//! equal what the protofile asked for and what `xfs_db -r` lists: every directory's
//! names, inode numbers and types (short-form, block, leaf and node directories),
//! modes, owners, sizes, content, symlink targets (inline and remote), devices, fifos.
mod common;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use common::*;
use ddgz_xfs::Format;

const DIRS: [(&str, usize); 4] = [("sf", 3), ("block", 20), ("leaf", 300), ("node", 2000)];

fn long_target() -> String {
    "x/".repeat(300) + "end"
}

/// `xfs_db -r -c 'ls PATH'`: name → (inode, type word), `.` and `..` left out.
fn xfs_db_ls(img: &Path, path: &str) -> BTreeMap<Vec<u8>, (u64, String)> {
    let out = Command::new("xfs_db")
        .args(["-r", "-c", &format!("ls {path}")])
        .arg(img)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut m = BTreeMap::new();
    for line in String::from_utf8_lossy(&out.stdout).lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 7 {
            continue;
        }
        let name = f[5..f.len() - 1].join(" ");
        if name == "." || name == ".." {
            continue;
        }
        m.insert(name.into_bytes(), (f[1].parse().unwrap(), f[2].to_string()));
    }
    m
}

fn check(opts: &[&str], label: &str) {
    if !have("mkfs.xfs") || !have("xfs_db") {
        eprintln!("skip {label}: needs mkfs.xfs and xfs_db (xfsprogs)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let small = d.join("small");
    std::fs::write(&small, b"hello from a protofile\n").unwrap();
    let big = d.join("big");
    let big_data: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&big, &big_data).unwrap();
    let mut p = String::from("boot\n0 0\nd--755 0 0\n");
    let (s, b) = (small.display(), big.display());
    writeln!(p, "small -u-755 12 34 {s}\nbig ---640 1000 1000 {b}").unwrap();
    writeln!(
        p,
        "null c--666 0 0 1 3\nblk b--660 0 6 259 70000\nfifo p--644 0 0"
    )
    .unwrap();
    writeln!(p, "short l--777 0 0 small").unwrap();
    // mkfs.xfs 6.1 writes v5 remote symlinks without their block header (xfs_db -r
    // reports a CRC error on them): see `v5_protofile_remote_symlink_is_refused`.
    let v5 = !opts.contains(&"crc=0");
    if !v5 {
        writeln!(p, "long l--777 0 0 {}", long_target()).unwrap();
    }
    for (name, n) in DIRS {
        writeln!(p, "{name} d-g750 5 6").unwrap();
        for i in 0..n {
            writeln!(p, " entry-with-a-longish-name-{i:05} ---600 7 8 {s}").unwrap();
        }
        writeln!(p, " $").unwrap();
    }
    p.push_str("$\n");
    let proto = d.join("proto");
    std::fs::write(&proto, p).unwrap();
    let img = d.join("xfs.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(320 << 20)
        .unwrap();
    run(Command::new("mkfs.xfs")
        .args(["-q", "-f"])
        .args(opts)
        .arg("-p")
        .arg(&proto)
        .arg(&img));

    let fs = open(&img);
    let walk = walk_crate(&fs);
    assert_eq!(fs.superblock().version, if v5 { 5 } else { 4 });
    // What the protofile asked for.
    let n = |k: &str| {
        walk.get(k.as_bytes())
            .unwrap_or_else(|| panic!("{k} missing"))
    };
    let x = n("./small");
    assert_eq!((x.kind, x.perm, x.uid, x.gid), ('-', 0o4755, 12, 34));
    assert_eq!(x.data, b"hello from a protofile\n");
    let x = n("./big");
    assert_eq!((x.perm, x.uid, x.size), (0o640, 1000, 300_000));
    assert!(x.data == big_data, "big file content");
    assert_eq!((n("./null").kind, n("./null").rdev), ('c', (1, 3)));
    assert_eq!(
        (n("./blk").kind, n("./blk").rdev, n("./blk").gid),
        ('b', (259, 70000), 6)
    );
    assert_eq!(n("./fifo").kind, 'p');
    assert_eq!(n("./short").target, b"small");
    if !v5 {
        assert_eq!(n("./long").target, long_target().as_bytes());
    }
    for (name, count) in DIRS {
        let x = n(&format!("./{name}"));
        assert_eq!((x.kind, x.perm, x.uid, x.gid), ('d', 0o2750, 5, 6));
        let inside = walk
            .keys()
            .filter(|k| k.starts_with(format!("./{name}/").as_bytes()))
            .count();
        assert_eq!(inside, count, "{name}");
        assert_eq!(
            n(&format!("./{name}/entry-with-a-longish-name-00000")).data,
            b"hello from a protofile\n"
        );
    }
    assert_eq!(
        walk.len(),
        1 + 6 + usize::from(!v5) + 4 + DIRS.iter().map(|d| d.1).sum::<usize>()
    );
    // What xfs_db lists.
    for dir in ["/", "/sf", "/block", "/leaf", "/node"] {
        let inode = fs.lookup(dir.as_bytes(), false).unwrap().unwrap();
        let ours: BTreeMap<Vec<u8>, (u64, String)> = fs
            .read_dir(&inode)
            .unwrap()
            .into_iter()
            .map(|e| {
                let t = match e.file_type {
                    0 => "unknown",
                    1 => "regular",
                    2 => "directory",
                    3 => "chardev",
                    4 => "blkdev",
                    5 => "fifo",
                    6 => "socket",
                    7 => "symlink",
                    t => panic!("file type {t}"),
                };
                (e.name, (e.ino, t.to_string()))
            })
            .collect();
        assert_eq!(ours, xfs_db_ls(&img, dir), "{label}: directory {dir}");
    }
    let f = |path: &str| fs.lookup(path.as_bytes(), false).unwrap().unwrap();
    assert_eq!(f("sf").format, Format::Local);
    assert_eq!(f("block").size, u64::from(fs.superblock().dir_block_size()));
    assert!(f("node").size > 8 * u64::from(fs.superblock().dir_block_size()));
    assert_eq!(f("short").format, Format::Local);
    if !v5 {
        assert_eq!(f("long").format, Format::Extents);
    }
}

/// mkfs.xfs 6.1's protofile writes a v5 remote symlink as bare bytes, without the
/// `XSLM` header: xfs_db -r reports a CRC error and the crate refuses it the same way.
#[test]
fn v5_protofile_remote_symlink_is_refused() {
    if !have("mkfs.xfs") || !have("xfs_db") {
        eprintln!("skip: needs mkfs.xfs and xfs_db (xfsprogs)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let proto = dir.path().join("proto");
    std::fs::write(
        &proto,
        format!(
            "boot\n0 0\nd--755 0 0\nlong l--777 0 0 {}\n$\n",
            long_target()
        ),
    )
    .unwrap();
    let img = dir.path().join("xfs.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(320 << 20)
        .unwrap();
    run(Command::new("mkfs.xfs")
        .args(["-q", "-f", "-m", "crc=1", "-p"])
        .arg(&proto)
        .arg(&img));
    let out = Command::new("xfs_db")
        .args([
            "-r",
            "-c",
            "path /long",
            "-c",
            "dblock 0",
            "-c",
            "type symlink",
        ])
        .arg(&img)
        .output()
        .unwrap();
    let db =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    if !db.contains("CRC error") {
        eprintln!("skip: this mkfs.xfs writes v5 remote symlinks correctly ({db})");
        return;
    }
    let fs = open(&img);
    let link = fs.lookup(b"/long", false).unwrap().unwrap();
    let e = fs.read_link(&link).unwrap_err().to_string();
    assert!(e.contains("bad magic or CRC"), "{e}");
}

#[test]
fn v4_protofile_matches_xfs_db() {
    check(&["-m", "crc=0"], "v4");
}

#[test]
fn v4_without_ftype_protofile_matches_xfs_db() {
    check(&["-m", "crc=0", "-n", "ftype=0"], "v4 ftype=0");
}

#[test]
fn v5_protofile_matches_xfs_db() {
    check(&["-m", "crc=1"], "v5");
}

/// 64-bit extent counters: the data fork count moves to bytes 24..32 of the inode, the
/// attribute fork count to 76..80.
#[test]
fn v5_nrext64_protofile_matches_xfs_db() {
    check(&["-m", "crc=1", "-i", "nrext64=1"], "v5 nrext64");
}

/// Namespace flag of `attr_set`, name, value length.
type Attr = (&'static str, String, usize);

/// v4 extended attributes (this kernel mounts no v4, so `xfs_db -x attr_set` writes
/// them, values of `v`s): short form, leaf, node (hundreds) and remote values, in the
/// three namespaces; the crate lists exactly what was set.
#[test]
fn v4_xattrs_set_by_xfs_db_are_listed() {
    if !have("mkfs.xfs") || !have("xfs_db") {
        eprintln!("skip: needs mkfs.xfs and xfs_db (xfsprogs)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("src"), b"x").unwrap();
    let s = d.join("src").display().to_string();
    let names = ["short", "leaf", "node", "remote"];
    let mut p = String::from("boot\n0 0\nd--755 0 0\n");
    for n in names {
        writeln!(p, "{n} ---644 0 0 {s}").unwrap();
    }
    p.push_str("$\n");
    std::fs::write(d.join("proto"), p).unwrap();
    let img = d.join("xfs.img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(320 << 20)
        .unwrap();
    run(Command::new("mkfs.xfs")
        .args(["-q", "-f", "-m", "crc=0", "-i", "size=512", "-p"])
        .arg(d.join("proto"))
        .arg(&img));
    let plan: Vec<(&str, Vec<Attr>)> = vec![
        (
            "short",
            vec![
                ("-u", "a".into(), 3),
                ("-s", "selinux".into(), 27),
                ("-r", "t".into(), 2),
            ],
        ),
        (
            "leaf",
            (0..30)
                .map(|i| ("-u", format!("leaf-{i:02}"), 60))
                .collect(),
        ),
        (
            "node",
            (0..400)
                .map(|i| ("-u", format!("node-attribute-{i:04}"), 12))
                .collect(),
        ),
        (
            "remote",
            vec![("-u", "big".into(), 20000), ("-s", "small".into(), 1)],
        ),
    ];
    let mut db = Command::new("xfs_db");
    db.arg("-x");
    for (file, attrs) in &plan {
        db.args(["-c", &format!("path /{file}")]);
        for (ns, name, len) in attrs {
            db.args(["-c", &format!("attr_set {ns} -v {len} {name}")]);
        }
    }
    run(db.arg(&img));
    let fs = open(&img);
    for (file, attrs) in &plan {
        let i = fs.lookup(file.as_bytes(), false).unwrap().unwrap();
        let mut got: Vec<(Vec<u8>, Vec<u8>)> = fs
            .xattrs(&i)
            .unwrap()
            .into_iter()
            .map(|x| (x.name, x.value))
            .collect();
        got.sort();
        let mut want: Vec<(Vec<u8>, Vec<u8>)> = attrs
            .iter()
            .map(|(ns, name, len)| {
                let prefix = match *ns {
                    "-u" => "user.",
                    "-s" => "security.",
                    _ => "trusted.",
                };
                (format!("{prefix}{name}").into_bytes(), vec![b'v'; *len])
            })
            .collect();
        want.sort();
        assert_eq!(got, want, "{file}");
    }
    let f = |p: &str| fs.lookup(p.as_bytes(), false).unwrap().unwrap().aformat;
    assert_eq!(f("short"), Some(Format::Local));
    assert_eq!(f("node"), Some(Format::Extents));
}
