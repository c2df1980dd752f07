//! The hosted sparse extent header (VMware Virtual Disk Format 5.0, "Hosted Sparse Extent
//! Header"): 512 bytes, little-endian, at the start of a sparse extent file and, for
//! streamOptimized files whose directory is written last, again as the footer.
//!
//! ```text
//!  0 u32 magicNumber 'KDMV'     44 u32 numGTEsPerGT        73 u8[4] newline test
//!  4 u32 version                48 u64 rgdOffset (sectors)  77 u16 compressAlgorithm
//!  8 u32 flags                  56 u64 gdOffset (sectors)
//! 12 u64 capacity (sectors)     64 u64 overHead (sectors)
//! 20 u64 grainSize (sectors)    72 u8  uncleanShutdown
//! 28 u64 descriptorOffset       36 u64 descriptorSize (sectors)
//! ```

use ddgz_disk::bytes::{le32, le64};
use ddgz_disk::Problem;

/// A sector: every offset and size in the header counts them.
pub const SECTOR: u64 = 512;
/// `KDMV` read as a little-endian u32 (the bytes `4b 44 4d 56`).
pub const MAGIC: [u8; 4] = *b"KDMV";
/// The VMFS sparse (ESX 2 "COWD") magic: recognised, not read.
pub const COWD_MAGIC: [u8; 4] = *b"COWD";
/// Flag bit 1: a redundant grain directory is kept at `rgdOffset`.
pub const FLAG_RGD: u32 = 1 << 1;
/// Flag bit 2: grain table entry 1 means "grain reads as zeros" (zeroed-grain GTE).
pub const FLAG_ZERO_GRAIN: u32 = 1 << 2;
/// Flag bit 16: grains are compressed (QEMU, and we, go by `compressAlgorithm`).
#[cfg(test)]
pub const FLAG_COMPRESSED: u32 = 1 << 16;
/// Flag bit 17: grains and metadata are preceded by markers (streamOptimized).
pub const FLAG_MARKERS: u32 = 1 << 17;
/// `gdOffset` meaning "the directory is written at the end; read the footer".
pub const GD_AT_END: u64 = u64::MAX;
/// `compressAlgorithm` 1: deflate, stored as a zlib stream (RFC 1950).
pub const COMPRESS_DEFLATE: u16 = 1;
/// Highest header version defined (3 adds changed-block tracking, readable as 1).
pub const MAX_VERSION: u32 = 3;
/// Our limit on the grain size, in sectors (16 MiB): VMware writes 128 (64 KiB); QEMU
/// accepts up to 1 GiB, but a compressed grain is decompressed whole into memory.
pub const MAX_GRAIN_SECTORS: u64 = 32768;
/// Grain table entries per table: the specification fixes 512; QEMU refuses more.
pub const MAX_GTES_PER_GT: u32 = 512;
/// Most grain directory entries (QEMU's limit on its L1 table: 32 Mi entries).
pub const MAX_GD_ENTRIES: u64 = 32 * 1024 * 1024;
/// Largest embedded or separate descriptor read, in bytes (QEMU reads at most 1 MiB).
pub const MAX_DESCRIPTOR: u64 = 1 << 20;

/// A parsed hosted sparse extent header (fields as stored, not yet validated).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Format version, 1–3.
    pub version: u32,
    /// Flag bits (`FLAG_*`).
    pub flags: u32,
    /// Sectors of guest data the extent holds.
    pub capacity: u64,
    /// Sectors per grain.
    pub grain_sectors: u64,
    /// Sector of the embedded descriptor, 0 if none.
    pub descriptor_offset: u64,
    /// Sectors of the embedded descriptor.
    pub descriptor_sectors: u64,
    /// Grain table entries per grain table.
    pub gtes_per_gt: u32,
    /// Sector of the redundant grain directory.
    pub rgd_offset: u64,
    /// Sector of the grain directory, or [`GD_AT_END`].
    pub gd_offset: u64,
    /// Sectors of metadata before the first grain.
    pub overhead: u64,
    /// The extent was not closed cleanly.
    pub unclean_shutdown: bool,
    /// 0 none, 1 deflate.
    pub compress_algorithm: u16,
}

