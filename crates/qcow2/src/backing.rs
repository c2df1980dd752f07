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

    /// The naming rules are `ddgz_disk::resolve_name`'s (tested there); here, how a
    /// refusal becomes a reader problem: a protocol is unsupported, an empty name invalid.
    #[test]
    fn resolves_through_the_chain() {
        let mut c = ddgz_disk::Chain::default().allow_outside_files(true);
        let r = |c: &mut ddgz_disk::Chain, n: &[u8]| resolve(c, Path::new("/a/o"), n, "data file");
        assert_eq!(r(&mut c, b"b.raw").unwrap(), Path::new("/a/b.raw"));
        let p = r(&mut c, b"nbd:localhost:10809").unwrap_err();
        assert_eq!(p.kind, ddgz_disk::ReaderKind::Unsupported, "{}", p.message);
        let p = r(&mut c, b"").unwrap_err();
        assert_eq!(
            p.kind,
            ddgz_disk::ReaderKind::InvalidFormat,
            "{}",
            p.message
        );
        assert_eq!(p.message, "the data file name is empty");
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
