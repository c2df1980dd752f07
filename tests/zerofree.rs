//! `convert --zero-free` against the filesystems' own zero-fill tools: a GPT disk whose
//! ext4, FAT32 and NTFS partitions hold deleted random data, and its twin zero-filled by
//! `zerofree`, a file of zeros copied in with mtools and deleted, and `ntfswipe --unused`.

use crate::util::Dir;

/// Builds `disk.raw` (deleted random data in free space) and `twin.raw` (the same, with
/// the free space of partitions 1–3 zero-filled by the filesystems' tools).
/// Partitions, MiB: 1 ext4 [1, 65), 2 FAT32 [65, 113), 3 NTFS [113, 161), 4 an ext4 that
/// needs recovery [161, 177) with 8 MiB deleted, 5 random bytes (unknown) [177, 181).
const FIXTURE: &str = r#"
truncate -s 64M ext.img && mkfs.ext4 -q -F -b 4096 ext.img
head -c 40M /dev/urandom > junk1; head -c 3M /dev/urandom > keep1; head -c 5000 /dev/urandom > keep2
debugfs -w ext.img -f - >/dev/null 2>&1 <<C
write junk1 junk1
write keep1 keep1
mkdir d
write keep2 d/keep2
rm junk1
C
truncate -s 48M fat.img && mkfs.fat -F 32 fat.img >/dev/null
head -c 30M /dev/urandom > junk2; head -c 2M /dev/urandom > keep3
mcopy -i fat.img junk2 ::JUNK2 && mcopy -i fat.img keep3 ::KEEP3 && mmd -i fat.img ::SUB
mcopy -i fat.img keep2 ::SUB/KEEP2 && mdel -i fat.img ::JUNK2
head -c 48M /dev/urandom > ntfs.img && mkntfs -q -Q -F ntfs.img >/dev/null 2>&1
ntfscp -q ntfs.img keep1 keep1 >/dev/null 2>&1
truncate -s 16M dirty.img && mkfs.ext4 -q -F -b 4096 dirty.img
head -c 8M /dev/urandom > junk3
debugfs -w dirty.img -f - >/dev/null 2>&1 <<C
write junk3 junk3
rm junk3
feature needs_recovery
C
head -c 4M /dev/urandom > unknown.img
truncate -s 184M disk.raw
sgdisk -o -n 1:1M:+64M -t 1:8300 -n 2:65M:+48M -t 2:0700 -n 3:113M:+48M -t 3:0700 \
  -n 4:161M:+16M -t 4:8300 -n 5:177M:+4M disk.raw >/dev/null
cp disk.raw twin.raw
put() { dd if=$1 of=$3 bs=1M seek=$2 conv=notrunc,sparse status=none; }
put ext.img 1 disk.raw; put fat.img 65 disk.raw; put ntfs.img 113 disk.raw
put dirty.img 161 disk.raw; put unknown.img 177 disk.raw
zerofree ext.img
free=$(mdir -i fat.img :: | grep 'bytes free' | tr -dc 0-9)
head -c "$free" /dev/zero > zeros && mcopy -i fat.img zeros ::ZEROS && mdel -i fat.img ::ZEROS
ntfswipe -q --unused ntfs.img >/dev/null 2>&1
put ext.img 1 twin.raw; put fat.img 65 twin.raw; put ntfs.img 113 twin.raw
put dirty.img 161 twin.raw; put unknown.img 177 twin.raw
rm junk1 junk2 junk3 zeros ext.img fat.img ntfs.img dirty.img unknown.img
"#;

/// Extracts partition `n`'s MiB range `[from, from + mib)` of `raw` into `out`.
fn part(d: &Dir, raw: &str, from: u32, mib: u32, out: &str) {
    d.sh(&format!(
        "dd if={raw} of={out} bs=1M skip={from} count={mib} status=none"
    ));
}

