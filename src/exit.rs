//! The one place that decides exit codes and how errors are printed.

use std::fmt;

/// Shown at the end of `ddgz --help`.
pub const HELP: &str = "\
Exit codes:
  0  success
  1  validation or verification failed (the image is not fit for MAAS, or differs)
  2  usage error (bad arguments)
  3  input unreadable or unsupported (missing file, corrupt or encrypted image, a
     compressed stream or ISO given as a disk, ...), or it cannot take the --add'ed files
     (not enough free space in the FAT partition, directory full)
  4  output could not be written (exists, disk full, not writable, interrupted)";

/// Exit codes, documented in [`HELP`] and the README.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    /// Validation or verification found errors.
    Failed = 1,
    /// Bad arguments (clap uses 2 for its own errors too).
    Usage = 2,
    /// The input could not be read or is not supported.
    Input = 3,
    /// The output could not be written.
    Output = 4,
}

/// An error carrying its exit code. Its message is the wrapped error's.
#[derive(Debug)]
pub struct Failure {
    pub code: Code,
    pub error: anyhow::Error,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.error, f)
    }
}

impl std::error::Error for Failure {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.error.source()
    }
}

/// Wraps `e` so that the process exits with `code`.
pub fn with_code(code: Code, e: impl Into<anyhow::Error>) -> anyhow::Error {
    anyhow::Error::new(Failure {
        code,
        error: e.into(),
    })
}

/// `Result` helpers that attach an exit code to an error.
pub trait ResultExt<T> {
    /// Failure to read or understand the input: exit 3.
    fn input(self) -> anyhow::Result<T>;
}

impl<T, E: Into<anyhow::Error>> ResultExt<T> for Result<T, E> {
    fn input(self) -> anyhow::Result<T> {
        self.map_err(|e| with_code(Code::Input, e))
    }
}

/// Prints `e` on stderr (one line, with its causes) and returns the exit code.
pub fn report(e: &anyhow::Error) -> i32 {
    let code = e
        .chain()
        .find_map(|c| c.downcast_ref::<Failure>())
        .map(|f| f.code);
    let broken_pipe = e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    });
    if code.is_none() && broken_pipe {
        // The reader went away (`ddgz cat … | head`): not our failure.
        return 0;
    }
    eprintln!("ddgz: error: {}", ddgz_image::escape_message(&message(e)));
    code.map_or(1, |c| c as i32)
}

/// `e` and its causes joined with ": ", each cause left out when the text so far already
/// says it (library errors often print their source in their own message: "open: No such
/// file or directory (os error 2)" must not gain a second "No such file …").
pub fn message(e: &anyhow::Error) -> String {
    let mut out = String::new();
    for cause in e.chain() {
        let text = cause.to_string();
        if text.is_empty() || out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}
