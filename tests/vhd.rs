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
    let mut b = std::fs::read(d.join(child)).unwrap();
    let n = b.len();
    set_footer(&mut b, 60, &4u32.to_be_bytes());
    let footer = b[n - 512..].to_vec();
    let h = be64(&b, 16) as usize;
    b[h + 40..h + 56].copy_from_slice(&uuid);
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
