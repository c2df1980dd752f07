//! Files that are not disk images ddgz reads, recognised by their magic so that the error
//! names them ("a zstd-compressed stream") instead of reading them as a raw disk and
//! reporting "no partition table". One entry per kind: a format that gains a reader in
//! [`FORMATS`](crate::FORMATS) loses its entry here. A packed disk (gzip or xz) is
//! `ddgz-packed`'s to recognise ([`identify`](crate::identify) asks it first): `inspect`,
//! `validate`, `ls`, `cat` and `verify` read it; opened as an image it is refused here.

use ddgz_disk::{Error, InputFile};

use crate::Foreign;

/// What to do with a compressed stream.
const DECOMPRESS: &str = "decompress it first (e.g. zcat, xz -dc, bzip2 -dc, zstd -dc FILE > \
                          disk.raw); a finished .dd.gz or .dd.xz is read by `ddgz inspect`, \
                          `validate`, `ls` and `cat`, and checked by `ddgz verify`";

/// What a file starting with `head` is, when it is one of the kinds ddgz does not read as
/// a disk, with what to do instead.
pub fn recognise(head: &[u8]) -> Option<(&'static str, &'static str)> {
    let at = |off: usize, magic: &[u8]| head.get(off..off + magic.len()) == Some(magic);
    // A gzip of another method than deflate (a packed disk is gzip of deflate).
    if at(0, &[0x1F, 0x8B]) {
        return Some(("a gzip-compressed stream", DECOMPRESS));
    }
    if at(0, b"BZh")
        && head.get(3).is_some_and(|d| (b'1'..=b'9').contains(d))
        && at(4, &[0x31, 0x41, 0x59, 0x26, 0x53, 0x59])
    {
        return Some(("a bzip2-compressed stream", DECOMPRESS));
    }
    if at(0, &[0x28, 0xB5, 0x2F, 0xFD]) {
        return Some(("a zstd-compressed stream", DECOMPRESS));
    }
    if at(0x8001, b"CD001") {
        return Some((
            "an ISO 9660 image (an installer CD), not a disk",
            "install from it under QEMU (see examples/packer) and convert the disk the installer writes",
        ));
    }
    None
}

/// A packed disk opened as an image: named like the other compressed streams.
pub(crate) fn packed(c: ddgz_packed::Compression) -> Foreign {
    let what = match c {
        ddgz_packed::Compression::Gzip => "a gzip-compressed stream",
        ddgz_packed::Compression::Xz => "an xz-compressed stream",
    };
    Foreign {
        what,
        instead: DECOMPRESS,
    }
}

/// The error for `input`, which is `f`: what it is and what to do instead.
pub(crate) fn refuse(input: &InputFile, f: Foreign) -> Error {
    Error::Format {
        path: input.path().into(),
        reason: format!(
            "is {}, not a disk image ddgz reads ({}): {}",
            f.what,
            crate::format_names().collect::<Vec<_>>().join(", "),
            f.instead
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::recognise;

    #[test]
    fn magics() {
        let mut iso = vec![0u8; 0x8006];
        iso[0x8001..0x8006].copy_from_slice(b"CD001");
        for (head, what) in [
            (&b"\x1f\x8b\x00\0"[..], "gzip"),
            (b"BZh91AY&SY", "bzip2"),
            (b"\x28\xB5\x2F\xFD\0", "zstd"),
            (&iso, "ISO 9660"),
        ] {
            assert!(recognise(head).unwrap().0.contains(what), "{what}");
        }
        assert_eq!(recognise(b"BZh9xxxxxx"), None);
        assert_eq!(recognise(&[0u8; 0x9000]), None);
        assert_eq!(recognise(b""), None);
    }
}
