//! The hard disk footer (VHD specification, "Hard Disk Footer Format"): 512 bytes,
//! big-endian, at the end of every VHD and, for dynamic and differencing disks, copied at
//! offset 0.
//!
//! ```text
//!  0  cookie "conectix"      8      28  creator application  4    56  cylinders u16
//!  8  features u32                  32  creator version u32        58  heads u8
//! 12  format version u32            36  creator host OS  4         59  sectors/track u8
//! 16  data offset u64               40  original size u64          60  disk type u32
//! 24  timestamp u32                 48  current size u64           64  checksum u32
//! 68  unique id [16]                84  saved state u8             85  reserved [427]
//! ```

pub(crate) use ddgz_disk::bytes::{be16, be32, be64};
use ddgz_disk::Problem;

/// Size of the footer (defined by the specification).
pub(crate) const FOOTER_SIZE: u64 = 512;

/// The footer cookie (defined by the specification).
pub(crate) const COOKIE: &[u8; 8] = b"conectix";

/// Largest CHS geometry, 65535 × 16 × 255 sectors: QEMU takes such a disk's size from
/// `current_size` whatever its creator (`VHD_MAX_GEOMETRY` in QEMU's `block/vpc.c`).
const MAX_GEOMETRY: u64 = 65535 * 16 * 255;

/// Largest disk, 2040 GiB in sectors (QEMU's `VHD_MAX_SECTORS`; the specification's
/// 2 TiB limit with QEMU's rounding). Larger disks are refused, as QEMU does.
pub(crate) const MAX_SECTORS: u64 = 0xff00_0000;

/// Disk types (specification, "Disk Type").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiskType {
    /// The disk is the file minus its footer.
    Fixed,
    /// Blocks allocated on write, listed in a block allocation table.
    Dynamic,
    /// A dynamic disk whose unwritten sectors come from a parent disk.
    Differencing,
}

impl DiskType {
    /// The name of the subformat, as `qemu-img` spells it where it can.
    pub fn name(self) -> &'static str {
        match self {
            DiskType::Fixed => "fixed",
            DiskType::Dynamic => "dynamic",
            DiskType::Differencing => "differencing",
        }
    }
}

/// How the virtual size was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SizeRule {
    /// Cylinders × heads × sectors per track.
    Chs,
    /// The footer's `current_size`.
    CurrentSize,
}

/// A footer whose cookie and checksum are valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Footer {
    pub data_offset: u64,
    pub creator_app: [u8; 4],
    pub current_size: u64,
    pub cyls: u16,
    pub heads: u8,
    pub spt: u8,
    pub disk_type: DiskType,
    pub uuid: [u8; 16],
}

/// One's complement of the byte sum of `b`, the 4 bytes at `field` counted as zero
/// (specification, "Checksum").
pub(crate) fn checksum(b: &[u8], field: usize) -> u32 {
    let sum = b
        .iter()
        .enumerate()
        .filter(|(i, _)| !(field..field + 4).contains(i))
        .fold(0u32, |s, (_, &x)| s.wrapping_add(u32::from(x)));
    !sum
}

/// Shows 4 bytes of a tag (creator application, platform code) for a message.
pub(crate) fn tag(b: &[u8]) -> String {
    b.iter()
        .map(|&c| {
            if c.is_ascii_graphic() || c == b' ' {
                (c as char).to_string()
            } else {
                format!("\\x{c:02x}")
            }
        })
        .collect()
}

impl Footer {
    /// Whether `b` starts with the footer cookie.
    pub(crate) fn has_cookie(b: &[u8]) -> bool {
        b.len() >= 8 && &b[..8] == COOKIE
    }

    /// Parses 512 bytes, checking the cookie, the checksum and the disk type.
    pub(crate) fn parse(b: &[u8; 512]) -> Result<Self, Problem> {
        if !Self::has_cookie(b) {
            return Err(Problem::invalid(format!(
                "no VHD footer: the cookie is {:?}, not \"conectix\"",
                String::from_utf8_lossy(&b[..8])
            )));
        }
        let stored = be32(b, 64);
        let computed = checksum(b, 64);
        if stored != computed {
            return Err(Problem::corrupt(format!(
                "footer checksum mismatch: stored 0x{stored:08x}, computed 0x{computed:08x}"
            )));
        }
        let disk_type = match be32(b, 60) {
            2 => DiskType::Fixed,
            3 => DiskType::Dynamic,
            4 => DiskType::Differencing,
            t => {
                return Err(Problem::invalid(format!(
                    "disk type {t}; must be 2 (fixed), 3 (dynamic) or 4 (differencing)"
                )))
            }
        };
        Ok(Self {
            data_offset: be64(b, 16),
            creator_app: b[28..32].try_into().expect("4 bytes"),
            current_size: be64(b, 48),
            cyls: be16(b, 56),
            heads: b[58],
            spt: b[59],
            disk_type,
            uuid: b[68..84].try_into().expect("16 bytes"),
        })
    }

