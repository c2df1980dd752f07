//! This reader as a [`ddgz_fs::Tree`], the interface the tar writer walks.

use ddgz_disk::Disk;
use ddgz_fs::{Stat, Tree};

use crate::{Error, Format, Fs, Inode, Result};

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

    fn for_each_run<E: From<Error>>(
        &self,
        i: &Inode,
        f: impl FnMut(ddgz_fs::Run) -> Result<(), E>,
    ) -> Result<(), E> {
        Fs::for_each_run(self, i, f)
    }

    fn for_each_data<E: From<Error>>(
        &self,
        i: &Inode,
        piece: usize,
        f: impl FnMut(u64, &[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        Fs::for_each_data(self, i, piece, f)
    }

    fn read_small(&self, i: &Inode, max: u64) -> Result<Vec<u8>> {
        Fs::read_small(self, i, max)
    }

    fn limit(&self, msg: String) -> Error {
        Error::Limit(msg)
    }
}
