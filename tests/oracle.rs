//! The oracle shared by the image format modules (`vhd`, `vdi`, `vhdx`): ddgz's output,
//! decompressed, must equal `qemu-img convert -f FMT -O raw` of the same file, the input
//! must not change, and the allocated bytes ddgz reports must be those qemu maps as data.

use crate::util::*;

/// Converts `img` with ddgz and checks that the output decompresses to exactly
/// `qemu-img convert -f QEMU_FMT -O raw` (`gzip -t` accepts it too); that the input's
/// sha256 and mtime do not change. `extra` is given to `ddgz convert` (e.g. `--format`).
pub fn check_convert(d: &Dir, img: &str, qemu_fmt: &str, extra: &[&str]) {
    let want = qemu_raw_sha(d, img, qemu_fmt);
    check_convert_sha(d, img, &want, extra);
}

/// The sha256 of `qemu-img convert -f QEMU_FMT -O raw IMG`.
pub fn qemu_raw_sha(d: &Dir, img: &str, qemu_fmt: &str) -> String {
    d.sh(&format!(
        "qemu-img convert -f {qemu_fmt} -O raw {img} {img}.ref"
    ));
    let sha = sha256_file(&d.join(format!("{img}.ref")));
    std::fs::remove_file(d.join(format!("{img}.ref"))).unwrap();
    sha
}

/// Converts `img` with ddgz and checks that the output decompresses to bytes with sha256
/// `want`; the input must not change.
pub fn check_convert_sha(d: &Dir, img: &str, want: &str, extra: &[&str]) {
    let img_path = d.join(img);
    let before = (sha256_file(&img_path), mtime(&img_path));
    let out = format!("{img}.dd.gz");
    let _ = std::fs::remove_file(d.join(&out));
    let mut args = vec!["convert", img, "-o", &out, "--quiet", "--no-validate"];
    args.extend_from_slice(extra);
    d.ddgz_ok(&args);
    d.sh(&format!("gzip -t {out}"));
    let got = d.sh(&format!("gzip -dc {out} | sha256sum"));
    assert_eq!(
        got.split_whitespace().next().unwrap(),
        want,
        "{img}: ddgz's output differs from the oracle"
    );
    assert_eq!(
        (sha256_file(&img_path), mtime(&img_path)),
        before,
        "{img}: the input changed"
    );
    std::fs::remove_file(d.join(&out)).unwrap();
}

/// Bytes `qemu-img map` reports as data (`"data": true`) for `img`.
pub fn qemu_data_bytes(d: &Dir, img: &str, qemu_fmt: &str) -> u64 {
    let out = d.sh(&format!("qemu-img map -f {qemu_fmt} --output=json {img}"));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v.as_array()
        .unwrap()
        .iter()
        .filter(|m| m["data"].as_bool() == Some(true))
        .map(|m| m["length"].as_u64().unwrap())
        .sum()
}

/// `ddgz inspect --json IMG` (with `extra` arguments), parsed.
pub fn inspect_json(d: &Dir, img: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["inspect", "--json", img];
    args.extend_from_slice(extra);
    serde_json::from_str(&d.ddgz_ok(&args)).unwrap()
}

/// The virtual size `qemu-img info` reports.
pub fn qemu_virtual_size(d: &Dir, img: &str, qemu_fmt: &str) -> u64 {
    let out = d.sh(&format!("qemu-img info -f {qemu_fmt} --output=json {img}"));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    v["virtual-size"].as_u64().unwrap()
}

/// Writes `src.raw` of `size` bytes: sparse, with pattern data in three places (the
/// last one ending at the disk's end), for `qemu-img convert` to turn into each format.
pub fn pattern_source(d: &Dir, size: u64) {
    let p = d.join("src.raw");
    write_pattern(&p, size, 0, 300 << 10, 1);
    write_pattern(&p, size, 5 << 20, 700 << 10, 2);
    write_pattern(&p, size, size - (100 << 10), 100 << 10, 3);
}

/// A guest write: `(pattern byte, or None for a zero write, offset, length)`.
pub type Write = (Option<u8>, u64, u64);

/// Writes as a guest makes them on a disk of `size` bytes: unaligned patterns, a zero
/// write, writes across block boundaries, the last sector.
pub fn guest_writes(size: u64) -> Vec<Write> {
    vec![
        (Some(0xab), 1 << 20, 3 << 20),
        (Some(0x11), 20 << 20, 512),
        (Some(0x5c), 7340544, 8192),
        (None, 2 << 20, 64 << 10),
        (Some(0xee), size - 512, 512),
    ]
}

/// The `-c 'write …'` arguments of qemu-io for `w`.
pub fn qemu_io_args(w: &[Write]) -> String {
    w.iter()
        .map(|(p, o, l)| match p {
            Some(p) => format!(" -c 'write -P {p:#x} {o} {l}'"),
            None => format!(" -c 'write -z {o} {l}'"),
        })
        .collect()
}
