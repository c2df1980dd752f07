//! L2 table entries (qcow2 spec, "Cluster mapping", "Extended L2 Entries").
//!
//! An L2 table is one cluster of big-endian entries, 8 bytes each (16 with extended L2).
//! The first u64:
//!
//! | bits | standard cluster | compressed cluster (`x = 62 - (cluster_bits - 8)`) |
//! |---|---|---|
//! | 0 | zero flag (v3 without extended L2; else reserved) | host byte offset, bits 0..x |
//! | 1..9 | reserved, 0 | 〃 |
//! | 9..56 | host cluster offset (aligned; 0 = unallocated) | 〃 (bits past 55 must be 0) |
//! | 56..62 | reserved, 0 | x..62: additional 512-byte sectors |
//! | 62 | 0 | 1 |
//! | 63 | COPIED | 0 |
//!
//! With an external data file, offset 0 with COPIED set is a real allocation at host 0.
//! With extended L2 the second u64 holds, for subcluster i of 32, bit i = allocated and
//! bit 32 + i = reads as zeros (both set is invalid); for compressed clusters it must be 0.

use crate::types::{Geometry, HostOffset};
use ddgz_disk::Problem;

/// Bit 0: the cluster reads as zeros (standard entries, v3, no extended L2).
pub(crate) const L2E_ZERO: u64 = 1;
/// Bits 9..56: host cluster offset.
pub(crate) const L2E_OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
/// Bit 62: compressed cluster.
pub(crate) const L2E_COMPRESSED: u64 = 1 << 62;
/// Bit 63: COPIED.
pub(crate) const L2E_COPIED: u64 = 1 << 63;
/// Bits 1..9 and 56..62 of a standard entry: reserved.
pub(crate) const L2E_STD_RESERVED: u64 = 0x3f00_0000_0000_01fe;
/// Compressed data is counted in 512-byte sectors (defined by the specification).
pub(crate) const SECTOR: u64 = 512;

/// What one L2 entry says about its guest cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum L2Entry {
    /// Not allocated: read the backing file, or zeros.
    Unallocated,
    /// Reads as zeros.
    Zero,
    /// Data in the host cluster at this offset.
    Data(HostOffset),
    /// Compressed data: `len` bytes at most, starting at byte `offset`.
    Compressed {
        /// First byte of the compressed stream.
        offset: HostOffset,
        /// Upper bound of the stream length, from the sector count.
        len: u64,
    },
    /// Extended L2 standard cluster: per-subcluster allocation and zero bitmaps.
    Subclusters {
        /// Host cluster (meaningful where an allocation bit is set).
        host: Option<HostOffset>,
        /// Bit i: subcluster i is allocated.
        alloc: u32,
        /// Bit i: subcluster i reads as zeros.
        zero: u32,
    },
}

