//! Unit tests on PVs built in memory ([`crate::synth`]): the circular buffer's wrap,
//! striped and zero segments, extents over a PV with holes.

use ddgz_disk::{check_range, push_merged, Disk, Extent, ExtentKind, MemoryDisk};

use crate::synth::{pv_with_text, pv_with_text_at, MDA_SIZE, PE_START};
use crate::{Error, VolumeGroup};

const UUID: &[u8; 32] = b"0123456789abcdefABCDEF0123456789";

/// A VG on the synthetic PV: 128 KiB extents, 8 of them; `lvs` is the
/// `logical_volumes` section's body.
fn text(lvs: &str) -> String {
    format!(
        "vg {{\nid = \"a\"\nseqno = 3\nformat = \"lvm2\"\nextent_size = 256\n\
         physical_volumes {{\npv0 {{\nid = \"012345-6789-abcd-efAB-CDEF-0123-456789\"\n\
         pe_start = 2048\npe_count = 8\n}}\n}}\nlogical_volumes {{\n{lvs}}}\n}}\n\
         contents = \"Text Format Volume Group\"\nversion = 1\n"
    )
}

const STRIPED: &str = "s {\nid = \"s\"\nstatus = [\"READ\", \"VISIBLE\"]\nsegment_count = 2\n\
     segment1 {\nstart_extent = 0\nextent_count = 4\ntype = \"striped\"\nstripe_count = 2\n\
     stripe_size = 8\nstripes = [\"pv0\", 0, \"pv0\", 4]\n}\n\
     segment2 {\nstart_extent = 4\nextent_count = 1\ntype = \"zero\"\n}\n}\n";

const ES: u64 = 128 << 10;

/// Every 512-byte sector of the data area stamped with its PV offset, except the
/// 4 KiB blocks listed in `holes` (PV offsets), left zero.
fn stamped(mut d: Vec<u8>, holes: &[u64]) -> Vec<u8> {
    for at in (PE_START as usize..d.len()).step_by(512) {
        if !holes.contains(&(at as u64 / 4096 * 4096)) {
            d[at..at + 8].copy_from_slice(&(at as u64).to_le_bytes());
            d[at + 8..at + 512].fill(0xa5);
        }
    }
    d
}

/// A memory disk that reports all-zero 4 KiB blocks as `Zero`, like a sparse file.
#[derive(Debug)]
struct Sparse(Vec<u8>);