#[test]
fn zero_free_matches_the_tools_zero_fill_and_keeps_every_file() {
    let d = Dir::new();
    d.sh(FIXTURE);
    d.ddgz_ok(&["convert", "twin.raw", "-o", "twin.dd.gz", "-q"]);
    let json = d.ddgz_ok(&[
        "convert",
        "disk.raw",
        "-o",
        "zf.dd.gz",
        "--zero-free",
        "--json",
    ]);
    d.ddgz_ok(&["convert", "disk.raw", "-o", "plain.dd.gz", "-q"]);
    let size = |f: &str| std::fs::metadata(d.join(f)).unwrap().len();
    let (zf, twin, plain) = (size("zf.dd.gz"), size("twin.dd.gz"), size("plain.dd.gz"));
    assert!(
        zf * 100 <= twin * 101,
        "--zero-free {zf} bytes, the zero-filled twin {twin}"
    );
    assert!(plain > 3 * zf, "plain {plain}, --zero-free {zf}");

    // Per partition: what was zeroed and why the others were not.
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let vols = v["zero_free"]["volumes"].as_array().unwrap();
    let fs: Vec<_> = vols
        .iter()
        .map(|v| v["filesystem"].as_str().unwrap())
        .collect();
    assert_eq!(fs, ["ext4", "FAT32", "NTFS", "ext4", "unknown"], "{json}");
    for v in &vols[..3] {
        assert!(v["zeroed_bytes"].as_u64().unwrap() > 25 << 20, "{v}");
        assert!(v["note"].is_null(), "{v}");
    }
    assert_eq!(vols[3]["zeroed_bytes"], 0);
    assert!(vols[3]["note"].as_str().unwrap().contains("needs_recovery"));
    assert!(vols[4]["note"]
        .as_str()
        .unwrap()
        .contains("copied as it is"));

    // Every file byte-identical after curtin's `zcat | dd`; the checkers clean.
    d.sh("zcat zf.dd.gz > out.raw");
    part(&d, "out.raw", 1, 64, "p1.img");
    part(&d, "out.raw", 65, 48, "p2.img");
    part(&d, "out.raw", 113, 48, "p3.img");
    d.sh(
        "debugfs -R 'dump /keep1 x1' p1.img 2>/dev/null && cmp x1 keep1
          debugfs -R 'dump /d/keep2 x2' p1.img 2>/dev/null && cmp x2 keep2
          e2fsck -fn p1.img >/dev/null
          mcopy -i p2.img ::KEEP3 x3 && cmp x3 keep3
          mcopy -i p2.img ::SUB/KEEP2 x4 && cmp x4 keep2
          fsck.fat -n p2.img >/dev/null
          ntfscat p3.img keep1 > x5 && cmp x5 keep1
          ntfsfix -n p3.img >/dev/null",
    );
    // The dirty ext4 and the unknown partition: byte for byte as they were.
    d.sh("cmp -i 161M:161M -n 20M disk.raw out.raw");
    // The free space really held data before (the test can fail).
    assert!(d
        .sh("cmp -i 1M:1M -n 64M disk.raw out.raw || true")
        .contains("differ"));

    // verify knows: with --zero-free it passes and says what was zeroed; without, it fails.
    let out = d.ddgz_ok(&["verify", "zf.dd.gz", "--against", "disk.raw", "--zero-free"]);
    assert!(out.contains("of free space read as zeros"), "{out}");
    assert!(out.contains("partition 4 (ext4): not clean"), "{out}");
    let r = d.ddgz(&["verify", "zf.dd.gz", "--against", "disk.raw"]);
    assert_eq!(r.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&r.stderr).contains("--zero-free"));
}

