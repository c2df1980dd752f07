//! qcow2: open an in-memory image (header, extensions, L1), map and read up to 64 MiB of
//! it (L2 tables, compressed clusters). Backing files are not followed in memory.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ddgz_qcow2::fuzz_image(data);
});
