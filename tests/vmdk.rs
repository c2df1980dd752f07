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

/// The VMware layout of a streamOptimized file, which qemu never writes: the header says
/// "directory at the end" and the real header is the footer (footer marker, header copy,
/// end-of-stream marker in the last three sectors). Made from qemu's own streamOptimized
/// file; qemu reads the result through its footer, so it stays the oracle.
#[test]
fn stream_optimized_footer_layout() {
    let d = Dir::new();
    source(&d, SIZE);
    d.sh("qemu-img convert -f raw -O vmdk -o subformat=streamOptimized src.raw s.vmdk");
    let mut b = std::fs::read(d.join("s.vmdk")).unwrap();
    let header = b[..512].to_vec();
    b[56..64].copy_from_slice(&u64::MAX.to_le_bytes());
    let mut marker = vec![0u8; 512];
    marker[0..8].copy_from_slice(&1u64.to_le_bytes());
    marker[12..16].copy_from_slice(&3u32.to_le_bytes());
    b.extend_from_slice(&marker);
    b.extend_from_slice(&header);
    b.extend_from_slice(&[0u8; 512]);
    std::fs::write(d.join("f.vmdk"), &b).unwrap();
    check(&d, "f.vmdk");
    let out = d.ddgz_ok(&["inspect", "f.vmdk"]);
    assert!(out.contains("header footer copy"), "{out}");
}

// ---------------------------------------------------------------------------------------
// Broken VMDKs: fixtures/corrupt/vmdk-*.vmdk, made by `regenerate` from qemu-img's files
// with bytes patched, each with its pinned error.

