//! Reads a qcow2 image fully through the reader and prints its mappings summary, the
//! sha256 of the guest bytes (compare with `qemu-img convert -O raw IMG - | sha256sum`)
//! and the throughput.
//!
//! `cargo run --release -p ddgz-qcow2 --example qcow2_read -- IMG [THREADS] [CHUNK_MIB]`

use std::path::PathBuf;
use std::time::Instant;

use ddgz_disk::ExtentKind;
use ddgz_qcow2::{OpenOptions, Qcow2};
use sha2::{Digest, Sha256};

fn main() {
    let mut args = std::env::args().skip(1);
    let path = PathBuf::from(
        args.next()
            .expect("usage: qcow2_read IMG [THREADS] [CHUNK_MIB]"),
    );
    let threads: usize = args.next().map_or(2, |s| s.parse().expect("THREADS"));
    let chunk: u64 = args
        .next()
        .map_or(1, |s| s.parse::<u64>().expect("CHUNK_MIB"))
        << 20;
    let t = Instant::now();
    let q = match Qcow2::open(&path, &OpenOptions::default()) {
        Ok(q) => q,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(1);
        }
    };
    let size = q.virtual_size();
    let maps = q.extents(0, size).unwrap_or_else(|e| panic!("{e}"));
    let data: u64 = maps
        .iter()
        .filter(|m| m.kind == ExtentKind::Data)
        .map(|m| m.len)
        .sum();
    println!("{:#?}", q.info());
    println!(
        "{} runs, {data} data bytes of {size}; open+map {:?}",
        maps.len(),
        t.elapsed()
    );
    // Read chunk by chunk, `threads` chunks at a time, hashing in order.
    let t = Instant::now();
    let mut h = Sha256::new();
    let n = size.div_ceil(chunk);
    let mut i = 0;
    while i < n {
        let batch: Vec<u64> = (i..(i + threads as u64).min(n)).collect();
        let bufs: Vec<Vec<u8>> = std::thread::scope(|s| {
            let hs: Vec<_> = batch
                .iter()
                .map(|&c| {
                    let q = &q;
                    s.spawn(move || {
                        let off = c * chunk;
                        let len = chunk.min(size - off);
                        let mut b = vec![0u8; len as usize];
                        for m in q.extents(off, len).unwrap_or_else(|e| panic!("{e}")) {
                            if m.kind == ExtentKind::Data {
                                let r =
                                    (m.offset - off) as usize..(m.offset - off + m.len) as usize;
                                q.read_at(m.offset, &mut b[r])
                                    .unwrap_or_else(|e| panic!("{e}"));
                            }
                        }
                        b
                    })
                })
                .collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for b in bufs {
            h.update(&b);
        }
        i += threads as u64;
    }
    let el = t.elapsed();
    println!(
        "sha256 {}  read {size} bytes in {el:?} ({:.0} MB/s of data)",
        hex::encode(h.finalize()),
        data as f64 / el.as_secs_f64() / 1e6
    );
}
