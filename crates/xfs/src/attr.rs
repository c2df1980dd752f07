//! Extended attributes (`libxfs/xfs_da_format.h`), in every form of the attribute fork:
//!
//! - Short form (local): a header (total size u16, count u8, pad), then entries of name
//!   length, value length, flags (namespace), name and value.
//! - Leaf and node (extents or B+ tree fork): a dabtree in the fork's logical blocks.
//!   Block 0 is a leaf (`0xFBEE`, v5 `0x3BEE`) or a node (`0xFEBE`, v5 `0x3EBE`) whose
//!   entries point at lower blocks. A leaf has entries (hash, name offset, flags) whose
//!   names are local (value length u16, name length, name, value) or remote (value
//!   block u32, value length u32, name length, name): a remote value fills fork blocks
//!   from that block, each with a 56-byte `XARM` header on v5.
//!
//! Namespaces: no flag is `user.`, `ROOT` is `trusted.` and `SECURE` is `security.`;
//! the ROOT `SGI_ACL_FILE`/`SGI_ACL_DEFAULT` are the POSIX ACLs, listed as
//! `system.posix_acl_access`/`_default` and converted ([`crate::acl`]). The kernel also
//! lists them as `trusted.SGI_ACL_*` to a privileged caller; that alias is left out here,
//! as it would be restored as a meaningless `trusted.` xattr on an ext4 target.
//! Incomplete entries (a crash mid-set) and parent pointers are not listed.

use std::collections::HashSet;

use crate::bmap::{self, Fork, Run};
use crate::error::{corrupt, Result};
use crate::inode::{Format, Inode};
use crate::{acl, crc, Fs};
use ddgz_disk::bytes::{be16, be32, be64};
use ddgz_disk::Disk;

/// `XATTR_SIZE_MAX`: the kernel's largest xattr value.
pub const MAX_VALUE: usize = 65536;
/// Most value bytes read for one inode: the kernel's `listxattr` and tar never need
/// more, and a hostile tree could point many entries at one large remote value.
pub const MAX_TOTAL: usize = 16 << 20;
/// Deepest dabtree (`XFS_DA_NODE_MAXDEPTH`).
const MAX_DEPTH: u32 = 5;
const FLAG_ROOT: u8 = 0x2;
const FLAG_SECURE: u8 = 0x4;
const FLAG_PARENT: u8 = 0x8;
const FLAG_INCOMPLETE: u8 = 0x80;
const FLAG_LOCAL: u8 = 0x1;
const LEAF_V4: u16 = 0xfbee;
const LEAF_V5: u16 = 0x3bee;
const NODE_V4: u16 = 0xfebe;
const NODE_V5: u16 = 0x3ebe;
const RMT_MAGIC: u32 = 0x5841_524d;
const RMT_HDR: usize = 56;

pub use ddgz_fs::Xattr;

/// The listed name and value of an attribute, or `None` for one not listed.
fn finish(ino: u64, flags: u8, name: &[u8], value: Vec<u8>) -> Result<Option<Xattr>> {
    if flags & (FLAG_INCOMPLETE | FLAG_PARENT) != 0 {
        return Ok(None);
    }
    let bad = |m: String| {
        corrupt(format!(
            "inode {ino}: attribute {:?}: {m}",
            String::from_utf8_lossy(name)
        ))
    };
    if name.is_empty() || name.contains(&0) {
        return Err(bad("empty name or a NUL in it".into()));
    }
    let (prefix, value): (&[u8], _) = match flags & (FLAG_ROOT | FLAG_SECURE) {
        0 => (b"user.", value),
        FLAG_SECURE => (b"security.", value),
        FLAG_ROOT if name == acl::SGI_ACL_FILE || name == acl::SGI_ACL_DEFAULT => {
            let v = acl::to_xattr(&value).map_err(bad)?;
            let full: &[u8] = if name == acl::SGI_ACL_FILE {
                b"system.posix_acl_access"
            } else {
                b"system.posix_acl_default"
            };
            return Ok(Some(Xattr {
                name: full.to_vec(),
                value: v,
            }));
        }
        FLAG_ROOT => (b"trusted.", value),
        _ => return Err(bad(format!("flags 0x{flags:x} name two namespaces"))),
    };
    Ok(Some(Xattr {
        name: [prefix, name].concat(),
        value,
    }))
}

