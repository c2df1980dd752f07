//! VHD input (`--format vhd`, alias `vpc`): every variant qemu-img writes, converted by
//! qemu-img from a pattern disk and written by a guest through qemu-io, must convert to
//! exactly `qemu-img convert -f vpc -O raw`. Differencing disks, which qemu can neither
//! make nor follow, are made from qemu's dynamic disks with the fields the specification
//! gives them; their oracle is qemu-io applying the same writes to the parent's raw copy.

use crate::oracle::*;
use crate::util::*;

/// Not a whole number of CHS cylinders: qemu rounds the VHD up (CHS rule) or keeps it
/// (`force_size`, the `qem2` creator).
const SIZE: u64 = (30 << 20) + 1536;

fn variant(opts: &str) {
    let d = Dir::new();
    pattern_source(&d, SIZE);
    d.sh(&format!(
        "qemu-img convert -f raw -O vpc {opts} src.raw img.vhd"
    ));
    check_convert(&d, "img.vhd", "vpc", &[]);
    let j = inspect_json(&d, "img.vhd", &[]);
    assert_eq!(j["image"]["format"], "vhd");
    assert_eq!(
        j["image"]["virtual_size"].as_u64().unwrap(),
        qemu_virtual_size(&d, "img.vhd", "vpc")
    );
    if !opts.contains("fixed") {
        assert_eq!(
            j["image"]["allocated_bytes"].as_u64().unwrap(),
            qemu_data_bytes(&d, "img.vhd", "vpc"),
            "allocated bytes differ from qemu-img map"
        );
    }
}

#[test]
fn vhd_dynamic() {
    variant("-o subformat=dynamic");
}
#[test]
fn vhd_fixed() {
    variant("-o subformat=fixed");
}
#[test]
fn vhd_dynamic_force_size() {
    variant("-o subformat=dynamic,force_size=on");
}
#[test]
fn vhd_fixed_force_size() {
    variant("-o subformat=fixed,force_size=on");
}

fn writes_a() -> Vec<Write> {
    guest_writes(SIZE)
}

fn writes_b() -> Vec<Write> {
    vec![
        (Some(0x77), (1 << 20) + 4096, 4096),
        (Some(0x78), 9 << 20, 1536),
        (None, 5 << 20, 2048),
    ]
}

#[test]
fn vhd_written_by_the_guest() {
    for sub in ["dynamic", "fixed"] {
        let d = Dir::new();
        d.sh(&format!(
            "qemu-img create -q -f vpc -o subformat={sub} img.vhd {SIZE}"
        ));
        let size = qemu_virtual_size(&d, "img.vhd", "vpc");
        let w = guest_writes(size);
        d.sh(&format!(
            "qemu-io -f vpc{} img.vhd >/dev/null",
            qemu_io_args(&w)
        ));
        check_convert(&d, "img.vhd", "vpc", &[]);
    }
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
}
fn be64(b: &[u8], at: usize) -> u64 {
    u64::from_be_bytes(b[at..at + 8].try_into().unwrap())
}

/// Recomputes the checksum (one's complement of the byte sum) of the `len`-byte
/// structure at `at` whose checksum field is at `at + field`.
fn fix_checksum(b: &mut [u8], at: usize, len: usize, field: usize) {
    b[at + field..at + field + 4].fill(0);
    let sum = b[at..at + len]
        .iter()
        .fold(0u32, |s, &x| s.wrapping_add(u32::from(x)));
    b[at + field..at + field + 4].copy_from_slice(&(!sum).to_be_bytes());
}

/// Sets a footer field in both copies (offset 0 and the end) and fixes their checksums.
fn set_footer(b: &mut [u8], field: usize, value: &[u8]) {
    let n = b.len();
    for at in [0, n - 512] {
        b[at + field..at + field + value.len()].copy_from_slice(value);
        fix_checksum(b, at, 512, 64);
    }
}

