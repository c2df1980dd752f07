//! LVM2 through ddgz-lvm. The first byte picks the input's shape: even, the rest is a
//! physical volume held in memory (label, PV header, metadata area header, circular
//! buffer, checksums); odd, the rest is metadata text placed in a PV whose label and
//! checksums are made right, so mutations reach the parser and the mapping. Either way
//! the volume group is put together and every logical volume mapped and read.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        ddgz_lvm::fuzz_pv(rest);
    } else {
        ddgz_lvm::fuzz_text(rest);
    }
});
