//! Header extensions (qcow2 spec, "Header extensions", "Feature name table").
//!
//! They follow the header (at `header_length` for version 3, byte 72 for version 2) and
//! must stay inside the first cluster, before the backing file name if there is one:
//!
//! | byte | field |
//! |---|---|
//! | 0..4 | type (0 = end of the area) |
//! | 4..8 | length of the data |
//! | 8..8+length | data, then zero padding to a multiple of 8 |
//!
//! A feature name table entry is 48 bytes: type (0 incompatible, 1 compatible,
//! 2 autoclear), bit number, and a 46-byte name padded with zeros.

use crate::header::{be32, be64};
use ddgz_disk::Problem;

/// End of the header extension area.
pub const EXT_END: u32 = 0;
/// Backing file format name (a string such as `qcow2` or `raw`).
pub const EXT_BACKING_FORMAT: u32 = 0xe279_2aca;
/// Feature name table.
pub const EXT_FEATURE_NAMES: u32 = 0x6803_f857;
/// Bitmaps extension.
pub const EXT_BITMAPS: u32 = 0x2385_2875;
/// Full disk encryption header pointer.
pub const EXT_CRYPTO: u32 = 0x0537_be77;
/// External data file name.
pub const EXT_DATA_FILE: u32 = 0x4441_5441;
/// Size of one feature name table entry (defined by the specification).
const FEATURE_NAME_ENTRY: usize = 48;

/// One named feature bit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FeatureName {
    /// 0 incompatible, 1 compatible, 2 autoclear.
    pub kind: u8,
    /// Bit number, 0..=63.
    pub bit: u8,
    pub name: String,
}

/// The header extensions this reader uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Extensions {
    pub backing_format: Option<Vec<u8>>,
    pub data_file: Option<Vec<u8>>,
    pub feature_names: Vec<FeatureName>,
    /// `nb_bitmaps` from the bitmaps extension, if present.
    pub bitmaps: Option<u32>,
    pub crypto: bool,
}

impl Extensions {
    /// Parses the extension area `buf[start..end]` (`end` is the end of the first
    /// cluster, or the backing file name's offset, clipped to `buf.len()`).
    pub(crate) fn parse(buf: &[u8], start: u64, end: u64) -> Result<Extensions, Problem> {
        let end = end.min(buf.len() as u64);
        let mut ext = Extensions::default();
        let mut pos = start;
        let mut seen: Vec<u32> = Vec::new();
        // Each turn advances `pos` by at least 8 and `pos` never passes `end` (at most
        // 2 MiB), so the loop ends.
        while pos < end {
            let data = pos + 8;
            if data > end {
                return Err(Problem::invalid(format!(
                    "header extension at 0x{pos:x} crosses the end of the header area \
                     (0x{end:x})"
                )));
            }
            let ty = be32(buf, pos as usize);
            let len = u64::from(be32(buf, pos as usize + 4));
            if ty == EXT_END {
                break;
            }
            let data_end = data + len;
            if data_end > end {
                return Err(Problem::invalid(format!(
                    "header extension 0x{ty:08x} at 0x{pos:x} has length {len}, which ends \
                     at 0x{data_end:x}, past the end of the header area (0x{end:x})"
                )));
            }
            let body = &buf[data as usize..data_end as usize];
            let known = matches!(
                ty,
                EXT_BACKING_FORMAT | EXT_FEATURE_NAMES | EXT_BITMAPS | EXT_CRYPTO | EXT_DATA_FILE
            );
            if known && seen.contains(&ty) {
                return Err(Problem::invalid(format!(
                    "header extension 0x{ty:08x} appears twice (again at 0x{pos:x})"
                )));
            }
            seen.push(ty);
            match ty {
                EXT_BACKING_FORMAT => ext.backing_format = Some(body.to_vec()),
                EXT_DATA_FILE => ext.data_file = Some(body.to_vec()),
                EXT_CRYPTO => ext.crypto = true,
                EXT_BITMAPS => {
                    if body.len() < 24 {
                        return Err(Problem::invalid(format!(
                            "bitmaps extension at 0x{pos:x} is {len} bytes; it needs 24"
                        )));
                    }
                    let _directory_offset = be64(body, 16);
                    ext.bitmaps = Some(be32(body, 0));
                }
                EXT_FEATURE_NAMES => {
                    for e in body.chunks_exact(FEATURE_NAME_ENTRY) {
                        let raw = &e[2..];
                        let n = raw.iter().position(|&c| c == 0).unwrap_or(raw.len());
                        ext.feature_names.push(FeatureName {
                            kind: e[0],
                            bit: e[1],
                            name: String::from_utf8_lossy(&raw[..n]).into_owned(),
                        });
                    }
                }
                _ => {}
            }
            // Padding to a multiple of 8; may reach `end` exactly.
            pos = data_end.next_multiple_of(8);
        }
        Ok(ext)
    }

