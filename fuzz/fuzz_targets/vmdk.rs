//! vmdk: open an in-memory VMDK (sparse header or its footer, embedded or text descriptor,
//! grain directory), map and read up to 64 MiB of it (grain tables, compressed grains).
//! Extent files and parents are not opened in memory.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ddgz_vmdk::fuzz_image(data);
});
