//! The image header (qcow2 spec, "Header" and "Additional fields").
//!
//! On-disk layout, big-endian, at file offset 0:
//!
//! | byte | field |
//! |---|---|
//! | 0..4 | magic `QFI\xfb` |
//! | 4..8 | version (2 or 3) |
//! | 8..16 | backing_file_offset (0 = none) |
//! | 16..20 | backing_file_size (at most 1023) |
//! | 20..24 | cluster_bits (9..=21) |
//! | 24..32 | size (virtual disk size in bytes) |
//! | 32..36 | crypt_method (0 none, 1 AES, 2 LUKS) |
//! | 36..40 | l1_size (entries) |
//! | 40..48 | l1_table_offset |
//! | 48..56 | refcount_table_offset |
//! | 56..60 | refcount_table_clusters |
//! | 60..64 | nb_snapshots |
//! | 64..72 | snapshots_offset — a version 2 header ends here |
//! | 72..80 | incompatible_features (v3) |
//! | 80..88 | compatible_features (v3) |
//! | 88..96 | autoclear_features (v3) |
//! | 96..100 | refcount_order (v3; v2 implies 4) |
//! | 100..104 | header_length (v3; >= 104, multiple of 8) |
//! | 104 | compression_type (present if header_length > 104: 0 zlib, 1 zstd) |
//!
//! [`Header::parse`] validates the fields in dependency order (magic, version, cluster
//! size, header length, then everything derived from them); checks that need the header
//! extensions (feature names) or the file size are done by the caller.

pub(crate) use ddgz_disk::bytes::{be32, be64};
use ddgz_disk::{Problem, ReaderKind as ErrorKind};

/// The qcow2 magic, `QFI\xfb` (defined by the specification).
pub const MAGIC: [u8; 4] = *b"QFI\xfb";
/// Length of a version 2 header (defined by the specification).
pub const V2_HEADER_LEN: u32 = 72;
/// Minimum length of a version 3 header (defined by the specification).
pub const V3_MIN_HEADER_LEN: u32 = 104;
/// Smallest cluster: 512 bytes (defined by the specification).
pub const MIN_CLUSTER_BITS: u32 = 9;
/// Largest cluster: 2 MiB (QEMU's implementation limit; QEMU opens nothing larger).
pub const MAX_CLUSTER_BITS: u32 = 21;
/// Smallest cluster with extended L2 entries: 16 KiB (defined by the specification).
pub const MIN_CLUSTER_BITS_EXTENDED_L2: u32 = 14;
/// Longest backing file name (defined by the specification).
pub const MAX_BACKING_NAME_LEN: u32 = 1023;
/// Largest refcount_order: 64-bit refcounts (defined by the specification).
pub const MAX_REFCOUNT_ORDER: u32 = 6;
/// Largest virtual size: QEMU keeps sizes in an `int64_t`.
pub const MAX_VIRTUAL_SIZE: u64 = i64::MAX as u64;
/// QEMU's sector: it opens a qcow2 as `size / 512` whole sectors, so a size that is not a
/// multiple of 512 loses its tail (`qcow2_do_open`, `bs->total_sectors`).
pub const SECTOR_SIZE: u64 = 512;

/// Incompatible feature bit 0: the image was not closed cleanly (refcounts may be stale;
/// the mapping is valid, so reading is safe).
pub const INCOMPAT_DIRTY: u64 = 1 << 0;
/// Incompatible feature bit 1: QEMU found corruption and marked the image.
pub const INCOMPAT_CORRUPT: u64 = 1 << 1;
/// Incompatible feature bit 2: guest clusters live in an external data file.
pub const INCOMPAT_DATA_FILE: u64 = 1 << 2;
/// Incompatible feature bit 3: compression_type is not zlib.
pub const INCOMPAT_COMPRESSION: u64 = 1 << 3;
/// Incompatible feature bit 4: 128-bit L2 entries with 32 subclusters.
pub const INCOMPAT_EXTENDED_L2: u64 = 1 << 4;
/// All incompatible bits this reader implements.
pub const INCOMPAT_KNOWN: u64 = INCOMPAT_DIRTY
    | INCOMPAT_CORRUPT
    | INCOMPAT_DATA_FILE
    | INCOMPAT_COMPRESSION
    | INCOMPAT_EXTENDED_L2;
