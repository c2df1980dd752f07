//! FAT through ddgz-fat: identify the volume held in memory (what `inspect` shows), list
//! it, walk its directories and read its files, within bounds.
#![no_main]
use ddgz_disk::MemoryDisk;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let disk = MemoryDisk(data.to_vec());
    let range = 0..data.len() as u64;
    let _ = ddgz_fat::probe(&disk, range.clone());
    let mut dirs = vec!["/".to_string()];
    let mut visited = 0;
    while let Some(dir) = dirs.pop() {
        visited += 1;
        if visited > 64 {
            break;
        }
        let Ok(entries) = ddgz_fat::list(&disk, range.clone(), &dir) else {
            continue;
        };
        for e in entries.iter().take(64) {
            if e.name == "." || e.name == ".." {
                continue;
            }
            let path = format!("{}/{}", dir.trim_end_matches('/'), e.name);
            if e.is_dir {
                if dirs.len() < 64 && path.matches('/').count() < 8 {
                    dirs.push(path);
                }
            } else {
                let _ = ddgz_fat::read_file(&disk, range.clone(), &path);
            }
        }
    }
});
