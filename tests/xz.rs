//! `.dd.xz` and `.tar.xz` (MAAS `ddxz`, `txz`) against the real tools: `xz -t`, `xzcat`,
//! Python's `lzma`, GNU tar `-J`; the same pipeline as gzip, so the bytes do not depend
//! on the thread count.

use crate::util::*;

/// Virtual size: data in three places, long zero runs between (by extents in the qcow2),
/// and a size that is no multiple of the 4 MiB block.
const SIZE: u64 = (70 << 20) + 1536;

#[test]
fn convert_to_dd_xz_decodes_to_the_raw_disk_whatever_the_threads() {
    let d = Dir::new();
    let p = d.join("src.raw");
    write_pattern(&p, SIZE, 0, 3 << 20, 1);
    write_pattern(&p, SIZE, 30 << 20, 700 << 10, 2);
    write_pattern(&p, SIZE, SIZE - (100 << 10), 100 << 10, 3);
    d.sh("qemu-img convert -f raw -O qcow2 src.raw disk.qcow2 && qemu-img convert -O raw disk.qcow2 disk.raw");
    let report = d.ddgz_ok(&[
        "convert",
        "disk.qcow2",
        "-o",
        "j1.dd.xz",
        "-j1",
        "--no-validate",
    ]);
    assert!(report.contains("filetype='ddxz'"), "{report}");
    d.ddgz_ok(&[
        "convert",
        "disk.qcow2",
        "-o",
        "j2.dd.xz",
        "-j2",
        "--quiet",
        "--no-validate",
    ]);
    d.sh("cmp j1.dd.xz j2.dd.xz");
    d.sh("xz -t j1.dd.xz && xzcat j1.dd.xz | cmp - disk.raw");
    let want = sha256_file(&d.join("disk.raw"));
    let py = d.sh(
        "python3 -c 'import lzma,hashlib,sys; print(hashlib.sha256(lzma.open(sys.argv[1]).read()).hexdigest())' j1.dd.xz",
    );
    assert_eq!(py.trim(), want, "Python's lzma differs");
    // Smaller than the gzip of the same disk, and zero runs cost next to nothing.
    d.ddgz_ok(&[
        "convert",
        "disk.qcow2",
        "-o",
        "d.dd.gz",
        "--quiet",
        "--no-validate",
    ]);
    let size = |f: &str| std::fs::metadata(d.join(f)).unwrap().len();
    assert!(
        size("j1.dd.xz") < size("d.dd.gz"),
        "{} >= {}",
        size("j1.dd.xz"),
        size("d.dd.gz")
    );
    // verify reads it: the stream alone, and against its source.
    let v = d.ddgz_ok(&["verify", "j1.dd.xz", "--no-layout"]);
    assert!(v.contains("xz stream OK"), "{v}");
    d.ddgz_ok(&[
        "verify",
        "j1.dd.xz",
        "--against",
        "disk.qcow2",
        "--no-layout",
    ]);
    // A damaged block is caught.
    d.sh("cp j1.dd.xz bad.dd.xz && printf 'XXXX' | dd of=bad.dd.xz bs=1 seek=5000 conv=notrunc status=none");
    let bad = d.ddgz(&["verify", "bad.dd.xz", "--no-layout"]);
    assert_eq!(bad.status.code(), Some(1), "{bad:?}");
    // --compress xz with a .gz name, and the other way round, are refused (exit 2).
    for (out, codec) in [("x.dd.gz", "xz"), ("x.dd.xz", "gzip")] {
        let r = d.ddgz(&[
            "convert",
            "disk.qcow2",
            "-o",
            out,
            "--compress",
            codec,
            "--no-validate",
        ]);
        assert_eq!(r.status.code(), Some(2), "{out} {codec}: {r:?}");
        assert!(!d.join(out).exists());
    }
    // --compress xz without -o names the output .dd.xz.
    d.ddgz_ok(&[
        "convert",
        "disk.qcow2",
        "--compress",
        "xz",
        "--quiet",
        "--no-validate",
    ]);
    d.sh("cmp disk.dd.xz j1.dd.xz");
}

/// A small root: files of text and binary, a symlink, an empty directory, a hole.
const TREE: &str = "mkdir -p src/etc src/usr/bin src/var/empty src/usr/lib
printf 'NAME=\"Ubuntu\"\\nID=ubuntu\\nVERSION_ID=\"24.04\"\\nVERSION_CODENAME=noble\\n' > src/etc/os-release
cp /bin/ls src/usr/bin/ls && chmod 755 src/usr/bin/ls
seq 1 200000 > src/usr/lib/numbers
ln -s ../usr/bin/ls src/etc/ls-link
truncate -s 3M src/usr/lib/holey && printf 'end' >> src/usr/lib/holey";

#[test]
fn tar_to_tar_xz_extracts_like_the_tar_gz() {
    let d = Dir::new();
    d.sh(TREE);
    d.sh("mkfs.ext4 -q -F -d src fs.img 32M
         truncate -s 40M disk.raw
         sgdisk -o -n 1:2048:+32M disk.raw >/dev/null
         dd if=fs.img of=disk.raw bs=512 seek=2048 conv=notrunc,sparse status=none
         qemu-img convert -O qcow2 disk.raw disk.qcow2");
    d.ddgz_ok(&["tar", "disk.qcow2", "-o", "root.tar.gz", "-j2"]);
    let report = d.ddgz_ok(&["tar", "disk.qcow2", "-o", "root.tar.xz", "-j1"]);
    assert!(report.contains("filetype='txz'"), "{report}");
    d.ddgz_ok(&["tar", "disk.qcow2", "-o", "j2.tar.xz", "-j2", "--quiet"]);
    d.sh("cmp root.tar.xz j2.tar.xz && xz -t root.tar.xz");
    // The same tar inside: GNU tar lists and extracts both alike (curtin's flags).
    d.sh("zcat root.tar.gz > a.tar && xzcat root.tar.xz > b.tar && cmp a.tar b.tar");
    let gz = d.sh("tar -tzvf root.tar.gz");
    let xz = d.sh("tar -tJvf root.tar.xz");
    assert_eq!(gz, xz);
    assert!(
        xz.contains("./usr/bin/ls") && xz.contains("./etc/ls-link -> ../usr/bin/ls"),
        "{xz}"
    );
    d.sh("mkdir a b
         tar -C a --numeric-owner --xattrs --xattrs-include='*' -xzpf root.tar.gz
         tar -C b --numeric-owner --xattrs --xattrs-include='*' -xJpf root.tar.xz
         diff -r --no-dereference a b
         cmp b/usr/bin/ls src/usr/bin/ls && cmp b/usr/lib/holey src/usr/lib/holey");
}