fn short_form(inode: &Inode, out: &mut Vec<Xattr>) -> Result<()> {
    let a = inode.attr_fork();
    let bad = |m: String| corrupt(format!("inode {}: short-form attributes: {m}", inode.ino));
    if a.len() < 4 {
        return Err(bad(format!("fork of {} bytes", a.len())));
    }
    let total = usize::from(be16(a, 0));
    if total < 4 || total > a.len() {
        return Err(bad(format!("total size {total} outside 4..={}", a.len())));
    }
    let b = &a[..total];
    let mut pos = 4;
    for i in 0..b[2] {
        if pos + 3 > b.len() {
            return Err(bad(format!("entry {i} at byte {pos} runs past {total}")));
        }
        let (nl, vl, flags) = (usize::from(b[pos]), usize::from(b[pos + 1]), b[pos + 2]);
        if pos + 3 + nl + vl > b.len() {
            return Err(bad(format!("entry {i} at byte {pos} runs past {total}")));
        }
        let name = &b[pos + 3..pos + 3 + nl];
        let value = b[pos + 3 + nl..pos + 3 + nl + vl].to_vec();
        out.extend(finish(inode.ino, flags, name, value)?);
        pos += 3 + nl + vl;
    }
    Ok(())
}

struct Tree<'a, D: Disk> {
    fs: &'a Fs<D>,
    inode: &'a Inode,
    runs: Vec<Run>,
    seen: HashSet<u64>,
    buf: Vec<u8>,
    /// Value bytes gathered so far, against [`MAX_TOTAL`].
    total: usize,
}

