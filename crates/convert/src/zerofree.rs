//! `--zero-free`: which bytes of a disk its filesystems mark free, so that the output
//! holds zeros there instead of deleted data (which then costs nothing to compress).
//!
//! Each partition (or the whole disk, without a partition table) is probed; a filesystem
//! ddgz reads lists its free space through its own crate (FAT: the FAT; ext2/3/4: the
//! block bitmaps; NTFS: `$Bitmap`; XFS: the free-space B+ trees), and only when it is
//! clean — a dirty, needs-recovery or hibernated one, a partition that overlaps another,
//! and anything ddgz does not read (VMFS, LVM, swap, unknown) are left as they are, each
//! with the reason in the report. The ranges are computed on the disk as it will be written (after `--add`), so
//! clusters an edit allocates are in use, not free. `verify --against --zero-free`
//! computes the same ranges from the source the same way.

use std::ops::Range;

use ddgz_disk::Disk;
use ddgz_layout::PartitionType;
use serde::Serialize;

/// Free ranges kept at most over the whole disk (16 bytes each): a filesystem whose free
/// space is more fragmented than this is zeroed only in its first ranges.
pub const MAX_RANGES: usize = 1 << 20;

/// What `--zero-free` did to the disk, per volume.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct ZeroFree {
    /// Bytes made zeros, over all volumes.
    pub zeroed_bytes: u64,
    /// One entry per partition (or one for the whole disk without a partition table).
    pub volumes: Vec<VolumeZeroing>,
}

/// What `--zero-free` did to one partition.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct VolumeZeroing {
    /// The partition number; `None` for a disk without a partition table.
    pub partition: Option<u32>,
    /// First byte on the disk.
    pub offset: u64,
    /// Bytes.
    pub size: u64,
    /// What it holds: `FAT16`, `ext4`, `NTFS`, `XFS`, `VMFS`, `unknown`, …
    pub filesystem: String,
    /// Free bytes made zeros.
    pub zeroed_bytes: u64,
    /// Why it was left as it is (or only partly zeroed); `None` when all free space was
    /// zeroed.
    pub note: Option<String>,
}

impl std::fmt::Display for VolumeZeroing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.partition {
            Some(n) => write!(f, "partition {n} ({})", self.filesystem)?,
            None => write!(f, "the disk ({})", self.filesystem)?,
        }
        if self.zeroed_bytes > 0 || self.note.is_none() {
            write!(
                f,
                ": {} of free space zeroed",
                ddgz_disk::size::human(self.zeroed_bytes)
            )?;
        }
        if let Some(n) = &self.note {
            write!(f, "{}{n}", if self.zeroed_bytes > 0 { "; " } else { ": " })?;
        }
        Ok(())
    }
}

/// The free ranges of `disk`'s filesystems (disk offsets, sorted per volume) and the
/// report. Never fails: a volume that cannot be read is left as it is, with a note.
pub fn plan(disk: &dyn Disk) -> (Vec<Range<u64>>, ZeroFree) {
    let mut ranges = Vec::new();
    let mut report = ZeroFree::default();
    let volumes: Vec<(Option<u32>, Range<u64>, Option<String>)> =
        match ddgz_layout::partitions(disk) {
            Ok(parts) => {
                let usable: Vec<_> = parts
                    .iter()
                    .filter(|p| !is_container(p.kind))
                    .filter_map(|p| {
                        ddgz_layout::range_in_disk(p, disk.size())
                            .ok()
                            .map(|r| (p.number, r))
                    })
                    .collect();
                usable
                    .iter()
                    .map(|(n, r)| {
                        let other = usable
                            .iter()
                            .find(|(m, s)| m != n && s.start < r.end && r.start < s.end);
                        let note =
                            other.map(|(m, _)| format!("overlaps partition {m}: left as it is"));
                        (Some(*n), r.clone(), note)
                    })
                    .collect()
            }
            Err(ddgz_layout::Error::NoTable(_)) => vec![(None, 0..disk.size(), None)],
            Err(e) => {
                report.volumes.push(VolumeZeroing {
                    partition: None,
                    offset: 0,
                    size: disk.size(),
                    filesystem: "unknown".into(),
                    zeroed_bytes: 0,
                    note: Some(format!(
                        "the partition table cannot be read ({e}): left as it is"
                    )),
                });
                return (ranges, report);
            }
        };
    for (number, range, note) in volumes {
        let mut v = VolumeZeroing {
            partition: number,
            offset: range.start,
            size: range.end - range.start,
            filesystem: "unknown".into(),
            zeroed_bytes: 0,
            note,
        };
        if v.note.is_none() {
            let mut mine = Vec::new();
            let mut dropped = false;
            let room = MAX_RANGES.saturating_sub(ranges.len());
            let outcome = volume(disk, &range, &mut v.filesystem, &mut |r: Range<u64>| {
                // Inside the volume, whatever the filesystem said.
                let r = range.start + r.start.min(v.size)..range.start + r.end.min(v.size);
                if r.start < r.end {
                    if mine.len() < room {
                        mine.push(r);
                    } else {
                        dropped = true;
                    }
                }
            });
            match outcome {
                Ok(()) => {
                    v.zeroed_bytes = mine.iter().map(|r| r.end - r.start).sum();
                    if dropped {
                        v.note = Some(format!(
                            "free space in more than {MAX_RANGES} pieces: only the first \
                             zeroed"
                        ));
                    }
                    ranges.extend(mine);
                }
                Err(why) => v.note = Some(why),
            }
        }
        report.zeroed_bytes += v.zeroed_bytes;
        report.volumes.push(v);
    }
    (ranges, report)
}

