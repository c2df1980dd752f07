//! POSIX ACLs: ext4's on-disk form, the kernel's xattr form, and the text GNU tar writes.
//!
//! On disk (`fs/ext4/acl.h`): a u32 version 1, then entries of tag (u16) and permissions
//! (u16), followed by an id (u32) only for `ACL_USER` and `ACL_GROUP`. The kernel's
//! xattr form (`include/uapi/linux/posix_acl_xattr.h`), which `getxattr` returns and GNU
//! tar stores as `SCHILY.xattr.system.posix_acl_*`: version 2, every entry 8 bytes, id
//! 0xFFFFFFFF where there is none.

/// `ACL_USER_OBJ`, `ACL_USER`, `ACL_GROUP_OBJ`, `ACL_GROUP`, `ACL_MASK`, `ACL_OTHER`.
const USER_OBJ: u16 = 0x01;
const USER: u16 = 0x02;
const GROUP_OBJ: u16 = 0x04;
const GROUP: u16 = 0x08;
const MASK: u16 = 0x10;
const OTHER: u16 = 0x20;
/// The id of entries that have none, in the xattr form.
const UNDEFINED_ID: u32 = u32::MAX;
/// Most entries read: the kernel's own limit on an ACL of an ext4 xattr is lower.
const MAX_ENTRIES: usize = 8192;

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

/// Decodes ext4's on-disk ACL.
pub fn parse_disk(b: &[u8]) -> Result<Vec<Entry>, String> {
    if b.len() < 4 || u32::from_le_bytes([b[0], b[1], b[2], b[3]]) != 1 {
        return Err("ACL without the version-1 header".into());
    }
    let mut out = Vec::new();
    let mut pos = 4;
    while pos < b.len() {
        if pos + 4 > b.len() || out.len() >= MAX_ENTRIES {
            return Err(format!(
                "ACL entry at byte {pos} is truncated or one too many"
            ));
        }
        let tag = u16::from_le_bytes([b[pos], b[pos + 1]]);
        let perm = u16::from_le_bytes([b[pos + 2], b[pos + 3]]);
        let id = match tag {
            USER | GROUP => {
                if pos + 8 > b.len() {
                    return Err(format!("ACL entry at byte {pos} is truncated"));
                }
                pos += 8;
                Some(u32::from_le_bytes([
                    b[pos - 4],
                    b[pos - 3],
                    b[pos - 2],
                    b[pos - 1],
                ]))
            }
            USER_OBJ | GROUP_OBJ | MASK | OTHER => {
                pos += 4;
                None
            }
            t => return Err(format!("ACL entry at byte {pos} has unknown tag 0x{t:x}")),
        };
        out.push(Entry { tag, perm, id });
    }
    Ok(out)
}

/// ext4's on-disk ACL → the kernel's xattr form.
pub fn to_xattr(disk: &[u8]) -> Result<Vec<u8>, String> {
    let entries = parse_disk(disk)?;
    let mut out = 2u32.to_le_bytes().to_vec();
    for e in entries {
        out.extend_from_slice(&e.tag.to_le_bytes());
        out.extend_from_slice(&e.perm.to_le_bytes());
        out.extend_from_slice(&e.id.unwrap_or(UNDEFINED_ID).to_le_bytes());
    }
    Ok(out)
}

/// Decodes the kernel's xattr form (as [`to_xattr`] returns it).
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
    fn disk_to_xattr_to_text() {
        let mut d = 1u32.to_le_bytes().to_vec();
        for (tag, perm, id) in [
            (1u16, 6u16, None),
            (2, 4, Some(1234u32)),
            (4, 4, None),
            (0x10, 6, None),
            (0x20, 4, None),
        ] {
            d.extend_from_slice(&tag.to_le_bytes());
            d.extend_from_slice(&perm.to_le_bytes());
            if let Some(i) = id {
                d.extend_from_slice(&i.to_le_bytes());
            }
        }
        let x = to_xattr(&d).unwrap();
        assert_eq!(x.len(), 4 + 5 * 8);
        assert_eq!(
            to_text(&parse_xattr(&x).unwrap()),
            "user::rw-\nuser:1234:r--\ngroup::r--\nmask::rw-\nother::r--\n"
        );
        assert!(parse_disk(&d[..d.len() - 2]).is_err());
        assert_eq!(
            to_text(&from_mode(0o750)),
            "user::rwx\ngroup::r-x\nother::---\n"
        );
    }
}
