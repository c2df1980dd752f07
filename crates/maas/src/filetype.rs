//! MAAS boot-resource file types, and which one a file's content calls for.
//!
//! MAAS accepts `tgz, tbz, txz, ddtgz, ddtbz, ddtxz, ddtar, ddbz2, ddgz, ddxz, ddraw`
//! (MAAS 3.0 on; no zstd). The type decides how curtin writes the file: `ddgz` is
//! `zcat | dd`, `ddraw` is `dd` as is, the `*t*` types are tar archives. A wrong type is
//! not caught at upload time but at deployment, so [`resolve`] compares the type with the
//! content and refuses a mismatch — above all the common `ddtgz` for a plain gzip'd disk,
//! which MAAS fails to deploy with "This does not look like a tar archive".

use std::fmt;
use std::io::{self, Read};
use std::str::FromStr;

/// How many bytes [`sniff`] reads: enough compressed data to inflate a tar header.
pub const SNIFF_LEN: usize = 64 * 1024;

/// Offset of the `ustar` magic in a POSIX/GNU tar header (POSIX.1-1988 `magic` field).
const TAR_MAGIC_OFFSET: usize = 257;
/// The tar magic (`ustar\0` for POSIX, `ustar ` for GNU: the first five bytes agree).
const TAR_MAGIC: &[u8] = b"ustar";
/// gzip member header, RFC 1952 §2.3.1 (ID1 ID2).
const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
/// xz stream header magic (xz file format §2.1.1.1).
const XZ_MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0x00];
/// bzip2 stream header (`BZh`).
const BZIP2_MAGIC: &[u8] = b"BZh";
/// zstd frame magic number 0xFD2FB528, little-endian (RFC 8878 §3.1.1).
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
/// qcow2 header magic `QFI\xfb` (qcow2 spec, header bytes 0–3).
const QCOW_MAGIC: &[u8] = b"QFI\xfb";

/// A MAAS upload file type (the `filetype` field of `boot-resources create`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileType {
    /// Root file system tarball, gzip.
    Tgz,
    /// Root file system tarball, bzip2.
    Tbz,
    /// Root file system tarball, xz.
    Txz,
    /// Tar archive holding one disk image, gzip.
    Ddtgz,
    /// Tar archive holding one disk image, bzip2.
    Ddtbz,
    /// Tar archive holding one disk image, xz.
    Ddtxz,
    /// Tar archive holding one disk image, uncompressed.
    Ddtar,
    /// Raw disk image, bzip2.
    Ddbz2,
    /// Raw disk image, gzip (stored as `root-dd.gz`, deployed with `zcat | dd`).
    Ddgz,
    /// Raw disk image, xz.
    Ddxz,
    /// Raw disk image, uncompressed.
    Ddraw,
}

impl FileType {
    /// Every type MAAS accepts, in MAAS's order.
    pub const ALL: [FileType; 11] = [
        FileType::Tgz,
        FileType::Tbz,
        FileType::Txz,
        FileType::Ddtgz,
        FileType::Ddtbz,
        FileType::Ddtxz,
        FileType::Ddtar,
        FileType::Ddbz2,
        FileType::Ddgz,
        FileType::Ddxz,
        FileType::Ddraw,
    ];

    /// The name MAAS uses (`ddgz`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            FileType::Tgz => "tgz",
            FileType::Tbz => "tbz",
            FileType::Txz => "txz",
            FileType::Ddtgz => "ddtgz",
            FileType::Ddtbz => "ddtbz",
            FileType::Ddtxz => "ddtxz",
            FileType::Ddtar => "ddtar",
            FileType::Ddbz2 => "ddbz2",
            FileType::Ddgz => "ddgz",
            FileType::Ddxz => "ddxz",
            FileType::Ddraw => "ddraw",
        }
    }

    /// The content this type must have.
    fn expects(self) -> Content {
        match self {
            FileType::Tgz | FileType::Ddtgz => Content::Gzip { tar: Some(true) },
            FileType::Ddgz => Content::Gzip { tar: Some(false) },
            FileType::Tbz | FileType::Ddtbz | FileType::Ddbz2 => Content::Bzip2,
            FileType::Txz | FileType::Ddtxz | FileType::Ddxz => Content::Xz,
            FileType::Ddtar => Content::Tar,
            FileType::Ddraw => Content::Raw,
        }
    }
}