/// How a differencing disk names its parent.
enum Locator<'a> {
    /// A relative Windows path.
    W2ru(&'a str),
    /// An absolute Windows path (only its file name can be used here).
    W2ku(&'a str),
    /// A file URL.
    MacX(String),
}

/// Turns the dynamic VHD `child` (written through qemu-io with `writes`) into a
/// differencing disk over `parent`: disk type 4, the parent's unique id, a locator, and
/// sector bitmaps holding exactly the written sectors (qemu sets every bit of a block
/// it allocates).
fn make_differencing(d: &Dir, child: &str, parent: &str, loc: Locator, writes: &[Write]) {
    let p = std::fs::read(d.join(parent)).unwrap();
    let uuid = p[p.len() - 512 + 68..p.len() - 512 + 84].to_vec();
    make_differencing_uuid(d, child, parent, &uuid, loc, writes)
}

/// [`make_differencing`] with the parent's unique id given (the parent need not exist).
fn make_differencing_uuid(
    d: &Dir,
    child: &str,
    parent: &str,
    uuid: &[u8],
    loc: Locator,
    writes: &[Write],
) {
    let mut b = std::fs::read(d.join(child)).unwrap();
    let n = b.len();
    set_footer(&mut b, 60, &4u32.to_be_bytes());
    let footer = b[n - 512..].to_vec();
    let h = be64(&b, 16) as usize;
    b[h + 40..h + 56].copy_from_slice(uuid);
    let name: Vec<u8> = parent
        .encode_utf16()
        .flat_map(|u| u.to_be_bytes())
        .collect();
    b[h + 64..h + 64 + name.len()].copy_from_slice(&name);
    let (code, data): (&[u8; 4], Vec<u8>) = match loc {
        Locator::W2ru(s) => (
            b"W2ru",
            s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect(),
        ),
        Locator::W2ku(s) => (
            b"W2ku",
            s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect(),
        ),
        Locator::MacX(s) => (b"MacX", s.into_bytes()),
    };
    // The locator's data goes where the end footer was; the footer follows it.
    let loc_at = n - 512;
    b[h + 576..h + 580].copy_from_slice(code);
    b[h + 580..h + 584].copy_from_slice(&1u32.to_be_bytes());
    b[h + 584..h + 588].copy_from_slice(&(data.len() as u32).to_be_bytes());
    b[h + 592..h + 600].copy_from_slice(&(loc_at as u64).to_be_bytes());
    fix_checksum(&mut b, h, 1024, 36);
    b.truncate(loc_at);
    b.extend_from_slice(&data);
    b.resize(loc_at + 512, 0);
    b.extend_from_slice(&footer);
    // Sector bitmaps: only the written sectors.
    let bat = be64(&b, h + 16) as usize;
    let entries = be32(&b, h + 28) as usize;
    let block = u64::from(be32(&b, h + 32));
    let bitmap = ((block / 512 / 8) as usize).next_multiple_of(512);
    for i in 0..entries {
        let e = be32(&b, bat + 4 * i);
        if e == u32::MAX {
            continue;
        }
        let at = e as usize * 512;
        b[at..at + bitmap].fill(0);
        for s in 0..block / 512 {
            let g = i as u64 * block + s * 512;
            if writes.iter().any(|&(_, o, l)| g < o + l && o < g + 512) {
                b[at + (s / 8) as usize] |= 0x80 >> (s % 8);
            }
        }
    }
    std::fs::write(d.join(child), b).unwrap();
}

/// A chain base ← mid ← top of VHDs, the parents named by each kind of locator; the
/// oracle is qemu-io applying mid's and top's writes to base's raw copy.
#[test]
fn vhd_differencing_chains() {
    let d = Dir::new();
    pattern_source(&d, SIZE);
    d.sh("qemu-img convert -f raw -O vpc src.raw base.vhd");
    let size = qemu_virtual_size(&d, "base.vhd", "vpc");
    for name in ["mid.vhd", "top.vhd"] {
        d.sh(&format!("qemu-img create -q -f vpc {name} {size}"));
        assert_eq!(qemu_virtual_size(&d, name, "vpc"), size);
    }
    d.sh(&format!(
        "qemu-io -f vpc{} mid.vhd >/dev/null",
        qemu_io_args(&writes_a())
    ));
    d.sh(&format!(
        "qemu-io -f vpc{} top.vhd >/dev/null",
        qemu_io_args(&writes_b())
    ));
    make_differencing(
        &d,
        "mid.vhd",
        "base.vhd",
        Locator::W2ru(".\\base.vhd"),
        &writes_a(),
    );
    std::fs::copy(d.join("top.vhd"), d.join("top-w2ku.vhd")).unwrap();
    std::fs::copy(d.join("top.vhd"), d.join("top-macx.vhd")).unwrap();
    make_differencing(
        &d,
        "top.vhd",
        "mid.vhd",
        Locator::W2ru("mid.vhd"),
        &writes_b(),
    );
    make_differencing(
        &d,
        "top-w2ku.vhd",
        "mid.vhd",
        Locator::W2ku("C:\\Hyper-V\\disks\\mid.vhd"),
        &writes_b(),
    );
    let abs = d.join("mid.vhd").display().to_string().replace(' ', "%20");
    make_differencing(
        &d,
        "top-macx.vhd",
        "mid.vhd",
        Locator::MacX(format!("file://localhost{abs}")),
        &writes_b(),
    );

    d.sh("qemu-img convert -f vpc -O raw base.vhd want-mid.raw");
    d.sh(&format!(
        "qemu-io -f raw{} want-mid.raw >/dev/null",
        qemu_io_args(&writes_a())
    ));
    d.sh("cp want-mid.raw want-top.raw");
    d.sh(&format!(
        "qemu-io -f raw{} want-top.raw >/dev/null",
        qemu_io_args(&writes_b())
    ));
    let mid = sha256_file(&d.join("want-mid.raw"));
    let top = sha256_file(&d.join("want-top.raw"));
    assert_ne!(mid, top);
    check_convert_sha(&d, "mid.vhd", &mid, &[]);
    for t in ["top.vhd", "top-w2ku.vhd", "top-macx.vhd"] {
        check_convert_sha(&d, t, &top, &[]);
    }

    let j = inspect_json(&d, "top.vhd", &[]);
    let text = j["image"].to_string();
    assert!(
        text.contains("differencing") && text.contains("mid.vhd") && text.contains("base.vhd"),
        "{text}"
    );
    let human = d.ddgz_ok(&["inspect", "top-w2ku.vhd"]);
    assert!(
        human.contains("differencing") && human.contains("W2ku"),
        "{human}"
    );

    // The output is never a file of the parent chain, even with --force (issue 13).
    let base = sha256_file(&d.join("base.vhd"));
    let o = d.ddgz(&[
        "convert",
        "top.vhd",
        "-o",
        "base.vhd",
        "--force",
        "--no-validate",
    ]);
    assert_eq!(
        o.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_eq!(sha256_file(&d.join("base.vhd")), base);

    // The chain read from another directory: names are relative to each image.
    d.sh("mkdir elsewhere");
    let out = crate::util::ddgz()
        .args(["inspect", "--json", "../top.vhd"])
        .current_dir(d.join("elsewhere"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// qemu's size rule: the CHS geometry, unless the creator is one that writes the exact
/// size (Hyper-V's `win `) or the geometry is the largest; a damaged footer at the end
/// falls back to the copy at offset 0 (which is all qemu reads).
#[test]
fn vhd_size_rules_and_footer_copies() {
    let d = Dir::new();
    pattern_source(&d, SIZE);
    d.sh("qemu-img convert -f raw -O vpc src.raw qemu.vhd");
    let orig = std::fs::read(d.join("qemu.vhd")).unwrap();
    let chs = qemu_virtual_size(&d, "qemu.vhd", "vpc");

    // Hyper-V: current_size is the size, here 1 MiB less than the geometry.
    let mut b = orig.clone();
    set_footer(&mut b, 28, b"win ");
    set_footer(&mut b, 48, &(chs - (1 << 20)).to_be_bytes());
    std::fs::write(d.join("win.vhd"), &b).unwrap();
    assert_eq!(qemu_virtual_size(&d, "win.vhd", "vpc"), chs - (1 << 20));
    check_convert(&d, "win.vhd", "vpc", &[]);
    // Virtual PC: the geometry, whatever current_size says.
    let mut b = orig.clone();
    set_footer(&mut b, 28, b"vpc ");
    set_footer(&mut b, 48, &(chs + (7 << 20)).to_be_bytes());
    std::fs::write(d.join("vpc.vhd"), &b).unwrap();
    assert_eq!(qemu_virtual_size(&d, "vpc.vhd", "vpc"), chs);
    check_convert(&d, "vpc.vhd", "vpc", &[]);
    let j = inspect_json(&d, "vpc.vhd", &[]);
    assert_eq!(j["image"]["virtual_size"].as_u64().unwrap(), chs);

    // The footer at the end damaged: its copy at offset 0 is used.
    let want = qemu_raw_sha(&d, "qemu.vhd", "vpc");
    let mut b = orig.clone();
    let n = b.len();
    b[n - 512 + 40] ^= 0xff;
    std::fs::write(d.join("end-damaged.vhd"), &b).unwrap();
    check_convert(&d, "end-damaged.vhd", "vpc", &[]);
    let human = d.ddgz_ok(&["inspect", "end-damaged.vhd"]);
    assert!(human.contains("copy at offset 0"), "{human}");
    // The copy at offset 0 damaged: qemu refuses it; ddgz reads the footer at the end.
    let mut b = orig.clone();
    b[40] ^= 0xff;
    std::fs::write(d.join("head-damaged.vhd"), &b).unwrap();
    d.sh("! qemu-img info -f vpc head-damaged.vhd 2>/dev/null");
    check_convert_sha(&d, "head-damaged.vhd", &want, &[]);
}

/// A fixed VHD is found by its footer at the end (qemu probes it as raw); `--format raw`
/// reads the file as it is, footer included; `vpc` is accepted for `vhd`.
#[test]
fn vhd_fixed_probe_and_format_names() {
    let d = Dir::new();
    pattern_source(&d, SIZE);
    d.sh("qemu-img convert -f raw -O vpc -o subformat=fixed src.raw f.vhd");
    let vpc = qemu_raw_sha(&d, "f.vhd", "vpc");
    let raw = qemu_raw_sha(&d, "f.vhd", "raw");
    assert_ne!(vpc, raw);
    check_convert_sha(&d, "f.vhd", &vpc, &[]);
    check_convert_sha(&d, "f.vhd", &vpc, &["--format", "vpc"]);
    check_convert_sha(&d, "f.vhd", &vpc, &["--format", "vhd"]);
    check_convert_sha(&d, "f.vhd", &raw, &["--format", "raw"]);
    let human = d.ddgz_ok(&["inspect", "f.vhd"]);
    assert!(human.contains("vhd fixed"), "{human}");
    // A raw disk is not a VHD, and a VHD forced on a raw disk is refused.
    let out = d.ddgz(&["inspect", "src.raw", "--format", "vpc"]);
    assert_eq!(out.status.code(), Some(3));
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        e.contains("src.raw: footer at 0x") && e.contains("not \"conectix\""),
        "{e}"
    );
}

// ---------------------------------------------------------------------------------------
// Broken VHDs: fixtures/corrupt/vhd-*.vhd, made by `regenerate` from qemu-img's files with
// fields patched, each with its pinned error.

/// Remakes the `vhd-*` files of `fixtures/corrupt/`. Needs qemu-img.
#[test]
#[ignore = "regenerates the committed fixtures: run by hand"]
fn regenerate() {
    let out = crate::corrupt::fixtures();
    let d = Dir::new();
    let write = |name: &str, data: &[u8]| {
        assert!(data.len() <= 64 * 1024, "{name}: {} bytes", data.len());
        std::fs::write(out.join(name), data).unwrap();
    };
    // A 4 MiB dynamic disk (no block allocated: 2.5 KiB) and a 32 KiB fixed one with data.
    d.sh("qemu-img create -q -f vpc e.vhd 4M
         truncate -s 32K b.raw
         printf 'ddgz vhd fixture %.0s' $(seq 300) | dd of=b.raw conv=notrunc status=none
         qemu-img convert -f raw -O vpc -o subformat=fixed b.raw f.vhd");
    let e = std::fs::read(d.join("e.vhd")).unwrap();
    let f = std::fs::read(d.join("f.vhd")).unwrap();
    write("vhd-valid.vhd", &e);
    write("vhd-fixed-valid.vhd", &f);
    let h = be64(&e, 16) as usize;
    let n = e.len();
    let dynamic = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = e.clone();
        f(&mut b);
        fix_checksum(&mut b, h, 1024, 36);
        b
    };
    let mut b = e.clone();
    b[40] ^= 0xff;
    b[n - 512 + 40] ^= 0xff;
    write("vhd-footer-checksum.vhd", &b);
    let mut b = e.clone();
    b[h + 100] ^= 0xff;
    write("vhd-dyn-checksum.vhd", &b);
    write(
        "vhd-bat-past-eof.vhd",
        &dynamic(&|b| b[h + 16..h + 24].copy_from_slice(&(1u64 << 36).to_be_bytes())),
    );
    let bat = be64(&e, h + 16) as usize;
    let mut b = e.clone();
    b[bat..bat + 4].copy_from_slice(&0x0080_0000u32.to_be_bytes());
    write("vhd-block-past-eof.vhd", &b);
    write(
        "vhd-block-size.vhd",
        &dynamic(&|b| b[h + 32..h + 36].copy_from_slice(&3000u32.to_be_bytes())),
    );
    write(
        "vhd-bat-small.vhd",
        &dynamic(&|b| b[h + 28..h + 32].copy_from_slice(&1u32.to_be_bytes())),
    );
    let mut b = e.clone();
    set_footer(&mut b, 28, b"win ");
    set_footer(&mut b, 48, &(4u64 << 40).to_be_bytes());
    write("vhd-too-big.vhd", &b);
    let mut b = e.clone();
    set_footer(&mut b, 60, &5u32.to_be_bytes());
    write("vhd-disk-type.vhd", &b);
    write("vhd-fixed-short.vhd", &f[4096..]);
    write("vhd-truncated.vhd", &e[..300]);
    // Differencing disks: a loop of two, a missing parent, a parent whose unique id is
    // not the recorded one, a parent named by a protocol.
    for name in [
        "vhd-parent-loop-a.vhd",
        "vhd-parent-loop-b.vhd",
        "vhd-parent-missing.vhd",
        "vhd-parent-uuid.vhd",
        "vhd-parent-nbd.vhd",
    ] {
        std::fs::copy(d.join("e.vhd"), d.join(name)).unwrap();
    }
    std::fs::copy(d.join("e.vhd"), d.join("vhd-valid.vhd")).unwrap();
    let a = std::fs::read(d.join("vhd-parent-loop-a.vhd")).unwrap();
    let a_uuid = a[n - 512 + 68..n - 512 + 84].to_vec();
    make_differencing(
        &d,
        "vhd-parent-loop-a.vhd",
        "vhd-parent-loop-b.vhd",
        Locator::W2ru("vhd-parent-loop-b.vhd"),
        &[],
    );
    make_differencing_uuid(
        &d,
        "vhd-parent-loop-b.vhd",
        "vhd-parent-loop-a.vhd",
        &a_uuid,
        Locator::W2ru("vhd-parent-loop-a.vhd"),
        &[],
    );
    make_differencing_uuid(
        &d,
        "vhd-parent-missing.vhd",
        "vhd-missing.vhd",
        &[0x42; 16],
        Locator::W2ru(".\\vhd-missing.vhd"),
        &[],
    );
    make_differencing_uuid(
        &d,
        "vhd-parent-uuid.vhd",
        "vhd-valid.vhd",
        &[0x42; 16],
        Locator::W2ru("vhd-valid.vhd"),
        &[],
    );
    make_differencing_uuid(
        &d,
        "vhd-parent-nbd.vhd",
        "nbd:localhost:10809",
        &[0x42; 16],
        Locator::W2ru("nbd:localhost:10809"),
        &[],
    );
    for name in [
        "vhd-parent-loop-a.vhd",
        "vhd-parent-loop-b.vhd",
        "vhd-parent-missing.vhd",
        "vhd-parent-uuid.vhd",
        "vhd-parent-nbd.vhd",
    ] {
        write(name, &std::fs::read(d.join(name)).unwrap());
    }
}

/// `FILE`, the command (`*`: convert, convert --no-validate, inspect, validate; `{}` is
/// the file), the exit code, a piece of the error.
const CASES: &[(&str, &str, i32, &str)] = &[
    (
        "vhd-footer-checksum.vhd",
        "*",
        3,
        "; its copy at offset 0: footer checksum mismatch: stored 0x",
    ),
    (
        "vhd-dyn-checksum.vhd",
        "*",
        3,
        "dynamic disk header checksum mismatch",
    ),
    (
        "vhd-bat-past-eof.vhd",
        "*",
        3,
        "block allocation table at 0x1000000000 (3 entries) lies past the end of the file",
    ),
    (
        "vhd-block-past-eof.vhd",
        "*",
        3,
        "block 0 at 0x100000000 (bitmap and data, 2097664 bytes) lies past the end of the file",
    ),
    (
        "vhd-block-size.vhd",
        "*",
        3,
        "block size 3000; must be a power of two of at least 512",
    ),
    (
        "vhd-bat-small.vhd",
        "*",
        3,
        "the block allocation table has 1 entries of 2097152 bytes, fewer than the 3 blocks of the 4212736-byte disk",
    ),
    (
        "vhd-too-big.vhd",
        "*",
        3,
        "exceeds the VHD limit of 4278190080 sectors (2040 GiB)",
    ),
    (
        "vhd-disk-type.vhd",
        "*",
        3,
        "disk type 5; must be 2 (fixed), 3 (dynamic) or 4 (differencing)",
    ),
    (
        "vhd-fixed-short.vhd",
        "*",
        3,
        "bytes with its footer; the file has",
    ),
    (
        "vhd-truncated.vhd",
        "*",
        3,
        "file is 300 bytes, too short for a VHD footer (512 bytes)",
    ),
    (
        "vhd-parent-loop-a.vhd",
        "*",
        3,
        "backing chain loops: this file is already in the chain (the parent of",
    ),
    (
        "vhd-parent-missing.vhd",
        "*",
        3,
        "differencing disk: no parent found; tried:",
    ),
    (
        "vhd-parent-uuid.vhd",
        "*",
        3,
        "differs from the parent id 42424242-4242-4242-4242-424242424242",
    ),
    (
        "vhd-parent-nbd.vhd",
        "*",
        3,
        "the W2ru parent locator \"nbd:localhost:10809\" is not a relative path",
    ),
];

#[test]
fn vhd_corrupt_fixtures_pinned() {
    let d = Dir::new();
    for e in std::fs::read_dir(crate::corrupt::fixtures()).unwrap() {
        let n = e.unwrap().file_name().into_string().unwrap();
        if n.starts_with("vhd-") {
            std::fs::copy(crate::corrupt::fixtures().join(&n), d.join(&n)).unwrap();
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
    // The originals are fine: equal to qemu.
    for v in ["vhd-valid.vhd", "vhd-fixed-valid.vhd"] {
        check_convert(&d, v, "vpc", &[]);
    }
}