impl Disk for Sparse {
    fn size(&self) -> u64 {
        self.0.len() as u64
    }
    fn extents(&self, offset: u64, len: u64) -> ddgz_disk::Result<Vec<Extent>> {
        check_range(self.size(), offset, len)?;
        let mut out = Vec::new();
        let mut pos = offset;
        while pos < offset + len {
            let end = ((pos / 4096 + 1) * 4096).min(offset + len);
            let block = &self.0[(pos / 4096 * 4096) as usize..][..4096];
            let kind = if block.iter().all(|&b| b == 0) {
                ExtentKind::Zero
            } else {
                ExtentKind::Data
            };
            push_merged(
                &mut out,
                Extent {
                    offset: pos,
                    len: end - pos,
                    kind,
                },
            );
            pos = end;
        }
        Ok(out)
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> ddgz_disk::Result<()> {
        check_range(self.size(), offset, buf.len() as u64)?;
        buf.copy_from_slice(&self.0[offset as usize..][..buf.len()]);
        Ok(())
    }
}

fn pv_offset_at(lv: &dyn Disk, at: u64) -> u64 {
    let mut b = [0u8; 8];
    lv.read_at(at, &mut b).unwrap();
    u64::from_le_bytes(b)
}

#[test]
fn striped_chunks_go_round_robin_and_zero_segments_read_zero() {
    let d = stamped(pv_with_text(UUID, text(STRIPED).as_bytes(), 2 << 20), &[]);
    let vg = VolumeGroup::open([MemoryDisk::new(d)]).unwrap();
    let lv = vg.open_lv("s").unwrap();
    assert_eq!(lv.size(), 5 * ES);
    // 4 KiB chunks: stripe 0 at extent 0, stripe 1 at extent 4.
    assert_eq!(pv_offset_at(&lv, 0), PE_START);
    assert_eq!(pv_offset_at(&lv, 512), PE_START + 512);
    assert_eq!(pv_offset_at(&lv, 4096), PE_START + 4 * ES);
    assert_eq!(pv_offset_at(&lv, 8192), PE_START + 4096);
    assert_eq!(
        pv_offset_at(&lv, 3 * 4096 + 1024),
        PE_START + 4 * ES + 4096 + 1024
    );
    assert_eq!(
        pv_offset_at(&lv, 4 * ES - 4096),
        PE_START + 4 * ES + 2 * ES - 4096
    );
    let mut tail = vec![1u8; ES as usize];
    lv.read_at(4 * ES, &mut tail).unwrap();
    assert!(tail.iter().all(|&b| b == 0));
    assert_eq!(
        lv.extents(0, lv.size()).unwrap(),
        [
            Extent {
                offset: 0,
                len: 4 * ES,
                kind: ExtentKind::Data
            },
            Extent {
                offset: 4 * ES,
                len: ES,
                kind: ExtentKind::Zero
            },
        ]
    );
    // A read across the striped/zero boundary and one past the end.
    let mut b = vec![0u8; 8192];
    lv.read_at(4 * ES - 4096, &mut b).unwrap();
    assert!(b[4096..].iter().all(|&x| x == 0) && b[..4096].iter().any(|&x| x != 0));
    assert!(lv.read_at(5 * ES - 1, &mut [0u8; 2]).is_err());
}

#[test]
fn holes_of_the_pv_are_zero_extents_of_the_lv() {
    // Holes: the second chunk of stripe 0 and the first of stripe 1.
    let holes = [PE_START + 4096, PE_START + 4 * ES];
    let pv = Sparse(stamped(
        pv_with_text(UUID, text(STRIPED).as_bytes(), 2 << 20),
        &holes,
    ));
    let vg = VolumeGroup::open([pv]).unwrap();
    let lv = vg.open_lv("s").unwrap();
    // LV chunks: 0 = s0 row 0 (data), 1 = s1 row 0 (hole), 2 = s0 row 1 (hole), 3 data.
    assert_eq!(
        lv.extents(0, 4 * 4096).unwrap(),
        [
            Extent {
                offset: 0,
                len: 4096,
                kind: ExtentKind::Data
            },
            Extent {
                offset: 4096,
                len: 8192,
                kind: ExtentKind::Zero
            },
            Extent {
                offset: 12288,
                len: 4096,
                kind: ExtentKind::Data
            },
        ]
    );
    // Any window: the runs tile it and zero runs read zero.
    let mut all = vec![0u8; lv.size() as usize];
    lv.read_at(0, &mut all).unwrap();
    for (off, len) in [
        (0, lv.size()),
        (100, 20000),
        (4095, 2),
        (4 * ES - 10, 20),
        (7, 0),
    ] {
        let ext = lv.extents(off, len).unwrap();
        assert_eq!(ext.iter().map(|e| e.len).sum::<u64>(), len);
        let mut pos = off;
        for e in &ext {
            assert_eq!(e.offset, pos);
            pos = e.end();
            if e.kind == ExtentKind::Zero {
                assert!(all[e.offset as usize..e.end() as usize]
                    .iter()
                    .all(|&b| b == 0));
            }
        }
    }
}

#[test]
fn a_striped_range_all_of_one_kind_is_one_extent() {
    // Nothing stamped: every stripe is one zero run, so is the LV, zero segment and all.
    let pv = Sparse(pv_with_text(UUID, text(STRIPED).as_bytes(), 2 << 20));
    let vg = VolumeGroup::open([pv]).unwrap();
    let lv = vg.open_lv("s").unwrap();
    assert_eq!(
        lv.extents(100, lv.size() - 200).unwrap(),
        [Extent {
            offset: 100,
            len: lv.size() - 200,
            kind: ExtentKind::Zero
        }]
    );
}

#[test]
fn a_text_that_wraps_around_the_buffer_reads_whole() {
    let t = text(STRIPED);
    // Start 100 bytes before the end of the area: the rest continues after the header.
    let d = pv_with_text_at(UUID, t.as_bytes(), 2 << 20, MDA_SIZE - 100);
    let vg = VolumeGroup::open([MemoryDisk::new(d)]).unwrap();
    assert_eq!(vg.lvs()[0].name, "s");
}

#[test]
fn huge_values_are_refused_not_allocated() {
    let big = format!("x = \"{}\"\n", "y".repeat(100_000));
    let d = pv_with_text(UUID, (big + &text("")).as_bytes(), 2 << 20);
    let e = VolumeGroup::open([MemoryDisk::new(d)])
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("limit exceeded: metadata text line 1: a string longer than 65536"),
        "{e}"
    );
    let many = format!("x = [{}0]\n", "0,".repeat(300_000));
    let d = pv_with_text(UUID, (many + &text("")).as_bytes(), 2 << 20);
    let e = VolumeGroup::open([MemoryDisk::new(d)])
        .unwrap_err()
        .to_string();
    assert!(e.contains("more than 262144 values"), "{e}");
    // Missing PV uuid match: the LV names what is missing.
    let d = pv_with_text(
        b"ZZZZZZ6789abcdefABCDEF0123456789",
        text(STRIPED).as_bytes(),
        2 << 20,
    );
    let e = VolumeGroup::open([MemoryDisk::new(d)]).unwrap_err();
    assert!(
        matches!(e, Error::Corrupt(ref m) if m.contains("is in no volume group")),
        "{e}"
    );
}

