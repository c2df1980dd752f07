//! The one error type of a tarball run: what kind of failure (for an exit code), a message
//! naming the file and the step, and the cause chain (`std::error::Error::source`).

use std::fmt;

/// What kind of failure: who has to act.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request is wrong: an option, a file to add, an output that is an input, a
    /// partition that is not there or is ambiguous.
    Usage,
    /// The image or its filesystem cannot be read, or holds no Linux root.
    Input,
    /// The output cannot be written.
    Output,
    /// The cancel flag was set; nothing was kept.
    Cancelled,
}

/// Why a tarball run failed. Its `Display` is one line; the causes follow through
/// [`std::error::Error::source`].
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    /// Empty when the error is its source's: then that one is shown.
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl Error {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
        }
    }

    /// `source` as an error of `kind`, shown as it is.
    pub fn wrap(
        kind: ErrorKind,
        source: impl Into<Box<dyn std::error::Error + Send + Sync + 'static>>,
    ) -> Self {
        Self {
            kind,
            message: String::new(),
            source: Some(source.into()),
        }
    }

    /// Adds `context` in front (the step that failed); the old message becomes a cause.
    pub fn context(self, context: impl Into<String>) -> Self {
        Self {
            kind: self.kind,
            message: context.into(),
            source: Some(Box::new(self)),
        }
    }

    /// What kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
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

impl From<ddgz_output::OutputError> for Error {
    /// An output naming a file the run reads is a wrong request; the rest is the output's.
    fn from(e: ddgz_output::OutputError) -> Self {
        let kind = match e {
            ddgz_output::OutputError::IsInput { .. } => ErrorKind::Usage,
            _ => ErrorKind::Output,
        };
        Error::wrap(kind, e)
    }
}

impl From<ddgz_tar::Error> for Error {
    fn from(e: ddgz_tar::Error) -> Self {
        let kind = match &e {
            ddgz_tar::Error::Write(_) => ErrorKind::Output,
            ddgz_tar::Error::Host { .. } => ErrorKind::Usage,
            _ => ErrorKind::Input,
        };
        Error::wrap(kind, e)
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