fn set_le32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn set_le64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// Remakes the `vmdk-*` files of `fixtures/corrupt/`. Needs qemu-img.
#[test]
#[ignore = "regenerates the committed fixtures: run by hand"]
fn regenerate() {
    let out = crate::corrupt::fixtures();
    let d = Dir::new();
    let write = |name: &str, data: &[u8]| {
        assert!(data.len() <= 130 * 1024, "{name}: {} bytes", data.len());
        std::fs::write(out.join(name), data).unwrap();
    };
    // A 1 MiB disk with one grain of data at 64 KiB: qemu puts the grain at 64 KiB of the
    // file (header, descriptor, directories and tables before it).
    d.sh(
        "truncate -s 1M b.raw
         printf 'ddgz vmdk fixture %.0s' $(seq 200) | dd of=b.raw bs=64k seek=1 conv=notrunc status=none
         qemu-img convert -f raw -O vmdk b.raw sparse.vmdk
         qemu-img convert -f raw -O vmdk -o subformat=streamOptimized b.raw stream.vmdk",
    );
    let sparse = std::fs::read(d.join("sparse.vmdk")).unwrap();
    let stream = std::fs::read(d.join("stream.vmdk")).unwrap();
    write("vmdk-valid.vmdk", &sparse);
    write("vmdk-stream-valid.vmdk", &stream);
    let gd = u64::from_le_bytes(sparse[56..64].try_into().unwrap()) as usize * 512;
    let gt = u32::from_le_bytes(sparse[gd..gd + 4].try_into().unwrap()) as usize * 512;
    let patched = |src: &[u8], len: usize, f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = src[..len].to_vec();
        f(&mut b);
        b
    };
    const FAR: u64 = 0x10_0000; // sectors: 512 MiB, far past the end
    write(
        "vmdk-grain-size.vmdk",
        &patched(&sparse, 16384, &|b| set_le64(b, 20, 1 << 20)),
    );
    write(
        "vmdk-gtes.vmdk",
        &patched(&sparse, 16384, &|b| set_le32(b, 44, 4096)),
    );
    write(
        "vmdk-version.vmdk",
        &patched(&sparse, 16384, &|b| set_le32(b, 4, 4)),
    );
    write(
        "vmdk-capacity.vmdk",
        &patched(&sparse, 16384, &|b| set_le64(b, 12, u64::MAX / 2)),
    );
    write("vmdk-truncated-header.vmdk", &sparse[..16384]);
    write(
        "vmdk-gd-past-eof.vmdk",
        &patched(&sparse, 65536, &|b| set_le64(b, 56, FAR)),
    );
    write(
        "vmdk-gt-past-eof.vmdk",
        &patched(&sparse, 65536, &|b| set_le32(b, gd, FAR as u32)),
    );
    write("vmdk-truncated-data.vmdk", &sparse[..65536]);
    let _ = gt;
    // streamOptimized: the grain (marker at 64 KiB: lba, size, zlib data).
    let g = 65536;
    write(
        "vmdk-stream-zlib.vmdk",
        &patched(&stream, stream.len(), &|b| b[g + 12..g + 20].fill(0x55)),
    );
    write(
        "vmdk-stream-marker.vmdk",
        &patched(&stream, stream.len(), &|b| set_le32(b, g + 8, 0x7fff_ffff)),
    );
    // The VMware layout (directory at the end, footer), valid: see
    // `stream_optimized_footer_layout`.
    let mut f = stream.clone();
    set_le64(&mut f, 56, u64::MAX);
    let mut marker = [0u8; 512];
    marker[..8].copy_from_slice(&1u64.to_le_bytes());
    marker[12..16].copy_from_slice(&3u32.to_le_bytes());
    f.extend_from_slice(&marker);
    f.extend_from_slice(&stream[..512]);
    f.extend_from_slice(&[0u8; 512]);
    write("vmdk-stream-footer-valid.vmdk", &f);
    write(
        "vmdk-stream-footer.vmdk",
        &patched(&stream, stream.len(), &|b| set_le64(b, 56, u64::MAX)),
    );
    // Descriptors.
    let desc = |extents: &str, parent: &str| {
        format!(
            "# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\n{parent}\
             createType=\"monolithicFlat\"\n\n# Extent description\n{extents}\n"
        )
    };
    let text = |name: &str, t: &str| write(name, t.as_bytes());
    text(
        "vmdk-extent-nbd.vmdk",
        &desc("RW 2048 FLAT \"nbd:localhost:10809\" 0", ""),
    );
    text(
        "vmdk-extent-missing.vmdk",
        &desc("RW 2048 FLAT \"vmdk-missing-flat.vmdk\" 0", ""),
    );
    text("vmdk-extent-rdm.vmdk", &desc("RW 2048 VMFSRDM \"sda\"", ""));
    text(
        "vmdk-extent-noaccess.vmdk",
        &desc("NOACCESS 2048 FLAT \"vmdk-short-flat.bin\" 0", ""),
    );
    text(
        "vmdk-flat-short.vmdk",
        &desc("RW 2048 FLAT \"vmdk-short-flat.bin\" 0", ""),
    );
    write("vmdk-short-flat.bin", &[0u8; 4096]);
    text(
        "vmdk-parent-loop-a.vmdk",
        &desc(
            "RW 2048 ZERO",
            "parentFileNameHint=\"vmdk-parent-loop-b.vmdk\"\n",
        ),
    );
    text(
        "vmdk-parent-loop-b.vmdk",
        &desc(
            "RW 2048 ZERO",
            "parentFileNameHint=\"vmdk-parent-loop-a.vmdk\"\n",
        ),
    );
    text(
        "vmdk-parent-http.vmdk",
        &desc(
            "RW 2048 ZERO",
            "parentFileNameHint=\"http://example.invalid/p.vmdk\"\n",
        ),
    );
    // A child of vmdk-valid.vmdk recording another parent CID.
    text(
        "vmdk-parent-cid.vmdk",
        &desc("RW 2048 ZERO", "parentFileNameHint=\"vmdk-valid.vmdk\"\n")
            .replace("parentCID=ffffffff", "parentCID=00000bad"),
    );
    let mut cowd = vec![0u8; 2048];
    cowd[..4].copy_from_slice(b"COWD");
    write("vmdk-cowd.vmdk", &cowd);
}

