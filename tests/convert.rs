//! `ddgz convert` against the oracles: every image variant qemu-img writes must give a
//! gzip stream that GNU gzip and Python accept and that decodes to exactly
//! `qemu-img convert -O raw`.

use crate::util::*;

/// Virtual size of the corpus images: not a multiple of the 1 MiB chunk.
const SIZE: u64 = (6 << 20) + 1536;

/// Writes `src.raw`: sparse, with data in three places.
fn source(d: &Dir) {
    let p = d.join("src.raw");
    write_pattern(&p, SIZE, 0, 300 << 10, 1);
    write_pattern(&p, SIZE, 2 << 20, 700 << 10, 2);
    write_pattern(&p, SIZE, SIZE - (100 << 10), 100 << 10, 3);
}

/// Converts `img` with ddgz and checks the result against `qemu-img convert -O raw`,
/// `gzip -t`, `gzip -dc` and Python's gzip module; the input must not change.
fn check(d: &Dir, img: &str) {
    check_with(d, img, &[]);
}

/// [`check`] with more arguments to `convert`.
fn check_with(d: &Dir, img: &str, args: &[&str]) {
    let img_path = d.join(img);
    let before = (sha256_file(&img_path), mtime(&img_path));
    let out = format!("{img}.dd.gz");
    let _ = std::fs::remove_file(d.join(&out));
    let mut argv = vec!["convert", img, "-o", &out, "--quiet", "--no-validate"];
    argv.extend_from_slice(args);
    d.ddgz_ok(&argv);
    d.sh(&format!("qemu-img convert -O raw {img} {img}.ref"));
    let want = sha256_file(&d.join(format!("{img}.ref")));
    d.sh(&format!("gzip -t {out}"));
    let got = d.sh(&format!("gzip -dc {out} | sha256sum"));
    assert_eq!(
        got.split_whitespace().next().unwrap(),
        want,
        "{img}: gzip -dc differs from qemu-img convert"
    );
    let py = d.sh(&format!(
        "python3 -c 'import gzip,hashlib,sys; print(hashlib.sha256(gzip.open(sys.argv[1]).read()).hexdigest())' {out}"
    ));
    assert_eq!(py.trim(), want, "{img}: Python's gzip differs");
    assert_eq!(
        (sha256_file(&img_path), mtime(&img_path)),
        before,
        "{img}: the input changed"
    );
    std::fs::remove_file(d.join(format!("{img}.ref"))).unwrap();
}

/// Makes `img.qcow2` from `src.raw` with `qemu-img convert OPTS`, then checks it.
fn convert_case(opts: &str) {
    let d = Dir::new();
    source(&d);
    d.sh(&format!(
        "qemu-img convert -f raw -O qcow2 {opts} src.raw img.qcow2"
    ));
    check(&d, "img.qcow2");
}

macro_rules! qcow2_variants {
    ($($name:ident: $opts:expr,)*) => {$(
        #[test]
        fn $name() {
            convert_case($opts);
        }
    )*};
}

qcow2_variants! {
    qcow2_v3_default: "",
    qcow2_v2: "-o compat=0.10",
    qcow2_cluster_512: "-o cluster_size=512",
    qcow2_cluster_2m: "-o cluster_size=2M",
    qcow2_refcount_1: "-o refcount_bits=1",
    qcow2_refcount_64: "-o refcount_bits=64",
    qcow2_zlib: "-c",
    qcow2_zlib_512: "-c -o cluster_size=512",
    qcow2_zlib_2m: "-c -o cluster_size=2M",
    qcow2_zlib_v2: "-c -o compat=0.10",
    qcow2_zstd: "-c -o compression_type=zstd",
    qcow2_zstd_512: "-c -o compression_type=zstd,cluster_size=512",
    qcow2_zstd_2m: "-c -o compression_type=zstd,cluster_size=2M",
    qcow2_prealloc_metadata: "-o preallocation=metadata",
    qcow2_prealloc_falloc: "-o preallocation=falloc",
    qcow2_prealloc_full: "-o preallocation=full",
    qcow2_data_file: "-o data_file=ext.raw",
    qcow2_data_file_raw: "-o data_file=ext.raw,data_file_raw=on",
}

