//! The layout check of `ddgz verify`: validation as `ddgz validate` does it, and how a
//! failed one is reported.

use ddgz_image::Disk;

use crate::exit::{with_code, Code, ResultExt};

/// Validates the partition table / layout of `disk` as `ddgz validate` does (auto
/// profile). Returns a one-line summary and the warnings, or an error (exit 1) listing
/// the errors.
pub(super) fn check_layout(
    disk: &dyn Disk,
    allow: &[String],
) -> Result<(String, Vec<String>), LayoutError> {
    use ddgz_layout::Severity;
    let mut findings = ddgz_layout::validate(disk, ddgz_layout::Profile::Auto)
        .input()
        .map_err(LayoutError::Other)?;
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
        // A Linux dd image's readiness errors are said, not a failure (as in convert).
        let (advisory, blocking): (Vec<String>, Vec<String>) = errors
            .into_iter()
            .partition(|e| e.starts_with("MAAS readiness: "));
        errors = blocking;
        warnings.extend(advisory);
    }
    let profile = findings.profile.name();
    if !errors.is_empty() {
        return Err(LayoutError::Findings { profile, errors });
    }
    Ok((
        format!(
            "profile {profile}, no errors, {} warning{}",
            warnings.len(),
            if warnings.len() == 1 { "" } else { "s" }
        ),
        warnings,
    ))
}

/// A failed layout check: the checks that passed are printed first, then each error on a
/// line of its own; the error returned says how many.
pub(super) fn failed(passed: &[String], e: LayoutError, name: &str) -> anyhow::Error {
    match e {
        LayoutError::Other(e) => e.context(format!("{name}: layout")),
        LayoutError::Findings { profile, errors } => {
            for l in passed {
                println!("{l}");
            }
            for f in &errors {
                println!("{name}: {f}");
            }
            with_code(
                Code::Failed,
                anyhow::anyhow!(
                    "{name}: layout: validation of the decompressed disk (profile {profile}) \
                     found {} error{} (listed above)",
                    errors.len(),
                    if errors.len() == 1 { "" } else { "s" },
                ),
            )
        }
    }
}

/// Why the layout check failed.
pub(super) enum LayoutError {
    /// Validation found errors, one a line.
    Findings {
        profile: &'static str,
        errors: Vec<String>,
    },
    /// It could not run.
    Other(anyhow::Error),
}
