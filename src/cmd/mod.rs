//! One module per subcommand: argument definitions and the glue to the library crates.

pub mod convert;
pub mod fat;
pub mod input;
pub mod inspect;
pub mod stream;
pub mod tar;
pub mod upload;
pub mod verify;

/// The exit code for a refused or failed output: 2 when it names a file the run reads
/// (the request is wrong), else 4.
pub fn output_error(e: ddgz_output::OutputError) -> anyhow::Error {
    use crate::exit::{with_code, Code};
    match e {
        ddgz_output::OutputError::IsInput { .. } => with_code(Code::Usage, e),
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
