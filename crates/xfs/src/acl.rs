//! POSIX ACLs: XFS stores them as the ROOT-namespace attributes `SGI_ACL_FILE` and
//! `SGI_ACL_DEFAULT` in its own big-endian form (`libxfs/xfs_format.h`, `xfs_acl`): a
//! u32 count, then entries of tag (u32), id (u32) and permissions (u16, 2 bytes pad).
//! The kernel shows them as `system.posix_acl_access`/`_default` in its xattr form
//! (`include/uapi/linux/posix_acl_xattr.h`: version 2, then tag u16, perm u16, id u32,
//! little-endian, id 0xFFFFFFFF where there is none) — the form the ext4 reader hands
//! to `ddgz tar` and GNU tar stores.

use ddgz_disk::bytes::{be16, be32};

/// The ROOT-namespace names of the access and default ACLs.
pub const SGI_ACL_FILE: &[u8] = b"SGI_ACL_FILE";
/// See [`SGI_ACL_FILE`].
pub const SGI_ACL_DEFAULT: &[u8] = b"SGI_ACL_DEFAULT";
const USER: u32 = 0x02;
const GROUP: u32 = 0x08;
const KNOWN_TAGS: [u32; 6] = [0x01, USER, 0x04, GROUP, 0x10, 0x20];
const UNDEFINED_ID: u32 = u32::MAX;

/// XFS's on-disk ACL → the kernel's xattr form.
pub fn to_xattr(b: &[u8]) -> Result<Vec<u8>, String> {
    if b.len() < 4 {
        return Err(format!("ACL of {} bytes, without its count", b.len()));
    }
    let count = be32(b, 0) as usize;
    if Some(b.len()) != count.checked_mul(12).and_then(|n| n.checked_add(4)) {
        return Err(format!(
            "ACL of {} bytes for {count} entries of 12",
            b.len()
        ));
    }
    let mut out = 2u32.to_le_bytes().to_vec();
    for e in b[4..].chunks_exact(12) {
        let tag = be32(e, 0);
        if !KNOWN_TAGS.contains(&tag) {
            return Err(format!("ACL entry with unknown tag 0x{tag:x}"));
        }
        let id = if tag == USER || tag == GROUP {
            be32(e, 4)
        } else {
            UNDEFINED_ID
        };
        out.extend_from_slice(&(tag as u16).to_le_bytes());
        out.extend_from_slice(&(be16(e, 8) & 7).to_le_bytes());
        out.extend_from_slice(&id.to_le_bytes());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_to_xattr() {
        let mut d = 3u32.to_be_bytes().to_vec();
        for (tag, id, perm) in [(1u32, u32::MAX, 6u16), (2, 1234, 4), (0x20, 7, 0)] {
            d.extend_from_slice(&tag.to_be_bytes());
            d.extend_from_slice(&id.to_be_bytes());
            d.extend_from_slice(&perm.to_be_bytes());
            d.extend_from_slice(&[0, 0]);
        }
        let x = to_xattr(&d).unwrap();
        assert_eq!(
            x,
            [
                &[2, 0, 0, 0][..],
                &[1, 0, 6, 0, 0xff, 0xff, 0xff, 0xff],
                &[2, 0, 4, 0, 0xd2, 0x04, 0, 0],
                &[0x20, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]
            ]
            .concat()
        );
        assert!(to_xattr(&d[..d.len() - 1]).is_err());
        d[4..8].copy_from_slice(&0x40u32.to_be_bytes());
        assert!(to_xattr(&d).is_err());
    }
}
