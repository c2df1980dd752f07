//! Encodes a file single-threaded as an xz stream of one block per chunk and prints the
//! size and the time: `cargo run --release -p ddgz-xz --example measure -- FILE OUT
//! [CHUNK_MIB [split]]`. Runs of all-zero chunks go through `push_zero_run`, as the
//! pipeline hands them over.

use std::io::Read;
use std::time::Instant;

use ddgz_xz::{BlockEncoder, XzStreamWriter};

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, input, output, rest @ ..] = &args[..] else {
        eprintln!("usage: measure FILE OUT [CHUNK_MIB [split]]");
        std::process::exit(2);
    };
    let chunk = rest.first().map_or(1, |c| c.parse::<usize>().unwrap_or(1)) << 20;
    let mut f = std::fs::File::open(input)?;
    let out = std::io::BufWriter::new(std::fs::File::create(output)?);
    let mut w = XzStreamWriter::new(out)?;
    let mut enc = BlockEncoder::new(6);
    let mut buf = vec![0u8; chunk];
    let (mut data, mut zeros, mut run) = (0u64, 0u64, 0u64);
    // With a third argument "split", every zero chunk is its own run (own block).
    let split = rest.get(1).is_some_and(|a| a == "split");
    let start = Instant::now();
    loop {
        let mut n = 0;
        while n < chunk {
            let k = f.read(&mut buf[n..])?;
            if k == 0 {
                break;
            }
            n += k;
        }
        if n == 0 {
            break;
        }
        if buf[..n].iter().all(|&b| b == 0) {
            run += n as u64;
            zeros += n as u64;
            if split {
                w.push_zero_run(std::mem::take(&mut run))?;
            }
        } else {
            w.push_zero_run(std::mem::take(&mut run))?;
            w.push_block(&enc.encode(&buf[..n])?)?;
            data += n as u64;
        }
    }
    w.push_zero_run(run)?;
    let (_, s) = w.finish()?;
    let t = start.elapsed().as_secs_f64();
    println!(
        "{input}: {} bytes in, {} out ({:.4}), {} blocks ({} zero), chunk {} MiB, \
         {t:.1} s, {:.2} MiB/s of data per core",
        s.uncompressed,
        s.bytes,
        s.bytes as f64 / s.uncompressed.max(1) as f64,
        s.blocks,
        s.zero_blocks,
        chunk >> 20,
        data as f64 / (1 << 20) as f64 / t,
    );
    eprintln!("zero bytes: {zeros}");
    Ok(())
}
