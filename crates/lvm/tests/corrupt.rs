//! Hostile metadata: a real PV made by the lvm tools (`fixtures/corrupt/lvm-base.img`,
//! see `make-lvm-base.sh`), patched byte by byte here, each patch refused with a pinned
//! error that names the place and the value. Patches to the text rewrite it in place
//! with its checksums made right, so the text itself is what lies.

use ddgz_disk::{Disk, ExtentKind, MemoryDisk};
use ddgz_lvm::crc::{calc_crc, INITIAL_CRC};
use ddgz_lvm::{Error, PhysicalVolume, VolumeGroup};

/// The base image (committed).
fn base() -> Vec<u8> {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fixtures/corrupt/lvm-base.img"
    );
    std::fs::read(p).expect("fixtures/corrupt/lvm-base.img")
}

const LABEL: usize = 512; // lvm2 writes the label in sector 1
const MDA: usize = 4096;

fn le64(d: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(d[at..at + 8].try_into().unwrap())
}

fn fix_mda_header(d: &mut [u8]) {
    let crc = calc_crc(INITIAL_CRC, &d[MDA + 4..MDA + 512]);
    d[MDA..MDA + 4].copy_from_slice(&crc.to_le_bytes());
}

fn fix_label(d: &mut [u8]) {
    let crc = calc_crc(INITIAL_CRC, &d[LABEL + 20..LABEL + 512]);
    d[LABEL + 16..LABEL + 20].copy_from_slice(&crc.to_le_bytes());
}

/// The committed metadata text of the image.
fn text(d: &[u8]) -> String {
    let (off, len) = (le64(d, MDA + 40) as usize, le64(d, MDA + 48) as usize);
    let t = &d[MDA + off..MDA + off + len];
    String::from_utf8(t[..t.iter().position(|&b| b == 0).unwrap()].to_vec()).unwrap()
}

/// The image with its text replaced by `edit(text)`, checksums made right.
fn retext(edit: impl FnOnce(&str) -> String) -> Vec<u8> {
    let mut d = base();
    let new = edit(&text(&d));
    let mut t = new.into_bytes();
    t.push(0);
    let off = le64(&d, MDA + 40) as usize;
    let size = le64(&d, MDA + 32) as usize;
    assert!(
        off + t.len() <= size,
        "the edited text must fit without wrapping"
    );
    d[MDA + off..MDA + off + t.len()].copy_from_slice(&t);
    d[MDA + 48..MDA + 56].copy_from_slice(&(t.len() as u64).to_le_bytes());
    d[MDA + 56..MDA + 60].copy_from_slice(&calc_crc(INITIAL_CRC, &t).to_le_bytes());
    fix_mda_header(&mut d);
    d
}

/// Opening the VG of `d` and every LV: the first error.
fn open(d: Vec<u8>) -> Result<(), Error> {
    let vg = VolumeGroup::open([MemoryDisk::new(d)])?;
    let names: Vec<String> = vg.lvs().iter().map(|l| l.name.clone()).collect();
    for n in names {
        vg.open_lv(&n)?;
    }
    Ok(())
}

fn err(d: Vec<u8>) -> String {
    open(d).expect_err("the damage must be refused").to_string()
}

#[test]
fn the_base_image_reads_as_lvm_wrote_it() {
    let d = base();
    let vg = VolumeGroup::open([MemoryDisk::new(d.clone())]).unwrap();
    assert_eq!((vg.name(), vg.seqno()), ("vgt", 28));
    let pe_start = vg.metadata().pvs[0].pe_start;
    assert_eq!(pe_start, 36864);
    // Each 4 KiB extent of the data area is stamped with its index.
    for (lv, extents) in [
        ("a", vec![0u8, 1, 2, 3, 4, 5, 6, 7, 12, 13, 14, 15]),
        ("b", vec![8, 9, 10, 11]),
    ] {
        let lv = vg.open_lv(lv).unwrap();
        let mut got = vec![0u8; lv.size() as usize];
        lv.read_at(0, &mut got).unwrap();
        let want: Vec<u8> = extents.iter().flat_map(|&e| [e; 4096]).collect();
        assert!(got == want);
        assert_eq!(
            lv.extents(0, lv.size())
                .unwrap()
                .iter()
                .map(|e| e.kind)
                .collect::<Vec<_>>(),
            [ExtentKind::Data]
        );
    }
    let pv = PhysicalVolume::open(MemoryDisk::new(d)).unwrap();
    assert_eq!(pv.label().sector, 1);
    assert_eq!(pv.uuid().len(), 38);
    assert!(ddgz_lvm::probe(&MemoryDisk::new(base())));
    assert!(!ddgz_lvm::probe(&MemoryDisk::new(vec![0; 4096])));
}

