//! The writer against ntfs-3g: volumes made by `mkntfs` (512 B, 4 KiB, 64 KiB clusters),
//! files added by ddgz, then read back by `ntfsls`, `ntfscat`, `ntfsinfo`, `ntfsfix -n`
//! and (as root) an `ntfs-3g` read-write mount.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use ddgz_disk::Disk;
use ddgz_ntfs::write::{add_files, Spec, WriteError};

/// Deterministic bytes.
fn content(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// Applies `add_files` to the image file in place (the test's copy), returning the error.
fn add(img: &Path, specs: &[Spec]) -> Result<usize, WriteError> {
    let d = disk(img);
    let patches = add_files(&d, 0..d.size(), specs, false)?;
    let mut bytes = d.0;
    for p in &patches {
        bytes[p.offset as usize..p.offset as usize + p.data.len()].copy_from_slice(&p.data);
    }
    std::fs::write(img, bytes).unwrap();
    Ok(patches.len())
}

fn spec(src: &Path, dest: &str) -> Spec {
    Spec {
        src: src.into(),
        dest: dest.into(),
    }
}

/// The curtin hooks and an unattend.xml, in `dir`.
fn sources(dir: &Path) -> (PathBuf, PathBuf) {
    let c = dir.join("curtin");
    std::fs::create_dir_all(&c).unwrap();
    std::fs::write(
        c.join("curtin-hooks"),
        b"#!/usr/bin/env python3\nprint('hooks')\n",
    )
    .unwrap();
    std::fs::write(c.join("finalize"), content(1, 3000)).unwrap();
    std::fs::write(c.join("finalize.py"), content(2, 200_000)).unwrap();
    std::fs::write(c.join("empty"), b"").unwrap();
    let u = dir.join("unattend.xml");
    std::fs::write(&u, content(3, 5000)).unwrap();
    (c, u)
}

fn ntfsfix_clean(img: &Path) {
    let o = Command::new("ntfsfix").arg("-n").arg(img).output().unwrap();
    let text = String::from_utf8_lossy(&o.stdout).to_string() + &String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "ntfsfix -n: {text}");
    assert!(
        text.contains("processed successfully"),
        "ntfsfix -n: {text}"
    );
    assert!(
        !text.contains("FIXED") && !text.contains("fix"),
        "ntfsfix -n wants to fix: {text}"
    );
}

#[test]
fn curtin_and_unattend_at_every_cluster_size() {
    if let Some(why) = missing(&["mkntfs", "ntfscp", "ntfsls", "ntfscat", "ntfsfix"]) {
        eprintln!("skipped: {why}");
        return;
    }
    for cluster in [512u32, 4096, 65536] {
        let dir = tempfile::tempdir().unwrap();
        let img = mkntfs(dir.path(), cluster, 64, "win");
        let pre = dir.path().join("pre.bin");
        std::fs::write(&pre, content(9, 70_000)).unwrap();
        run(Command::new("ntfscp").arg(&img).arg(&pre).arg("pre.bin"));
        let before = ntfscat(&img, "pre.bin", None);
        let src = dir.path().join("src");
        let (curtin, unattend) = sources(&src);
        add(
            &img,
            &[
                spec(&curtin, "curtin"),
                spec(&unattend, "Windows/Panther/unattend.xml"),
            ],
        )
        .unwrap_or_else(|e| panic!("{cluster}: {e}"));
        let tree = ntfsls_tree(&img);
        for p in [
            "curtin",
            "curtin/curtin-hooks",
            "curtin/empty",
            "curtin/finalize",
            "curtin/finalize.py",
            "Windows",
            "Windows/Panther",
            "Windows/Panther/unattend.xml",
            "pre.bin",
        ] {
            assert!(
                tree.contains(&p.to_string()),
                "{cluster}: {p} not in {tree:?}"
            );
        }
        for f in ["curtin-hooks", "finalize", "finalize.py", "empty"] {
            assert_eq!(
                ntfscat(&img, &format!("curtin/{f}"), None),
                std::fs::read(curtin.join(f)).unwrap(),
                "{cluster}: curtin/{f}"
            );
        }
        assert_eq!(
            ntfscat(&img, "Windows/Panther/unattend.xml", None),
            std::fs::read(&unattend).unwrap()
        );
        assert_eq!(ntfscat(&img, "pre.bin", None), before);
        ntfsfix_clean(&img);
        // Our reader agrees.
        let vol =
            ddgz_ntfs::Volume::open(disk(&img), 0, std::fs::metadata(&img).unwrap().len()).unwrap();
        assert!(vol.lookup("curtin/finalize.py").unwrap().is_some());
    }
}

