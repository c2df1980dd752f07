//! `ddgz upload` (being written).

/// Upload a ddgz (or ddxz, ddraw) file to MAAS as a boot resource, in chunks.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The file to upload.
    pub file: std::path::PathBuf,
}

pub fn run(_a: Args) -> anyhow::Result<()> {
    anyhow::bail!("upload: not implemented yet")
}
