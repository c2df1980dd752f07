//! gzip streams through `ddgz verify`'s checker, and the compressor's chunk self-check.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = ddgz_deflate::verify::check_stream(data, &mut [], &mut |_| {});
    let _ = ddgz_deflate::verify::decode_chunk(data, &[]);
});
