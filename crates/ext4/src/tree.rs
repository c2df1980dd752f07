//! This reader as a [`ddgz_fs::Tree`], the interface the tar writer walks.

use ddgz_disk::Disk;
use ddgz_fs::{Stat, Tree};

use crate::{inode, Error, Fs, Inode, Result};

impl<D: Disk> Tree for Fs<D> {
    type Inode = Inode;
    type Error = Error;

    fn root(&self) -> u64 {
        u64::from(crate::ROOT_INO)
    }

    fn inode(&self, ino: u64) -> Result<Inode> {
        let ino = u32::try_from(ino)
            .map_err(|_| Error::Corrupt(format!("inode number {ino} is past 2^32")))?;
        Fs::inode(self, ino)
    }

    fn stat(&self, i: &Inode) -> Stat {
        Stat {
            ino: u64::from(i.ino),
            kind: i.file_type(),
            mode: u32::from(i.mode),
            perm: i.permissions(),
            uid: i.uid,
            gid: i.gid,
            size: i.size,
            atime: i.atime,
            ctime: i.ctime,
            mtime: i.mtime,
            nlink: u32::from(i.links),
            rdev: i.device(),
        }
    }

    fn read_dir(&self, dir: &Inode) -> Result<Vec<ddgz_fs::DirEntry>> {
        Ok(Fs::read_dir(self, dir)?
            .into_iter()
            .map(|e| ddgz_fs::DirEntry {
                name: e.name,
                ino: u64::from(e.ino),
                file_type: e.file_type,
            })
            .collect())
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
        i.has_flag(inode::FLAG_INLINE_DATA)
    }

    fn check_size(&self, i: &Inode) -> Result<()> {
        if i.size > self.max_file_size() {
            return Err(Error::Corrupt(format!(
                "inode {} claims a size of {} bytes; a file of this filesystem holds at \
                 most {} (2^32 blocks of {} bytes)",
                i.ino,
                i.size,
                self.max_file_size(),
                Fs::block_size(self)
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