/// An MBR extended partition: a container of logical ones, not a filesystem.
fn is_container(kind: PartitionType) -> bool {
    matches!(kind, PartitionType::Mbr(0x05 | 0x0F | 0x85))
}

/// Probes `range` and lists its free space into `emit` (volume offsets); `Err` says why
/// it is left as it is (then what `emit` got must be dropped). Sets `fs` to its name.
fn volume(
    disk: &dyn Disk,
    range: &Range<u64>,
    fs: &mut String,
    emit: &mut dyn FnMut(Range<u64>),
) -> Result<(), String> {
    let len = range.end - range.start;
    let mut head = vec![0u8; len.min(4096) as usize];
    disk.read_at(range.start, &mut head)
        .map_err(|e| format!("cannot be read ({e}): left as it is"))?;
    let left = |what: &str, why: String| format!("{what} {why}: left as it is");
    if head.len() >= 1024 + 0x3A && head[1024 + 0x38..1024 + 0x3A] == [0x53, 0xEF] {
        let ext = ddgz_ext4::Fs::open(disk, range.start, len);
        let ext = match ext {
            Ok(f) => f,
            Err(e) => {
                *fs = "ext".into();
                return Err(left("cannot be read", format!("({e})")));
            }
        };
        *fs = ext_name(ext.superblock()).into();
        return match ext.free_space(emit) {
            // Groups whose bitmap was never initialised were never written: nothing lost.
            Ok(ddgz_ext4::FreeSpace::Listed { .. }) => Ok(()),
            Ok(ddgz_ext4::FreeSpace::Unclean(why)) => Err(left("not clean:", why)),
            Err(e) => Err(left("cannot be read", format!("({e})"))),
        };
    }
    if head.len() >= 11 && &head[3..11] == b"NTFS    " {
        *fs = "NTFS".into();
        let vol = ddgz_ntfs::Volume::open(disk, range.start, len)
            .map_err(|e| left("cannot be read", format!("({e})")))?;
        return match vol.free_space(emit) {
            Ok(ddgz_ntfs::FreeSpace::Listed { .. }) => Ok(()),
            Ok(ddgz_ntfs::FreeSpace::Unclean(why)) => Err(left("not clean:", why)),
            Err(e) => Err(left("cannot be read", format!("({e})"))),
        };
    }
    if ddgz_fat::looks_like_fat(&head) {
        *fs = "FAT".into();
        if let Ok(ddgz_fat::Probe::Fat(info)) = ddgz_fat::probe(disk, range.clone()) {
            *fs = info.fat_type.into();
        }
        return match ddgz_fat::free_space(disk, range.clone(), emit) {
            Ok(ddgz_fat::FreeSpace::Listed { .. }) => Ok(()),
            Ok(ddgz_fat::FreeSpace::Unclean(why)) => Err(left("not clean:", why)),
            Err(e) => Err(left("cannot be read", format!("({e})"))),
        };
    }
    if head.starts_with(b"XFSB") {
        *fs = "XFS".into();
        let xfs = match ddgz_xfs::Fs::open(disk, range.start, len) {
            Ok(f) => f,
            Err(ddgz_xfs::Error::DirtyLog(why)) => {
                return Err(left(
                    "not clean:",
                    format!("its log holds work to replay ({why})"),
                ))
            }
            Err(e) => return Err(left("cannot be read", format!("({e})"))),
        };
        return match xfs.free_space(emit) {
            Ok(ddgz_xfs::FreeSpace::Listed { .. }) => Ok(()),
            Ok(ddgz_xfs::FreeSpace::Unclean(why)) => Err(left("not clean:", why)),
            Err(e) => Err(left("cannot be read", format!("({e})"))),
        };
    }
    if matches!(
        ddgz_vmfs::probe(disk, range.clone()),
        Ok(ddgz_vmfs::Probe::Volume(_) | ddgz_vmfs::Probe::Invalid { .. })
    ) {
        *fs = "VMFS".into();
        return Err("VMFS is not read by ddgz: copied as it is".into());
    }
    if head.len() >= 0x208 && &head[0x200..0x208] == b"LABELONE" {
        *fs = "LVM2 PV".into();
        return Err("logical volumes are not zeroed: copied as they are".into());
    }
    Err("no filesystem ddgz reads: copied as it is".into())
}

/// `ext2`, `ext3` or `ext4`, as the features say.
fn ext_name(sb: &ddgz_ext4::Superblock) -> &'static str {
    use ddgz_ext4::superblock::{incompat, COMPAT_HAS_JOURNAL};
    if sb.incompat & (incompat::EXTENTS | incompat::FLEX_BG | incompat::BIT64) != 0 {
        "ext4"
    } else if sb.compat & COMPAT_HAS_JOURNAL != 0 {
        "ext3"
    } else {
        "ext2"
    }
}