impl fmt::Display for FileType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for FileType {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let l = s.trim().to_ascii_lowercase();
        FileType::ALL
            .into_iter()
            .find(|t| t.as_str() == l)
            .ok_or_else(|| {
                let all: Vec<&str> = FileType::ALL.iter().map(|t| t.as_str()).collect();
                format!(
                    "unknown MAAS file type {s:?}; MAAS accepts {}",
                    all.join(", ")
                )
            })
    }
}

/// What a file's first bytes show it to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Content {
    /// gzip; `tar` tells whether the decompressed data starts with a tar header
    /// (`None`: the first bytes would not decompress).
    Gzip {
        /// Whether the payload is a tar archive, if that could be decided.
        tar: Option<bool>,
    },
    /// xz (payload not inspected).
    Xz,
    /// bzip2 (payload not inspected).
    Bzip2,
    /// An uncompressed tar archive.
    Tar,
    /// zstd, which MAAS does not accept.
    Zstd,
    /// A qcow2 image, which must be converted first.
    Qcow2,
    /// Anything else: taken as a raw disk.
    Raw,
    /// An empty file.
    Empty,
}

impl Content {
    /// A phrase for messages ("a gzip'd disk image (not a tar archive)").
    pub fn describe(self) -> &'static str {
        match self {
            Content::Gzip { tar: Some(false) } => "a gzip'd disk image (not a tar archive)",
            Content::Gzip { tar: Some(true) } => "a gzip'd tar archive",
            Content::Gzip { tar: None } => "a gzip file whose start does not decompress",
            Content::Xz => "xz-compressed",
            Content::Bzip2 => "bzip2-compressed",
            Content::Tar => "an uncompressed tar archive",
            Content::Zstd => "zstd-compressed",
            Content::Qcow2 => "a qcow2 image",
            Content::Raw => "an uncompressed disk image",
            Content::Empty => "empty",
        }
    }

    /// The type MAAS should be given for this content, if there is one.
    pub fn file_type(self) -> Option<FileType> {
        match self {
            Content::Gzip { tar: Some(false) } => Some(FileType::Ddgz),
            Content::Gzip { tar: Some(true) } => Some(FileType::Ddtgz),
            Content::Xz => Some(FileType::Ddxz),
            Content::Bzip2 => Some(FileType::Ddbz2),
            Content::Tar => Some(FileType::Ddtar),
            Content::Raw => Some(FileType::Ddraw),
            Content::Gzip { tar: None } | Content::Zstd | Content::Qcow2 | Content::Empty => None,
        }
    }
}

/// Reads up to [`SNIFF_LEN`] bytes of `r` and says what they are.
pub fn sniff(r: impl Read) -> io::Result<Content> {
    let mut head = Vec::with_capacity(SNIFF_LEN);
    r.take(SNIFF_LEN as u64).read_to_end(&mut head)?;
    Ok(sniff_bytes(&head))
}

/// [`sniff`] on bytes already read (the start of the file).
pub fn sniff_bytes(head: &[u8]) -> Content {
    if head.is_empty() {
        Content::Empty
    } else if head.starts_with(GZIP_MAGIC) {
        Content::Gzip {
            tar: gzip_payload_is_tar(head),
        }
    } else if head.starts_with(XZ_MAGIC) {
        Content::Xz
    } else if head.starts_with(BZIP2_MAGIC) {
        Content::Bzip2
    } else if head.starts_with(ZSTD_MAGIC) {
        Content::Zstd
    } else if head.starts_with(QCOW_MAGIC) {
        Content::Qcow2
    } else if is_tar_header(head) {
        Content::Tar
    } else {
        Content::Raw
    }
}

fn is_tar_header(b: &[u8]) -> bool {
    b.get(TAR_MAGIC_OFFSET..TAR_MAGIC_OFFSET + TAR_MAGIC.len()) == Some(TAR_MAGIC)
}