/// `FILE`, `ARGS` (`*`: every reading command), exit code, a piece of the error.
const CASES: &[(&str, &str, i32, &str)] = &[
    (
        "vmdk-grain-size.vmdk",
        "*",
        3,
        "grain size of 1048576 sectors; must be between 1 and 32768",
    ),
    (
        "vmdk-gtes.vmdk",
        "*",
        3,
        "4096 grain table entries per table; must be between 1 and 512",
    ),
    (
        "vmdk-version.vmdk",
        "*",
        3,
        "sparse extent version 4; versions 1 to 3 are supported",
    ),
    (
        "vmdk-capacity.vmdk",
        "*",
        3,
        "capacity of 9223372036854775807 sectors overflows",
    ),
    (
        "vmdk-truncated-header.vmdk",
        "*",
        3,
        "shorter than its metadata (overHead of 128 sectors)",
    ),
    (
        "vmdk-gd-past-eof.vmdk",
        "*",
        3,
        "grain directory at 0x20000000 (1 entries) lies past the end of the file",
    ),
    (
        "vmdk-gt-past-eof.vmdk",
        "*",
        3,
        "grain table at 0x20000000 (grain directory entry 0) lies past the end",
    ),
    (
        "vmdk-truncated-data.vmdk",
        "convert {} -o out.dd.gz --quiet --no-validate",
        3,
        "grain at 0x10000 for extent offset 0x10000 lies past the end of the file",
    ),
    (
        "vmdk-stream-zlib.vmdk",
        "convert {} -o out.dd.gz --quiet --no-validate",
        3,
        "compressed grain at 0x10000: corrupt zlib data",
    ),
    (
        "vmdk-stream-marker.vmdk",
        "convert {} -o out.dd.gz --quiet --no-validate",
        3,
        "compressed grain at 0x10000 claims 2147483647 bytes",
    ),
    ("vmdk-stream-footer.vmdk", "*", 3, "is not a footer marker"),
    (
        "vmdk-extent-nbd.vmdk",
        "*",
        3,
        "is not a plain file path (protocol prefix \"nbd:\")",
    ),
    (
        "vmdk-extent-missing.vmdk",
        "*",
        3,
        "cannot open (extent 1 of vmdk-extent-missing.vmdk)",
    ),
    (
        "vmdk-extent-rdm.vmdk",
        "*",
        3,
        "type \"VMFSRDM\": raw device mappings are not supported",
    ),
    (
        "vmdk-extent-noaccess.vmdk",
        "*",
        3,
        "access NOACCESS: the extent may not be read",
    ),
    (
        "vmdk-flat-short.vmdk",
        "*",
        3,
        "flat extent file is 4096 bytes; the extent needs 1048576",
    ),
    ("vmdk-parent-loop-a.vmdk", "*", 3, "backing chain loops"),
    (
        "vmdk-parent-http.vmdk",
        "*",
        3,
        "is not a plain file path (protocol prefix \"http:\")",
    ),
    (
        "vmdk-parent-cid.vmdk",
        "*",
        3,
        "parentCID 00000bad does not match the CID",
    ),
    ("vmdk-cowd.vmdk", "*", 3, "a VMFS sparse extent (\"COWD\""),
];

/// Every VMDK fixture gives its pinned error with every command that reads it; the
/// valid originals convert to qemu's bytes.
#[test]
fn vmdk_corrupt_fixtures_pinned() {
    let d = Dir::new();
    for e in std::fs::read_dir(crate::corrupt::fixtures()).unwrap() {
        let e = e.unwrap();
        let n = e.file_name().into_string().unwrap();
        if n.starts_with("vmdk-") {
            std::fs::copy(e.path(), d.join(&n)).unwrap();
        }
    }
    const ALL: &[&str] = &[
        "convert {} -o out.dd.gz --quiet",
        "convert {} -o out.dd.gz --quiet --no-validate",
        "inspect {}",
        "validate {}",
    ];
    let mut failures = Vec::new();
    for &(file, args, code, text) in CASES {
        let cmds = if args == "*" {
            ALL.to_vec()
        } else {
            vec![args]
        };
        for c in cmds {
            if let Some(f) = crate::corrupt::run_case(&d, file, c, code, text) {
                failures.push(f);
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
    check(&d, "vmdk-valid.vmdk");
    check(&d, "vmdk-stream-valid.vmdk");
    check(&d, "vmdk-stream-footer-valid.vmdk");
}
