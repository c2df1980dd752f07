//! The text descriptor (VMware Virtual Disk Format 5.0, "The Descriptor File"): embedded
//! in a sparse extent file or a file of its own.
//!
//! ```text
//! # Disk DescriptorFile
//! version=1
//! CID=fffffffe
//! parentCID=ffffffff
//! parentFileNameHint="base.vmdk"        (only in a child of a parent)
//! createType="twoGbMaxExtentSparse"
//! RW 4192256 SPARSE "disk-s001.vmdk"
//! RW 2048 FLAT "disk-flat.vmdk" 0       (offset in sectors into the file)
//! RW 2048 ZERO
//! ```
//!
//! Parsed line by line: a line is a `key=value` pair, an extent line (access, size in
//! sectors, type, quoted file name, optional offset), a comment or blank. Names stay bytes
//! (the file is not required to be UTF-8). QEMU scans the text with `sscanf`, which lets
//! a blank line swallow the next one; a line-based reading differs only on descriptors
//! QEMU misreads.

use ddgz_disk::Problem;

/// Most extent lines accepted (a 2 TiB twoGbMaxExtent disk has 1024).
pub const MAX_EXTENTS: usize = 4096;

/// What a program may do with an extent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read and write.
    Rw,
    /// Read only (read like RW; QEMU drops such lines).
    RdOnly,
    /// No access: refused.
    None,
}

/// The type of an extent line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExtentType {
    /// A hosted sparse extent file (its own header, directory and tables).
    Sparse,
    /// A flat file (or a part of one from an offset).
    Flat,
    /// Reads as zeros; no file.
    Zero,
    /// An ESX flat extent (a flat file at offset 0).
    Vmfs,
    /// Anything else (VMFSSPARSE, SESPARSE, VMFSRDM, VMFSRAW, …), as written.
    Other(String),
}

/// One extent line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtentLine {
    /// 1-based line number, for messages.
    pub line: usize,
    /// Access mode.
    pub access: Access,
    /// Guest sectors the extent holds.
    pub sectors: u64,
    /// Type.
    pub kind: ExtentType,
    /// File name as stored (absent for ZERO).
    pub file: Option<Vec<u8>>,
    /// Offset into the file in sectors (FLAT).
    pub offset: u64,
}

/// A parsed descriptor.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Descriptor {
    /// `createType`.
    pub create_type: Option<String>,
    /// Content ID (`CID`, hex).
    pub cid: Option<u32>,
    /// The parent's content ID when this image was made (`parentCID`, hex; ffffffff: no
    /// parent).
    pub parent_cid: Option<u32>,
    /// `parentFileNameHint`.
    pub parent_hint: Option<Vec<u8>>,
    /// Extent lines, in order.
    pub extents: Vec<ExtentLine>,
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The value of `key=value` with surrounding blanks and one pair of quotes removed.
fn unquote(v: &[u8]) -> &[u8] {
    let v = v.trim_ascii();
    if v.len() >= 2 && v[0] == b'"' && v[v.len() - 1] == b'"' {
        &v[1..v.len() - 1]
    } else {
        v
    }
}

fn hex32(v: &[u8], key: &str, line: usize) -> Result<u32, Problem> {
    std::str::from_utf8(v)
        .ok()
        .and_then(|s| u32::from_str_radix(s, 16).ok())
        .ok_or_else(|| {
            Problem::invalid(format!(
                "descriptor line {line}: {key}={:?} is not a 32-bit hex number",
                lossy(v)
            ))
        })
}

impl Descriptor {
    /// Parses descriptor text. The text ends at the first NUL (embedded descriptors are
    /// padded with zeros).
    pub fn parse(text: &[u8]) -> Result<Self, Problem> {
        let text = match text.iter().position(|&c| c == 0) {
            Some(n) => &text[..n],
            None => text,
        };
        let mut d = Descriptor::default();
        for (i, raw) in text.split(|&c| c == b'\n').enumerate() {
            let line = i + 1;
            let l = raw.trim_ascii();
            if l.is_empty() || l[0] == b'#' {
                continue;
            }
            let first = l
                .split(|c: &u8| c.is_ascii_whitespace())
                .next()
                .unwrap_or_default();
            let access = match first {
                b"RW" => Some(Access::Rw),
                b"RDONLY" => Some(Access::RdOnly),
                b"NOACCESS" => Some(Access::None),
                _ => None,
            };
            if let Some(access) = access {
                if d.extents.len() >= MAX_EXTENTS {
                    return Err(Problem::invalid(format!(
                        "descriptor line {line}: more than {MAX_EXTENTS} extents (our limit)"
                    )));
                }
                d.extents
                    .push(Self::extent_line(&l[first.len()..], access, line)?);
                continue;
            }
            let Some(eq) = l.iter().position(|&c| c == b'=') else {
                continue; // Not ours to judge: VMware ignores unknown lines too.
            };
            let key = l[..eq].trim_ascii();
            let value = unquote(&l[eq + 1..]);
            match key {
                b"createType" => d.create_type = Some(lossy(value)),
                b"CID" => d.cid = Some(hex32(value, "CID", line)?),
                b"parentCID" => d.parent_cid = Some(hex32(value, "parentCID", line)?),
                b"parentFileNameHint" => d.parent_hint = Some(value.to_vec()),
                _ => {}
            }
        }
        Ok(d)
    }

