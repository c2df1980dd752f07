//! What `ddgz convert` prints: the summary (text or JSON), the findings it stops on, and
//! the ready-to-paste `maas` line.

use std::io::Write;
use std::path::Path;

use super::default_output;

/// What a conversion produced, as printed (and as `--json`, whose shape follows
/// `inspect --json`'s schema version): the library's summary and the MAAS naming.
#[derive(Debug, serde::Serialize)]
pub struct Report {
    pub schema_version: u32,
    #[serde(flatten)]
    pub summary: ddgz_convert::Summary,
    pub maas_command: Option<String>,
    /// The boot resource's name in MAAS (`esxi/8.0`, `windows/<product>`, `custom/<stem>`,
    /// or `--name`).
    pub maas_name: String,
    /// Its title.
    pub maas_title: String,
    /// What is wrong with `--name` for this image (another ESXi release, not `esxi/`).
    pub name_warnings: Vec<String>,
}

/// Prints the errors and warnings among `findings` (as `ddgz validate` words them) on
/// stderr.
pub(super) fn print_findings(findings: &ddgz_layout::Findings, input: &Path) {
    use ddgz_layout::Severity::{Error, Warning};
    let shown = |f: &&ddgz_layout::Finding| matches!(f.severity, Error | Warning);
    // Findings may quote the image (labels, boot.cfg): escaped for the terminal.
    let mut err = crate::cli::Terminal(std::io::stderr().lock());
    for f in findings.items.iter().filter(shown) {
        let _ = writeln!(err, "{}: {f}", input.display());
    }
    let section = if findings.maas_readiness.advisory {
        "MAAS dd readiness (advisory: converted anyway)"
    } else {
        "MAAS readiness"
    };
    for f in findings.maas_readiness.items.iter().filter(shown) {
        let _ = writeln!(err, "{}: {section}: {f}", input.display());
    }
}

/// `--upload` sends the image to MAAS now: the errors of an advisory readiness (a Linux dd
/// image's: no curtin/, an fstab naming another root) stop it as ESXi's and Windows's do.
pub(super) fn refuse_advisory(
    findings: Option<&ddgz_layout::Findings>,
    input: &Path,
) -> anyhow::Result<()> {
    let Some(f) = findings.filter(|f| f.maas_readiness.advisory) else {
        return Ok(());
    };
    let errors = f.count(ddgz_layout::Severity::Error) - f.blocking_errors();
    if errors == 0 {
        return Ok(());
    }
    Err(crate::exit::with_code(
        crate::exit::Code::Failed,
        anyhow::anyhow!(
            "{}: not uploaded: MAAS dd readiness found {errors} error(s) (listed above); \
             --allow CODE acknowledges one, --no-validate skips the checks",
            input.display()
        ),
    ))
}

/// Name and title for MAAS: `--name`/`--title`, else `esxi/<release>` from an ESXi image's
/// boot.cfg, `windows/<product>` from a Windows image's registry
/// ([`ddgz_maas::naming::windows_default`]), else `custom/<stem>`.
pub(super) fn naming(
    layout: Option<&ddgz_layout::Report>,
    r: &crate::cmd::upload::ResourceArgs,
    stem: &str,
) -> ddgz_maas::naming::Naming {
    let (name, title) = (r.name.as_deref(), r.title.as_deref());
    if let Some(w) = layout.and_then(|l| l.windows.as_ref()) {
        let e = w.edition.as_ref();
        let edition = ddgz_maas::naming::WindowsEdition {
            product_name: e.and_then(|e| e.product_name.as_deref()),
            edition_id: e.and_then(|e| e.edition_id.as_deref()),
        };
        return ddgz_maas::naming::resolve_windows(name, title, &edition);
    }
    let esxi = layout
        .and_then(|r| r.esxi.as_ref())
        .and_then(|l| l.version.as_ref())
        .map(|v| (v.major, v.minor));
    ddgz_maas::naming::resolve(name, title, esxi, stem)
}

/// The input's name without a disk-image extension: `custom/<stem>` for non-ESXi images.
pub(super) fn stem(input: &Path) -> String {
    default_output(input)
        .file_name()
        .map(|n| n.to_string_lossy().trim_end_matches(".dd.gz").to_string())
        .unwrap_or_else(|| "image".into())
}

/// The ready-to-paste MAAS CLI line for uploading `out` as `r` (name and title resolved).
/// A custom image without `--base-image` gets `base_image=ubuntu/SERIES` to fill in (MAAS's
/// API requires it for custom images).
pub(super) fn maas_command(
    out: &Path,
    r: &crate::cmd::upload::ResourceArgs,
    filetype: &'static str,
) -> String {
    let name = r.name.clone().unwrap_or_default();
    let base = ddgz_maas::naming::is_custom(&name).then(|| {
        r.base_image
            .as_deref()
            .map(str::trim)
            .filter(|b| !b.is_empty())
            .unwrap_or("ubuntu/SERIES")
    });
    ddgz_maas::CreateCommand {
        name: &name,
        title: r.title.as_deref().unwrap_or_default(),
        architecture: &r.architecture,
        base_image: base,
        filetype,
        content: out,
    }
    .line()
}

pub(super) fn print_report(
    r: &Report,
    json: bool,
    quiet: bool,
    to_stdout: bool,
) -> anyhow::Result<()> {
    // With `-o -` stdout carries the image: the report goes to stderr.
    let mut w: Box<dyn Write> = if to_stdout {
        Box::new(std::io::stderr())
    } else {
        Box::new(std::io::stdout())
    };
    if json {
        serde_json::to_writer_pretty(&mut w, r)?;
        writeln!(w)?;
        return Ok(());
    }
    if quiet {
        return Ok(());
    }
    write!(w, "{}", r.summary)?;
    if let Some(cmd) = &r.maas_command {
        writeln!(w, "upload to MAAS with:\n  {cmd}")?;
        if cmd.contains("base_image=ubuntu/SERIES") {
            writeln!(
                w,
                "  (MAAS's API requires the base image of a custom image: put its series for \
                 SERIES, or convert with --base-image OS/SERIES)"
            )?;
        }
    }
    Ok(())
}
