//! User and group names for the `uname`/`gname` fields, from the image's own
//! `/etc/passwd` and `/etc/group` (`name:x:id:…` lines; the first line for an id wins,
//! as `getpwuid` returns it). The host's databases would name the wrong users.

use std::collections::HashMap;

use ddgz_fs::{FileType, Tree};

/// Most bytes read of either file: far more than any real one.
const MAX_FILE: u64 = 16 << 20;

/// Names by numeric id.
#[derive(Debug, Default, Clone)]
pub struct Names {
    users: HashMap<u32, Vec<u8>>,
    groups: HashMap<u32, Vec<u8>>,
}

fn parse(text: &[u8]) -> HashMap<u32, Vec<u8>> {
    let mut map = HashMap::new();
    for line in text.split(|&b| b == b'\n') {
        let mut f = line.split(|&b| b == b':');
        let (Some(name), Some(_), Some(id)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let Some(id) = std::str::from_utf8(id)
            .ok()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if !name.is_empty() && !name.starts_with(b"#") && !name.starts_with(b"+") {
            map.entry(id).or_insert_with(|| name.to_vec());
        }
    }
    map
}

impl Names {
    /// Reads `/etc/passwd` and `/etc/group` of `fs`; missing or unreadable files give no
    /// names (numeric ids are always written).
    pub fn from_fs<T: Tree>(fs: &T) -> Self {
        let read = |p: &[u8]| -> Vec<u8> {
            match fs.lookup(p, true) {
                Ok(Some(i)) if fs.stat(&i).kind == Some(FileType::Regular) => {
                    fs.read_small(&i, MAX_FILE).unwrap_or_default()
                }
                _ => Vec::new(),
            }
        };
        Self {
            users: parse(&read(b"/etc/passwd")),
            groups: parse(&read(b"/etc/group")),
        }
    }

    /// The user named for `uid`.
    pub fn user(&self, uid: u32) -> Option<&[u8]> {
        self.users.get(&uid).map(Vec::as_slice)
    }

    /// The group named for `gid`.
    pub fn group(&self, gid: u32) -> Option<&[u8]> {
        self.groups.get(&gid).map(Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_line_wins_and_junk_is_skipped() {
        let m = parse(b"root:x:0:0::/root:/bin/bash\ntoor:x:0:0::/:/bin/sh\n\nbad\n+nis::5\nsvc:x:998:998::/:/sbin/nologin");
        assert_eq!(m.get(&0).map(Vec::as_slice), Some(&b"root"[..]));
        assert_eq!(m.get(&998).map(Vec::as_slice), Some(&b"svc"[..]));
        assert_eq!(m.len(), 2);
    }
}
