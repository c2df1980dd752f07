//! The `maas $PROFILE boot-resources create …` line ddgz prints for the user to paste: one
//! builder, so that every command quotes alike and the line is safe whatever the name,
//! title or output path hold.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// What the printed line creates.
#[derive(Debug, Clone)]
pub struct CreateCommand<'a> {
    /// Boot resource name (`esxi/8.0`, `custom/debian-12`).
    pub name: &'a str,
    /// Title shown in MAAS.
    pub title: &'a str,
    /// `arch/subarch`.
    pub architecture: &'a str,
    /// `base_image=`, written when `Some`.
    pub base_image: Option<&'a str>,
    /// `ddgz`, `tgz`, … (one of MAAS's names, written as it is).
    pub filetype: &'static str,
    /// The file to upload, best absolute.
    pub content: &'a Path,
}

impl CreateCommand<'_> {
    /// The line, every value quoted by [`shell_quote`].
    pub fn line(&self) -> String {
        let mut line = format!(
            "maas $PROFILE boot-resources create name={} title={} architecture={} filetype='{}'",
            shell_quote(self.name.as_bytes()),
            shell_quote(self.title.as_bytes()),
            shell_quote(self.architecture.as_bytes()),
            self.filetype,
        );
        if let Some(b) = self.base_image {
            line.push_str(&format!(" base_image={}", shell_quote(b.as_bytes())));
        }
        line.push_str(&format!(
            " content@={}",
            shell_quote(self.content.as_os_str().as_bytes())
        ));
        line
    }
}

/// Bytes a word may hold unquoted.
fn plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"/._-+@=:,".contains(&b)
}

/// Whether `c` may not be shown raw on a terminal: controls but the line break (which a
/// single-quoted string holds as it is), and the bidirectional overrides and isolates.
fn hazard(c: char) -> bool {
    (c.is_control() && c != '\n')
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// `arg` as one POSIX shell word that gives exactly these bytes when pasted, and shows
/// nothing a terminal acts on: a plain word as it is, else single-quoted (`'` as `'\''`),
/// with each control character, reordering character or byte that is not UTF-8 written
/// as `"$(printf '\OOO')"` (octal) outside the quotes. A line break stays inside the
/// quotes (a command substitution would drop it).
pub fn shell_quote(arg: &[u8]) -> String {
    if !arg.is_empty() && arg.iter().all(|&b| plain(b)) {
        return String::from_utf8_lossy(arg).into_owned();
    }
    let mut out = String::new();
    let mut quoted = false;
    let mut printf = String::new();
    let flush_printf = |out: &mut String, printf: &mut String| {
        if !printf.is_empty() {
            out.push_str(&format!("\"$(printf '{printf}')\""));
            printf.clear();
        }
    };
    let raw = |out: &mut String, quoted: &mut bool, printf: &mut String, bytes: &[u8]| {
        if *quoted {
            out.push('\'');
            *quoted = false;
        }
        for b in bytes {
            printf.push_str(&format!("\\{b:03o}"));
        }
    };
    for chunk in arg.utf8_chunks() {
        for c in chunk.valid().chars() {
            if hazard(c) {
                let mut buf = [0u8; 4];
                raw(
                    &mut out,
                    &mut quoted,
                    &mut printf,
                    c.encode_utf8(&mut buf).as_bytes(),
                );
            } else if c == '\'' {
                flush_printf(&mut out, &mut printf);
                if quoted {
                    out.push('\'');
                    quoted = false;
                }
                out.push_str("\\'");
            } else {
                flush_printf(&mut out, &mut printf);
                if !quoted {
                    out.push('\'');
                    quoted = true;
                }
                out.push(c);
            }
        }
        raw(&mut out, &mut quoted, &mut printf, chunk.invalid());
    }
    flush_printf(&mut out, &mut printf);
    if quoted {
        out.push('\'');
    }
    if out.is_empty() {
        out.push_str("''");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote(b"esxi/8.0"), "esxi/8.0");
        assert_eq!(shell_quote(b""), "''");
        assert_eq!(shell_quote(b"VMware ESXi 8.0"), "'VMware ESXi 8.0'");
        assert_eq!(shell_quote(b"it's"), "'it'\\''s'");
        assert_eq!(shell_quote(b"a\x1bb"), "'a'\"$(printf '\\033')\"'b'");
        assert_eq!(shell_quote(b"\xff.dd.gz"), "\"$(printf '\\377')\"'.dd.gz'");
        assert_eq!(shell_quote(b"a\nb"), "'a\nb'");
    }
}
