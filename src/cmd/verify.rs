//! `ddgz verify` (being written).

/// Check that a ddgz file is a sound gzip stream (and equals its source).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The .dd.gz file.
    pub file: std::path::PathBuf,
}

pub fn run(_a: Args) -> anyhow::Result<()> {
    anyhow::bail!("verify: not implemented yet")
}
