//! The layout check: validation as `ddgz validate` does it (auto profile), with the MAAS
//! readiness findings of the profile it picked.

use ddgz_image::Disk;

/// What a layout check that passed found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Layout {
    /// The profile validation picked (`esxi`, `windows`, `linux-dd`, …).
    pub profile: &'static str,
    /// Warnings, one a line (MAAS readiness ones prefixed `MAAS readiness: `).
    pub warnings: Vec<String>,
    /// Passes over the stream the check needed; `None` when it ran on the source.
    pub passes: Option<u32>,
}

/// Why the layout check failed.
pub(crate) enum Failure {
    /// Validation found errors, one a line.
    Findings {
        profile: &'static str,
        errors: Vec<String>,
    },
    /// It could not run.
    Other(ddgz_layout::Error),
}

/// Validates the layout of `disk`; errors after `allow` are a [`Failure::Findings`]. A
/// Linux dd image's readiness errors are said as warnings, not a failure (as in convert).
pub(crate) fn check(disk: &dyn Disk, allow: &[String]) -> Result<Layout, Failure> {
    use ddgz_layout::Severity;
    let mut findings =
        ddgz_layout::validate(disk, ddgz_layout::Profile::Auto).map_err(Failure::Other)?;
    findings.allow(allow);
    let of = |s: Severity| {
        let layout = findings.items.iter().filter(|f| f.severity == s);
        let maas = findings
            .maas_readiness
            .items
            .iter()
            .filter(|f| f.severity == s);
        layout
            .map(|f| f.to_string())
            .chain(maas.map(|f| format!("MAAS readiness: {f}")))
            .collect::<Vec<_>>()
    };
    let (mut errors, mut warnings) = (of(Severity::Error), of(Severity::Warning));
    if findings.maas_readiness.advisory {
        let (advisory, blocking): (Vec<String>, Vec<String>) = errors
            .into_iter()
            .partition(|e| e.starts_with("MAAS readiness: "));
        errors = blocking;
        warnings.extend(advisory);
    }
    let profile = findings.profile.name();
    if !errors.is_empty() {
        return Err(Failure::Findings { profile, errors });
    }
    Ok(Layout {
        profile,
        warnings,
        passes: None,
    })
}
