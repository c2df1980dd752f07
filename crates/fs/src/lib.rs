//! The read-only filesystem tree that `ddgz tar` (and later `ls`/`cat`) walks, as one
//! trait, so that one walk serves every filesystem reader (`ddgz-ext4`, `ddgz-xfs`).
//!
//! The readers keep their own inode types and errors; [`Tree`] asks of them only what a
//! walk needs: the root, an inode by number, its [`Stat`], directory entries, xattrs in
//! the kernel's form (ACLs as `system.posix_acl_*`), symlink targets, and file content
//! as runs of blocks and pieces of bytes with the holes left out. The shared value types
//! live here; [`acl`] turns the kernel's ACL xattr into the text GNU tar records.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod acl;

/// A timestamp: seconds since the epoch (may be negative) and nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Time {
    /// Seconds since 1970-01-01 UTC.
    pub sec: i64,
    /// Nanoseconds, 0..1e9.
    pub nsec: u32,
}

/// What an inode is, from the top bits of its mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileType {
    /// `S_IFREG`.
    Regular,
    /// `S_IFDIR`.
    Directory,
    /// `S_IFLNK`.
    Symlink,
    /// `S_IFCHR`.
    CharDevice,
    /// `S_IFBLK`.
    BlockDevice,
    /// `S_IFIFO`.
    Fifo,
    /// `S_IFSOCK`.
    Socket,
}

impl FileType {
    /// The type of a `st_mode`, or `None` for a mode with no valid type (a free or
    /// corrupt inode).
    pub fn from_mode(mode: u32) -> Option<Self> {
        Some(match mode & 0o170000 {
            0o100000 => Self::Regular,
            0o040000 => Self::Directory,
            0o120000 => Self::Symlink,
            0o020000 => Self::CharDevice,
            0o060000 => Self::BlockDevice,
            0o010000 => Self::Fifo,
            0o140000 => Self::Socket,
            _ => return None,
        })
    }
}

/// One directory entry (never `.` or `..`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The name, bytes as stored.
    pub name: Vec<u8>,
    /// The inode it names.
    pub ino: u64,
    /// The type the directory records, in the filesystem's own code (a hint only: the
    /// inode's mode is what counts).
    pub file_type: u8,
}

/// One extended attribute, its full name with the namespace prefix (`user.`,
/// `security.`, `trusted.`, `system.posix_acl_access`…), as `listxattr` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Xattr {
    /// Full name.
    pub name: Vec<u8>,
    /// Value; ACLs in the kernel's xattr form.
    pub value: Vec<u8>,
}

/// A run of contiguous blocks of a file: `len` blocks from logical block `logical` at
/// filesystem block `physical`. Unwritten (preallocated) runs read as zeros.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Run {
    /// First logical block.
    pub logical: u64,
    /// First block on the filesystem.
    pub physical: u64,
    /// Blocks.
    pub len: u64,
    /// Preallocated, not written: reads as zeros.
    pub unwritten: bool,
}

/// What `stat` says of an inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// Inode number.
    pub ino: u64,
    /// The file type, or `None` for a mode with no valid type (a free inode).
    pub kind: Option<FileType>,
    /// The raw mode (type and permission bits), for messages.
    pub mode: u32,
    /// Permission bits, setuid, setgid and sticky included (`mode & 07777`).
    pub perm: u16,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Size in bytes.
    pub size: u64,
    /// Last access.
    pub atime: Time,
    /// Last change of the inode.
    pub ctime: Time,
    /// Last change of the content.
    pub mtime: Time,
    /// Names the inode has.
    pub nlink: u32,
    /// Device number (major, minor) of a character or block device, else (0, 0).
    pub rdev: (u32, u32),
}

/// A filesystem read as a tree from its root, never written. Every method reads an
/// untrusted image: errors name what is wrong and where, none panics.
pub trait Tree {
    /// The reader's inode.
    type Inode;
    /// The reader's error.
    type Error: std::error::Error + Send + Sync + 'static;

    /// The root directory's inode number.
    fn root(&self) -> u64;
    /// Reads inode `ino`.
    fn inode(&self, ino: u64) -> Result<Self::Inode, Self::Error>;
    /// What `stat` says of `inode`.
    fn stat(&self, inode: &Self::Inode) -> Stat;
    /// Entries of directory `dir`, without `.` and `..`, in on-disk order.
    fn read_dir(&self, dir: &Self::Inode) -> Result<Vec<DirEntry>, Self::Error>;
    /// Extended attributes of `inode` as `listxattr` shows them, ACLs in the kernel's
    /// xattr form.
    fn xattrs(&self, inode: &Self::Inode) -> Result<Vec<Xattr>, Self::Error>;
    /// The target of symlink `inode`.
    fn read_link(&self, inode: &Self::Inode) -> Result<Vec<u8>, Self::Error>;
    /// Bytes of a block, the unit of [`Run`].
    fn block_size(&self) -> u32;
    /// Whether `inode`'s content is held in the inode itself rather than in blocks (ext4
    /// inline data): [`for_each_run`](Self::for_each_run) does not show it.
    fn is_local(&self, inode: &Self::Inode) -> bool;
    /// Checks that `inode`'s claimed size is one this filesystem can hold (before the
    /// walk trusts it).
    fn check_size(&self, inode: &Self::Inode) -> Result<(), Self::Error>;
    /// An error of this reader saying the structure is corrupt (`msg` says how): for
    /// inconsistencies the walk itself detects.
    fn corrupt(&self, msg: String) -> Self::Error;
    /// Runs of `inode`'s data blocks in logical order, clipped to its size; holes are the
    /// gaps between runs.
    fn for_each_run<E: From<Self::Error>>(
        &self,
        inode: &Self::Inode,
        f: impl FnMut(Run) -> Result<(), E>,
    ) -> Result<(), E>;
    /// The content of a regular file or symlink as `(offset, bytes)` pieces of at most
    /// `piece` bytes, in order; holes and unwritten extents are skipped.
    fn for_each_data<E: From<Self::Error>>(
        &self,
        inode: &Self::Inode,
        piece: usize,
        f: impl FnMut(u64, &[u8]) -> Result<(), E>,
    ) -> Result<(), E>;
    /// The whole content of a small file, refusing more than `max` bytes; by default
    /// [`read_small`] over [`for_each_data`](Self::for_each_data).
    fn read_small(&self, inode: &Self::Inode, max: u64) -> Result<Vec<u8>, Self::Error> {
        read_small(self, inode, max)
    }
    /// An error of this reader saying a limit was reached (`msg` says which); by default
    /// [`corrupt`](Self::corrupt).
    fn limit(&self, msg: String) -> Self::Error {
        self.corrupt(msg)
    }
    /// Resolves `path` inside the filesystem as a chroot would, following symlinks (those
    /// of the last component too when `follow_last`). `Ok(None)` when it does not exist.
    fn lookup(&self, path: &[u8], follow_last: bool) -> Result<Option<Self::Inode>, Self::Error> {
        lookup(self, path, follow_last)
    }
}

