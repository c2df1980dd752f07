//! VDI input: dynamic and static images, converted by qemu-img from a pattern disk and
//! written by a guest through qemu-io, must convert to exactly
//! `qemu-img convert -f vdi -O raw`; blocks qemu does not allocate (and the holes of a
//! static image's sparse file) are reported as zeros, never read.

use crate::oracle::*;
use crate::util::*;

/// Not a whole number of 1 MiB blocks.
const SIZE: u64 = (30 << 20) + 1536;

fn variant(opts: &str) {
    let d = Dir::new();
    pattern_source(&d, SIZE);
    d.sh(&format!(
        "qemu-img convert -f raw -O vdi {opts} src.raw img.vdi"
    ));
    check_convert(&d, "img.vdi", "vdi", &[]);
    let j = inspect_json(&d, "img.vdi", &[]);
    assert_eq!(j["image"]["format"], "vdi");
    assert_eq!(
        j["image"]["virtual_size"].as_u64().unwrap(),
        qemu_virtual_size(&d, "img.vdi", "vdi")
    );
    let allocated = j["image"]["allocated_bytes"].as_u64().unwrap();
    if opts.contains("static") {
        assert_eq!(j["image"]["container"]["subformat"], "static");
        // qemu-img preallocates sparsely: the holes are found, not read.
        assert!(allocated < 4 << 20, "{allocated}");
    } else {
        assert_eq!(j["image"]["container"]["subformat"], "dynamic");
        assert_eq!(allocated, qemu_data_bytes(&d, "img.vdi", "vdi"));
    }
}

#[test]
fn vdi_dynamic() {
    variant("");
}

#[test]
fn vdi_static() {
    variant("-o static=on");
}

#[test]
fn vdi_written_by_the_guest() {
    for opts in ["", "-o static=on"] {
        let d = Dir::new();
        d.sh(&format!("qemu-img create -q -f vdi {opts} img.vdi {SIZE}"));
        let w = guest_writes(SIZE);
        d.sh(&format!(
            "qemu-io -f vdi{} img.vdi >/dev/null",
            qemu_io_args(&w)
        ));
        check_convert(&d, "img.vdi", "vdi", &[]);
        let human = d.ddgz_ok(&["inspect", "img.vdi", "--format", "vdi"]);
        assert!(
            human.contains("container:  vdi ") && human.contains("1 MiB blocks"),
            "{human}"
        );
    }
}

/// A block marked zero (0xFFFFFFFE, discarded) reads as zeros however its data reads;
/// qemu agrees.
#[test]
fn vdi_zero_blocks() {
    let d = Dir::new();
    d.sh(&format!("qemu-img create -q -f vdi img.vdi {SIZE}"));
    d.sh(&format!(
        "qemu-io -f vdi{} img.vdi >/dev/null",
        qemu_io_args(&guest_writes(SIZE))
    ));
    let mut b = std::fs::read(d.join("img.vdi")).unwrap();
    let bmap = u32::from_le_bytes(b[340..344].try_into().unwrap()) as usize;
    // Block 1 (written by the guest at 1 MiB) becomes a zero block.
    assert_ne!(&b[bmap + 4..bmap + 8], &[0xff; 4]);
    b[bmap + 4..bmap + 8].copy_from_slice(&0xffff_fffeu32.to_le_bytes());
    std::fs::write(d.join("img.vdi"), &b).unwrap();
    check_convert(&d, "img.vdi", "vdi", &[]);
    let j = inspect_json(&d, "img.vdi", &[]);
    assert_eq!(j["image"]["container"]["details"]["blocks zero"], "1");
}

// ---------------------------------------------------------------------------------------
// Broken VDIs: fixtures/corrupt/vdi-*.vdi, made by `regenerate` from a qemu-img file with
// header fields or block map entries patched, each with its pinned error.

fn set_le32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

/// Remakes the `vdi-*` files of `fixtures/corrupt/`. Needs qemu-img.
#[test]
#[ignore = "regenerates the committed fixtures: run by hand"]
fn regenerate() {
    let out = crate::corrupt::fixtures();
    let d = Dir::new();
    // A 4 MiB dynamic VDI: header, a 512-byte block map, no block (1 KiB).
    d.sh("qemu-img create -q -f vdi e.vdi 4M");
    let e = std::fs::read(d.join("e.vdi")).unwrap();
    let write = |name: &str, f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = e.clone();
        f(&mut b);
        std::fs::write(out.join(name), b).unwrap();
    };
    write("vdi-valid.vdi", &|_| {});
    write("vdi-version.vdi", &|b| set_le32(b, 68, 0x0001_0002));
    write("vdi-block-size.vdi", &|b| set_le32(b, 376, 3000));
    write("vdi-sector-size.vdi", &|b| set_le32(b, 360, 4096));
    write("vdi-bmap-past-eof.vdi", &|b| set_le32(b, 340, 0x4000_0000));
    write("vdi-block-past-eof.vdi", &|b| set_le32(b, 512, 5));
    write("vdi-disk-size.vdi", &|b| {
        b[368..376].copy_from_slice(&(1u64 << 30).to_le_bytes())
    });
    write("vdi-parent.vdi", &|b| b[440] = 1);
    write("vdi-too-many-blocks.vdi", &|b| {
        b[368..376].copy_from_slice(&(1u64 << 45).to_le_bytes());
        set_le32(b, 384, 1 << 25);
    });
    write("vdi-truncated.vdi", &|b| b.truncate(520));
}

const CASES: &[(&str, i32, &str)] = &[
    ("vdi-version.vdi", 3, "VDI version 1.2; only 1.1 is read"),
    (
        "vdi-block-size.vdi",
        3,
        "block size 3000; must be a power of two from 512 to 268435456",
    ),
    (
        "vdi-sector-size.vdi",
        3,
        "sector size 4096; only 512 is read",
    ),
    (
        "vdi-bmap-past-eof.vdi",
        3,
        "block map at 0x40000000 (4 entries) lies past the end of the file (size 0x400)",
    ),
    (
        "vdi-block-past-eof.vdi",
        3,
        "block 0 is stored as block 5, at 0x500400, past the end of the file (size 0x400)",
    ),
    (
        "vdi-disk-size.vdi",
        3,
        "disk size 1073741824 exceeds the 4 blocks of 1048576 bytes of the block map",
    ),
    (
        "vdi-parent.vdi",
        3,
        "a differencing VDI (non-null link or parent UUID)",
    ),
    (
        "vdi-too-many-blocks.vdi",
        3,
        "the disk needs 33554432 block map entries (1048576-byte blocks); the limit is 16777216",
    ),
    (
        "vdi-truncated.vdi",
        3,
        "block map at 0x200 (4 entries) lies past the end of the file (size 0x208)",
    ),
];

#[test]
fn vdi_corrupt_fixtures_pinned() {
    let d = Dir::new();
    for e in std::fs::read_dir(crate::corrupt::fixtures()).unwrap() {
        let n = e.unwrap().file_name().into_string().unwrap();
        if n.starts_with("vdi-") {
            std::fs::copy(crate::corrupt::fixtures().join(&n), d.join(&n)).unwrap();
        }
    }
    let mut failures = Vec::new();
    for &(file, code, text) in CASES {
        for c in [
            "convert {} -o out.dd.gz --quiet",
            "convert {} -o out.dd.gz --quiet --no-validate",
            "inspect {}",
            "validate {}",
        ] {
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
    check_convert(&d, "vdi-valid.vdi", "vdi", &[]);
}
