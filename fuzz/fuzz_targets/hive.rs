//! hive: a Windows registry hive ("regf") read as ddgz reads a SOFTWARE hive: the base
//! block, the key path `Microsoft\Windows NT\CurrentVersion` through `lf`/`lh`/`li`/`ri`
//! subkey lists, its values (inline, in cells, big data refused), and a deeper look-up.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    ddgz_windows::hive::fuzz(data);
});
