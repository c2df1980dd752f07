//! A root tarball with the ddgz library, as `ddgz tar` writes it:
//! `cargo run --release --example tar -- disk.qcow2 root.tar.gz [SRC[:DEST]…]`.

use std::path::Path;

/// Writes the root of `input` as the tarball `output`, with the host files `add` put in.
pub fn archive(input: &Path, output: &Path, add: &[&str]) -> ddgz_tarball::Result<String> {
    let mut opts = ddgz_tarball::Options::default();
    opts.add = add
        .iter()
        .map(|a| ddgz_tarball::Add::parse(a))
        .collect::<Result<_, _>>()?;
    Ok(ddgz_tarball::archive(input, output, false, opts)?.sha256)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output, add @ ..] = &args[..] else {
        return Err("usage: tar INPUT OUTPUT.tar.gz [SRC[:DEST]...]".into());
    };
    let add: Vec<&str> = add.iter().map(String::as_str).collect();
    println!("{}", archive(Path::new(input), Path::new(output), &add)?);
    Ok(())
}
