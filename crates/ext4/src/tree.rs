//! This reader as a [`ddgz_fs::Tree`], the interface the tar writer walks.

use ddgz_disk::Disk;
use ddgz_fs::{Run, Stat, Tree};

use crate::{inode, map, Error, Fs, Inode, Result};

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
        f: impl FnMut(Run) -> Result<(), E>,
    ) -> Result<(), E> {
        map::for_each_run(self, i, f)
    }

    /// Also an ea_inode's content. Inline data comes as one piece; a fast symlink's
    /// target too.
    fn for_each_data<E: From<Error>>(
        &self,
        inode: &Inode,
        piece: usize,
        mut f: impl FnMut(u64, &[u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        if inode.has_flag(inode::FLAG_ENCRYPT) {
            return Err(Error::Unsupported(format!(
                "inode {} is encrypted (encrypt feature)",
                inode.ino
            ))
            .into());
        }
        if inode.has_flag(inode::FLAG_INLINE_DATA) {
            let data = self.inline_data(inode)?;
            return if data.is_empty() { Ok(()) } else { f(0, &data) };
        }
        if inode.is_fast_symlink() {
            let n = inode.size as usize;
            return f(0, &inode.block[..n]);
        }
        let bs = u64::from(self.sb.block_size);
        let piece_blocks = (piece as u64 / bs).max(1);
        let mut buf = Vec::new();
        map::for_each_run(self, inode, |r: Run| {
            if r.unwritten {
                return Ok(());
            }
            let read = |p, b: &mut [u8]| self.read_blocks(p, b).map_err(E::from);
            ddgz_fs::read_run(r, bs, piece_blocks, inode.size, &mut buf, read, &mut f)
        })
    }

    fn limit(&self, msg: String) -> Error {
        Error::Limit(msg)
    }
}
