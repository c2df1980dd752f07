//! The fuzz entry point of the writer (`fuzz/fuzz_targets/ntfs_add.rs`). The first byte
//! chooses: even, a valid volume made once by `mkntfs` receives the additions the rest of
//! the input describes, and then must read back exactly (every added file found with its
//! bytes, the whole tree walked, every stream read; an inconsistency the writer made is a
//! panic); odd, the rest is a hostile volume (as `(offset u32, len u16, bytes)` runs over
//! 4 MiB of zeros) that a small fixed tree is added to: any outcome but a panic or a hang.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ddgz_disk::{Disk, MemoryDisk, Overlay};

use super::{add_files, Spec, WriteError};
use crate::{Error, Volume};

/// Operations one input describes at most.
const MAX_OPS: usize = 48;
/// Directories the additions go into (some exist in the fixture, some do not).
const DIRS: [&str; 6] = ["", "curtin", "Windows", "Windows/Panther", "a/b/c", "many"];
/// Characters names are made of: ASCII, a space, and some that upcase (é → É, ä → Ä).
const ALPHABET: [char; 16] = [
    'a', 'B', 'c', 'D', '0', '7', '-', '_', '.', ' ', 'é', 'Ä', 'z', 'Z', 'ß', '日',
];

/// A per-process scratch directory.
fn scratch() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::temp_dir().join(format!("ddgz-fuzz-ntfs-add-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("scratch directory");
        d
    })
}

/// A 4 MiB volume of 4 KiB clusters from `mkntfs`, with `many/` holding 200 files added
/// by this writer (an index of several nodes); `None` without mkntfs.
fn fixture() -> Option<&'static [u8]> {
    static IMG: OnceLock<Option<Vec<u8>>> = OnceLock::new();
    IMG.get_or_init(|| {
        let img = scratch().join("fixture.img");
        std::fs::File::create(&img).ok()?.set_len(4 << 20).ok()?;
        let ok = std::process::Command::new("mkntfs")
            .args(["-F", "-Q", "-c", "4096", "-L", "fuzz"])
            .arg(&img)
            .output()
            .ok()?
            .status
            .success();
        if !ok {
            return None;
        }
        let many = scratch().join("many");
        std::fs::create_dir_all(&many).ok()?;
        for i in 0..200 {
            std::fs::write(many.join(format!("f-{i:03}")), [i as u8]).ok()?;
        }
        let d = MemoryDisk::new(std::fs::read(&img).ok()?);
        let spec = Spec {
            src: many,
            dest: "many".into(),
        };
        let patches = add_files(&d, 0..d.size(), &[spec], false).ok()?;
        let mut b = d.0;
        for p in patches {
            b[p.offset as usize..p.offset as usize + p.data.len()].copy_from_slice(&p.data);
        }
        Some(b)
    })
    .as_deref()
}

/// Runs the writer on `data` (see the module documentation).
pub fn fuzz_add(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode % 2 == 0 {
        if let Some(img) = fixture() {
            additions(img, rest);
        }
    } else {
        hostile(rest);
    }
}

/// A name from input bytes: 1..=24 characters of the alphabet, no trailing dot or space.
fn name(b: &[u8]) -> String {
    let mut s: String = b
        .iter()
        .map(|&x| ALPHABET[usize::from(x) % ALPHABET.len()])
        .collect();
    while s.ends_with('.') || s.ends_with(' ') {
        s.pop();
    }
    if s.is_empty() {
        s.push('n');
    }
    s
}

fn additions(img: &[u8], data: &[u8]) {
    let run = scratch().join("run");
    let _ = std::fs::remove_dir_all(&run);
    std::fs::create_dir_all(&run).expect("run directory");
    let mut specs = Vec::new();
    let mut files = Vec::new();
    let mut i = 0;
    while i + 4 <= data.len() && specs.len() < MAX_OPS {
        let (kind, dir, nlen) = (data[i], data[i + 1], usize::from(data[i + 2] % 24) + 1);
        let size = usize::from(data[i + 3]) * 97 * usize::from(kind % 8);
        i += 3;
        let nb = &data[i..(i + nlen).min(data.len())];
        i += nb.len();
        let dest = match DIRS[usize::from(dir) % DIRS.len()] {
            "" => name(nb),
            d => format!("{d}/{}", name(nb)),
        };
        let src = run.join(format!("s{}", specs.len()));
        if kind % 5 == 0 {
            std::fs::create_dir_all(&src).expect("source dir");
        } else {
            let bytes: Vec<u8> = (0..size).map(|k| (k as u8) ^ kind).collect();
            std::fs::write(&src, &bytes).expect("source file");
            files.push((dest.clone(), bytes));
        }
        specs.push(Spec { src, dest });
    }
    let disk = MemoryDisk::new(img.to_vec());
    match add_files(&disk, 0..disk.size(), &specs, false) {
        Ok(patches) => {
            let edited = Overlay::new(&disk, patches).expect("patches inside the volume");
            let vol = Volume::open(&edited, 0, edited.size()).expect("our output opens");
            read_everything(&vol).expect("our output reads");
            for (path, bytes) in files {
                let f = vol.lookup(&path).expect("look-up").expect("an added file");
                let s = vol.data(&f, "").expect("its data").expect("a $DATA");
                let mut got = vec![0u8; s.len() as usize];
                vol.read_at(&s, 0, &mut got).expect("read");
                assert_eq!(got, bytes, "{path}");
            }
        }
        Err(WriteError::Read(e @ (Error::Corrupt(_) | Error::Limit(_) | Error::Read { .. })))
        | Err(WriteError::Read(e @ Error::NotNtfs(_))) => {
            panic!("the writer read its own volume as broken: {e}")
        }
        Err(WriteError::Disk(e)) => panic!("{e}"),
        Err(_) => {}
    }
}

