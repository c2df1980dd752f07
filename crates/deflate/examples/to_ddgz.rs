//! Library use in a dozen lines: open an image, look at its extents, write a ddgz.
//!
//! `cargo run --release -p ddgz-deflate --example to_ddgz -- disk.qcow2 disk.dd.gz`

use ddgz_image::{Disk, Image, OpenOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let (Some(input), Some(output)) = (args.next(), args.next()) else {
        return Err("usage: to_ddgz INPUT OUTPUT.dd.gz".into());
    };
    let disk = Image::open(input.as_ref(), &OpenOptions::default())?;
    // Counted from the extent map, walked in bounded windows (never one list for the disk).
    let data = disk.allocated_bytes()?;
    println!(
        "{:?}: {} bytes virtual, {} hold data",
        disk.format(),
        disk.size(),
        data
    );

    let out = std::io::BufWriter::new(std::fs::File::create(&output)?);
    let opts = ddgz_deflate::Options::default(); // level 6, all cores, 1 MiB chunks
    let summary = ddgz_deflate::compress(&disk, out, &opts, &mut |_done| {})?;
    println!(
        "wrote {} bytes, CRC-32 {:08x}",
        summary.output_bytes, summary.crc32
    );
    Ok(())
}