/// Compatible feature bit 0: lazy refcounts.
pub const COMPAT_LAZY_REFCOUNTS: u64 = 1 << 0;
/// Autoclear feature bit 1: the external data file reads as a raw image by itself.
pub const AUTOCLEAR_DATA_FILE_RAW: u64 = 1 << 1;

/// How compressed clusters are compressed (header byte 104).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// Raw deflate (RFC 1951) without zlib header; QEMU calls it "zlib". Type 0.
    Zlib,
    /// Zstandard frames. Type 1.
    Zstd,
}

impl Compression {
    /// The name QEMU uses (`compression_type`).
    pub fn name(self) -> &'static str {
        match self {
            Compression::Zlib => "zlib",
            Compression::Zstd => "zstd",
        }
    }
}

/// The decoded header fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Header {
    pub version: u32,
    pub backing_file_offset: u64,
    pub backing_file_size: u32,
    pub cluster_bits: u32,
    /// The virtual size rounded down to whole sectors, as QEMU reads it.
    pub size: u64,
    pub crypt_method: u32,
    pub l1_size: u32,
    pub l1_table_offset: u64,
    pub refcount_table_offset: u64,
    pub refcount_table_clusters: u32,
    pub nb_snapshots: u32,
    pub snapshots_offset: u64,
    pub incompatible: u64,
    pub compatible: u64,
    pub autoclear: u64,
    pub refcount_order: u32,
    pub header_length: u32,
    pub compression: Compression,
}

