//! ntfs_add: the NTFS writer (`ddgz_ntfs::write::fuzz::fuzz_add`). First byte even: the
//! additions the input describes (names, sizes, directories) made into a valid volume
//! from mkntfs, which must then read back exactly; odd: a small tree added into a hostile
//! volume given as (offset, bytes) runs, which must end in patches or an error.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ddgz_ntfs::write::fuzz::fuzz_add(data);
});
