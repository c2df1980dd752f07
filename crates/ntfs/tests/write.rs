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
