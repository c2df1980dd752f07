//! The edges around the parsers (issue 13): sizes that are not whole sectors, memory that
//! must not grow with the disk, arguments out of range, special files that must not hang,
//! directories that must not cost quadratic time.

use crate::util::*;

/// A qcow2 whose virtual size is not a multiple of 512: qemu reads `size / 512` whole
/// sectors, and so must ddgz (the old code wrote the tail too).
#[test]
fn qcow2_size_not_whole_sectors_matches_qemu() {
    use std::os::unix::fs::FileExt;
    let d = Dir::new();
    d.sh("qemu-img create -q -f qcow2 img.qcow2 1M");
    d.sh("qemu-io -f qcow2 -c 'write -P 0x5a 0 1M' img.qcow2 >/dev/null");
    // Patch the header's size (offset 24, big-endian) to 1 MiB - 100.
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(d.join("img.qcow2"))
        .unwrap();
    f.write_all_at(&((1u64 << 20) - 100).to_be_bytes(), 24)
        .unwrap();
    drop(f);
    d.sh("qemu-img convert -f qcow2 -O raw img.qcow2 ref.raw");
    let want = sha256_file(&d.join("ref.raw"));
    assert_eq!(
        std::fs::metadata(d.join("ref.raw")).unwrap().len(),
        (1 << 20) - 512,
        "qemu rounds down to whole sectors"
    );
    d.ddgz_ok(&[
        "convert",
        "img.qcow2",
        "-o",
        "out.dd.gz",
        "--quiet",
        "--no-validate",
    ]);
    let got = d.sh("gzip -dc out.dd.gz | sha256sum");
    assert_eq!(got.split_whitespace().next().unwrap(), want);
}
