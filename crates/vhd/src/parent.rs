//! Where a differencing disk's parent is (VHD specification, "Parent Locator" and
//! "Parent Unicode Name"), turned into candidate paths with the same guards as qcow2
//! backing names: a name is a local file, never a protocol; a relative name is relative
//! to the child's directory; the chain's depth is bounded and may not loop (checked by
//! the opener).
//!
//! Candidates, in order (the first that exists is opened, then its unique id must equal
//! the child's parent unique id):
//! - `W2ru`: a relative Windows path, UTF-16 LE (`.\base.vhd`): `\` becomes `/`,
//!   resolved against the child's directory;
//! - `W2ku`: an absolute Windows path, UTF-16 LE (`C:\vms\base.vhd`): it cannot name a
//!   local file here, so only its file name is tried, in the child's directory;
//! - `MacX`: a file URL, UTF-8 (`file://localhost/vms/base.vhd`): its path;
//! - the parent unicode name of the header, UTF-16 BE: its file name, in the child's
//!   directory.
//!
//! The deprecated `Wi2r`/`Wi2k` (code-page paths) and `Mac ` (alias records) locators
//! are not read.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use ddgz_disk::Problem;

/// Default limit on the parent chain depth (as for qcow2 backing chains).
pub const DEFAULT_MAX_CHAIN_DEPTH: usize = 16;

/// A place to look for the parent, and where the name came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Candidate {
    pub path: PathBuf,
    pub from: String,
}

/// Quotes a stored name for a message (escaped, shortened).
pub(crate) fn show(name: &str) -> String {
    ddgz_disk::show_name(name.as_bytes())
}

fn utf16le(b: &[u8]) -> String {
    let units: Vec<u16> = b
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .take_while(|&u| u != 0)
        .collect();
    String::from_utf16_lossy(&units)
}

/// Refuses names that are not plain local file names.
fn plain(name: &str, what: &str) -> Result<(), Problem> {
    if name.is_empty() {
        return Err(Problem::parent(format!("the {what} is empty")));
    }
    if name.contains('\0') {
        return Err(Problem::parent(format!(
            "the {what} {} contains a NUL",
            show(name)
        )));
    }
    Ok(())
}

/// The last component of a Windows or POSIX path.
fn file_name(name: &str) -> &str {
    name.rsplit(['\\', '/']).next().unwrap_or(name)
}

/// Decodes `%XX` escapes of a file URL path.
fn percent_decode(s: &str) -> Vec<u8> {
    percent_encoding::percent_decode_str(s).collect()
}

/// The candidate path for one locator's data, or why it cannot be one.
pub(crate) fn from_locator(
    child: &Path,
    code: &[u8; 4],
    data: &[u8],
) -> Result<Candidate, Problem> {
    let dir = child.parent().unwrap_or(Path::new(""));
    match code {
        b"W2ru" => {
            let name = utf16le(data);
            plain(&name, "W2ru parent locator")?;
            let first = name.find([':', '\\', '/']);
            if first.is_some_and(|i| name.as_bytes()[i] == b':') {
                return Err(Problem::parent(format!(
                    "the W2ru parent locator {} is not a relative path",
                    show(&name)
                )));
            }
            let rel = name.replace('\\', "/");
            if rel.starts_with('/') {
                return Err(Problem::parent(format!(
                    "the W2ru parent locator {} is not a relative path",
                    show(&name)
                )));
            }
            Ok(Candidate {
                path: dir.join(rel),
                from: format!("W2ru locator {}", show(&name)),
            })
        }
        b"W2ku" => {
            let name = utf16le(data);
            plain(&name, "W2ku parent locator")?;
            let f = file_name(&name);
            plain(f, "file name of the W2ku parent locator")?;
            if f == "." || f == ".." {
                return Err(Problem::parent(format!(
                    "the W2ku parent locator {} names no file",
                    show(&name)
                )));
            }
            Ok(Candidate {
                path: dir.join(f),
                from: format!("file name of the W2ku locator {}", show(&name)),
            })
        }
        b"MacX" => {
            let end = data.iter().position(|&c| c == 0).unwrap_or(data.len());
            let url = String::from_utf8_lossy(&data[..end]).into_owned();
            plain(&url, "MacX parent locator")?;
            let path = url
                .strip_prefix("file://localhost/")
                .or_else(|| url.strip_prefix("file:///"))
                .ok_or_else(|| {
                    Problem::parent(format!(
                        "the MacX parent locator {} is not a local file URL \
                         (file://localhost/… or file:///…)",
                        show(&url)
                    ))
                })?;
            let mut p = vec![b'/'];
            p.extend(percent_decode(path));
            if p.contains(&0) {
                return Err(Problem::parent(format!(
                    "the MacX parent locator {} contains a NUL",
                    show(&url)
                )));
            }
            Ok(Candidate {
                path: PathBuf::from(OsStr::from_bytes(&p)),
                from: format!("MacX locator {}", show(&url)),
            })
        }
        other => Err(Problem::parent(format!(
            "parent locator platform code {} is not read (only W2ru, W2ku and MacX)",
            crate::footer::tag(other)
        ))),
    }
}

/// The candidate from the header's parent unicode name: its file name, next to the child.
pub(crate) fn from_unicode_name(child: &Path, name: &str) -> Result<Candidate, Problem> {
    plain(name, "parent unicode name")?;
    let f = file_name(name);
    plain(f, "file name of the parent unicode name")?;
    if f == "." || f == ".." {
        return Err(Problem::parent(format!(
            "the parent unicode name {} names no file",
            show(name)
        )));
    }
    let dir = child.parent().unwrap_or(Path::new(""));
    Ok(Candidate {
        path: dir.join(f),
        from: format!("parent unicode name {}", show(name)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn le(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(|u| u.to_le_bytes()).collect()
    }

    #[test]
    fn locators() {
        let c = Path::new("/vms/child.vhd");
        let r = from_locator(c, b"W2ru", &le(".\\sub\\base.vhd")).unwrap();
        assert_eq!(r.path, Path::new("/vms/./sub/base.vhd"));
        let r = from_locator(c, b"W2ku", &le("C:\\VMs\\base.vhd")).unwrap();
        assert_eq!(r.path, Path::new("/vms/base.vhd"));
        let r = from_locator(c, b"MacX", b"file://localhost/Users/a/b%20c.vhd\0").unwrap();
        assert_eq!(r.path, Path::new("/Users/a/b c.vhd"));
        let r = from_locator(c, b"MacX", b"file:///x.vhd").unwrap();
        assert_eq!(r.path, Path::new("/x.vhd"));
        for (code, data) in [
            (b"W2ru", le("C:\\x.vhd")),
            (b"W2ru", le("\\\\server\\x.vhd")),
            (b"W2ru", le("")),
            (b"MacX", b"http://x/y".to_vec()),
            (b"Mac ", b"alias".to_vec()),
            (b"W2ku", le("C:\\")),
        ] {
            assert!(from_locator(c, code, &data).is_err(), "{code:?} {data:?}");
        }
        assert_eq!(
            from_unicode_name(c, "D:\\a\\base.vhd").unwrap().path,
            Path::new("/vms/base.vhd")
        );
        assert!(from_unicode_name(c, "..").is_err());
        assert_eq!(percent_decode("a%2"), b"a%2");
        assert_eq!(percent_decode("%41%zz"), b"A%zz");
    }
}
