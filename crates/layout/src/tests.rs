//! Unit tests on in-memory disks built with `ddgz-synth`.

use super::*;
use ddgz_disk::{Extent, ExtentKind};
use ddgz_synth::gpt as sg;

/// A disk held in memory; all of it is `Data`.
#[derive(Debug)]
pub(crate) struct MemDisk(pub Vec<u8>);

impl Disk for MemDisk {
    fn size(&self) -> u64 {
        self.0.len() as u64
    }
    fn extents(&self, offset: u64, len: u64) -> ddgz_disk::Result<Vec<Extent>> {
        ddgz_disk::check_range(self.size(), offset, len)?;
        Ok(if len == 0 {
            vec![]
        } else {
            vec![Extent {
                offset,
                len,
                kind: ExtentKind::Data,
            }]
        })
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> ddgz_disk::Result<()> {
        ddgz_disk::check_range(self.size(), offset, buf.len() as u64)?;
        buf.copy_from_slice(&self.0[offset as usize..offset as usize + buf.len()]);
        Ok(())
    }
}

impl MemDisk {
    pub(crate) fn apply(&mut self, patches: &[ddgz_disk::Patch]) {
        for p in patches {
            self.0[p.offset as usize..p.offset as usize + p.data.len()].copy_from_slice(&p.data);
        }
    }
}

pub(crate) fn small_gpt() -> sg::Gpt {
    let part = |number, first_lba, last_lba, t| sg::Part {
        number,
        first_lba,
        last_lba,
        type_guid: sg::guid(t),
        unique_guid: sg::seeded_guid(1, u64::from(number)),
        name: format!("part{number}"),
    };
    sg::Gpt {
        disk_sectors: 4096,
        disk_guid: sg::seeded_guid(1, 0),
        parts: vec![
            part(1, 64, 2047, sg::types::EFI_SYSTEM),
            part(5, 2048, 3071, sg::types::BASIC_DATA),
            part(6, 3072, 4000, sg::types::BASIC_DATA),
        ],
    }
}

fn disk_of(g: &sg::Gpt) -> MemDisk {
    let mut d = MemDisk(vec![0; (g.disk_sectors * SECTOR) as usize]);
    d.apply(&g.patches());
    d
}

#[test]
fn reads_primary_gpt() {
    let g = small_gpt();
    let d = disk_of(&g);
    let t = table(&d).unwrap();
    assert_eq!(t.source, TableSource::GptPrimary);
    assert_eq!(t.disk_guid, Some(Guid(g.disk_guid)));
    let nums: Vec<u32> = t.partitions.iter().map(|p| p.number).collect();
    assert_eq!(nums, [1, 5, 6]);
    assert_eq!(t.partitions[0].name.as_deref(), Some("part1"));
    assert_eq!(t.partitions[0].type_name, Some("EFI System"));
    assert_eq!(partition_range(&d, 5).unwrap(), 2048 * 512..3072 * 512);
}

#[test]
fn missing_partition_is_named() {
    let d = disk_of(&small_gpt());
    let e = partition_range(&d, 7).unwrap_err();
    assert_eq!(
        e.to_string(),
        "partition 7 does not exist (the disk has partitions 1, 5, 6)"
    );
}

#[test]
fn falls_back_to_backup() {
    let d0 = disk_of(&small_gpt());
    let mut d = MemDisk(d0.0.clone());
    d.0[512 + 16] ^= 0xFF; // primary header CRC
    let t = table(&d).unwrap();
    assert_eq!(t.source, TableSource::GptBackup);
    assert_eq!(partition_range(&d, 6).unwrap(), 3072 * 512..4001 * 512);
    // Both broken: an error naming both.
    let last = d.0.len() - 512;
    d.0[last] = b'X';
    let e = table(&d).unwrap_err().to_string();
    assert!(e.contains("primary: header at LBA 1: CRC mismatch"), "{e}");
    assert!(e.contains("backup: no GPT signature at LBA 4095"), "{e}");
}

#[test]
fn mbr_only() {
    let mut d = MemDisk(vec![0; 4096 * 512]);
    let e = &mut d.0[446..462];
    e[4] = 0x83;
    e[8..12].copy_from_slice(&2048u32.to_le_bytes());
    e[12..16].copy_from_slice(&1024u32.to_le_bytes());
    d.0[510] = 0x55;
    d.0[511] = 0xAA;
    let t = table(&d).unwrap();
    assert_eq!(t.source, TableSource::Mbr);
    assert_eq!(partition_range(&d, 1).unwrap(), 2048 * 512..3072 * 512);
    assert_eq!(
        partition_range(&d, 2).unwrap_err().to_string(),
        "partition 2 does not exist (the disk has partition 1)"
    );
}

#[test]
fn no_table() {
    let d = MemDisk(vec![0; 4096 * 512]);
    assert!(matches!(table(&d), Err(Error::NoTable(_))));
    let d = MemDisk(vec![0; 100]);
    assert!(matches!(table(&d), Err(Error::NoTable(_))));
}

#[test]
fn partition_past_end() {
    let mut g = small_gpt();
    g.parts[2].last_lba = 5000;
    let d = disk_of(&g);
    let e = partition_range(&d, 6).unwrap_err().to_string();
    assert!(e.contains("past the end of the disk"), "{e}");
}

#[test]
fn huge_entry_count_is_refused() {
    let mut d = disk_of(&small_gpt());
    d.0[512 + 80..512 + 84].copy_from_slice(&u32::MAX.to_le_bytes());
    let mut h = d.0[512..1024].to_vec();
    sg::fix_header_crc(&mut h);
    d.0[512..1024].copy_from_slice(&h);
    let s = gpt::scan(&d).unwrap();
    let why = s.primary.unwrap_err().reason;
    assert!(why.contains("exceeds our limit"), "{why}");
}

/// A 48 MiB disk: FAT12 partition 1, FAT16 partition 5 with `boot.cfg`, FAT16 partition 6,
/// VMFS6-L headers in partition 7.
fn rich_disk() -> MemDisk {
    use std::io::{Cursor, Write};
    let mib = 2048u64; // sectors
    let part = |number, first_lba: u64, last_lba: u64, t| sg::Part {
        number,
        first_lba,
        last_lba,
        type_guid: sg::guid(t),
        unique_guid: sg::seeded_guid(2, u64::from(number)),
        name: format!("p{number}"),
    };
    let g = sg::Gpt {
        disk_sectors: 48 * mib,
        disk_guid: sg::seeded_guid(2, 0),
        parts: vec![
            part(1, mib, 2 * mib - 1, sg::types::EFI_SYSTEM),
            part(5, 2 * mib, 10 * mib - 1, sg::types::BASIC_DATA),
            part(6, 10 * mib, 18 * mib - 1, sg::types::BASIC_DATA),
            part(7, 18 * mib, 48 * mib - 40, sg::types::VMFSL),
        ],
    };
    let mut d = disk_of(&g);
    let fat = |len: u64, file: Option<&str>| {
        let mut c = Cursor::new(vec![0u8; len as usize]);
        fatfs::format_volume(&mut c, fatfs::FormatVolumeOptions::new()).unwrap();
        c.set_position(0);
        if let Some(name) = file {
            let fs = fatfs::FileSystem::new(&mut c, fatfs::FsOptions::new()).unwrap();
            let mut f = fs.root_dir().create_file(name).unwrap();
            f.write_all(b"kernel=b.b00\n").unwrap();
            drop(f);
            fs.unmount().unwrap();
        }
        c.into_inner()
    };
    let mut put = |off: u64, data: Vec<u8>| d.apply(&[ddgz_disk::Patch { offset: off, data }]);
    put(mib * 512, fat(mib * 512, None));
    put(2 * mib * 512, fat(8 * mib * 512, Some("boot.cfg")));
    put(10 * mib * 512, fat(8 * mib * 512, None));
    let p7 = &g.parts[3];
    for mut p in
        ddgz_synth::esxi::vmfs_headers(ddgz_synth::esxi::Volume::Vmfs6L, p7.len(), "OSDATA-x", 5)
    {
        p.offset += p7.start();
        put(p.offset, p.data);
    }
    d
}

#[test]
fn rich_disk_is_understood() {
    let d = rich_disk();
    let r = inspect(&d).unwrap();
    let kinds: Vec<&str> = r
        .partitions
        .iter()
        .map(|p| match &p.content {
            Content::Fat(f) => f.fat_type,
            Content::Vmfs(v) => v.flavor.name(),
            _ => "other",
        })
        .collect();
    assert_eq!(kinds, ["FAT12", "FAT16", "FAT16", "VMFS-L"]);
    match &r.partitions[1].content {
        Content::Fat(f) => assert!(f.has_root_entry("BOOT.CFG")),
        c => panic!("{c:?}"),
    }
    assert_eq!(partition_range(&d, 7).unwrap().start, 18 << 20);
}

/// Corrupt bytes everywhere the parsers look (GPT headers with their CRCs fixed so parsing
/// goes deeper, entries, FAT boot sectors, FATs, root directories, VMFS headers): no panic,
/// no runaway, and the FAT guard catches what would make `fatfs` fail hard.
#[test]
fn mutations_never_panic() {
    let base = rich_disk();
    let mut x: u64 = 0x1234_5678_9ABC_DEF1;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mib = 1u64 << 20;
    let p7 = 18 * mib;
    // (start, len, is a GPT header whose CRC to fix)
    let regions: [(u64, u64, bool); 10] = [
        (512, 92, true),
        (1024, 512, false),
        (mib, 512, false),
        (mib + 512, 4096, false),
        (2 * mib, 512, false),
        (2 * mib + 512, 64 * 1024, false),
        (10 * mib, 512, false),
        (p7 + 0x10_0000, 0x1200, false),
        (p7 + 0x130_0000, 0x100, false),
        (base.0.len() as u64 - 512, 92, true),
    ];
    let mut d = MemDisk(base.0.clone());
    for _ in 0..1500 {
        let (start, len, header) = regions[(rnd() % regions.len() as u64) as usize];
        for _ in 0..1 + rnd() % 4 {
            let off = (start + rnd() % len) as usize;
            d.0[off] = if rnd() % 3 == 0 { 0xFF } else { rnd() as u8 };
        }
        if header && rnd() % 2 == 0 {
            let s = start as usize;
            let mut h = d.0[s..s + 512].to_vec();
            h[12..16].copy_from_slice(&92u32.to_le_bytes());
            sg::fix_header_crc(&mut h);
            d.0[s..s + 512].copy_from_slice(&h);
        }
        if let Ok(r) = inspect(&d) {
            for p in &r.partitions {
                if let Content::Invalid { reason, .. } = &p.content {
                    assert!(!reason.contains("parser failed"), "{reason}");
                }
            }
        }
        let _ = validate(&d, Profile::Esxi);
        let _ = partition_range(&d, 7);
        let s = start as usize;
        d.0[s..s + len.max(512) as usize].copy_from_slice(&base.0[s..s + len.max(512) as usize]);
    }
}

fn messages(d: &MemDisk, profile: Profile) -> Vec<String> {
    validate(d, profile)
        .unwrap()
        .items
        .iter()
        .map(|f| f.to_string())
        .collect()
}

#[test]
fn protective_mbr_findings() {
    let mut d = rich_disk();
    d.0[..512].fill(0);
    let m = messages(&d, Profile::Generic);
    assert!(
        m.iter()
            .any(|s| s.starts_with("warning [pmbr-missing]: no protective MBR")),
        "{m:?}"
    );
    // Hybrid: a second MBR entry besides 0xEE.
    let mut d = rich_disk();
    d.0[446 + 16 + 4] = 0x0C;
    d.0[446 + 16 + 8..446 + 16 + 12].copy_from_slice(&2048u32.to_le_bytes());
    d.0[446 + 16 + 12..446 + 16 + 16].copy_from_slice(&2048u32.to_le_bytes());
    let m = messages(&d, Profile::Generic);
    assert!(m.iter().any(|s| s.contains("hybrid MBR")), "{m:?}");
}

#[test]
fn fat_guard_names_the_field() {
    // Partition 5's BPB claims more sectors than the partition has.
    let mut d = rich_disk();
    let bpb = 2 << 20;
    d.0[bpb + 19..bpb + 21].copy_from_slice(&0u16.to_le_bytes());
    d.0[bpb + 32..bpb + 36].copy_from_slice(&100_000u32.to_le_bytes());
    let r = inspect(&d).unwrap();
    match &r.partitions[1].content {
        Content::Invalid { what, reason } => {
            assert_eq!(what, "FAT");
            assert!(
                reason.contains("the partition holds only 8388608 bytes"),
                "{reason}"
            );
        }
        c => panic!("{c:?}"),
    }
    let m = messages(&d, Profile::Generic);
    assert!(
        m.iter().any(|s| s.starts_with(
            "warning [fat-damaged]: partition 5: FAT: the boot sector claims 100000 sectors"
        )),
        "{m:?}"
    );
    // Under the ESXi profile the bootbank without a readable FAT is an error.
    let f = validate(&d, Profile::Esxi).unwrap();
    assert!(f.has_errors());
}

#[test]
fn vmfs_lv_uuid_mismatch_is_an_error() {
    let mut d = rich_disk();
    let off = (18 << 20) + ddgz_synth::esxi::FS_LV_UUID as usize;
    d.0[off] ^= 0xFF;
    let f = validate(&d, Profile::Generic).unwrap();
    let e = f
        .items
        .iter()
        .find(|i| i.severity == Severity::Error)
        .expect("an error");
    assert_eq!(e.partition, Some(7));
    assert!(
        e.message.starts_with("VMFS: LV UUID mismatch"),
        "{}",
        e.message
    );
}
