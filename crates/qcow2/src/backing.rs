//! Backing files and external data files: how a name stored in the image becomes a
//! path, and which format the named file has (qcow2 spec, "Header" fields
//! `backing_file_offset`/`backing_file_size`, extensions "Backing file format name" and
//! "External data file name").
//!
//! Rules, as QEMU applies them to files:
//! - a relative name is relative to the directory of the image that stores it;
//! - a name with a protocol prefix (a `:` before the first `/`: `json:{…}`, `nbd:…`,
//!   `http://…`) is not a file and is refused;
//! - the backing format comes from the backing format extension and is never guessed from
//!   the content of the named file (a raw file that looks like qcow2 stays raw);
//! - the chain is at most [`OpenOptions::max_chain_depth`](crate::OpenOptions) deep and
//!   may not name a file already in it ([`ddgz_disk::Chain`]);
//! - the backing file is opened by the caller's [`ddgz_disk::OpenBacking`] (the format
//!   registry): any format it knows may sit below a qcow2 image.

use std::path::{Path, PathBuf};

use ddgz_disk::Problem;

/// Quotes a stored name for a message (lossy, escaped, shortened).
pub(crate) fn show(name: &[u8]) -> String {
    ddgz_disk::show_name(name)
}

/// Resolves a stored file name (`what` is "backing file" or "data file") to a path,
/// relative to `image`'s directory, refused when it leaves that directory unless the chain
/// allows it ([`ddgz_disk::Chain::resolve`]).
pub(crate) fn resolve(
    chain: &mut ddgz_disk::Chain,
    image: &Path,
    name: &[u8],
    what: &str,
) -> Result<PathBuf, Problem> {
    chain.resolve(image, name, what).map_err(|e| {
        if e.unsupported {
            Problem::unsupported(e.message)
        } else {
            Problem::invalid(e.message)
        }
    })
}

/// The backing format recorded by the extension, as a name for the backing opener
/// ([`ddgz_disk::OpenBacking`]), which says whether it can open it.
pub(crate) fn format(ext: Option<&[u8]>, name: &[u8]) -> Result<String, Problem> {
    match ext {
        None => Err(Problem::unsupported(format!(
            "the backing file {} has no recorded format (no backing format extension) and \
             the format is never guessed; record it with `qemu-img rebase -u -b NAME -F \
             qcow2|raw`",
            show(name)
        ))),
        Some(f) => Ok(String::from_utf8_lossy(f).into_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_relative_to_the_image() {
        let r = |img: &str, n: &str| {
            let mut c = ddgz_disk::Chain::default().allow_outside_files(true);
            resolve(&mut c, Path::new(img), n.as_bytes(), "backing file")
        };
        assert_eq!(
            r("/a/b/o.qcow2", "base.qcow2").unwrap(),
            Path::new("/a/b/base.qcow2")
        );
        assert_eq!(
            r("/a/b/o.qcow2", "../c/x").unwrap(),
            Path::new("/a/b/../c/x")
        );
        assert_eq!(r("/a/b/o.qcow2", "/abs/x").unwrap(), Path::new("/abs/x"));
        assert_eq!(r("o.qcow2", "x.raw").unwrap(), Path::new("x.raw"));
        assert_eq!(r("/a/o", "./we:ird").unwrap(), Path::new("/a/./we:ird"));
    }

    #[test]
    fn refuses_protocols() {
        for n in [
            "json:{\"file\":{}}",
            "nbd:localhost:10809",
            "http://x/y",
            "nbd+unix:///e",
            ":x",
        ] {
            let m = resolve(
                &mut Default::default(),
                Path::new("/o"),
                n.as_bytes(),
                "backing file",
            )
            .unwrap_err()
            .message;
            assert!(
                m.contains("is not a plain file path (protocol prefix"),
                "{m}"
            );
        }
        let m = resolve(&mut Default::default(), Path::new("/o"), b"", "data file")
            .unwrap_err()
            .message;
        assert_eq!(m, "the data file name is empty");
        let m = resolve(
            &mut Default::default(),
            Path::new("/o"),
            b"a\0b",
            "data file",
        )
        .unwrap_err()
        .message;
        assert!(m.contains("NUL"), "{m}");
    }

    #[test]
    fn formats() {
        assert_eq!(format(Some(b"qcow2"), b"b"), Ok("qcow2".into()));
        assert_eq!(format(Some(b"vmdk"), b"b"), Ok("vmdk".into()));
        assert!(format(None, b"b")
            .unwrap_err()
            .message
            .contains("never guessed"));
    }
}
