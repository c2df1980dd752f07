//! VMDK input against the oracle: for every subformat `qemu-img` writes, converted from a
//! pattern disk and written by the guest through `qemu-io`, with and without a parent,
//! `ddgz convert` must decode to exactly `qemu-img convert -f vmdk -O raw`; no input file
//! (descriptor or extent) may change. Broken VMDKs are pinned in `corrupt.rs`'s style
//! below ([`regenerate`], [`vmdk_corrupt_fixtures_pinned`]).

use std::path::Path;

use crate::util::*;

/// Virtual size of the small images: not a multiple of the 64 KiB grain (the last grain
/// is partial) nor of the 1 MiB chunk.
const SIZE: u64 = (6 << 20) + 1536;
/// Large enough for `twoGbMaxExtent*` to split the disk over two files (2047 MiB each).
const SPLIT_SIZE: u64 = (2 << 30) + (3 << 20) + 1536;

const SUBFORMATS: &[&str] = &[
    "monolithicSparse",
    "streamOptimized",
    "twoGbMaxExtentSparse",
    "twoGbMaxExtentFlat",
    "monolithicFlat",
];

/// Writes `src.raw` of `size` bytes: sparse, data at the start, the middle (across the
/// 2047 MiB extent boundary of a big one) and the end.
fn source(d: &Dir, size: u64) {
    let p = d.join("src.raw");
    write_pattern(&p, size, 0, 300 << 10, 1);
    let mid = if size > (2047 << 20) {
        (2047 << 20) - (200 << 10)
    } else {
        2 << 20
    };
    write_pattern(&p, size, mid, 700 << 10, 2);
    write_pattern(&p, size, size - (100 << 10), 100 << 10, 3);
}

/// Every VMDK file in the directory with its mtime and sha256 (size instead for a big,
/// sparse flat file): the inputs that must not change.
fn inputs(d: &Dir) -> Vec<(String, std::time::SystemTime, String)> {
    let mut v: Vec<_> = std::fs::read_dir(d.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".vmdk"))
        .map(|n| {
            let p = d.join(&n);
            let len = std::fs::metadata(&p).unwrap().len();
            let h = if len < 64 << 20 {
                sha256_file(&p)
            } else {
                len.to_string()
            };
            (n, mtime(&p), h)
        })
        .collect();
    v.sort();
    v
}

/// Converts `img` with ddgz and compares the gunzipped output with `qemu-img convert -f
/// vmdk -O raw`; the VMDK files must not change.
fn check(d: &Dir, img: &str) {
    let before = inputs(d);
    let out = format!("{img}.dd.gz");
    d.ddgz_ok(&["convert", img, "-o", &out, "--quiet", "--no-validate"]);
    d.sh(&format!(
        "qemu-img convert -f vmdk -O raw {img} ref.raw
         gzip -dc {out} | cmp - ref.raw"
    ));
    assert_eq!(inputs(d), before, "{img}: an input file changed");
    std::fs::remove_file(d.join("ref.raw")).unwrap();
    std::fs::remove_file(d.join(&out)).unwrap();
}

#[test]
fn converted_subformats_equal_qemu() {
    for sf in SUBFORMATS {
        let d = Dir::new();
        let size = if sf.starts_with("twoGb") {
            SPLIT_SIZE
        } else {
            SIZE
        };
        source(&d, size);
        d.sh(&format!(
            "qemu-img convert -f raw -O vmdk -o subformat={sf} src.raw img.vmdk && rm src.raw"
        ));
        if sf.starts_with("twoGb") {
            let n = std::fs::read_dir(d.path()).unwrap().count();
            assert!(
                n >= 3,
                "{sf}: expected a descriptor and two extent files, got {n}"
            );
        }
        check(&d, "img.vmdk");
    }
}

/// qemu-io writes: unaligned ones, zeroed grains (`write -z` with `zeroed_grain=on`), and
/// for streamOptimized (append-only, whole grains) aligned grains and the partial last one.
#[test]
fn guest_written_subformats_equal_qemu() {
    let tail = SIZE - (SIZE % 65536);
    let cases: &[(&str, &str, String)] = &[
        (
            "monolithicSparse",
            "",
            "-c 'write -P 0x5a 3000 70000' -c 'write -P 0xa5 1M 192k' -c 'write -P 7 6M 1536'"
                .into(),
        ),
        (
            "monolithicSparse",
            ",zeroed_grain=on",
            "-c 'write -P 0x5a 0 256k' -c 'write -z 64k 128k' -c 'write -P 3 100k 5000'".into(),
        ),
        (
            "streamOptimized",
            "",
            format!(
                "-c 'write -P 0x5a 0 64k' -c 'write -P 0xa5 1M 192k' -c 'write -P 9 {tail} {}'",
                SIZE - tail
            ),
        ),
        (
            "twoGbMaxExtentSparse",
            "",
            "-c 'write -P 0x5a 3000 70000' -c 'write -P 0xa5 2047M 1M'".into(),
        ),
        (
            "twoGbMaxExtentFlat",
            "",
            "-c 'write -P 0x5a 3000 70000' -c 'write -P 0xa5 2047M 1M'".into(),
        ),
        ("monolithicFlat", "", "-c 'write -P 0x5a 3000 70000'".into()),
    ];
    for (sf, extra, writes) in cases {
        let d = Dir::new();
        let size = if sf.starts_with("twoGb") {
            SPLIT_SIZE
        } else {
            SIZE
        };
        d.sh(&format!(
            "qemu-img create -q -f vmdk -o subformat={sf}{extra} img.vmdk {size}
             qemu-io -f vmdk {writes} img.vmdk >/dev/null"
        ));
        check(&d, "img.vmdk");
    }
}

