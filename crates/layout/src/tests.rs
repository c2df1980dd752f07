//! Unit tests on in-memory disks built with `ddgz-synth`.

use super::*;
use ddgz_image::{Extent, ExtentKind};
use ddgz_synth::gpt as sg;

/// A disk held in memory; all of it is `Data`.
#[derive(Debug)]
pub(crate) struct MemDisk(pub Vec<u8>);

impl Disk for MemDisk {
    fn size(&self) -> u64 {
        self.0.len() as u64
    }
    fn extents(&self, offset: u64, len: u64) -> ddgz_image::Result<Vec<Extent>> {
        ddgz_image::check_range(self.size(), offset, len)?;
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
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> ddgz_image::Result<()> {
        ddgz_image::check_range(self.size(), offset, buf.len() as u64)?;
        buf.copy_from_slice(&self.0[offset as usize..offset as usize + buf.len()]);
        Ok(())
    }
}

impl MemDisk {
    pub(crate) fn apply(&mut self, patches: &[ddgz_image::Patch]) {
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
