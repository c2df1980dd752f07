//! The one error type of a verification: what kind of failure (for an exit code), a
//! message naming the file and the step, the cause chain, and for a failed layout check
//! what had passed and the errors found.

use std::fmt;

use crate::Report;

/// What kind of failure: who has to act.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request is wrong: an option, a file to add.
    Usage,
    /// A file cannot be read (missing, a directory, changed while read, not an image).
    Input,
    /// The stream is corrupt or truncated, differs from the source, or its layout could
    /// not be validated.
    Failed,
    /// Validation found errors in the decompressed disk ([`Error::layout_errors`]).
    Invalid,
    /// A step that writes failed (from the converter's `--add` plan).
    Output,
    /// The cancel flag was set.
    Cancelled,
}

/// Why a verification failed. Its `Display` is one line naming the file and the step; the
/// causes follow through [`std::error::Error::source`].
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    /// For [`ErrorKind::Invalid`]: the checks that passed, and the layout's errors.
    invalid: Option<Box<(Report, Vec<String>)>>,
}

impl Error {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
            invalid: None,
        }
    }

    /// `source` as an error of `kind`, with `message` in front (empty: shown as it is).
    pub fn wrap(
        kind: ErrorKind,
        message: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        Self {
            kind,
            message: message.into(),
            source: Some(source.into()),
            invalid: None,
        }
    }

    pub(crate) fn invalid(message: String, passed: Report, errors: Vec<String>) -> Self {
        let mut e = Self::new(ErrorKind::Invalid, message);
        e.invalid = Some(Box::new((passed, errors)));
        e
    }

    /// What kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// For [`ErrorKind::Invalid`]: what had passed (stream, comparison) before the layout
    /// check found errors.
    pub fn passed(&self) -> Option<&Report> {
        self.invalid.as_deref().map(|(r, _)| r)
    }

    /// For [`ErrorKind::Invalid`]: the layout's errors, one a line.
    pub fn layout_errors(&self) -> &[String] {
        self.invalid.as_deref().map_or(&[], |(_, e)| e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.message[..], &self.source) {
            ("", Some(s)) => fmt::Display::fmt(s, f),
            (m, _) => f.write_str(m),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        let s = self.source.as_deref()?;
        if self.message.is_empty() {
            s.source()
        } else {
            Some(s)
        }
    }
}

impl From<ddgz_convert::Error> for Error {
    /// The converter's kinds, as the CLI maps them to exit codes.
    fn from(e: ddgz_convert::Error) -> Self {
        use ddgz_convert::ErrorKind as K;
        let kind = match e.kind() {
            K::Usage => ErrorKind::Usage,
            K::Input => ErrorKind::Input,
            K::Invalid => ErrorKind::Failed,
            K::Cancelled => ErrorKind::Cancelled,
            _ => ErrorKind::Output,
        };
        Error::wrap(kind, "", e)
    }
}

/// The message of `e` and its causes on one line, each said once (as the CLI prints).
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut out = String::new();
    let mut cause = Some(e);
    while let Some(c) = cause {
        let text = c.to_string();
        if !text.is_empty() && !out.contains(&text) {
            if !out.is_empty() {
                out.push_str(": ");
            }
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