/// A child made with `qemu-img create -b`, written by qemu-io, shorter and longer than
/// its parent: read through the parent; inspect names it; a parent changed after the
/// child was made (its CID moves on) is refused, as qemu refuses it.
#[test]
fn parent_chain() {
    let d = Dir::new();
    source(&d, SIZE);
    d.sh(&format!(
        "qemu-img convert -f raw -O vmdk src.raw base.vmdk
         qemu-img create -q -f vmdk -b base.vmdk -F vmdk mid.vmdk
         qemu-io -f vmdk -c 'write -P 0x11 64k 64k' -c 'write -P 0x22 2M 4000' mid.vmdk >/dev/null
         qemu-img create -q -f vmdk -o subformat=streamOptimized -b mid.vmdk -F vmdk top.vmdk {}
         qemu-io -f vmdk -c 'write -P 0x33 1M 64k' top.vmdk >/dev/null",
        SIZE + (1 << 20)
    ));
    check(&d, "mid.vmdk");
    check(&d, "top.vmdk");
    let out = d.ddgz_ok(&["inspect", "top.vmdk"]);
    assert!(
        out.contains("container:  vmdk streamOptimized, 64 KiB grains"),
        "{out}"
    );
    assert!(
        out.contains("backing:    mid.vmdk (vmdk monolithicSparse"),
        "{out}"
    );
    assert!(
        out.contains("backing:    base.vmdk (vmdk monolithicSparse"),
        "{out}"
    );
    let j: serde_json::Value =
        serde_json::from_str(&d.ddgz_ok(&["inspect", "top.vmdk", "--json"])).unwrap();
    let c = &j["image"]["container"];
    assert_eq!(j["image"]["format"], "vmdk");
    assert_eq!(c["subformat"], "streamOptimized");
    assert_eq!(c["allocation_unit"], "grain");
    assert_eq!(c["allocation_unit_size"], 65536);
    assert_eq!(c["details"]["compression"], "deflate (zlib)");
    assert_eq!(c["details"]["parent hint"], "mid.vmdk");
    let chain = c["backing_chain"].as_array().unwrap();
    assert_eq!(chain.len(), 2);
    assert_eq!(chain[1]["path"], "base.vmdk");
    assert_eq!(chain[1]["format"], "vmdk");

    // Writing to the base moves its CID on: the child no longer matches.
    d.sh("qemu-io -f vmdk -c 'write -P 0x44 0 512' base.vmdk >/dev/null");
    let q = std::process::Command::new("qemu-img")
        .args(["convert", "-f", "vmdk", "-O", "raw", "mid.vmdk", "x.raw"])
        .current_dir(d.path())
        .output()
        .unwrap();
    assert!(
        !q.status.success(),
        "qemu-img read a child whose parentCID is stale"
    );
    let out = d.ddgz(&[
        "convert",
        "mid.vmdk",
        "-o",
        "x.dd.gz",
        "--quiet",
        "--no-validate",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("does not match the CID") && err.contains("base.vmdk"),
        "{err}"
    );
    assert!(!d.join("x.dd.gz").exists());
}

/// `--format vmdk` forces the reader; a VMDK is detected without it; a raw file forced to
/// vmdk is refused with the reason.
#[test]
fn format_flag() {
    let d = Dir::new();
    source(&d, SIZE);
    d.sh("qemu-img convert -f raw -O vmdk -o subformat=monolithicFlat src.raw img.vmdk");
    let out = d.ddgz_ok(&["inspect", "img.vmdk", "--format", "vmdk"]);
    assert!(out.contains("container:  vmdk monolithicFlat"), "{out}");
    let out = d.ddgz(&["inspect", "src.raw", "--format", "vmdk"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a VMDK file"));
    // The default output name drops .vmdk.
    d.ddgz_ok(&["convert", "img.vmdk", "--quiet", "--no-validate"]);
    assert!(Path::new(&d.join("img.dd.gz")).exists());
}