/// Data, zero flags with and without a host cluster, discards: `qemu-io` edits on a
/// converted image.
const EDITS: &str = "-c 'write -P 0xab 1M 64k' -c 'write -z 2M 128k' -c 'write -z -u 0 64k' \
                     -c 'discard 3M 64k' -c 'write -P 0x5a 5120k 4k' -c 'write -z 5124k 4k'";

fn edited_case(opts: &str) {
    let d = Dir::new();
    source(&d);
    d.sh(&format!(
        "qemu-img convert -f raw -O qcow2 {opts} src.raw img.qcow2"
    ));
    d.sh(&format!("qemu-io -f qcow2 {EDITS} img.qcow2 >/dev/null"));
    check(&d, "img.qcow2");
}

#[test]
fn qcow2_zero_flags_and_discards() {
    edited_case("");
}

#[test]
fn qcow2_extended_l2_subclusters() {
    edited_case("-o extended_l2=on");
}

#[test]
fn qcow2_extended_l2_2m() {
    edited_case("-o extended_l2=on,cluster_size=2M");
}

#[test]
fn qcow2_compressed_then_edited() {
    edited_case("-c");
}

#[test]
fn qcow2_internal_snapshot_and_bitmap_read_active_state() {
    let d = Dir::new();
    source(&d);
    d.sh("qemu-img convert -f raw -O qcow2 src.raw img.qcow2");
    d.sh("qemu-img snapshot -c s1 img.qcow2");
    d.sh("qemu-img bitmap --add img.qcow2 b0");
    d.sh("qemu-io -f qcow2 -c 'write -P 0x77 0 128k' -c 'write -z 2M 64k' img.qcow2 >/dev/null");
    check(&d, "img.qcow2");
}

#[test]
fn qcow2_dirty_bit_is_readable() {
    let d = Dir::new();
    d.sh(&format!(
        "qemu-img create -q -f qcow2 -o lazy_refcounts=on img.qcow2 {SIZE}"
    ));
    d.sh("qemu-io -f qcow2 -c 'write -P 0x11 1M 64k' -c abort img.qcow2 >/dev/null 2>&1 || true");
    let b = d.sh("od -An -tx1 -j79 -N1 img.qcow2");
    assert_eq!(
        u8::from_str_radix(b.trim(), 16).unwrap() & 1,
        1,
        "the dirty bit is not set"
    );
    check(&d, "img.qcow2");
}

#[test]
fn backing_chains() {
    let d = Dir::new();
    source(&d);
    // qcow2 backing, three deep, relative paths in a subdirectory.
    d.sh("mkdir -p sub && qemu-img convert -f raw -O qcow2 src.raw sub/base.qcow2");
    d.sh("qemu-img create -q -f qcow2 -b base.qcow2 -F qcow2 sub/mid.qcow2");
    d.sh(
        "qemu-io -f qcow2 -c 'write -P 0x21 1M 64k' -c 'write -z 2M 64k' sub/mid.qcow2 >/dev/null",
    );
    d.sh("qemu-img create -q -f qcow2 -b mid.qcow2 -F qcow2 sub/top.qcow2");
    d.sh("qemu-io -f qcow2 -c 'write -P 0x31 1088k 8k' -c 'write -z -u 0 64k' sub/top.qcow2 >/dev/null");
    check(&d, "sub/top.qcow2");
    // raw backing file.
    d.sh("qemu-img create -q -f qcow2 -b ../src.raw -F raw sub/over-raw.qcow2");
    d.sh("qemu-io -f qcow2 -c 'write -P 0x41 3M 64k' sub/over-raw.qcow2 >/dev/null");
    // `../src.raw` leaves the directory of the image given: refused without the flag.
    let out = d.ddgz(&["convert", "sub/over-raw.qcow2", "-o", "o.dd.gz"]);
    assert_eq!(out.status.code(), Some(3));
    check_with(&d, "sub/over-raw.qcow2", &["--allow-outside-files"]);
    // backing shorter than the overlay: reads past its end are zeros.
    d.sh("qemu-img convert -f raw -O qcow2 src.raw short.qcow2 && qemu-img resize -q --shrink short.qcow2 2M");
    d.sh(&format!(
        "qemu-img create -q -f qcow2 -b short.qcow2 -F qcow2 long-over.qcow2 {SIZE}"
    ));
    d.sh("qemu-io -f qcow2 -c 'write -P 0x51 4M 64k' long-over.qcow2 >/dev/null");
    check(&d, "long-over.qcow2");
    // backing longer than the overlay.
    d.sh("qemu-img create -q -f qcow2 -b src.raw -F raw short-over.qcow2 3M");
    check(&d, "short-over.qcow2");
}