/// Inflates the first 512 bytes of a gzip stream's start and looks for a tar header.
fn gzip_payload_is_tar(head: &[u8]) -> Option<bool> {
    let mut out = Vec::with_capacity(512);
    let mut d = flate2::read::MultiGzDecoder::new(head).take(512);
    match d.read_to_end(&mut out) {
        Ok(_) if out.len() > TAR_MAGIC_OFFSET + TAR_MAGIC.len() => Some(is_tar_header(&out)),
        // A tiny payload can still be judged: too short to be a tar archive.
        Ok(_) => Some(false),
        Err(_) if out.len() > TAR_MAGIC_OFFSET + TAR_MAGIC.len() => Some(is_tar_header(&out)),
        Err(_) => None,
    }
}

/// The compression a file name promises (`x.dd.gz` → gzip), for a consistency check.
fn name_promises(name: &str) -> Option<&'static str> {
    let n = name.to_ascii_lowercase();
    if n.ends_with(".gz") || n.ends_with(".tgz") {
        Some("gzip")
    } else if n.ends_with(".xz") || n.ends_with(".txz") {
        Some("xz")
    } else if n.ends_with(".bz2") || n.ends_with(".tbz") {
        Some("bzip2")
    } else {
        None
    }
}

/// Whether `content` is compressed with `what` (a [`name_promises`] answer).
fn is_compressed_with(content: Content, what: &str) -> bool {
    match what {
        "gzip" => matches!(content, Content::Gzip { .. }),
        "xz" => content == Content::Xz,
        "bzip2" => content == Content::Bzip2,
        _ => false,
    }
}

/// Why a file cannot be uploaded with a given (or any) type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Mismatch(pub String);

