//! Hostile images: a real `mkfs.xfs -p protofile` image, patched one field at a time
//! (CRCs recomputed where the test means to get past them), must fail with a pinned,
//! specific error — never panic, loop or allocate without bound.
mod common;

use std::process::Command;

use common::*;
use ddgz_disk::Disk;
use ddgz_fs::Tree;
use ddgz_xfs::fuzz::{SectorDisk, SECTOR, SIZE};
use ddgz_xfs::{crc32c, Fs, Inode};

/// The protofile image as sector records.
fn base(v5: bool) -> Option<Vec<u8>> {
    if !have("mkfs.xfs") {
        eprintln!("skip: needs mkfs.xfs (xfsprogs)");
        return None;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let src = d.join("src");
    std::fs::write(
        &src,
        (0..300_000u32).map(|i| (i % 251) as u8).collect::<Vec<_>>(),
    )
    .unwrap();
    let s = src.display();
    let tiny = d.join("tiny");
    std::fs::write(&tiny, b"t").unwrap();
    let t = tiny.display();
    let mut p = format!("boot\n0 0\nd--755 0 0\nbig ---644 0 0 {s}\nlink l--777 0 0 big\nsf d--755 0 0\n a ---644 0 0 {s}\n $\n");
    p.push_str("block d--755 0 0\n");
    for i in 0..20 {
        p.push_str(&format!(" file-with-a-longer-name-{i:03} ---644 0 0 {s}\n"));
    }
    p.push_str(" $\nleaf d--755 0 0\n");
    for i in 0..200 {
        p.push_str(&format!(" file-with-a-longer-name-{i:03} ---644 0 0 {t}\n"));
    }
    p.push_str(" $\n$\n");
    std::fs::write(d.join("proto"), p).unwrap();
    let img = d.join("img");
    std::fs::File::create(&img)
        .unwrap()
        .set_len(320 << 20)
        .unwrap();
    let crc = if v5 { "crc=1" } else { "crc=0" };
    run(Command::new("mkfs.xfs")
        .args(["-q", "-f", "-m", crc, "-p"])
        .arg(d.join("proto"))
        .arg(&img));
    if !v5 && have("xfs_db") {
        // Attributes in short form and in a node tree (v4 only: xfs_db writes them).
        let mut db = Command::new("xfs_db");
        db.args([
            "-x",
            "-c",
            "path /sf/a",
            "-c",
            "attr_set -v 3 a",
            "-c",
            "path /block/file-with-a-longer-name-000",
        ]);
        for i in 0..400 {
            db.args(["-c", &format!("attr_set -v 12 node-attribute-{i:04}")]);
        }
        run(db.arg(&img));
    }
    Some(SectorDisk::records(&std::fs::read(&img).unwrap()))
}

struct Img(SectorDisk);

impl Img {
    fn read(&self, off: u64, len: usize) -> Vec<u8> {
        let mut b = vec![0u8; len];
        self.0.read_at(off, &mut b).unwrap();
        b
    }
    fn patch(&mut self, off: u64, bytes: &[u8]) {
        for (k, &v) in bytes.iter().enumerate() {
            let at = off + k as u64;
            let s = self
                .0
                 .0
                .entry(at / SECTOR as u64)
                .or_insert_with(|| vec![0; SECTOR]);
            s[(at % SECTOR as u64) as usize] = v;
        }
    }
    /// Recomputes the CRC-32C at `start + at` over `[start, start + len)`.
    fn fix_crc(&mut self, start: u64, len: usize, at: usize) {
        let mut b = self.read(start, len);
        b[at..at + 4].fill(0);
        self.patch(start + at as u64, &crc32c(&b).to_le_bytes());
    }
    fn fs(&self) -> Result<Fs<&SectorDisk>, ddgz_xfs::Error> {
        Fs::open(&self.0, 0, SIZE)
    }
    fn inode_at(&self, path: &str) -> (Inode, u64) {
        let fs = self.fs().unwrap();
        let i = fs.lookup(path.as_bytes(), false).unwrap().unwrap();
        let off = fs.superblock().inode_offset(i.ino).unwrap();
        (i, off)
    }
    /// Byte offset of the first data block of `path`.
    fn first_block(&self, path: &str) -> u64 {
        let fs = self.fs().unwrap();
        let i = fs.lookup(path.as_bytes(), false).unwrap().unwrap();
        let mut at = None;
        fs.for_each_run(&i, |r| {
            at.get_or_insert(r.physical);
            Ok::<(), ddgz_xfs::Error>(())
        })
        .unwrap();
        at.unwrap() * u64::from(fs.block_size())
    }
}

fn fails(img: &Img, what: impl Fn(&Fs<&SectorDisk>) -> Result<(), ddgz_xfs::Error>, expect: &str) {
    let e = match img.fs() {
        Err(e) => e,
        Ok(fs) => what(&fs).expect_err(expect),
    };
    let s = e.to_string();
    assert!(s.contains(expect), "expected {expect:?} in {s:?}");
    // The whole-tree walk of the fuzzer survives it too.
    ddgz_xfs::fuzz::walk_records(&SectorDisk::records_of(&img.0), 100_000);
}

fn walk(fs: &Fs<&SectorDisk>) -> Result<(), ddgz_xfs::Error> {
    let mut todo = vec![fs.root_ino()];
    while let Some(ino) = todo.pop() {
        let i = fs.inode(ino)?;
        fs.xattrs(&i)?;
        match i.file_type() {
            Some(ddgz_xfs::FileType::Directory) => {
                todo.extend(fs.read_dir(&i)?.into_iter().map(|e| e.ino))
            }
            Some(ddgz_xfs::FileType::Symlink) => drop(fs.read_link(&i)?),
            _ => drop(fs.read_small(&i, 1 << 20)?),
        }
    }
    Ok(())
}

#[test]
fn v4_patched_fields_fail_with_pinned_errors() {
    let Some(rec) = base(false) else { return };
    let fresh = || Img(SectorDisk::from_records(&rec));
    fresh().fs().unwrap();
    walk(&fresh().fs().unwrap()).unwrap();

    let mut i = fresh();
    i.patch(0, b"XFSC");
    fails(&i, walk, "not an XFS filesystem: no XFSB magic");

    let mut i = fresh();
    i.patch(88, &100_000u32.to_be_bytes());
    fails(&i, walk, "do not fit 100000 AGs");

    let mut i = fresh();
    i.patch(56, &(1u64 << 40).to_be_bytes());
    fails(
        &i,
        walk,
        "inode number 1099511627776 lies outside the filesystem's AGs",
    );

    let (root, off) = fresh().inode_at("/");
    let mut i = fresh();
    i.patch(off, b"XX");
    fails(
        &i,
        walk,
        &format!("inode {}: magic 0x5858, not IN", root.ino),
    );

    // The big file's first extent record: start block far past the end.
    let (big, off) = fresh().inode_at("/big");
    let mut i = fresh();
    let rec0 = i.read(off + 100, 16);
    let mut r = u128::from_be_bytes(rec0.try_into().unwrap());
    r |= ((1u128 << 52) - 1) << 21;
    i.patch(off + 100, &r.to_be_bytes());
    fails(
        &i,
        walk,
        &format!("inode {}: extent at file block 0: blocks", big.ino),
    );

    let mut i = fresh();
    i.patch(off + 76, &1_000_000u32.to_be_bytes());
    fails(
        &i,
        walk,
        "1000000 extent records do not fit the 156-byte fork",
    );

    // A short-form directory whose size claims more than the fork.
    let (sf, off) = fresh().inode_at("/sf");
    let mut i = fresh();
    i.patch(off + 56, &4000u64.to_be_bytes());
    fails(
        &i,
        walk,
        &format!("short-form directory inode {}: size 4000", sf.ino),
    );

    // A short-form entry naming a name with '/' in it.
    let mut i = fresh();
    i.patch(off + 100 + 6 + 3, b"/");
    fails(&i, walk, "is empty or holds '/' or NUL");

    // A block directory: a free region of length 0, and a tail count past the block.
    let at = fresh().first_block("/block");
    let mut i = fresh();
    i.patch(at + 16, &[0xff, 0xff, 0, 0]);
    fails(&i, walk, "free region of 0 bytes");
    let mut i = fresh();
    i.patch(at + 4096 - 8, &u32::MAX.to_be_bytes());
    fails(&i, walk, "4294967295 leaf entries do not fit the block");

    // A data block of a leaf directory: a free region leaving 8 bytes at the end,
    // too few for an entry.
    let at = fresh().first_block("/leaf");
    assert_eq!(fresh().read(at, 4), b"XD2D");
    let mut i = fresh();
    i.patch(at + 16, &[0xff, 0xff, 0x0f, 0xe8]);
    i.patch(at + 4088, &[0; 8]);
    fails(&i, walk, "byte 4088: an entry runs past byte 4096");

    // Attributes: a short-form total size past the fork, a node entry pointing back at
    // the root block, a remote value past the kernel's maximum.
    let (a, off) = fresh().inode_at("/sf/a");
    let forkoff = u64::from(fresh().read(off + 82, 1)[0]) * 8;
    let mut i = fresh();
    i.patch(off + 100 + forkoff, &[0xff, 0xff]);
    fails(
        &i,
        walk,
        &format!("inode {}: short-form attributes: total size 65535", a.ino),
    );
    let (many, _) = fresh().inode_at("/block/file-with-a-longer-name-000");
    let attr0 = {
        let img = fresh();
        let fs = img.fs().unwrap();
        let runs = fs.fork_runs(&many, ddgz_xfs::Fork::Attr).unwrap();
        runs[0].physical * u64::from(fs.block_size())
    };
    assert_eq!(
        fresh().read(attr0 + 8, 2),
        [0xfe, 0xbe],
        "a node at attribute block 0"
    );
    let mut i = fresh();
    i.patch(attr0 + 16 + 8 + 4, &0u32.to_be_bytes());
    fails(
        &i,
        walk,
        "attribute block 0: reached twice (a loop in the attribute tree)",
    );

    // A loop: the directory's entry points back at the root; read_dir lists it, the
    // fuzz walk (like `ddgz tar`) refuses to enter a directory twice.
    let (_, off) = fresh().inode_at("/sf");
    let mut i = fresh();
    let ent = off + 100 + 6 + 3 + 1;
    i.patch(ent, &(root.ino as u32).to_be_bytes());
    ddgz_xfs::fuzz::walk_records(&SectorDisk::records_of(&i.0), 100_000);
}

#[test]
fn v5_crcs_and_features_fail_with_pinned_errors() {
    let Some(rec) = base(true) else { return };
    let fresh = || Img(SectorDisk::from_records(&rec));
    walk(&fresh().fs().unwrap()).unwrap();
    let sect = usize::from(fresh().fs().unwrap().superblock().sect_size);

    let mut i = fresh();
    i.patch(108, b"label");
    fails(&i, walk, "superblock: CRC mismatch");

    let mut i = fresh();
    i.patch(216, &0x8000_000bu32.to_be_bytes());
    i.fix_crc(0, sect, 224);
    fails(
        &i,
        walk,
        "unsupported XFS filesystem: incompatible feature bits 0x80000000",
    );

    let mut i = fresh();
    i.patch(216, &0x1bu32.to_be_bytes());
    i.fix_crc(0, sect, 224);
    fails(&i, walk, "needsrepair");

    let (big, off) = fresh().inode_at("/big");
    let mut i = fresh();
    i.patch(off + 8, &7u32.to_be_bytes());
    fails(&i, walk, &format!("inode {}: CRC mismatch", big.ino));

    let mut i = fresh();
    i.patch(off + 152, &5u64.to_be_bytes());
    i.fix_crc(off, 512, 100);
    fails(
        &i,
        walk,
        &format!("inode {}: the inode says it is number 5", big.ino),
    );

    let at = fresh().first_block("/block");
    let mut i = fresh();
    i.patch(at + 70, b"zz");
    fails(&i, walk, "directory block 0: CRC mismatch");

    let mut i = fresh();
    i.patch(at + 40, &1u64.to_be_bytes());
    i.fix_crc(at, 4096, 4);
    fails(&i, walk, "directory block 0: owned by inode 1");
}
