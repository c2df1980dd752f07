//! The active L1 table (qcow2 spec, "Cluster mapping").
//!
//! `l1_size` big-endian u64 entries at `l1_table_offset` (cluster-aligned, contiguous):
//!
//! | bits | meaning |
//! |---|---|
//! | 0..9 | reserved, 0 |
//! | 9..56 | offset of the L2 table (cluster-aligned; 0 = not allocated) |
//! | 56..63 | reserved, 0 |
//! | 63 | COPIED (refcount is exactly one; ignored when reading) |
//!
//! Only the entries the virtual size needs are loaded; the limit on `l1_size` is QEMU's
//! (32 MiB of table), so the allocation is bounded both by that and by the file size.

use crate::types::{Geometry, HostOffset};
use ddgz_disk::Problem;

/// Largest L1 table QEMU opens: 32 MiB, i.e. 4 Mi entries (QEMU's `QCOW_MAX_L1_SIZE`).
pub const MAX_L1_ENTRIES: u64 = 32 * 1024 * 1024 / 8;
/// Bits 9..56: the L2 table offset.
pub(crate) const L1E_OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
/// Bit 63: COPIED.
pub(crate) const L1E_COPIED: u64 = 1 << 63;
/// Bits that must be zero.
pub(crate) const L1E_RESERVED: u64 = !(L1E_OFFSET_MASK | L1E_COPIED);

/// Checks `l1_size` and `l1_table_offset` against the virtual size and the file, and
/// returns how many entries to load.
pub(crate) fn check_table(
    geo: &Geometry,
    virtual_size: u64,
    l1_size: u32,
    l1_offset: u64,
    file_size: u64,
) -> Result<u64, Problem> {
    let needed = geo.l1_entries_for(virtual_size);
    let l1_size = u64::from(l1_size);
    if l1_size > MAX_L1_ENTRIES {
        return Err(Problem::invalid(format!(
            "L1 table has {l1_size} entries; the limit is {MAX_L1_ENTRIES} (32 MiB)"
        )));
    }
    if l1_size < needed {
        return Err(Problem::corrupt(format!(
            "L1 table has {l1_size} entries but the virtual size 0x{virtual_size:x} needs \
             {needed}"
        )));
    }
    if needed == 0 {
        return Ok(0);
    }
    let cs = geo.cluster_size();
    if l1_offset % cs != 0 {
        return Err(Problem::corrupt(format!(
            "L1 table offset 0x{l1_offset:x} is not aligned to the cluster size 0x{cs:x}"
        )));
    }
    if l1_offset < cs {
        return Err(Problem::corrupt(format!(
            "L1 table at 0x{l1_offset:x} overlaps the header cluster"
        )));
    }
    let end = l1_offset.checked_add(needed * 8);
    if end.is_none_or(|e| e > file_size) {
        return Err(Problem::corrupt(format!(
            "L1 table at 0x{l1_offset:x} ({needed} entries) lies past the end of the file \
             (size 0x{file_size:x})"
        )));
    }
    Ok(needed)
}

/// Decodes one L1 entry into the L2 table offset (`None` = unallocated), checking
/// reserved bits, alignment and that the whole table lies inside the file.
pub(crate) fn decode(
    geo: &Geometry,
    index: u64,
    raw: u64,
    file_size: u64,
) -> Result<Option<HostOffset>, Problem> {
    if raw & L1E_RESERVED != 0 {
        return Err(Problem::corrupt(format!(
            "L1 entry {index} (0x{raw:016x}) has reserved bits set (0x{:x})",
            raw & L1E_RESERVED
        )));
    }
    let off = raw & L1E_OFFSET_MASK;
    if off == 0 {
        return Ok(None);
    }
    let cs = geo.cluster_size();
    if off % cs != 0 {
        return Err(Problem::corrupt(format!(
            "L2 table offset 0x{off:x} (L1 entry {index}) is not aligned to the cluster size \
             0x{cs:x}"
        )));
    }
    // off is nonzero and aligned, so it is at least one cluster: never the header.
    if off.checked_add(cs).is_none_or(|e| e > file_size) {
        return Err(Problem::corrupt(format!(
            "L2 table at 0x{off:x} (L1 entry {index}) lies past the end of the file \
             (size 0x{file_size:x})"
        )));
    }
    Ok(Some(HostOffset(off)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn geo() -> Geometry {
        Geometry::new(16, false, true, false)
    }

    #[test]
    fn checks_table_placement() {
        let g = geo();
        // 1 GiB with 64 KiB clusters: one L2 table maps 512 MiB, so 2 entries.
        assert_eq!(check_table(&g, 1 << 30, 2, 0x30000, 0x40000), Ok(2));
        assert_eq!(check_table(&g, 0, 0, 0, 0x40000), Ok(0));
        let m = |r: Result<u64, Problem>| r.unwrap_err().message;
        assert_eq!(
            m(check_table(&g, 1 << 30, 1, 0x30000, 0x40000)),
            "L1 table has 1 entries but the virtual size 0x40000000 needs 2"
        );
        assert!(m(check_table(&g, 1 << 30, u32::MAX, 0x30000, 0x40000)).contains("limit is"));
        assert!(m(check_table(&g, 1 << 30, 2, 0x30001, 0x40000)).contains("not aligned"));
        assert!(m(check_table(&g, 1 << 30, 2, 0, 0x40000)).contains("overlaps the header"));
        assert_eq!(
            m(check_table(&g, 1 << 30, 2, 0x40000, 0x40000)),
            "L1 table at 0x40000 (2 entries) lies past the end of the file (size 0x40000)"
        );
        assert!(m(check_table(&g, 1 << 30, 2, u64::MAX - 0xffff, 0x40000)).contains("past the end"));
    }

    #[test]
    fn decodes_entries() {
        let g = geo();
        assert_eq!(decode(&g, 0, 0, 0x100000), Ok(None));
        assert_eq!(
            decode(&g, 0, L1E_COPIED | 0x20000, 0x100000),
            Ok(Some(HostOffset(0x20000)))
        );
        let m = |raw| decode(&g, 3, raw, 0x100000).unwrap_err().message;
        assert_eq!(
            m(1),
            "L1 entry 3 (0x0000000000000001) has reserved bits set (0x1)"
        );
        assert!(m(1 << 60).contains("reserved bits"));
        assert!(m(0x20200).contains("not aligned"));
        assert_eq!(
            m(0x100000),
            "L2 table at 0x100000 (L1 entry 3) lies past the end of the file (size 0x100000)"
        );
    }
}