impl Header {
    /// Parses the 512-byte header in `b` (`b` must hold at least 79 bytes).
    pub fn parse(b: &[u8]) -> Result<Self, Problem> {
        if b.len() < 79 {
            return Err(Problem::invalid(format!(
                "file is {} bytes, shorter than the 512-byte sparse extent header",
                b.len()
            )));
        }
        if b[0..4] != MAGIC {
            return Err(Problem::invalid(format!(
                "no hosted sparse extent magic \"KDMV\" (found {:02x?})",
                &b[0..4]
            )));
        }
        Ok(Self {
            version: le32(b, 4),
            flags: le32(b, 8),
            capacity: le64(b, 12),
            grain_sectors: le64(b, 20),
            descriptor_offset: le64(b, 28),
            descriptor_sectors: le64(b, 36),
            gtes_per_gt: le32(b, 44),
            rgd_offset: le64(b, 48),
            gd_offset: le64(b, 56),
            overhead: le64(b, 64),
            unclean_shutdown: b[72] != 0,
            compress_algorithm: u16::from_le_bytes([b[77], b[78]]),
        })
    }

    /// Whether grains are compressed. QEMU decides by `compressAlgorithm` alone (flag bit
    /// 16 is not looked at); so do we.
    pub fn compressed(&self) -> bool {
        self.compress_algorithm == COMPRESS_DEFLATE
    }

    /// Whether grains and tables carry markers.
    pub fn markers(&self) -> bool {
        self.flags & FLAG_MARKERS != 0
    }

    /// Whether grain table entry 1 means a zeroed grain.
    pub fn zero_grain(&self) -> bool {
        self.flags & FLAG_ZERO_GRAIN != 0
    }
}

/// The derived geometry of a sparse extent, every value checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Geometry {
    /// Guest bytes of the extent.
    pub capacity: u64,
    /// Bytes per grain.
    pub grain: u64,
    /// Grain table entries per table.
    pub gtes: u32,
    /// Guest bytes one grain table covers.
    pub span: u64,
    /// Entries in the grain directory.
    pub gd_entries: u64,
    /// Byte offset of the grain directory.
    pub gd_offset: u64,
}

/// Multiplies a sector count by 512, or says which field overflowed.
fn bytes(sectors: u64, field: &str) -> Result<u64, Problem> {
    sectors.checked_mul(SECTOR).ok_or_else(|| {
        Problem::invalid(format!(
            "{field} of {sectors} sectors overflows a 64-bit byte offset"
        ))
    })
}

impl Header {
    /// Validates the fields in dependency order against a file of `file_size` bytes and
    /// derives the geometry. `gd_offset` must not be [`GD_AT_END`] any more (the footer
    /// has been read).
    pub fn geometry(&self, file_size: u64) -> Result<Geometry, Problem> {
        if self.version > MAX_VERSION {
            return Err(Problem::unsupported(format!(
                "sparse extent version {}; versions 1 to {MAX_VERSION} are supported",
                self.version
            )));
        }
        if self.compress_algorithm > COMPRESS_DEFLATE {
            return Err(Problem::unsupported(format!(
                "compression algorithm {}; only 0 (none) and 1 (deflate) are defined",
                self.compress_algorithm
            )));
        }
        if self.grain_sectors == 0 || self.grain_sectors > MAX_GRAIN_SECTORS {
            return Err(Problem::invalid(format!(
                "grain size of {} sectors; must be between 1 and {MAX_GRAIN_SECTORS} (our \
                 limit)",
                self.grain_sectors
            )));
        }
        if self.gtes_per_gt == 0 || self.gtes_per_gt > MAX_GTES_PER_GT {
            return Err(Problem::invalid(format!(
                "{} grain table entries per table; must be between 1 and {MAX_GTES_PER_GT}",
                self.gtes_per_gt
            )));
        }
        let capacity = bytes(self.capacity, "the capacity")?;
        if capacity > i64::MAX as u64 {
            return Err(Problem::invalid(format!(
                "capacity of {} sectors is larger than 2^63 bytes",
                self.capacity
            )));
        }
        let grain = self.grain_sectors * SECTOR;
        let span = grain * u64::from(self.gtes_per_gt);
        let gd_entries = capacity.div_ceil(span);
        if gd_entries > MAX_GD_ENTRIES {
            return Err(Problem::invalid(format!(
                "the grain directory needs {gd_entries} entries; the limit is \
                 {MAX_GD_ENTRIES}"
            )));
        }
        if self.gd_offset == GD_AT_END {
            return Err(Problem::invalid(
                "the footer's grain directory offset is again \"at the end\" (0xffffffffffffffff)",
            ));
        }
        let gd_offset = bytes(self.gd_offset, "the grain directory offset")?;
        let overhead = bytes(self.overhead, "the overhead")?;
        if overhead > file_size {
            return Err(Problem::new(
                crate::ErrorKind::Truncated,
                format!(
                    "file is 0x{file_size:x} bytes, shorter than its metadata (overHead of \
                     {} sectors): truncated?",
                    self.overhead
                ),
            ));
        }
        if gd_entries > 0 {
            if gd_offset == 0 {
                return Err(Problem::corrupt(
                    "the grain directory offset is 0 (it would overlap the header)",
                ));
            }
            let end = gd_offset.checked_add(gd_entries * 4);
            if end.is_none_or(|e| e > file_size) {
                return Err(Problem::corrupt(format!(
                    "grain directory at 0x{gd_offset:x} ({gd_entries} entries) lies past the \
                     end of the file (size 0x{file_size:x})"
                )));
            }
        }
        Ok(Geometry {
            capacity,
            grain,
            gtes: self.gtes_per_gt,
            span,
            gd_entries,
            gd_offset,
        })
    }
}