/// `ntfsls` of one directory, in its order (the index's collation order).
fn ntfsls_dir(img: &Path, dir: &str) -> Vec<String> {
    let out = run(Command::new("ntfsls")
        .env("LANG", "C.UTF-8")
        .arg(img)
        .arg("-p")
        .arg(dir));
    String::from_utf8(out)
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty() && *l != "." && *l != "..")
        .map(String::from)
        .collect()
}

#[test]
fn a_thousand_files_split_the_index_and_list_in_collation_order() {
    if let Some(why) = missing(&["mkntfs", "ntfsls", "ntfscat", "ntfsfix"]) {
        eprintln!("skipped: {why}");
        return;
    }
    for cluster in [512u32, 4096, 65536] {
        let dir = tempfile::tempdir().unwrap();
        let img = mkntfs(dir.path(), cluster, 96, "many");
        let src = dir.path().join("many");
        std::fs::create_dir(&src).unwrap();
        let mut names = Vec::new();
        for i in 0..1000u32 {
            // Mixed case, digits and '_' (which sorts after upper case letters): collation
            // by $UpCase, not by bytes.
            let n = match i % 4 {
                0 => format!("file-{i:04}.txt"),
                1 => format!("File_{:04}-{}.dat", 1000 - i, "x".repeat((i % 40) as usize)),
                2 => format!("zz{i}"),
                _ => format!("ÄÖ-{i}-Ünïcødé"),
            };
            std::fs::write(
                src.join(&n),
                content(u64::from(i), (i as usize * 37) % 5000),
            )
            .unwrap();
            names.push(n);
        }
        add(&img, &[spec(&src, "many")]).unwrap_or_else(|e| panic!("{cluster}: {e}"));
        // ntfsls lists the root node, then the INDX records in VCN order (not tree
        // order): the same names. Our reader walks the tree: collation order. ntfscat
        // descends the B-tree by collation: it finds names from every part of the tree.
        let mut listed = ntfsls_dir(&img, "/many");
        listed.sort();
        let mut all = names.clone();
        all.sort();
        assert_eq!(listed, all, "{cluster}: ntfsls names");
        let vol =
            ddgz_ntfs::Volume::open(disk(&img), 0, std::fs::metadata(&img).unwrap().len()).unwrap();
        let up = vol.upcase().clone();
        let mut want: Vec<Vec<u16>> = names.iter().map(|n| n.encode_utf16().collect()).collect();
        want.sort_by(|a, b| up.cmp(a, b));
        let f = vol.lookup("many").unwrap().unwrap();
        let ours: Vec<Vec<u16>> = vol
            .read_dir(&f)
            .unwrap()
            .into_iter()
            .map(|e| e.name.name)
            .collect();
        assert_eq!(ours, want, "{cluster}: the tree's order");
        for i in (0..1000).step_by(23).chain([999]) {
            assert_eq!(
                ntfscat(&img, &format!("many/{}", names[i]), None),
                std::fs::read(src.join(&names[i])).unwrap(),
                "{cluster}: {}",
                names[i]
            );
        }
        if no_mount().is_none() {
            // Every name looked up through ntfs-3g (FUSE lookups descend the tree).
            let m = dir.path().join("m");
            std::fs::create_dir(&m).unwrap();
            run(Command::new("ntfs-3g").args(["-o", "ro"]).arg(&img).arg(&m));
            let missing: Vec<&String> = names
                .iter()
                .filter(|n| !m.join("many").join(n).exists())
                .collect();
            umount(&m);
            assert!(
                missing.is_empty(),
                "{cluster}: ntfs-3g cannot find {missing:?}"
            );
        }
        ntfsfix_clean(&img);
        // A second run adds into the index that now has several levels.
        let more = dir.path().join("more");
        std::fs::create_dir(&more).unwrap();
        for i in 0..300u32 {
            std::fs::write(more.join(format!("m-{i:03}")), format!("{i}")).unwrap();
        }
        add(&img, &[spec(&more, "many/more")]).unwrap_or_else(|e| panic!("{cluster}: {e}"));
        let listed = ntfsls_dir(&img, "/many/more");
        assert_eq!(listed.len(), 300);
        assert!(ntfsls_dir(&img, "/many").len() == 1001);
        ntfsfix_clean(&img);
    }
}

