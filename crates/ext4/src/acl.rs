//! POSIX ACLs: ext4's on-disk form, the kernel's xattr form, and the text GNU tar writes.
//!
//! On disk (`fs/ext4/acl.h`): a u32 version 1, then entries of tag (u16) and permissions
//! (u16), followed by an id (u32) only for `ACL_USER` and `ACL_GROUP`. The kernel's
//! xattr form (`include/uapi/linux/posix_acl_xattr.h`), which `getxattr` returns and GNU
//! tar stores as `SCHILY.xattr.system.posix_acl_*`: version 2, every entry 8 bytes, id
//! 0xFFFFFFFF where there is none.

pub use ddgz_fs::acl::{from_mode, parse_xattr, to_text, Entry};
use ddgz_fs::acl::{GROUP, GROUP_OBJ, MASK, OTHER, UNDEFINED_ID, USER, USER_OBJ};

/// Most entries read: the kernel's own limit on an ACL of an ext4 xattr is lower.
const MAX_ENTRIES: usize = 8192;

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
