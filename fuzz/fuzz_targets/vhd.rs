//! vhd: open an in-memory image, map and read up to 64 MiB of it. Parents are not opened
//! in memory.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ddgz_vhd::fuzz_image(data);
});
