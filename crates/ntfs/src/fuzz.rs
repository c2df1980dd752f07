//! The fuzz entry point (`fuzz/fuzz_targets/ntfs.rs`): a volume given as sparse runs,
//! opened, its facts read, its whole tree walked and every stream read, within budgets.

use ddgz_disk::MemoryDisk;

use crate::{Error, Volume};

/// Largest volume built from an input.
const MAX_IMAGE: usize = 8 << 20;
/// Bytes read from one stream, and from all of them.
const STREAM_BUDGET: u64 = 64 << 10;
const TOTAL_BUDGET: u64 = 1 << 20;

/// `len` of a run that is a fill: a u32 count and one byte value follow.
const FILL: u16 = 0xFFFF;

/// One run of the input: bytes, or a fill of one value.
enum Piece<'a> {
    Bytes(&'a [u8]),
    Fill(usize, u8),
}

/// Builds a volume from `data`, a sequence of `(offset: u32 LE, len: u16 LE, bytes)` runs
/// over zeros (an NTFS volume is mostly zeros; `len` 0xFFFF is a fill: a u32 count and a
/// byte value follow, for `$LogFile`'s 0xFF), and drives the reader over all of it. A
/// run past 8 MiB is ignored. Never panics; returns nothing (errors are fine).
pub fn fuzz_sparse(data: &[u8]) {
    let mut runs = Vec::new();
    let mut end = 0;
    let mut i = 0;
    while i + 6 <= data.len() {
        let off = u32::from_le_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]) as usize;
        let len = u16::from_le_bytes([data[i + 4], data[i + 5]]);
        i += 6;
        let piece = if len == FILL {
            let Some(f) = data.get(i..i + 5) else { break };
            i += 5;
            Piece::Fill(u32::from_le_bytes([f[0], f[1], f[2], f[3]]) as usize, f[4])
        } else {
            let bytes = &data[i..(i + usize::from(len)).min(data.len())];
            i += bytes.len();
            Piece::Bytes(bytes)
        };
        let n = match piece {
            Piece::Bytes(b) => b.len(),
            Piece::Fill(n, _) => n,
        };
        if off.checked_add(n).is_some_and(|e| e <= MAX_IMAGE) {
            end = end.max(off + n);
            runs.push((off, piece));
        }
    }
    // One buffer kept between runs: a fresh 8 MiB allocation per run costs more in page
    // faults than the reader does.
    // Only the ranges written last time are zeroed again.
    type Kept = (Vec<u8>, Vec<(usize, usize)>);
    thread_local! {
        static IMAGE: std::cell::RefCell<Kept> = const {
            std::cell::RefCell::new((Vec::new(), Vec::new()))
        };
    }
    IMAGE.with(|cell| {
        let (mut img, mut dirty) = cell.take();
        for (a, b) in dirty.drain(..) {
            img[a..b].fill(0);
        }
        img.resize(end, 0);
        for (off, piece) in runs {
            let n = match piece {
                Piece::Bytes(b) => {
                    img[off..off + b.len()].copy_from_slice(b);
                    b.len()
                }
                Piece::Fill(n, v) => {
                    img[off..off + n].fill(v);
                    n
                }
            };
            dirty.push((off, off + n));
        }
        let disk = MemoryDisk::new(img);
        let _ = drive(&disk);
        cell.replace((disk.0, dirty));
    });
}

/// Encodes an image as the runs [`fuzz_sparse`] reads: its non-zero 512-byte sectors,
/// adjacent ones merged, sectors of one repeated byte as fills (to make seeds from real
/// volumes).
pub fn sparse_runs(img: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut s = 0;
    let sector = |s: usize| &img[s..(s + 512).min(img.len())];
    let uniform = |s: usize| {
        let b = sector(s);
        b.iter().all(|&x| x == b[0]).then_some(b[0])
    };
    while s < img.len() {
        if let Some(v) = uniform(s) {
            let start = s;
            while s < img.len() && uniform(s) == Some(v) {
                s += 512;
            }
            let s_end = s.min(img.len());
            if v != 0 {
                out.extend_from_slice(&(start as u32).to_le_bytes());
                out.extend_from_slice(&FILL.to_le_bytes());
                out.extend_from_slice(&((s_end - start) as u32).to_le_bytes());
                out.push(v);
            }
            continue;
        }
        let start = s;
        while s < img.len() && s - start < 60 << 10 && uniform(s).is_none() {
            s += 512;
        }
        let s_end = s.min(img.len());
        out.extend_from_slice(&(start as u32).to_le_bytes());
        out.extend_from_slice(&((s_end - start) as u16).to_le_bytes());
        out.extend_from_slice(&img[start..s_end]);
    }
    out
}

/// Opens the volume and reads everything within the budgets.
fn drive(disk: &MemoryDisk) -> Result<(), Error> {
    let vol = Volume::open(disk, 0, disk.0.len() as u64)?;
    let _ = vol.facts();
    // One look-up descends the B+ trees (a walk lists them); one per file would cost
    // more than the walk.
    let _ = vol.lookup("Windows/System32/config/SOFTWARE");
    let _ = vol.lookup("d/FILE-NUMBER-150.TXT");
    let mut total = 0u64;
    let mut buf = vec![0u8; 64 << 10];
    vol.walk(|_, e| {
        if e.is_directory() || total >= TOTAL_BUDGET {
            return Ok(());
        }
        let Ok(f) = vol.file(e.file.record) else {
            return Ok(());
        };
        let mut names = vec![String::new()];
        names.extend(f.stream_names().iter().map(|n| String::from_utf16_lossy(n)));
        for n in names {
            let Ok(Some(s)) = vol.data(&f, &n) else {
                continue;
            };
            let mut at = 0;
            while at < s.len().min(STREAM_BUDGET) && total < TOTAL_BUDGET {
                match vol.read_at(&s, at, &mut buf) {
                    Ok(k) if k > 0 => {
                        at += k as u64;
                        total += k as u64;
                    }
                    _ => break,
                }
            }
        }
        Ok::<(), Error>(())
    })
}