impl<D: Disk> Tree<'_, D> {
    fn read(&mut self, blk: u64) -> Result<()> {
        let ino = self.inode.ino;
        let what = || format!("inode {ino}, attribute block {blk}");
        let mut buf = std::mem::take(&mut self.buf);
        let r = bmap::read_mapped(self.fs, &self.runs, blk, &mut buf, &what);
        self.buf = buf;
        r
    }

    /// Counts `n` more bytes of names and values against [`MAX_TOTAL`].
    fn charge(&mut self, n: usize) -> Result<()> {
        self.total += n;
        if self.total > MAX_TOTAL {
            return Err(crate::Error::Limit(format!(
                "inode {}: more than {MAX_TOTAL} bytes of attribute names and values",
                self.inode.ino
            )));
        }
        Ok(())
    }

    /// Checks the block in `buf` (block `blk`) and returns its magic.
    fn check(&self, blk: u64) -> Result<u16> {
        let b = &self.buf;
        let magic = be16(b, 8);
        if self.fs.sb.has_crc() {
            let bad = |m: &str| {
                corrupt(format!(
                    "inode {}, attribute block {blk}: {m}",
                    self.inode.ino
                ))
            };
            if !crc::verify(b, 12) {
                return Err(bad("CRC mismatch"));
            }
            if be64(b, 48) != self.inode.ino {
                return Err(bad("owned by another inode"));
            }
        }
        Ok(magic)
    }

    fn block(&mut self, blk: u64, depth: u32, out: &mut Vec<Xattr>) -> Result<()> {
        let ino = self.inode.ino;
        let bad = |m: String| corrupt(format!("inode {ino}, attribute block {blk}: {m}"));
        if !self.seen.insert(blk) {
            return Err(bad("reached twice (a loop in the attribute tree)".into()));
        }
        self.read(blk)?;
        let v5 = self.fs.sb.has_crc();
        match (self.check(blk)?, v5) {
            (NODE_V4, false) | (NODE_V5, true) if depth < MAX_DEPTH => {
                let (count, hdr) = if v5 {
                    (be16(&self.buf, 56), 64)
                } else {
                    (be16(&self.buf, 12), 16)
                };
                let count = usize::from(count);
                if count == 0 || hdr + 8 * count > self.buf.len() {
                    return Err(bad(format!("node of {count} entries")));
                }
                let kids: Vec<u64> = (0..count)
                    .map(|i| u64::from(be32(&self.buf, hdr + 8 * i + 4)))
                    .collect();
                for k in kids {
                    self.block(k, depth + 1, out)?;
                }
                Ok(())
            }
            (LEAF_V4, false) | (LEAF_V5, true) => self.leaf(blk, out),
            (m, _) => Err(bad(format!("magic 0x{m:04x} at depth {depth}"))),
        }
    }

    fn leaf(&mut self, blk: u64, out: &mut Vec<Xattr>) -> Result<()> {
        let ino = self.inode.ino;
        let bad = |m: String| corrupt(format!("inode {ino}, attribute leaf block {blk}: {m}"));
        let v5 = self.fs.sb.has_crc();
        let (count, hdr) = if v5 {
            (be16(&self.buf, 56), 80)
        } else {
            (be16(&self.buf, 12), 32)
        };
        let b = self.buf.clone();
        let count = usize::from(count);
        if hdr + 8 * count > b.len() {
            return Err(bad(format!("{count} entries do not fit")));
        }
        for i in 0..count {
            let e = hdr + 8 * i;
            let at = usize::from(be16(&b, e + 4));
            let flags = b[e + 6];
            if flags & FLAG_LOCAL != 0 {
                if at + 3 > b.len() {
                    return Err(bad(format!("entry {i}: name at byte {at}")));
                }
                let vl = usize::from(be16(&b, at));
                let nl = usize::from(b[at + 2]);
                if at + 3 + nl + vl > b.len() {
                    return Err(bad(format!(
                        "entry {i}: name and value at byte {at} run past the block"
                    )));
                }
                self.charge(vl + nl)?;
                let value = b[at + 3 + nl..at + 3 + nl + vl].to_vec();
                out.extend(finish(ino, flags, &b[at + 3..at + 3 + nl], value)?);
            } else {
                if at + 9 > b.len() {
                    return Err(bad(format!("entry {i}: name at byte {at}")));
                }
                let vblk = u64::from(be32(&b, at));
                let vl = be32(&b, at + 4) as usize;
                let nl = usize::from(b[at + 8]);
                if at + 9 + nl > b.len() {
                    return Err(bad(format!(
                        "entry {i}: name at byte {at} runs past the block"
                    )));
                }
                if flags & FLAG_INCOMPLETE != 0 {
                    continue;
                }
                if vl > MAX_VALUE {
                    return Err(bad(format!(
                        "entry {i}: value of {vl} bytes (at most {MAX_VALUE})"
                    )));
                }
                self.charge(vl + nl)?;
                let value = self.remote(vblk, vl)?;
                out.extend(finish(ino, flags, &b[at + 9..at + 9 + nl], value)?);
            }
        }
        Ok(())
    }

    /// A remote value of `len` bytes from fork block `blk`.
    fn remote(&mut self, blk: u64, len: usize) -> Result<Vec<u8>> {
        let ino = self.inode.ino;
        let bs = self.buf.len();
        let v5 = self.fs.sb.has_crc();
        let per = if v5 { bs - RMT_HDR } else { bs };
        let mut value = Vec::with_capacity(len);
        let mut b = blk;
        while value.len() < len {
            let bad = |m: String| {
                corrupt(format!(
                    "inode {ino}, remote attribute value block {b}: {m}"
                ))
            };
            self.read(b)?;
            let n = (len - value.len()).min(per);
            if v5 {
                let h = &self.buf;
                if be32(h, 0) != RMT_MAGIC || !crc::verify(h, 12) {
                    return Err(bad("bad magic or CRC".into()));
                }
                if be32(h, 4) as usize != value.len()
                    || be32(h, 8) as usize != n
                    || be64(h, 32) != ino
                {
                    return Err(bad(format!(
                        "header says offset {}, {} bytes, owner {}; expected {}, {n}, {ino}",
                        be32(h, 4),
                        be32(h, 8),
                        be64(h, 32),
                        value.len()
                    )));
                }
                value.extend_from_slice(&h[RMT_HDR..RMT_HDR + n]);
            } else {
                value.extend_from_slice(&self.buf[..n]);
            }
            b += 1;
        }
        Ok(value)
    }
}

/// Extended attributes of `inode` as `listxattr` shows them (see the module comment), in
/// on-disk order.
pub fn list<D: Disk>(fs: &Fs<D>, inode: &Inode) -> Result<Vec<Xattr>> {
    let mut out = Vec::new();
    match inode.aformat {
        None => {}
        Some(Format::Local) => short_form(inode, &mut out)?,
        Some(Format::Extents | Format::Btree) => {
            let runs = bmap::runs(fs, inode, Fork::Attr)?;
            if runs.is_empty() {
                return Ok(out);
            }
            let mut t = Tree {
                fs,
                inode,
                runs,
                seen: HashSet::new(),
                buf: vec![0u8; fs.sb.block_size as usize],
                total: 0,
            };
            t.block(0, 0, &mut out)?;
        }
        Some(Format::Device) => {
            return Err(corrupt(format!(
                "inode {}: attribute fork of device format",
                inode.ino
            )));
        }
    }
    Ok(out)
}