impl Header {
    /// Parses and validates the header from the first bytes of the file (`buf` holds the
    /// whole first cluster when the file has one, or the whole file when it is shorter).
    pub(crate) fn parse(buf: &[u8]) -> Result<Header, Problem> {
        if buf.len() < 4 || buf[..4] != MAGIC {
            return Err(Problem::invalid(format!(
                "not a qcow2 image: magic is {:02x?}, expected {:02x?} (\"QFI\\xfb\")",
                &buf[..buf.len().min(4)],
                MAGIC
            )));
        }
        if buf.len() < V2_HEADER_LEN as usize {
            return Err(Problem::new(
                ErrorKind::Truncated,
                format!(
                    "file is {} bytes, shorter than the {V2_HEADER_LEN}-byte qcow2 header",
                    buf.len()
                ),
            ));
        }
        let version = be32(buf, 4);
        if version != 2 && version != 3 {
            return Err(Problem::unsupported(format!(
                "qcow2 version {version} at offset 0x4; only versions 2 and 3 exist"
            )));
        }
        let cluster_bits = be32(buf, 20);
        if !(MIN_CLUSTER_BITS..=MAX_CLUSTER_BITS).contains(&cluster_bits) {
            return Err(Problem::invalid(format!(
                "cluster_bits {cluster_bits} at offset 0x14: must be between \
                 {MIN_CLUSTER_BITS} and {MAX_CLUSTER_BITS} (cluster size 512 B to 2 MiB)"
            )));
        }
        let cluster_size = 1u64 << cluster_bits;
        let (incompatible, compatible, autoclear, refcount_order, header_length) = if version == 2 {
            (0, 0, 0, 4, V2_HEADER_LEN)
        } else {
            if buf.len() < V3_MIN_HEADER_LEN as usize {
                return Err(Problem::new(
                    ErrorKind::Truncated,
                    format!(
                        "file is {} bytes, shorter than the {V3_MIN_HEADER_LEN}-byte \
                         version 3 header",
                        buf.len()
                    ),
                ));
            }
            let header_length = be32(buf, 100);
            if header_length < V3_MIN_HEADER_LEN || header_length % 8 != 0 {
                return Err(Problem::invalid(format!(
                    "header_length {header_length} at offset 0x64: must be at least \
                     {V3_MIN_HEADER_LEN} and a multiple of 8"
                )));
            }
            if u64::from(header_length) > cluster_size {
                return Err(Problem::invalid(format!(
                    "header_length {header_length} at offset 0x64 exceeds the cluster size \
                     {cluster_size}"
                )));
            }
            if header_length as usize > buf.len() {
                return Err(Problem::new(
                    ErrorKind::Truncated,
                    format!(
                        "header_length {header_length} but the file is only {} bytes",
                        buf.len()
                    ),
                ));
            }
            (
                be64(buf, 72),
                be64(buf, 80),
                be64(buf, 88),
                be32(buf, 96),
                header_length,
            )
        };
        if refcount_order > MAX_REFCOUNT_ORDER {
            return Err(Problem::invalid(format!(
                "refcount_order {refcount_order} at offset 0x60: must be at most \
                 {MAX_REFCOUNT_ORDER} (64-bit refcounts)"
            )));
        }
        let compression_byte = if header_length > V3_MIN_HEADER_LEN {
            buf[104]
        } else {
            0
        };
        let compression = match compression_byte {
            0 => Compression::Zlib,
            1 => Compression::Zstd,
            n => {
                return Err(Problem::unsupported(format!(
                    "compression_type {n} at offset 0x68: only 0 (zlib) and 1 (zstd) exist"
                )))
            }
        };
        let has_bit = incompatible & INCOMPAT_COMPRESSION != 0;
        if has_bit != (compression != Compression::Zlib) {
            return Err(Problem::invalid(format!(
                "compression_type {compression_byte} does not match the compression type \
                 incompatible bit ({}): the bit must be set exactly for non-zlib types",
                if has_bit { "set" } else { "clear" }
            )));
        }
        let size = be64(buf, 24);
        if size > MAX_VIRTUAL_SIZE {
            return Err(Problem::invalid(format!(
                "virtual size 0x{size:x} at offset 0x18 exceeds the limit 0x{MAX_VIRTUAL_SIZE:x}"
            )));
        }
        let backing_file_offset = be64(buf, 8);
        let backing_file_size = be32(buf, 16);
        if backing_file_offset != 0 {
            if backing_file_size > MAX_BACKING_NAME_LEN {
                return Err(Problem::invalid(format!(
                    "backing_file_size {backing_file_size} at offset 0x10: must be at most \
                     {MAX_BACKING_NAME_LEN}"
                )));
            }
            let end = backing_file_offset.checked_add(u64::from(backing_file_size));
            if backing_file_offset < u64::from(header_length)
                || end.is_none_or(|e| e > cluster_size)
            {
                return Err(Problem::invalid(format!(
                    "backing file name at 0x{backing_file_offset:x} (+{backing_file_size}) \
                     must lie in the first cluster after the header (0x{header_length:x}..\
                     0x{cluster_size:x})"
                )));
            }
        }
        if cluster_bits < MIN_CLUSTER_BITS_EXTENDED_L2 && incompatible & INCOMPAT_EXTENDED_L2 != 0 {
            return Err(Problem::invalid(format!(
                "extended L2 entries need clusters of at least {} bytes; cluster size is \
                 {cluster_size}",
                1u64 << MIN_CLUSTER_BITS_EXTENDED_L2
            )));
        }
        if autoclear & AUTOCLEAR_DATA_FILE_RAW != 0 && incompatible & INCOMPAT_DATA_FILE == 0 {
            return Err(Problem::invalid(
                "autoclear bit 1 (raw external data) is set without incompatible bit 2 \
                 (external data file)",
            ));
        }
        Ok(Header {
            version,
            backing_file_offset,
            backing_file_size,
            cluster_bits,
            size: size - size % SECTOR_SIZE,
            crypt_method: be32(buf, 32),
            l1_size: be32(buf, 36),
            l1_table_offset: be64(buf, 40),
            refcount_table_offset: be64(buf, 48),
            refcount_table_clusters: be32(buf, 56),
            nb_snapshots: be32(buf, 60),
            snapshots_offset: be64(buf, 64),
            incompatible,
            compatible,
            autoclear,
            refcount_order,
            header_length,
            compression,
        })
    }

    /// Bytes per cluster.
    pub(crate) fn cluster_size(&self) -> u64 {
        1u64 << self.cluster_bits
    }

    /// Whether L2 entries are 128-bit with subclusters.
    pub(crate) fn extended_l2(&self) -> bool {
        self.incompatible & INCOMPAT_EXTENDED_L2 != 0
    }

