//! File names stored inside images (qcow2 backing and data files, VMDK extents and parent
//! hints, VHD parent locators): how such a name becomes a path, with the guards every
//! format applies alike.
//!
//! Rules, as QEMU applies them to files:
//! - a relative name is relative to the directory of the file that stores it;
//! - a name with a protocol prefix (a `:` before the first `/`: `json:{…}`, `nbd:…`,
//!   `http://…`) is not a file and is refused;
//! - an empty name, or one with a NUL byte, is refused.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Why a stored name was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NameError {
    /// The name is well-formed but names something other than a local file (a protocol):
    /// unsupported rather than invalid.
    pub unsupported: bool,
    /// What is wrong, quoting the name.
    pub message: String,
}

/// Whether `c` must not reach a terminal raw: C0 controls and DEL (ESC starts escape
/// sequences, BEL rings, CR overwrites), C1 controls (U+009B is a CSI to many terminals),
/// and the bidirectional overrides and isolates that reorder what is shown
/// (U+202A–U+202E, U+2066–U+2069).
fn is_hazard(c: char) -> bool {
    c.is_control()
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// Text from outside (a name stored in an image, a file name, a field of the image's
/// files) as it may be shown on a terminal, on one line: printable UTF-8 as it is; `\` as
/// `\\`; `\n`, `\t`, `\r` and `\e` for those controls; any other control or
/// reordering character as `\u{…}`, any byte that is not UTF-8 as `\xNN`. Equal names
/// stay distinct. JSON output carries the exact value instead.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\\' => out.push_str("\\\\"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                '\r' => out.push_str("\\r"),
                '\u{1b}' => out.push_str("\\e"),
                c if is_hazard(c) => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// A message for the terminal (which may quote outside text anywhere in it) with every
/// hazard but the line break escaped as [`escape`] does: a last line of defence for
/// errors and warnings, whose own line breaks are kept.
pub fn escape_message(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| c != '\n' && is_hazard(c)) {
        return std::borrow::Cow::Borrowed(text);
    }
    let lines: Vec<String> = text.split('\n').map(|l| escape(l.as_bytes())).collect();
    std::borrow::Cow::Owned(lines.join("\n"))
}

/// Quotes a stored name for a message (lossy, escaped, shortened to about 200 bytes).
pub fn show_name(name: &[u8]) -> String {
    let s = String::from_utf8_lossy(name);
    let mut q = format!("{:?}", s);
    if q.len() > 200 {
        let mut cut = 200;
        while !q.is_char_boundary(cut) {
            cut -= 1;
        }
        q.truncate(cut);
        q.push('…');
    }
    q
}

/// Resolves `name`, stored in the file `image`, to a path: relative names are relative to
/// `image`'s directory. `what` names the role in messages ("backing file", "extent
/// file", …).
pub fn resolve_name(image: &Path, name: &[u8], what: &str) -> Result<PathBuf, NameError> {
    let invalid = |message: String| NameError {
        unsupported: false,
        message,
    };
    if name.is_empty() {
        return Err(invalid(format!("the {what} name is empty")));
    }
    if name.contains(&0) {
        return Err(invalid(format!(
            "the {what} name {} contains a NUL byte",
            show_name(name)
        )));
    }
    let first = name.iter().position(|&c| c == b':' || c == b'/');
    if let Some(i) = first.filter(|&i| name[i] == b':') {
        return Err(NameError {
            unsupported: true,
            message: format!(
                "the {what} {} is not a plain file path (protocol prefix {}); only local \
                 files are supported (write ./NAME for a file whose name contains ':')",
                show_name(name),
                show_name(&name[..=i])
            ),
        });
    }
    let p = Path::new(OsStr::from_bytes(name));
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    Ok(match image.parent() {
        Some(dir) => dir.join(p),
        None => p.to_path_buf(),
    })
}

/// The flag that lets an image name files outside its own directory, as messages name it.
pub const OUTSIDE_FLAG: &str = "--allow-outside-files";

/// `path` with `.` and `..` removed lexically (absolute when `path` is absolute).
fn lexical(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            c => out.push(c.as_os_str()),
        }
    }
    out
}