#[test]
fn raw_sparse_and_all_zero_inputs() {
    let d = Dir::new();
    source(&d);
    check(&d, "src.raw");
    d.sh("truncate -s 10M zero.raw && qemu-img create -q -f qcow2 zero.qcow2 10M");
    check(&d, "zero.raw");
    check(&d, "zero.qcow2");
    // An all-zero 1 GiB disk costs almost nothing.
    d.sh("truncate -s 1G big.raw");
    d.ddgz_ok(&["convert", "big.raw", "--quiet", "--no-validate"]);
    let len = std::fs::metadata(d.join("big.dd.gz")).unwrap().len();
    assert!(len < 1_100_000, "1 GiB of zeros took {len} bytes");
    d.sh("gzip -t big.dd.gz");
}

#[test]
fn output_is_identical_for_any_thread_count() {
    let d = Dir::new();
    source(&d);
    for j in ["1", "2", "3"] {
        d.ddgz_ok(&[
            "convert",
            "src.raw",
            "-o",
            &format!("out{j}.gz"),
            "-j",
            j,
            "--chunk-size",
            "65536",
            "--quiet",
            "--no-validate",
        ]);
    }
    d.sh("cmp out1.gz out2.gz && cmp out1.gz out3.gz");
}

#[test]
fn output_naming_overwrite_and_stdout() {
    let d = Dir::new();
    source(&d);
    d.sh("qemu-img convert -f raw -O qcow2 src.raw disk.qcow2");
    // No partition table: validation refuses (exit 1), says how to go on, writes nothing.
    let refused = d.ddgz(&["convert", "disk.qcow2"]);
    assert_eq!(refused.status.code(), Some(1));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("no partition table") && err.contains("--no-validate"),
        "{err}"
    );
    assert!(!d.join("disk.dd.gz").exists() && partials(d.path()).is_empty());
    let report = d.ddgz_ok(&["convert", "disk.qcow2", "--no-validate"]);
    assert!(d.join("disk.dd.gz").exists(), "default output name");
    for want in [
        "virtual size",
        "allocated",
        "sha256",
        "boot-resources create",
        "filetype='ddgz'",
        "content@=",
    ] {
        assert!(report.contains(want), "report lacks {want:?}:\n{report}");
    }
    let sha = sha256_file(&d.join("disk.dd.gz"));
    assert!(
        report.contains(&sha),
        "report does not give the output's sha256"
    );
    // Refuses to overwrite without --force, and leaves the existing file alone.
    let again = d.ddgz(&["convert", "disk.qcow2", "--no-validate"]);
    assert_eq!(again.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists"));
    assert_eq!(sha256_file(&d.join("disk.dd.gz")), sha);
    d.ddgz_ok(&[
        "convert",
        "disk.qcow2",
        "--force",
        "--quiet",
        "--no-validate",
    ]);
    // stdout, and --json on a pipe.
    d.sh(&format!(
        "{} convert disk.qcow2 -o - --quiet --no-validate > piped.gz",
        env!("CARGO_BIN_EXE_ddgz")
    ));
    d.sh("cmp piped.gz disk.dd.gz");
    let json = d.ddgz_ok(&[
        "convert",
        "disk.qcow2",
        "-o",
        "j.gz",
        "--json",
        "--no-validate",
    ]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(v["virtual_size"], SIZE);
    assert_eq!(v["sha256"], sha256_file(&d.join("j.gz")));
    assert_eq!(
        v["output_bytes"],
        std::fs::metadata(d.join("j.gz")).unwrap().len()
    );
    assert!(partials(d.path()).is_empty());
}

/// Sets bits in the big-endian header field at `offset` (8 bytes) with a Python one-liner.
fn or_u64(d: &Dir, img: &str, offset: u64, bits: u64) {
    d.sh(&format!(
        "python3 -c 'import sys; f=open(sys.argv[1],\"r+b\"); f.seek({offset}); v=int.from_bytes(f.read(8),\"big\") | {bits}; f.seek({offset}); f.write(v.to_bytes(8,\"big\"))' {img}"
    ));
}

/// `ddgz convert img` must fail with exit 3, a one-line error naming the file and
/// containing one of `reasons`, and leave no output.
fn refused(d: &Dir, img: &str, reasons: &[&str]) {
    let out = d.ddgz(&["convert", img, "-o", "out.gz", "--no-validate"]);
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{img}: exit code; stderr: {err}"
    );
    assert!(
        err.starts_with("ddgz: error:") && err.lines().count() == 1,
        "{img}: not one line: {err}"
    );
    assert!(
        err.contains(img),
        "{img}: the error does not name the file: {err}"
    );
    assert!(
        reasons.iter().any(|r| err.contains(r)),
        "{img}: expected one of {reasons:?} in: {err}"
    );
    assert!(
        !d.join("out.gz").exists() && partials(d.path()).is_empty(),
        "{img}: output left behind"
    );
}