    /// Where the header extensions start.
    pub(crate) fn extensions_offset(&self) -> u64 {
        u64::from(self.header_length)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A valid version 3 header (64 KiB clusters, 1 GiB) in a 64 KiB buffer.
    pub(crate) fn v3() -> Vec<u8> {
        let mut b = vec![0u8; 65536];
        b[..4].copy_from_slice(&MAGIC);
        put32(&mut b, 4, 3);
        put32(&mut b, 20, 16);
        put64(&mut b, 24, 1 << 30);
        put32(&mut b, 36, 2);
        put64(&mut b, 40, 0x30000);
        put64(&mut b, 48, 0x10000);
        put32(&mut b, 56, 1);
        put32(&mut b, 96, 4);
        put32(&mut b, 100, 112);
        b
    }
    pub(crate) fn put32(b: &mut [u8], at: usize, v: u32) {
        b[at..at + 4].copy_from_slice(&v.to_be_bytes());
    }
    pub(crate) fn put64(b: &mut [u8], at: usize, v: u64) {
        b[at..at + 8].copy_from_slice(&v.to_be_bytes());
    }
    fn msg(b: &[u8]) -> String {
        Header::parse(b).unwrap_err().message
    }

    #[test]
    fn parses_valid_v3_and_v2() {
        let h = Header::parse(&v3()).unwrap();
        assert_eq!(h.cluster_size(), 65536);
        assert_eq!(h.compression, Compression::Zlib);
        assert_eq!(h.extensions_offset(), 112);
        let mut b = v3();
        put32(&mut b, 4, 2);
        let h = Header::parse(&b).unwrap();
        assert_eq!(
            (h.refcount_order, h.header_length, h.incompatible),
            (4, 72, 0)
        );
    }

    #[test]
    fn refuses_bad_magic_and_version() {
        assert!(msg(b"QFI").contains("not a qcow2 image"));
        assert!(msg(&[0u8; 100]).contains("not a qcow2 image"));
        let mut b = v3();
        put32(&mut b, 4, 4);
        assert!(msg(&b).contains("qcow2 version 4"));
        assert!(msg(&v3()[..50]).contains("shorter than the 72-byte"));
        assert!(msg(&v3()[..90]).contains("shorter than the 104-byte"));
    }

    #[test]
    fn refuses_bad_cluster_bits() {
        for bits in [0, 8, 22, 63, u32::MAX] {
            let mut b = v3();
            put32(&mut b, 20, bits);
            assert_eq!(
                msg(&b),
                format!(
                    "cluster_bits {bits} at offset 0x14: must be between 9 and 21 \
                     (cluster size 512 B to 2 MiB)"
                )
            );
        }
    }

    #[test]
    fn refuses_bad_header_length() {
        for (len, want) in [
            (100, "must be at least 104"),
            (108, "multiple of 8"),
            (1 << 17, "exceeds the cluster size"),
        ] {
            let mut b = v3();
            put32(&mut b, 100, len);
            assert!(msg(&b).contains(want), "{len}: {}", msg(&b));
        }
        let mut b = v3();
        put32(&mut b, 100, 4096);
        assert!(msg(&b[..1000]).contains("header_length 4096 but the file is only 1000"));
    }

    #[test]
    fn refuses_bad_fields() {
        let mut b = v3();
        put32(&mut b, 96, 7);
        assert!(msg(&b).contains("refcount_order 7"));
        let mut b = v3();
        b[104] = 2;
        assert!(msg(&b).contains("compression_type 2"));
        let mut b = v3();
        b[104] = 1;
        assert!(msg(&b).contains("does not match the compression type incompatible bit"));
        let mut b = v3();
        put64(&mut b, 72, INCOMPAT_COMPRESSION);
        assert!(msg(&b).contains("compression_type 0 does not match"));
        let mut b = v3();
        put64(&mut b, 24, u64::MAX);
        assert!(msg(&b).contains("virtual size 0xffffffffffffffff"));
        let mut b = v3();
        put64(&mut b, 8, 0xfff0);
        put32(&mut b, 16, 100);
        assert!(msg(&b).contains("must lie in the first cluster"));
        put32(&mut b, 16, 1024);
        assert!(msg(&b).contains("backing_file_size 1024"));
        let mut b = v3();
        put64(&mut b, 8, u64::MAX);
        put32(&mut b, 16, 10);
        assert!(msg(&b).contains("must lie in the first cluster"));
        let mut b = v3();
        put32(&mut b, 20, 12);
        put32(&mut b, 100, 104);
        put64(&mut b, 72, INCOMPAT_EXTENDED_L2);
        assert!(msg(&b).contains("extended L2 entries need clusters of at least 16384"));
        let mut b = v3();
        put64(&mut b, 88, AUTOCLEAR_DATA_FILE_RAW);
        assert!(msg(&b).contains("raw external data"));
    }
}
