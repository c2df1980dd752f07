//! Opens an NTFS image file (a raw volume), prints its facts, walks the whole tree and
//! reads every file's streams: `cargo run -p ddgz-ntfs --example ntfs-walk IMG`. For
//! measuring (time, peak memory) and for looking at a volume by hand.

use std::path::PathBuf;

use ddgz_disk::{Disk, RawDisk};
use ddgz_ntfs::{Error, Volume};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path: PathBuf = std::env::args_os()
        .nth(1)
        .ok_or("usage: ntfs-walk IMG")?
        .into();
    let disk = RawDisk::open(&path)?;
    let vol = Volume::open(&disk, 0, disk.size())?;
    println!("{:?}", vol.facts()?);
    let (mut files, mut bytes) = (0u64, 0u64);
    vol.walk(|_, e| {
        if e.is_directory() {
            return Ok(());
        }
        let f = vol.file(e.file.record)?;
        let mut names = vec![String::new()];
        names.extend(f.stream_names().iter().map(|n| String::from_utf16_lossy(n)));
        for n in names {
            if let Some(s) = vol.data(&f, &n)? {
                vol.for_each_piece(&s, 1 << 20, |_, b: &[u8]| {
                    bytes += b.len() as u64;
                    Ok::<(), Error>(())
                })?;
            }
        }
        files += 1;
        Ok::<(), Error>(())
    })?;
    println!("{files} files, {bytes} bytes read");
    Ok(())
}