    /// The virtual size in bytes and how it was found, by QEMU's rule (`vpc_open`):
    /// the CHS geometry, unless the creator application is one known to write the exact
    /// size (`win ` Hyper-V, `qem2` QEMU with force_size, `d2v ` Disk2vhd, `CTXS`
    /// XenConverter, `tap\0` XenServer) or the geometry is the largest there is; then
    /// `current_size`, rounded down to whole sectors. Virtual PC itself uses CHS. Disks
    /// over 2040 GiB are refused.
    pub(crate) fn virtual_size(&self) -> Result<(u64, SizeRule), Problem> {
        let chs = u64::from(self.cyls) * u64::from(self.heads) * u64::from(self.spt);
        let exact = matches!(
            &self.creator_app,
            b"win " | b"qem2" | b"d2v " | b"CTXS" | b"tap\0"
        );
        let (sectors, rule) = if exact || chs == MAX_GEOMETRY {
            (self.current_size / 512, SizeRule::CurrentSize)
        } else {
            (chs, SizeRule::Chs)
        };
        if sectors > MAX_SECTORS {
            return Err(Problem::invalid(format!(
                "virtual size of {sectors} sectors (from {}) exceeds the VHD limit of \
                 {MAX_SECTORS} sectors (2040 GiB)",
                match rule {
                    SizeRule::Chs => "the CHS geometry",
                    SizeRule::CurrentSize => "current_size",
                }
            )));
        }
        Ok((sectors * 512, rule))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn footer(app: &[u8; 4], size: u64, chs: (u16, u8, u8), ty: u32) -> [u8; 512] {
        let mut b = [0u8; 512];
        b[..8].copy_from_slice(COOKIE);
        b[28..32].copy_from_slice(app);
        b[48..56].copy_from_slice(&size.to_be_bytes());
        b[56..58].copy_from_slice(&chs.0.to_be_bytes());
        b[58] = chs.1;
        b[59] = chs.2;
        b[60..64].copy_from_slice(&ty.to_be_bytes());
        let c = checksum(&b, 64);
        b[64..68].copy_from_slice(&c.to_be_bytes());
        b
    }

    #[test]
    fn size_rules() {
        let f = Footer::parse(&footer(b"qemu", 100 << 20, (1004, 12, 17), 3)).unwrap();
        assert_eq!(
            f.virtual_size().unwrap(),
            (1004 * 12 * 17 * 512, SizeRule::Chs)
        );
        let f = Footer::parse(&footer(b"win ", (100 << 20) + 100, (1004, 12, 17), 2)).unwrap();
        assert_eq!(
            f.virtual_size().unwrap(),
            (100 << 20, SizeRule::CurrentSize)
        );
        let f = Footer::parse(&footer(b"vpc ", 5 << 20, (65535, 16, 255), 3)).unwrap();
        assert_eq!(f.virtual_size().unwrap(), (5 << 20, SizeRule::CurrentSize));
        let f = Footer::parse(&footer(b"win ", 4 << 40, (1, 1, 1), 3)).unwrap();
        assert!(f.virtual_size().unwrap_err().message.contains("2040 GiB"));
    }

    #[test]
    fn checksum_and_type_checked() {
        let mut b = footer(b"qemu", 1 << 20, (20, 4, 17), 3);
        b[100] ^= 1;
        assert!(Footer::parse(&b)
            .unwrap_err()
            .message
            .contains("checksum mismatch"));
        let b = footer(b"qemu", 1 << 20, (20, 4, 17), 5);
        assert!(Footer::parse(&b)
            .unwrap_err()
            .message
            .contains("disk type 5"));
        let mut b = footer(b"qemu", 1 << 20, (20, 4, 17), 3);
        b[0] = b'C';
        assert!(Footer::parse(&b).unwrap_err().message.contains("cookie"));
    }
}
