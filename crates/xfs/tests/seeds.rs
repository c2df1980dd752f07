//! The committed seeds (`fixtures/corrupt/xfs-*.bin`: a v4 protofile image and a v5
//! image filled through a mount, as non-zero sectors; see fuzz/README.md) open and walk
//! whole, so the fuzzer starts from valid filesystems.
use ddgz_xfs::fuzz::{walk_records, SectorDisk, SIZE};
use ddgz_xfs::Fs;

fn seed(name: &str) -> Vec<u8> {
    let p = concat!(env!("CARGO_MANIFEST_DIR"), "/../../fixtures/corrupt/");
    std::fs::read(format!("{p}{name}")).unwrap()
}

#[test]
fn v4_seed_walks() {
    let r = seed("xfs-v4.bin");
    assert!(walk_records(&r, 100_000) > 120);
    let disk = SectorDisk::from_records(&r);
    let fs = Fs::open(&disk, 0, SIZE).unwrap();
    assert_eq!(fs.superblock().version, 4);
    let leaf = fs.lookup(b"/leaf", false).unwrap().unwrap();
    assert_eq!(fs.read_dir(&leaf).unwrap().len(), 120);
    let long = fs.lookup(b"/long", false).unwrap().unwrap();
    assert_eq!(fs.read_link(&long).unwrap().len(), 603);
}

#[test]
fn v5_seed_walks() {
    let r = seed("xfs-v5.bin");
    assert!(walk_records(&r, 100_000) > 120);
    let disk = SectorDisk::from_records(&r);
    let fs = Fs::open(&disk, 0, SIZE).unwrap();
    assert_eq!(fs.superblock().version, 5);
    let os = fs.lookup(b"/etc/os-release", true).unwrap().unwrap();
    assert_eq!(fs.read_small(&os, 100).unwrap(), b"ID=rocky\n");
    let a = fs.lookup(b"/s", true).unwrap().unwrap();
    assert_eq!(a.mtime.sec, 4102444800);
    let names: Vec<Vec<u8>> = fs.xattrs(&a).unwrap().into_iter().map(|x| x.name).collect();
    for n in [
        &b"user.x"[..],
        b"security.selinux",
        b"system.posix_acl_access",
    ] {
        assert!(
            names.iter().any(|x| x == n),
            "{:?}",
            String::from_utf8_lossy(n)
        );
    }
    let c = fs.lookup(b"/c", true).unwrap().unwrap();
    assert_eq!(fs.xattrs(&c).unwrap()[0].value.len(), 5000);
}
