//! `ddgz ls` / `cat` / `inspect` of NTFS against ntfs-3g's tools: the Windows-like
//! volumes of `crates/ntfs/tests/common` (mkntfs at 512 B, 4 KiB and 64 KiB clusters,
//! populated by ntfscp and, as root, an ntfs-3g mount) as partition 4 of a GPT disk laid
//! out as packer-maas's Windows one, as qcow2 and as .dd.gz. `ls -R` equals `ntfsls -R`,
//! `cat` equals `ntfscat`, the facts equal `ntfsinfo -m` and blkid.

use crate::files::{cat, ls_r, refused, tools};
use crate::util::Dir;

#[path = "../crates/ntfs/tests/common/mod.rs"]
mod ntfs_fixture;

use ntfs_fixture::windows::{build, MANY};
use ntfs_fixture::{no_mount, ntfscat, ntfsls_tree, run};

fn check(cluster: u32) {
    let t = format!("ntfs_{cluster}");
    if !tools(
        &t,
        "mkntfs ntfscp ntfsls ntfscat ntfsinfo setfattr sgdisk mkfs.vfat qemu-img blkid",
    ) {
        return;
    }
    let d = Dir::new();
    let vol = build(d.path(), cluster);
    let name = vol.file_name().unwrap().to_str().unwrap().to_string();
    let mounted = no_mount().is_none();
    // packer-maas's Windows layout: p1 EFI (FAT), p2 MSR, p3 recovery, p4 Windows.
    d.sh(&format!(
        "truncate -s 200M disk.img
         sgdisk -n1:1M:+16M -t1:ef00 -n2:17M:+16M -t2:0c01 -n3:33M:+64M -t3:2700 -n4:97M:+64M -t4:0700 disk.img >/dev/null
         mkfs.vfat --offset 2048 disk.img 16384 >/dev/null
         dd if={name} of=disk.img bs=1M seek=97 conv=notrunc status=none
         qemu-img convert -O qcow2 disk.img disk.qcow2"
    ));
    d.ddgz_ok(&[
        "convert",
        "disk.qcow2",
        "-o",
        "disk.dd.gz",
        "--quiet",
        "--no-validate",
    ]);

    // The tree: names as Windows shows them (no DOS alias, no $ metafiles, no streams).
    let theirs = ntfsls_tree(&vol);
    let strip = |v: Vec<String>| -> Vec<String> {
        let mut v: Vec<String> = v
            .into_iter()
            .map(|l| l.trim_end_matches('/').to_string())
            .collect();
        v.sort();
        v
    };
    for img in ["disk.qcow2", "disk.dd.gz"] {
        let ours = strip(ls_r(&d, img, "4:/"));
        assert_eq!(ours, theirs, "{img}: ls -R differs from ntfsls -R");
    }
    if mounted {
        assert!(theirs.len() > MANY, "{} paths", theirs.len());
        let names = d.ddgz_ok(&["ls", "disk.qcow2", "4:/names"]);
        assert!(
            names.contains("MixedCase Name With Spaces.Document\n")
                && !names.contains("MIXEDC~1.DOC")
                && names.contains("Ünïcødé — ελληνικά 日本語.txt\n"),
            "{names}"
        );
        let sub = d.ddgz_ok(&["ls", "disk.qcow2", "4:/Windows"]);
        assert_eq!(sub, "System32/\n");
        // The unnamed stream of a file with alternate data streams, found by any case.
        assert_eq!(cat(&d, "disk.qcow2", "4:/ADS/FILE.TXT"), b"main stream");
        assert_eq!(
            d.ddgz_ok(&["ls", "disk.qcow2", "4:/ADS/FILE.TXT"]),
            "file.txt\n"
        );
        assert_eq!(
            d.ddgz_ok(&["ls", "disk.qcow2", "4:/ads"]),
            "file.txt\nlisted.txt\n"
        );
        assert_eq!(
            cat(&d, "disk.dd.gz", "4:/ads/listed.txt"),
            b"has an attribute list"
        );
        let l = d.ddgz_ok(&["ls", "-l", "disk.qcow2", "4:/sparse.bin"]);
        assert!(l.ends_with("      9005000 sparse.bin\n"), "{l}");
    }

    // Every file's content: on the qcow2 all of them (a sample of the thousands of
    // many/ at 512 B and 64 KiB clusters), on the .dd.gz those outside many/ (each cat
    // decodes the stream again).
    let dirs: Vec<String> = ls_r(&d, "disk.qcow2", "4:/")
        .into_iter()
        .filter_map(|l| l.strip_suffix('/').map(str::to_string))
        .collect();
    let files: Vec<&String> = theirs.iter().filter(|p| !dirs.contains(p)).collect();
    let mut n = 0;
    for (i, f) in files.iter().enumerate() {
        let many = f.starts_with("many/");
        if many && cluster != 4096 && i % 97 != 0 {
            continue;
        }
        let want = ntfscat(&vol, f, None);
        assert!(cat(&d, "disk.qcow2", &format!("4:/{f}")) == want, "{f}");
        if !many {
            assert!(
                cat(&d, "disk.dd.gz", &format!("4:/{f}")) == want,
                "{f} (.dd.gz)"
            );
        }
        n += 1;
    }
    assert!(n > 0);
    crate::util::say(&format!(
        "ntfs {cluster}: {} paths equal to ntfsls -R, {n} files to ntfscat",
        theirs.len()
    ));

    refused(
        &d,
        &["cat", "disk.qcow2", "4:/Windows"],
        2,
        &["disk.qcow2: partition 4: /Windows is a directory"],
    );
    refused(
        &d,
        &["ls", "disk.qcow2", "4:/Windows/nope"],
        2,
        &["partition 4: /Windows/nope: no such file or directory"],
    );
    refused(&d, &["ls", "disk.qcow2", "2:/"], 3, &["partition 2: "]);

    // inspect: the facts against ntfsinfo -m and blkid.
    let info = String::from_utf8(run(std::process::Command::new("ntfsinfo")
        .arg("-m")
        .arg(&vol)))
    .unwrap();
    let field = |name: &str| -> String {
        info.lines()
            .find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_string()))
            .unwrap_or_else(|| panic!("ntfsinfo -m has no {name}\n{info}"))
    };
    let serial = d.sh(&format!("blkid -p -o value -s UUID {name}"));
    let serial = serial.trim();
    let j: serde_json::Value =
        serde_json::from_str(&d.ddgz_ok(&["inspect", "--json", "disk.dd.gz"])).unwrap();
    let f = &j["partitions"][3]["filesystem"];
    assert_eq!(f["kind"], "ntfs", "{f}");
    assert_eq!(f["label"], field("Volume Name:"));
    assert_eq!(f["label"], format!("DDGZ{cluster}"));
    assert_eq!(f["version"], field("Volume Version:"));
    assert_eq!(f["cluster_size"].to_string(), field("Cluster Size:"));
    assert_eq!(f["serial"], serial);
    assert_eq!(f["dirty"], false);
    assert_eq!(f["hibernated"], false);
    assert_eq!(f["log"]["state"], "clean");
    assert_eq!(j["partitions"][2]["filesystem"]["kind"], "other");
    let text = d.ddgz_ok(&["inspect", "disk.qcow2"]);
    let size = match cluster {
        512 => "512 B",
        4096 => "4 KiB",
        _ => "64 KiB",
    };
    assert!(
        text.contains(&format!(
            "NTFS {}, label \"DDGZ{cluster}\", serial {serial}, {size} clusters, ",
            field("Volume Version:")
        )) && text.contains(", clean, $LogFile clean, not hibernated\n"),
        "{text}"
    );
}

#[test]
fn ntfs_512_byte_clusters() {
    check(512);
}

#[test]
fn ntfs_4_kib_clusters() {
    check(4096);
}

#[test]
fn ntfs_64_kib_clusters() {
    check(65536);
}
