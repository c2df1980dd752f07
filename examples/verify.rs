//! Verifies a `.dd.gz` / `.dd.xz` with the ddgz library, as `ddgz verify` does:
//! `cargo run --release --example verify -- image.dd.gz [SOURCE]`.

use std::path::Path;

/// Verifies `file` (and that it equals `source`): the lines `ddgz verify` prints.
pub fn verify(file: &Path, source: Option<&Path>) -> ddgz_verify::Result<Vec<String>> {
    let mut opts = ddgz_verify::Options::default();
    opts.against = source.map(Path::to_owned);
    Ok(ddgz_verify::verify(file, &opts)?.lines())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (file, source) = match &args[..] {
        [f] => (f, None),
        [f, s] => (f, Some(Path::new(s))),
        _ => return Err("usage: verify FILE.dd.gz [SOURCE]".into()),
    };
    for l in verify(Path::new(file), source)? {
        println!("{l}");
    }
    Ok(())
}