    /// Parses the rest of an extent line after its access word:
    /// `SECTORS TYPE ["FILE" [OFFSET]]`.
    fn extent_line(rest: &[u8], access: Access, line: usize) -> Result<ExtentLine, Problem> {
        let bad = |why: &str| {
            Problem::invalid(format!(
                "descriptor line {line}: invalid extent line {:?}: {why}",
                lossy(rest.trim_ascii())
            ))
        };
        let mut rest = rest.trim_ascii_start();
        let word = |r: &mut &[u8]| -> Vec<u8> {
            let n = r
                .iter()
                .position(|c| c.is_ascii_whitespace())
                .unwrap_or(r.len());
            let w = r[..n].to_vec();
            *r = r[n..].trim_ascii_start();
            w
        };
        let sectors = word(&mut rest);
        let sectors: u64 = std::str::from_utf8(&sectors)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("the size is not a whole number of sectors"))?;
        if sectors == 0 {
            return Err(bad("the size is 0 sectors"));
        }
        let ty = word(&mut rest);
        let kind = match ty.as_slice() {
            b"SPARSE" => ExtentType::Sparse,
            b"FLAT" => ExtentType::Flat,
            b"ZERO" => ExtentType::Zero,
            b"VMFS" => ExtentType::Vmfs,
            b"" => return Err(bad("no extent type")),
            other => ExtentType::Other(lossy(other)),
        };
        let file = if rest.first() == Some(&b'"') {
            let close = rest[1..]
                .iter()
                .position(|&c| c == b'"')
                .ok_or_else(|| bad("the file name has no closing quote"))?;
            let f = rest[1..1 + close].to_vec();
            rest = rest[close + 2..].trim_ascii_start();
            Some(f)
        } else {
            None
        };
        let offset = if rest.is_empty() {
            None
        } else {
            let w = word(&mut rest);
            Some(
                std::str::from_utf8(&w)
                    .ok()
                    .and_then(|s| s.parse::<u64>().ok())
                    .ok_or_else(|| bad("the offset is not a whole number of sectors"))?,
            )
        };
        // Anything after the offset (a partition UUID of a device extent) is ignored.
        match kind {
            ExtentType::Zero if file.is_some() => return Err(bad("a ZERO extent names no file")),
            ExtentType::Zero => {}
            _ if file.is_none() => return Err(bad("no quoted file name")),
            ExtentType::Flat if offset.is_none() => {
                return Err(bad("a FLAT extent needs an offset in sectors"))
            }
            ExtentType::Sparse | ExtentType::Vmfs if offset.is_some_and(|o| o != 0) => {
                return Err(bad("only a FLAT extent may start at an offset"))
            }
            _ => {}
        }
        Ok(ExtentLine {
            line,
            access,
            sectors,
            kind,
            file,
            offset: offset.unwrap_or(0),
        })
    }
}

/// Whether `head` (the first bytes of a file) starts like a text descriptor: after
/// comments and blank lines, a `version=N` line — QEMU's probe.
pub fn looks_like_descriptor(head: &[u8]) -> bool {
    for l in head.split(|&c| c == b'\n') {
        let t = l.trim_ascii();
        if t.is_empty() || t[0] == b'#' {
            continue;
        }
        return matches!(t, b"version=1" | b"version=2" | b"version=3");
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    const QEMU: &[u8] = b"# Disk DescriptorFile\nversion=1\nCID=52a1b0c7\nparentCID=ffffffff\n\
createType=\"twoGbMaxExtentFlat\"\n\n# Extent description\nRW 4192256 FLAT \"d-f001.vmdk\" 0\n\
RW 2048 FLAT \"d f002.vmdk\" 0\nRDONLY 8 ZERO\n\n# The Disk Data Base\n#DDB\n\n\
ddb.virtualHWVersion = \"4\"\n\0\0\0junk";

    #[test]
    fn parses_qemu_descriptor() {
        let d = Descriptor::parse(QEMU).unwrap();
        assert_eq!(d.create_type.as_deref(), Some("twoGbMaxExtentFlat"));
        assert_eq!(d.cid, Some(0x52a1b0c7));
        assert_eq!(d.parent_cid, Some(0xffffffff));
        assert_eq!(d.extents.len(), 3);
        assert_eq!(d.extents[1].file.as_deref(), Some(&b"d f002.vmdk"[..]));
        assert_eq!(d.extents[2].kind, ExtentType::Zero);
        assert_eq!(d.extents[2].access, Access::RdOnly);
        assert!(looks_like_descriptor(QEMU));
        assert!(!looks_like_descriptor(b"KDMV"));
        assert!(!looks_like_descriptor(b"# x\nversion=4\n"));
    }

    #[test]
    fn refuses_bad_extent_lines() {
        for (l, why) in [
            ("RW x FLAT \"a\" 0", "not a whole number"),
            ("RW 0 FLAT \"a\" 0", "0 sectors"),
            ("RW 8 FLAT \"a\"", "needs an offset"),
            ("RW 8 FLAT \"a 0", "closing quote"),
            ("RW 8 SPARSE", "no quoted file name"),
            ("RW 8 ZERO \"a\"", "names no file"),
            ("RW 8 SPARSE \"a\" 9", "only a FLAT"),
            ("RW 8", "no extent type"),
            (
                "RW 99999999999999999999999 FLAT \"a\" 0",
                "not a whole number",
            ),
        ] {
            let e = Descriptor::parse(l.as_bytes()).unwrap_err().message;
            assert!(e.contains(why), "{l}: {e}");
        }
        let e = Descriptor::parse(b"CID=xyz").unwrap_err().message;
        assert!(e.contains("not a 32-bit hex"), "{e}");
        let many = "RW 1 ZERO\n".repeat(MAX_EXTENTS + 1);
        assert!(Descriptor::parse(many.as_bytes()).is_err());
    }
}
