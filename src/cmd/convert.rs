//! `ddgz convert` (being written).

/// Convert a qcow2 or raw disk image into a MAAS ddgz file (raw disk, one gzip member).
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The image (qcow2 or raw, detected by content).
    pub input: std::path::PathBuf,
}

pub fn run(_a: Args) -> anyhow::Result<()> {
    anyhow::bail!("convert: not implemented yet")
}
