//! Extended attributes (`Documentation/filesystems/ext4/attributes.rst`).
//!
//! In the inode, after `i_extra_isize`: the magic 0xEA020000, then entries whose value
//! offsets count from the first entry. In the block `i_file_acl`: a 32-byte header
//! (magic, refcount, `h_blocks` = 1, …), then entries whose value offsets count from the
//! block's start. An entry: `e_name_len` (u8), `e_name_index` (u8), `e_value_offs` (u16),
//! `e_value_inum` (u32; with ea_inode the value is that inode's data), `e_value_size`
//! (u32), `e_hash` (u32), the name, padded to 4 bytes; a zero u32 ends the list.
//! There is one block per inode and no chaining, so no cycle can exist; an ea_inode's
//! own xattrs are never read.

use crate::error::{corrupt, Result};
use crate::inode::{Inode, FLAG_EA_INODE};
use crate::Fs;
use ddgz_disk::bytes::{le16, le32};
use ddgz_disk::Disk;

const MAGIC: u32 = 0xEA02_0000;
/// `XATTR_SIZE_MAX`: the kernel's largest xattr value.
pub const MAX_VALUE: u32 = 65536;
/// `e_name_index` of `system.data` (inline data; not listed by the kernel).
const INDEX_SYSTEM_DATA: u8 = 7;
/// `e_name_index` of the POSIX ACLs.
pub(crate) const INDEX_ACL_ACCESS: u8 = 2;
pub(crate) const INDEX_ACL_DEFAULT: u8 = 3;

/// One extended attribute; POSIX ACLs are converted from ext4's on-disk form to the
/// kernel's xattr form (what `getxattr` returns and GNU tar stores).
pub use ddgz_fs::Xattr;

/// The prefix of `e_name_index`, for the indices the kernel lists
/// (`ext4_xattr_handler_map`); others are internal and skipped.
fn prefix(index: u8) -> Option<&'static str> {
    Some(match index {
        1 => "user.",
        2 => "system.posix_acl_access",
        3 => "system.posix_acl_default",
        4 => "trusted.",
        6 => "security.",
        10 => "gnu.",
        _ => return None,
    })
}

/// A raw entry: (index, name suffix, value).
type Raw = (u8, Vec<u8>, Vec<u8>);

/// Parses the entries starting at `entries` of `region`; value offsets count from
/// `value_base`. `where_` names the region in errors.
fn parse<D: Disk>(
    fs: &Fs<D>,
    ino: u32,
    where_: &str,
    region: &[u8],
    entries: usize,
    value_base: usize,
    out: &mut Vec<Raw>,
) -> Result<()> {
    let mut pos = entries;
    while pos + 4 <= region.len() && le32(region, pos) != 0 {
        let bad = |m: String| corrupt(format!("inode {ino}: xattr {where_} byte {pos}: {m}"));
        if pos + 16 > region.len() {
            return Err(bad("an entry runs past the end".into()));
        }
        let name_len = usize::from(region[pos]);
        let index = region[pos + 1];
        let value_offs = usize::from(le16(region, pos + 2));
        let value_inum = le32(region, pos + 4);
        let value_size = le32(region, pos + 8);
        let end = pos + 16 + name_len;
        if end > region.len() {
            return Err(bad(format!("a name of {name_len} bytes runs past the end")));
        }
        let name = region[pos + 16..end].to_vec();
        if value_size > MAX_VALUE {
            return Err(bad(format!(
                "a value of {value_size} bytes; at most {MAX_VALUE}"
            )));
        }
        let value = if value_inum != 0 {
            read_ea_inode(fs, ino, value_inum, value_size)?
        } else {
            let start = value_base + value_offs;
            let stop = start + value_size as usize;
            if stop > region.len() {
                return Err(bad(format!(
                    "value at {start}..{stop} lies outside the {} bytes",
                    region.len()
                )));
            }
            region[start..stop].to_vec()
        };
        out.push((index, name, value));
        pos = (end + 3) & !3;
    }
    Ok(())
}

/// The value held in ea_inode `value_inum`.
fn read_ea_inode<D: Disk>(fs: &Fs<D>, ino: u32, value_inum: u32, size: u32) -> Result<Vec<u8>> {
    if value_inum == ino {
        return Err(corrupt(format!(
            "inode {ino}: an xattr value stored in itself"
        )));
    }
    let ea = fs.inode(value_inum)?;
    if !ea.has_flag(FLAG_EA_INODE) || ea.size != u64::from(size) {
        return Err(corrupt(format!(
            "inode {ino}: xattr value in inode {value_inum}, which is not an ea_inode of {size} bytes"
        )));
    }
    fs.read_small(&ea, u64::from(MAX_VALUE))
}

/// Every raw entry of `inode`: in-inode first, then the block.
fn raw<D: Disk>(fs: &Fs<D>, inode: &Inode) -> Result<Vec<Raw>> {
    let mut out = Vec::new();
    if let Some(area) = inode.xattr_area() {
        if le32(area, 0) == MAGIC {
            parse(fs, inode.ino, "in-inode", area, 4, 4, &mut out)?;
        }
    }
    if inode.file_acl != 0 {
        let bs = fs.sb.block_size as usize;
        let mut block = vec![0u8; bs];
        fs.read_block(inode.file_acl, &mut block).map_err(|e| {
            crate::error::within(e, || {
                format!("inode {}: xattr block {}", inode.ino, inode.file_acl)
            })
        })?;
        let magic = le32(&block, 0);
        let blocks = le32(&block, 8);
        if magic != MAGIC || blocks != 1 {
            return Err(corrupt(format!(
                "inode {}: xattr block {} has magic 0x{magic:08x} and h_blocks {blocks} \
                 (0xea020000 and 1 expected)",
                inode.ino, inode.file_acl
            )));
        }
        parse(
            fs,
            inode.ino,
            &format!("block {}", inode.file_acl),
            &block,
            32,
            0,
            &mut out,
        )?;
    }
    Ok(out)
}

/// The xattrs of `inode` as `listxattr` lists them.
pub fn list<D: Disk>(fs: &Fs<D>, inode: &Inode) -> Result<Vec<Xattr>> {
    let mut out = Vec::new();
    for (index, name, value) in raw(fs, inode)? {
        let Some(p) = prefix(index) else { continue };
        let value = if index == INDEX_ACL_ACCESS || index == INDEX_ACL_DEFAULT {
            crate::acl::to_xattr(&value)
                .map_err(|m| corrupt(format!("inode {}: {p}: {m}", inode.ino)))?
        } else {
            value
        };
        let mut full = p.as_bytes().to_vec();
        full.extend_from_slice(&name);
        out.push(Xattr { name: full, value });
    }
    Ok(out)
}

/// The `system.data` value (inline data beyond `i_block`); empty when absent.
pub fn system_data<D: Disk>(fs: &Fs<D>, inode: &Inode) -> Result<Vec<u8>> {
    let found = raw(fs, inode)?
        .into_iter()
        .find(|(i, n, _)| *i == INDEX_SYSTEM_DATA && n == b"data");
    Ok(found.map(|(_, _, v)| v).unwrap_or_default())
}
