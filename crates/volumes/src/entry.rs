//! One name in a directory listing, the same for every filesystem.

/// What a name is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Directory,
    /// A symbolic link.
    Symlink,
    /// A character device.
    CharDevice,
    /// A block device.
    BlockDevice,
    /// A FIFO.
    Fifo,
    /// A socket.
    Socket,
    /// An inode whose mode says no type (a damaged or free inode).
    Unknown,
}

impl Kind {
    /// The letter `ls -l` shows: `-`, `d`, `l`, `c`, `b`, `p`, `s`, `?`.
    pub fn letter(self) -> char {
        match self {
            Self::File => '-',
            Self::Directory => 'd',
            Self::Symlink => 'l',
            Self::CharDevice => 'c',
            Self::BlockDevice => 'b',
            Self::Fifo => 'p',
            Self::Socket => 's',
            Self::Unknown => '?',
        }
    }

    /// How an error names it: "is a directory", "is a FIFO", ….
    pub(crate) fn what(self) -> &'static str {
        match self {
            Self::File => "is a file",
            Self::Directory => "is a directory",
            Self::Symlink => "is a symbolic link (not a regular file)",
            Self::CharDevice => "is a character device (not a regular file)",
            Self::BlockDevice => "is a block device (not a regular file)",
            Self::Fifo => "is a FIFO (not a regular file)",
            Self::Socket => "is a socket (not a regular file)",
            Self::Unknown => "has no file type (a damaged inode)",
        }
    }

    pub(crate) fn of(t: Option<ddgz_fs::FileType>) -> Self {
        use ddgz_fs::FileType as T;
        match t {
            Some(T::Regular) => Self::File,
            Some(T::Directory) => Self::Directory,
            Some(T::Symlink) => Self::Symlink,
            Some(T::CharDevice) => Self::CharDevice,
            Some(T::BlockDevice) => Self::BlockDevice,
            Some(T::Fifo) => Self::Fifo,
            Some(T::Socket) => Self::Socket,
            None => Self::Unknown,
        }
    }
}

/// One name of a directory (never `.` or `..`), or the file a listed path names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The name as stored (ext, XFS: bytes; FAT, NTFS: their UTF-16 or OEM name as
    /// UTF-8); NTFS shows the long (Win32/POSIX) name, never the DOS 8.3 alias.
    pub name: Vec<u8>,
    /// What it is.
    pub kind: Kind,
    /// Size in bytes (0 for a directory).
    pub size: u64,
    /// Last write, UTC, `YYYY-MM-DD HH:MM:SS`.
    pub modified: String,
    /// A symlink's target.
    pub target: Option<Vec<u8>>,
    /// How to reach a directory's entries without resolving its path again.
    pub(crate) node: Option<Node>,
}

/// A directory, as its reader finds it again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    /// FAT: its path from the root (the FAT reader looks paths up).
    Path(String),
    /// ext, XFS: its inode; NTFS: its MFT record.
    Number(u64),
}