/// Files added to a FAT partition land in clusters that are free in the input: the free
/// space is computed on the edited volume, so they are not zeroed.
#[test]
fn zero_free_spares_the_clusters_add_allocates() {
    let d = Dir::new();
    d.sh(
        "truncate -s 40M fat.img && mkfs.fat -F 32 fat.img >/dev/null
          head -c 20M /dev/urandom > junk && mcopy -i fat.img junk ::JUNK && mdel -i fat.img ::JUNK
          head -c 3M /dev/urandom > added && head -c 1000 /dev/urandom > small
          truncate -s 48M disk.raw && sgdisk -o -n 1:1M:+40M -t 1:ef00 disk.raw >/dev/null
          dd if=fat.img of=disk.raw bs=1M seek=1 conv=notrunc status=none",
    );
    d.ddgz_ok(&[
        "convert",
        "disk.raw",
        "-o",
        "zf.dd.gz",
        "-q",
        "--zero-free",
        "--add",
        "added:dir/added",
        "--add",
        "small",
    ]);
    d.sh("zcat zf.dd.gz > out.raw
          dd if=out.raw of=p1.img bs=1M skip=1 count=40 status=none
          mcopy -i p1.img ::dir/added x && cmp x added
          mcopy -i p1.img ::small y && cmp y small
          fsck.fat -n p1.img >/dev/null");
    // The deleted data is gone: the output compresses to little more than the files.
    let zf = std::fs::metadata(d.join("zf.dd.gz")).unwrap().len();
    assert!(zf < (3 << 20) + (1 << 20), "{zf}");
    d.ddgz_ok(&[
        "verify",
        "zf.dd.gz",
        "--against",
        "disk.raw",
        "--zero-free",
        "--add",
        "added:dir/added",
        "--add",
        "small",
    ]);
}

/// A FAT volume left mounted (dirty flag set) is copied as it is.
#[test]
fn zero_free_leaves_a_dirty_fat_as_it_is() {
    let d = Dir::new();
    d.sh(
        "truncate -s 40M fat.img && mkfs.fat -F 32 fat.img >/dev/null
          head -c 10M /dev/urandom > junk && mcopy -i fat.img junk ::JUNK && mdel -i fat.img ::JUNK
          printf '\\001' | dd of=fat.img bs=1 seek=65 conv=notrunc status=none
          truncate -s 48M disk.raw && sgdisk -o -n 1:1M:+40M -t 1:ef00 disk.raw >/dev/null
          dd if=fat.img of=disk.raw bs=1M seek=1 conv=notrunc status=none",
    );
    let out = d.ddgz_ok(&["convert", "disk.raw", "-o", "zf.dd.gz", "--zero-free"]);
    assert!(
        out.contains("partition 1 (FAT32): not clean: the boot sector's dirty flag"),
        "{out}"
    );
    d.sh("zcat zf.dd.gz | cmp - disk.raw");
}

/// XFS: free space from the free-space B+ trees. The volume is made over random bytes
/// without discarding them (`mkfs.xfs -K`), files put in by a prototype file: no mount
/// needed to build it. `xfs_repair -n` is clean afterwards; the files are compared through
/// a read-only loop mount when run as root.
#[test]
fn zero_free_reads_xfs_free_space_trees() {
    let d = Dir::new();
    d.sh("head -c 3M /dev/urandom > keep1 && head -c 5000 /dev/urandom > keep2
          head -c 320M /dev/urandom > xfs.img
          printf '/dev/null\\n0 0\\nd--755 0 0\\nkeep1 ---644 0 0 %s/keep1\\nd d--755 0 0\\nkeep2 ---644 0 0 %s/keep2\\n$\\n$\\n' \"$PWD\" \"$PWD\" > proto
          mkfs.xfs -q -K -p proto xfs.img
          truncate -s 330M disk.raw && sgdisk -o -n 1:1M:+320M disk.raw >/dev/null
          dd if=xfs.img of=disk.raw bs=1M seek=1 conv=notrunc status=none && rm xfs.img");
    let json = d.ddgz_ok(&[
        "convert",
        "disk.raw",
        "-o",
        "zf.dd.gz",
        "--zero-free",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    let p1 = &v["zero_free"]["volumes"][0];
    assert_eq!(p1["filesystem"], "XFS", "{json}");
    // Of 320 MiB: all but the log (up to 64 MiB) and a few MiB of metadata and files.
    assert!(p1["zeroed_bytes"].as_u64().unwrap() > 200 << 20, "{json}");
    let zf = std::fs::metadata(d.join("zf.dd.gz")).unwrap().len();
    assert!(zf < 5 << 20, "{zf}");
    d.sh(
        "zcat zf.dd.gz | dd of=p1.img bs=1M skip=1 count=320 iflag=fullblock status=none
          xfs_repair -n p1.img >/dev/null 2>&1",
    );
    d.ddgz_ok(&["verify", "zf.dd.gz", "--against", "disk.raw", "--zero-free"]);
    if is_root(&d) {
        d.sh("mkdir m && mount -o loop,ro p1.img m
              s=0; cmp m/keep1 keep1 && cmp m/d/keep2 keep2 || s=1; umount m; exit $s");
    } else {
        crate::util::say(
            "zero_free_reads_xfs_free_space_trees: not root, files not compared through a mount",
        );
    }
}

/// Whether the tests run as root (`id -u`), which a loop mount needs.
fn is_root(d: &Dir) -> bool {
    d.sh("id -u").trim() == "0"
}

/// ESXi's VMFS and VMFS-L partitions are never zeroed: ddgz does not read their allocation,
/// so they are copied as they are, each with a note, byte for byte.
#[test]
fn vmfs_partitions_are_copied_as_they_are() {
    let d = Dir::new();
    // ESXi 6.7 on 8 GiB: the VMFS5 datastore (partition 3) after the scratch partition.
    let (version, build) = (crate::esxi::RELEASES[0].0, crate::esxi::RELEASES[0].1);
    let o = ddgz_synth::esxi::Options {
        disk_size: 8 << 30,
        datastore_volume: ddgz_synth::esxi::Volume::Vmfs5,
        ..crate::esxi::opts(version, build)
    };
    let img = crate::esxi::build(&d, "esxi.raw", &o);
    let out = d.ddgz_ok(&[
        "convert",
        img.to_str().unwrap(),
        "--zero-free",
        "--json",
        "-o",
        "z.dd.gz",
        "-q",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let vmfs: Vec<_> = v["zero_free"]["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["filesystem"].as_str().unwrap().starts_with("VMFS"))
        .collect();
    assert!(!vmfs.is_empty(), "no VMFS volume listed: {v}");
    for p in vmfs {
        assert_eq!(p["zeroed_bytes"], 0, "{p}");
        assert!(p["note"].as_str().is_some_and(|n| !n.is_empty()), "{p}");
        let (off, len) = (p["offset"].as_u64().unwrap(), p["size"].as_u64().unwrap());
        // One pass over the decompressed stream per volume, compared with the input.
        let same = d.sh(&format!(
            "zcat z.dd.gz | cmp -n {len} -i {off}:{off} - esxi.raw && echo same"
        ));
        assert_eq!(same.trim(), "same", "{p}");
    }
}
