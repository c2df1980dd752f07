//! The filesystem of a root or /boot: ext2/3/4 or XFS, on a partition or in an LVM
//! logical volume. `ddgz_fs::Tree` is not object-safe, so callers dispatch with
//! [`with_tree!`] to a generic walk.

use std::ops::Range;
use std::sync::Arc;

use ddgz_image::Disk;

/// An ext2/3/4 filesystem of the image.
pub(crate) type ExtFs = ddgz_ext4::Fs<Arc<dyn Disk>>;
/// An XFS filesystem of the image.
pub(crate) type XfsFs = ddgz_xfs::Fs<Arc<dyn Disk>>;

/// A filesystem this crate can walk.
pub(crate) enum VolFs {
    /// ext2/3/4.
    Ext(ExtFs),
    /// XFS.
    Xfs(XfsFs),
}

/// Runs `$body` with `$t` bound to the [`ddgz_fs::Tree`] inside a [`VolFs`].
macro_rules! with_tree {
    ($fs:expr, $t:ident => $body:expr) => {
        match $fs {
            $crate::volume::VolFs::Ext($t) => $body,
            $crate::volume::VolFs::Xfs($t) => $body,
        }
    };
}
pub(crate) use with_tree;

/// Why a range holds no filesystem this crate reads.
pub(crate) enum OpenError {
    /// Neither ext2/3/4 nor XFS.
    Unknown,
    /// An ext filesystem that could not be opened.
    Ext(ddgz_ext4::Error),
    /// An XFS filesystem that could not be opened (a dirty log among the reasons).
    Xfs(ddgz_xfs::Error),
}

impl OpenError {
    /// The error to give a caller.
    pub(crate) fn into_error(self) -> Box<dyn std::error::Error + Send + Sync> {
        match self {
            Self::Unknown => "neither ext2/3/4 nor XFS".into(),
            Self::Ext(e) => Box::new(e),
            Self::Xfs(e) => Box::new(e),
        }
    }
}

impl VolFs {
    /// Opens the ext or XFS filesystem in `range` of `disk`.
    pub(crate) fn open(disk: &Arc<dyn Disk>, range: &Range<u64>) -> Result<Self, OpenError> {
        let len = range.end - range.start;
        match ddgz_ext4::Fs::open(disk.clone(), range.start, len) {
            Ok(fs) => return Ok(Self::Ext(fs)),
            Err(ddgz_ext4::Error::NotExt(_)) => {}
            Err(e) => return Err(OpenError::Ext(e)),
        }
        match ddgz_xfs::Fs::open(disk.clone(), range.start, len) {
            Ok(fs) => Ok(Self::Xfs(fs)),
            Err(ddgz_xfs::Error::NotXfs(_)) => Err(OpenError::Unknown),
            Err(e) => Err(OpenError::Xfs(e)),
        }
    }

    /// `ext` or `XFS`, for messages.
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Self::Ext(_) => "ext",
            Self::Xfs(_) => "XFS",
        }
    }

    /// Journal transactions replayed in memory (ext only; an XFS log is never replayed).
    pub(crate) fn replayed_transactions(&self) -> u64 {
        match self {
            Self::Ext(fs) => fs.replayed_transactions(),
            Self::Xfs(_) => 0,
        }
    }
}