#[test]
fn damaged_label_and_header_bytes() {
    let mut d = base();
    d[LABEL + 40] ^= 1; // a uuid byte
    let e = err(d);
    assert!(e.contains("label in sector 1: checksum 0x"), "{e}");

    let mut d = base();
    d[LABEL..LABEL + 8].copy_from_slice(b"LABELTWO");
    assert!(matches!(open(d), Err(Error::NotLvm(_))));

    let mut d = base();
    d[LABEL + 20..LABEL + 24].copy_from_slice(&500u32.to_le_bytes());
    fix_label(&mut d);
    let e = err(d);
    assert!(e.contains("PV header offset 500 outside 32..=440"), "{e}");

    let mut d = base();
    d[LABEL + 8] = 3; // sector_xl
    fix_label(&mut d);
    assert!(err(d).contains("label in sector 1: says it is in sector 3"));

    // Metadata area lists without a terminator run to the end of the sector.
    let mut d = base();
    for at in (LABEL + 32 + 40..LABEL + 512).step_by(16) {
        d[at..at + 8].copy_from_slice(&4096u64.to_le_bytes());
    }
    fix_label(&mut d);
    assert!(err(d).contains("runs past the label sector without its terminator"));

    // Three metadata areas: lvm2 writes at most two.
    let mut d = base();
    for (i, at) in (LABEL + 32 + 72..LABEL + 32 + 120).step_by(16).enumerate() {
        d[at..at + 8].copy_from_slice(&(4096 + i as u64 * 65536).to_le_bytes());
        d[at + 8..at + 16].copy_from_slice(&32768u64.to_le_bytes());
    }
    fix_label(&mut d);
    let e = err(d);
    assert!(
        e.contains("label in sector 1: 3 metadata areas, more than the 2 lvm2 writes"),
        "{e}"
    );

    // The metadata area said to lie past the end of the PV.
    let mut d = base();
    let at = LABEL + 32 + 80; // second list's first entry: size
    d[at..at + 8].copy_from_slice(&(1u64 << 40).to_le_bytes());
    fix_label(&mut d);
    let e = err(d);
    assert!(
        e.contains("metadata area at byte 4096: size 1099511627776"),
        "{e}"
    );
}

#[test]
fn damaged_metadata_area() {
    let mut d = base();
    d[MDA + 30] ^= 1;
    let e = err(d);
    assert!(
        e.contains("metadata area at byte 4096: header checksum 0x"),
        "{e}"
    );

    let mut d = base();
    let off = le64(&d, MDA + 40) as usize;
    d[MDA + off + 20] ^= 1;
    let e = err(d);
    assert!(
        e.contains("text of 1535 bytes at 15360: checksum 0x"),
        "{e}"
    );
    assert!(
        e.starts_with("corrupt LVM2 metadata: no valid metadata copy: PV "),
        "{e}"
    );

    // A text size of a terabyte is refused before anything is allocated.
    let mut d = base();
    d[MDA + 48..MDA + 56].copy_from_slice(&(1u64 << 40).to_le_bytes());
    fix_mda_header(&mut d);
    let e = err(d);
    assert!(
        e.contains("text of 1099511627776 bytes, more than 4194304"),
        "{e}"
    );

    // Text placed past the area.
    let mut d = base();
    d[MDA + 40..MDA + 48].copy_from_slice(&40000u64.to_le_bytes());
    fix_mda_header(&mut d);
    assert!(err(d).contains("text of 1535 bytes at 40000 does not fit the 32256-byte buffer"));

    let mut d = base();
    d[MDA + 24..MDA + 32].copy_from_slice(&8192u64.to_le_bytes());
    fix_mda_header(&mut d);
    assert!(err(d).contains("header says the area is 32768 bytes at 8192"));

    // No committed text (a PV in no VG): an orphan, not a VG.
    let mut d = base();
    d[MDA + 40..MDA + 64].fill(0);
    fix_mda_header(&mut d);
    assert!(err(d).contains("none of the 1 PVs holds metadata"));
}