/// Decodes entry `index` (`bitmap` is the second u64 with extended L2, else 0).
pub(crate) fn decode(
    geo: &Geometry,
    index: u64,
    raw: u64,
    bitmap: u64,
) -> Result<L2Entry, Problem> {
    if raw & L2E_COMPRESSED != 0 {
        if geo.data_file {
            return Err(Problem::corrupt(format!(
                "L2 entry {index} (0x{raw:016x}) is compressed, which an image with an \
                 external data file cannot have"
            )));
        }
        if bitmap != 0 {
            return Err(Problem::corrupt(format!(
                "L2 entry {index}: compressed cluster with a nonzero subcluster bitmap \
                 (0x{bitmap:016x})"
            )));
        }
        let x = 62 - (geo.cluster_bits - 8);
        let offset = raw & ((1u64 << x) - 1);
        if offset & !L2E_OFFSET_MASK & !0x1ff != 0 {
            return Err(Problem::corrupt(format!(
                "L2 entry {index} (0x{raw:016x}): compressed cluster offset 0x{offset:x} \
                 has bits above 55 set"
            )));
        }
        let sectors = (raw >> x) & ((1u64 << (62 - x)) - 1);
        // At most 2^13 sectors: no overflow.
        let len = (sectors + 1) * SECTOR - (offset % SECTOR);
        return Ok(L2Entry::Compressed {
            offset: HostOffset(offset),
            len,
        });
    }
    let zero_flag_valid = geo.v3 && !geo.extended_l2;
    let reserved = L2E_STD_RESERVED | if zero_flag_valid { 0 } else { L2E_ZERO };
    if raw & reserved != 0 {
        return Err(Problem::corrupt(format!(
            "L2 entry {index} (0x{raw:016x}) has reserved bits set (0x{:x})",
            raw & reserved
        )));
    }
    let off = raw & L2E_OFFSET_MASK;
    let cs = geo.cluster_size();
    if off % cs != 0 {
        return Err(Problem::corrupt(format!(
            "L2 entry {index}: data cluster offset 0x{off:x} is not aligned to the cluster \
             size 0x{cs:x}"
        )));
    }
    let allocated = off != 0 || (geo.data_file && raw & L2E_COPIED != 0);
    let host = allocated.then_some(HostOffset(off));
    if geo.extended_l2 {
        let alloc = bitmap as u32;
        let zero = (bitmap >> 32) as u32;
        if alloc & zero != 0 {
            return Err(Problem::corrupt(format!(
                "L2 entry {index}: subclusters 0x{:08x} are marked both allocated and zero \
                 (bitmap 0x{bitmap:016x})",
                alloc & zero
            )));
        }
        if alloc != 0 && host.is_none() {
            return Err(Problem::corrupt(format!(
                "L2 entry {index}: subclusters 0x{alloc:08x} are allocated but the entry has \
                 no host cluster"
            )));
        }
        return Ok(L2Entry::Subclusters { host, alloc, zero });
    }
    Ok(if raw & L2E_ZERO != 0 {
        L2Entry::Zero
    } else if let Some(h) = host {
        L2Entry::Data(h)
    } else {
        L2Entry::Unallocated
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_standard_entries() {
        let g = Geometry::new(16, false, true, false);
        assert_eq!(decode(&g, 0, 0, 0), Ok(L2Entry::Unallocated));
        assert_eq!(decode(&g, 0, L2E_COPIED, 0), Ok(L2Entry::Unallocated));
        assert_eq!(decode(&g, 0, 1, 0), Ok(L2Entry::Zero));
        assert_eq!(decode(&g, 0, 0x50000 | 1, 0), Ok(L2Entry::Zero));
        assert_eq!(
            decode(&g, 0, L2E_COPIED | 0x50000, 0),
            Ok(L2Entry::Data(HostOffset(0x50000)))
        );
        let d = Geometry::new(16, false, true, true);
        assert_eq!(
            decode(&d, 0, L2E_COPIED, 0),
            Ok(L2Entry::Data(HostOffset(0)))
        );
        assert_eq!(decode(&d, 0, 0, 0), Ok(L2Entry::Unallocated));
    }

    #[test]
    fn refuses_bad_standard_entries() {
        let g = Geometry::new(16, false, true, false);
        let m = |raw| decode(&g, 5, raw, 0).unwrap_err().message;
        assert_eq!(
            m(2),
            "L2 entry 5 (0x0000000000000002) has reserved bits set (0x2)"
        );
        assert!(m(1 << 56).contains("reserved bits"));
        assert_eq!(
            m(0x50200),
            "L2 entry 5: data cluster offset 0x50200 is not aligned to the cluster size 0x10000"
        );
        // v2 has no zero flag.
        let v2 = Geometry::new(16, false, false, false);
        assert!(decode(&v2, 0, 1, 0)
            .unwrap_err()
            .message
            .contains("reserved bits set (0x1)"));
        let d = Geometry::new(16, false, true, true);
        assert!(decode(&d, 0, L2E_COMPRESSED, 0)
            .unwrap_err()
            .message
            .contains("external data file"));
    }

    #[test]
    fn decodes_compressed_entries() {
        // 64 KiB clusters: x = 54; offset 0x12345, 3 extra sectors.
        let g = Geometry::new(16, false, true, false);
        let raw = L2E_COMPRESSED | (3u64 << 54) | 0x12345;
        assert_eq!(
            decode(&g, 0, raw, 0),
            Ok(L2Entry::Compressed {
                offset: HostOffset(0x12345),
                len: 4 * 512 - 0x145
            })
        );
        // 512 B clusters: x = 61, the offset field reaches bit 60; bits above 55 refused.
        let s = Geometry::new(9, false, true, false);
        let m = decode(&s, 0, L2E_COMPRESSED | (1 << 58), 0)
            .unwrap_err()
            .message;
        assert!(m.contains("has bits above 55 set"), "{m}");
        // 2 MiB clusters: x = 49, 13 bits of sectors.
        let b = Geometry::new(21, false, true, false);
        let raw = L2E_COMPRESSED | (0x1fffu64 << 49) | 0x200;
        assert_eq!(
            decode(&b, 0, raw, 0),
            Ok(L2Entry::Compressed {
                offset: HostOffset(0x200),
                len: 0x2000 * 512
            })
        );
    }

    #[test]
    fn decodes_extended_entries() {
        let g = Geometry::new(16, true, true, false);
        assert_eq!(
            decode(&g, 0, 0x50000, 0x0000_0002_0000_0001),
            Ok(L2Entry::Subclusters {
                host: Some(HostOffset(0x50000)),
                alloc: 1,
                zero: 2
            })
        );
        let m = |raw, bm| decode(&g, 1, raw, bm).unwrap_err().message;
        assert!(m(0x50000, 0x0000_0001_0000_0001).contains("both allocated and zero"));
        assert!(m(0, 1).contains("no host cluster"));
        assert!(m(1, 0).contains("reserved bits set (0x1)"));
        assert!(m(L2E_COMPRESSED | 0x1000, 1).contains("nonzero subcluster bitmap"));
    }
}