#[test]
fn fuzz_entries_take_anything() {
    crate::fuzz_text(text(STRIPED).as_bytes());
    crate::fuzz_text(b"\xff{{{{");
    crate::fuzz_pv(&pv_with_text(UUID, text(STRIPED).as_bytes(), 2 << 20));
    crate::fuzz_pv(b"LABELONE");
}

#[test]
fn scan_finds_the_pvs_among_partitions_and_names_the_volumes() {
    use crate::{scan, split_name, Candidate};
    // Partition 1: not LVM; 2: the PV; 3: typed LVM without a label; 4: outside.
    let mut disk = vec![7u8; 1 << 20];
    disk.extend(stamped(
        pv_with_text(UUID, text(STRIPED).as_bytes(), 2 << 20),
        &[],
    ));
    disk.extend(vec![0u8; 1 << 20]);
    let disk = MemoryDisk::new(disk);
    let parts = [
        (1, 0..1 << 20, false),
        (2, 1 << 20..3 << 20, true),
        (3, 3 << 20..4 << 20, true),
        (4, 4 << 20..5 << 20, false),
    ]
    .map(|(number, range, lvm_type)| Candidate {
        number,
        range,
        lvm_type,
    });
    let found = scan(&disk, parts).unwrap();
    assert_eq!(found.names(), ["vg/s"]);
    assert_eq!(found.members, [vec![2]]);
    assert!(found.orphans.is_empty());
    let refused: Vec<(u32, String)> = found
        .refused
        .iter()
        .map(|(n, e)| (*n, e.to_string()))
        .collect();
    assert_eq!(refused.len(), 2, "{refused:?}");
    assert!(
        refused[0].0 == 3
            && refused[0]
                .1
                .contains("has the Linux LVM type but no LABELONE")
    );
    assert!(refused[1].0 == 4 && refused[1].1.contains("lie outside the disk"));
    let lv = found.open("vg/s").unwrap();
    assert_eq!(pv_offset_at(&lv, 4096), PE_START + 4 * ES);
    assert!(matches!(found.open("vg/t"), Err(Error::NotFound(_))));
    let e = found.open("other/s").unwrap_err().to_string();
    assert!(e.contains("volume groups found: vg"), "{e}");
    assert_eq!(split_name("rl/root"), Some(("rl", "root")));
    for bad in ["rl", "rl/", "/root", "rl/ro ot", "-x/y", "a/..", "a/b/c"] {
        assert_eq!(split_name(bad), None, "{bad}");
    }
}
