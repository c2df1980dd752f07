//! POSIX ACLs from the kernel's xattr form (`include/uapi/linux/posix_acl_xattr.h`:
//! version 2, every entry 8 bytes, id 0xFFFFFFFF where there is none), which every
//! reader hands out as `system.posix_acl_*`, to the text GNU tar stores in
//! `SCHILY.acl.access`/`SCHILY.acl.default`.

/// `ACL_USER_OBJ`.
pub const USER_OBJ: u16 = 0x01;
/// `ACL_USER`.
pub const USER: u16 = 0x02;
/// `ACL_GROUP_OBJ`.
pub const GROUP_OBJ: u16 = 0x04;
/// `ACL_GROUP`.
pub const GROUP: u16 = 0x08;
/// `ACL_MASK`.
pub const MASK: u16 = 0x10;
/// `ACL_OTHER`.
pub const OTHER: u16 = 0x20;
/// The id of entries that have none, in the xattr form.
pub const UNDEFINED_ID: u32 = u32::MAX;

/// One entry: tag, permissions (rwx bits), id for named users and groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// `ACL_USER_OBJ` (1), `ACL_USER` (2), `ACL_GROUP_OBJ` (4), `ACL_GROUP` (8), `ACL_MASK`
    /// (0x10), `ACL_OTHER` (0x20).
    pub tag: u16,
    /// Permission bits: 4 read, 2 write, 1 execute.
    pub perm: u16,
    /// The uid or gid of `ACL_USER`/`ACL_GROUP` entries.
    pub id: Option<u32>,
}

/// Decodes the kernel's xattr form (as the readers return it).
pub fn parse_xattr(b: &[u8]) -> Result<Vec<Entry>, String> {
    if b.len() < 4 || u32::from_le_bytes([b[0], b[1], b[2], b[3]]) != 2 || (b.len() - 4) % 8 != 0 {
        return Err("ACL xattr without the version-2 header or of a bad length".into());
    }
    Ok(b[4..]
        .chunks_exact(8)
        .map(|c| {
            let tag = u16::from_le_bytes([c[0], c[1]]);
            let id = u32::from_le_bytes([c[4], c[5], c[6], c[7]]);
            Entry {
                tag,
                perm: u16::from_le_bytes([c[2], c[3]]),
                id: matches!(tag, USER | GROUP).then_some(id),
            }
        })
        .collect())
}

/// The long text form `acl_to_text` gives with numeric ids, one entry per line, as GNU
/// tar stores it in `SCHILY.acl.access`/`SCHILY.acl.default`: `user::rw-\nuser:1000:r--\n…`.
/// Numeric ids, because names would be resolved on the machine that extracts the
/// tarball (curtin's), not the image's.
pub fn to_text(entries: &[Entry]) -> String {
    let mut s = String::new();
    for e in entries {
        let tag = match e.tag {
            USER_OBJ | USER => "user",
            GROUP_OBJ | GROUP => "group",
            MASK => "mask",
            _ => "other",
        };
        let id = e.id.map(|i| i.to_string()).unwrap_or_default();
        let p = |bit: u16, c: char| if e.perm & bit != 0 { c } else { '-' };
        s.push_str(&format!(
            "{tag}:{id}:{}{}{}\n",
            p(4, 'r'),
            p(2, 'w'),
            p(1, 'x')
        ));
    }
    s
}

/// The access ACL equivalent to permission bits `mode` (what `acl_get_file` returns for
/// a file without an ACL xattr).
pub fn from_mode(mode: u16) -> Vec<Entry> {
    [(USER_OBJ, 6), (GROUP_OBJ, 3), (OTHER, 0)]
        .into_iter()
        .map(|(tag, shift)| Entry {
            tag,
            perm: (mode >> shift) & 7,
            id: None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xattr_to_text() {
        let mut x = 2u32.to_le_bytes().to_vec();
        for (tag, perm, id) in [
            (USER_OBJ, 6u16, UNDEFINED_ID),
            (USER, 4, 1234),
            (GROUP_OBJ, 4, UNDEFINED_ID),
            (MASK, 6, UNDEFINED_ID),
            (OTHER, 4, UNDEFINED_ID),
        ] {
            x.extend_from_slice(&tag.to_le_bytes());
            x.extend_from_slice(&perm.to_le_bytes());
            x.extend_from_slice(&id.to_le_bytes());
        }
        assert_eq!(
            to_text(&parse_xattr(&x).unwrap()),
            "user::rw-\nuser:1234:r--\ngroup::r--\nmask::rw-\nother::r--\n"
        );
        assert!(parse_xattr(&x[..x.len() - 2]).is_err());
        assert_eq!(
            to_text(&from_mode(0o750)),
            "user::rwx\ngroup::r-x\nother::---\n"
        );
    }
}
