//! FAT writing: add a small tree (a file and a directory with a file) into the volume held
//! in memory. Any input must end in patches or an error, never a panic or a hang; when it
//! succeeds, the result must open again with our reader.
#![no_main]
use std::sync::OnceLock;

use ddgz_disk::{MemoryDisk, Overlay};
use libfuzzer_sys::fuzz_target;

/// A source tree made once per process: `src/hooks` (600 bytes) and `src/d/x.txt`.
fn source() -> &'static std::path::Path {
    static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("ddgz-fuzz-fat-add-{}", std::process::id()));
        std::fs::create_dir_all(d.join("src/d")).unwrap();
        std::fs::write(d.join("src/hooks"), vec![7u8; 600]).unwrap();
        std::fs::write(d.join("src/d/x.txt"), b"x").unwrap();
        d.join("src")
    })
}

fuzz_target!(|data: &[u8]| {
    let disk = MemoryDisk(data.to_vec());
    let range = 0..data.len() as u64;
    let spec = ddgz_fat::AddSpec {
        partition: 1,
        src: source().to_path_buf(),
        dest: "curtin".into(),
    };
    if let Ok(patches) = ddgz_fat::add_files(&disk, range.clone(), &[spec], true) {
        let edited = Overlay::new(&disk, patches).expect("patches inside the disk");
        ddgz_fat::list(&edited, range, "/curtin").expect("our own output lists");
    }
});
