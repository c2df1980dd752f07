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