#[test]
fn refused_inputs_fail_cleanly() {
    let d = Dir::new();
    source(&d);
    d.sh("qemu-img convert -f raw -O qcow2 src.raw good.qcow2");
    d.sh("cp good.qcow2 corrupt.qcow2 && cp good.qcow2 unknown.qcow2 && cp good.qcow2 l1.qcow2");
    or_u64(&d, "corrupt.qcow2", 72, 1 << 1);
    refused(&d, "corrupt.qcow2", &["corrupt"]);
    // --force reads it anyway.
    d.ddgz_ok(&[
        "convert",
        "corrupt.qcow2",
        "-o",
        "forced.gz",
        "--force",
        "--quiet",
        "--no-validate",
    ]);
    or_u64(&d, "unknown.qcow2", 72, 1 << 20);
    refused(&d, "unknown.qcow2", &["incompatible", "unknown", "feature"]);
    or_u64(&d, "l1.qcow2", 40, 1 << 40);
    refused(
        &d,
        "l1.qcow2",
        &["past the end", "beyond", "end of the file", "outside"],
    );
    d.sh("qemu-img create -q -f qcow2 --object secret,id=s0,data=abc -o encrypt.format=luks,encrypt.key-secret=s0 luks.qcow2 8M");
    refused(&d, "luks.qcow2", &["encrypt"]);
    d.sh("head -c 300000 good.qcow2 > truncated.qcow2");
    refused(
        &d,
        "truncated.qcow2",
        &[
            "truncat",
            "past the end",
            "beyond",
            "ended early",
            "end of the file",
        ],
    );
    let missing = d.ddgz(&["convert", "nope.qcow2"]);
    assert_eq!(missing.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nope.qcow2"));
}
