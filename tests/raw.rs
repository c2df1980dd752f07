//! `convert -o disk.raw`: the raw disk with holes, equal to `qemu-img convert -O raw`.

use crate::util::{write_pattern, Dir};

/// Allocated bytes of a file (`st_blocks` × 512) and its size.
fn allocated(d: &Dir, f: &str) -> (u64, u64) {
    let out = d.sh(&format!("stat -c '%b %B %s' {f}"));
    let v: Vec<u64> = out.split_whitespace().map(|x| x.parse().unwrap()).collect();
    (v[0] * v[1], v[2])
}

#[test]
fn raw_output_equals_qemu_img_and_is_sparse() {
    let d = Dir::new();
    let src = d.join("src.raw");
    // 256 MiB: data at three places, an explicit run of zeros written as data between.
    write_pattern(&src, 256 << 20, 1 << 20, 3 << 20, 1);
    write_pattern(&src, 256 << 20, 100 << 20, 5 << 20, 2);
    write_pattern(&src, 256 << 20, (256 << 20) - 8192, 8192, 3);
    d.sh(
        "dd if=/dev/zero of=src.raw bs=1M seek=40 count=16 conv=notrunc status=none
          qemu-img convert -O qcow2 src.raw disk.qcow2
          qemu-img convert -O vmdk -o subformat=streamOptimized src.raw disk.vmdk
          qemu-img convert -O raw disk.qcow2 want.raw",
    );
    for (input, out, extra) in [
        ("disk.qcow2", "disk.raw", None),
        ("disk.vmdk", "disk.img", None),
        ("src.raw", "plain", Some("--compress=none")),
    ] {
        let mut args = vec!["convert", input, "-o", out, "--no-validate"];
        args.extend(extra);
        let report = d.ddgz_ok(&args);
        assert!(report.contains("raw disk with holes"), "{report}");
        assert!(!report.contains("maas "), "{report}");
        d.sh(&format!("cmp {out} want.raw"));
        let (alloc, size) = allocated(&d, out);
        assert_eq!(size, 256 << 20);
        // The data is 8 MiB and a third of it zeros: no zero block was written.
        assert!(alloc <= 9 << 20, "{out}: {alloc} bytes allocated");
    }
    // Not to a stream, not with --upload, not under a compressed format's name.
    let r = d.ddgz(&["convert", "disk.qcow2", "-o", "-", "--compress", "none"]);
    assert_eq!(r.status.code(), Some(2));
    let r = d.ddgz(&[
        "convert",
        "disk.qcow2",
        "-o",
        "x.dd.gz",
        "--compress",
        "none",
    ]);
    assert_eq!(r.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&r.stderr).contains("name it .raw or .img"));
}

/// The ESXi flow's `--add` into FAT, written raw: mtools reads the files, fsck.fat is
/// clean, and the rest of the disk is the input's. With `--zero-free`, the deleted data
/// becomes holes.
#[test]
fn raw_output_with_add_and_zero_free() {
    let d = Dir::new();
    d.sh(
        "truncate -s 40M fat.img && mkfs.fat -F 16 fat.img >/dev/null
          head -c 12M /dev/urandom > junk && mcopy -i fat.img junk ::JUNK && mdel -i fat.img ::JUNK
          head -c 300000 /dev/urandom > added
          truncate -s 64M disk.raw && sgdisk -o -n 1:1M:+40M -t 1:ef00 disk.raw >/dev/null
          dd if=fat.img of=disk.raw bs=1M seek=1 conv=notrunc status=none
          qemu-img convert -O qcow2 disk.raw disk.qcow2",
    );
    d.ddgz_ok(&[
        "convert",
        "disk.qcow2",
        "-o",
        "out.raw",
        "--add",
        "added:curtin/",
    ]);
    d.sh("mcopy -i out.raw@@1M ::curtin/added x && cmp x added
          dd if=out.raw of=p1.img bs=1M skip=1 count=40 status=none && fsck.fat -n p1.img >/dev/null
          cmp -n 1M out.raw disk.raw && cmp -i 41M:41M out.raw disk.raw");
    let (with_junk, _) = allocated(&d, "out.raw");
    assert!(with_junk > 12 << 20, "{with_junk}");
    d.ddgz_ok(&[
        "convert",
        "disk.qcow2",
        "-o",
        "zf.raw",
        "--add",
        "added:curtin/",
        "--zero-free",
    ]);
    d.sh("mcopy -i zf.raw@@1M ::curtin/added x2 && cmp x2 added");
    let (zf, _) = allocated(&d, "zf.raw");
    assert!(zf < 2 << 20, "{zf} bytes allocated");
}