/// A change to the metadata text.
type Edit = fn(&str) -> String;

#[test]
fn metadata_text_that_lies() {
    let cases: Vec<(Edit, &str)> = vec![
        (
            Edit::from(|t: &str| t.replacen("segment_count = 2", "segment_count = 3", 1)),
            "logical volume vgt/a: segment_count = 3 but 2 segments are there",
        ),
        (
            Edit::from(|t: &str| t.replacen("\"pv0\", 12", "\"pv0\", 180", 1)),
            "logical volume vgt/a, segment2: extents 180..+4 on pv0 lie past its 183 extents",
        ),
        (
            Edit::from(|t: &str| t.replacen("\"pv0\", 8", "\"pv0\", 6", 1)),
            "volume group vgt: vgt/a and vgt/b both map extent 6 of pv0",
        ),
        (
            Edit::from(|t: &str| t.replacen("start_extent = 8", "start_extent = 9", 1)),
            "logical volume vgt/a: a segment starts at extent 9 where 8 was expected",
        ),
        (
            Edit::from(|t: &str| t.replacen("extent_count = 4", "extent_count = 4611686018427387904", 1)),
            "logical volume vgt/a, segment2: 4611686018427387904 extents per stripe overflow",
        ),
        (
            Edit::from(|t: &str| t.replacen("stripe_count = 1", "stripe_count = 1000", 1)),
            "stripe_count = 1000, not in 1..=128",
        ),
        (
            Edit::from(|t: &str| t.replacen("stripe_count = 1", "stripe_count = 2", 1)),
            "stripe_count = 2 but the stripes array has 2 entries, not 4",
        ),
        (
            Edit::from(|t: &str| t.replacen("extent_size = 8", "extent_size = 36028797018963968", 1)),
            "overflow",
        ),
        (
            Edit::from(|t: &str| t.replacen("extent_size = 8", "extent_size = -8", 1)),
            "volume group vgt: extent_size = -8 is negative",
        ),
        (
            Edit::from(|t: &str| t.replacen("seqno = 28", "seqno = 28\nseqno = 29", 1)),
            "metadata text line 4: seqno appears twice in one section",
        ),
        (
            Edit::from(|t: &str| t.replacen("flags = []", &("x {".repeat(20) + &"}".repeat(20)), 1)),
            "sections nested deeper than 8",
        ),
        (
            Edit::from(|t: &str| t.replacen("type = \"striped\"", "type = \"thin\"", 1)),
            "logical volume vgt/a: segment type \"thin\" is not supported (a thin volume",
        ),
        (
            Edit::from(|t: &str| t.replacen("\"pv0\", 8", "\"a\", 0", 1)),
            "vgt/b: segment type \"striped\" is not supported (a stripe on \"a\", which is not a physical volume",
        ),
        (
            Edit::from(|t: &str| t.replacen("pe_count = 183", "pe_count = 1000", 1).replacen("\"pv0\", 8", "\"pv0\", 900", 1)),
            "logical volume vgt/b: bytes 3723264..3739648 on pv0 lie past the end of its disk (786432 bytes)",
        ),
        (
            Edit::from(|t: &str| t.replacen("contents = \"Text Format Volume Group\"", "contents = \"x\"", 1)),
            "contents is not \"Text Format Volume Group\"",
        ),
    ];
    for (edit, want) in cases {
        let d = retext(edit);
        let got = match open(d) {
            Ok(()) => panic!("accepted; expected {want:?}"),
            Err(e) => e.to_string(),
        };
        assert!(got.contains(want), "got {got:?}\nwant {want:?}");
    }
}