/// The type to upload `file_name` (a name for messages and for its extension) as, given its
/// [`Content`] and the type the user asked for, if any.
///
/// Refuses, with what to do instead: a type that does not fit the content (`ddtgz` for a
/// plain gzip'd disk, `ddraw` for compressed data, …), content MAAS cannot deploy (qcow2,
/// zstd, an empty file), and — when no type is given — a name whose extension contradicts
/// the content.
pub fn resolve(
    file_name: &str,
    content: Content,
    asked: Option<FileType>,
) -> Result<FileType, Mismatch> {
    let refuse = |s: String| Err(Mismatch(s));
    match content {
        Content::Empty => return refuse(format!("{file_name} is empty: nothing to upload")),
        Content::Qcow2 => {
            return refuse(format!(
                "{file_name} is a qcow2 image, which MAAS cannot deploy: convert it first \
                 (`ddgz convert {file_name}`, or `ddgz convert … --upload`)"
            ))
        }
        Content::Zstd => {
            return refuse(format!(
                "{file_name} is zstd-compressed, and neither MAAS nor curtin has a zstd type: \
                 recompress it with gzip (ddgz) or xz (ddxz)"
            ))
        }
        Content::Gzip { tar: None } => {
            return refuse(format!(
                "{file_name} starts like gzip but its first bytes do not decompress: the \
                 file is corrupt or truncated (check it with `ddgz verify {file_name}`)"
            ))
        }
        _ => {}
    }
    let Some(asked) = asked else {
        let ft = content.file_type().expect("every other content has a type");
        if let Some(what) = name_promises(file_name) {
            if !is_compressed_with(content, what) {
                return refuse(format!(
                    "{file_name}: its name promises {what}, but it is {}: the file may be \
                     damaged or misnamed; if the content is right, say so with --filetype {ft}",
                    content.describe()
                ));
            }
        }
        return Ok(ft);
    };
    let want = asked.expects();
    if want == content {
        return Ok(asked);
    }
    let suggest = content.file_type().map_or(String::new(), |t| {
        format!(" Use --filetype {t}, or leave --filetype out.")
    });
    let why = match (asked, content) {
        (FileType::Ddtgz | FileType::Tgz, Content::Gzip { tar: Some(false) }) => format!(
            "with --filetype {asked} MAAS expects a gzip'd tar archive, but the decompressed \
             data of {file_name} has no tar header (no `ustar` at byte {TAR_MAGIC_OFFSET}): it \
             is a plain gzip'd disk image, whose type is ddgz. Uploaded as {asked}, it would \
             fail to deploy (\"This does not look like a tar archive\")."
        ),
        (FileType::Ddgz, Content::Gzip { tar: Some(true) }) => format!(
            "{file_name} is a gzip'd tar archive, not a gzip'd disk: as ddgz, curtin would \
             write the tar headers onto the disk. A tar holding one disk image is ddtgz; a \
             root file system tarball is tgz."
        ),
        (FileType::Ddraw, _) => format!(
            "{file_name} is {}, but ddraw is written to the disk byte for byte: the target \
             would get the compressed data.",
            content.describe()
        ),
        _ => format!(
            "--filetype {asked} expects {}, but {file_name} is {}.",
            want.describe(),
            content.describe()
        ),
    };
    refuse(format!("{why}{suggest}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn tar_header() -> Vec<u8> {
        let mut h = vec![0u8; 1024];
        h[..8].copy_from_slice(b"disk.img");
        h[257..263].copy_from_slice(b"ustar\0");
        h
    }

    #[test]
    fn sniffs() {
        let mut mbr = vec![0u8; 4096];
        mbr[510] = 0x55;
        mbr[511] = 0xaa;
        assert_eq!(sniff_bytes(&gz(&mbr)), Content::Gzip { tar: Some(false) });
        assert_eq!(
            sniff_bytes(&gz(&tar_header())),
            Content::Gzip { tar: Some(true) }
        );
        assert_eq!(sniff_bytes(&tar_header()), Content::Tar);
        assert_eq!(sniff_bytes(&mbr), Content::Raw);
        assert_eq!(sniff_bytes(b"\xfd7zXZ\0rest"), Content::Xz);
        assert_eq!(sniff_bytes(b"BZh91AY"), Content::Bzip2);
        assert_eq!(sniff_bytes(b"QFI\xfb\0\0\0\x03"), Content::Qcow2);
        assert_eq!(sniff_bytes(&[0x28, 0xb5, 0x2f, 0xfd, 0]), Content::Zstd);
        assert_eq!(sniff_bytes(b""), Content::Empty);
        assert_eq!(
            sniff_bytes(b"\x1f\x8b\x08garbage"),
            Content::Gzip { tar: None }
        );
    }

    #[test]
    fn defaults_from_content() {
        let g = Content::Gzip { tar: Some(false) };
        assert_eq!(resolve("x.dd.gz", g, None), Ok(FileType::Ddgz));
        assert_eq!(resolve("x.dd.xz", Content::Xz, None), Ok(FileType::Ddxz));
        assert_eq!(resolve("x.img", Content::Raw, None), Ok(FileType::Ddraw));
        assert_eq!(
            resolve("x.img", Content::Raw, Some(FileType::Ddraw)),
            Ok(FileType::Ddraw)
        );
        assert_eq!(resolve("x", g, Some(FileType::Ddgz)), Ok(FileType::Ddgz));
    }

    #[test]
    fn the_ddtgz_mistake_is_refused() {
        let g = Content::Gzip { tar: Some(false) };
        let e = resolve("esxi.dd.gz", g, Some(FileType::Ddtgz))
            .unwrap_err()
            .0;
        assert!(e.contains("This does not look like a tar archive"), "{e}");
        assert!(e.contains("--filetype ddgz"), "{e}");
        let t = Content::Gzip { tar: Some(true) };
        let e = resolve("x.tgz", t, Some(FileType::Ddgz)).unwrap_err().0;
        assert!(e.contains("ddtgz"), "{e}");
    }

    #[test]
    fn other_mismatches() {
        let g = Content::Gzip { tar: Some(false) };
        let e = resolve("x.dd.gz", g, Some(FileType::Ddraw)).unwrap_err().0;
        assert!(
            e.contains("compressed data") && e.contains("--filetype ddgz"),
            "{e}"
        );
        let e = resolve("x.dd.gz", Content::Raw, None).unwrap_err().0;
        assert!(
            e.contains("promises gzip") && e.contains("--filetype ddraw"),
            "{e}"
        );
        let e = resolve("x.qcow2", Content::Qcow2, None).unwrap_err().0;
        assert!(e.contains("ddgz convert"), "{e}");
        let e = resolve("x.xz", Content::Xz, Some(FileType::Ddgz))
            .unwrap_err()
            .0;
        assert!(e.contains("--filetype ddxz"), "{e}");
    }

    #[test]
    fn parses_names() {
        assert_eq!("DDGZ".parse(), Ok(FileType::Ddgz));
        assert!("ddzst".parse::<FileType>().unwrap_err().contains("ddraw"));
    }
}
