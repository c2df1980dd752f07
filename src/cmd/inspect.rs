//! `ddgz inspect / validate` (being written).

/// Show what is in a disk image: container, partitions, filesystems, ESXi layout.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// The image (qcow2 or raw).
    pub image: std::path::PathBuf,
}

/// Check that a disk image is fit for MAAS: GPT, ESXi layout, VMFS headers.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {
    /// The image (qcow2 or raw).
    pub image: std::path::PathBuf,
}

pub fn run_inspect(_a: InspectArgs) -> anyhow::Result<()> {
    anyhow::bail!("inspect: not implemented yet")
}

pub fn run_validate(_a: ValidateArgs) -> anyhow::Result<()> {
    anyhow::bail!("validate: not implemented yet")
}