/// Volume offsets of byte range `[at, at + len)` of stream `s` (one piece per run).
fn stream_offsets(
    vol: &ddgz_ntfs::Volume<ddgz_disk::MemoryDisk>,
    s: &ddgz_ntfs::Stream,
    at: u64,
    len: u64,
) -> Vec<(u64, u64)> {
    let cs = u64::from(vol.boot().cluster_size);
    let ddgz_ntfs::StreamData::NonResident { runs, .. } = &s.data else {
        panic!("resident")
    };
    let mut out = Vec::new();
    let mut pos = at;
    while pos < at + len {
        let vcn = pos / cs;
        let r = runs
            .iter()
            .find(|r| r.vcn <= vcn && vcn < r.vcn + r.len)
            .unwrap();
        let n = ((r.vcn + r.len) * cs - pos).min(at + len - pos);
        out.push(((r.lcn.unwrap() + vcn - r.vcn) * cs + pos % cs, n));
        pos += n;
    }
    out
}

/// Rewrites MFT record `n` of the image through `edit` (fixups removed and applied again).
fn edit_record(img: &Path, n: u64, edit: impl Fn(&mut Vec<u8>)) {
    let d = disk(img);
    let size = d.size();
    let vol = ddgz_ntfs::Volume::open(d, 0, size).unwrap();
    let rs = u64::from(vol.boot().record_size);
    let mut bytes = std::fs::read(img).unwrap();
    let pieces = stream_offsets(&vol, vol.mft(), n * rs, rs);
    let mut rec = Vec::new();
    for &(o, l) in &pieces {
        rec.extend_from_slice(&bytes[o as usize..(o + l) as usize]);
    }
    ddgz_ntfs::fixup::unprotect(&mut rec).unwrap();
    edit(&mut rec);
    ddgz_ntfs::fixup::protect(&mut rec).unwrap();
    let mut at = 0;
    for &(o, l) in &pieces {
        bytes[o as usize..(o + l) as usize].copy_from_slice(&rec[at..at + l as usize]);
        at += l as usize;
    }
    std::fs::write(img, bytes).unwrap();
}

/// Asserts that adding is refused with a message containing `why` and the image is
/// unchanged.
fn refused(img: &Path, src: &Path, why: &str) {
    let before = std::fs::read(img).unwrap();
    let e = add(img, &[spec(src, "curtin")]).unwrap_err().to_string();
    assert!(e.contains(why), "{e}");
    assert_eq!(std::fs::read(img).unwrap(), before);
}