/// Reads the blocks of run `r` of a file of `size` bytes through `read` (first block,
/// buffer), `piece_blocks` blocks of `block_size` bytes at a time into `buf`, and hands
/// `f` each piece's file offset and bytes, clipped to `size`. `r` lies inside `size`
/// (runs are clipped to it, [`Tree::for_each_run`]).
pub fn read_run<E>(
    r: Run,
    block_size: u64,
    piece_blocks: u64,
    size: u64,
    buf: &mut Vec<u8>,
    mut read: impl FnMut(u64, &mut [u8]) -> Result<(), E>,
    f: &mut impl FnMut(u64, &[u8]) -> Result<(), E>,
) -> Result<(), E> {
    let mut done = 0;
    while done < r.len {
        let n = (r.len - done).min(piece_blocks);
        buf.resize((n * block_size) as usize, 0);
        read(r.physical + done, buf)?;
        let offset = (r.logical + done) * block_size;
        let keep = (size - offset).min(n * block_size) as usize;
        f(offset, &buf[..keep])?;
        done += n;
    }
    Ok(())
}

/// The whole content of `inode` read through [`Tree::for_each_data`], refusing a file of
/// more than `max` bytes with [`Tree::limit`] before allocating: one implementation for
/// every reader.
pub fn read_small<T: Tree + ?Sized>(
    tree: &T,
    inode: &T::Inode,
    max: u64,
) -> Result<Vec<u8>, T::Error> {
    let st = tree.stat(inode);
    if st.size > max {
        return Err(tree.limit(format!(
            "inode {} has {} bytes; at most {max} are read here",
            st.ino, st.size
        )));
    }
    // `size <= max`, a bound the caller chose; the pieces lie inside `size`
    // (`for_each_data` clips runs to it).
    let mut out = vec![0u8; st.size as usize];
    tree.for_each_data(inode, 1 << 20, |off, data: &[u8]| {
        out[off as usize..off as usize + data.len()].copy_from_slice(data);
        Ok::<(), T::Error>(())
    })?;
    Ok(out)
}

/// Resolves `path` (absolute or relative to the root) inside `tree` as a chroot would,
/// following symlinks (those of the last component too when `follow_last`), at most 40
/// of them. `Ok(None)` when it does not exist.
pub fn lookup<T: Tree + ?Sized>(
    tree: &T,
    path: &[u8],
    follow_last: bool,
) -> Result<Option<T::Inode>, T::Error> {
    /// `MAXSYMLINKS` of the kernel.
    const MAX_LINKS: u32 = 40;
    let mut links = 0;
    let mut stack: Vec<T::Inode> = vec![tree.inode(tree.root())?];
    // Components still to walk, last first.
    let mut todo: Vec<Vec<u8>> = split(path);
    while let Some(name) = todo.pop() {
        let Some(cur) = stack.last() else {
            break;
        };
        if name == b"." {
            continue;
        }
        if name == b".." {
            if stack.len() > 1 {
                stack.pop();
            }
            continue;
        }
        if tree.stat(cur).kind != Some(FileType::Directory) {
            return Ok(None);
        }
        let Some(e) = tree.read_dir(cur)?.into_iter().find(|e| e.name == name) else {
            return Ok(None);
        };
        let inode = tree.inode(e.ino)?;
        if tree.stat(&inode).kind == Some(FileType::Symlink) && (follow_last || !todo.is_empty()) {
            links += 1;
            if links > MAX_LINKS {
                return Err(tree.limit(format!(
                    "more than {MAX_LINKS} symlinks resolving {}",
                    String::from_utf8_lossy(path)
                )));
            }
            let target = tree.read_link(&inode)?;
            if target.first() == Some(&b'/') {
                stack.truncate(1);
            }
            todo.extend(split(&target));
            continue;
        }
        stack.push(inode);
    }
    Ok(stack.pop())
}

/// Components of `path`, last first, empty ones dropped.
fn split(path: &[u8]) -> Vec<Vec<u8>> {
    path.split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .rev()
        .map(<[u8]>::to_vec)
        .collect()
}
