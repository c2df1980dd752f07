//! xz files through the xz container reader of `ddgz-packed` (the `.dd.xz` inputs of
//! inspect, validate, ls and cat).
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ddgz_packed::fuzz_xz(data);
});
