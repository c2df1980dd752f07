//! `--add [PART:]SRC[:DEST]`: what to copy where.
//!
//! Parsing, in this order, so that every string has exactly one meaning:
//! 1. `PART:` — if the text starts with one or more ASCII digits followed by `:`, those
//!    digits are the partition number (default 1). To add a file whose name is all digits,
//!    write `./2`.
//! 2. `SRC:DEST` — the rest is split at its **last** `:`. FAT names cannot contain `:`, so
//!    DEST never does and the split is unambiguous; a SRC containing `:` therefore needs an
//!    explicit DEST (`a:b.txt:/a-b.txt`).
//! 3. DEST is a path inside the FAT filesystem, `/`-separated, leading `/` optional. It
//!    names the copy of SRC itself; a DEST ending in `/` (or `/` alone) is a directory to
//!    put SRC into under its own name. Without DEST, SRC goes to the root under its own
//!    name. A trailing `/` on SRC changes nothing.
//!
//! `curtin` → `/curtin`; `scripts.tar.xz:curtin/` → `/curtin/scripts.tar.xz`;
//! `2:payload/:/opt/payload` → the tree `payload` as `/opt/payload` in partition 2.

use std::path::{Path, PathBuf};

use crate::Error;

/// One `--add`: copy `src` (a file or a directory tree) to `dest` in partition `partition`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddSpec {
    /// Partition number, 1-based (default 1).
    pub partition: u32,
    /// The file or directory to copy.
    pub src: PathBuf,
    /// Where it goes: `/`-separated components without a leading `/`; empty for the root
    /// (only for a directory source, whose contents then go to the root).
    pub dest: String,
}

impl AddSpec {
    /// Parses `[PART:]SRC[:DEST]` (see the module documentation for the rules).
    pub fn parse(text: &str) -> Result<Self, Error> {
        let bad = |reason: &str| Error::Spec {
            spec: text.into(),
            reason: reason.into(),
        };
        let (partition, rest) = match text.split_once(':') {
            Some((p, rest)) if !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()) => {
                let n: u32 = p
                    .parse()
                    .map_err(|_| bad("the partition number is too large"))?;
                if n == 0 {
                    return Err(bad("partitions are numbered from 1"));
                }
                (n, rest)
            }
            _ => (1, text),
        };
        let (src, dest) = match rest.rsplit_once(':') {
            Some((s, d)) => (s, Some(d)),
            None => (rest, None),
        };
        if src.is_empty() {
            return Err(bad("SRC is empty"));
        }
        let src_path = PathBuf::from(src);
        let base = || -> Result<String, Error> {
            base_name(&src_path).ok_or_else(|| {
                bad("SRC has no name to use inside the filesystem (like `.` or `/`); give a DEST")
            })
        };
        let dest = match dest {
            None => base()?,
            Some("") => return Err(bad("DEST is empty (use `/` for the root)")),
            Some(d) => {
                let comps: Vec<&str> = d.split('/').filter(|c| !c.is_empty()).collect();
                for c in &comps {
                    check_name(c).map_err(|r| bad(&format!("DEST component {c:?}: {r}")))?;
                }
                let mut dest = comps.join("/");
                if d.ends_with('/') {
                    let b = base();
                    match b {
                        Ok(b) if dest.is_empty() => dest = b,
                        Ok(b) => dest = format!("{dest}/{b}"),
                        // `SRC:/` for a nameless SRC (`.`): its contents go to the root.
                        Err(_) if dest.is_empty() => {}
                        Err(e) => return Err(e),
                    }
                }
                dest
            }
        };
        if let Some(last) = dest.rsplit('/').next().filter(|s| !s.is_empty()) {
            check_name(last).map_err(|r| bad(&format!("name {last:?}: {r}")))?;
        }
        Ok(Self {
            partition,
            src: src_path,
            dest,
        })
    }
}

/// The last component of `p` as UTF-8, if it has a usable one.
pub(crate) fn base_name(p: &Path) -> Option<String> {
    let s = p.file_name()?.to_str()?.to_string();
    Some(s)
}

/// Why FAT cannot hold `name` as a long file name, if it cannot. Same character set as
/// `fatfs` accepts (a subset of what the spec allows), plus the rules Windows and Linux
/// apply: no trailing dot or space, not `.`/`..`.
pub(crate) fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty name".into());
    }
    if name == "." || name == ".." {
        return Err("`.` and `..` are reserved".into());
    }
    if name.len() > 255 {
        return Err(format!(
            "{} bytes long; FAT long names hold at most 255",
            name.len()
        ));
    }
    if name.ends_with('.') || name.ends_with(' ') {
        return Err("ends with a dot or a space, which FAT drivers strip".into());
    }
    for c in name.chars() {
        let ok = c.is_ascii_alphanumeric()
            || ('\u{80}'..='\u{FFFF}').contains(&c)
            || "$%'-_@~`!(){}. +,;=[]^#&".contains(c);
        if !ok {
            return Err(format!(
                "the character {c:?} cannot appear in a FAT name (not allowed: control characters, \" * / : < > ? \\ | and characters outside the BMP)"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> (u32, String, String) {
        let a = AddSpec::parse(s).unwrap();
        (a.partition, a.src.display().to_string(), a.dest)
    }

    #[test]
    fn the_documented_forms() {
        assert_eq!(p("curtin"), (1, "curtin".into(), "curtin".into()));
        assert_eq!(
            p("packer/curtin/"),
            (1, "packer/curtin/".into(), "curtin".into())
        );
        assert_eq!(
            p("scripts.tar.xz:curtin/scripts.tar.xz"),
            (1, "scripts.tar.xz".into(), "curtin/scripts.tar.xz".into())
        );
        assert_eq!(
            p("scripts.tar.xz:/curtin/"),
            (1, "scripts.tar.xz".into(), "curtin/scripts.tar.xz".into())
        );
        assert_eq!(
            p("2:payload/:/opt/payload"),
            (2, "payload/".into(), "opt/payload".into())
        );
        assert_eq!(p("2:x"), (2, "x".into(), "x".into()));
        assert_eq!(p("./2"), (1, "./2".into(), "2".into()));
        assert_eq!(
            p("a:b.txt:/a-b.txt"),
            (1, "a:b.txt".into(), "a-b.txt".into())
        );
        assert_eq!(p("dir:/"), (1, "dir".into(), "dir".into()));
        assert_eq!(p(".:/"), (1, ".".into(), "".into()));
        assert_eq!(
            p("/abs/KS.CFG:/"),
            (1, "/abs/KS.CFG".into(), "KS.CFG".into())
        );
    }

    #[test]
    fn bad_forms_say_why() {
        for (s, want) in [
            ("", "SRC is empty"),
            ("1:", "SRC is empty"),
            ("0:x", "numbered from 1"),
            ("x:", "DEST is empty"),
            (".", "give a DEST"),
            ("x:a/b?c", "cannot appear"),
            ("x:/name.", "ends with a dot"),
            ("99999999999:x", "too large"),
        ] {
            let e = AddSpec::parse(s).unwrap_err().to_string();
            assert!(e.contains(want), "{s:?}: {e}");
        }
    }
}
