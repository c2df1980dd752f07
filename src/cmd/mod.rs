//! One module per subcommand: argument definitions and the glue to the library crates.

pub mod convert;
pub mod fat;
pub mod files;
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
