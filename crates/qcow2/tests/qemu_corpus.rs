//! Differential test against QEMU: a corpus of images made with `qemu-img` and `qemu-io`
//! covering every feature the reader claims, each read in full through
//! [`Qcow2::extents`] and [`Qcow2::read_at`] and compared byte for byte (sha256) with
//! `qemu-img convert -O raw`. Zero runs must really be zeros in QEMU's output. Images
//! the reader must refuse are checked for an error naming the file and the reason.
//!
//! Needs `qemu-img` and `qemu-io` (QEMU 10) on the PATH.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use ddgz_disk::ExtentKind;
use ddgz_qcow2::{ErrorKind, OpenOptions, Qcow2};
use sha2::{Digest, Sha256};

const MIB: usize = 1 << 20;
/// Source size: not a multiple of any cluster size above 512 B.
const SRC_SIZE: usize = 5 * MIB + 3584;

/// Runs a command in `dir`, panicking with its stderr on failure.
fn run(dir: &Path, prog: &str, args: &[&str]) {
    let out = Command::new(prog)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {prog}: {e}"));
    assert!(
        out.status.success(),
        "{prog} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Like [`run`] but tolerates failure (qemu-io `abort` exits with SIGABRT).
fn run_any(dir: &Path, prog: &str, args: &[&str]) {
    Command::new(prog)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {prog}: {e}"));
}

fn qemu_io(dir: &Path, img: &str, cmds: &[&str]) {
    let mut args = vec!["-f", "qcow2"];
    for c in cmds {
        args.push("-c");
        args.push(c);
    }
    args.push(img);
    run(dir, "qemu-io", &args);
}

/// A deterministic mix of random data, compressible text and zero holes.
fn make_source(path: &Path) {
    let mut v = vec![0u8; SRC_SIZE];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut random = |v: &mut [u8]| v.iter_mut().for_each(|b| *b = rnd() as u8);
    random(&mut v[..64 << 10]);
    let text = b"The quick brown fox jumps over the lazy dog. 0123456789\n";
    for (i, b) in v[192 << 10..MIB].iter_mut().enumerate() {
        *b = text[i % text.len()];
    }
    random(&mut v[MIB..MIB + 4097]);
    random(&mut v[2 * MIB + 512..3 * MIB]);
    for (i, b) in v[9 * MIB / 2..].iter_mut().enumerate() {
        *b = (i / 1000) as u8;
    }
    random(&mut v[SRC_SIZE - 1000..]);
    fs::write(path, v).unwrap();
}

fn sha(b: &[u8]) -> Vec<u8> {
    Sha256::digest(b).to_vec()
}

/// Reads `img` fully through the reader and compares with QEMU's raw conversion.
/// Returns an error description instead of panicking, so that one run lists every
/// failing image.
fn check(dir: &Path, img: &str, opts: &OpenOptions) -> Result<(), String> {
    let path = dir.join(img);
    let oracle = dir.join(format!("{img}.oracle.raw"));
    let out = Command::new("qemu-img")
        .args(["convert", "-U", "-O", "raw"])
        // QEMU 10 resolves a relative data file name against its working directory.
        .current_dir(dir)
        .arg(&path)
        .arg(&oracle)
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!(
            "oracle failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let want = fs::read(&oracle).map_err(|e| e.to_string())?;
    fs::remove_file(&oracle).ok();
    let q = Qcow2::open(&path, opts).map_err(|e| format!("open: {e}"))?;
    let size = q.virtual_size();
    if size != want.len() as u64 {
        return Err(format!("virtual size {size}, qemu gives {}", want.len()));
    }
    let maps = q.extents(0, size).map_err(|e| format!("mappings: {e}"))?;
    let mut got = vec![0u8; size as usize];
    let mut pos = 0u64;
    let mut prev: Option<ExtentKind> = None;
    for m in &maps {
        if m.offset != pos || m.len == 0 || prev == Some(m.kind) {
            return Err(format!(
                "mappings not contiguous/merged at {m:?} (pos {pos})"
            ));
        }
        prev = Some(m.kind);
        pos += m.len;
        let r = m.offset as usize..(m.offset + m.len) as usize;
        match m.kind {
            ExtentKind::Zero => {
                if let Some(i) = want[r.clone()].iter().position(|&b| b != 0) {
                    return Err(format!(
                        "Zero run {m:?} holds data in qemu's output at 0x{:x}",
                        r.start + i
                    ));
                }
            }
            ExtentKind::Data => {
                // Odd chunk size so reads straddle clusters and subclusters.
                for c in got[r.clone()].chunks_mut(MIB + 4097).enumerate() {
                    let off = m.offset + (c.0 * (MIB + 4097)) as u64;
                    q.read_at(off, c.1)
                        .map_err(|e| format!("read_at 0x{off:x}: {e}"))?;
                }
            }
        }
    }
    if pos != size {
        return Err(format!("mappings end at {pos}, size {size}"));
    }
    if sha(&got) != sha(&want) {
        let i = got.iter().zip(&want).position(|(a, b)| a != b).unwrap_or(0);
        return Err(format!(
            "content differs from qemu-img convert (first at 0x{i:x}: got {:02x}, want {:02x})",
            got[i], want[i]
        ));
    }
    // Unaligned reads straight through read_at, across run boundaries.
    for (off, len) in [
        (1u64, 700usize),
        (65535, 3),
        (MIB as u64 - 100, 5000),
        (size.saturating_sub(17), 17),
    ] {
        if off + len as u64 > size {
            continue;
        }
        let mut b = vec![0xeeu8; len];
        q.read_at(off, &mut b)
            .map_err(|e| format!("read_at 0x{off:x}: {e}"))?;
        if b[..] != want[off as usize..off as usize + len] {
            return Err(format!("unaligned read at 0x{off:x}+{len} differs"));
        }
    }
    Ok(())
}

struct Corpus {
    _tmp: tempfile::TempDir,
    dir: PathBuf,
}

impl Corpus {
    fn new() -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().to_path_buf();
        make_source(&dir.join("src.raw"));
        Self { _tmp: tmp, dir }
    }
    fn convert(&self, out: &str, opts: &[&str]) {
        let mut a = vec!["convert", "-f", "raw", "-O", "qcow2"];
        a.extend_from_slice(opts);
        a.extend(["src.raw", out]);
        run(&self.dir, "qemu-img", &a);
    }
    fn create(&self, out: &str, opts: &[&str], size: &str) {
        let mut a = vec!["create", "-q", "-f", "qcow2"];
        a.extend_from_slice(opts);
        a.extend([out, size]);
        run(&self.dir, "qemu-img", &a);
    }
}

/// Guest writes that exercise zero flags (with and without host offset), discards and
/// partial clusters.
const EDITS: &[&str] = &[
    "write -P 0xab 1M 64k",
    "write -P 0xcd 1536k 1k",
    "write -z 4M 128k",
    "write -z -u 0 64k",
    "discard 2M 64k",
    "write -P 0x5a 3000k 7k",
    "write -z 2560k 64k",
];

/// Builds the corpus and returns the images that must read like QEMU, with options.
fn build(c: &Corpus) -> Vec<(String, OpenOptions)> {
    let d = &c.dir;
    let def = OpenOptions::default;
    let mut imgs: Vec<String> = Vec::new();
    let mut add = |n: &str| imgs.push(n.to_string());

    for cs in ["512", "4k", "64k", "2M"] {
        let n = format!("plain-{cs}.qcow2");
        c.convert(&n, &["-o", &format!("cluster_size={cs}")]);
        add(&n);
        let n = format!("zlib-{cs}.qcow2");
        c.convert(&n, &["-c", "-o", &format!("cluster_size={cs}")]);
        add(&n);
        let n = format!("zstd-{cs}.qcow2");
        c.convert(
            &n,
            &[
                "-c",
                "-o",
                &format!("cluster_size={cs},compression_type=zstd"),
            ],
        );
        add(&n);
    }
    c.convert("v2.qcow2", &["-o", "compat=0.10"]);
    add("v2.qcow2");
    c.convert(
        "v2-zlib.qcow2",
        &["-c", "-o", "compat=0.10,cluster_size=4k"],
    );
    add("v2-zlib.qcow2");
    for rb in ["1", "2", "4", "8", "32", "64"] {
        let n = format!("refcount{rb}.qcow2");
        c.convert(&n, &["-o", &format!("refcount_bits={rb}")]);
        add(&n);
    }
    // Zero flags, discards, partial writes on top of converted data.
    for (n, o) in [
        ("edit-v3.qcow2", "cluster_size=64k"),
        ("edit-v2.qcow2", "compat=0.10"),
    ] {
        c.convert(n, &["-o", o]);
        qemu_io(d, n, EDITS);
        add(n);
    }
    c.convert("edit-zstd.qcow2", &["-c", "-o", "compression_type=zstd"]);
    qemu_io(d, "edit-zstd.qcow2", EDITS);
    add("edit-zstd.qcow2");
    // Extended L2: subcluster allocation and zero bits.
    for cs in ["16k", "64k", "2M"] {
        let n = format!("extl2-{cs}.qcow2");
        c.create(
            &n,
            &["-o", &format!("extended_l2=on,cluster_size={cs}")],
            "5243392",
        );
        qemu_io(
            d,
            &n,
            &[
                "write -P 0x11 0 512",
                "write -P 0x22 70k 3k",
                "write -z 128k 4k",
                "write -P 0x33 1M 300k",
                "write -z 1100k 8k",
                "discard 1200k 64k",
                "write -P 0x44 5119k 1k",
            ],
        );
        add(&n);
        let n = format!("extl2-conv-{cs}.qcow2");
        c.convert(&n, &["-o", &format!("extended_l2=on,cluster_size={cs}")]);
        qemu_io(
            d,
            &n,
            &["write -z 4k 2k", "write -P 0x55 100k 1k", "discard 2M 128k"],
        );
        add(&n);
    }
    c.convert("extl2-zlib.qcow2", &["-c", "-o", "extended_l2=on"]);
    add("extl2-zlib.qcow2");

    // Backing chains, relative names.
    c.convert("base.qcow2", &[]);
    add("base.qcow2");
    c.create("ov.qcow2", &["-b", "base.qcow2", "-F", "qcow2"], "5243392");
    qemu_io(d, "ov.qcow2", EDITS);
    add("ov.qcow2");
    // Overlay longer than its backing file: reads past the backing end are zeros.
    c.create("ov-long.qcow2", &["-b", "base.qcow2", "-F", "qcow2"], "9M");
    qemu_io(
        d,
        "ov-long.qcow2",
        &["write -P 0x77 8M 4k", "write -P 0x78 5M 64k"],
    );
    add("ov-long.qcow2");
    // Overlay shorter than its backing file.
    c.create(
        "ov-short.qcow2",
        &["-b", "base.qcow2", "-F", "qcow2"],
        "3000k",
    );
    qemu_io(d, "ov-short.qcow2", &["write -P 0x79 1M 4k"]);
    add("ov-short.qcow2");
    // Raw backing file.
    c.create("ov-raw.qcow2", &["-b", "src.raw", "-F", "raw"], "6M");
    qemu_io(
        d,
        "ov-raw.qcow2",
        &["write -P 0x7a 64k 64k", "write -z 1M 64k"],
    );
    add("ov-raw.qcow2");
    // Raw backing file of a size that is not a multiple of 512.
    fs::write(d.join("odd.raw"), vec![0x6bu8; 1_000_003]).unwrap();
    c.create(
        "ov-odd.qcow2",
        &["-b", "odd.raw", "-F", "raw", "-o", "cluster_size=4k"],
        "2M",
    );
    qemu_io(d, "ov-odd.qcow2", &["write -P 0x7c 996k 2k"]);
    add("ov-odd.qcow2");
    // Backing with another cluster size, extended L2 overlay on a compressed base.
    c.convert(
        "base-zstd-4k.qcow2",
        &["-c", "-o", "cluster_size=4k,compression_type=zstd"],
    );
    c.create(
        "ov-extl2.qcow2",
        &[
            "-b",
            "base-zstd-4k.qcow2",
            "-F",
            "qcow2",
            "-o",
            "extended_l2=on",
        ],
        "5243392",
    );
    qemu_io(
        d,
        "ov-extl2.qcow2",
        &["write -P 0x7b 3k 5k", "write -z 200k 2k"],
    );
    add("ov-extl2.qcow2");
    // A chain of four: base <- mid <- top <- top2, in a subdirectory for the names.
    fs::create_dir(d.join("sub")).unwrap();
    c.create(
        "sub/mid.qcow2",
        &["-b", "../base.qcow2", "-F", "qcow2"],
        "5243392",
    );
    qemu_io(
        d,
        "sub/mid.qcow2",
        &["write -P 0x81 0 100k", "write -z 3M 1M"],
    );
    c.create("top.qcow2", &["-b", "sub/mid.qcow2", "-F", "qcow2"], "6M");
    qemu_io(
        d,
        "top.qcow2",
        &["write -P 0x82 50k 100k", "discard 4M 64k"],
    );
    c.create(
        "top2.qcow2",
        &["-b", "top.qcow2", "-F", "qcow2", "-o", "cluster_size=4k"],
        "6M",
    );
    qemu_io(d, "top2.qcow2", &["write -P 0x83 10k 1k"]);
    add("top2.qcow2");

    // External data files, relative names, with and without data_file_raw.
    c.convert("df.qcow2", &["-o", "data_file=df.data"]);
    qemu_io(
        d,
        "df.qcow2",
        &["write -P 0x91 1M 64k", "write -z 2M 64k", "discard 3M 64k"],
    );
    add("df.qcow2");
    c.convert(
        "dfraw.qcow2",
        &["-o", "data_file=dfraw.data,data_file_raw=on"],
    );
    qemu_io(
        d,
        "dfraw.qcow2",
        &["write -P 0x92 1M 64k", "write -z 2M 64k"],
    );
    add("dfraw.qcow2");
    c.create(
        "dfe.qcow2",
        &["-o", "data_file=dfe.data,extended_l2=on"],
        "5243392",
    );
    qemu_io(d, "dfe.qcow2", &["write -P 0x93 4k 4k", "write -z 64k 2k"]);
    add("dfe.qcow2");

    // Internal snapshots: the active state is read.
    c.convert("snap.qcow2", &[]);
    run(d, "qemu-img", &["snapshot", "-c", "s1", "snap.qcow2"]);
    qemu_io(d, "snap.qcow2", EDITS);
    run(d, "qemu-img", &["snapshot", "-c", "s2", "snap.qcow2"]);
    qemu_io(d, "snap.qcow2", &["write -P 0x99 0 4k"]);
    add("snap.qcow2");
    // Bitmaps.
    c.convert("bitmap.qcow2", &[]);
    run(d, "qemu-img", &["bitmap", "--add", "bitmap.qcow2", "b0"]);
    run(
        d,
        "qemu-img",
        &["bitmap", "--add", "-g", "512k", "bitmap.qcow2", "b1"],
    );
    add("bitmap.qcow2");
    // Preallocation.
    for p in ["metadata", "falloc", "full"] {
        let n = format!("prealloc-{p}.qcow2");
        c.convert(&n, &["-o", &format!("preallocation={p}")]);
        qemu_io(d, &n, &["write -z 1M 64k", "write -P 0xa1 4M 4k"]);
        add(&n);
        let n = format!("prealloc-create-{p}.qcow2");
        c.create(&n, &["-o", &format!("preallocation={p}")], "3M");
        add(&n);
    }
    // Dirty bit: lazy refcounts and an aborted writer.
    c.convert("dirty.qcow2", &["-o", "lazy_refcounts=on"]);
    run_any(
        d,
        "qemu-io",
        &[
            "-f",
            "qcow2",
            "-c",
            "write -P 0x11 3584k 64k",
            "-c",
            "abort",
            "dirty.qcow2",
        ],
    );
    let h = fs::read(d.join("dirty.qcow2")).unwrap();
    assert_eq!(h[79] & 1, 1, "the dirty bit should be set");
    let q = Qcow2::open(&d.join("dirty.qcow2"), &OpenOptions::default()).unwrap();
    assert!(q.info().dirty && q.info().lazy_refcounts);
    add("dirty.qcow2");
    // Empty and tiny images.
    c.create("empty.qcow2", &[], "0");
    add("empty.qcow2");
    c.create("tiny.qcow2", &["-o", "cluster_size=512"], "1000");
    qemu_io(d, "tiny.qcow2", &["write -P 0x12 512 488"]);
    add("tiny.qcow2");

    let mut v: Vec<(String, OpenOptions)> = imgs.into_iter().map(|n| (n, def())).collect();
    // Corrupt bit: read when forced.
    c.convert("corrupt.qcow2", &[]);
    set_bit(&d.join("corrupt.qcow2"), 72, 1);
    v.push((
        "corrupt.qcow2".into(),
        OpenOptions {
            force_corrupt: true,
            ..def()
        },
    ));
    v
}

/// Sets bit `bit` of the big-endian u64 at `at`.
fn set_bit(path: &Path, at: usize, bit: u32) {
    let mut b = fs::read(path).unwrap();
    let mut w = u64::from_be_bytes(b[at..at + 8].try_into().unwrap());
    w |= 1 << bit;
    b[at..at + 8].copy_from_slice(&w.to_be_bytes());
    fs::write(path, b).unwrap();
}

#[test]
fn corpus_matches_qemu() {
    let t = Instant::now();
    let c = Corpus::new();
    let imgs = build(&c);
    let built = t.elapsed();
    let mut failures = Vec::new();
    for (n, o) in &imgs {
        if let Err(e) = check(&c.dir, n, o) {
            failures.push(format!("{n}: {e}"));
        }
    }
    eprintln!(
        "{} images: built in {built:?}, checked in {:?}",
        imgs.len(),
        t.elapsed() - built
    );
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// Opens `img` expecting an error of `kind` whose message names the file and contains
/// every string of `want`.
fn refused(dir: &Path, img: &str, opts: &OpenOptions, kind: ErrorKind, want: &[&str]) {
    refused_naming(dir, img, img, opts, kind, want)
}

/// Like [`refused`], for an error about another file of the chain, `named`.
fn refused_naming(
    dir: &Path,
    img: &str,
    named: &str,
    opts: &OpenOptions,
    kind: ErrorKind,
    want: &[&str],
) {
    let path = dir.join(img);
    let e = match Qcow2::open(&path, opts) {
        Ok(_) => panic!("{img}: opened, expected {kind:?}"),
        Err(e) => e,
    };
    let m = e.to_string();
    assert_eq!(e.kind, kind, "{img}: {m}");
    assert!(
        m.starts_with(&format!("{}: ", dir.join(named).display())),
        "{img}: message does not start with the file {named}: {m}"
    );
    for w in want {
        assert!(m.contains(w), "{img}: {m:?} lacks {w:?}");
    }
}

#[test]
fn refusals_name_file_and_reason() {
    let c = Corpus::new();
    let d = &c.dir;
    let def = OpenOptions::default();

    run(
        d,
        "qemu-img",
        &[
            "create",
            "-q",
            "-f",
            "qcow2",
            "--object",
            "secret,id=s0,data=abc",
            "-o",
            "encrypt.format=luks,encrypt.key-secret=s0",
            "luks.qcow2",
            "8M",
        ],
    );
    refused(
        d,
        "luks.qcow2",
        &def,
        ErrorKind::Encrypted,
        &["encrypted (LUKS", "ciphertext"],
    );

    c.convert("corrupt.qcow2", &[]);
    set_bit(&d.join("corrupt.qcow2"), 72, 1);
    refused(
        d,
        "corrupt.qcow2",
        &def,
        ErrorKind::CorruptBit,
        &["corrupt bit is set"],
    );

    // Unknown incompatible bit, unnamed and named through the feature name table.
    c.convert("unknown.qcow2", &[]);
    set_bit(&d.join("unknown.qcow2"), 72, 9);
    refused(
        d,
        "unknown.qcow2",
        &def,
        ErrorKind::Unsupported,
        &["bit 9 (unnamed)"],
    );
    c.convert("named.qcow2", &[]);
    {
        // Renumber the table's entry for incompatible bit 4 to bit 5, and set bit 5.
        let p = d.join("named.qcow2");
        let mut b = fs::read(&p).unwrap();
        let i = (0..4096 - 48)
            .find(|&i| b[i] == 0 && b[i + 1] == 4 && b[i + 2..].starts_with(b"extended"))
            .expect("feature name table entry for bit 4");
        b[i + 1] = 5;
        fs::write(&p, b).unwrap();
        set_bit(&p, 72, 5);
    }
    refused(
        d,
        "named.qcow2",
        &def,
        ErrorKind::Unsupported,
        &["bit 5 (\"extended"],
    );

    // Backing names that are not files.
    for (n, name) in [
        ("json.qcow2", "json:{\"file\":{\"driver\":\"file\"}}"),
        ("nbd.qcow2", "nbd:localhost:10809"),
        ("http.qcow2", "http://example.invalid/b.qcow2"),
    ] {
        c.create(n, &[], "1M");
        run(
            d,
            "qemu-img",
            &["rebase", "-u", "-b", name, "-F", "qcow2", n],
        );
        refused(
            d,
            n,
            &def,
            ErrorKind::Unsupported,
            &["not a plain file path", "protocol prefix"],
        );
    }
    // Missing backing file.
    c.create("missing.qcow2", &[], "1M");
    run(
        d,
        "qemu-img",
        &[
            "rebase",
            "-u",
            "-b",
            "nowhere.qcow2",
            "-F",
            "qcow2",
            "missing.qcow2",
        ],
    );
    refused_naming(
        d,
        "missing.qcow2",
        "nowhere.qcow2",
        &def,
        ErrorKind::Io,
        &["cannot open", "the backing file of", "missing.qcow2"],
    );
    // A loop: a <- b <- a.
    c.create("a.qcow2", &[], "1M");
    c.create("b.qcow2", &["-b", "a.qcow2", "-F", "qcow2"], "1M");
    run(
        d,
        "qemu-img",
        &["rebase", "-u", "-b", "b.qcow2", "-F", "qcow2", "a.qcow2"],
    );
    refused(d, "a.qcow2", &def, ErrorKind::BackingChain, &["loops"]);
    // Depth limit.
    c.create("c0.qcow2", &[], "1M");
    c.create("c1.qcow2", &["-b", "c0.qcow2", "-F", "qcow2"], "1M");
    c.create("c2.qcow2", &["-b", "c1.qcow2", "-F", "qcow2"], "1M");
    let shallow = OpenOptions {
        max_chain_depth: 1,
        ..OpenOptions::default()
    };
    assert!(Qcow2::open(&d.join("c1.qcow2"), &shallow).is_ok());
    refused_naming(
        d,
        "c2.qcow2",
        "c1.qcow2",
        &shallow,
        ErrorKind::BackingChain,
        &["longer than the limit of 1"],
    );
    // Backing format not recorded: hide the extension by changing its type.
    c.create("nofmt.qcow2", &["-b", "c0.qcow2", "-F", "qcow2"], "1M");
    {
        let p = d.join("nofmt.qcow2");
        let mut b = fs::read(&p).unwrap();
        let i = (104..4096)
            .step_by(8)
            .find(|&i| b[i..i + 4] == [0xe2, 0x79, 0x2a, 0xca])
            .unwrap();
        b[i..i + 4].copy_from_slice(&0x1234_5678u32.to_be_bytes());
        fs::write(&p, b).unwrap();
    }
    refused(
        d,
        "nofmt.qcow2",
        &def,
        ErrorKind::Unsupported,
        &["no recorded format", "never guessed"],
    );
    // Unsupported backing format.
    c.create("vmdk.qcow2", &[], "1M");
    run(
        d,
        "qemu-img",
        &["rebase", "-u", "-b", "c0.qcow2", "-F", "vmdk", "vmdk.qcow2"],
    );
    refused(
        d,
        "vmdk.qcow2",
        &def,
        ErrorKind::Unsupported,
        &["format \"vmdk\""],
    );
    // Missing data file.
    c.convert("df.qcow2", &["-o", "data_file=df.data"]);
    fs::remove_file(d.join("df.data")).unwrap();
    refused_naming(
        d,
        "df.qcow2",
        "df.data",
        &def,
        ErrorKind::Io,
        &["external data file of", "df.qcow2"],
    );
    // A FIFO as backing file: refused without blocking on open.
    run(d, "mkfifo", &["fifo"]);
    c.create("fifo.qcow2", &[], "1M");
    run(
        d,
        "qemu-img",
        &["rebase", "-u", "-b", "fifo", "-F", "raw", "fifo.qcow2"],
    );
    refused_naming(
        d,
        "fifo.qcow2",
        "fifo",
        &def,
        ErrorKind::Io,
        &["is a FIFO", "the backing file of"],
    );
    // Not qcow2 at all.
    refused(
        d,
        "src.raw",
        &def,
        ErrorKind::InvalidFormat,
        &["not a qcow2 image"],
    );
}

#[test]
fn truncated_images_give_clear_errors() {
    let c = Corpus::new();
    let d = &c.dir;
    c.convert("t.qcow2", &[]);
    let p = d.join("t.qcow2");
    let q = Qcow2::open(&p, &OpenOptions::default()).unwrap();
    // Truncate after opening: reads report the short file instead of crashing.
    let len = fs::metadata(&p).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let mut buf = vec![0u8; SRC_SIZE];
    let e = q.read_at(0, &mut buf).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Truncated, "{e}");
    assert!(e.to_string().contains("the file ended early"), "{e}");
    // Opening the truncated file finds data clusters past its end.
    let q = Qcow2::open(&p, &OpenOptions::default()).unwrap();
    let e = q.extents(0, q.virtual_size()).unwrap_err();
    assert!(
        e.to_string().contains("lies past the end of the file"),
        "{e}"
    );
    // Truncated inside the metadata.
    fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(70000)
        .unwrap();
    let e = Qcow2::open(&p, &OpenOptions::default()).unwrap_err();
    assert!(e.to_string().contains("past the end of the file"), "{e}");
    fs::OpenOptions::new()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(50)
        .unwrap();
    let e = Qcow2::open(&p, &OpenOptions::default()).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Truncated, "{e}");
}

#[test]
fn concurrent_reads_agree() {
    let c = Corpus::new();
    c.convert(
        "z.qcow2",
        &["-c", "-o", "compression_type=zstd,cluster_size=2M"],
    );
    let q = Qcow2::open(&c.dir.join("z.qcow2"), &OpenOptions::default()).unwrap();
    let want = fs::read(c.dir.join("src.raw")).unwrap();
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let (q, want) = (&q, &want);
            s.spawn(move || {
                let mut b = vec![0u8; 300_000];
                let mut off = t * 77_777;
                while off + b.len() as u64 <= q.virtual_size() {
                    q.read_at(off, &mut b).unwrap();
                    assert!(
                        b[..] == want[off as usize..off as usize + b.len()],
                        "at {off}"
                    );
                    off += 1_234_567;
                }
            });
        }
    });
}