/// Refuses `resolved` (the path [`resolve_name`] made of `name`) when it leaves `dir` (the
/// directory of the image the user named, the top of the chain), lexically (an absolute
/// name, `..`) or once symbolic links are followed: an image from elsewhere must not pull
/// a host file into the output. An absolute name that stays inside the directory is fine
/// (qemu-img writes backing names as given), and so is a backing file's `../` name that
/// comes back into it (`sub/mid.qcow2` naming `../base.qcow2`).
pub fn confine(dir: &Path, name: &[u8], resolved: &Path, what: &str) -> Result<(), NameError> {
    let cwd = std::env::current_dir().unwrap_or_default();
    let dir = lexical(&cwd.join(dir));
    let lex = lexical(&cwd.join(resolved));
    let mut inside = lex.starts_with(&dir);
    if inside {
        // Symbolic links: compare the real places, when the file exists (a missing file
        // fails to open later, with its own message).
        if let (Ok(d), Ok(f)) = (dir.canonicalize(), lex.canonicalize()) {
            inside = f.starts_with(&d);
        }
    }
    if inside {
        return Ok(());
    }
    Err(NameError {
        unsupported: true,
        message: format!(
            "the {what} {} ({}) lies outside the image's directory {}; ddgz reads only \
             files in or below the directory of the image it is given unless \
             {OUTSIDE_FLAG} is given",
            show_name(name),
            escape(resolved.as_os_str().as_bytes()),
            escape(dir.as_os_str().as_bytes()),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_relative_to_the_image() {
        let r = |img: &str, n: &str| resolve_name(Path::new(img), n.as_bytes(), "backing file");
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
    fn confines_names_to_the_image_directory() {
        let d = std::env::temp_dir().join(format!("ddgz-confine-{}", std::process::id()));
        std::fs::create_dir_all(d.join("sub")).unwrap();
        let img = d.join("o.vmdk");
        let ok = |n: &str| {
            let p = resolve_name(&img, n.as_bytes(), "extent file").unwrap();
            confine(&d, n.as_bytes(), &p, "extent file")
        };
        assert!(ok("x.raw").is_ok());
        assert!(ok("sub/../x.raw").is_ok());
        assert!(ok(d.join("sub/x.raw").to_str().unwrap()).is_ok());
        for n in ["../x.raw", "/etc/hostname", "sub/../../x"] {
            let e = ok(n).unwrap_err();
            assert!(e.message.contains(OUTSIDE_FLAG), "{}", e.message);
        }
        std::os::unix::fs::symlink("/etc/hostname", d.join("link")).unwrap();
        assert!(ok("link").is_err());
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn escapes_what_a_terminal_would_act_on() {
        assert_eq!(escape(b"plain name.txt"), "plain name.txt");
        assert_eq!(escape("caf\u{e9}".as_bytes()), "caf\u{e9}");
        assert_eq!(escape(b"a\x1b[31mb\x07"), "a\\e[31mb\\u{7}");
        assert_eq!(escape(b"x\ny\\z\xff"), "x\\ny\\\\z\\xff");
        assert_eq!(escape("\u{9b}2J\u{202e}".as_bytes()), "\\u{9b}2J\\u{202e}");
        assert_eq!(escape_message("ok\nline two"), "ok\nline two");
        assert_eq!(
            escape_message("bad \x1b]0;x\x07\nnext"),
            "bad \\e]0;x\\u{7}\nnext"
        );
    }

    #[test]
    fn refuses_protocols_empty_and_nul() {
        for n in [
            "json:{\"file\":{}}",
            "nbd:localhost:10809",
            "http://x/y",
            "nbd+unix:///e",
            ":x",
        ] {
            let e = resolve_name(Path::new("/o"), n.as_bytes(), "backing file").unwrap_err();
            assert!(e.unsupported);
            assert!(
                e.message
                    .contains("is not a plain file path (protocol prefix"),
                "{}",
                e.message
            );
        }
        let e = resolve_name(Path::new("/o"), b"", "data file").unwrap_err();
        assert_eq!(e.message, "the data file name is empty");
        assert!(!e.unsupported);
        let e = resolve_name(Path::new("/o"), b"a\0b", "data file").unwrap_err();
        assert!(e.message.contains("NUL"), "{}", e.message);
    }
}