/// Marker types of a streamOptimized file (the `type` field of a metadata marker, whose
/// `size` is 0).
pub const MARKER_EOS: u32 = 0;
/// Footer marker (1 and 2 mark grain tables and the directory; the tables are found
/// through the directory, so they are not looked for): the next sector is the footer copy of the header.
pub const MARKER_FOOTER: u32 = 3;

/// Checks the last three sectors of a streamOptimized file whose header says
/// [`GD_AT_END`] — footer marker, footer (a header), end-of-stream marker, the layout
/// QEMU reads — and returns the footer.
pub fn parse_footer(b: &[u8; 1536]) -> Result<Header, Problem> {
    let marker = |at: usize| (le64(b, at), le32(b, at + 8), le32(b, at + 12));
    let (_, fsize, ftype) = marker(0);
    let (eval, esize, etype) = marker(1024);
    if fsize != 0 || ftype != MARKER_FOOTER {
        return Err(Problem::corrupt(format!(
            "the grain directory is at the end, but the sector 1536 bytes before the end \
             is not a footer marker (size {fsize}, type {ftype}; expected 0 and \
             {MARKER_FOOTER})"
        )));
    }
    if eval != 0 || esize != 0 || etype != MARKER_EOS {
        return Err(Problem::corrupt(format!(
            "the last sector is not an end-of-stream marker (value {eval}, size {esize}, \
             type {etype})"
        )));
    }
    Header::parse(&b[512..1024]).map_err(|p| Problem::corrupt(format!("footer: {}", p.message)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Vec<u8> {
        let mut b = vec![0u8; 512];
        b[0..4].copy_from_slice(&MAGIC);
        b[4..8].copy_from_slice(&1u32.to_le_bytes());
        b[8..12].copy_from_slice(&3u32.to_le_bytes());
        b[12..20].copy_from_slice(&2048u64.to_le_bytes());
        b[20..28].copy_from_slice(&128u64.to_le_bytes());
        b[44..48].copy_from_slice(&512u32.to_le_bytes());
        b[56..64].copy_from_slice(&21u64.to_le_bytes());
        b[64..72].copy_from_slice(&128u64.to_le_bytes());
        b
    }

    #[test]
    fn geometry_and_limits() {
        let h = Header::parse(&header()).unwrap();
        let g = h.geometry(1 << 20).unwrap();
        assert_eq!((g.grain, g.span, g.gd_entries), (65536, 32 << 20, 1));
        let e = |f: &dyn Fn(&mut Header)| {
            let mut h = h;
            f(&mut h);
            h.geometry(1 << 20).unwrap_err().message
        };
        assert!(e(&|h| h.version = 4).contains("version 4"));
        assert!(e(&|h| h.grain_sectors = 0).contains("grain size of 0 sectors"));
        assert!(e(&|h| h.gtes_per_gt = 513).contains("513 grain table entries"));
        assert!(e(&|h| h.capacity = u64::MAX).contains("overflows"));
        assert!(e(&|h| h.capacity = 1 << 50).contains("the limit is"));
        assert!(e(&|h| h.gd_offset = 1 << 40).contains("lies past the end"));
        assert!(e(&|h| h.gd_offset = 0).contains("overlap the header"));
        assert!(e(&|h| h.overhead = 1 << 20).contains("truncated"));
        assert!(e(&|h| h.compress_algorithm = 2).contains("compression algorithm 2"));
        assert!(Header::parse(&header()[..50]).is_err());
        assert!(Header::parse(&[0u8; 512])
            .unwrap_err()
            .message
            .contains("KDMV"));
    }

    #[test]
    fn footer_markers() {
        let mut f = [0u8; 1536];
        f[12..16].copy_from_slice(&MARKER_FOOTER.to_le_bytes());
        f[512..1024].copy_from_slice(&header());
        assert!(parse_footer(&f).is_ok());
        f[1024] = 1;
        assert!(parse_footer(&f)
            .unwrap_err()
            .message
            .contains("end-of-stream"));
        f[1024] = 0;
        f[12] = 2;
        assert!(parse_footer(&f)
            .unwrap_err()
            .message
            .contains("footer marker"));
    }
}
