//! The one error type of a conversion: what kind of failure (for an exit code or a retry
//! policy), a message naming the file and the step, and the cause chain of the crate that
//! failed (`std::error::Error::source`).

use std::fmt;

use ddgz_layout::Findings;

/// What kind of failure: who has to act.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The request is wrong: an option, a file to add, an output that is an input.
    Usage,
    /// The input cannot be read or is not supported (missing, corrupt, encrypted, …).
    Input,
    /// Validation found errors in the disk's layout ([`Error::findings`] has them).
    Invalid,
    /// The output cannot be written (exists, disk full, not writable).
    Output,
    /// The cancel flag was set; nothing was kept.
    Cancelled,
}

/// Why a conversion failed. Its `Display` is one line naming the file and the step; the
/// causes follow through [`std::error::Error::source`].
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    /// Empty when the error is its source's (nothing to add): then that one is shown.
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    findings: Option<Box<Findings>>,
}

impl Error {
    /// An error of `kind` with `message`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            source: None,
            findings: None,
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
            findings: None,
        }
    }

    /// Adds `context` in front (the step that failed); the old message becomes a cause.
    pub fn context(self, context: impl Into<String>) -> Self {
        let kind = self.kind;
        let findings = self.findings.clone();
        Self {
            kind,
            message: context.into(),
            source: Some(Box::new(self)),
            findings,
        }
    }

    pub(crate) fn with_findings(mut self, f: Findings) -> Self {
        self.findings = Some(Box::new(f));
        self
    }

    /// What kind of failure.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// For [`ErrorKind::Invalid`]: what validation found.
    pub fn findings(&self) -> Option<&Findings> {
        self.findings.as_deref()
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
            // Shown as ours: its causes are ours.
            s.source()
        } else {
            Some(s)
        }
    }
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<crate::OutputError> for Error {
    /// An output that is one of the run's inputs is a wrong request; anything else is the
    /// output's failure.
    fn from(e: crate::OutputError) -> Self {
        let kind = match e {
            crate::OutputError::IsInput { .. } => ErrorKind::Usage,
            _ => ErrorKind::Output,
        };
        Error::wrap(kind, e)
    }
}

impl From<ddgz_fat::Error> for Error {
    /// The request (a bad `--add`, a missing source or partition, an existing file) or
    /// the input.
    fn from(e: ddgz_fat::Error) -> Self {
        use ddgz_fat::Error as F;
        let kind = match e {
            F::Spec { .. }
            | F::Exists { .. }
            | F::Conflict { .. }
            | F::BadName { .. }
            | F::NotFound { .. }
            | F::Partition { .. }
            | F::BadOption { .. } => ErrorKind::Usage,
            F::Output { .. } => ErrorKind::Output,
            _ => ErrorKind::Input,
        };
        Error::wrap(kind, e)
    }
}

impl From<ddgz_deflate::Error> for Error {
    /// Reading is the input's failure; cancelling is a cancel; the rest is the output's.
    fn from(e: ddgz_deflate::Error) -> Self {
        match e {
            ddgz_deflate::Error::Read { .. } => Error::wrap(ErrorKind::Input, e),
            ddgz_deflate::Error::Cancelled => {
                Error::new(ErrorKind::Cancelled, "interrupted; no output was kept")
            }
            _ => Error::wrap(ErrorKind::Output, e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn the_chain_is_kept_and_not_repeated() {
        let io = std::io::Error::other("disk full");
        let e = Error::wrap(ErrorKind::Output, io).context("writing out.dd.gz");
        assert_eq!(e.to_string(), "writing out.dd.gz");
        assert_eq!(e.source().unwrap().to_string(), "disk full");
        assert!(e.source().unwrap().source().is_none());
        assert_eq!(e.kind(), ErrorKind::Output);
    }
}
