//! vhdx: a VHDX given as (offset, bytes) runs over zeros (see `ddgz_vhdx::fuzz_sparse`),
//! opened in memory (headers, log replay, region table, metadata), mapped and read.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ddgz_vhdx::fuzz_sparse(data);
});