/// Walks the tree and reads every stream but the system files' (within a budget).
fn read_everything<D: Disk>(vol: &Volume<D>) -> Result<(), Error> {
    vol.facts()?;
    let mut buf = vec![0u8; 64 << 10];
    vol.walk(|path, e| {
        if path.starts_with('$') {
            return Ok(());
        }
        let f = vol.file(e.file.record)?;
        if let Some(s) = vol.data(&f, "")? {
            let mut at = 0;
            while at < s.len().min(1 << 20) {
                let n = vol.read_at(&s, at, &mut buf)?;
                if n == 0 {
                    break;
                }
                at += n as u64;
            }
        }
        Ok::<(), Error>(())
    })
}

/// Builds a volume from `(offset, len, bytes)` runs over 4 MiB of zeros and adds a
/// small tree to it.
fn hostile(data: &[u8]) {
    let mut img = vec![0u8; 4 << 20];
    let mut i = 0;
    while i + 6 <= data.len() {
        let off = u32::from_le_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]) as usize;
        let len = usize::from(u16::from_le_bytes([data[i + 4], data[i + 5]]));
        i += 6;
        let b = &data[i..(i + len).min(data.len())];
        i += b.len();
        if off.checked_add(b.len()).is_some_and(|e| e <= img.len()) {
            img[off..off + b.len()].copy_from_slice(b);
        }
    }
    let src = scratch().join("hostile");
    if !src.exists() {
        std::fs::create_dir_all(src.join("curtin")).expect("source");
        std::fs::write(src.join("curtin/curtin-hooks"), [7u8; 600]).expect("source");
        std::fs::write(src.join("curtin/finalize.py"), vec![9u8; 9000]).expect("source");
    }
    let disk = MemoryDisk::new(img);
    let specs = [
        Spec {
            src: src.join("curtin"),
            dest: "curtin".into(),
        },
        Spec {
            src: src.join("curtin/curtin-hooks"),
            dest: "Windows/Panther/unattend.xml".into(),
        },
    ];
    if let Ok(patches) = add_files(&disk, 0..disk.size(), &specs, false) {
        let edited = Overlay::new(&disk, patches).expect("patches inside the volume");
        // What the writer verified must still open.
        Volume::open(&edited, 0, edited.size()).expect("our output opens");
    }
}

/// Seeds: the fixture's additions as input (mode 0), and the fixture as hostile runs
/// (mode 1), written into `dir`.
pub fn write_seeds(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let mut a = vec![0u8];
    for (k, n) in [
        (1u8, b"curtin-hooks".as_slice()),
        (2, b"finalize"),
        (5, b"Panther"),
        (3, b"unattend.xml"),
    ] {
        a.extend([k, k, n.len() as u8 - 1]);
        a.push(200);
        a.extend_from_slice(n);
    }
    std::fs::write(dir.join("additions"), a)?;
    if let Some(img) = fixture() {
        let mut h = vec![1u8];
        for (n, chunk) in img.chunks(60 << 10).enumerate() {
            if chunk.iter().any(|&b| b != 0) {
                h.extend_from_slice(&((n * (60 << 10)) as u32).to_le_bytes());
                h.extend_from_slice(&(chunk.len() as u16).to_le_bytes());
                h.extend_from_slice(chunk);
            }
        }
        std::fs::write(dir.join("hostile-fixture"), h)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn seeds_run_clean() {
        // DDGZ_NTFS_ADD_SEEDS=$PWD/fuzz/corpus/ntfs_add writes them for the fuzzer.
        let dir = std::env::var_os("DDGZ_NTFS_ADD_SEEDS")
            .map_or_else(|| super::scratch().join("seeds"), std::path::PathBuf::from);
        super::write_seeds(&dir).unwrap();
        for e in std::fs::read_dir(&dir).unwrap() {
            super::fuzz_add(&std::fs::read(e.unwrap().path()).unwrap());
        }
    }
}
