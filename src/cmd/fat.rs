//! `ddgz ks-media` and the `--add` options of `ddgz convert`: argument definitions and
//! glue to `ddgz-fat`. (`ls` and `cat`, which read every filesystem, are in `files`.)

use std::path::PathBuf;

use crate::exit::{with_code, Code, ResultExt};
use anyhow::Context;
use ddgz_fat::{AddSpec, Error as FatError, KsOptions};

/// The `--add` / `--replace` options, flattened into `convert`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AddArgs {
    /// Copy a file or directory tree into the FAT filesystem of partition PART (default 1,
    /// where curtin looks for `curtin/`), in memory: the input is never written. DEST
    /// defaults to SRC's name at the root; a DEST ending in `/` is a directory to put SRC
    /// in. Directories are created as needed, long names and mtimes kept. Repeatable.
    /// SRC:DEST is split at the last `:` (FAT names cannot contain one).
    #[arg(long = "add", value_name = "[PART:]SRC[:DEST]")]
    pub add: Vec<String>,

    /// With --add: overwrite files that already exist (otherwise that is an error).
    #[arg(long)]
    pub replace: bool,
}

/// The exit code for a `ddgz-fat` error: the request (2), or the input (3).
fn code_for(e: &FatError) -> Code {
    match e {
        FatError::Spec { .. }
        | FatError::Exists { .. }
        | FatError::Conflict { .. }
        | FatError::BadName { .. }
        | FatError::NotFound { .. }
        | FatError::Partition { .. }
        | FatError::BadOption { .. } => Code::Usage,
        FatError::Output { .. } => Code::Output,
        _ => Code::Input,
    }
}

fn fat_err(e: FatError) -> anyhow::Error {
    let code = code_for(&e);
    with_code(code, e)
}

/// Parses the `--add` arguments (a bad one is a usage error).
pub fn add_specs(a: &AddArgs) -> anyhow::Result<Vec<AddSpec>> {
    a.add
        .iter()
        .map(|s| AddSpec::parse(s))
        .collect::<Result<Vec<_>, _>>()
        .map_err(fat_err)
}

/// `stat` identities of `files` (following links, as reading them does).
fn ids_of(files: &[PathBuf]) -> anyhow::Result<Vec<ddgz_image::FileId>> {
    files
        .iter()
        .map(|f| {
            std::fs::metadata(f)
                .map(|m| ddgz_image::FileId::of(&m))
                .with_context(|| format!("{}: cannot examine it", f.display()))
                .input()
        })
        .collect()
}

/// Write a kickstart USB medium: an MBR and one FAT32 partition at 1 MiB (sector 2048)
/// holding the given files at its root — the stick ESXi's installer reads with
/// `ks=usb:/KS.CFG`. No root, no parted, no mtools.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
The image is written to a temporary file beside OUT and renamed into place.

Examples:
  ddgz ks-media KS.CFG -o usb.img
  ddgz ks-media KS.CFG post-install.sh -o usb.img --size 128M --label ESXIKS --force
  qemu-system-x86_64 ... -drive file=usb.img,format=raw,if=none,id=ks -device usb-storage,drive=ks")]
pub struct KsMediaArgs {
    /// Files to put at the root of the medium (their names and mtimes are kept).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// The image to write.
    #[arg(short, long, value_name = "OUT")]
    pub output: PathBuf,
    /// Size of the image (K, M, G suffixes are powers of 1024), 34M to 2T: FAT32 needs
    /// 65525 clusters, an MBR addresses 2^32 sectors.
    #[arg(long, default_value = "64M", value_parser = parse_ks_size)]
    pub size: u64,
    /// Volume label (up to 11 characters, stored upper case).
    #[arg(long, default_value = "KS")]
    pub label: String,
    /// Overwrite OUT if it exists.
    #[arg(short, long)]
    pub force: bool,
}

/// `ks-media --size`: a size within what FAT32 in an MBR partition can hold.
fn parse_ks_size(s: &str) -> Result<u64, String> {
    const MAX: u64 = u32::MAX as u64 * 512;
    crate::cli::parse_size_in(
        s,
        ddgz_fat::KS_MIN_SIZE..=MAX,
        &format!(
            "the size must be between {} (34M) and {MAX} (2T - 512)",
            ddgz_fat::KS_MIN_SIZE
        ),
    )
}

pub fn run_ks_media(a: KsMediaArgs) -> anyhow::Result<()> {
    let opts = KsOptions::new(a.size, a.label.clone());
    // A missing file is named as such, before the output is looked at.
    let reads = a
        .files
        .iter()
        .filter(|f| f.exists())
        .cloned()
        .collect::<Vec<_>>();
    let out = ddgz_output::OutputFile::create(&a.output, a.force, &ids_of(&reads)?)
        .map_err(crate::cmd::output_error)?;
    ddgz_fat::ks_media(&a.files, out.file(), &a.output, &opts).map_err(fat_err)?;
    out.commit().map_err(crate::cmd::output_error)?;
    eprintln!(
        "wrote {}: {} MiB, one FAT32 partition at sector 2048 (label {}) holding {}",
        a.output.display(),
        a.size >> 20,
        a.label.to_uppercase(),
        a.files
            .iter()
            .filter_map(|f| f.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}