#[test]
fn dirty_hibernated_unclean_log_and_full_volumes_are_refused() {
    if let Some(why) = missing(&["mkntfs", "ntfscp", "ntfsls"]) {
        eprintln!("skipped: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let (curtin, _) = sources(&src);

    // Dirty: the flag in $Volume's $VOLUME_INFORMATION.
    let img = mkntfs(dir.path(), 4096, 16, "dirty");
    edit_record(&img, 3, |r| {
        let mut at = usize::from(u16::from_le_bytes([r[0x14], r[0x15]]));
        loop {
            let t = u32::from_le_bytes(r[at..at + 4].try_into().unwrap());
            let len = u32::from_le_bytes(r[at + 4..at + 8].try_into().unwrap()) as usize;
            if t == 0x70 {
                let v = at + usize::from(u16::from_le_bytes([r[at + 0x14], r[at + 0x15]]));
                r[v + 10] |= 1;
                return;
            }
            at += len;
        }
    });
    assert!(
        ddgz_ntfs::Volume::open(disk(&img), 0, 16 << 20)
            .unwrap()
            .facts()
            .unwrap()
            .dirty
    );
    refused(&img, &curtin, "dirty");

    // Hibernated: hiberfil.sys starting with "hibr".
    let img = mkntfs(dir.path(), 4096, 16, "hiber");
    let h = dir.path().join("hiberfil.sys");
    let mut hb = b"hibr".to_vec();
    hb.resize(8192, 0);
    std::fs::write(&h, hb).unwrap();
    run(Command::new("ntfscp").arg(&img).arg(&h).arg("hiberfil.sys"));
    refused(&img, &curtin, "hibernation");

    // $LogFile with a client in use and no clean flag.
    let img = mkntfs(dir.path(), 4096, 16, "log");
    {
        let d = disk(&img);
        let vol = ddgz_ntfs::Volume::open(d, 0, 16 << 20).unwrap();
        let f = vol.file(2).unwrap();
        let s = vol.data(&f, "").unwrap().unwrap();
        let mut page = vec![0u8; 4096];
        page[..4].copy_from_slice(b"RSTR");
        page[4..6].copy_from_slice(&0x1Eu16.to_le_bytes());
        page[6..8].copy_from_slice(&9u16.to_le_bytes());
        page[0x10..0x14].copy_from_slice(&4096u32.to_le_bytes());
        page[0x14..0x18].copy_from_slice(&4096u32.to_le_bytes());
        page[0x18..0x1A].copy_from_slice(&0x30u16.to_le_bytes());
        page[0x30..0x38].copy_from_slice(&1234u64.to_le_bytes());
        page[0x38..0x3A].copy_from_slice(&1u16.to_le_bytes()); // clients
        page[0x3A..0x3C].copy_from_slice(&0xFFFFu16.to_le_bytes()); // free list
        page[0x3C..0x3E].copy_from_slice(&0u16.to_le_bytes()); // in use: client 0
        ddgz_ntfs::fixup::protect(&mut page).unwrap();
        let mut bytes = std::fs::read(&img).unwrap();
        for (o, l) in stream_offsets(&vol, &s, 0, 4096) {
            bytes[o as usize..(o + l) as usize].copy_from_slice(&page[..l as usize]);
        }
        let mut rest = stream_offsets(&vol, &s, 4096, 4096);
        for (o, l) in rest.drain(..) {
            bytes[o as usize..(o + l) as usize].copy_from_slice(&page[..l as usize]);
        }
        std::fs::write(&img, bytes).unwrap();
    }
    refused(&img, &curtin, "$LogFile");

    // Nearly full: a 16 MiB volume filled by ntfscp, then more data than is free.
    let img = mkntfs(dir.path(), 4096, 16, "full");
    let fill = dir.path().join("fill.bin");
    let free = ddgz_ntfs::Volume::open(disk(&img), 0, 16 << 20)
        .unwrap()
        .facts()
        .unwrap()
        .free_clusters;
    std::fs::write(&fill, content(5, ((free - 70) * 4096) as usize)).unwrap();
    run(Command::new("ntfscp").arg(&img).arg(&fill).arg("fill.bin"));
    let big = dir.path().join("big");
    std::fs::create_dir(&big).unwrap();
    std::fs::write(big.join("x.bin"), content(6, 400_000)).unwrap();
    let before = std::fs::read(&img).unwrap();
    let e = add(&img, &[spec(&big, "curtin")]).unwrap_err().to_string();
    assert!(e.contains("no room") && e.contains("curtin/x.bin"), "{e}");
    assert_eq!(std::fs::read(&img).unwrap(), before);
    // What still fits goes in: the small hooks.
    add(&img, &[spec(&curtin, "curtin")]).unwrap();
    assert_eq!(
        ntfscat(&img, "curtin/finalize", None),
        std::fs::read(curtin.join("finalize")).unwrap()
    );
    ntfsfix_clean(&img);
}

/// The shape `ntfsinfo -F` gives of a file: each attribute's name, residency, and the
/// `$FILE_NAME` namespace and flags (times, sizes and numbers left out).
fn shape(img: &Path, path: &str) -> Vec<String> {
    let out = run(Command::new("ntfsinfo").arg("-F").arg(path).arg(img));
    String::from_utf8_lossy(&out)
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            if l.starts_with("Dumping attribute") {
                Some(l.split(" from ").next().unwrap().to_string())
            } else if l.starts_with("Resident:")
                || l.starts_with("Namespace:")
                || l.starts_with("File attributes:")
                || l.starts_with("MFT Record Flags:")
            {
                Some(l.split_whitespace().collect::<Vec<_>>().join(" "))
            } else {
                None
            }
        })
        .collect()
}