    /// The name the feature table gives to incompatible bit `bit`, if any.
    pub(crate) fn incompatible_name(&self, bit: u32) -> Option<&str> {
        self.feature_names
            .iter()
            .find(|f| f.kind == 0 && u32::from(f.bit) == bit)
            .map(|f| f.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ext(ty: u32, data: &[u8]) -> Vec<u8> {
        let mut v = ty.to_be_bytes().to_vec();
        v.extend((data.len() as u32).to_be_bytes());
        v.extend(data);
        while v.len() % 8 != 0 {
            v.push(0);
        }
        v
    }

    #[test]
    fn parses_known_extensions() {
        let mut names = vec![0u8; 96];
        names[1] = 7;
        names[2..9].copy_from_slice(b"shiny-x");
        names[48] = 1;
        let mut b = vec![0u8; 8];
        b.extend(ext(EXT_BACKING_FORMAT, b"qcow2"));
        b.extend(ext(0x1234_5678, b"ignored"));
        b.extend(ext(EXT_FEATURE_NAMES, &names));
        b.extend(ext(EXT_DATA_FILE, b"d.raw"));
        b.extend([0u8; 8]);
        b.extend(b"garbage after end");
        let e = Extensions::parse(&b, 8, b.len() as u64).unwrap();
        assert_eq!(e.backing_format.as_deref(), Some(&b"qcow2"[..]));
        assert_eq!(e.data_file.as_deref(), Some(&b"d.raw"[..]));
        assert_eq!(e.incompatible_name(7), Some("shiny-x"));
        assert_eq!(e.incompatible_name(0), None);
    }

    #[test]
    fn refuses_extensions_leaving_the_area() {
        let mut b = ext(EXT_BACKING_FORMAT, b"qcow2");
        b[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        let m = Extensions::parse(&b, 0, 4096).unwrap_err().message;
        assert_eq!(
            m,
            "header extension 0xe2792aca at 0x0 has length 4294967295, which ends at \
             0x100000007, past the end of the header area (0x10)"
        );
        let b = [0xffu8; 4];
        let m = Extensions::parse(&b, 0, 4).unwrap_err().message;
        assert!(m.contains("crosses the end of the header area"), "{m}");
        let mut b = ext(EXT_DATA_FILE, b"a");
        b.extend(ext(EXT_DATA_FILE, b"b"));
        let m = Extensions::parse(&b, 0, b.len() as u64)
            .unwrap_err()
            .message;
        assert!(m.contains("appears twice"), "{m}");
        let b = ext(EXT_BITMAPS, b"short");
        let m = Extensions::parse(&b, 0, b.len() as u64)
            .unwrap_err()
            .message;
        assert!(m.contains("it needs 24"), "{m}");
    }

    #[test]
    fn area_may_end_without_terminator() {
        let b = ext(EXT_BACKING_FORMAT, b"raw");
        let e = Extensions::parse(&b, 0, b.len() as u64).unwrap();
        assert_eq!(e.backing_format.as_deref(), Some(&b"raw"[..]));
    }
}
