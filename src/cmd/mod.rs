//! One module per subcommand: argument definitions and the glue to the library crates.

pub mod convert;
pub mod fat;
pub mod inspect;
pub mod upload;
pub mod verify;

/// Whether progress bars may be drawn: stderr is a terminal and not `--quiet`.
pub fn show_progress(quiet: bool) -> bool {
    use std::io::IsTerminal;
    !quiet && std::io::stderr().is_terminal()
}
