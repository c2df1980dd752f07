//! xfs: an XFS image given as its non-zero 512-byte sectors (see
//! `ddgz_xfs::fuzz::SectorDisk`: an XFS is at least 300 MiB of mostly zeros), opened
//! (superblock, clean-log check) and walked whole: inodes, directories of every format,
//! extent lists and trees, xattrs and ACLs, symlinks, file data.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ddgz_xfs::fuzz::walk_records(data, 20_000);
});
