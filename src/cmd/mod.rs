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
