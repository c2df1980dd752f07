//! What the checks of a disk report: a [`Finding`] has a severity, a stable [`Code`] and a
//! message naming the values; every profile (partition table, ESXi, …) declares its codes
//! as a list of [`Code`]s and reports findings of those codes.
//!
//! Codes are part of the interface: `--allow CODE` names them, scripts match on them in
//! `--json`. A code is never renamed or reused for another meaning; new ones are added.
#![deny(missing_docs)]
#![forbid(unsafe_code)]

use serde::Serialize;

/// A finding's code, its severity and a one-line summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Code {
    /// The code, e.g. `vmfs-clone-uuid`.
    pub code: &'static str,
    /// The severity findings of this code have (before `--allow`).
    pub severity: Severity,
    /// What it means.
    pub summary: &'static str,
}

/// A [`Code`], for the `const` lists each profile keeps.
pub const fn code(code: &'static str, severity: Severity, summary: &'static str) -> Code {
    Code {
        code,
        severity,
        summary,
    }
}

/// How severe a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The image is not fit for MAAS: `validate` exits 1, `convert` refuses.
    Error,
    /// Worth fixing; fails `validate --strict` only.
    Warning,
    /// A fact worth saying (e.g. "datastore blank: created at first boot"); never fails.
    Info,
    /// An error or warning acknowledged with `--allow CODE`; never
    /// fails.
    Note,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
            Severity::Note => "note",
        })
    }
}

/// One thing `validate` found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Error, warning, info, or note (an error or warning acknowledged with `--allow`).
    pub severity: Severity,
    /// Stable identifier of the kind of finding (a [`Code`] of the profile that found it), e.g. `vmfs-clone-uuid`.
    pub code: &'static str,
    /// The severity before `--allow` made it a note.
    pub allowed: Option<Severity>,
    /// The partition concerned, if one is.
    pub partition: Option<u32>,
    /// What, naming the values.
    pub message: String,
}

impl Finding {
    fn new(
        severity: Severity,
        code: &'static str,
        partition: Option<u32>,
        message: String,
    ) -> Self {
        Self {
            severity,
            code,
            allowed: None,
            partition,
            message,
        }
    }
    /// An error of kind `code` about partition `p` (if any).
    pub fn error(code: &'static str, p: Option<u32>, m: impl Into<String>) -> Self {
        Self::new(Severity::Error, code, p, m.into())
    }
    /// A warning of kind `code` about partition `p` (if any).
    pub fn warning(code: &'static str, p: Option<u32>, m: impl Into<String>) -> Self {
        Self::new(Severity::Warning, code, p, m.into())
    }
    /// A fact of kind `code` about partition `p` (if any).
    pub fn info(code: &'static str, p: Option<u32>, m: impl Into<String>) -> Self {
        Self::new(Severity::Info, code, p, m.into())
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} [{}", self.severity, self.code)?;
        if let Some(was) = self.allowed {
            write!(f, ", allowed {was}")?;
        }
        f.write_str("]: ")?;
        match self.partition {
            Some(n) => write!(f, "partition {n}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// Whether every code in `codes` is unique and kebab-case (each profile's test calls it on
/// its list, and the whole registry's test on all of them).
pub fn check_codes<'a>(codes: impl IntoIterator<Item = &'a Code>) -> Result<(), String> {
    let mut seen = std::collections::HashSet::new();
    for c in codes {
        if !seen.insert(c.code) {
            return Err(format!("{} twice", c.code));
        }
        if !c
            .code
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        {
            return Err(format!("{} is not kebab-case", c.code));
        }
    }
    Ok(())
}