#[test]
fn mappings_of_a_32g_image_are_fast() {
    let c = Corpus::new();
    // Metadata preallocation: every one of the 524288 clusters has an L2 entry.
    c.create("big.qcow2", &["-o", "preallocation=metadata"], "32G");
    c.create("big-ov.qcow2", &["-b", "big.qcow2", "-F", "qcow2"], "32G");
    qemu_io(
        &c.dir,
        "big-ov.qcow2",
        &["write -P 1 0 64k", "write -z 16G 64k"],
    );
    for img in ["big.qcow2", "big-ov.qcow2"] {
        let q = Qcow2::open(&c.dir.join(img), &OpenOptions::default()).unwrap();
        let t = Instant::now();
        let m = q.extents(0, q.virtual_size()).unwrap();
        let el = t.elapsed();
        eprintln!("{img}: mappings over 32 GiB: {} runs in {el:?}", m.len());
        assert!(el.as_secs_f64() < 2.0, "{img}: {el:?}");
    }
}

/// Hostile inputs: real images with random bytes of their metadata (header, extensions,
/// L1 table, first L2 table) overwritten, and truncated copies, go through the fuzzing
/// entry point, which opens, maps and reads them. Nothing may panic.
#[test]
fn mutated_images_never_panic() {
    let c = Corpus::new();
    let d = &c.dir;
    c.convert("m-zlib.qcow2", &["-c", "-o", "cluster_size=4k"]);
    c.convert(
        "m-zstd.qcow2",
        &["-c", "-o", "compression_type=zstd,cluster_size=512"],
    );
    c.convert("m-v2.qcow2", &["-o", "compat=0.10,cluster_size=1k"]);
    c.create(
        "m-ext.qcow2",
        &["-o", "extended_l2=on,cluster_size=16k"],
        "5M",
    );
    qemu_io(
        d,
        "m-ext.qcow2",
        &["write -P 1 0 3k", "write -z 8k 4k", "write -P 2 1M 64k"],
    );
    c.convert("m-edit.qcow2", &["-o", "cluster_size=2k"]);
    qemu_io(d, "m-edit.qcow2", EDITS);
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    // QCOW2_MUTATIONS=N runs N rounds per image instead of 150 (for longer hunts).
    let rounds: usize = std::env::var("QCOW2_MUTATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(150);
    let t = Instant::now();
    let mut opened = 0;
    for img in [
        "m-zlib.qcow2",
        "m-zstd.qcow2",
        "m-v2.qcow2",
        "m-ext.qcow2",
        "m-edit.qcow2",
    ] {
        let orig = fs::read(d.join(img)).unwrap();
        let be64 = |b: &[u8], at: usize| {
            b.get(at..at + 8)
                .map_or(0, |s| u64::from_be_bytes(s.try_into().unwrap()))
        };
        let l1 = be64(&orig, 40) as usize;
        let l2 = (be64(&orig, l1) & 0x00ff_ffff_ffff_fe00) as usize;
        let regions = [(0usize, 512usize), (l1, 64), (l2, 512)];
        for i in 0..rounds {
            let mut m = orig.clone();
            for _ in 0..1 + rnd() % 4 {
                let (start, len) = regions[(rnd() % 3) as usize];
                let at = start + (rnd() as usize % len);
                if at < m.len() {
                    m[at] = match rnd() % 4 {
                        0 => 0xff,
                        1 => 0,
                        2 => m[at] ^ (1 << (rnd() % 8)),
                        _ => rnd() as u8,
                    };
                }
            }
            if i % 10 == 9 {
                m.truncate(rnd() as usize % orig.len());
            }
            if Qcow2::from_bytes(Path::new(img), m.clone(), &OpenOptions::default()).is_ok() {
                opened += 1;
            }
            ddgz_qcow2::fuzz_image(&m);
        }
    }
    eprintln!(
        "{} mutated images ({opened} opened) in {:?}",
        5 * rounds,
        t.elapsed()
    );
}

#[test]
fn info_describes_the_container() {
    let c = Corpus::new();
    let d = &c.dir;
    c.convert(
        "base.qcow2",
        &["-c", "-o", "compression_type=zstd,refcount_bits=1"],
    );
    c.create(
        "mid.qcow2",
        &["-b", "base.qcow2", "-F", "qcow2", "-o", "compat=0.10"],
        "6M",
    );
    c.create(
        "top.qcow2",
        &["-b", "mid.qcow2", "-F", "qcow2", "-o", "extended_l2=on"],
        "6M",
    );
    run(d, "qemu-img", &["snapshot", "-c", "s1", "top.qcow2"]);
    run(d, "qemu-img", &["bitmap", "--add", "top.qcow2", "b0"]);
    let i = Qcow2::open(&d.join("top.qcow2"), &OpenOptions::default())
        .unwrap()
        .info();
    assert_eq!(
        (i.version, i.cluster_size, i.virtual_size),
        (3, 65536, 6 << 20)
    );
    assert!(i.extended_l2 && i.has_bitmaps && !i.dirty && !i.corrupt);
    assert_eq!((i.nb_snapshots, i.refcount_bits), (1, 16));
    let chain: Vec<_> = i
        .backing_chain
        .iter()
        .map(|b| (b.path.clone(), b.format))
        .collect();
    assert_eq!(
        chain,
        [
            (d.join("mid.qcow2"), "qcow2"),
            (d.join("base.qcow2"), "qcow2")
        ]
    );
    let b = Qcow2::open(&d.join("base.qcow2"), &OpenOptions::default())
        .unwrap()
        .info();
    assert_eq!(
        (b.compression, b.refcount_bits),
        (ddgz_qcow2::Compression::Zstd, 1)
    );
    assert_eq!(i.backing_chain[1].virtual_size, SRC_SIZE as u64);
    c.convert("df.qcow2", &["-o", "data_file=df.data,data_file_raw=on"]);
    let i = Qcow2::open(&d.join("df.qcow2"), &OpenOptions::default())
        .unwrap()
        .info();
    assert_eq!(
        i.data_file,
        Some(ddgz_qcow2::DataFileInfo {
            path: d.join("df.data"),
            raw: true
        })
    );
    let v2 = Qcow2::open(&d.join("mid.qcow2"), &OpenOptions::default())
        .unwrap()
        .info();
    assert_eq!(v2.version, 2);
}
