//! One module per subcommand: argument definitions and the glue to the library crates.

pub mod convert;
pub mod fat;
pub mod input;
pub mod inspect;
pub mod stream;
pub mod tar;
pub mod upload;
pub mod verify;

/// Whether progress bars may be drawn: stderr is a terminal and not `--quiet`.
pub fn show_progress(quiet: bool) -> bool {
    use std::io::IsTerminal;
    !quiet && std::io::stderr().is_terminal()
}

/// The exit code for a refused or failed output: 2 when it names a file the run reads
/// (the request is wrong), else 4.
pub fn output_error(e: ddgz_convert::OutputError) -> anyhow::Error {
    use crate::exit::{with_code, Code};
    match e {
        ddgz_convert::OutputError::IsInput { .. } => with_code(Code::Usage, e),
        _ => with_code(Code::Output, e),
    }
}

/// The files reading `image` (opened from `path`) involves: what the reader lists
/// ([`ddgz_image::Disk::files`]: its backing chain, data file) and, whatever the reader
/// says, the file at `path` itself.
pub fn image_reads(
    image: &dyn ddgz_image::Disk,
    path: &std::path::Path,
) -> Vec<ddgz_image::FileId> {
    let mut reads = image.files();
    if let Ok(m) = std::fs::metadata(path) {
        reads.push(ddgz_image::FileId::of(&m));
    }
    reads
}

/// Human-readable binary size, e.g. "1.5 GiB".
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let mut v = bytes as f64;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{bytes} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// Most compression threads `-j` takes: beyond this the memory in flight (a few chunks and
/// a deflate state per worker) grows with no gain on any machine ddgz targets.
pub const MAX_THREADS: usize = 128;

/// Parses a whole number within `range` for clap, naming the range when it is not: clap
/// turns the `Err` into a usage error (exit 2).
pub fn parse_in_range(
    s: &str,
    range: std::ops::RangeInclusive<u64>,
    what: &str,
) -> Result<u64, String> {
    let n: u64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a whole number; {what}"))?;
    if range.contains(&n) {
        Ok(n)
    } else {
        Err(format!("{n} is out of range; {what}"))
    }
}

/// `-j N`: 0 (one per core) to [`MAX_THREADS`].
pub fn parse_threads(s: &str) -> Result<usize, String> {
    parse_in_range(
        s,
        0..=MAX_THREADS as u64,
        &format!("threads must be between 0 (one per core) and {MAX_THREADS}"),
    )
    .map(|n| n as usize)
}

/// `--chunk-size`: 4096 to [`ddgz_deflate::MAX_CHUNK_SIZE`] bytes.
pub fn parse_deflate_chunk_size(s: &str) -> Result<usize, String> {
    let max = ddgz_deflate::MAX_CHUNK_SIZE as u64;
    parse_in_range(
        s,
        4096..=max,
        &format!("the chunk size must be between 4096 and {max} bytes"),
    )
    .map(|n| n as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_options_name_their_range() {
        assert_eq!(parse_threads("0"), Ok(0));
        assert_eq!(parse_threads("128"), Ok(128));
        for bad in [
            "129",
            "18446744073709551615",
            "99999999999999999999",
            "-1",
            "x",
        ] {
            let e = parse_threads(bad).unwrap_err();
            assert!(e.contains("between 0 (one per core) and 128"), "{bad}: {e}");
        }
        assert!(parse_deflate_chunk_size("4095").is_err());
        assert_eq!(parse_deflate_chunk_size("65536"), Ok(65536));
        assert!(parse_deflate_chunk_size(&(64u64 << 20 | 1).to_string())
            .unwrap_err()
            .contains("between 4096 and 67108864"));
    }
}
