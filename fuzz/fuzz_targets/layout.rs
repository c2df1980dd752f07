//! GPT / MBR / ESXi layout: `inspect` and `validate` of a raw disk held in memory (the
//! input is the disk), and its partition table alone.
#![no_main]
use ddgz_disk::MemoryDisk;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let disk = MemoryDisk(data.to_vec());
    let _ = ddgz_layout::inspect(&disk);
    let _ = ddgz_layout::validate(&disk, ddgz_layout::Profile::Esxi);
    let _ = ddgz_partitions::partitions(&disk);
});
