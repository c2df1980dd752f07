//! Our repair of the directories `fatfs` 0.3.6 creates.
//!
//! `fatfs::Dir::create_dir` writes the new directory's `.` and `..` entries through its
//! general entry writer, which puts a long-file-name slot before each of them. The first
//! cluster of a new directory then reads `LFN(.) . LFN(..) ..`, and `fsck.fat` reports
//! "Expected a valid '.' entry in this slot" and "Bad short file name (..)". On FAT32 it
//! also points `..` of a first-level directory at the root's cluster, where the spec says
//! 0 (FAT spec 1.03, section 6.7: "the dotdot entry points to the starting cluster of the
//! parent directory; if the parent is the root, the value is 0").
//!
//! Right after `create_dir` (before anything is created inside), we rewrite that first
//! cluster ourselves: slot 0 is `.` (the directory's own cluster), slot 1 is `..` (the
//! parent's cluster, 0 for the root on every FAT width), both plain 8.3 entries with the
//! directory's attributes and times, and the rest of the cluster is zero (end of
//! directory). The entry in the parent is left as `fatfs` wrote it: that part is correct.

use crate::bpb::{FatType, Root};
use crate::volume::{DirLoc, RawEntry, Volume, ATTR_DIR};
use crate::Error;

/// Rewrites the first cluster of the directory `entry` (just created in `parent`).
pub(crate) fn fix_new_dir(vol: &Volume<'_>, parent: DirLoc, entry: &RawEntry) -> Result<(), Error> {
    let parent_cluster = match (parent, vol.geo.root) {
        (DirLoc::FixedRoot, _) => 0,
        (DirLoc::Chain(c), Root::Cluster(root)) if c == root => 0,
        (DirLoc::Chain(c), _) => c,
    };
    let cs = vol.geo.cluster_size as usize;
    let mut buf = vec![0u8; cs];
    buf[..32].copy_from_slice(&dot_entry(
        entry,
        b".          ",
        entry.cluster,
        vol.geo.fat_type,
    ));
    buf[32..64].copy_from_slice(&dot_entry(
        entry,
        b"..         ",
        parent_cluster,
        vol.geo.fat_type,
    ));
    let at = vol.geo.cluster_offset(entry.cluster);
    vol.store.borrow_mut().write_at(at, &buf).map_err(|e| {
        Error::io(
            &vol.label,
            &entry.name,
            "repair the new directory's . and .. entries",
            e,
        )
    })
}

/// A `.` or `..` entry: the directory's own short entry with another name and cluster,
/// size 0, no case flags.
fn dot_entry(dir: &RawEntry, name: &[u8; 11], cluster: u32, fat: FatType) -> [u8; 32] {
    let mut e = dir.raw;
    e[..11].copy_from_slice(name);
    e[11] = ATTR_DIR;
    e[12] = 0;
    let hi = if fat == FatType::Fat32 {
        (cluster >> 16) as u16
    } else {
        0
    };
    e[20..22].copy_from_slice(&hi.to_le_bytes());
    e[26..28].copy_from_slice(&(cluster as u16).to_le_bytes());
    e[28..32].fill(0);
    e
}
