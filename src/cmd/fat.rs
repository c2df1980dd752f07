//! `ddgz ls / cat / ks-media` (being written).

/// List a directory of a FAT partition inside an image.
#[derive(Debug, clap::Args)]
pub struct LsArgs {
    /// The image (qcow2 or raw).
    pub image: std::path::PathBuf,
    /// PART:PATH, e.g. 1:/curtin
    pub path: String,
}

/// Print a file of a FAT partition inside an image.
#[derive(Debug, clap::Args)]
pub struct CatArgs {
    /// The image (qcow2 or raw).
    pub image: std::path::PathBuf,
    /// PART:PATH, e.g. 1:/curtin/curtin-hooks
    pub path: String,
}

/// Write a kickstart USB medium: MBR, one FAT32 partition at 1 MiB holding the files.
#[derive(Debug, clap::Args)]
pub struct KsMediaArgs {
    /// Files to put at the root of the medium.
    pub files: Vec<std::path::PathBuf>,
}

pub fn run_ls(_a: LsArgs) -> anyhow::Result<()> {
    anyhow::bail!("ls: not implemented yet")
}

pub fn run_cat(_a: CatArgs) -> anyhow::Result<()> {
    anyhow::bail!("cat: not implemented yet")
}

pub fn run_ks_media(_a: KsMediaArgs) -> anyhow::Result<()> {
    anyhow::bail!("ks-media: not implemented yet")
}
