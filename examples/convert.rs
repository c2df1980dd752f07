//! An image builder converting with the ddgz library, as `ddgz convert` does:
//! `cargo run --release --example convert -- disk.qcow2 disk.dd.gz`.

use std::path::Path;

/// Converts `input` into the ddgz file `output`, validating the layout unless told not to.
pub fn convert(
    input: &Path,
    output: &Path,
    validate: bool,
) -> ddgz_convert::Result<ddgz_convert::Summary> {
    let mut opts = ddgz_convert::Options::default();
    opts.validate = validate;
    ddgz_convert::convert(input, output, false, opts)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = &args[..] else {
        return Err("usage: convert INPUT OUTPUT.dd.gz".into());
    };
    let summary = convert(Path::new(input), Path::new(output), true)?;
    print!("{summary}");
    Ok(())
}