#[test]
fn ddgz_makes_the_same_attributes_as_ntfs_3g() {
    if let Some(why) = missing(&["mkntfs", "ntfsinfo"]).or_else(no_mount) {
        eprintln!("skipped: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let (curtin, unattend) = sources(&src);
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    std::fs::create_dir(&a).unwrap();
    std::fs::create_dir(&b).unwrap();
    let ours = mkntfs(&a, 4096, 32, "ours");
    add(
        &ours,
        &[
            spec(&curtin, "curtin"),
            spec(&unattend, "Windows/Panther/unattend.xml"),
        ],
    )
    .unwrap();
    let theirs = mkntfs(&b, 4096, 32, "theirs");
    let m = dir.path().join("m");
    std::fs::create_dir(&m).unwrap();
    run(Command::new("ntfs-3g").arg(&theirs).arg(&m));
    run(Command::new("cp")
        .arg("-r")
        .arg(&curtin)
        .arg(m.join("curtin")));
    std::fs::create_dir_all(m.join("Windows/Panther")).unwrap();
    std::fs::copy(&unattend, m.join("Windows/Panther/unattend.xml")).unwrap();
    umount(&m);
    for p in [
        "/curtin",
        "/curtin/curtin-hooks",
        "/curtin/finalize.py",
        "/curtin/empty",
        "/Windows/Panther",
        "/Windows/Panther/unattend.xml",
    ] {
        assert_eq!(shape(&ours, p), shape(&theirs, p), "{p}");
    }
}

#[test]
fn replace_swaps_a_files_data_and_frees_its_clusters() {
    if let Some(why) = missing(&["mkntfs", "ntfscat", "ntfsfix"]) {
        eprintln!("skipped: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("src");
    let (curtin, _) = sources(&src);
    let img = mkntfs(dir.path(), 4096, 32, "replace");
    add(&img, &[spec(&curtin, "curtin")]).unwrap();
    let free = |img: &Path| {
        ddgz_ntfs::Volume::open(disk(img), 0, 32 << 20)
            .unwrap()
            .facts()
            .unwrap()
            .free_clusters
    };
    let before = free(&img);
    // Without --replace: refused.
    let e = add(&img, &[spec(&curtin.join("finalize"), "curtin/finalize")]).unwrap_err();
    assert!(matches!(e, WriteError::Exists(_)), "{e}");
    // finalize.py (200 KB, 49 clusters) becomes 10 bytes (resident); curtin-hooks (small,
    // resident) becomes 50 KB (13 clusters).
    let new = dir.path().join("new");
    std::fs::create_dir(&new).unwrap();
    std::fs::write(new.join("small"), b"0123456789").unwrap();
    std::fs::write(new.join("big"), content(11, 50_000)).unwrap();
    let d = disk(&img);
    let patches = add_files(
        &d,
        0..d.size(),
        &[
            spec(&new.join("small"), "curtin/finalize.py"),
            spec(&new.join("big"), "CURTIN/Curtin-Hooks"),
        ],
        true,
    )
    .unwrap();
    let mut bytes = d.0;
    for p in &patches {
        bytes[p.offset as usize..p.offset as usize + p.data.len()].copy_from_slice(&p.data);
    }
    std::fs::write(&img, bytes).unwrap();
    assert_eq!(ntfscat(&img, "curtin/finalize.py", None), b"0123456789");
    assert_eq!(
        ntfscat(&img, "curtin/curtin-hooks", None),
        content(11, 50_000)
    );
    assert_eq!(free(&img), before + 49 - 13);
    let listed = ntfsls_dir(&img, "/curtin");
    assert!(listed.contains(&"curtin-hooks".to_string()), "{listed:?}");
    ntfsfix_clean(&img);
    let info = String::from_utf8(run(Command::new("ntfsinfo")
        .arg("-F")
        .arg("/curtin/finalize.py")
        .arg(&img)))
    .unwrap();
    assert!(info.contains("Data Size:\t\t 10 (0xa)"), "{info}");
}

#[test]
fn new_files_get_the_parents_security_id() {
    if let Some(why) = missing(&["mkntfs"]).or_else(no_mount) {
        eprintln!("skipped: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let img = mkntfs(dir.path(), 4096, 32, "secure");
    // ntfs-3g with `permissions` stores descriptors in $Secure and gives ids.
    let m = dir.path().join("m");
    std::fs::create_dir(&m).unwrap();
    run(Command::new("ntfs-3g")
        .args(["-o", "permissions"])
        .arg(&img)
        .arg(&m));
    std::fs::create_dir(m.join("d")).unwrap();
    run(Command::new("chmod").arg("750").arg(m.join("d")));
    umount(&m);
    let src = dir.path().join("src");
    let (curtin, _) = sources(&src);
    add(&img, &[spec(&curtin, "d/curtin")]).unwrap();
    let vol = ddgz_ntfs::Volume::open(disk(&img), 0, 32 << 20).unwrap();
    let sid = |p: &str| {
        let f = vol.lookup(p).unwrap().unwrap();
        let has_sd = f.attributes.iter().any(|(_, a)| a.type_code == 0x50);
        (vol.stat(&f).unwrap().info.security_id, has_sd)
    };
    let (parent, _) = sid("d");
    assert_ne!(parent, 0);
    assert_eq!(sid("d/curtin"), (parent, false));
    assert_eq!(sid("d/curtin/finalize.py"), (parent, false));
    // ntfs-3g reads them with those permissions.
    run(Command::new("ntfs-3g")
        .args(["-o", "ro,permissions"])
        .arg(&img)
        .arg(&m));
    let meta = std::fs::metadata(m.join("d/curtin/finalize.py"));
    let mode = std::fs::metadata(m.join("d"))
        .map(|x| std::os::unix::fs::PermissionsExt::mode(&x.permissions()));
    umount(&m);
    assert!(meta.is_ok());
    assert_eq!(mode.unwrap() & 0o777, 0o750);
}

#[test]
fn a_fragmented_bitmap_gives_a_file_in_pieces() {
    if let Some(why) = missing(&["mkntfs", "ntfscat", "ntfsfix"]).or_else(no_mount) {
        eprintln!("skipped: {why}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let img = mkntfs(dir.path(), 4096, 8, "frag");
    // Fill the volume with 8 KiB files, then delete every other one: free space in
    // two-cluster holes only.
    let m = dir.path().join("m");
    std::fs::create_dir(&m).unwrap();
    run(Command::new("ntfs-3g").arg(&img).arg(&m));
    let mut i = 0;
    while std::fs::write(m.join(format!("f{i:04}")), content(i, 8192)).is_ok() {
        i += 1;
    }
    for k in (0..i).step_by(2) {
        std::fs::remove_file(m.join(format!("f{k:04}"))).unwrap();
    }
    umount(&m);
    let big = dir.path().join("big.bin");
    std::fs::write(&big, content(77, 300_000)).unwrap();
    add(&img, &[spec(&big, "Windows/Panther/big.bin")]).unwrap();
    assert_eq!(
        ntfscat(&img, "Windows/Panther/big.bin", None),
        content(77, 300_000)
    );
    let vol = ddgz_ntfs::Volume::open(disk(&img), 0, 8 << 20).unwrap();
    let f = vol.lookup("Windows/Panther/big.bin").unwrap().unwrap();
    let Some(ddgz_ntfs::Stream {
        data: ddgz_ntfs::StreamData::NonResident { runs, .. },
        ..
    }) = vol.data(&f, "").unwrap()
    else {
        panic!("resident")
    };
    assert!(runs.len() > 10, "{} runs", runs.len());
    for k in (1..i).step_by(2) {
        if k % 25 == 1 {
            assert_eq!(ntfscat(&img, &format!("f{k:04}"), None), content(k, 8192));
        }
    }
    ntfsfix_clean(&img);
}
