//! This reader as a [`ddgz_fs::Tree`], the interface the tar writer walks.

use ddgz_disk::Disk;
use ddgz_fs::{Run, Stat, Tree};

use crate::bmap::{self, Fork};
use crate::error::corrupt;
use crate::{Error, FileType, Format, Fs, Inode, Result};

impl<D: Disk> Tree for Fs<D> {
    type Inode = Inode;
    type Error = Error;

    fn root(&self) -> u64 {
        self.root_ino()
    }

    fn inode(&self, ino: u64) -> Result<Inode> {
        Fs::inode(self, ino)
    }

    fn stat(&self, i: &Inode) -> Stat {
        Stat {
            ino: i.ino,
            kind: i.file_type(),
            mode: u32::from(i.mode),
            perm: i.permissions(),
            uid: i.uid,
            gid: i.gid,
            size: i.size,
            atime: i.atime,
            ctime: i.ctime,
            mtime: i.mtime,
            nlink: i.links,
            rdev: i.device(),
        }
    }

    fn read_dir(&self, dir: &Inode) -> Result<Vec<ddgz_fs::DirEntry>> {
        Fs::read_dir(self, dir)
    }

    fn xattrs(&self, i: &Inode) -> Result<Vec<ddgz_fs::Xattr>> {
        Fs::xattrs(self, i)
    }

    fn read_link(&self, i: &Inode) -> Result<Vec<u8>> {
        Fs::read_link(self, i)
    }

    fn block_size(&self) -> u32 {
        Fs::block_size(self)
    }

    fn is_local(&self, i: &Inode) -> bool {
        i.format == Format::Local
    }

    fn check_size(&self, i: &Inode) -> Result<()> {
        // XFS_MAXIOFFSET: file offsets are signed 64-bit.
        if i.size > i64::MAX as u64 {
            return Err(Error::Corrupt(format!(
                "inode {} claims a size of {} bytes, past 2^63 - 1",
                i.ino, i.size
            )));
        }
        Ok(())
    }

    fn corrupt(&self, msg: String) -> Error {
        Error::Corrupt(msg)
    }

    /// Holes are the gaps between runs.
    fn for_each_run<E: From<Error>>(
        &self,
        inode: &Inode,
        mut f: impl FnMut(Run) -> Result<(), E>,
    ) -> Result<(), E> {
        self.check_data(inode)?;
        let blocks = inode.size.div_ceil(u64::from(self.sb.block_size));
        for r in bmap::runs(self, inode, Fork::Data)? {
            if r.logical >= blocks {
                break;
            }
            f(Run {
                len: r.len.min(blocks - r.logical),
                ..r
            })?;
        }
        Ok(())
    }

    /// Local content (a short symlink) comes as one piece; a v5 remote symlink is read
    /// with [`Fs::read_link`].
    fn for_each_data<E: From<Error>>(
        &self,
        inode: &Inode,
        piece: usize,
        mut f: impl FnMut(u64, &[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        if inode.format == Format::Local {
            let d = inode.data_fork();
            let n = usize::try_from(inode.size).unwrap_or(usize::MAX);
            if n > d.len() {
                return Err(corrupt(format!(
                    "inode {}: {n} bytes of local content in a {}-byte fork",
                    inode.ino,
                    d.len()
                ))
                .into());
            }
            return if n == 0 { Ok(()) } else { f(0, &d[..n]) };
        }
        let bs = u64::from(self.sb.block_size);
        let piece_blocks = (piece as u64 / bs).max(1);
        let mut buf = Vec::new();
        let remote_symlink = self.sb.has_crc() && inode.file_type() == Some(FileType::Symlink);
        self.for_each_run(inode, |r: Run| {
            if r.unwritten {
                return Ok(());
            }
            if remote_symlink {
                return Err(corrupt(format!(
                    "inode {}: a v5 remote symlink is read with read_link",
                    inode.ino
                ))
                .into());
            }
            let read = |p, b: &mut [u8]| self.read_blocks(p, b).map_err(E::from);
            ddgz_fs::read_run(r, bs, piece_blocks, inode.size, &mut buf, read, &mut f)
        })
    }

    fn read_small(&self, i: &Inode, max: u64) -> Result<Vec<u8>> {
        Fs::read_small(self, i, max)
    }

    fn limit(&self, msg: String) -> Error {
        Error::Limit(msg)
    }
}
