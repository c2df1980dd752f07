//! ntfs: a volume given as (offset, bytes) runs over zeros (see `ddgz_ntfs::fuzz`),
//! opened in memory (boot sector, $MFT and its attribute list, $UpCase), its facts read
//! ($Volume, $LogFile, hiberfil.sys, $Bitmap), the whole tree walked ($I30 B+ trees) and
//! every stream read within a budget (runs, holes, LZNT1).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ddgz_ntfs::fuzz::fuzz_sparse(data);
});
